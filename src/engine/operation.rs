//! Operations as data: the closed set of state changes that the protocol decodes
//! into, the engine applies, the log records, replay re-applies and the property
//! tests generate. Reads are not operations: they change nothing.

use super::bulk::BulkLoadOutcome;
use super::lifecycle::{ExpiryReport, LineAction, PartialStep};
use super::reservations::Reservation;
use super::reserve::{ReserveOutcome, ReserveRequest};
use super::returns::RestockRequest;
use super::sourcing::{SourcedOutcome, SourcedReserveRequest};
use super::{Engine, EngineError};
use crate::model::{Bucket, ChannelSpec, LocationId, LocationSpec, PositionRow, PositionView, Timestamp};

pub use super::stock_ops::AdjustReason;

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Operation {
    UpsertLocations(Vec<LocationSpec>),
    UpsertChannel(ChannelSpec),
    DefineKit {
        kit: String,
        components: Vec<(String, u32)>,
    },
    Reserve(ReserveRequest),
    Commit {
        id: String,
    },
    Release {
        id: String,
        partial: Option<PartialStep>,
    },
    Fulfil {
        id: String,
        partial: Option<PartialStep>,
    },
    Extend {
        id: String,
        ttl_ms: u64,
    },
    ExpireDue,
    Adjust {
        sku: String,
        location: String,
        delta: i64,
        reason: AdjustReason,
        reference: String,
    },
    SetOnHand {
        sku: String,
        location: String,
        on_hand: u32,
        expected_version: Option<u64>,
    },
    SetSafetyStock {
        sku: String,
        location: String,
        safety_stock: u32,
    },
    SetBackorderLimit {
        sku: String,
        location: String,
        limit: u32,
    },
    MoveStock {
        sku: String,
        location: String,
        from: Bucket,
        to: Bucket,
        quantity: u32,
    },
    AddIncoming {
        sku: String,
        location: String,
        reference: String,
        quantity: u32,
        expected_at: Timestamp,
    },
    ReceiveIncoming {
        sku: String,
        location: String,
        reference: String,
        quantity: u32,
    },
    CancelIncoming {
        sku: String,
        location: String,
        reference: String,
    },
    Restock(RestockRequest),
    BulkLoad(Vec<PositionRow>),
    /// Appended last: the log encodes operations by variant index.
    ReserveSourced(SourcedReserveRequest),
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
    Sourced(SourcedOutcome),
}

impl Engine {
    /// Applies one operation at time `now`. The same operations applied in the same
    /// order at the same times give the same state and the same outcomes.
    pub fn apply(&self, operation: &Operation, now: Timestamp) -> Result<Outcome, EngineError> {
        use Operation as Op;
        let reservation = |r: Result<Reservation, EngineError>| r.map(|r| Outcome::Reservation(Box::new(r)));
        match operation {
            Op::UpsertLocations(specs) => self.upsert_locations_as(specs, Some(operation)).map(Outcome::Locations),
            Op::UpsertChannel(spec) => self.upsert_channel_as(spec, Some(operation)).map(|()| Outcome::Done),
            Op::DefineKit { kit, components } => {
                self.define_kit_as(kit, components, Some(operation)).map(|()| Outcome::Done)
            }
            Op::Reserve(request) => self.reserve_as(request, now, Some(operation)).map(Outcome::Reserved),
            Op::Commit { id } => reservation(self.commit_as(id, now, Some(operation))),
            Op::Release { id, partial } => {
                reservation(self.apply_to_lines(id, partial.as_ref(), now, LineAction::Release, Some(operation)))
            }
            Op::Fulfil { id, partial } => {
                reservation(self.apply_to_lines(id, partial.as_ref(), now, LineAction::Fulfil, Some(operation)))
            }
            Op::Extend { id, ttl_ms } => reservation(self.extend_as(id, *ttl_ms, now, Some(operation))),
            Op::ExpireDue => Ok(Outcome::Expiry(self.expire_due(now))),
            Op::Adjust { .. }
            | Op::SetOnHand { .. }
            | Op::SetSafetyStock { .. }
            | Op::SetBackorderLimit { .. }
            | Op::MoveStock { .. }
            | Op::AddIncoming { .. }
            | Op::ReceiveIncoming { .. }
            | Op::CancelIncoming { .. } => self.write_position(operation, now).map(Outcome::Position),
            Op::Restock(request) => self.restock_as(request, now, Some(operation)).map(Outcome::Position),
            Op::BulkLoad(rows) => self.bulk_load_at(rows, now).map(Outcome::BulkLoad),
            Op::ReserveSourced(request) => self.reserve_sourced_as(request, now, Some(operation)).map(Outcome::Sourced),
        }
    }
}
