//! Engine benchmarks: reads and reservations on a pre-built engine, on 1 or more
//! threads at once.
//!
//! Every benchmark runs its loop on each thread count of `STOCKD_BENCH_THREADS`
//! (a comma list, default `1,2`). Each thread performs `iters` operations; the time
//! criterion reports is the wall time from the common start to the last thread's
//! end, divided by `iters`, so "time" is the latency of one operation under that
//! much concurrency, and "thrpt" (elements = threads) is the total over all threads.
//!
//! The dataset (see `support/mod.rs`): 100,000 SKUs x 10 locations = 1,000,000
//! positions, a 1,000-location catalogue, a 10-location and a 1,000-location channel,
//! one SKU stocked at all 1,000 locations and one hot SKU with 10^9 units.
//!
//! Run: `cargo bench --bench engine`; `STOCKD_BENCH_THREADS=1,2,4,8 cargo bench
//! --bench engine`; a subset: `cargo bench --bench engine -- reserve`.

#[path = "support/mod.rs"]
mod support;

use criterion::{BenchmarkId, Criterion, Throughput};
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Barrier;
use std::time::{Duration, Instant};
use stockd::engine::{Availability, AvailabilityScope, ReserveLine, ReserveRequest};
use stockd::{EngineConfig, Timestamp};
use support::{build_dataset, write_sku_name, Dataset, DatasetSize, FastRandom};

// The allocator a stockd server is meant to run with (a dependency of the crate).
#[global_allocator]
static ALLOCATOR: stockd::Allocator = stockd::Allocator;

/// SKUs of the cache-resident read variant: 1,000 SKUs x 10 positions, about 0.5 MB
/// of positions plus their interner entries.
const HOT_SKUS: usize = 1_000;
/// SKUs per batch read: one product listing page.
const BATCH_SKUS: usize = 48;
/// Time to live of every benchmark reservation.
const TTL_MS: u64 = 60_000;
/// Reserve+release pairs the sweeping thread performs between two `expire_due` calls.
const PAIRS_PER_SWEEP: u64 = 1_024;

fn main() {
    let benchmark_mode = support::benchmark_mode();
    let size = if benchmark_mode {
        DatasetSize { sku_count: 100_000, locations_per_sku: 10, location_count: 1_000 }
    } else {
        DatasetSize { sku_count: 1_000, locations_per_sku: 10, location_count: 1_000 }
    };
    let started = Instant::now();
    let dataset = build_dataset(&size, bench_config());
    eprintln!(
        "dataset: {} SKUs x {} locations + 1 SKU x {} locations, built in {:.2?}",
        size.sku_count,
        size.locations_per_sku,
        size.location_count,
        started.elapsed()
    );
    let threads = thread_counts();
    let mut criterion = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2))
        .configure_from_args();

    bench_position_reads(&mut criterion, &dataset, &threads);
    bench_batch_reads(&mut criterion, &dataset, &threads);
    bench_channel_read(&mut criterion, &dataset, &threads);
    bench_reserve_release(&mut criterion, &dataset, &threads);
    criterion.final_summary();

    let report = dataset.engine.verify();
    assert!(report.is_clean(), "the benchmarks left the engine inconsistent: {report:?}");
}

/// Released reservations are forgotten at the next sweep (window 0), so that the
/// reservation table stays at a steady size however long a sample runs.
fn bench_config() -> EngineConfig {
    EngineConfig { idempotency_window_ms: 0, ..EngineConfig::default() }
}

/// The thread counts to run each benchmark with: `STOCKD_BENCH_THREADS`, default `1,2`.
fn thread_counts() -> Vec<usize> {
    let list = std::env::var("STOCKD_BENCH_THREADS").unwrap_or_else(|_| "1,2".to_owned());
    let counts: Vec<usize> = list
        .split(',')
        .map(|item| item.trim().parse().unwrap_or_else(|_| panic!("STOCKD_BENCH_THREADS: {item:?} is not a count")))
        .collect();
    assert!(counts.iter().all(|&n| n >= 1), "STOCKD_BENCH_THREADS: counts start at 1");
    counts
}

/// Runs `work(thread_index, iters)` on `threads` threads that start together, and
/// returns the wall time from the first start to the last end (thread start-up and
/// join are outside it).
fn run_threads<F>(threads: usize, iters: u64, work: F) -> Duration
where
    F: Fn(usize, u64) + Sync,
{
    let barrier = Barrier::new(threads);
    let spans: Vec<(Instant, Instant)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|thread| {
                let (barrier, work) = (&barrier, &work);
                scope.spawn(move || {
                    barrier.wait();
                    let start = Instant::now();
                    work(thread, iters);
                    (start, Instant::now())
                })
            })
            .collect();
        handles.into_iter().map(|handle| handle.join().expect("a benchmark thread panicked")).collect()
    });
    let start = spans.iter().map(|span| span.0).min().expect("one thread");
    let end = spans.iter().map(|span| span.1).max().expect("one thread");
    end - start
}

/// A different seed for every thread of every sample.
fn seed(thread: usize) -> u64 {
    static SAMPLES: AtomicU64 = AtomicU64::new(1);
    SAMPLES.fetch_add(1, Ordering::Relaxed) * 1_000 + thread as u64
}

/// One SKU at one location, at random, by name: `availability` and `position`; and
/// `availability` over a small, cache-resident set of SKUs.
fn bench_position_reads(criterion: &mut Criterion, dataset: &Dataset, threads: &[usize]) {
    let mut group = criterion.benchmark_group("position_read");
    // Every SKU (a working set far larger than the caches), and the first
    // `HOT_SKUS` only (one that stays in cache: the cost of the code alone).
    let spreads = [("availability", dataset.sku_count), ("availability_hot_skus", HOT_SKUS.min(dataset.sku_count))];
    for &thread_count in threads {
        group.throughput(Throughput::Elements(thread_count as u64));
        for (name, sku_count) in spreads {
            group.bench_function(BenchmarkId::new(name, thread_count), |b| {
                b.iter_custom(|iters| {
                    run_threads(thread_count, iters, |thread, iters| {
                        let mut random = FastRandom::new(seed(thread));
                        let mut sku = String::with_capacity(32);
                        for _ in 0..iters {
                            write_sku_name(&mut sku, random.below(sku_count));
                            let scope = &dataset.location_scopes[random.below(dataset.locations.len())];
                            let available =
                                dataset.engine.availability(&sku, scope, Availability::ToSell).expect("a valid read");
                            black_box(available);
                        }
                    })
                })
            });
        }
        group.bench_function(BenchmarkId::new("position", thread_count), |b| {
            b.iter_custom(|iters| {
                run_threads(thread_count, iters, |thread, iters| {
                    let mut random = FastRandom::new(seed(thread));
                    let mut sku = String::with_capacity(32);
                    for _ in 0..iters {
                        write_sku_name(&mut sku, random.below(dataset.sku_count));
                        let location = &dataset.locations[random.below(dataset.locations.len())];
                        let view = dataset.engine.position(&sku, location).expect("a stocked position");
                        black_box(view);
                    }
                })
            })
        });
    }
    group.finish();
}

/// 48 random SKUs in one `availability_batch`, over a 10-location channel and over
/// one location. The names are written into a reused batch each time (as a decoded
/// request would hold them); `harness` measures that writing alone.
fn bench_batch_reads(criterion: &mut Criterion, dataset: &Dataset, threads: &[usize]) {
    let scopes = [
        ("channel_10_locations", AvailabilityScope::Channel(dataset.narrow_channel.clone())),
        ("location", dataset.location_scopes[0].clone()),
    ];
    let mut group = criterion.benchmark_group("batch_read_48");
    for &thread_count in threads {
        group.throughput(Throughput::Elements(thread_count as u64));
        for (name, scope) in &scopes {
            group.bench_function(BenchmarkId::new(*name, thread_count), |b| {
                b.iter_custom(|iters| {
                    run_threads(thread_count, iters, |thread, iters| {
                        let mut random = FastRandom::new(seed(thread));
                        let mut batch = vec![String::with_capacity(32); BATCH_SKUS];
                        for _ in 0..iters {
                            fill_batch(&mut batch, &mut random, dataset.sku_count);
                            let values = dataset
                                .engine
                                .availability_batch(&batch, scope, Availability::ToSell)
                                .expect("a valid batch");
                            black_box(values);
                        }
                    })
                })
            });
        }
    }
    group.throughput(Throughput::Elements(1));
    group.bench_function("harness", |b| {
        let mut random = FastRandom::new(seed(0));
        let mut batch = vec![String::with_capacity(32); BATCH_SKUS];
        b.iter(|| {
            fill_batch(&mut batch, &mut random, dataset.sku_count);
            black_box(&batch);
        })
    });
    group.finish();
}

fn fill_batch(batch: &mut [String], random: &mut FastRandom, sku_count: usize) {
    for name in batch {
        write_sku_name(name, random.below(sku_count));
    }
}

/// One SKU summed over a 1,000-location channel.
fn bench_channel_read(criterion: &mut Criterion, dataset: &Dataset, threads: &[usize]) {
    let mut group = criterion.benchmark_group("channel_read");
    for &thread_count in threads {
        group.throughput(Throughput::Elements(thread_count as u64));
        group.bench_function(BenchmarkId::new("1000_locations", thread_count), |b| {
            b.iter_custom(|iters| {
                run_threads(thread_count, iters, |_, iters| {
                    for _ in 0..iters {
                        let availability = dataset
                            .engine
                            .channel_availability(&dataset.wide_sku, &dataset.wide_channel, false)
                            .expect("a valid channel read");
                        black_box(availability);
                    }
                })
            })
        });
    }
    group.finish();
}

/// Which positions a reserve+release benchmark holds.
#[derive(Clone, Copy)]
enum Lines {
    /// One line at a random position.
    OneRandom,
    /// One line, every thread on the same hot position (a flash sale).
    OneHot,
    /// Five lines: five distinct random SKUs, each at a random location.
    FiveRandom,
}

impl Lines {
    fn count(self) -> usize {
        match self {
            Lines::OneRandom | Lines::OneHot => 1,
            Lines::FiveRandom => 5,
        }
    }
}

/// Reserve then release at once, so that stock stays where it was. Every pair
/// uses a new reservation id.
fn bench_reserve_release(criterion: &mut Criterion, dataset: &Dataset, threads: &[usize]) {
    let cases = [
        ("1_line_random", Lines::OneRandom),
        ("1_line_hot_position", Lines::OneHot),
        ("5_lines_random", Lines::FiveRandom),
    ];
    let mut group = criterion.benchmark_group("reserve_release");
    for &thread_count in threads {
        group.throughput(Throughput::Elements(thread_count as u64));
        for (name, lines) in cases {
            group.bench_function(BenchmarkId::new(name, thread_count), |b| {
                b.iter_custom(|iters| reserve_release_sample(dataset, thread_count, iters, lines))
            });
        }
    }
    group.finish();
}

/// One criterion sample of reserve+release pairs.
///
/// Time is logical: a thread's `now` advances 1 ms per pair, starting from a base
/// that every sample moves past the last one's expiries. Every `PAIRS_PER_SWEEP`
/// pairs, thread 0 (only it, as a server runs one expiry timer, not one per worker)
/// calls `expire_due`, which forgets the released reservations and drops the stale
/// expiry deadlines older than the TTL; that sweep is timed, since a server pays for
/// it too. After the sample, outside the timing, everything left is
/// swept so that the next sample starts from the same state.
fn reserve_release_sample(dataset: &Dataset, threads: usize, iters: u64, lines: Lines) -> Duration {
    static CLOCK_MS: AtomicU64 = AtomicU64::new(1_700_000_000_000);
    static SAMPLE: AtomicU64 = AtomicU64::new(0);
    let base_ms = CLOCK_MS.fetch_add(iters + 2 * TTL_MS + 2, Ordering::Relaxed);
    let sample = SAMPLE.fetch_add(1, Ordering::Relaxed);
    let engine = &dataset.engine;
    let elapsed = run_threads(threads, iters, |thread, iters| {
        let mut random = FastRandom::new(seed(thread));
        let mut id = format!("bench-{sample}-{thread}-");
        let prefix_len = id.len();
        id.reserve(16);
        let mut request = ReserveRequest {
            id,
            lines: (0..lines.count())
                .map(|_| ReserveLine {
                    sku: String::with_capacity(32),
                    location: String::with_capacity(16),
                    quantity: 1,
                })
                .collect(),
            ttl_ms: TTL_MS,
            promise_by: None,
        };
        for pair in 0..iters {
            let now = Timestamp(base_ms + pair);
            request.id.truncate(prefix_len);
            push_hex(&mut request.id, pair);
            choose_lines(dataset, &mut random, lines, &mut request.lines);
            let outcome = engine.reserve(&request, now).expect("stock never runs short");
            black_box(outcome);
            let released = engine.release(&request.id, None, now).expect("a held reservation");
            black_box(released);
            if thread == 0 && pair % PAIRS_PER_SWEEP == PAIRS_PER_SWEEP - 1 {
                black_box(engine.expire_due(now));
            }
        }
    });
    let after_ms = Timestamp(base_ms + iters + TTL_MS + 1);
    while engine.expire_due(after_ms).more_due {}
    elapsed
}

/// Fills the request's lines for one pair.
fn choose_lines(dataset: &Dataset, random: &mut FastRandom, lines: Lines, into: &mut [ReserveLine]) {
    let sku_count = dataset.sku_count;
    let location_count = dataset.locations.len();
    match lines {
        Lines::OneHot => {
            set_line(&mut into[0], &dataset.hot_sku, &dataset.locations[0]);
        }
        Lines::OneRandom | Lines::FiveRandom => {
            // Equally spaced SKUs from a random start: distinct, so no duplicate line.
            let first = random.below(sku_count);
            let stride = sku_count / into.len();
            for (index, line) in into.iter_mut().enumerate() {
                write_sku_name(&mut line.sku, (first + index * stride) % sku_count);
                line.location.clear();
                line.location.push_str(&dataset.locations[random.below(location_count)]);
            }
        }
    }
}

fn set_line(line: &mut ReserveLine, sku: &str, location: &str) {
    line.sku.clear();
    line.sku.push_str(sku);
    line.location.clear();
    line.location.push_str(location);
}

/// Appends `value` in hexadecimal without allocating (the buffer has room).
fn push_hex(buffer: &mut String, mut value: u64) {
    let mut digits = [0u8; 16];
    let mut start = digits.len();
    loop {
        start -= 1;
        digits[start] = b"0123456789abcdef"[(value & 0xf) as usize];
        value >>= 4;
        if value == 0 {
            break;
        }
    }
    for &digit in &digits[start..] {
        buffer.push(char::from(digit));
    }
}
