//! Validation of client-chosen ids (SKUs, locations, channels, reservations).

use crate::limits::{MAX_ID_BYTES, MAX_REFERENCE_BYTES};
use crate::EngineError;
use std::fmt;

/// Which kind of id a validation error is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdKind {
    Sku,
    Location,
    Channel,
    Reservation,
    Step,
    SupplyReference,
    AdjustmentReference,
}

impl fmt::Display for IdKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            IdKind::Sku => "SKU",
            IdKind::Location => "location",
            IdKind::Channel => "channel",
            IdKind::Reservation => "reservation id",
            IdKind::Step => "step id",
            IdKind::SupplyReference => "supply reference",
            IdKind::AdjustmentReference => "adjustment reference",
        };
        f.write_str(name)
    }
}

/// An id is 1 to [`MAX_ID_BYTES`] bytes of UTF-8 with no whitespace and no control
/// characters, so that it prints and round-trips through any text format.
pub fn validate_id(kind: IdKind, id: &str) -> Result<(), EngineError> {
    check_text(kind, id, MAX_ID_BYTES, false)
}

/// A free-text reference: up to [`MAX_REFERENCE_BYTES`] bytes, spaces allowed, no
/// control characters; may be empty.
pub fn validate_reference(reference: &str) -> Result<(), EngineError> {
    check_text(IdKind::AdjustmentReference, reference, MAX_REFERENCE_BYTES, true)
}

fn check_text(kind: IdKind, text: &str, max_bytes: usize, free_text: bool) -> Result<(), EngineError> {
    let invalid =
        |reason: &'static str| EngineError::InvalidId { kind, id: text.chars().take(MAX_ID_BYTES).collect(), reason };
    if text.is_empty() && !free_text {
        return Err(invalid("is empty"));
    }
    if text.len() > max_bytes {
        return Err(invalid("is too long"));
    }
    // The common case, plain ASCII, is checked in one pass over the bytes; only a
    // name with other characters pays for decoding UTF-8.
    let mut ascii = true;
    for byte in text.bytes() {
        match byte {
            0x80.. => {
                ascii = false;
                break;
            }
            0x00..=0x1f | 0x7f => return Err(invalid("contains a control character")),
            b' ' if !free_text => return Err(invalid("contains whitespace")),
            _ => {}
        }
    }
    if ascii {
        return Ok(());
    }
    if text.chars().any(char::is_control) {
        return Err(invalid("contains a control character"));
    }
    if !free_text && text.chars().any(char::is_whitespace) {
        return Err(invalid("contains whitespace"));
    }
    Ok(())
}
