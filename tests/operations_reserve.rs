//! `reserve`: holds, idempotency and conflicts, all-or-nothing, short-line
//! reporting, kits, backorders, pre-orders against incoming supply, and every
//! error a reserve can be refused with.

mod common;

use common::*;
use stockd::engine::{Operation, Outcome, ReservationState, ReserveOutcome, ShortLine};
use stockd::limits::{MAX_EXPANDED_LINES, MAX_LINES_PER_RESERVATION, MAX_QUANTITY, MAX_TTL_MS, MIN_TTL_MS};
use stockd::model::{HoldKind, IdKind};
use stockd::{Engine, EngineConfig, EngineError};

/// The outcome's lines as (SKU name, location name, quantity, kind).
fn named_lines(engine: &Engine, outcome: &ReserveOutcome) -> Vec<(String, String, u32, HoldKind)> {
    outcome
        .lines
        .iter()
        .map(|l| {
            let location = engine.location_name(l.location).expect("a known location");
            (engine.sku_name(l.sku).to_string(), location.to_string(), l.quantity, l.kind)
        })
        .collect()
}

fn short(sku: &str, location: &str, requested: u32, available: u32) -> ShortLine {
    ShortLine { sku: sku.to_owned(), location: location.to_owned(), requested, available }
}

/// The short lines of an `InsufficientStock`, sorted so that the order of the
/// report does not matter.
fn short_lines(error: EngineError) -> Vec<ShortLine> {
    match error {
        EngineError::InsufficientStock(mut lines) => {
            lines.sort_by(|a, b| (&a.sku, &a.location).cmp(&(&b.sku, &b.location)));
            lines
        }
        other => panic!("expected InsufficientStock, got {other:?}"),
    }
}

/// Asserts that `request` is refused with an error `check` accepts, and that the
/// refusal changed nothing.
fn assert_refused(fixture: &Fixture, request: &stockd::engine::ReserveRequest, check: impl Fn(&EngineError) -> bool) {
    let before = fixture.snapshot(&[&request.id]);
    let error = fixture.engine.reserve(request, at(1_000)).expect_err("the request must be refused");
    assert!(check(&error), "unexpected error {error:?}");
    assert_eq!(fixture.snapshot(&[&request.id]), before, "a refused reserve changed something");
    fixture.assert_clean();
}

#[test]
fn reserve_holds_every_line_and_reports_it() {
    let fixture = Fixture::new();
    let version_before = fixture.view(TSHIRT, WAREHOUSE).version;
    let outcome = fixture
        .engine
        .reserve(&request("cart-1", vec![line(TSHIRT, WAREHOUSE, 3), line(MUG, WAREHOUSE, 2)]), at(5_000))
        .unwrap();
    assert_eq!(&*outcome.id, "cart-1");
    assert!(!outcome.replayed);
    assert_eq!(outcome.state, ReservationState::Held);
    assert_eq!(outcome.expires_at, at(5_000 + TTL_MS));
    assert_eq!(
        named_lines(&fixture.engine, &outcome),
        vec![
            (TSHIRT.to_owned(), WAREHOUSE.to_owned(), 3, HoldKind::InStock),
            (MUG.to_owned(), WAREHOUSE.to_owned(), 2, HoldKind::InStock),
        ]
    );

    let tshirt = fixture.view(TSHIRT, WAREHOUSE);
    assert_eq!((tshirt.on_hand, tshirt.reserved, tshirt.available_to_sell), (10, 3, 7));
    assert!(tshirt.version > version_before, "a hold bumps the version");
    assert_eq!((fixture.reserved(MUG, WAREHOUSE), fixture.ats(MUG, WAREHOUSE)), (2, 18));
    assert_eq!(fixture.reserved(TSHIRT, DISTRIBUTION_CENTRE), 0, "other positions are untouched");

    let reservation = fixture.engine.reservation("cart-1").unwrap();
    assert_eq!(reservation.state, ReservationState::Held);
    assert_eq!(reservation.created_at, at(5_000));
    assert_eq!(reservation.expires_at, Some(at(5_000 + TTL_MS)));
    assert_eq!(reservation.held_units(), 5);
    let stats = fixture.engine.stats();
    assert_eq!((stats.reservations_held, stats.reservations_remembered), (1, 1));
    fixture.assert_clean();
}

#[test]
fn reserve_can_take_the_last_unit_but_not_one_more() {
    let fixture = Fixture::new();
    fixture.engine.reserve(&request("a", vec![line(TSHIRT, STORE, 3)]), at(0)).unwrap();
    assert_eq!(fixture.ats(TSHIRT, STORE), 0);
    let error = fixture.engine.reserve(&request("b", vec![line(TSHIRT, STORE, 1)]), at(0)).unwrap_err();
    assert_eq!(error, EngineError::InsufficientStock(vec![short(TSHIRT, STORE, 1, 0)]));
    assert_eq!(fixture.reserved(TSHIRT, STORE), 3);
    fixture.assert_clean();
}

#[test]
fn a_retry_returns_the_first_outcome_and_reserves_nothing_more() {
    let fixture = Fixture::new();
    let first = request("order-7", vec![line(TSHIRT, WAREHOUSE, 2), line(CAP, WAREHOUSE, 1)]);
    let outcome = fixture.engine.reserve(&first, at(1_000)).unwrap();
    let before = fixture.snapshot(&["order-7"]);

    // Later, with another TTL and the lines in another order: still the same request.
    let mut retry = first.clone();
    retry.lines.reverse();
    retry.ttl_ms = 2 * TTL_MS;
    let replay = fixture.engine.reserve(&retry, at(2_000)).unwrap();
    assert!(replay.replayed);
    assert_eq!(replay.lines, outcome.lines);
    assert_eq!(replay.expires_at, outcome.expires_at, "the reply repeats the first expiry");
    assert_eq!(replay.state, ReservationState::Held);
    assert_eq!(fixture.snapshot(&["order-7"]), before, "a retry holds nothing more");

    // A retry after the commit reports the state the reservation is in now.
    fixture.engine.commit("order-7", at(3_000)).unwrap();
    let replay = fixture.engine.reserve(&first, at(4_000)).unwrap();
    assert!(replay.replayed);
    assert_eq!(replay.state, ReservationState::Committed);
    assert_eq!(fixture.reserved(TSHIRT, WAREHOUSE), 2);
    assert_eq!(fixture.engine.stats().reservations_remembered, 1);
    fixture.assert_clean();
}

#[test]
fn the_same_id_with_other_lines_is_a_conflict_and_changes_nothing() {
    let mut fixture = Fixture::new();
    fixture.engine.reserve(&request("cart-9", vec![line(TSHIRT, WAREHOUSE, 2)]), at(0)).unwrap();
    let conflict = |e: &EngineError| *e == EngineError::Conflict("cart-9".to_owned());

    assert_refused(&fixture, &request("cart-9", vec![line(TSHIRT, WAREHOUSE, 3)]), conflict);
    assert_refused(&fixture, &request("cart-9", vec![line(TSHIRT, DISTRIBUTION_CENTRE, 2)]), conflict);
    assert_refused(&fixture, &request("cart-9", vec![line(TSHIRT, WAREHOUSE, 2), line(MUG, WAREHOUSE, 1)]), conflict);
    let mut dated = request("cart-9", vec![line(TSHIRT, WAREHOUSE, 2)]);
    dated.promise_by = Some(at(1_000_000));
    assert_refused(&fixture, &dated, conflict);
    fixture.track("NEVER-SEEN");
    assert_refused(&fixture, &request("cart-9", vec![line("NEVER-SEEN", WAREHOUSE, 2)]), conflict);
    assert_eq!(fixture.reserved(TSHIRT, WAREHOUSE), 2);
}

#[test]
fn reserve_is_all_or_nothing() {
    let fixture = Fixture::new();
    let greedy = request("cart-2", vec![line(TSHIRT, WAREHOUSE, 3), line(MUG, WAREHOUSE, 25), line(CAP, WAREHOUSE, 1)]);
    assert_refused(&fixture, &greedy, |e| *e == EngineError::InsufficientStock(vec![short(MUG, WAREHOUSE, 25, 20)]));
    assert_eq!(fixture.reserved(TSHIRT, WAREHOUSE), 0, "the line that fitted was not held");
    assert_eq!(fixture.reserved(CAP, WAREHOUSE), 0);

    // A refused request is not remembered: the same id may try again with less.
    assert_eq!(fixture.engine.reservation("cart-2"), Err(EngineError::UnknownReservation("cart-2".to_owned())));
    let smaller =
        request("cart-2", vec![line(TSHIRT, WAREHOUSE, 3), line(MUG, WAREHOUSE, 20), line(CAP, WAREHOUSE, 1)]);
    let outcome = fixture.engine.reserve(&smaller, at(0)).unwrap();
    assert!(!outcome.replayed);
    assert_eq!((fixture.reserved(TSHIRT, WAREHOUSE), fixture.reserved(MUG, WAREHOUSE)), (3, 20));
    fixture.assert_clean();
}

#[test]
fn every_short_line_is_reported_with_what_it_could_have() {
    let mut fixture = Fixture::new();
    fixture.engine.set_safety_stock(TSHIRT, WAREHOUSE, 2).unwrap();
    fixture.track("NEVER-SEEN");
    let lines = vec![
        line(TSHIRT, WAREHOUSE, 9),        // 10 on hand, 2 safety: 8
        line(CAP, WAREHOUSE, 4),           // fits
        line(MUG, DISTRIBUTION_CENTRE, 2), // no position there
        line("NEVER-SEEN", WAREHOUSE, 1),  // a SKU no write has named
        line(TSHIRT, STORE, 4),            // 3 on hand
    ];
    let before = fixture.snapshot(&["cart-3"]);
    let error = fixture.engine.reserve(&request("cart-3", lines), at(0)).unwrap_err();
    assert_eq!(
        short_lines(error),
        vec![
            short(MUG, DISTRIBUTION_CENTRE, 2, 0),
            short("NEVER-SEEN", WAREHOUSE, 1, 0),
            short(TSHIRT, STORE, 4, 3),
            short(TSHIRT, WAREHOUSE, 9, 8),
        ]
    );
    assert_eq!(fixture.snapshot(&["cart-3"]), before);
    fixture.assert_clean();
}

#[test]
fn reserve_is_refused_for_malformed_requests() {
    let fixture = Fixture::new();
    let invalid =
        |kind: IdKind| move |e: &EngineError| matches!(e, EngineError::InvalidId { kind: k, .. } if *k == kind);
    assert_refused(&fixture, &request("cart 1", vec![line(TSHIRT, WAREHOUSE, 1)]), invalid(IdKind::Reservation));
    assert_refused(&fixture, &request("", vec![line(TSHIRT, WAREHOUSE, 1)]), invalid(IdKind::Reservation));
    assert_refused(&fixture, &request(&"r".repeat(65), vec![line(TSHIRT, WAREHOUSE, 1)]), invalid(IdKind::Reservation));
    assert_refused(&fixture, &request("c", vec![line("TSHIRT\u{7}", WAREHOUSE, 1)]), invalid(IdKind::Sku));
    assert_refused(&fixture, &request("c", vec![line(TSHIRT, "WH LONDON", 1)]), invalid(IdKind::Location));

    assert_refused(&fixture, &request("c", vec![]), |e| *e == EngineError::NoLines);

    let lines = (0..=MAX_LINES_PER_RESERVATION).map(|i| line(&format!("SKU-{i}"), WAREHOUSE, 1)).collect();
    assert_refused(&fixture, &request("c", lines), |e| {
        *e == EngineError::TooMany {
            what: "lines in a reservation",
            count: MAX_LINES_PER_RESERVATION + 1,
            limit: MAX_LINES_PER_RESERVATION,
        }
    });

    for ttl_ms in [0, MIN_TTL_MS - 1, MAX_TTL_MS + 1, u64::MAX] {
        let mut short_lived = request("c", vec![line(TSHIRT, WAREHOUSE, 1)]);
        short_lived.ttl_ms = ttl_ms;
        assert_refused(&fixture, &short_lived, |e| matches!(e, EngineError::OutOfRange { field: "ttl_ms", .. }));
    }
    for quantity in [0, MAX_QUANTITY + 1] {
        assert_refused(&fixture, &request("c", vec![line(TSHIRT, WAREHOUSE, quantity)]), |e| {
            *e == EngineError::OutOfRange {
                field: "quantity",
                value: i64::from(quantity),
                min: 1,
                max: i64::from(MAX_QUANTITY),
            }
        });
    }

    assert_refused(&fixture, &request("c", vec![line(TSHIRT, WAREHOUSE, 1), line(TSHIRT, "NOWHERE", 1)]), |e| {
        *e == EngineError::UnknownLocation("NOWHERE".to_owned())
    });
    let repeated = request("c", vec![line(TSHIRT, WAREHOUSE, 1), line(MUG, WAREHOUSE, 1), line(TSHIRT, WAREHOUSE, 2)]);
    assert_refused(&fixture, &repeated, |e| {
        *e == EngineError::DuplicateLine { index: 2, sku: TSHIRT.to_owned(), location: WAREHOUSE.to_owned() }
    });

    // The extreme TTLs themselves are accepted.
    for (id, ttl_ms) in [("min-ttl", MIN_TTL_MS), ("max-ttl", MAX_TTL_MS)] {
        let mut edge = request(id, vec![line(TSHIRT, WAREHOUSE, 1)]);
        edge.ttl_ms = ttl_ms;
        assert_eq!(fixture.engine.reserve(&edge, at(0)).unwrap().expires_at, at(ttl_ms));
    }
    fixture.assert_clean();
}

#[test]
fn reserve_is_refused_once_the_engine_remembers_its_limit() {
    let config = EngineConfig { max_reservations: 2, idempotency_window_ms: 10_000, ..EngineConfig::default() };
    let fixture = Fixture::with_config(config);
    let engine = &fixture.engine;
    // A refused reserve does not take a place.
    assert!(engine.reserve(&request("too-big", vec![line(CAP, WAREHOUSE, 5)]), at(0)).is_err());
    engine.reserve(&request("a", vec![line(TSHIRT, WAREHOUSE, 1)]), at(0)).unwrap();
    engine.reserve(&request("b", vec![line(TSHIRT, WAREHOUSE, 1)]), at(0)).unwrap();

    assert_refused(&fixture, &request("c", vec![line(TSHIRT, WAREHOUSE, 1)]), |e| {
        *e == EngineError::ReservationCapacity { limit: 2 }
    });
    // A retry of a remembered reservation is still answered at the limit.
    assert!(engine.reserve(&request("a", vec![line(TSHIRT, WAREHOUSE, 1)]), at(0)).unwrap().replayed);

    // A released reservation keeps its place until its idempotency window ends.
    engine.release("b", None, at(1_000)).unwrap();
    assert!(matches!(
        engine.reserve(&request("c", vec![line(TSHIRT, WAREHOUSE, 1)]), at(2_000)),
        Err(EngineError::ReservationCapacity { limit: 2 })
    ));
    assert_eq!(engine.expire_due(at(11_000)).forgotten, 1);
    assert!(!engine.reserve(&request("c", vec![line(TSHIRT, WAREHOUSE, 1)]), at(11_000)).unwrap().replayed);
    assert_eq!(engine.stats().reservations_remembered, 2);
    assert_eq!(fixture.reserved(TSHIRT, WAREHOUSE), 2);
    fixture.assert_clean();
}

#[test]
fn a_kit_reserves_its_components() {
    let mut fixture = Fixture::new();
    fixture.engine.define_kit("GIFT-SET", &[(TSHIRT.to_owned(), 1), (MUG.to_owned(), 2)]).unwrap();
    fixture.track("GIFT-SET");
    let outcome = fixture.engine.reserve(&request("gift", vec![line("GIFT-SET", WAREHOUSE, 3)]), at(0)).unwrap();
    assert_eq!(
        named_lines(&fixture.engine, &outcome),
        vec![
            (TSHIRT.to_owned(), WAREHOUSE.to_owned(), 3, HoldKind::InStock),
            (MUG.to_owned(), WAREHOUSE.to_owned(), 6, HoldKind::InStock),
        ]
    );
    assert_eq!((fixture.reserved(TSHIRT, WAREHOUSE), fixture.reserved(MUG, WAREHOUSE)), (3, 6));
    assert!(matches!(fixture.engine.position("GIFT-SET", WAREHOUSE), Err(EngineError::UnknownPosition { .. })));

    // The kit's request is remembered as asked: a retry naming the kit replays.
    assert!(fixture.engine.reserve(&request("gift", vec![line("GIFT-SET", WAREHOUSE, 3)]), at(1)).unwrap().replayed);
    // The components asked for directly are not the same request.
    let direct = request("gift", vec![line(TSHIRT, WAREHOUSE, 3), line(MUG, WAREHOUSE, 6)]);
    assert_eq!(fixture.engine.reserve(&direct, at(1)), Err(EngineError::Conflict("gift".to_owned())));

    fixture.engine.release("gift", None, at(2)).unwrap();
    assert_eq!((fixture.reserved(TSHIRT, WAREHOUSE), fixture.reserved(MUG, WAREHOUSE)), (0, 0));
    fixture.assert_clean();
}

#[test]
fn a_kit_and_its_component_in_one_request_merge_into_one_line() {
    let fixture = Fixture::new();
    fixture.engine.define_kit("GIFT-SET", &[(TSHIRT.to_owned(), 1), (MUG.to_owned(), 2)]).unwrap();
    let outcome = fixture
        .engine
        .reserve(&request("mixed", vec![line("GIFT-SET", WAREHOUSE, 2), line(MUG, WAREHOUSE, 3)]), at(0))
        .unwrap();
    assert_eq!(
        named_lines(&fixture.engine, &outcome),
        vec![
            (TSHIRT.to_owned(), WAREHOUSE.to_owned(), 2, HoldKind::InStock),
            (MUG.to_owned(), WAREHOUSE.to_owned(), 7, HoldKind::InStock),
        ]
    );
    assert_eq!(fixture.reserved(MUG, WAREHOUSE), 7);
    assert_eq!(fixture.engine.reservation("mixed").unwrap().requested.len(), 2);
    fixture.assert_clean();
}

#[test]
fn a_kit_short_of_a_component_names_the_components() {
    let mut fixture = Fixture::new();
    fixture.engine.define_kit("GIFT-SET", &[(TSHIRT.to_owned(), 1), (MUG.to_owned(), 2)]).unwrap();
    fixture.track("GIFT-SET");
    let before = fixture.snapshot(&["gift"]);
    let error = fixture.engine.reserve(&request("gift", vec![line("GIFT-SET", WAREHOUSE, 11)]), at(0)).unwrap_err();
    assert_eq!(short_lines(error), vec![short(MUG, WAREHOUSE, 22, 20), short(TSHIRT, WAREHOUSE, 11, 10)]);
    // At a store with T-shirts but no mugs, only the mug line is short.
    let error = fixture.engine.reserve(&request("gift", vec![line("GIFT-SET", STORE, 1)]), at(0)).unwrap_err();
    assert_eq!(error, EngineError::InsufficientStock(vec![short(MUG, STORE, 2, 0)]));
    assert_eq!(fixture.snapshot(&["gift"]), before);
    fixture.assert_clean();
}

#[test]
fn a_kit_line_is_refused_when_expansion_breaks_a_bound() {
    let mut fixture = Fixture::new();
    fixture.engine.define_kit("PALLET", &[(MUG.to_owned(), 2)]).unwrap();
    fixture.track("PALLET");
    assert_refused(&fixture, &request("p", vec![line("PALLET", WAREHOUSE, MAX_QUANTITY / 2 + 1)]), |e| {
        matches!(e, EngineError::OutOfRange { field: "quantity after kit expansion", .. })
    });
    // Merging a kit's component with the same SKU asked for directly is bounded too.
    let merged = request("p", vec![line(MUG, WAREHOUSE, MAX_QUANTITY), line("PALLET", WAREHOUSE, 1)]);
    assert_refused(&fixture, &merged, |e| {
        *e == EngineError::OutOfRange {
            field: "quantity after kit expansion",
            value: i64::from(MAX_QUANTITY) + 2,
            min: 1,
            max: i64::from(MAX_QUANTITY),
        }
    });

    // 13 kits of 32 distinct components: 416 lines after expansion.
    let kits = MAX_EXPANDED_LINES / 32 + 1;
    let mut lines = Vec::new();
    for kit in 0..kits {
        let components: Vec<(String, u32)> = (0..32).map(|c| (format!("PART-{kit}-{c}"), 1)).collect();
        fixture.engine.define_kit(&format!("BOX-{kit}"), &components).unwrap();
        lines.push(line(&format!("BOX-{kit}"), WAREHOUSE, 1));
    }
    assert_refused(&fixture, &request("boxes", lines), |e| {
        *e == EngineError::TooMany { what: "lines after kit expansion", count: kits * 32, limit: MAX_EXPANDED_LINES }
    });
}

#[test]
fn define_kit_refuses_bad_definitions_and_changes_nothing() {
    let mut fixture = Fixture::new();
    fixture.engine.define_kit("GIFT-SET", &[(TSHIRT.to_owned(), 1), (MUG.to_owned(), 2)]).unwrap();
    fixture.track("GIFT-SET");
    fixture.track("BUNDLE");
    let refused = |fixture: &Fixture, kit: &str, components: &[(String, u32)], check: &dyn Fn(&EngineError) -> bool| {
        let before = fixture.snapshot(&[]);
        let catalogue_kits = fixture.engine.catalogue().kits.len();
        let error = fixture.engine.define_kit(kit, components).unwrap_err();
        assert!(check(&error), "unexpected error {error:?}");
        assert_eq!(fixture.snapshot(&[]), before);
        assert_eq!(fixture.engine.catalogue().kits.len(), catalogue_kits);
    };
    let part = |sku: &str, quantity: u32| (sku.to_owned(), quantity);

    refused(&fixture, "BUNDLE", &[], &|e| matches!(e, EngineError::OutOfRange { field: "kit components", .. }));
    let too_many: Vec<(String, u32)> = (0..33).map(|i| part(&format!("P-{i}"), 1)).collect();
    refused(&fixture, "BUNDLE", &too_many, &|e| {
        *e == EngineError::TooMany { what: "kit components", count: 33, limit: 32 }
    });
    refused(&fixture, "BUNDLE", &[part(TSHIRT, 0)], &|e| {
        matches!(e, EngineError::OutOfRange { field: "kit component quantity", value: 0, .. })
    });
    refused(
        &fixture,
        "BUNDLE",
        &[part(TSHIRT, 1), part("BUNDLE", 1)],
        &|e| matches!(e, EngineError::DuplicateLine { index: 1, sku, .. } if sku == "BUNDLE"),
    );
    refused(
        &fixture,
        "BUNDLE",
        &[part(TSHIRT, 1), part(MUG, 1), part(TSHIRT, 2)],
        &|e| matches!(e, EngineError::DuplicateLine { index: 2, sku, .. } if sku == TSHIRT),
    );
    refused(&fixture, "BUNDLE bad", &[part(TSHIRT, 1)], &|e| {
        matches!(e, EngineError::InvalidId { kind: IdKind::Sku, .. })
    });
    // Components may not be kits, and a kit holds no stock of its own.
    refused(&fixture, "BUNDLE", &[part(CAP, 1), part("GIFT-SET", 1)], &|e| {
        *e == EngineError::KitNotAllowed { sku: "GIFT-SET".to_owned(), operation: "a kit component" }
    });
    refused(&fixture, CAP, &[part(MUG, 1)], &|e| matches!(e, EngineError::KitNotAllowed { sku, .. } if sku == CAP));
    // A component of a kit may not become a kit itself (kits do not nest).
    fixture.engine.define_kit("DUO", &[part(CAP, 1), part("LID", 1)]).unwrap();
    fixture.track("LID");
    refused(&fixture, "LID", &[part(MUG, 1)], &|e| matches!(e, EngineError::KitNotAllowed { sku, .. } if sku == "LID"));
    fixture.assert_clean();
}

#[test]
fn writes_to_a_kit_are_refused() {
    let mut fixture = Fixture::new();
    fixture.engine.define_kit("GIFT-SET", &[(TSHIRT.to_owned(), 1), (MUG.to_owned(), 2)]).unwrap();
    fixture.track("GIFT-SET");
    let before = fixture.snapshot(&[]);
    let error = fixture.engine.set_on_hand("GIFT-SET", WAREHOUSE, 5, None).unwrap_err();
    assert_eq!(error, EngineError::KitNotAllowed { sku: "GIFT-SET".to_owned(), operation: "counted" });
    let error = fixture.engine.adjust("GIFT-SET", WAREHOUSE, 5, stockd::engine::AdjustReason::Found, "").unwrap_err();
    assert!(matches!(error, EngineError::KitNotAllowed { operation: "adjusted", .. }));
    assert_eq!(fixture.snapshot(&[]), before);
    fixture.assert_clean();
}

#[test]
fn backorders_are_held_up_to_the_limit() {
    let fixture = Fixture::new();
    fixture.engine.set_backorder_limit(TSHIRT, STORE, 2).unwrap();
    let outcome = fixture.engine.reserve(&request("in-stock", vec![line(TSHIRT, STORE, 2)]), at(0)).unwrap();
    assert_eq!(outcome.lines[0].kind, HoldKind::InStock);
    let outcome = fixture.engine.reserve(&request("backorder", vec![line(TSHIRT, STORE, 3)]), at(0)).unwrap();
    assert_eq!(outcome.lines[0].kind, HoldKind::Backorder, "1 from stock, 2 beyond it");
    let view = fixture.view(TSHIRT, STORE);
    assert_eq!((view.on_hand, view.reserved, view.available_to_sell), (3, 5, 0));

    // The limit is for all backorders on the position together.
    let error = fixture.engine.reserve(&request("more", vec![line(TSHIRT, STORE, 1)]), at(0)).unwrap_err();
    assert_eq!(error, EngineError::InsufficientStock(vec![short(TSHIRT, STORE, 1, 0)]));
    fixture.assert_clean();
}

#[test]
fn without_a_backorder_limit_the_short_line_offers_stock_only() {
    let fixture = Fixture::new();
    let error = fixture.engine.reserve(&request("b", vec![line(TSHIRT, STORE, 4)]), at(0)).unwrap_err();
    assert_eq!(error, EngineError::InsufficientStock(vec![short(TSHIRT, STORE, 4, 3)]));
    fixture.engine.set_backorder_limit(TSHIRT, STORE, 2).unwrap();
    let error = fixture.engine.reserve(&request("b", vec![line(TSHIRT, STORE, 6)]), at(0)).unwrap_err();
    assert_eq!(error, EngineError::InsufficientStock(vec![short(TSHIRT, STORE, 6, 5)]));
    fixture.assert_clean();
}

#[test]
fn pre_orders_are_held_against_supply_due_by_the_promise_date() {
    let fixture = Fixture::new();
    let due = 1_000_000;
    fixture.engine.add_incoming(TSHIRT, DISTRIBUTION_CENTRE, "PO-1", 10, at(due)).unwrap();
    let dated = |id: &str, quantity: u32, promise_by: Option<u64>| {
        let mut r = request(id, vec![line(TSHIRT, DISTRIBUTION_CENTRE, quantity)]);
        r.promise_by = promise_by.map(at);
        r
    };
    // Without a promise date, or with one before the supply is due, only stock counts.
    for promise_by in [None, Some(due - 1)] {
        let error = fixture.engine.reserve(&dated("pre", 8, promise_by), at(0)).unwrap_err();
        assert_eq!(error, EngineError::InsufficientStock(vec![short(TSHIRT, DISTRIBUTION_CENTRE, 8, 5)]));
    }
    let outcome = fixture.engine.reserve(&dated("pre", 8, Some(due)), at(0)).unwrap();
    assert_eq!(outcome.lines[0].kind, HoldKind::PreOrder);
    let view = fixture.view(TSHIRT, DISTRIBUTION_CENTRE);
    assert_eq!((view.on_hand, view.reserved, view.available_to_sell), (5, 8, 0));

    // 5 + 10 - 8 = 7 left to promise by the due date, none to sell now.
    let error = fixture.engine.reserve(&dated("pre-2", 8, Some(due + 5)), at(0)).unwrap_err();
    assert_eq!(error, EngineError::InsufficientStock(vec![short(TSHIRT, DISTRIBUTION_CENTRE, 8, 7)]));
    assert!(fixture.engine.reserve(&dated("pre-2", 7, Some(due + 5)), at(0)).is_ok());
    let error = fixture.engine.reserve(&dated("now", 1, None), at(0)).unwrap_err();
    assert_eq!(error, EngineError::InsufficientStock(vec![short(TSHIRT, DISTRIBUTION_CENTRE, 1, 0)]));

    // Receiving the supply turns the pre-orders into stock on hand.
    let view = fixture.engine.receive_incoming(TSHIRT, DISTRIBUTION_CENTRE, "PO-1", 10).unwrap();
    assert_eq!((view.on_hand, view.reserved, view.available_to_sell), (15, 15, 0));
    assert!(view.incoming.is_empty());
    fixture.assert_clean();
}

#[test]
fn backorders_do_not_reach_into_supply_not_due_by_the_promise_date() {
    let fixture = Fixture::new();
    fixture.engine.add_incoming(TSHIRT, DISTRIBUTION_CENTRE, "PO-1", 10, at(1_000_000)).unwrap();
    fixture.engine.set_backorder_limit(TSHIRT, DISTRIBUTION_CENTRE, 2).unwrap();
    let error = fixture.engine.reserve(&request("b", vec![line(TSHIRT, DISTRIBUTION_CENTRE, 8)]), at(0)).unwrap_err();
    assert_eq!(error, EngineError::InsufficientStock(vec![short(TSHIRT, DISTRIBUTION_CENTRE, 8, 7)]));
    let outcome = fixture.engine.reserve(&request("b", vec![line(TSHIRT, DISTRIBUTION_CENTRE, 7)]), at(0)).unwrap();
    assert_eq!(outcome.lines[0].kind, HoldKind::Backorder);
    // With the promise date the supply counts, before what is left of the allowance:
    // 5 on hand + 10 due - 7 held = 8 as pre-orders, then the last backorder unit.
    let dated = |id: &str, quantity: u32| {
        let mut r = request(id, vec![line(TSHIRT, DISTRIBUTION_CENTRE, quantity)]);
        r.promise_by = Some(at(1_000_000));
        r
    };
    assert_eq!(fixture.engine.reserve(&dated("p", 8), at(0)).unwrap().lines[0].kind, HoldKind::PreOrder);
    let error = fixture.engine.reserve(&dated("q", 3), at(0)).unwrap_err();
    assert_eq!(error, EngineError::InsufficientStock(vec![short(TSHIRT, DISTRIBUTION_CENTRE, 3, 2)]));
    assert_eq!(fixture.engine.reserve(&dated("q", 2), at(0)).unwrap().lines[0].kind, HoldKind::Backorder);
    assert_eq!(fixture.reserved(TSHIRT, DISTRIBUTION_CENTRE), 17);
    fixture.assert_clean();
}

#[test]
fn reserve_through_apply_is_the_same_call() {
    let fixture = Fixture::new();
    let outcome =
        fixture.engine.apply(&Operation::Reserve(request("via-apply", vec![line(CAP, WAREHOUSE, 2)])), at(10)).unwrap();
    let Outcome::Reserved(reserved) = outcome else { panic!("expected a reserve outcome, got {outcome:?}") };
    assert_eq!(reserved.expires_at, at(10 + TTL_MS));
    assert_eq!(fixture.reserved(CAP, WAREHOUSE), 2);
    let refused = fixture.engine.apply(&Operation::Reserve(request("x", vec![line(CAP, WAREHOUSE, 3)])), at(10));
    assert_eq!(refused, Err(EngineError::InsufficientStock(vec![short(CAP, WAREHOUSE, 3, 2)])));
    fixture.assert_clean();
}
