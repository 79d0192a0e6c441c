//! Replay: storing logged after-images back into an engine, in log order.
//!
//! Replay runs on an engine with no journal attached (nothing is logged twice) and
//! before the engine serves anything. Storing an image that a snapshot already holds
//! changes nothing, so replay may start anywhere at or before the snapshot's
//! starting LSN.

use super::journal::{LoggedReservation, ReplayEntry};
use super::{Engine, EngineError};
use crate::model::Timestamp;

#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("SKU id {sku} is logged as {logged:?}, but the engine knows it as {known:?}")]
    SkuMismatch { sku: u32, logged: String, known: String },
    #[error("SKU id {sku} is logged while the next id would be {next}: an interning record is missing")]
    SkuGap { sku: u32, next: usize },
    #[error("a record names SKU id {sku}, which no record interned")]
    UnknownSku { sku: u32 },
    #[error("a record names location id {location}, which no record created")]
    UnknownLocation { location: u32 },
    #[error("a logged catalogue change does not apply again: {0}")]
    Catalogue(EngineError),
}

impl Engine {
    /// Stores one logged entry. Deadlines are not scheduled here: call
    /// [`Engine::rebuild_deadlines`] once the whole log is replayed.
    pub fn replay(&self, entry: impl Into<ReplayEntry>) -> Result<(), ReplayError> {
        let entry = entry.into();
        assert!(self.journal.is_none(), "replay runs before a journal is attached");
        match entry {
            ReplayEntry::SkuInterned { sku, name } => self.replay_interned(sku.0, name),
            ReplayEntry::Catalogue { operation } => {
                self.apply(&operation, Timestamp(0)).map(|_| ()).map_err(ReplayError::Catalogue)
            }
            ReplayEntry::Change { positions, reservation, .. } => {
                let known_locations = self.catalogue.load().locations.len();
                let known_skus = self.skus.len();
                for image in positions {
                    if image.sku.index() >= known_skus {
                        return Err(ReplayError::UnknownSku { sku: image.sku.0 });
                    }
                    if image.location.index() >= known_locations {
                        return Err(ReplayError::UnknownLocation { location: image.location.0 });
                    }
                    *self.stock.write(image.sku).get_or_insert(image.sku, image.location) = image.position;
                }
                match reservation {
                    Some(LoggedReservation::Present(reservation)) => self.reservations.replace_restored(reservation),
                    Some(LoggedReservation::Forgotten { id }) => self.reservations.remove_restored(&id),
                    None => {}
                }
                Ok(())
            }
        }
    }

    /// Schedules every reservation's deadline afresh (after a replay).
    pub fn rebuild_deadlines(&self) {
        self.reservations.rebuild_deadlines();
    }

    fn replay_interned(&self, sku: u32, name: String) -> Result<(), ReplayError> {
        let next = self.skus.len();
        match (sku as usize).cmp(&next) {
            std::cmp::Ordering::Less => {
                let known = self.skus.name(crate::model::SkuId(sku));
                if *known != *name {
                    return Err(ReplayError::SkuMismatch { sku, logged: name, known: known.to_string() });
                }
                Ok(())
            }
            std::cmp::Ordering::Equal => {
                let id = self.skus.intern(&name, None).map_err(ReplayError::Catalogue)?;
                if id.0 != sku {
                    return Err(ReplayError::SkuMismatch { sku, logged: name, known: format!("id {}", id.0) });
                }
                Ok(())
            }
            std::cmp::Ordering::Greater => Err(ReplayError::SkuGap { sku, next }),
        }
    }
}
