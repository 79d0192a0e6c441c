//! The change feed's cost to writers: reserve+release throughput with the feed off
//! (no hub: the engine's tracker is disabled, one relaxed load per stock write) and
//! on (a hub with 1,000 subscribers, a consumer thread draining them the way a server
//! would: a task per subscriber awaiting `next_batch`), in the same
//! process, alternating, several rounds; medians and their ratio (target >= 0.8).
//!
//! Writers: `STOCKD_FEED_WRITERS` threads (default 1: on 2 cores the hub and the
//! consumer need the other one). Each performs `STOCKD_FEED_PAIRS` pairs (default
//! 300,000): reserve 1 unit of a random hot SKU at a random location, and release the
//! reservation made 64 pairs earlier (so values move and the feed has real changes
//! to send, not only bursts that end where they started). `expire_due` every 1,024
//! pairs (writer 0; 2 TTLs behind its clock when there are several writers) forgets
//! released reservations (idempotency window 0), in both modes. `STOCKD_FEED_POLL_MS`
//! sets the hub's poll interval; `STOCKD_FEED_EXPERIMENT=tracker` measures the
//! engine's tracker alone (enabled and drained, no hub).
//!
//! Dataset: 8 locations, 10,000 SKUs stocked at all of them (1,000,000 units each),
//! channels `web` (all 8) and `app` (4, 5 % buffer). Writers touch the first 1,000
//! SKUs. Subscribers (1,000 by default, `STOCKD_FEED_SUBSCRIBERS`): 950 list 10 hot
//! SKUs each (web; a third also app; a fifth also Locations; half every_change; low
//! stock below 999,990), 50 watch every SKU on web with every_change.
//!
//! Run: `cargo bench --bench feed`; `cargo test --benches` runs it once, small.

#[path = "support/mod.rs"]
mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use stockd::engine::{ReserveLine, ReserveRequest};
use stockd::feed::{FeedConfig, FeedHub, FeedScope, Subscriber, SubscriptionSpec};
use stockd::model::ChannelBuffer;
use stockd::{Engine, EngineConfig, Timestamp};
use support::{add_channel, add_locations, location_name, position_rows, sku_name, write_sku_name, FastRandom};

#[global_allocator]
static ALLOCATOR: stockd::Allocator = stockd::Allocator;

const LOCATIONS: usize = 8;
const SKUS: usize = 10_000;
const HOT_SKUS: usize = 1_000;
const HELD_WINDOW: usize = 64;
const PAIRS_PER_SWEEP: u64 = 1_024;
const TTL_MS: u64 = 60_000;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn main() {
    let full = support::benchmark_mode();
    let pairs = env_usize("STOCKD_FEED_PAIRS", if full { 300_000 } else { 5_000 }) as u64;
    let rounds = env_usize("STOCKD_FEED_ROUNDS", if full { 7 } else { 1 });
    let writers = env_usize("STOCKD_FEED_WRITERS", 1).max(1);
    let subscriber_count = env_usize("STOCKD_FEED_SUBSCRIBERS", 1_000);
    let mut feed_config = FeedConfig::default();
    if let Ok(poll_ms) = std::env::var("STOCKD_FEED_POLL_MS") {
        feed_config.poll_interval = Duration::from_millis(poll_ms.parse().expect("STOCKD_FEED_POLL_MS: milliseconds"));
    }

    let engine = Arc::new(build_engine());
    let mut clock_ms = 1_700_000_000_000u64;
    let mut off = Vec::new();
    let mut on = Vec::new();
    let mut ratios = Vec::new();
    println!(
        "feed bench: {writers} writer thread(s), {pairs} reserve+release pairs each, {rounds} rounds, {subscriber_count} subscribers when on, poll interval {:?}",
        feed_config.poll_interval
    );
    if std::env::var("STOCKD_FEED_EXPERIMENT").as_deref() == Ok("tracker") {
        // The tracker alone: enabled, drained every poll interval, nothing read.
        for round in 0..rounds {
            let off_rate = run_writers(&engine, writers, pairs, &mut clock_ms);
            engine.changes().enable();
            let stop = Arc::new(AtomicBool::new(false));
            let drainer = {
                let (engine, stop, poll) = (engine.clone(), stop.clone(), feed_config.poll_interval);
                std::thread::spawn(move || {
                    let mut out = Vec::new();
                    while !stop.load(Ordering::Relaxed) {
                        out.clear();
                        engine.changes().drain(&mut out, 65_536);
                        std::thread::sleep(poll);
                    }
                })
            };
            let on_rate = run_writers(&engine, writers, pairs, &mut clock_ms);
            stop.store(true, Ordering::Relaxed);
            drainer.join().expect("drainer");
            engine.changes().disable();
            println!(
                "tracker only, round {round}: off {off_rate:.0}, on {on_rate:.0}, ratio {:.3}",
                on_rate / off_rate
            );
            ratios.push(on_rate / off_rate);
        }
        println!("tracker only: median ratio {:.3}", median(&mut ratios));
        return;
    }
    for round in 0..rounds {
        let off_rate = run_writers(&engine, writers, pairs, &mut clock_ms);
        let hub = FeedHub::start(engine.clone(), feed_config.clone());
        let subscribers: Vec<Subscriber> =
            (0..subscriber_count).map(|i| hub.subscribe(subscription(i)).expect("subscribe")).collect();
        let consumer = spawn_consumer(subscribers);
        let settled = hub.stats().cycles + 2;
        while hub.stats().cycles < settled {
            std::thread::sleep(Duration::from_millis(1));
        }
        let before = hub.stats();
        let cpu_before = feed_cpu_ms();
        let on_rate = run_writers(&engine, writers, pairs, &mut clock_ms);
        let cpu_after = feed_cpu_ms();
        let after = hub.stats();
        hub.stop();
        let taken = consumer.join().expect("consumer");
        println!(
            "round {round}: off {:>9.0} pairs/s, on {:>9.0} pairs/s, ratio {:.3} | hub: {} cycles, {} coalesced, {} overflows, {} tracker overflows, {} ms CPU; consumer took {} events, {} ms CPU",
            off_rate,
            on_rate,
            on_rate / off_rate,
            after.cycles - before.cycles,
            after.coalesced - before.coalesced,
            after.overflows - before.overflows,
            after.tracker_overflows - before.tracker_overflows,
            cpu_after.0 - cpu_before.0,
            taken,
            cpu_after.1 - cpu_before.1,
        );
        off.push(off_rate);
        on.push(on_rate);
        ratios.push(on_rate / off_rate);
    }
    println!(
        "median: off {:.0} pairs/s, on {:.0} pairs/s; median of per-round ratios {:.3}, ratio of medians {:.3} (target >= 0.8)",
        median(&mut off.clone()),
        median(&mut on.clone()),
        median(&mut ratios),
        median(&mut on) / median(&mut off),
    );
}

/// CPU time (user + system, ms) of the hub thread and of the consumer thread so far,
/// from /proc (0 where unavailable).
fn feed_cpu_ms() -> (u64, u64) {
    let mut hub = 0;
    let mut consumer = 0;
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else { return (0, 0) };
    for task in tasks.flatten() {
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        let stat = std::fs::read_to_string(task.path().join("stat")).unwrap_or_default();
        // Fields after the command's closing parenthesis: utime is the 12th, stime the 13th.
        let fields: Vec<&str> = stat.rsplit_once(')').map_or("", |(_, rest)| rest).split_whitespace().collect();
        let ticks: u64 = fields.get(11..13).map_or(0, |f| f.iter().filter_map(|v| v.parse::<u64>().ok()).sum());
        let ms = ticks * 10;
        match comm.trim() {
            "stockd-feed" => hub += ms,
            "feed-consumer" => consumer += ms,
            _ => {}
        }
    }
    (hub, consumer)
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn build_engine() -> Engine {
    let engine = Engine::new(EngineConfig { idempotency_window_ms: 0, ..EngineConfig::default() });
    add_locations(&engine, LOCATIONS);
    add_channel(&engine, "web", LOCATIONS);
    engine
        .upsert_channel(&stockd::model::ChannelSpec {
            name: "app".to_owned(),
            locations: (0..LOCATIONS / 2).map(location_name).collect(),
            excluded: Vec::new(),
            buffer: ChannelBuffer::Percent(5),
        })
        .expect("a valid channel");
    let mut rows = position_rows(SKUS, LOCATIONS);
    for row in &mut rows {
        row.on_hand = 1_000_000;
    }
    engine.bulk_load(&rows).expect("a valid load");
    engine
}

fn subscription(index: usize) -> SubscriptionSpec {
    if index % 20 == 19 {
        return SubscriptionSpec {
            skus: Vec::new(),
            scopes: vec![FeedScope::Channel("web".to_owned())],
            low_stock_below: None,
            every_change: true,
        };
    }
    let mut scopes = vec![FeedScope::Channel("web".to_owned())];
    if index.is_multiple_of(3) {
        scopes.push(FeedScope::Channel("app".to_owned()));
    }
    if index.is_multiple_of(5) {
        scopes.push(FeedScope::Locations);
    }
    SubscriptionSpec {
        skus: (0..10).map(|k| sku_name((index * 37 + k * 101) % HOT_SKUS)).collect(),
        scopes,
        low_stock_below: Some(999_990),
        every_change: index.is_multiple_of(2),
    }
}

/// The consumer a server would run: one thread with a current-thread tokio
/// runtime, one task per subscriber awaiting `next_batch` (up to 256 events), woken
/// by the hub at the end of a cycle that offered it something. Ends when the hub
/// stops; returns how many events were taken.
fn spawn_consumer(subscribers: Vec<Subscriber>) -> std::thread::JoinHandle<u64> {
    std::thread::Builder::new()
        .name("feed-consumer".to_owned())
        .spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
            runtime.block_on(async move {
                let tasks = tokio::task::LocalSet::new();
                let taken = std::rc::Rc::new(std::cell::Cell::new(0u64));
                for subscriber in subscribers {
                    let taken = taken.clone();
                    tasks.spawn_local(async move {
                        let mut out = Vec::with_capacity(256);
                        loop {
                            out.clear();
                            let count = subscriber.next_batch(&mut out, 256).await;
                            if count == 0 {
                                break;
                            }
                            taken.set(taken.get() + count as u64);
                        }
                    });
                }
                tasks.await;
                taken.get()
            })
        })
        .expect("consumer thread")
}

/// This thread's time on a CPU and waiting for one, in ns, from
/// /proc/thread-self/schedstat (zeros where unavailable).
fn thread_schedstat() -> (u64, u64) {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap_or_default();
    let mut fields = text.split_whitespace().map(|v| v.parse::<u64>().unwrap_or(0));
    (fields.next().unwrap_or(0), fields.next().unwrap_or(0))
}

/// Runs the writers; returns pairs per second over all of them. Also prints, per
/// writer, its pairs per second of its own CPU time and the share of the run it
/// spent runnable but waiting for a CPU (the machine is shared).
fn run_writers(engine: &Arc<Engine>, writers: usize, pairs: u64, clock_ms: &mut u64) -> f64 {
    let base_ms = *clock_ms;
    *clock_ms += pairs + 2 * TTL_MS + 2;
    let start = Instant::now();
    let scheds: Vec<(u64, u64)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..writers)
            .map(|writer| {
                let engine = engine.clone();
                scope.spawn(move || {
                    let before = thread_schedstat();
                    write_pairs(&engine, writer, writers, pairs, base_ms);
                    let after = thread_schedstat();
                    (after.0 - before.0, after.1 - before.1)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("writer")).collect()
    });
    let elapsed = start.elapsed();
    for (on_cpu_ns, waiting_ns) in scheds {
        if on_cpu_ns > 0 {
            print!(
                "[writer: {:.0} pairs per CPU-second, waited for a CPU {:.0} % of the run] ",
                pairs as f64 / (on_cpu_ns as f64 / 1e9),
                100.0 * waiting_ns as f64 / elapsed.as_nanos() as f64
            );
        }
    }
    // Outside the timing: forget everything so the next run starts the same.
    while engine.expire_due(Timestamp(base_ms + pairs + TTL_MS + 1)).more_due {}
    (writers as u64 * pairs) as f64 / elapsed.as_secs_f64()
}

fn write_pairs(engine: &Engine, writer: usize, writers: usize, pairs: u64, base_ms: u64) {
    // Writer 0 sweeps for everyone; with several writers their logical clocks drift
    // apart, so it sweeps 2 TTLs in the past, where no other writer still holds.
    let sweep_lag_ms = if writers > 1 { 2 * TTL_MS } else { 0 };
    let mut random = FastRandom::new(0x5eed + writer as u64);
    let mut request = ReserveRequest {
        id: String::with_capacity(32),
        lines: vec![ReserveLine { sku: String::with_capacity(16), location: String::with_capacity(8), quantity: 1 }],
        ttl_ms: TTL_MS,
        promise_by: None,
    };
    let mut held: Vec<String> = (0..HELD_WINDOW).map(|_| String::new()).collect();
    for pair in 0..pairs {
        let now = Timestamp(base_ms + pair);
        request.id.clear();
        request.id.push_str(&format!("w{writer}-{base_ms}-{pair}"));
        write_sku_name(&mut request.lines[0].sku, random.below(HOT_SKUS));
        request.lines[0].location.clear();
        request.lines[0].location.push_str(&location_name(random.below(LOCATIONS)));
        engine.reserve(&request, now).expect("stock never runs short");
        let slot = (pair as usize) % HELD_WINDOW;
        if !held[slot].is_empty() {
            engine.release(&held[slot], None, now).expect("a held reservation");
        }
        held[slot].clone_from(&request.id);
        if writer == 0 && pair % PAIRS_PER_SWEEP == PAIRS_PER_SWEEP - 1 {
            std::hint::black_box(engine.expire_due(Timestamp(now.0.saturating_sub(sweep_lag_ms))));
        }
    }
    let end = Timestamp(base_ms + pairs);
    for id in held.iter().filter(|id| !id.is_empty()) {
        engine.release(id, None, end).expect("a held reservation");
    }
}
