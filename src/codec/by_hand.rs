//! The codec's format written and read by hand, for the few hot paths where going
//! through serde costs several times as much as the bytes themselves (the
//! availability queries of the wire protocol, the cause of a reserve in the log).
//!
//! These are the primitives of bincode 2's standard configuration, as
//! [`super::encode`] lays them out: an unsigned integer as a varint (one byte up to
//! 250, else a marker byte 251/252/253 and the value as little-endian u16/u32/u64),
//! an enum variant as the varint of its index in declaration order, a string or a
//! sequence after the varint of its length, an option as a 0 or 1 byte then its
//! value. Whoever writes a message with them checks it byte for byte against
//! [`super::encode`] in a test, so that this stays one format, not a second one.

/// Marker bytes: a first byte below [`U16`] is the value itself.
const U16: u8 = 251;
const U32: u8 = 252;
const U64: u8 = 253;

/// Appends an unsigned integer (or an enum variant index, or a length) as a varint.
#[inline]
pub fn put_varint(out: &mut Vec<u8>, value: u64) {
    if value < u64::from(U16) {
        out.push(value as u8);
    } else if let Ok(value) = u16::try_from(value) {
        out.push(U16);
        out.extend_from_slice(&value.to_le_bytes());
    } else if let Ok(value) = u32::try_from(value) {
        out.push(U32);
        out.extend_from_slice(&value.to_le_bytes());
    } else {
        out.push(U64);
        out.extend_from_slice(&value.to_le_bytes());
    }
}

/// Appends a string: its length in bytes, then its UTF-8 bytes.
#[inline]
pub fn put_str(out: &mut Vec<u8>, text: &str) {
    put_varint(out, text.len() as u64);
    out.extend_from_slice(text.as_bytes());
}

/// Appends an optional unsigned integer: 0, or 1 then the varint.
#[inline]
pub fn put_option_varint(out: &mut Vec<u8>, value: Option<u64>) {
    match value {
        None => out.push(0),
        Some(value) => {
            out.push(1);
            put_varint(out, value);
        }
    }
}

/// Reads values from the front of a byte slice, borrowing strings from it. Every
/// method answers `None` for anything the serde decoder might read differently (a
/// varint not in its shortest form, a length past the end, invalid UTF-8): the
/// caller then decodes the ordinary way, which gives every error its usual answer.
#[derive(Clone, Copy, Debug)]
pub struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    #[inline]
    pub fn new(bytes: &'a [u8]) -> Reader<'a> {
        Reader { bytes }
    }

    /// Whether every byte was read.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    #[inline]
    fn take(&mut self, count: usize) -> Option<&'a [u8]> {
        if self.bytes.len() < count {
            return None;
        }
        let (taken, rest) = self.bytes.split_at(count);
        self.bytes = rest;
        Some(taken)
    }

    /// One byte (an option's or a bool's tag).
    #[inline]
    pub fn byte(&mut self) -> Option<u8> {
        self.take(1)?.first().copied()
    }

    /// A varint in its shortest form only.
    #[inline]
    pub fn varint(&mut self) -> Option<u64> {
        let first = *self.take(1)?.first()?;
        let (value, floor) = match first {
            0..U16 => return Some(u64::from(first)),
            U16 => (u64::from(u16::from_le_bytes(self.take(2)?.try_into().ok()?)), u64::from(U16)),
            U32 => (u64::from(u32::from_le_bytes(self.take(4)?.try_into().ok()?)), u64::from(u16::MAX) + 1),
            U64 => (u64::from_le_bytes(self.take(8)?.try_into().ok()?), u64::from(u32::MAX) + 1),
            _ => return None,
        };
        (value >= floor).then_some(value)
    }

    /// A string, borrowed.
    #[inline]
    pub fn str(&mut self) -> Option<&'a str> {
        let length = usize::try_from(self.varint()?).ok()?;
        std::str::from_utf8(self.take(length)?).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every varint width, at and around each marker's bounds.
    const WIDTHS: [u64; 11] =
        [0, 1, 250, 251, 252, 65_535, 65_536, u32::MAX as u64, u32::MAX as u64 + 1, u64::MAX - 1, u64::MAX];

    #[test]
    fn varints_are_the_codecs() {
        for value in WIDTHS {
            let mut out = Vec::new();
            put_varint(&mut out, value);
            assert_eq!(out, super::super::encode(&value), "{value}");
            let mut reader = Reader::new(&out);
            assert_eq!(reader.varint(), Some(value));
            assert!(reader.is_empty());
        }
    }

    #[test]
    fn strings_and_options_are_the_codecs() {
        for text in ["", "SKU-1", "ü", &"x".repeat(300)] {
            let mut out = Vec::new();
            put_str(&mut out, text);
            assert_eq!(out, super::super::encode(text));
            assert_eq!(Reader::new(&out).str(), Some(text));
        }
        for value in [None, Some(0), Some(251), Some(u64::MAX)] {
            let mut out = Vec::new();
            put_option_varint(&mut out, value);
            assert_eq!(out, super::super::encode(&value), "{value:?}");
        }
    }

    #[test]
    fn the_reader_refuses_what_the_codec_might_read_differently() {
        // 5 written in three bytes, not one: not the shortest form.
        assert_eq!(Reader::new(&[U16, 5, 0]).varint(), None);
        assert_eq!(Reader::new(&[U32, 1, 0, 0, 0]).varint(), None);
        assert_eq!(Reader::new(&[254]).varint(), None);
        assert_eq!(Reader::new(&[U16, 1]).varint(), None, "cut short");
        assert_eq!(Reader::new(&[3, b'a', b'b']).str(), None, "length past the end");
        assert_eq!(Reader::new(&[2, 0xC3, 0x28]).str(), None, "invalid UTF-8");
    }
}
