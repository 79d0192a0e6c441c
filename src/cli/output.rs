//! What the operator's tools share: the directory flags, the error type and exit
//! codes, aligned tables, JSON, and human-readable times and sizes (tables and times
//! are the ones `stockctl` prints too, from [`stockd::tools`]).
//!
//! Everything a tool prints as its result goes to stdout through a [`Out`] (so a
//! closed pipe, `stockd wal dump | head`, ends the tool quietly instead of a panic);
//! diagnostics, warnings and progress go to stderr.

use std::fs;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use stockd::snapshot::SnapshotError;
use stockd::storage::{ApplyError, RecoveryError, StorageConfig};
use stockd::tools::positions_csv::PositionsCsvError;
pub use stockd::tools::table::{Align, Table};
pub use stockd::tools::time_text::utc;
use stockd::wal::{DurabilityMode, WalError};

/// The folders of a stockd installation.
#[derive(clap::Args, Clone, Debug)]
pub struct DirArgs {
    /// The data directory (the log is in its `wal/` folder).
    #[arg(long = "data", value_name = "DIR", default_value = "data")]
    pub data: PathBuf,
    /// The snapshot directory.
    #[arg(long = "snapshots", value_name = "DIR", default_value = "snapshots")]
    pub snapshots: PathBuf,
}

impl DirArgs {
    /// A storage configuration for these folders: every write fsynced, and no
    /// periodic snapshots (the tools run once and exit).
    pub fn config(&self) -> StorageConfig {
        StorageConfig::with_manual_snapshots(self.data.clone(), self.snapshots.clone(), DurabilityMode::Always)
    }

    /// Refuses unless the folders hold a log or a snapshot, so that a mistyped path
    /// is reported instead of quietly creating a new, empty installation.
    pub fn require_existing(&self) -> Result<(), ToolError> {
        let has_log = self.config().wal_dir().is_dir();
        let has_snapshot = !stockd::snapshot::list_snapshots(&self.snapshots)?.is_empty();
        if has_log || has_snapshot {
            Ok(())
        } else {
            Err(ToolError::Refused(format!(
                "no stockd data here: {} has no log and {} has no snapshot (check --data and --snapshots)",
                self.config().wal_dir().display(),
                self.snapshots.display()
            )))
        }
    }
}

/// Why a tool could not do its job.
#[derive(Debug, thiserror::Error)]
pub enum ToolError {
    #[error(transparent)]
    Snapshot(#[from] SnapshotError),
    #[error("recovery failed: {0}")]
    Recovery(#[from] RecoveryError),
    #[error(transparent)]
    Wal(#[from] WalError),
    #[error(transparent)]
    Apply(#[from] ApplyError),
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    /// A CSV file that cannot be read as position rows; `line` counts from 1 (the header).
    #[error("{path}: line {line}: {reason}")]
    Csv { path: PathBuf, line: u64, reason: String },
    /// The request cannot be carried out as asked (nothing was changed).
    #[error("{0}")]
    Refused(String),
    #[error("cannot write the output: {0}")]
    Output(io::Error),
}

impl ToolError {
    pub fn io(path: &Path) -> impl FnOnce(io::Error) -> ToolError + '_ {
        move |source| ToolError::Io { path: path.to_owned(), source }
    }
}

impl From<io::Error> for ToolError {
    fn from(error: io::Error) -> Self {
        ToolError::Output(error)
    }
}

impl From<PositionsCsvError> for ToolError {
    fn from(error: PositionsCsvError) -> Self {
        match error {
            PositionsCsvError::Io { path, source } => ToolError::Io { path, source },
            PositionsCsvError::Line { path, line, reason } => ToolError::Csv { path, line, reason },
        }
    }
}

/// The exit code for a tool's result: `Ok(true)` all good, `Ok(false)` problems were
/// found and reported, `Err` the tool failed (reported here).
pub fn finish(result: Result<bool, ToolError>) -> ExitCode {
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        // The reader of our output went away (`| head`): nothing more to say.
        Err(ToolError::Output(error)) if error.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Buffered stdout.
pub type Out = BufWriter<io::StdoutLock<'static>>;

pub fn stdout() -> Out {
    BufWriter::with_capacity(64 * 1024, io::stdout().lock())
}

/// Writes `value` as pretty JSON and a newline.
pub fn write_json(out: &mut impl Write, value: &impl serde::Serialize) -> Result<(), ToolError> {
    serde_json::to_writer_pretty(&mut *out, value).map_err(|error| ToolError::Output(error.into()))?;
    writeln!(out)?;
    Ok(())
}

/// Writes `value` as one line of JSON (for JSON Lines output).
pub fn write_json_line(out: &mut impl Write, value: &impl serde::Serialize) -> Result<(), ToolError> {
    serde_json::to_writer(&mut *out, value).map_err(|error| ToolError::Output(error.into()))?;
    writeln!(out)?;
    Ok(())
}

/// A byte count as `812 B`, `4.2 KiB`, `1.3 GiB`.
pub fn bytes(count: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = count as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{count} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// The file name of a path, for compact listings.
pub fn file_name(path: &Path) -> String {
    path.file_name().map_or_else(|| path.display().to_string(), |name| name.to_string_lossy().into_owned())
}

/// Up to `shown` items joined by ", ", then how many more there are.
pub fn some_of<T: AsRef<str>>(items: &[T], shown: usize) -> String {
    let mut text = items.iter().take(shown).map(AsRef::as_ref).collect::<Vec<_>>().join(", ");
    if items.len() > shown {
        text.push_str(&format!(" (+{} more)", items.len() - shown));
    }
    text
}

/// Whether a directory is missing or has nothing in it.
pub fn is_missing_or_empty(dir: &Path) -> Result<bool, ToolError> {
    match fs::read_dir(dir) {
        Ok(mut entries) => Ok(entries.next().is_none()),
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(true),
        Err(source) => Err(ToolError::Io { path: dir.to_owned(), source }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_counts() {
        assert_eq!(bytes(812), "812 B");
        assert_eq!(bytes(4 * 1024 + 205), "4.2 KiB");
    }
}
