//! Errors on the wire: a stable numeric [`ErrorCode`], a human-readable message, and
//! for insufficient stock the lines that fell short.
//!
//! Clients branch on the code only; the message is for people and logs and may change
//! between releases. Codes are numbered explicitly and never reused: a code is
//! encoded as its number (a varint `u16`), not as an enum index.

use crate::engine::EngineError;
use crate::storage::ApplyError;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Why a request or a call was refused. The number of each code is part of the
/// protocol (docs/PROTOCOL.md, "Error codes").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(into = "u16", try_from = "u16")]
#[repr(u16)]
pub enum ErrorCode {
    /// The frame could not be decoded (garbage, an unknown variant, trailing bytes).
    BadFrame = 1,
    /// `Hello` asked for a protocol version the server does not speak.
    UnsupportedVersion = 2,
    /// No successful `Hello` yet on this connection, or the token is unknown.
    Unauthenticated = 3,
    /// The token's role may not make this call.
    Forbidden = 4,
    /// A malformed id, a value out of range, no lines, a repeated line, a kit where
    /// stock is meant, an invalid bulk-load row.
    InvalidArgument = 5,
    /// No such location, channel, reservation, position, reservation line or supply.
    UnknownEntity = 6,
    /// Not enough stock (or units in a bucket); `short_lines` names each short line.
    InsufficientStock = 7,
    /// The request contradicts what exists: a reservation id reused with other lines,
    /// a supply reference that exists, a change that would leave a position with more
    /// reserved than it can hold.
    Conflict = 8,
    /// The reservation's state does not allow the call, or the call asks more of a
    /// reservation than it holds or shipped.
    InvalidState = 9,
    /// The reservation's time to live passed; its units went back.
    Expired = 10,
    /// A count's expected version is not the position's.
    VersionMismatch = 11,
    /// A list longer than its bound, a frame or batch larger than the server's limits.
    LimitExceeded = 12,
    /// Too many requests in flight or queued; retry after a pause.
    Overloaded = 13,
    /// The request took longer than the server's deadline. For a write, the outcome
    /// is unknown: retry only idempotent writes.
    DeadlineExceeded = 14,
    /// The write was applied in memory but the log failed, so it is not durable and
    /// the server acknowledges no more writes. The outcome after a restart is unknown.
    NotDurable = 15,
    /// A bug or an I/O failure on the server (a snapshot that could not be written).
    Internal = 16,
    /// The engine remembers as many reservations as it may; retry once some are
    /// forgotten (minutes, not milliseconds).
    CapacityExhausted = 17,
}

impl ErrorCode {
    /// Every code, in numeric order.
    pub const ALL: [ErrorCode; 17] = [
        ErrorCode::BadFrame,
        ErrorCode::UnsupportedVersion,
        ErrorCode::Unauthenticated,
        ErrorCode::Forbidden,
        ErrorCode::InvalidArgument,
        ErrorCode::UnknownEntity,
        ErrorCode::InsufficientStock,
        ErrorCode::Conflict,
        ErrorCode::InvalidState,
        ErrorCode::Expired,
        ErrorCode::VersionMismatch,
        ErrorCode::LimitExceeded,
        ErrorCode::Overloaded,
        ErrorCode::DeadlineExceeded,
        ErrorCode::NotDurable,
        ErrorCode::Internal,
        ErrorCode::CapacityExhausted,
    ];

    pub fn number(self) -> u16 {
        self as u16
    }

    pub fn from_number(number: u16) -> Option<ErrorCode> {
        ErrorCode::ALL.iter().copied().find(|code| code.number() == number)
    }

    /// The name used in docs and logs (`INSUFFICIENT_STOCK`).
    pub fn name(self) -> &'static str {
        match self {
            ErrorCode::BadFrame => "BAD_FRAME",
            ErrorCode::UnsupportedVersion => "UNSUPPORTED_VERSION",
            ErrorCode::Unauthenticated => "UNAUTHENTICATED",
            ErrorCode::Forbidden => "FORBIDDEN",
            ErrorCode::InvalidArgument => "INVALID_ARGUMENT",
            ErrorCode::UnknownEntity => "UNKNOWN_ENTITY",
            ErrorCode::InsufficientStock => "INSUFFICIENT_STOCK",
            ErrorCode::Conflict => "CONFLICT",
            ErrorCode::InvalidState => "INVALID_STATE",
            ErrorCode::Expired => "EXPIRED",
            ErrorCode::VersionMismatch => "VERSION_MISMATCH",
            ErrorCode::LimitExceeded => "LIMIT_EXCEEDED",
            ErrorCode::Overloaded => "OVERLOADED",
            ErrorCode::DeadlineExceeded => "DEADLINE_EXCEEDED",
            ErrorCode::NotDurable => "NOT_DURABLE",
            ErrorCode::Internal => "INTERNAL",
            ErrorCode::CapacityExhausted => "CAPACITY_EXHAUSTED",
        }
    }

    /// What the code means, as docs/PROTOCOL.md's table says (generated from here).
    pub fn description(self) -> &'static str {
        match self {
            ErrorCode::BadFrame => "The frame could not be decoded: garbage, an unknown variant or error code, an invalid value, trailing bytes, or a stream that ended inside a frame.",
            ErrorCode::UnsupportedVersion => "`Hello` asked for a protocol version the server does not speak. The connection is closed.",
            ErrorCode::Unauthenticated => "No successful `Hello` yet on this connection, or the token is unknown. After a refused `Hello` the connection is closed.",
            ErrorCode::Forbidden => "The token's role may not make this call (for a batch: one of its calls). Nothing ran.",
            ErrorCode::InvalidArgument => "A malformed id, a value out of range, no lines, a repeated line, a kit where stock is meant, an invalid bulk-load row. Do not retry unchanged.",
            ErrorCode::UnknownEntity => "No such location, channel, reservation, position, reservation line or incoming supply.",
            ErrorCode::InsufficientStock => "Not enough stock (or units in a bucket). `short_lines` names every short line and what it could offer. Nothing was held.",
            ErrorCode::Conflict => "The request contradicts what exists: a reservation id reused with other lines, a supply reference that exists, a change that would leave more reserved than a position can hold.",
            ErrorCode::InvalidState => "The reservation's state does not allow the call, or the call asks more of a reservation than it holds or shipped.",
            ErrorCode::Expired => "The reservation's time to live passed; its units went back.",
            ErrorCode::VersionMismatch => "A count's `expected_version` is not the position's version.",
            ErrorCode::LimitExceeded => "A list longer than its bound, or a frame, batch or SKU list larger than the server's limits. Split it.",
            ErrorCode::Overloaded => "Too many requests in flight or queued. Nothing ran; retry after a pause.",
            ErrorCode::DeadlineExceeded => "The request took longer than the server's deadline. For a write the outcome is unknown: retry only idempotent writes.",
            ErrorCode::NotDurable => "The write was applied in memory but the log failed, so it is not durable and the server acknowledges no more writes. Its outcome after a restart is unknown.",
            ErrorCode::Internal => "A failure on the server (a snapshot that could not be written, a bug).",
            ErrorCode::CapacityExhausted => "The engine remembers as many reservations as it may. Retry once some are forgotten (minutes, not milliseconds).",
        }
    }

    /// Whether the same request may succeed if simply sent again later, unchanged
    /// (for writes, only idempotent ones: see docs/PROTOCOL.md, "Retries").
    pub fn is_transient(self) -> bool {
        matches!(self, ErrorCode::Overloaded | ErrorCode::DeadlineExceeded | ErrorCode::CapacityExhausted)
    }
}

impl From<ErrorCode> for u16 {
    fn from(code: ErrorCode) -> u16 {
        code.number()
    }
}

impl TryFrom<u16> for ErrorCode {
    type Error = String;

    fn try_from(number: u16) -> Result<ErrorCode, String> {
        ErrorCode::from_number(number).ok_or_else(|| format!("unknown error code {number}"))
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name(), self.number())
    }
}

/// A line of a reservation (or a stock write) that could not be covered.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShortLine {
    pub sku: String,
    pub location: String,
    pub requested: u32,
    /// What the position could offer.
    pub available: u32,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{code}: {message}")]
pub struct WireError {
    pub code: ErrorCode,
    pub message: String,
    /// For `InsufficientStock`: every short line. Empty otherwise.
    pub short_lines: Vec<ShortLine>,
}

impl WireError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> WireError {
        WireError { code, message: message.into(), short_lines: Vec::new() }
    }
}

/// The code of an engine refusal. Exhaustive, no wildcard: a new `EngineError`
/// variant must be given a code here before it compiles.
pub fn engine_error_code(error: &EngineError) -> ErrorCode {
    use EngineError as E;
    match error {
        E::InvalidId { .. }
        | E::OutOfRange { .. }
        | E::InvalidCoordinates(_)
        | E::NoLines
        | E::DuplicateLine { .. }
        | E::KitNotAllowed { .. } => ErrorCode::InvalidArgument,
        E::TooMany { .. } => ErrorCode::LimitExceeded,
        E::UnknownLocation(_)
        | E::UnknownChannel(_)
        | E::UnknownReservation(_)
        | E::UnknownPosition { .. }
        | E::UnknownLine { .. }
        | E::UnknownSupply { .. } => ErrorCode::UnknownEntity,
        E::InsufficientStock(_) | E::InsufficientUnits { .. } => ErrorCode::InsufficientStock,
        E::Conflict(_) | E::BelowReserved { .. } | E::DuplicateSupply { .. } => ErrorCode::Conflict,
        E::InvalidState { .. } | E::ExceedsLine { .. } | E::ReturnExceedsFulfilled { .. } => ErrorCode::InvalidState,
        E::ReservationExpired { .. } => ErrorCode::Expired,
        E::VersionMismatch { .. } => ErrorCode::VersionMismatch,
        // A bulk load refused for one row: the row's own reason decides.
        E::InvalidRow { error, .. } => engine_error_code(error),
        E::ReservationCapacity { .. } => ErrorCode::CapacityExhausted,
        E::UnknownProfile(_) => ErrorCode::UnknownEntity,
        E::NotPickupStore { .. } => ErrorCode::InvalidArgument,
        // No new code: a sourced order that finds no allocation is short of stock under
        // the profile's rules; `short_lines` names each line (location empty).
        E::Unsourceable { .. } => ErrorCode::InsufficientStock,
    }
}

impl From<&EngineError> for WireError {
    fn from(error: &EngineError) -> WireError {
        let short_lines = match error {
            EngineError::InsufficientStock(lines) => lines
                .iter()
                .map(|l| ShortLine {
                    sku: l.sku.clone(),
                    location: l.location.clone(),
                    requested: l.requested,
                    available: l.available,
                })
                .collect(),
            EngineError::Unsourceable { lines, .. } => lines
                .iter()
                .map(|l| ShortLine {
                    sku: l.sku.clone(),
                    location: String::new(),
                    requested: l.requested,
                    available: u32::try_from(l.available_in_channel).unwrap_or(u32::MAX),
                })
                .collect(),
            EngineError::InsufficientUnits { sku, location, available, requested, .. } => vec![ShortLine {
                sku: sku.clone(),
                location: location.clone(),
                requested: *requested,
                available: *available,
            }],
            _ => Vec::new(),
        };
        WireError { code: engine_error_code(error), message: error.to_string(), short_lines }
    }
}

impl From<EngineError> for WireError {
    fn from(error: EngineError) -> WireError {
        WireError::from(&error)
    }
}

impl From<&ApplyError> for WireError {
    fn from(error: &ApplyError) -> WireError {
        match error {
            ApplyError::Engine(error) => WireError::from(error),
            ApplyError::Durability(_) => WireError::new(ErrorCode::NotDurable, error.to_string()),
        }
    }
}

impl From<ApplyError> for WireError {
    fn from(error: ApplyError) -> WireError {
        WireError::from(&error)
    }
}
