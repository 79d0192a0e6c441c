//! Every refusal of the lifecycle calls: wrong state, unknown ids, bad partial steps,
//! bounds, backorders.

use super::*;

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
