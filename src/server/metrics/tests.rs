//! Tests of the metrics: labels, counters, histograms, the exposition format.
use super::*;
use crate::codec;
use crate::engine::{
    AdjustReason, Availability, AvailabilityScope, DemandRank, Destination, LineQuantity, ReserveLine, ReserveRequest,
    RestockRequest, SourcedReserveRequest, StoreQuery,
};
use crate::model::{
    Bucket, ChannelBuffer, ChannelSpec, Coordinates, LocationFlags, LocationKind, LocationSpec, PositionRow, Timestamp,
};
use crate::storage::StorageConfig;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// One value of every `Operation` variant, in declaration order.
fn every_operation() -> Vec<Operation> {
    let s = || "SKU-1".to_owned();
    let l = || "DC-1".to_owned();
    vec![
        Operation::UpsertLocations(vec![]),
        Operation::UpsertChannel(ChannelSpec {
            name: "web".into(),
            locations: vec![],
            excluded: vec![],
            buffer: ChannelBuffer::None,
        }),
        Operation::DefineKit { kit: s(), components: vec![] },
        Operation::Reserve(ReserveRequest { id: "r".into(), lines: vec![], ttl_ms: 0, promise_by: None }),
        Operation::Commit { id: "r".into() },
        Operation::Release { id: "r".into(), partial: None },
        Operation::Fulfil { id: "r".into(), partial: None },
        Operation::Extend { id: "r".into(), ttl_ms: 1 },
        Operation::ExpireDue,
        Operation::Adjust { sku: s(), location: l(), delta: 1, reason: AdjustReason::Found, reference: String::new() },
        Operation::SetOnHand { sku: s(), location: l(), on_hand: 1, expected_version: None },
        Operation::SetSafetyStock { sku: s(), location: l(), safety_stock: 1 },
        Operation::SetBackorderLimit { sku: s(), location: l(), limit: 1 },
        Operation::MoveStock { sku: s(), location: l(), from: Bucket::Sellable, to: Bucket::Damaged, quantity: 1 },
        Operation::AddIncoming {
            sku: s(),
            location: l(),
            reference: "PO".into(),
            quantity: 1,
            expected_at: Timestamp(1),
        },
        Operation::ReceiveIncoming { sku: s(), location: l(), reference: "PO".into(), quantity: 1 },
        Operation::CancelIncoming { sku: s(), location: l(), reference: "PO".into() },
        Operation::Restock(RestockRequest {
            reservation_id: "r".into(),
            step_id: "s".into(),
            line: LineQuantity { sku: s(), location: l(), quantity: 1 },
            bucket: Bucket::Sellable,
        }),
        Operation::BulkLoad(vec![]),
        Operation::ReserveSourced(SourcedReserveRequest {
            id: "o".into(),
            channel: "web".into(),
            lines: vec![],
            destination: Destination::Pickup { store: l() },
            profile: "pickup".into(),
            ttl_ms: 1,
            promise_by: None,
        }),
    ]
}

/// One value of every `Call` variant (and, through `Apply`, of every operation).
fn every_call() -> Vec<Call> {
    let mut calls = vec![
        Call::Ping,
        Call::Position { sku: "S".into(), location: "L".into() },
        Call::Availability {
            sku: "S".into(),
            scope: AvailabilityScope::Channel("c".into()),
            measure: Availability::ToSell,
        },
        Call::ChannelAvailability { sku: "S".into(), channel: "c".into(), breakdown: true },
        Call::AvailabilityBatch {
            skus: vec![],
            scope: AvailabilityScope::Location("L".into()),
            measure: Availability::ToSell,
        },
        Call::Reservation { id: "r".into() },
        Call::Stats,
        Call::Verify,
        Call::TakeSnapshot,
    ];
    calls.extend(every_operation().into_iter().map(Call::Apply));
    calls.extend([
        Call::FindStores(StoreQuery {
            channel: "c".into(),
            point: Coordinates { latitude: 0.0, longitude: 0.0 },
            radius_km: 1.0,
            lines: vec![],
            limit: 1,
        }),
        Call::Demand { sku: "S".into(), channel: None },
        Call::DemandTop { channel: None, rank: DemandRank::RefusedUnits, limit: 1 },
        Call::SourcingProfiles,
        Call::SetSourcingProfiles { toml: String::new() },
    ]);
    calls
}

#[test]
fn every_call_has_its_own_label_from_the_list() {
    // The samples really are one of each variant (the first encoded byte is the
    // variant index).
    let operations: Vec<u8> = every_operation().iter().map(|op| codec::encode(op)[0]).collect();
    assert_eq!(operations, (0..20).collect::<Vec<u8>>(), "one sample per Operation variant");
    let mut call_variants: Vec<u8> = every_call().iter().map(|call| codec::encode(call)[0]).collect();
    call_variants.dedup();
    assert_eq!(call_variants.iter().copied().collect::<HashSet<u8>>().len(), 15, "every Call variant");

    let labels: Vec<&str> = every_call().iter().map(call_label).collect();
    assert_eq!(labels.len(), CALL_LABELS.len());
    assert_eq!(labels.iter().collect::<HashSet<_>>().len(), labels.len(), "distinct: {labels:?}");
    for label in &labels {
        assert!(CALL_LABELS.contains(label), "{label} is in CALL_LABELS");
        assert!(label.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'), "{label} is snake_case");
    }
    assert_eq!(labels, CALL_LABELS, "CALL_LABELS lists the calls in declaration order");
    assert_eq!(call_label(&Call::Apply(every_operation().swap_remove(3))), "reserve");
    assert_eq!(CALL_LABELS[RESERVE], "reserve");
    assert_eq!(call_label(&Call::Apply(Operation::ExpireDue)), "expire_due");
    assert_eq!(call_label(&Call::TakeSnapshot), "take_snapshot");
}

#[test]
fn labels_are_found_by_address_and_by_content() {
    for (index, label) in CALL_LABELS.iter().enumerate() {
        assert_eq!(label_index(label), Some(index));
        let copy: &'static str = Box::leak(label.to_string().into_boxed_str());
        assert_eq!(label_index(copy), Some(index));
    }
    assert_eq!(label_index("nope"), None);
    for (slot, code) in ErrorCode::ALL.iter().enumerate() {
        assert_eq!(code_slot(*code), slot);
    }
}

fn open(durability: DurabilityMode) -> (tempfile::TempDir, Arc<DurableEngine>) {
    let dir = tempfile::tempdir().unwrap();
    let config = StorageConfig {
        data_dir: dir.path().join("data"),
        snapshot_dir: dir.path().join("snapshots"),
        durability,
        snapshot_interval_ms: 0,
        snapshot_every_records: 0,
        ..StorageConfig::default()
    };
    let (durable, _) = DurableEngine::open(config).unwrap();
    (dir, durable)
}

/// A location, stock, and two reservations (one committed).
fn write_some_state(durable: &DurableEngine) {
    let t = Timestamp(1_700_000_000_000);
    let location = LocationSpec {
        name: "DC-1".into(),
        kind: LocationKind::DistributionCentre,
        coordinates: Coordinates { latitude: 51.5, longitude: -0.12 },
        flags: LocationFlags { ships: true, pickup: false },
        priority: 1,
    };
    durable.apply(&Operation::UpsertLocations(vec![location]), t).unwrap();
    let row = |sku: &str| PositionRow {
        sku: sku.into(),
        location: "DC-1".into(),
        on_hand: 10,
        safety_stock: 0,
        damaged: 0,
        quality_control: 0,
        backorder_limit: 0,
    };
    durable.apply(&Operation::BulkLoad(vec![row("SKU-1"), row("SKU-2")]), t).unwrap();
    for id in ["r1", "r2"] {
        let lines = vec![ReserveLine { sku: "SKU-1".into(), location: "DC-1".into(), quantity: 2 }];
        let request = ReserveRequest { id: id.into(), lines, ttl_ms: 60_000, promise_by: None };
        durable.apply(&Operation::Reserve(request), t).unwrap();
    }
    durable.apply(&Operation::Commit { id: "r1".into() }, t).unwrap();
}

type Labels = Vec<(String, String)>;

/// One sample of a rendered exposition.
#[derive(Debug)]
struct Sample {
    name: String,
    labels: Labels,
    value: f64,
}

fn is_metric_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_alphabetic() || b == b'_' || b == b':')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b':')
}

fn is_label_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Parses `{a="x",b="y"}` (from just after the name) and returns the labels and
/// the rest of the line.
fn parse_labels(text: &str) -> Result<(Labels, &str), String> {
    let mut labels = Vec::new();
    let Some(mut rest) = text.strip_prefix('{') else { return Ok((labels, text)) };
    loop {
        if let Some(after) = rest.strip_prefix('}') {
            return Ok((labels, after));
        }
        let eq = rest.find('=').ok_or("label without =")?;
        let name = &rest[..eq];
        if !is_label_name(name) {
            return Err(format!("bad label name {name:?}"));
        }
        rest = rest[eq + 1..].strip_prefix('"').ok_or("label value without quote")?;
        let mut value = String::new();
        let mut chars = rest.char_indices();
        let end = loop {
            match chars.next().ok_or("unterminated label value")? {
                (i, '"') => break i,
                (_, '\\') => match chars.next().ok_or("dangling escape")?.1 {
                    '\\' => value.push('\\'),
                    '"' => value.push('"'),
                    'n' => value.push('\n'),
                    c => return Err(format!("bad escape \\{c}")),
                },
                (_, '\n') => return Err("raw line feed in label value".into()),
                (_, c) => value.push(c),
            }
        };
        labels.push((name.to_owned(), value));
        rest = &rest[end + 1..];
        rest = rest.strip_prefix(',').unwrap_or(rest);
    }
}

fn parse_value(text: &str) -> Result<f64, String> {
    match text {
        "+Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        "NaN" => Ok(f64::NAN),
        _ => text.parse::<f64>().map_err(|e| format!("bad value {text:?}: {e}")),
    }
}

/// A checker of the text format (0.0.4): every line is a comment or a sample
/// `name{labels} value`; every family has one TYPE line, before its samples, with
/// its samples together; histograms have `_bucket` (with `le`, cumulative, ending
/// in `+Inf` equal to `_count`), `_sum` and `_count`; no series twice.
fn check_exposition(text: &str) -> Result<Vec<Sample>, String> {
    assert!(text.ends_with('\n'), "ends with a line feed");
    let mut types: HashMap<String, String> = HashMap::new();
    let mut finished: HashSet<String> = HashSet::new();
    let mut current: Option<String> = None;
    let mut seen: HashSet<(String, Labels)> = HashSet::new();
    let mut samples = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let context = |e: String| format!("line {}: {e}: {line:?}", number + 1);
        if let Some(comment) = line.strip_prefix('#') {
            let mut words = comment.trim_start().splitn(3, ' ');
            match (words.next(), words.next(), words.next()) {
                (Some("TYPE"), Some(name), Some(kind)) => {
                    if !is_metric_name(name) {
                        return Err(context("bad metric name".into()));
                    }
                    if !["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind) {
                        return Err(context("bad type".into()));
                    }
                    if types.insert(name.to_owned(), kind.to_owned()).is_some() {
                        return Err(context("second TYPE line".into()));
                    }
                    if let Some(previous) = current.replace(name.to_owned()) {
                        finished.insert(previous);
                    }
                }
                (Some("HELP"), Some(name), _) if types.contains_key(name) => {
                    return Err(context("HELP after TYPE".into()));
                }
                _ => {}
            }
            continue;
        }
        let name_end = line.find(['{', ' ']).ok_or_else(|| context("no value".into()))?;
        let name = &line[..name_end];
        if !is_metric_name(name) {
            return Err(context("bad metric name".into()));
        }
        let (labels, rest) = parse_labels(&line[name_end..]).map_err(context)?;
        let value = rest.strip_prefix(' ').ok_or_else(|| context("no space before the value".into()))?;
        let value = parse_value(value).map_err(context)?;
        let family = if types.contains_key(name) {
            name.to_owned()
        } else {
            ["_bucket", "_sum", "_count"]
                .iter()
                .filter_map(|suffix| name.strip_suffix(suffix))
                .find(|base| matches!(types.get(*base).map(String::as_str), Some("histogram" | "summary")))
                .ok_or_else(|| context("sample without a TYPE line before it".into()))?
                .to_owned()
        };
        if current.as_deref() != Some(family.as_str()) || finished.contains(&family) {
            return Err(context("sample away from its family".into()));
        }
        if name.ends_with("_bucket") && !labels.iter().any(|(l, _)| l == "le") {
            return Err(context("bucket without le".into()));
        }
        if !seen.insert((name.to_owned(), labels.clone())) {
            return Err(context("series twice".into()));
        }
        samples.push(Sample { name: name.to_owned(), labels, value });
    }
    // Histograms: per series (labels but le), cumulative buckets ending in +Inf == _count.
    for (family, kind) in &types {
        if kind != "histogram" {
            continue;
        }
        let mut series: HashMap<Labels, Vec<(f64, f64)>> = HashMap::new();
        for sample in samples.iter().filter(|s| s.name == format!("{family}_bucket")) {
            let le = sample.labels.iter().find(|(l, _)| l == "le").unwrap();
            let rest: Vec<_> = sample.labels.iter().filter(|(l, _)| l != "le").cloned().collect();
            series.entry(rest).or_default().push((parse_value(&le.1)?, sample.value));
        }
        for (labels, buckets) in series {
            let what = format!("{family}{labels:?}");
            if !buckets.windows(2).all(|w| w[0].0 < w[1].0 && w[0].1 <= w[1].1) {
                return Err(format!("{what}: buckets not increasing and cumulative: {buckets:?}"));
            }
            let last = buckets.last().unwrap();
            if last.0 != f64::INFINITY {
                return Err(format!("{what}: no +Inf bucket"));
            }
            let find = |suffix: &str| {
                samples.iter().find(|s| s.name == format!("{family}{suffix}") && s.labels == labels).map(|s| s.value)
            };
            if find("_count") != Some(last.1) {
                return Err(format!("{what}: +Inf bucket {} is not _count {:?}", last.1, find("_count")));
            }
            if find("_sum").is_none() {
                return Err(format!("{what}: no _sum"));
            }
        }
    }
    Ok(samples)
}

fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    samples
        .iter()
        .find(|s| {
            s.name == name
                && s.labels.len() == labels.len()
                && labels.iter().all(|(l, v)| s.labels.iter().any(|(sl, sv)| sl == l && sv == v))
        })
        .map(|s| s.value)
}

fn render(metrics: &Metrics, durable: &DurableEngine) -> (String, Vec<Sample>) {
    let mut text = String::new();
    metrics.render(durable, None, &mut text);
    let samples = check_exposition(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    (text, samples)
}

#[test]
fn recorded_calls_show_as_counters_and_histograms() {
    let (_dir, durable) = open(DurabilityMode::None);
    let metrics = Metrics::new();
    let reserve = call_label(&Call::Apply(every_operation().swap_remove(3)));
    let micros = Duration::from_micros;
    metrics.record_call(reserve, Ok(()), micros(7));
    metrics.record_call(reserve, Ok(()), micros(30));
    metrics.record_call(reserve, Err(ErrorCode::InsufficientStock), micros(30));
    metrics.record_call(reserve, Err(ErrorCode::InsufficientStock), micros(2_000));
    metrics.record_call(reserve, Err(ErrorCode::NotDurable), Duration::from_secs(3));
    // A label written as a literal counts the same.
    metrics.record_call("ping", Ok(()), Duration::from_nanos(200));
    metrics.record_call("no_such_call", Ok(()), micros(1));

    let (text, samples) = render(&metrics, &durable);
    let requests =
        |op: &str, outcome: &str| value(&samples, "stockd_requests_total", &[("op", op), ("outcome", outcome)]);
    assert_eq!(requests("reserve", "ok"), Some(2.0));
    assert_eq!(requests("reserve", "INSUFFICIENT_STOCK"), Some(2.0));
    assert_eq!(requests("reserve", "NOT_DURABLE"), Some(1.0));
    assert_eq!(requests("reserve", "CONFLICT"), None, "zero error series are not shown");
    assert_eq!(requests("ping", "ok"), Some(1.0));
    for label in CALL_LABELS {
        assert!(requests(label, "ok").is_some(), "{label} pre-registered at ok");
    }
    assert_eq!(requests("commit", "ok"), Some(0.0));
    assert_eq!(value(&samples, "stockd_requests_unlabelled_total", &[]), Some(1.0));
    assert_eq!(value(&samples, "stockd_reservations_refused_total", &[]), Some(2.0));

    let bucket = |op: &str, le: &str| {
        value(&samples, "stockd_request_duration_seconds_bucket", &[("op", op), ("le", le)]).unwrap()
    };
    assert_eq!(bucket("reserve", "0.00001"), 1.0);
    assert_eq!(bucket("reserve", "0.000025"), 1.0);
    assert_eq!(bucket("reserve", "0.00005"), 3.0);
    assert_eq!(bucket("reserve", "0.001"), 3.0);
    assert_eq!(bucket("reserve", "0.0025"), 4.0);
    assert_eq!(bucket("reserve", "1"), 4.0);
    assert_eq!(bucket("reserve", "+Inf"), 5.0);
    assert_eq!(bucket("ping", "0.00001"), 1.0);
    assert_eq!(bucket("commit", "+Inf"), 0.0);
    let count = value(&samples, "stockd_request_duration_seconds_count", &[("op", "reserve")]);
    assert_eq!(count, Some(5.0));
    let sum = value(&samples, "stockd_request_duration_seconds_sum", &[("op", "reserve")]).unwrap();
    assert!((sum - 3.002067).abs() < 1e-9, "{sum}");
    // An exact boundary belongs to its bucket (le is "less or equal").
    metrics.record_call("commit", Ok(()), micros(10));
    let (_, samples) = render(&metrics, &durable);
    let bucket = |le: &str| value(&samples, "stockd_request_duration_seconds_bucket", &[("op", "commit"), ("le", le)]);
    assert_eq!(bucket("0.00001"), Some(1.0));

    let quantile =
        |op: &str, q: &str| value(&samples, "stockd_request_duration_quantile_seconds", &[("op", op), ("quantile", q)]);
    // 5 latencies: 7us, 30us, 30us, 2ms, 3s (hdrhistogram: within 0.1%).
    let median = quantile("reserve", "0.5").unwrap();
    assert!((median - 30e-6).abs() < 1e-7, "{median}");
    let top = quantile("reserve", "0.999").unwrap();
    assert!((top - 3.0).abs() < 0.01, "{top}");
    assert_eq!(quantile("ping", "0.5"), Some(1e-6), "rounded up to a microsecond");
    assert_eq!(quantile("verify", "0.5"), None, "no quantiles before a call");
    assert!(text.contains("# TYPE stockd_request_duration_seconds histogram\n"));
}

#[test]
fn successes_recorded_together_show_as_one_call_each() {
    let (_dir, durable) = open(DurabilityMode::None);
    let one_by_one = Metrics::new();
    let together = Metrics::new();
    let latency = Duration::from_nanos(1_700);
    for _ in 0..3 {
        one_by_one.record_call(call_label_availability(), Ok(()), latency);
    }
    together.record_successes(call_label_availability(), 3, latency);
    together.record_successes(call_label_availability_batch(), 0, latency);
    together.record_successes("no_such_call", 2, latency);
    let (_, expected) = render(&one_by_one, &durable);
    let (_, samples) = render(&together, &durable);
    let calls = |samples: &[Sample]| {
        samples
            .iter()
            .filter(|sample| sample.name.starts_with("stockd_request"))
            .map(|sample| format!("{} {:?} {}", sample.name, sample.labels, sample.value))
            .collect::<Vec<_>>()
    };
    let mut expected = calls(&expected);
    expected.retain(|line| !line.starts_with("stockd_requests_unlabelled_total"));
    let mut got = calls(&samples);
    got.retain(|line| !line.starts_with("stockd_requests_unlabelled_total"));
    assert_eq!(got, expected);
    assert_eq!(value(&samples, "stockd_requests_total", &[("op", "availability"), ("outcome", "ok")]), Some(3.0));
    assert_eq!(value(&samples, "stockd_requests_unlabelled_total", &[]), Some(2.0));
}

#[test]
fn gauges_and_connection_counters() {
    let (_dir, durable) = open(DurabilityMode::None);
    let metrics = Metrics::new();
    metrics.connection_opened();
    metrics.connection_opened();
    metrics.connection_opened();
    metrics.connection_closed();
    metrics.connection_refused("too_many_connections");
    metrics.connection_refused("too_many_connections");
    metrics.connection_refused("a \"quoted\\\" reason\nwith a line feed");
    metrics.in_flight_add(5);
    metrics.in_flight_add(-2);
    metrics.record_refused_request(ErrorCode::Overloaded);
    metrics.record_refused_request(ErrorCode::Overloaded);
    metrics.record_refused_request(ErrorCode::BadFrame);

    let (text, samples) = render(&metrics, &durable);
    assert_eq!(value(&samples, "stockd_connections_open", &[]), Some(2.0));
    assert_eq!(value(&samples, "stockd_connections_total", &[]), Some(3.0));
    let refused = |reason: &str| value(&samples, "stockd_connections_refused_total", &[("reason", reason)]);
    assert_eq!(refused("too_many_connections"), Some(2.0));
    assert_eq!(refused("handshake_failed"), Some(0.0));
    assert_eq!(refused("a \"quoted\\\" reason\nwith a line feed"), Some(1.0));
    assert!(text.contains(r#"reason="a \"quoted\\\" reason\nwith a line feed""#), "escaped");
    assert_eq!(value(&samples, "stockd_in_flight_requests", &[]), Some(3.0));
    let code = |code: &str| value(&samples, "stockd_requests_refused_total", &[("code", code)]);
    assert_eq!(code("OVERLOADED"), Some(2.0));
    assert_eq!(code("BAD_FRAME"), Some(1.0));
    assert_eq!(code("FORBIDDEN"), Some(0.0));
    let version = value(&samples, "stockd_build_info", &[("version", env!("CARGO_PKG_VERSION"))]);
    assert_eq!(version, Some(1.0));
    assert!(value(&samples, "stockd_uptime_seconds", &[]).unwrap() >= 0.0);
}

#[test]
fn durability_none_shows_the_mode_and_no_log() {
    let (_dir, durable) = open(DurabilityMode::None);
    write_some_state(&durable);
    let metrics = Metrics::new();
    let (text, samples) = render(&metrics, &durable);
    assert_eq!(value(&samples, "stockd_durability_mode", &[("mode", "none")]), Some(1.0));
    assert!(!text.contains("stockd_wal_"), "no log metrics without a log:\n{text}");
    assert_engine_gauges(&samples);
}

#[test]
fn durability_always_shows_the_log() {
    let (_dir, durable) = open(DurabilityMode::Always);
    write_some_state(&durable);
    let metrics = Metrics::new();
    let (_, samples) = render(&metrics, &durable);
    assert_eq!(value(&samples, "stockd_durability_mode", &[("mode", "always")]), Some(1.0));
    assert_eq!(value(&samples, "stockd_durability_mode", &[("mode", "none")]), None);
    let wal = durable.wal().unwrap();
    let records = value(&samples, "stockd_wal_records_total", &[]).unwrap();
    assert!(records >= 5.0, "{records}");
    assert!(value(&samples, "stockd_wal_bytes_total", &[]).unwrap() > 0.0);
    assert!(value(&samples, "stockd_wal_writes_total", &[]).unwrap() >= 1.0);
    let fsyncs = value(&samples, "stockd_wal_fsyncs_total", &[]).unwrap();
    assert!(fsyncs >= 1.0);
    let appended = value(&samples, "stockd_wal_appended_lsn", &[]).unwrap();
    assert_eq!(appended, wal.appended_lsn() as f64);
    // `always`: every acknowledged write is fsynced.
    assert_eq!(value(&samples, "stockd_wal_durable_lsn", &[]), Some(appended));
    assert_eq!(value(&samples, "stockd_wal_failed", &[]), Some(0.0));
    let count = value(&samples, "stockd_wal_fsync_duration_seconds_count", &[]).unwrap();
    assert!(count >= 1.0 && count <= fsyncs, "{count} of {fsyncs}");
    assert!(value(&samples, "stockd_wal_fsync_duration_seconds_sum", &[]).unwrap() > 0.0);
    assert!(value(&samples, "stockd_wal_fsync_duration_max_seconds", &[]).unwrap() > 0.0);
    assert_engine_gauges(&samples);
}

fn assert_engine_gauges(samples: &[Sample]) {
    assert_eq!(value(samples, "stockd_positions", &[]), Some(2.0));
    assert_eq!(value(samples, "stockd_skus", &[]), Some(2.0));
    assert_eq!(value(samples, "stockd_locations", &[]), Some(1.0));
    assert_eq!(value(samples, "stockd_channels", &[]), Some(0.0));
    assert_eq!(value(samples, "stockd_kits", &[]), Some(0.0));
    let state = |state: &str| value(samples, "stockd_reservations", &[("state", state)]);
    assert_eq!(state("held"), Some(1.0));
    assert_eq!(state("committed"), Some(1.0));
    assert_eq!(state("fulfilled"), Some(0.0));
    assert_eq!(state("released"), Some(0.0));
    assert_eq!(state("expired"), Some(0.0));
    assert_eq!(value(samples, "stockd_reservations_remembered", &[]), Some(2.0));
}

#[test]
fn the_checker_refuses_what_it_should() {
    let ok = "# HELP a_total A.\n# TYPE a_total counter\na_total{x=\"1\"} 3\n";
    assert!(check_exposition(ok).is_ok());
    for bad in [
        "a_total 3\n",
        "# TYPE a_total counter\na_total{x=\"1} 3\n",
        "# TYPE a_total counter\na_total{x=\"1\"}3\n",
        "# TYPE a_total counter\na_total three\n",
        "# TYPE a_total counter\na_total 1\na_total 2\n",
        "# TYPE a_total counter\n# TYPE b gauge\nb 1\na_total 2\n",
        "# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_sum 0\nh_count 1\n",
        "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1\nh_sum 0\nh_count 2\n",
    ] {
        assert!(check_exposition(bad).is_err(), "{bad}");
    }
}

#[test]
fn metrics_are_shared_between_threads() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Metrics>();
    let metrics = Arc::new(Metrics::new());
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let metrics = metrics.clone();
            std::thread::spawn(move || {
                for _ in 0..10_000 {
                    metrics.record_call("ping", Ok(()), Duration::from_micros(3));
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    let (_dir, durable) = open(DurabilityMode::None);
    let (_, samples) = render(&metrics, &durable);
    assert_eq!(value(&samples, "stockd_requests_total", &[("op", "ping"), ("outcome", "ok")]), Some(40_000.0));
}
