//! The click & collect store finder.

use super::*;
use stockd::engine::StoreQuery;
use stockd::model::IdKind;
use stockd::model::LocationKind::{Store, Warehouse};
use stockd::EngineConfig;

fn query(latitude: f64, longitude: f64, radius_km: f64, lines: &[(&str, u32)], limit: u16) -> StoreQuery {
    StoreQuery {
        channel: CHANNEL.into(),
        point: point(latitude, longitude),
        radius_km,
        lines: lines.iter().map(|(sku, quantity)| OrderLine { sku: (*sku).into(), quantity: *quantity }).collect(),
        limit,
    }
}

fn names(engine: &Engine, query: &StoreQuery) -> Vec<(String, u32)> {
    engine.find_stores(query).unwrap().into_iter().map(|m| (m.name.to_string(), m.distance_m)).collect()
}

/// Stores along the equator, 0.01 degrees (about 1.1 km) apart, plus a warehouse
/// (not pickup), a store outside the channel, and two stores at the same point.
fn street() -> Engine {
    let mut places: Vec<LocationSpec> =
        (0..10).map(|i| place(&format!("S{i}"), Store, 0.0, f64::from(i) * 0.01, false, true)).collect();
    places.push(place("WH", Warehouse, 0.0, 0.0, true, false));
    places.push(place("OUT", Store, 0.0, 0.0, false, true));
    places.push(place("TWIN-B", Store, 0.0, 0.105, false, true));
    places.push(place("TWIN-A", Store, 0.0, 0.105, false, true));
    let engine = network(&places, &["OUT"]);
    for place in &places {
        stock(&engine, "A", &place.name, 5);
        stock(&engine, "B", &place.name, 1);
    }
    engine
}

#[test]
fn stores_come_nearest_first_then_by_name_within_radius_and_limit() {
    let engine = street();
    let found = names(&engine, &query(0.0, 0.0, 3.0, &[("A", 1)], 10));
    assert_eq!(found.iter().map(|f| f.0.as_str()).collect::<Vec<_>>(), vec!["S0", "S1", "S2"]);
    assert_eq!(found[0].1, 0);
    assert!((1_100..1_120).contains(&found[1].1), "{found:?}");
    // Limit 2 from the far end: S9, then the twins tie on distance: TWIN-A before TWIN-B.
    let found = names(&engine, &query(0.0, 0.12, 5.0, &[("A", 1)], 3));
    assert_eq!(found.iter().map(|f| f.0.as_str()).collect::<Vec<_>>(), vec!["TWIN-A", "TWIN-B", "S9"]);
    assert_eq!(found[0].1, found[1].1);
    let found = names(&engine, &query(0.0, 0.12, 5.0, &[("A", 1)], 1));
    assert_eq!(found.iter().map(|f| f.0.as_str()).collect::<Vec<_>>(), vec!["TWIN-A"]);
}

#[test]
fn every_line_must_be_in_stock_now_and_availability_is_reported() {
    let engine = street();
    engine.define_kit("KIT", &[("A".into(), 2), ("B".into(), 1)]).unwrap();
    stock(&engine, "A", "S1", 0);
    stock(&engine, "B", "S2", 0);
    engine
        .reserve(
            &stockd::engine::ReserveRequest {
                id: "r".into(),
                lines: vec![stockd::engine::ReserveLine { sku: "A".into(), location: "S3".into(), quantity: 4 }],
                ttl_ms: TTL_MS,
                promise_by: None,
            },
            at(1),
        )
        .unwrap();
    let matches = engine.find_stores(&query(0.0, 0.0, 10.0, &[("A", 2), ("B", 1)], 5)).unwrap();
    let found: Vec<&str> = matches.iter().map(|m| &*m.name).collect();
    assert_eq!(found, vec!["S0", "S4", "S5", "S6", "S7"], "S1 has no A, S2 no B, S3 has 1 A left");
    assert_eq!(matches[0].available, vec![5, 1]);
    let kits = engine.find_stores(&query(0.0, 0.0, 2.0, &[("KIT", 1)], 5)).unwrap();
    assert_eq!(kits.iter().map(|m| (&*m.name, m.available[0])).collect::<Vec<_>>(), vec![("S0", 1)]);
    assert!(engine.find_stores(&query(0.0, 0.0, 10.0, &[("UNKNOWN", 1)], 5)).unwrap().is_empty());
    // No lines: every pickup store of the channel in the radius.
    assert_eq!(names(&engine, &query(0.0, 0.0, 1.5, &[], 5)).len(), 2);
}

#[test]
fn the_antimeridian_and_the_poles_are_no_special_case() {
    let engine = network(
        &[
            place("EAST", Store, 0.0, 179.99, false, true),
            place("WEST", Store, 0.0, -179.99, false, true),
            place("POLE-1", Store, 89.999, 0.0, false, true),
            place("POLE-2", Store, 89.999, 180.0, false, true),
        ],
        &[],
    );
    for name in ["EAST", "WEST", "POLE-1", "POLE-2"] {
        stock(&engine, "A", name, 1);
    }
    let found = names(&engine, &query(0.0, 180.0, 5.0, &[("A", 1)], 10));
    assert_eq!(found.iter().map(|f| f.0.as_str()).collect::<Vec<_>>(), vec!["EAST", "WEST"]);
    let found = names(&engine, &query(90.0, 0.0, 1.0, &[("A", 1)], 10));
    assert_eq!(found.iter().map(|f| f.0.as_str()).collect::<Vec<_>>(), vec!["POLE-1", "POLE-2"]);
}

#[test]
fn the_index_follows_catalogue_changes() {
    let engine = street();
    assert!(names(&engine, &query(10.0, 10.0, 1.0, &[], 5)).is_empty());
    engine.upsert_location(&place("NEW", Store, 10.0, 10.0, false, true)).unwrap();
    let mut channel_locations: Vec<String> = (0..10).map(|i| format!("S{i}")).collect();
    channel_locations.push("NEW".into());
    engine
        .upsert_channel(&ChannelSpec {
            name: CHANNEL.into(),
            locations: channel_locations,
            excluded: vec![],
            buffer: ChannelBuffer::None,
        })
        .unwrap();
    assert_eq!(names(&engine, &query(10.0, 10.0, 1.0, &[], 5)), vec![("NEW".to_owned(), 0)]);
    // A store that stops serving pickup leaves the index.
    engine.upsert_location(&place("NEW", Store, 10.0, 10.0, true, false)).unwrap();
    assert!(names(&engine, &query(10.0, 10.0, 1.0, &[], 5)).is_empty());
}

#[test]
fn bad_queries_are_refused() {
    let engine = street();
    let cases: Vec<(StoreQuery, ErrorCheck)> = vec![
        (StoreQuery { channel: "nope".into(), ..query(0.0, 0.0, 1.0, &[], 5) }, |e| {
            matches!(e, EngineError::UnknownChannel(_))
        }),
        (StoreQuery { channel: String::new(), ..query(0.0, 0.0, 1.0, &[], 5) }, |e| {
            matches!(e, EngineError::InvalidId { kind: IdKind::Channel, .. })
        }),
        (query(91.0, 0.0, 1.0, &[], 5), |e| matches!(e, EngineError::InvalidCoordinates(_))),
        (query(0.0, f64::NAN, 1.0, &[], 5), |e| matches!(e, EngineError::InvalidCoordinates(_))),
        (query(0.0, 0.0, 0.0, &[], 5), |e| matches!(e, EngineError::OutOfRange { field: "radius_km", .. })),
        (query(0.0, 0.0, f64::INFINITY, &[], 5), |e| matches!(e, EngineError::OutOfRange { field: "radius_km", .. })),
        (query(0.0, 0.0, 30_000.0, &[], 5), |e| matches!(e, EngineError::OutOfRange { field: "radius_km", .. })),
        (query(0.0, 0.0, 1.0, &[], 0), |e| matches!(e, EngineError::OutOfRange { field: "limit", .. })),
        (query(0.0, 0.0, 1.0, &[], 101), |e| matches!(e, EngineError::OutOfRange { field: "limit", .. })),
        (query(0.0, 0.0, 1.0, &[("A", 0)], 5), |e| matches!(e, EngineError::OutOfRange { field: "quantity", .. })),
        (query(0.0, 0.0, 1.0, &[("", 1)], 5), |e| matches!(e, EngineError::InvalidId { kind: IdKind::Sku, .. })),
    ];
    for (query, check) in cases {
        let error = engine.find_stores(&query).expect_err("refused");
        assert!(check(&error), "{query:?}: {error:?}");
    }
}

#[test]
fn a_pickup_reserve_at_a_found_store_holds_there() {
    let engine = street();
    let store = engine.find_stores(&query(0.0, 0.031, 5.0, &[("A", 2)], 1)).unwrap().remove(0);
    assert_eq!(&*store.name, "S3");
    let outcome = engine.reserve_sourced(&order("c", &[("A", 2)], pickup(&store.name), "pickup"), at(1)).unwrap();
    assert_eq!(outcome.allocation[0].location, store.location);
    assert_eq!(engine.position("A", "S3").unwrap().reserved, 2);
}

#[test]
fn an_engine_rebuilt_from_an_image_finds_the_same_stores() {
    let engine = street();
    let query = query(0.0, 0.0, 5.0, &[("A", 1)], 5);
    let before = engine.find_stores(&query).unwrap();
    assert_eq!(before.len(), 5);
    let config = EngineConfig { stock_shards: 8, reservation_shards: 4, ..EngineConfig::default() };
    let rebuilt = Engine::from_image(config, engine.export_image()).unwrap();
    assert_eq!(rebuilt.find_stores(&query).unwrap(), before);
    let request = order("img", &[("A", 2)], deliver(0.0, 0.0), "nearest");
    let from_image = rebuilt.reserve_sourced(&request, at(1)).unwrap();
    let original = engine.reserve_sourced(&request, at(1)).unwrap();
    assert_eq!(from_image.allocation, original.allocation);
}
