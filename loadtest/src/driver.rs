//! Load generation: open loop (a schedule of arrivals, kept whatever the server does),
//! closed loop (a fixed number of users, each starting its next flow when the last one
//! ended) and ramp (open-loop steps of rising rate until a p99 objective breaks).
//!
//! Everything runs on the current task: flows in flight are futures in one
//! `FuturesUnordered`, polled by the driver's loop together with the arrival timer
//! and the progress tick. The measurements go to a [`Recorder`] behind a `RefCell`,
//! never borrowed across an await.
//!
//! **Open loop.** Flow `k` is due at `start + offset(k)` ([`Pacer`]). It is started at
//! that instant or, if the driver is late (a busy thread, the in-flight cap reached),
//! as soon as it can, and its first request is charged from the due instant
//! ([`crate::stats`]). With [`Pacing::Timer`] the driver wakes on tokio's timer
//! (1 ms granularity: up to 1 ms of lateness is charged to latency); with
//! [`Pacing::Precise`] a helper thread sleeps to each due instant with the OS's
//! high-resolution sleep and wakes the driver, so lateness is tens of microseconds.
//! The lateness itself is reported (`generator lag`).

use crate::pacer::{Arrival, Pacer};
use crate::stats::{Recorder, Window};
use futures_util::stream::{FuturesUnordered, StreamExt};
use serde::{Deserialize, Serialize};
use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tokio::time::{Instant, MissedTickBehavior, Sleep};

/// Set by Ctrl-C (see [`request_stop`]): every loop stops starting flows, drains, and
/// the run goes on to its checks and reports.
static STOP: AtomicBool = AtomicBool::new(false);

/// Asks every running phase to stop early (its flows in flight still finish).
pub fn request_stop() {
    STOP.store(true, Ordering::Relaxed);
}

pub fn stop_requested() -> bool {
    STOP.load(Ordering::Relaxed)
}

/// How often the progress callback runs.
pub const PROGRESS_EVERY: Duration = Duration::from_millis(250);

/// What the driver drives: picks flows and runs them, recording their requests.
pub trait Executor {
    type Flow;

    /// The next flow (drawn from the scenario's seeded random sequence).
    fn next_flow(&self) -> Self::Flow;

    /// Runs a flow whose first request was due at `intended`.
    fn run(&self, flow: Self::Flow, intended: Instant) -> impl Future<Output = ()>;
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Pacing {
    /// A helper thread wakes the driver at each due instant (tens of µs late).
    Precise,
    /// tokio's timer (1 ms granularity; no extra thread).
    Timer,
}

/// Bounds of one phase.
#[derive(Clone, Debug)]
pub struct Limits {
    pub duration: Duration,
    /// Flows in flight at most (open loop): more arrivals wait, and are charged for it.
    pub max_in_flight: usize,
    /// After the last arrival, how long flows in flight get to finish.
    pub drain: Duration,
}

/// What a phase did.
#[derive(Clone, Copy, Debug, Default)]
pub struct Phase {
    pub started: u64,
    pub completed: u64,
    /// Still in flight when the drain ran out (dropped; their outcome is unknown).
    pub unfinished: u64,
    /// From the start of the phase to the last arrival (open loop) or the deadline.
    pub load_elapsed: Duration,
    /// From the start of the phase to the end of its drain.
    pub elapsed: Duration,
}

/// What the progress callback is told.
#[derive(Clone, Copy, Debug)]
pub struct Tick<'a> {
    pub elapsed: Duration,
    pub duration: Duration,
    pub target_rate: Option<f64>,
    pub in_flight: usize,
    pub label: &'a str,
}

/// Wakes the driver at each due instant of a copy of its schedule, from a thread of
/// its own (`std::thread::sleep` has microsecond resolution; tokio's timer has 1 ms).
struct PreciseTicker {
    notify: Arc<Notify>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<Duration>>,
}

/// A wake-up at most this often: arrivals closer together are started together.
const COALESCE: Duration = Duration::from_micros(50);

impl PreciseTicker {
    fn spawn(start: std::time::Instant, deadline: std::time::Instant, mut pacer: Pacer) -> PreciseTicker {
        let notify = Arc::new(Notify::new());
        let stop = Arc::new(AtomicBool::new(false));
        let (thread_notify, thread_stop) = (notify.clone(), stop.clone());
        let thread = std::thread::Builder::new()
            .name("loadtest-pacer".to_owned())
            .spawn(move || {
                let mut last = start;
                loop {
                    let due = start + pacer.next_offset();
                    if due >= deadline || thread_stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let mut slept = false;
                    loop {
                        let now = std::time::Instant::now();
                        if now >= due || thread_stop.load(Ordering::Relaxed) {
                            break;
                        }
                        std::thread::sleep((due - now).min(Duration::from_millis(20)));
                        slept = true;
                    }
                    let now = std::time::Instant::now();
                    if slept || now.duration_since(last) >= COALESCE {
                        thread_notify.notify_one();
                        last = now;
                    }
                }
                thread_notify.notify_one();
                crate::cpu::thread_cpu()
            })
            .expect("a thread for the pacer");
        PreciseTicker { notify, stop, thread: Some(thread) }
    }

    /// Stops the thread; returns the CPU time it used.
    fn finish(mut self) -> Duration {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.take().and_then(|thread| thread.join().ok()).unwrap_or_default()
    }
}

impl Drop for PreciseTicker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

// CPU used by the pacer threads of finished phases (for the harness's own cost).
thread_local! {
    static PACER_CPU: Cell<Duration> = const { Cell::new(Duration::ZERO) };
}

/// The CPU time the precise pacer threads used so far (on this thread's phases).
pub fn pacer_cpu() -> Duration {
    PACER_CPU.with(Cell::get)
}

async fn due(sleep: Pin<&mut Sleep>, notify: Option<&Notify>) {
    match notify {
        Some(notify) => {
            tokio::select! {
                _ = sleep => {}
                _ = notify.notified() => {}
            }
        }
        None => sleep.await,
    }
}

fn progress_timer() -> tokio::time::Interval {
    let mut timer = tokio::time::interval(PROGRESS_EVERY);
    timer.set_missed_tick_behavior(MissedTickBehavior::Skip);
    timer
}

/// Drives an [`Executor`]: the flows' recorder, the budget of flows left (shared by
/// the phases run through it) and the progress callback.
pub struct Driver<'a, E, P> {
    pub exec: &'a E,
    pub rec: &'a RefCell<Recorder>,
    /// Flows that may still be started.
    pub budget: Cell<u64>,
    pub progress: P,
}

impl<'a, E: Executor, P: FnMut(&Recorder, Tick<'_>)> Driver<'a, E, P> {
    pub fn new(exec: &'a E, rec: &'a RefCell<Recorder>, budget: u64, progress: P) -> Self {
        Driver { exec, rec, budget: Cell::new(budget), progress }
    }

    /// Open loop at `pacer`'s rate for `limits.duration` (or until the budget runs
    /// out), then a drain.
    pub async fn open_loop(&mut self, mut pacer: Pacer, pacing: Pacing, limits: &Limits, label: &str) -> Phase {
        let (exec, rec, budget) = (self.exec, self.rec, &self.budget);
        let progress = &mut self.progress;
        let start = Instant::now();
        let deadline = start + limits.duration;
        let ticker = match pacing {
            Pacing::Precise => Some(PreciseTicker::spawn(start.into_std(), deadline.into_std(), pacer.clone())),
            Pacing::Timer => None,
        };
        let notify = ticker.as_ref().map(|ticker| ticker.notify.clone());
        let rate = pacer.rate();
        let mut inflight = FuturesUnordered::new();
        let mut next_due = start + pacer.next_offset();
        let sleep = tokio::time::sleep_until(next_due);
        tokio::pin!(sleep);
        let mut timer = progress_timer();
        let mut phase = Phase::default();
        let tick = |in_flight: usize| Tick {
            elapsed: start.elapsed(),
            duration: limits.duration,
            target_rate: Some(rate),
            in_flight,
            label,
        };
        while next_due < deadline && budget.get() > 0 && !stop_requested() {
            let room = inflight.len() < limits.max_in_flight;
            // Unbiased: flows just started get polled (sent) even while arrivals keep coming.
            tokio::select! {
                () = due(sleep.as_mut(), notify.as_deref()), if room => {
                    let now = Instant::now();
                    while next_due <= now
                        && next_due < deadline
                        && budget.get() > 0
                        && inflight.len() < limits.max_in_flight
                    {
                        budget.set(budget.get() - 1);
                        phase.started += 1;
                        let flow = exec.next_flow();
                        rec.borrow_mut().flow_started(next_due, now);
                        inflight.push(exec.run(flow, next_due));
                        next_due = start + pacer.next_offset();
                    }
                    sleep.as_mut().reset(next_due);
                }
                Some(()) = inflight.next(), if !inflight.is_empty() => {
                    phase.completed += 1;
                    rec.borrow_mut().flows_completed += 1;
                }
                _ = timer.tick() => progress(&rec.borrow(), tick(inflight.len())),
            }
        }
        // Ended by the schedule: the load lasted the whole duration (the next arrival
        // would have been past it), not just until the last arrival.
        phase.load_elapsed = if next_due >= deadline { limits.duration } else { start.elapsed() };
        if let Some(ticker) = ticker {
            let cpu = ticker.finish();
            PACER_CPU.with(|total| total.set(total.get() + cpu));
        }
        let drain_sleep = tokio::time::sleep_until(Instant::now() + limits.drain);
        tokio::pin!(drain_sleep);
        while !inflight.is_empty() {
            tokio::select! {
                Some(()) = inflight.next() => {
                    phase.completed += 1;
                    rec.borrow_mut().flows_completed += 1;
                }
                () = &mut drain_sleep => break,
                _ = timer.tick() => progress(&rec.borrow(), tick(inflight.len())),
            }
        }
        phase.unfinished = inflight.len() as u64;
        drop(inflight);
        rec.borrow_mut().flows_unfinished += phase.unfinished;
        phase.elapsed = start.elapsed().max(phase.load_elapsed);
        progress(&rec.borrow(), tick(0));
        phase
    }

    /// Closed loop: `concurrency` users, each running flows back to back (with
    /// `think` between them) until `limits.duration` or the budget, then a drain.
    pub async fn closed_loop(&mut self, concurrency: usize, think: Duration, limits: &Limits, label: &str) -> Phase {
        let (exec, rec, budget) = (self.exec, self.rec, &self.budget);
        let progress = &mut self.progress;
        let start = Instant::now();
        let deadline = start + limits.duration;
        let (busy, started) = (&Cell::new(0usize), &Cell::new(0u64));
        let user = || async move {
            loop {
                if Instant::now() >= deadline || budget.get() == 0 || stop_requested() {
                    break;
                }
                budget.set(budget.get() - 1);
                started.set(started.get() + 1);
                let flow = exec.next_flow();
                let now = Instant::now();
                rec.borrow_mut().flow_started(now, now);
                busy.set(busy.get() + 1);
                exec.run(flow, now).await;
                busy.set(busy.get() - 1);
                rec.borrow_mut().flows_completed += 1;
                if !think.is_zero() {
                    tokio::time::sleep(think).await;
                }
            }
        };
        let mut users: FuturesUnordered<_> = (0..concurrency.max(1)).map(|_| user()).collect();
        let stop = tokio::time::sleep_until(deadline + limits.drain);
        tokio::pin!(stop);
        let mut timer = progress_timer();
        let tick = |in_flight: usize| Tick {
            elapsed: start.elapsed(),
            duration: limits.duration,
            target_rate: None,
            in_flight,
            label,
        };
        loop {
            tokio::select! {
                finished = users.next() => if finished.is_none() { break },
                () = &mut stop => break,
                _ = timer.tick() => progress(&rec.borrow(), tick(busy.get())),
            }
        }
        let unfinished = busy.get() as u64;
        drop(users);
        rec.borrow_mut().flows_unfinished += unfinished;
        let elapsed = start.elapsed();
        let phase = Phase {
            started: started.get(),
            completed: started.get() - unfinished,
            unfinished,
            load_elapsed: elapsed.min(limits.duration),
            elapsed,
        };
        progress(&rec.borrow(), tick(0));
        phase
    }

    /// Open-loop steps of rising rate, each drained before the next, until a step
    /// misses the objective, the rate passes `max_rate`, `total` runs out or the
    /// budget does.
    pub async fn ramp(
        &mut self,
        spec: &RampSpec,
        pacing: Pacing,
        total: Duration,
        limits: &Limits,
    ) -> (Vec<StepResult>, Phase) {
        let start = Instant::now();
        let mut steps = Vec::new();
        let mut all = Phase::default();
        let mut rate = spec.start_rate;
        let mut index = 0u64;
        while rate <= spec.max_rate && self.budget.get() > 0 && !stop_requested() {
            let left = total.saturating_sub(start.elapsed());
            if left < spec.step_duration / 2 || left.is_zero() {
                break;
            }
            let step_limits = Limits { duration: spec.step_duration.min(left), ..limits.clone() };
            self.rec.borrow_mut().take_window();
            let pacer = Pacer::new(rate, spec.arrival, spec.seed.wrapping_add(index));
            let label = format!("ramp step {} at {rate:.0}/s", index + 1);
            let phase = self.open_loop(pacer, pacing, &step_limits, &label).await;
            let window = self.rec.borrow_mut().take_window();
            all.started += phase.started;
            all.completed += phase.completed;
            all.unfinished += phase.unfinished;
            all.load_elapsed += phase.load_elapsed;
            let seconds = step_limits.duration.as_secs_f64().max(1e-9);
            let step = judge_step(spec, rate, seconds, &phase, &window, self.budget.get() > 0);
            let passed = step.passed;
            steps.push(step);
            if !passed {
                break;
            }
            index += 1;
            rate = match spec.step {
                RampStep::Add(add) => rate + add.max(1e-9),
                RampStep::Multiply(factor) => rate * factor.max(1.0 + 1e-9),
            };
        }
        all.elapsed = start.elapsed();
        (steps, all)
    }
}

/// Whether a ramp step met the objective.
fn judge_step(
    spec: &RampSpec,
    rate: f64,
    seconds: f64,
    phase: &Phase,
    window: &Window,
    budget_left: bool,
) -> StepResult {
    let achieved = phase.completed as f64 / seconds;
    let requests = window.requests + phase.unfinished;
    let errors = window.errors + phase.unfinished;
    let error_rate = if requests == 0 { 0.0 } else { errors as f64 / requests as f64 };
    let (p50, p99, max) = if window.latency.is_empty() {
        (0, 0, 0)
    } else {
        (window.latency.value_at_quantile(0.5), window.latency.value_at_quantile(0.99), window.latency.max())
    };
    let mut reasons = Vec::new();
    let objective = spec.p99_objective.as_micros() as u64;
    if p99 > objective {
        reasons.push(format!("p99 {} above {}", crate::units::fmt_us(p99), crate::units::fmt_us(objective)));
    }
    if error_rate > spec.max_error_rate {
        reasons.push(format!("{:.2}% errors", error_rate * 100.0));
    }
    if phase.unfinished > 0 {
        reasons.push(format!("{} flows unfinished", phase.unfinished));
    }
    let expected = (rate * seconds).floor();
    if budget_left && (phase.started as f64) < expected * 0.9 {
        reasons.push(format!("only {} of {expected} arrivals started", phase.started));
    }
    StepResult {
        rate,
        achieved,
        requests,
        requests_per_s: requests as f64 / seconds,
        errors,
        error_rate,
        p50_us: p50,
        p99_us: p99,
        max_us: max,
        passed: reasons.is_empty(),
        reason: reasons.join("; "),
    }
}

/// How the ramp's rate rises.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RampStep {
    /// Add this many flows/s per step.
    Add(f64),
    /// Multiply the rate by this per step.
    Multiply(f64),
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RampSpec {
    pub start_rate: f64,
    pub step: RampStep,
    pub step_duration: Duration,
    pub max_rate: f64,
    /// A step passes when its p99 (of every request, from intended send time) is at
    /// most this...
    pub p99_objective: Duration,
    /// ... and at most this share of its requests failed.
    pub max_error_rate: f64,
    pub arrival: Arrival,
    pub seed: u64,
}

/// One step of a ramp.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StepResult {
    /// The rate asked (flows/s).
    pub rate: f64,
    /// Flows completed per second.
    pub achieved: f64,
    pub requests: u64,
    pub requests_per_s: f64,
    pub errors: u64,
    pub error_rate: f64,
    pub p50_us: u64,
    pub p99_us: u64,
    pub max_us: u64,
    pub passed: bool,
    /// Why it failed (empty when it passed).
    pub reason: String,
}

/// The highest rate of the steps that passed before the first failure.
pub fn best_rate(steps: &[StepResult]) -> Option<f64> {
    steps.iter().take_while(|step| step.passed).map(|step| step.rate).last()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::{Op, Outcome, Percentiles};

    /// A simulated server: one request at a time, `service` each, and once a stall.
    struct QueueServer<'a> {
        rec: &'a RefCell<Recorder>,
        service: Duration,
        busy_until: Cell<Instant>,
        stall_at: Option<Instant>,
        stall: Duration,
        stalled: Cell<bool>,
    }

    impl<'a> QueueServer<'a> {
        fn new(rec: &'a RefCell<Recorder>, service: Duration) -> QueueServer<'a> {
            QueueServer {
                rec,
                service,
                busy_until: Cell::new(Instant::now()),
                stall_at: None,
                stall: Duration::ZERO,
                stalled: Cell::new(false),
            }
        }
    }

    impl Executor for QueueServer<'_> {
        type Flow = ();

        fn next_flow(&self) {}

        async fn run(&self, (): (), intended: Instant) {
            let sent = Instant::now();
            let begin = sent.max(self.busy_until.get());
            let mut took = self.service;
            if let Some(stall_at) = self.stall_at {
                if begin >= stall_at && !self.stalled.get() {
                    self.stalled.set(true);
                    took += self.stall;
                }
            }
            self.busy_until.set(begin + took);
            tokio::time::sleep_until(begin + took).await;
            self.rec.borrow_mut().record(Op::Reserve, intended, sent, Instant::now(), Outcome::Ok);
        }
    }

    fn limits(duration: Duration, max_in_flight: usize) -> Limits {
        Limits { duration, max_in_flight, drain: Duration::from_secs(30) }
    }

    fn quiet() -> impl FnMut(&Recorder, Tick<'_>) {
        |_: &Recorder, _: Tick<'_>| {}
    }

    #[tokio::test(start_paused = true)]
    async fn open_loop_keeps_the_rate_on_a_simulated_clock() {
        let rec = RefCell::new(Recorder::new(Instant::now()));
        let server = QueueServer::new(&rec, Duration::from_micros(100));
        let pacer = Pacer::new(500.0, Arrival::Constant, 1);
        let mut driver = Driver::new(&server, &rec, u64::MAX, quiet());
        let phase = driver.open_loop(pacer, Pacing::Timer, &limits(Duration::from_secs(4), 10_000), "t").await;
        assert_eq!(phase.started, 2_000);
        assert_eq!(phase.completed, 2_000);
        assert_eq!(phase.unfinished, 0);
        let mut rec = rec.into_inner();
        rec.finish(Instant::now());
        let arrivals: Vec<u64> = rec.intervals().iter().map(|i| i.arrivals).collect();
        assert_eq!(&arrivals[..4], &[500, 500, 500, 500], "{arrivals:?}");
        for interval in &rec.intervals()[..4] {
            assert!(interval.requests.abs_diff(500) <= 2, "{interval:?}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn poisson_open_loop_is_within_tolerance_of_the_rate() {
        let rec = RefCell::new(Recorder::new(Instant::now()));
        let server = QueueServer::new(&rec, Duration::from_micros(10));
        let pacer = Pacer::new(1_000.0, Arrival::Poisson, 3);
        let mut driver = Driver::new(&server, &rec, u64::MAX, quiet());
        let phase = driver.open_loop(pacer, Pacing::Timer, &limits(Duration::from_secs(5), 10_000), "t").await;
        assert!(phase.started.abs_diff(5_000) <= 250, "{phase:?}");
        assert_eq!(phase.completed, phase.started);
    }

    #[tokio::test(start_paused = true)]
    async fn the_request_budget_stops_the_run() {
        let rec = RefCell::new(Recorder::new(Instant::now()));
        let server = QueueServer::new(&rec, Duration::from_micros(10));
        let pacer = Pacer::new(1_000.0, Arrival::Constant, 3);
        let mut driver = Driver::new(&server, &rec, 123, quiet());
        let phase = driver.open_loop(pacer, Pacing::Timer, &limits(Duration::from_secs(60), 10), "t").await;
        assert_eq!((phase.started, phase.completed, driver.budget.get()), (123, 123, 0));
        assert!(phase.elapsed < Duration::from_secs(1), "{phase:?}");
    }

    /// A 1 s stall of the server while the generator can have only one request in
    /// flight (what a closed-loop generator does): measured from the intended send
    /// times, every arrival that had to wait shows the stall; measured from the actual
    /// send times (the coordinated omission), only the one request that met it does.
    #[tokio::test(start_paused = true)]
    async fn a_stall_shows_in_latency_from_intended_send_times() {
        let start = Instant::now();
        let rec = RefCell::new(Recorder::new(start));
        let mut server = QueueServer::new(&rec, Duration::from_millis(1));
        server.stall_at = Some(start + Duration::from_secs(2));
        server.stall = Duration::from_secs(1);
        let pacer = Pacer::new(200.0, Arrival::Constant, 1);
        let mut driver = Driver::new(&server, &rec, u64::MAX, quiet());
        let phase = driver.open_loop(pacer, Pacing::Timer, &limits(Duration::from_secs(5), 1), "t").await;
        assert_eq!(phase.started, 1_000, "every arrival is sent, late ones included");
        let rec = rec.into_inner();
        let corrected = Percentiles::of(&rec.op(Op::Reserve).latency);
        let uncorrected = Percentiles::of(&rec.op(Op::Reserve).service);
        // ~200 arrivals fell in the stall, ~40 more queued behind it while it drained.
        assert!(corrected.p99 >= 800_000, "corrected {corrected:?}");
        assert!(corrected.p90 >= 50_000, "corrected {corrected:?}");
        assert!(corrected.max >= 1_000_000, "corrected {corrected:?}");
        assert!(uncorrected.p99 <= 2_000, "uncorrected {uncorrected:?}");
        assert!(uncorrected.max >= 1_000_000, "the stalled request itself {uncorrected:?}");
        // The generator's own lag shows that it was held back.
        assert!(rec.lag.value_at_quantile(0.99) >= 500_000);
    }

    /// The same stall with room for every arrival: nothing waits in the generator, so
    /// both measures see it in the requests queued at the server.
    #[tokio::test(start_paused = true)]
    async fn a_stall_with_an_open_generator_is_seen_by_both_measures() {
        let start = Instant::now();
        let rec = RefCell::new(Recorder::new(start));
        let mut server = QueueServer::new(&rec, Duration::from_millis(1));
        server.stall_at = Some(start + Duration::from_secs(2));
        server.stall = Duration::from_secs(1);
        let pacer = Pacer::new(200.0, Arrival::Constant, 1);
        let mut driver = Driver::new(&server, &rec, u64::MAX, quiet());
        driver.open_loop(pacer, Pacing::Timer, &limits(Duration::from_secs(5), 10_000), "t").await;
        let rec = rec.into_inner();
        let corrected = Percentiles::of(&rec.op(Op::Reserve).latency);
        assert!(corrected.p99 >= 800_000, "{corrected:?}");
        assert!(rec.lag.value_at_quantile(0.99) <= 1_000, "the generator kept the schedule");
    }

    #[tokio::test(start_paused = true)]
    async fn closed_loop_runs_at_the_servers_pace() {
        let rec = RefCell::new(Recorder::new(Instant::now()));
        let server = QueueServer::new(&rec, Duration::from_millis(2));
        let mut driver = Driver::new(&server, &rec, u64::MAX, quiet());
        let phase = driver.closed_loop(4, Duration::ZERO, &limits(Duration::from_secs(2), 1), "t").await;
        // One request at a time at the server, 2 ms each: 500/s whatever the concurrency.
        assert!(phase.completed.abs_diff(1_000) <= 5, "{phase:?}");
        assert_eq!(phase.unfinished, 0);
    }

    #[tokio::test(start_paused = true)]
    async fn ramp_finds_the_highest_rate_that_meets_the_objective() {
        let rec = RefCell::new(Recorder::new(Instant::now()));
        // Capacity 1,000 requests/s.
        let server = QueueServer::new(&rec, Duration::from_millis(1));
        let spec = RampSpec {
            start_rate: 200.0,
            step: RampStep::Multiply(2.0),
            step_duration: Duration::from_secs(2),
            max_rate: 100_000.0,
            p99_objective: Duration::from_millis(20),
            max_error_rate: 0.01,
            arrival: Arrival::Constant,
            seed: 1,
        };
        let mut driver = Driver::new(&server, &rec, u64::MAX, quiet());
        let (steps, phase) =
            driver.ramp(&spec, Pacing::Timer, Duration::from_secs(60), &limits(Duration::ZERO, 100_000)).await;
        let rates: Vec<f64> = steps.iter().map(|s| s.rate).collect();
        assert_eq!(rates, vec![200.0, 400.0, 800.0, 1_600.0], "{steps:?}");
        assert!(steps[..3].iter().all(|s| s.passed), "{steps:?}");
        assert!(!steps[3].passed && steps[3].reason.contains("p99"), "{steps:?}");
        assert_eq!(best_rate(&steps), Some(800.0));
        assert_eq!(phase.unfinished, 0);
    }
}
