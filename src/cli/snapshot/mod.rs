//! `stockd snapshot ...`: list, verify, inspect, take, restore, export and import.
//!
//! Only `take` and `import` write to the folders they are pointed at (both through a
//! `DurableEngine`, so what they do is logged like any other write); `restore`
//! writes only into a new, empty destination; everything else reads. One file per
//! command: list, verify, inspect, take, restore, export, import.

use super::output::{self, Align, DirArgs, Out, Table, ToolError};
use super::progress;
use serde::Serialize;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use stockd::engine::{BulkLoadOutcome, EngineImage, ReservationState};
use stockd::limits::MAX_BULK_ROWS;
use stockd::model::Position;
use stockd::snapshot::format::load_image;
use stockd::snapshot::{list_snapshots, read_header, write_snapshot, SnapshotHeader};
use stockd::storage::{recover, ApplyError, DurableEngine, RecoveryTarget};
use stockd::tools::positions_csv::read_positions_csv;
use stockd::{Engine, EngineConfig, EngineError, Operation, Outcome, Timestamp};

// One file per command; each sees this module's imports and its siblings' helpers.
mod export;
mod import;
mod inspect;
mod list;
mod restore;
mod take;
mod verify;
use export::*;
use import::*;
use inspect::*;
use list::*;
use restore::*;
use take::*;
use verify::*;

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
