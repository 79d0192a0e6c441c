//! Network benchmark of the QUIC front end: each scenario is run against a raw quinn
//! echo (same QUIC stack, TLS, threading, framing and message sizes; no protocol,
//! engine or log) and against a real in-process `RunningServer`, in the same process
//! and the same run, so every stockd figure sits next to what the transport alone
//! does on this machine at that moment. `cargo bench --bench network -- --help`
//! prints the usage (below); BENCHMARKS.md ("Network") records runs.

mod support;

mod network {
    pub mod cpu;
    pub mod drive;
    pub mod echo;
    pub mod report;
    pub mod stockd;
}

use hdrhistogram::Histogram;
use network::cpu::{self, CpuSample};
use network::drive::{self, Link, RunResult, Timing};
use network::echo::{EchoClient, EchoServer};
use network::report::{checks, print_checks, print_json, print_table};
use network::stockd::{Kind, Requests, StockdLink, StockdServer, BATCH_SKUS, READ_TOKEN, RESERVE_TOKEN};
use serde_json::json;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use support::FastRandom;

#[global_allocator]
static GLOBAL: stockd::Allocator = stockd::Allocator;

const USAGE: &str = "\
stockd network bench: every scenario against a raw quinn echo and against stockd, same run.

usage: cargo bench --bench network [-- SCENARIO...]     (release; ~3 min of runs after the build)
       STOCKD_NET_SECONDS=0.2 STOCKD_NET_REPS=1 cargo bench --bench network     (~15 s of runs)
       cargo test --bench network                        (debug smoke: 0.2 s runs, 1 repetition)
       target/release/deps/network-<hash> --bench [SCENARIO...]             (no rebuild)
       cargo bench --bench network -- --help             (this text only)

scenarios (default: all, in this order):
  query-pipelined   Call::Availability, random SKU and location, pipelined on one stream
  batch48           Call::AvailabilityBatch of 48 random SKUs over a 10-location channel
  lone              one query at a time (the next sent when the answer is in), idle server
  half-load         open loop at half of stockd's query-pipelined median rate; latency
                    from each request's intended send time (stalls are not hidden)
  reserve-interval  Apply(Reserve), 1 line, qty 1, new id each, durability interval:5
  reserve-always    the same under durability always (acknowledged after fsync)
  (half-load needs query-pipelined's rate: it runs query-pipelined too unless
  STOCKD_NET_HALF_RATE is set)

environment (defaults in brackets; `cargo test` smoke defaults in braces):
  STOCKD_NET_SECONDS         measured seconds per run [3] {0.2}; each run warms up first
  STOCKD_NET_WARMUP          warm-up seconds per run [min(0.5, SECONDS/4)]
  STOCKD_NET_REPS            repetitions R; throughput is the median of R runs [3] {1}
  STOCKD_NET_DEPTH           query-pipelined depth (requests in flight) [128]
  STOCKD_NET_BATCH_DEPTHS    batch48 depths (batches in flight), comma list [16,32]
  STOCKD_NET_RESERVE_DEPTHS  reserve depths, comma list [16,64]
  STOCKD_NET_LONE            lone round trips per run [20000] {2000}; a run also stops
                             after 5 x SECONDS (at least 1 s)
  STOCKD_NET_HALF_RATE       half-load rate in requests/s [half of query-pipelined]
  STOCKD_NET_SKUS            SKUs (x 10 locations) in the catalogue [10000]
  STOCKD_NET_SCENARIOS       comma list, as the SCENARIO arguments
  STOCKD_NET_QUIET           before each run, wait up to this many seconds for the machine
                             to be < 5% busy for 0.5 s (other processes) [0: no wait]
  STOCKD_BENCH_DIR           parent of the servers' temporary folders [target]

Setup: everything on 127.0.0.1 in this process. The echo and stockd each serve on a
thread of their own (one current-thread tokio runtime); the client is this main thread
(current-thread runtime, stockd's raw `Pipeline`). Catalogue: SKUS x 10 locations and a
channel over them, loaded into the engine before any clock starts (1,000 on hand for
queries, 1,000,000 for reserves). The echo's request and response payloads have the
sizes of the real encoded messages (the req/resp column). Each run opens a new stream;
per repetition the echo runs first, then stockd. Query scenarios share one server
(durability interval:5); each reserve run gets a fresh server (reservations, 1 h TTL,
are never released, so the table grows by one per request as with real orders).
Output: a table, the targets with PASS/MISS, then one JSON line per (scenario, target)
for BENCHMARKS.md. CPU is the time on CPU of this process's threads per request (from
/proc); \"others\" is what other processes used meanwhile: if it is above a few percent
on this 2-core class of machine, the run was disturbed (see STOCKD_NET_QUIET).
";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Scenario {
    QueryPipelined,
    Batch48,
    Lone,
    HalfLoad,
    ReserveInterval,
    ReserveAlways,
}

const ALL: [Scenario; 6] = [
    Scenario::QueryPipelined,
    Scenario::Batch48,
    Scenario::Lone,
    Scenario::HalfLoad,
    Scenario::ReserveInterval,
    Scenario::ReserveAlways,
];

impl Scenario {
    fn name(self) -> &'static str {
        match self {
            Scenario::QueryPipelined => "query-pipelined",
            Scenario::Batch48 => "batch48",
            Scenario::Lone => "lone",
            Scenario::HalfLoad => "half-load",
            Scenario::ReserveInterval => "reserve-interval",
            Scenario::ReserveAlways => "reserve-always",
        }
    }

    fn parse(name: &str) -> Option<Scenario> {
        ALL.into_iter().find(|scenario| scenario.name() == name)
    }
}

struct Settings {
    timing: Timing,
    reps: usize,
    query_depth: usize,
    batch_depths: Vec<usize>,
    reserve_depths: Vec<usize>,
    lone_count: usize,
    lone_cap: Duration,
    half_rate: Option<f64>,
    skus: usize,
    scenarios: Vec<Scenario>,
    bench_dir: PathBuf,
    /// Before each run, wait up to this long for the machine to be quiet.
    quiet: Duration,
}

fn env_f64(name: &str) -> Option<f64> {
    let value = std::env::var(name).ok()?;
    let parsed = value.replace('_', "").parse::<f64>();
    match parsed {
        Ok(parsed) if parsed.is_finite() && parsed > 0.0 => Some(parsed),
        _ => panic!("{name}={value:?}: expected a positive number"),
    }
}

/// A comma list of depths from `var`, or `default`.
fn depth_list(var: &str, default: &[usize]) -> Vec<usize> {
    match std::env::var(var) {
        Ok(list) => list
            .split(',')
            .map(|depth| {
                depth.trim().parse::<usize>().unwrap_or_else(|_| panic!("{var}: a comma list of numbers")).max(1)
            })
            .collect(),
        Err(_) => default.to_vec(),
    }
}

fn env_usize(name: &str) -> Option<usize> {
    env_f64(name).map(|value| value as usize)
}

fn env_nonnegative(name: &str) -> Option<f64> {
    let value = std::env::var(name).ok()?;
    match value.parse::<f64>() {
        Ok(parsed) if parsed.is_finite() && parsed >= 0.0 => Some(parsed),
        _ => panic!("{name}={value:?}: expected a number of seconds"),
    }
}

impl Settings {
    fn from_env(args: &[String]) -> Settings {
        // `cargo bench` passes --bench; `cargo test --benches` does not: smoke defaults.
        let smoke = !support::benchmark_mode();
        let seconds = env_f64("STOCKD_NET_SECONDS").unwrap_or(if smoke { 0.2 } else { 3.0 });
        let warmup = env_f64("STOCKD_NET_WARMUP").unwrap_or((seconds / 4.0).min(0.5));
        let mut names: Vec<String> = args.iter().filter(|arg| !arg.starts_with('-')).cloned().collect();
        if let Ok(list) = std::env::var("STOCKD_NET_SCENARIOS") {
            names.extend(list.split(',').map(|name| name.trim().to_owned()).filter(|name| !name.is_empty()));
        }
        let mut scenarios: Vec<Scenario> = if names.is_empty() {
            ALL.to_vec()
        } else {
            let chosen: Vec<Scenario> = names
                .iter()
                .map(|name| {
                    Scenario::parse(name).unwrap_or_else(|| {
                        eprintln!("{USAGE}");
                        panic!("unknown scenario {name:?} (see the list above)")
                    })
                })
                .collect();
            ALL.into_iter().filter(|scenario| chosen.contains(scenario)).collect()
        };
        let half_rate = env_f64("STOCKD_NET_HALF_RATE");
        if scenarios.contains(&Scenario::HalfLoad)
            && half_rate.is_none()
            && !scenarios.contains(&Scenario::QueryPipelined)
        {
            scenarios.insert(0, Scenario::QueryPipelined);
        }
        let reserve_depths = depth_list("STOCKD_NET_RESERVE_DEPTHS", &[16, 64]);
        let batch_depths = depth_list("STOCKD_NET_BATCH_DEPTHS", &[16, 32]);
        Settings {
            timing: Timing { warmup: Duration::from_secs_f64(warmup), measure: Duration::from_secs_f64(seconds) },
            reps: env_usize("STOCKD_NET_REPS").unwrap_or(if smoke { 1 } else { 3 }).max(1),
            query_depth: env_usize("STOCKD_NET_DEPTH").unwrap_or(128).max(1),
            batch_depths,
            reserve_depths,
            lone_count: env_usize("STOCKD_NET_LONE").unwrap_or(if smoke { 2_000 } else { 20_000 }).max(1),
            lone_cap: Duration::from_secs_f64((seconds * 5.0).max(1.0)),
            half_rate,
            skus: env_usize("STOCKD_NET_SKUS").unwrap_or(10_000).max(1),
            scenarios,
            bench_dir: PathBuf::from(std::env::var("STOCKD_BENCH_DIR").unwrap_or_else(|_| "target".to_owned())),
            quiet: Duration::from_secs_f64(env_nonnegative("STOCKD_NET_QUIET").unwrap_or(0.0)),
        }
    }

    fn wants(&self, scenario: Scenario) -> bool {
        self.scenarios.contains(&scenario)
    }

    /// How long one run may take before the watchdog ends the process.
    fn run_limit(&self) -> Duration {
        self.timing.warmup + self.timing.measure + self.lone_cap + Duration::from_secs(60)
    }
}

/// Everything measured for one (scenario, target) pair over its repetitions.
struct Row {
    scenario: Scenario,
    target: &'static str,
    durability: Option<String>,
    /// Requests in flight (closed loop), 1 for lone, None for the open loop.
    depth: Option<usize>,
    offered_rate: Option<f64>,
    request_bytes: usize,
    response_bytes: usize,
    /// Requests per second of each repetition.
    rates: Vec<f64>,
    latency: Histogram<u64>,
    requests: u64,
    cpu: CpuSample,
    /// Process resident memory after the last repetition.
    resident_mib: Option<f64>,
    /// Share of the machine other processes used during each repetition.
    others: Vec<f64>,
    /// Open loop: the longest the client sent a request after its intended time.
    client_lag_max: Option<Duration>,
    /// A one-line summary of the last repetition, for the progress lines.
    last: String,
}

impl Row {
    fn new(scenario: Scenario, target: &'static str, depth: Option<usize>, sizes: (usize, usize)) -> Row {
        Row {
            scenario,
            target,
            durability: None,
            depth,
            offered_rate: None,
            request_bytes: sizes.0,
            response_bytes: sizes.1,
            rates: Vec::new(),
            latency: drive::histogram(),
            requests: 0,
            cpu: CpuSample::default(),
            resident_mib: None,
            others: Vec::new(),
            client_lag_max: None,
            last: String::new(),
        }
    }

    fn add(&mut self, run: RunResult) {
        self.last = format!(
            "{}/s p50 {:.0} p99 {:.0} us{}{}",
            si(run.rate()),
            run.latency.value_at_quantile(0.5) as f64 / 1e3,
            run.latency.value_at_quantile(0.99) as f64 / 1e3,
            run.client_lag.map_or(String::new(), |lag| format!(" (client lag max {} us)", lag.as_micros())),
            run.cpu.others_share().map_or(String::new(), |share| format!(", others {:.0}%", share * 100.0)),
        );
        self.rates.push(run.rate());
        self.latency.add(&run.latency).expect("histograms add");
        self.requests += run.requests;
        self.cpu.add(&run.cpu);
        self.others.extend(run.cpu.others_share());
        if let Some(lag) = run.client_lag {
            self.client_lag_max = Some(self.client_lag_max.map_or(lag, |max| max.max(lag)));
        }
        self.resident_mib = cpu::resident_mib();
    }

    fn rate(&self) -> f64 {
        median(&self.rates)
    }

    /// Microseconds at quantile `q`.
    fn us(&self, q: f64) -> f64 {
        self.latency.value_at_quantile(q) as f64 / 1_000.0
    }

    fn cpu_us_per_request(&self, ns: u64) -> f64 {
        ns as f64 / 1_000.0 / self.requests.max(1) as f64
    }

    /// Items per request: SKU availabilities per batch.
    fn items(&self) -> usize {
        if self.scenario == Scenario::Batch48 {
            BATCH_SKUS
        } else {
            1
        }
    }

    /// The worst repetition's share of the machine used by other processes.
    fn others_max(&self) -> Option<f64> {
        self.others.iter().copied().reduce(f64::max)
    }

    fn depth_label(&self) -> String {
        match (self.depth, self.offered_rate) {
            (Some(depth), _) => depth.to_string(),
            (None, Some(rate)) => format!("@{}", si(rate)),
            (None, None) => "-".to_owned(),
        }
    }
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    match sorted.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

/// 1234567 -> "1.23 M", 45678 -> "45.7 k".
fn si(value: f64) -> String {
    if value >= 1e6 {
        format!("{:.2} M", value / 1e6)
    } else if value >= 1e3 {
        format!("{:.1} k", value / 1e3)
    } else {
        format!("{value:.0}")
    }
}

fn seed(scenario: Scenario, rep: usize, target: u64) -> FastRandom {
    FastRandom::new(scenario as u64 * 1_000 + rep as u64 * 10 + target)
}

/// Runs one pattern on a link.
enum Pattern {
    Closed(usize),
    Open(f64),
    Lone,
}

async fn run<L: Link>(
    link: &mut L,
    pattern: &Pattern,
    settings: &Settings,
    what: &str,
    rng: &mut FastRandom,
) -> RunResult {
    if !settings.quiet.is_zero() && !cpu::wait_until_quiet(settings.quiet).await {
        eprintln!("  (the machine was still busy after {:?}: {what} runs anyway)", settings.quiet);
    }
    drive::arm_watchdog(what, settings.run_limit());
    match *pattern {
        Pattern::Closed(depth) => drive::closed_loop(link, depth, settings.timing, rng).await,
        Pattern::Open(rate) => drive::open_loop(link, rate, settings.timing, rng).await,
        Pattern::Lone => {
            let warmup = (settings.lone_count / 10).clamp(1, 1_000);
            drive::lone(link, warmup, settings.lone_count, settings.lone_cap, rng).await
        }
    }
}

/// One scenario on the long-lived query server: R repetitions of echo then stockd.
async fn query_scenario(
    scenario: Scenario,
    pattern: Pattern,
    settings: &Settings,
    echo: &EchoClient,
    stockd: &stockd::client::Client,
    durability: &str,
) -> (Row, Row) {
    let kind = if scenario == Scenario::Batch48 { Kind::Batch } else { Kind::Query };
    let requests = || Requests::new(kind, settings.skus, "");
    let mut rng = seed(scenario, 0, 9);
    let sizes = StockdLink::open(stockd, requests()).await.measure_sizes(&mut rng).await;
    let (depth, offered) = match pattern {
        Pattern::Closed(depth) => (Some(depth), None),
        Pattern::Lone => (Some(1), None),
        Pattern::Open(rate) => (None, Some(rate)),
    };
    let mut echo_row = Row::new(scenario, "echo", depth, sizes);
    let mut stockd_row = Row::new(scenario, "stockd", depth, sizes);
    echo_row.offered_rate = offered;
    stockd_row.offered_rate = offered;
    stockd_row.durability = Some(durability.to_owned());
    for rep in 0..settings.reps {
        let what = format!("{} rep {} (echo)", scenario.name(), rep + 1);
        let mut link = echo.link(sizes.0, sizes.1).await;
        echo_row.add(run(&mut link, &pattern, settings, &what, &mut seed(scenario, rep, 1)).await);
        drop(link);
        let what = format!("{} rep {} (stockd)", scenario.name(), rep + 1);
        let mut link = StockdLink::open(stockd, requests()).await;
        stockd_row.add(run(&mut link, &pattern, settings, &what, &mut seed(scenario, rep, 2)).await);
        progress(&echo_row, &stockd_row, rep);
    }
    (echo_row, stockd_row)
}

/// A reserve scenario at one depth: a fresh server per repetition.
async fn reserve_scenario(
    scenario: Scenario,
    durability: &str,
    depth: usize,
    settings: &Settings,
    echo: &EchoClient,
) -> (Row, Row) {
    let mut rows: Option<(Row, Row)> = None;
    for rep in 0..settings.reps {
        drive::arm_watchdog(&format!("{} start of a server", scenario.name()), settings.run_limit());
        let server = StockdServer::start(durability, settings.skus, 1_000_000, &settings.bench_dir);
        let client = server.client(RESERVE_TOKEN).await;
        let mut rng = seed(scenario, rep, 9);
        let mut link = StockdLink::open(&client, Requests::new(Kind::Reserve, settings.skus, "order-")).await;
        let sizes = link.measure_sizes(&mut rng).await;
        let (echo_row, stockd_row) = rows.get_or_insert_with(|| {
            let mut stockd_row = Row::new(scenario, "stockd", Some(depth), sizes);
            stockd_row.durability = Some(durability.to_owned());
            (Row::new(scenario, "echo", Some(depth), sizes), stockd_row)
        });
        let pattern = Pattern::Closed(depth);
        let what = format!("{} depth {depth} rep {} (echo)", scenario.name(), rep + 1);
        let mut echo_link = echo.link(sizes.0, sizes.1).await;
        echo_row.add(run(&mut echo_link, &pattern, settings, &what, &mut seed(scenario, rep, 1)).await);
        drop(echo_link);
        let what = format!("{} depth {depth} rep {} (stockd)", scenario.name(), rep + 1);
        stockd_row.add(run(&mut link, &pattern, settings, &what, &mut seed(scenario, rep, 2)).await);
        progress(echo_row, stockd_row, rep);
        drop(link);
        client.close().await;
        drive::arm_watchdog(&format!("{} shutdown of a server", scenario.name()), settings.run_limit());
        server.stop();
    }
    rows.expect("at least one repetition")
}

fn progress(echo: &Row, stockd: &Row, rep: usize) {
    eprintln!(
        "  {} {} rep {}: echo {} | stockd {}",
        stockd.scenario.name(),
        stockd.depth_label(),
        rep + 1,
        echo.last,
        stockd.last
    );
}

/// The commit of the working tree (`-dirty` if it has changes), when git is there.
fn commit() -> Option<String> {
    let output = std::process::Command::new("git").args(["describe", "--always", "--dirty"]).output().ok()?;
    output.status.success().then(|| String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

fn machine() -> String {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let load: Vec<&str> = load.split_whitespace().take(3).collect();
    format!("{cores} cores, load average {}", load.join(" "))
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|arg| arg == "--list") {
        return; // `cargo test --benches` lists benches; there is nothing to list.
    }
    if args.iter().any(|arg| arg == "--help" || arg == "-h") {
        print!("{USAGE}");
        return;
    }
    print!("{USAGE}");
    let settings = Settings::from_env(&args);
    let build = if cfg!(debug_assertions) { "debug" } else { "release" };
    println!(
        "\nrun: {} build, {}; scenarios {}; {} rep(s) x ({:.2} s warm-up + {:.2} s); depths: query {}, batch {:?}, \
         reserve {:?}; lone {} round trips; {} SKUs x 10 locations",
        build,
        machine(),
        settings.scenarios.iter().map(|s| s.name()).collect::<Vec<_>>().join(","),
        settings.reps,
        settings.timing.warmup.as_secs_f64(),
        settings.timing.measure.as_secs_f64(),
        settings.query_depth,
        settings.batch_depths,
        settings.reserve_depths,
        settings.lone_count,
        settings.skus
    );
    if build == "debug" {
        println!("(a debug build: the figures say nothing about speed; use `cargo bench --bench network`)");
    }
    std::fs::create_dir_all(&settings.bench_dir).expect("the bench folder");
    let started = Instant::now();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
    let pairs = runtime.block_on(run_all(&settings));
    drop(runtime);
    let checks = checks(&pairs);
    print_table(&pairs, &settings);
    print_checks(&checks);
    print_json(&pairs, &checks, &settings, build);
    println!(
        "\nnetwork bench done in {:.1} s ({}; commit {}).",
        started.elapsed().as_secs_f64(),
        machine(),
        commit().unwrap_or_else(|| "unknown".to_owned())
    );
}

async fn run_all(settings: &Settings) -> Vec<(Row, Row)> {
    let mut pairs = Vec::new();
    let echo_server = EchoServer::start();
    let echo = EchoClient::connect(&echo_server).await;
    let queries = [Scenario::QueryPipelined, Scenario::Batch48, Scenario::Lone, Scenario::HalfLoad];
    if queries.iter().any(|scenario| settings.wants(*scenario)) {
        let durability = "interval:5";
        drive::arm_watchdog("start of the query server", settings.run_limit());
        let server = StockdServer::start(durability, settings.skus, 1_000, &settings.bench_dir);
        let client = server.client(READ_TOKEN).await;
        for scenario in queries.into_iter().filter(|scenario| settings.wants(*scenario)) {
            eprintln!("{}:", scenario.name());
            let patterns = match scenario {
                Scenario::QueryPipelined => vec![Pattern::Closed(settings.query_depth)],
                Scenario::Batch48 => settings.batch_depths.iter().map(|&depth| Pattern::Closed(depth)).collect(),
                Scenario::Lone => vec![Pattern::Lone],
                _ => {
                    let peak = pairs
                        .iter()
                        .find(|(_, stockd): &&(Row, Row)| stockd.scenario == Scenario::QueryPipelined)
                        .map(|(_, stockd)| stockd.rate());
                    let rate = settings.half_rate.or(peak.map(|peak| peak / 2.0)).expect("a half-load rate");
                    vec![Pattern::Open(rate)]
                }
            };
            for pattern in patterns {
                pairs.push(query_scenario(scenario, pattern, settings, &echo, &client, durability).await);
            }
        }
        client.close().await;
        drive::arm_watchdog("shutdown of the query server", settings.run_limit());
        server.stop();
    }
    for (scenario, durability) in [(Scenario::ReserveInterval, "interval:5"), (Scenario::ReserveAlways, "always")] {
        if !settings.wants(scenario) {
            continue;
        }
        eprintln!("{}:", scenario.name());
        for &depth in &settings.reserve_depths {
            pairs.push(reserve_scenario(scenario, durability, depth, settings, &echo).await);
        }
    }
    echo.close();
    drop(echo_server);
    drive::arm_watchdog("the end", Duration::from_secs(3_600));
    pairs
}
