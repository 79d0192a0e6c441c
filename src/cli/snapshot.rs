//! `stockd snapshot ...`: list, verify, inspect, take, restore, export and import.
//!
//! Only `take` and `import` write to the folders they are pointed at (both through a
//! `DurableEngine`, so what they do is logged like any other write); `restore`
//! writes only into a new, empty destination; everything else reads.

use super::output::{self, Align, DirArgs, Out, Table, ToolError};
use super::progress;
use serde::Serialize;
use std::collections::HashMap;
use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use stockd::engine::{BulkLoadOutcome, EngineImage, ReservationState};
use stockd::limits::{MAX_BULK_ROWS, MAX_QUANTITY};
use stockd::model::{Position, PositionRow};
use stockd::snapshot::format::load_image;
use stockd::snapshot::{list_snapshots, read_header, write_snapshot, SnapshotHeader};
use stockd::storage::{recover, ApplyError, DurableEngine, RecoveryTarget};
use stockd::{Engine, EngineConfig, EngineError, Operation, Outcome, Timestamp};

#[derive(clap::Subcommand)]
pub enum SnapshotCommand {
    /// List the snapshots, newest first, with what their headers say.
    ///
    /// Only the headers are read; `verify` checks the bodies.
    List(ListArgs),
    /// Check a snapshot file, or the whole recovery path; exit 1 on any problem.
    ///
    /// With FILE: its header, body checksum, archive validation, that it loads (every
    /// id resolves) and the engine invariants. Without FILE: recovery as the engine
    /// would do it (the newest valid snapshot, then the log after it), read-only, then
    /// the invariants; snapshots skipped as damaged count as problems, a torn final
    /// log record (the leftover of a crash) is reported as a warning.
    Verify(VerifyArgs),
    /// Summarise a snapshot file, or show every position of one SKU in it.
    ///
    /// The summary: LSNs, counts of SKUs, positions and reservations by state,
    /// locations, channels and kits.
    Inspect(InspectArgs),
    /// Take a snapshot now, offline (taking one online comes with the network server).
    ///
    /// Recovers the engine from the folders (newest snapshot + log, cutting off a torn
    /// final record), writes a snapshot, then retires snapshots beyond --keep and the
    /// log segments only they needed. Do not run it while a server has the folders
    /// open: taking snapshots online (on demand, periodically and at shutdown) comes
    /// with the network server.
    Take(TakeArgs),
    /// Restore a point in time into a new data directory; the source is not changed.
    ///
    /// Recovers the source read-only up to --lsn or --time, writes the result as the
    /// destination's only snapshot (covering the last LSN replayed) and creates an
    /// empty log after it. An engine opened on the destination starts from there.
    Restore(RestoreArgs),
    /// Write every position of a snapshot file as CSV or JSON Lines (names, not ids).
    Export(ExportArgs),
    /// Bulk-load position rows from a CSV file, as one logged bulk load.
    ///
    /// Header: `sku,location,on_hand` and optionally `safety_stock`, `damaged`,
    /// `quality_control`, `backorder_limit` (0 when missing or empty). The `reserved`,
    /// `available_to_sell` and `version` columns of an export are accepted and ignored.
    /// The whole file is checked first: a malformed line refuses the import, naming
    /// the line, and changes nothing. Exits 1 if the engine rejected any row (a
    /// position with more reserved than the row allows); the other rows are loaded.
    Import(ImportArgs),
}

#[derive(clap::Args)]
pub struct ListArgs {
    /// The snapshot directory.
    #[arg(long = "snapshots", value_name = "DIR", default_value = "snapshots")]
    snapshots: PathBuf,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
pub struct VerifyArgs {
    /// A snapshot file to check on its own.
    file: Option<PathBuf>,
    #[command(flatten)]
    dirs: DirArgs,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
pub struct InspectArgs {
    /// The snapshot file.
    file: PathBuf,
    /// Show every position of this SKU instead of the summary.
    #[arg(long, value_name = "SKU")]
    sku: Option<String>,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
pub struct TakeArgs {
    #[command(flatten)]
    dirs: DirArgs,
    /// Snapshots to keep; older ones, and the log segments only they needed, are deleted.
    #[arg(long, value_name = "N", default_value_t = 3, value_parser = clap::value_parser!(u16).range(1..))]
    keep: u16,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
pub struct RestoreArgs {
    /// The source folders (read, never changed).
    #[command(flatten)]
    dirs: DirArgs,
    /// The new data directory (must be missing or empty); gets an empty `wal/`.
    #[arg(long = "to", value_name = "NEW_DATA_DIR")]
    to: PathBuf,
    /// The new snapshot directory (must be missing or empty) [default: NEW_DATA_DIR/snapshots].
    #[arg(long = "to-snapshots", value_name = "DIR")]
    to_snapshots: Option<PathBuf>,
    /// Replay no record after this LSN.
    #[arg(long, value_name = "N", conflicts_with = "time")]
    lsn: Option<u64>,
    /// Replay no change made after this time (milliseconds since the Unix epoch).
    #[arg(long, value_name = "MS")]
    time: Option<u64>,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExportFormat {
    Csv,
    Jsonl,
}

#[derive(clap::Args)]
pub struct ExportArgs {
    /// The snapshot file.
    file: PathBuf,
    #[arg(long, value_enum)]
    format: ExportFormat,
    /// Write here instead of stdout (replaced if it exists).
    #[arg(long, value_name = "PATH")]
    out: Option<PathBuf>,
}

#[derive(clap::Args)]
pub struct ImportArgs {
    /// The CSV file of position rows.
    csv: PathBuf,
    #[command(flatten)]
    dirs: DirArgs,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

pub fn run(command: SnapshotCommand) -> ExitCode {
    output::finish(match command {
        SnapshotCommand::List(args) => list(&args),
        SnapshotCommand::Verify(args) => verify(&args),
        SnapshotCommand::Inspect(args) => inspect(&args),
        SnapshotCommand::Take(args) => take(&args),
        SnapshotCommand::Restore(args) => restore(&args),
        SnapshotCommand::Export(args) => export(&args),
        SnapshotCommand::Import(args) => import(&args),
    })
}

// ---------------------------------------------------------------------------- list

#[derive(Serialize)]
struct ListedSnapshot {
    file: String,
    path: String,
    bytes: u64,
    ok: bool,
    /// `ok`, or why the header cannot be read.
    status: String,
    covers_lsn: Option<u64>,
    complete_lsn: Option<u64>,
    created_at_ms: Option<u64>,
    created: Option<String>,
    positions: Option<u64>,
    reservations: Option<u64>,
}

fn list(args: &ListArgs) -> Result<bool, ToolError> {
    if !args.snapshots.is_dir() {
        return Err(ToolError::Refused(format!("snapshot directory {} does not exist", args.snapshots.display())));
    }
    let listed: Vec<ListedSnapshot> = list_snapshots(&args.snapshots)?
        .into_iter()
        .map(|file| {
            let header = file.header.as_ref().ok();
            ListedSnapshot {
                file: output::file_name(&file.path),
                path: file.path.display().to_string(),
                bytes: file.bytes,
                ok: header.is_some(),
                status: file.header.as_ref().err().map_or_else(|| "ok".to_owned(), Clone::clone),
                covers_lsn: header.map(|h| h.covers_lsn),
                complete_lsn: header.map(|h| h.complete_lsn),
                created_at_ms: header.map(|h| h.created_at_ms),
                created: header.map(|h| output::utc(h.created_at_ms)),
                positions: header.map(|h| h.positions),
                reservations: header.map(|h| h.reservations),
            }
        })
        .collect();
    let mut out = output::stdout();
    if args.json {
        output::write_json(&mut out, &listed)?;
    } else if listed.is_empty() {
        writeln!(out, "no snapshots in {}", args.snapshots.display())?;
    } else {
        let mut table = Table::new(&[
            ("file", Align::Left),
            ("covers LSN", Align::Right),
            ("complete LSN", Align::Right),
            ("created (UTC)", Align::Left),
            ("size", Align::Right),
            ("positions", Align::Right),
            ("reservations", Align::Right),
            ("status", Align::Left),
        ]);
        let or_dash = |value: Option<u64>| value.map_or_else(|| "-".to_owned(), |v| v.to_string());
        for snapshot in &listed {
            table.row(vec![
                snapshot.file.clone(),
                or_dash(snapshot.covers_lsn),
                or_dash(snapshot.complete_lsn),
                snapshot.created.as_deref().map_or("-", |c| c.trim_end_matches(" UTC")).to_owned(),
                output::bytes(snapshot.bytes),
                or_dash(snapshot.positions),
                or_dash(snapshot.reservations),
                snapshot.status.clone(),
            ]);
        }
        table.write(&mut out)?;
    }
    out.flush()?;
    Ok(true)
}

// -------------------------------------------------------------------------- verify

#[derive(Serialize)]
struct Check {
    check: &'static str,
    ok: bool,
    detail: String,
}

#[derive(Serialize)]
struct VerifyOutput {
    /// The snapshot file, or `recovery` for the whole recovery path.
    target: String,
    ok: bool,
    checks: Vec<Check>,
    warnings: Vec<String>,
    findings_total: u64,
    findings: Vec<String>,
}

impl VerifyOutput {
    fn new(target: String) -> VerifyOutput {
        VerifyOutput {
            target,
            ok: true,
            checks: Vec::new(),
            warnings: Vec::new(),
            findings_total: 0,
            findings: Vec::new(),
        }
    }

    fn pass(&mut self, check: &'static str, detail: String) {
        self.checks.push(Check { check, ok: true, detail });
    }

    fn fail(&mut self, check: &'static str, detail: String) {
        self.ok = false;
        self.checks.push(Check { check, ok: false, detail });
    }

    fn invariants(&mut self, engine: &Engine) {
        let report = engine.verify();
        let checked = format!("{} positions, {} reservations", report.positions_checked, report.reservations_checked);
        if report.is_clean() {
            self.pass("invariants", format!("{checked} checked: every invariant holds"));
        } else {
            self.fail("invariants", format!("{checked} checked: {} finding(s)", report.findings_total));
        }
        self.findings_total = report.findings_total;
        self.findings = report.findings.iter().map(|finding| format!("{finding:?}")).collect();
    }

    fn write(&self, out: &mut Out) -> Result<(), ToolError> {
        writeln!(out, "verifying {}", self.target)?;
        for check in &self.checks {
            writeln!(out, "  {:<12} {:<6}  {}", check.check, if check.ok { "ok" } else { "FAILED" }, check.detail)?;
        }
        for finding in &self.findings {
            writeln!(out, "  finding: {finding}")?;
        }
        if self.findings_total > self.findings.len() as u64 {
            writeln!(out, "  ... and {} more findings", self.findings_total - self.findings.len() as u64)?;
        }
        for warning in &self.warnings {
            writeln!(out, "  warning: {warning}")?;
        }
        writeln!(out, "{}", if self.ok { "result: ok" } else { "result: PROBLEMS FOUND" })?;
        Ok(())
    }
}

fn verify(args: &VerifyArgs) -> Result<bool, ToolError> {
    let report = match &args.file {
        Some(file) => verify_file(file),
        None => verify_recovery(&args.dirs)?,
    };
    let mut out = output::stdout();
    if args.json {
        output::write_json(&mut out, &report)?;
    } else {
        report.write(&mut out)?;
    }
    out.flush()?;
    Ok(report.ok)
}

fn describe_header(header: &SnapshotHeader) -> String {
    format!(
        "covers LSN {}, complete LSN {}, created {}, {} positions, {} reservations",
        header.covers_lsn,
        header.complete_lsn,
        output::utc(header.created_at_ms),
        header.positions,
        header.reservations
    )
}

fn describe_image(image: &EngineImage) -> String {
    format!(
        "{} SKUs, {} locations, {} channels, {} kits",
        image.sku_names.len(),
        image.locations.len(),
        image.channels.len(),
        image.kits.len()
    )
}

fn verify_file(path: &Path) -> VerifyOutput {
    let mut report = VerifyOutput::new(path.display().to_string());
    let spinner = progress::spinner(format!("checking {}", path.display()));
    match read_header(path) {
        Ok(header) => report.pass("header", describe_header(&header)),
        Err(error) => {
            report.fail("header", error.to_string());
            return report;
        }
    }
    spinner.set_message("reading and validating the body");
    let (image, header) = match load_image(path) {
        Ok(loaded) => loaded,
        Err(error) => {
            report.fail("body", error.to_string());
            return report;
        }
    };
    report.pass("body", format!("{}: checksum matches, archive valid", output::bytes(header.body_bytes)));
    let counted = (image.positions.len() as u64, image.reservations.len() as u64);
    if counted == (header.positions, header.reservations) {
        report.pass("counts", format!("{} positions and {} reservations, as the header says", counted.0, counted.1));
    } else {
        report.fail(
            "counts",
            format!(
                "the body holds {} positions and {} reservations, the header says {} and {}",
                counted.0, counted.1, header.positions, header.reservations
            ),
        );
    }
    let described = describe_image(&image);
    spinner.set_message("loading the engine");
    let engine = match Engine::from_image(EngineConfig::default(), image) {
        Ok(engine) => engine,
        Err(error) => {
            report.fail("load", format!("the archive holds an inconsistent state: {error}"));
            return report;
        }
    };
    report.pass("load", format!("{described}; every id resolves"));
    spinner.set_message("checking the invariants");
    report.invariants(&engine);
    report
}

fn verify_recovery(dirs: &DirArgs) -> Result<VerifyOutput, ToolError> {
    dirs.require_existing()?;
    let config = dirs.config();
    let mut report = VerifyOutput::new(format!(
        "recovery from {} and {} (read-only)",
        dirs.snapshots.display(),
        config.wal_dir().display()
    ));
    let spinner = progress::spinner("recovering (read-only)");
    let (engine, recovery) = match recover(&config, RecoveryTarget::default(), false) {
        Ok(recovered) => recovered,
        Err(error) => {
            report.fail("recovery", error.to_string());
            return Ok(report);
        }
    };
    for (path, reason) in &recovery.skipped_snapshots {
        report.fail("snapshot", format!("skipped {}: {reason}", path.display()));
    }
    match &recovery.snapshot {
        Some((path, header)) => report.pass("snapshot", format!("{}: {}", path.display(), describe_header(header))),
        None => report.pass("snapshot", "none loaded: the log is replayed from its start".to_owned()),
    }
    report.pass(
        "log",
        format!("replayed {} records; the state reflects LSN {}", recovery.records_replayed, recovery.last_lsn),
    );
    if let Some(torn) = &recovery.torn_tail {
        report.warnings.push(format!(
            "torn final record in {} at byte {} ({} bytes): the leftover of a crash mid-write, never acknowledged; \
             cut off when the engine next opens",
            torn.path.display(),
            torn.offset,
            torn.bytes_dropped
        ));
    }
    let stats = engine.stats();
    report.pass(
        "state",
        format!(
            "{} SKUs, {} positions, {} reservations, {} locations, {} channels, {} kits",
            stats.skus, stats.positions, stats.reservations_remembered, stats.locations, stats.channels, stats.kits
        ),
    );
    spinner.set_message("checking the invariants");
    report.invariants(&engine);
    Ok(report)
}

// ------------------------------------------------------------------------- inspect

#[derive(Serialize)]
struct ReservationCounts {
    total: u64,
    held: u64,
    committed: u64,
    fulfilled: u64,
    released: u64,
    expired: u64,
}

#[derive(Serialize)]
struct LocationSummary {
    name: String,
    kind: String,
}

#[derive(Serialize)]
struct ChannelSummary {
    name: String,
    locations: usize,
    buffer: String,
}

#[derive(Serialize)]
struct KitPart {
    sku: String,
    quantity: u32,
}

#[derive(Serialize)]
struct KitSummary {
    sku: String,
    components: Vec<KitPart>,
}

#[derive(Serialize)]
struct InspectSummary {
    file: String,
    bytes: u64,
    covers_lsn: u64,
    complete_lsn: u64,
    created_at_ms: u64,
    created: String,
    skus: u64,
    positions: u64,
    units_on_hand: u64,
    units_reserved: u64,
    reservations: ReservationCounts,
    locations: Vec<LocationSummary>,
    channels: Vec<ChannelSummary>,
    kits: Vec<KitSummary>,
}

#[derive(Serialize)]
struct IncomingOut {
    reference: String,
    quantity: u32,
    expected_at_ms: u64,
}

#[derive(Serialize)]
struct PositionOut {
    location: String,
    on_hand: u32,
    reserved: u32,
    safety_stock: u32,
    damaged: u32,
    quality_control: u32,
    backorder_limit: u32,
    incoming_total: i64,
    available_to_sell: u32,
    version: u64,
    incoming: Vec<IncomingOut>,
}

#[derive(Serialize)]
struct SkuPositions {
    file: String,
    covers_lsn: u64,
    sku: String,
    /// The components, when the SKU is a kit (kits have no positions of their own).
    kit: Option<Vec<KitPart>>,
    positions: Vec<PositionOut>,
}

/// Names for the ids of one image.
struct ImageNames<'a>(&'a EngineImage);

impl ImageNames<'_> {
    fn sku(&self, id: stockd::model::SkuId) -> String {
        self.0.sku_names.get(id.index()).cloned().unwrap_or_else(|| format!("sku#{}", id.0))
    }

    fn location(&self, id: stockd::model::LocationId) -> String {
        self.0.locations.get(id.index()).map_or_else(|| format!("location#{}", id.0), |l| l.name.clone())
    }

    fn kit_parts(&self, kit: &stockd::model::Kit) -> Vec<KitPart> {
        kit.components.iter().map(|c| KitPart { sku: self.sku(c.sku), quantity: c.quantity }).collect()
    }
}

fn describe_parts(parts: &[KitPart]) -> String {
    parts.iter().map(|p| format!("{} x{}", p.sku, p.quantity)).collect::<Vec<_>>().join(" + ")
}

fn load_with_spinner(path: &Path) -> Result<(EngineImage, SnapshotHeader), ToolError> {
    let _spinner = progress::spinner(format!("loading {}", path.display()));
    Ok(load_image(path)?)
}

fn inspect(args: &InspectArgs) -> Result<bool, ToolError> {
    let (image, header) = load_with_spinner(&args.file)?;
    let names = ImageNames(&image);
    let mut out = output::stdout();
    match &args.sku {
        Some(sku) => inspect_sku(&args.file, &image, &header, &names, sku, args.json, &mut out)?,
        None => {
            let summary = summarise(&args.file, &image, &header, &names);
            if args.json {
                output::write_json(&mut out, &summary)?;
            } else {
                write_summary(&summary, &mut out)?;
            }
        }
    }
    out.flush()?;
    Ok(true)
}

fn summarise(path: &Path, image: &EngineImage, header: &SnapshotHeader, names: &ImageNames) -> InspectSummary {
    let mut reservations = ReservationCounts { total: 0, held: 0, committed: 0, fulfilled: 0, released: 0, expired: 0 };
    for reservation in &image.reservations {
        reservations.total += 1;
        *match reservation.state {
            ReservationState::Held => &mut reservations.held,
            ReservationState::Committed => &mut reservations.committed,
            ReservationState::Fulfilled => &mut reservations.fulfilled,
            ReservationState::Released => &mut reservations.released,
            ReservationState::Expired => &mut reservations.expired,
        } += 1;
    }
    InspectSummary {
        file: path.display().to_string(),
        bytes: header.body_bytes + stockd::snapshot::format::SNAPSHOT_HEADER_BYTES as u64,
        covers_lsn: header.covers_lsn,
        complete_lsn: header.complete_lsn,
        created_at_ms: header.created_at_ms,
        created: output::utc(header.created_at_ms),
        skus: image.sku_names.len() as u64,
        positions: image.positions.len() as u64,
        units_on_hand: image.positions.iter().map(|p| u64::from(p.position.on_hand)).sum(),
        units_reserved: image.positions.iter().map(|p| u64::from(p.position.reserved)).sum(),
        reservations,
        locations: image
            .locations
            .iter()
            .map(|l| LocationSummary { name: l.name.clone(), kind: format!("{:?}", l.kind) })
            .collect(),
        channels: image
            .channels
            .iter()
            .map(|c| ChannelSummary {
                name: c.name.clone(),
                locations: c.locations.len(),
                buffer: format!("{:?}", c.buffer),
            })
            .collect(),
        kits: image.kits.iter().map(|k| KitSummary { sku: names.sku(k.sku), components: names.kit_parts(k) }).collect(),
    }
}

fn write_summary(summary: &InspectSummary, out: &mut Out) -> Result<(), ToolError> {
    const SHOWN: usize = 20;
    let r = &summary.reservations;
    writeln!(out, "snapshot      {} ({})", summary.file, output::bytes(summary.bytes))?;
    writeln!(out, "covers LSN    {} (complete LSN {})", summary.covers_lsn, summary.complete_lsn)?;
    writeln!(out, "created       {}", summary.created)?;
    writeln!(out, "SKUs          {} ({} kits)", summary.skus, summary.kits.len())?;
    writeln!(
        out,
        "positions     {}: {} units on hand, {} reserved",
        summary.positions, summary.units_on_hand, summary.units_reserved
    )?;
    writeln!(
        out,
        "reservations  {}: {} held, {} committed, {} fulfilled, {} released, {} expired",
        r.total, r.held, r.committed, r.fulfilled, r.released, r.expired
    )?;
    let locations: Vec<String> = summary.locations.iter().map(|l| format!("{} ({})", l.name, l.kind)).collect();
    writeln!(out, "locations     {}: {}", locations.len(), output::some_of(&locations, SHOWN))?;
    let channels: Vec<String> = summary
        .channels
        .iter()
        .map(|c| format!("{} ({} locations, buffer {})", c.name, c.locations, c.buffer))
        .collect();
    writeln!(out, "channels      {}: {}", channels.len(), output::some_of(&channels, SHOWN))?;
    let kits: Vec<String> =
        summary.kits.iter().map(|k| format!("{} = {}", k.sku, describe_parts(&k.components))).collect();
    writeln!(out, "kits          {}: {}", kits.len(), output::some_of(&kits, SHOWN))?;
    Ok(())
}

fn position_out(location: String, position: &Position) -> PositionOut {
    PositionOut {
        location,
        on_hand: position.on_hand,
        reserved: position.reserved,
        safety_stock: position.safety_stock,
        damaged: position.damaged,
        quality_control: position.quality_control,
        backorder_limit: position.backorder_limit,
        incoming_total: position.incoming_total(),
        available_to_sell: position.available_to_sell(),
        version: position.version,
        incoming: position
            .incoming_lines()
            .iter()
            .map(|s| IncomingOut {
                reference: s.reference.to_string(),
                quantity: s.quantity,
                expected_at_ms: s.expected_at.0,
            })
            .collect(),
    }
}

fn inspect_sku(
    path: &Path,
    image: &EngineImage,
    header: &SnapshotHeader,
    names: &ImageNames,
    sku: &str,
    json: bool,
    out: &mut Out,
) -> Result<(), ToolError> {
    let Some(index) = image.sku_names.iter().position(|name| name == sku) else {
        return Err(ToolError::Refused(format!("SKU {sku:?} is not in {}", path.display())));
    };
    let kit = image.kits.iter().find(|k| k.sku.index() == index).map(|k| names.kit_parts(k));
    let mut positions: Vec<PositionOut> = image
        .positions
        .iter()
        .filter(|p| p.sku.index() == index)
        .map(|p| position_out(names.location(p.location), &p.position))
        .collect();
    positions.sort_by(|a, b| a.location.cmp(&b.location));
    let view = SkuPositions {
        file: path.display().to_string(),
        covers_lsn: header.covers_lsn,
        sku: sku.to_owned(),
        kit,
        positions,
    };
    if json {
        return output::write_json(out, &view);
    }
    if let Some(parts) = &view.kit {
        writeln!(out, "{sku} is a kit: {} (kits have no positions of their own)", describe_parts(parts))?;
    }
    let sum = |field: fn(&PositionOut) -> u64| view.positions.iter().map(field).sum::<u64>();
    writeln!(
        out,
        "{sku} in {} (covers LSN {}): {} positions, {} on hand, {} reserved, {} available to sell",
        view.file,
        view.covers_lsn,
        view.positions.len(),
        sum(|p| u64::from(p.on_hand)),
        sum(|p| u64::from(p.reserved)),
        sum(|p| u64::from(p.available_to_sell)),
    )?;
    if view.positions.is_empty() {
        return Ok(());
    }
    let mut table = Table::new(&[
        ("location", Align::Left),
        ("on_hand", Align::Right),
        ("reserved", Align::Right),
        ("safety", Align::Right),
        ("damaged", Align::Right),
        ("qc", Align::Right),
        ("backorder", Align::Right),
        ("incoming", Align::Right),
        ("ATS", Align::Right),
        ("version", Align::Right),
    ]);
    for p in &view.positions {
        table.row(vec![
            p.location.clone(),
            p.on_hand.to_string(),
            p.reserved.to_string(),
            p.safety_stock.to_string(),
            p.damaged.to_string(),
            p.quality_control.to_string(),
            p.backorder_limit.to_string(),
            p.incoming_total.to_string(),
            p.available_to_sell.to_string(),
            p.version.to_string(),
        ]);
    }
    table.write(out)?;
    Ok(())
}

// ---------------------------------------------------------------------------- take

#[derive(Serialize)]
struct TakeOutput {
    recovered_from: Option<String>,
    records_replayed: u64,
    path: String,
    covers_lsn: u64,
    complete_lsn: u64,
    positions: u64,
    reservations: u64,
    bytes: u64,
    copy_time_ms: f64,
    total_time_ms: f64,
    segments_deleted: usize,
}

fn take(args: &TakeArgs) -> Result<bool, ToolError> {
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

// ------------------------------------------------------------------------- restore

#[derive(Serialize)]
struct RestoreOutput {
    source_snapshot: Option<String>,
    skipped_snapshots: Vec<String>,
    records_replayed: u64,
    lsn_reached: u64,
    target_lsn: Option<u64>,
    target_time_ms: Option<u64>,
    torn_tail: Option<String>,
    destination_data: String,
    destination_snapshots: String,
    snapshot: String,
    positions: u64,
    reservations: u64,
    /// The state's digest (`Engine::digest`), in hex.
    digest: String,
}

fn restore(args: &RestoreArgs) -> Result<bool, ToolError> {
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
fn resolved(path: &Path) -> PathBuf {
    if let Ok(path) = std::fs::canonicalize(path) {
        return path;
    }
    let parent = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    match (std::fs::canonicalize(parent), path.file_name()) {
        (Ok(parent), Some(name)) => parent.join(name),
        _ => path.to_owned(),
    }
}

// -------------------------------------------------------------------------- export

#[derive(Serialize)]
struct ExportRow<'a> {
    sku: &'a str,
    location: &'a str,
    on_hand: u32,
    reserved: u32,
    safety_stock: u32,
    damaged: u32,
    quality_control: u32,
    backorder_limit: u32,
    available_to_sell: u32,
    version: u64,
}

fn export_row<'a>(&(sku, location, p): &(&'a str, &'a str, &Position)) -> ExportRow<'a> {
    ExportRow {
        sku,
        location,
        on_hand: p.on_hand,
        reserved: p.reserved,
        safety_stock: p.safety_stock,
        damaged: p.damaged,
        quality_control: p.quality_control,
        backorder_limit: p.backorder_limit,
        available_to_sell: p.available_to_sell(),
        version: p.version,
    }
}

fn export(args: &ExportArgs) -> Result<bool, ToolError> {
    if let Some(out) = &args.out {
        let same =
            std::fs::canonicalize(out).ok().zip(std::fs::canonicalize(&args.file).ok()).is_some_and(|(a, b)| a == b);
        if same {
            return Err(ToolError::Refused("--out names the snapshot being exported".to_owned()));
        }
    }
    let (image, _) = load_with_spinner(&args.file)?;
    let sorting = progress::spinner("sorting positions");
    let mut rows: Vec<(&str, &str, &Position)> = image
        .positions
        .iter()
        .map(|p| {
            let sku = image.sku_names.get(p.sku.index()).map_or("?", String::as_str);
            let location = image.locations.get(p.location.index()).map_or("?", |l| l.name.as_str());
            (sku, location, &p.position)
        })
        .collect();
    rows.sort_unstable_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
    drop(sorting);
    let writer: Box<dyn Write> = match &args.out {
        Some(path) => Box::new(BufWriter::new(File::create(path).map_err(ToolError::io(path))?)),
        None => Box::new(output::stdout()),
    };
    let bar = progress::streaming_bar(rows.len() as u64, "exporting", args.out.is_none());
    let written_to = |error: std::io::Error| match &args.out {
        Some(path) => ToolError::Io { path: path.clone(), source: error },
        None => ToolError::Output(error),
    };
    match args.format {
        ExportFormat::Csv => {
            let mut csv = csv::Writer::from_writer(writer);
            for (index, entry) in rows.iter().enumerate() {
                csv.serialize(export_row(entry)).map_err(|error| written_to(error.into()))?;
                if index % 4096 == 0 {
                    bar.set_position(index as u64);
                }
            }
            csv.flush().map_err(written_to)?;
        }
        ExportFormat::Jsonl => {
            let mut writer = writer;
            for (index, entry) in rows.iter().enumerate() {
                serde_json::to_writer(&mut writer, &export_row(entry)).map_err(|error| written_to(error.into()))?;
                writer.write_all(b"\n").map_err(written_to)?;
                if index % 4096 == 0 {
                    bar.set_position(index as u64);
                }
            }
            writer.flush().map_err(written_to)?;
        }
    }
    drop(bar);
    if let Some(path) = &args.out {
        eprintln!("exported {} positions to {}", rows.len(), path.display());
    }
    Ok(true)
}

// -------------------------------------------------------------------------- import

/// The columns a row is made of, in `PositionRow` order; the first three are required.
const COLUMNS: [&str; 7] =
    ["sku", "location", "on_hand", "safety_stock", "damaged", "quality_control", "backorder_limit"];
const REQUIRED_COLUMNS: usize = 3;
/// Columns of an export that a load never sets: accepted, and ignored.
const DERIVED_COLUMNS: [&str; 3] = ["reserved", "available_to_sell", "version"];

struct ParsedCsv {
    rows: Vec<PositionRow>,
    /// The file line of each row (the header is line 1).
    lines: Vec<u64>,
    ignored_columns: Vec<String>,
}

fn csv_failure(path: &Path, error: csv::Error) -> ToolError {
    let line = error.position().map_or(0, |p| p.line());
    let reason = match error.kind() {
        csv::ErrorKind::UnequalLengths { expected_len, len, .. } => {
            format!("{len} fields, but the header has {expected_len}")
        }
        csv::ErrorKind::Utf8 { err, .. } => format!("field {} is not valid UTF-8", err.field() + 1),
        csv::ErrorKind::Io(source) => {
            return ToolError::Io {
                path: path.to_owned(),
                source: std::io::Error::new(source.kind(), source.to_string()),
            }
        }
        _ => error.to_string(),
    };
    ToolError::Csv { path: path.to_owned(), line, reason }
}

fn parse_csv(path: &Path) -> Result<ParsedCsv, ToolError> {
    let _spinner = progress::spinner(format!("reading {}", path.display()));
    let file = File::open(path).map_err(ToolError::io(path))?;
    let mut reader = csv::ReaderBuilder::new().trim(csv::Trim::All).from_reader(BufReader::new(file));
    let at = |line: u64, reason: String| ToolError::Csv { path: path.to_owned(), line, reason };
    let headers = reader.headers().map_err(|error| csv_failure(path, error))?.clone();
    if headers.iter().all(str::is_empty) {
        return Err(at(1, format!("no header: expected {}", COLUMNS.join(","))));
    }
    let mut columns: [Option<usize>; 7] = [None; 7];
    let mut ignored_columns = Vec::new();
    for (index, name) in headers.iter().enumerate() {
        let name = name.to_ascii_lowercase();
        let name = name.as_str();
        if let Some(field) = COLUMNS.iter().position(|column| *column == name) {
            if columns[field].replace(index).is_some() {
                return Err(at(1, format!("column {name:?} appears twice")));
            }
        } else if DERIVED_COLUMNS.contains(&name) {
            ignored_columns.push(name.to_owned());
        } else {
            return Err(at(
                1,
                format!("unknown column {name:?} (expected {}; the last four are optional)", COLUMNS.join(",")),
            ));
        }
    }
    if let Some(missing) = (0..REQUIRED_COLUMNS).find(|&field| columns[field].is_none()) {
        return Err(at(1, format!("the header has no {:?} column", COLUMNS[missing])));
    }
    let mut parsed = ParsedCsv { rows: Vec::new(), lines: Vec::new(), ignored_columns };
    let mut seen: HashMap<(String, String), u64> = HashMap::new();
    let mut record = csv::StringRecord::new();
    while reader.read_record(&mut record).map_err(|error| csv_failure(path, error))? {
        let line = record.position().map_or(0, |p| p.line());
        let text = |field: usize| columns[field].and_then(|index| record.get(index)).unwrap_or("");
        let number = |field: usize| -> Result<u32, ToolError> {
            let value = text(field);
            if value.is_empty() {
                return if field < REQUIRED_COLUMNS {
                    Err(at(line, format!("{} is empty", COLUMNS[field])))
                } else {
                    Ok(0)
                };
            }
            value.parse::<u32>().ok().filter(|n| *n <= MAX_QUANTITY).ok_or_else(|| {
                at(line, format!("{} {value:?} is not a whole number in 0..={MAX_QUANTITY}", COLUMNS[field]))
            })
        };
        let (sku, location) = (text(0), text(1));
        for (field, value) in [(0, sku), (1, location)] {
            if value.is_empty() {
                return Err(at(line, format!("{} is empty", COLUMNS[field])));
            }
        }
        let row = PositionRow {
            sku: sku.to_owned(),
            location: location.to_owned(),
            on_hand: number(2)?,
            safety_stock: number(3)?,
            damaged: number(4)?,
            quality_control: number(5)?,
            backorder_limit: number(6)?,
        };
        if let Some(first) = seen.insert((row.sku.clone(), row.location.clone()), line) {
            return Err(at(line, format!("SKU {sku:?} at {location:?} repeats line {first}")));
        }
        parsed.rows.push(row);
        parsed.lines.push(line);
        if parsed.rows.len() > MAX_BULK_ROWS {
            return Err(at(line, format!("more than {MAX_BULK_ROWS} rows: split the file")));
        }
    }
    if parsed.rows.is_empty() {
        return Err(at(1, "no rows after the header: nothing to import".to_owned()));
    }
    Ok(parsed)
}

#[derive(Serialize)]
struct Rejection {
    line: u64,
    error: String,
}

#[derive(Serialize)]
struct ImportOutput {
    file: String,
    rows: u64,
    inserted: u64,
    updated: u64,
    unchanged: u64,
    rejected: u64,
    /// The first rejected rows (at most 100), by file line.
    rejections: Vec<Rejection>,
    ignored_columns: Vec<String>,
}

fn import(args: &ImportArgs) -> Result<bool, ToolError> {
    // The whole file is read and checked before the engine is touched.
    let parsed = parse_csv(&args.csv)?;
    args.dirs.require_existing()?;
    let spinner = progress::spinner("recovering");
    let (durable, _) = DurableEngine::open(args.dirs.config())?;
    let row_count = parsed.rows.len() as u64;
    spinner.set_message(format!("loading {row_count} rows"));
    let line_of = |row: u64| parsed.lines.get(row as usize).copied().unwrap_or(0);
    let outcome: BulkLoadOutcome = match durable.apply(&Operation::BulkLoad(parsed.rows), Timestamp::now()) {
        Ok(Outcome::BulkLoad(outcome)) => outcome,
        Ok(other) => return Err(ToolError::Refused(format!("unexpected outcome of a bulk load: {other:?}"))),
        Err(ApplyError::Engine(EngineError::InvalidRow { row, error })) => {
            return Err(ToolError::Csv {
                path: args.csv.clone(),
                line: line_of(row),
                reason: format!("{error} (nothing was loaded)"),
            })
        }
        Err(error) => return Err(error.into()),
    };
    drop(durable);
    drop(spinner);
    let result = ImportOutput {
        file: args.csv.display().to_string(),
        rows: row_count,
        inserted: outcome.inserted,
        updated: outcome.updated,
        unchanged: outcome.unchanged,
        rejected: outcome.rejected,
        rejections: outcome
            .rejections
            .iter()
            .map(|r| Rejection { line: line_of(r.row), error: r.error.to_string() })
            .collect(),
        ignored_columns: parsed.ignored_columns,
    };
    let mut out = output::stdout();
    if args.json {
        output::write_json(&mut out, &result)?;
    } else {
        if !result.ignored_columns.is_empty() {
            writeln!(out, "ignored       columns {} (a load never sets them)", result.ignored_columns.join(", "))?;
        }
        writeln!(out, "rows          {} from {}", result.rows, result.file)?;
        writeln!(out, "inserted      {}", result.inserted)?;
        writeln!(out, "updated       {}", result.updated)?;
        writeln!(out, "unchanged     {}", result.unchanged)?;
        writeln!(out, "rejected      {}", result.rejected)?;
        for rejection in result.rejections.iter().take(10) {
            writeln!(out, "  line {}: {}", rejection.line, rejection.error)?;
        }
        if result.rejected > 10 {
            writeln!(out, "  ... and {} more", result.rejected - 10)?;
        }
    }
    out.flush()?;
    if result.rejected > 0 {
        eprintln!("{} rows were rejected (the other rows were loaded)", result.rejected);
        return Ok(false);
    }
    Ok(true)
}
