//! Short runs of the `loadtest` binary against its embedded server: every scenario,
//! every load mode, an SLO miss, `compare`, and bad usage. Each run loads a small
//! dataset and lasts about a second; each is bounded by a timeout.

use serde_json::Value;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// No run may take longer than this (it is killed and the test fails).
const PATIENCE: Duration = Duration::from_secs(90);

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn loadtest(args: &[&str]) -> Run {
    let mut child = Command::new(env!("CARGO_BIN_EXE_loadtest"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    let started = Instant::now();
    loop {
        if child.try_wait().expect("waitable").is_some() {
            break;
        }
        if started.elapsed() > PATIENCE {
            let _ = child.kill();
            let _ = child.wait();
            panic!("loadtest {args:?} did not stop within {PATIENCE:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let output = child.wait_with_output().expect("output");
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// A short run with a small dataset; returns the run and its parsed JSON report.
fn smoke(dir: &Path, name: &str, args: &[&str]) -> (Run, Value) {
    let out = dir.to_str().unwrap();
    let mut all = args.to_vec();
    all.extend([
        "--duration",
        "1s",
        "--skus",
        "300",
        "--locations",
        "6",
        "--kits",
        "5",
        "--out",
        out,
        "--name",
        name,
        "-q",
    ]);
    let run = loadtest(&all);
    let json = dir.join(format!("{name}.json"));
    let text = std::fs::read_to_string(&json)
        .unwrap_or_else(|e| panic!("{name}: no JSON report ({e}); exit {}\n{}\n{}", run.code, run.stdout, run.stderr));
    let report: Value = serde_json::from_str(&text).expect("the JSON report parses");
    let html = std::fs::read_to_string(dir.join(format!("{name}.html"))).expect("an HTML report");
    assert!(html.starts_with("<!DOCTYPE html>") && html.trim_end().ends_with("</html>"), "{name}: a whole HTML page");
    assert!(html.contains("<svg"), "{name}: the HTML report has charts");
    assert!(!html.contains("<script src") && !html.contains("<link "), "{name}: nothing loaded from elsewhere");
    (run, report)
}

fn check_status<'a>(report: &'a Value, name: &str) -> &'a str {
    report["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .find(|check| check["name"] == name)
        .unwrap_or_else(|| panic!("no check {name:?} in {:#}", report["checks"]))["status"]
        .as_str()
        .expect("a status")
}

/// The run passed, every listed check ran and passed, and requests were answered.
fn assert_clean(run: &Run, report: &Value, checks: &[&str]) {
    assert_eq!(run.code, 0, "exit code\n{}\n{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("verdict: OK"), "{}", run.stdout);
    assert_eq!(report["verdict"]["exit_code"], 0);
    for name in checks {
        assert_eq!(check_status(report, name), "passed", "{name}: {:#}", report["checks"]);
    }
    assert!(report["checks"].as_array().unwrap().iter().all(|c| c["status"] != "failed"), "{:#}", report["checks"]);
    assert!(report["total"]["requests"].as_u64().unwrap() > 0, "requests were made");
    assert_eq!(report["total"]["errors"], 0, "no errors: {:#}", report["total"]["errors_by_code"]);
    assert!(report["total"]["latency"]["p99"].as_u64().unwrap() > 0);
    assert!(!report["intervals"].as_array().unwrap().is_empty(), "per-second intervals");
}

#[test]
fn browse_reads_positions_channels_and_pages() {
    let dir = tempfile::tempdir().unwrap();
    let (run, report) = smoke(dir.path(), "browse", &["browse", "--rate", "150"]);
    assert_clean(&run, &report, &["verify"]);
    let ops: Vec<&str> = report["ops"].as_array().unwrap().iter().map(|op| op["name"].as_str().unwrap()).collect();
    for op in ["position", "channel", "page"] {
        assert!(ops.contains(&op), "{ops:?}");
    }
    assert!(report["notes"].to_string().contains("store finder"), "the skipped store finder is said");
}

#[test]
fn checkout_reads_back_every_acknowledged_reservation() {
    let dir = tempfile::tempdir().unwrap();
    let (run, report) = smoke(dir.path(), "checkout", &["checkout", "--rate", "100", "--abandon", "50%"]);
    assert_clean(&run, &report, &["verify", "reservations", "held-match"]);
    let detail = report["checks"].to_string();
    // Abandoned carts were released, or expired by TTL before the check.
    assert!(detail.contains("Released") && detail.contains("Expired") && detail.contains("Fulfilled"), "{detail}");
}

#[test]
fn flash_sale_sells_exactly_the_stock() {
    let dir = tempfile::tempdir().unwrap();
    let (run, report) =
        smoke(dir.path(), "flash", &["flash-sale", "--rate", "200", "--hot-skus", "2", "--hot-stock", "25"]);
    assert_clean(&run, &report, &["verify", "reservations", "refused-not-created", "held-match", "flash-sale"]);
    let flash = report["checks"].as_array().unwrap().iter().find(|c| c["name"] == "flash-sale").unwrap();
    assert_eq!(
        flash["detail"].as_str().unwrap().matches("sold out: 25 acknowledged units = 25 in stock").count(),
        2,
        "{flash:#}"
    );
    let refusals = &report["total"]["refusals_by_code"]["INSUFFICIENT_STOCK"];
    assert!(refusals.as_u64().unwrap() > 0, "demand exceeded the stock");
}

#[test]
fn feed_writes_beside_checkouts_and_loses_no_acknowledged_write() {
    let dir = tempfile::tempdir().unwrap();
    let (run, report) = smoke(dir.path(), "feed", &["feed", "--rate", "150", "--bulk-rows", "100"]);
    assert_clean(&run, &report, &["verify", "reservations", "ledger", "versions"]);
    let ops = report["ops"].to_string();
    for op in ["adjust", "set-on-hand", "bulk-load", "reserve"] {
        assert!(ops.contains(op), "{op} ran");
    }
}

#[test]
fn mixed_runs_a_profile() {
    let dir = tempfile::tempdir().unwrap();
    let (run, report) = smoke(dir.path(), "mixed", &["mixed", "--profile", "black-friday", "--rate", "150"]);
    assert_clean(&run, &report, &["verify", "reservations", "flash-sale"]);
    assert_eq!(report["profile"], "black-friday");
    assert!(report["mix"]["flash-sale"].as_f64().unwrap() > 0.0);
}

#[test]
fn closed_loop_and_ramp_modes() {
    let dir = tempfile::tempdir().unwrap();
    let (run, report) =
        smoke(dir.path(), "closed", &["checkout", "--mode", "closed", "--concurrency", "4", "--requests", "150"]);
    assert_clean(&run, &report, &["reservations"]);
    assert_eq!(report["load"]["mode"], "closed");
    assert!(report["flows"]["started"].as_u64().unwrap() <= 150, "the request budget holds");

    let (run, report) = loadtest_ramp(dir.path());
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let ramp = &report["ramp"];
    let steps = ramp["steps"].as_array().unwrap();
    assert!(steps.len() >= 2, "{ramp:#}");
    assert!(ramp["best_rate"].as_f64().unwrap() >= 40.0, "{ramp:#}");
    assert!(run.stdout.contains("highest rate meeting the objective"));
}

fn loadtest_ramp(dir: &Path) -> (Run, Value) {
    let out = dir.to_str().unwrap();
    let run = loadtest(&[
        "browse",
        "--mode",
        "ramp",
        "--ramp-start",
        "40",
        "--ramp-factor",
        "2",
        "--ramp-step-duration",
        "500ms",
        "--ramp-max",
        "160",
        "--ramp-p99",
        "5s",
        "--duration",
        "3s",
        "--skus",
        "200",
        "--locations",
        "4",
        "--out",
        out,
        "--name",
        "ramp",
        "-q",
    ]);
    let report = serde_json::from_str(&std::fs::read_to_string(dir.join("ramp.json")).unwrap()).unwrap();
    (run, report)
}

#[test]
fn a_missed_slo_exits_4_and_compare_prints_the_differences() {
    let dir = tempfile::tempdir().unwrap();
    let (run, report) = smoke(dir.path(), "slo", &["browse", "--rate", "50", "--slo", "p99=1us", "--slo", "errors=0"]);
    assert_eq!(run.code, 4, "{}\n{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("[MISS] p99=1us") && run.stdout.contains("[PASS] errors=0"), "{}", run.stdout);
    assert_eq!(report["verdict"]["slo_ok"], false);
    assert_eq!(report["verdict"]["correctness_ok"], true);

    let (_, _) = smoke(dir.path(), "slo2", &["browse", "--rate", "50"]);
    let a = dir.path().join("slo.json");
    let b = dir.path().join("slo2.json");
    let compared = loadtest(&["compare", a.to_str().unwrap(), b.to_str().unwrap()]);
    assert_eq!(compared.code, 0, "{}", compared.stderr);
    for word in ["position", "page", "all", "p99", "->", "checks:"] {
        assert!(compared.stdout.contains(word), "{word}: {}", compared.stdout);
    }
    // The same run, with its overall p99 doubled: a regression beyond 10 %.
    let mut slower: Value = serde_json::from_str(&std::fs::read_to_string(&b).unwrap()).unwrap();
    let p99 = slower["total"]["latency"]["p99"].as_u64().unwrap();
    slower["total"]["latency"]["p99"] = (p99 * 2).into();
    let c = dir.path().join("slower.json");
    std::fs::write(&c, slower.to_string()).unwrap();
    let strict = loadtest(&["compare", b.to_str().unwrap(), c.to_str().unwrap(), "--threshold", "10"]);
    assert_eq!(strict.code, 5, "{}", strict.stdout);
    assert!(strict.stdout.contains("REGRESSIONS beyond 10%: all: p99 +100.0%"), "{}", strict.stdout);
    let same = loadtest(&["compare", b.to_str().unwrap(), b.to_str().unwrap(), "--threshold", "10"]);
    assert_eq!(same.code, 0, "{}", same.stdout);
}

#[test]
fn bad_usage_exits_2_with_a_message() {
    for args in [
        &["browse", "--rate", "0"][..],
        &["browse", "--slo", "p98=1ms"],
        &["mixed", "--profile", "no-such-profile"],
        &["checkout", "--abandon", "120%"],
        &["browse", "--server", "127.0.0.1:1"],
    ] {
        let run = loadtest(args);
        assert_eq!(run.code, if args.contains(&"--server") { 1 } else { 2 }, "{args:?}: {}", run.stderr);
        assert!(!run.stderr.is_empty(), "{args:?} says why");
    }
    let profiles = loadtest(&["profiles"]);
    assert_eq!(profiles.code, 0);
    assert!(profiles.stdout.contains("weekday (default)") && profiles.stdout.contains("black-friday"));
}
