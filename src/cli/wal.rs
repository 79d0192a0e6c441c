//! `stockd wal ...`: the log's records, and one SKU's audit trail. Read-only: a torn
//! final record is reported, never cut off.
//!
//! Records name SKUs and locations by id. Ids are handed out densely and never
//! reused, so names come from a snapshot (every id up to its LSN) plus the
//! `SkuInterned` and `UpsertLocations` records read on the way (every id after).

use super::output::{self, DirArgs, Out, ToolError};
use super::progress;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use stockd::engine::{EngineImage, LogEntry, LoggedCause, LoggedPosition, LoggedReservation, PartialStep};
use stockd::model::{LocationId, SkuId};
use stockd::snapshot::format::load_image;
use stockd::snapshot::{list_snapshots, SnapshotHeader};
use stockd::wal::{list_segments, read_log, LogReadSummary, Visit, WalError};
use stockd::Operation;

#[derive(clap::Subcommand)]
pub enum WalCommand {
    /// Print the log's records, one line each.
    ///
    /// Each line: LSN, segment file and byte offset, kind (SkuInterned, Catalogue,
    /// Change), time, cause, the positions and the reservation the record touched.
    /// Read-only; ids are named from a snapshot and the log itself.
    Dump(DumpArgs),
    /// The audit trail of one SKU, oldest first.
    ///
    /// Every logged change to its positions (optionally at one location): LSN, time,
    /// cause (with reason and reference for adjustments) and the position's
    /// quantities after the change. Only the log still kept is searched: records
    /// older than the oldest retained snapshot are gone.
    History(HistoryArgs),
}

#[derive(clap::Args)]
pub struct DumpArgs {
    #[command(flatten)]
    dirs: DirArgs,
    /// The first LSN to print.
    #[arg(long, value_name = "LSN", default_value_t = 1)]
    from: u64,
    /// Print at most this many records.
    #[arg(long, value_name = "N")]
    limit: Option<u64>,
    /// Print one JSON object per record (JSON Lines).
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
pub struct HistoryArgs {
    #[command(flatten)]
    dirs: DirArgs,
    /// The SKU whose positions to follow.
    #[arg(long, value_name = "SKU")]
    sku: String,
    /// Only its position at this location.
    #[arg(long, value_name = "LOCATION")]
    location: Option<String>,
    /// Print one JSON object per change (JSON Lines).
    #[arg(long)]
    json: bool,
}

pub fn run(command: WalCommand) -> ExitCode {
    output::finish(match command {
        WalCommand::Dump(args) => dump(&args),
        WalCommand::History(args) => history(&args),
    })
}

// --------------------------------------------------------------------------- names

/// Names for the ids the log uses.
#[derive(Default)]
struct LogNames {
    skus: Vec<String>,
    locations: Vec<String>,
    location_ids: HashMap<String, LocationId>,
}

impl LogNames {
    fn from_image(image: &EngineImage) -> LogNames {
        let mut names = LogNames::default();
        for (index, name) in image.sku_names.iter().enumerate() {
            names.add_sku(SkuId(index as u32), name);
        }
        for spec in &image.locations {
            names.add_location(&spec.name);
        }
        names
    }

    fn add_sku(&mut self, id: SkuId, name: &str) {
        if id.index() < self.skus.len() {
            return; // Known already (from a snapshot taken after this record).
        }
        while self.skus.len() < id.index() {
            let missing = self.skus.len();
            self.skus.push(format!("sku#{missing}"));
        }
        self.skus.push(name.to_owned());
    }

    fn add_location(&mut self, name: &str) {
        if !self.location_ids.contains_key(name) {
            self.location_ids.insert(name.to_owned(), LocationId(self.locations.len() as u32));
            self.locations.push(name.to_owned());
        }
    }

    /// Learns the names a record introduces (a new location gets the next id, as
    /// `upsert_locations` hands them out).
    fn observe(&mut self, entry: &LogEntry) {
        match entry {
            LogEntry::SkuInterned { sku, name } => self.add_sku(*sku, name),
            LogEntry::Catalogue { operation: Operation::UpsertLocations(specs) } => {
                for spec in specs {
                    self.add_location(&spec.name);
                }
            }
            _ => {}
        }
    }

    fn sku(&self, id: SkuId) -> &str {
        self.skus.get(id.index()).map_or("?", String::as_str)
    }

    fn location(&self, id: LocationId) -> &str {
        self.locations.get(id.index()).map_or("?", String::as_str)
    }
}

/// Where a read of the log starts, and the names known there.
struct Scan {
    names: LogNames,
    /// Records from here on are read (for their names at least).
    scan_from: u64,
    /// Records from here on are shown.
    show_from: u64,
    /// The first LSN the log still holds (older records went with old snapshots).
    first_lsn: u64,
}

/// Chooses how to name ids for records from `wanted_from` on: the newest snapshot
/// the log continues from before that point, else (if the log starts at LSN 1)
/// nothing but the log, else any snapshot that reads. `None`: the log is empty.
fn prepare(dirs: &DirArgs, wanted_from: u64) -> Result<Option<Scan>, ToolError> {
    let wal_dir = dirs.config().wal_dir();
    if !wal_dir.is_dir() {
        return Err(ToolError::Refused(format!("no log at {} (check --data)", wal_dir.display())));
    }
    let Some(first_lsn) = list_segments(&wal_dir)?.first().map(|segment| segment.first_lsn) else {
        return Ok(None);
    };
    let show_from = wanted_from.max(first_lsn);
    if wanted_from < first_lsn && wanted_from > 1 {
        eprintln!("note: the log starts at LSN {first_lsn}; older records were retired with old snapshots");
    }
    let snapshots: Vec<(PathBuf, SnapshotHeader)> =
        list_snapshots(&dirs.snapshots)?.into_iter().filter_map(|f| f.header.ok().map(|h| (f.path, h))).collect();
    let continued_from = snapshots.iter().filter(|(_, h)| h.covers_lsn < show_from && h.covers_lsn + 1 >= first_lsn);
    let mut candidates: Vec<Option<&(PathBuf, SnapshotHeader)>> = continued_from.map(Some).collect();
    if first_lsn == 1 {
        candidates.push(None);
    }
    candidates.extend(snapshots.iter().filter(|(_, h)| h.covers_lsn >= show_from).map(Some));
    let empty = |scan_from| Scan { names: LogNames::default(), scan_from, show_from, first_lsn };
    for candidate in candidates {
        let Some((path, header)) = candidate else { return Ok(Some(empty(1))) };
        let spinner = progress::spinner(format!("reading names from {}", path.display()));
        match load_image(path) {
            Ok((image, _)) => {
                let scan_from = if header.covers_lsn < show_from { header.covers_lsn + 1 } else { show_from };
                return Ok(Some(Scan { names: LogNames::from_image(&image), scan_from, show_from, first_lsn }));
            }
            Err(error) => {
                drop(spinner);
                eprintln!("warning: cannot read names from a snapshot: {error}");
            }
        }
    }
    eprintln!("warning: no snapshot could be read: SKUs and locations created before LSN {first_lsn} show as \"?\"");
    Ok(Some(empty(show_from)))
}

/// Reads the log from `scan.scan_from`, learning names, and hands every record from
/// `scan.show_from` on to `visit`.
fn scan_log(
    dirs: &DirArgs,
    scan: &mut Scan,
    mut visit: impl FnMut(u64, &Path, u64, &LogEntry, &LogNames) -> Result<Visit, ToolError>,
) -> Result<LogReadSummary, ToolError> {
    let spinner = progress::streaming_spinner("reading the log");
    let mut failure = None;
    let summary = read_log(&dirs.config().wal_dir(), scan.scan_from, false, |lsn, payload, path, offset| {
        let entry: LogEntry = stockd::wal::record::decode_entry(payload).map_err(|error| WalError::Corrupt {
            path: path.to_owned(),
            offset,
            reason: format!("record {lsn} does not decode: {error}"),
        })?;
        scan.names.observe(&entry);
        if lsn % 4096 == 0 {
            spinner.set_message(format!("reading the log: LSN {lsn}"));
        }
        if lsn < scan.show_from {
            return Ok(Visit::Continue);
        }
        visit(lsn, path, offset, &entry, &scan.names).or_else(|error| {
            failure = Some(error);
            Ok(Visit::Stop)
        })
    })?;
    match failure {
        Some(error) => Err(error),
        None => Ok(summary),
    }
}

fn report_torn_tail(summary: &LogReadSummary) {
    if let Some(torn) = &summary.torn_tail {
        eprintln!(
            "warning: torn final record in {} at byte {} ({} bytes): the leftover of a crash mid-write, \
             cut off when the engine next opens",
            torn.path.display(),
            torn.offset,
            torn.bytes_dropped
        );
    }
}

// ----------------------------------------------------------------------- describing

fn operation_kind(operation: &Operation) -> &'static str {
    match operation {
        Operation::UpsertLocations(_) => "UpsertLocations",
        Operation::UpsertChannel(_) => "UpsertChannel",
        Operation::DefineKit { .. } => "DefineKit",
        Operation::Reserve(_) => "Reserve",
        Operation::Commit { .. } => "Commit",
        Operation::Release { .. } => "Release",
        Operation::Fulfil { .. } => "Fulfil",
        Operation::Extend { .. } => "Extend",
        Operation::ExpireDue => "ExpireDue",
        Operation::Adjust { .. } => "Adjust",
        Operation::SetOnHand { .. } => "SetOnHand",
        Operation::SetSafetyStock { .. } => "SetSafetyStock",
        Operation::SetBackorderLimit { .. } => "SetBackorderLimit",
        Operation::MoveStock { .. } => "MoveStock",
        Operation::AddIncoming { .. } => "AddIncoming",
        Operation::ReceiveIncoming { .. } => "ReceiveIncoming",
        Operation::CancelIncoming { .. } => "CancelIncoming",
        Operation::Restock(_) => "Restock",
        Operation::BulkLoad(_) => "BulkLoad",
        Operation::ReserveSourced(_) => "ReserveSourced",
    }
}

fn describe_partial(partial: &Option<PartialStep>) -> String {
    match partial {
        None => String::new(),
        Some(step) => {
            let lines: Vec<String> =
                step.lines.iter().map(|l| format!("{}@{} x{}", l.sku, l.location, l.quantity)).collect();
            format!(" step {:?} [{}]", step.step_id, output::some_of(&lines, 3))
        }
    }
}

/// An operation with its key fields, on one line.
fn describe_operation(operation: &Operation) -> String {
    use Operation as Op;
    let kind = operation_kind(operation);
    match operation {
        Op::UpsertLocations(specs) => {
            let names: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
            format!("{kind} {}", output::some_of(&names, 5))
        }
        Op::UpsertChannel(spec) => format!(
            "{kind} {} ({} locations, {} excluded, buffer {:?})",
            spec.name,
            spec.locations.len(),
            spec.excluded.len(),
            spec.buffer
        ),
        Op::DefineKit { kit, components } => {
            let parts: Vec<String> = components.iter().map(|(sku, quantity)| format!("{sku} x{quantity}")).collect();
            format!("{kind} {kit} = {}", parts.join(" + "))
        }
        Op::Reserve(request) => {
            let lines: Vec<String> =
                request.lines.iter().map(|l| format!("{}@{} x{}", l.sku, l.location, l.quantity)).collect();
            let promise =
                request.promise_by.map_or_else(String::new, |by| format!(", promise by {}", output::utc(by.0)));
            format!("{kind} {} [{}] ttl {} ms{promise}", request.id, output::some_of(&lines, 3), request.ttl_ms)
        }
        Op::Commit { id } => format!("{kind} {id}"),
        Op::Release { id, partial } | Op::Fulfil { id, partial } => format!("{kind} {id}{}", describe_partial(partial)),
        Op::Extend { id, ttl_ms } => format!("{kind} {id} ttl {ttl_ms} ms"),
        Op::ExpireDue => kind.to_owned(),
        Op::Adjust { sku, location, delta, reason, reference } => {
            format!("{kind} {sku}@{location} {delta:+} reason {reason:?} reference {reference:?}")
        }
        Op::SetOnHand { sku, location, on_hand, expected_version } => {
            let expected = expected_version.map_or_else(String::new, |v| format!(" (expected version {v})"));
            format!("{kind} {sku}@{location} to {on_hand}{expected}")
        }
        Op::SetSafetyStock { sku, location, safety_stock } => format!("{kind} {sku}@{location} to {safety_stock}"),
        Op::SetBackorderLimit { sku, location, limit } => format!("{kind} {sku}@{location} to {limit}"),
        Op::MoveStock { sku, location, from, to, quantity } => {
            format!("{kind} {sku}@{location} {quantity} from {from:?} to {to:?}")
        }
        Op::AddIncoming { sku, location, reference, quantity, expected_at } => format!(
            "{kind} {sku}@{location} {quantity} reference {reference:?} expected {}",
            output::utc(expected_at.0)
        ),
        Op::ReceiveIncoming { sku, location, reference, quantity } => {
            format!("{kind} {sku}@{location} {quantity} reference {reference:?}")
        }
        Op::CancelIncoming { sku, location, reference } => format!("{kind} {sku}@{location} reference {reference:?}"),
        Op::Restock(request) => format!(
            "{kind} {}@{} x{} into {:?} from reservation {} step {:?}",
            request.line.sku,
            request.line.location,
            request.line.quantity,
            request.bucket,
            request.reservation_id,
            request.step_id
        ),
        Op::BulkLoad(rows) => format!("{kind} {} rows", rows.len()),
        Op::ReserveSourced(request) => {
            let lines: Vec<String> = request.lines.iter().map(|l| format!("{} x{}", l.sku, l.quantity)).collect();
            let (id, channel, profile) = (&request.id, &request.channel, &request.profile);
            format!("{kind} {id} channel {channel} profile {profile} [{}]", output::some_of(&lines, 3))
        }
    }
}

fn describe_cause(cause: &LoggedCause) -> String {
    match cause {
        LoggedCause::Operation(operation) => describe_operation(operation),
        LoggedCause::Expired { id } => format!("Expired {id} (its TTL passed)"),
        LoggedCause::Forgotten { id } => format!("Forgotten {id} (its idempotency window ended)"),
        LoggedCause::BulkLoadPart { rows } => format!("BulkLoadPart {rows} rows"),
    }
}

fn cause_json(cause: &LoggedCause) -> Value {
    let summary = describe_cause(cause);
    match cause {
        LoggedCause::Operation(operation) => json!({
            "kind": operation_kind(operation),
            "summary": summary,
            "operation": serde_json::to_value(operation).unwrap_or(Value::Null),
        }),
        LoggedCause::Expired { id } => json!({ "kind": "Expired", "summary": summary, "id": id }),
        LoggedCause::Forgotten { id } => json!({ "kind": "Forgotten", "summary": summary, "id": id }),
        LoggedCause::BulkLoadPart { rows } => json!({ "kind": "BulkLoadPart", "summary": summary, "rows": rows }),
    }
}

fn position_json(image: &LoggedPosition, names: &LogNames) -> Value {
    let position = &image.position;
    json!({
        "sku": names.sku(image.sku),
        "location": names.location(image.location),
        "on_hand": position.on_hand,
        "reserved": position.reserved,
        "safety_stock": position.safety_stock,
        "damaged": position.damaged,
        "quality_control": position.quality_control,
        "backorder_limit": position.backorder_limit,
        "incoming_total": position.incoming_total(),
        "available_to_sell": position.available_to_sell(),
        "version": position.version,
    })
}

fn reservation_text(reservation: &Option<LoggedReservation>) -> Option<String> {
    match reservation.as_ref()? {
        LoggedReservation::Present(r) => Some(format!("{} ({:?})", r.id, r.state)),
        LoggedReservation::Forgotten { id } => Some(format!("{id} (forgotten)")),
    }
}

fn reservation_json(reservation: &Option<LoggedReservation>) -> Value {
    match reservation {
        None => Value::Null,
        Some(LoggedReservation::Present(r)) => {
            json!({ "id": &*r.id, "state": format!("{:?}", r.state), "held_units": r.held_units() })
        }
        Some(LoggedReservation::Forgotten { id }) => json!({ "id": id, "state": "Forgotten" }),
    }
}

// ---------------------------------------------------------------------------- dump

fn entry_kind(entry: &LogEntry) -> &'static str {
    match entry {
        LogEntry::SkuInterned { .. } => "SkuInterned",
        LogEntry::Catalogue { .. } => "Catalogue",
        LogEntry::Change { .. } => "Change",
    }
}

fn dump_json(lsn: u64, segment: &str, offset: u64, entry: &LogEntry, names: &LogNames) -> Value {
    let mut record = json!({ "lsn": lsn, "segment": segment, "offset": offset, "kind": entry_kind(entry) });
    let fields = match entry {
        LogEntry::SkuInterned { sku, name } => json!({ "sku_id": sku.0, "sku": name }),
        LogEntry::Catalogue { operation } => json!({
            "cause": {
                "kind": operation_kind(operation),
                "summary": describe_operation(operation),
                "operation": serde_json::to_value(operation).unwrap_or(Value::Null),
            }
        }),
        LogEntry::Change { at, cause, positions, reservation } => json!({
            "at_ms": at.0,
            "at": output::utc(at.0),
            "cause": cause_json(cause),
            "positions": positions.iter().map(|p| position_json(p, names)).collect::<Vec<_>>(),
            "reservation": reservation_json(reservation),
        }),
    };
    if let (Value::Object(record), Value::Object(fields)) = (&mut record, fields) {
        record.extend(fields);
    }
    record
}

fn dump_text(lsn: u64, segment: &str, offset: u64, entry: &LogEntry, names: &LogNames) -> String {
    let place = format!("{segment}@{offset}");
    let kind = entry_kind(entry);
    match entry {
        LogEntry::SkuInterned { sku, name } => {
            format!("{lsn:>8}  {place:<36}  {kind:<11}  {:<27}  {name} = #{}", "-", sku.0)
        }
        LogEntry::Catalogue { operation } => {
            format!("{lsn:>8}  {place:<36}  {kind:<11}  {:<27}  {}", "-", describe_operation(operation))
        }
        LogEntry::Change { at, cause, positions, reservation } => {
            let mut line =
                format!("{lsn:>8}  {place:<36}  {kind:<11}  {:<27}  {}", output::utc(at.0), describe_cause(cause));
            if !positions.is_empty() {
                let touched: Vec<String> =
                    positions.iter().map(|p| format!("{}@{}", names.sku(p.sku), names.location(p.location))).collect();
                line.push_str(&format!("  positions: {}", output::some_of(&touched, 4)));
            }
            if let Some(reservation) = reservation_text(reservation) {
                line.push_str(&format!("  reservation: {reservation}"));
            }
            line
        }
    }
}

fn dump(args: &DumpArgs) -> Result<bool, ToolError> {
    let Some(mut scan) = prepare(&args.dirs, args.from)? else {
        eprintln!("the log in {} is empty", args.dirs.config().wal_dir().display());
        return Ok(true);
    };
    let limit = args.limit.unwrap_or(u64::MAX);
    if limit == 0 {
        return Ok(true);
    }
    let mut out = output::stdout();
    if !args.json {
        writeln!(out, "{:>8}  {:<36}  {:<11}  {:<27}  cause", "LSN", "segment@offset", "kind", "time (UTC)")?;
    }
    let mut shown = 0u64;
    let (mut first_shown, mut last_shown) = (None, 0);
    let summary = scan_log(&args.dirs, &mut scan, |lsn, path, offset, entry, names| {
        let segment = output::file_name(path);
        if args.json {
            output::write_json_line(&mut out, &dump_json(lsn, &segment, offset, entry, names))?;
        } else {
            writeln!(out, "{}", dump_text(lsn, &segment, offset, entry, names))?;
        }
        shown += 1;
        first_shown.get_or_insert(lsn);
        last_shown = lsn;
        Ok(if shown >= limit { Visit::Stop } else { Visit::Continue })
    })?;
    out.flush()?;
    match first_shown {
        Some(first) => {
            eprintln!("{shown} records, LSN {first}..={last_shown} (the log starts at LSN {})", scan.first_lsn)
        }
        None => {
            eprintln!("no records from LSN {} (the log holds LSN {}..={})", args.from, scan.first_lsn, summary.last_lsn)
        }
    }
    report_torn_tail(&summary);
    Ok(true)
}

// ------------------------------------------------------------------------- history

fn history(args: &HistoryArgs) -> Result<bool, ToolError> {
    let Some(mut scan) = prepare(&args.dirs, 1)? else {
        return Err(ToolError::Refused(format!("the log in {} is empty", args.dirs.config().wal_dir().display())));
    };
    let mut out = output::stdout();
    let width = scan.names.locations.iter().map(|l| l.chars().count()).max().unwrap_or(0).max(8);
    if !args.json {
        writeln!(
            out,
            "{:>8}  {:<27}  {:<width$}  {:>8} {:>8} {:>6} {:>7} {:>5} {:>9} {:>8} {:>8} {:>7}  cause",
            "LSN",
            "time (UTC)",
            "location",
            "on_hand",
            "reserved",
            "safety",
            "damaged",
            "qc",
            "backorder",
            "incoming",
            "ATS",
            "version"
        )?;
    }
    let mut changes = 0u64;
    // Ids resolved from the names known at the start, or from the records that
    // introduce them.
    let mut sku = scan.names.skus.iter().position(|name| *name == args.sku).map(|index| SkuId(index as u32));
    let wanted_location = args.location.as_deref();
    let mut location = wanted_location.and_then(|name| scan.names.location_ids.get(name).copied());
    let summary = scan_log(&args.dirs, &mut scan, |lsn, _, _, entry, names| {
        let (at, cause, positions, reservation) = match entry {
            LogEntry::SkuInterned { sku: id, name } if *name == args.sku => {
                sku = Some(*id);
                return Ok(Visit::Continue);
            }
            LogEntry::Catalogue { .. } => {
                location = location.or_else(|| wanted_location.and_then(|name| names.location_ids.get(name).copied()));
                return Ok(Visit::Continue);
            }
            LogEntry::Change { at, cause, positions, reservation } => (at, cause, positions, reservation),
            LogEntry::SkuInterned { .. } => return Ok(Visit::Continue),
        };
        let Some(sku) = sku else { return Ok(Visit::Continue) };
        if wanted_location.is_some() && location.is_none() {
            return Ok(Visit::Continue);
        }
        for image in positions.iter().filter(|p| p.sku == sku && location.is_none_or(|l| p.location == l)) {
            changes += 1;
            if args.json {
                let record = json!({
                    "lsn": lsn,
                    "at_ms": at.0,
                    "at": output::utc(at.0),
                    "cause": cause_json(cause),
                    "reservation": reservation_json(reservation),
                    "position": position_json(image, names),
                });
                output::write_json_line(&mut out, &record)?;
            } else {
                write_history_line(&mut out, lsn, at.0, image, names, width, cause, reservation)?;
            }
        }
        Ok(Visit::Continue)
    })?;
    out.flush()?;
    report_torn_tail(&summary);
    if sku.is_none() {
        return Err(ToolError::Refused(format!("SKU {:?} is in neither the log nor the snapshots", args.sku)));
    }
    if let (Some(name), None) = (wanted_location, location) {
        return Err(ToolError::Refused(format!("location {name:?} is in neither the log nor the snapshots")));
    }
    let older = if scan.first_lsn > 1 {
        format!("; the log starts at LSN {}, older changes were retired with old snapshots", scan.first_lsn)
    } else {
        String::new()
    };
    eprintln!("{changes} changes to {} in LSN {}..={}{older}", args.sku, scan.first_lsn, summary.last_lsn);
    Ok(true)
}

#[allow(clippy::too_many_arguments)]
fn write_history_line(
    out: &mut Out,
    lsn: u64,
    at_ms: u64,
    image: &LoggedPosition,
    names: &LogNames,
    width: usize,
    cause: &LoggedCause,
    reservation: &Option<LoggedReservation>,
) -> Result<(), ToolError> {
    let p = &image.position;
    let mut cause = describe_cause(cause);
    if let Some(reservation) = reservation_text(reservation) {
        cause.push_str(&format!(" -> {reservation}"));
    }
    writeln!(
        out,
        "{lsn:>8}  {:<27}  {:<width$}  {:>8} {:>8} {:>6} {:>7} {:>5} {:>9} {:>8} {:>8} {:>7}  {cause}",
        output::utc(at_ms),
        names.location(image.location),
        p.on_hand,
        p.reserved,
        p.safety_stock,
        p.damaged,
        p.quality_control,
        p.backorder_limit,
        p.incoming_total(),
        p.available_to_sell(),
        p.version,
    )?;
    Ok(())
}
