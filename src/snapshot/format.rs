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
use rkyv::ser::writer::IoWriter;
use std::fs::{self, File};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc;

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

/// Bytes per chunk handed from the archiving thread to the writing thread.
const WRITE_CHUNK_BYTES: usize = 8 << 20;
/// Chunks queued for the writing thread at most (the memory a snapshot's write
/// takes, instead of the whole archive).
const WRITE_CHUNKS_IN_FLIGHT: usize = 4;
/// The writing thread `fdatasync`s every this many bytes, so that the disk works
/// while the archive is still being made and the final `fsync` has little left.
const SYNC_EVERY_BYTES: u64 = 64 << 20;

/// Archives `image` into `dir` durably and returns the file's path.
///
/// The archive is streamed: this thread archives into 8 MiB chunks while another
/// checksums and writes them (the body never sits whole in memory); the header,
/// which holds the body's size and checksum, is written last, before the `fsync`
/// and the rename.
pub fn write_snapshot(
    dir: &Path,
    image: &EngineImage,
    covers_lsn: u64,
    complete_lsn: u64,
    created_at_ms: u64,
) -> Result<(PathBuf, SnapshotHeader), SnapshotError> {
    fs::create_dir_all(dir).map_err(io(dir))?;
    let name = snapshot_file_name(covers_lsn, created_at_ms);
    let path = dir.join(&name);
    let temporary = dir.join(format!(".{name}.tmp"));
    let file = File::create(&temporary).map_err(io(&temporary))?;
    let written = write_temporary(image, file, &temporary, [covers_lsn, complete_lsn, created_at_ms]);
    let header = match written {
        Ok(header) => header,
        Err(error) => {
            let _ = fs::remove_file(&temporary); // best effort: the error is what matters
            return Err(error);
        }
    };
    fs::rename(&temporary, &path).map_err(io(&path))?;
    sync_dir(dir).map_err(|error| match error {
        WalError::Io { path, source } => SnapshotError::Io { path, source },
        other => corrupt(dir, 0, other.to_string()),
    })?;
    Ok((path, header))
}

/// Writes the whole temporary file (header placeholder, streamed body, then the
/// header) and fsyncs it.
fn write_temporary(
    image: &EngineImage,
    mut file: File,
    temporary: &Path,
    [covers_lsn, complete_lsn, created_at_ms]: [u64; 3],
) -> Result<SnapshotHeader, SnapshotError> {
    file.write_all(&[0u8; SNAPSHOT_HEADER_BYTES]).map_err(io(temporary))?;
    let (mut file, body_bytes, body_crc) = stream_archive(image, file, temporary, WRITE_CHUNK_BYTES)?;
    let header = SnapshotHeader {
        covers_lsn,
        complete_lsn,
        created_at_ms,
        body_bytes,
        positions: image.positions.len() as u64,
        reservations: image.reservations.len() as u64,
        body_crc,
    };
    file.seek(SeekFrom::Start(0)).map_err(io(temporary))?;
    file.write_all(&header.encode()).map_err(io(temporary))?;
    file.sync_all().map_err(io(temporary))?;
    Ok(header)
}

/// Archives `image` onto the end of `file` (positioned after the header): returns
/// the file, the body's size and its CRC32C. Both the archiving and the writing run
/// on threads of their own at a low CPU priority (see [`super::priority`]).
fn stream_archive<W: SyncWritten + Send>(
    image: &EngineImage,
    file: W,
    path: &Path,
    chunk_bytes: usize,
) -> Result<(W, u64, u32), SnapshotError> {
    assert!(chunk_bytes > 0);
    let (sender, receiver) = mpsc::sync_channel::<Vec<u8>>(WRITE_CHUNKS_IN_FLIGHT);
    let (recycle, recycled) = mpsc::sync_channel::<Vec<u8>>(WRITE_CHUNKS_IN_FLIGHT);
    std::thread::scope(|scope| {
        let writer = std::thread::Builder::new()
            .name("stockd-snapshot".to_owned())
            .spawn_scoped(scope, move || -> std::io::Result<(W, u64, u32)> {
                super::priority::lower_this_thread_priority();
                let mut file = file;
                let (mut written, mut unsynced, mut crc) = (0u64, 0u64, 0u32);
                for mut chunk in receiver {
                    crc = crc32c::crc32c_append(crc, &chunk);
                    file.write_all(&chunk)?;
                    written += chunk.len() as u64;
                    unsynced += chunk.len() as u64;
                    if unsynced >= SYNC_EVERY_BYTES {
                        file.sync_written()?;
                        unsynced = 0;
                    }
                    chunk.clear();
                    let _ = recycle.try_send(chunk); // else dropped: the archiver makes another
                }
                Ok((file, written, crc))
            })
            .map_err(io(path))?;
        let archiver =
            std::thread::Builder::new().name("stockd-snapshot-archive".to_owned()).spawn_scoped(scope, move || {
                super::priority::lower_this_thread_priority();
                let chunks = ChunkSender { chunk: Vec::with_capacity(chunk_bytes), chunk_bytes, sender, recycled };
                let archived = rkyv::api::high::to_bytes_in::<_, rkyv::rancor::Error>(image, IoWriter::new(chunks));
                match archived {
                    Ok(writer) => writer.into_inner().finish().err().map(|error| error.to_string()),
                    Err(error) => Some(error.to_string()), // the sender is dropped with it
                }
            });
        let archive_error = match archiver {
            Ok(archiver) => archiver.join().expect("the snapshot archiving thread does not panic"),
            // The sender went with the closure: the writing thread ends.
            Err(error) => Some(format!("cannot start the archiving thread: {error}")),
        };
        let written = writer.join().expect("the snapshot writing thread does not panic");
        let (file, body_bytes, body_crc) = written.map_err(io(path))?; // a write error explains an archive error
        if let Some(error) = archive_error {
            return Err(corrupt(path, 0, format!("cannot archive the state: {error}")));
        }
        Ok((file, body_bytes, body_crc))
    })
}

/// Where a streamed archive goes: a file, `fdatasync`ed as it grows (a vector in tests).
trait SyncWritten: Write {
    fn sync_written(&mut self) -> std::io::Result<()>;
}

impl SyncWritten for File {
    fn sync_written(&mut self) -> std::io::Result<()> {
        self.sync_data()
    }
}

#[cfg(test)]
impl SyncWritten for Vec<u8> {
    fn sync_written(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// An `io::Write` that hands full chunks to the writing thread.
struct ChunkSender {
    chunk: Vec<u8>,
    chunk_bytes: usize,
    sender: mpsc::SyncSender<Vec<u8>>,
    recycled: mpsc::Receiver<Vec<u8>>,
}

impl ChunkSender {
    fn send_chunk(&mut self) -> std::io::Result<()> {
        let next = self.recycled.try_recv().unwrap_or_else(|_| Vec::with_capacity(self.chunk_bytes));
        let full = std::mem::replace(&mut self.chunk, next);
        self.sender
            .send(full)
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the snapshot writing thread stopped"))
    }

    /// Sends what is left; dropping `self` then ends the writing thread's loop.
    fn finish(mut self) -> std::io::Result<()> {
        if self.chunk.is_empty() {
            Ok(())
        } else {
            self.send_chunk()
        }
    }
}

impl Write for ChunkSender {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let taken = bytes.len().min(self.chunk_bytes - self.chunk.len());
        self.chunk.extend_from_slice(&bytes[..taken]);
        if self.chunk.len() == self.chunk_bytes {
            self.send_chunk()?;
        }
        Ok(taken)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Reads and checks only the header.
pub fn read_header(path: &Path) -> Result<SnapshotHeader, SnapshotError> {
    let mut file = File::open(path).map_err(io(path))?;
    let mut bytes = [0u8; SNAPSHOT_HEADER_BYTES];
    file.read_exact(&mut bytes).map_err(|_| corrupt(path, 0, "file shorter than a snapshot header"))?;
    SnapshotHeader::decode(&bytes).map_err(|reason| corrupt(path, 0, reason))
}

/// Loads a snapshot: header, body checksum, archive validation, then the engine,
/// built straight from the archive (see [`Engine::from_archived_image`]).
pub fn load_snapshot(path: &Path, config: EngineConfig) -> Result<(Engine, SnapshotHeader), SnapshotError> {
    let (body, header) = read_body(path)?;
    let inconsistent = |source| SnapshotError::Inconsistent { path: path.to_owned(), source };
    let archived = checked_archive(path, &body, header.body_crc)?;
    let engine = match Engine::from_archived_image(config.clone(), archived).map_err(inconsistent)? {
        Some(engine) => engine,
        None => Engine::from_image(config, deserialize(path, archived)?).map_err(inconsistent)?,
    };
    Ok((engine, header))
}

/// Loads and validates a snapshot's image without building an engine.
pub fn load_image(path: &Path) -> Result<(EngineImage, SnapshotHeader), SnapshotError> {
    let (body, header) = read_body(path)?;
    let image = deserialize(path, checked_archive(path, &body, header.body_crc)?)?;
    Ok((image, header))
}

/// The checked header and the body, read whole (its size checked against the header).
fn read_body(path: &Path) -> Result<(rkyv::util::AlignedVec<16>, SnapshotHeader), SnapshotError> {
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
    file.seek(SeekFrom::Start(SNAPSHOT_HEADER_BYTES as u64)).map_err(io(path))?;
    file.read_exact(body.as_mut_slice()).map_err(io(path))?;
    Ok((body, header))
}

/// The body's checksum (on another thread) and rkyv's validation of the archive
/// (on this one), at once; the checksum's verdict comes first.
fn checked_archive<'b>(
    path: &Path,
    body: &'b [u8],
    body_crc: u32,
) -> Result<&'b rkyv::Archived<EngineImage>, SnapshotError> {
    let (crc, archived) = std::thread::scope(|scope| {
        let crc = std::thread::Builder::new()
            .name("stockd-snapshot-crc".to_owned())
            .spawn_scoped(scope, || crc32c::crc32c(body))
            .map_err(io(path))?;
        let archived = rkyv::access::<rkyv::Archived<EngineImage>, rkyv::rancor::Error>(body);
        Ok::<_, SnapshotError>((crc.join().expect("the checksum thread does not panic"), archived))
    })?;
    if crc != body_crc {
        return Err(corrupt(path, SNAPSHOT_HEADER_BYTES as u64, "body checksum mismatch"));
    }
    archived.map_err(|error| corrupt(path, SNAPSHOT_HEADER_BYTES as u64, format!("invalid archive: {error}")))
}

fn deserialize(path: &Path, archived: &rkyv::Archived<EngineImage>) -> Result<EngineImage, SnapshotError> {
    rkyv::deserialize::<EngineImage, rkyv::rancor::Error>(archived)
        .map_err(|error| corrupt(path, SNAPSHOT_HEADER_BYTES as u64, format!("cannot read the archive: {error}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_streamed_archive_is_the_archive_byte_for_byte_whatever_the_chunk_size() {
        let settings = crate::demo::DemoSettings { skus: 300, locations: 5, ..Default::default() };
        let image = crate::demo::build(&settings).unwrap().0.export_image();
        assert!(image.positions.len() >= 1_000);
        let whole = rkyv::to_bytes::<rkyv::rancor::Error>(&image).unwrap();
        for chunk_bytes in [1, 7, 4096, whole.len(), whole.len() + 1] {
            let (streamed, bytes, crc) = stream_archive(&image, Vec::new(), Path::new("test"), chunk_bytes).unwrap();
            assert_eq!(streamed, whole.as_slice(), "chunks of {chunk_bytes}");
            assert_eq!((bytes, crc), (whole.len() as u64, crc32c::crc32c(&whole)));
        }
    }
}
