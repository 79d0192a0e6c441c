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
#[inline]
pub fn validate_id(kind: IdKind, id: &str) -> Result<(), EngineError> {
    check_text(kind, id, MAX_ID_BYTES, false)
}

/// A free-text reference: up to [`MAX_REFERENCE_BYTES`] bytes, spaces allowed, no
/// control characters; may be empty.
pub fn validate_reference(reference: &str) -> Result<(), EngineError> {
    check_text(IdKind::AdjustmentReference, reference, MAX_REFERENCE_BYTES, true)
}

#[inline]
fn check_text(kind: IdKind, text: &str, max_bytes: usize, free_text: bool) -> Result<(), EngineError> {
    // Almost every name is 1 to `max_bytes` bytes of printable ASCII: accepted after a
    // word-at-a-time scan. Anything else takes the byte-by-byte path below, which
    // decides (and names the reason) exactly as it always has.
    if !text.is_empty() && text.len() <= max_bytes && is_printable_ascii(text.as_bytes(), free_text) {
        return Ok(());
    }
    check_text_slowly(kind, text, max_bytes, free_text)
}

/// Eight bytes of `b`, each one.
const fn splat(b: u8) -> u64 {
    u64::from_ne_bytes([b; 8])
}

/// Whether every byte is printable ASCII: 0x21 to 0x7e, and also 0x20 (space) when
/// `space_allowed`. Only says yes when [`check_text_slowly`] would accept each byte
/// on its ASCII path (a property test compares the two).
fn is_printable_ascii(bytes: &[u8], space_allowed: bool) -> bool {
    // With no byte of `word` at 0x80 or above, `has_below(word, n)` is non-zero exactly
    // when some byte is below `n` (n <= 0x80): subtracting borrows into a byte's top
    // bit only from that byte or one below it that is itself below `n`.
    fn has_below(word: u64, n: u8) -> u64 {
        word.wrapping_sub(splat(n)) & !word & splat(0x80)
    }
    let lowest_allowed = if space_allowed { b' ' } else { b'!' };
    let bad = |word: u64| (word & splat(0x80)) | has_below(word, lowest_allowed) | has_below(word ^ splat(0x7f), 1);
    let len = bytes.len();
    let word_at = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"));
    let half_at = |at: usize| u64::from(u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes")));
    // Words may overlap (the last one ends at the end): a byte checked twice is fine.
    let seen = match len {
        8.. => {
            let mut seen = bad(word_at(len - 8));
            for at in (0..len - 8).step_by(8) {
                seen |= bad(word_at(at));
            }
            seen
        }
        4..=7 => bad(half_at(0) | half_at(len - 4) << 32),
        _ => return bytes.iter().all(|&b| (lowest_allowed..=b'~').contains(&b)),
    };
    seen == 0
}

/// The reference check: byte by byte, then by `char` for non-ASCII text.
#[cold]
#[inline(never)]
fn check_text_slowly(kind: IdKind, text: &str, max_bytes: usize, free_text: bool) -> Result<(), EngineError> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Text near the edges of the accepted set: printable ASCII, space, DEL, control
    /// bytes, non-ASCII whitespace and control characters, other non-ASCII.
    fn edgy_text() -> impl Strategy<Value = String> {
        let chars = prop_oneof![
            8 => proptest::char::range('!', '~'),
            1 => Just(' '),
            1 => Just('\u{7f}'),
            1 => proptest::char::range('\u{0}', '\u{1f}'),
            1 => prop_oneof![Just('\u{85}'), Just('\u{a0}'), Just('\u{2028}'), Just('\u{3000}'), Just('\u{9f}')],
            1 => any::<char>(),
        ];
        proptest::collection::vec(chars, 0..80).prop_map(|chars| chars.into_iter().collect())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4096))]

        /// The word-at-a-time fast path accepts and refuses exactly what the
        /// byte-by-byte check does, with the same reason.
        #[test]
        fn fast_path_decides_as_the_reference(text in edgy_text(), max_bytes in 0usize..90, free_text: bool) {
            prop_assert_eq!(
                check_text(IdKind::Sku, &text, max_bytes, free_text),
                check_text_slowly(IdKind::Sku, &text, max_bytes, free_text)
            );
        }

        #[test]
        fn printable_ascii_scan_matches_a_byte_loop(bytes in proptest::collection::vec(any::<u8>(), 0..40), space: bool) {
            let lowest = if space { b' ' } else { b'!' };
            let expected = bytes.iter().all(|&b| (lowest..=b'~').contains(&b));
            prop_assert_eq!(is_printable_ascii(&bytes, space), expected);
        }
    }

    #[test]
    fn every_single_byte_at_every_offset() {
        for offset in 0..17 {
            for byte in 0u8..=0x7f {
                let mut text = "x".repeat(offset);
                text.push(byte as char);
                text.push_str("yz");
                for free_text in [false, true] {
                    assert_eq!(
                        check_text(IdKind::Location, &text, 64, free_text),
                        check_text_slowly(IdKind::Location, &text, 64, free_text),
                        "byte {byte:#x} at {offset}"
                    );
                }
            }
        }
    }
}
