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

use crate::engine::Operation;
use crate::protocol::{Call, ErrorCode};
use crate::storage::DurableEngine;
use crate::wal::DurabilityMode;
use crossbeam_utils::CachePadded;
use hdrhistogram::Histogram;
use parking_lot::Mutex;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Every call label, in a fixed order (the dense index of a label is its position).
/// A `static`, so that every label handed out by [`call_label`] points into the same
/// memory, which makes finding its index a pointer comparison.
static LABELS: [&str; 28] = [
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
];

/// Every label [`call_label`] can return, for pre-registering series at zero.
pub const CALL_LABELS: &[&str] = &LABELS;

/// Number of call labels.
const OPS: usize = LABELS.len();

/// Index of `"reserve"` in [`LABELS`] (for `stockd_reservations_refused_total`).
const RESERVE: usize = 12;

/// The metrics label of a call. Exhaustive matches, no wildcard: a new `Call` or
/// `Operation` variant must be given a label (and a place in [`CALL_LABELS`]) before
/// it compiles. The label is a string of [`CALL_LABELS`] itself (the same pointer),
/// which is what makes [`Metrics::record_call`] find it quickly.
pub fn call_label(call: &Call) -> &'static str {
    LABELS[call_index(call)]
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
    pub fn render(&self, durable: &DurableEngine, out: &mut String) {
        let mut w = Writer { out };
        self.render_process(durable, &mut w);
        self.render_calls(&mut w);
        self.render_connections(&mut w);
        render_wal(durable, &mut w);
        render_engine(durable, &mut w);
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

        w.family("stockd_reservations_refused_total", "counter", "Reserve calls answered INSUFFICIENT_STOCK.");
        let insufficient = 1 + code_slot(ErrorCode::InsufficientStock);
        w.sample("stockd_reservations_refused_total", &[], snapshots[RESERVE].outcomes[insufficient]);

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

/// A sample value, written as the text format wants it.
trait SampleValue {
    fn write_to(&self, out: &mut String);
}

impl SampleValue for u64 {
    fn write_to(&self, out: &mut String) {
        let _ = write!(out, "{self}");
    }
}

impl SampleValue for i64 {
    fn write_to(&self, out: &mut String) {
        let _ = write!(out, "{self}");
    }
}

impl SampleValue for f64 {
    fn write_to(&self, out: &mut String) {
        if self.is_nan() {
            out.push_str("NaN");
        } else if self.is_infinite() {
            out.push_str(if *self > 0.0 { "+Inf" } else { "-Inf" });
        } else {
            // Rust prints the shortest decimal that reads back the same, without an
            // exponent: valid for Prometheus's float parser.
            let _ = write!(out, "{self}");
        }
    }
}

/// Writes families and samples into the output.
struct Writer<'a> {
    out: &'a mut String,
}

impl Writer<'_> {
    /// The `# HELP` and `# TYPE` lines of a family (before its samples).
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        self.out.push_str("# HELP ");
        self.out.push_str(name);
        self.out.push(' ');
        for c in help.chars() {
            match c {
                '\\' => self.out.push_str("\\\\"),
                '\n' => self.out.push_str("\\n"),
                c => self.out.push(c),
            }
        }
        self.out.push_str("\n# TYPE ");
        self.out.push_str(name);
        self.out.push(' ');
        self.out.push_str(kind);
        self.out.push('\n');
    }

    /// One sample line: `name{label="value",...} value`.
    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl SampleValue) {
        self.out.push_str(name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (label, label_value)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                self.out.push_str(label);
                self.out.push_str("=\"");
                escape_label_value(label_value, self.out);
                self.out.push('"');
            }
            self.out.push('}');
        }
        self.out.push(' ');
        value.write_to(self.out);
        self.out.push('\n');
    }
}

/// Escapes a label value as the text format requires: `\`, `"` and line feeds.
fn escape_label_value(value: &str, out: &mut String) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec;
    use crate::engine::{
        AdjustReason, Availability, AvailabilityScope, LineQuantity, ReserveLine, ReserveRequest, RestockRequest,
    };
    use crate::model::{
        Bucket, ChannelBuffer, ChannelSpec, Coordinates, LocationFlags, LocationKind, LocationSpec, PositionRow,
        Timestamp,
    };
    use crate::storage::StorageConfig;
    use std::collections::{HashMap, HashSet};
    use std::sync::Arc;

    /// One value of every `Operation` variant, in declaration order.
    fn every_operation() -> Vec<Operation> {
        let s = || "SKU-1".to_owned();
        let l = || "DC-1".to_owned();
        vec![
            Operation::UpsertLocations(vec![]),
            Operation::UpsertChannel(ChannelSpec {
                name: "web".into(),
                locations: vec![],
                excluded: vec![],
                buffer: ChannelBuffer::None,
            }),
            Operation::DefineKit { kit: s(), components: vec![] },
            Operation::Reserve(ReserveRequest { id: "r".into(), lines: vec![], ttl_ms: 0, promise_by: None }),
            Operation::Commit { id: "r".into() },
            Operation::Release { id: "r".into(), partial: None },
            Operation::Fulfil { id: "r".into(), partial: None },
            Operation::Extend { id: "r".into(), ttl_ms: 1 },
            Operation::ExpireDue,
            Operation::Adjust {
                sku: s(),
                location: l(),
                delta: 1,
                reason: AdjustReason::Found,
                reference: String::new(),
            },
            Operation::SetOnHand { sku: s(), location: l(), on_hand: 1, expected_version: None },
            Operation::SetSafetyStock { sku: s(), location: l(), safety_stock: 1 },
            Operation::SetBackorderLimit { sku: s(), location: l(), limit: 1 },
            Operation::MoveStock { sku: s(), location: l(), from: Bucket::Sellable, to: Bucket::Damaged, quantity: 1 },
            Operation::AddIncoming {
                sku: s(),
                location: l(),
                reference: "PO".into(),
                quantity: 1,
                expected_at: Timestamp(1),
            },
            Operation::ReceiveIncoming { sku: s(), location: l(), reference: "PO".into(), quantity: 1 },
            Operation::CancelIncoming { sku: s(), location: l(), reference: "PO".into() },
            Operation::Restock(RestockRequest {
                reservation_id: "r".into(),
                step_id: "s".into(),
                line: LineQuantity { sku: s(), location: l(), quantity: 1 },
                bucket: Bucket::Sellable,
            }),
            Operation::BulkLoad(vec![]),
        ]
    }

    /// One value of every `Call` variant (and, through `Apply`, of every operation).
    fn every_call() -> Vec<Call> {
        let mut calls = vec![
            Call::Ping,
            Call::Position { sku: "S".into(), location: "L".into() },
            Call::Availability {
                sku: "S".into(),
                scope: AvailabilityScope::Channel("c".into()),
                measure: Availability::ToSell,
            },
            Call::ChannelAvailability { sku: "S".into(), channel: "c".into(), breakdown: true },
            Call::AvailabilityBatch {
                skus: vec![],
                scope: AvailabilityScope::Location("L".into()),
                measure: Availability::ToSell,
            },
            Call::Reservation { id: "r".into() },
            Call::Stats,
            Call::Verify,
            Call::TakeSnapshot,
        ];
        calls.extend(every_operation().into_iter().map(Call::Apply));
        calls
    }

    #[test]
    fn every_call_has_its_own_label_from_the_list() {
        // The samples really are one of each variant (the first encoded byte is the
        // variant index).
        let operations: Vec<u8> = every_operation().iter().map(|op| codec::encode(op)[0]).collect();
        assert_eq!(operations, (0..19).collect::<Vec<u8>>(), "one sample per Operation variant");
        let mut call_variants: Vec<u8> = every_call().iter().map(|call| codec::encode(call)[0]).collect();
        call_variants.dedup();
        assert_eq!(call_variants.iter().copied().collect::<HashSet<u8>>().len(), 10, "every Call variant");

        let labels: Vec<&str> = every_call().iter().map(call_label).collect();
        assert_eq!(labels.len(), CALL_LABELS.len());
        assert_eq!(labels.iter().collect::<HashSet<_>>().len(), labels.len(), "distinct: {labels:?}");
        for label in &labels {
            assert!(CALL_LABELS.contains(label), "{label} is in CALL_LABELS");
            assert!(label.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'), "{label} is snake_case");
        }
        assert_eq!(labels, CALL_LABELS, "CALL_LABELS lists the calls in declaration order");
        assert_eq!(call_label(&Call::Apply(every_operation().swap_remove(3))), "reserve");
        assert_eq!(CALL_LABELS[RESERVE], "reserve");
        assert_eq!(call_label(&Call::Apply(Operation::ExpireDue)), "expire_due");
        assert_eq!(call_label(&Call::TakeSnapshot), "take_snapshot");
    }

    #[test]
    fn labels_are_found_by_address_and_by_content() {
        for (index, label) in CALL_LABELS.iter().enumerate() {
            assert_eq!(label_index(label), Some(index));
            let copy: &'static str = Box::leak(label.to_string().into_boxed_str());
            assert_eq!(label_index(copy), Some(index));
        }
        assert_eq!(label_index("nope"), None);
        for (slot, code) in ErrorCode::ALL.iter().enumerate() {
            assert_eq!(code_slot(*code), slot);
        }
    }

    fn open(durability: DurabilityMode) -> (tempfile::TempDir, Arc<DurableEngine>) {
        let dir = tempfile::tempdir().unwrap();
        let config = StorageConfig {
            data_dir: dir.path().join("data"),
            snapshot_dir: dir.path().join("snapshots"),
            durability,
            snapshot_interval_ms: 0,
            snapshot_every_records: 0,
            ..StorageConfig::default()
        };
        let (durable, _) = DurableEngine::open(config).unwrap();
        (dir, durable)
    }

    /// A location, stock, and two reservations (one committed).
    fn write_some_state(durable: &DurableEngine) {
        let t = Timestamp(1_700_000_000_000);
        let location = LocationSpec {
            name: "DC-1".into(),
            kind: LocationKind::DistributionCentre,
            coordinates: Coordinates { latitude: 51.5, longitude: -0.12 },
            flags: LocationFlags { ships: true, pickup: false },
            priority: 1,
        };
        durable.apply(&Operation::UpsertLocations(vec![location]), t).unwrap();
        let row = |sku: &str| PositionRow {
            sku: sku.into(),
            location: "DC-1".into(),
            on_hand: 10,
            safety_stock: 0,
            damaged: 0,
            quality_control: 0,
            backorder_limit: 0,
        };
        durable.apply(&Operation::BulkLoad(vec![row("SKU-1"), row("SKU-2")]), t).unwrap();
        for id in ["r1", "r2"] {
            let lines = vec![ReserveLine { sku: "SKU-1".into(), location: "DC-1".into(), quantity: 2 }];
            let request = ReserveRequest { id: id.into(), lines, ttl_ms: 60_000, promise_by: None };
            durable.apply(&Operation::Reserve(request), t).unwrap();
        }
        durable.apply(&Operation::Commit { id: "r1".into() }, t).unwrap();
    }

    type Labels = Vec<(String, String)>;

    /// One sample of a rendered exposition.
    #[derive(Debug)]
    struct Sample {
        name: String,
        labels: Labels,
        value: f64,
    }

    fn is_metric_name(name: &str) -> bool {
        let mut bytes = name.bytes();
        bytes.next().is_some_and(|b| b.is_ascii_alphabetic() || b == b'_' || b == b':')
            && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b':')
    }

    fn is_label_name(name: &str) -> bool {
        let mut bytes = name.bytes();
        bytes.next().is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
            && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
    }

    /// Parses `{a="x",b="y"}` (from just after the name) and returns the labels and
    /// the rest of the line.
    fn parse_labels(text: &str) -> Result<(Labels, &str), String> {
        let mut labels = Vec::new();
        let Some(mut rest) = text.strip_prefix('{') else { return Ok((labels, text)) };
        loop {
            if let Some(after) = rest.strip_prefix('}') {
                return Ok((labels, after));
            }
            let eq = rest.find('=').ok_or("label without =")?;
            let name = &rest[..eq];
            if !is_label_name(name) {
                return Err(format!("bad label name {name:?}"));
            }
            rest = rest[eq + 1..].strip_prefix('"').ok_or("label value without quote")?;
            let mut value = String::new();
            let mut chars = rest.char_indices();
            let end = loop {
                match chars.next().ok_or("unterminated label value")? {
                    (i, '"') => break i,
                    (_, '\\') => match chars.next().ok_or("dangling escape")?.1 {
                        '\\' => value.push('\\'),
                        '"' => value.push('"'),
                        'n' => value.push('\n'),
                        c => return Err(format!("bad escape \\{c}")),
                    },
                    (_, '\n') => return Err("raw line feed in label value".into()),
                    (_, c) => value.push(c),
                }
            };
            labels.push((name.to_owned(), value));
            rest = &rest[end + 1..];
            rest = rest.strip_prefix(',').unwrap_or(rest);
        }
    }

    fn parse_value(text: &str) -> Result<f64, String> {
        match text {
            "+Inf" => Ok(f64::INFINITY),
            "-Inf" => Ok(f64::NEG_INFINITY),
            "NaN" => Ok(f64::NAN),
            _ => text.parse::<f64>().map_err(|e| format!("bad value {text:?}: {e}")),
        }
    }

    /// A checker of the text format (0.0.4): every line is a comment or a sample
    /// `name{labels} value`; every family has one TYPE line, before its samples, with
    /// its samples together; histograms have `_bucket` (with `le`, cumulative, ending
    /// in `+Inf` equal to `_count`), `_sum` and `_count`; no series twice.
    fn check_exposition(text: &str) -> Result<Vec<Sample>, String> {
        assert!(text.ends_with('\n'), "ends with a line feed");
        let mut types: HashMap<String, String> = HashMap::new();
        let mut finished: HashSet<String> = HashSet::new();
        let mut current: Option<String> = None;
        let mut seen: HashSet<(String, Labels)> = HashSet::new();
        let mut samples = Vec::new();
        for (number, line) in text.lines().enumerate() {
            let context = |e: String| format!("line {}: {e}: {line:?}", number + 1);
            if let Some(comment) = line.strip_prefix('#') {
                let mut words = comment.trim_start().splitn(3, ' ');
                match (words.next(), words.next(), words.next()) {
                    (Some("TYPE"), Some(name), Some(kind)) => {
                        if !is_metric_name(name) {
                            return Err(context("bad metric name".into()));
                        }
                        if !["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind) {
                            return Err(context("bad type".into()));
                        }
                        if types.insert(name.to_owned(), kind.to_owned()).is_some() {
                            return Err(context("second TYPE line".into()));
                        }
                        if let Some(previous) = current.replace(name.to_owned()) {
                            finished.insert(previous);
                        }
                    }
                    (Some("HELP"), Some(name), _) if types.contains_key(name) => {
                        return Err(context("HELP after TYPE".into()));
                    }
                    _ => {}
                }
                continue;
            }
            let name_end = line.find(['{', ' ']).ok_or_else(|| context("no value".into()))?;
            let name = &line[..name_end];
            if !is_metric_name(name) {
                return Err(context("bad metric name".into()));
            }
            let (labels, rest) = parse_labels(&line[name_end..]).map_err(context)?;
            let value = rest.strip_prefix(' ').ok_or_else(|| context("no space before the value".into()))?;
            let value = parse_value(value).map_err(context)?;
            let family = if types.contains_key(name) {
                name.to_owned()
            } else {
                ["_bucket", "_sum", "_count"]
                    .iter()
                    .filter_map(|suffix| name.strip_suffix(suffix))
                    .find(|base| matches!(types.get(*base).map(String::as_str), Some("histogram" | "summary")))
                    .ok_or_else(|| context("sample without a TYPE line before it".into()))?
                    .to_owned()
            };
            if current.as_deref() != Some(family.as_str()) || finished.contains(&family) {
                return Err(context("sample away from its family".into()));
            }
            if name.ends_with("_bucket") && !labels.iter().any(|(l, _)| l == "le") {
                return Err(context("bucket without le".into()));
            }
            if !seen.insert((name.to_owned(), labels.clone())) {
                return Err(context("series twice".into()));
            }
            samples.push(Sample { name: name.to_owned(), labels, value });
        }
        // Histograms: per series (labels but le), cumulative buckets ending in +Inf == _count.
        for (family, kind) in &types {
            if kind != "histogram" {
                continue;
            }
            let mut series: HashMap<Labels, Vec<(f64, f64)>> = HashMap::new();
            for sample in samples.iter().filter(|s| s.name == format!("{family}_bucket")) {
                let le = sample.labels.iter().find(|(l, _)| l == "le").unwrap();
                let rest: Vec<_> = sample.labels.iter().filter(|(l, _)| l != "le").cloned().collect();
                series.entry(rest).or_default().push((parse_value(&le.1)?, sample.value));
            }
            for (labels, buckets) in series {
                let what = format!("{family}{labels:?}");
                if !buckets.windows(2).all(|w| w[0].0 < w[1].0 && w[0].1 <= w[1].1) {
                    return Err(format!("{what}: buckets not increasing and cumulative: {buckets:?}"));
                }
                let last = buckets.last().unwrap();
                if last.0 != f64::INFINITY {
                    return Err(format!("{what}: no +Inf bucket"));
                }
                let find = |suffix: &str| {
                    samples
                        .iter()
                        .find(|s| s.name == format!("{family}{suffix}") && s.labels == labels)
                        .map(|s| s.value)
                };
                if find("_count") != Some(last.1) {
                    return Err(format!("{what}: +Inf bucket {} is not _count {:?}", last.1, find("_count")));
                }
                if find("_sum").is_none() {
                    return Err(format!("{what}: no _sum"));
                }
            }
        }
        Ok(samples)
    }

    fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        samples
            .iter()
            .find(|s| {
                s.name == name
                    && s.labels.len() == labels.len()
                    && labels.iter().all(|(l, v)| s.labels.iter().any(|(sl, sv)| sl == l && sv == v))
            })
            .map(|s| s.value)
    }

    fn render(metrics: &Metrics, durable: &DurableEngine) -> (String, Vec<Sample>) {
        let mut text = String::new();
        metrics.render(durable, &mut text);
        let samples = check_exposition(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        (text, samples)
    }

    #[test]
    fn recorded_calls_show_as_counters_and_histograms() {
        let (_dir, durable) = open(DurabilityMode::None);
        let metrics = Metrics::new();
        let reserve = call_label(&Call::Apply(every_operation().swap_remove(3)));
        let micros = Duration::from_micros;
        metrics.record_call(reserve, Ok(()), micros(7));
        metrics.record_call(reserve, Ok(()), micros(30));
        metrics.record_call(reserve, Err(ErrorCode::InsufficientStock), micros(30));
        metrics.record_call(reserve, Err(ErrorCode::InsufficientStock), micros(2_000));
        metrics.record_call(reserve, Err(ErrorCode::NotDurable), Duration::from_secs(3));
        // A label written as a literal counts the same.
        metrics.record_call("ping", Ok(()), Duration::from_nanos(200));
        metrics.record_call("no_such_call", Ok(()), micros(1));

        let (text, samples) = render(&metrics, &durable);
        let requests =
            |op: &str, outcome: &str| value(&samples, "stockd_requests_total", &[("op", op), ("outcome", outcome)]);
        assert_eq!(requests("reserve", "ok"), Some(2.0));
        assert_eq!(requests("reserve", "INSUFFICIENT_STOCK"), Some(2.0));
        assert_eq!(requests("reserve", "NOT_DURABLE"), Some(1.0));
        assert_eq!(requests("reserve", "CONFLICT"), None, "zero error series are not shown");
        assert_eq!(requests("ping", "ok"), Some(1.0));
        for label in CALL_LABELS {
            assert!(requests(label, "ok").is_some(), "{label} pre-registered at ok");
        }
        assert_eq!(requests("commit", "ok"), Some(0.0));
        assert_eq!(value(&samples, "stockd_requests_unlabelled_total", &[]), Some(1.0));
        assert_eq!(value(&samples, "stockd_reservations_refused_total", &[]), Some(2.0));

        let bucket = |op: &str, le: &str| {
            value(&samples, "stockd_request_duration_seconds_bucket", &[("op", op), ("le", le)]).unwrap()
        };
        assert_eq!(bucket("reserve", "0.00001"), 1.0);
        assert_eq!(bucket("reserve", "0.000025"), 1.0);
        assert_eq!(bucket("reserve", "0.00005"), 3.0);
        assert_eq!(bucket("reserve", "0.001"), 3.0);
        assert_eq!(bucket("reserve", "0.0025"), 4.0);
        assert_eq!(bucket("reserve", "1"), 4.0);
        assert_eq!(bucket("reserve", "+Inf"), 5.0);
        assert_eq!(bucket("ping", "0.00001"), 1.0);
        assert_eq!(bucket("commit", "+Inf"), 0.0);
        let count = value(&samples, "stockd_request_duration_seconds_count", &[("op", "reserve")]);
        assert_eq!(count, Some(5.0));
        let sum = value(&samples, "stockd_request_duration_seconds_sum", &[("op", "reserve")]).unwrap();
        assert!((sum - 3.002067).abs() < 1e-9, "{sum}");
        // An exact boundary belongs to its bucket (le is "less or equal").
        metrics.record_call("commit", Ok(()), micros(10));
        let (_, samples) = render(&metrics, &durable);
        let bucket =
            |le: &str| value(&samples, "stockd_request_duration_seconds_bucket", &[("op", "commit"), ("le", le)]);
        assert_eq!(bucket("0.00001"), Some(1.0));

        let quantile = |op: &str, q: &str| {
            value(&samples, "stockd_request_duration_quantile_seconds", &[("op", op), ("quantile", q)])
        };
        // 5 latencies: 7us, 30us, 30us, 2ms, 3s (hdrhistogram: within 0.1%).
        let median = quantile("reserve", "0.5").unwrap();
        assert!((median - 30e-6).abs() < 1e-7, "{median}");
        let top = quantile("reserve", "0.999").unwrap();
        assert!((top - 3.0).abs() < 0.01, "{top}");
        assert_eq!(quantile("ping", "0.5"), Some(1e-6), "rounded up to a microsecond");
        assert_eq!(quantile("verify", "0.5"), None, "no quantiles before a call");
        assert!(text.contains("# TYPE stockd_request_duration_seconds histogram\n"));
    }

    #[test]
    fn gauges_and_connection_counters() {
        let (_dir, durable) = open(DurabilityMode::None);
        let metrics = Metrics::new();
        metrics.connection_opened();
        metrics.connection_opened();
        metrics.connection_opened();
        metrics.connection_closed();
        metrics.connection_refused("too_many_connections");
        metrics.connection_refused("too_many_connections");
        metrics.connection_refused("a \"quoted\\\" reason\nwith a line feed");
        metrics.in_flight_add(5);
        metrics.in_flight_add(-2);
        metrics.record_refused_request(ErrorCode::Overloaded);
        metrics.record_refused_request(ErrorCode::Overloaded);
        metrics.record_refused_request(ErrorCode::BadFrame);

        let (text, samples) = render(&metrics, &durable);
        assert_eq!(value(&samples, "stockd_connections_open", &[]), Some(2.0));
        assert_eq!(value(&samples, "stockd_connections_total", &[]), Some(3.0));
        let refused = |reason: &str| value(&samples, "stockd_connections_refused_total", &[("reason", reason)]);
        assert_eq!(refused("too_many_connections"), Some(2.0));
        assert_eq!(refused("handshake_failed"), Some(0.0));
        assert_eq!(refused("a \"quoted\\\" reason\nwith a line feed"), Some(1.0));
        assert!(text.contains(r#"reason="a \"quoted\\\" reason\nwith a line feed""#), "escaped");
        assert_eq!(value(&samples, "stockd_in_flight_requests", &[]), Some(3.0));
        let code = |code: &str| value(&samples, "stockd_requests_refused_total", &[("code", code)]);
        assert_eq!(code("OVERLOADED"), Some(2.0));
        assert_eq!(code("BAD_FRAME"), Some(1.0));
        assert_eq!(code("FORBIDDEN"), Some(0.0));
        let version = value(&samples, "stockd_build_info", &[("version", env!("CARGO_PKG_VERSION"))]);
        assert_eq!(version, Some(1.0));
        assert!(value(&samples, "stockd_uptime_seconds", &[]).unwrap() >= 0.0);
    }

    #[test]
    fn durability_none_shows_the_mode_and_no_log() {
        let (_dir, durable) = open(DurabilityMode::None);
        write_some_state(&durable);
        let metrics = Metrics::new();
        let (text, samples) = render(&metrics, &durable);
        assert_eq!(value(&samples, "stockd_durability_mode", &[("mode", "none")]), Some(1.0));
        assert!(!text.contains("stockd_wal_"), "no log metrics without a log:\n{text}");
        assert_engine_gauges(&samples);
    }

    #[test]
    fn durability_always_shows_the_log() {
        let (_dir, durable) = open(DurabilityMode::Always);
        write_some_state(&durable);
        let metrics = Metrics::new();
        let (_, samples) = render(&metrics, &durable);
        assert_eq!(value(&samples, "stockd_durability_mode", &[("mode", "always")]), Some(1.0));
        assert_eq!(value(&samples, "stockd_durability_mode", &[("mode", "none")]), None);
        let wal = durable.wal().unwrap();
        let records = value(&samples, "stockd_wal_records_total", &[]).unwrap();
        assert!(records >= 5.0, "{records}");
        assert!(value(&samples, "stockd_wal_bytes_total", &[]).unwrap() > 0.0);
        assert!(value(&samples, "stockd_wal_writes_total", &[]).unwrap() >= 1.0);
        let fsyncs = value(&samples, "stockd_wal_fsyncs_total", &[]).unwrap();
        assert!(fsyncs >= 1.0);
        let appended = value(&samples, "stockd_wal_appended_lsn", &[]).unwrap();
        assert_eq!(appended, wal.appended_lsn() as f64);
        // `always`: every acknowledged write is fsynced.
        assert_eq!(value(&samples, "stockd_wal_durable_lsn", &[]), Some(appended));
        assert_eq!(value(&samples, "stockd_wal_failed", &[]), Some(0.0));
        let count = value(&samples, "stockd_wal_fsync_duration_seconds_count", &[]).unwrap();
        assert!(count >= 1.0 && count <= fsyncs, "{count} of {fsyncs}");
        assert!(value(&samples, "stockd_wal_fsync_duration_seconds_sum", &[]).unwrap() > 0.0);
        assert!(value(&samples, "stockd_wal_fsync_duration_max_seconds", &[]).unwrap() > 0.0);
        assert_engine_gauges(&samples);
    }

    fn assert_engine_gauges(samples: &[Sample]) {
        assert_eq!(value(samples, "stockd_positions", &[]), Some(2.0));
        assert_eq!(value(samples, "stockd_skus", &[]), Some(2.0));
        assert_eq!(value(samples, "stockd_locations", &[]), Some(1.0));
        assert_eq!(value(samples, "stockd_channels", &[]), Some(0.0));
        assert_eq!(value(samples, "stockd_kits", &[]), Some(0.0));
        let state = |state: &str| value(samples, "stockd_reservations", &[("state", state)]);
        assert_eq!(state("held"), Some(1.0));
        assert_eq!(state("committed"), Some(1.0));
        assert_eq!(state("fulfilled"), Some(0.0));
        assert_eq!(state("released"), Some(0.0));
        assert_eq!(state("expired"), Some(0.0));
        assert_eq!(value(samples, "stockd_reservations_remembered", &[]), Some(2.0));
    }

    #[test]
    fn the_checker_refuses_what_it_should() {
        let ok = "# HELP a_total A.\n# TYPE a_total counter\na_total{x=\"1\"} 3\n";
        assert!(check_exposition(ok).is_ok());
        for bad in [
            "a_total 3\n",
            "# TYPE a_total counter\na_total{x=\"1} 3\n",
            "# TYPE a_total counter\na_total{x=\"1\"}3\n",
            "# TYPE a_total counter\na_total three\n",
            "# TYPE a_total counter\na_total 1\na_total 2\n",
            "# TYPE a_total counter\n# TYPE b gauge\nb 1\na_total 2\n",
            "# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_sum 0\nh_count 1\n",
            "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1\nh_sum 0\nh_count 2\n",
        ] {
            assert!(check_exposition(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn metrics_are_shared_between_threads() {
        fn send_sync<T: Send + Sync>() {}
        send_sync::<Metrics>();
        let metrics = Arc::new(Metrics::new());
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let metrics = metrics.clone();
                std::thread::spawn(move || {
                    for _ in 0..10_000 {
                        metrics.record_call("ping", Ok(()), Duration::from_micros(3));
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        let (_dir, durable) = open(DurabilityMode::None);
        let (_, samples) = render(&metrics, &durable);
        assert_eq!(value(&samples, "stockd_requests_total", &[("op", "ping"), ("outcome", "ok")]), Some(40_000.0));
    }
}
