//! What every command shares for its output: aligned tables and `name  value` lists
//! in the style of `stockd`'s tools, one JSON document with `--json`, times, and the
//! one place that prints failures and chooses the exit code.
//!
//! Results go to stdout (a closed pipe ends the tool quietly); errors go to stderr,
//! and with `--json` a refusal or failure is also one JSON document on stdout.

use serde::Serialize;
use std::io::{self, BufWriter, Write};
use std::process::ExitCode;
use stockd::client::ClientError;
use stockd::protocol::{ShortLine, WireError};

/// Why a command did not do its job.
pub enum Failure {
    /// Bad input or a file that cannot be used: nothing was sent. Exit 2.
    Usage(String),
    /// The client failed: refused by the server (exit 1), or no connection, a
    /// timeout, a protocol error (exit 2).
    Client { error: ClientError, hint: Option<String> },
    /// Stdout could not be written.
    Output(io::Error),
}

impl From<ClientError> for Failure {
    fn from(error: ClientError) -> Failure {
        Failure::Client { error, hint: None }
    }
}

impl From<io::Error> for Failure {
    fn from(error: io::Error) -> Failure {
        Failure::Output(error)
    }
}

/// A refusal's code, for the exit code and the printed name.
fn refusal(error: &ClientError) -> Option<WireError> {
    match error {
        ClientError::Refused(wire) | ClientError::Handshake(wire) => Some(wire.clone()),
        ClientError::LimitExceeded(reason) => Some(WireError::new(stockd::protocol::ErrorCode::LimitExceeded, reason)),
        _ => None,
    }
}

#[derive(Serialize)]
struct ErrorDocument<'a> {
    error: ErrorBody<'a>,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    /// The error code's name (`INSUFFICIENT_STOCK`), or null when the server did not answer.
    code: Option<&'static str>,
    number: Option<u16>,
    message: String,
    short_lines: &'a [ShortLine],
    exit_code: u8,
}

/// The exit code of a command's result, after printing what went wrong.
pub fn finish(result: Result<bool, Failure>, json: bool) -> ExitCode {
    let (code, message, wire, hint) = match result {
        Ok(true) => return ExitCode::SUCCESS,
        Ok(false) => return ExitCode::from(1),
        // The reader of our output went away (`| head`): nothing more to say.
        Err(Failure::Output(error)) if error.kind() == io::ErrorKind::BrokenPipe => return ExitCode::SUCCESS,
        Err(Failure::Output(error)) => (2, format!("cannot write the output: {error}"), None, None),
        Err(Failure::Usage(message)) => (2, message, None, None),
        Err(Failure::Client { error, hint }) => match refusal(&error) {
            Some(wire) => (1, wire.message.clone(), Some(wire), hint),
            None => (2, error.to_string(), None, hint),
        },
    };
    if json {
        let document = ErrorDocument {
            error: ErrorBody {
                code: wire.as_ref().map(|w| w.code.name()),
                number: wire.as_ref().map(|w| w.code.number()),
                message: message.clone(),
                short_lines: wire.as_ref().map_or(&[], |w| &w.short_lines),
                exit_code: code,
            },
        };
        let mut out = io::stdout().lock();
        let _ = serde_json::to_writer_pretty(&mut out, &document);
        let _ = writeln!(out);
    }
    let mut err = io::stderr().lock();
    match &wire {
        Some(wire) => {
            let _ = writeln!(err, "error: {}: {}", wire.code.name(), wire.message);
            for line in &wire.short_lines {
                let _ = writeln!(
                    err,
                    "  {} at {}: requested {}, available {}",
                    line.sku, line.location, line.requested, line.available
                );
            }
        }
        None => {
            let _ = writeln!(err, "error: {message}");
        }
    }
    if let Some(hint) = hint {
        let _ = writeln!(err, "  hint: {hint}");
    }
    ExitCode::from(code)
}

/// Prints a result: `value` as pretty JSON with `--json`, else what `human` writes.
pub fn emit<T: Serialize>(
    json: bool,
    value: &T,
    human: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> Result<(), Failure> {
    let mut out = BufWriter::new(io::stdout().lock());
    if json {
        serde_json::to_writer_pretty(&mut out, value).map_err(io::Error::from)?;
        writeln!(out)?;
    } else {
        human(&mut out)?;
    }
    out.flush()?;
    Ok(())
}

/// `name  value` lines, the values aligned.
pub fn fields(out: &mut dyn Write, rows: &[(&str, String)]) -> io::Result<()> {
    let width = rows.iter().map(|(name, _)| name.chars().count()).max().unwrap_or(0);
    for (name, value) in rows {
        writeln!(out, "{name:<width$}  {value}")?;
    }
    Ok(())
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Align {
    Left,
    Right,
}

/// A table printed with aligned columns, two spaces apart (as `stockd`'s tools print).
pub struct Table {
    headers: Vec<(&'static str, Align)>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(headers: &[(&'static str, Align)]) -> Table {
        Table { headers: headers.to_vec(), rows: Vec::new() }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        debug_assert_eq!(cells.len(), self.headers.len());
        self.rows.push(cells);
    }

    pub fn write(&self, out: &mut dyn Write) -> io::Result<()> {
        let mut widths: Vec<usize> = self.headers.iter().map(|(name, _)| name.chars().count()).collect();
        for row in &self.rows {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.chars().count());
            }
        }
        let headers: Vec<String> = self.headers.iter().map(|(name, _)| (*name).to_owned()).collect();
        for row in std::iter::once(&headers).chain(&self.rows) {
            let mut line = String::new();
            for (index, cell) in row.iter().enumerate() {
                let (width, align) = (widths[index], self.headers[index].1);
                let pad = width - cell.chars().count();
                if index > 0 {
                    line.push_str("  ");
                }
                match align {
                    Align::Right => {
                        line.extend(std::iter::repeat_n(' ', pad));
                        line.push_str(cell);
                    }
                    Align::Left => {
                        line.push_str(cell);
                        if index + 1 < row.len() {
                            line.extend(std::iter::repeat_n(' ', pad));
                        }
                    }
                }
            }
            writeln!(out, "{line}")?;
        }
        Ok(())
    }
}

/// Milliseconds since the Unix epoch as `YYYY-MM-DD HH:MM:SS.mmm UTC`.
pub fn utc(ms: u64) -> String {
    let seconds = ms / 1_000;
    let (days, in_day) = (seconds / 86_400, seconds % 86_400);
    let (year, month, day) = civil_from_days(days as i64);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}.{:03} UTC",
        in_day / 3_600,
        in_day % 3_600 / 60,
        in_day % 60,
        ms % 1_000
    )
}

/// An optional time, or `-`.
pub fn utc_or_dash(ms: Option<u64>) -> String {
    ms.map_or_else(|| "-".to_owned(), utc)
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's
/// `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era = (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * shifted_month + 2) / 5 + 1) as u32;
    let month = if shifted_month < 10 { shifted_month + 3 } else { shifted_month - 9 } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_dates() {
        assert_eq!(utc(0), "1970-01-01 00:00:00.000 UTC");
        assert_eq!(utc(1_700_000_000_123), "2023-11-14 22:13:20.123 UTC");
    }

    #[test]
    fn tables_align() {
        let mut table = Table::new(&[("sku", Align::Left), ("available", Align::Right)]);
        table.row(vec!["TSHIRT-RED-M".into(), "5".into()]);
        let mut out = Vec::new();
        table.write(&mut out).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "sku           available\nTSHIRT-RED-M          5\n");
    }
}
