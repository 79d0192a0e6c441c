//! Every way an engine call can be refused. A refused call changes nothing.

use crate::engine::ReservationState;
use crate::model::{IdKind, Timestamp};

/// A reservation line that could not be covered, and what the position could offer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShortLine {
    pub sku: String,
    pub location: String,
    pub requested: u32,
    pub available: u32,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EngineError {
    #[error("invalid {kind} {id:?}: {reason}")]
    InvalidId { kind: IdKind, id: String, reason: &'static str },

    #[error("{field} = {value} is out of range {min}..={max}")]
    OutOfRange { field: &'static str, value: i64, min: i64, max: i64 },

    #[error("coordinates {0} are not a point on Earth (latitude -90..=90, longitude -180..=180)")]
    InvalidCoordinates(String),

    #[error("{what}: {count} is more than the limit of {limit}")]
    TooMany { what: &'static str, count: usize, limit: usize },

    #[error("a reservation needs at least one line")]
    NoLines,

    #[error("line {index} repeats SKU {sku:?} at location {location:?}")]
    DuplicateLine { index: usize, sku: String, location: String },

    #[error("unknown location {0:?}")]
    UnknownLocation(String),

    #[error("unknown channel {0:?}")]
    UnknownChannel(String),

    #[error("unknown reservation {0:?}")]
    UnknownReservation(String),

    #[error("no position for SKU {sku:?} at location {location:?}")]
    UnknownPosition { sku: String, location: String },

    #[error("not enough stock for {} line(s): {}", .0.len(), describe_short(.0))]
    InsufficientStock(Vec<ShortLine>),

    #[error("reservation {0:?} exists with different lines")]
    Conflict(String),

    #[error("reservation {id:?} is {state:?}; {operation} needs {expected}")]
    InvalidState { id: String, state: ReservationState, operation: &'static str, expected: &'static str },

    #[error("reservation {id:?} expired at {expired_at}")]
    ReservationExpired { id: String, expired_at: Timestamp },

    #[error("reservation {id:?} holds no line for SKU {sku:?} at {location:?}")]
    UnknownLine { id: String, sku: String, location: String },

    #[error("reservation {id:?} holds {held} of SKU {sku:?} at {location:?}, not {requested}")]
    ExceedsLine { id: String, sku: String, location: String, held: u32, requested: u32 },

    #[error("version mismatch on {sku:?} at {location:?}: expected {expected}, found {actual}")]
    VersionMismatch { sku: String, location: String, expected: u64, actual: u64 },

    #[error("{sku:?} at {location:?} has {available} in {bucket}, not {requested}")]
    InsufficientUnits { sku: String, location: String, bucket: &'static str, available: u32, requested: u32 },

    #[error("{sku:?} at {location:?}: the change would leave {reserved} reserved above a ceiling of {ceiling}")]
    BelowReserved { sku: String, location: String, reserved: u32, ceiling: i64 },

    #[error("{sku:?} at {location:?} has no incoming supply {reference:?}")]
    UnknownSupply { sku: String, location: String, reference: String },

    #[error("{sku:?} at {location:?} already has incoming supply {reference:?}")]
    DuplicateSupply { sku: String, location: String, reference: String },

    #[error(
        "return of {requested} {sku:?} exceeds the {returnable} fulfilled and not yet returned on reservation {id:?}"
    )]
    ReturnExceedsFulfilled { id: String, sku: String, returnable: u32, requested: u32 },

    #[error("{sku:?} is a kit and cannot be {operation}")]
    KitNotAllowed { sku: String, operation: &'static str },

    #[error("row {row}: {error}")]
    InvalidRow { row: u64, error: Box<EngineError> },

    #[error("the engine remembers {limit} reservations already; retry once some have been forgotten")]
    ReservationCapacity { limit: usize },
}

fn describe_short(lines: &[ShortLine]) -> String {
    let described: Vec<String> = lines
        .iter()
        .map(|l| format!("{} at {} wants {}, has {}", l.sku, l.location, l.requested, l.available))
        .collect();
    described.join("; ")
}
