//! `loadtest compare a.json b.json`: what changed between two runs.

use crate::checks::Status;
use crate::report::{change, OpReport, Report};
use std::fmt::Write as _;

/// What `compare` found.
pub struct Comparison {
    pub text: String,
    /// Ops (and `all`) whose p99 or throughput got worse by more than the threshold.
    pub regressions: Vec<String>,
}

fn pct(a: f64, b: f64) -> f64 {
    if a == 0.0 {
        0.0
    } else {
        (b - a) * 100.0 / a
    }
}

/// Compares `b` (the new run) with `a` (the baseline). With `threshold` (in percent),
/// a p99 more than that much higher, or a throughput that much lower, is a regression.
pub fn compare(a: &Report, b: &Report, threshold: Option<f64>) -> Comparison {
    let mut out = String::new();
    let mut regressions = Vec::new();
    let _ = writeln!(out, "a: {} {} ({}, {})", a.scenario, a.started_at, a.load.mode, a.target.kind);
    let _ = writeln!(out, "b: {} {} ({}, {})", b.scenario, b.started_at, b.load.mode, b.target.kind);
    if a.scenario != b.scenario || a.profile != b.profile {
        let _ = writeln!(out, "warning: different scenarios or profiles; the numbers may not be comparable");
    }
    if a.load.target_rate != b.load.target_rate || a.load.mode != b.load.mode {
        let _ = writeln!(
            out,
            "note: load differs: a {} {:?}/s, b {} {:?}/s",
            a.load.mode, a.load.target_rate, b.load.mode, b.load.target_rate
        );
    }
    let _ =
        writeln!(out, "\n{:<14} {:>30} {:>30} {:>30} {:>26} {:>14}", "op", "p50", "p99", "p99.9", "req/s", "errors");
    let mut names: Vec<String> = a.ops.iter().map(|op| op.name.clone()).collect();
    for op in &b.ops {
        if !names.contains(&op.name) {
            names.push(op.name.clone());
        }
    }
    names.push("all".to_owned());
    let find = |report: &Report, name: &str| -> OpReport {
        if name == "all" {
            return report.total.clone();
        }
        report.ops.iter().find(|op| op.name == name).cloned().unwrap_or_default()
    };
    for name in &names {
        let (x, y) = (find(a, name), find(b, name));
        let _ = writeln!(
            out,
            "{:<14} {:>30} {:>30} {:>30} {:>26} {:>14}",
            name,
            change(x.latency.p50 as f64, y.latency.p50 as f64, true),
            change(x.latency.p99 as f64, y.latency.p99 as f64, true),
            change(x.latency.p999 as f64, y.latency.p999 as f64, true),
            change(x.throughput_rps, y.throughput_rps, false),
            format!("{} -> {}", x.errors, y.errors),
        );
        if let Some(limit) = threshold {
            if x.requests > 0 && y.requests > 0 {
                let p99 = pct(x.latency.p99 as f64, y.latency.p99 as f64);
                let rate = pct(x.throughput_rps, y.throughput_rps);
                if p99 > limit {
                    regressions.push(format!("{name}: p99 {p99:+.1}%"));
                }
                if -rate > limit {
                    regressions.push(format!("{name}: throughput {rate:+.1}%"));
                }
            }
        }
    }
    let _ = writeln!(
        out,
        "\nflows/s {}; generator lag p99 {}",
        change(a.flows.achieved_rate, b.flows.achieved_rate, false),
        change(a.generator_lag.p99 as f64, b.generator_lag.p99 as f64, true)
    );
    let _ = writeln!(
        out,
        "harness CPU/request {}",
        change(a.cpu.harness_us_per_request, b.cpu.harness_us_per_request, false)
    );
    if let (Some(x), Some(y)) = (&a.ramp, &b.ramp) {
        let _ = writeln!(
            out,
            "ramp: highest rate meeting the objective {} (objective {}us -> {}us)",
            change(x.best_rate.unwrap_or(0.0), y.best_rate.unwrap_or(0.0), false),
            x.p99_objective_us,
            y.p99_objective_us
        );
        if let Some(limit) = threshold {
            let drop = -pct(x.best_rate.unwrap_or(0.0), y.best_rate.unwrap_or(0.0));
            if drop > limit {
                regressions.push(format!("ramp best rate {:+.1}%", -drop));
            }
        }
    }
    let status = |report: &Report, name: &str| report.checks.iter().find(|c| c.name == name).map(|c| c.status);
    let mut checks: Vec<String> = a.checks.iter().map(|c| c.name.clone()).collect();
    for check in &b.checks {
        if !checks.contains(&check.name) {
            checks.push(check.name.clone());
        }
    }
    let _ = writeln!(out, "\nchecks:");
    for name in &checks {
        let show = |s: Option<Status>| s.map_or("-".to_owned(), |s| format!("{s:?}").to_lowercase());
        let (x, y) = (status(a, name), status(b, name));
        let marker = if x != y { "  <- changed" } else { "" };
        let _ = writeln!(out, "  {name}: {} -> {}{marker}", show(x), show(y));
        if y == Some(Status::Failed) && threshold.is_some() {
            regressions.push(format!("check {name} failed"));
        }
    }
    if let Some(limit) = threshold {
        if regressions.is_empty() {
            let _ = writeln!(out, "\nno regression beyond {limit}%");
        } else {
            let _ = writeln!(out, "\nREGRESSIONS beyond {limit}%: {}", regressions.join("; "));
        }
    }
    Comparison { text: out, regressions }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::Percentiles;

    fn report(p99: u64, rps: f64) -> Report {
        let op = OpReport {
            name: "reserve".into(),
            requests: 100,
            throughput_rps: rps,
            latency: Percentiles { p50: p99 / 2, p99, p999: p99 * 2, ..Percentiles::default() },
            ..OpReport::default()
        };
        Report {
            scenario: "checkout".into(),
            total: OpReport { name: "all".into(), ..op.clone() },
            ops: vec![op],
            ..Report::default()
        }
    }

    #[test]
    fn differences_and_regressions() {
        let a = report(1_000, 1_000.0);
        let b = report(1_500, 950.0);
        let result = compare(&a, &b, Some(10.0));
        assert!(result.text.contains("1.00ms -> 1.50ms (+50.0%)"), "{}", result.text);
        assert!(result.regressions.iter().any(|r| r.contains("reserve: p99")), "{:?}", result.regressions);
        assert!(!result.regressions.iter().any(|r| r.contains("throughput")), "-5% is within 10%");
        assert!(compare(&a, &b, None).regressions.is_empty());
        assert!(compare(&a, &a, Some(1.0)).regressions.is_empty());
    }
}
