//! Sourcing profiles on a running server. They are configuration, not engine state:
//! read from a TOML file at start (the built-in profiles when there is none), and
//! replaced whole by the admin call `SetSourcingProfiles`, which validates the new
//! document, writes it over the file atomically and durably, and only then swaps it
//! into the engine, so that a restart comes back with the profiles last accepted.
//! (Sourced reservations are logged as the holds they made, so replaying the log
//! never needs the profiles that chose them.)

use super::config::ConfigError;
use crate::engine::{ProfileError, SourcingProfiles};
use crate::tools::durable_file::{write_atomically, Readers};
use crate::Engine;
use parking_lot::Mutex;
use std::path::{Path, PathBuf};

/// Why a replacement was refused (nothing changed) or failed (nothing changed
/// either: the file is written before the engine's profiles are swapped).
#[derive(Debug, thiserror::Error)]
pub enum ReplaceError {
    #[error("invalid sourcing profiles: {0}")]
    Invalid(#[from] ProfileError),
    #[error("cannot write {path}: {source}")]
    Write { path: PathBuf, source: std::io::Error },
}

/// Where the server keeps its sourcing profiles, and the one writer of that file.
pub struct ProfileStore {
    path: PathBuf,
    writer: Mutex<()>,
}

impl ProfileStore {
    /// Loads `path` into `engine` if it exists (a bad file refuses the start, naming
    /// it); otherwise the engine keeps its built-in profiles.
    pub fn open(path: PathBuf, engine: &Engine) -> Result<ProfileStore, ConfigError> {
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                let profiles = SourcingProfiles::from_toml(&text)
                    .map_err(|error| ConfigError::Parse { path: path.clone(), message: error.to_string() })?;
                tracing::info!(path = %path.display(), profiles = profiles.len(), "sourcing profiles loaded");
                engine.set_sourcing_profiles(profiles);
            }
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                tracing::info!(path = %path.display(), "no sourcing profiles file: using the built-in profiles");
            }
            Err(source) => return Err(ConfigError::Read { path, source }),
        }
        Ok(ProfileStore { path, writer: Mutex::new(()) })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Validates `text`, keeps it in the profiles file, then puts it in force.
    pub fn replace(&self, engine: &Engine, text: &str) -> Result<SourcingProfiles, ReplaceError> {
        let profiles = SourcingProfiles::from_toml(text)?;
        let _writer = self.writer.lock();
        write_atomically(&self.path, text.as_bytes(), Readers::Anyone)
            .map_err(|source| ReplaceError::Write { path: self.path.clone(), source })?;
        engine.set_sourcing_profiles(profiles.clone());
        tracing::info!(path = %self.path.display(), profiles = profiles.len(), "sourcing profiles replaced");
        Ok(profiles)
    }
}
