//! Hostile and broken input sent as raw bytes to a live server on loopback: garbage,
//! unknown variants, truncated and oversized frames, requests before or without a
//! valid handshake, calls above the token's role, batches over the limit, more
//! requests in flight than allowed, silent and surplus connections. Each gets its
//! typed error or a connection close with its code, the server keeps serving other
//! clients, and the state does not change.

mod net;

use net::*;
use stockd::engine::{Availability, AvailabilityScope};
use stockd::model::LocationKind;
use stockd::protocol::{close, Call, ErrorCode, Request, Response, PROTOCOL_VERSION};
use stockd::Operation;

fn error_code(response: &Response) -> Option<ErrorCode> {
    match response {
        Response::Error(error) => Some(error.code),
        _ => None,
    }
}

fn ping() -> Request {
    Request::Call(Call::Ping)
}

/// A server with one location and one position, so that "nothing changed" means something.
fn seeded_server(tweak: impl FnOnce(&mut stockd::server::ServerConfig)) -> TestServer {
    let server = TestServer::start(tweak);
    let durable = server.running().durable();
    let now = stockd::Timestamp::now();
    durable.apply(&Operation::UpsertLocations(vec![support_location("DC-1")]), now).unwrap();
    durable
        .apply(
            &Operation::SetOnHand { sku: "SKU-1".into(), location: "DC-1".into(), on_hand: 10, expected_version: None },
            now,
        )
        .unwrap();
    server
}

/// The frame of a reserve of one SKU-1 at DC-1 with id `cart-<request_id - 10>`.
fn reserve_one_frame(request_id: u64) -> Vec<u8> {
    frame_bytes(
        request_id,
        Request::Call(Call::Apply(Operation::Reserve(stockd::engine::ReserveRequest {
            id: format!("cart-{}", request_id - 10),
            lines: vec![stockd::engine::ReserveLine { sku: "SKU-1".into(), location: "DC-1".into(), quantity: 1 }],
            ttl_ms: 60_000,
            promise_by: None,
        }))),
    )
}

fn support_location(name: &str) -> stockd::model::LocationSpec {
    use stockd::model::{Coordinates, LocationFlags, LocationSpec};
    LocationSpec {
        name: name.into(),
        kind: LocationKind::DistributionCentre,
        coordinates: Coordinates { latitude: 51.5, longitude: -0.1 },
        flags: LocationFlags { ships: true, pickup: false },
        priority: 1,
    }
}

/// Another client, on its own connection, is still served.
async fn still_serves_others(server: &TestServer) {
    let (_connection, mut stream) = authenticated(server, READ_TOKEN).await;
    stream.send_request(2, ping()).await;
    let answer = stream.next().await.unwrap();
    assert_eq!(answer.request_id, 2);
    assert!(matches!(answer.response, Response::Reply(stockd::protocol::Reply::Pong { .. })));
}

#[test]
fn garbage_and_unknown_variants_get_bad_frame_and_the_stream_reads_on() {
    let server = seeded_server(|_| {});
    let before = server.digest();
    runtime().block_on(async {
        let (_connection, mut stream) = authenticated(&server, ADMIN_TOKEN).await;
        // A readable request id (7), then an enum tag no version defines.
        stream.send_bytes(&[3, 0, 0, 0, 7, 0xFB, 0xFF]).await;
        let answer = stream.next().await.unwrap();
        assert_eq!((answer.request_id, error_code(&answer.response)), (7, Some(ErrorCode::BadFrame)));
        // Pure garbage: no readable request id, answered with id 0.
        let mut garbage = vec![9, 0, 0, 0];
        garbage.extend([0xFF; 9]);
        stream.send_bytes(&garbage).await;
        let answer = stream.next().await.unwrap();
        assert_eq!((answer.request_id, error_code(&answer.response)), (0, Some(ErrorCode::BadFrame)));
        // A valid frame with a trailing byte.
        let mut trailing = frame_bytes(8, ping());
        trailing.push(0);
        let length = (trailing.len() - 4) as u32;
        trailing[..4].copy_from_slice(&length.to_le_bytes());
        stream.send_bytes(&trailing).await;
        let answer = stream.next().await.unwrap();
        assert_eq!((answer.request_id, error_code(&answer.response)), (8, Some(ErrorCode::BadFrame)));
        // An empty payload.
        stream.send_bytes(&[0, 0, 0, 0]).await;
        assert_eq!(error_code(&stream.next().await.unwrap().response), Some(ErrorCode::BadFrame));
        // The same stream still works.
        stream.send_request(9, ping()).await;
        assert_eq!(stream.next().await.unwrap().request_id, 9);
        still_serves_others(&server).await;
    });
    assert_eq!(server.digest(), before, "no bad frame changed anything");
}

#[test]
fn an_oversized_length_is_refused_on_sight_and_closes_the_connection() {
    let server = seeded_server(|config| config.limits.max_frame_bytes = 64 * 1024);
    let before = server.digest();
    runtime().block_on(async {
        let (connection, mut stream) = authenticated(&server, ADMIN_TOKEN).await;
        // Claims 4 GiB; only the 4 length bytes are sent.
        stream.send_bytes(&u32::MAX.to_le_bytes()).await;
        let answer = stream.next().await.expect("a typed answer before the close");
        assert_eq!((answer.request_id, error_code(&answer.response)), (0, Some(ErrorCode::LimitExceeded)));
        assert_eq!(closed_with(&connection).await, Some(u64::from(close::PROTOCOL_ERROR)));
        still_serves_others(&server).await;
    });
    assert_eq!(server.digest(), before);
}

#[test]
fn a_stream_ending_inside_a_frame_closes_the_connection_and_runs_nothing() {
    let server = seeded_server(|_| {});
    let before = server.digest();
    runtime().block_on(async {
        let (connection, mut stream) = authenticated(&server, ADMIN_TOKEN).await;
        let write = Request::Call(Call::Apply(Operation::Adjust {
            sku: "SKU-1".into(),
            location: "DC-1".into(),
            delta: 5,
            reason: stockd::engine::AdjustReason::Correction,
            reference: "truncated".into(),
        }));
        let bytes = frame_bytes(2, write);
        stream.send_bytes(&bytes[..bytes.len() - 3]).await;
        stream.send.finish().unwrap();
        assert_eq!(closed_with(&connection).await, Some(u64::from(close::PROTOCOL_ERROR)));
        still_serves_others(&server).await;
    });
    assert_eq!(server.digest(), before, "the partial write never ran");
}

#[test]
fn nothing_runs_before_hello_and_bad_handshakes_close_the_connection() {
    let server = seeded_server(|_| {});
    let before = server.digest();
    runtime().block_on(async {
        // A call before Hello.
        let connection = raw_connection(&server).await;
        let mut stream = RawStream::open(&connection).await;
        let write = Request::Call(Call::Apply(Operation::SetOnHand {
            sku: "SKU-1".into(),
            location: "DC-1".into(),
            on_hand: 99,
            expected_version: None,
        }));
        stream.send_request(5, write).await;
        let answer = stream.next().await.unwrap();
        assert_eq!((answer.request_id, error_code(&answer.response)), (5, Some(ErrorCode::Unauthenticated)));
        // An unknown token: refused, then the connection is closed.
        let answer = stream.hello("stk_not_a_token").await;
        assert_eq!(error_code(&answer.response), Some(ErrorCode::Unauthenticated));
        assert_eq!(closed_with(&connection).await, Some(u64::from(close::UNAUTHENTICATED)));

        // A version this server does not speak.
        let connection = raw_connection(&server).await;
        let mut stream = RawStream::open(&connection).await;
        let hello = Request::Hello { protocol_version: PROTOCOL_VERSION + 1, token: ADMIN_TOKEN.into() };
        stream.send_request(1, hello).await;
        assert_eq!(error_code(&stream.next().await.unwrap().response), Some(ErrorCode::UnsupportedVersion));
        assert_eq!(closed_with(&connection).await, Some(u64::from(close::UNSUPPORTED_VERSION)));

        // A second Hello on an authenticated connection changes nothing.
        let (_connection, mut stream) = authenticated(&server, READ_TOKEN).await;
        let again = stream.hello(ADMIN_TOKEN).await;
        assert_eq!(error_code(&again.response), Some(ErrorCode::BadFrame));
        stream.send_request(3, Request::Call(Call::Stats)).await;
        assert_eq!(error_code(&stream.next().await.unwrap().response), Some(ErrorCode::Forbidden), "still Read");
        still_serves_others(&server).await;
    });
    assert_eq!(server.digest(), before);
}

#[test]
fn a_silent_connection_is_closed_at_the_handshake_timeout() {
    let server = seeded_server(|config| config.limits.handshake_timeout_ms = 200);
    runtime().block_on(async {
        let connection = raw_connection(&server).await;
        assert_eq!(closed_with(&connection).await, Some(u64::from(close::UNAUTHENTICATED)));
    });
}

#[test]
fn an_idle_connection_is_dropped_at_the_idle_timeout() {
    let server = seeded_server(|config| config.limits.idle_timeout_ms = 300);
    runtime().block_on(async {
        let (connection, _stream) = authenticated(&server, READ_TOKEN).await;
        let error = tokio::time::timeout(PATIENCE, connection.closed()).await.expect("dropped in time");
        assert!(matches!(error, quinn::ConnectionError::TimedOut), "{error:?}");
    });
}

#[test]
fn connections_beyond_the_limit_are_closed_with_their_code() {
    let server = seeded_server(|config| config.limits.max_connections = 2);
    runtime().block_on(async {
        let first = raw_connection(&server).await;
        let second = raw_connection(&server).await;
        let mut stream = RawStream::open(&first).await;
        assert!(matches!(stream.hello(READ_TOKEN).await.response, Response::Welcome { .. }));
        let third = raw_connection(&server).await;
        assert_eq!(closed_with(&third).await, Some(u64::from(close::TOO_MANY_CONNECTIONS)));
        drop(second);
        // The first is unaffected.
        stream.send_request(2, ping()).await;
        assert_eq!(stream.next().await.unwrap().request_id, 2);
    });
}

#[test]
fn a_role_too_low_for_any_call_refuses_the_whole_batch() {
    let server = seeded_server(|_| {});
    let before = server.digest();
    runtime().block_on(async {
        let (_connection, mut stream) = authenticated(&server, RESERVE_TOKEN).await;
        let reserve = Call::Apply(Operation::Reserve(stockd::engine::ReserveRequest {
            id: "cart-1".into(),
            lines: vec![stockd::engine::ReserveLine { sku: "SKU-1".into(), location: "DC-1".into(), quantity: 1 }],
            ttl_ms: 60_000,
            promise_by: None,
        }));
        let adjust = Call::Apply(Operation::SetOnHand {
            sku: "SKU-1".into(),
            location: "DC-1".into(),
            on_hand: 0,
            expected_version: None,
        });
        stream.send_request(2, Request::Batch(vec![reserve, adjust])).await;
        assert_eq!(error_code(&stream.next().await.unwrap().response), Some(ErrorCode::Forbidden));
        // A read token may not reserve.
        let (_connection, mut stream) = authenticated(&server, READ_TOKEN).await;
        let reserve = Call::Apply(Operation::Commit { id: "cart-1".into() });
        stream.send_request(2, Request::Call(reserve)).await;
        assert_eq!(error_code(&stream.next().await.unwrap().response), Some(ErrorCode::Forbidden));
    });
    assert_eq!(server.digest(), before, "nothing of a refused batch ran");
}

#[test]
fn batches_over_the_configured_limit_are_refused_whole() {
    let server = seeded_server(|config| config.limits.max_batch_calls = 4);
    runtime().block_on(async {
        let (_connection, mut stream) = authenticated(&server, READ_TOKEN).await;
        stream.send_request(2, Request::Batch(vec![Call::Ping; 5])).await;
        assert_eq!(error_code(&stream.next().await.unwrap().response), Some(ErrorCode::LimitExceeded));
        stream.send_request(3, Request::Batch(vec![Call::Ping; 4])).await;
        assert!(matches!(stream.next().await.unwrap().response, Response::Batch(replies) if replies.len() == 4));
        // Over the protocol's hard bound: refused while decoding, before any call is built.
        let too_many = frame_bytes(4, Request::Batch(vec![Call::Ping; 1_001]));
        stream.send_bytes(&too_many).await;
        let answer = stream.next().await.unwrap();
        assert_eq!((answer.request_id, error_code(&answer.response)), (4, Some(ErrorCode::LimitExceeded)));
    });
}

#[test]
fn requests_beyond_the_in_flight_limit_are_answered_overloaded_and_do_not_run() {
    let server = seeded_server(|config| config.limits.max_in_flight = 4);
    let requests = 200u64;
    let (applied, overloaded) = runtime().block_on(async {
        let (_connection, mut stream) = authenticated(&server, RESERVE_TOKEN).await;
        // Every reserve in one write: the server decodes them in one go, while the
        // first ones still wait for their fsync.
        let mut bytes = Vec::new();
        for id in 0..requests {
            bytes.extend(reserve_one_frame(10 + id));
        }
        stream.send_bytes(&bytes).await;
        let (mut applied, mut overloaded, mut other) = (0, 0, 0);
        for _ in 0..requests {
            match stream.next().await.unwrap().response {
                Response::Reply(stockd::protocol::Reply::Applied(_)) => applied += 1,
                Response::Reply(stockd::protocol::Reply::Error(error))
                    if error.code == ErrorCode::InsufficientStock =>
                {
                    other += 1
                }
                Response::Error(error) if error.code == ErrorCode::Overloaded => overloaded += 1,
                response => panic!("unexpected {response:?}"),
            }
        }
        assert_eq!(applied + overloaded + other, requests);
        (applied, overloaded)
    });
    assert!(overloaded > 0, "some requests found the connection at its limit");
    let engine = server.running().durable().engine();
    let stats = engine.stats();
    assert_eq!(stats.reservations_held, applied, "exactly the acknowledged reserves ran");
    let available =
        engine.availability("SKU-1", &AvailabilityScope::Location("DC-1".into()), Availability::ToSell).unwrap();
    assert_eq!(available, 10 - applied);
}

#[test]
fn queries_answered_together_still_respect_the_in_flight_limit() {
    // Four reserves fill the connection's four slots while they wait for their fsync;
    // the queries of the same read (answered as one group, without the shared
    // counters) must find it full, and are refused, never run past the limit.
    let server = seeded_server(|config| config.limits.max_in_flight = 4);
    let (reserves, queries) = (4u64, 10u64);
    let answers = runtime().block_on(async {
        let (_connection, mut stream) = authenticated(&server, RESERVE_TOKEN).await;
        let mut bytes = Vec::new();
        for id in 0..reserves {
            bytes.extend(reserve_one_frame(10 + id));
        }
        for id in 0..queries {
            bytes.extend(frame_bytes(
                100 + id,
                Request::Call(Call::Availability {
                    sku: "SKU-1".into(),
                    scope: AvailabilityScope::Location("DC-1".into()),
                    measure: Availability::ToSell,
                }),
            ));
        }
        stream.send_bytes(&bytes).await;
        let mut answers = Vec::new();
        for _ in 0..reserves + queries {
            answers.push(stream.next().await.unwrap());
        }
        answers
    });
    let mut overloaded = 0;
    for answer in &answers {
        match (&answer.response, answer.request_id >= 100) {
            (Response::Reply(stockd::protocol::Reply::Applied(_)), false) => {}
            (Response::Error(error), true) if error.code == ErrorCode::Overloaded => overloaded += 1,
            // A query read after the reserves' fsync (another read) is answered: the
            // true value, with every acknowledged reserve taken off.
            (Response::Reply(stockd::protocol::Reply::Availability { available }), true) => {
                assert_eq!(*available, 10 - reserves)
            }
            (response, _) => panic!("request {}: unexpected {response:?}", answer.request_id),
        }
    }
    assert!(overloaded > 0, "queries in the reserves' read find the connection full");
}

#[test]
fn an_authenticated_connection_outlives_the_handshake_timeout() {
    // Regression: the deadline, armed before Hello, used to close authenticated
    // connections that sat waiting for their next stream.
    let server = seeded_server(|config| config.limits.handshake_timeout_ms = 300);
    runtime().block_on(async {
        let (connection, mut stream) = authenticated(&server, READ_TOKEN).await;
        tokio::time::sleep(std::time::Duration::from_millis(900)).await;
        stream.send_request(2, ping()).await;
        assert_eq!(stream.next().await.expect("still open").request_id, 2);
        assert!(connection.close_reason().is_none());
    });
}

#[test]
fn a_heavy_call_still_queued_at_its_deadline_is_refused_without_running() {
    // Two workers take heavy calls; the third verify of a 100,000-position state waits
    // for one of them, far longer than the 1 ms deadline.
    let server = seeded_server(|config| config.limits.request_deadline_ms = 1);
    let durable = server.running().durable();
    let rows = (0..100_000)
        .map(|n| stockd::model::PositionRow {
            sku: format!("BULK-{n}"),
            location: "DC-1".into(),
            on_hand: 5,
            safety_stock: 0,
            damaged: 0,
            quality_control: 0,
            backorder_limit: 0,
        })
        .collect();
    durable.apply(&Operation::BulkLoad(rows), stockd::Timestamp::now()).unwrap();
    let before = server.digest();
    let (verified, expired) = runtime().block_on(async {
        let (_connection, mut stream) = authenticated(&server, ADMIN_TOKEN).await;
        let mut bytes = Vec::new();
        for id in 10..16 {
            bytes.extend(frame_bytes(id, Request::Call(Call::Verify)));
        }
        stream.send_bytes(&bytes).await;
        let (mut verified, mut expired) = (0, 0);
        for _ in 10..16 {
            match stream.next().await.unwrap().response {
                Response::Reply(stockd::protocol::Reply::Verify(report)) => {
                    assert_eq!(report.findings_total, 0);
                    verified += 1;
                }
                Response::Error(error) if error.code == ErrorCode::DeadlineExceeded => expired += 1,
                response => panic!("unexpected {response:?}"),
            }
        }
        (verified, expired)
    });
    assert!(expired >= 1, "at least one verify waited past its deadline ({verified} ran)");
    assert_eq!(server.digest(), before);
}
