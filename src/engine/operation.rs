//! Operations as data: the closed set of state changes that the protocol decodes
//! into, the engine applies, the log records, replay re-applies and the property
//! tests generate. Reads are not operations: they change nothing.

use super::bulk::BulkLoadOutcome;
use super::lifecycle::{ExpiryReport, PartialStep};
use super::reservations::Reservation;
use super::reserve::{ReserveOutcome, ReserveRequest};
use super::returns::RestockRequest;
use super::{Engine, EngineError};
use crate::model::{Bucket, ChannelSpec, LocationId, LocationSpec, PositionRow, PositionView, Timestamp};

pub use super::stock_ops::AdjustReason;

#[derive(Clone, Debug, PartialEq)]
pub enum Operation {
    UpsertLocations(Vec<LocationSpec>),
    UpsertChannel(ChannelSpec),
    DefineKit { kit: String, components: Vec<(String, u32)> },
    Reserve(ReserveRequest),
    Commit { id: String },
    Release { id: String, partial: Option<PartialStep> },
    Fulfil { id: String, partial: Option<PartialStep> },
    Extend { id: String, ttl_ms: u64 },
    ExpireDue,
    Adjust { sku: String, location: String, delta: i64, reason: AdjustReason, reference: String },
    SetOnHand { sku: String, location: String, on_hand: u32, expected_version: Option<u64> },
    SetSafetyStock { sku: String, location: String, safety_stock: u32 },
    SetBackorderLimit { sku: String, location: String, limit: u32 },
    MoveStock { sku: String, location: String, from: Bucket, to: Bucket, quantity: u32 },
    AddIncoming { sku: String, location: String, reference: String, quantity: u32, expected_at: Timestamp },
    ReceiveIncoming { sku: String, location: String, reference: String, quantity: u32 },
    CancelIncoming { sku: String, location: String, reference: String },
    Restock(RestockRequest),
    BulkLoad(Vec<PositionRow>),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Locations(Vec<LocationId>),
    Done,
    Reserved(ReserveOutcome),
    Reservation(Box<Reservation>),
    Expiry(ExpiryReport),
    Position(PositionView),
    BulkLoad(BulkLoadOutcome),
}

impl Engine {
    /// Applies one operation at time `now`. The same operations applied in the same
    /// order at the same times give the same state and the same outcomes.
    pub fn apply(&self, operation: &Operation, now: Timestamp) -> Result<Outcome, EngineError> {
        use Operation as Op;
        let reservation = |r: Result<Reservation, EngineError>| r.map(|r| Outcome::Reservation(Box::new(r)));
        match operation {
            Op::UpsertLocations(specs) => self.upsert_locations(specs).map(Outcome::Locations),
            Op::UpsertChannel(spec) => self.upsert_channel(spec).map(|()| Outcome::Done),
            Op::DefineKit { kit, components } => self.define_kit(kit, components).map(|()| Outcome::Done),
            Op::Reserve(request) => self.reserve(request, now).map(Outcome::Reserved),
            Op::Commit { id } => reservation(self.commit(id, now)),
            Op::Release { id, partial } => reservation(self.release(id, partial.as_ref(), now)),
            Op::Fulfil { id, partial } => reservation(self.fulfil(id, partial.as_ref(), now)),
            Op::Extend { id, ttl_ms } => reservation(self.extend(id, *ttl_ms, now)),
            Op::ExpireDue => Ok(Outcome::Expiry(self.expire_due(now))),
            Op::Adjust { sku, location, delta, reason, reference } => {
                self.adjust(sku, location, *delta, *reason, reference).map(Outcome::Position)
            }
            Op::SetOnHand { sku, location, on_hand, expected_version } => {
                self.set_on_hand(sku, location, *on_hand, *expected_version).map(Outcome::Position)
            }
            Op::SetSafetyStock { sku, location, safety_stock } => {
                self.set_safety_stock(sku, location, *safety_stock).map(Outcome::Position)
            }
            Op::SetBackorderLimit { sku, location, limit } => {
                self.set_backorder_limit(sku, location, *limit).map(Outcome::Position)
            }
            Op::MoveStock { sku, location, from, to, quantity } => {
                self.move_stock(sku, location, *from, *to, *quantity).map(Outcome::Position)
            }
            Op::AddIncoming { sku, location, reference, quantity, expected_at } => {
                self.add_incoming(sku, location, reference, *quantity, *expected_at).map(Outcome::Position)
            }
            Op::ReceiveIncoming { sku, location, reference, quantity } => {
                self.receive_incoming(sku, location, reference, *quantity).map(Outcome::Position)
            }
            Op::CancelIncoming { sku, location, reference } => {
                self.cancel_incoming(sku, location, reference).map(Outcome::Position)
            }
            Op::Restock(request) => self.restock(request).map(Outcome::Position),
            Op::BulkLoad(rows) => self.bulk_load(rows).map(Outcome::BulkLoad),
        }
    }
}
