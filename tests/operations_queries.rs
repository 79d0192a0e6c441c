//! Reads: one position, a SKU across a channel (buffers, exclusions, breakdown), a
//! batch, available to promise by date, kits, stats and verify; and the catalogue
//! changes the reads depend on, with their errors.

mod common;

use common::*;
use stockd::engine::{
    Availability, AvailabilityQuery, AvailabilityScope, ChannelAvailability, LocationAvailability, ScopeName,
};
use stockd::limits::{MAX_BATCH_SKUS, MAX_QUANTITY};
use stockd::model::{Bucket, ChannelBuffer, IdKind, IncomingSupply, LocationKind, LocationSpec};
use stockd::{Engine, EngineError};

fn location(engine: &Engine, name: &str) -> stockd::model::LocationId {
    engine.catalogue().location_id(name).expect("a known location")
}

fn channel(name: &str) -> AvailabilityScope {
    AvailabilityScope::Channel(name.to_owned())
}

fn at_location(name: &str) -> AvailabilityScope {
    AvailabilityScope::Location(name.to_owned())
}

/// Asserts that `call` is refused with an error `check` accepts and changed nothing.
fn assert_refused<T: std::fmt::Debug>(
    fixture: &Fixture,
    call: impl FnOnce() -> Result<T, EngineError>,
    check: impl FnOnce(&EngineError) -> bool,
) {
    let before = fixture.snapshot(&[]);
    let catalogue = fixture.engine.catalogue();
    let error = call().expect_err("the call must be refused");
    assert!(check(&error), "unexpected error {error:?}");
    assert_eq!(fixture.snapshot(&[]), before, "a refused call changed something");
    let after = fixture.engine.catalogue();
    assert_eq!(after.locations, catalogue.locations);
    assert_eq!(after.channels, catalogue.channels);
    fixture.assert_clean();
}

#[test]
fn position_shows_every_quantity() {
    let fixture = Fixture::new();
    let engine = &fixture.engine;
    engine.set_safety_stock(TSHIRT, WAREHOUSE, 2).unwrap();
    engine.set_backorder_limit(TSHIRT, WAREHOUSE, 3).unwrap();
    engine.move_stock(TSHIRT, WAREHOUSE, Bucket::Sellable, Bucket::Damaged, 1).unwrap();
    engine.move_stock(TSHIRT, WAREHOUSE, Bucket::Sellable, Bucket::QualityControl, 2).unwrap();
    engine.add_incoming(TSHIRT, WAREHOUSE, "PO-1", 6, at(9_000)).unwrap();
    engine.reserve(&request("r", vec![line(TSHIRT, WAREHOUSE, 4)]), at(0)).unwrap();
    let view = fixture.view(TSHIRT, WAREHOUSE);
    assert_eq!(&*engine.sku_name(view.sku), TSHIRT);
    assert_eq!(view.location, location(engine, WAREHOUSE));
    assert_eq!(
        (view.on_hand, view.reserved, view.safety_stock, view.damaged, view.quality_control, view.backorder_limit),
        (7, 4, 2, 1, 2, 3)
    );
    assert_eq!(view.available_to_sell, 1, "7 on hand - 2 safety - 4 reserved");
    assert_eq!(view.incoming, vec![IncomingSupply { reference: "PO-1".into(), quantity: 6, expected_at: at(9_000) }]);
    // The fixture's count, 5 writes and 1 hold.
    assert_eq!(view.version, 7);
    fixture.assert_clean();
}

#[test]
fn available_to_sell_is_never_shown_below_zero() {
    let fixture = Fixture::new();
    fixture.engine.set_backorder_limit(CAP, WAREHOUSE, 5).unwrap();
    fixture.engine.reserve(&request("bo", vec![line(CAP, WAREHOUSE, 7)]), at(0)).unwrap();
    let view = fixture.view(CAP, WAREHOUSE);
    assert_eq!((view.on_hand, view.reserved, view.available_to_sell), (4, 7, 0));
    assert_eq!(fixture.engine.availability(CAP, &at_location(WAREHOUSE), Availability::ToSell).unwrap(), 0);
    // A backordered position adds nothing to its channel (and takes nothing away).
    assert_eq!(fixture.engine.channel_availability(CAP, WEB, false).unwrap().summed, 0);
    fixture.assert_clean();
}

#[test]
fn position_is_refused_where_there_is_none() {
    let mut fixture = Fixture::new();
    fixture.track("NEVER-SEEN");
    assert_refused(
        &fixture,
        || fixture.engine.position("NEVER-SEEN", WAREHOUSE),
        |e| *e == EngineError::UnknownPosition { sku: "NEVER-SEEN".to_owned(), location: WAREHOUSE.to_owned() },
    );
    assert_refused(
        &fixture,
        || fixture.engine.position(MUG, OTHER_STORE),
        |e| *e == EngineError::UnknownPosition { sku: MUG.to_owned(), location: OTHER_STORE.to_owned() },
    );
    assert_refused(
        &fixture,
        || fixture.engine.position(MUG, "NOWHERE"),
        |e| *e == EngineError::UnknownLocation("NOWHERE".to_owned()),
    );
    assert_refused(
        &fixture,
        || fixture.engine.position("MUG WHITE", WAREHOUSE),
        |e| matches!(e, EngineError::InvalidId { kind: IdKind::Sku, reason: "contains whitespace", .. }),
    );
}

#[test]
fn a_channel_sums_its_locations_with_a_breakdown() {
    let fixture = Fixture::new();
    let engine = &fixture.engine;
    fixture.stock(TSHIRT, OTHER_STORE, 50); // not in the channel
    engine.reserve(&request("r", vec![line(TSHIRT, WAREHOUSE, 4)]), at(0)).unwrap();
    let web = engine.channel_availability(TSHIRT, WEB, true).unwrap();
    let expected_breakdown = vec![
        LocationAvailability { location: location(engine, WAREHOUSE), available: 6 },
        LocationAvailability { location: location(engine, DISTRIBUTION_CENTRE), available: 5 },
        LocationAvailability { location: location(engine, STORE), available: 3 },
    ];
    assert_eq!(web, ChannelAvailability { available: 14, summed: 14, locations: expected_breakdown });
    assert!(web.locations.windows(2).all(|w| w[0].location < w[1].location), "sorted by location id");

    let without = engine.channel_availability(TSHIRT, WEB, false).unwrap();
    assert_eq!((without.available, without.summed), (14, 14));
    assert!(without.locations.is_empty());
    assert_eq!(engine.availability(TSHIRT, &channel(WEB), Availability::ToSell).unwrap(), 14);
    // Only locations with a position appear in the breakdown.
    let mugs = engine.channel_availability(MUG, WEB, true).unwrap();
    assert_eq!(mugs.locations, vec![LocationAvailability { location: location(engine, WAREHOUSE), available: 20 }]);
    // A SKU no write has named is simply not available.
    assert_eq!(
        engine.channel_availability("NEVER-SEEN", WEB, true).unwrap(),
        ChannelAvailability { available: 0, summed: 0, locations: vec![] }
    );
    fixture.assert_clean();
}

#[test]
fn channel_buffers_hold_units_back() {
    let fixture = Fixture::new();
    let engine = &fixture.engine;
    let all = [WAREHOUSE, DISTRIBUTION_CENTRE, STORE];
    let cases = [
        (ChannelBuffer::None, 18),
        (ChannelBuffer::Units(4), 14),
        (ChannelBuffer::Units(18), 0),
        (ChannelBuffer::Units(100), 0),
        (ChannelBuffer::Percent(0), 18),
        (ChannelBuffer::Percent(15), 15), // 2.7 held, rounded up to 3
        (ChannelBuffer::Percent(50), 9),
        (ChannelBuffer::Percent(100), 0),
    ];
    for (buffer, expected) in cases {
        engine.upsert_channel(&channel_spec("buffered", &all, &[], buffer)).unwrap();
        let result = engine.channel_availability(TSHIRT, "buffered", true).unwrap();
        assert_eq!((result.summed, result.available), (18, expected), "{buffer:?}");
        assert_eq!(result.locations.iter().map(|l| l.available).sum::<u64>(), 18, "the breakdown is before the buffer");
        assert_eq!(engine.availability(TSHIRT, &channel("buffered"), Availability::ToSell).unwrap(), expected);
    }
    fixture.assert_clean();
}

#[test]
fn excluded_locations_are_left_out_of_a_channel() {
    let fixture = Fixture::new();
    let engine = &fixture.engine;
    engine
        .upsert_channel(&channel_spec(
            "refit",
            &[WAREHOUSE, STORE, DISTRIBUTION_CENTRE, STORE],
            &[STORE],
            ChannelBuffer::None,
        ))
        .unwrap();
    let result = engine.channel_availability(TSHIRT, "refit", true).unwrap();
    assert_eq!(result.summed, 15);
    assert!(result.locations.iter().all(|l| l.location != location(engine, STORE)));
    let stored = engine.catalogue().channel("refit").cloned().unwrap();
    assert_eq!(stored.locations, vec![location(engine, WAREHOUSE), location(engine, DISTRIBUTION_CENTRE)]);
    // Replacing the channel without the exclusion brings the store back.
    engine.upsert_channel(&channel_spec("refit", &[WAREHOUSE, STORE], &[], ChannelBuffer::None)).unwrap();
    assert_eq!(engine.channel_availability(TSHIRT, "refit", false).unwrap().summed, 13);
    assert_eq!(engine.stats().channels, 2);
    fixture.assert_clean();
}

#[test]
fn channel_changes_and_channel_reads_are_refused_for_bad_input() {
    let fixture = Fixture::new();
    let engine = &fixture.engine;
    assert_refused(
        &fixture,
        || engine.channel_availability(TSHIRT, "marketplace", false),
        |e| *e == EngineError::UnknownChannel("marketplace".to_owned()),
    );
    assert_refused(
        &fixture,
        || engine.availability(TSHIRT, &channel("marketplace"), Availability::ToSell),
        |e| *e == EngineError::UnknownChannel("marketplace".to_owned()),
    );
    assert_refused(
        &fixture,
        || engine.channel_availability(TSHIRT, "web uk", false),
        |e| matches!(e, EngineError::InvalidId { kind: IdKind::Channel, .. }),
    );
    assert_refused(
        &fixture,
        || engine.upsert_channel(&channel_spec(WEB, &[WAREHOUSE], &[], ChannelBuffer::Percent(101))),
        |e| *e == EngineError::OutOfRange { field: "channel buffer percent", value: 101, min: 0, max: 100 },
    );
    assert_refused(
        &fixture,
        || engine.upsert_channel(&channel_spec(WEB, &[WAREHOUSE], &[], ChannelBuffer::Units(MAX_QUANTITY + 1))),
        |e| matches!(e, EngineError::OutOfRange { field: "channel buffer units", .. }),
    );
    assert_refused(
        &fixture,
        || engine.upsert_channel(&channel_spec(WEB, &[WAREHOUSE, "NOWHERE"], &[], ChannelBuffer::None)),
        |e| *e == EngineError::UnknownLocation("NOWHERE".to_owned()),
    );
    assert_refused(
        &fixture,
        || engine.upsert_channel(&channel_spec(WEB, &[WAREHOUSE], &["NOWHERE"], ChannelBuffer::None)),
        |e| *e == EngineError::UnknownLocation("NOWHERE".to_owned()),
    );
    assert_refused(
        &fixture,
        || engine.upsert_channel(&channel_spec("", &[WAREHOUSE], &[], ChannelBuffer::None)),
        |e| matches!(e, EngineError::InvalidId { kind: IdKind::Channel, reason: "is empty", .. }),
    );
    // The channel still answers as before.
    assert_eq!(engine.channel_availability(TSHIRT, WEB, false).unwrap().available, 18);
}

#[test]
fn locations_are_created_replaced_and_validated() {
    let fixture = Fixture::new();
    let engine = &fixture.engine;
    let id = location(engine, STORE);
    let mut moved = location_spec(STORE, LocationKind::DarkStore, 51.52, -0.14);
    moved.priority = 1;
    assert_eq!(engine.upsert_location(&moved).unwrap(), id, "replacing keeps the id");
    let stored = engine.catalogue().location(id).cloned().unwrap();
    assert_eq!((stored.kind, stored.priority), (LocationKind::DarkStore, 1));
    assert_eq!(fixture.on_hand(TSHIRT, STORE), 3, "the stock stays");
    let ids = engine
        .upsert_locations(&[location_spec("VENDOR-1", LocationKind::DropShipVendor, 0.0, 0.0), moved.clone()])
        .unwrap();
    assert_eq!(ids[1], id);
    assert_eq!(ids[0].0, 4);
    assert_eq!(engine.stats().locations, 5);

    let at_point = |latitude: f64, longitude: f64| LocationSpec {
        coordinates: stockd::model::Coordinates { latitude, longitude },
        ..location_spec("VENDOR-2", LocationKind::DropShipVendor, 0.0, 0.0)
    };
    for (latitude, longitude) in [(90.5, 0.0), (0.0, -180.5), (f64::NAN, 0.0), (0.0, f64::INFINITY)] {
        // All or none: a valid location listed first is not created either.
        let specs = [location_spec("VENDOR-3", LocationKind::Warehouse, 1.0, 1.0), at_point(latitude, longitude)];
        assert_refused(
            &fixture,
            || engine.upsert_locations(&specs),
            |e| matches!(e, EngineError::InvalidCoordinates(_)),
        );
    }
    assert_refused(
        &fixture,
        || engine.upsert_location(&location_spec("VENDOR 2", LocationKind::Warehouse, 0.0, 0.0)),
        |e| matches!(e, EngineError::InvalidId { kind: IdKind::Location, .. }),
    );
    assert!(engine.catalogue().location_id("VENDOR-3").is_none());
    // The edges of the map are on Earth.
    assert!(engine.upsert_location(&at_point(-90.0, 180.0)).is_ok());
    fixture.assert_clean();
}

#[test]
fn a_batch_answers_in_the_order_asked() {
    let fixture = Fixture::new();
    let engine = &fixture.engine;
    fixture.engine.reserve(&request("r", vec![line(MUG, WAREHOUSE, 5)]), at(0)).unwrap();
    let skus: Vec<String> = [MUG, "NEVER-SEEN", TSHIRT, CAP].iter().map(|s| (*s).to_owned()).collect();
    assert_eq!(
        engine.availability_batch(&skus, &at_location(WAREHOUSE), Availability::ToSell).unwrap(),
        vec![15, 0, 10, 4]
    );
    assert_eq!(engine.availability_batch(&skus, &channel(WEB), Availability::ToSell).unwrap(), vec![15, 0, 18, 4]);
    assert_eq!(engine.availability_batch(&[], &channel(WEB), Availability::ToSell).unwrap(), Vec::<u64>::new());
    // Each answer equals the single read.
    for (sku, batched) in
        skus.iter().zip(engine.availability_batch(&skus, &channel(WEB), Availability::ToSell).unwrap())
    {
        assert_eq!(engine.availability(sku, &channel(WEB), Availability::ToSell).unwrap(), batched);
    }
    let full: Vec<String> = (0..MAX_BATCH_SKUS).map(|i| format!("SKU-{i}")).collect();
    assert_eq!(engine.availability_batch(&full, &channel(WEB), Availability::ToSell).unwrap().len(), MAX_BATCH_SKUS);
    fixture.assert_clean();
}

#[test]
fn many_queries_answer_what_each_would_alone() {
    let fixture = Fixture::new();
    let engine = &fixture.engine;
    engine.define_kit("GIFT-SET", &[(TSHIRT.to_owned(), 1), (MUG.to_owned(), 3)]).unwrap();
    engine.add_incoming(TSHIRT, WAREHOUSE, "PO-1", 6, at(1_000)).unwrap();
    engine.reserve(&request("r", vec![line(MUG, WAREHOUSE, 5)]), at(0)).unwrap();
    let skus = [TSHIRT, MUG, CAP, "GIFT-SET", "NEVER-SEEN", "bad\tsku"];
    let scopes = [
        ScopeName::Location(WAREHOUSE),
        ScopeName::Location(STORE),
        ScopeName::Location("NOWHERE"),
        ScopeName::Channel(WEB),
        ScopeName::Channel("nope"),
    ];
    let measures = [Availability::ToSell, Availability::ToPromise(at(2_000))];
    let mut queries = Vec::new();
    // Over 32 queries (more than one prefetch group), some sharing a shard.
    for _ in 0..2 {
        for sku in skus {
            for scope in scopes {
                for measure in measures {
                    queries.push(AvailabilityQuery { sku, scope, measure });
                }
            }
        }
    }
    let mut answers = Vec::new();
    engine.availability_many(&queries, &mut answers);
    assert_eq!(answers.len(), queries.len());
    for (query, answer) in queries.iter().zip(&answers) {
        let alone = engine.availability_named(query.sku, query.scope, query.measure);
        assert_eq!(answer, &alone, "{query:?}");
    }
    assert!(answers.iter().any(|answer| matches!(answer, Ok(value) if *value > 0)));
    fixture.assert_clean();
}

#[test]
fn a_batch_is_refused_when_too_big_or_malformed() {
    let fixture = Fixture::new();
    let engine = &fixture.engine;
    let too_many: Vec<String> = (0..=MAX_BATCH_SKUS).map(|i| format!("SKU-{i}")).collect();
    assert_refused(
        &fixture,
        || engine.availability_batch(&too_many, &channel(WEB), Availability::ToSell),
        |e| *e == EngineError::TooMany { what: "SKUs in a batch", count: MAX_BATCH_SKUS + 1, limit: MAX_BATCH_SKUS },
    );
    let bad = vec![MUG.to_owned(), "bad\tsku".to_owned()];
    assert_refused(
        &fixture,
        || engine.availability_batch(&bad, &channel(WEB), Availability::ToSell),
        |e| matches!(e, EngineError::InvalidId { kind: IdKind::Sku, .. }),
    );
    let skus = vec![MUG.to_owned()];
    assert_refused(
        &fixture,
        || engine.availability_batch(&skus, &at_location("NOWHERE"), Availability::ToSell),
        |e| *e == EngineError::UnknownLocation("NOWHERE".to_owned()),
    );
    assert_refused(
        &fixture,
        || engine.availability_batch(&skus, &channel("nope"), Availability::ToSell),
        |e| *e == EngineError::UnknownChannel("nope".to_owned()),
    );
}

#[test]
fn available_to_promise_counts_supply_due_by_the_date() {
    let fixture = Fixture::new();
    let engine = &fixture.engine;
    engine.add_incoming(TSHIRT, WAREHOUSE, "PO-1", 10, at(1_000)).unwrap();
    engine.add_incoming(TSHIRT, WAREHOUSE, "PO-2", 5, at(2_000)).unwrap();
    engine.add_incoming(TSHIRT, STORE, "TR-1", 2, at(1_500)).unwrap();
    engine.reserve(&request("r", vec![line(TSHIRT, WAREHOUSE, 4)]), at(0)).unwrap();
    let promise = |scope: &AvailabilityScope, by: u64| {
        engine.availability(TSHIRT, scope, Availability::ToPromise(at(by))).unwrap()
    };
    let warehouse = at_location(WAREHOUSE);
    assert_eq!(engine.availability(TSHIRT, &warehouse, Availability::ToSell).unwrap(), 6);
    assert_eq!(promise(&warehouse, 999), 6);
    assert_eq!(promise(&warehouse, 1_000), 16);
    assert_eq!(promise(&warehouse, 1_999), 16);
    assert_eq!(promise(&warehouse, 2_000), 21);
    // Across the channel: 6 + 5 + 3 now, then the warehouse's and the store's supply.
    assert_eq!(promise(&channel(WEB), 0), 14);
    assert_eq!(promise(&channel(WEB), 1_500), 26);
    assert_eq!(promise(&channel(WEB), u64::MAX), 31);

    // Pre-orders use up ATP; ATS never shows them below 0.
    let mut pre = request("pre", vec![line(TSHIRT, WAREHOUSE, 12)]);
    pre.promise_by = Some(at(1_000));
    engine.reserve(&pre, at(0)).unwrap();
    assert_eq!(engine.availability(TSHIRT, &warehouse, Availability::ToSell).unwrap(), 0);
    assert_eq!(promise(&warehouse, 999), 0);
    assert_eq!(promise(&warehouse, 1_000), 4);
    assert_eq!(promise(&warehouse, 2_000), 9);
    fixture.assert_clean();
}

#[test]
fn a_kit_is_available_as_often_as_its_scarcest_component_allows() {
    let fixture = Fixture::new();
    let engine = &fixture.engine;
    engine.define_kit("GIFT-SET", &[(TSHIRT.to_owned(), 1), (MUG.to_owned(), 3)]).unwrap();
    fixture.stock(MUG, DISTRIBUTION_CENTRE, 8);
    let sell = |scope: &AvailabilityScope| engine.availability("GIFT-SET", scope, Availability::ToSell).unwrap();
    // Warehouse: min(10 / 1, 20 / 3) = 6; DC: min(5, 8 / 3) = 2; store: no mugs, 0.
    assert_eq!(sell(&at_location(WAREHOUSE)), 6);
    assert_eq!(sell(&at_location(DISTRIBUTION_CENTRE)), 2);
    assert_eq!(sell(&at_location(STORE)), 0);
    let web = engine.channel_availability("GIFT-SET", WEB, true).unwrap();
    assert_eq!((web.summed, web.available), (8, 8));
    assert_eq!(
        web.locations,
        vec![
            LocationAvailability { location: location(engine, WAREHOUSE), available: 6 },
            LocationAvailability { location: location(engine, DISTRIBUTION_CENTRE), available: 2 },
            LocationAvailability { location: location(engine, STORE), available: 0 },
        ]
    );
    // Reserving a kit or its components lowers it.
    engine.reserve(&request("k", vec![line("GIFT-SET", WAREHOUSE, 2)]), at(0)).unwrap();
    engine.reserve(&request("m", vec![line(MUG, WAREHOUSE, 2)]), at(0)).unwrap();
    assert_eq!(sell(&at_location(WAREHOUSE)), 4, "min(8 / 1, 12 / 3)");
    // A channel buffer applies to kits too.
    engine
        .upsert_channel(&channel_spec("buffered", &[WAREHOUSE, DISTRIBUTION_CENTRE], &[], ChannelBuffer::Units(1)))
        .unwrap();
    assert_eq!(sell(&channel("buffered")), 5, "4 + 2 - 1");
    // ATP for a kit counts each component's supply.
    engine.add_incoming(MUG, DISTRIBUTION_CENTRE, "PO-1", 7, at(500)).unwrap();
    let promise = engine.availability("GIFT-SET", &at_location(DISTRIBUTION_CENTRE), Availability::ToPromise(at(500)));
    assert_eq!(promise.unwrap(), 5, "min(5, 15 / 3)");
    let batch =
        engine.availability_batch(&["GIFT-SET".to_owned()], &at_location(WAREHOUSE), Availability::ToSell).unwrap();
    assert_eq!(batch, vec![4]);
    fixture.assert_clean();
}

#[test]
fn stats_count_everything_the_engine_holds() {
    let fixture = Fixture::new();
    let engine = &fixture.engine;
    let stats = engine.stats();
    assert_eq!((stats.skus, stats.positions, stats.locations, stats.channels, stats.kits), (3, 5, 4, 1, 0));
    assert_eq!(stats.reservations_remembered, 0);

    engine.define_kit("GIFT-SET", &[(TSHIRT.to_owned(), 1), (MUG.to_owned(), 1)]).unwrap();
    for id in ["held", "committed", "fulfilled", "released", "expired"] {
        engine
            .reserve(&request(id, vec![line(MUG, WAREHOUSE, 1)]), at(if id == "expired" { 0 } else { 100_000 }))
            .unwrap();
    }
    engine.commit("committed", at(100_000)).unwrap();
    engine.commit("fulfilled", at(100_000)).unwrap();
    engine.fulfil("fulfilled", None, at(100_000)).unwrap();
    engine.release("released", None, at(100_000)).unwrap();
    engine.expire_due(at(100_000));
    let stats = engine.stats();
    assert_eq!((stats.skus, stats.positions, stats.kits), (4, 5, 1));
    assert_eq!(
        (
            stats.reservations_held,
            stats.reservations_committed,
            stats.reservations_fulfilled,
            stats.reservations_released,
            stats.reservations_expired,
            stats.reservations_remembered
        ),
        (1, 1, 1, 1, 1, 5)
    );
    fixture.assert_clean();
}

#[test]
fn verify_is_clean_and_counts_what_it_checked() {
    let fixture = Fixture::new();
    let engine = &fixture.engine;
    engine.set_backorder_limit(CAP, WAREHOUSE, 2).unwrap();
    engine.add_incoming(TSHIRT, DISTRIBUTION_CENTRE, "PO-1", 4, at(10)).unwrap();
    engine.reserve(&request("a", vec![line(TSHIRT, WAREHOUSE, 3), line(CAP, WAREHOUSE, 6)]), at(0)).unwrap();
    let mut pre = request("b", vec![line(TSHIRT, DISTRIBUTION_CENTRE, 9)]);
    pre.promise_by = Some(at(10));
    engine.reserve(&pre, at(0)).unwrap();
    engine.reserve(&request("c", vec![line(MUG, WAREHOUSE, 2)]), at(0)).unwrap();
    engine.commit("c", at(1)).unwrap();
    engine.fulfil("c", Some(&step("ship-1", &[(MUG, WAREHOUSE, 1)])), at(2)).unwrap();
    engine.release("a", Some(&step("cancel-1", &[(CAP, WAREHOUSE, 1)])), at(3)).unwrap();
    let report = engine.verify();
    assert!(report.is_clean(), "{:?}", report.findings);
    assert_eq!((report.positions_checked, report.reservations_checked), (5, 3));
    assert!(report.findings.is_empty());
    // An empty engine verifies clean too.
    let empty = Engine::default().verify();
    assert!(empty.is_clean());
    assert_eq!((empty.positions_checked, empty.reservations_checked), (0, 0));
}
