//! Recovery: the newest snapshot that loads, then the log after it.
//!
//! The argument, case by case:
//! - A snapshot records `covers_lsn`, the last LSN appended before its copy began.
//!   Every change up to it is in the copy; changes after it may or may not be.
//!   Replay stores after-images from `covers_lsn + 1` on, in log order, so each
//!   position and reservation ends as its last logged image: the state at the end
//!   of the log, whatever the copy caught.
//! - A snapshot is written only after the log is fsynced through `complete_lsn`
//!   (the last LSN when its copy ended), so the log always holds every change the
//!   snapshot reflects.
//! - A snapshot that fails its checksums or validation is skipped (with a warning)
//!   for an older one and a longer replay; the log after the oldest needed point
//!   must then exist, or recovery refuses.
//! - A torn final record (a crash mid-write) is cut off with a warning; any other
//!   damage in the log refuses, naming the file and offset.

use super::StorageConfig;
use crate::codec;
use crate::engine::{Engine, ReplayEntry};
use crate::snapshot::{list_snapshots, load_snapshot, SnapshotError, SnapshotHeader};
use crate::wal::{read_log, TornTail, Visit, WalError};
use crate::Timestamp;
use std::path::PathBuf;

/// How far to recover: to the end of the log, or to a point in time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RecoveryTarget {
    /// Replay no record after this LSN.
    pub up_to_lsn: Option<u64>,
    /// Replay no change made after this time.
    pub up_to_time: Option<Timestamp>,
}

#[derive(Clone, Debug, Default)]
pub struct RecoveryReport {
    /// The snapshot recovery started from, if any.
    pub snapshot: Option<(PathBuf, SnapshotHeader)>,
    /// Snapshots that were skipped, and why.
    pub skipped_snapshots: Vec<(PathBuf, String)>,
    pub records_replayed: u64,
    /// The last LSN now reflected in the engine (0: none).
    pub last_lsn: u64,
    pub torn_tail: Option<TornTail>,
}

#[derive(Debug, thiserror::Error)]
pub enum RecoveryError {
    #[error(transparent)]
    Log(#[from] WalError),
    #[error(transparent)]
    Snapshot(#[from] SnapshotError),
    #[error("{0} is locked: another stockd process has this data folder open")]
    Locked(PathBuf),
    #[error("no snapshot is old enough for the target (the oldest covers up to LSN {oldest_complete})")]
    TargetTooOld { oldest_complete: u64 },
}

/// Rebuilds the engine from `config`'s folders. With `repair`, a torn final log
/// record is truncated from its file; without, nothing on disk is changed.
pub fn recover(
    config: &StorageConfig,
    target: RecoveryTarget,
    repair: bool,
) -> Result<(Engine, RecoveryReport), RecoveryError> {
    let mut report = RecoveryReport::default();
    let (engine, from) = load_newest_snapshot(config, target, &mut report)?;
    let wal_dir = config.wal_dir();
    let mut last_applied = from.saturating_sub(1);
    let summary = read_log(&wal_dir, from, repair, |lsn, payload, path, offset| {
        if target.up_to_lsn.is_some_and(|limit| lsn > limit) {
            return Ok(Visit::Stop);
        }
        let entry: ReplayEntry = codec::decode_prefix(payload).map_err(|error| WalError::Corrupt {
            path: path.to_owned(),
            offset,
            reason: format!("record {lsn} does not decode: {error}"),
        })?;
        if let (Some(limit), ReplayEntry::Change { at, .. }) = (target.up_to_time, &entry) {
            if *at > limit {
                return Ok(Visit::Stop);
            }
        }
        engine.replay(entry).map_err(|error| WalError::Corrupt {
            path: path.to_owned(),
            offset,
            reason: format!("record {lsn} does not replay: {error}"),
        })?;
        last_applied = lsn;
        Ok(Visit::Continue)
    })?;
    engine.rebuild_deadlines();
    report.records_replayed = summary.records_visited;
    report.torn_tail = summary.torn_tail;
    report.last_lsn = last_applied;
    Ok((engine, report))
}

/// The newest snapshot that loads and suits the target, or an empty engine.
/// Returns the engine and the first LSN to replay.
fn load_newest_snapshot(
    config: &StorageConfig,
    target: RecoveryTarget,
    report: &mut RecoveryReport,
) -> Result<(Engine, u64), RecoveryError> {
    let snapshots = list_snapshots(&config.snapshot_dir)?;
    let mut oldest_complete = None;
    for file in snapshots {
        let header = match &file.header {
            Ok(header) => *header,
            Err(reason) => {
                tracing::warn!(path = %file.path.display(), %reason, "skipping a damaged snapshot");
                report.skipped_snapshots.push((file.path.clone(), reason.clone()));
                continue;
            }
        };
        oldest_complete = Some(header.complete_lsn);
        let too_new = target.up_to_lsn.is_some_and(|limit| header.complete_lsn > limit)
            || target.up_to_time.is_some_and(|limit| header.created_at_ms > limit.millis());
        if too_new {
            continue;
        }
        match load_snapshot(&file.path, config.engine.clone()) {
            Ok((engine, header)) => {
                tracing::info!(path = %file.path.display(), covers_lsn = header.covers_lsn, "loaded snapshot");
                report.snapshot = Some((file.path.clone(), header));
                return Ok((engine, header.covers_lsn + 1));
            }
            Err(error) => {
                tracing::warn!(path = %file.path.display(), %error, "skipping a snapshot that does not load");
                report.skipped_snapshots.push((file.path.clone(), error.to_string()));
            }
        }
    }
    let targeted = target.up_to_lsn.is_some() || target.up_to_time.is_some();
    if let (true, Some(oldest_complete)) = (targeted, oldest_complete) {
        // Only snapshots newer than the target exist: the log before them may be gone.
        let log_from_start = crate::wal::list_segments(&config.wal_dir())?.first().is_some_and(|s| s.first_lsn == 1);
        if !log_from_start {
            return Err(RecoveryError::TargetTooOld { oldest_complete });
        }
    }
    Ok((Engine::new(config.engine.clone()), 1))
}
