//! One load test from start to end: resolve the options, start (or reach) the server,
//! load the dataset, warm up, run the load, drain, check, report.

use crate::checks::{self, Check};
use crate::cli::RunArgs;
use crate::dataset::{sku_name, Dataset};
use crate::driver::{self, Driver, Limits, Pacing, RampSpec, RampStep};
use crate::pacer::{Arrival, Pacer};
use crate::params::{FlowKind, Mix, Mode, Params, Profile};
use crate::progress::Progress;
use crate::report::{default_out_dir, CpuReport, Files, LoadSummary, RampReport, Report, Verdict, FORMAT};
use crate::slo::Slo;
use crate::stats::Recorder;
use crate::target::{Needs, Pools, Target, TargetOptions};
use crate::units::{file_stamp, fmt_us, iso8601};
use crate::workload::Workload;
use crate::{cpu, html};
use std::cell::RefCell;
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use stockd::client::Client;
use stockd::engine::Operation;
use stockd::protocol::Call;
use tokio::time::Instant;

pub const EXIT_OK: i32 = 0;
pub const EXIT_HARNESS: i32 = 1;
pub const EXIT_USAGE: i32 = 2;
pub const EXIT_VIOLATION: i32 = 3;
pub const EXIT_SLO: i32 = 4;

/// The longest the dataset setup and the final checks may each take.
const SETUP_TIMEOUT: Duration = Duration::from_secs(600);
const CHECKS_TIMEOUT: Duration = Duration::from_secs(600);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scenario {
    Browse,
    Checkout,
    FlashSale,
    Feed,
    Mixed,
}

impl Scenario {
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Browse => "browse",
            Scenario::Checkout => "checkout",
            Scenario::FlashSale => "flash-sale",
            Scenario::Feed => "feed",
            Scenario::Mixed => "mixed",
        }
    }

    /// The fixed mix of each scenario but `mixed`.
    pub fn mix(self) -> Option<Mix> {
        use FlowKind::*;
        Some(match self {
            Scenario::Browse => Mix::of(&[(Position, 40.0), (Channel, 25.0), (Page, 35.0)]),
            Scenario::Checkout => Mix::of(&[(Checkout, 100.0)]),
            Scenario::FlashSale => Mix::of(&[(FlashSale, 100.0)]),
            Scenario::Feed => Mix::of(&[(Checkout, 60.0), (Adjust, 20.0), (SetOnHand, 15.0), (BulkLoad, 5.0)]),
            Scenario::Mixed => return None,
        })
    }
}

/// Everything a run needs, resolved from defaults, the profile and the flags.
#[derive(Clone, Debug)]
pub struct Plan {
    pub scenario: Scenario,
    pub profile: Option<String>,
    pub profile_description: Option<String>,
    pub mix: Mix,
    pub params: Params,
    pub mode: Mode,
    pub rate: f64,
    pub arrival: Arrival,
    pub concurrency: usize,
    pub duration: Duration,
    pub max_flows: Option<u64>,
    pub warmup: Duration,
    pub limits: Limits,
    pub pacing: Pacing,
    pub ramp: RampSpec,
    pub slos: Vec<Slo>,
    pub target: TargetOptions,
    pub connections: usize,
    pub out_dir: PathBuf,
    pub name: String,
    pub html: bool,
    pub quiet: bool,
    pub command: Vec<String>,
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Resolves the options of a run.
pub fn plan(
    scenario: Scenario,
    args: &RunArgs,
    profile: Option<(String, Profile)>,
    inline_mix: Option<Mix>,
) -> Result<Plan, String> {
    let mut params = Params::default();
    let (profile_name, description, hints, mut mix) = match profile {
        Some((name, profile)) => {
            profile.apply_params(&mut params)?;
            (Some(name), Some(profile.description.clone()), profile.load.clone(), profile.mix.clone())
        }
        None => (None, None, Default::default(), Mix::default()),
    };
    if let Some(fixed) = scenario.mix() {
        mix = fixed;
    }
    if let Some(inline) = inline_mix {
        mix = inline;
    }
    mix.validate()?;
    args.params.apply(&mut params);
    params.validate()?;
    let load = &args.load;
    let mode = load.mode.or(hints.mode).unwrap_or(Mode::Open);
    let rate = load.rate.or(hints.rate).unwrap_or(200.0);
    if !(rate > 0.0 && rate <= 10_000_000.0) {
        return Err(format!("--rate must be above 0 (and at most 10,000,000), not {rate}"));
    }
    let concurrency = load.concurrency.or(hints.concurrency).unwrap_or(32);
    if concurrency == 0 || concurrency > 100_000 {
        return Err("--concurrency must be from 1 to 100,000".to_owned());
    }
    let default_duration = if mode == Mode::Ramp { Duration::from_secs(60) } else { Duration::from_secs(10) };
    let duration = load.duration.or(hints.duration).map_or(default_duration, |d| d.0);
    if duration.is_zero() {
        return Err("--duration must be above 0".to_owned());
    }
    if load.requests == Some(0) {
        return Err("--requests must be above 0".to_owned());
    }
    if load.max_in_flight == 0 {
        return Err("--max-in-flight must be above 0".to_owned());
    }
    if load.ramp_start <= 0.0 || load.ramp_max < load.ramp_start {
        return Err("--ramp-start must be above 0 and at most --ramp-max".to_owned());
    }
    let step = match load.ramp_step {
        Some(add) if add > 0.0 => RampStep::Add(add),
        Some(_) => return Err("--ramp-step must be above 0".to_owned()),
        None if load.ramp_factor > 1.0 => RampStep::Multiply(load.ramp_factor),
        None => return Err("--ramp-factor must be above 1".to_owned()),
    };
    if load.ramp_step_duration.0 < Duration::from_millis(100) {
        return Err("--ramp-step-duration must be at least 100ms".to_owned());
    }
    let arrival = load.arrival.or(hints.arrival).unwrap_or(Arrival::Poisson);
    let target = &args.target;
    let options = TargetOptions {
        server: target.server,
        fingerprint: target.fingerprint,
        ca_file: target.ca_file.clone(),
        token: target.token.clone(),
        server_name: target.server_name.clone(),
        durability: target.durability.clone(),
        data_dir: target.data_dir.clone(),
        expiry_tick: target.expiry_tick.0,
        max_in_flight: target.server_max_in_flight,
        retries: target.retries,
        request_timeout: target.request_timeout.0,
    };
    if options.request_timeout < Duration::from_millis(10) {
        return Err("--request-timeout must be at least 10ms".to_owned());
    }
    let output = &args.output;
    Ok(Plan {
        scenario,
        profile: profile_name,
        profile_description: description,
        mix,
        params,
        mode,
        rate,
        arrival,
        concurrency,
        duration,
        max_flows: load.requests,
        warmup: load.warmup.0,
        limits: Limits { duration, max_in_flight: load.max_in_flight, drain: load.drain.0 },
        pacing: load.pacing,
        ramp: RampSpec {
            start_rate: load.ramp_start,
            step,
            step_duration: load.ramp_step_duration.0,
            max_rate: load.ramp_max,
            p99_objective: load.ramp_p99.0,
            max_error_rate: load.ramp_max_errors.0,
            arrival,
            seed: 0,
        },
        slos: load.slos.clone(),
        target: options,
        connections: target.connections,
        out_dir: output.out.clone().unwrap_or_else(default_out_dir),
        name: output.name.clone().unwrap_or_else(|| format!("{}-{}", scenario.name(), file_stamp(unix_now()))),
        html: !output.no_html,
        quiet: output.quiet,
        command: std::env::args().collect(),
    })
}

fn needs(mix: &Mix) -> Needs {
    use FlowKind::*;
    Needs {
        read: [Position, Channel, Page].iter().any(|k| mix.contains(*k)),
        reserve: [Checkout, FlashSale].iter().any(|k| mix.contains(*k)),
        admin: [Adjust, SetOnHand, BulkLoad].iter().any(|k| mix.contains(*k)),
    }
}

/// Loads the catalogue and the positions through the admin connection.
async fn setup(client: &Client, data: &Dataset) -> Result<u64, String> {
    let started = std::time::Instant::now();
    client
        .apply(Operation::UpsertLocations(data.locations.clone()))
        .await
        .map_err(|error| format!("creating the locations: {error}"))?;
    for channel in &data.channels {
        client
            .apply(Operation::UpsertChannel(channel.clone()))
            .await
            .map_err(|error| format!("creating channel {}: {error}", channel.name))?;
    }
    let loaded = client.bulk_load(data.rows()).await.map_err(|error| format!("loading the positions: {error}"))?;
    if loaded.rejected > 0 {
        return Err(format!(
            "the server rejected {} of the dataset's rows, e.g. {:?} (a shared server with reservations on LT- positions?)",
            loaded.rejected,
            loaded.rejections.first()
        ));
    }
    let kits: Vec<Call> = data
        .kits
        .iter()
        .map(|kit| {
            Call::Apply(Operation::DefineKit {
                kit: kit.name.clone(),
                components: kit.components.iter().map(|(sku, quantity)| (sku_name(*sku), *quantity)).collect(),
            })
        })
        .collect();
    if !kits.is_empty() {
        let replies = client.batch_chunked(kits).await.map_err(|error| format!("defining the kits: {error}"))?;
        if let Some(stockd::protocol::Reply::Error(error)) =
            replies.iter().find(|reply| matches!(reply, stockd::protocol::Reply::Error(_)))
        {
            return Err(format!("defining a kit was refused: {error}"));
        }
    }
    Ok(started.elapsed().as_millis() as u64)
}

/// The run's tag: names this run's reservations and hot SKUs on the server.
fn run_tag() -> String {
    format!("{:08x}", rand::random::<u32>())
}

/// What the load phase measured.
struct Measured {
    phase: driver::Phase,
    steps: Option<Vec<driver::StepResult>>,
    harness_cpu: Duration,
    pacer_cpu: Duration,
    process_cpu: Duration,
    wall: Duration,
}

async fn load(plan: &Plan, work: &Workload<'_>, rec: &RefCell<Recorder>, progress: &mut Progress) -> Measured {
    let think = plan.params.think.0;
    if !plan.warmup.is_zero() {
        let limits = Limits { duration: plan.warmup, ..plan.limits.clone() };
        let mut driver = Driver::new(work, rec, u64::MAX, |r: &Recorder, t: driver::Tick<'_>| progress.update(r, t));
        match plan.mode {
            Mode::Closed => {
                driver.closed_loop(plan.concurrency, think, &limits, "warm-up").await;
            }
            Mode::Open | Mode::Ramp => {
                let rate = if plan.mode == Mode::Ramp { plan.ramp.start_rate } else { plan.rate };
                let pacer = Pacer::new(rate, plan.arrival, plan.params.seed ^ 0x77);
                driver.open_loop(pacer, plan.pacing, &limits, "warm-up").await;
            }
        }
    }
    *rec.borrow_mut() = Recorder::new(Instant::now());
    let (cpu0, pacer0, process0, wall0) =
        (cpu::thread_cpu(), driver::pacer_cpu(), cpu::process_cpu(), std::time::Instant::now());
    let label = plan.scenario.name();
    let budget = plan.max_flows.unwrap_or(u64::MAX);
    let mut driver = Driver::new(work, rec, budget, |r: &Recorder, t: driver::Tick<'_>| progress.update(r, t));
    let (phase, steps) = match plan.mode {
        Mode::Open => {
            let pacer = Pacer::new(plan.rate, plan.arrival, plan.params.seed);
            (driver.open_loop(pacer, plan.pacing, &plan.limits, label).await, None)
        }
        Mode::Closed => (driver.closed_loop(plan.concurrency, think, &plan.limits, label).await, None),
        Mode::Ramp => {
            let spec = RampSpec { seed: plan.params.seed, ..plan.ramp.clone() };
            let (steps, phase) = driver.ramp(&spec, plan.pacing, plan.duration, &plan.limits).await;
            (phase, Some(steps))
        }
    };
    rec.borrow_mut().finish(Instant::now());
    let pacer_cpu = driver::pacer_cpu().saturating_sub(pacer0);
    Measured {
        phase,
        steps,
        harness_cpu: cpu::thread_cpu().saturating_sub(cpu0) + pacer_cpu,
        pacer_cpu,
        process_cpu: cpu::process_cpu().saturating_sub(process0),
        wall: wall0.elapsed(),
    }
}

/// The run, on the current (current-thread) runtime. The target is started and
/// stopped by the caller.
async fn run_async(plan: &Plan, target: &Target, report: &mut Report) -> Result<(), String> {
    let mut progress = Progress::new(plan.quiet);
    // Ctrl-C stops the load early (the run still drains, checks and reports); a second
    // Ctrl-C exits at once.
    tokio::spawn(async {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("\nloadtest: stopping (Ctrl-C again to exit at once)");
            driver::request_stop();
            if tokio::signal::ctrl_c().await.is_ok() {
                std::process::exit(130);
            }
        }
    });
    progress.message("connecting");
    let pools = Pools::connect(target, plan.connections, needs(&plan.mix)).await?;
    report.target.max_in_flight_per_connection = pools.control.limits().max_in_flight;
    report.target.connections = pools.count();
    let tag = run_tag();
    let data = Dataset::generate(&plan.params, &tag);
    progress.message(&format!("loading the dataset ({} positions)", data.summary(0).positions));
    let load_ms = match tokio::time::timeout(SETUP_TIMEOUT, setup(&pools.control, &data)).await {
        Ok(result) => result?,
        Err(_) => return Err(format!("the dataset setup took more than {SETUP_TIMEOUT:?}")),
    };
    report.dataset = data.summary(load_ms);
    let rec = RefCell::new(Recorder::new(Instant::now()));
    let work = Workload::new(&pools, &data, &plan.params, &plan.mix, &rec, &tag);
    let measured = load(plan, &work, &rec, &mut progress).await;
    progress.message("checking");
    let checks = match tokio::time::timeout(CHECKS_TIMEOUT, checks::run(&work, &plan.mix, target.is_embedded())).await {
        Ok(checks) => checks,
        Err(_) => vec![Check {
            name: "checks".to_owned(),
            status: checks::Status::Failed,
            detail: format!("the checks took more than {CHECKS_TIMEOUT:?}"),
        }],
    };
    progress.finish();
    pools.close().await;

    let rec = rec.into_inner();
    let seconds = measured.phase.elapsed.as_secs_f64();
    report.measure(&rec, seconds);
    report.flows.achieved_rate =
        ((measured.phase.started as f64 / measured.phase.load_elapsed.as_secs_f64().max(1e-9)) * 10.0).round() / 10.0;
    let requests = rec.requests().max(1) as f64;
    let server_cpu = target.is_embedded().then(|| measured.process_cpu.saturating_sub(measured.harness_cpu));
    report.cpu = CpuReport {
        harness_cpu_s: measured.harness_cpu.as_secs_f64(),
        harness_us_per_request: (measured.harness_cpu.as_secs_f64() * 1e6 / requests * 10.0).round() / 10.0,
        pacer_cpu_s: measured.pacer_cpu.as_secs_f64(),
        process_cpu_s: measured.process_cpu.as_secs_f64(),
        server_cpu_s: server_cpu.map(|cpu| cpu.as_secs_f64()),
        server_us_per_request: server_cpu.map(|cpu| (cpu.as_secs_f64() * 1e6 / requests * 10.0).round() / 10.0),
        wall_s: measured.wall.as_secs_f64(),
    };
    if let Some(steps) = measured.steps {
        report.ramp = Some(RampReport {
            p99_objective_us: plan.ramp.p99_objective.as_micros() as u64,
            max_error_rate: plan.ramp.max_error_rate,
            best_rate: driver::best_rate(&steps),
            steps,
        });
    }
    report.checks = checks;
    Ok(())
}

fn notes(plan: &Plan, report: &Report) -> Vec<String> {
    let mut notes = Vec::new();
    if plan.mix.contains(FlowKind::Position) || plan.mix.contains(FlowKind::Page) || plan.scenario == Scenario::Browse {
        notes.push(
            "store finder (stores near a point with stock) is not in the protocol yet: no flow exercises it".to_owned(),
        );
    }
    if plan.pacing == Pacing::Timer && plan.mode != Mode::Closed {
        notes.push(
            "timer pacing: up to 1 ms of the latency from intended send time is tokio's timer granularity".to_owned(),
        );
    }
    if report.generator_lag.p99 > 1_000 {
        notes.push(format!(
            "the generator sent flows late (lag p99 {}): it was CPU-starved or at --max-in-flight; \
             the latency from intended send time includes the wait",
            fmt_us(report.generator_lag.p99)
        ));
    }
    if driver::stop_requested() {
        notes.push("stopped early by Ctrl-C".to_owned());
    }
    if report.flows.unfinished > 0 {
        notes.push(format!(
            "{} flows were still unanswered after the drain: counted as UNFINISHED_AT_END errors",
            report.flows.unfinished
        ));
    }
    if plan.mode == Mode::Open && report.flows.achieved_rate < plan.rate * 0.9 && plan.max_flows.is_none() {
        notes.push(format!(
            "achieved {:.1} flows/s of {} asked: the generator could not keep up",
            report.flows.achieved_rate, plan.rate
        ));
    }
    if let Some(durability) = &report.target.durability {
        if durability != "always" {
            notes.push(format!("durability {durability}: acknowledged writes are not all fsynced"));
        }
    }
    notes
}

/// Runs a load test; returns the process exit code.
pub fn execute(plan: Plan) -> i32 {
    let mut report = Report {
        format: FORMAT,
        tool: format!("stockd-loadtest {}", env!("CARGO_PKG_VERSION")),
        scenario: plan.scenario.name().to_owned(),
        profile: plan.profile.clone(),
        profile_description: plan.profile_description.clone(),
        started_at: iso8601(unix_now()),
        command: plan.command.clone(),
        load: LoadSummary {
            mode: format!("{:?}", plan.mode).to_lowercase(),
            target_rate: (plan.mode == Mode::Open).then_some(plan.rate),
            arrival: (plan.mode != Mode::Closed).then(|| format!("{:?}", plan.arrival).to_lowercase()),
            pacing: (plan.mode != Mode::Closed).then(|| format!("{:?}", plan.pacing).to_lowercase()),
            concurrency: (plan.mode == Mode::Closed).then_some(plan.concurrency),
            duration_s: plan.duration.as_secs_f64(),
            warmup_s: plan.warmup.as_secs_f64(),
            max_flows: plan.max_flows,
            max_in_flight: plan.limits.max_in_flight,
            drain_s: plan.limits.drain.as_secs_f64(),
            retries: plan.target.retries,
            request_timeout_s: plan.target.request_timeout.as_secs_f64(),
        },
        mix: plan
            .mix
            .shares()
            .into_iter()
            .map(|(kind, share)| (kind.name().to_owned(), (share * 10.0).round() / 10.0))
            .collect(),
        params: plan.params.clone(),
        ..Report::default()
    };
    let target = match Target::start(&plan.target) {
        Ok(target) => target,
        Err(error) => {
            eprintln!("loadtest: {error}");
            return EXIT_HARNESS;
        }
    };
    report.target = target.summary.clone();
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("loadtest: cannot start the runtime: {error}");
            return EXIT_HARNESS;
        }
    };
    let outcome = runtime.block_on(run_async(&plan, &target, &mut report));
    drop(runtime);
    let stopped = target.shutdown();
    if let Err(error) = outcome {
        eprintln!("loadtest: {error}");
        return EXIT_HARNESS;
    }
    if let Err(error) = stopped {
        report.checks.push(Check { name: "server-shutdown".to_owned(), status: checks::Status::Failed, detail: error });
    }
    report.notes = notes(&plan, &report);
    report.slos = plan.slos.iter().map(|slo| slo.evaluate(&report)).collect();
    let correctness_ok = report.correctness_ok();
    let slo_ok = report.slo_ok();
    let exit_code = if !correctness_ok {
        EXIT_VIOLATION
    } else if !slo_ok {
        EXIT_SLO
    } else {
        EXIT_OK
    };
    report.verdict = Verdict { correctness_ok, slo_ok, exit_code };
    let json = plan.out_dir.join(format!("{}.json", plan.name));
    let html_path = plan.out_dir.join(format!("{}.html", plan.name));
    report.files =
        Files { json: Some(json.display().to_string()), html: plan.html.then(|| html_path.display().to_string()) };
    let mut written = report.write_json(&json);
    if written.is_ok() && plan.html {
        written = crate::report::write_file(&html_path, &html::render(&report));
    }
    print!("{}", report.terminal());
    if let Err(error) = written {
        eprintln!("loadtest: {error}");
        return if exit_code == EXIT_OK { EXIT_HARNESS } else { exit_code };
    }
    exit_code
}

/// `loadtest profiles`.
pub fn list_profiles() -> String {
    let mut out = String::from("Built-in profiles (files in loadtest/profiles/; `mixed --profile <name or file>`):\n");
    for (name, text) in crate::params::BUILT_IN_PROFILES {
        let description = Profile::parse(text, name).map(|p| p.description).unwrap_or_else(|error| error);
        let default = if name == crate::params::DEFAULT_PROFILE { " (default)" } else { "" };
        out.push_str(&format!("  {name}{default}: {description}\n"));
    }
    out
}
