//! The end of a run: the targets checked against the medians (PASS/MISS), the
//! table, and one JSON line per scenario and target.

use crate::*;

pub(crate) struct Check {
    scenario: Scenario,
    depth: String,
    what: String,
    measured: String,
    pass: bool,
}

/// The targets (section 7), evaluated on the stockd rows.
pub(crate) fn checks(pairs: &[(Row, Row)]) -> Vec<Check> {
    let mut checks = Vec::new();
    for (echo, stockd) in pairs {
        let mut check = |what: &str, measured: String, pass: bool| {
            checks.push(Check {
                scenario: stockd.scenario,
                depth: stockd.depth_label(),
                what: what.to_owned(),
                measured,
                pass,
            })
        };
        let rate = stockd.rate();
        let ratio = rate / echo.rate();
        match stockd.scenario {
            Scenario::QueryPipelined => {
                check(">= 1 M queries/s", format!("{}/s", si(rate)), rate >= 1e6);
                check(">= 50% of the echo's rate", format!("{:.0}%", ratio * 100.0), ratio >= 0.5);
            }
            Scenario::Batch48 => {
                let skus = rate * BATCH_SKUS as f64;
                check(">= 4 M SKU-availabilities/s", format!("{} SKU/s", si(skus)), skus >= 4e6);
            }
            Scenario::ReserveInterval => {
                check(">= 500 k acknowledged reserves/s", format!("{}/s", si(rate)), rate >= 5e5);
            }
            Scenario::ReserveAlways => {
                check(">= 400 k acknowledged reserves/s", format!("{}/s", si(rate)), rate >= 4e5);
            }
            Scenario::Lone => {
                let (p50, p99) = (stockd.us(0.5), stockd.us(0.99));
                check("p50 <= 40 us", format!("{p50:.1} us"), p50 <= 40.0);
                check("p99 <= 100 us", format!("{p99:.1} us"), p99 <= 100.0);
                let times = p50 / echo.us(0.5);
                check("p50 <= 1.5x the echo's p50", format!("{times:.2}x"), times <= 1.5);
            }
            Scenario::HalfLoad => {
                let p99 = stockd.us(0.99);
                check("p99 <= 1 ms", format!("{p99:.1} us"), p99 <= 1_000.0);
            }
        }
    }
    checks
}

pub(crate) fn print_table(pairs: &[(Row, Row)], settings: &Settings) {
    println!();
    println!(
        "Throughput: median of {} run(s) of {:.1} s (min-max). Latency: all runs merged. CPU: us of CPU time per \
         request, all threads | server net thread | client thread; sys = kernel share of all;\n\
         others = CPU used by other processes during the worst repetition, as a share of the machine (above a few \
         percent, that run was disturbed).",
        settings.reps,
        settings.timing.measure.as_secs_f64()
    );
    println!(
        "{:<17} {:<6} {:>7} {:>9} {:>24} {:>8} {:>8} {:>8} {:>19} {:>4} {:>10}",
        "scenario",
        "target",
        "depth",
        "req/resp",
        "rate (min-max)",
        "p50 us",
        "p99 us",
        "p99.9 us",
        "cpu us/req",
        "sys",
        "vs echo"
    );
    for (echo, stockd) in pairs {
        for row in [echo, stockd] {
            let min = row.rates.iter().copied().fold(f64::INFINITY, f64::min);
            let max = row.rates.iter().copied().fold(0.0, f64::max);
            let rate = format!("{}/s ({}-{})", si(row.rate()), si(min), si(max));
            let cpu = format!(
                "{:.2}|{:.2}|{:.2}",
                row.cpu_us_per_request(row.cpu.all_ns),
                row.cpu_us_per_request(row.cpu.net_ns),
                row.cpu_us_per_request(row.cpu.client_ns)
            );
            let sys = row.cpu.system_share().map_or("-".to_owned(), |share| format!("{:.0}%", share * 100.0));
            let versus = if row.target == "stockd" { versus_echo(echo, stockd) } else { String::new() };
            println!(
                "{:<17} {:<6} {:>7} {:>9} {:>24} {:>8.1} {:>8.1} {:>8.1} {:>19} {:>4} {:>6} {:>10}",
                row.scenario.name(),
                row.target,
                row.depth_label(),
                format!("{}/{} B", row.request_bytes, row.response_bytes),
                rate,
                row.us(0.5),
                row.us(0.99),
                row.us(0.999),
                cpu,
                sys,
                row.others_max().map_or("-".to_owned(), |share| format!("{:.0}%", share * 100.0)),
                versus
            );
            if row.scenario == Scenario::Batch48 {
                println!(
                    "{:<17} {:<6} {:>7} {:>9} {:>24}",
                    "",
                    "",
                    "",
                    "",
                    format!("= {} SKU/s", si(row.rate() * 48.0))
                );
            }
        }
    }
}

/// stockd against the echo: its rate as a share of the echo's (throughput scenarios),
/// or its latency as a multiple of the echo's (p50 for lone, p99 for half-load).
fn versus_echo(echo: &Row, stockd: &Row) -> String {
    match stockd.scenario {
        Scenario::Lone => format!("p50 {:.2}x", stockd.us(0.5) / echo.us(0.5)),
        Scenario::HalfLoad => format!("p99 {:.2}x", stockd.us(0.99) / echo.us(0.99)),
        _ => format!("rate {:.0}%", stockd.rate() / echo.rate() * 100.0),
    }
}

pub(crate) fn print_checks(checks: &[Check]) {
    println!();
    println!("Targets (issue section 7, on stockd's figures):");
    for check in checks {
        println!(
            "  {:<17} {:>7}  {:<34} {:>16}  {}",
            check.scenario.name(),
            check.depth,
            check.what,
            check.measured,
            if check.pass { "PASS" } else { "MISS" }
        );
    }
}

pub(crate) fn print_json(pairs: &[(Row, Row)], checks: &[Check], settings: &Settings, build: &str) {
    println!();
    let commit = commit();
    let machine = machine();
    for (echo, stockd) in pairs {
        for row in [echo, stockd] {
            let own_checks: Vec<_> = checks
                .iter()
                .filter(|check| {
                    row.target == "stockd" && check.scenario == row.scenario && check.depth == row.depth_label()
                })
                .map(|check| json!({"target": check.what, "measured": check.measured, "pass": check.pass}))
                .collect();
            let round = |value: f64, places: i32| {
                let scale = 10f64.powi(places);
                (value * scale).round() / scale
            };
            let line = json!({
                "bench": "network",
                "build": build,
                "commit": commit,
                "machine": machine,
                "scenario": row.scenario.name(),
                "target": row.target,
                "durability": row.durability,
                "depth": row.depth,
                "offered_rate": row.offered_rate.map(|rate| rate.round()),
                "request_bytes": row.request_bytes,
                "response_bytes": row.response_bytes,
                "reps": row.rates.len(),
                "seconds": settings.timing.measure.as_secs_f64(),
                "rate_median": row.rate().round(),
                "rates": row.rates.iter().map(|rate| rate.round()).collect::<Vec<_>>(),
                "items_per_request": row.items(),
                "p50_us": round(row.us(0.5), 1),
                "p99_us": round(row.us(0.99), 1),
                "p999_us": round(row.us(0.999), 1),
                "max_us": round(row.latency.max() as f64 / 1_000.0, 1),
                "samples": row.latency.len(),
                "cpu_us_per_request": {
                    "all": round(row.cpu_us_per_request(row.cpu.all_ns), 3),
                    "server_net_thread": round(row.cpu_us_per_request(row.cpu.net_ns), 3),
                    "client_thread": round(row.cpu_us_per_request(row.cpu.client_ns), 3),
                    "wal_threads": round(row.cpu_us_per_request(row.cpu.wal_ns), 3),
                },
                "system_share": row.cpu.system_share().map(|share| round(share, 3)),
                "resident_mib": row.resident_mib.map(|mib| mib.round()),
                "client_lag_max_us": row.client_lag_max.map(|lag| lag.as_micros() as u64),
                "others_share": row.others.iter().map(|share| round(*share, 3)).collect::<Vec<_>>(),
                "vs_echo": (row.target == "stockd").then(|| versus_echo(echo, row)),
                "checks": own_checks,
            });
            println!("{line}");
        }
    }
}
