//! `restock`: units of a fulfilled reservation coming back (a customer return),
//! to the location they left or another one, sellable or not.

use super::catalogue_ops::check_range;
use super::journal::{Cause, PositionImage, ReservationImage};
use super::lifecycle::LineQuantity;
use super::reservations::Reservation;
use super::stock_ops::bucket_name;
use super::{Engine, EngineError, Operation};
use crate::limits::{MAX_QUANTITY, MAX_STEPS_PER_RESERVATION};
use crate::model::{validate_id, Bucket, IdKind, PositionView, SkuId, Timestamp};

/// A return of units fulfilled on a reservation.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RestockRequest {
    /// The reservation the units were fulfilled on (kept for reporting, and to
    /// refuse returning more than was shipped).
    pub reservation_id: String,
    /// A client id for this return, so that a retry applies once.
    pub step_id: String,
    /// The SKU and quantity, and where the units go back to (any location).
    pub line: LineQuantity,
    /// `Sellable` puts the units back on sale; the others hold them apart.
    pub bucket: Bucket,
}

impl Engine {
    pub fn restock(&self, request: &RestockRequest) -> Result<PositionView, EngineError> {
        self.logged(|| Operation::Restock(request.clone()), |op| self.restock_as(request, Timestamp(0), op))
    }

    pub(super) fn restock_as(
        &self,
        request: &RestockRequest,
        at: Timestamp,
        operation: Option<&Operation>,
    ) -> Result<PositionView, EngineError> {
        validate_id(IdKind::Reservation, &request.reservation_id)?;
        validate_id(IdKind::Step, &request.step_id)?;
        validate_id(IdKind::Sku, &request.line.sku)?;
        let quantity = request.line.quantity;
        check_range("quantity", i64::from(quantity), 1, i64::from(MAX_QUANTITY))?;
        let catalogue = self.catalogue.load();
        let location = self.location_id(&catalogue, &request.line.location)?;
        let mut shard = self.reservations.lock_for(&request.reservation_id);
        let Some(reservation) = shard.by_id.get_mut(request.reservation_id.as_str()) else {
            return Err(EngineError::UnknownReservation(request.reservation_id.clone()));
        };
        // A SKU no write ever named cannot be on the reservation: nothing to return.
        let sku = self.skus.get(&request.line.sku).unwrap_or(SkuId(u32::MAX));
        if catalogue.kit(sku).is_some() {
            return Err(EngineError::KitNotAllowed { sku: request.line.sku.clone(), operation: "restocked" });
        }
        if reservation.applied_steps.iter().any(|s| **s == *request.step_id) {
            // A retry answers the position the step restocked. None there (the step id
            // was used by another call): say so, rather than a view of a made-up SKU id.
            let stock = self.stock.read(sku);
            let unknown = || EngineError::UnknownPosition {
                sku: request.line.sku.clone(),
                location: request.line.location.clone(),
            };
            return stock.get(sku, location).map(|position| position.view(sku, location)).ok_or_else(unknown);
        }
        if reservation.applied_steps.len() >= MAX_STEPS_PER_RESERVATION {
            return Err(EngineError::TooMany {
                what: "partial steps on one reservation",
                count: reservation.applied_steps.len() + 1,
                limit: MAX_STEPS_PER_RESERVATION,
            });
        }
        let returnable: u32 = reservation.lines.iter().filter(|l| l.sku == sku).map(|l| l.fulfilled - l.returned).sum();
        if quantity > returnable {
            return Err(EngineError::ReturnExceedsFulfilled {
                id: request.reservation_id.clone(),
                sku: request.line.sku.clone(),
                returnable,
                requested: quantity,
            });
        }
        let mut stock = self.stock.write(sku);
        let current = stock.get(sku, location).map_or(0, |p| p.bucket(request.bucket));
        let after = i64::from(current) + i64::from(quantity);
        if after > i64::from(MAX_QUANTITY) {
            return Err(EngineError::OutOfRange {
                field: bucket_name(request.bucket),
                value: after,
                min: 0,
                max: i64::from(MAX_QUANTITY),
            });
        }
        let position = stock.get_or_insert(sku, location);
        *position.bucket_mut(request.bucket) = after as u32;
        position.version += 1;
        let view = position.view(sku, location);
        mark_returned(reservation, sku, quantity);
        reservation.applied_steps.push(request.step_id.as_str().into());
        if let Some(operation) = operation {
            let position = stock.get(sku, location).expect("stored above");
            let images = || vec![PositionImage { sku, location, position }];
            self.record_change(at, Cause::Operation(operation), images, Some(ReservationImage::Present(reservation)));
        }
        drop(stock);
        Ok(view)
    }
}

/// Counts returned units against the reservation's fulfilled lines of that SKU.
fn mark_returned(reservation: &mut Reservation, sku: crate::model::SkuId, mut quantity: u32) {
    for line in reservation.lines.iter_mut().filter(|l| l.sku == sku) {
        let take = quantity.min(line.fulfilled - line.returned);
        line.returned += take;
        quantity -= take;
    }
    assert_eq!(quantity, 0, "returnable was checked before");
}
