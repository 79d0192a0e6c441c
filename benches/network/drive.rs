//! The load patterns, written once for both targets (the echo and stockd) through
//! [`Link`]: a closed loop at a fixed depth, an open loop at a fixed rate, and lone
//! round trips. All run on the bench's main thread, inside one current-thread tokio
//! runtime, with latencies in nanoseconds in an hdrhistogram.

use super::cpu::{self, CpuSample};
use crate::support::FastRandom;
use hdrhistogram::Histogram;
use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

/// One stream to a target, used as a raw pipeline: queue requests (encoded at once),
/// flush them in one write, take responses as they come.
pub trait Link {
    /// Queues one request of the scenario and returns its sequence number (the
    /// response carries it back).
    fn queue(&mut self, rng: &mut FastRandom) -> u32;
    /// Sends everything queued.
    async fn flush(&mut self);
    /// The next response, checked (panics with a clear message on a wrong answer);
    /// returns the sequence number of the request it answers. Cancel-safe.
    async fn next(&mut self) -> u32;
    /// Requests queued or sent and not yet answered through [`Link::next`].
    fn in_flight(&self) -> usize;
}

/// Polls a future once: its output if it is ready without waiting. Used to take every
/// response already received (or receivable without blocking) after one awaited.
pub fn try_now<F: Future>(future: F) -> Option<F::Output> {
    let mut future = pin!(future);
    match future.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(output) => Some(output),
        Poll::Pending => None,
    }
}

/// How long a run warms up (not measured) and then measures.
#[derive(Clone, Copy, Debug)]
pub struct Timing {
    pub warmup: Duration,
    pub measure: Duration,
}

/// What one run measured, over its measured window only.
pub struct RunResult {
    /// Responses received in the window (open loop: answered requests whose intended
    /// send time fell in the window).
    pub requests: u64,
    pub elapsed: Duration,
    /// Latency of each of those requests, nanoseconds.
    pub latency: Histogram<u64>,
    pub cpu: CpuSample,
    /// Open loop: the longest a request was sent after its intended time (how far the
    /// client itself fell behind; included in the latency).
    pub client_lag: Option<Duration>,
}

impl RunResult {
    pub fn rate(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Nanoseconds from 1 ns to 100 s, 3 significant digits (values above are recorded as 100 s).
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 100_000_000_000, 3).expect("a histogram")
}

/// The send time of each request in flight, indexed by sequence number.
struct SendTimes {
    slots: Vec<(u32, Option<Instant>)>,
    mask: usize,
}

impl SendTimes {
    fn new(at_least: usize) -> SendTimes {
        let size = (at_least * 2).next_power_of_two().max(1024);
        SendTimes { slots: vec![(0, None); size], mask: size - 1 }
    }

    fn put(&mut self, sequence: u32, at: Instant) {
        let slot = &mut self.slots[sequence as usize & self.mask];
        assert!(
            slot.1.is_none(),
            "more than {} requests in flight: the target is far behind the offered load",
            self.slots.len()
        );
        *slot = (sequence, Some(at));
    }

    fn take(&mut self, sequence: u32) -> Instant {
        let slot = &mut self.slots[sequence as usize & self.mask];
        assert_eq!(slot.0, sequence, "a response to request {sequence}, which is not in flight");
        slot.1.take().unwrap_or_else(|| panic!("a second response to request {sequence}"))
    }
}

fn record(histogram: &mut Histogram<u64>, latency: Duration) {
    histogram.saturating_record(latency.as_nanos().min(u128::from(u64::MAX)) as u64);
}

/// Keeps `depth` requests in flight: after each burst of responses (one awaited, then
/// every one already there), queues as many new requests and flushes them in one
/// write. Latency runs from the flush that sent a request to the read that returned
/// its response.
pub async fn closed_loop<L: Link>(link: &mut L, depth: usize, timing: Timing, rng: &mut FastRandom) -> RunResult {
    let mut sent = SendTimes::new(depth);
    let mut latency = histogram();
    let now = Instant::now();
    for _ in 0..depth {
        let sequence = link.queue(rng);
        sent.put(sequence, now);
    }
    link.flush().await;
    let warm_until = Instant::now() + timing.warmup;
    let mut window: Option<(Instant, CpuSample)> = None;
    let mut requests = 0u64;
    let (elapsed, cpu) = loop {
        let first = link.next().await;
        let now = Instant::now();
        let mut answered = 1;
        let mut take = |sequence: u32, requests: &mut u64, measuring: bool| {
            let at = sent.take(sequence);
            if measuring {
                *requests += 1;
                record(&mut latency, now - at);
            }
        };
        let measuring = window.is_some();
        take(first, &mut requests, measuring);
        while link.in_flight() > 0 {
            match try_now(link.next()) {
                Some(sequence) => {
                    take(sequence, &mut requests, measuring);
                    answered += 1;
                }
                None => break,
            }
        }
        match &window {
            None if now >= warm_until => {
                let cpu = cpu::sample();
                window = Some((Instant::now(), cpu));
            }
            Some((start, cpu)) if now >= *start + timing.measure => break (now - *start, cpu::sample().since(cpu)),
            _ => {}
        }
        let now = Instant::now();
        for _ in 0..answered {
            let sequence = link.queue(rng);
            sent.put(sequence, now);
        }
        link.flush().await;
    };
    while link.in_flight() > 0 {
        let sequence = link.next().await;
        sent.take(sequence);
    }
    RunResult { requests, elapsed, latency, cpu, client_lag: None }
}

/// Sends at `rate` requests per second whatever the responses do (open loop): request
/// `i` is due at `start + i / rate` and is sent as soon as the loop sees it due.
/// Latency runs from that intended send time, so a stall of the client or the target
/// shows up in full instead of delaying the next sends. The loop never sleeps (a
/// timer's millisecond granularity would send bursts): it yields to the runtime
/// between turns, so the client thread is busy all along.
pub async fn open_loop<L: Link>(link: &mut L, rate: f64, timing: Timing, rng: &mut FastRandom) -> RunResult {
    let interval_ns = 1e9 / rate;
    let mut sent = SendTimes::new(64 * 1024);
    let mut latency = histogram();
    let start = Instant::now();
    let window_start = start + timing.warmup;
    let window_end = window_start + timing.measure;
    let intended = |i: u64| start + Duration::from_nanos((i as f64 * interval_ns) as u64);
    let mut queued = 0u64;
    let mut requests = 0u64;
    let mut cpu_start: Option<CpuSample> = None;
    let mut cpu = CpuSample::default();
    let mut lag_max = 0u64;
    loop {
        let now = Instant::now();
        if cpu_start.is_none() && now >= window_start {
            cpu_start = Some(cpu::sample());
        }
        if now >= window_end {
            if let Some(begin) = &cpu_start {
                cpu = cpu::sample().since(begin);
            }
            // Requests due in the window but not sent yet (the client was behind) are
            // sent now and counted from their intended time: a late end is not hidden.
            let in_window = ((window_end - start).as_nanos() as f64 / interval_ns).ceil() as u64;
            if queued < in_window {
                lag_max = lag_max.max((now - intended(queued)).as_nanos() as u64);
                while queued < in_window {
                    let sequence = link.queue(rng);
                    sent.put(sequence, intended(queued));
                    queued += 1;
                }
                link.flush().await;
            }
            break;
        }
        let due = ((now - start).as_nanos() as f64 / interval_ns) as u64 + 1;
        if queued < due {
            lag_max = lag_max.max((now - intended(queued)).as_nanos() as u64);
            while queued < due {
                let sequence = link.queue(rng);
                sent.put(sequence, intended(queued));
                queued += 1;
            }
            link.flush().await;
        }
        let now = Instant::now();
        while link.in_flight() > 0 {
            let Some(sequence) = try_now(link.next()) else { break };
            let at = sent.take(sequence);
            if at >= window_start && at < window_end {
                requests += 1;
                record(&mut latency, now - at);
            }
        }
        tokio::task::yield_now().await;
    }
    while link.in_flight() > 0 {
        let sequence = link.next().await;
        let at = sent.take(sequence);
        if at >= window_start && at < window_end {
            requests += 1;
            record(&mut latency, Instant::now() - at);
        }
    }
    RunResult { requests, elapsed: timing.measure, latency, cpu, client_lag: Some(Duration::from_nanos(lag_max)) }
}

/// One request at a time, `count` round trips (or until `cap` has passed), the first
/// `warmup` of them not measured. The client waits for each response the ordinary
/// way (it sleeps until the runtime is woken), as a lone caller would.
pub async fn lone<L: Link>(
    link: &mut L,
    warmup: usize,
    count: usize,
    cap: Duration,
    rng: &mut FastRandom,
) -> RunResult {
    let mut latency = histogram();
    for _ in 0..warmup {
        link.queue(rng);
        link.flush().await;
        link.next().await;
    }
    let cpu_start = cpu::sample();
    let start = Instant::now();
    let mut requests = 0u64;
    while (requests as usize) < count && start.elapsed() < cap {
        let began = Instant::now();
        let sequence = link.queue(rng);
        link.flush().await;
        let answered = link.next().await;
        record(&mut latency, began.elapsed());
        assert_eq!(answered, sequence, "a lone request answered by another request's response");
        requests += 1;
    }
    let elapsed = start.elapsed();
    RunResult { requests, elapsed, latency, cpu: cpu::sample().since(&cpu_start), client_lag: None }
}

// ---------------------------------------------------------------------------------
// Watchdog: the bench stops by itself even if a target stops answering.

static ARMED_AT: OnceLock<Instant> = OnceLock::new();
/// Milliseconds since `ARMED_AT` after which the process exits; 0 when disarmed.
static DEADLINE_MS: AtomicU64 = AtomicU64::new(0);
static WHAT: Mutex<String> = Mutex::new(String::new());

/// Exits the process (status 3) if the current step takes longer than `limit`.
pub fn arm_watchdog(what: &str, limit: Duration) {
    let base = *ARMED_AT.get_or_init(|| {
        std::thread::Builder::new().name("bench-watchdog".to_owned()).spawn(watch).expect("the watchdog thread starts");
        Instant::now()
    });
    *WHAT.lock().unwrap() = what.to_owned();
    let deadline = base.elapsed() + limit;
    DEADLINE_MS.store(deadline.as_millis() as u64, Ordering::Release);
}

fn watch() {
    loop {
        std::thread::sleep(Duration::from_millis(250));
        let Some(base) = ARMED_AT.get() else { continue };
        let deadline = DEADLINE_MS.load(Ordering::Acquire);
        if deadline != 0 && base.elapsed().as_millis() as u64 > deadline {
            eprintln!(
                "network bench: `{}` did not finish in time; a target stopped answering. Exiting.",
                WHAT.lock().unwrap()
            );
            std::process::exit(3);
        }
    }
}
