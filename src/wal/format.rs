//! The on-disk layout of log segments. All integers little-endian.
//!
//! ```text
//! segment file  wal-<first lsn, 20 digits>.log
//!   header (32 bytes)
//!     0  magic           8 bytes  "STOCKWAL"
//!     8  format version  u32      2 (1: payloads were bincode-encoded entries)
//!    12  reserved        u32      0
//!    16  first lsn       u64      LSN of the first record in this segment
//!    24  header crc      u32      CRC32C of bytes 0..24
//!    28  reserved        u32      0
//!   records, back to back
//!     0  length          u32      payload bytes (at most MAX_RECORD_PAYLOAD_BYTES)
//!     4  crc             u32      CRC32C of bytes 8..16+length (lsn and payload)
//!     8  lsn             u64      exactly one more than the previous record's
//!    16  payload         length bytes, a `LogEntry` laid out by `record.rs`
//! ```

use std::path::Path;

pub const SEGMENT_MAGIC: [u8; 8] = *b"STOCKWAL";
pub const FORMAT_VERSION: u32 = 2;
pub const SEGMENT_HEADER_BYTES: usize = 32;
pub const RECORD_HEADER_BYTES: usize = 16;
/// The largest record payload; bulk loads are split to stay under it.
pub const MAX_RECORD_PAYLOAD_BYTES: usize = 32 * 1024 * 1024;

pub fn segment_header(first_lsn: u64) -> [u8; SEGMENT_HEADER_BYTES] {
    let mut header = [0u8; SEGMENT_HEADER_BYTES];
    header[0..8].copy_from_slice(&SEGMENT_MAGIC);
    header[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    header[16..24].copy_from_slice(&first_lsn.to_le_bytes());
    let crc = crc32c::crc32c(&header[0..24]);
    header[24..28].copy_from_slice(&crc.to_le_bytes());
    header
}

/// Why a segment header does not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderError {
    /// Not a whole, valid header (a torn or damaged file).
    Invalid(String),
    /// A valid header of another format version.
    Version(u32),
}

impl std::fmt::Display for HeaderError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HeaderError::Invalid(reason) => f.write_str(reason),
            HeaderError::Version(version) => {
                write!(f, "segment format version {version}, this build reads {FORMAT_VERSION}")
            }
        }
    }
}

/// The first LSN a segment header names, or why the header is not valid.
pub fn parse_segment_header(bytes: &[u8]) -> Result<u64, HeaderError> {
    if bytes.len() < SEGMENT_HEADER_BYTES {
        return Err(HeaderError::Invalid(format!(
            "segment header is {} bytes, expected {SEGMENT_HEADER_BYTES}",
            bytes.len()
        )));
    }
    if bytes[0..8] != SEGMENT_MAGIC {
        return Err(HeaderError::Invalid("not a stockd log segment (bad magic)".to_owned()));
    }
    let stored_crc = u32::from_le_bytes(bytes[24..28].try_into().expect("4 bytes"));
    if crc32c::crc32c(&bytes[0..24]) != stored_crc {
        return Err(HeaderError::Invalid("segment header checksum mismatch".to_owned()));
    }
    let version = u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes"));
    if version != FORMAT_VERSION {
        return Err(HeaderError::Version(version));
    }
    Ok(u64::from_le_bytes(bytes[16..24].try_into().expect("8 bytes")))
}

/// The checksum of a record: its LSN and payload.
pub fn record_crc(lsn: u64, payload: &[u8]) -> u32 {
    crc32c::crc32c_append(crc32c::crc32c(&lsn.to_le_bytes()), payload)
}

/// Appends one framed record: `encode` appends the payload after a header that is
/// filled in afterwards.
pub fn append_record(buffer: &mut Vec<u8>, lsn: u64, encode: impl FnOnce(&mut Vec<u8>)) {
    let start = buffer.len();
    let mut header = [0u8; RECORD_HEADER_BYTES];
    header[8..16].copy_from_slice(&lsn.to_le_bytes());
    buffer.extend_from_slice(&header);
    encode(buffer);
    let payload_len = buffer.len() - start - RECORD_HEADER_BYTES;
    assert!(payload_len <= MAX_RECORD_PAYLOAD_BYTES, "a {payload_len}-byte record exceeds the format's limit");
    // The LSN and the payload lie side by side: one pass gives `record_crc`.
    let crc = crc32c::crc32c(&buffer[start + 8..]);
    debug_assert_eq!(crc, record_crc(lsn, &buffer[start + RECORD_HEADER_BYTES..]));
    buffer[start..start + 4].copy_from_slice(&(payload_len as u32).to_le_bytes());
    buffer[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
}

/// A record header as read from disk (not yet checked).
#[derive(Clone, Copy, Debug)]
pub struct RecordHeader {
    pub length: usize,
    pub crc: u32,
    pub lsn: u64,
}

pub fn parse_record_header(bytes: &[u8]) -> Option<RecordHeader> {
    let header = bytes.get(..RECORD_HEADER_BYTES)?;
    Some(RecordHeader {
        length: u32::from_le_bytes(header[0..4].try_into().expect("4 bytes")) as usize,
        crc: u32::from_le_bytes(header[4..8].try_into().expect("4 bytes")),
        lsn: u64::from_le_bytes(header[8..16].try_into().expect("8 bytes")),
    })
}

pub fn segment_file_name(first_lsn: u64) -> String {
    format!("wal-{first_lsn:020}.log")
}

pub fn parse_segment_file_name(path: &Path) -> Option<u64> {
    let name = path.file_name()?.to_str()?;
    let digits = name.strip_prefix("wal-")?.strip_suffix(".log")?;
    if digits.len() != 20 {
        return None;
    }
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The header `append_record` writes (one checksum pass over the LSN and payload
    /// together) is the one the reader checks with `record_crc`.
    #[test]
    fn appended_record_header_matches_what_the_reader_checks() {
        let mut buffer = b"earlier bytes".to_vec();
        for (lsn, len) in [(1u64, 0usize), (2, 1), (0x0102_0304_0506_0708, 7), (u64::MAX, 213), (42, 4097)] {
            let start = buffer.len();
            let payload: Vec<u8> = (0..len).map(|i| (i as u64).wrapping_mul(31).wrapping_add(lsn) as u8).collect();
            append_record(&mut buffer, lsn, |out| out.extend_from_slice(&payload));
            let header = parse_record_header(&buffer[start..]).expect("a whole header");
            assert_eq!(header.length, len);
            assert_eq!(header.lsn, lsn);
            assert_eq!(header.crc, record_crc(lsn, &payload));
            assert_eq!(&buffer[start + RECORD_HEADER_BYTES..], &payload[..]);
        }
    }
}
