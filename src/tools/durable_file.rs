//! Small files replaced durably and atomically: the generated certificate and key,
//! the generated admin token's hash, the sourcing profiles a running server was given.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;

/// Who may read a file written by [`write_atomically`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Readers {
    /// The usual mode (the umask decides).
    Anyone,
    /// Mode 0600 on Unix: keys and token hashes.
    OwnerOnly,
}

/// Replaces `path` with `contents` so that a crash leaves either the old file or the
/// new one, never a torn one: written to `.<name>.tmp` beside it, fsynced, renamed
/// over `path`, then the directory fsynced so that the rename itself is durable. The
/// folder is created if missing.
pub fn write_atomically(path: &Path, contents: &[u8], readers: Readers) -> io::Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, format!("{} names no file", path.display())))?;
    fs::create_dir_all(dir)?;
    let temporary = dir.join(format!(".{}.tmp", name.to_string_lossy()));
    let mut options = OpenOptions::new();
    options.write(true).create(true).truncate(true);
    restrict_mode(&mut options, readers);
    let mut file = options.open(&temporary)?;
    // A temporary file left over by a crash keeps its old mode when opened: set it again.
    restrict_permissions(&file, readers)?;
    file.write_all(contents)?;
    file.sync_all()?;
    drop(file);
    fs::rename(&temporary, path)?;
    File::open(dir)?.sync_all()
}

#[cfg(unix)]
fn restrict_mode(options: &mut OpenOptions, readers: Readers) {
    use std::os::unix::fs::OpenOptionsExt;
    if readers == Readers::OwnerOnly {
        options.mode(0o600);
    }
}

#[cfg(not(unix))]
fn restrict_mode(_options: &mut OpenOptions, _readers: Readers) {}

#[cfg(unix)]
fn restrict_permissions(file: &File, readers: Readers) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    if readers == Readers::OwnerOnly {
        file.set_permissions(fs::Permissions::from_mode(0o600))?;
    }
    Ok(())
}

#[cfg(not(unix))]
fn restrict_permissions(_file: &File, _readers: Readers) -> io::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_a_file_and_leaves_no_temporary_behind() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested").join("profiles.toml");
        write_atomically(&path, b"first", Readers::Anyone).unwrap();
        write_atomically(&path, b"second", Readers::OwnerOnly).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"second");
        let names: Vec<_> = fs::read_dir(path.parent().unwrap()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, vec![std::ffi::OsString::from("profiles.toml")]);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
    }
}
