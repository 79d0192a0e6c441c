//! The reservation lifecycle after `reserve`: commit, fulfil and release (whole and
//! partial, with step ids), extend, TTL expiry (by `expire_due` and on touch), the
//! idempotency window, returns (`restock`) and every error those calls can give.

#[path = "../common/mod.rs"]
mod common;
mod fulfil_release;
mod refusals;
mod returns;
mod ttl;

use common::*;
use stockd::engine::{ExpiryReport, Operation, Outcome, ReservationState, RestockRequest};
use stockd::limits::{MAX_EXPANDED_LINES, MAX_STEPS_PER_RESERVATION, MAX_TTL_MS, MIN_TTL_MS};
use stockd::model::{Bucket, IdKind};
use stockd::{EngineConfig, EngineError, Timestamp};

/// Idempotency window used where a test waits for a reservation to be forgotten.
const WINDOW_MS: u64 = 10_000;

fn small_window() -> Fixture {
    Fixture::with_config(EngineConfig { idempotency_window_ms: WINDOW_MS, ..EngineConfig::default() })
}

/// Reserves 4 T-shirts and 2 mugs at the warehouse as "order-1", at time 0.
fn reserve_order(fixture: &Fixture) {
    fixture
        .engine
        .reserve(&request("order-1", vec![line(TSHIRT, WAREHOUSE, 4), line(MUG, WAREHOUSE, 2)]), at(0))
        .unwrap();
}

/// Asserts that `call` is refused with an error `check` accepts and changed nothing.
fn assert_refused<T: std::fmt::Debug>(
    fixture: &Fixture,
    ids: &[&str],
    call: impl FnOnce() -> Result<T, EngineError>,
    check: impl FnOnce(&EngineError) -> bool,
) {
    let before = fixture.snapshot(ids);
    let error = call().expect_err("the call must be refused");
    assert!(check(&error), "unexpected error {error:?}");
    assert_eq!(fixture.snapshot(ids), before, "a refused call changed something");
    fixture.assert_clean();
}

fn restock_request(
    reservation_id: &str,
    step_id: &str,
    sku: &str,
    location: &str,
    quantity: u32,
    bucket: Bucket,
) -> RestockRequest {
    RestockRequest {
        reservation_id: reservation_id.to_owned(),
        step_id: step_id.to_owned(),
        line: stockd::engine::LineQuantity { sku: sku.to_owned(), location: location.to_owned(), quantity },
        bucket,
    }
}
