//! Connecting, the handshake, pinning, losing and re-establishing the connection,
//! closing it.

use super::*;

#[test]
fn a_borrowed_request_frame_encodes_as_the_owned_one() {
    let request = Request::Call(Call::Apply(Operation::Reserve(reserve_request("cart-77"))));
    for request_id in [1, 300, 1 << 32 | 5, u64::MAX] {
        let mut owned = Vec::new();
        crate::protocol::encode_frame(&RequestFrame { request_id, request: request.clone() }, u32::MAX, &mut owned)
            .unwrap();
        assert_eq!(connection::encode_request_ref(request_id, &request), owned);
    }
}

#[tokio::test]
async fn handshake_then_calls() {
    bounded(async {
        let limits = Limits { max_in_flight: 77, max_batch_calls: 9, ..Limits::default() };
        let server = TestServer::start(Role::Reserve, limits, plain());
        let client = Client::connect(server.client_config()).await.unwrap();
        assert_eq!(client.role(), Role::Reserve);
        assert_eq!(client.limits(), limits);
        assert_eq!(client.server_addr(), server.address);
        assert!(client.ping().await.unwrap() < Duration::from_secs(5));
        assert_eq!(client.position("SKU-1", "DC-1").await.unwrap(), position("SKU-1", "DC-1"));
        assert_eq!(client.stats().await.unwrap().skus, 3);
        let error = client.reservation("nope").await.unwrap_err();
        assert_eq!(error.code(), Some(ErrorCode::UnknownEntity), "{error}");
        assert!(matches!(error, ClientError::Refused(_)));
        // One connection, one Hello, for the clones too.
        let clone = client.clone();
        clone.ping().await.unwrap();
        let log = server.log.lock();
        assert_eq!((log.connections, log.hellos), (1, 1));
        // Request ids are never 0 and never repeat while in flight.
        assert!(log.requests.iter().all(|seen| seen.request_id != 0));
    })
    .await;
}

#[tokio::test]
async fn a_wrong_token_is_a_handshake_refusal() {
    bounded(async {
        let server = start(plain());
        let mut config = server.client_config();
        config.token = "not the token".into();
        let error = Client::connect(config).await.err().expect("refused");
        assert!(matches!(error, ClientError::Handshake(_)), "{error}");
        assert_eq!(error.code(), Some(ErrorCode::Unauthenticated));
    })
    .await;
}

#[tokio::test]
async fn a_wrong_pin_cannot_connect() {
    bounded(async {
        let server = start(plain());
        let mut config = server.client_config();
        let mut pin = server.fingerprint;
        pin.0[31] ^= 0x80;
        config.trust = Trust::Fingerprint(pin);
        let error = Client::connect(config).await.err().expect("refused");
        assert!(matches!(error, ClientError::Connect { .. }), "{error}");
        assert!(error.to_string().contains("fingerprint"), "{error}");
        assert_eq!(server.log.lock().hellos, 0);
    })
    .await;
}

#[tokio::test]
async fn nothing_listening_is_a_connect_error() {
    bounded(async {
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let address = socket.local_addr().unwrap();
        let mut config = ClientConfig::new(address, Trust::Fingerprint(crate::tls::Fingerprint([7; 32])), "t");
        config.connect_timeout = Duration::from_millis(300);
        let started = Instant::now();
        let error = Client::connect(config).await.err().expect("nobody answers");
        assert!(matches!(error, ClientError::Connect { .. }), "{error}");
        assert!(started.elapsed() < Duration::from_secs(5));
        drop(socket);
    })
    .await;
}

#[tokio::test]
async fn a_lost_connection_is_reestablished_and_a_safe_call_retried() {
    bounded(async {
        let server = start(Arc::new(|request: &Request, connection| match request {
            Request::Call(Call::Apply(Operation::Reserve(_))) if connection == 1 => Action::DropConnection,
            Request::Call(call) => Action::Respond(Response::Reply(answer(call))),
            _ => Action::Ignore,
        }));
        let client = Client::connect(server.client_config()).await.unwrap();
        client.ping().await.unwrap();
        let outcome = client.reserve(reserve_request("cart-9")).await.unwrap();
        assert_eq!(outcome.id, "cart-9");
        let seen = reserves(&server);
        assert_eq!(seen.len(), 2);
        assert_eq!(seen[0].1, seen[1].1);
        let requests = server.requests();
        let connections: Vec<usize> = requests.iter().map(|s| s.connection).collect();
        assert_eq!(connections, vec![1, 1, 2]);
        let log = server.log.lock();
        assert_eq!((log.connections, log.hellos), (2, 2));
    })
    .await;
}

#[tokio::test]
async fn a_lost_connection_fails_an_unsafe_write_and_the_next_call_reconnects() {
    bounded(async {
        let server = start(Arc::new(|request: &Request, connection| match request {
            Request::Call(Call::Apply(Operation::Adjust { .. })) if connection == 1 => Action::DropConnection,
            Request::Call(call) => Action::Respond(Response::Reply(answer(call))),
            _ => Action::Ignore,
        }));
        let client = Client::connect(server.client_config()).await.unwrap();
        let error = client.adjust("S", "L", 3, AdjustReason::Found, "po-1").await.unwrap_err();
        assert!(matches!(error, ClientError::ConnectionLost(_)), "{error}");
        assert!(error.to_string().contains("SHUTTING_DOWN"), "{error}");
        assert_eq!(server.requests().len(), 1);
        // Many callers at once: one reconnection.
        let (a, b, c) = tokio::join!(client.ping(), client.ping(), client.ping());
        a.unwrap();
        b.unwrap();
        c.unwrap();
        assert_eq!(server.log.lock().connections, 2);
    })
    .await;
}

#[tokio::test]
async fn close_ends_the_client_for_every_clone() {
    bounded(async {
        let server = start(plain());
        let client = Client::connect(server.client_config()).await.unwrap();
        let clone = client.clone();
        client.ping().await.unwrap();
        client.close().await;
        assert!(matches!(clone.ping().await, Err(ClientError::Closed)));
        assert!(matches!(client.open_pipeline().await, Err(ClientError::Closed)));
        assert_eq!(server.log.lock().connections, 1);
    })
    .await;
}

#[tokio::test]
async fn dropping_the_last_clone_closes_the_connection() {
    bounded(async {
        let server = start(plain());
        let client = Client::connect(server.client_config()).await.unwrap();
        let clone = client.clone();
        drop(client);
        clone.ping().await.unwrap();
        assert!(server.log.lock().closed.is_empty());
        drop(clone);
        while server.log.lock().closed.is_empty() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let closed = server.log.lock().closed.clone();
        assert!(closed[0].contains("client dropped"), "{closed:?}");
    })
    .await;
}
