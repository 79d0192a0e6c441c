//! Crash points as a property: random operations go through a `DurableEngine` in a
//! temporary folder (with snapshots, restarts, tiny log segments, reservation ids
//! reused after they are forgotten), and after every operation the test records
//! `(last LSN appended, digest)`. Then copies of the folder get their log cut at
//! operation boundaries, or in the middle of the next record (what a crash during
//! a `write` leaves), and are recovered:
//! - `verify()` is clean, and the state is exactly the one recorded after the
//!   operation that ended at the cut (so every change is in the log, in an order
//!   that replays to the same state); a quarter of the cuts fall on any record
//!   boundary, inside operations of several records too (a new SKU's name, bulk
//!   load parts), where `verify()` must still be clean;
//! - a cut inside a record is reported as a torn tail at that record, and repaired;
//! - the engine opens on the cut log and goes on logging from there.
//!
//! Every operation also runs on the reference model (`reference_model/`, written
//! from docs/ENGINE.md): the outcomes must agree as they happen, and a state
//! recovered from a cut at an operation's end (or at a restart) must read exactly
//! as the model's state after that operation: every position, availability (each
//! location, the channel, kits) and reservation.
//!
//! Also checked on the way: an operation that logs nothing changes nothing, and a
//! restart recovers exactly the state it stopped with.
//!
//! `PROPTEST_CASES` sets the number of cases (64 by default).

#[path = "reference_model/mod.rs"]
mod reference_model;
#[path = "support/mod.rs"]
mod support;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use reference_model::compare::{compare_outcomes, compare_state, Universe};
use reference_model::Model;
use std::collections::BTreeSet;
use std::path::Path;
use stockd::engine::{AdjustReason, LineQuantity, PartialStep, RestockRequest};
use stockd::model::{Bucket, ChannelBuffer, ChannelSpec, LocationKind, PositionRow};
use stockd::storage::{recover, DurableEngine, RecoveryTarget, StorageConfig};
use stockd::wal::DurabilityMode;
use stockd::{EngineConfig, Operation, Timestamp};
use support::{copy_storage, find_record, log_layout, truncate, zero_from};

const SKUS: [&str; 6] = ["A", "B", "C", "D", "K", "Z"];
const LOCATIONS: [&str; 2] = ["L1", "L2"];
/// Reservation ids `r0`..: reused once forgotten (the idempotency window is 5 s).
const IDS: usize = 12;
const START_MS: u64 = 1_700_000_000_000;
const IDEMPOTENCY_WINDOW_MS: u64 = 5_000;

#[derive(Clone, Debug)]
enum Step {
    Reserve {
        id: usize,
        lines: Vec<(usize, usize, u32)>,
        ttl_ms: u64,
    },
    Commit(usize),
    Fulfil(usize, Option<u32>),
    Release(usize, Option<u32>),
    Extend(usize, u64),
    Adjust(usize, usize, i64),
    SetOnHand {
        sku: usize,
        location: usize,
        on_hand: u32,
        compare: bool,
    },
    Restock {
        id: usize,
        quantity: u32,
        location: usize,
    },
    /// An adjustment naming a SKU never seen: an interning record first.
    NewSku(usize),
    Bulk(u32),
    Expire,
    Advance(u64),
    Snapshot,
    Reopen,
}

fn step() -> impl Strategy<Value = Step> {
    let id = 0..IDS;
    // A lifecycle call names the k-th most recent reservation made.
    let recent = 0..4usize;
    let sku = 0..SKUS.len();
    let location = 0..LOCATIONS.len();
    prop_oneof![
        6 => (id.clone(), prop::collection::vec((sku.clone(), location.clone(), 1..4u32), 1..3), 1_000..10_000u64)
            .prop_map(|(id, lines, ttl_ms)| Step::Reserve { id, lines, ttl_ms }),
        4 => recent.clone().prop_map(Step::Commit),
        4 => (recent.clone(), prop::option::of(1..3u32)).prop_map(|(id, partial)| Step::Fulfil(id, partial)),
        2 => (recent.clone(), prop::option::of(1..3u32)).prop_map(|(id, partial)| Step::Release(id, partial)),
        1 => (recent.clone(), 1_000..10_000u64).prop_map(|(id, ttl)| Step::Extend(id, ttl)),
        3 => (sku.clone(), location.clone(), -4..6i64).prop_map(|(s, l, delta)| Step::Adjust(s, l, delta)),
        2 => (sku.clone(), location.clone(), 0..12u32, any::<bool>())
            .prop_map(|(sku, location, on_hand, compare)| Step::SetOnHand { sku, location, on_hand, compare }),
        2 => (recent, 1..3u32, location).prop_map(|(id, quantity, location)| Step::Restock { id, quantity, location }),
        1 => (0..3usize).prop_map(Step::NewSku),
        1 => (0..12u32).prop_map(Step::Bulk),
        3 => Just(Step::Expire),
        4 => (0..8_000u64).prop_map(Step::Advance),
        1 => Just(Step::Snapshot),
        1 => Just(Step::Reopen),
    ]
}

/// Where to cut the log: a boundary among the operations' ends, or among all
/// records (chosen by the selector), and whether to cut inside the record that
/// follows it instead.
#[derive(Clone, Debug)]
struct Cut {
    /// Any record boundary rather than an operation's end.
    anywhere: bool,
    boundary: usize,
    inside_next: bool,
    at: usize,
    /// Zero the file from the cut to its end instead of shortening it: what a crash
    /// leaves in the space the writer had zero-filled ahead of itself.
    zero_fill: bool,
}

fn cut() -> impl Strategy<Value = Cut> {
    (prop::bool::weighted(0.25), any::<usize>(), any::<bool>(), any::<usize>(), any::<bool>()).prop_map(
        |(anywhere, boundary, inside_next, at, zero_fill)| Cut { anywhere, boundary, inside_next, at, zero_fill },
    )
}

#[derive(Clone, Debug)]
struct Case {
    always: bool,
    segment_bytes: u64,
    steps: Vec<Step>,
    cuts: Vec<Cut>,
}

fn case() -> impl Strategy<Value = Case> {
    (any::<bool>(), 200..2_000u64, prop::collection::vec(step(), 1..80), prop::collection::vec(cut(), 1..4))
        .prop_map(|(always, segment_bytes, steps, cuts)| Case { always, segment_bytes, steps, cuts })
}

/// What running the steps recorded.
struct Run {
    /// `(last LSN appended, digest)` after setup and after each step.
    points: Vec<(u64, u64)>,
    /// The reference model's state at each point.
    models: Vec<Model>,
    /// The lowest LSN a cut may be at: the log is fsynced up to a snapshot's
    /// `complete_lsn` before the snapshot exists, so no crash leaves it shorter.
    lowest_cut: u64,
    now: u64,
    steps_taken: usize,
    /// Ids of the reserves that succeeded, oldest first.
    reserved: Vec<String>,
}

fn open(config: &StorageConfig) -> std::sync::Arc<DurableEngine> {
    DurableEngine::open(config.clone()).unwrap().0
}

impl Run {
    fn record(
        &mut self,
        durable: &DurableEngine,
        model: &Model,
        what: &dyn std::fmt::Debug,
    ) -> Result<(), TestCaseError> {
        let point = (durable.wal().unwrap().appended_lsn(), durable.engine().digest());
        if let Some(previous) = self.points.last() {
            prop_assert!(point.0 >= previous.0);
            if point.0 == previous.0 {
                prop_assert_eq!(point.1, previous.1, "{:?} changed the state without logging anything", what);
            }
        }
        self.points.push(point);
        self.models.push(model.clone());
        Ok(())
    }

    fn next_step_id(&mut self) -> String {
        self.steps_taken += 1;
        format!("s{}", self.steps_taken)
    }

    /// A part of the reservation's first line still holding units (made up when
    /// there is none, so that the call is refused).
    fn partial(&mut self, durable: &DurableEngine, id: &str, quantity: u32) -> PartialStep {
        let engine = durable.engine();
        let line = engine.reservation(id).ok().and_then(|r| r.lines.iter().find(|l| l.held > 0).copied());
        let (sku, location) = match line {
            Some(line) => {
                (engine.sku_name(line.sku).to_string(), engine.location_name(line.location).unwrap().to_string())
            }
            None => ("A".to_owned(), "L1".to_owned()),
        };
        PartialStep { step_id: self.next_step_id(), lines: vec![LineQuantity { sku, location, quantity }] }
    }

    fn operation(&mut self, durable: &DurableEngine, step: &Step) -> Option<Operation> {
        let reserved = self.reserved.clone();
        // The k-th most recent reservation made (made-up when there is none yet).
        let id = |recent: &usize| match reserved.len() {
            0 => "r0".to_owned(),
            made => reserved[made - 1 - recent % made].clone(),
        };
        Some(match step {
            Step::Reserve { id: index, lines, ttl_ms } => support::reserve(
                &format!("r{index}"),
                &lines.iter().map(|&(s, l, q)| (SKUS[s], LOCATIONS[l], q)).collect::<Vec<_>>(),
                *ttl_ms,
            ),
            Step::Commit(index) => Operation::Commit { id: id(index) },
            Step::Fulfil(index, partial) => Operation::Fulfil {
                id: id(index),
                partial: partial.map(|quantity| self.partial(durable, &id(index), quantity)),
            },
            Step::Release(index, partial) => Operation::Release {
                id: id(index),
                partial: partial.map(|quantity| self.partial(durable, &id(index), quantity)),
            },
            Step::Extend(index, ttl_ms) => Operation::Extend { id: id(index), ttl_ms: *ttl_ms },
            Step::Adjust(sku, location, delta) => Operation::Adjust {
                sku: SKUS[*sku].to_owned(),
                location: LOCATIONS[*location].to_owned(),
                delta: *delta,
                reason: AdjustReason::Correction,
                reference: String::new(),
            },
            Step::SetOnHand { sku, location, on_hand, compare } => {
                let current = durable.engine().position(SKUS[*sku], LOCATIONS[*location]).map_or(0, |p| p.version);
                Operation::SetOnHand {
                    sku: SKUS[*sku].to_owned(),
                    location: LOCATIONS[*location].to_owned(),
                    on_hand: *on_hand,
                    expected_version: compare.then_some(current),
                }
            }
            Step::Restock { id: index, quantity, location } => {
                let engine = durable.engine();
                let sku = engine
                    .reservation(&id(index))
                    .ok()
                    .and_then(|r| r.lines.iter().find(|l| l.fulfilled > l.returned).map(|l| engine.sku_name(l.sku)))
                    .map_or_else(|| "A".to_owned(), |name| name.to_string());
                Operation::Restock(RestockRequest {
                    reservation_id: id(index),
                    step_id: self.next_step_id(),
                    line: LineQuantity { sku, location: LOCATIONS[*location].to_owned(), quantity: *quantity },
                    bucket: if quantity % 2 == 0 { Bucket::Damaged } else { Bucket::Sellable },
                })
            }
            Step::NewSku(location) => Operation::Adjust {
                sku: format!("N{}", self.points.len()),
                location: LOCATIONS[*location % LOCATIONS.len()].to_owned(),
                delta: 3,
                reason: AdjustReason::Received,
                reference: String::new(),
            },
            Step::Bulk(on_hand) => Operation::BulkLoad(
                ["A", "C"]
                    .iter()
                    .flat_map(|sku| LOCATIONS.map(|l| row(sku, l, *on_hand)))
                    .chain(std::iter::once(row(&format!("B{}", self.points.len()), "L2", *on_hand)))
                    .collect(),
            ),
            Step::Expire => Operation::ExpireDue,
            Step::Advance(_) | Step::Snapshot | Step::Reopen => return None,
        })
    }
}

fn row(sku: &str, location: &str, on_hand: u32) -> PositionRow {
    PositionRow {
        sku: sku.to_owned(),
        location: location.to_owned(),
        on_hand,
        safety_stock: 1,
        damaged: 0,
        quality_control: 0,
        backorder_limit: u32::from(sku == "D") * 2,
    }
}

fn config(root: &Path, case: &Case) -> StorageConfig {
    StorageConfig {
        snapshots_retained: 2,
        engine: EngineConfig { idempotency_window_ms: IDEMPOTENCY_WINDOW_MS, ..EngineConfig::default() },
        ..support::storage_config(
            root,
            if case.always { DurabilityMode::Always } else { DurabilityMode::Interval { ms: 2 } },
            case.segment_bytes,
        )
    }
}

fn run_steps(config: &StorageConfig, case: &Case) -> Result<Run, TestCaseError> {
    let mut durable = open(config);
    let mut run = Run {
        points: Vec::new(),
        models: Vec::new(),
        lowest_cut: 0,
        now: START_MS,
        steps_taken: 0,
        reserved: Vec::new(),
    };
    let mut model = Model::new(IDEMPOTENCY_WINDOW_MS, config.engine.max_reservations);
    let setup = [
        Operation::UpsertLocations(LOCATIONS.map(|l| support::location(l, LocationKind::Store)).to_vec()),
        Operation::UpsertChannel(ChannelSpec {
            name: "web".to_owned(),
            locations: LOCATIONS.map(str::to_owned).to_vec(),
            excluded: Vec::new(),
            buffer: ChannelBuffer::Units(1),
        }),
        Operation::BulkLoad(["A", "B", "C", "D"].iter().flat_map(|sku| LOCATIONS.map(|l| row(sku, l, 9))).collect()),
        Operation::DefineKit { kit: "K".to_owned(), components: vec![("A".to_owned(), 1), ("B".to_owned(), 2)] },
    ];
    for operation in &setup {
        let actual = durable.apply(operation, Timestamp(run.now)).map_err(engine_error);
        prop_assert!(actual.is_ok(), "setup {:?}: {:?}", operation, actual);
        compare_outcomes(durable.engine(), operation, &actual, &model.apply(operation, Timestamp(run.now)))?;
    }
    run.record(&durable, &model, &"setup")?;
    for step in &case.steps {
        match step {
            Step::Advance(ms) => run.now += ms,
            Step::Snapshot => {
                let taken = durable.take_snapshot(Timestamp(run.now)).unwrap();
                run.lowest_cut = taken.header.complete_lsn;
            }
            Step::Reopen => {
                let digest = durable.engine().digest();
                drop(durable);
                let (reopened, report) = DurableEngine::open(config.clone()).unwrap();
                prop_assert!(report.torn_tail.is_none());
                prop_assert_eq!(report.last_lsn, run.points.last().unwrap().0);
                prop_assert_eq!(reopened.engine().digest(), digest, "a restart changed the state");
                compare_state(reopened.engine(), &model, &universe(&model), &ids(), run.now)?;
                durable = reopened;
            }
            _ => {
                let operation = run.operation(&durable, step).unwrap();
                let actual = durable.apply(&operation, Timestamp(run.now)).map_err(engine_error);
                let expected = model.apply(&operation, Timestamp(run.now));
                compare_outcomes(durable.engine(), &operation, &actual, &expected)
                    .map_err(|e| TestCaseError::fail(format!("{operation:?} at {}\n{e}", run.now)))?;
                if let (Operation::Reserve(request), Ok(_)) = (&operation, actual) {
                    run.reserved.push(request.id.clone());
                }
            }
        }
        run.record(&durable, &model, step)?;
        run.now += 1;
    }
    Ok(run)
}

fn check_cut(config: &StorageConfig, run: &Run, cut: &Cut) -> Result<(), TestCaseError> {
    let scratch = tempfile::tempdir().unwrap();
    let copy = copy_storage(config, scratch.path());
    let layout = log_layout(&copy.wal_dir());
    let lsn = if cut.anywhere {
        // Any record boundary, also inside an operation of several records.
        let ends: Vec<u64> = std::iter::once(run.lowest_cut)
            .chain(layout.iter().flat_map(|segment| segment.records.iter().map(|record| record.lsn)))
            .filter(|lsn| *lsn >= run.lowest_cut.max(run.points[0].0))
            .collect();
        ends[cut.boundary % ends.len()]
    } else {
        let ends: Vec<u64> = run.points.iter().map(|(lsn, _)| *lsn).filter(|lsn| *lsn >= run.lowest_cut).collect();
        ends[cut.boundary % ends.len()]
    };
    // The state there, if an operation ended there.
    let point = run.points.iter().position(|(end, _)| *end == lsn);
    let digest = point.map(|index| run.points[index].1);
    let next = find_record(&layout, lsn + 1);
    let torn_at = match &next {
        // The boundary is the end of the log: nothing to cut.
        None => None,
        Some((index, record)) => {
            let path = &layout[*index].path;
            let bytes = std::fs::read(path).unwrap();
            let record_bytes = &bytes[record.offset as usize..record.end as usize];
            let mut inside =
                cut.inside_next.then(|| record.offset + 1 + (cut.at as u64) % (record.end - record.offset - 1));
            if cut.zero_fill {
                // Zeroing bytes that are zeros already cuts nothing: move the cut to
                // the record's last non-zero byte at the latest (its LSN is non-zero,
                // so that is past its first byte), so that the record is really torn.
                let last_non_zero = record_bytes.iter().rposition(|&b| b != 0).expect("an LSN is not zero");
                inside = inside.map(|at| at.min(record.offset + last_non_zero as u64));
                zero_from(path, inside.unwrap_or(record.offset));
            } else {
                truncate(path, inside.unwrap_or(record.offset));
            }
            for later in &layout[index + 1..] {
                std::fs::remove_file(&later.path).unwrap();
            }
            // A torn record whose written part is all zeros is indistinguishable from
            // nothing written: the reader takes it as the end of the log, not a torn tail.
            let written_part_is_zeros =
                inside.is_some_and(|at| record_bytes[..(at - record.offset) as usize].iter().all(|&b| b == 0));
            inside.filter(|_| !written_part_is_zeros).map(|_| (path.clone(), record.offset))
        }
    };
    let (engine, report) = recover(&copy, RecoveryTarget::default(), true)
        .map_err(|error| TestCaseError::fail(format!("recovery of a log cut at {lsn}: {error}")))?;
    let verify = engine.verify();
    prop_assert!(verify.is_clean(), "{:?}", verify.findings);
    prop_assert_eq!(report.last_lsn, lsn);
    prop_assert!(report.skipped_snapshots.is_empty(), "{:?}", report.skipped_snapshots);
    let recovered = engine.digest();
    if let Some(digest) = digest {
        prop_assert_eq!(recovered, digest, "the state at LSN {} is not the one after its operation", lsn);
    }
    if let Some(index) = point {
        let model = &run.models[index];
        compare_state(&engine, model, &universe(model), &ids(), run.now)
            .map_err(|e| TestCaseError::fail(format!("recovered at LSN {lsn}, against the model: {e}")))?;
    }
    match (&torn_at, &report.torn_tail) {
        (None, None) => {}
        (Some((path, offset)), Some(torn)) => prop_assert_eq!((&torn.path, torn.offset), (path, *offset)),
        (expected, found) => prop_assert!(false, "torn tail expected {:?}, found {:?}", expected, found),
    }
    // Repaired: a second recovery finds no torn tail, and the engine logs on.
    let (engine, report) = recover(&copy, RecoveryTarget::default(), false).unwrap();
    prop_assert!(report.torn_tail.is_none());
    prop_assert_eq!(engine.digest(), recovered);
    let durable = open(&copy);
    let write = Operation::Adjust {
        sku: "C".to_owned(),
        location: "L1".to_owned(),
        delta: 1,
        reason: AdjustReason::Found,
        reference: String::new(),
    };
    durable.apply(&write, Timestamp(run.now)).unwrap();
    prop_assert_eq!(durable.wal().unwrap().appended_lsn(), lsn + 1);
    let after = durable.engine().digest();
    drop(durable);
    let (engine, report) = recover(&copy, RecoveryTarget::default(), false).unwrap();
    prop_assert_eq!((engine.digest(), report.last_lsn), (after, lsn + 1));
    Ok(())
}

/// What the model comparison reads: the fixed names and every SKU the run created.
fn universe(model: &Model) -> Universe {
    let mut skus: Vec<String> = SKUS.map(str::to_owned).to_vec();
    skus.extend(model.skus().into_iter().filter(|sku| !SKUS.contains(&sku.as_str())));
    Universe { skus, locations: LOCATIONS.map(str::to_owned).to_vec(), channel: "web".to_owned() }
}

/// Every reservation id a run may use.
fn ids() -> BTreeSet<String> {
    (0..IDS).map(|index| format!("r{index}")).collect()
}

/// The engine's error from a durable apply (a log failure fails the test).
fn engine_error(error: stockd::storage::ApplyError) -> stockd::EngineError {
    match error {
        stockd::storage::ApplyError::Engine(error) => error,
        other => panic!("the log failed: {other}"),
    }
}

fn check_case(case: &Case) -> Result<(), TestCaseError> {
    let root = tempfile::tempdir().unwrap();
    let config = config(root.path(), case);
    let run = run_steps(&config, case)?;
    for cut in &case.cuts {
        check_cut(&config, &run, cut)?;
    }
    Ok(())
}

#[test]
fn a_log_cut_anywhere_recovers_the_state_at_the_cut() {
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(64);
    let mut runner = TestRunner::new(Config { cases, failure_persistence: None, ..Config::default() });
    runner.run(&case(), |case| check_case(&case)).unwrap();
}

/// A case the property test once found: zeroing a record from a byte on, where the
/// record's remaining bytes were zeros already, left it whole (so it was recovered).
/// The cut now always removes a non-zero byte.
#[test]
fn zeroing_the_tail_of_a_record_tears_it() {
    let case = Case {
        always: false,
        segment_bytes: 200,
        steps: vec![
            Step::Restock { id: 0, quantity: 1, location: 0 },
            Step::Expire,
            Step::Reserve { id: 10, lines: vec![(2, 0, 1), (4, 0, 1)], ttl_ms: 1000 },
        ],
        cuts: vec![Cut {
            anywhere: false,
            boundary: 399_780_845_563_940,
            inside_next: true,
            at: 15_642_399_028_219_383_805,
            zero_fill: true,
        }],
    };
    check_case(&case).unwrap();
}
