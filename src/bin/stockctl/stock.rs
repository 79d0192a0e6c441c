//! Stock writes: `adjust`, `set`, and `import` of a CSV of positions (the format of
//! `stockd snapshot import` and `stockd snapshot export --format csv`).

use crate::args::Session;
use crate::output::{emit, fields, Failure};
use crate::query::write_position;
use serde::Serialize;
use std::path::PathBuf;
use stockd::client::ClientError;
use stockd::engine::AdjustReason;
use stockd::model::PositionRow;
use stockd::tools::positions_csv::read_positions_csv;

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum ReasonArg {
    Received,
    Damaged,
    Lost,
    Found,
    Correction,
    Other,
}

impl From<ReasonArg> for AdjustReason {
    fn from(reason: ReasonArg) -> AdjustReason {
        match reason {
            ReasonArg::Received => AdjustReason::Received,
            ReasonArg::Damaged => AdjustReason::Damaged,
            ReasonArg::Lost => AdjustReason::Lost,
            ReasonArg::Found => AdjustReason::Found,
            ReasonArg::Correction => AdjustReason::Correction,
            ReasonArg::Other => AdjustReason::Other,
        }
    }
}

#[derive(clap::Args)]
pub struct AdjustArgs {
    pub sku: String,
    pub location: String,
    /// Units to add (negative: to remove).
    #[arg(allow_negative_numbers = true)]
    pub delta: i64,
    /// Why, for the audit trail.
    #[arg(long, value_enum)]
    pub reason: ReasonArg,
    /// A document reference for the audit trail (a receipt, a count sheet).
    #[arg(long, value_name = "REF")]
    pub reference: String,
}

#[derive(clap::Args)]
pub struct SetArgs {
    pub sku: String,
    pub location: String,
    /// The counted units on hand.
    pub on_hand: u32,
    /// Only if the position is still at this version (from `position`); else VERSION_MISMATCH.
    #[arg(long, value_name = "V")]
    pub expected_version: Option<u64>,
}

#[derive(clap::Args)]
pub struct ImportArgs {
    /// A CSV file with a header: sku,location,on_hand, and optionally safety_stock, damaged, quality_control,
    /// backorder_limit (reserved, available_to_sell and version, as exported, are ignored).
    pub file: PathBuf,
}

pub async fn adjust(session: &Session, args: AdjustArgs) -> Result<bool, Failure> {
    let client = session.client().await?;
    let position = client.adjust(&args.sku, &args.location, args.delta, args.reason.into(), &args.reference).await?;
    emit(session.json(), &position, |out| write_position(out, &position))?;
    Ok(true)
}

pub async fn set(session: &Session, args: SetArgs) -> Result<bool, Failure> {
    let client = session.client().await?;
    let position = client.set_on_hand(&args.sku, &args.location, args.on_hand, args.expected_version).await?;
    emit(session.json(), &position, |out| write_position(out, &position))?;
    Ok(true)
}

#[derive(Serialize)]
struct Rejection {
    /// The file line (the header is line 1).
    line: u64,
    code: &'static str,
    message: String,
}

#[derive(Serialize)]
struct ImportOutput {
    file: String,
    rows: u64,
    inserted: u64,
    updated: u64,
    unchanged: u64,
    rejected: u64,
    /// The first rejected rows (at most 100).
    rejections: Vec<Rejection>,
    ignored_columns: Vec<String>,
}

/// Whether the client sends these rows in one `BulkLoad` frame (as it splits them).
fn fits_one_frame(rows: &[PositionRow], max_frame_bytes: u32) -> bool {
    // The client keeps this much of a frame for the request around the rows.
    const OVERHEAD: usize = 32;
    let budget = (max_frame_bytes as usize).saturating_sub(OVERHEAD);
    let mut scratch = Vec::new();
    let mut total = 0usize;
    for row in rows {
        scratch.clear();
        stockd::codec::encode_into(row, &mut scratch);
        total += scratch.len();
        if total > budget {
            return false;
        }
    }
    true
}

/// Rejections listed in the table output.
const SHOWN_REJECTIONS: usize = 10;

pub async fn import(session: &Session, args: ImportArgs) -> Result<bool, Failure> {
    // The whole file is read and checked before connecting (as `stockd snapshot import`
    // reads it, but without its row limit: the client splits a large load into frames).
    let parsed = read_positions_csv(&args.file, None).map_err(|error| Failure::Usage(error.to_string()))?;
    let row_count = parsed.rows.len() as u64;
    let client = session.client().await?;
    let one_frame = fits_one_frame(&parsed.rows, client.limits().max_frame_bytes);
    let line_of = |row: u64| parsed.lines.get(row as usize).copied().unwrap_or(0);
    let outcome = match client.bulk_load(parsed.rows).await {
        Ok(outcome) => outcome,
        Err(error) => {
            // A row that makes the whole load invalid (an unknown location, a kit)
            // is named by its index in the frame it went in.
            let row = match &error {
                ClientError::Refused(wire) => wire
                    .message
                    .strip_prefix("row ")
                    .and_then(|rest| rest.split(':').next())
                    .and_then(|index| index.parse::<u64>().ok()),
                _ => None,
            };
            let hint = row.map(|row| {
                if one_frame {
                    format!("that is line {} of {}; nothing was loaded", line_of(row), args.file.display())
                } else {
                    "the file went in several frames: the row counts from the start of the refused frame, and the \
                     frames before it were loaded (loading them again is harmless)"
                        .to_owned()
                }
            });
            return Err(Failure::Client { error, hint });
        }
    };
    let result = ImportOutput {
        file: args.file.display().to_string(),
        rows: row_count,
        inserted: outcome.inserted,
        updated: outcome.updated,
        unchanged: outcome.unchanged,
        rejected: outcome.rejected,
        rejections: outcome
            .rejections
            .iter()
            .map(|r| Rejection { line: line_of(r.row), code: r.error.code.name(), message: r.error.message.clone() })
            .collect(),
        ignored_columns: parsed.ignored_columns,
    };
    emit(session.json(), &result, |out| {
        let mut rows = Vec::new();
        if !result.ignored_columns.is_empty() {
            rows.push(("ignored", format!("columns {} (a load never sets them)", result.ignored_columns.join(", "))));
        }
        rows.extend([
            ("rows", format!("{} from {}", result.rows, result.file)),
            ("inserted", result.inserted.to_string()),
            ("updated", result.updated.to_string()),
            ("unchanged", result.unchanged.to_string()),
            ("rejected", result.rejected.to_string()),
        ]);
        fields(out, &rows)?;
        for rejection in result.rejections.iter().take(SHOWN_REJECTIONS) {
            writeln!(out, "  line {}: {}: {}", rejection.line, rejection.code, rejection.message)?;
        }
        if result.rejected > SHOWN_REJECTIONS as u64 {
            writeln!(out, "  ... and {} more", result.rejected - SHOWN_REJECTIONS as u64)?;
        }
        Ok(())
    })?;
    if result.rejected > 0 {
        let rows = if result.rejected == 1 { "1 row was" } else { &format!("{} rows were", result.rejected) };
        eprintln!("{rows} rejected (the other rows were loaded)");
        return Ok(false);
    }
    Ok(true)
}
