//! Durability benchmarks: the log's cost per write, group commit under `always`,
//! snapshots of a big engine while writes go on, and cold start.
//!
//! `cargo bench --bench durability` prints one table. Sizes by environment:
//! `STOCKD_DURABILITY_POSITIONS` (default 10,000,000), `STOCKD_DURABILITY_RECORDS`
//! (log records replayed at cold start, default 1,000,000), `STOCKD_BENCH_THREADS`
//! (default "1,2"), `STOCKD_ALWAYS_WRITERS` (default 64). Every figure is a median or
//! a percentile of one run; BENCHMARKS.md records runs and the command.
//!
//! Parts: `STOCKD_DURABILITY_PARTS`, a comma list of `fsync`, `interval`, `always`,
//! `pipelined`, `big` (bulk load, snapshot, log, cold start); default all of them.
//! `STOCKD_DURABILITY_COLD_RUNS` (default 1) repeats the cold start and prints each
//! run (its snapshot load and replay times, from the `RecoveryReport`) and the medians.
//! `STOCKD_DURABILITY_KEEP=<folder>`: the `big` part keeps its data there, and a later
//! run with the same folder skips the bulk load, snapshot and log and only cold-starts
//! from them (for profiling recovery alone; delete the folder afterwards).

use hdrhistogram::Histogram;
use std::fs::OpenOptions;
use std::io::{Seek, SeekFrom, Write};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use stockd::engine::{AdjustReason, ReserveLine, ReserveRequest};
use stockd::model::{Coordinates, LocationFlags, LocationKind, LocationSpec, PositionRow};
use stockd::storage::{DurableEngine, StorageConfig};
use stockd::wal::DurabilityMode;
use stockd::{Engine, Operation, Timestamp};

#[global_allocator]
static GLOBAL: stockd::Allocator = stockd::Allocator;

const LOCATIONS: usize = 10;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.replace('_', "").parse().ok()).unwrap_or(default)
}

fn thread_counts() -> Vec<usize> {
    std::env::var("STOCKD_BENCH_THREADS")
        .unwrap_or_else(|_| "1,2".to_owned())
        .split(',')
        .filter_map(|t| t.trim().parse().ok())
        .collect()
}

/// Whether `part` is among `STOCKD_DURABILITY_PARTS` (all parts when unset).
fn part_selected(part: &str) -> bool {
    match std::env::var("STOCKD_DURABILITY_PARTS") {
        Ok(parts) => parts.split(',').any(|p| p.trim() == part),
        Err(_) => true,
    }
}

fn median(mut values: Vec<Duration>) -> Duration {
    values.sort_unstable();
    values[values.len() / 2]
}

fn location_name(index: usize) -> String {
    format!("L{index:03}")
}

fn sku_name(index: usize) -> String {
    format!("SKU-{index:08}")
}

fn locations() -> Operation {
    Operation::UpsertLocations(
        (0..LOCATIONS)
            .map(|i| LocationSpec {
                name: location_name(i),
                kind: LocationKind::Warehouse,
                coordinates: Coordinates { latitude: 52.0, longitude: 0.0 },
                flags: LocationFlags { ships: true, pickup: false },
                priority: 1,
            })
            .collect(),
    )
}

fn rows(positions: usize, on_hand: u32) -> Vec<PositionRow> {
    (0..positions)
        .map(|i| PositionRow {
            sku: sku_name(i / LOCATIONS),
            location: location_name(i % LOCATIONS),
            on_hand,
            safety_stock: 0,
            damaged: 0,
            quality_control: 0,
            backorder_limit: 0,
        })
        .collect()
}

fn storage(dir: &Path, durability: DurabilityMode) -> StorageConfig {
    StorageConfig {
        data_dir: dir.join("data"),
        snapshot_dir: dir.join("snapshots"),
        durability,
        snapshot_interval_ms: 0,
        snapshot_every_records: 0,
        ..StorageConfig::default()
    }
}

fn open(dir: &Path, durability: DurabilityMode, positions: usize) -> Arc<DurableEngine> {
    let (durable, _) = DurableEngine::open(storage(dir, durability)).expect("open");
    durable.apply(&locations(), Timestamp(1)).expect("locations");
    durable.apply(&Operation::BulkLoad(rows(positions, stockd::limits::MAX_QUANTITY)), Timestamp(1)).expect("load");
    durable
}

fn reserve_request(thread: usize, sequence: usize, skus: usize) -> ReserveRequest {
    let index = (sequence.wrapping_mul(2_654_435_761) ^ thread.wrapping_mul(40_503)) % (skus * LOCATIONS);
    ReserveRequest {
        id: format!("t{thread}-{sequence}"),
        lines: vec![ReserveLine {
            sku: sku_name(index / LOCATIONS),
            location: location_name(index % LOCATIONS),
            quantity: 1,
        }],
        ttl_ms: 3_600_000,
        promise_by: None,
    }
}

/// Nanoseconds this thread has spent on a CPU (`/proc/thread-self/schedstat`), 0 if
/// unreadable. Unlike wall time it hardly moves when other processes share the cores.
fn thread_cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|text| text.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// Nanoseconds on a CPU of this process's threads whose name starts with `prefix`.
fn named_threads_cpu_ns(prefix: &str) -> u64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else { return 0 };
    tasks
        .filter_map(Result::ok)
        .filter(|task| std::fs::read_to_string(task.path().join("comm")).is_ok_and(|name| name.starts_with(prefix)))
        .filter_map(|task| std::fs::read_to_string(task.path().join("schedstat")).ok())
        .filter_map(|text| text.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}

/// A run of reserves: the rate, and CPU time per reserve on the calling threads and
/// on the log's threads.
struct ReserveRun {
    per_second: f64,
    caller_cpu_ns: f64,
    log_cpu_ns: f64,
}

/// Single-line reserves from `threads` threads (ids offset by `first_thread`, so two
/// runs on one engine never collide), each handed to `reserve`. Requests are built
/// before the clock starts.
fn reserve_run(
    threads: usize,
    first_thread: usize,
    per_thread: usize,
    skus: usize,
    reserve: impl Fn(Operation) + Sync,
) -> ReserveRun {
    let requests: Vec<Vec<Operation>> = (0..threads)
        .map(|t| (0..per_thread).map(|i| Operation::Reserve(reserve_request(first_thread + t, i, skus))).collect())
        .collect();
    let reserve = &reserve;
    let log_before = named_threads_cpu_ns("stockd-wal");
    let started = Instant::now();
    let caller_ns: u64 = std::thread::scope(|scope| {
        let handles: Vec<_> = requests
            .into_iter()
            .map(|ops| {
                scope.spawn(move || {
                    let cpu = thread_cpu_ns();
                    ops.into_iter().for_each(reserve);
                    thread_cpu_ns() - cpu
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum()
    });
    let elapsed = started.elapsed();
    let total = (threads * per_thread) as f64;
    ReserveRun {
        per_second: total / elapsed.as_secs_f64(),
        caller_cpu_ns: caller_ns as f64 / total,
        log_cpu_ns: named_threads_cpu_ns("stockd-wal").saturating_sub(log_before) as f64 / total,
    }
}

/// Through `DurableEngine::apply`: acknowledged under the log's mode.
fn logged_reserve_run(durable: &DurableEngine, threads: usize, per_thread: usize, skus: usize) -> ReserveRun {
    reserve_run(threads, 0, per_thread, skus, |op| {
        durable.apply(&op, Timestamp(2)).expect("reserve");
    })
}

fn logged_reserves_per_second(durable: &DurableEngine, threads: usize, per_thread: usize, skus: usize) -> f64 {
    logged_reserve_run(durable, threads, per_thread, skus).per_second
}

/// A 4 KiB overwrite + fdatasync, `samples` times: this disk's raw fsync latency.
fn raw_fsync(dir: &Path, samples: usize) -> Histogram<u64> {
    let mut file = OpenOptions::new().create(true).write(true).truncate(true).open(dir.join("fsync.probe")).unwrap();
    let block = [7u8; 4096];
    let mut histogram = Histogram::<u64>::new(3).unwrap();
    for _ in 0..samples {
        let started = Instant::now();
        file.seek(SeekFrom::Start(0)).unwrap();
        file.write_all(&block).unwrap();
        file.sync_data().unwrap();
        histogram.record(started.elapsed().as_micros() as u64).unwrap();
    }
    histogram
}

/// `writers` threads reserving under `always` for `duration`: throughput and
/// acknowledgement latency.
fn always_writers(durable: &DurableEngine, writers: usize, duration: Duration, skus: usize) -> (f64, Histogram<u64>) {
    let stop = AtomicBool::new(false);
    let done = AtomicU64::new(0);
    let histograms: Vec<Histogram<u64>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..writers)
            .map(|t| {
                let (stop, done) = (&stop, &done);
                scope.spawn(move || {
                    let mut histogram = Histogram::<u64>::new(3).unwrap();
                    let mut sequence = 0;
                    while !stop.load(Ordering::Relaxed) {
                        let op = Operation::Reserve(reserve_request(t + 5_000, sequence, skus));
                        let started = Instant::now();
                        durable.apply(&op, Timestamp(3)).expect("reserve");
                        histogram.record(started.elapsed().as_micros() as u64).unwrap();
                        sequence += 1;
                    }
                    done.fetch_add(sequence as u64, Ordering::Relaxed);
                    histogram
                })
            })
            .collect();
        std::thread::sleep(duration);
        stop.store(true, Ordering::Relaxed);
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    (done.load(Ordering::Relaxed) as f64 / duration.as_secs_f64(), merged(histograms))
}

/// `in_flight` reserves kept outstanding by each of `threads` threads, as a server
/// would: apply without waiting, acknowledge each once the log is durable past it.
/// Latency runs from submission to acknowledgement.
fn always_pipelined(
    durable: &DurableEngine,
    threads: usize,
    in_flight: usize,
    duration: Duration,
    skus: usize,
) -> (f64, Histogram<u64>) {
    let stop = AtomicBool::new(false);
    let done = AtomicU64::new(0);
    let histograms: Vec<Histogram<u64>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let (stop, done) = (&stop, &done);
                scope.spawn(move || {
                    let mut histogram = Histogram::<u64>::new(3).unwrap();
                    let mut outstanding: std::collections::VecDeque<(Instant, u64)> = Default::default();
                    let mut sequence = 0;
                    while !stop.load(Ordering::Relaxed) || !outstanding.is_empty() {
                        if outstanding.len() < in_flight && !stop.load(Ordering::Relaxed) {
                            let op = Operation::Reserve(reserve_request(t + 9_000, sequence, skus));
                            let started = Instant::now();
                            let (outcome, lsn) = durable.apply_pipelined(&op, Timestamp(3));
                            outcome.expect("reserve");
                            outstanding.push_back((started, lsn));
                            sequence += 1;
                            continue;
                        }
                        let (_, oldest) = *outstanding.front().expect("outstanding requests");
                        durable.wait_until(oldest).expect("durable");
                        while let Some(&(started, lsn)) = outstanding.front() {
                            if !durable.is_durable(lsn) {
                                break;
                            }
                            histogram.record(started.elapsed().as_micros() as u64).unwrap();
                            outstanding.pop_front();
                        }
                    }
                    done.fetch_add(sequence as u64, Ordering::Relaxed);
                    histogram
                })
            })
            .collect();
        std::thread::sleep(duration);
        stop.store(true, Ordering::Relaxed);
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    (done.load(Ordering::Relaxed) as f64 / duration.as_secs_f64(), merged(histograms))
}

/// What [`snapshot_under_writes`] measured.
struct SnapshotUnderWrites {
    total: Duration,
    copy: Duration,
    /// The writer's writes during the snapshot, in microseconds.
    writes: Histogram<u64>,
}

/// Snapshot of a big engine while one thread keeps adjusting: total time, copy
/// time, and how long each write took meanwhile.
fn snapshot_under_writes(durable: &DurableEngine, positions: usize) -> SnapshotUnderWrites {
    let stop = AtomicBool::new(false);
    let measuring = AtomicBool::new(false);
    let (taken, writes) = std::thread::scope(|scope| {
        let writer = scope.spawn(|| {
            let mut writes = Histogram::<u64>::new(3).unwrap();
            let mut i = 0usize;
            while !stop.load(Ordering::Relaxed) {
                i = (i + 7_919) % positions;
                let op = Operation::Adjust {
                    sku: sku_name(i / LOCATIONS),
                    location: location_name(i % LOCATIONS),
                    delta: -1,
                    reason: AdjustReason::Correction,
                    reference: String::new(),
                };
                let started = Instant::now();
                durable.apply(&op, Timestamp(4)).expect("adjust");
                if measuring.load(Ordering::Relaxed) {
                    writes.record(started.elapsed().as_micros() as u64).unwrap();
                }
            }
            writes
        });
        std::thread::sleep(Duration::from_millis(200));
        measuring.store(true, Ordering::Relaxed);
        let taken = durable.take_snapshot(Timestamp(5)).expect("snapshot");
        measuring.store(false, Ordering::Relaxed);
        stop.store(true, Ordering::Relaxed);
        (taken, writer.join().unwrap())
    });
    SnapshotUnderWrites { total: taken.total_time, copy: taken.copy_time, writes }
}

/// Where a batch's time goes in the log, means per batch: the first record's wait
/// for the writer, the `write`, the fsync.
fn log_breakdown(stats: &stockd::wal::WalStats) -> String {
    let per_batch = |nanos: u64, count: u64| nanos as f64 / count.max(1) as f64 / 1_000.0;
    format!(
        "per batch: wait for the writer {:.0} us, write {:.0} us, fsync {:.0} us (max {:.0} us); {} batches",
        per_batch(stats.batch_wait_nanos_total, stats.writes),
        per_batch(stats.write_nanos_total, stats.writes),
        per_batch(stats.fsync_nanos_total, stats.fsyncs),
        stats.fsync_nanos_max as f64 / 1_000.0,
        stats.writes
    )
}

/// One histogram of every thread's samples.
fn merged(histograms: Vec<Histogram<u64>>) -> Histogram<u64> {
    let mut all = Histogram::<u64>::new(3).unwrap();
    for histogram in histograms {
        all.add(histogram).unwrap();
    }
    all
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo test --benches` lists benches; there is nothing to list.
    }
    let positions = env_usize("STOCKD_DURABILITY_POSITIONS", 10_000_000);
    let records = env_usize("STOCKD_DURABILITY_RECORDS", 1_000_000);
    let writers = env_usize("STOCKD_ALWAYS_WRITERS", 64);
    let skus = 100_000.min(positions / LOCATIONS).max(1);
    let bench_dir = std::env::var("STOCKD_BENCH_DIR").unwrap_or_else(|_| "target".to_owned());
    std::fs::create_dir_all(&bench_dir).expect("the bench folder");
    let root = tempfile::tempdir_in(&bench_dir).expect("a temporary folder");
    println!("stockd durability bench: {positions} positions, {records} replayed records, {writers} always-writers");

    let fsync = raw_fsync(root.path(), if part_selected("fsync") { 2_000 } else { 1 });
    if part_selected("fsync") {
        println!(
            "raw 4 KiB overwrite + fdatasync          p50 {:>6} us   p99 {:>6} us",
            fsync.value_at_quantile(0.5),
            fsync.value_at_quantile(0.99)
        );
    }

    for threads in thread_counts().into_iter().filter(|_| part_selected("interval")) {
        let per_thread = 400_000 / threads;
        let memory = Engine::default();
        memory.apply(&locations(), Timestamp(1)).unwrap();
        memory.bulk_load(&rows(skus * LOCATIONS, stockd::limits::MAX_QUANTITY)).unwrap();
        let in_memory = reserve_run(threads, 1_000, per_thread, skus, |op| {
            memory.apply(&op, Timestamp(2)).expect("reserve");
        });
        drop(memory);
        let dir = root.path().join(format!("interval-{threads}"));
        let durable = open(&dir, DurabilityMode::Interval { ms: 5 }, skus * LOCATIONS);
        let logged = logged_reserve_run(&durable, threads, per_thread, skus);
        println!(
            "single-line reserves, {threads} thread(s)     in memory {:>9.0}/s   interval:5 logged {:>9.0}/s   cost x{:.2}",
            in_memory.per_second,
            logged.per_second,
            in_memory.per_second / logged.per_second
        );
        println!(
            "  cpu ns per reserve: in memory {:.0}; logged {:.0} on the callers + {:.0} on the log's threads",
            in_memory.caller_cpu_ns, logged.caller_cpu_ns, logged.log_cpu_ns
        );
    }

    if part_selected("always") {
        let dir = root.path().join("always");
        let durable = open(&dir, DurabilityMode::Always, skus * LOCATIONS);
        let (rate, latency) = always_writers(&durable, writers, Duration::from_secs(3), skus);
        let stats = durable.wal().unwrap().stats();
        println!(
            "always, {writers} writers                    {:>9.0}/s   ack p50 {:>5} us  p99 {:>5} us  (p99 / raw fsync p50 = {:.2}); {:.1} records per fsync",
            rate,
            latency.value_at_quantile(0.5),
            latency.value_at_quantile(0.99),
            latency.value_at_quantile(0.99) as f64 / fsync.value_at_quantile(0.5).max(1) as f64,
            stats.records as f64 / stats.fsyncs.max(1) as f64
        );
        println!("  {}", log_breakdown(&stats));
    }

    if part_selected("pipelined") {
        let dir = root.path().join("always-pipelined");
        let durable = open(&dir, DurabilityMode::Always, skus * LOCATIONS);
        let per_thread = (writers / 2).max(1);
        let (rate, latency) = always_pipelined(&durable, 2, per_thread, Duration::from_secs(3), skus);
        let stats = durable.wal().unwrap().stats();
        println!(
            "always, {writers} in flight (2 threads x {per_thread}) {:>9.0}/s   ack p50 {:>5} us  p99 {:>5} us  (p99 / raw fsync p50 = {:.2}); {:.1} records per fsync",
            rate,
            latency.value_at_quantile(0.5),
            latency.value_at_quantile(0.99),
            latency.value_at_quantile(0.99) as f64 / fsync.value_at_quantile(0.5).max(1) as f64,
            stats.records as f64 / stats.fsyncs.max(1) as f64
        );
        println!("  {}", log_breakdown(&stats));
    }

    if part_selected("big") {
        big(root.path(), positions, records, skus);
    }
}

/// Bulk load, a snapshot under writes, `records` log records after it, then cold
/// starts (`STOCKD_DURABILITY_COLD_RUNS` of them).
fn big(root: &Path, positions: usize, records: usize, skus: usize) {
    let kept = std::env::var_os("STOCKD_DURABILITY_KEEP").map(std::path::PathBuf::from);
    let dir = kept.clone().unwrap_or_else(|| root.join("big"));
    let digest_file = dir.join("digest");
    let digest = match std::fs::read_to_string(&digest_file).ok().and_then(|text| text.trim().parse::<u64>().ok()) {
        Some(digest) if kept.is_some() => {
            println!("cold starts only, from the data kept in {}", dir.display());
            digest
        }
        _ => build_big(&dir, positions, records, skus),
    };
    if kept.is_some() {
        std::fs::write(&digest_file, digest.to_string()).expect("the digest is kept");
    }
    cold_starts(&dir, digest);
}

/// Bulk load, a snapshot under writes and `records` log records after it; returns
/// the digest of the state they hold.
fn build_big(dir: &Path, positions: usize, records: usize, skus: usize) -> u64 {
    let started = Instant::now();
    let durable = open(dir, DurabilityMode::Interval { ms: 5 }, positions);
    println!("bulk load (logged, interval:5) of {positions} positions: {:.2?}", started.elapsed());
    let runs = env_usize("STOCKD_DURABILITY_SNAPSHOT_RUNS", 1).max(1);
    let (mut totals, mut longest) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        let SnapshotUnderWrites { total, copy, writes } = snapshot_under_writes(&durable, positions);
        let longest_write = Duration::from_micros(writes.max());
        println!(
            "snapshot of {positions} positions: {total:.2?} in all, copy {copy:.2?}; longest write meanwhile {longest_write:.2?} ({} writes: p99 {} us, p99.9 {} us, {} over 10 ms)",
            writes.len(),
            writes.value_at_quantile(0.99),
            writes.value_at_quantile(0.999),
            writes.count_between(10_001, u64::MAX),
        );
        totals.push(total);
        longest.push(longest_write);
    }
    if runs > 1 {
        println!(
            "median of {runs} snapshots: {:.2?} in all; longest write meanwhile {:.2?}",
            median(totals),
            median(longest)
        );
    }
    let per_thread = records / 2;
    let started = Instant::now();
    let logged = logged_reserves_per_second(&durable, 2, per_thread, skus);
    durable.wal().unwrap().sync().unwrap();
    println!("{} log records after the snapshot written in {:.2?} ({logged:.0}/s)", per_thread * 2, started.elapsed());
    let digest = durable.engine().digest();
    drop(durable);
    digest
}

/// `STOCKD_DURABILITY_COLD_RUNS` cold starts from `dir`, each checked against `digest`.
fn cold_starts(dir: &Path, digest: u64) {
    let runs = env_usize("STOCKD_DURABILITY_COLD_RUNS", 1).max(1);
    let (mut colds, mut loads, mut replays, mut cpus) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..runs {
        let started = Instant::now();
        let (reopened, report) = DurableEngine::open(storage(dir, DurabilityMode::Interval { ms: 5 })).unwrap();
        let cold = started.elapsed();
        assert_eq!(reopened.engine().digest(), digest, "cold start rebuilt the same state");
        drop(reopened);
        let (load, replay) = (report.snapshot_load_time, report.replay_time);
        let per_record = |cpu: Duration| cpu.as_secs_f64() * 1e6 / report.records_replayed.max(1) as f64;
        println!(
            "cold start: {cold:.2?} (snapshot load {load:.2?}, replay of {} records {replay:.2?} = {:.2} M records/s; cpu us/record: reader {:.3}, other {:.3})",
            report.records_replayed,
            report.records_replayed as f64 / replay.as_secs_f64().max(1e-9) / 1e6,
            per_record(report.replay_cpu[0]),
            per_record(report.replay_cpu[1]),
        );
        cpus.push(report.replay_cpu.map(per_record));
        colds.push(cold);
        loads.push(load);
        replays.push((replay, report.records_replayed));
    }
    if runs > 1 {
        let records_replayed = replays[0].1;
        let replay = median(replays.into_iter().map(|(replay, _)| replay).collect());
        let cpu_median = |thread: usize| {
            let mut values: Vec<f64> = cpus.iter().map(|cpu: &[f64; 2]| cpu[thread]).collect();
            values.sort_unstable_by(f64::total_cmp);
            values[values.len() / 2]
        };
        println!(
            "median of {runs} cold starts: {:.2?} (snapshot load {:.2?}, replay {replay:.2?} = {:.2} M records/s; cpu us/record: reader {:.3}, other {:.3})",
            median(colds),
            median(loads),
            records_replayed as f64 / replay.as_secs_f64().max(1e-9) / 1e6,
            cpu_median(0),
            cpu_median(1),
        );
    }
}
