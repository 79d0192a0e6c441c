//! [`DurableEngine`]: the engine, its log and its snapshots, together.

use super::recovery::{recover, RecoveryError, RecoveryReport, RecoveryTarget};
use super::StorageConfig;
use crate::engine::{Engine, EngineError, Operation, Outcome};
use crate::snapshot::{prune_snapshots, write_snapshot, SnapshotError, SnapshotHeader};
use crate::wal::{delete_segments_before, DurabilityMode, Wal, WalConfig, WalError};
use crate::Timestamp;
use parking_lot::{Condvar, Mutex};
use std::path::PathBuf;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Why an operation was not acknowledged.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// The engine refused it (it changed nothing).
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// It was applied but could not be made durable: the log failed, and the
    /// engine acknowledges nothing more.
    #[error("not durable: {0}")]
    Durability(#[from] WalError),
}

#[derive(Clone, Debug)]
pub struct SnapshotTaken {
    pub path: PathBuf,
    pub header: SnapshotHeader,
    /// How long the copy of the state took (the engine kept serving meanwhile).
    pub copy_time: Duration,
    pub total_time: Duration,
    pub segments_deleted: usize,
}

/// An engine whose acknowledged writes survive a crash under the chosen mode.
pub struct DurableEngine {
    engine: Arc<Engine>,
    wal: Option<Arc<Wal>>,
    config: StorageConfig,
    /// One snapshot at a time.
    snapshotting: Mutex<()>,
    /// The log position of the last snapshot, for "every N records".
    last_snapshot_lsn: Mutex<u64>,
    periodic: Mutex<Option<Periodic>>,
    /// An exclusive lock on `<data>/LOCK`, held for the engine's life, so that two
    /// processes never write the same folders.
    _lock: std::fs::File,
}

struct Periodic {
    stop: Arc<(Mutex<bool>, Condvar)>,
    thread: JoinHandle<()>,
}

impl DurableEngine {
    /// Recovers from the folders in `config` and opens the log for new writes.
    pub fn open(config: StorageConfig) -> Result<(Arc<DurableEngine>, RecoveryReport), RecoveryError> {
        let lock = lock_data_dir(&config.data_dir)?;
        let (mut engine, report) = recover(&config, RecoveryTarget::default(), true)?;
        let wal = match config.durability {
            DurabilityMode::None => None,
            mode => {
                let mut wal_config = WalConfig::new(config.wal_dir(), mode);
                wal_config.segment_bytes = config.segment_bytes;
                let covered = report.snapshot.as_ref().map_or(0, |(_, header)| header.covers_lsn);
                let wal = Arc::new(Wal::open(wal_config, report.last_lsn.max(covered) + 1)?);
                engine.attach_journal(wal.clone());
                Some(wal)
            }
        };
        let durable = Arc::new(DurableEngine {
            engine: Arc::new(engine),
            wal,
            last_snapshot_lsn: Mutex::new(report.last_lsn),
            config,
            snapshotting: Mutex::new(()),
            periodic: Mutex::new(None),
            _lock: lock,
        });
        Ok((durable, report))
    }

    pub fn engine(&self) -> &Arc<Engine> {
        &self.engine
    }

    pub fn config(&self) -> &StorageConfig {
        &self.config
    }

    pub fn wal(&self) -> Option<&Arc<Wal>> {
        self.wal.as_ref()
    }

    /// Applies an operation and returns once it is durable under the mode (after
    /// fsync for `always`; once handed to the OS for `interval`; at once for `none`).
    pub fn apply(&self, operation: &Operation, now: Timestamp) -> Result<Outcome, ApplyError> {
        let outcome = self.engine.apply(operation, now);
        // Even a refused call may have logged something (an expiry found on touch).
        self.wait_durable()?;
        Ok(outcome?)
    }

    /// Applies an operation without waiting: returns its outcome (not yet to be
    /// acknowledged) and the log position to wait for with [`Self::wait_until`]. A
    /// server thread applies many requests this way and acknowledges each once its
    /// position is durable, so one fsync serves all of them without a thread each.
    pub fn apply_pipelined(&self, operation: &Operation, now: Timestamp) -> (Result<Outcome, EngineError>, u64) {
        let outcome = self.engine.apply(operation, now);
        (outcome, self.wal.as_ref().map_or(0, |wal| wal.appended_lsn()))
    }

    /// Runs `work` (which applies operations on this thread) waking the log's writer
    /// once at its end rather than once per record (see `Wal::deferring_wakeups`).
    pub fn batching_log_wakeups<T>(&self, work: impl FnOnce() -> T) -> T {
        match &self.wal {
            Some(wal) => wal.deferring_wakeups(work),
            None => work(),
        }
    }

    /// Waits until the log is durable (under the mode) up to `lsn`.
    pub fn wait_until(&self, lsn: u64) -> Result<(), WalError> {
        match &self.wal {
            Some(wal) => wal.wait_durable(lsn),
            None => Ok(()),
        }
    }

    /// Whether the log is durable up to `lsn` now (never blocks).
    pub fn is_durable(&self, lsn: u64) -> bool {
        match &self.wal {
            Some(wal) if wal.config().mode == crate::wal::DurabilityMode::Always => wal.durable_lsn() >= lsn,
            _ => true,
        }
    }

    /// Waits until everything logged so far is durable under the mode.
    pub fn wait_durable(&self) -> Result<(), WalError> {
        match &self.wal {
            Some(wal) => wal.wait_durable(wal.appended_lsn()),
            None => Ok(()),
        }
    }

    /// Takes a snapshot now, while requests keep flowing (see `Engine::export_image`).
    pub fn take_snapshot(&self, now: Timestamp) -> Result<SnapshotTaken, SnapshotError> {
        let _one_at_a_time = self.snapshotting.lock();
        let started = Instant::now();
        // Without a log (`none`) a snapshot covers what recovery rebuilt (records of an
        // earlier logged run), not 0: else it sorts before their snapshots, and the
        // next start loads an older one and loses this run's writes.
        let appended = || self.wal.as_ref().map_or_else(|| *self.last_snapshot_lsn.lock(), |wal| wal.appended_lsn());
        let covers_lsn = appended();
        let image = self.engine.export_image();
        let complete_lsn = appended();
        let copy_time = started.elapsed();
        if let Some(wal) = &self.wal {
            // Everything the copy may reflect must be in the log before the snapshot exists.
            wal.sync().map_err(|error| snapshot_io(&self.config.snapshot_dir, error))?;
        }
        let (path, header) = write_snapshot(&self.config.snapshot_dir, &image, covers_lsn, complete_lsn, now.millis())?;
        drop(image);
        *self.last_snapshot_lsn.lock() = covers_lsn;
        let mut segments_deleted = 0;
        if let Some(oldest_covered) = prune_snapshots(&self.config.snapshot_dir, self.config.snapshots_retained)? {
            if self.wal.is_some() {
                segments_deleted = delete_segments_before(&self.config.wal_dir(), oldest_covered + 1)
                    .map_err(|error| snapshot_io(&self.config.snapshot_dir, error))?;
            }
        }
        tracing::info!(path = %path.display(), covers_lsn, positions = header.positions, ?copy_time, "snapshot written");
        Ok(SnapshotTaken { path, header, copy_time, total_time: started.elapsed(), segments_deleted })
    }

    /// Starts a thread that takes snapshots by time or by records logged, and
    /// calls `expire_due` every `expiry_tick`, until `shutdown`.
    pub fn start_background(self: &Arc<Self>, expiry_tick: Duration) {
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let this = self.clone();
        let thread_stop = stop.clone();
        let thread = std::thread::Builder::new()
            .name("stockd-background".to_owned())
            .spawn(move || this.background_loop(&thread_stop, expiry_tick))
            .expect("spawning the background thread");
        *self.periodic.lock() = Some(Periodic { stop, thread });
    }

    fn background_loop(&self, stop: &(Mutex<bool>, Condvar), expiry_tick: Duration) {
        let mut last_snapshot = Instant::now();
        loop {
            {
                let mut stopped = stop.0.lock();
                if !*stopped {
                    stop.1.wait_for(&mut stopped, expiry_tick);
                }
                if *stopped {
                    return;
                }
            }
            let now = Timestamp::now();
            if let Err(error) = self.apply(&Operation::ExpireDue, now) {
                tracing::error!(%error, "expiry sweep failed");
            }
            if self.snapshot_due(last_snapshot) {
                last_snapshot = Instant::now();
                if let Err(error) = self.take_snapshot(now) {
                    tracing::error!(%error, "periodic snapshot failed");
                }
            }
        }
    }

    fn snapshot_due(&self, last_snapshot: Instant) -> bool {
        let by_time = self.config.snapshot_interval_ms > 0
            && last_snapshot.elapsed() >= Duration::from_millis(self.config.snapshot_interval_ms);
        let last_snapshot_lsn = *self.last_snapshot_lsn.lock();
        let logged_since = self.wal.as_ref().map_or(last_snapshot_lsn, |wal| wal.appended_lsn()) - last_snapshot_lsn;
        let by_records = self.config.snapshot_every_records > 0 && logged_since >= self.config.snapshot_every_records;
        by_time || by_records
    }

    /// Stops the background thread, takes a final snapshot and syncs the log.
    pub fn shutdown(&self, now: Timestamp) -> Result<SnapshotTaken, SnapshotError> {
        if let Some(periodic) = self.periodic.lock().take() {
            *periodic.stop.0.lock() = true;
            periodic.stop.1.notify_all();
            let _ = periodic.thread.join();
        }
        self.take_snapshot(now)
    }
}

/// Takes the data folder's lock file, or says who has it.
fn lock_data_dir(data_dir: &std::path::Path) -> Result<std::fs::File, RecoveryError> {
    std::fs::create_dir_all(data_dir).map_err(WalError::io(data_dir))?;
    let path = data_dir.join("LOCK");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(WalError::io(&path))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(RecoveryError::Locked(path)),
        Err(std::fs::TryLockError::Error(error)) => Err(WalError::io(&path)(error).into()),
    }
}

fn snapshot_io(dir: &std::path::Path, error: WalError) -> SnapshotError {
    SnapshotError::Corrupt { path: dir.to_owned(), offset: 0, reason: format!("the log could not be synced: {error}") }
}
