//! The scale run: one bulk load of millions of positions, the memory they take, and
//! how long `verify` needs to walk them. A plain program (no criterion): each step
//! runs once and is timed; the table at the end is what BENCHMARKS.md quotes.
//!
//! `cargo bench --bench scale` loads `STOCKD_SCALE_POSITIONS` positions (default
//! 10,000,000: 1,000,000 SKUs x 10 locations). `cargo test --benches` runs it on
//! 10,000 positions, to prove it still works. Unknown arguments (criterion's
//! `--bench`, filters) are ignored.
//!
//! Memory is the resident set size (VmRSS) from /proc/self/status:
//! - before: after the input rows are generated and the empty engine and its
//!   catalogue exist;
//! - loaded: after `bulk_load`, rows still alive; loaded - before is the engine's
//!   growth, plus whatever the load's temporary buffers left resident;
//! - after drop: the rows dropped and the allocator asked to return free pages;
//!   after drop - start (before the rows existed) is the engine alone, ids included,
//!   provided the allocator gave the rows' pages back (it is printed, not assumed).

#[path = "support/mod.rs"]
mod support;

use std::time::{Duration, Instant};
use stockd::model::Position;
use stockd::{Engine, EngineConfig};

// The allocator a stockd server runs with (src/main.rs); memory depends on it.
#[global_allocator]
static ALLOCATOR: stockd::Allocator = stockd::Allocator;

extern "C" {
    /// mimalloc's own call (linked in by the `mimalloc` crate): returns free pages to
    /// the OS now instead of after its purge delay.
    fn mi_collect(force: bool);
}

const LOCATIONS_PER_SKU: usize = 10;
const TARGET_LOAD: Duration = Duration::from_secs(3);
const TARGET_BYTES_PER_POSITION: f64 = 100.0;
const TARGET_VERIFY: Duration = Duration::from_secs(2);
/// The targets are set for this many positions; runs of at least
/// `SMALLEST_SCALED_RUN` compare against them scaled linearly, smaller (smoke) runs
/// are dominated by fixed costs and are not compared.
const TARGET_POSITIONS: usize = 10_000_000;
const SMALLEST_SCALED_RUN: usize = 1_000_000;
/// Times `verify` runs; the median is reported.
const VERIFY_RUNS: usize = 3;

fn main() {
    let positions = requested_positions();
    let sku_count = positions.div_ceil(LOCATIONS_PER_SKU);
    let positions = sku_count * LOCATIONS_PER_SKU;
    println!("scale: {sku_count} SKUs x {LOCATIONS_PER_SKU} locations = {positions} positions");
    println!("size_of::<Position>() = {} bytes", std::mem::size_of::<Position>());

    let at_start = resident();
    let generate_started = Instant::now();
    let rows = support::position_rows(sku_count, LOCATIONS_PER_SKU);
    let generate_time = generate_started.elapsed();
    let engine = Engine::new(EngineConfig::default());
    support::add_locations(&engine, LOCATIONS_PER_SKU);
    let before = resident();

    let load_started = Instant::now();
    let outcome = engine.bulk_load(&rows).expect("generated rows are valid");
    let load_time = load_started.elapsed();
    assert_eq!(outcome.inserted as usize, positions, "every row is a new position");
    let loaded = resident();

    let resync_started = Instant::now();
    let resync = engine.bulk_load(&rows).expect("generated rows are valid");
    let resync_time = resync_started.elapsed();
    assert_eq!(resync.unchanged as usize, positions, "the same rows again change nothing");

    drop(rows);
    let after_drop_lazy = resident();
    // SAFETY: mi_collect takes no pointers and may be called at any time.
    unsafe { mi_collect(true) };
    let after_drop = resident();

    let mut verify_times: Vec<Duration> = (0..VERIFY_RUNS)
        .map(|_| {
            let started = Instant::now();
            let report = engine.verify();
            let elapsed = started.elapsed();
            assert!(report.is_clean(), "a fresh load verifies clean: {report:?}");
            assert_eq!(report.positions_checked as usize, positions);
            elapsed
        })
        .collect();
    verify_times.sort();
    let verify_time = verify_times[VERIFY_RUNS / 2];

    let per_position = |bytes: i64| bytes as f64 / positions as f64;
    let growth_with_rows = per_position(loaded - before);
    let engine_alone = per_position(after_drop - at_start);
    let scaled = |target: Duration| {
        (positions >= SMALLEST_SCALED_RUN).then(|| target.mul_f64(positions as f64 / TARGET_POSITIONS as f64))
    };
    let compared = positions >= SMALLEST_SCALED_RUN;

    println!();
    println!("| step | measured | target |");
    println!("|---|---|---|");
    println!("| generate {positions} rows (input, not engine) | {generate_time:.2?} | - |");
    println!("| input rows resident | {:.0} bytes/position | - |", per_position(before - at_start));
    println!("| bulk_load, one call | {load_time:.2?} | {} |", target_time(load_time, scaled(TARGET_LOAD)));
    println!("| bulk_load again, all rows unchanged | {resync_time:.2?} | - |");
    println!(
        "| engine growth, rows still alive (loaded - before) | {growth_with_rows:.1} bytes/position | {} |",
        target_bytes(growth_with_rows, compared)
    );
    println!(
        "| engine alone, rows dropped (after drop - start) | {engine_alone:.1} bytes/position | {} |",
        target_bytes(engine_alone, compared)
    );
    println!(
        "| verify, median of {VERIFY_RUNS} | {verify_time:.2?} | {} |",
        target_time(verify_time, scaled(TARGET_VERIFY))
    );
    println!();
    println!(
        "VmRSS MiB: start {}, before {}, loaded {}, rows dropped {} (after mi_collect {}), peak {}",
        mebibytes(at_start),
        mebibytes(before),
        mebibytes(loaded),
        mebibytes(after_drop_lazy),
        mebibytes(after_drop),
        mebibytes(support::peak_resident_bytes().map_or(0, |bytes| bytes as i64)),
    );
    println!("verify runs: {verify_times:.2?}");
    drop(engine);
}

/// `STOCKD_SCALE_POSITIONS` under `cargo bench`; a small smoke run under `cargo test`.
fn requested_positions() -> usize {
    if !support::benchmark_mode() {
        return 10_000;
    }
    match std::env::var("STOCKD_SCALE_POSITIONS") {
        Ok(value) => value
            .replace('_', "")
            .parse()
            .unwrap_or_else(|_| panic!("STOCKD_SCALE_POSITIONS: {value:?} is not a count")),
        Err(_) => TARGET_POSITIONS,
    }
}

fn resident() -> i64 {
    let bytes = support::resident_bytes().expect("VmRSS in /proc/self/status (Linux only)");
    i64::try_from(bytes).expect("fits")
}

fn mebibytes(bytes: i64) -> i64 {
    bytes / (1024 * 1024)
}

fn target_time(measured: Duration, target: Option<Duration>) -> String {
    let Some(target) = target else { return "n/a (smoke run)".to_owned() };
    let verdict = if measured <= target { "met" } else { "MISSED" };
    format!("<= {target:.2?}: {verdict} ({:.0}% of target)", 100.0 * measured.as_secs_f64() / target.as_secs_f64())
}

fn target_bytes(measured: f64, compared: bool) -> String {
    if !compared {
        return "n/a (smoke run)".to_owned();
    }
    let verdict = if measured <= TARGET_BYTES_PER_POSITION { "met" } else { "MISSED" };
    format!("<= {TARGET_BYTES_PER_POSITION:.0}: {verdict}")
}
