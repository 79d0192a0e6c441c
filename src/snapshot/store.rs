//! The snapshot folder: which snapshots exist, and keeping the newest few.

use super::format::{read_header, SnapshotError, SnapshotHeader};
use std::fs;
use std::path::{Path, PathBuf};

#[derive(Clone, Debug)]
pub struct SnapshotFile {
    pub path: PathBuf,
    pub bytes: u64,
    /// The header, or why it could not be read (a damaged file is still listed).
    pub header: Result<SnapshotHeader, String>,
}

/// Every `snapshot-*.snap` in `dir`, newest (highest LSN) first.
pub fn list_snapshots(dir: &Path) -> Result<Vec<SnapshotFile>, SnapshotError> {
    let mut files = Vec::new();
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(files),
        Err(source) => return Err(SnapshotError::Io { path: dir.to_owned(), source }),
    };
    for entry in entries {
        let entry = entry.map_err(|source| SnapshotError::Io { path: dir.to_owned(), source })?;
        let path = entry.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        if !(name.starts_with("snapshot-") && name.ends_with(".snap")) {
            continue;
        }
        let bytes = entry.metadata().map(|m| m.len()).unwrap_or(0);
        let header = read_header(&path).map_err(|error| error.to_string());
        files.push(SnapshotFile { path, bytes, header });
    }
    files.sort_by(|a, b| b.path.cmp(&a.path));
    Ok(files)
}

/// Deletes all but the newest `keep` snapshots (and leftover temporary files).
/// Returns the oldest kept snapshot's `covers_lsn`: log segments wholly before it
/// are no longer needed.
pub fn prune_snapshots(dir: &Path, keep: usize) -> Result<Option<u64>, SnapshotError> {
    let keep = keep.max(1);
    let files = list_snapshots(dir)?;
    for file in files.iter().skip(keep) {
        fs::remove_file(&file.path).map_err(|source| SnapshotError::Io { path: file.path.clone(), source })?;
    }
    if let Ok(entries) = fs::read_dir(dir) {
        for entry in entries.flatten() {
            let name = entry.file_name();
            if name.to_str().is_some_and(|n| n.starts_with(".snapshot-") && n.ends_with(".tmp")) {
                let _ = fs::remove_file(entry.path());
            }
        }
    }
    Ok(files.iter().take(keep).filter_map(|f| f.header.as_ref().ok()).map(|h| h.covers_lsn).min())
}
