//! The client against the PROTOCOL TEST DOUBLE of `test_double.rs` (not the real
//! server: end-to-end tests against `stockd serve` live elsewhere). Loopback only;
//! every test is bounded by a timeout.

mod batches;
mod concurrency;
mod connecting;
mod pipeline;
mod retries;

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
