//! Returns: `restock` of shipped units, once per step.

use super::*;

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
