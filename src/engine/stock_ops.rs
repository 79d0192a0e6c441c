//! Writes to one position that do not go through a reservation: adjustments,
//! counts, safety stock, backorder limits, bucket moves and incoming supply.
//!
//! Each one works on a copy of the position, checks the no-oversell invariant on
//! the result, and only then stores it: a refused write changes nothing, and does
//! not even create an empty position.

use super::catalogue_ops::check_range;
use super::journal::{Cause, PositionImage};
use super::{Engine, EngineError, Operation};
use crate::limits::{MAX_INCOMING_PER_POSITION, MAX_QUANTITY};
use crate::model::{
    validate_id, validate_reference, Bucket, IdKind, IncomingSupply, Position, PositionView, Timestamp,
};

/// Why stock was adjusted; recorded with the adjustment for the audit trail.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum AdjustReason {
    Received,
    Damaged,
    Lost,
    Found,
    Correction,
    Other,
}

/// The names a position write is about, for error messages.
struct Names<'a> {
    sku: &'a str,
    location: &'a str,
}

impl Names<'_> {
    fn short(&self, bucket: &'static str, available: u32, requested: u32) -> EngineError {
        EngineError::InsufficientUnits {
            sku: self.sku.to_owned(),
            location: self.location.to_owned(),
            bucket,
            available,
            requested,
        }
    }

    fn supply(&self, reference: &str) -> EngineError {
        EngineError::UnknownSupply {
            sku: self.sku.to_owned(),
            location: self.location.to_owned(),
            reference: reference.to_owned(),
        }
    }
}

impl Engine {
    /// Adds `delta` units (negative: removes them) to on hand. The reason and the
    /// reference are not kept on the position: they travel with the operation into
    /// the log, which is the audit trail.
    pub fn adjust(
        &self,
        sku: &str,
        location: &str,
        delta: i64,
        reason: AdjustReason,
        reference: &str,
    ) -> Result<PositionView, EngineError> {
        let (sku, location, reference) = (sku.to_owned(), location.to_owned(), reference.to_owned());
        self.write_position(&Operation::Adjust { sku, location, delta, reason, reference }, Timestamp(0))
    }

    /// Sets on hand to a counted value. With `expected_version`, refuses if the
    /// position changed since the count was taken (a position never written has
    /// version 0).
    pub fn set_on_hand(
        &self,
        sku: &str,
        location: &str,
        on_hand: u32,
        expected_version: Option<u64>,
    ) -> Result<PositionView, EngineError> {
        let (sku, location) = (sku.to_owned(), location.to_owned());
        self.write_position(&Operation::SetOnHand { sku, location, on_hand, expected_version }, Timestamp(0))
    }

    pub fn set_safety_stock(&self, sku: &str, location: &str, safety_stock: u32) -> Result<PositionView, EngineError> {
        let (sku, location) = (sku.to_owned(), location.to_owned());
        self.write_position(&Operation::SetSafetyStock { sku, location, safety_stock }, Timestamp(0))
    }

    /// Allows up to `limit` units to be reserved beyond stock and supply (0: none).
    pub fn set_backorder_limit(&self, sku: &str, location: &str, limit: u32) -> Result<PositionView, EngineError> {
        let (sku, location) = (sku.to_owned(), location.to_owned());
        self.write_position(&Operation::SetBackorderLimit { sku, location, limit }, Timestamp(0))
    }

    /// Moves units between buckets (e.g. sellable to damaged after an inspection).
    pub fn move_stock(
        &self,
        sku: &str,
        location: &str,
        from: Bucket,
        to: Bucket,
        quantity: u32,
    ) -> Result<PositionView, EngineError> {
        let (sku, location) = (sku.to_owned(), location.to_owned());
        self.write_position(&Operation::MoveStock { sku, location, from, to, quantity }, Timestamp(0))
    }

    /// Records supply on its way (a purchase order or transfer line).
    pub fn add_incoming(
        &self,
        sku: &str,
        location: &str,
        reference: &str,
        quantity: u32,
        expected_at: Timestamp,
    ) -> Result<PositionView, EngineError> {
        let (sku, location, reference) = (sku.to_owned(), location.to_owned(), reference.to_owned());
        self.write_position(&Operation::AddIncoming { sku, location, reference, quantity, expected_at }, Timestamp(0))
    }

    /// Receives units of incoming supply into on hand (all of it, or part).
    pub fn receive_incoming(
        &self,
        sku: &str,
        location: &str,
        reference: &str,
        quantity: u32,
    ) -> Result<PositionView, EngineError> {
        let (sku, location, reference) = (sku.to_owned(), location.to_owned(), reference.to_owned());
        self.write_position(&Operation::ReceiveIncoming { sku, location, reference, quantity }, Timestamp(0))
    }

    /// Cancels what is left of an incoming supply line. Refused while pre-orders
    /// count on it (the invariant check).
    pub fn cancel_incoming(&self, sku: &str, location: &str, reference: &str) -> Result<PositionView, EngineError> {
        let (sku, location, reference) = (sku.to_owned(), location.to_owned(), reference.to_owned());
        self.write_position(&Operation::CancelIncoming { sku, location, reference }, Timestamp(0))
    }

    /// Applies one of the single-position writes above, at time `at` (recorded in
    /// the journal for the audit trail).
    pub(super) fn write_position(&self, operation: &Operation, at: Timestamp) -> Result<PositionView, EngineError> {
        let max = i64::from(MAX_QUANTITY);
        let write =
            |sku: &str, location: &str, verb, change| self.update_position(sku, location, verb, at, operation, change);
        match operation {
            Operation::Adjust { sku, location, delta, reference, .. } => {
                validate_reference(reference)?;
                check_range("delta magnitude", delta.saturating_abs(), 1, max)?;
                let delta = *delta;
                write(
                    sku,
                    location,
                    "adjusted",
                    Box::new(move |position: &mut Position, names: &Names| {
                        let after = i64::from(position.on_hand) + delta;
                        if after < 0 {
                            return Err(names.short("on hand", position.on_hand, delta.unsigned_abs() as u32));
                        }
                        check_range("on_hand", after, 0, max)?;
                        position.on_hand = after as u32;
                        Ok(())
                    }),
                )
            }
            Operation::SetOnHand { sku, location, on_hand, expected_version } => {
                check_range("on_hand", i64::from(*on_hand), 0, max)?;
                let (on_hand, expected_version) = (*on_hand, *expected_version);
                write(
                    sku,
                    location,
                    "counted",
                    Box::new(move |position: &mut Position, names: &Names| {
                        if let Some(expected) = expected_version.filter(|expected| *expected != position.version) {
                            return Err(EngineError::VersionMismatch {
                                sku: names.sku.to_owned(),
                                location: names.location.to_owned(),
                                expected,
                                actual: position.version,
                            });
                        }
                        position.on_hand = on_hand;
                        Ok(())
                    }),
                )
            }
            Operation::SetSafetyStock { sku, location, safety_stock } => {
                check_range("safety_stock", i64::from(*safety_stock), 0, max)?;
                let safety_stock = *safety_stock;
                write(
                    sku,
                    location,
                    "given safety stock",
                    Box::new(move |position: &mut Position, _: &Names| {
                        position.safety_stock = safety_stock;
                        Ok(())
                    }),
                )
            }
            Operation::SetBackorderLimit { sku, location, limit } => {
                check_range("backorder_limit", i64::from(*limit), 0, max)?;
                let limit = *limit;
                write(
                    sku,
                    location,
                    "given a backorder limit",
                    Box::new(move |position: &mut Position, _: &Names| {
                        position.backorder_limit = limit;
                        Ok(())
                    }),
                )
            }
            Operation::MoveStock { sku, location, from, to, quantity } => {
                check_range("quantity", i64::from(*quantity), 1, max)?;
                if from == to {
                    return Err(EngineError::OutOfRange {
                        field: "buckets (from equals to)",
                        value: 0,
                        min: 1,
                        max: 1,
                    });
                }
                let (from, to, quantity) = (*from, *to, *quantity);
                write(
                    sku,
                    location,
                    "moved between buckets",
                    Box::new(move |position: &mut Position, names: &Names| {
                        let available = position.bucket(from);
                        if available < quantity {
                            return Err(names.short(bucket_name(from), available, quantity));
                        }
                        let target = i64::from(position.bucket(to)) + i64::from(quantity);
                        check_range("bucket quantity", target, 0, max)?;
                        *position.bucket_mut(from) -= quantity;
                        *position.bucket_mut(to) = target as u32;
                        Ok(())
                    }),
                )
            }
            Operation::AddIncoming { sku, location, reference, quantity, expected_at } => {
                validate_id(IdKind::SupplyReference, reference)?;
                check_range("quantity", i64::from(*quantity), 1, max)?;
                let (quantity, expected_at) = (*quantity, *expected_at);
                write(
                    sku,
                    location,
                    "given incoming supply",
                    Box::new(move |position: &mut Position, names: &Names| {
                        add_supply(position, reference, quantity, expected_at, names)
                    }),
                )
            }
            Operation::ReceiveIncoming { sku, location, reference, quantity } => {
                validate_id(IdKind::SupplyReference, reference)?;
                check_range("quantity", i64::from(*quantity), 1, max)?;
                let quantity = *quantity;
                write(
                    sku,
                    location,
                    "received",
                    Box::new(move |position: &mut Position, names: &Names| {
                        let line = take_supply(position, reference, names)?;
                        if line.quantity < quantity {
                            return Err(names.short("incoming", line.quantity, quantity));
                        }
                        line.quantity -= quantity;
                        let on_hand = i64::from(position.on_hand) + i64::from(quantity);
                        check_range("on_hand", on_hand, 0, max)?;
                        position.on_hand = on_hand as u32;
                        drop_empty_supply(position);
                        Ok(())
                    }),
                )
            }
            Operation::CancelIncoming { sku, location, reference } => {
                validate_id(IdKind::SupplyReference, reference)?;
                write(
                    sku,
                    location,
                    "given a cancelled supply",
                    Box::new(move |position: &mut Position, names: &Names| {
                        take_supply(position, reference, names)?.quantity = 0;
                        drop_empty_supply(position);
                        Ok(())
                    }),
                )
            }
            other => unreachable!("write_position is only called with position writes, not {other:?}"),
        }
    }

    /// Applies `change` to a copy of the position and stores it only if the change
    /// succeeds and the result keeps the no-oversell invariant; then records it.
    fn update_position(
        &self,
        sku: &str,
        location: &str,
        verb: &'static str,
        at: Timestamp,
        operation: &Operation,
        change: PositionChange<'_>,
    ) -> Result<PositionView, EngineError> {
        let catalogue = self.catalogue.load();
        validate_id(IdKind::Sku, sku)?;
        let location_id = self.location_id(&catalogue, location)?;
        let names = Names { sku, location };
        if self.skus.get(sku).is_none() {
            // A SKU no write ever named: try the change on an empty position first,
            // so that a refused write does not even intern the name.
            let mut trial = Position::default();
            change(&mut trial, &names)?;
            check_invariant(&trial, &names)?;
        }
        let sku_id = self.sku_for_write(&catalogue, sku, verb)?;
        let mut shard = self.stock.write(sku_id);
        let mut next = shard.get(sku_id, location_id).cloned().unwrap_or_default();
        change(&mut next, &names)?;
        check_invariant(&next, &names)?;
        next.version += 1;
        let view = next.view(sku_id, location_id);
        let stored = shard.get_or_insert(sku_id, location_id);
        *stored = next;
        let image = || vec![PositionImage { sku: sku_id, location: location_id, position: stored }];
        self.record_change(at, Cause::Operation(operation), image, None);
        Ok(view)
    }
}

/// A change to one position, checked before it is stored.
type PositionChange<'a> = Box<dyn Fn(&mut Position, &Names) -> Result<(), EngineError> + 'a>;

/// Refuses a position that would break the no-oversell invariant.
fn check_invariant(position: &Position, names: &Names) -> Result<(), EngineError> {
    if position.is_consistent() {
        return Ok(());
    }
    Err(EngineError::BelowReserved {
        sku: names.sku.to_owned(),
        location: names.location.to_owned(),
        reserved: position.reserved,
        ceiling: position.reservable_ceiling(),
    })
}

fn add_supply(
    position: &mut Position,
    reference: &str,
    quantity: u32,
    expected_at: Timestamp,
    names: &Names,
) -> Result<(), EngineError> {
    let lines = position.incoming.get_or_insert_with(Default::default);
    if lines.iter().any(|s| *s.reference == *reference) {
        return Err(EngineError::DuplicateSupply {
            sku: names.sku.to_owned(),
            location: names.location.to_owned(),
            reference: reference.to_owned(),
        });
    }
    if lines.len() >= MAX_INCOMING_PER_POSITION {
        return Err(EngineError::TooMany {
            what: "incoming supply lines",
            count: lines.len() + 1,
            limit: MAX_INCOMING_PER_POSITION,
        });
    }
    lines.push(IncomingSupply { reference: reference.into(), quantity, expected_at });
    lines.sort_by(|a, b| (a.expected_at, &a.reference).cmp(&(b.expected_at, &b.reference)));
    check_range("incoming total", position.incoming_total(), 0, i64::from(MAX_QUANTITY))?;
    Ok(())
}

fn take_supply<'p>(
    position: &'p mut Position,
    reference: &str,
    names: &Names,
) -> Result<&'p mut IncomingSupply, EngineError> {
    position
        .incoming
        .as_mut()
        .and_then(|lines| lines.iter_mut().find(|s| *s.reference == *reference))
        .ok_or_else(|| names.supply(reference))
}

fn drop_empty_supply(position: &mut Position) {
    if let Some(lines) = position.incoming.as_mut() {
        lines.retain(|s| s.quantity > 0);
        if lines.is_empty() {
            position.incoming = None;
        }
    }
}

pub(super) fn bucket_name(bucket: Bucket) -> &'static str {
    match bucket {
        Bucket::Sellable => "on hand",
        Bucket::Damaged => "damaged",
        Bucket::QualityControl => "quality control",
    }
}
