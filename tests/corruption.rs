//! Damaged data folders: each test builds a history with the library (a
//! `DurableEngine`, two snapshots, a log of several small segments), damages a copy
//! of the folders, and checks that recovery does what ARCHITECTURE.md says:
//! - a torn final record (the last record of the last segment cut short, or failing
//!   its checksum, with nothing valid after it) is cut off and reported, and the
//!   state is the one before that record; `repair` truncates the file;
//! - any other damage in the log (a bad record followed by valid ones, a bad record
//!   at the end of a segment that is not the last, a bad segment header, a missing
//!   segment) refuses, naming the file and the byte offset or the missing records,
//!   and changes nothing on disk;
//! - a damaged snapshot (header, body, truncated) is skipped for an older one and a
//!   longer replay with the same final state; with no usable snapshot whose log is
//!   still there, recovery refuses rather than start without acknowledged writes;
//! - a brand-new last segment whose header was cut short is a torn tail.

#[path = "support/mod.rs"]
mod support;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::path::{Path, PathBuf};
use stockd::engine::{AdjustReason, LineQuantity, PartialStep};
use stockd::model::{ChannelBuffer, ChannelSpec, LocationKind, PositionRow};
use stockd::snapshot::format::SNAPSHOT_HEADER_BYTES;
use stockd::storage::{recover, DurableEngine, RecoveryError, RecoveryReport, RecoveryTarget, StorageConfig};
use stockd::wal::format::{segment_file_name, segment_header, RECORD_HEADER_BYTES, SEGMENT_HEADER_BYTES};
use stockd::wal::{DurabilityMode, WalError};
use stockd::{Engine, Operation, Timestamp};
use support::{copy_storage, file_len, find_record, flip_bit, log_layout, truncate, SegmentLayout};

const LOCATIONS: [&str; 3] = ["DC-1", "STORE-1", "STORE-2"];
const SKUS: usize = 20;
const SEGMENT_BYTES: u64 = 4096;

fn sku(index: usize) -> String {
    format!("SKU-{index:02}")
}

/// A data folder with a known history.
struct Fixture {
    _root: tempfile::TempDir,
    config: StorageConfig,
    /// `(last LSN appended, digest)` after every operation, in order.
    history: Vec<(u64, u64)>,
    /// The snapshots taken, oldest first, with the LSN each covers.
    snapshots: Vec<(PathBuf, u64)>,
}

impl Fixture {
    fn final_digest(&self) -> u64 {
        self.history.last().unwrap().1
    }

    fn last_lsn(&self) -> u64 {
        self.history.last().unwrap().0
    }

    /// The digest of the state once every record up to `lsn` is applied (`lsn` must
    /// end an operation).
    fn digest_at(&self, lsn: u64) -> u64 {
        self.history
            .iter()
            .rev()
            .find(|(appended, _)| *appended == lsn)
            .unwrap_or_else(|| panic!("LSN {lsn} does not end an operation"))
            .1
    }

    /// A fresh copy of the folders, to damage.
    fn copy(&self) -> (tempfile::TempDir, StorageConfig) {
        let scratch = tempfile::tempdir().unwrap();
        let config = copy_storage(&self.config, scratch.path());
        (scratch, config)
    }
}

struct Builder {
    durable: Option<std::sync::Arc<DurableEngine>>,
    history: Vec<(u64, u64)>,
    now: u64,
    rng: StdRng,
    next_id: usize,
}

impl Builder {
    /// Applies an operation (refused or not) and records where the log is.
    fn apply(&mut self, operation: Operation) {
        let durable = self.durable.as_ref().unwrap();
        let _ = durable.apply(&operation, Timestamp(self.now));
        self.now += self.rng.random_range(0..400);
        self.history.push((durable.wal().unwrap().appended_lsn(), durable.engine().digest()));
    }

    /// Closes the engine (the log is flushed) and opens it again: a new segment.
    fn reopen(&mut self, config: &StorageConfig) {
        let digest = self.durable.take().unwrap().engine().digest();
        let (durable, report) = DurableEngine::open(config.clone()).unwrap();
        assert_eq!(durable.engine().digest(), digest);
        assert_eq!(report.last_lsn, self.history.last().unwrap().0);
        self.durable = Some(durable);
    }

    /// A mix of reservation calls and stock writes.
    fn phase(&mut self, operations: usize) {
        for _ in 0..operations {
            let id = format!("r{}", self.rng.random_range(0..self.next_id.max(1)));
            let (s, l) = (sku(self.rng.random_range(0..SKUS)), LOCATIONS[self.rng.random_range(0..LOCATIONS.len())]);
            let operation = match self.rng.random_range(0..10) {
                0..=2 => {
                    self.next_id += 1;
                    let other = sku(self.rng.random_range(0..SKUS));
                    let mut lines = vec![(s.as_str(), l, self.rng.random_range(1..=3))];
                    if other != s {
                        lines.push((other.as_str(), "DC-1", 1));
                    }
                    support::reserve(&format!("r{}", self.next_id - 1), &lines, self.rng.random_range(1_000..20_000))
                }
                3 => Operation::Commit { id },
                4 => Operation::Fulfil { id, partial: None },
                5 => Operation::Release {
                    id,
                    partial: Some(PartialStep {
                        step_id: format!("s{}", self.history.len()),
                        lines: vec![LineQuantity { sku: s.clone(), location: l.to_owned(), quantity: 1 }],
                    }),
                },
                6 => Operation::Adjust {
                    sku: s,
                    location: l.to_owned(),
                    delta: self.rng.random_range(-3..=5),
                    reason: AdjustReason::Correction,
                    reference: "cycle count".to_owned(),
                },
                7 => Operation::SetOnHand {
                    sku: s,
                    location: l.to_owned(),
                    on_hand: self.rng.random_range(0..40),
                    expected_version: None,
                },
                8 => Operation::ExpireDue,
                _ => Operation::Adjust {
                    // New SKU names now and then: interning records.
                    sku: format!("NEW-{}", self.history.len()),
                    location: l.to_owned(),
                    delta: 2,
                    reason: AdjustReason::Received,
                    reference: String::new(),
                },
            };
            self.apply(operation);
        }
    }
}

/// Setup, 60 operations, snapshot, 60 operations, snapshot, 180 operations, a
/// restart and four single-record writes; the log in segments of about 4 KiB.
fn build() -> Fixture {
    let root = tempfile::tempdir().unwrap();
    let config = support::storage_config(root.path(), DurabilityMode::Always, SEGMENT_BYTES);
    let (durable, _) = DurableEngine::open(config.clone()).unwrap();
    let mut builder = Builder {
        durable: Some(durable),
        history: Vec::new(),
        now: 1_700_000_000_000,
        rng: StdRng::seed_from_u64(7),
        next_id: 0,
    };
    builder.apply(Operation::UpsertLocations(vec![
        support::location("DC-1", LocationKind::DistributionCentre),
        support::location("STORE-1", LocationKind::Store),
        support::location("STORE-2", LocationKind::Store),
    ]));
    builder.apply(Operation::UpsertChannel(ChannelSpec {
        name: "web".to_owned(),
        locations: LOCATIONS.iter().map(|l| (*l).to_owned()).collect(),
        excluded: Vec::new(),
        buffer: ChannelBuffer::Percent(5),
    }));
    let rows = (0..SKUS)
        .flat_map(|s| {
            LOCATIONS.map(|l| PositionRow {
                sku: sku(s),
                location: l.to_owned(),
                on_hand: 30,
                safety_stock: 1,
                damaged: 0,
                quality_control: 0,
                backorder_limit: 0,
            })
        })
        .collect();
    builder.apply(Operation::BulkLoad(rows));
    builder.apply(Operation::DefineKit { kit: "KIT".to_owned(), components: vec![(sku(0), 1), (sku(1), 2)] });
    let mut snapshots = Vec::new();
    builder.phase(60);
    for operations in [60, 180] {
        let taken = builder.durable.as_ref().unwrap().take_snapshot(Timestamp(builder.now)).unwrap();
        snapshots.push((taken.path, taken.header.covers_lsn));
        builder.phase(operations);
    }
    // A restart (a new segment), then four writes of one record each (existing
    // positions change): the last segment holds exactly those four.
    builder.reopen(&config);
    for s in 3..7 {
        builder.apply(Operation::Adjust {
            sku: sku(s),
            location: "STORE-1".to_owned(),
            delta: 1,
            reason: AdjustReason::Found,
            reference: String::new(),
        });
    }
    drop(builder.durable.take());
    let fixture = Fixture { _root: root, config, history: builder.history, snapshots };
    let layout = log_layout(&fixture.config.wal_dir());
    let last: Vec<u64> = layout.last().unwrap().records.iter().map(|record| record.lsn).collect();
    let expected: Vec<u64> = fixture.history[fixture.history.len() - 4..].iter().map(|(lsn, _)| *lsn).collect();
    assert_eq!(last, expected, "the last segment holds the last four writes, one record each");
    let after_newest = layout.iter().filter(|s| s.first_lsn > fixture.snapshots[1].1 + 1).count();
    assert!(after_newest >= 3, "the fixture needs several segments after the newest snapshot: {layout:#?}");
    assert!(layout[0].first_lsn > 1, "the log before the oldest snapshot was retired");
    fixture
}

fn recover_ok(config: &StorageConfig, repair: bool) -> (Engine, RecoveryReport) {
    let (engine, report) = recover(config, RecoveryTarget::default(), repair).unwrap();
    let verify = engine.verify();
    assert!(verify.is_clean(), "{:?}", verify.findings);
    (engine, report)
}

fn last_segment(config: &StorageConfig) -> SegmentLayout {
    log_layout(&config.wal_dir()).pop().unwrap()
}

/// Asserts that recovery refuses, naming `path` and `byte <offset>`, and that the
/// folder is left exactly as it was (even with `repair`).
fn assert_refused_at(config: &StorageConfig, path: &Path, offset: u64) {
    let before = std::fs::read(path).unwrap();
    let error = match recover(config, RecoveryTarget::default(), true) {
        Ok((_, report)) => panic!("recovery accepted damage in {} at {offset}: {report:?}", path.display()),
        Err(error) => error,
    };
    match &error {
        RecoveryError::Log(WalError::Corrupt { path: named, offset: at, .. }) => {
            assert_eq!((named.as_path(), *at), (path, offset), "{error}");
        }
        other => panic!("expected a corrupt-log error, got {other}"),
    }
    let message = error.to_string();
    assert!(message.contains(&path.display().to_string()), "{message}");
    assert!(message.contains(&format!("byte {offset}")), "{message}");
    assert_eq!(std::fs::read(path).unwrap(), before, "a refused recovery changed the file");
    assert!(DurableEngine::open(config.clone()).is_err(), "the engine opened on a damaged log");
}

#[test]
fn a_record_cut_short_at_the_end_is_a_torn_tail_and_repair_truncates_it() {
    let fixture = build();
    let before_last = fixture.digest_at(fixture.last_lsn() - 1);
    let layout = last_segment(&fixture.config);
    let record = layout.records.last().unwrap().clone();
    assert_eq!(record.lsn, fixture.last_lsn());
    // Inside the record header, at the start of the payload, and one byte short.
    let payload = record.offset + RECORD_HEADER_BYTES as u64;
    for cut in [record.offset + 5, payload + 1, (payload + record.end) / 2, record.end - 1] {
        let (_scratch, config) = fixture.copy();
        let path = config.wal_dir().join(layout.path.file_name().unwrap());
        truncate(&path, cut);
        let (engine, report) = recover_ok(&config, false);
        let torn = report.torn_tail.clone().expect("a torn tail");
        assert_eq!(
            (torn.path.as_path(), torn.offset, torn.bytes_dropped),
            (path.as_path(), record.offset, cut - record.offset)
        );
        assert_eq!(report.last_lsn, record.lsn - 1);
        assert_eq!(engine.digest(), before_last, "the state before the torn record");
        assert_eq!(file_len(&path), cut, "without repair nothing on disk changes");
        let (engine, report) = recover_ok(&config, true);
        assert!(report.torn_tail.is_some());
        assert_eq!(engine.digest(), before_last);
        assert_eq!(file_len(&path), record.offset, "repair truncates at the torn record");
        let (engine, report) = recover_ok(&config, false);
        assert!(report.torn_tail.is_none(), "{report:?}");
        assert_eq!(engine.digest(), before_last);
    }
    // The engine opens on a repaired tail and logs on from the first lost LSN.
    let (_scratch, config) = fixture.copy();
    truncate(&config.wal_dir().join(layout.path.file_name().unwrap()), record.end - 3);
    let (durable, report) = DurableEngine::open(config.clone()).unwrap();
    assert!(report.torn_tail.is_some());
    durable.apply(&fixture_write(), Timestamp(1_800_000_000_000)).unwrap();
    assert_eq!(durable.wal().unwrap().appended_lsn(), record.lsn);
    let digest = durable.engine().digest();
    drop(durable);
    let (engine, report) = recover_ok(&config, false);
    assert_eq!((engine.digest(), report.last_lsn), (digest, record.lsn));
}

fn fixture_write() -> Operation {
    Operation::Adjust {
        sku: sku(5),
        location: "DC-1".to_owned(),
        delta: 4,
        reason: AdjustReason::Received,
        reference: String::new(),
    }
}

#[test]
fn a_bit_flip_in_the_last_record_with_nothing_after_it_is_a_torn_tail() {
    let fixture = build();
    let before_last = fixture.digest_at(fixture.last_lsn() - 1);
    let layout = last_segment(&fixture.config);
    let record = layout.records.last().unwrap().clone();
    // In the payload, in the checksum, in the LSN.
    for (at, bit) in [((record.offset + 16 + record.end) / 2, 3), (record.offset + 5, 0), (record.offset + 9, 6)] {
        let (_scratch, config) = fixture.copy();
        let path = config.wal_dir().join(layout.path.file_name().unwrap());
        flip_bit(&path, at, bit);
        let (engine, report) = recover_ok(&config, true);
        let torn = report.torn_tail.expect("a torn tail");
        assert_eq!((torn.path.as_path(), torn.offset), (path.as_path(), record.offset));
        assert_eq!(engine.digest(), before_last);
        assert_eq!(file_len(&path), record.offset);
    }
}

#[test]
fn a_bit_flip_followed_by_valid_records_refuses_naming_the_file_and_byte() {
    let fixture = build();
    let layout = log_layout(&fixture.config.wal_dir());
    let last = layout.last().unwrap();
    assert!(last.records.len() >= 3, "{last:#?}");
    // A middle record of the last segment: its payload, its length, its LSN.
    let middle = last.records[last.records.len() / 2].clone();
    for (at, bit) in [((middle.offset + 16 + middle.end) / 2, 1), (middle.offset + 1, 2), (middle.offset + 8, 0)] {
        let (_scratch, config) = fixture.copy();
        let path = config.wal_dir().join(last.path.file_name().unwrap());
        flip_bit(&path, at, bit);
        assert_refused_at(&config, &path, middle.offset);
    }
    // The last record of a segment that is not the last one: nothing follows it in
    // its file, but the next segment shows the log went on.
    let newest_covers = fixture.snapshots[1].1;
    let earlier = &layout[layout.len() - 2];
    let record = earlier.records.last().unwrap().clone();
    assert!(record.lsn > newest_covers);
    let (_scratch, config) = fixture.copy();
    let path = config.wal_dir().join(earlier.path.file_name().unwrap());
    flip_bit(&path, record.end - 1, 4);
    assert_refused_at(&config, &path, record.offset);
    // The same segment cut short: not a torn tail either.
    let (_scratch, config) = fixture.copy();
    let path = config.wal_dir().join(earlier.path.file_name().unwrap());
    truncate(&path, record.end - 2);
    assert_refused_at(&config, &path, record.offset);
    // A damaged segment header, in the last segment and in an earlier one.
    for segment in [last, earlier] {
        let (_scratch, config) = fixture.copy();
        let path = config.wal_dir().join(segment.path.file_name().unwrap());
        flip_bit(&path, 17, 0);
        assert_refused_at(&config, &path, 0);
    }
}

/// A way to damage a snapshot file.
type Damage = Box<dyn Fn(&Path)>;

#[test]
fn a_damaged_snapshot_is_skipped_for_an_older_one_with_the_same_final_state() {
    let fixture = build();
    let (newest, newest_covers) = fixture.snapshots[1].clone();
    let (older, older_covers) = fixture.snapshots[0].clone();
    let (_, undamaged) = recover_ok(&fixture.config, false);
    assert_eq!(undamaged.snapshot.as_ref().unwrap().0, newest);
    assert_eq!(undamaged.records_replayed, fixture.last_lsn() - newest_covers);
    let body = file_len(&newest) - SNAPSHOT_HEADER_BYTES as u64;
    let damages: [(&str, Damage); 5] = [
        ("a header bit", Box::new(|path: &Path| flip_bit(path, 20, 2))),
        ("a magic bit", Box::new(|path: &Path| flip_bit(path, 0, 0))),
        ("a body bit", Box::new(move |path: &Path| flip_bit(path, SNAPSHOT_HEADER_BYTES as u64 + body / 2, 5))),
        ("a cut body", Box::new(move |path: &Path| truncate(path, SNAPSHOT_HEADER_BYTES as u64 + body / 2))),
        ("a cut header", Box::new(|path: &Path| truncate(path, 40))),
    ];
    for (what, damage) in &damages {
        let (_scratch, config) = fixture.copy();
        let damaged = config.snapshot_dir.join(newest.file_name().unwrap());
        damage(&damaged);
        let (engine, report) = recover_ok(&config, false);
        assert_eq!(report.skipped_snapshots.len(), 1, "{what}: {report:?}");
        assert_eq!(report.skipped_snapshots[0].0, damaged, "{what}");
        let loaded = report.snapshot.as_ref().map(|(path, _)| path.file_name().unwrap().to_owned());
        assert_eq!(loaded.as_deref(), older.file_name(), "{what}: falls back to the older snapshot");
        assert_eq!(report.records_replayed, fixture.last_lsn() - older_covers, "{what}: a longer replay");
        assert_eq!(engine.digest(), fixture.final_digest(), "{what}: the same final state");
        assert!(report.torn_tail.is_none());
    }
    // Both snapshots damaged: the log before the older one is gone, so there is no
    // way to rebuild the acknowledged state: recovery refuses instead of starting
    // from an empty engine and a partial log.
    let (_scratch, config) = fixture.copy();
    for (path, _) in &fixture.snapshots {
        flip_bit(&config.snapshot_dir.join(path.file_name().unwrap()), SNAPSHOT_HEADER_BYTES as u64 + 3, 1);
    }
    match recover(&config, RecoveryTarget::default(), true) {
        Err(RecoveryError::Log(WalError::MissingRecords { from, to })) => {
            assert_eq!((from, to), (1, log_layout(&config.wal_dir())[0].first_lsn));
        }
        Err(other) => panic!("expected missing records, got {other}"),
        Ok((_, report)) => panic!("recovered without any usable snapshot: {report:?}"),
    }
}

#[test]
fn a_missing_segment_refuses_naming_the_missing_records() {
    let fixture = build();
    let newest_covers = fixture.snapshots[1].1;
    let layout = log_layout(&fixture.config.wal_dir());
    // A segment wholly after the newest snapshot, neither the first needed nor the last.
    let index = layout.iter().position(|s| s.first_lsn > newest_covers + 1).unwrap() + 1;
    assert!(index + 1 < layout.len(), "{layout:#?}");
    let (_scratch, config) = fixture.copy();
    std::fs::remove_file(config.wal_dir().join(layout[index].path.file_name().unwrap())).unwrap();
    match recover(&config, RecoveryTarget::default(), true) {
        Err(RecoveryError::Log(WalError::MissingRecords { from, to })) => {
            assert_eq!((from, to), (layout[index].first_lsn, layout[index + 1].first_lsn));
        }
        Err(other) => panic!("expected missing records, got {other}"),
        Ok((_, report)) => panic!("recovered over a missing segment: {report:?}"),
    }
    // The segment holding the first record after the newest snapshot.
    let (first_needed, _) = find_record(&layout, newest_covers + 1).unwrap();
    let (_scratch, config) = fixture.copy();
    std::fs::remove_file(config.wal_dir().join(layout[first_needed].path.file_name().unwrap())).unwrap();
    assert!(
        matches!(
            recover(&config, RecoveryTarget::default(), true),
            Err(RecoveryError::Log(WalError::MissingRecords { .. }))
        ),
        "recovered without the records right after the snapshot"
    );
}

#[test]
fn a_new_last_segment_with_a_torn_header_recovers() {
    let fixture = build();
    let next = fixture.last_lsn() + 1;
    for length in [0, 10, SEGMENT_HEADER_BYTES - 1] {
        let (_scratch, config) = fixture.copy();
        let path = config.wal_dir().join(segment_file_name(next));
        std::fs::write(&path, &segment_header(next)[..length]).unwrap();
        let (engine, report) = recover_ok(&config, false);
        let torn = report.torn_tail.clone().expect("a torn segment header");
        assert_eq!((torn.path.as_path(), torn.offset, torn.bytes_dropped), (path.as_path(), 0, length as u64));
        assert_eq!((engine.digest(), report.last_lsn), (fixture.final_digest(), fixture.last_lsn()));
        let (_, report) = recover_ok(&config, true);
        assert!(report.torn_tail.is_some());
        assert!(!path.exists(), "repair removes the empty segment");
        // The engine opens and logs on from there.
        let (durable, report) = DurableEngine::open(config.clone()).unwrap();
        assert!(report.torn_tail.is_none());
        durable.apply(&fixture_write(), Timestamp(1_800_000_000_000)).unwrap();
        let digest = durable.engine().digest();
        drop(durable);
        let (engine, report) = recover_ok(&config, false);
        assert_eq!((engine.digest(), report.last_lsn), (digest, next));
    }
    // A whole header and no record: an empty segment, not damage.
    let (_scratch, config) = fixture.copy();
    std::fs::write(config.wal_dir().join(segment_file_name(next)), segment_header(next)).unwrap();
    let (engine, report) = recover_ok(&config, false);
    assert!(report.torn_tail.is_none());
    assert_eq!(engine.digest(), fixture.final_digest());
}
