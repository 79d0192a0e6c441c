// Temporary profiling probe (not committed).
#[global_allocator] static G: mimalloc::MiMalloc = mimalloc::MiMalloc;
use stockd::storage::{recover, RecoveryTarget, StorageConfig};
use stockd::wal::DurabilityMode;
fn main() {
    let dir = std::path::PathBuf::from(std::env::args().nth(1).unwrap());
    let config = StorageConfig { data_dir: dir.join("data"), snapshot_dir: dir.join("snapshots"), durability: DurabilityMode::Always, ..StorageConfig::default() };
    decode_only(&dir);
    for _ in 0..3 {
        let t = std::time::Instant::now();
        let (_e, r) = recover(&config, RecoveryTarget::default(), false).unwrap();
        eprintln!("{} records in {:?}", r.records_replayed, t.elapsed());
    }
}
#[allow(dead_code)]
fn decode_only(dir: &std::path::Path) {
    let t = std::time::Instant::now();
    let mut n = 0;
    stockd::wal::read_log(&dir.join("data/wal"), 1, false, |_, p, _, _| { let _e: stockd::engine::LogEntry = stockd::codec::decode(p).unwrap(); n += 1; Ok(stockd::wal::Visit::Continue) }).unwrap();
    eprintln!("decode only: {n} in {:?}", t.elapsed());
}
