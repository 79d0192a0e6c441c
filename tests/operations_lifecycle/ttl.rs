//! Extend, TTL expiry (by `expire_due` and on touch) and the idempotency window.

use super::*;

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
