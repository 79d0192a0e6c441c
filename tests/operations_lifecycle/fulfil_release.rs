//! Commit, fulfil and release, whole and partial, and the same through `apply`.

use super::*;

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
