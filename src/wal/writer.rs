//! The group-commit log writer.
//!
//! Appenders (engine threads, holding the locks of the change they record) take a
//! short mutex, get the next LSN, and frame their record straight into a shared
//! buffer. One writer thread swaps that buffer out, writes it with one `write`,
//! and (by the durability mode) `fdatasync`s, then publishes the durable LSN and
//! wakes the callers waiting on it. Because the LSN is taken under the same locks as
//! the change, two changes to the same position are logged in the order they were
//! made. Nothing but this thread writes or syncs a segment.

use super::format::{append_record, segment_file_name, segment_header};
use super::{DurabilityMode, Lsn, WalError};
use parking_lot::{Condvar, Mutex};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

#[derive(Clone, Debug)]
pub struct WalConfig {
    pub dir: PathBuf,
    /// `Always` or `Interval`; `None` means no log is opened at all.
    pub mode: DurabilityMode,
    /// A segment is closed and a new one started once it grows past this.
    pub segment_bytes: u64,
    /// Appenders wait (backpressure) while this much is buffered and not written.
    pub max_pending_bytes: usize,
}

impl WalConfig {
    pub fn new(dir: impl Into<PathBuf>, mode: DurabilityMode) -> WalConfig {
        WalConfig { dir: dir.into(), mode, segment_bytes: 64 * 1024 * 1024, max_pending_bytes: 64 * 1024 * 1024 }
    }
}

/// Counters for metrics and benchmarks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WalStats {
    pub records: u64,
    pub writes: u64,
    pub fsyncs: u64,
    pub fsync_nanos_total: u64,
    pub fsync_nanos_max: u64,
    pub bytes: u64,
}

struct Pending {
    bytes: Vec<u8>,
    /// The LSN the next appended record gets.
    next_lsn: Lsn,
}

struct Progress {
    /// Every record up to this LSN has been handed to the OS.
    written: Lsn,
    /// Every record up to this LSN is on disk (fsynced).
    durable: Lsn,
    failed: Option<String>,
}

struct Shared {
    pending: Mutex<Pending>,
    /// Wakes the writer when the buffer gains bytes.
    work: Condvar,
    /// Wakes appenders waiting for buffer space.
    space: Condvar,
    progress: Mutex<Progress>,
    progress_changed: Condvar,
    shutting_down: AtomicBool,
    /// The last LSN handed out, readable without the buffer's mutex.
    appended: AtomicU64,
    /// Set by `Wal::sync`: fsync at the next batch whatever the mode says.
    sync_requested: AtomicBool,
    records: AtomicU64,
    writes: AtomicU64,
    fsyncs: AtomicU64,
    fsync_nanos_total: AtomicU64,
    fsync_nanos_max: AtomicU64,
    bytes: AtomicU64,
}

/// The log. Dropping it flushes, fsyncs and stops the writer thread.
pub struct Wal {
    shared: Arc<Shared>,
    config: WalConfig,
    writer: Option<JoinHandle<()>>,
}

impl Wal {
    /// Opens the log for appending, starting a fresh segment at `next_lsn` (recovery
    /// has read, and if needed truncated, whatever was there).
    pub fn open(config: WalConfig, next_lsn: Lsn) -> Result<Wal, WalError> {
        assert!(next_lsn >= 1, "LSNs start at 1");
        assert!(config.mode != DurabilityMode::None, "durability `none` opens no log");
        std::fs::create_dir_all(&config.dir).map_err(WalError::io(&config.dir))?;
        let segment = open_segment(&config.dir, next_lsn)?;
        let shared = Arc::new(Shared {
            pending: Mutex::new(Pending { bytes: Vec::with_capacity(1 << 20), next_lsn }),
            work: Condvar::new(),
            space: Condvar::new(),
            progress: Mutex::new(Progress { written: next_lsn - 1, durable: next_lsn - 1, failed: None }),
            progress_changed: Condvar::new(),
            shutting_down: AtomicBool::new(false),
            appended: AtomicU64::new(next_lsn - 1),
            sync_requested: AtomicBool::new(false),
            records: AtomicU64::new(0),
            writes: AtomicU64::new(0),
            fsyncs: AtomicU64::new(0),
            fsync_nanos_total: AtomicU64::new(0),
            fsync_nanos_max: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
        });
        let thread_shared = shared.clone();
        let thread_config = config.clone();
        let writer = std::thread::Builder::new()
            .name("stockd-wal".to_owned())
            .spawn(move || {
                let mut writer = SegmentWriter { config: thread_config, shared: thread_shared, segment };
                writer.run();
            })
            .map_err(WalError::io(&config.dir))?;
        Ok(Wal { shared, config, writer: Some(writer) })
    }

    pub fn config(&self) -> &WalConfig {
        &self.config
    }

    /// Appends one record, framed around what `encode` writes, and returns its LSN.
    /// Call it with the locks of the change held; it blocks only while the buffer is
    /// full (the writer is behind by `max_pending_bytes`).
    pub fn append(&self, encode: impl FnOnce(&mut Vec<u8>)) -> Lsn {
        let mut pending = self.shared.pending.lock();
        while pending.bytes.len() >= self.config.max_pending_bytes {
            self.shared.space.wait(&mut pending);
        }
        let lsn = pending.next_lsn;
        pending.next_lsn += 1;
        let was_empty = pending.bytes.is_empty();
        append_record(&mut pending.bytes, lsn, encode);
        self.shared.appended.store(lsn, Ordering::Release);
        drop(pending);
        self.shared.records.fetch_add(1, Ordering::Relaxed);
        if was_empty {
            self.shared.work.notify_one();
        }
        lsn
    }

    /// The LSN of the last record appended so far (0 if none ever).
    pub fn appended_lsn(&self) -> Lsn {
        self.shared.appended.load(Ordering::Acquire)
    }

    /// Waits until every record up to `lsn` may be acknowledged under the mode.
    /// `always`: once fsynced. `interval`: at once (the record is in the log's
    /// buffer; the writer, woken by the append, hands it to the OS within
    /// microseconds and fsyncs within the interval), unless the log has failed.
    /// Waiting for the writer thread per request would cost a cross-core wake-up
    /// each time, which is what `interval` exists to avoid.
    pub fn wait_durable(&self, lsn: Lsn) -> Result<(), WalError> {
        if self.config.mode != DurabilityMode::Always {
            return match &self.shared.progress.lock().failed {
                Some(reason) => Err(WalError::Failed(reason.clone())),
                None => Ok(()),
            };
        }
        let mut progress = self.shared.progress.lock();
        loop {
            if let Some(reason) = &progress.failed {
                return Err(WalError::Failed(reason.clone()));
            }
            if progress.durable >= lsn {
                return Ok(());
            }
            self.shared.progress_changed.wait(&mut progress);
        }
    }

    /// Every record up to this LSN has been handed to the OS (it survives a crash of
    /// the process, not of the machine).
    pub fn written_lsn(&self) -> Lsn {
        self.shared.progress.lock().written
    }

    /// Waits until everything appended so far is fsynced, whatever the mode.
    pub fn sync(&self) -> Result<(), WalError> {
        let target = self.appended_lsn();
        let mut progress = self.shared.progress.lock();
        loop {
            if let Some(reason) = &progress.failed {
                return Err(WalError::Failed(reason.clone()));
            }
            if progress.durable >= target {
                return Ok(());
            }
            // Ask for an fsync now rather than at the next interval.
            self.shared.sync_requested.store(true, Ordering::Release);
            self.shared.work.notify_one();
            self.shared.progress_changed.wait_for(&mut progress, Duration::from_millis(1));
        }
    }

    pub fn durable_lsn(&self) -> Lsn {
        self.shared.progress.lock().durable
    }

    pub fn stats(&self) -> WalStats {
        let s = &self.shared;
        WalStats {
            records: s.records.load(Ordering::Relaxed),
            writes: s.writes.load(Ordering::Relaxed),
            fsyncs: s.fsyncs.load(Ordering::Relaxed),
            fsync_nanos_total: s.fsync_nanos_total.load(Ordering::Relaxed),
            fsync_nanos_max: s.fsync_nanos_max.load(Ordering::Relaxed),
            bytes: s.bytes.load(Ordering::Relaxed),
        }
    }
}

impl Drop for Wal {
    fn drop(&mut self) {
        self.shared.shutting_down.store(true, Ordering::Release);
        self.shared.work.notify_one();
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
    }
}

struct OpenSegment {
    file: File,
    path: PathBuf,
    bytes: u64,
}

struct SegmentWriter {
    config: WalConfig,
    shared: Arc<Shared>,
    segment: OpenSegment,
}

impl SegmentWriter {
    fn run(&mut self) {
        let mut spare: Vec<u8> = Vec::with_capacity(1 << 20);
        let mut last_fsync = Instant::now();
        let mut unsynced_through: Option<Lsn> = None;
        loop {
            let (batch_end, shutting_down) = self.take_batch(&mut spare, unsynced_through.is_some(), last_fsync);
            let result = self.write_batch(&spare, batch_end, &mut unsynced_through, &mut last_fsync, shutting_down);
            spare.clear();
            if let Err(error) = result {
                tracing::error!(%error, "log writer failed; no more writes will be acknowledged");
                self.shared.progress.lock().failed = Some(error.to_string());
                self.shared.progress_changed.notify_all();
                self.shared.space.notify_all();
                return;
            }
            if shutting_down && self.shared.pending.lock().bytes.is_empty() && unsynced_through.is_none() {
                return;
            }
        }
    }

    /// Waits for bytes (or for an interval fsync to fall due, or shutdown), then swaps
    /// the shared buffer with `spare`. Returns the last LSN in the batch.
    fn take_batch(&self, spare: &mut Vec<u8>, has_unsynced: bool, last_fsync: Instant) -> (Lsn, bool) {
        let mut pending = self.shared.pending.lock();
        while pending.bytes.is_empty()
            && !self.shared.shutting_down.load(Ordering::Acquire)
            && !(has_unsynced && self.shared.sync_requested.load(Ordering::Acquire))
        {
            match (self.config.mode, has_unsynced) {
                (DurabilityMode::Interval { ms }, true) => {
                    let due = last_fsync + Duration::from_millis(ms);
                    if Instant::now() >= due || self.shared.work.wait_until(&mut pending, due).timed_out() {
                        break;
                    }
                }
                _ => {
                    self.shared.work.wait_for(&mut pending, Duration::from_millis(100));
                }
            }
        }
        std::mem::swap(&mut pending.bytes, spare);
        let batch_end = pending.next_lsn - 1;
        drop(pending);
        self.shared.space.notify_all();
        (batch_end, self.shared.shutting_down.load(Ordering::Acquire))
    }

    fn write_batch(
        &mut self,
        batch: &[u8],
        batch_end: Lsn,
        unsynced_through: &mut Option<Lsn>,
        last_fsync: &mut Instant,
        shutting_down: bool,
    ) -> Result<(), WalError> {
        if !batch.is_empty() {
            self.segment.file.write_all(batch).map_err(WalError::io(&self.segment.path))?;
            self.segment.bytes += batch.len() as u64;
            self.shared.writes.fetch_add(1, Ordering::Relaxed);
            self.shared.bytes.fetch_add(batch.len() as u64, Ordering::Relaxed);
            *unsynced_through = Some(batch_end);
            self.publish(|progress| progress.written = batch_end);
        }
        let fsync_due = match self.config.mode {
            DurabilityMode::Always => true,
            DurabilityMode::Interval { ms } => last_fsync.elapsed() >= Duration::from_millis(ms),
            DurabilityMode::None => false,
        };
        let rotate = self.segment.bytes >= self.config.segment_bytes;
        if let Some(through) = *unsynced_through {
            if fsync_due || rotate || shutting_down || self.sync_requested() {
                self.fsync()?;
                *last_fsync = Instant::now();
                *unsynced_through = None;
                self.publish(|progress| progress.durable = through);
            }
        }
        if rotate {
            self.segment = open_segment(&self.config.dir, batch_end + 1)?;
        }
        Ok(())
    }

    /// A `Wal::sync` caller is waiting (it wakes the writer with an empty buffer).
    fn sync_requested(&self) -> bool {
        self.shared.sync_requested.swap(false, Ordering::AcqRel)
    }

    fn fsync(&self) -> Result<(), WalError> {
        let started = Instant::now();
        self.segment.file.sync_data().map_err(WalError::io(&self.segment.path))?;
        let nanos = started.elapsed().as_nanos() as u64;
        self.shared.fsyncs.fetch_add(1, Ordering::Relaxed);
        self.shared.fsync_nanos_total.fetch_add(nanos, Ordering::Relaxed);
        self.shared.fsync_nanos_max.fetch_max(nanos, Ordering::Relaxed);
        Ok(())
    }

    fn publish(&self, change: impl FnOnce(&mut Progress)) {
        change(&mut self.shared.progress.lock());
        self.shared.progress_changed.notify_all();
    }
}

/// Creates a new segment starting at `first_lsn`: header written and fsynced, and
/// the directory fsynced so that the file's name survives a crash.
fn open_segment(dir: &Path, first_lsn: Lsn) -> Result<OpenSegment, WalError> {
    let path = dir.join(segment_file_name(first_lsn));
    let mut file =
        OpenOptions::new().create(true).write(true).truncate(true).open(&path).map_err(WalError::io(&path))?;
    file.write_all(&segment_header(first_lsn)).map_err(WalError::io(&path))?;
    file.sync_all().map_err(WalError::io(&path))?;
    sync_dir(dir)?;
    Ok(OpenSegment { file, path, bytes: super::format::SEGMENT_HEADER_BYTES as u64 })
}

/// fsyncs a directory, so that files created or renamed in it survive a crash.
pub fn sync_dir(dir: &Path) -> Result<(), WalError> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(WalError::io(dir))
}
