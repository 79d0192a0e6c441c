//! Writes to positions outside reservations: adjust, counts with compare-and-set,
//! safety stock, backorder limits, bucket moves, incoming supply and bulk loads, and
//! every error they can be refused with.

mod common;

use common::*;
use stockd::engine::{AdjustReason, BulkLoadOutcome, Operation, Outcome, RowRejection};
use stockd::limits::{MAX_INCOMING_PER_POSITION, MAX_QUANTITY, MAX_REFERENCE_BYTES, MAX_REPORTED_REJECTIONS};
use stockd::model::{Bucket, IdKind, IncomingSupply, PositionRow, PositionView};
use stockd::EngineError;

/// Asserts that `call` is refused with an error `check` accepts and changed nothing.
fn assert_refused(
    fixture: &Fixture,
    call: impl FnOnce() -> Result<PositionView, EngineError>,
    check: impl FnOnce(&EngineError) -> bool,
) {
    let before = fixture.snapshot(&[]);
    let error = call().expect_err("the write must be refused");
    assert!(check(&error), "unexpected error {error:?}");
    assert_eq!(fixture.snapshot(&[]), before, "a refused write changed something");
    fixture.assert_clean();
}

fn below_reserved(sku: &str, location: &str, reserved: u32, ceiling: i64) -> impl Fn(&EngineError) -> bool {
    let expected = EngineError::BelowReserved { sku: sku.to_owned(), location: location.to_owned(), reserved, ceiling };
    move |e| *e == expected
}

fn row(sku: &str, location: &str, on_hand: u32) -> PositionRow {
    PositionRow::on_hand(sku, location, on_hand)
}

/// Holds `quantity` of a SKU at a location under a fresh reservation id.
fn hold(fixture: &Fixture, id: &str, sku: &str, location: &str, quantity: u32) {
    fixture.engine.reserve(&request(id, vec![line(sku, location, quantity)]), at(0)).unwrap();
}

#[test]
fn adjust_adds_and_removes_units_and_bumps_the_version() {
    let fixture = Fixture::new();
    let before = fixture.view(TSHIRT, WAREHOUSE);
    let view = fixture.engine.adjust(TSHIRT, WAREHOUSE, 24, AdjustReason::Received, "ASN 1234").unwrap();
    assert_eq!((view.on_hand, view.available_to_sell, view.version), (34, 34, before.version + 1));
    let view = fixture.engine.adjust(TSHIRT, WAREHOUSE, -1, AdjustReason::Damaged, "").unwrap();
    assert_eq!((view.on_hand, view.version), (33, before.version + 2));
    assert_eq!(fixture.view(TSHIRT, WAREHOUSE), view, "the returned view is the stored position");

    // An adjustment may create a position, and may take on hand to exactly 0.
    let view = fixture.engine.adjust(MUG, STORE, 2, AdjustReason::Found, "cycle count").unwrap();
    assert_eq!((view.on_hand, view.version), (2, 1));
    assert_eq!(fixture.engine.adjust(MUG, STORE, -2, AdjustReason::Lost, "").unwrap().on_hand, 0);
    fixture.assert_clean();
}

#[test]
fn adjust_is_refused_below_zero_below_reserved_or_out_of_range() {
    let mut fixture = Fixture::new();
    hold(&fixture, "r", TSHIRT, WAREHOUSE, 6);
    let adjust = |fixture: &Fixture, sku: &str, location: &str, delta: i64, reference: &str| {
        fixture.engine.adjust(sku, location, delta, AdjustReason::Correction, reference)
    };
    assert_refused(
        &fixture,
        || adjust(&fixture, CAP, WAREHOUSE, -5, ""),
        |e| {
            *e == EngineError::InsufficientUnits {
                sku: CAP.to_owned(),
                location: WAREHOUSE.to_owned(),
                bucket: "on hand",
                available: 4,
                requested: 5,
            }
        },
    );
    // A refused write does not even create an empty position.
    fixture.track("NEW-SKU");
    assert_refused(
        &fixture,
        || adjust(&fixture, "NEW-SKU", WAREHOUSE, -1, ""),
        |e| matches!(e, EngineError::InsufficientUnits { available: 0, requested: 1, .. }),
    );
    assert_refused(&fixture, || adjust(&fixture, TSHIRT, WAREHOUSE, -5, ""), below_reserved(TSHIRT, WAREHOUSE, 6, 5));
    for delta in [0, i64::from(MAX_QUANTITY) + 1, -i64::from(MAX_QUANTITY) - 1, i64::MIN, i64::MAX] {
        assert_refused(
            &fixture,
            || adjust(&fixture, TSHIRT, WAREHOUSE, delta, ""),
            |e| matches!(e, EngineError::OutOfRange { field: "delta magnitude", .. }),
        );
    }
    fixture.stock(MUG, DISTRIBUTION_CENTRE, MAX_QUANTITY);
    assert_refused(
        &fixture,
        || adjust(&fixture, MUG, DISTRIBUTION_CENTRE, 1, ""),
        |e| {
            *e == EngineError::OutOfRange {
                field: "on_hand",
                value: i64::from(MAX_QUANTITY) + 1,
                min: 0,
                max: i64::from(MAX_QUANTITY),
            }
        },
    );
    let long_reference = "x".repeat(MAX_REFERENCE_BYTES + 1);
    assert_refused(
        &fixture,
        || adjust(&fixture, TSHIRT, WAREHOUSE, 1, &long_reference),
        |e| matches!(e, EngineError::InvalidId { kind: IdKind::AdjustmentReference, reason: "is too long", .. }),
    );
    assert_refused(
        &fixture,
        || adjust(&fixture, TSHIRT, WAREHOUSE, 1, "line\nbreak"),
        |e| matches!(e, EngineError::InvalidId { kind: IdKind::AdjustmentReference, .. }),
    );
    assert_refused(
        &fixture,
        || adjust(&fixture, TSHIRT, "NOWHERE", 1, ""),
        |e| *e == EngineError::UnknownLocation("NOWHERE".to_owned()),
    );
    assert_refused(
        &fixture,
        || adjust(&fixture, "", WAREHOUSE, 1, ""),
        |e| matches!(e, EngineError::InvalidId { kind: IdKind::Sku, reason: "is empty", .. }),
    );
    // Exactly down to what is reserved is allowed.
    assert_eq!(adjust(&fixture, TSHIRT, WAREHOUSE, -4, "").unwrap().available_to_sell, 0);
    fixture.assert_clean();
}

#[test]
fn set_on_hand_keeps_reservations_and_compares_the_version() {
    let mut fixture = Fixture::new();
    hold(&fixture, "r", TSHIRT, WAREHOUSE, 4);
    let counted = fixture.view(TSHIRT, WAREHOUSE);
    let view = fixture.engine.set_on_hand(TSHIRT, WAREHOUSE, 57, Some(counted.version)).unwrap();
    assert_eq!((view.on_hand, view.reserved, view.available_to_sell), (57, 4, 53), "reservations survive a count");
    assert_eq!(view.version, counted.version + 1);

    // A count taken before an adjustment landed must not wipe the adjustment out.
    fixture.engine.adjust(TSHIRT, WAREHOUSE, 3, AdjustReason::Received, "").unwrap();
    let stale = view.version;
    assert_refused(
        &fixture,
        || fixture.engine.set_on_hand(TSHIRT, WAREHOUSE, 50, Some(stale)),
        |e| {
            *e == EngineError::VersionMismatch {
                sku: TSHIRT.to_owned(),
                location: WAREHOUSE.to_owned(),
                expected: stale,
                actual: stale + 1,
            }
        },
    );
    assert_eq!(fixture.on_hand(TSHIRT, WAREHOUSE), 60);

    // A position never written has version 0.
    fixture.track("NEW-SKU");
    assert_refused(
        &fixture,
        || fixture.engine.set_on_hand("NEW-SKU", STORE, 5, Some(1)),
        |e| matches!(e, EngineError::VersionMismatch { expected: 1, actual: 0, .. }),
    );
    assert_eq!(fixture.engine.set_on_hand("NEW-SKU", STORE, 5, Some(0)).unwrap().version, 1);

    assert_refused(
        &fixture,
        || fixture.engine.set_on_hand(TSHIRT, WAREHOUSE, 3, None),
        below_reserved(TSHIRT, WAREHOUSE, 4, 3),
    );
    assert_refused(
        &fixture,
        || fixture.engine.set_on_hand(TSHIRT, WAREHOUSE, MAX_QUANTITY + 1, None),
        |e| matches!(e, EngineError::OutOfRange { field: "on_hand", .. }),
    );
    // The same count twice is still a write (and bumps the version).
    let version = fixture.view(TSHIRT, WAREHOUSE).version;
    assert_eq!(fixture.engine.set_on_hand(TSHIRT, WAREHOUSE, 60, None).unwrap().version, version + 1);
    fixture.assert_clean();
}

#[test]
fn safety_stock_is_never_offered_for_sale() {
    let fixture = Fixture::new();
    let view = fixture.engine.set_safety_stock(TSHIRT, WAREHOUSE, 3).unwrap();
    assert_eq!((view.on_hand, view.safety_stock, view.available_to_sell), (10, 3, 7));
    let error = fixture.engine.reserve(&request("r", vec![line(TSHIRT, WAREHOUSE, 8)]), at(0)).unwrap_err();
    assert!(matches!(error, EngineError::InsufficientStock(ref lines) if lines[0].available == 7));
    hold(&fixture, "r", TSHIRT, WAREHOUSE, 7);

    // Raising it above what reservations leave is refused.
    assert_refused(
        &fixture,
        || fixture.engine.set_safety_stock(TSHIRT, WAREHOUSE, 4),
        below_reserved(TSHIRT, WAREHOUSE, 7, 6),
    );
    assert_refused(
        &fixture,
        || fixture.engine.set_safety_stock(TSHIRT, WAREHOUSE, MAX_QUANTITY + 1),
        |e| matches!(e, EngineError::OutOfRange { field: "safety_stock", .. }),
    );
    // With nothing reserved, safety stock may exceed on hand: ATS shows 0, not less.
    let view = fixture.engine.set_safety_stock(MUG, WAREHOUSE, 25).unwrap();
    assert_eq!(view.available_to_sell, 0);
    let view = fixture.engine.set_safety_stock(TSHIRT, WAREHOUSE, 0).unwrap();
    assert_eq!(view.available_to_sell, 3);
    fixture.assert_clean();
}

#[test]
fn a_backorder_limit_cannot_drop_below_outstanding_backorders() {
    let fixture = Fixture::new();
    let view = fixture.engine.set_backorder_limit(CAP, WAREHOUSE, 3).unwrap();
    assert_eq!((view.backorder_limit, view.available_to_sell), (3, 4), "backorders are not shown as stock");
    hold(&fixture, "bo", CAP, WAREHOUSE, 6);
    assert_refused(
        &fixture,
        || fixture.engine.set_backorder_limit(CAP, WAREHOUSE, 1),
        below_reserved(CAP, WAREHOUSE, 6, 5),
    );
    assert_refused(
        &fixture,
        || fixture.engine.set_backorder_limit(CAP, WAREHOUSE, MAX_QUANTITY + 1),
        |e| matches!(e, EngineError::OutOfRange { field: "backorder_limit", .. }),
    );
    assert_eq!(fixture.engine.set_backorder_limit(CAP, WAREHOUSE, 2).unwrap().backorder_limit, 2);
    let error = fixture.engine.reserve(&request("more", vec![line(CAP, WAREHOUSE, 1)]), at(0)).unwrap_err();
    assert!(matches!(error, EngineError::InsufficientStock(_)));
    fixture.assert_clean();
}

#[test]
fn move_stock_moves_units_between_buckets() {
    let fixture = Fixture::new();
    let view = fixture.engine.move_stock(TSHIRT, WAREHOUSE, Bucket::Sellable, Bucket::Damaged, 3).unwrap();
    assert_eq!((view.on_hand, view.damaged, view.quality_control, view.available_to_sell), (7, 3, 0, 7));
    let view = fixture.engine.move_stock(TSHIRT, WAREHOUSE, Bucket::Damaged, Bucket::QualityControl, 2).unwrap();
    assert_eq!((view.on_hand, view.damaged, view.quality_control), (7, 1, 2));
    let view = fixture.engine.move_stock(TSHIRT, WAREHOUSE, Bucket::QualityControl, Bucket::Sellable, 2).unwrap();
    assert_eq!((view.on_hand, view.damaged, view.quality_control), (9, 1, 0));
    fixture.assert_clean();
}

#[test]
fn move_stock_is_refused_when_a_bucket_is_short_or_reservations_need_the_units() {
    let fixture = Fixture::new();
    fixture.engine.move_stock(TSHIRT, WAREHOUSE, Bucket::Sellable, Bucket::Damaged, 1).unwrap();
    hold(&fixture, "r", TSHIRT, WAREHOUSE, 8);
    let move_ = |from, to, quantity| fixture.engine.move_stock(TSHIRT, WAREHOUSE, from, to, quantity);
    assert_refused(
        &fixture,
        || move_(Bucket::Damaged, Bucket::Sellable, 2),
        |e| {
            *e == EngineError::InsufficientUnits {
                sku: TSHIRT.to_owned(),
                location: WAREHOUSE.to_owned(),
                bucket: "damaged",
                available: 1,
                requested: 2,
            }
        },
    );
    assert_refused(
        &fixture,
        || move_(Bucket::QualityControl, Bucket::Damaged, 1),
        |e| matches!(e, EngineError::InsufficientUnits { bucket: "quality control", available: 0, .. }),
    );
    assert_refused(&fixture, || move_(Bucket::Sellable, Bucket::Damaged, 2), below_reserved(TSHIRT, WAREHOUSE, 8, 7));
    assert_refused(
        &fixture,
        || move_(Bucket::Damaged, Bucket::Damaged, 1),
        |e| matches!(e, EngineError::OutOfRange { field: "buckets (from equals to)", .. }),
    );
    assert_refused(
        &fixture,
        || move_(Bucket::Damaged, Bucket::Sellable, 0),
        |e| matches!(e, EngineError::OutOfRange { field: "quantity", value: 0, .. }),
    );
    assert_eq!(move_(Bucket::Sellable, Bucket::Damaged, 1).unwrap().available_to_sell, 0);
    fixture.assert_clean();
}

#[test]
fn incoming_supply_is_added_received_and_cancelled() {
    let fixture = Fixture::new();
    fixture.engine.add_incoming(TSHIRT, DISTRIBUTION_CENTRE, "PO-2", 4, at(2_000)).unwrap();
    let view = fixture.engine.add_incoming(TSHIRT, DISTRIBUTION_CENTRE, "PO-1", 10, at(1_000)).unwrap();
    let supply = |reference: &str, quantity, expected_at| IncomingSupply {
        reference: reference.into(),
        quantity,
        expected_at: at(expected_at),
    };
    assert_eq!(view.incoming, vec![supply("PO-1", 10, 1_000), supply("PO-2", 4, 2_000)], "sorted by date");
    assert_eq!((view.on_hand, view.available_to_sell), (5, 5), "supply is not stock on hand");

    let view = fixture.engine.receive_incoming(TSHIRT, DISTRIBUTION_CENTRE, "PO-1", 6).unwrap();
    assert_eq!(view.on_hand, 11);
    assert_eq!(view.incoming, vec![supply("PO-1", 4, 1_000), supply("PO-2", 4, 2_000)]);
    let view = fixture.engine.receive_incoming(TSHIRT, DISTRIBUTION_CENTRE, "PO-1", 4).unwrap();
    assert_eq!(view.on_hand, 15);
    assert_eq!(view.incoming, vec![supply("PO-2", 4, 2_000)], "a fully received line is gone");

    let view = fixture.engine.cancel_incoming(TSHIRT, DISTRIBUTION_CENTRE, "PO-2").unwrap();
    assert!(view.incoming.is_empty());
    assert_eq!(view.on_hand, 15);
    // A cancelled reference may be used again.
    assert!(fixture.engine.add_incoming(TSHIRT, DISTRIBUTION_CENTRE, "PO-2", 1, at(3_000)).is_ok());
    fixture.assert_clean();
}

#[test]
fn incoming_supply_writes_are_refused_for_bad_references_and_bounds() {
    let mut fixture = Fixture::new();
    fixture.engine.add_incoming(TSHIRT, DISTRIBUTION_CENTRE, "PO-1", 10, at(1_000)).unwrap();
    let add = |reference: &str, quantity: u32| {
        fixture.engine.add_incoming(TSHIRT, DISTRIBUTION_CENTRE, reference, quantity, at(5))
    };
    assert_refused(
        &fixture,
        || add("PO-1", 1),
        |e| {
            *e == EngineError::DuplicateSupply {
                sku: TSHIRT.to_owned(),
                location: DISTRIBUTION_CENTRE.to_owned(),
                reference: "PO-1".to_owned(),
            }
        },
    );
    assert_refused(
        &fixture,
        || add("PO 2", 1),
        |e| matches!(e, EngineError::InvalidId { kind: IdKind::SupplyReference, .. }),
    );
    assert_refused(&fixture, || add("PO-2", 0), |e| matches!(e, EngineError::OutOfRange { field: "quantity", .. }));
    assert_refused(
        &fixture,
        || add("PO-2", MAX_QUANTITY - 9),
        |e| {
            *e == EngineError::OutOfRange {
                field: "incoming total",
                value: i64::from(MAX_QUANTITY) + 1,
                min: 0,
                max: i64::from(MAX_QUANTITY),
            }
        },
    );

    let receive = |reference: &str, quantity: u32| {
        fixture.engine.receive_incoming(TSHIRT, DISTRIBUTION_CENTRE, reference, quantity)
    };
    assert_refused(
        &fixture,
        || receive("PO-1", 11),
        |e| {
            *e == EngineError::InsufficientUnits {
                sku: TSHIRT.to_owned(),
                location: DISTRIBUTION_CENTRE.to_owned(),
                bucket: "incoming",
                available: 10,
                requested: 11,
            }
        },
    );
    let unknown_supply = |e: &EngineError| {
        *e == EngineError::UnknownSupply {
            sku: TSHIRT.to_owned(),
            location: DISTRIBUTION_CENTRE.to_owned(),
            reference: "PO-9".to_owned(),
        }
    };
    assert_refused(&fixture, || receive("PO-9", 1), unknown_supply);
    assert_refused(&fixture, || fixture.engine.cancel_incoming(TSHIRT, DISTRIBUTION_CENTRE, "PO-9"), unknown_supply);
    // No supply at all on a position (or no position) is an unknown reference too.
    fixture.track("NEW-SKU");
    assert_refused(
        &fixture,
        || fixture.engine.cancel_incoming("NEW-SKU", STORE, "PO-1"),
        |e| matches!(e, EngineError::UnknownSupply { .. }),
    );

    // At most MAX_INCOMING_PER_POSITION lines on one position.
    for n in 1..MAX_INCOMING_PER_POSITION {
        fixture.engine.add_incoming(MUG, WAREHOUSE, &format!("T-{n}"), 1, at(n as u64)).unwrap();
    }
    fixture.engine.add_incoming(MUG, WAREHOUSE, "T-LAST", 1, at(0)).unwrap();
    assert_eq!(fixture.view(MUG, WAREHOUSE).incoming.len(), MAX_INCOMING_PER_POSITION);
    assert_refused(
        &fixture,
        || fixture.engine.add_incoming(MUG, WAREHOUSE, "T-ONE-MORE", 1, at(0)),
        |e| {
            *e == EngineError::TooMany {
                what: "incoming supply lines",
                count: MAX_INCOMING_PER_POSITION + 1,
                limit: MAX_INCOMING_PER_POSITION,
            }
        },
    );
    fixture.assert_clean();
}

#[test]
fn supply_that_pre_orders_count_on_cannot_be_cancelled() {
    let fixture = Fixture::new();
    fixture.engine.add_incoming(TSHIRT, DISTRIBUTION_CENTRE, "PO-1", 10, at(1_000)).unwrap();
    let mut pre_order = request("pre", vec![line(TSHIRT, DISTRIBUTION_CENTRE, 12)]);
    pre_order.promise_by = Some(at(1_000));
    fixture.engine.reserve(&pre_order, at(0)).unwrap();
    assert_refused(
        &fixture,
        || fixture.engine.cancel_incoming(TSHIRT, DISTRIBUTION_CENTRE, "PO-1"),
        below_reserved(TSHIRT, DISTRIBUTION_CENTRE, 12, 5),
    );
    // Receiving it is fine: the units move from supply to on hand.
    let view = fixture.engine.receive_incoming(TSHIRT, DISTRIBUTION_CENTRE, "PO-1", 10).unwrap();
    assert_eq!((view.on_hand, view.reserved, view.available_to_sell), (15, 12, 3));
    fixture.engine.release("pre", None, at(1)).unwrap();
    assert_eq!(fixture.ats(TSHIRT, DISTRIBUTION_CENTRE), 15);
    fixture.assert_clean();
}

#[test]
fn bulk_load_inserts_updates_and_skips_unchanged_rows() {
    let mut fixture = Fixture::new();
    fixture.track("NEW-1");
    fixture.engine.add_incoming(MUG, WAREHOUSE, "PO-1", 7, at(1_000)).unwrap();
    hold(&fixture, "r", MUG, WAREHOUSE, 5);
    let tshirt_before = fixture.view(TSHIRT, WAREHOUSE);
    let mug_before = fixture.view(MUG, WAREHOUSE);
    let mut mug = row(MUG, WAREHOUSE, 30);
    mug.safety_stock = 2;
    mug.damaged = 1;
    mug.quality_control = 4;
    mug.backorder_limit = 6;
    let rows = vec![row("NEW-1", WAREHOUSE, 8), row(TSHIRT, WAREHOUSE, 10), mug, row("NEW-1", STORE, 0)];
    let outcome = fixture.engine.bulk_load(&rows).unwrap();
    assert_eq!(outcome, BulkLoadOutcome { inserted: 2, updated: 1, unchanged: 1, rejected: 0, rejections: vec![] });

    let fresh = fixture.view("NEW-1", WAREHOUSE);
    assert_eq!((fresh.on_hand, fresh.reserved, fresh.version), (8, 0, 1));
    assert_eq!(fixture.view("NEW-1", STORE).on_hand, 0, "a zero row still makes a position");
    assert_eq!(fixture.view(TSHIRT, WAREHOUSE), tshirt_before, "an unchanged row is skipped, version and all");
    let mug = fixture.view(MUG, WAREHOUSE);
    assert_eq!(
        (mug.on_hand, mug.safety_stock, mug.damaged, mug.quality_control, mug.backorder_limit),
        (30, 2, 1, 4, 6)
    );
    assert_eq!(mug.reserved, 5, "a row never sets reserved");
    assert_eq!(mug.incoming, mug_before.incoming, "a row never sets incoming supply");
    assert_eq!(mug.version, mug_before.version + 1);
    assert_eq!(mug.available_to_sell, 23);

    // Loading the same rows again changes nothing.
    let again = fixture.engine.bulk_load(&rows).unwrap();
    assert_eq!((again.inserted, again.updated, again.unchanged), (0, 0, 4));
    assert_eq!(fixture.engine.stats().positions, 7);
    fixture.assert_clean();
}

#[test]
fn bulk_load_rejects_rows_below_reserved_and_applies_the_rest() {
    let fixture = Fixture::new();
    hold(&fixture, "r", TSHIRT, STORE, 3);
    hold(&fixture, "s", CAP, WAREHOUSE, 4);
    let store_before = fixture.view(TSHIRT, STORE);
    let rows = vec![row(MUG, WAREHOUSE, 1), row(TSHIRT, STORE, 1), row(TSHIRT, WAREHOUSE, 2), row(CAP, WAREHOUSE, 3)];
    let outcome = fixture.engine.bulk_load(&rows).unwrap();
    assert_eq!((outcome.updated, outcome.rejected), (2, 2));
    let mut rejections = outcome.rejections.clone();
    rejections.sort_by_key(|r| r.row);
    assert_eq!(
        rejections,
        vec![
            RowRejection {
                row: 1,
                error: EngineError::BelowReserved {
                    sku: TSHIRT.to_owned(),
                    location: STORE.to_owned(),
                    reserved: 3,
                    ceiling: 1,
                },
            },
            RowRejection {
                row: 3,
                error: EngineError::BelowReserved {
                    sku: CAP.to_owned(),
                    location: WAREHOUSE.to_owned(),
                    reserved: 4,
                    ceiling: 3,
                },
            },
        ]
    );
    assert_eq!(fixture.view(TSHIRT, STORE), store_before, "a rejected row changes nothing");
    assert_eq!((fixture.on_hand(MUG, WAREHOUSE), fixture.on_hand(TSHIRT, WAREHOUSE)), (1, 2));
    fixture.assert_clean();
}

#[test]
fn bulk_load_lists_a_bounded_number_of_rejections() {
    let fixture = Fixture::new();
    let count = MAX_REPORTED_REJECTIONS + 5;
    let rows: Vec<PositionRow> = (0..count).map(|i| row(&format!("SKU-{i}"), WAREHOUSE, 1)).collect();
    assert_eq!(fixture.engine.bulk_load(&rows).unwrap().inserted, count as u64);
    for i in 0..count {
        hold(&fixture, &format!("r-{i}"), &format!("SKU-{i}"), WAREHOUSE, 1);
    }
    let emptied: Vec<PositionRow> = (0..count).map(|i| row(&format!("SKU-{i}"), WAREHOUSE, 0)).collect();
    let outcome = fixture.engine.bulk_load(&emptied).unwrap();
    assert_eq!(outcome.rejected, count as u64);
    assert_eq!(outcome.rejections.len(), MAX_REPORTED_REJECTIONS);
    assert_eq!(outcome.updated, 0);
    fixture.assert_clean();
}

#[test]
fn bulk_load_refuses_the_whole_load_for_one_bad_row() {
    let mut fixture = Fixture::new();
    fixture.engine.define_kit("GIFT-SET", &[(TSHIRT.to_owned(), 1), (MUG.to_owned(), 2)]).unwrap();
    fixture.track("NEW-1");
    fixture.track("GIFT-SET");
    let good = vec![row("NEW-1", WAREHOUSE, 8), row(TSHIRT, WAREHOUSE, 99)];
    let refused = |bad: PositionRow, check: &dyn Fn(u64, &EngineError) -> bool| {
        let mut rows = good.clone();
        rows.push(bad);
        let before = fixture.snapshot(&[]);
        match fixture.engine.bulk_load(&rows) {
            Err(EngineError::InvalidRow { row, error }) => {
                assert!(check(row, &error), "unexpected row {row}: {error:?}")
            }
            other => panic!("expected InvalidRow, got {other:?}"),
        }
        assert_eq!(fixture.snapshot(&[]), before, "a refused load changed something");
        fixture.assert_clean();
    };
    refused(row("bad sku", WAREHOUSE, 1), &|row, e| {
        row == 2 && matches!(e, EngineError::InvalidId { kind: IdKind::Sku, .. })
    });
    refused(row(MUG, "", 1), &|row, e| row == 2 && matches!(e, EngineError::InvalidId { kind: IdKind::Location, .. }));
    refused(row(MUG, "NOWHERE", 1), &|row, e| row == 2 && *e == EngineError::UnknownLocation("NOWHERE".to_owned()));
    refused(row(MUG, WAREHOUSE, MAX_QUANTITY + 1), &|row, e| {
        row == 2 && matches!(e, EngineError::OutOfRange { field: "on_hand", .. })
    });
    let mut bad_safety = row(MUG, WAREHOUSE, 1);
    bad_safety.safety_stock = MAX_QUANTITY + 1;
    refused(bad_safety, &|row, e| row == 2 && matches!(e, EngineError::OutOfRange { field: "safety_stock", .. }));
    refused(row("GIFT-SET", WAREHOUSE, 1), &|row, e| {
        row == 2 && *e == EngineError::KitNotAllowed { sku: "GIFT-SET".to_owned(), operation: "bulk loaded" }
    });
    // A repeated position names the repeat.
    refused(row("NEW-1", WAREHOUSE, 3), &|row, e| {
        row == 2
            && *e == EngineError::DuplicateLine { index: 2, sku: "NEW-1".to_owned(), location: WAREHOUSE.to_owned() }
    });
    assert!(matches!(fixture.engine.position("NEW-1", WAREHOUSE), Err(EngineError::UnknownPosition { .. })));
    assert_eq!(fixture.on_hand(TSHIRT, WAREHOUSE), 10);
}

#[test]
fn bulk_load_reports_the_repeated_row_in_a_large_load() {
    let fixture = Fixture::new();
    let mut rows: Vec<PositionRow> =
        (0..500).map(|i| row(&format!("SKU-{}", i % 50), LOCATIONS[i / 50 % 4], 1)).collect();
    rows.truncate(200); // 50 SKUs x 4 locations, each once
    rows.push(row("SKU-7", LOCATIONS[0], 2));
    let before = fixture.snapshot(&[]);
    let error = fixture.engine.bulk_load(&rows).unwrap_err();
    assert_eq!(
        error,
        EngineError::InvalidRow {
            row: 200,
            error: Box::new(EngineError::DuplicateLine {
                index: 200,
                sku: "SKU-7".to_owned(),
                location: LOCATIONS[0].to_owned()
            }),
        }
    );
    assert_eq!(fixture.snapshot(&[]), before);
    assert!(matches!(fixture.engine.position("SKU-7", LOCATIONS[0]), Err(EngineError::UnknownPosition { .. })));
}

#[test]
fn stock_writes_through_apply_match_the_direct_calls() {
    let direct = Fixture::new();
    let applied = Fixture::new();
    let s = |v: &str| v.to_owned();
    let operations = vec![
        Operation::Adjust {
            sku: s(TSHIRT),
            location: s(WAREHOUSE),
            delta: 5,
            reason: AdjustReason::Received,
            reference: s("ASN-1"),
        },
        Operation::SetOnHand { sku: s(MUG), location: s(WAREHOUSE), on_hand: 12, expected_version: Some(1) },
        Operation::SetSafetyStock { sku: s(MUG), location: s(WAREHOUSE), safety_stock: 2 },
        Operation::SetBackorderLimit { sku: s(CAP), location: s(WAREHOUSE), limit: 3 },
        Operation::MoveStock {
            sku: s(MUG),
            location: s(WAREHOUSE),
            from: Bucket::Sellable,
            to: Bucket::Damaged,
            quantity: 1,
        },
        Operation::AddIncoming {
            sku: s(CAP),
            location: s(STORE),
            reference: s("PO-1"),
            quantity: 6,
            expected_at: at(9),
        },
        Operation::ReceiveIncoming { sku: s(CAP), location: s(STORE), reference: s("PO-1"), quantity: 2 },
        Operation::CancelIncoming { sku: s(CAP), location: s(STORE), reference: s("PO-1") },
        Operation::BulkLoad(vec![row(TSHIRT, OTHER_STORE, 4)]),
    ];
    for operation in &operations {
        let outcome = applied.engine.apply(operation, at(0)).unwrap();
        match operation {
            Operation::BulkLoad(_) => {
                assert!(matches!(outcome, Outcome::BulkLoad(BulkLoadOutcome { inserted: 1, .. })))
            }
            _ => assert!(matches!(outcome, Outcome::Position(_))),
        }
    }
    direct.engine.adjust(TSHIRT, WAREHOUSE, 5, AdjustReason::Received, "ASN-1").unwrap();
    direct.engine.set_on_hand(MUG, WAREHOUSE, 12, Some(1)).unwrap();
    direct.engine.set_safety_stock(MUG, WAREHOUSE, 2).unwrap();
    direct.engine.set_backorder_limit(CAP, WAREHOUSE, 3).unwrap();
    direct.engine.move_stock(MUG, WAREHOUSE, Bucket::Sellable, Bucket::Damaged, 1).unwrap();
    direct.engine.add_incoming(CAP, STORE, "PO-1", 6, at(9)).unwrap();
    direct.engine.receive_incoming(CAP, STORE, "PO-1", 2).unwrap();
    direct.engine.cancel_incoming(CAP, STORE, "PO-1").unwrap();
    direct.engine.bulk_load(&[row(TSHIRT, OTHER_STORE, 4)]).unwrap();
    assert_eq!(applied.snapshot(&[]), direct.snapshot(&[]));
    assert_eq!(applied.view(CAP, STORE).on_hand, 2);
    // A refused operation is refused the same way through apply.
    let stale = Operation::SetOnHand { sku: s(MUG), location: s(WAREHOUSE), on_hand: 1, expected_version: Some(1) };
    assert!(matches!(applied.engine.apply(&stale, at(0)), Err(EngineError::VersionMismatch { expected: 1, .. })));
    applied.assert_clean();
}
