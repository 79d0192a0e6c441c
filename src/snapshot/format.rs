//! The snapshot file. All integers little-endian.
//!
//! ```text
//! snapshot-<covers lsn, 20 digits>-<created at ms, 13 digits>.snap
//!   header (80 bytes)
//!     0  magic            8 bytes  "STOCKSNP"
//!     8  format version   u32      1
//!    12  reserved         u32      0
//!    16  covers lsn       u64      every record up to here is in the body; replay starts after it
//!    24  complete lsn     u64      the last LSN appended when the copy finished; a
//!                                  point-in-time restore needs a target >= this
//!    32  created at       u64      milliseconds since the Unix epoch
//!    40  body bytes       u64
//!    48  positions        u64      counts, for listing without reading the body
//!    56  reservations     u64
//!    64  body crc         u32      CRC32C of the body
//!    68  reserved         u32      0
//!    72  header crc       u32      CRC32C of bytes 0..72
//!    76  reserved         u32      0
//!   body (from byte 80, 16-byte aligned): an rkyv 0.8 archive of `EngineImage`
//! ```
//! Written to a temporary name, fsynced, renamed into place and the folder fsynced:
//! a crash leaves either the old set of snapshots or the new one, never half a file
//! under a snapshot's name.

use crate::engine::{EngineImage, ImageError};
use crate::wal::writer::sync_dir;
use crate::wal::WalError;
use crate::{Engine, EngineConfig};
use std::fs::{self, File};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

pub const SNAPSHOT_MAGIC: [u8; 8] = *b"STOCKSNP";
pub const SNAPSHOT_FORMAT_VERSION: u32 = 1;
pub const SNAPSHOT_HEADER_BYTES: usize = 80;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SnapshotHeader {
    pub covers_lsn: u64,
    pub complete_lsn: u64,
    pub created_at_ms: u64,
    pub body_bytes: u64,
    pub positions: u64,
    pub reservations: u64,
    pub body_crc: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path} at byte {offset}: {reason}")]
    Corrupt { path: PathBuf, offset: u64, reason: String },
    #[error("{path}: the archive holds an inconsistent state: {source}")]
    Inconsistent { path: PathBuf, source: ImageError },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> SnapshotError + '_ {
    move |source| SnapshotError::Io { path: path.to_owned(), source }
}

fn corrupt(path: &Path, offset: u64, reason: impl Into<String>) -> SnapshotError {
    SnapshotError::Corrupt { path: path.to_owned(), offset, reason: reason.into() }
}

impl SnapshotHeader {
    pub fn encode(&self) -> [u8; SNAPSHOT_HEADER_BYTES] {
        let mut bytes = [0u8; SNAPSHOT_HEADER_BYTES];
        bytes[0..8].copy_from_slice(&SNAPSHOT_MAGIC);
        bytes[8..12].copy_from_slice(&SNAPSHOT_FORMAT_VERSION.to_le_bytes());
        bytes[16..24].copy_from_slice(&self.covers_lsn.to_le_bytes());
        bytes[24..32].copy_from_slice(&self.complete_lsn.to_le_bytes());
        bytes[32..40].copy_from_slice(&self.created_at_ms.to_le_bytes());
        bytes[40..48].copy_from_slice(&self.body_bytes.to_le_bytes());
        bytes[48..56].copy_from_slice(&self.positions.to_le_bytes());
        bytes[56..64].copy_from_slice(&self.reservations.to_le_bytes());
        bytes[64..68].copy_from_slice(&self.body_crc.to_le_bytes());
        let crc = crc32c::crc32c(&bytes[0..72]);
        bytes[72..76].copy_from_slice(&crc.to_le_bytes());
        bytes
    }

    pub fn decode(bytes: &[u8]) -> Result<SnapshotHeader, String> {
        if bytes.len() < SNAPSHOT_HEADER_BYTES {
            return Err(format!("header is {} bytes, expected {SNAPSHOT_HEADER_BYTES}", bytes.len()));
        }
        if bytes[0..8] != SNAPSHOT_MAGIC {
            return Err("not a stockd snapshot (bad magic)".to_owned());
        }
        let u32_at = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"));
        let u64_at = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"));
        if crc32c::crc32c(&bytes[0..72]) != u32_at(72) {
            return Err("header checksum mismatch".to_owned());
        }
        if u32_at(8) != SNAPSHOT_FORMAT_VERSION {
            return Err(format!("format version {}, this build reads {SNAPSHOT_FORMAT_VERSION}", u32_at(8)));
        }
        Ok(SnapshotHeader {
            covers_lsn: u64_at(16),
            complete_lsn: u64_at(24),
            created_at_ms: u64_at(32),
            body_bytes: u64_at(40),
            positions: u64_at(48),
            reservations: u64_at(56),
            body_crc: u32_at(64),
        })
    }
}

/// Names sort by covered LSN, then by creation time (which tells apart snapshots of
/// an engine with no log, whose covered LSN is always 0).
pub fn snapshot_file_name(covers_lsn: u64, created_at_ms: u64) -> String {
    format!("snapshot-{covers_lsn:020}-{created_at_ms:013}.snap")
}

/// Archives `image` into `dir` durably and returns the file's path.
pub fn write_snapshot(
    dir: &Path,
    image: &EngineImage,
    covers_lsn: u64,
    complete_lsn: u64,
    created_at_ms: u64,
) -> Result<(PathBuf, SnapshotHeader), SnapshotError> {
    fs::create_dir_all(dir).map_err(io(dir))?;
    let body = rkyv::to_bytes::<rkyv::rancor::Error>(image)
        .map_err(|error| corrupt(dir, 0, format!("cannot archive the state: {error}")))?;
    let header = SnapshotHeader {
        covers_lsn,
        complete_lsn,
        created_at_ms,
        body_bytes: body.len() as u64,
        positions: image.positions.len() as u64,
        reservations: image.reservations.len() as u64,
        body_crc: crc32c::crc32c(&body),
    };
    let name = snapshot_file_name(covers_lsn, created_at_ms);
    let path = dir.join(&name);
    let temporary = dir.join(format!(".{name}.tmp"));
    let mut file = File::create(&temporary).map_err(io(&temporary))?;
    file.write_all(&header.encode()).map_err(io(&temporary))?;
    file.write_all(&body).map_err(io(&temporary))?;
    file.sync_all().map_err(io(&temporary))?;
    drop(file);
    fs::rename(&temporary, &path).map_err(io(&path))?;
    sync_dir(dir).map_err(|error| match error {
        WalError::Io { path, source } => SnapshotError::Io { path, source },
        other => corrupt(dir, 0, other.to_string()),
    })?;
    Ok((path, header))
}

/// Reads and checks only the header.
pub fn read_header(path: &Path) -> Result<SnapshotHeader, SnapshotError> {
    let mut file = File::open(path).map_err(io(path))?;
    let mut bytes = [0u8; SNAPSHOT_HEADER_BYTES];
    file.read_exact(&mut bytes).map_err(|_| corrupt(path, 0, "file shorter than a snapshot header"))?;
    SnapshotHeader::decode(&bytes).map_err(|reason| corrupt(path, 0, reason))
}

/// Loads a snapshot: header, body checksum, archive validation, then the engine.
pub fn load_snapshot(path: &Path, config: EngineConfig) -> Result<(Engine, SnapshotHeader), SnapshotError> {
    let image = load_image(path)?.0;
    let header = read_header(path)?;
    let engine = Engine::from_image(config, image)
        .map_err(|source| SnapshotError::Inconsistent { path: path.to_owned(), source })?;
    Ok((engine, header))
}

/// Loads and validates a snapshot's image without building an engine.
pub fn load_image(path: &Path) -> Result<(EngineImage, SnapshotHeader), SnapshotError> {
    let header = read_header(path)?;
    let mut file = File::open(path).map_err(io(path))?;
    let file_bytes = file.metadata().map_err(io(path))?.len();
    let expected = SNAPSHOT_HEADER_BYTES as u64 + header.body_bytes;
    if file_bytes != expected {
        return Err(corrupt(
            path,
            file_bytes.min(expected),
            format!("file is {file_bytes} bytes, header says {expected}"),
        ));
    }
    let mut body = rkyv::util::AlignedVec::<16>::with_capacity(header.body_bytes as usize);
    body.resize(header.body_bytes as usize, 0);
    file.read_exact(&mut [0u8; SNAPSHOT_HEADER_BYTES]).map_err(io(path))?;
    file.read_exact(body.as_mut_slice()).map_err(io(path))?;
    if crc32c::crc32c(&body) != header.body_crc {
        return Err(corrupt(path, SNAPSHOT_HEADER_BYTES as u64, "body checksum mismatch"));
    }
    let archived = rkyv::access::<rkyv::Archived<EngineImage>, rkyv::rancor::Error>(&body)
        .map_err(|error| corrupt(path, SNAPSHOT_HEADER_BYTES as u64, format!("invalid archive: {error}")))?;
    let image = rkyv::deserialize::<EngineImage, rkyv::rancor::Error>(archived)
        .map_err(|error| corrupt(path, SNAPSHOT_HEADER_BYTES as u64, format!("cannot read the archive: {error}")))?;
    Ok((image, header))
}
