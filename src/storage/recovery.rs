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
use crate::engine::{
    Engine, LoggedPosition, LoggedReservation, PositionReplay, PositionStep, ReplaySizing, ReservationReplay,
};
use crate::snapshot::{list_snapshots, load_snapshot, SnapshotError, SnapshotHeader};
use crate::wal::record::{change_time, decode_replay_into, ImageSink, ReplayHead};
use crate::wal::{read_log, repair_torn_tail, LogReadSummary, TornTail, Visit, WalError};
use crate::Timestamp;
use std::path::{Path, PathBuf};

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
    /// Time spent loading the snapshot (and building the engine from it).
    pub snapshot_load_time: std::time::Duration,
    /// Time spent replaying the log after it (deadlines rebuilt included).
    pub replay_time: std::time::Duration,
    /// CPU time the two replaying threads spent (the reading one, then the other),
    /// where the OS tells (`/proc/thread-self/schedstat`; zero elsewhere).
    pub replay_cpu: [std::time::Duration; 2],
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
    let started = std::time::Instant::now();
    let (engine, from) = load_newest_snapshot(config, target, &mut report)?;
    report.snapshot_load_time = started.elapsed();
    let started = std::time::Instant::now();
    let (summary, last_applied, replay_cpu) = replay_log(&engine, &config.wal_dir(), from, target)?;
    report.replay_cpu = replay_cpu;
    if let (true, Some(torn)) = (repair, &summary.torn_tail) {
        repair_torn_tail(torn)?;
    }
    engine.rebuild_deadlines();
    report.replay_time = started.elapsed();
    report.records_replayed = summary.records_visited;
    report.torn_tail = summary.torn_tail;
    report.last_lsn = last_applied.unwrap_or(from.saturating_sub(1));
    Ok((engine, report))
}

/// Position steps per hand-over to the position thread.
const REPLAY_BATCH: usize = 4096;
/// Batches in flight between the two threads (and buffers recycled back).
const REPLAY_BATCHES_IN_FLIGHT: usize = 4;
/// The quarters of the reservation shards whose images the reading thread stores
/// itself (the other thread stores the rest). With the position images prefetched,
/// the reading thread was the busier one at a half (CPU per record at 10 M
/// positions, 1.45 M records: reader 0.45-0.52 us, other 0.32-0.34 us); at a
/// quarter they even out (0.36-0.41 us, 0.37-0.42 us).
const READER_RESERVATION_QUARTERS: usize = 1;

/// What the reading thread hands the other one.
enum Step {
    Position(PositionStep),
    /// An image for a reservation shard the other thread holds.
    Reservation(LoggedReservation),
}

/// Steps on their way to the second thread, all from one segment: LSN, byte
/// offset in the segment, step. Its vector goes back and forth.
struct Batch {
    path: PathBuf,
    /// Bytes of the segments read before this one (a step's offset plus this is its
    /// place in all the replay reads, for [`ReservationReplay::reading_at`]).
    segment_start: u64,
    steps: Vec<(u64, u64, Step)>,
}

/// Where the reading thread puts a change's images: positions into the batch for
/// the other thread, reservations into the table if this thread holds their shard
/// (the lower [`READER_RESERVATION_QUARTERS`]), else into the batch too.
struct Split<'b, 'e> {
    steps: &'b mut Vec<(u64, u64, Step)>,
    reservations: &'b mut ReservationReplay<'e>,
    lsn: u64,
    offset: u64,
}

impl ImageSink for Split<'_, '_> {
    fn position(&mut self, image: LoggedPosition) {
        self.steps.push((self.lsn, self.offset, Step::Position(PositionStep::Image(image))));
    }
    fn reservation(&mut self, image: LoggedReservation) {
        let id = match &image {
            LoggedReservation::Present(reservation) => &*reservation.id,
            LoggedReservation::Forgotten { id } => id.as_str(),
        };
        if self.reservations.holds(id) {
            self.reservations.store(image);
        } else {
            self.steps.push((self.lsn, self.offset, Step::Reservation(image)));
        }
    }
}

/// Replays the log from `from` into `engine` on two threads (see
/// [`crate::engine::PositionReplay`]): this one reads, checks and decodes every
/// record and stores the images of reservations in the lower quarter of the
/// reservation shards; the other stores SKU names, catalogue changes, position
/// images and the other quarters' reservation images, in log order, handed over in
/// batches through a bounded channel (see [`READER_RESERVATION_QUARTERS`] for the
/// split). Nothing on disk is changed. Returns what was read, the last LSN replayed
/// and the two threads' CPU times.
fn replay_log(
    engine: &Engine,
    wal_dir: &Path,
    from: u64,
    target: RecoveryTarget,
) -> Result<(LogReadSummary, Option<u64>, [std::time::Duration; 2]), RecoveryError> {
    let reader_cpu_before = thread_cpu_time();
    // The bytes `read_log` reads (whole segments from the one holding `from`), to
    // size the reservation shards ahead of their growth.
    let segments = crate::wal::list_segments(wal_dir)?;
    let first_needed = segments.iter().rposition(|s| s.first_lsn <= from.max(1)).unwrap_or(0);
    let segments = &segments[first_needed..];
    let sizing = ReplaySizing { total_bytes: segments.iter().map(|s| s.bytes).sum() };
    let (sender, receiver) = std::sync::mpsc::sync_channel::<Batch>(REPLAY_BATCHES_IN_FLIGHT);
    let (recycle, recycled) = std::sync::mpsc::sync_channel::<Vec<(u64, u64, Step)>>(REPLAY_BATCHES_IN_FLIGHT);
    std::thread::scope(|scope| {
        let applier = std::thread::Builder::new()
            .name("stockd-replay".to_owned())
            .spawn_scoped(scope, move || -> Result<std::time::Duration, WalError> {
                let cpu_before = thread_cpu_time();
                let mut positions = PositionReplay::new(engine);
                let mut reservations =
                    ReservationReplay::part(engine, READER_RESERVATION_QUARTERS, true).sized_by(sizing);
                for mut batch in receiver {
                    let mut steps = batch.steps.drain(..);
                    loop {
                        positions.prefetch(steps.as_slice(), |(_, _, step)| match step {
                            Step::Position(PositionStep::Image(image)) => Some(image),
                            _ => None,
                        });
                        let Some((lsn, offset, step)) = steps.next() else { break };
                        let step = match step {
                            Step::Position(step) => step,
                            Step::Reservation(image) => {
                                reservations.reading_at(batch.segment_start + offset);
                                reservations.store(image);
                                continue;
                            }
                        };
                        positions.step(step).map_err(|error| WalError::Corrupt {
                            path: batch.path.clone(),
                            offset,
                            reason: format!("record {lsn} does not replay: {error}"),
                        })?;
                    }
                    drop(steps);
                    let _ = recycle.try_send(batch.steps); // else dropped: the reader makes another
                }
                drop((positions, reservations));
                Ok(thread_cpu_time().saturating_sub(cpu_before))
            })
            .map_err(WalError::io(wal_dir))?;
        let mut reservations = ReservationReplay::part(engine, READER_RESERVATION_QUARTERS, false).sized_by(sizing);
        let mut segment_start = 0u64; // bytes of the segments before this one
        let mut last = None;
        let mut batch = Batch { path: PathBuf::new(), segment_start: 0, steps: Vec::with_capacity(REPLAY_BATCH) };
        let mut segment: Option<*const Path> = None;
        let read = read_log(wal_dir, from, false, |lsn, payload, path, offset| {
            if target.up_to_lsn.is_some_and(|limit| lsn > limit) {
                return Ok(Visit::Stop);
            }
            if let (Some(limit), Some(at)) = (target.up_to_time, change_time(payload)) {
                if at > limit {
                    return Ok(Visit::Stop);
                }
            }
            // `read_log` hands every record of a segment the same `&Path`: comparing
            // addresses spots a new segment without comparing the paths' bytes.
            let new_segment = segment != Some(path as *const Path);
            if batch.steps.len() >= REPLAY_BATCH || new_segment {
                segment = Some(path);
                if new_segment {
                    let before = segments.iter().take_while(|s| s.path.as_path() != path);
                    segment_start = before.map(|s| s.bytes).sum();
                }
                let steps = recycled.try_recv().unwrap_or_else(|_| Vec::with_capacity(REPLAY_BATCH));
                let path = if new_segment { path.to_owned() } else { batch.path.clone() };
                let full = std::mem::replace(&mut batch, Batch { path, segment_start, steps });
                if !full.steps.is_empty() && sender.send(full).is_err() {
                    return Ok(Visit::Stop); // the position thread failed: its error is reported
                }
            }
            reservations.reading_at(segment_start + offset);
            let mut split = Split { steps: &mut batch.steps, reservations: &mut reservations, lsn, offset };
            let head = decode_replay_into(payload, &mut split).map_err(|error| WalError::Corrupt {
                path: path.to_owned(),
                offset,
                reason: format!("record {lsn} does not decode: {error}"),
            })?;
            let step = match head {
                ReplayHead::Change { .. } => None,
                ReplayHead::SkuInterned { sku, name } => Some(PositionStep::Interned { sku, name }),
                ReplayHead::Catalogue { operation } => Some(PositionStep::Catalogue(Box::new(operation))),
            };
            if let Some(step) = step {
                batch.steps.push((lsn, offset, Step::Position(step)));
            }
            last = Some(lsn);
            Ok(Visit::Continue)
        });
        drop(reservations);
        if read.is_ok() && !batch.steps.is_empty() {
            let _ = sender.send(batch);
        }
        drop(sender);
        // The position thread is behind the reader: its error is the earlier record's.
        let applier_cpu = applier.join().expect("the replaying thread does not panic")?;
        let reader_cpu = thread_cpu_time().saturating_sub(reader_cpu_before);
        Ok((read?, last, [reader_cpu, applier_cpu]))
    })
}

/// The CPU time the calling thread has used (zero where the OS does not tell).
fn thread_cpu_time() -> std::time::Duration {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap_or_default();
    let nanos = text.split_whitespace().next().and_then(|field| field.parse().ok()).unwrap_or(0);
    std::time::Duration::from_nanos(nanos)
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
