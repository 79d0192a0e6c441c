//! What every command shares for its output: aligned tables and `name  value` lists
//! in the style of `stockd`'s tools, one JSON document with `--json`, times, and the
//! one place that prints failures and chooses the exit code. Tables and times are
//! `stockd`'s own ([`stockd::tools`]), so both binaries print them alike.
//!
//! Results go to stdout (a closed pipe ends the tool quietly); errors go to stderr,
//! and with `--json` a refusal or failure is also one JSON document on stdout.

use serde::Serialize;
use std::io::{self, BufWriter, Write};
use std::process::ExitCode;
use stockd::client::ClientError;
use stockd::protocol::{ShortLine, WireError};
pub use stockd::tools::table::{Align, Table};
pub use stockd::tools::time_text::{utc, utc_or_dash};

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
                // A sourced reserve's short lines name no location: what is available
                // is over every location the profile allows.
                let place =
                    if line.location.is_empty() { "the eligible locations".to_owned() } else { line.location.clone() };
                let _ = writeln!(
                    err,
                    "  {} at {place}: requested {}, available {}",
                    line.sku, line.requested, line.available
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
