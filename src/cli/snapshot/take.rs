//! `stockd snapshot take`.

use super::*;

#[derive(Serialize)]
pub(super) struct TakeOutput {
    pub(super) recovered_from: Option<String>,
    pub(super) records_replayed: u64,
    pub(super) path: String,
    pub(super) covers_lsn: u64,
    pub(super) complete_lsn: u64,
    pub(super) positions: u64,
    pub(super) reservations: u64,
    pub(super) bytes: u64,
    pub(super) copy_time_ms: f64,
    pub(super) total_time_ms: f64,
    pub(super) segments_deleted: usize,
}

pub(super) fn take(args: &TakeArgs) -> Result<bool, ToolError> {
    args.dirs.require_existing()?;
    let mut config = args.dirs.config();
    config.snapshots_retained = usize::from(args.keep);
    let spinner = progress::spinner("recovering");
    let (durable, report) = DurableEngine::open(config)?;
    spinner.set_message("writing the snapshot");
    let taken = durable.take_snapshot(Timestamp::now())?;
    drop(durable);
    drop(spinner);
    let result = TakeOutput {
        recovered_from: report.snapshot.as_ref().map(|(path, _)| path.display().to_string()),
        records_replayed: report.records_replayed,
        path: taken.path.display().to_string(),
        covers_lsn: taken.header.covers_lsn,
        complete_lsn: taken.header.complete_lsn,
        positions: taken.header.positions,
        reservations: taken.header.reservations,
        bytes: taken.header.body_bytes + stockd::snapshot::format::SNAPSHOT_HEADER_BYTES as u64,
        copy_time_ms: taken.copy_time.as_secs_f64() * 1e3,
        total_time_ms: taken.total_time.as_secs_f64() * 1e3,
        segments_deleted: taken.segments_deleted,
    };
    let mut out = output::stdout();
    if args.json {
        output::write_json(&mut out, &result)?;
    } else {
        writeln!(
            out,
            "recovered     from {}, {} log records replayed",
            result.recovered_from.as_deref().unwrap_or("no snapshot"),
            result.records_replayed
        )?;
        writeln!(out, "snapshot      {} ({})", result.path, output::bytes(result.bytes))?;
        writeln!(out, "covers LSN    {} (complete LSN {})", result.covers_lsn, result.complete_lsn)?;
        writeln!(out, "contents      {} positions, {} reservations", result.positions, result.reservations)?;
        writeln!(out, "copy time     {:.1?} (total {:.1?})", taken.copy_time, taken.total_time)?;
        writeln!(
            out,
            "retired       {} log segments (keeping the newest {} snapshots)",
            result.segments_deleted, args.keep
        )?;
    }
    out.flush()?;
    Ok(true)
}
