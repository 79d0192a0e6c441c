//! `stockd snapshot import`.

use super::*;

/// The columns a row is made of, in `PositionRow` order; the first three are required.
pub(super) const COLUMNS: [&str; 7] =
    ["sku", "location", "on_hand", "safety_stock", "damaged", "quality_control", "backorder_limit"];
pub(super) const REQUIRED_COLUMNS: usize = 3;
/// Columns of an export that a load never sets: accepted, and ignored.
pub(super) const DERIVED_COLUMNS: [&str; 3] = ["reserved", "available_to_sell", "version"];

pub(super) struct ParsedCsv {
    pub(super) rows: Vec<PositionRow>,
    /// The file line of each row (the header is line 1).
    pub(super) lines: Vec<u64>,
    pub(super) ignored_columns: Vec<String>,
}

pub(super) fn csv_failure(path: &Path, error: csv::Error) -> ToolError {
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

pub(super) fn parse_csv(path: &Path) -> Result<ParsedCsv, ToolError> {
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
