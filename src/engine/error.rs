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

    #[error("unknown sourcing profile {0:?}")]
    UnknownProfile(String),

    #[error("location {store:?} is not a pickup store of channel {channel:?}")]
    NotPickupStore { store: String, channel: String },

    #[error("cannot source the order ({reason}): {}", describe_sourcing_short(.lines))]
    Unsourceable { reason: UnsourceableReason, lines: Vec<SourcingShortLine> },
}

/// Why a sourced reserve found no allocation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum UnsourceableReason {
    /// No location of the channel passes the profile's filters (kind, name, flag, distance).
    NoEligibleLocation,
    /// Some line cannot be covered even by all eligible locations together.
    InsufficientStock,
    /// Every line can be covered, but not from `max_locations` locations or fewer.
    TooManySplits,
}

impl std::fmt::Display for UnsourceableReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            UnsourceableReason::NoEligibleLocation => "no eligible location",
            UnsourceableReason::InsufficientStock => "insufficient stock",
            UnsourceableReason::TooManySplits => "too many split shipments",
        })
    }
}

/// A line of a sourced order, and what the eligible locations could offer for it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SourcingShortLine {
    pub sku: String,
    pub requested: u32,
    /// Summed capacity of the line over every eligible location.
    pub available_in_channel: u64,
    /// The most one eligible location could offer for the line.
    pub best_single_location: u32,
}

fn describe_sourcing_short(lines: &[SourcingShortLine]) -> String {
    let described: Vec<String> = lines
        .iter()
        .map(|l| {
            format!(
                "{} wants {}, channel has {}, best location {}",
                l.sku, l.requested, l.available_in_channel, l.best_single_location
            )
        })
        .collect();
    described.join("; ")
}

fn describe_short(lines: &[ShortLine]) -> String {
    let described: Vec<String> = lines
        .iter()
        .map(|l| format!("{} at {} wants {}, has {}", l.sku, l.location, l.requested, l.available))
        .collect();
    described.join("; ")
}
