//! The client against the PROTOCOL TEST DOUBLE of `test_double.rs` (not the real
//! server: end-to-end tests against `stockd serve` live elsewhere). Loopback only;
//! every test is bounded by a timeout.

use super::test_double::{Action, Handler, Seen, TestServer};
use super::*;
use crate::engine::{AdjustReason, Operation, ReservationState, ReserveLine, ReserveRequest};
use crate::model::{HoldKind, PositionRow, Timestamp};
use crate::protocol::{
    Applied, ErrorCode, RequestFrame, WireBulkLoad, WireError, WirePosition, WireReserveOutcome, WireReservedLine,
    WireRowRejection, WireStats,
};
use crate::tls::Trust;
use parking_lot::Mutex;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

/// Every test finishes within this, or fails.
async fn bounded<F: Future<Output = ()>>(test: F) {
    tokio::time::timeout(Duration::from_secs(30), test).await.expect("the test took longer than 30 s");
}

fn position(sku: &str, location: &str) -> WirePosition {
    WirePosition {
        sku: sku.to_string(),
        location: location.to_string(),
        on_hand: 10,
        reserved: 2,
        safety_stock: 1,
        damaged: 0,
        quality_control: 0,
        backorder_limit: 0,
        available_to_sell: 7,
        incoming: Vec::new(),
        version: 4,
    }
}

fn reserve_request(id: &str) -> ReserveRequest {
    ReserveRequest {
        id: id.to_string(),
        lines: vec![ReserveLine { sku: "SKU-1".into(), location: "DC-1".into(), quantity: 2 }],
        ttl_ms: 60_000,
        promise_by: None,
    }
}

fn reserved(request: &ReserveRequest, replayed: bool) -> Response {
    Response::Reply(Reply::Applied(Applied::Reserved(WireReserveOutcome {
        id: request.id.clone(),
        lines: request
            .lines
            .iter()
            .map(|l| WireReservedLine {
                sku: l.sku.clone(),
                location: l.location.clone(),
                quantity: l.quantity,
                kind: HoldKind::InStock,
            })
            .collect(),
        expires_at: Timestamp(1_000),
        replayed,
        state: ReservationState::Held,
    })))
}

/// Answers one call the way a well-behaved server would shape it.
fn answer(call: &Call) -> Reply {
    match call {
        Call::Ping => Reply::Pong { server_time_ms: 1 },
        Call::Position { sku, location } => Reply::Position(position(sku, location)),
        Call::Reservation { id } => {
            Reply::Error(WireError::new(ErrorCode::UnknownEntity, format!("no reservation {id}")))
        }
        Call::AvailabilityBatch { skus, .. } => {
            Reply::AvailabilityBatch { available: skus.iter().map(|s| s.len() as u64).collect() }
        }
        Call::Stats => Reply::Stats(WireStats { skus: 3, ..WireStats::default() }),
        Call::Apply(Operation::Reserve(request)) => match reserved(request, false) {
            Response::Reply(reply) => reply,
            _ => unreachable!(),
        },
        Call::Apply(Operation::BulkLoad(rows)) => Reply::Applied(Applied::BulkLoad(WireBulkLoad {
            inserted: rows.len() as u64 - 1,
            rejected: 1,
            rejections: vec![WireRowRejection { row: 0, error: WireError::new(ErrorCode::InvalidArgument, "row") }],
            ..WireBulkLoad::default()
        })),
        Call::Apply(Operation::Adjust { sku, location, .. }) => {
            Reply::Applied(Applied::Position(position(sku, location)))
        }
        _ => Reply::Error(WireError::new(ErrorCode::Internal, "the test double does not do that")),
    }
}

/// A handler answering everything at once, as [`answer`] shapes it.
fn plain() -> Handler {
    Arc::new(|request: &Request, _| match request {
        Request::Call(call) => Action::Respond(Response::Reply(answer(call))),
        Request::Batch(calls) => Action::Respond(Response::Batch(calls.iter().map(answer).collect())),
        Request::Hello { .. } => unreachable!("the double answers Hello itself"),
        Request::Subscribe(_) | Request::Resync { .. } => {
            unreachable!("subscriptions go to the real server (tests/server_feed.rs)")
        }
    })
}

fn start(handler: Handler) -> TestServer {
    TestServer::start(Role::Admin, Limits::default(), handler)
}

fn reserves(server: &TestServer) -> Vec<(u64, ReserveRequest)> {
    server
        .requests()
        .into_iter()
        .filter_map(|seen| match seen.request {
            Request::Call(Call::Apply(Operation::Reserve(request))) => Some((seen.request_id, request)),
            _ => None,
        })
        .collect()
}

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
async fn a_transient_refusal_is_retried_with_the_same_reservation() {
    bounded(async {
        let attempts = Arc::new(AtomicUsize::new(0));
        let counter = attempts.clone();
        let server = start(Arc::new(move |request: &Request, _| match request {
            Request::Call(Call::Apply(Operation::Reserve(reserve))) => {
                match counter.fetch_add(1, Ordering::SeqCst) {
                    // The request as a whole refused: nothing ran.
                    0 => Action::Respond(Response::Error(WireError::new(ErrorCode::Overloaded, "busy"))),
                    // The call ran out of time.
                    1 => Action::Respond(Response::Reply(Reply::Error(WireError::new(
                        ErrorCode::DeadlineExceeded,
                        "slow log",
                    )))),
                    _ => Action::Respond(reserved(reserve, true)),
                }
            }
            Request::Call(call) => Action::Respond(Response::Reply(answer(call))),
            _ => Action::Ignore,
        }));
        let client = Client::connect(server.client_config()).await.unwrap();
        let outcome = client.reserve(reserve_request("cart-1")).await.unwrap();
        assert_eq!(outcome.id, "cart-1");
        assert!(outcome.replayed);
        let seen = reserves(&server);
        assert_eq!(seen.len(), 3);
        // The same operation every time (same reservation id), under new request ids.
        assert!(seen.iter().all(|(_, request)| *request == reserve_request("cart-1")));
        let mut ids: Vec<u64> = seen.iter().map(|(id, _)| *id).collect();
        ids.dedup();
        assert_eq!(ids.len(), 3);
    })
    .await;
}

#[tokio::test]
async fn retries_are_bounded() {
    bounded(async {
        let server = start(Arc::new(|_: &Request, _| {
            Action::Respond(Response::Error(WireError::new(ErrorCode::Overloaded, "always busy")))
        }));
        let mut config = server.client_config();
        config.retries = 2;
        let client = Client::connect(config).await.unwrap();
        let error = client.commit("cart-1").await.unwrap_err();
        assert_eq!(error.code(), Some(ErrorCode::Overloaded));
        assert_eq!(server.requests().len(), 3);
    })
    .await;
}

#[tokio::test]
async fn unsafe_writes_are_never_retried() {
    bounded(async {
        let server = start(Arc::new(|request: &Request, _| match request {
            Request::Call(Call::Apply(Operation::Adjust { .. })) => {
                Action::Respond(Response::Error(WireError::new(ErrorCode::Overloaded, "busy")))
            }
            Request::Call(Call::Apply(Operation::SetOnHand { .. })) => {
                Action::Respond(Response::Reply(Reply::Error(WireError::new(ErrorCode::DeadlineExceeded, "slow"))))
            }
            _ => Action::Ignore,
        }));
        let client = Client::connect(server.client_config()).await.unwrap();
        let error = client.adjust("S", "L", -1, AdjustReason::Lost, "").await.unwrap_err();
        assert_eq!(error.code(), Some(ErrorCode::Overloaded));
        let error = client.set_on_hand("S", "L", 5, None).await.unwrap_err();
        assert_eq!(error.code(), Some(ErrorCode::DeadlineExceeded));
        assert_eq!(server.requests().len(), 2);
        // With a version it is a compare-and-set, and retried.
        let error = client.set_on_hand("S", "L", 5, Some(1)).await.unwrap_err();
        assert_eq!(error.code(), Some(ErrorCode::DeadlineExceeded));
        assert_eq!(server.requests().len(), 2 + 1 + client.config().retries as usize);
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

#[tokio::test]
async fn a_batch_keeps_per_call_refusals_in_place() {
    bounded(async {
        let server = start(plain());
        let client = Client::connect(server.client_config()).await.unwrap();
        let replies = client
            .batch(vec![
                Call::Ping,
                Call::Reservation { id: "missing".into() },
                Call::Position { sku: "S".into(), location: "L".into() },
            ])
            .await
            .unwrap();
        assert_eq!(replies.len(), 3);
        assert!(matches!(replies[0], Reply::Pong { .. }));
        assert!(matches!(&replies[1], Reply::Error(e) if e.code == ErrorCode::UnknownEntity));
        assert!(matches!(&replies[2], Reply::Position(p) if p.sku == "S"));
        assert!(client.batch(Vec::new()).await.unwrap().is_empty());
        assert_eq!(server.requests().len(), 1);
    })
    .await;
}

#[tokio::test]
async fn batches_are_chunked_to_the_servers_limits() {
    bounded(async {
        let limits = Limits { max_batch_calls: 3, max_frame_bytes: 400, ..Limits::default() };
        let server = TestServer::start(Role::Read, limits, plain());
        let client = Client::connect(server.client_config()).await.unwrap();
        let calls = |count: usize, width: usize| -> Vec<Call> {
            (0..count).map(|i| Call::Position { sku: format!("{i:0width$}"), location: "L".into() }).collect()
        };
        // Longer than max_batch_calls: refused by `batch`, split by `batch_chunked`.
        let error = client.batch(calls(10, 4)).await.unwrap_err();
        assert_eq!(error.code(), Some(ErrorCode::LimitExceeded));
        let replies = client.batch_chunked(calls(10, 4)).await.unwrap();
        let skus: Vec<String> = replies
            .iter()
            .map(|r| match r {
                Reply::Position(p) => p.sku.clone(),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(skus, (0..10).map(|i| format!("{i:04}")).collect::<Vec<_>>());
        let sizes: Vec<usize> = server
            .requests()
            .iter()
            .map(|s| match &s.request {
                Request::Batch(calls) => calls.len(),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(sizes, vec![3, 3, 3, 1]);

        // Three calls of ~150 bytes do not fit 400 bytes: halved until they do.
        let before = server.requests().len();
        let replies = client.batch_chunked(calls(7, 150)).await.unwrap();
        assert_eq!(replies.len(), 7);
        for (i, reply) in replies.iter().enumerate() {
            assert!(matches!(reply, Reply::Position(p) if p.sku == format!("{i:0150}")));
        }
        let later = &server.requests()[before..];
        assert!(later.len() > 3);
        assert!(later.iter().all(|s| s.bytes <= 400));
        // A single call larger than a frame cannot be split.
        let error = client.batch_chunked(calls(1, 500)).await.unwrap_err();
        assert_eq!(error.code(), Some(ErrorCode::LimitExceeded));
        let error = client.position(&"x".repeat(500), "L").await.unwrap_err();
        assert!(matches!(error, ClientError::LimitExceeded(_)), "{error}");
        client.ping().await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn availability_batch_splits_over_max_batch_skus() {
    bounded(async {
        let limits = Limits { max_batch_skus: 4, ..Limits::default() };
        let server = TestServer::start(Role::Read, limits, plain());
        let client = Client::connect(server.client_config()).await.unwrap();
        let skus: Vec<String> = (0..10).map(|i| "s".repeat(i + 1)).collect();
        let scope = crate::engine::AvailabilityScope::Channel("web".into());
        let measure = crate::engine::Availability::ToSell;
        let numbers = client.availability_batch(skus.clone(), scope.clone(), measure).await.unwrap();
        assert_eq!(numbers, (1..=10).collect::<Vec<u64>>());
        assert_eq!(server.requests().len(), 1, "one batch of three calls");
        let numbers = client.availability_batch(skus[..3].to_vec(), scope, measure).await.unwrap();
        assert_eq!(numbers, vec![1, 2, 3]);
    })
    .await;
}

#[tokio::test]
async fn a_bulk_load_is_split_to_fit_frames() {
    bounded(async {
        let limits = Limits { max_frame_bytes: 1024, ..Limits::default() };
        let server = TestServer::start(Role::Admin, limits, plain());
        let client = Client::connect(server.client_config()).await.unwrap();
        let rows: Vec<PositionRow> = (0..300)
            .map(|i| PositionRow {
                sku: format!("SKU-{i:05}"),
                location: "DC-1".into(),
                on_hand: i,
                safety_stock: 0,
                damaged: 0,
                quality_control: 0,
                backorder_limit: 0,
            })
            .collect();
        let outcome = client.bulk_load(rows.clone()).await.unwrap();
        let loads: Vec<Seen> = server.requests();
        let parts: Vec<&Vec<PositionRow>> = loads
            .iter()
            .map(|s| match &s.request {
                Request::Call(Call::Apply(Operation::BulkLoad(rows))) => rows,
                other => panic!("{other:?}"),
            })
            .collect();
        assert!(parts.len() > 1);
        assert!(loads.iter().all(|s| s.bytes <= 1024));
        assert_eq!(parts.iter().flat_map(|p| p.iter()).cloned().collect::<Vec<_>>(), rows);
        assert_eq!(outcome.inserted + outcome.rejected, 300);
        assert_eq!(outcome.rejected, parts.len() as u64);
        // Each part's row 0 was rejected: numbered in the whole load.
        let mut first = 0;
        for (rejection, part) in outcome.rejections.iter().zip(&parts) {
            assert_eq!(rejection.row, first);
            first += part.len() as u64;
        }
    })
    .await;
}

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
