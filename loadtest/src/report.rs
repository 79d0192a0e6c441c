//! The result of a run: one [`Report`], written as JSON (the format `compare` reads),
//! as a self-contained HTML page ([`crate::html`]) and as a table on the terminal.

use crate::checks::{Check, Status};
use crate::dataset::DatasetSummary;
use crate::driver::StepResult;
use crate::params::Params;
use crate::slo::SloResult;
use crate::stats::{IntervalRecord, OpAcc, Percentiles, Recorder};
use crate::target::TargetSummary;
use crate::units::{fmt_us, fmt_us_f};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Bumped when a field changes meaning or goes away.
pub const FORMAT: u32 = 1;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct OpReport {
    pub name: String,
    pub requests: u64,
    pub ok: u64,
    /// Answers the scenario expects under load (`INSUFFICIENT_STOCK`, ...), by code.
    pub refused: u64,
    pub errors: u64,
    pub throughput_rps: f64,
    /// From the intended send time (what a user waits; no coordinated omission), µs.
    pub latency: Percentiles,
    /// From the actual send time (the wire and the server), µs.
    pub service: Percentiles,
    pub refusals_by_code: BTreeMap<String, u64>,
    pub errors_by_code: BTreeMap<String, u64>,
}

impl OpReport {
    pub fn of(name: &str, acc: &OpAcc, seconds: f64) -> OpReport {
        let requests = acc.count();
        OpReport {
            name: name.to_owned(),
            requests,
            ok: acc.ok,
            refused: acc.refused_count(),
            errors: acc.error_count(),
            throughput_rps: round(requests as f64 / seconds.max(1e-9)),
            latency: Percentiles::of(&acc.latency),
            service: Percentiles::of(&acc.service),
            refusals_by_code: acc.refused.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
            errors_by_code: acc.errors.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
        }
    }
}

fn round(value: f64) -> f64 {
    (value * 10.0).round() / 10.0
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LoadSummary {
    /// `open`, `closed` or `ramp`.
    pub mode: String,
    /// Open loop: flows per second asked.
    pub target_rate: Option<f64>,
    pub arrival: Option<String>,
    pub pacing: Option<String>,
    /// Closed loop: users.
    pub concurrency: Option<usize>,
    pub duration_s: f64,
    pub warmup_s: f64,
    pub max_flows: Option<u64>,
    pub max_in_flight: usize,
    pub drain_s: f64,
    pub retries: u32,
    pub request_timeout_s: f64,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FlowSummary {
    pub started: u64,
    pub completed: u64,
    pub unfinished: u64,
    /// Flows started per second of the load phase.
    pub achieved_rate: f64,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CpuReport {
    /// CPU of the load generator's thread (the client, the flows, the bookkeeping) and
    /// its pacer thread during the load phase, in seconds.
    pub harness_cpu_s: f64,
    pub harness_us_per_request: f64,
    /// Of which the pacer thread.
    pub pacer_cpu_s: f64,
    /// CPU of the whole process during the load phase (harness + embedded server).
    pub process_cpu_s: f64,
    /// Embedded server only: process - harness.
    pub server_cpu_s: Option<f64>,
    pub server_us_per_request: Option<f64>,
    pub wall_s: f64,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RampReport {
    pub p99_objective_us: u64,
    pub max_error_rate: f64,
    pub steps: Vec<StepResult>,
    /// The highest rate whose step met the objective (flows/s).
    pub best_rate: Option<f64>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    pub correctness_ok: bool,
    pub slo_ok: bool,
    pub exit_code: i32,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Files {
    pub json: Option<String>,
    pub html: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Report {
    pub format: u32,
    pub tool: String,
    pub scenario: String,
    pub profile: Option<String>,
    pub profile_description: Option<String>,
    pub started_at: String,
    pub command: Vec<String>,
    pub load: LoadSummary,
    /// Share of arrivals per flow, in percent.
    pub mix: BTreeMap<String, f64>,
    pub params: Params,
    pub target: TargetSummary,
    pub dataset: DatasetSummary,
    /// The load phase (warm-up excluded), drain included, in seconds.
    pub elapsed_s: f64,
    pub flows: FlowSummary,
    /// Every request of every op.
    pub total: OpReport,
    pub ops: Vec<OpReport>,
    /// How late the generator sent each flow's first request (µs).
    pub generator_lag: Percentiles,
    pub intervals: Vec<IntervalRecord>,
    pub ramp: Option<RampReport>,
    pub checks: Vec<Check>,
    pub slos: Vec<SloResult>,
    pub cpu: CpuReport,
    pub counters: BTreeMap<String, u64>,
    pub notes: Vec<String>,
    pub verdict: Verdict,
    pub files: Files,
}

impl Report {
    /// The measurement part, from the recorder.
    pub fn measure(&mut self, rec: &Recorder, seconds: f64) {
        self.elapsed_s = round(seconds * 1_000.0) / 1_000.0;
        self.ops = rec.used_ops().map(|(op, acc)| OpReport::of(op.name(), acc, seconds)).collect();
        self.total = OpReport::of("all", &rec.total(), seconds);
        self.generator_lag = Percentiles::of(&rec.lag);
        self.intervals = rec.intervals().to_vec();
        self.counters = rec.counters.iter().map(|(k, v)| (k.to_string(), *v)).collect();
        self.flows = FlowSummary {
            started: rec.flows_started,
            completed: rec.flows_completed,
            unfinished: rec.flows_unfinished,
            achieved_rate: 0.0,
        };
    }

    pub fn correctness_ok(&self) -> bool {
        self.checks.iter().all(|check| check.status != Status::Failed)
    }

    pub fn slo_ok(&self) -> bool {
        self.slos.iter().all(|slo| slo.passed)
    }

    pub fn write_json(&self, path: &Path) -> Result<(), String> {
        let text = serde_json::to_string_pretty(self).map_err(|error| format!("the JSON report: {error}"))?;
        write_file(path, &text)
    }

    pub fn read_json(path: &Path) -> Result<Report, String> {
        let text = std::fs::read_to_string(path).map_err(|error| format!("cannot read {}: {error}", path.display()))?;
        serde_json::from_str(&text).map_err(|error| format!("{} is not a loadtest report: {error}", path.display()))
    }

    /// The table printed at the end of a run.
    pub fn terminal(&self) -> String {
        let mut out = String::new();
        let profile = self.profile.as_ref().map(|p| format!(" (profile {p})")).unwrap_or_default();
        let _ = writeln!(out, "\n== stockd load test: {}{profile} ==", self.scenario);
        let load = &self.load;
        let shape = match load.mode.as_str() {
            "closed" => format!("closed loop, {} users", load.concurrency.unwrap_or(0)),
            "ramp" => format!("ramp, {} arrivals", load.arrival.as_deref().unwrap_or("?")),
            _ => format!(
                "open loop, {} flows/s {} ({} pacing)",
                load.target_rate.unwrap_or(0.0),
                load.arrival.as_deref().unwrap_or("?"),
                load.pacing.as_deref().unwrap_or("?")
            ),
        };
        let _ = writeln!(
            out,
            "target: {} {}{} | {shape} | {:.1}s",
            self.target.kind,
            self.target.addr,
            self.target.durability.as_ref().map(|d| format!(" (durability {d})")).unwrap_or_default(),
            self.elapsed_s
        );
        let _ = writeln!(
            out,
            "dataset: {} SKUs x {} locations = {} positions, {} kits, seed {} (loaded in {} ms)",
            self.dataset.skus,
            self.dataset.locations,
            self.dataset.positions,
            self.dataset.kits,
            self.dataset.seed,
            self.dataset.load_ms
        );
        let mix: Vec<String> = self.mix.iter().map(|(k, v)| format!("{k} {v:.1}%")).collect();
        let _ = writeln!(out, "mix: {}", mix.join(", "));
        let _ = writeln!(
            out,
            "flows: {} started ({:.1}/s), {} completed, {} unfinished",
            self.flows.started, self.flows.achieved_rate, self.flows.completed, self.flows.unfinished
        );
        let _ = writeln!(out, "\nlatency from intended send time (service time from actual send in the last column):");
        let _ = writeln!(
            out,
            "{:<14} {:>9} {:>9} {:>8} {:>7} {:>9} {:>8} {:>8} {:>8} {:>8} {:>8} {:>9}",
            "op", "requests", "ok", "refused", "errors", "req/s", "p50", "p90", "p99", "p99.9", "max", "svc p99"
        );
        for op in self.ops.iter().chain(std::iter::once(&self.total)) {
            let _ = writeln!(
                out,
                "{:<14} {:>9} {:>9} {:>8} {:>7} {:>9.1} {:>8} {:>8} {:>8} {:>8} {:>8} {:>9}",
                op.name,
                op.requests,
                op.ok,
                op.refused,
                op.errors,
                op.throughput_rps,
                fmt_us(op.latency.p50),
                fmt_us(op.latency.p90),
                fmt_us(op.latency.p99),
                fmt_us(op.latency.p999),
                fmt_us(op.latency.max),
                fmt_us(op.service.p99)
            );
        }
        if !self.total.refusals_by_code.is_empty() {
            let list: Vec<String> = self.total.refusals_by_code.iter().map(|(k, v)| format!("{k} {v}")).collect();
            let _ = writeln!(out, "expected refusals: {}", list.join(", "));
        }
        if !self.total.errors_by_code.is_empty() {
            let list: Vec<String> = self.total.errors_by_code.iter().map(|(k, v)| format!("{k} {v}")).collect();
            let _ = writeln!(out, "ERRORS: {}", list.join(", "));
        }
        let _ = writeln!(
            out,
            "generator lag (first request sent - intended): p50 {} p99 {} max {}",
            fmt_us(self.generator_lag.p50),
            fmt_us(self.generator_lag.p99),
            fmt_us(self.generator_lag.max)
        );
        let cpu = &self.cpu;
        let server = match (cpu.server_cpu_s, cpu.server_us_per_request) {
            (Some(s), Some(per)) => format!("; embedded server {s:.2}s ({per:.1}µs/request)"),
            _ => String::new(),
        };
        let _ = writeln!(
            out,
            "CPU: harness {:.2}s ({:.1}µs/request, pacer {:.2}s){server}; process {:.2}s over {:.1}s wall",
            cpu.harness_cpu_s, cpu.harness_us_per_request, cpu.pacer_cpu_s, cpu.process_cpu_s, cpu.wall_s
        );
        if !self.counters.is_empty() {
            let list: Vec<String> = self.counters.iter().map(|(k, v)| format!("{k} {v}")).collect();
            let _ = writeln!(out, "counters: {}", list.join(", "));
        }
        if let Some(ramp) = &self.ramp {
            let _ = writeln!(
                out,
                "\nramp (objective p99 <= {}, errors <= {:.2}%):",
                fmt_us(ramp.p99_objective_us),
                ramp.max_error_rate * 100.0
            );
            let _ = writeln!(
                out,
                "{:>10} {:>10} {:>10} {:>8} {:>8} {:>8}  verdict",
                "rate", "achieved", "req/s", "p50", "p99", "errors"
            );
            for step in &ramp.steps {
                let _ = writeln!(
                    out,
                    "{:>10.0} {:>10.1} {:>10.1} {:>8} {:>8} {:>8}  {}",
                    step.rate,
                    step.achieved,
                    step.requests_per_s,
                    fmt_us(step.p50_us),
                    fmt_us(step.p99_us),
                    step.errors,
                    if step.passed { "ok".to_owned() } else { format!("MISSED: {}", step.reason) }
                );
            }
            match ramp.best_rate {
                Some(rate) => {
                    let _ = writeln!(out, "highest rate meeting the objective: {rate:.0} flows/s");
                }
                None => {
                    let _ = writeln!(out, "no step met the objective");
                }
            }
        }
        let _ = writeln!(out, "\ncorrectness checks:");
        for check in &self.checks {
            let mark = match check.status {
                Status::Passed => "PASS",
                Status::Failed => "FAIL",
                Status::Skipped => "skip",
            };
            let _ = writeln!(out, "  [{mark}] {}: {}", check.name, check.detail);
        }
        if !self.slos.is_empty() {
            let _ = writeln!(out, "SLOs:");
            for slo in &self.slos {
                let _ = writeln!(
                    out,
                    "  [{}] {} (actual {})",
                    if slo.passed { "PASS" } else { "MISS" },
                    slo.slo,
                    slo.actual
                );
            }
        }
        for note in &self.notes {
            let _ = writeln!(out, "note: {note}");
        }
        if let Some(json) = &self.files.json {
            let _ = writeln!(out, "report: {json}");
        }
        if let Some(html) = &self.files.html {
            let _ = writeln!(out, "report: {html}");
        }
        let verdict = match self.verdict.exit_code {
            0 => "OK".to_owned(),
            3 => "CORRECTNESS VIOLATION".to_owned(),
            4 => "SLO MISSED".to_owned(),
            code => format!("exit {code}"),
        };
        let _ = writeln!(out, "verdict: {verdict}");
        out
    }
}

/// Writes a file atomically (temp + rename), creating its folder.
pub fn write_file(path: &Path, text: &str) -> Result<(), String> {
    if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|error| format!("cannot create {}: {error}", dir.display()))?;
    }
    let temp = path.with_extension("tmp");
    std::fs::write(&temp, text).map_err(|error| format!("cannot write {}: {error}", temp.display()))?;
    std::fs::rename(&temp, path).map_err(|error| format!("cannot write {}: {error}", path.display()))
}

/// Where reports go by default: `target/loadtest/` of the workspace when the binary
/// runs from a cargo target folder (git-ignored there), else `loadtest-results/`.
pub fn default_out_dir() -> PathBuf {
    if let Ok(exe) = std::env::current_exe() {
        for dir in exe.ancestors().skip(1).take(4) {
            if dir.file_name().is_some_and(|name| name == "target") {
                return dir.join("loadtest");
            }
        }
    }
    PathBuf::from("loadtest-results")
}

/// The line printed for a percentile difference: `1.20ms -> 1.50ms (+25.0%)`.
pub fn change(a: f64, b: f64, latency: bool) -> String {
    let show = |v: f64| if latency { fmt_us_f(v) } else { format!("{v:.1}") };
    let delta = if a == 0.0 { String::from("n/a") } else { format!("{:+.1}%", (b - a) * 100.0 / a) };
    format!("{} -> {} ({delta})", show(a), show(b))
}
