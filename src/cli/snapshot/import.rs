//! `stockd snapshot import`.

use super::*;

#[derive(Serialize)]
pub(super) struct Rejection {
    pub(super) line: u64,
    pub(super) error: String,
}

#[derive(Serialize)]
pub(super) struct ImportOutput {
    pub(super) file: String,
    pub(super) rows: u64,
    pub(super) inserted: u64,
    pub(super) updated: u64,
    pub(super) unchanged: u64,
    pub(super) rejected: u64,
    /// The first rejected rows (at most 100), by file line.
    pub(super) rejections: Vec<Rejection>,
    pub(super) ignored_columns: Vec<String>,
}

pub(super) fn import(args: &ImportArgs) -> Result<bool, ToolError> {
    // The whole file is read and checked before the engine is touched.
    let parsed = {
        let _spinner = progress::spinner(format!("reading {}", args.csv.display()));
        read_positions_csv(&args.csv, Some(MAX_BULK_ROWS))?
    };
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
