//! Helpers shared by the durability tests (`crash`, `corruption`, `crash_property`):
//! storage configurations, copying and damaging data folders, and reading the log's
//! record layout straight from the segment files.
#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};
use stockd::engine::{ReserveLine, ReserveRequest};
use stockd::model::{Coordinates, LocationFlags, LocationKind, LocationSpec};
use stockd::storage::StorageConfig;
use stockd::wal::format::{parse_record_header, parse_segment_file_name, RECORD_HEADER_BYTES, SEGMENT_HEADER_BYTES};
use stockd::wal::DurabilityMode;
use stockd::Operation;

/// Folders under `root`, no periodic snapshots (tests take them by hand).
pub fn storage_config(root: &Path, durability: DurabilityMode, segment_bytes: u64) -> StorageConfig {
    StorageConfig {
        snapshots_retained: 8,
        segment_bytes,
        ..StorageConfig::with_manual_snapshots(root.join("data"), root.join("snapshots"), durability)
    }
}

/// The same configuration, pointed at a copy of its folders under `root`.
pub fn copy_storage(config: &StorageConfig, root: &Path) -> StorageConfig {
    let copy = StorageConfig { data_dir: root.join("data"), snapshot_dir: root.join("snapshots"), ..config.clone() };
    copy_dir(&config.data_dir, &copy.data_dir);
    copy_dir(&config.snapshot_dir, &copy.snapshot_dir);
    copy
}

/// Copies a folder tree (a missing source gives an empty folder).
pub fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    let Ok(entries) = fs::read_dir(from) else { return };
    for entry in entries {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), &target).unwrap();
        }
    }
}

pub fn location(name: &str, kind: LocationKind) -> LocationSpec {
    LocationSpec {
        name: name.to_owned(),
        kind,
        coordinates: Coordinates { latitude: 51.5, longitude: -0.12 },
        flags: LocationFlags { ships: true, pickup: kind == LocationKind::Store },
        priority: 1,
    }
}

pub fn reserve(id: &str, lines: &[(&str, &str, u32)], ttl_ms: u64) -> Operation {
    Operation::Reserve(ReserveRequest {
        id: id.to_owned(),
        lines: lines
            .iter()
            .map(|&(sku, location, quantity)| ReserveLine {
                sku: sku.to_owned(),
                location: location.to_owned(),
                quantity,
            })
            .collect(),
        ttl_ms,
        promise_by: None,
    })
}

/// One record as it sits in a segment file.
#[derive(Clone, Debug)]
pub struct RecordSpan {
    pub lsn: u64,
    /// Offset of its header in the file.
    pub offset: u64,
    /// Offset just past its payload.
    pub end: u64,
}

#[derive(Clone, Debug)]
pub struct SegmentLayout {
    pub path: PathBuf,
    pub first_lsn: u64,
    pub bytes: u64,
    pub records: Vec<RecordSpan>,
}

/// Every segment in `wal_dir` (sorted by first LSN) and the records in it, read from
/// the headers alone (the files are assumed undamaged: a test calls this before
/// damaging them). Stops at a record that does not fit in its file, or at the zeros
/// that follow the last record.
pub fn log_layout(wal_dir: &Path) -> Vec<SegmentLayout> {
    let mut segments: Vec<SegmentLayout> = fs::read_dir(wal_dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter_map(|path| parse_segment_file_name(&path).map(|first_lsn| (path, first_lsn)))
        .map(|(path, first_lsn)| {
            let bytes = fs::read(&path).unwrap();
            let mut records = Vec::new();
            let mut offset = SEGMENT_HEADER_BYTES;
            while let Some(header) = bytes.get(offset..).and_then(parse_record_header) {
                if header.lsn == 0 {
                    break; // the zeros the writer keeps ahead of its records
                }
                let end = offset + RECORD_HEADER_BYTES + header.length;
                if end > bytes.len() {
                    break;
                }
                records.push(RecordSpan { lsn: header.lsn, offset: offset as u64, end: end as u64 });
                offset = end;
            }
            SegmentLayout { path, first_lsn, bytes: bytes.len() as u64, records }
        })
        .collect();
    segments.sort_by_key(|segment| segment.first_lsn);
    segments
}

/// The segment holding `lsn`, and the record's span.
pub fn find_record(layout: &[SegmentLayout], lsn: u64) -> Option<(usize, RecordSpan)> {
    layout.iter().enumerate().find_map(|(index, segment)| {
        segment.records.iter().find(|record| record.lsn == lsn).map(|record| (index, record.clone()))
    })
}

/// Flips one bit of the byte at `offset`.
pub fn flip_bit(path: &Path, offset: u64, bit: u8) {
    let mut bytes = fs::read(path).unwrap();
    bytes[offset as usize] ^= 1 << (bit % 8);
    fs::write(path, bytes).unwrap();
}

/// Cuts a file to `length` bytes.
pub fn truncate(path: &Path, length: u64) {
    fs::OpenOptions::new().write(true).open(path).unwrap().set_len(length).unwrap();
}

/// Overwrites a file with zeros from `offset` to its end, keeping its length.
pub fn zero_from(path: &Path, offset: u64) {
    let mut bytes = fs::read(path).unwrap();
    bytes[offset as usize..].fill(0);
    fs::write(path, bytes).unwrap();
}

pub fn file_len(path: &Path) -> u64 {
    fs::metadata(path).unwrap().len()
}
