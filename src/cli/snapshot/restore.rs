//! `stockd snapshot restore`.

use super::*;

#[derive(Serialize)]
pub(super) struct RestoreOutput {
    pub(super) source_snapshot: Option<String>,
    pub(super) skipped_snapshots: Vec<String>,
    pub(super) records_replayed: u64,
    pub(super) lsn_reached: u64,
    pub(super) target_lsn: Option<u64>,
    pub(super) target_time_ms: Option<u64>,
    pub(super) torn_tail: Option<String>,
    pub(super) destination_data: String,
    pub(super) destination_snapshots: String,
    pub(super) snapshot: String,
    pub(super) positions: u64,
    pub(super) reservations: u64,
    /// The state's digest (`Engine::digest`), in hex.
    pub(super) digest: String,
}

pub(super) fn restore(args: &RestoreArgs) -> Result<bool, ToolError> {
    let to_snapshots = args.to_snapshots.clone().unwrap_or_else(|| args.to.join("snapshots"));
    for dir in [&args.to, &to_snapshots] {
        if dir.exists() && !dir.is_dir() {
            return Err(ToolError::Refused(format!("destination {} exists and is not a directory", dir.display())));
        }
        if !output::is_missing_or_empty(dir)? {
            return Err(ToolError::Refused(format!(
                "destination {} is not empty: restore only into a new or empty directory",
                dir.display()
            )));
        }
    }
    let config = args.dirs.config();
    let sources = [config.data_dir.clone(), config.wal_dir(), config.snapshot_dir.clone()];
    let same = |a: &Path, b: &Path| resolved(a) == resolved(b);
    for destination in [&args.to, &to_snapshots] {
        if let Some(source) = sources.iter().find(|source| same(destination, source)) {
            return Err(ToolError::Refused(format!(
                "destination {} is the source folder {}: restore into a new directory",
                destination.display(),
                source.display()
            )));
        }
    }
    args.dirs.require_existing()?;
    let target = RecoveryTarget { up_to_lsn: args.lsn, up_to_time: args.time.map(Timestamp) };
    let spinner = progress::spinner("recovering the source (read-only)");
    let (engine, report) = recover(&config, target, false)?;
    spinner.set_message("writing the destination");
    let image = engine.export_image();
    let wal_dir = args.to.join("wal");
    std::fs::create_dir_all(&wal_dir).map_err(ToolError::io(&wal_dir))?;
    let lsn = report.last_lsn;
    let (path, header) = write_snapshot(&to_snapshots, &image, lsn, lsn, Timestamp::now().millis())?;
    drop(image);
    spinner.set_message("computing the digest");
    let digest = engine.digest();
    drop(spinner);
    let result = RestoreOutput {
        source_snapshot: report.snapshot.as_ref().map(|(path, _)| path.display().to_string()),
        skipped_snapshots: report.skipped_snapshots.iter().map(|(p, why)| format!("{}: {why}", p.display())).collect(),
        records_replayed: report.records_replayed,
        lsn_reached: lsn,
        target_lsn: args.lsn,
        target_time_ms: args.time,
        torn_tail: report.torn_tail.as_ref().map(|t| format!("{} at byte {}", t.path.display(), t.offset)),
        destination_data: args.to.display().to_string(),
        destination_snapshots: to_snapshots.display().to_string(),
        snapshot: path.display().to_string(),
        positions: header.positions,
        reservations: header.reservations,
        digest: format!("{digest:016x}"),
    };
    let mut out = output::stdout();
    if args.json {
        output::write_json(&mut out, &result)?;
    } else {
        let target = match (args.lsn, args.time) {
            (Some(lsn), _) => format!("LSN {lsn}"),
            (None, Some(ms)) => format!("time {} ({ms} ms)", output::utc(ms)),
            (None, None) => "the end of the log".to_owned(),
        };
        writeln!(out, "target        {target}")?;
        writeln!(out, "source        {}", result.source_snapshot.as_deref().unwrap_or("no snapshot (log from LSN 1)"))?;
        for skipped in &result.skipped_snapshots {
            writeln!(out, "skipped       {skipped}")?;
        }
        writeln!(out, "replayed      {} log records", result.records_replayed)?;
        writeln!(out, "LSN reached   {}", result.lsn_reached)?;
        if let Some(torn) = &result.torn_tail {
            writeln!(out, "torn tail     {torn} (ignored)")?;
        }
        writeln!(
            out,
            "snapshot      {} ({} positions, {} reservations)",
            result.snapshot, header.positions, header.reservations
        )?;
        writeln!(out, "log           {} (empty; new writes start at LSN {})", wal_dir.display(), lsn + 1)?;
        writeln!(out, "digest        {}", result.digest)?;
        writeln!(out, "start it with --data {} --snapshots {}", result.destination_data, result.destination_snapshots)?;
    }
    out.flush()?;
    if args.lsn.is_some_and(|wanted| wanted > lsn) {
        eprintln!("note: the log ends at LSN {lsn}, before the target LSN");
    }
    Ok(true)
}

/// A path made absolute and free of `.`/`..`/links where it (or its parent) exists,
/// so that two spellings of one folder compare equal.
pub(super) fn resolved(path: &Path) -> PathBuf {
    if let Ok(path) = std::fs::canonicalize(path) {
        return path;
    }
    let parent = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    match (std::fs::canonicalize(parent), path.file_name()) {
        (Ok(parent), Some(name)) => parent.join(name),
        _ => path.to_owned(),
    }
}
