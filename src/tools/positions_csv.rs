//! A CSV file of positions, as `stockd snapshot import` and `stockctl import` read it
//! (and `stockd snapshot export --format csv` writes it): a header naming the columns
//! in any order, then one position a line.
//!
//! The whole file is read and checked before a caller loads anything: the header,
//! every number, the required fields, and positions that appear twice.

use crate::limits::MAX_QUANTITY;
use crate::model::PositionRow;
use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};

/// The columns a row is made of, in `PositionRow` order; the first
/// [`REQUIRED_COLUMNS`] must be in the header, the others default to 0.
pub const COLUMNS: [&str; 7] =
    ["sku", "location", "on_hand", "safety_stock", "damaged", "quality_control", "backorder_limit"];
/// How many of [`COLUMNS`] a file must have.
pub const REQUIRED_COLUMNS: usize = 3;
/// Columns of an export that a load never sets: accepted, and ignored.
pub const DERIVED_COLUMNS: [&str; 3] = ["reserved", "available_to_sell", "version"];

/// The rows of a positions CSV.
#[derive(Debug)]
pub struct PositionsCsv {
    pub rows: Vec<PositionRow>,
    /// The file line of each row (the header is line 1).
    pub lines: Vec<u64>,
    /// The [`DERIVED_COLUMNS`] the header named, lower-cased.
    pub ignored_columns: Vec<String>,
}

/// Why a positions CSV cannot be used; nothing of it should be loaded.
#[derive(Debug, thiserror::Error)]
pub enum PositionsCsvError {
    /// The file cannot be opened or read.
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
    /// The header or a row is wrong; `line` counts from 1 (the header).
    #[error("{}: line {line}: {reason}", path.display())]
    Line { path: PathBuf, line: u64, reason: String },
}

/// Reads and checks a positions CSV file. With `max_rows`, a file with more rows is
/// refused at the first row too many.
pub fn read_positions_csv(path: &Path, max_rows: Option<usize>) -> Result<PositionsCsv, PositionsCsvError> {
    let file = File::open(path).map_err(|source| PositionsCsvError::Io { path: path.to_owned(), source })?;
    parse_positions_csv(BufReader::new(file), path, max_rows)
}

/// Reads and checks a positions CSV from `input`; `path` names it in errors.
pub fn parse_positions_csv(
    input: impl Read,
    path: &Path,
    max_rows: Option<usize>,
) -> Result<PositionsCsv, PositionsCsvError> {
    let mut reader = csv::ReaderBuilder::new().trim(csv::Trim::All).from_reader(input);
    let at = |line: u64, reason: String| PositionsCsvError::Line { path: path.to_owned(), line, reason };
    let headers = reader.headers().map_err(|error| csv_error(path, error))?.clone();
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
    let mut parsed = PositionsCsv { rows: Vec::new(), lines: Vec::new(), ignored_columns };
    let mut seen: HashMap<(String, String), u64> = HashMap::new();
    let mut record = csv::StringRecord::new();
    while reader.read_record(&mut record).map_err(|error| csv_error(path, error))? {
        let line = record.position().map_or(0, |p| p.line());
        let text = |field: usize| columns[field].and_then(|index| record.get(index)).unwrap_or("");
        let number = |field: usize| -> Result<u32, PositionsCsvError> {
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
        if let Some(max_rows) = max_rows.filter(|&max_rows| parsed.rows.len() > max_rows) {
            return Err(at(line, format!("more than {max_rows} rows: split the file")));
        }
    }
    if parsed.rows.is_empty() {
        return Err(at(1, "no rows after the header: nothing to import".to_owned()));
    }
    Ok(parsed)
}

/// A CSV reader's error, named by its line where it has one.
fn csv_error(path: &Path, error: csv::Error) -> PositionsCsvError {
    let line = error.position().map_or(0, |p| p.line());
    let reason = match error.kind() {
        csv::ErrorKind::UnequalLengths { expected_len, len, .. } => {
            format!("{len} fields, but the header has {expected_len}")
        }
        csv::ErrorKind::Utf8 { err, .. } => format!("field {} is not valid UTF-8", err.field() + 1),
        csv::ErrorKind::Io(_) => match error.into_kind() {
            csv::ErrorKind::Io(source) => return PositionsCsvError::Io { path: path.to_owned(), source },
            _ => unreachable!("the kind was just matched as Io"),
        },
        _ => error.to_string(),
    };
    PositionsCsvError::Line { path: path.to_owned(), line, reason }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str, max_rows: Option<usize>) -> Result<PositionsCsv, String> {
        parse_positions_csv(text.as_bytes(), Path::new("in.csv"), max_rows).map_err(|error| error.to_string())
    }

    fn row(sku: &str, location: &str, on_hand: u32) -> PositionRow {
        PositionRow::on_hand(sku, location, on_hand)
    }

    #[test]
    fn rows_and_their_lines() {
        let parsed = parse("Location, SKU ,on_hand,damaged,version\nDC-1,A,5,1,9\nDC-2,B,0,,\n", None).unwrap();
        assert_eq!(parsed.rows, vec![PositionRow { damaged: 1, ..row("A", "DC-1", 5) }, row("B", "DC-2", 0)]);
        assert_eq!(parsed.lines, vec![2, 3]);
        assert_eq!(parsed.ignored_columns, vec!["version".to_owned()]);
    }

    #[test]
    fn errors_name_the_file_and_line() {
        let all = "sku,location,on_hand,safety_stock,damaged,quality_control,backorder_limit";
        let cases = [
            ("", format!("line 1: no header: expected {all}")),
            ("sku,location\n", "line 1: the header has no \"on_hand\" column".into()),
            ("sku,location,on_hand,sku\n", "line 1: column \"sku\" appears twice".into()),
            (
                "sku,location,on_hand,colour\n",
                format!("line 1: unknown column \"colour\" (expected {all}; the last four are optional)"),
            ),
            ("sku,location,on_hand\n", "line 1: no rows after the header: nothing to import".into()),
            ("sku,location,on_hand\nA,L,1\nA,L,2\n", "line 3: SKU \"A\" at \"L\" repeats line 2".into()),
            ("sku,location,on_hand\nA,,1\n", "line 2: location is empty".into()),
            ("sku,location,on_hand\nA,L,\n", "line 2: on_hand is empty".into()),
            ("sku,location,on_hand\nA,L,-1\n", "line 2: on_hand \"-1\" is not a whole number in 0..=1000000000".into()),
            ("sku,location,on_hand\nA,L,1,2\n", "line 2: 4 fields, but the header has 3".into()),
        ];
        for (text, expected) in cases {
            assert_eq!(parse(text, None).unwrap_err(), format!("in.csv: {expected}"), "{text:?}");
        }
    }

    #[test]
    fn a_row_limit() {
        let text = "sku,location,on_hand\nA,L,1\nB,L,1\nC,L,1\n";
        assert_eq!(parse(text, Some(3)).unwrap().rows.len(), 3);
        assert_eq!(parse(text, Some(2)).unwrap_err(), "in.csv: line 4: more than 2 rows: split the file");
    }

    #[test]
    fn a_missing_file() {
        let error = read_positions_csv(Path::new("/nonexistent/positions.csv"), None).unwrap_err();
        assert!(matches!(&error, PositionsCsvError::Io { source, .. } if source.kind() == io::ErrorKind::NotFound));
        assert!(error.to_string().starts_with("/nonexistent/positions.csv: "), "{error}");
    }
}
