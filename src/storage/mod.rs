//! The durable engine: an [`crate::Engine`] with its write-ahead log and snapshots.
//!
//! - [`recovery`]: start = newest valid snapshot + replay of the log after it
//!   (optionally only up to an LSN or a time, for point-in-time restores).
//! - [`durable`]: [`DurableEngine`]: applies operations and acknowledges them only
//!   once durable under the chosen mode; takes snapshots (on demand, periodically,
//!   at shutdown) and retires old snapshots and log segments.

pub mod durable;
pub mod recovery;

pub use durable::{ApplyError, DurableEngine, SnapshotTaken};
pub use recovery::{recover, RecoveryError, RecoveryReport, RecoveryTarget};

use crate::engine::EngineConfig;
use crate::wal::DurabilityMode;
use std::path::PathBuf;

/// Where and how the engine keeps its data. Defaults suit a newcomer's laptop.
#[derive(Clone, Debug)]
pub struct StorageConfig {
    /// Holds `wal/` (the log segments).
    pub data_dir: PathBuf,
    /// Where snapshots are written (default `snapshots/`).
    pub snapshot_dir: PathBuf,
    pub durability: DurabilityMode,
    /// Take a snapshot when this much time has passed since the last (0: never).
    pub snapshot_interval_ms: u64,
    /// ... or when this many records were logged since the last (0: never).
    pub snapshot_every_records: u64,
    /// Snapshots kept; older ones (and the log segments only they needed) are deleted.
    pub snapshots_retained: usize,
    /// Log segments rotate past this size.
    pub segment_bytes: u64,
    pub engine: EngineConfig,
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            data_dir: PathBuf::from("data"),
            snapshot_dir: PathBuf::from("snapshots"),
            durability: DurabilityMode::Always,
            snapshot_interval_ms: 5 * 60 * 1_000,
            snapshot_every_records: 5_000_000,
            snapshots_retained: 3,
            segment_bytes: 64 * 1024 * 1024,
            engine: EngineConfig::default(),
        }
    }
}

impl StorageConfig {
    /// These folders and this durability, with snapshots taken only on demand and at
    /// shutdown (no periodic ones): what the offline tools and the tests want.
    pub fn with_manual_snapshots(
        data_dir: PathBuf,
        snapshot_dir: PathBuf,
        durability: DurabilityMode,
    ) -> StorageConfig {
        StorageConfig {
            data_dir,
            snapshot_dir,
            durability,
            snapshot_interval_ms: 0,
            snapshot_every_records: 0,
            ..StorageConfig::default()
        }
    }

    pub fn wal_dir(&self) -> PathBuf {
        self.data_dir.join("wal")
    }
}
