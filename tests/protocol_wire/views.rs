//! Engine views into wire types.

#[allow(unused_imports)]
use super::*;

// ---------------------------------------------------------------------------------
// Engine views into wire types
// ---------------------------------------------------------------------------------

pub(crate) fn demo_engine() -> Engine {
    let engine = Engine::default();
    let spec = |name: &str| LocationSpec {
        name: name.into(),
        kind: LocationKind::Store,
        coordinates: Coordinates { latitude: 51.5, longitude: -0.1 },
        flags: LocationFlags { ships: true, pickup: true },
        priority: 1,
    };
    let now = Timestamp(1_000);
    engine.apply(&Operation::UpsertLocations(vec![spec("STORE-1"), spec("STORE-2")]), now).unwrap();
    let channel = ChannelSpec {
        name: "web".into(),
        locations: vec!["STORE-1".into(), "STORE-2".into()],
        excluded: vec![],
        buffer: ChannelBuffer::Units(1),
    };
    engine.apply(&Operation::UpsertChannel(channel), now).unwrap();
    for (location, on_hand) in [("STORE-1", 5), ("STORE-2", 7)] {
        engine
            .apply(
                &Operation::SetOnHand {
                    sku: "SKU-9".into(),
                    location: location.into(),
                    on_hand,
                    expected_version: None,
                },
                now,
            )
            .unwrap();
    }
    engine
}

#[test]
pub(crate) fn engine_outcomes_become_wire_types_named_by_client_strings() {
    let engine = demo_engine();
    let now = Timestamp(2_000);
    let reserve = Operation::Reserve(ReserveRequest {
        id: "cart-1".into(),
        lines: vec![ReserveLine { sku: "SKU-9".into(), location: "STORE-2".into(), quantity: 3 }],
        ttl_ms: 60_000,
        promise_by: None,
    });
    let names = Names::new(&engine);
    let Applied::Reserved(reserved) = names.outcome(&engine.apply(&reserve, now).unwrap()) else {
        panic!("a reserve answers Reserved")
    };
    assert_eq!(reserved.id, "cart-1");
    assert_eq!(
        reserved.lines,
        vec![WireReservedLine {
            sku: "SKU-9".into(),
            location: "STORE-2".into(),
            quantity: 3,
            kind: HoldKind::InStock
        }]
    );
    assert_eq!(
        (reserved.expires_at, reserved.replayed, reserved.state),
        (Timestamp(62_000), false, ReservationState::Held)
    );

    let position = names.position(&engine.position("SKU-9", "STORE-2").unwrap());
    assert_eq!((position.sku.as_str(), position.location.as_str()), ("SKU-9", "STORE-2"));
    assert_eq!((position.on_hand, position.reserved, position.available_to_sell), (7, 3, 4));

    let channel = names.channel_availability(&engine.channel_availability("SKU-9", "web", true).unwrap());
    assert_eq!((channel.available, channel.summed), (8, 9));
    assert_eq!(
        channel.locations,
        vec![
            WireLocationAvailability { location: "STORE-1".into(), available: 5 },
            WireLocationAvailability { location: "STORE-2".into(), available: 4 },
        ]
    );

    let Applied::Reservation(committed) =
        names.outcome(&engine.apply(&Operation::Commit { id: "cart-1".into() }, now).unwrap())
    else {
        panic!("a commit answers Reservation")
    };
    assert_eq!(committed.state, ReservationState::Committed);
    assert_eq!(
        committed.requested,
        vec![WireRequestedLine { sku: "SKU-9".into(), location: "STORE-2".into(), quantity: 3 }]
    );
    assert_eq!(committed.lines[0].held, 3);
    assert_eq!(names.reservation(&engine.reservation("cart-1").unwrap()), *committed);

    let Applied::Locations(created) =
        Names::new(&engine).outcome(&engine.apply(&Operation::UpsertLocations(vec![]), now).unwrap())
    else {
        panic!()
    };
    assert!(created.is_empty());
    assert_eq!(convert::stats(&engine.stats()).positions, 2);
    assert_eq!(convert::verify_report(&engine.verify()).findings_total, 0);

    // A refused reserve: InsufficientStock names the short line by its strings.
    let greedy = Operation::Reserve(ReserveRequest {
        id: "cart-2".into(),
        lines: vec![ReserveLine { sku: "SKU-9".into(), location: "STORE-1".into(), quantity: 50 }],
        ttl_ms: 60_000,
        promise_by: None,
    });
    let wire = WireError::from(&engine.apply(&greedy, now).unwrap_err());
    assert_eq!(wire.code, ErrorCode::InsufficientStock);
    assert_eq!(
        wire.short_lines,
        vec![ShortLine { sku: "SKU-9".into(), location: "STORE-1".into(), requested: 50, available: 5 }]
    );

    // A bulk load with a rejected row carries the row's error on the wire.
    let rows = vec![PositionRow {
        sku: "SKU-9".into(),
        location: "STORE-2".into(),
        on_hand: 1,
        safety_stock: 0,
        damaged: 0,
        quality_control: 0,
        backorder_limit: 0,
    }];
    let Applied::BulkLoad(load) = names.outcome(&engine.apply(&Operation::BulkLoad(rows), now).unwrap()) else {
        panic!()
    };
    assert_eq!((load.rejected, load.rejections.len()), (1, 1));
    assert_eq!(load.rejections[0].error.code, ErrorCode::Conflict);
}
