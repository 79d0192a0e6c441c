//! What the load generator measures: per-operation histograms, outcomes counted by
//! type, and a record per 1-second interval.
//!
//! Every request is recorded with three instants: when it was *meant* to be sent
//! (its place in the arrival schedule), when it was sent, and when its answer came.
//! `latency` is answer − intended: a request that waited behind a stalled server or a
//! busy generator is charged for the wait, so a stall cannot hide by delaying the
//! requests that would have seen it (no coordinated omission). `service` is answer −
//! sent, what the wire and the server took once the request left. The first request
//! of a flow is intended at its arrival time; each later step of the flow (commit
//! after reserve) is intended when the step before it answered.
//!
//! All times are in microseconds (at least 1).

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;
use tokio::time::Instant;

/// One kind of request, as reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Op {
    /// `Position`: one SKU at one location.
    Position,
    /// `ChannelAvailability`: one SKU across a channel (sometimes with the breakdown).
    Channel,
    /// `AvailabilityBatch`: a listing page of SKUs in a channel.
    Page,
    /// `Reserve` of a checkout.
    Reserve,
    /// `Reserve` of a hot SKU in a flash sale.
    FlashReserve,
    Commit,
    Fulfil,
    Release,
    /// `Adjust`: a delta on hand from the warehouse.
    Adjust,
    /// The `Position` read of a compare-and-set count.
    CountRead,
    /// `SetOnHand`: an absolute count (with or without compare-and-set).
    SetOnHand,
    /// `BulkLoad` of a batch of rows.
    BulkLoad,
}

impl Op {
    pub const ALL: [Op; 12] = [
        Op::Position,
        Op::Channel,
        Op::Page,
        Op::Reserve,
        Op::FlashReserve,
        Op::Commit,
        Op::Fulfil,
        Op::Release,
        Op::Adjust,
        Op::CountRead,
        Op::SetOnHand,
        Op::BulkLoad,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Op::Position => "position",
            Op::Channel => "channel",
            Op::Page => "page",
            Op::Reserve => "reserve",
            Op::FlashReserve => "flash-reserve",
            Op::Commit => "commit",
            Op::Fulfil => "fulfil",
            Op::Release => "release",
            Op::Adjust => "adjust",
            Op::CountRead => "count-read",
            Op::SetOnHand => "set-on-hand",
            Op::BulkLoad => "bulk-load",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// How a request ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    /// A refusal the scenario expects under load (`INSUFFICIENT_STOCK` once a hot SKU
    /// sells out, `VERSION_MISMATCH` for a count that raced a write): an answer, not a
    /// failure. Named by its error code.
    Refused(&'static str),
    /// Anything else: an unexpected refusal (by error code name), or no answer
    /// (`TIMEOUT`, `CONNECTION_LOST`, ...).
    Error(&'static str),
}

/// Latency percentiles of one histogram, in microseconds.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Percentiles {
    pub count: u64,
    pub min: u64,
    pub mean: f64,
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub p999: u64,
    pub max: u64,
}

impl Percentiles {
    pub fn of(histogram: &Histogram<u64>) -> Percentiles {
        if histogram.is_empty() {
            return Percentiles::default();
        }
        Percentiles {
            count: histogram.len(),
            min: histogram.min(),
            mean: (histogram.mean() * 10.0).round() / 10.0,
            p50: histogram.value_at_quantile(0.50),
            p90: histogram.value_at_quantile(0.90),
            p99: histogram.value_at_quantile(0.99),
            p999: histogram.value_at_quantile(0.999),
            max: histogram.max(),
        }
    }

    /// A percentile by its SLO name (`p50`, `p90`, `p99`, `p99.9`, `max`, `mean`).
    pub fn get(&self, name: &str) -> Option<f64> {
        Some(match name {
            "p50" => self.p50 as f64,
            "p90" => self.p90 as f64,
            "p99" => self.p99 as f64,
            "p99.9" | "p999" => self.p999 as f64,
            "max" => self.max as f64,
            "mean" => self.mean,
            "min" => self.min as f64,
            _ => return None,
        })
    }
}

fn histogram(significant_digits: u8) -> Histogram<u64> {
    Histogram::new(significant_digits).expect("1 to 5 significant digits")
}

fn micros(duration: Duration) -> u64 {
    (duration.as_micros() as u64).max(1)
}

/// Everything measured about one kind of request.
#[derive(Clone, Debug)]
pub struct OpAcc {
    pub latency: Histogram<u64>,
    pub service: Histogram<u64>,
    pub ok: u64,
    pub refused: BTreeMap<&'static str, u64>,
    pub errors: BTreeMap<&'static str, u64>,
}

impl OpAcc {
    fn new() -> OpAcc {
        OpAcc { latency: histogram(3), service: histogram(3), ok: 0, refused: BTreeMap::new(), errors: BTreeMap::new() }
    }

    pub fn count(&self) -> u64 {
        self.ok + self.refused.values().sum::<u64>() + self.errors.values().sum::<u64>()
    }

    pub fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }

    pub fn refused_count(&self) -> u64 {
        self.refused.values().sum()
    }
}

/// Per-op numbers of one interval.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct IntervalOp {
    pub requests: u64,
    pub errors: u64,
    pub p50_us: u64,
    pub p99_us: u64,
}

/// One second of the run (by completion time).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct IntervalRecord {
    /// Seconds since the start of measurement (this interval covers `[t, t+1)`).
    pub t: u64,
    /// How long the interval lasted: 1 but for the last one of a run.
    pub seconds: f64,
    pub requests: u64,
    pub errors: u64,
    pub refused: u64,
    /// Flows that arrived (were due) in this second.
    pub arrivals: u64,
    pub p50_us: u64,
    pub p99_us: u64,
    pub max_us: u64,
    pub ops: BTreeMap<Op, IntervalOp>,
}

struct IntervalAcc {
    index: u64,
    all: Histogram<u64>,
    per_op: Vec<(u64, u64, Histogram<u64>)>,
    errors: u64,
    refused: u64,
    arrivals: u64,
}

impl IntervalAcc {
    fn new(index: u64) -> IntervalAcc {
        IntervalAcc {
            index,
            all: histogram(2),
            per_op: Op::ALL.iter().map(|_| (0, 0, histogram(2))).collect(),
            errors: 0,
            refused: 0,
            arrivals: 0,
        }
    }

    fn close(&self, seconds: f64) -> IntervalRecord {
        let mut ops = BTreeMap::new();
        for (op, (requests, errors, latency)) in Op::ALL.iter().zip(&self.per_op) {
            if *requests > 0 {
                ops.insert(
                    *op,
                    IntervalOp {
                        requests: *requests,
                        errors: *errors,
                        p50_us: latency.value_at_quantile(0.5),
                        p99_us: latency.value_at_quantile(0.99),
                    },
                );
            }
        }
        let empty = self.all.is_empty();
        IntervalRecord {
            t: self.index,
            seconds,
            requests: self.all.len(),
            errors: self.errors,
            refused: self.refused,
            arrivals: self.arrivals,
            p50_us: if empty { 0 } else { self.all.value_at_quantile(0.5) },
            p99_us: if empty { 0 } else { self.all.value_at_quantile(0.99) },
            max_us: if empty { 0 } else { self.all.max() },
            ops,
        }
    }
}

/// Requests and latency since the window was last taken (a ramp step).
#[derive(Clone, Debug)]
pub struct Window {
    pub latency: Histogram<u64>,
    pub requests: u64,
    pub errors: u64,
    pub arrivals: u64,
}

impl Window {
    fn new() -> Window {
        Window { latency: histogram(3), requests: 0, errors: 0, arrivals: 0 }
    }
}

/// The measurements of a run. Used from one thread; the driver and the flows share
/// it through a `RefCell` and never hold it across an await.
pub struct Recorder {
    start: Instant,
    ops: Vec<OpAcc>,
    /// How late the generator sent the first request of each flow (sent − intended).
    pub lag: Histogram<u64>,
    pub flows_started: u64,
    pub flows_completed: u64,
    /// Flows still unanswered when the drain timeout ran out (their requests' outcome
    /// is unknown); counted as errors `UNFINISHED_AT_END`.
    pub flows_unfinished: u64,
    current: IntervalAcc,
    intervals: Vec<IntervalRecord>,
    window: Window,
    /// The last closed interval's overall p99 (for the progress line).
    pub last_p99_us: u64,
    /// Extra counters a scenario reports (`bulk_rows_rejected`, ...).
    pub counters: BTreeMap<&'static str, u64>,
}

impl Recorder {
    pub fn new(start: Instant) -> Recorder {
        Recorder {
            start,
            ops: Op::ALL.iter().map(|_| OpAcc::new()).collect(),
            lag: histogram(3),
            flows_started: 0,
            flows_completed: 0,
            flows_unfinished: 0,
            current: IntervalAcc::new(0),
            intervals: Vec::new(),
            window: Window::new(),
            last_p99_us: 0,
            counters: BTreeMap::new(),
        }
    }

    pub fn start(&self) -> Instant {
        self.start
    }

    /// Records one request.
    pub fn record(&mut self, op: Op, intended: Instant, sent: Instant, done: Instant, outcome: Outcome) {
        let latency = micros(done.saturating_duration_since(intended));
        let service = micros(done.saturating_duration_since(sent));
        let acc = &mut self.ops[op.index()];
        let _ = acc.latency.record(latency);
        let _ = acc.service.record(service);
        let is_error = matches!(outcome, Outcome::Error(_));
        match outcome {
            Outcome::Ok => acc.ok += 1,
            Outcome::Refused(code) => *acc.refused.entry(code).or_default() += 1,
            Outcome::Error(code) => *acc.errors.entry(code).or_default() += 1,
        }
        self.roll(done);
        let interval = &mut self.current;
        let _ = interval.all.record(latency);
        let slot = &mut interval.per_op[op.index()];
        slot.0 += 1;
        let _ = slot.2.record(latency);
        if is_error {
            slot.1 += 1;
            interval.errors += 1;
        }
        if matches!(outcome, Outcome::Refused(_)) {
            interval.refused += 1;
        }
        let _ = self.window.latency.record(latency);
        self.window.requests += 1;
        self.window.errors += u64::from(is_error);
    }

    /// A flow began: `intended` is its place in the schedule, `sent` when its first
    /// request left.
    pub fn flow_started(&mut self, intended: Instant, sent: Instant) {
        self.flows_started += 1;
        let _ = self.lag.record(micros(sent.saturating_duration_since(intended)));
        self.roll(intended.max(self.start));
        self.current.arrivals += 1;
        self.window.arrivals += 1;
    }

    pub fn count(&mut self, counter: &'static str, by: u64) {
        *self.counters.entry(counter).or_default() += by;
    }

    /// Closes the intervals that ended before `now`.
    pub fn roll(&mut self, now: Instant) {
        let index = now.saturating_duration_since(self.start).as_secs();
        while self.current.index < index {
            let closed = self.current.close(1.0);
            self.last_p99_us = closed.p99_us;
            self.intervals.push(closed);
            self.current = IntervalAcc::new(self.current.index + 1);
        }
    }

    /// Closes the interval in progress (at the end of the run). A last interval of
    /// less than a second is kept only if it saw requests.
    pub fn finish(&mut self, now: Instant) {
        self.roll(now);
        if !self.current.all.is_empty() || self.current.arrivals > 0 {
            let into = now.saturating_duration_since(self.start).as_secs_f64() - self.current.index as f64;
            let closed = self.current.close(into.clamp(0.001, 1.0));
            self.intervals.push(closed);
            self.current = IntervalAcc::new(self.current.index + 1);
        }
    }

    pub fn intervals(&self) -> &[IntervalRecord] {
        &self.intervals
    }

    pub fn op(&self, op: Op) -> &OpAcc {
        &self.ops[op.index()]
    }

    /// The ops that saw at least one request, in report order.
    pub fn used_ops(&self) -> impl Iterator<Item = (Op, &OpAcc)> {
        Op::ALL.iter().copied().zip(&self.ops).filter(|(_, acc)| acc.count() > 0)
    }

    /// Every request of every op together.
    pub fn total(&self) -> OpAcc {
        let mut total = OpAcc::new();
        for acc in &self.ops {
            let _ = total.latency.add(&acc.latency);
            let _ = total.service.add(&acc.service);
            total.ok += acc.ok;
            for (code, count) in &acc.refused {
                *total.refused.entry(code).or_default() += count;
            }
            for (code, count) in &acc.errors {
                *total.errors.entry(code).or_default() += count;
            }
        }
        if self.flows_unfinished > 0 {
            *total.errors.entry("UNFINISHED_AT_END").or_default() += self.flows_unfinished;
        }
        total
    }

    pub fn requests(&self) -> u64 {
        self.ops.iter().map(OpAcc::count).sum()
    }

    pub fn errors(&self) -> u64 {
        self.ops.iter().map(OpAcc::error_count).sum::<u64>() + self.flows_unfinished
    }

    /// The requests since the last call (a ramp step's own numbers).
    pub fn take_window(&mut self) -> Window {
        std::mem::replace(&mut self.window, Window::new())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(start: Instant, ms: u64) -> Instant {
        start + Duration::from_millis(ms)
    }

    #[test]
    fn percentiles_per_op_and_outcomes_by_type() {
        let start = Instant::now();
        let mut recorder = Recorder::new(start);
        // 100 reserves: 1 ms .. 100 ms of latency, 1 ms of service each.
        for i in 1..=100u64 {
            let intended = at(start, 0);
            let done = at(start, i);
            let outcome = match i {
                99 => Outcome::Refused("INSUFFICIENT_STOCK"),
                100 => Outcome::Error("TIMEOUT"),
                _ => Outcome::Ok,
            };
            recorder.record(Op::Reserve, intended, done - Duration::from_millis(1), done, outcome);
        }
        recorder.record(Op::Page, start, start, at(start, 2), Outcome::Ok);
        recorder.finish(at(start, 150));

        let reserve = recorder.op(Op::Reserve);
        assert_eq!(reserve.count(), 100);
        assert_eq!(reserve.ok, 98);
        assert_eq!(reserve.refused.get("INSUFFICIENT_STOCK"), Some(&1));
        assert_eq!(reserve.errors.get("TIMEOUT"), Some(&1));
        let latency = Percentiles::of(&reserve.latency);
        // hdrhistogram with 3 significant digits: within 0.1 %.
        let close = |value: u64, expected: u64| value.abs_diff(expected) <= expected / 1000 + 1;
        assert!(close(latency.p50, 50_000), "{latency:?}");
        assert!(close(latency.p90, 90_000), "{latency:?}");
        assert!(close(latency.p99, 99_000), "{latency:?}");
        assert!(close(latency.max, 100_000), "{latency:?}");
        assert!(close(latency.min, 1_000), "{latency:?}");
        let service = Percentiles::of(&reserve.service);
        assert!(close(service.max, 1_000), "{service:?}");

        let total = recorder.total();
        assert_eq!(total.count(), 101);
        assert_eq!(recorder.requests(), 101);
        assert_eq!(recorder.errors(), 1);
        assert_eq!(recorder.used_ops().map(|(op, _)| op).collect::<Vec<_>>(), vec![Op::Page, Op::Reserve]);
    }

    #[test]
    fn intervals_are_one_second_each_and_gaps_are_kept() {
        let start = Instant::now();
        let mut recorder = Recorder::new(start);
        for ms in [10, 20, 999, 1_000, 3_500] {
            recorder.flow_started(at(start, ms), at(start, ms));
            recorder.record(Op::Position, at(start, ms), at(start, ms), at(start, ms + 1), Outcome::Ok);
        }
        recorder.record(Op::Position, at(start, 3_600), at(start, 3_600), at(start, 3_700), Outcome::Error("TIMEOUT"));
        recorder.finish(at(start, 3_800));
        let intervals = recorder.intervals();
        assert_eq!(intervals.iter().map(|i| i.t).collect::<Vec<_>>(), vec![0, 1, 2, 3]);
        // 999 ms + 1 ms of latency completes at 1.000 s: in interval 1.
        assert_eq!(intervals.iter().map(|i| i.requests).collect::<Vec<_>>(), vec![2, 2, 0, 2]);
        assert_eq!(intervals.iter().map(|i| i.arrivals).collect::<Vec<_>>(), vec![3, 1, 0, 1]);
        assert_eq!(intervals[3].errors, 1);
        assert_eq!(intervals[3].ops[&Op::Position].requests, 2);
        assert!(intervals[3].max_us >= 99_000);
        assert_eq!(intervals[2].seconds, 1.0);
        assert!((intervals[3].seconds - 0.8).abs() < 1e-6, "the last interval lasted 0.8 s");
    }

    #[test]
    fn windows_restart_when_taken() {
        let start = Instant::now();
        let mut recorder = Recorder::new(start);
        recorder.record(Op::Commit, start, start, at(start, 5), Outcome::Ok);
        let first = recorder.take_window();
        assert_eq!((first.requests, first.latency.len()), (1, 1));
        recorder.record(Op::Commit, start, start, at(start, 7), Outcome::Error("OVERLOADED"));
        let second = recorder.take_window();
        assert_eq!((second.requests, second.errors), (1, 1));
        assert_eq!(recorder.op(Op::Commit).count(), 2);
    }
}
