//! Every refusal of `reserve_sourced`, each shown to change nothing.

use super::rules::uk;
use super::*;
use stockd::engine::{ProfileError, UnsourceableReason};
use stockd::limits::{MAX_LINES_PER_RESERVATION, MAX_QUANTITY, MAX_TTL_MS};
use stockd::model::IdKind;
use stockd::protocol::error::{ErrorCode, WireError};
use stockd::EngineConfig;

fn home() -> Destination {
    deliver(51.5, -0.12)
}

#[test]
fn malformed_requests_are_refused_before_anything_is_looked_at() {
    let engine = uk();
    stock(&engine, "A", "WH-NEAR", 5);
    let base = order("e", &[("A", 1)], home(), "default");
    let cases: Vec<(SourcedReserveRequest, ErrorCheck)> = vec![
        (SourcedReserveRequest { id: String::new(), ..base.clone() }, |e| {
            matches!(e, EngineError::InvalidId { kind: IdKind::Reservation, .. })
        }),
        (SourcedReserveRequest { channel: "bad channel".into(), ..base.clone() }, |e| {
            matches!(e, EngineError::InvalidId { kind: IdKind::Channel, .. })
        }),
        (SourcedReserveRequest { lines: vec![], ..base.clone() }, |e| matches!(e, EngineError::NoLines)),
        (
            SourcedReserveRequest {
                lines: (0..=MAX_LINES_PER_RESERVATION)
                    .map(|i| OrderLine { sku: format!("S{i}"), quantity: 1 })
                    .collect(),
                ..base.clone()
            },
            |e| matches!(e, EngineError::TooMany { count, .. } if *count == MAX_LINES_PER_RESERVATION + 1),
        ),
        (order("e", &[("A", 0)], home(), "default"), |e| {
            matches!(e, EngineError::OutOfRange { field: "quantity", .. })
        }),
        (order("e", &[("A", MAX_QUANTITY + 1)], home(), "default"), |e| {
            matches!(e, EngineError::OutOfRange { field: "quantity", .. })
        }),
        (
            order("e", &[("A", 1), ("B", 1), ("A", 2)], home(), "default"),
            |e| matches!(e, EngineError::DuplicateLine { index: 2, sku, .. } if sku == "A"),
        ),
        (SourcedReserveRequest { ttl_ms: 0, ..base.clone() }, |e| {
            matches!(e, EngineError::OutOfRange { field: "ttl_ms", .. })
        }),
        (SourcedReserveRequest { ttl_ms: MAX_TTL_MS + 1, ..base.clone() }, |e| {
            matches!(e, EngineError::OutOfRange { field: "ttl_ms", .. })
        }),
        (order("e", &[("", 1)], home(), "default"), |e| matches!(e, EngineError::InvalidId { kind: IdKind::Sku, .. })),
        (order("e", &[("A", 1)], deliver(90.5, 0.0), "default"), |e| matches!(e, EngineError::InvalidCoordinates(_))),
        (order("e", &[("A", 1)], deliver(0.0, -180.5), "default"), |e| matches!(e, EngineError::InvalidCoordinates(_))),
        (order("e", &[("A", 1)], deliver(f64::NAN, 0.0), "default"), |e| {
            matches!(e, EngineError::InvalidCoordinates(_))
        }),
        (order("e", &[("A", 1)], deliver(0.0, f64::INFINITY), "default"), |e| {
            matches!(e, EngineError::InvalidCoordinates(_))
        }),
        (order("e", &[("A", 1)], pickup(""), "pickup"), |e| {
            matches!(e, EngineError::InvalidId { kind: IdKind::Location, .. })
        }),
        (
            SourcedReserveRequest { channel: "nope".into(), ..base.clone() },
            |e| matches!(e, EngineError::UnknownChannel(name) if name == "nope"),
        ),
        (
            order("e", &[("A", 1)], home(), "no-such-profile"),
            |e| matches!(e, EngineError::UnknownProfile(name) if name == "no-such-profile"),
        ),
    ];
    for (request, check) in cases {
        assert_refused(&engine, &request, check);
    }
}

#[test]
fn stock_refusals_name_each_line_and_hold_nothing() {
    let engine = uk();
    stock(&engine, "A", "WH-NEAR", 5);
    stock(&engine, "B", "DC-MID", 1);
    // B is short; A would fit: nothing is held.
    let error = assert_refused(&engine, &order("s", &[("A", 2), ("B", 3)], home(), "default"), |e| {
        matches!(e, EngineError::Unsourceable { reason: UnsourceableReason::InsufficientStock, .. })
    });
    let EngineError::Unsourceable { lines, .. } = &error else { unreachable!() };
    assert_eq!(lines.len(), 1);
    assert_eq!((lines[0].sku.as_str(), lines[0].requested, lines[0].available_in_channel), ("B", 3, 1));
    // On the wire: INSUFFICIENT_STOCK with the short line (no single location).
    let wire = WireError::from(&error);
    assert_eq!(wire.code, ErrorCode::InsufficientStock);
    assert_eq!((wire.short_lines[0].sku.as_str(), wire.short_lines[0].available), ("B", 1));
    assert!(wire.short_lines[0].location.is_empty());
    // A SKU nothing ever wrote has no stock anywhere.
    assert_refused(
        &engine,
        &order("s", &[("NEVER-SEEN", 1)], home(), "default"),
        |e| matches!(e, EngineError::Unsourceable { reason: UnsourceableReason::InsufficientStock, lines } if lines[0].available_in_channel == 0),
    );
    // Two lines that each fit one location, but not the same one, under `single`.
    stock(&engine, "B", "DC-MID", 5);
    let error = assert_refused(&engine, &order("s", &[("A", 2), ("B", 3)], home(), "single"), |e| {
        matches!(e, EngineError::Unsourceable { reason: UnsourceableReason::TooManySplits, .. })
    });
    let EngineError::Unsourceable { lines, .. } = error else { unreachable!() };
    assert_eq!(lines.len(), 2, "no line alone is the problem, so all are named");
}

#[test]
fn no_eligible_location_is_its_own_reason() {
    let engine = uk();
    stock(&engine, "A", "WH-NEAR", 5);
    let mut profile = SourcingProfile::new("nothing-near");
    profile.max_distance_km = Some(0.5);
    add_profiles(&engine, vec![profile]);
    let error = assert_refused(&engine, &order("n", &[("A", 1)], home(), "nothing-near"), |e| {
        matches!(e, EngineError::Unsourceable { reason: UnsourceableReason::NoEligibleLocation, .. })
    });
    assert!(error.to_string().contains("no eligible location"), "{error}");
    assert_eq!(WireError::from(&error).code, ErrorCode::InsufficientStock);
    let no_channel_locations = network(&[place("X", stockd::model::LocationKind::Store, 0.0, 0.0, false, true)], &[]);
    assert_refused(&no_channel_locations, &order("n", &[("A", 1)], home(), "default"), |e| {
        matches!(e, EngineError::Unsourceable { reason: UnsourceableReason::NoEligibleLocation, .. })
    });
}

#[test]
fn a_full_reservation_table_refuses_and_holds_nothing() {
    let engine = Engine::new(EngineConfig { max_reservations: 1, stock_shards: 8, ..EngineConfig::default() });
    engine.upsert_locations(&[place("W", stockd::model::LocationKind::Warehouse, 0.0, 0.0, true, false)]).unwrap();
    let channel = ChannelSpec {
        name: CHANNEL.into(),
        locations: vec!["W".into()],
        excluded: vec![],
        buffer: ChannelBuffer::None,
    };
    engine.upsert_channel(&channel).unwrap();
    stock(&engine, "A", "W", 5);
    engine.reserve_sourced(&order("one", &[("A", 1)], deliver(0.0, 0.0), "default"), at(1)).unwrap();
    assert_refused(&engine, &order("two", &[("A", 1)], deliver(0.0, 0.0), "default"), |e| {
        matches!(e, EngineError::ReservationCapacity { limit: 1 })
    });
    // A refused search gives its slot back.
    engine.release("one", None, at(2)).unwrap();
    assert_eq!(engine.stats().reservations_remembered, 1);
}

#[test]
fn new_errors_have_wire_codes() {
    let unknown = EngineError::UnknownProfile("x".into());
    assert_eq!(WireError::from(&unknown).code, ErrorCode::UnknownEntity);
    let not_store = EngineError::NotPickupStore { store: "x".into(), channel: "y".into() };
    assert_eq!(WireError::from(&not_store).code, ErrorCode::InvalidArgument);
    let _ = ProfileError::Parse { message: String::new() }.to_string();
}
