// Temporary profiling probe (not committed).
use stockd::storage::{DurableEngine, StorageConfig};
use stockd::wal::DurabilityMode;
use stockd::engine::{ReserveLine, ReserveRequest};
use stockd::model::*;
use stockd::{Operation, Timestamp};
fn main() {
    let dir = std::path::PathBuf::from(std::env::args().nth(1).unwrap());
    let config = StorageConfig { data_dir: dir.join("data"), snapshot_dir: dir.join("snapshots"), durability: DurabilityMode::Interval{ms:5}, snapshot_interval_ms:0, snapshot_every_records:0, ..StorageConfig::default() };
    let (d, _) = DurableEngine::open(config).unwrap();
    d.apply(&Operation::UpsertLocations((0..10).map(|i| LocationSpec{name:format!("L{i}"),kind:LocationKind::Store,coordinates:Coordinates{latitude:0.0,longitude:0.0},flags:LocationFlags::default(),priority:1}).collect()), Timestamp(1)).unwrap();
    let rows: Vec<PositionRow> = (0..1_000_000).map(|i| PositionRow{sku:format!("SKU-{:08}", i/10), location: format!("L{}", i%10), on_hand: 1_000_000, safety_stock:0, damaged:0, quality_control:0, backorder_limit:0}).collect();
    d.apply(&Operation::BulkLoad(rows), Timestamp(1)).unwrap();
    d.take_snapshot(Timestamp(2)).unwrap();
    for i in 0..500_000u64 {
        let k = (i * 2654435761) % 1_000_000;
        d.apply(&Operation::Reserve(ReserveRequest{id: format!("r{i}"), lines: vec![ReserveLine{sku: format!("SKU-{:08}", k/10), location: format!("L{}", k%10), quantity:1}], ttl_ms: 3_600_000, promise_by: None}), Timestamp(3)).unwrap();
    }
    d.wal().unwrap().sync().unwrap();
}
