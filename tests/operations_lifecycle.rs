//! The reservation lifecycle after `reserve`: commit, fulfil and release (whole and
//! partial, with step ids), extend, TTL expiry (by `expire_due` and on touch), the
//! idempotency window, returns (`restock`) and every error those calls can give.

mod common;

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

#[test]
fn commit_ends_the_ttl_and_is_idempotent() {
    let fixture = Fixture::new();
    reserve_order(&fixture);
    let committed = fixture.engine.commit("order-1", at(1_000)).unwrap();
    assert_eq!(committed.state, ReservationState::Committed);
    assert_eq!(committed.expires_at, None);
    assert_eq!(committed.first_expires_at, at(TTL_MS), "the first reply's expiry is kept for retries");

    // Long after the TTL, a committed reservation still holds its units.
    assert_eq!(fixture.engine.expire_due(at(100 * TTL_MS)), ExpiryReport::default());
    assert_eq!(fixture.reserved(TSHIRT, WAREHOUSE), 4);
    let before = fixture.snapshot(&["order-1"]);
    assert_eq!(fixture.engine.commit("order-1", at(100 * TTL_MS)).unwrap(), committed);
    assert_eq!(fixture.snapshot(&["order-1"]), before);
    assert_eq!(fixture.engine.stats().reservations_committed, 1);
    fixture.assert_clean();
}

#[test]
fn a_whole_fulfil_ships_every_held_unit() {
    let fixture = Fixture::new();
    reserve_order(&fixture);
    fixture.engine.commit("order-1", at(1)).unwrap();
    let fulfilled = fixture.engine.fulfil("order-1", None, at(2_000)).unwrap();
    assert_eq!(fulfilled.state, ReservationState::Fulfilled);
    assert_eq!(fulfilled.held_units(), 0);
    assert_eq!(fulfilled.forget_at, Some(at(2_000 + fixture.engine.config().idempotency_window_ms)));
    assert!(fulfilled.lines.iter().all(|l| l.fulfilled == l.quantity && l.released == 0));
    let tshirt = fixture.view(TSHIRT, WAREHOUSE);
    assert_eq!((tshirt.on_hand, tshirt.reserved, tshirt.available_to_sell), (6, 0, 6));
    assert_eq!((fixture.on_hand(MUG, WAREHOUSE), fixture.reserved(MUG, WAREHOUSE)), (18, 0));

    // Fulfilling again answers the same and ships nothing more.
    let before = fixture.snapshot(&["order-1"]);
    assert_eq!(fixture.engine.fulfil("order-1", None, at(3_000)).unwrap(), fulfilled);
    assert_eq!(fixture.snapshot(&["order-1"]), before);
    assert_eq!(fixture.engine.stats().reservations_fulfilled, 1);
    fixture.assert_clean();
}

#[test]
fn a_partial_fulfil_applies_each_step_once() {
    let fixture = Fixture::new();
    reserve_order(&fixture);
    fixture.engine.commit("order-1", at(1)).unwrap();
    let first = fixture.engine.fulfil("order-1", Some(&step("ship-1", &[(TSHIRT, WAREHOUSE, 1)])), at(2)).unwrap();
    assert_eq!(first.state, ReservationState::Committed);
    assert_eq!((fixture.on_hand(TSHIRT, WAREHOUSE), fixture.reserved(TSHIRT, WAREHOUSE)), (9, 3));

    // A retried step changes nothing and answers the reservation as it is.
    let before = fixture.snapshot(&["order-1"]);
    let retry = fixture.engine.fulfil("order-1", Some(&step("ship-1", &[(TSHIRT, WAREHOUSE, 1)])), at(3)).unwrap();
    assert_eq!(retry, first);
    assert_eq!(fixture.snapshot(&["order-1"]), before);

    let last = fixture
        .engine
        .fulfil("order-1", Some(&step("ship-2", &[(TSHIRT, WAREHOUSE, 3), (MUG, WAREHOUSE, 2)])), at(4))
        .unwrap();
    assert_eq!(last.state, ReservationState::Fulfilled, "nothing held any more");
    assert_eq!(last.applied_steps.iter().map(|s| &**s).collect::<Vec<_>>(), vec!["ship-1", "ship-2"]);
    assert_eq!((fixture.on_hand(TSHIRT, WAREHOUSE), fixture.reserved(TSHIRT, WAREHOUSE)), (6, 0));
    assert_eq!((fixture.on_hand(MUG, WAREHOUSE), fixture.reserved(MUG, WAREHOUSE)), (18, 0));
    // A step retried after the reservation ended still answers without applying.
    assert_eq!(
        fixture.engine.fulfil("order-1", Some(&step("ship-1", &[(TSHIRT, WAREHOUSE, 1)])), at(5)).unwrap(),
        last
    );
    assert_eq!(fixture.on_hand(TSHIRT, WAREHOUSE), 6);
    fixture.assert_clean();
}

#[test]
fn a_whole_release_gives_everything_back_and_is_idempotent() {
    let fixture = Fixture::new();
    reserve_order(&fixture);
    let released = fixture.engine.release("order-1", None, at(1_000)).unwrap();
    assert_eq!(released.state, ReservationState::Released);
    assert_eq!(released.expires_at, None);
    assert!(released.lines.iter().all(|l| l.released == l.quantity && l.held == 0));
    assert_eq!((fixture.on_hand(TSHIRT, WAREHOUSE), fixture.reserved(TSHIRT, WAREHOUSE)), (10, 0));
    assert_eq!(fixture.reserved(MUG, WAREHOUSE), 0);

    let before = fixture.snapshot(&["order-1"]);
    assert_eq!(fixture.engine.release("order-1", None, at(2_000)).unwrap(), released);
    assert_eq!(fixture.snapshot(&["order-1"]), before);
    // The TTL deadline of a released reservation does nothing when it comes.
    assert_eq!(fixture.engine.expire_due(at(TTL_MS)).expired, 0);
    assert_eq!(fixture.engine.stats().reservations_released, 1);
    fixture.assert_clean();
}

#[test]
fn a_committed_reservation_can_be_cancelled() {
    let fixture = Fixture::new();
    reserve_order(&fixture);
    fixture.engine.commit("order-1", at(1)).unwrap();
    let released = fixture.engine.release("order-1", None, at(2)).unwrap();
    assert_eq!(released.state, ReservationState::Released);
    assert_eq!(fixture.reserved(TSHIRT, WAREHOUSE), 0);
    fixture.assert_clean();
}

#[test]
fn a_partial_release_returns_part_of_a_line_once() {
    let fixture = Fixture::new();
    reserve_order(&fixture);
    let after = fixture.engine.release("order-1", Some(&step("cancel-1", &[(TSHIRT, WAREHOUSE, 3)])), at(1)).unwrap();
    assert_eq!(after.state, ReservationState::Held, "units are still held");
    assert_eq!(after.expires_at, Some(at(TTL_MS)), "a partial release keeps the TTL");
    assert_eq!((after.lines[0].held, after.lines[0].released), (1, 3));
    assert_eq!(fixture.reserved(TSHIRT, WAREHOUSE), 1);

    let retry = fixture.engine.release("order-1", Some(&step("cancel-1", &[(TSHIRT, WAREHOUSE, 3)])), at(2)).unwrap();
    assert_eq!(retry, after);
    assert_eq!(fixture.reserved(TSHIRT, WAREHOUSE), 1);

    // Releasing what is left ends the reservation as Released.
    let done = fixture
        .engine
        .release("order-1", Some(&step("cancel-2", &[(TSHIRT, WAREHOUSE, 1), (MUG, WAREHOUSE, 2)])), at(3))
        .unwrap();
    assert_eq!(done.state, ReservationState::Released);
    assert!(done.forget_at.is_some());
    assert_eq!((fixture.reserved(TSHIRT, WAREHOUSE), fixture.reserved(MUG, WAREHOUSE)), (0, 0));
    fixture.assert_clean();
}

#[test]
fn a_partly_shipped_order_cancelled_ends_fulfilled() {
    let fixture = Fixture::new();
    reserve_order(&fixture);
    fixture.engine.commit("order-1", at(1)).unwrap();
    fixture.engine.fulfil("order-1", Some(&step("ship-1", &[(MUG, WAREHOUSE, 2)])), at(2)).unwrap();
    let ended = fixture.engine.release("order-1", None, at(3)).unwrap();
    assert_eq!(ended.state, ReservationState::Fulfilled);
    assert_eq!((ended.lines[0].released, ended.lines[1].fulfilled), (4, 2));
    assert_eq!((fixture.on_hand(TSHIRT, WAREHOUSE), fixture.reserved(TSHIRT, WAREHOUSE)), (10, 0));
    assert_eq!(fixture.on_hand(MUG, WAREHOUSE), 18);
    fixture.assert_clean();
}

#[test]
fn extend_gives_a_new_ttl_from_now() {
    let fixture = Fixture::new();
    reserve_order(&fixture);
    let extended = fixture.engine.extend("order-1", TTL_MS, at(50_000)).unwrap();
    assert_eq!(extended.expires_at, Some(at(50_000 + TTL_MS)));
    assert_eq!(extended.first_expires_at, at(TTL_MS));
    // The old deadline passes without expiring it; the new one expires it.
    assert_eq!(fixture.engine.expire_due(at(TTL_MS)).expired, 0);
    assert_eq!(fixture.reserved(TSHIRT, WAREHOUSE), 4);
    assert_eq!(fixture.engine.expire_due(at(50_000 + TTL_MS - 1)).expired, 0);
    assert_eq!(fixture.engine.expire_due(at(50_000 + TTL_MS)).expired, 1);
    assert_eq!(fixture.reserved(TSHIRT, WAREHOUSE), 0);
    fixture.assert_clean();
}

#[test]
fn extend_is_refused_outside_its_ttl_range_and_unless_held() {
    let fixture = Fixture::new();
    reserve_order(&fixture);
    for ttl_ms in [MIN_TTL_MS - 1, MAX_TTL_MS + 1] {
        assert_refused(
            &fixture,
            &["order-1"],
            || fixture.engine.extend("order-1", ttl_ms, at(1)),
            |e| matches!(e, EngineError::OutOfRange { field: "ttl_ms", .. }),
        );
    }
    fixture.engine.commit("order-1", at(1)).unwrap();
    assert_refused(
        &fixture,
        &["order-1"],
        || fixture.engine.extend("order-1", TTL_MS, at(2)),
        |e| {
            *e == EngineError::InvalidState {
                id: "order-1".to_owned(),
                state: ReservationState::Committed,
                operation: "extend",
                expected: "a held reservation",
            }
        },
    );
}

#[test]
fn expire_due_gives_back_held_units_when_the_ttl_passes() {
    let fixture = small_window();
    reserve_order(&fixture);
    fixture.engine.reserve(&request("later", vec![line(CAP, WAREHOUSE, 1)]), at(5_000)).unwrap();
    assert_eq!(fixture.engine.expire_due(at(TTL_MS - 1)), ExpiryReport::default());
    assert_eq!(fixture.reserved(TSHIRT, WAREHOUSE), 4);

    let report = fixture.engine.expire_due(at(TTL_MS));
    assert_eq!(report, ExpiryReport { expired: 1, forgotten: 0, more_due: false });
    assert_eq!((fixture.reserved(TSHIRT, WAREHOUSE), fixture.reserved(MUG, WAREHOUSE)), (0, 0));
    assert_eq!(fixture.reserved(CAP, WAREHOUSE), 1, "the later reservation is still held");
    let expired = fixture.engine.reservation("order-1").unwrap();
    assert_eq!(expired.state, ReservationState::Expired);
    assert_eq!(expired.expires_at, Some(at(TTL_MS)), "an expired reservation says when it expired");
    assert_eq!(expired.forget_at, Some(at(TTL_MS + WINDOW_MS)));
    assert_eq!(fixture.engine.stats().reservations_expired, 1);
    fixture.assert_clean();

    // After the idempotency window it is forgotten.
    let report = fixture.engine.expire_due(at(TTL_MS + WINDOW_MS - 1));
    assert_eq!((report.expired, report.forgotten), (1, 0), "only the later one's TTL passed");
    assert_eq!(fixture.reserved(CAP, WAREHOUSE), 0);
    let report = fixture.engine.expire_due(at(TTL_MS + WINDOW_MS));
    assert_eq!((report.expired, report.forgotten), (0, 1));
    assert_eq!(fixture.engine.reservation("order-1"), Err(EngineError::UnknownReservation("order-1".to_owned())));
    assert_eq!(fixture.engine.stats().reservations_remembered, 1);
    fixture.assert_clean();
}

#[test]
fn expire_due_is_bounded_per_sweep() {
    let fixture = Fixture::with_config(EngineConfig { max_expiries_per_sweep: 2, ..EngineConfig::default() });
    for id in ["a", "b", "c"] {
        fixture.engine.reserve(&request(id, vec![line(MUG, WAREHOUSE, 1)]), at(0)).unwrap();
    }
    let first = fixture.engine.expire_due(at(TTL_MS));
    assert_eq!(first, ExpiryReport { expired: 2, forgotten: 0, more_due: true });
    assert_eq!(fixture.reserved(MUG, WAREHOUSE), 1);
    fixture.assert_clean();
    let second = fixture.engine.expire_due(at(TTL_MS));
    assert_eq!(second, ExpiryReport { expired: 1, forgotten: 0, more_due: false });
    assert_eq!(fixture.reserved(MUG, WAREHOUSE), 0);
    assert_eq!(fixture.engine.stats().reservations_expired, 3);
    fixture.assert_clean();
}

#[test]
fn a_call_on_a_reservation_past_its_ttl_expires_it_first() {
    let fixture = Fixture::new();
    reserve_order(&fixture);
    // No sweep ran: touching it at its expiry gives the units back and refuses.
    let error = fixture.engine.commit("order-1", at(TTL_MS)).unwrap_err();
    assert_eq!(error, EngineError::ReservationExpired { id: "order-1".to_owned(), expired_at: at(TTL_MS) });
    assert_eq!((fixture.reserved(TSHIRT, WAREHOUSE), fixture.reserved(MUG, WAREHOUSE)), (0, 0));
    assert_eq!(fixture.engine.reservation("order-1").unwrap().state, ReservationState::Expired);
    // The sweep finds nothing left to expire.
    assert_eq!(fixture.engine.expire_due(at(TTL_MS)).expired, 0);
    fixture.assert_clean();
}

#[test]
fn an_expired_reservation_refuses_every_change_and_changes_nothing() {
    let fixture = Fixture::new();
    reserve_order(&fixture);
    assert_eq!(fixture.engine.expire_due(at(TTL_MS)).expired, 1);
    let expired =
        |e: &EngineError| *e == EngineError::ReservationExpired { id: "order-1".to_owned(), expired_at: at(TTL_MS) };
    let later = at(TTL_MS + 1);
    assert_refused(&fixture, &["order-1"], || fixture.engine.commit("order-1", later), expired);
    assert_refused(&fixture, &["order-1"], || fixture.engine.extend("order-1", TTL_MS, later), expired);
    assert_refused(&fixture, &["order-1"], || fixture.engine.fulfil("order-1", None, later), expired);
    let part = step("cancel-1", &[(TSHIRT, WAREHOUSE, 1)]);
    assert_refused(&fixture, &["order-1"], || fixture.engine.release("order-1", Some(&part), later), expired);
    // A whole release of an expired reservation answers it as it is.
    let before = fixture.snapshot(&["order-1"]);
    assert_eq!(fixture.engine.release("order-1", None, later).unwrap().state, ReservationState::Expired);
    assert_eq!(fixture.snapshot(&["order-1"]), before);
}

#[test]
fn a_retried_reserve_past_its_ttl_finds_it_expired() {
    let fixture = Fixture::new();
    let order = request("order-1", vec![line(TSHIRT, WAREHOUSE, 4)]);
    fixture.engine.reserve(&order, at(0)).unwrap();
    let replay = fixture.engine.reserve(&order, at(TTL_MS + 5)).unwrap();
    assert!(replay.replayed);
    assert_eq!(replay.state, ReservationState::Expired);
    assert_eq!(fixture.reserved(TSHIRT, WAREHOUSE), 0, "the retry expired it and held nothing");
    fixture.assert_clean();
}

#[test]
fn a_reservation_is_remembered_for_the_idempotency_window_then_forgotten() {
    let fixture = small_window();
    let order = request("order-1", vec![line(TSHIRT, WAREHOUSE, 4)]);
    fixture.engine.reserve(&order, at(0)).unwrap();
    fixture.engine.release("order-1", None, at(1_000)).unwrap();

    // Within the window, a retry answers the released reservation and holds nothing.
    let replay = fixture.engine.reserve(&order, at(1_000 + WINDOW_MS - 1)).unwrap();
    assert!(replay.replayed);
    assert_eq!(replay.state, ReservationState::Released);
    assert_eq!(fixture.reserved(TSHIRT, WAREHOUSE), 0);
    assert_eq!(fixture.engine.expire_due(at(1_000 + WINDOW_MS - 1)).forgotten, 0);

    assert_eq!(
        fixture.engine.expire_due(at(1_000 + WINDOW_MS)),
        ExpiryReport { expired: 0, forgotten: 1, more_due: false }
    );
    assert_eq!(fixture.engine.stats().reservations_remembered, 0);
    // Forgotten: the id is free again, and a reserve with it is a new reservation.
    let fresh = fixture.engine.reserve(&order, at(1_000 + WINDOW_MS)).unwrap();
    assert!(!fresh.replayed);
    assert_eq!(fixture.reserved(TSHIRT, WAREHOUSE), 4);
    // Its old TTL deadline, still in the heap, does not touch the new reservation.
    assert_eq!(fixture.engine.expire_due(at(TTL_MS)).expired, 0);
    assert_eq!(fixture.reserved(TSHIRT, WAREHOUSE), 4);
    fixture.assert_clean();
}

#[test]
fn lifecycle_calls_are_refused_in_the_wrong_state_and_change_nothing() {
    let fixture = Fixture::new();
    reserve_order(&fixture);
    let invalid = |state: ReservationState, operation: &'static str| {
        move |e: &EngineError| {
            matches!(e, EngineError::InvalidState { id, state: s, operation: o, .. }
                if id == "order-1" && *s == state && *o == operation)
        }
    };
    let ids = ["order-1"];
    // Held: not yet fulfillable.
    assert_refused(
        &fixture,
        &ids,
        || fixture.engine.fulfil("order-1", None, at(1)),
        invalid(ReservationState::Held, "fulfil"),
    );
    let ship = step("ship-1", &[(TSHIRT, WAREHOUSE, 1)]);
    assert_refused(
        &fixture,
        &ids,
        || fixture.engine.fulfil("order-1", Some(&ship), at(1)),
        invalid(ReservationState::Held, "fulfil"),
    );

    // Released: nothing can be committed, fulfilled or partly released.
    fixture.engine.release("order-1", None, at(2)).unwrap();
    assert_refused(
        &fixture,
        &ids,
        || fixture.engine.commit("order-1", at(3)),
        invalid(ReservationState::Released, "commit"),
    );
    assert_refused(
        &fixture,
        &ids,
        || fixture.engine.fulfil("order-1", None, at(3)),
        invalid(ReservationState::Released, "fulfil"),
    );
    let cancel = step("cancel-1", &[(TSHIRT, WAREHOUSE, 1)]);
    assert_refused(
        &fixture,
        &ids,
        || fixture.engine.release("order-1", Some(&cancel), at(3)),
        invalid(ReservationState::Released, "release"),
    );
    assert_refused(
        &fixture,
        &ids,
        || fixture.engine.extend("order-1", TTL_MS, at(3)),
        invalid(ReservationState::Released, "extend"),
    );

    // Fulfilled: no release and no commit.
    fixture.engine.reserve(&request("order-2", vec![line(CAP, WAREHOUSE, 1)]), at(4)).unwrap();
    fixture.engine.commit("order-2", at(4)).unwrap();
    fixture.engine.fulfil("order-2", None, at(5)).unwrap();
    let fulfilled = |operation: &'static str| move |e: &EngineError| matches!(e, EngineError::InvalidState { state: ReservationState::Fulfilled, operation: o, .. } if *o == operation);
    assert_refused(&fixture, &["order-2"], || fixture.engine.release("order-2", None, at(6)), fulfilled("release"));
    assert_refused(&fixture, &["order-2"], || fixture.engine.commit("order-2", at(6)), fulfilled("commit"));
}

#[test]
fn calls_naming_an_unknown_reservation_are_refused() {
    let fixture = Fixture::new();
    reserve_order(&fixture);
    let unknown = |e: &EngineError| *e == EngineError::UnknownReservation("nope".to_owned());
    let ids = ["order-1", "nope"];
    assert_refused(&fixture, &ids, || fixture.engine.commit("nope", at(1)), unknown);
    assert_refused(&fixture, &ids, || fixture.engine.extend("nope", TTL_MS, at(1)), unknown);
    assert_refused(&fixture, &ids, || fixture.engine.release("nope", None, at(1)), unknown);
    assert_refused(&fixture, &ids, || fixture.engine.fulfil("nope", None, at(1)), unknown);
    let part = step("s", &[(TSHIRT, WAREHOUSE, 1)]);
    assert_refused(&fixture, &ids, || fixture.engine.release("nope", Some(&part), at(1)), unknown);
    let back = restock_request("nope", "r-1", TSHIRT, WAREHOUSE, 1, Bucket::Sellable);
    assert_refused(&fixture, &ids, || fixture.engine.restock(&back), unknown);
    let invalid = |e: &EngineError| matches!(e, EngineError::InvalidId { kind: IdKind::Reservation, .. });
    assert_refused(&fixture, &ids, || fixture.engine.commit("no pe", at(1)), invalid);
    assert_refused(&fixture, &ids, || fixture.engine.reservation(""), invalid);
}

#[test]
fn partial_steps_must_name_held_lines_within_their_units() {
    let mut fixture = Fixture::new();
    reserve_order(&fixture);
    fixture.track("NEVER-SEEN");
    let ids = ["order-1"];
    let release = |lines: &[(&str, &str, u32)]| fixture.engine.release("order-1", Some(&step("s-1", lines)), at(1));
    let unknown_line = |sku: &'static str, location: &'static str| {
        move |e: &EngineError| {
            *e == EngineError::UnknownLine {
                id: "order-1".to_owned(),
                sku: sku.to_owned(),
                location: location.to_owned(),
            }
        }
    };
    // A SKU not on the reservation, a location it does not hold, a SKU never seen.
    assert_refused(
        &fixture,
        &ids,
        || release(&[(TSHIRT, WAREHOUSE, 1), (CAP, WAREHOUSE, 1)]),
        unknown_line(CAP, WAREHOUSE),
    );
    assert_refused(&fixture, &ids, || release(&[(TSHIRT, STORE, 1)]), unknown_line(TSHIRT, STORE));
    assert_refused(&fixture, &ids, || release(&[("NEVER-SEEN", WAREHOUSE, 1)]), unknown_line("NEVER-SEEN", WAREHOUSE));
    assert_refused(&fixture, &ids, || release(&[(TSHIRT, "NOWHERE", 1)]), unknown_line(TSHIRT, "NOWHERE"));

    assert_refused(
        &fixture,
        &ids,
        || release(&[(MUG, WAREHOUSE, 1), (TSHIRT, WAREHOUSE, 5)]),
        |e| {
            *e == EngineError::ExceedsLine {
                id: "order-1".to_owned(),
                sku: TSHIRT.to_owned(),
                location: WAREHOUSE.to_owned(),
                held: 4,
                requested: 5,
            }
        },
    );
    assert_refused(
        &fixture,
        &ids,
        || release(&[(TSHIRT, WAREHOUSE, 1), (TSHIRT, WAREHOUSE, 1)]),
        |e| *e == EngineError::DuplicateLine { index: 1, sku: TSHIRT.to_owned(), location: WAREHOUSE.to_owned() },
    );
    assert_refused(&fixture, &ids, || release(&[]), |e| *e == EngineError::NoLines);
    assert_refused(
        &fixture,
        &ids,
        || release(&[(TSHIRT, WAREHOUSE, 0)]),
        |e| matches!(e, EngineError::OutOfRange { field: "quantity", value: 0, .. }),
    );
    let too_many: Vec<(&str, &str, u32)> = vec![(TSHIRT, WAREHOUSE, 1); MAX_EXPANDED_LINES + 1];
    assert_refused(
        &fixture,
        &ids,
        || release(&too_many),
        |e| {
            *e == EngineError::TooMany {
                what: "lines in a step",
                count: MAX_EXPANDED_LINES + 1,
                limit: MAX_EXPANDED_LINES,
            }
        },
    );
    assert_refused(
        &fixture,
        &ids,
        || fixture.engine.release("order-1", Some(&step("step 1", &[(TSHIRT, WAREHOUSE, 1)])), at(1)),
        |e| matches!(e, EngineError::InvalidId { kind: IdKind::Step, .. }),
    );
    // A step refused is not remembered: the same step id applies once it is valid.
    let applied = release(&[(TSHIRT, WAREHOUSE, 4)]).unwrap();
    assert_eq!(applied.lines[0].released, 4);
    fixture.assert_clean();
}

#[test]
fn a_reservation_remembers_a_bounded_number_of_steps() {
    let fixture = Fixture::new();
    fixture.stock(MUG, WAREHOUSE, 100);
    fixture.engine.reserve(&request("big", vec![line(MUG, WAREHOUSE, 80)]), at(0)).unwrap();
    for n in 0..MAX_STEPS_PER_RESERVATION {
        fixture.engine.release("big", Some(&step(&format!("s-{n}"), &[(MUG, WAREHOUSE, 1)])), at(1)).unwrap();
    }
    assert_eq!(fixture.reserved(MUG, WAREHOUSE), 80 - MAX_STEPS_PER_RESERVATION as u32);
    assert_refused(
        &fixture,
        &["big"],
        || fixture.engine.release("big", Some(&step("one-more", &[(MUG, WAREHOUSE, 1)])), at(2)),
        |e| {
            *e == EngineError::TooMany {
                what: "partial steps on one reservation",
                count: MAX_STEPS_PER_RESERVATION + 1,
                limit: MAX_STEPS_PER_RESERVATION,
            }
        },
    );
    // Retries of remembered steps are still answered, and a whole release still works.
    assert!(fixture.engine.release("big", Some(&step("s-0", &[(MUG, WAREHOUSE, 1)])), at(3)).is_ok());
    assert_eq!(fixture.engine.release("big", None, at(3)).unwrap().state, ReservationState::Released);
    assert_eq!(fixture.reserved(MUG, WAREHOUSE), 0);
    fixture.assert_clean();
}

#[test]
fn a_backorder_cannot_ship_before_its_units_arrive() {
    let fixture = Fixture::new();
    fixture.engine.set_backorder_limit(TSHIRT, STORE, 5).unwrap();
    fixture.engine.reserve(&request("bo", vec![line(TSHIRT, STORE, 6)]), at(0)).unwrap();
    fixture.engine.commit("bo", at(1)).unwrap();
    let short_units = |e: &EngineError| {
        *e == EngineError::InsufficientUnits {
            sku: TSHIRT.to_owned(),
            location: STORE.to_owned(),
            bucket: "on hand",
            available: 3,
            requested: 6,
        }
    };
    assert_refused(&fixture, &["bo"], || fixture.engine.fulfil("bo", None, at(2)), short_units);
    // Part of it can ship now; the rest once stock arrives.
    fixture.engine.fulfil("bo", Some(&step("ship-1", &[(TSHIRT, STORE, 3)])), at(3)).unwrap();
    assert_refused(
        &fixture,
        &["bo"],
        || fixture.engine.fulfil("bo", Some(&step("ship-2", &[(TSHIRT, STORE, 1)])), at(4)),
        |e| matches!(e, EngineError::InsufficientUnits { available: 0, requested: 1, .. }),
    );
    fixture.engine.adjust(TSHIRT, STORE, 3, stockd::engine::AdjustReason::Received, "ASN-1").unwrap();
    let done = fixture.engine.fulfil("bo", Some(&step("ship-2", &[(TSHIRT, STORE, 3)])), at(5)).unwrap();
    assert_eq!(done.state, ReservationState::Fulfilled);
    let view = fixture.view(TSHIRT, STORE);
    assert_eq!((view.on_hand, view.reserved), (0, 0));
    fixture.assert_clean();
}

#[test]
fn restock_returns_fulfilled_units_once_per_step() {
    let fixture = Fixture::new();
    reserve_order(&fixture);
    fixture.engine.commit("order-1", at(1)).unwrap();
    fixture.engine.fulfil("order-1", None, at(2)).unwrap();
    assert_eq!(fixture.on_hand(TSHIRT, WAREHOUSE), 6);

    // Back to where it left, sellable.
    let view =
        fixture.engine.restock(&restock_request("order-1", "rma-1", TSHIRT, WAREHOUSE, 1, Bucket::Sellable)).unwrap();
    assert_eq!((view.on_hand, view.available_to_sell), (7, 7));
    // A retry of the same return applies nothing.
    let before = fixture.snapshot(&["order-1"]);
    let retry =
        fixture.engine.restock(&restock_request("order-1", "rma-1", TSHIRT, WAREHOUSE, 1, Bucket::Sellable)).unwrap();
    assert_eq!(retry.on_hand, 7);
    assert_eq!(fixture.snapshot(&["order-1"]), before);

    // To another location, damaged: not on sale.
    let view = fixture.engine.restock(&restock_request("order-1", "rma-2", TSHIRT, STORE, 2, Bucket::Damaged)).unwrap();
    assert_eq!((view.on_hand, view.damaged, view.available_to_sell), (3, 2, 3));
    // To a location with no position yet: one is made.
    let view = fixture
        .engine
        .restock(&restock_request("order-1", "rma-3", MUG, OTHER_STORE, 1, Bucket::QualityControl))
        .unwrap();
    assert_eq!((view.on_hand, view.quality_control), (0, 1));

    let reservation = fixture.engine.reservation("order-1").unwrap();
    assert_eq!((reservation.lines[0].returned, reservation.lines[1].returned), (3, 1));
    assert_eq!(reservation.state, ReservationState::Fulfilled, "a return does not change the state");

    // 4 T-shirts shipped, 3 returned: a fourth and a fifth cannot both come back.
    assert_refused(
        &fixture,
        &["order-1"],
        || fixture.engine.restock(&restock_request("order-1", "rma-4", TSHIRT, WAREHOUSE, 2, Bucket::Sellable)),
        |e| {
            *e == EngineError::ReturnExceedsFulfilled {
                id: "order-1".to_owned(),
                sku: TSHIRT.to_owned(),
                returnable: 1,
                requested: 2,
            }
        },
    );
    fixture.assert_clean();
}

#[test]
fn restock_is_refused_for_units_never_shipped_and_for_kits() {
    let mut fixture = Fixture::new();
    fixture.engine.define_kit("GIFT-SET", &[(TSHIRT.to_owned(), 1), (MUG.to_owned(), 2)]).unwrap();
    fixture.track("GIFT-SET");
    fixture.engine.reserve(&request("gift", vec![line("GIFT-SET", WAREHOUSE, 1)]), at(0)).unwrap();
    fixture.engine.commit("gift", at(1)).unwrap();
    let ids = ["gift"];
    // Nothing shipped yet.
    assert_refused(
        &fixture,
        &ids,
        || fixture.engine.restock(&restock_request("gift", "rma-1", TSHIRT, WAREHOUSE, 1, Bucket::Sellable)),
        |e| matches!(e, EngineError::ReturnExceedsFulfilled { returnable: 0, requested: 1, .. }),
    );
    fixture.engine.fulfil("gift", None, at(2)).unwrap();
    // A kit is returned as its components.
    assert_refused(
        &fixture,
        &ids,
        || fixture.engine.restock(&restock_request("gift", "rma-1", "GIFT-SET", WAREHOUSE, 1, Bucket::Sellable)),
        |e| *e == EngineError::KitNotAllowed { sku: "GIFT-SET".to_owned(), operation: "restocked" },
    );
    // A SKU that was not on the reservation.
    assert_refused(
        &fixture,
        &ids,
        || fixture.engine.restock(&restock_request("gift", "rma-1", CAP, WAREHOUSE, 1, Bucket::Sellable)),
        |e| matches!(e, EngineError::ReturnExceedsFulfilled { returnable: 0, .. }),
    );
    assert_refused(
        &fixture,
        &ids,
        || fixture.engine.restock(&restock_request("gift", "rma-1", MUG, "NOWHERE", 1, Bucket::Sellable)),
        |e| *e == EngineError::UnknownLocation("NOWHERE".to_owned()),
    );
    assert_refused(
        &fixture,
        &ids,
        || fixture.engine.restock(&restock_request("gift", "rma-1", MUG, WAREHOUSE, 0, Bucket::Sellable)),
        |e| matches!(e, EngineError::OutOfRange { field: "quantity", .. }),
    );
    assert_refused(
        &fixture,
        &ids,
        || fixture.engine.restock(&restock_request("gift", "", MUG, WAREHOUSE, 1, Bucket::Sellable)),
        |e| matches!(e, EngineError::InvalidId { kind: IdKind::Step, .. }),
    );
    // The components come back.
    let view = fixture.engine.restock(&restock_request("gift", "rma-1", MUG, WAREHOUSE, 2, Bucket::Sellable)).unwrap();
    assert_eq!(view.on_hand, 20);
    fixture.assert_clean();
}

#[test]
fn lifecycle_through_apply_matches_the_direct_calls() {
    let direct = Fixture::new();
    let applied = Fixture::new();
    let order = request("order-1", vec![line(TSHIRT, WAREHOUSE, 4), line(MUG, WAREHOUSE, 2)]);
    let operations = [
        (Operation::Reserve(order.clone()), 0),
        (Operation::Extend { id: "order-1".to_owned(), ttl_ms: TTL_MS }, 10),
        (Operation::Commit { id: "order-1".to_owned() }, 20),
        (Operation::Fulfil { id: "order-1".to_owned(), partial: Some(step("ship-1", &[(MUG, WAREHOUSE, 2)])) }, 30),
        (Operation::Release { id: "order-1".to_owned(), partial: None }, 40),
        (Operation::ExpireDue, 50),
    ];
    for (operation, now) in &operations {
        let outcome = applied.engine.apply(operation, Timestamp(*now)).unwrap();
        match operation {
            Operation::Reserve(_) => assert!(matches!(outcome, Outcome::Reserved(_))),
            Operation::ExpireDue => assert_eq!(outcome, Outcome::Expiry(ExpiryReport::default())),
            _ => assert!(matches!(outcome, Outcome::Reservation(_))),
        }
    }
    direct.engine.reserve(&order, at(0)).unwrap();
    direct.engine.extend("order-1", TTL_MS, at(10)).unwrap();
    direct.engine.commit("order-1", at(20)).unwrap();
    direct.engine.fulfil("order-1", Some(&step("ship-1", &[(MUG, WAREHOUSE, 2)])), at(30)).unwrap();
    direct.engine.release("order-1", None, at(40)).unwrap();
    assert_eq!(applied.snapshot(&["order-1"]), direct.snapshot(&["order-1"]));
    assert_eq!(applied.engine.reservation("order-1").unwrap().state, ReservationState::Fulfilled);
    assert_eq!(
        applied.engine.apply(&Operation::Commit { id: "nope".to_owned() }, at(60)),
        Err(EngineError::UnknownReservation("nope".to_owned()))
    );
    applied.assert_clean();
}
