//! Reading the log back: for recovery, replay and the operator's tools.
//!
//! Every record is checked (length bound, checksum, consecutive LSN). A segment's
//! records end where only zero bytes remain (the writer zero-fills ahead of itself)
//! or at the end of the file. A damaged record is a **torn tail** only if it is in
//! the last segment and no valid record follows it (a crash cut the last write
//! short): recovery truncates it with a warning. Damage anywhere else refuses,
//! naming the file and byte offset: the reader never skips over records silently.

use super::format::{
    parse_record_header, parse_segment_file_name, parse_segment_header, record_crc, HeaderError, FORMAT_VERSION,
    MAX_RECORD_PAYLOAD_BYTES, RECORD_HEADER_BYTES, SEGMENT_HEADER_BYTES,
};
use super::{Lsn, WalError};
use std::fs;
use std::path::{Path, PathBuf};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SegmentInfo {
    pub path: PathBuf,
    pub first_lsn: Lsn,
    pub bytes: u64,
}

/// Where a torn final record was found, and how much was cut.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TornTail {
    pub path: PathBuf,
    pub offset: u64,
    pub bytes_dropped: u64,
}

/// What a visitor wants after a record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Visit {
    Continue,
    /// Stop reading (a point-in-time restore reached its target).
    Stop,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LogReadSummary {
    /// Records handed to the visitor (those at or after `from`).
    pub records_visited: u64,
    /// The last valid LSN in the log (0 if the log is empty).
    pub last_lsn: Lsn,
    pub torn_tail: Option<TornTail>,
}

/// The segments in `dir`, sorted by first LSN.
pub fn list_segments(dir: &Path) -> Result<Vec<SegmentInfo>, WalError> {
    let mut segments = Vec::new();
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(segments),
        Err(error) => return Err(WalError::io(dir)(error)),
    };
    for entry in entries {
        let entry = entry.map_err(WalError::io(dir))?;
        let path = entry.path();
        if let Some(first_lsn) = parse_segment_file_name(&path) {
            let bytes = entry.metadata().map_err(WalError::io(&path))?.len();
            segments.push(SegmentInfo { path, first_lsn, bytes });
        }
    }
    segments.sort_by_key(|s| s.first_lsn);
    Ok(segments)
}

/// Deletes the segments whose records all come before `lsn` (a retained snapshot
/// covers them). The newest segment is never deleted. Returns how many went.
pub fn delete_segments_before(dir: &Path, lsn: Lsn) -> Result<usize, WalError> {
    let segments = list_segments(dir)?;
    let mut deleted = 0;
    for pair in segments.windows(2) {
        if pair[1].first_lsn <= lsn {
            fs::remove_file(&pair[0].path).map_err(WalError::io(&pair[0].path))?;
            deleted += 1;
        }
    }
    Ok(deleted)
}

/// Reads every record with LSN >= `from` in order, calling `visit(lsn, payload,
/// path, offset)`. With `truncate_torn_tail`, a torn tail is cut off the file.
pub fn read_log(
    dir: &Path,
    from: Lsn,
    truncate_torn_tail: bool,
    mut visit: impl FnMut(Lsn, &[u8], &Path, u64) -> Result<Visit, WalError>,
) -> Result<LogReadSummary, WalError> {
    let segments = list_segments(dir)?;
    let mut summary = LogReadSummary::default();
    // Skip segments that end before `from`: the next one starts at or before it.
    let first_needed = segments.iter().rposition(|s| s.first_lsn <= from.max(1)).unwrap_or(0);
    let mut expected: Option<Lsn> = None;
    // One buffer for every segment: a fresh 64 MiB vector per segment costs its page faults again.
    let mut bytes = Vec::new();
    for (index, segment) in segments.iter().enumerate().skip(first_needed) {
        let is_last = index + 1 == segments.len();
        bytes.clear();
        fs::File::open(&segment.path)
            .and_then(|mut file| std::io::Read::read_to_end(&mut file, &mut bytes))
            .map_err(WalError::io(&segment.path))?;
        let first_lsn = match parse_segment_header(&bytes) {
            Ok(first_lsn) => first_lsn,
            // A crash while a new segment's header was being written: nothing in it.
            Err(HeaderError::Version(found)) => {
                return Err(WalError::UnsupportedVersion {
                    path: segment.path.clone(),
                    found,
                    supported: FORMAT_VERSION,
                })
            }
            Err(reason) if is_last && bytes.len() <= SEGMENT_HEADER_BYTES => {
                tracing::warn!(path = %segment.path.display(), %reason, "torn segment header");
                if truncate_torn_tail {
                    fs::remove_file(&segment.path).map_err(WalError::io(&segment.path))?;
                }
                let bytes_dropped = bytes.len() as u64;
                summary.torn_tail = Some(TornTail { path: segment.path.clone(), offset: 0, bytes_dropped });
                break;
            }
            Err(reason) => {
                return Err(WalError::Corrupt { path: segment.path.clone(), offset: 0, reason: reason.to_string() })
            }
        };
        if first_lsn != segment.first_lsn {
            return Err(corrupt(&segment.path, 0, "header LSN differs from the file name"));
        }
        match expected {
            Some(next) if next != first_lsn => return Err(WalError::MissingRecords { from: next, to: first_lsn }),
            None if first_lsn > from.max(1) => {
                return Err(WalError::MissingRecords { from: from.max(1), to: first_lsn })
            }
            _ => {}
        }
        let mut offset = SEGMENT_HEADER_BYTES;
        let mut next_lsn = first_lsn;
        while offset < bytes.len() {
            match check_record(&bytes, offset, next_lsn) {
                Ok(length) => {
                    let payload = &bytes[offset + RECORD_HEADER_BYTES..offset + RECORD_HEADER_BYTES + length];
                    if next_lsn >= from {
                        if visit(next_lsn, payload, &segment.path, offset as u64)? == Visit::Stop {
                            return Ok(summary);
                        }
                        summary.records_visited += 1;
                    }
                    summary.last_lsn = next_lsn;
                    next_lsn += 1;
                    offset += RECORD_HEADER_BYTES + length;
                }
                // The zeros the writer keeps ahead of itself (see `preallocate.rs`):
                // the segment's records end here. A later segment must then start
                // at `next_lsn`, so zeros over acknowledged records are still caught.
                Err(_) if bytes[offset..].iter().all(|&byte| byte == 0) => break,
                Err(reason) => {
                    if !is_last || valid_record_follows(&bytes, offset, next_lsn) {
                        return Err(corrupt(&segment.path, offset as u64, &reason));
                    }
                    let torn = TornTail {
                        path: segment.path.clone(),
                        offset: offset as u64,
                        bytes_dropped: (bytes.len() - offset) as u64,
                    };
                    tracing::warn!(path = %torn.path.display(), offset = torn.offset, bytes = torn.bytes_dropped, %reason, "torn final log record");
                    if truncate_torn_tail {
                        truncate(&segment.path, offset as u64)?;
                    }
                    summary.torn_tail = Some(torn);
                    break;
                }
            }
        }
        expected = Some(next_lsn);
    }
    Ok(summary)
}

/// The payload length of the record at `offset` if it is whole and valid.
fn check_record(bytes: &[u8], offset: usize, expected_lsn: Lsn) -> Result<usize, String> {
    let header = parse_record_header(&bytes[offset..]).ok_or("record header cut short")?;
    if header.length > MAX_RECORD_PAYLOAD_BYTES {
        return Err(format!("record length {} exceeds the limit", header.length));
    }
    let end = offset + RECORD_HEADER_BYTES + header.length;
    if end > bytes.len() {
        return Err(format!("record of {} bytes cut short at end of file", header.length));
    }
    if record_crc(header.lsn, &bytes[offset + RECORD_HEADER_BYTES..end]) != header.crc {
        return Err("record checksum mismatch".to_owned());
    }
    if header.lsn != expected_lsn {
        return Err(format!("record LSN {} where {expected_lsn} was expected", header.lsn));
    }
    Ok(header.length)
}

/// Whether any whole, valid record for a later LSN starts after a damaged one: if
/// so the damage is not a torn tail but corruption of acknowledged data.
fn valid_record_follows(bytes: &[u8], damaged_at: usize, damaged_lsn: Lsn) -> bool {
    (damaged_at + 1..bytes.len().saturating_sub(RECORD_HEADER_BYTES - 1)).any(|offset| {
        let Some(header) = parse_record_header(&bytes[offset..]) else { return false };
        let plausible = header.lsn >= damaged_lsn && header.lsn - damaged_lsn < 1_000_000_000;
        plausible && check_record(bytes, offset, header.lsn).is_ok()
    })
}

/// Cuts off a torn tail that [`read_log`] found (and left) without truncating: the
/// final record and what follows it, or a whole segment whose header is torn.
pub fn repair_torn_tail(torn: &TornTail) -> Result<(), WalError> {
    if torn.offset == 0 {
        fs::remove_file(&torn.path).map_err(WalError::io(&torn.path))
    } else {
        truncate(&torn.path, torn.offset)
    }
}

fn truncate(path: &Path, length: u64) -> Result<(), WalError> {
    let file = fs::OpenOptions::new().write(true).open(path).map_err(WalError::io(path))?;
    file.set_len(length).map_err(WalError::io(path))?;
    file.sync_all().map_err(WalError::io(path))
}

fn corrupt(path: &Path, offset: u64, reason: &str) -> WalError {
    WalError::Corrupt { path: path.to_owned(), offset, reason: reason.to_owned() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wal::format::{segment_file_name, SEGMENT_MAGIC};

    #[test]
    fn a_segment_of_an_older_format_is_a_typed_error() {
        let dir = tempfile::tempdir().unwrap();
        let mut header = [0u8; SEGMENT_HEADER_BYTES];
        header[0..8].copy_from_slice(&SEGMENT_MAGIC);
        header[8..12].copy_from_slice(&1u32.to_le_bytes());
        header[16..24].copy_from_slice(&1u64.to_le_bytes());
        let crc = crc32c::crc32c(&header[0..24]);
        header[24..28].copy_from_slice(&crc.to_le_bytes());
        let path = dir.path().join(segment_file_name(1));
        fs::write(&path, header).unwrap();
        let error = read_log(dir.path(), 1, true, |_, _, _, _| Ok(Visit::Continue)).unwrap_err();
        assert!(
            matches!(&error, WalError::UnsupportedVersion { found: 1, supported: FORMAT_VERSION, path: p } if *p == path),
            "{error}"
        );
        assert_eq!(fs::read(&path).unwrap(), header, "nothing is changed");
    }
}
