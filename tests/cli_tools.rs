//! The operator's tools (`stockd snapshot ...`, `stockd wal ...`), run as the real
//! binary against folders written by the library.

use serde_json::Value;
use std::path::PathBuf;
use std::process::{Command, Output};
use stockd::engine::{AdjustReason, ReserveLine, ReserveRequest};
use stockd::model::{ChannelBuffer, ChannelSpec, Coordinates, LocationFlags, LocationKind, LocationSpec, PositionRow};
use stockd::storage::{recover, DurableEngine, RecoveryTarget, StorageConfig};
use stockd::wal::DurabilityMode;
use stockd::{Engine, Operation, Timestamp};

const T: Timestamp = Timestamp(1_700_000_000_000);

struct Fixture {
    dir: tempfile::TempDir,
    config: StorageConfig,
    /// The snapshot taken after the catalogue and the bulk load.
    snapshot: PathBuf,
    /// The last LSN the snapshot covers.
    snapshot_lsn: u64,
    /// An LSN after the snapshot and before the end of the log.
    mid_lsn: u64,
    last_lsn: u64,
    digest: u64,
}

impl Fixture {
    fn data(&self) -> String {
        self.config.data_dir.display().to_string()
    }

    fn snapshots(&self) -> String {
        self.config.snapshot_dir.display().to_string()
    }

    /// `args` followed by `--data D --snapshots S`.
    fn run(&self, args: &[&str]) -> Output {
        let mut all: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
        all.extend(["--data".to_owned(), self.data(), "--snapshots".to_owned(), self.snapshots()]);
        stockd(&all)
    }

    fn recovered(&self) -> (Engine, u64) {
        let (engine, report) = recover(&self.config, RecoveryTarget::default(), false).unwrap();
        (engine, report.last_lsn)
    }
}

fn stockd<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_stockd")).args(args).env("STOCKD_LOG", "warn").output().unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[track_caller]
fn ok(output: &Output) -> String {
    assert!(
        output.status.success(),
        "failed: {:?}\nstdout:\n{}\nstderr:\n{}",
        output.status,
        stdout(output),
        stderr(output)
    );
    stdout(output)
}

#[track_caller]
fn fails(output: &Output) -> String {
    assert_eq!(output.status.code(), Some(1), "stdout:\n{}\nstderr:\n{}", stdout(output), stderr(output));
    stderr(output)
}

fn location(name: &str) -> LocationSpec {
    LocationSpec {
        name: name.to_owned(),
        kind: LocationKind::Warehouse,
        coordinates: Coordinates { latitude: 51.5, longitude: -0.1 },
        flags: LocationFlags { ships: true, pickup: false },
        priority: 1,
    }
}

fn reserve(id: &str, sku: &str, location: &str, quantity: u32) -> Operation {
    Operation::Reserve(ReserveRequest {
        id: id.to_owned(),
        lines: vec![ReserveLine { sku: sku.to_owned(), location: location.to_owned(), quantity }],
        ttl_ms: 60_000,
        promise_by: None,
    })
}

fn adjust(sku: &str, location: &str, delta: i64, reason: AdjustReason, reference: &str) -> Operation {
    Operation::Adjust { sku: sku.into(), location: location.into(), delta, reason, reference: reference.into() }
}

/// Two locations, a channel, SKU-0..SKU-9 at both (on hand 10 + i, safety stock 1),
/// a kit, a snapshot, then adjustments and reservations after it.
fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let config = StorageConfig::with_manual_snapshots(
        dir.path().join("data"),
        dir.path().join("snapshots"),
        DurabilityMode::Always,
    );
    let (durable, _) = DurableEngine::open(config.clone()).unwrap();
    let apply = |operation: Operation| durable.apply(&operation, T).unwrap();
    apply(Operation::UpsertLocations(vec![location("WH-1"), location("STORE-1")]));
    apply(Operation::UpsertChannel(ChannelSpec {
        name: "web".into(),
        locations: vec!["WH-1".into(), "STORE-1".into()],
        excluded: vec![],
        buffer: ChannelBuffer::Units(1),
    }));
    let rows = (0..10)
        .flat_map(|i| {
            ["WH-1", "STORE-1"].map(|location| PositionRow {
                sku: format!("SKU-{i}"),
                location: location.to_owned(),
                on_hand: 10 + i,
                safety_stock: 1,
                damaged: 0,
                quality_control: 0,
                backorder_limit: 0,
            })
        })
        .collect();
    apply(Operation::BulkLoad(rows));
    apply(Operation::DefineKit { kit: "KIT".into(), components: vec![("SKU-1".into(), 1), ("SKU-2".into(), 2)] });
    let taken = durable.take_snapshot(T).unwrap();
    apply(adjust("SKU-1", "WH-1", 5, AdjustReason::Received, "ASN-7"));
    let mid_lsn = durable.wal().unwrap().appended_lsn();
    apply(reserve("r1", "SKU-1", "WH-1", 3));
    apply(Operation::Commit { id: "r1".into() });
    apply(Operation::Fulfil { id: "r1".into(), partial: None });
    apply(adjust("SKU-1", "STORE-1", -2, AdjustReason::Damaged, "RMA-9"));
    apply(reserve("r2", "SKU-2", "STORE-1", 2));
    let last_lsn = durable.wal().unwrap().appended_lsn();
    let digest = durable.engine().digest();
    drop(durable);
    Fixture { dir, config, snapshot: taken.path, snapshot_lsn: taken.header.covers_lsn, mid_lsn, last_lsn, digest }
}

#[test]
fn list_shows_the_snapshot_as_a_table_and_as_json() {
    let f = fixture();
    let text = ok(&stockd(&["snapshot", "list", "--snapshots", &f.snapshots()]));
    let name = f.snapshot.file_name().unwrap().to_str().unwrap();
    assert!(text.contains("covers LSN") && text.contains("status"), "{text}");
    let line = text.lines().find(|l| l.starts_with(name)).unwrap_or_else(|| panic!("{name} not in\n{text}"));
    assert!(line.contains(&f.snapshot_lsn.to_string()) && line.trim_end().ends_with("ok"), "{line}");
    assert!(line.contains("2023-11-14 22:13:20.000"), "created time in UTC: {line}");

    let json: Value =
        serde_json::from_str(&ok(&stockd(&["snapshot", "list", "--json", "--snapshots", &f.snapshots()])))
            .expect("list --json is JSON");
    let listed = json.as_array().unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["file"], name);
    assert_eq!(listed[0]["status"], "ok");
    assert_eq!(listed[0]["covers_lsn"], f.snapshot_lsn);
    assert_eq!(listed[0]["positions"], 20);

    let missing = f.dir.path().join("nowhere").display().to_string();
    assert!(fails(&stockd(&["snapshot", "list", "--snapshots", &missing])).contains("does not exist"));
}

#[test]
fn verify_passes_and_fails_on_a_corrupted_copy() {
    let f = fixture();
    let text = ok(&f.run(&["snapshot", "verify"]));
    assert!(text.contains("result: ok"), "{text}");
    assert!(text.contains(&format!("replayed {} records", f.last_lsn - f.snapshot_lsn)), "{text}");
    assert!(text.contains("every invariant holds"), "{text}");

    let file = f.snapshot.display().to_string();
    let text = ok(&stockd(&["snapshot", "verify", &file]));
    for check in ["header", "body", "counts", "load", "invariants"] {
        assert!(text.lines().any(|l| l.trim_start().starts_with(check) && l.contains(" ok ")), "{check}:\n{text}");
    }

    // A flipped byte in the body of a copy.
    let copy = f.dir.path().join("copy.snap");
    let mut bytes = std::fs::read(&f.snapshot).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x55;
    std::fs::write(&copy, &bytes).unwrap();
    let output = stockd(&["snapshot", "verify", &copy.display().to_string()]);
    fails(&output);
    assert!(stdout(&output).contains("checksum mismatch") && stdout(&output).contains("PROBLEMS FOUND"));

    // JSON says the same.
    let output = stockd(&["snapshot", "verify", "--json", &copy.display().to_string()]);
    fails(&output);
    let json: Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(json["ok"], false);

    // The same damage in the snapshot folder: recovery skips it (and replays the
    // whole log instead), and verify reports the skipped snapshot.
    std::fs::write(&f.snapshot, &bytes).unwrap();
    let output = f.run(&["snapshot", "verify"]);
    fails(&output);
    assert!(stdout(&output).contains("skipped"), "{}", stdout(&output));
}

#[test]
fn inspect_summarises_and_shows_one_sku() {
    let f = fixture();
    let file = f.snapshot.display().to_string();
    let text = ok(&stockd(&["snapshot", "inspect", &file]));
    assert!(text.contains("positions     20"), "{text}");
    assert!(text.contains("KIT = SKU-1 x1 + SKU-2 x2"), "{text}");
    assert!(text.contains("web (2 locations, buffer Units(1))"), "{text}");
    assert!(text.contains("WH-1 (Warehouse)"), "{text}");

    let text = ok(&stockd(&["snapshot", "inspect", &file, "--sku", "SKU-3"]));
    let row = |location: &str| {
        let line = text.lines().find(|l| l.starts_with(location)).unwrap_or_else(|| panic!("{location}:\n{text}"));
        line.split_whitespace().map(str::to_owned).collect::<Vec<_>>()
    };
    // location on_hand reserved safety damaged qc backorder incoming ATS version
    assert_eq!(row("WH-1"), ["WH-1", "13", "0", "1", "0", "0", "0", "0", "12", "1"]);
    assert_eq!(row("STORE-1")[1], "13");

    let json: Value =
        serde_json::from_str(&ok(&stockd(&["snapshot", "inspect", &file, "--sku", "KIT", "--json"]))).unwrap();
    assert_eq!(json["kit"][1]["sku"], "SKU-2");
    assert_eq!(json["positions"].as_array().unwrap().len(), 0);

    assert!(fails(&stockd(&["snapshot", "inspect", &file, "--sku", "NOPE"])).contains("not in"));
}

#[test]
fn take_writes_a_snapshot_of_the_recovered_state() {
    let f = fixture();
    let text = ok(&f.run(&["snapshot", "take", "--keep", "1"]));
    assert!(text.contains(&format!("covers LSN    {}", f.last_lsn)), "{text}");
    assert!(text.contains("20 positions, 2 reservations"), "{text}");
    let listed: Value =
        serde_json::from_str(&ok(&stockd(&["snapshot", "list", "--json", "--snapshots", &f.snapshots()]))).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 1, "--keep 1 retires the older snapshot");
    assert_eq!(listed[0]["covers_lsn"], f.last_lsn);
    let (engine, _) = f.recovered();
    assert_eq!(engine.digest(), f.digest);

    // The log before the new snapshot is retired: names of ids created there come
    // from the snapshot.
    let csv = f.dir.path().join("more.csv");
    std::fs::write(&csv, "sku,location,on_hand\nSKU-3,STORE-1,99\nNEW-9,WH-1,4\n").unwrap();
    ok(&f.run(&["snapshot", "import", &csv.display().to_string()]));
    let text = ok(&f.run(&["wal", "dump"]));
    assert!(text.contains("SKU-3@STORE-1") && text.contains("NEW-9@WH-1"), "{text}");
    assert!(!text.contains("?@"), "every id is named: {text}");

    let empty = tempfile::tempdir().unwrap();
    let data = empty.path().join("data").display().to_string();
    let snapshots = empty.path().join("snapshots").display().to_string();
    let output = stockd(&["snapshot", "take", "--data", &data, "--snapshots", &snapshots]);
    assert!(fails(&output).contains("no stockd data"));
    assert!(!empty.path().join("data").exists(), "a mistyped path creates nothing");
}

#[test]
fn restore_to_an_lsn_in_the_middle() {
    let f = fixture();
    let destination = f.dir.path().join("restored");
    let to = destination.display().to_string();
    let lsn = f.mid_lsn.to_string();
    let json: Value =
        serde_json::from_str(&ok(&f.run(&["snapshot", "restore", "--to", &to, "--lsn", &lsn, "--json"]))).unwrap();
    assert_eq!(json["lsn_reached"], f.mid_lsn);
    assert_eq!(json["records_replayed"], f.mid_lsn - f.snapshot_lsn);
    assert_eq!(json["source_snapshot"], f.snapshot.display().to_string());

    let target = RecoveryTarget { up_to_lsn: Some(f.mid_lsn), up_to_time: None };
    let (expected, _) = recover(&f.config, target, false).unwrap();
    let expected = expected.digest();
    assert_ne!(expected, f.digest, "the middle differs from the end");
    assert_eq!(json["digest"], format!("{expected:016x}"));

    // The destination opens as a durable engine with that state, and takes writes.
    let restored = StorageConfig {
        data_dir: destination.clone(),
        snapshot_dir: destination.join("snapshots"),
        ..f.config.clone()
    };
    {
        let (durable, report) = DurableEngine::open(restored.clone()).unwrap();
        assert_eq!(report.records_replayed, 0);
        assert_eq!(durable.engine().digest(), expected);
        assert_eq!(durable.engine().position("SKU-1", "WH-1").unwrap().on_hand, 16);
        durable.apply(&reserve("after-restore", "SKU-4", "WH-1", 1), T).unwrap();
        assert_eq!(durable.wal().unwrap().appended_lsn(), f.mid_lsn + 1);
    }
    let (engine, report) = recover(&restored, RecoveryTarget::default(), false).unwrap();
    assert_eq!(report.last_lsn, f.mid_lsn + 1);
    assert!(engine.verify().is_clean());

    // A non-empty destination is refused; the source is untouched throughout.
    let output = f.run(&["snapshot", "restore", "--to", &to, "--lsn", &lsn]);
    assert!(fails(&output).contains("not empty"), "{}", stderr(&output));
    let elsewhere = f.dir.path().join("elsewhere").display().to_string();
    let occupied = destination.join("snapshots").display().to_string();
    let output = f.run(&["snapshot", "restore", "--to", &elsewhere, "--to-snapshots", &occupied]);
    assert!(fails(&output).contains("not empty"));
    assert!(!f.dir.path().join("elsewhere").exists());
    let (engine, last_lsn) = f.recovered();
    assert_eq!((engine.digest(), last_lsn), (f.digest, f.last_lsn));

    // To a time before every change: only the snapshot's catalogue and names records
    // from the log's start apply (the snapshot itself is too new).
    let before = (T.0 - 1).to_string();
    let to = f.dir.path().join("before").display().to_string();
    let json: Value =
        serde_json::from_str(&ok(&f.run(&["snapshot", "restore", "--to", &to, "--time", &before, "--json"]))).unwrap();
    let target = RecoveryTarget { up_to_lsn: None, up_to_time: Some(Timestamp(T.0 - 1)) };
    let (expected, report) = recover(&f.config, target, false).unwrap();
    assert!(report.snapshot.is_none());
    assert_eq!(json["source_snapshot"], Value::Null);
    assert_eq!(json["lsn_reached"], report.last_lsn);
    assert_eq!(json["digest"], format!("{:016x}", expected.digest()));
    assert_eq!(expected.stats().positions, 0);
}

#[test]
fn export_as_csv_and_jsonl() {
    let f = fixture();
    let file = f.snapshot.display().to_string();
    let csv = ok(&stockd(&["snapshot", "export", &file, "--format", "csv"]));
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0],
        "sku,location,on_hand,reserved,safety_stock,damaged,quality_control,backorder_limit,available_to_sell,version"
    );
    assert_eq!(lines.len(), 21);
    assert!(lines.contains(&"SKU-1,WH-1,11,0,1,0,0,0,10,1"), "{csv}");

    let out = f.dir.path().join("export.jsonl");
    let output = stockd(&["snapshot", "export", &file, "--format", "jsonl", "--out", &out.display().to_string()]);
    ok(&output);
    assert!(stderr(&output).contains("exported 20 positions"));
    let rows: Vec<Value> =
        std::fs::read_to_string(&out).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(rows.len(), 20);
    let row = rows.iter().find(|r| r["sku"] == "SKU-7" && r["location"] == "STORE-1").unwrap();
    assert_eq!((row["on_hand"].as_u64(), row["available_to_sell"].as_u64()), (Some(17), Some(16)));
}

#[test]
fn import_loads_rows_and_refuses_a_malformed_file_whole() {
    let f = fixture();
    let csv = f.dir.path().join("feed.csv");
    std::fs::write(&csv, "sku,location,on_hand,safety_stock\nNEW-1,WH-1,7,2\nSKU-0,WH-1,50,\nSKU-0,STORE-1,10,1\n")
        .unwrap();
    let json: Value =
        serde_json::from_str(&ok(&f.run(&["snapshot", "import", &csv.display().to_string(), "--json"]))).unwrap();
    assert_eq!(
        (json["inserted"].as_u64(), json["updated"].as_u64(), json["unchanged"].as_u64()),
        (Some(1), Some(1), Some(1))
    );
    let (engine, last_lsn) = f.recovered();
    let new = engine.position("NEW-1", "WH-1").unwrap();
    assert_eq!((new.on_hand, new.safety_stock), (7, 2));
    let updated = engine.position("SKU-0", "WH-1").unwrap();
    assert_eq!((updated.on_hand, updated.safety_stock), (50, 0));
    let digest = engine.digest();

    // A malformed line: refused, naming it, and nothing changes (not even the log).
    let bad = f.dir.path().join("bad.csv");
    std::fs::write(&bad, "sku,location,on_hand\nSKU-5,WH-1,8\nSKU-6,WH-1,abc\n").unwrap();
    let error = fails(&f.run(&["snapshot", "import", &bad.display().to_string()]));
    assert!(error.contains("line 3") && error.contains("\"abc\""), "{error}");
    std::fs::write(&bad, "sku,location,on_hand\nSKU-5,WH-1,8\nSKU-6,WH-1\n").unwrap();
    assert!(fails(&f.run(&["snapshot", "import", &bad.display().to_string()])).contains("line 3"));
    std::fs::write(&bad, "sku,location,on_hand\nSKU-5,WH-1,8\nSKU-5,WH-1,9\n").unwrap();
    assert!(fails(&f.run(&["snapshot", "import", &bad.display().to_string()])).contains("repeats line 2"));
    // An unknown location is found by the engine, and named by line too.
    std::fs::write(&bad, "sku,location,on_hand\nBRAND-NEW,WH-1,8\nSKU-5,NOWHERE,9\n").unwrap();
    let error = fails(&f.run(&["snapshot", "import", &bad.display().to_string()]));
    assert!(error.contains("line 3") && error.contains("NOWHERE"), "{error}");
    let (engine, after) = f.recovered();
    assert_eq!((engine.digest(), after), (digest, last_lsn));
}

#[test]
fn wal_dump_shows_every_kind_of_record() {
    let f = fixture();
    let text = ok(&f.run(&["wal", "dump"]));
    assert_eq!(text.lines().count() as u64, f.last_lsn + 1, "a header and one line per record:\n{text}");
    for expected in [
        "SkuInterned",
        "Catalogue",
        "UpsertLocations WH-1, STORE-1",
        "DefineKit KIT = SKU-1 x1 + SKU-2 x2",
        "BulkLoadPart",
        "Adjust SKU-1@WH-1 +5 reason Received reference \"ASN-7\"",
        "positions: SKU-1@WH-1",
        "reservation: r1 (Fulfilled)",
        "wal-00000000000000000001.log@32",
    ] {
        assert!(text.contains(expected), "{expected:?} in\n{text}");
    }

    let from = f.mid_lsn.to_string();
    let output = f.run(&["wal", "dump", "--from", &from, "--limit", "2", "--json"]);
    let records: Vec<Value> = ok(&output).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(records.len(), 2);
    assert_eq!(records[0]["lsn"], f.mid_lsn);
    assert_eq!(records[0]["kind"], "Change");
    assert_eq!(records[1]["cause"]["kind"], "Reserve");
    assert_eq!(records[1]["positions"][0]["sku"], "SKU-1");
    assert_eq!(records[1]["positions"][0]["reserved"], 3);
    assert_eq!(records[1]["reservation"]["id"], "r1");
}

#[test]
fn wal_history_is_the_audit_trail_of_a_sku() {
    let f = fixture();
    let text = ok(&f.run(&["wal", "history", "--sku", "SKU-1", "--location", "WH-1"]));
    let lines: Vec<&str> = text.lines().skip(1).collect();
    // bulk load, +5, reserve, fulfil (commit changes no position)
    assert_eq!(lines.len(), 4, "{text}");
    assert!(lines[0].contains("BulkLoadPart"), "{text}");
    assert!(lines[1].contains("reason Received reference \"ASN-7\""), "{text}");
    assert_eq!(lines[1].split_whitespace().nth(5), Some("16"), "on hand after the adjustment: {text}");
    assert!(lines[2].contains("Reserve r1"), "{text}");
    assert!(lines[3].contains("Fulfil r1"), "{text}");
    assert!(!text.contains("STORE-1"), "{text}");

    let output = f.run(&["wal", "history", "--sku", "SKU-1", "--json"]);
    let changes: Vec<Value> = ok(&output).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(changes.len(), 6, "both locations: {changes:?}");
    let damaged =
        changes.iter().find(|c| c["cause"]["kind"] == "Adjust" && c["position"]["location"] == "STORE-1").unwrap();
    assert_eq!(damaged["cause"]["operation"]["Adjust"]["reason"], "Damaged");
    assert_eq!(damaged["cause"]["operation"]["Adjust"]["reference"], "RMA-9");
    assert_eq!(damaged["position"]["on_hand"], 9);

    assert!(fails(&f.run(&["wal", "history", "--sku", "NOPE"])).contains("neither"));
}
