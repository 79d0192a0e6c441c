//! The write-ahead log: every state change is in a segment file, checksummed,
//! before its outcome is acknowledged.
//!
//! - [`format`](mod@format): the byte layout of segments and records (see ARCHITECTURE.md).
//! - [`writer`]: [`Wal`], the group-commit writer: appenders copy framed records into
//!   one shared buffer; one thread writes the whole buffer with one `write` and one
//!   `fdatasync`, then wakes every caller whose record became durable.
//! - `preallocate`: the thread that zero-fills a segment ahead of the writer, so that
//!   its writes are overwrites (a cheaper `fdatasync`).
//! - [`record`]: the payload of a record (fixed little-endian after-images).
//! - [`reader`]: reading segments back, with torn-tail truncation and refusal of
//!   any other damage.

pub mod format;
mod journal;
mod preallocate;
pub mod reader;
pub mod record;
pub mod writer;

pub use reader::{
    delete_segments_before, list_segments, read_log, repair_torn_tail, LogReadSummary, SegmentInfo, TornTail, Visit,
};
pub use writer::{sync_dir, DurableListener, Wal, WalConfig, WalStats};

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

/// A log sequence number: the position of a record in the log, from 1.
pub type Lsn = u64;

/// How acknowledgements relate to fsync, chosen by the operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DurabilityMode {
    /// Acknowledge after the record is fsynced (group commit makes this cheap).
    Always,
    /// Acknowledge once the record is in the log's buffer; the writer thread hands it
    /// to the OS within about 0.2 ms (it gathers records between writes) and the
    /// syncer fsyncs at least every `ms` milliseconds. A crash of the process loses
    /// the records acknowledged in the last moments before it that the writer had not
    /// yet written (in practice well under `ms`); a power failure loses at most the
    /// last `ms` plus one batch.
    Interval { ms: u64 },
    /// No log: memory only. A crash loses everything since the last snapshot.
    None,
}

impl FromStr for DurabilityMode {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "always" => Ok(DurabilityMode::Always),
            "none" => Ok(DurabilityMode::None),
            _ => {
                let ms = text
                    .strip_prefix("interval:")
                    .and_then(|ms| ms.parse::<u64>().ok())
                    .filter(|ms| (1..=60_000).contains(ms))
                    .ok_or_else(|| format!("{text:?} is not `always`, `none` or `interval:<1..=60000 ms>`"))?;
                Ok(DurabilityMode::Interval { ms })
            }
        }
    }
}

impl fmt::Display for DurabilityMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DurabilityMode::Always => f.write_str("always"),
            DurabilityMode::Interval { ms } => write!(f, "interval:{ms}"),
            DurabilityMode::None => f.write_str("none"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum WalError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path} at byte {offset}: {reason}")]
    Corrupt { path: PathBuf, offset: u64, reason: String },
    #[error("{path}: log segment format version {found}, this build reads version {supported} only (recover it with the build that wrote it and take a snapshot)")]
    UnsupportedVersion { path: PathBuf, found: u32, supported: u32 },
    #[error("the log is missing records {from}..{to}: a segment was deleted or lost")]
    MissingRecords { from: Lsn, to: Lsn },
    #[error("the log writer failed earlier and acknowledges nothing more: {0}")]
    Failed(String),
}

impl WalError {
    pub fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> WalError {
        let path = path.into();
        move |source| WalError::Io { path, source }
    }
}
