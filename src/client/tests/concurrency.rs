//! Many callers on one connection: out-of-order answers, the in-flight bound, timeouts,
//! and frames that fail one call or the whole connection.

use super::*;

#[tokio::test]
async fn responses_out_of_order_reach_their_callers() {
    bounded(async {
        let server = start(Arc::new(|request: &Request, _| match request {
            Request::Call(Call::Position { sku, location }) if sku == "slow" => {
                Action::After(Duration::from_millis(300), Response::Reply(Reply::Position(position(sku, location))))
            }
            Request::Call(call) => Action::Respond(Response::Reply(answer(call))),
            _ => Action::Ignore,
        }));
        let client = Client::connect(server.client_config()).await.unwrap();
        let order = Mutex::new(Vec::new());
        let timed = |sku: &'static str| {
            let client = &client;
            let order = &order;
            async move {
                let result = client.position(sku, "L").await.unwrap();
                order.lock().push(sku);
                result
            }
        };
        let (slow, fast, pings) = tokio::join!(timed("slow"), timed("fast"), async {
            for _ in 0..50 {
                client.ping().await.unwrap();
            }
        });
        let () = pings;
        assert_eq!(slow.sku, "slow");
        assert_eq!(fast.sku, "fast");
        assert_eq!(*order.lock(), vec!["fast", "slow"]);
        // The slow request was sent before the fast one: it was answered out of order.
        let requests = server.requests();
        let sent = |name: &str| {
            requests.iter().position(|s| matches!(&s.request, Request::Call(Call::Position { sku, .. }) if sku == name))
        };
        assert!(sent("slow") < sent("fast"));
    })
    .await;
}

#[tokio::test]
async fn many_concurrent_callers_share_the_connection() {
    bounded(async {
        let server = start(plain());
        let client = Client::connect(server.client_config()).await.unwrap();
        let mut tasks = tokio::task::JoinSet::new();
        for task in 0..20 {
            let client = client.clone();
            tasks.spawn(async move {
                for call in 0..50 {
                    let sku = format!("S-{task}-{call}");
                    assert_eq!(client.position(&sku, "L").await.unwrap().sku, sku);
                }
            });
        }
        while let Some(done) = tasks.join_next().await {
            done.unwrap();
        }
        assert_eq!(server.requests().len(), 1000);
        assert_eq!(server.log.lock().connections, 1);
    })
    .await;
}

#[tokio::test]
async fn max_in_flight_is_honoured_by_waiting() {
    bounded(async {
        let limits = Limits { max_in_flight: 4, ..Limits::default() };
        let server = TestServer::start(
            Role::Read,
            limits,
            Arc::new(|_: &Request, _| {
                Action::After(Duration::from_millis(20), Response::Reply(Reply::Pong { server_time_ms: 0 }))
            }),
        );
        let client = Client::connect(server.client_config()).await.unwrap();
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..40 {
            let client = client.clone();
            tasks.spawn(async move { client.ping().await });
        }
        while let Some(done) = tasks.join_next().await {
            done.unwrap().unwrap();
        }
        let log = server.log.lock();
        assert_eq!(log.requests.len(), 40);
        assert_eq!(log.max_in_flight, 4, "pipelined up to the limit, never beyond");
    })
    .await;
}

#[tokio::test]
async fn a_timeout_leaves_the_connection_usable_and_the_late_answer_is_ignored() {
    bounded(async {
        let server = start(Arc::new(|request: &Request, _| match request {
            Request::Call(Call::Stats) => {
                Action::After(Duration::from_millis(600), Response::Reply(Reply::Stats(WireStats::default())))
            }
            Request::Call(Call::Verify) => Action::Ignore,
            Request::Call(call) => Action::Respond(Response::Reply(answer(call))),
            _ => Action::Ignore,
        }));
        let mut config = server.client_config();
        config.request_timeout = Duration::from_millis(200);
        let client = Client::connect(config).await.unwrap();
        let started = Instant::now();
        assert!(matches!(client.stats().await, Err(ClientError::Timeout)));
        assert!(matches!(client.verify().await, Err(ClientError::Timeout)));
        let waited = started.elapsed();
        assert!(waited >= Duration::from_millis(400) && waited < Duration::from_secs(2), "{waited:?}");
        // The late Stats answer arrives while other calls are in flight: none is confused.
        for _ in 0..10 {
            assert_eq!(client.position("P", "L").await.unwrap().sku, "P");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(server.log.lock().connections, 1);
    })
    .await;
}

#[tokio::test]
async fn an_undecodable_response_fails_its_call_only() {
    bounded(async {
        let server = start(Arc::new(|request: &Request, _| match request {
            // `Response::Reply` then a reply variant that does not exist.
            Request::Call(Call::Stats) => Action::Undecodable(vec![1, 99]),
            Request::Call(call) => Action::Respond(Response::Reply(answer(call))),
            _ => Action::Ignore,
        }));
        let client = Client::connect(server.client_config()).await.unwrap();
        let error = client.stats().await.unwrap_err();
        assert!(matches!(error, ClientError::Protocol(_)), "{error}");
        client.ping().await.unwrap();
        assert_eq!(server.log.lock().connections, 1);
    })
    .await;
}

#[tokio::test]
async fn an_unattributable_frame_fails_the_connection() {
    bounded(async {
        let server = start(Arc::new(|request: &Request, connection| match request {
            // Not even a request id can be read.
            Request::Call(Call::Stats) if connection == 1 => Action::RawPayload(vec![0xff, 0xff]),
            Request::Call(call) => Action::Respond(Response::Reply(answer(call))),
            _ => Action::Ignore,
        }));
        let client = Client::connect(server.client_config()).await.unwrap();
        let error = client.stats().await.unwrap_err();
        assert!(matches!(error, ClientError::Protocol(_)), "{error}");
        client.ping().await.unwrap();
        assert_eq!(server.log.lock().connections, 2);
    })
    .await;
}

#[tokio::test]
async fn a_reply_of_the_wrong_shape_is_a_protocol_error() {
    bounded(async {
        let server =
            start(Arc::new(|_: &Request, _| Action::Respond(Response::Reply(Reply::Pong { server_time_ms: 0 }))));
        let client = Client::connect(server.client_config()).await.unwrap();
        let error = client.position("S", "L").await.unwrap_err();
        assert!(matches!(error, ClientError::Protocol(_)), "{error}");
        let error = client.batch(vec![Call::Ping]).await.unwrap_err();
        assert!(matches!(error, ClientError::Protocol(_)), "{error}");
    })
    .await;
}
