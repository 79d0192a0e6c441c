//! Comparing the engine with the model: the engine's answers in the model's
//! vocabulary (names, not interned ids), errors without their message text, and
//! every read of a state.

use super::{BulkLoaded, Model, PositionSnapshot, Reservation, Reserved, ReservedLine, Supply};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use std::collections::{BTreeMap, BTreeSet};
use stockd::engine::{Availability, AvailabilityScope, ReservationState};
use stockd::model::{PositionRow, PositionView};
use stockd::{Engine, EngineError, Operation, Outcome, Timestamp};

/// The names `compare_state` reads every combination of.
pub struct Universe {
    /// SKUs and kits, known or not.
    pub skus: Vec<String>,
    pub locations: Vec<String>,
    /// The channel whose availability is compared.
    pub channel: String,
}

fn sku_name(engine: &Engine, sku: stockd::model::SkuId) -> String {
    engine.sku_name(sku).to_string()
}

fn location_name(engine: &Engine, location: stockd::model::LocationId) -> String {
    engine.location_name(location).map_or_else(|| format!("#{}", location.0), |n| n.to_string())
}

pub fn view_snapshot(engine: &Engine, view: &PositionView) -> PositionSnapshot {
    PositionSnapshot {
        sku: sku_name(engine, view.sku),
        location: location_name(engine, view.location),
        on_hand: view.on_hand.into(),
        reserved: view.reserved.into(),
        safety_stock: view.safety_stock.into(),
        damaged: view.damaged.into(),
        quality_control: view.quality_control.into(),
        backorder_limit: view.backorder_limit.into(),
        available_to_sell: view.available_to_sell.into(),
        incoming: view
            .incoming
            .iter()
            .map(|s| Supply {
                reference: s.reference.to_string(),
                quantity: s.quantity.into(),
                expected_at: s.expected_at.millis(),
            })
            .collect(),
        version: view.version,
    }
}

pub fn reservation_snapshot(engine: &Engine, r: &stockd::engine::Reservation) -> Reservation {
    Reservation {
        id: r.id.to_string(),
        state: r.state,
        created_at: r.created_at.millis(),
        expires_at: r.expires_at.map(Timestamp::millis),
        first_expires_at: r.first_expires_at.millis(),
        promise_by: r.promise_by.map(Timestamp::millis),
        requested: r
            .requested
            .iter()
            .map(|l| (sku_name(engine, l.sku), location_name(engine, l.location), l.quantity.into()))
            .collect(),
        lines: r
            .lines
            .iter()
            .map(|l| super::Line {
                sku: sku_name(engine, l.sku),
                location: location_name(engine, l.location),
                kind: l.kind,
                quantity: l.quantity.into(),
                held: l.held.into(),
                fulfilled: l.fulfilled.into(),
                released: l.released.into(),
                returned: l.returned.into(),
            })
            .collect(),
        forget_at: r.forget_at.map(Timestamp::millis),
        applied_steps: r.applied_steps.iter().map(|s| s.to_string()).collect(),
    }
}

pub fn outcome_snapshot(engine: &Engine, outcome: &Outcome) -> super::Outcome {
    use super::Outcome as M;
    match outcome {
        Outcome::Locations(ids) => M::Locations(ids.iter().map(|l| l.0).collect()),
        Outcome::Done => M::Done,
        Outcome::Reserved(r) => M::Reserved(Reserved {
            id: r.id.to_string(),
            lines: r
                .lines
                .iter()
                .map(|l| ReservedLine {
                    sku: sku_name(engine, l.sku),
                    location: location_name(engine, l.location),
                    quantity: l.quantity.into(),
                    kind: l.kind,
                })
                .collect(),
            expires_at: r.expires_at.millis(),
            replayed: r.replayed,
            state: r.state,
        }),
        Outcome::Reservation(r) => M::Reservation(reservation_snapshot(engine, r)),
        Outcome::Expiry(report) => {
            assert!(!report.more_due, "a sweep with a large budget finishes");
            M::Expiry { expired: report.expired, forgotten: report.forgotten }
        }
        Outcome::Position(view) => M::Position(view_snapshot(engine, view)),
        Outcome::BulkLoad(b) => {
            let mut rejections: Vec<(u64, EngineError)> =
                b.rejections.iter().map(|r| (r.row, r.error.clone())).collect();
            rejections.sort_by_key(|(row, _)| *row);
            M::BulkLoad(BulkLoaded {
                inserted: b.inserted,
                updated: b.updated,
                unchanged: b.unchanged,
                rejected: b.rejected,
                rejections,
            })
        }
        // The model generates no sourced reserve (tests/sourcing.rs covers them).
        Outcome::Sourced(_) => unreachable!("the model generates no sourced reserve"),
    }
}

/// Drops the parts of an error that are message text rather than meaning.
pub fn normalise(error: &EngineError) -> EngineError {
    use EngineError as E;
    match error.clone() {
        E::InvalidId { kind, id, .. } => E::InvalidId { kind, id, reason: "" },
        E::OutOfRange { value, min, max, .. } => E::OutOfRange { field: "", value, min, max },
        E::TooMany { count, limit, .. } => E::TooMany { what: "", count, limit },
        E::InsufficientStock(mut lines) => {
            lines.sort_by(|a, b| (&a.sku, &a.location).cmp(&(&b.sku, &b.location)));
            E::InsufficientStock(lines)
        }
        E::InvalidState { id, state, operation, .. } => E::InvalidState { id, state, operation, expected: "" },
        E::KitNotAllowed { sku, .. } => E::KitNotAllowed { sku, operation: "" },
        E::InvalidRow { row, error } => E::InvalidRow { row, error: Box::new(normalise(&error)) },
        other => other,
    }
}

/// A bulk load with a repeated position may name any row of it.
pub fn is_repeated_row(operation: &Operation, error: &EngineError) -> bool {
    let (Operation::BulkLoad(rows), EngineError::InvalidRow { row, error }) = (operation, error) else { return false };
    let EngineError::DuplicateLine { sku, location, .. } = error.as_ref() else { return false };
    let at_position = |r: &&PositionRow| r.sku == *sku && r.location == *location;
    rows.iter().filter(at_position).count() > 1 && rows.get(*row as usize).is_some_and(|r| at_position(&r))
}

pub fn compare_outcomes(
    engine: &Engine,
    operation: &Operation,
    actual: &Result<Outcome, EngineError>,
    expected: &Result<super::Outcome, EngineError>,
) -> Result<(), TestCaseError> {
    match (actual, expected) {
        (Ok(actual), Ok(expected)) => prop_assert_eq!(&outcome_snapshot(engine, actual), expected),
        (Err(actual), Err(expected)) if is_repeated_row(operation, expected) => {
            prop_assert!(is_repeated_row(operation, actual), "engine {:?}, model {:?}", actual, expected)
        }
        (Err(actual), Err(expected)) => prop_assert_eq!(normalise(actual), normalise(expected)),
        (actual, expected) => prop_assert!(false, "engine {:?}, model {:?}", actual, expected),
    }
    Ok(())
}

/// Every read agrees, and the engine finds nothing wrong with itself.
pub fn compare_state(
    engine: &Engine,
    model: &Model,
    universe: &Universe,
    seen: &BTreeSet<String>,
    promise_at: u64,
) -> Result<(), TestCaseError> {
    for sku in &universe.skus {
        for location in &universe.locations {
            match (engine.position(sku, location), model.position(sku, location)) {
                (Ok(view), Some(expected)) => prop_assert_eq!(view_snapshot(engine, &view), expected),
                (Err(EngineError::UnknownPosition { .. }), None) => {}
                (actual, expected) => {
                    prop_assert!(false, "{sku}@{location}: engine {:?}, model {:?}", actual, expected)
                }
            }
        }
    }
    let mut scopes: Vec<AvailabilityScope> =
        universe.locations.iter().map(|l| AvailabilityScope::Location(l.clone())).collect();
    scopes.push(AvailabilityScope::Channel(universe.channel.clone()));
    let skus = &universe.skus;
    for measure in [Availability::ToSell, Availability::ToPromise(Timestamp(promise_at))] {
        for scope in &scopes {
            let expected: Vec<u64> =
                skus.iter().map(|sku| model.availability(sku, scope, measure).expect("valid")).collect();
            prop_assert_eq!(engine.availability_batch(skus, scope, measure).expect("valid"), expected.clone());
            for (sku, expected) in skus.iter().zip(expected) {
                prop_assert_eq!(
                    engine.availability(sku, scope, measure).expect("valid"),
                    expected,
                    "{} in {:?}",
                    sku,
                    scope
                );
            }
        }
    }
    for sku in skus.iter().filter(|sku| !model.is_kit(sku)) {
        let actual = engine.channel_availability(sku, &universe.channel, true).expect("valid");
        let breakdown = actual.locations.iter().map(|l| (location_name(engine, l.location), l.available)).collect();
        prop_assert_eq!(
            (actual.available, actual.summed, breakdown),
            model.channel_breakdown(sku, &universe.channel).expect("valid")
        );
    }
    let mut states: BTreeMap<String, u64> = BTreeMap::new();
    for id in seen.iter().chain(&model.reservation_ids()) {
        match (engine.reservation(id), model.reservation(id)) {
            (Ok(actual), Some(expected)) => prop_assert_eq!(&reservation_snapshot(engine, &actual), expected),
            (Err(EngineError::UnknownReservation(_)), None) => {}
            (actual, expected) => prop_assert!(false, "reservation {id}: engine {:?}, model {:?}", actual, expected),
        }
    }
    for id in model.reservation_ids() {
        *states.entry(format!("{:?}", model.reservation(&id).expect("listed").state)).or_default() += 1;
    }
    let stats = engine.stats();
    let count = |state: ReservationState| states.get(&format!("{state:?}")).copied().unwrap_or(0);
    prop_assert_eq!(stats.reservations_remembered, model.reservation_ids().len() as u64);
    prop_assert_eq!(stats.reservations_held, count(ReservationState::Held));
    prop_assert_eq!(stats.reservations_committed, count(ReservationState::Committed));
    prop_assert_eq!(stats.reservations_fulfilled, count(ReservationState::Fulfilled));
    prop_assert_eq!(stats.reservations_released, count(ReservationState::Released));
    prop_assert_eq!(stats.reservations_expired, count(ReservationState::Expired));
    let report = engine.verify();
    prop_assert!(report.is_clean(), "verify: {:?}", report.findings);
    Ok(())
}
