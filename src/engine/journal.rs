//! What the engine tells a log about every change, and what replay reads back.
//!
//! The engine records **after-images**: the full new state of every position and
//! reservation a change touched, plus the operation that caused it (for the audit
//! trail). Recording happens with the change's locks still held, so two changes to
//! the same position are recorded in the order they were made; replay simply stores
//! each image in log order, which rebuilds exactly the same state, and stays correct
//! when it starts from a snapshot that already contains some of the changes.
//!
//! [`JournalEntry`] borrows (no copies on the request path); [`LogEntry`] is its
//! owned mirror for decoding. The two must keep the same variants and fields in the
//! same order: a codec test round-trips one into the other.

use super::operation::Operation;
use super::reservations::Reservation;
use crate::model::{LocationId, Position, SkuId, Timestamp};
use serde::{Deserialize, Serialize};

/// Receives every change, in order. Implemented by the write-ahead log.
pub trait Journal: Send + Sync {
    /// Called with the locks of the change held, once the change is made. Must not
    /// call back into the engine.
    fn record(&self, entry: &JournalEntry<'_>);
}

#[derive(Debug, Serialize)]
pub enum JournalEntry<'a> {
    /// A SKU name got the next dense id.
    SkuInterned { sku: SkuId, name: &'a str },
    /// A location, channel or kit change: replay applies the operation again.
    Catalogue { operation: &'a Operation },
    /// Positions and (at most one) reservation as they are after the change.
    /// The cause comes last so that replay can decode the images and stop there
    /// (see [`ReplayEntry`]).
    Change {
        at: Timestamp,
        positions: Vec<PositionImage<'a>>,
        reservation: Option<ReservationImage<'a>>,
        cause: Cause<'a>,
    },
}

/// Why a change happened: the operation, or the passing of time.
#[derive(Debug, Serialize)]
pub enum Cause<'a> {
    Operation(&'a Operation),
    /// A held reservation's TTL passed.
    Expired {
        id: &'a str,
    },
    /// A terminal reservation's idempotency window ended.
    Forgotten {
        id: &'a str,
    },
    /// One shard's part of a bulk load (the rows are in the position images).
    BulkLoadPart {
        rows: u64,
    },
}

#[derive(Debug, Serialize)]
pub struct PositionImage<'a> {
    pub sku: SkuId,
    pub location: LocationId,
    pub position: &'a Position,
}

#[derive(Debug, Serialize)]
pub enum ReservationImage<'a> {
    Present(&'a Reservation),
    Forgotten { id: &'a str },
}

/// The owned mirror of [`JournalEntry`], decoded from the log by
/// `wal::record::decode_entry`, next to the record layout.
#[derive(Clone, Debug, PartialEq)]
pub enum LogEntry {
    SkuInterned { sku: SkuId, name: String },
    Catalogue { operation: Operation },
    Change { at: Timestamp, positions: Vec<LoggedPosition>, reservation: Option<LoggedReservation>, cause: LoggedCause },
}

/// What replay needs of a [`LogEntry`]: the same without the trailing cause, decoded
/// by `wal::record::decode_replay` so that the cause (the request, with its strings)
/// is never materialised during recovery.
#[derive(Clone, Debug, PartialEq)]
pub enum ReplayEntry {
    SkuInterned { sku: SkuId, name: String },
    Catalogue { operation: Operation },
    Change { at: Timestamp, positions: Vec<LoggedPosition>, reservation: Option<LoggedReservation> },
}

impl From<LogEntry> for ReplayEntry {
    fn from(entry: LogEntry) -> ReplayEntry {
        match entry {
            LogEntry::SkuInterned { sku, name } => ReplayEntry::SkuInterned { sku, name },
            LogEntry::Catalogue { operation } => ReplayEntry::Catalogue { operation },
            LogEntry::Change { at, positions, reservation, .. } => ReplayEntry::Change { at, positions, reservation },
        }
    }
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
pub enum LoggedCause {
    Operation(Operation),
    Expired { id: String },
    Forgotten { id: String },
    BulkLoadPart { rows: u64 },
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct LoggedPosition {
    pub sku: SkuId,
    pub location: LocationId,
    pub position: Position,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub enum LoggedReservation {
    Present(Reservation),
    Forgotten { id: String },
}
