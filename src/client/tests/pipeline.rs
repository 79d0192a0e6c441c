//! The raw pipeline: many requests sent and read back, within the in-flight bound.

use super::*;

#[tokio::test]
async fn a_pipeline_sends_many_and_reads_them_all() {
    bounded(async {
        let server = start(plain());
        let client = Client::connect(server.client_config()).await.unwrap();
        let mut pipeline = client.open_pipeline().await.unwrap();
        assert!(matches!(pipeline.next_response().await, Err(ClientError::NothingInFlight)));
        let mut ids = std::collections::HashSet::new();
        for i in 0..500 {
            let request = if i % 2 == 0 {
                Request::Call(Call::Ping)
            } else {
                Request::Call(Call::Position { sku: format!("S{i}"), location: "L".into() })
            };
            assert!(ids.insert(pipeline.queue(request)));
        }
        assert_eq!(pipeline.in_flight(), 500);
        pipeline.flush().await.unwrap();
        // Calls on the shared stream meanwhile.
        client.ping().await.unwrap();
        for _ in 0..500 {
            let frame = pipeline.next_response().await.unwrap();
            assert!(ids.remove(&frame.request_id), "{}", frame.request_id);
            assert!(matches!(frame.response, Response::Reply(Reply::Pong { .. } | Reply::Position(_))));
        }
        assert!(ids.is_empty());
        assert_eq!(pipeline.in_flight(), 0);
        assert!(matches!(pipeline.next_response().await, Err(ClientError::NothingInFlight)));
        // A second pipeline's ids differ from the first's.
        let mut other = client.open_pipeline().await.unwrap();
        let id = other.queue(Request::Call(Call::Ping));
        let mine = pipeline.queue(Request::Call(Call::Ping));
        assert_ne!(id, mine);
        assert_eq!(server.log.lock().connections, 1);
    })
    .await;
}

#[tokio::test]
async fn a_pipeline_stays_within_max_in_flight() {
    bounded(async {
        let limits = Limits { max_in_flight: 8, max_frame_bytes: 256, ..Limits::default() };
        let server = TestServer::start(
            Role::Read,
            limits,
            Arc::new(|_: &Request, _| {
                Action::After(Duration::from_millis(2), Response::Reply(Reply::Pong { server_time_ms: 0 }))
            }),
        );
        let client = Client::connect(server.client_config()).await.unwrap();
        let mut pipeline = client.open_pipeline().await.unwrap();
        for _ in 0..100 {
            pipeline.queue(Request::Call(Call::Ping));
        }
        pipeline.flush().await.unwrap();
        let mut answered = 0;
        while pipeline.in_flight() > 0 {
            pipeline.next_response().await.unwrap();
            answered += 1;
        }
        assert_eq!(answered, 100);
        assert_eq!(server.log.lock().max_in_flight, 8);
        // The room came back: a call goes through.
        client.ping().await.unwrap();

        // Too large for a frame: reported by flush, nothing sent.
        pipeline.queue(Request::Call(Call::Position { sku: "x".repeat(300), location: "L".into() }));
        let error = pipeline.flush().await.unwrap_err();
        assert!(matches!(error, ClientError::LimitExceeded(_)), "{error}");
        assert_eq!(pipeline.in_flight(), 0);
    })
    .await;
}
