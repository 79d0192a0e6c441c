//! Prometheus metrics of the server: counters the request path updates, and
//! [`Metrics::render`], which writes them (and gauges read from the durable engine,
//! its log and its state) in the Prometheus text exposition format, version 0.0.4.
//!
//! # Cost on the request path
//!
//! [`Metrics::record_call`] runs once per call on a thread serving over a million
//! calls a second. It costs: finding the call's dense index (a scan of at most
//! [`CALL_LABELS`]`.len()` pointer comparisons when the label came from
//! [`call_label`]), one uncontended `parking_lot` mutex lock and unlock (one
//! compare-and-swap each way), and, under it, one `hdrhistogram` record, one binary
//! search over 16 bucket bounds and three plain additions. No allocation, no hashing,
//! no string formatting. Each call label has its own mutex, on its own cache line, so
//! threads recording different calls do not share one; only a scrape (which copies
//! one label's numbers under its lock, a few microseconds) ever waits on it.
//!
//! [`Metrics::record_refused_request`], the connection counters and
//! [`Metrics::in_flight_add`] are one relaxed atomic add each.
//!
//! # What a scrape shows
//!
//! Counters and histograms cover the life of the process (Prometheus computes rates
//! from them). The quantile gauges (`stockd_request_duration_quantile_seconds`) are
//! also over the whole life of the process: for recent latency, use
//! `histogram_quantile` over a `rate` of `stockd_request_duration_seconds_bucket`.

mod exposition;
mod signals;

use crate::engine::Operation;
use crate::feed::FeedStats;
use crate::protocol::{Call, ErrorCode};
use crate::storage::DurableEngine;
use crate::wal::DurabilityMode;
use crossbeam_utils::CachePadded;
use exposition::Writer;
use hdrhistogram::Histogram;
use parking_lot::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Every call label, in a fixed order (the dense index of a label is its position).
/// A `static`, so that every label handed out by [`call_label`] points into the same
/// memory, which makes finding its index a pointer comparison.
static LABELS: [&str; 34] = [
    "ping",
    "position",
    "availability",
    "channel_availability",
    "availability_batch",
    "reservation",
    "stats",
    "verify",
    "take_snapshot",
    "upsert_locations",
    "upsert_channel",
    "define_kit",
    "reserve",
    "commit",
    "release",
    "fulfil",
    "extend",
    "expire_due",
    "adjust",
    "set_on_hand",
    "set_safety_stock",
    "set_backorder_limit",
    "move_stock",
    "add_incoming",
    "receive_incoming",
    "cancel_incoming",
    "restock",
    "bulk_load",
    "reserve_sourced",
    "find_stores",
    "demand",
    "demand_top",
    "sourcing_profiles",
    "set_sourcing_profiles",
];

/// Every label [`call_label`] can return, for pre-registering series at zero.
pub const CALL_LABELS: &[&str] = &LABELS;

/// Number of call labels.
const OPS: usize = LABELS.len();

/// Index of `"reserve"` in [`LABELS`] (for `stockd_reservations_refused_total`).
const RESERVE: usize = 12;

/// Index of `"reserve_sourced"` in [`LABELS`].
const RESERVE_SOURCED: usize = 28;

/// The metrics label of a call. Exhaustive matches, no wildcard: a new `Call` or
/// `Operation` variant must be given a label (and a place in [`CALL_LABELS`]) before
/// it compiles. The label is a string of [`CALL_LABELS`] itself (the same pointer),
/// which is what makes [`Metrics::record_call`] find it quickly.
pub fn call_label(call: &Call) -> &'static str {
    LABELS[call_index(call)]
}

/// The label of `Call::Availability` (what [`call_label`] gives it).
pub fn call_label_availability() -> &'static str {
    LABELS[2]
}

/// The label of `Call::AvailabilityBatch` (what [`call_label`] gives it).
pub fn call_label_availability_batch() -> &'static str {
    LABELS[4]
}

fn call_index(call: &Call) -> usize {
    match call {
        Call::Ping => 0,
        Call::Position { .. } => 1,
        Call::Availability { .. } => 2,
        Call::ChannelAvailability { .. } => 3,
        Call::AvailabilityBatch { .. } => 4,
        Call::Reservation { .. } => 5,
        Call::Stats => 6,
        Call::Verify => 7,
        Call::TakeSnapshot => 8,
        Call::Apply(operation) => operation_index(operation),
        Call::FindStores(_) => 29,
        Call::Demand { .. } => 30,
        Call::DemandTop { .. } => 31,
        Call::SourcingProfiles => 32,
        Call::SetSourcingProfiles { .. } => 33,
    }
}

fn operation_index(operation: &Operation) -> usize {
    use Operation as Op;
    match operation {
        Op::UpsertLocations(_) => 9,
        Op::UpsertChannel(_) => 10,
        Op::DefineKit { .. } => 11,
        Op::Reserve(_) => RESERVE,
        Op::Commit { .. } => 13,
        Op::Release { .. } => 14,
        Op::Fulfil { .. } => 15,
        Op::Extend { .. } => 16,
        Op::ExpireDue => 17,
        Op::Adjust { .. } => 18,
        Op::SetOnHand { .. } => 19,
        Op::SetSafetyStock { .. } => 20,
        Op::SetBackorderLimit { .. } => 21,
        Op::MoveStock { .. } => 22,
        Op::AddIncoming { .. } => 23,
        Op::ReceiveIncoming { .. } => 24,
        Op::CancelIncoming { .. } => 25,
        Op::Restock(_) => 26,
        Op::BulkLoad(_) => 27,
        Op::ReserveSourced(_) => RESERVE_SOURCED,
    }
}

/// The dense index of a label: first by address (labels from [`call_label`]), then
/// by content (a label written as a literal elsewhere).
fn label_index(label: &str) -> Option<usize> {
    LABELS
        .iter()
        .position(|known| std::ptr::eq(known.as_ptr(), label.as_ptr()) && known.len() == label.len())
        .or_else(|| LABELS.iter().position(|known| *known == label))
}

/// Number of error codes.
const CODES: usize = ErrorCode::ALL.len();

/// The slot of each error code number in per-code arrays (its position in
/// [`ErrorCode::ALL`]); `u8::MAX` for numbers that are no code.
const CODE_SLOTS: [u8; 256] = {
    let mut slots = [u8::MAX; 256];
    let mut i = 0;
    while i < CODES {
        let number = ErrorCode::ALL[i] as usize;
        assert!(number < 256 && CODES < 255, "error code numbers index a 256-entry table");
        slots[number] = i as u8;
        i += 1;
    }
    slots
};

fn code_slot(code: ErrorCode) -> usize {
    CODE_SLOTS[code as usize] as usize
}

/// Upper bounds (inclusive) of the request latency histogram's buckets, in
/// nanoseconds, with their `le` label values (seconds). `+Inf` follows them.
const LATENCY_BUCKETS: [(u64, &str); 16] = [
    (10_000, "0.00001"),
    (25_000, "0.000025"),
    (50_000, "0.00005"),
    (100_000, "0.0001"),
    (250_000, "0.00025"),
    (500_000, "0.0005"),
    (1_000_000, "0.001"),
    (2_500_000, "0.0025"),
    (5_000_000, "0.005"),
    (10_000_000, "0.01"),
    (25_000_000, "0.025"),
    (50_000_000, "0.05"),
    (100_000_000, "0.1"),
    (250_000_000, "0.25"),
    (500_000_000, "0.5"),
    (1_000_000_000, "1"),
];

/// Upper bounds of the fsync latency histogram's buckets, in microseconds (the unit
/// of the log's own histogram), with their `le` label values (seconds).
const FSYNC_BUCKETS: [(u64, &str); 17] = [
    (50, "0.00005"),
    (100, "0.0001"),
    (250, "0.00025"),
    (500, "0.0005"),
    (1_000, "0.001"),
    (2_500, "0.0025"),
    (5_000, "0.005"),
    (10_000, "0.01"),
    (25_000, "0.025"),
    (50_000, "0.05"),
    (100_000, "0.1"),
    (250_000, "0.25"),
    (500_000, "0.5"),
    (1_000_000, "1"),
    (2_500_000, "2.5"),
    (5_000_000, "5"),
    (10_000_000, "10"),
];

/// The quantiles exported from each call's latency histogram, with their label values.
const QUANTILES: [(f64, &str); 4] = [(0.5, "0.5"), (0.9, "0.9"), (0.99, "0.99"), (0.999, "0.999")];

/// Largest latency the per-call hdrhistograms hold (longer calls count as this).
const MAX_TRACKED_MICROS: u64 = 60_000_000;

/// Reasons of `stockd_connections_refused_total` shown at zero before any refusal.
const KNOWN_REFUSAL_REASONS: [&str; 2] = ["too_many_connections", "handshake_failed"];

/// Everything recorded about one call label, under one lock.
struct CallStats {
    /// `[0]`: answered Ok; `[1 + slot]`: answered with the code of that slot.
    outcomes: [u64; 1 + CODES],
    /// Non-cumulative: `[i]` counts latencies in `(bound[i-1], bound[i]]`, the last
    /// slot those above every bound.
    buckets: [u64; LATENCY_BUCKETS.len() + 1],
    /// Sum of all latencies (wraps after 584 years of accumulated latency).
    sum_nanos: u64,
    /// Latencies in microseconds, 3 significant digits.
    micros: Histogram<u64>,
}

impl CallStats {
    fn new() -> CallStats {
        CallStats {
            outcomes: [0; 1 + CODES],
            buckets: [0; LATENCY_BUCKETS.len() + 1],
            sum_nanos: 0,
            micros: Histogram::new_with_bounds(1, MAX_TRACKED_MICROS, 3).expect("valid histogram bounds"),
        }
    }
}

/// A copy of one label's numbers, taken under its lock for a scrape.
struct CallSnapshot {
    outcomes: [u64; 1 + CODES],
    buckets: [u64; LATENCY_BUCKETS.len() + 1],
    sum_nanos: u64,
    /// Only when something was recorded (an empty histogram is not worth copying).
    micros: Option<Histogram<u64>>,
}

impl CallSnapshot {
    fn count(&self) -> u64 {
        self.buckets.iter().sum()
    }
}

/// The server's metrics. `Send + Sync`; share one as `Arc<Metrics>`.
pub struct Metrics {
    calls: Box<[CachePadded<Mutex<CallStats>>]>,
    /// Calls recorded with a label that is not in [`CALL_LABELS`] (a bug; counted, not lost).
    unknown_calls: AtomicU64,
    /// Requests refused as a whole, per code slot.
    refused: [AtomicU64; CODES],
    connections_opened: AtomicU64,
    connections_closed: AtomicU64,
    connections_refused: Mutex<Vec<(&'static str, u64)>>,
    in_flight: AtomicI64,
    started: Instant,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// Allocates everything up front (the per-call hdrhistograms: about 140 KB each,
    /// untouched until used), so that recording never allocates.
    pub fn new() -> Metrics {
        Metrics {
            calls: (0..OPS).map(|_| CachePadded::new(Mutex::new(CallStats::new()))).collect(),
            unknown_calls: AtomicU64::new(0),
            refused: std::array::from_fn(|_| AtomicU64::new(0)),
            connections_opened: AtomicU64::new(0),
            connections_closed: AtomicU64::new(0),
            connections_refused: Mutex::new(KNOWN_REFUSAL_REASONS.iter().map(|&reason| (reason, 0)).collect()),
            in_flight: AtomicI64::new(0),
            started: Instant::now(),
        }
    }

    /// One finished call: `Ok(())` or the error code it was answered with; `latency`
    /// from frame decoded to response queued.
    ///
    /// Cost: see the module documentation (one uncontended lock, an hdrhistogram
    /// record, a 16-entry binary search, three additions; no allocation). `label`
    /// should come from [`call_label`]; any other string is compared by content, and
    /// one not in [`CALL_LABELS`] is only counted in `stockd_requests_unlabelled_total`.
    pub fn record_call(&self, label: &'static str, outcome: Result<(), ErrorCode>, latency: Duration) {
        let Some(index) = label_index(label) else {
            self.unknown_calls.fetch_add(1, Ordering::Relaxed);
            return;
        };
        let nanos = u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX);
        let outcome = match outcome {
            Ok(()) => 0,
            Err(code) => 1 + code_slot(code),
        };
        let bucket = LATENCY_BUCKETS.partition_point(|&(bound, _)| bound < nanos);
        // Rounded up, so that a sub-microsecond call shows as 1 us rather than 0.
        let micros = nanos.div_ceil(1_000);
        let mut stats = self.calls[index].lock();
        stats.outcomes[outcome] += 1;
        stats.buckets[bucket] += 1;
        stats.sum_nanos = stats.sum_nanos.wrapping_add(nanos);
        stats.micros.saturating_record(micros);
    }

    /// `count` calls of one label that all succeeded, `latency` each (calls answered
    /// together): what `count` [`Self::record_call`]s with `Ok` would record, under one
    /// lock.
    pub fn record_successes(&self, label: &'static str, count: u64, latency: Duration) {
        if count == 0 {
            return;
        }
        let Some(index) = label_index(label) else {
            self.unknown_calls.fetch_add(count, Ordering::Relaxed);
            return;
        };
        let nanos = u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX);
        let bucket = LATENCY_BUCKETS.partition_point(|&(bound, _)| bound < nanos);
        let micros = nanos.div_ceil(1_000);
        let mut stats = self.calls[index].lock();
        stats.outcomes[0] += count;
        stats.buckets[bucket] += count;
        stats.sum_nanos = stats.sum_nanos.wrapping_add(nanos.wrapping_mul(count));
        stats.micros.saturating_record_n(micros, count);
    }

    /// A whole request refused before any call ran (bad frame, unauthenticated,
    /// forbidden, overloaded, limit), by code. One relaxed atomic add.
    pub fn record_refused_request(&self, code: ErrorCode) {
        self.refused[code_slot(code)].fetch_add(1, Ordering::Relaxed);
    }

    /// A connection was accepted (and passed the handshake's admission). One atomic add.
    pub fn connection_opened(&self) {
        self.connections_opened.fetch_add(1, Ordering::Relaxed);
    }

    /// A connection counted by [`Self::connection_opened`] ended. One atomic add.
    pub fn connection_closed(&self) {
        self.connections_closed.fetch_add(1, Ordering::Relaxed);
    }

    /// A connection refused at accept (`reason`: `"too_many_connections"`,
    /// `"handshake_failed"`, ...). Takes a mutex and scans the reasons seen so far (a
    /// handful); allocates only the first time a reason is seen.
    pub fn connection_refused(&self, reason: &'static str) {
        let mut reasons = self.connections_refused.lock();
        match reasons.iter_mut().find(|(known, _)| *known == reason) {
            Some((_, count)) => *count += 1,
            None => reasons.push((reason, 1)),
        }
    }

    /// Requests being processed or waiting for durability: +1 when one starts, -1
    /// when its response is queued. One relaxed atomic add.
    pub fn in_flight_add(&self, delta: i64) {
        self.in_flight.fetch_add(delta, Ordering::Relaxed);
    }

    /// Writes everything in the Prometheus text exposition format (version 0.0.4),
    /// including gauges read from `durable`: its log's counters and its engine's
    /// [`stats`](crate::engine::Engine::stats), which walks every reservation shard
    /// (milliseconds with millions of reservations: call this off the runtime threads
    /// that serve requests).
    pub fn render(&self, durable: &DurableEngine, feed: Option<&FeedStats>, out: &mut String) {
        let mut w = Writer { out };
        self.render_process(durable, &mut w);
        self.render_calls(&mut w);
        self.render_connections(&mut w);
        render_wal(durable, &mut w);
        render_engine(durable, &mut w);
        signals::render_demand(durable.engine(), &mut w);
        if let Some(stats) = feed {
            signals::render_feed(stats, &mut w);
        }
    }

    fn render_process(&self, durable: &DurableEngine, w: &mut Writer<'_>) {
        w.family("stockd_build_info", "gauge", "The running build; always 1.");
        w.sample("stockd_build_info", &[("version", env!("CARGO_PKG_VERSION"))], 1u64);
        w.family("stockd_uptime_seconds", "gauge", "Seconds since the server's metrics were created.");
        w.sample("stockd_uptime_seconds", &[], self.started.elapsed().as_secs_f64());
        w.family(
            "stockd_durability_mode",
            "gauge",
            "The durability mode acknowledgements wait for (always, interval or none); always 1.",
        );
        let mode = match durable.config().durability {
            DurabilityMode::Always => "always",
            DurabilityMode::Interval { .. } => "interval",
            DurabilityMode::None => "none",
        };
        w.sample("stockd_durability_mode", &[("mode", mode)], 1u64);
    }

    fn render_calls(&self, w: &mut Writer<'_>) {
        let snapshots: Vec<CallSnapshot> = self
            .calls
            .iter()
            .map(|stats| {
                let stats = stats.lock();
                CallSnapshot {
                    outcomes: stats.outcomes,
                    buckets: stats.buckets,
                    sum_nanos: stats.sum_nanos,
                    micros: (!stats.micros.is_empty()).then(|| stats.micros.clone()),
                }
            })
            .collect();

        w.family(
            "stockd_requests_total",
            "counter",
            "Calls answered, by call (op) and outcome: ok or the error code of the reply.",
        );
        for (label, snapshot) in LABELS.iter().zip(&snapshots) {
            w.sample("stockd_requests_total", &[("op", label), ("outcome", "ok")], snapshot.outcomes[0]);
            for (code, &count) in ErrorCode::ALL.iter().zip(&snapshot.outcomes[1..]) {
                if count > 0 {
                    w.sample("stockd_requests_total", &[("op", label), ("outcome", code.name())], count);
                }
            }
        }
        w.family(
            "stockd_requests_unlabelled_total",
            "counter",
            "Calls recorded under a label that is no known call (a server bug); not in stockd_requests_total.",
        );
        w.sample("stockd_requests_unlabelled_total", &[], self.unknown_calls.load(Ordering::Relaxed));

        w.family(
            "stockd_reservations_refused_total",
            "counter",
            "Reserve and sourced-reserve calls answered INSUFFICIENT_STOCK.",
        );
        let insufficient = 1 + code_slot(ErrorCode::InsufficientStock);
        let refused = snapshots[RESERVE].outcomes[insufficient] + snapshots[RESERVE_SOURCED].outcomes[insufficient];
        w.sample("stockd_reservations_refused_total", &[], refused);

        w.family(
            "stockd_request_duration_seconds",
            "histogram",
            "Call latency, from frame decoded to response queued, by call.",
        );
        for (label, snapshot) in LABELS.iter().zip(&snapshots) {
            let mut cumulative = 0;
            for ((_, le), &count) in LATENCY_BUCKETS.iter().zip(&snapshot.buckets) {
                cumulative += count;
                w.sample("stockd_request_duration_seconds_bucket", &[("op", label), ("le", le)], cumulative);
            }
            let count = snapshot.count();
            w.sample("stockd_request_duration_seconds_bucket", &[("op", label), ("le", "+Inf")], count);
            w.sample("stockd_request_duration_seconds_sum", &[("op", label)], snapshot.sum_nanos as f64 / 1e9);
            w.sample("stockd_request_duration_seconds_count", &[("op", label)], count);
        }

        w.family(
            "stockd_request_duration_quantile_seconds",
            "gauge",
            "Call latency quantiles since the start, by call (microsecond resolution, 3 significant digits); \
             only calls made at least once.",
        );
        for (label, snapshot) in LABELS.iter().zip(&snapshots) {
            let Some(micros) = &snapshot.micros else { continue };
            for (quantile, name) in QUANTILES {
                let seconds = micros.value_at_quantile(quantile) as f64 / 1e6;
                w.sample("stockd_request_duration_quantile_seconds", &[("op", label), ("quantile", name)], seconds);
            }
        }
    }

    fn render_connections(&self, w: &mut Writer<'_>) {
        w.family(
            "stockd_requests_refused_total",
            "counter",
            "Requests refused as a whole before any call ran, by error code.",
        );
        for (code, count) in ErrorCode::ALL.iter().zip(&self.refused) {
            w.sample("stockd_requests_refused_total", &[("code", code.name())], count.load(Ordering::Relaxed));
        }

        w.family("stockd_in_flight_requests", "gauge", "Requests being processed or waiting for durability.");
        w.sample("stockd_in_flight_requests", &[], self.in_flight.load(Ordering::Relaxed));

        // Closed before opened, so that a close racing with this read cannot make the
        // gauge negative.
        let closed = self.connections_closed.load(Ordering::Relaxed);
        let opened = self.connections_opened.load(Ordering::Relaxed);
        w.family("stockd_connections_open", "gauge", "Client connections open now.");
        w.sample("stockd_connections_open", &[], opened.saturating_sub(closed));
        w.family("stockd_connections_total", "counter", "Client connections accepted since the start.");
        w.sample("stockd_connections_total", &[], opened);

        w.family("stockd_connections_refused_total", "counter", "Client connections refused at accept, by reason.");
        let refused = self.connections_refused.lock().clone();
        for (reason, count) in refused {
            w.sample("stockd_connections_refused_total", &[("reason", reason)], count);
        }
    }
}

/// The log's gauges and counters; only a durability mode with a log has them.
fn render_wal(durable: &DurableEngine, w: &mut Writer<'_>) {
    let Some(wal) = durable.wal() else { return };
    let stats = wal.stats();
    let counters = [
        ("stockd_wal_records_total", "Records appended to the log.", stats.records),
        ("stockd_wal_bytes_total", "Bytes written to the log.", stats.bytes),
        ("stockd_wal_writes_total", "Write system calls to the log (one per group of records).", stats.writes),
        ("stockd_wal_fsyncs_total", "fsyncs of the log.", stats.fsyncs),
    ];
    for (name, help, value) in counters {
        w.family(name, "counter", help);
        w.sample(name, &[], value);
    }
    w.family("stockd_wal_appended_lsn", "gauge", "Log sequence number of the last record appended.");
    w.sample("stockd_wal_appended_lsn", &[], wal.appended_lsn());
    w.family("stockd_wal_durable_lsn", "gauge", "Log sequence number up to which the log is fsynced.");
    w.sample("stockd_wal_durable_lsn", &[], wal.durable_lsn());
    w.family("stockd_wal_failed", "gauge", "1 once the log has failed (no write is acknowledged any more), else 0.");
    w.sample("stockd_wal_failed", &[], u64::from(wal.failure().is_some()));

    // From the log's histogram (microseconds, 2 significant digits): a latency counts
    // in a bucket when the whole of its hdrhistogram step is at most the bound, so
    // bucket edges are accurate to about 1%. The sum is exact (the log's own total).
    let micros = wal.fsync_latency_micros();
    let mut buckets = [0u64; FSYNC_BUCKETS.len() + 1];
    for value in micros.iter_recorded() {
        let upper = value.value_iterated_to();
        buckets[FSYNC_BUCKETS.partition_point(|&(bound, _)| bound < upper)] += value.count_at_value();
    }
    w.family("stockd_wal_fsync_duration_seconds", "histogram", "Latency of the log's fsyncs.");
    let mut cumulative = 0;
    for ((_, le), count) in FSYNC_BUCKETS.iter().zip(buckets) {
        cumulative += count;
        w.sample("stockd_wal_fsync_duration_seconds_bucket", &[("le", le)], cumulative);
    }
    let count = cumulative + buckets[FSYNC_BUCKETS.len()];
    w.sample("stockd_wal_fsync_duration_seconds_bucket", &[("le", "+Inf")], count);
    w.sample("stockd_wal_fsync_duration_seconds_sum", &[], stats.fsync_nanos_total as f64 / 1e9);
    w.sample("stockd_wal_fsync_duration_seconds_count", &[], count);
    w.family("stockd_wal_fsync_duration_max_seconds", "gauge", "Longest fsync of the log since the start.");
    w.sample("stockd_wal_fsync_duration_max_seconds", &[], stats.fsync_nanos_max as f64 / 1e9);
}

/// Counts of the engine's state (walks every reservation shard).
fn render_engine(durable: &DurableEngine, w: &mut Writer<'_>) {
    let stats = durable.engine().stats();
    let gauges = [
        ("stockd_positions", "Stock positions (SKU at a location).", stats.positions),
        ("stockd_skus", "SKUs known.", stats.skus),
        ("stockd_locations", "Locations in the catalogue.", stats.locations),
        ("stockd_channels", "Channels in the catalogue.", stats.channels),
        ("stockd_kits", "Kits in the catalogue.", stats.kits),
    ];
    for (name, help, value) in gauges {
        w.family(name, "gauge", help);
        w.sample(name, &[], value);
    }
    w.family("stockd_reservations", "gauge", "Reservations the engine remembers, by state.");
    for (state, value) in [
        ("held", stats.reservations_held),
        ("committed", stats.reservations_committed),
        ("fulfilled", stats.reservations_fulfilled),
        ("released", stats.reservations_released),
        ("expired", stats.reservations_expired),
    ] {
        w.sample("stockd_reservations", &[("state", state)], value);
    }
    w.family(
        "stockd_reservations_remembered",
        "gauge",
        "Reservations remembered in all states, counted against the engine's maximum.",
    );
    w.sample("stockd_reservations_remembered", &[], stats.reservations_remembered);
}

#[cfg(test)]
mod tests;
