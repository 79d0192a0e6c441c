//! The log and snapshots rebuild exactly the state they recorded.

#[path = "support/mod.rs"]
mod support;

use stockd::model::{ChannelBuffer, ChannelSpec, LocationKind, PositionRow};
use stockd::storage::{recover, DurableEngine, RecoveryTarget, StorageConfig};
use stockd::wal::DurabilityMode;
use stockd::{Operation, Timestamp};
use support::{location, reserve};

/// The shared folders layout, with the default segment size.
fn config(dir: &std::path::Path, durability: DurabilityMode) -> StorageConfig {
    support::storage_config(dir, durability, StorageConfig::default().segment_bytes)
}

/// Writes a little of everything; returns the time reached.
fn write_history(durable: &DurableEngine) -> Timestamp {
    let t = Timestamp(1_000_000);
    let apply = |op: Operation, at: Timestamp| durable.apply(&op, at);
    apply(
        Operation::UpsertLocations(vec![
            location("STORE-1", LocationKind::Store),
            location("STORE-2", LocationKind::Store),
        ]),
        t,
    )
    .unwrap();
    apply(
        Operation::UpsertChannel(ChannelSpec {
            name: "web".into(),
            locations: vec!["STORE-1".into(), "STORE-2".into()],
            excluded: vec![],
            buffer: ChannelBuffer::Units(1),
        }),
        t,
    )
    .unwrap();
    let rows = (0..50)
        .flat_map(|sku| {
            ["STORE-1", "STORE-2"].map(|location| PositionRow {
                sku: format!("SKU-{sku}"),
                location: location.to_owned(),
                on_hand: 10 + sku,
                safety_stock: 1,
                damaged: 0,
                quality_control: 0,
                backorder_limit: 0,
            })
        })
        .collect();
    apply(Operation::BulkLoad(rows), t).unwrap();
    apply(Operation::DefineKit { kit: "KIT".into(), components: vec![("SKU-1".into(), 1), ("SKU-2".into(), 2)] }, t)
        .unwrap();
    for i in 0..20 {
        apply(reserve(&format!("r{i}"), &[(&format!("SKU-{i}"), "STORE-1", 2)], 60_000), t).unwrap();
    }
    apply(reserve("kit-order", &[("KIT", "STORE-2", 2)], 60_000), t).unwrap();
    apply(Operation::Commit { id: "r1".into() }, t).unwrap();
    apply(Operation::Fulfil { id: "r1".into(), partial: None }, t).unwrap();
    apply(Operation::Release { id: "r2".into(), partial: None }, t).unwrap();
    apply(
        Operation::Adjust {
            sku: "NEW-SKU".into(),
            location: "STORE-2".into(),
            delta: 5,
            reason: stockd::engine::AdjustReason::Received,
            reference: "ASN-1".into(),
        },
        t,
    )
    .unwrap();
    // The TTL of the other holds passes: they expire, and are logged as such.
    let later = Timestamp(t.0 + 120_000);
    apply(Operation::ExpireDue, later).unwrap();
    later
}

#[test]
fn log_replay_rebuilds_the_same_state() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), DurabilityMode::Always);
    let digest = {
        let (durable, report) = DurableEngine::open(config.clone()).unwrap();
        assert_eq!(report.records_replayed, 0);
        write_history(&durable);
        assert!(durable.engine().verify().is_clean());
        durable.engine().digest()
    };
    let (engine, report) = recover(&config, RecoveryTarget::default(), false).unwrap();
    assert!(report.records_replayed > 20, "replayed {}", report.records_replayed);
    assert_eq!(engine.digest(), digest);
    assert!(engine.verify().is_clean());
    // 21 holds (20 single-line, 1 kit), one fulfilled and one released before the sweep.
    assert_eq!(engine.stats().reservations_expired, 19);
}

#[test]
fn snapshot_plus_log_rebuilds_the_same_state_and_writes_continue_after_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), DurabilityMode::Interval { ms: 5 });
    let digest = {
        let (durable, _) = DurableEngine::open(config.clone()).unwrap();
        let later = write_history(&durable);
        let taken = durable.take_snapshot(later).unwrap();
        assert!(taken.header.positions >= 100);
        durable.apply(&reserve("after-snapshot", &[("SKU-40", "STORE-2", 3)], 60_000), later).unwrap();
        durable.wal().unwrap().sync().unwrap();
        durable.engine().digest()
    };
    let (durable, report) = DurableEngine::open(config.clone()).unwrap();
    assert!(report.snapshot.is_some());
    assert_eq!(report.records_replayed, 1, "only the reserve after the snapshot is replayed");
    assert_eq!(durable.engine().digest(), digest);
    durable.apply(&reserve("after-reopen", &[("SKU-41", "STORE-2", 1)], 60_000), Timestamp(2_000_000)).unwrap();
    let digest = durable.engine().digest();
    drop(durable);
    let (engine, _) = recover(&config, RecoveryTarget::default(), false).unwrap();
    assert_eq!(engine.digest(), digest);
}

#[test]
fn a_data_folder_is_opened_by_one_engine_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), DurabilityMode::Always);
    let (first, _) = DurableEngine::open(config.clone()).unwrap();
    let second = DurableEngine::open(config.clone());
    assert!(matches!(second, Err(stockd::storage::RecoveryError::Locked(_))), "a second open is refused");
    drop(first);
    assert!(DurableEngine::open(config).is_ok(), "the lock goes with the engine");
}

#[test]
fn a_snapshot_loads_the_same_straight_from_the_archive_and_through_a_full_deserialise() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), DurabilityMode::Interval { ms: 5 });
    let (durable, _) = DurableEngine::open(config.clone()).unwrap();
    let later = write_history(&durable);
    let incoming = Operation::AddIncoming {
        sku: "SKU-7".into(),
        location: "STORE-2".into(),
        reference: "PO-1".into(),
        quantity: 4,
        expected_at: Timestamp(later.0 + 1_000),
    };
    durable.apply(&incoming, later).unwrap();
    let taken = durable.take_snapshot(later).unwrap();
    let (digest, stats) = (durable.engine().digest(), durable.engine().stats());
    drop(durable);
    // The default shard count reads the archive's positions in place; one shard
    // sees them out of its order and takes the general path. Both rebuild the same.
    for stock_shards in [config.engine.stock_shards, 1] {
        let engine_config = stockd::EngineConfig { stock_shards, ..config.engine.clone() };
        let (engine, header) = stockd::snapshot::load_snapshot(&taken.path, engine_config).unwrap();
        assert_eq!(header, taken.header);
        assert_eq!(engine.digest(), digest, "{stock_shards} shards");
        assert_eq!(engine.stats().reservations_remembered, stats.reservations_remembered);
        assert_eq!(engine.stats().positions, stats.positions);
        assert!(engine.verify().findings.is_empty());
    }
}
