//! The group-commit log writer.
//!
//! Appenders (engine threads, holding the locks of the change they record) take a
//! short mutex, get the next LSN, and copy their framed record into a shared
//! buffer. Two threads write the records:
//! - the **writer** swaps the buffer out and writes it with one `write`, again and
//!   again (under `interval` pausing 0.2 ms after each write so that records gather),
//!   so records reach the OS at most about 0.2 ms after they are appended;
//! - under `interval`, the **syncer** `fdatasync`s the current segment at least every
//!   interval, then publishes the durable LSN. One fsync covers every record written
//!   before it began, and the writer keeps writing while it runs.
//! - under `always`, the writer `fdatasync`s right after each write and publishes the
//!   durable LSN itself: a record then waits for one hand-over between threads (the
//!   appender's wake-up of the writer) instead of two, and callers waiting for
//!   durability are woken once per fsync, never by a write.
//!
//! - a third thread (`preallocate.rs`) writes zeros ahead of the writer, into space no
//!   record has reached, so that the writer's writes are overwrites.
//!
//! Because the LSN is taken under the same locks as the change, two changes to the
//! same position are logged in the order they were made. Nothing but these threads
//! writes or syncs a segment.

use super::format::{append_record, segment_file_name, segment_header, SEGMENT_HEADER_BYTES};
use super::preallocate::{self, Preallocator};
use super::{DurabilityMode, Lsn, WalError};
use hdrhistogram::Histogram;
use parking_lot::{Condvar, Mutex};
use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
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
    /// Summed over batches: from the append of a batch's first record to the writer
    /// taking the batch (the record's wait for the writer: its wake-up, or the fsync
    /// or pause before).
    pub batch_wait_nanos_total: u64,
    /// Summed over batches: the `write` calls.
    pub write_nanos_total: u64,
}

struct Pending {
    bytes: Vec<u8>,
    /// When the first record of the buffered batch was appended.
    first_appended: Option<Instant>,
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

struct CurrentSegment {
    file: Arc<File>,
    path: PathBuf,
    /// Every record up to this LSN is written (earlier segments are fully synced).
    written: Lsn,
}

struct Shared {
    pending: Mutex<Pending>,
    /// Wakes the writer when the buffer gains bytes.
    work: Condvar,
    /// Wakes appenders waiting for buffer space.
    space: Condvar,
    progress: Mutex<Progress>,
    /// Wakes callers waiting for the durable LSN (with `progress`): once per fsync.
    durable_changed: Condvar,
    /// Wakes the syncer (with `progress`): a write, a sync request, the writer's end.
    syncer_work: Condvar,
    /// `Progress::durable`, readable without the mutex.
    durable: AtomicU64,
    shutting_down: AtomicBool,
    /// Set when the log failed: appenders stop buffering (nothing will be acknowledged).
    failed: AtomicBool,
    /// Set once the writer has written everything and exited; the syncer then makes
    /// a last fsync and exits too.
    writer_done: AtomicBool,
    /// The segment being written and the last LSN written into it; what the syncer syncs.
    current: Mutex<CurrentSegment>,
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
    batch_wait_nanos_total: AtomicU64,
    write_nanos_total: AtomicU64,
    /// fsync latencies in microseconds (for the server's metrics).
    fsync_micros: Mutex<Histogram<u64>>,
    /// Called with the durable LSN each time it advances, and once when the log fails.
    durable_listeners: Mutex<Vec<DurableListener>>,
}

thread_local! {
    /// The log whose writer wake-ups this thread is deferring (its `Shared` address,
    /// 0 for none) and whether one is owed: see [`Wal::deferring_wakeups`].
    static DEFERRED_WAKE: std::cell::Cell<(usize, bool)> = const { std::cell::Cell::new((0, false)) };
}

/// A callback run on the log's threads each time the durable LSN advances (and once
/// when the log fails): it must be quick and must not block (wake a task, store a value).
pub type DurableListener = Arc<dyn Fn(Lsn) + Send + Sync>;

/// The log. Dropping it writes and fsyncs everything appended, then stops its threads.
pub struct Wal {
    shared: Arc<Shared>,
    config: WalConfig,
    threads: Vec<JoinHandle<()>>,
}

impl Wal {
    /// Opens the log for appending, starting a fresh segment at `next_lsn` (recovery
    /// has read, and if needed truncated, whatever was there).
    pub fn open(config: WalConfig, next_lsn: Lsn) -> Result<Wal, WalError> {
        assert!(next_lsn >= 1, "LSNs start at 1");
        assert!(config.mode != DurabilityMode::None, "durability `none` opens no log");
        std::fs::create_dir_all(&config.dir).map_err(WalError::io(&config.dir))?;
        let segment = open_segment(&config.dir, next_lsn, config.segment_bytes)?;
        let preallocator =
            Preallocator::start(segment.file.clone(), segment.path.clone(), segment.zeroed, config.segment_bytes)?;
        let shared = Arc::new(Shared {
            pending: Mutex::new(Pending { bytes: Vec::with_capacity(1 << 20), first_appended: None, next_lsn }),
            work: Condvar::new(),
            space: Condvar::new(),
            progress: Mutex::new(Progress { written: next_lsn - 1, durable: next_lsn - 1, failed: None }),
            durable_changed: Condvar::new(),
            syncer_work: Condvar::new(),
            durable: AtomicU64::new(next_lsn - 1),
            shutting_down: AtomicBool::new(false),
            failed: AtomicBool::new(false),
            writer_done: AtomicBool::new(false),
            current: Mutex::new(CurrentSegment {
                file: segment.file.clone(),
                path: segment.path.clone(),
                written: next_lsn - 1,
            }),
            appended: AtomicU64::new(next_lsn - 1),
            sync_requested: AtomicBool::new(false),
            records: AtomicU64::new(0),
            writes: AtomicU64::new(0),
            fsyncs: AtomicU64::new(0),
            fsync_nanos_total: AtomicU64::new(0),
            fsync_nanos_max: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            batch_wait_nanos_total: AtomicU64::new(0),
            write_nanos_total: AtomicU64::new(0),
            fsync_micros: Mutex::new(Histogram::new_with_bounds(1, 60_000_000, 2).expect("valid histogram bounds")),
            durable_listeners: Mutex::new(Vec::new()),
        });
        let mut writer = SegmentWriter { config: config.clone(), shared: shared.clone(), segment, preallocator };
        let writer = std::thread::Builder::new()
            .name("stockd-wal-writer".to_owned())
            .spawn(move || writer.run())
            .map_err(WalError::io(&config.dir))?;
        let mut threads = vec![writer];
        if let DurabilityMode::Interval { ms } = config.mode {
            let syncer = Syncer { interval: Duration::from_millis(ms), shared: shared.clone() };
            let syncer = std::thread::Builder::new()
                .name("stockd-wal-syncer".to_owned())
                .spawn(move || syncer.run())
                .map_err(WalError::io(&config.dir))?;
            threads.push(syncer);
        }
        Ok(Wal { shared, config, threads })
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
            if self.shared.failed.load(Ordering::Acquire) {
                // Nothing will be written or acknowledged any more; do not block the
                // engine's locks on a buffer no one drains.
                pending.bytes.clear();
                break;
            }
            // The writer may be asleep with a wake-up deferred by this thread.
            self.shared.work.notify_one();
            self.shared.space.wait_for(&mut pending, Duration::from_millis(100));
        }
        let lsn = pending.next_lsn;
        pending.next_lsn += 1;
        let was_empty = pending.bytes.is_empty();
        if was_empty {
            pending.first_appended = Some(Instant::now());
        }
        append_record(&mut pending.bytes, lsn, encode);
        self.shared.appended.store(lsn, Ordering::Release);
        drop(pending);
        self.shared.records.fetch_add(1, Ordering::Relaxed);
        if was_empty {
            let deferred = DEFERRED_WAKE.with(|deferred| {
                let (log, _) = deferred.get();
                let ours = log == Arc::as_ptr(&self.shared) as usize;
                if ours {
                    deferred.set((log, true));
                }
                ours
            });
            if !deferred {
                self.shared.work.notify_one();
            }
        }
        lsn
    }

    /// Runs `work`, leaving the wake-up of the writer thread by this thread's appends
    /// to its end: one wake-up (a futex call and a cross-core wake, ~10 us on this
    /// class of machine) for everything `work` appends, instead of one per append that
    /// finds the buffer empty. The server wraps each read of requests in it. Appends
    /// from other threads, and to other logs, are unaffected.
    pub fn deferring_wakeups<T>(&self, work: impl FnOnce() -> T) -> T {
        struct WakeOnExit<'w>(&'w Shared, (usize, bool));
        impl Drop for WakeOnExit<'_> {
            fn drop(&mut self) {
                let (_, pending) = DEFERRED_WAKE.with(|deferred| deferred.replace(self.1));
                if pending {
                    self.0.work.notify_one();
                }
            }
        }
        let log = Arc::as_ptr(&self.shared) as usize;
        let outer = DEFERRED_WAKE.with(|deferred| deferred.replace((log, false)));
        let _wake = WakeOnExit(&self.shared, outer);
        work()
    }

    /// The LSN of the last record appended so far (0 if none ever).
    pub fn appended_lsn(&self) -> Lsn {
        self.shared.appended.load(Ordering::Acquire)
    }

    /// Waits until every record up to `lsn` may be acknowledged under the mode.
    /// `always`: once fsynced. `interval`: at once (the record is in the log's
    /// buffer; the writer hands it to the OS within about 0.2 ms and the syncer
    /// fsyncs within the interval), unless the log has failed.
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
            self.shared.durable_changed.wait(&mut progress);
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
            // Ask for an fsync now rather than at the next interval, and make sure the
            // writer is awake (a wake-up of this thread's may be deferred).
            self.shared.sync_requested.store(true, Ordering::Release);
            self.shared.syncer_work.notify_all();
            self.shared.work.notify_one();
            self.shared.durable_changed.wait_for(&mut progress, Duration::from_millis(1));
        }
    }

    /// Every record up to this LSN is on disk. One atomic load: a server asks it for
    /// every reply it holds.
    pub fn durable_lsn(&self) -> Lsn {
        self.shared.durable.load(Ordering::Acquire)
    }

    /// Why the log failed, if it did (then nothing more is acknowledged).
    pub fn failure(&self) -> Option<String> {
        if !self.shared.failed.load(Ordering::Acquire) {
            return None;
        }
        self.shared.progress.lock().failed.clone()
    }

    /// Registers a callback run each time the durable LSN advances and once if the
    /// log fails (see [`DurableListener`]). A server uses it to acknowledge pipelined
    /// requests without a thread blocked per request.
    pub fn on_durable(&self, listener: DurableListener) {
        self.shared.durable_listeners.lock().push(listener);
    }

    /// fsync latencies so far, in microseconds.
    pub fn fsync_latency_micros(&self) -> Histogram<u64> {
        self.shared.fsync_micros.lock().clone()
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
            batch_wait_nanos_total: s.batch_wait_nanos_total.load(Ordering::Relaxed),
            write_nanos_total: s.write_nanos_total.load(Ordering::Relaxed),
        }
    }
}

impl Drop for Wal {
    fn drop(&mut self) {
        self.shared.shutting_down.store(true, Ordering::Release);
        self.shared.work.notify_one();
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

struct OpenSegment {
    file: Arc<File>,
    path: PathBuf,
    /// Where the next record goes (the header and records so far).
    bytes: u64,
    /// Bytes written when the segment was created (header and zeros).
    zeroed: u64,
}

/// Marks the log failed: every waiting and later caller gets an error.
fn fail(shared: &Shared, error: &WalError) {
    tracing::error!(%error, "log I/O failed; no more writes will be acknowledged");
    shared.failed.store(true, Ordering::Release);
    shared.progress.lock().failed.get_or_insert_with(|| error.to_string());
    shared.durable_changed.notify_all();
    shared.syncer_work.notify_all();
    shared.space.notify_all();
    notify_listeners(shared);
}

fn notify_listeners(shared: &Shared) {
    let durable = shared.durable.load(Ordering::Acquire);
    for listener in shared.durable_listeners.lock().iter() {
        listener(durable);
    }
}

/// Under `interval`, how long the writer lets records gather after each write before
/// it takes the next batch: one write and no wake-up per this much time under load,
/// instead of a cross-core wake-up and a `write` per record. A process crash may lose
/// the records of this window (plus the batch being written); `interval` allows it.
const INTERVAL_WRITE_GATHER: Duration = Duration::from_micros(200);

struct SegmentWriter {
    config: WalConfig,
    shared: Arc<Shared>,
    segment: OpenSegment,
    /// Keeps zeros written ahead of `segment.bytes`, so writes are overwrites.
    preallocator: Preallocator,
}

impl SegmentWriter {
    fn run(&mut self) {
        let mut spare: Vec<u8> = Vec::with_capacity(1 << 20);
        loop {
            let (batch_end, shutting_down) = self.take_batch(&mut spare);
            let wrote = !spare.is_empty();
            let result = self.write_batch(&spare, batch_end);
            spare.clear();
            if let Err(error) = result {
                fail(&self.shared, &error);
                break;
            }
            if shutting_down && self.shared.pending.lock().bytes.is_empty() {
                break;
            }
            if wrote && self.config.mode != DurabilityMode::Always && !shutting_down {
                // Under `interval` nobody waits for the write: let records gather for
                // a moment (sleeping, not waiting on the condition variable, so that
                // appenders find no waiter to wake) rather than waking for each one.
                std::thread::sleep(INTERVAL_WRITE_GATHER);
            }
        }
        self.shared.writer_done.store(true, Ordering::Release);
        let _progress = self.shared.progress.lock();
        self.shared.syncer_work.notify_all();
        self.shared.durable_changed.notify_all();
    }

    /// Waits for bytes (or shutdown), then swaps the shared buffer with `spare`.
    /// Returns the last LSN in the batch.
    fn take_batch(&self, spare: &mut Vec<u8>) -> (Lsn, bool) {
        let mut pending = self.shared.pending.lock();
        while pending.bytes.is_empty() && !self.shared.shutting_down.load(Ordering::Acquire) {
            self.shared.work.wait_for(&mut pending, Duration::from_millis(100));
        }
        std::mem::swap(&mut pending.bytes, spare);
        let batch_end = pending.next_lsn - 1;
        let first_appended = pending.first_appended.take();
        drop(pending);
        if let Some(first_appended) = first_appended {
            let waited = first_appended.elapsed().as_nanos() as u64;
            self.shared.batch_wait_nanos_total.fetch_add(waited, Ordering::Relaxed);
        }
        self.shared.space.notify_all();
        (batch_end, self.shared.shutting_down.load(Ordering::Acquire))
    }

    fn write_batch(&mut self, batch: &[u8], batch_end: Lsn) -> Result<(), WalError> {
        if batch.is_empty() {
            return Ok(());
        }
        let started = Instant::now();
        let end = self.segment.bytes + batch.len() as u64;
        self.preallocator.before_write(end);
        self.segment.file.write_all_at(batch, self.segment.bytes).map_err(WalError::io(&self.segment.path))?;
        let write_nanos = started.elapsed().as_nanos() as u64;
        self.shared.write_nanos_total.fetch_add(write_nanos, Ordering::Relaxed);
        self.segment.bytes = end;
        self.preallocator.after_write(end);
        self.shared.writes.fetch_add(1, Ordering::Relaxed);
        self.shared.bytes.fetch_add(batch.len() as u64, Ordering::Relaxed);
        self.shared.current.lock().written = batch_end;
        let always = self.config.mode == DurabilityMode::Always;
        let syncer_idle = {
            let mut progress = self.shared.progress.lock();
            let idle = progress.written == progress.durable;
            progress.written = batch_end;
            idle
        };
        // The syncer (under `interval`) sleeps until its next fsync is due while
        // anything is unsynced: it needs waking only when this write is the first.
        if !always && syncer_idle {
            self.shared.syncer_work.notify_all();
        }
        if always || self.segment.bytes >= self.config.segment_bytes {
            // Under `always` every write is synced at once, by this thread. A full
            // segment is synced here too, before the new one takes its place: the
            // syncer only ever syncs the current segment.
            fsync(&self.shared, &self.segment.file, &self.segment.path)?;
            publish_durable(&self.shared, batch_end);
        }
        if self.segment.bytes >= self.config.segment_bytes {
            self.segment = open_segment(&self.config.dir, batch_end + 1, self.config.segment_bytes)?;
            self.preallocator.switch_to(
                self.segment.file.clone(),
                self.segment.path.clone(),
                self.segment.zeroed,
                self.config.segment_bytes,
            );
            let mut current = self.shared.current.lock();
            current.file = self.segment.file.clone();
            current.path = self.segment.path.clone();
        }
        Ok(())
    }
}

/// The thread that makes written records durable under `interval`.
struct Syncer {
    interval: Duration,
    shared: Arc<Shared>,
}

impl Syncer {
    fn run(&self) {
        let mut last_fsync = Instant::now();
        loop {
            if !self.wait_until_due(last_fsync) {
                return;
            }
            let (file, path, target) = {
                let current = self.shared.current.lock();
                (current.file.clone(), current.path.clone(), current.written)
            };
            if let Err(error) = fsync(&self.shared, &file, &path) {
                fail(&self.shared, &error);
                return;
            }
            last_fsync = Instant::now();
            publish_durable(&self.shared, target);
        }
    }

    /// Waits until an fsync is due; false when there is nothing left to do.
    fn wait_until_due(&self, last_fsync: Instant) -> bool {
        let mut progress = self.shared.progress.lock();
        loop {
            if progress.failed.is_some() {
                return false;
            }
            let unsynced = progress.written > progress.durable;
            let writer_done = self.shared.writer_done.load(Ordering::Acquire);
            if !unsynced && writer_done {
                return false;
            }
            if unsynced {
                let requested = self.shared.sync_requested.swap(false, Ordering::AcqRel);
                if requested || writer_done {
                    return true;
                }
                let due = last_fsync + self.interval;
                if Instant::now() >= due {
                    return true;
                }
                self.shared.syncer_work.wait_until(&mut progress, due);
                continue;
            }
            self.shared.syncer_work.wait_for(&mut progress, Duration::from_millis(100));
        }
    }
}

fn fsync(shared: &Shared, file: &File, path: &Path) -> Result<(), WalError> {
    let started = Instant::now();
    file.sync_data().map_err(WalError::io(path))?;
    let nanos = started.elapsed().as_nanos() as u64;
    shared.fsyncs.fetch_add(1, Ordering::Relaxed);
    shared.fsync_nanos_total.fetch_add(nanos, Ordering::Relaxed);
    shared.fsync_nanos_max.fetch_max(nanos, Ordering::Relaxed);
    shared.fsync_micros.lock().saturating_record((nanos / 1_000).max(1));
    Ok(())
}

fn publish_durable(shared: &Shared, through: Lsn) {
    {
        let mut progress = shared.progress.lock();
        progress.durable = progress.durable.max(through);
        shared.durable.store(progress.durable, Ordering::Release);
    }
    shared.durable_changed.notify_all();
    notify_listeners(shared);
}

/// Creates a new segment starting at `first_lsn`: header and the first zeros
/// (see [`preallocate`]) written and fsynced, and the directory fsynced so that the
/// file's name survives a crash.
fn open_segment(dir: &Path, first_lsn: Lsn, segment_bytes: u64) -> Result<OpenSegment, WalError> {
    let path = dir.join(segment_file_name(first_lsn));
    let file = OpenOptions::new().create(true).write(true).truncate(true).open(&path).map_err(WalError::io(&path))?;
    let header = segment_header(first_lsn);
    let zeroed = preallocate::INITIAL_BYTES.min(segment_bytes).max(SEGMENT_HEADER_BYTES as u64);
    let mut start = vec![0u8; zeroed as usize];
    start[..SEGMENT_HEADER_BYTES].copy_from_slice(&header);
    file.write_all_at(&start, 0).map_err(WalError::io(&path))?;
    file.sync_all().map_err(WalError::io(&path))?;
    sync_dir(dir)?;
    Ok(OpenSegment { file: Arc::new(file), path, bytes: SEGMENT_HEADER_BYTES as u64, zeroed })
}

/// fsyncs a directory, so that files created or renamed in it survive a crash.
pub fn sync_dir(dir: &Path) -> Result<(), WalError> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(WalError::io(dir))
}
