//! Replay: storing logged after-images back into an engine, in log order.
//!
//! Replay runs on an engine with no journal attached (nothing is logged twice) and
//! before the engine serves anything. Storing an image that a snapshot already holds
//! changes nothing, so replay may start anywhere at or before the snapshot's
//! starting LSN.

use super::journal::{LoggedPosition, LoggedReservation, ReplayEntry};
use super::reservations::ReservationShard;
use super::stock_table::ShardGuards;
use super::{Engine, EngineError, Operation};
use crate::model::{SkuId, Timestamp};
use parking_lot::MutexGuard;

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
    #[error("a catalogue record holds a {0} operation, which is not a catalogue change")]
    NotCatalogue(&'static str),
}

/// One step of the position part of a replay ([`PositionReplay`]), in log order.
#[derive(Debug)]
pub enum PositionStep {
    Image(LoggedPosition),
    Interned { sku: SkuId, name: String },
    Catalogue(Box<Operation>),
}

/// The position part of a replay: SKU names, catalogue changes and position images,
/// stored in log order by one thread. Positions and reservations are separate
/// tables and an image replaces whatever it finds, so each part can be replayed on
/// its own thread: each position (each reservation) still ends as its last image.
///
/// It write-locks every stock shard once and keeps them (replay runs before the
/// engine serves anything), so storing an image takes no atomic operation; the
/// locks are let go for a catalogue change, which takes its own.
pub struct PositionReplay<'a> {
    engine: &'a Engine,
    guards: Option<ShardGuards<'a>>,
    known_skus: usize,
    known_locations: usize,
}

impl<'a> PositionReplay<'a> {
    pub fn new(engine: &'a Engine) -> PositionReplay<'a> {
        assert!(engine.journal.is_none(), "replay runs before a journal is attached");
        PositionReplay {
            engine,
            guards: None,
            known_skus: engine.skus.len(),
            known_locations: engine.catalogue.load().locations.len(),
        }
    }

    pub fn step(&mut self, step: PositionStep) -> Result<(), ReplayError> {
        match step {
            PositionStep::Image(image) => self.store(image),
            PositionStep::Interned { sku, name } => {
                self.engine.replay_interned(sku.0, name)?;
                self.known_skus = self.engine.skus.len();
                Ok(())
            }
            PositionStep::Catalogue(operation) => {
                let kind = match *operation {
                    Operation::UpsertLocations(_) | Operation::UpsertChannel(_) | Operation::DefineKit { .. } => None,
                    Operation::BulkLoad(_) => Some("bulk load"),
                    _ => Some("non-catalogue"),
                };
                if let Some(kind) = kind {
                    return Err(ReplayError::NotCatalogue(kind));
                }
                self.guards = None; // the change takes the locks it needs
                self.engine.apply(&operation, Timestamp(0)).map_err(ReplayError::Catalogue)?;
                self.known_skus = self.engine.skus.len();
                self.known_locations = self.engine.catalogue.load().locations.len();
                Ok(())
            }
        }
    }

    fn store(&mut self, image: LoggedPosition) -> Result<(), ReplayError> {
        if image.sku.index() >= self.known_skus {
            return Err(ReplayError::UnknownSku { sku: image.sku.0 });
        }
        if image.location.index() >= self.known_locations {
            return Err(ReplayError::UnknownLocation { location: image.location.0 });
        }
        let stock = &self.engine.stock;
        let guards = self
            .guards
            .get_or_insert_with(|| stock.write_many((0..stock.shard_count()).map(|index| SkuId(index as u32))));
        *guards.shard(stock.shard_of(image.sku)).get_or_insert(image.sku, image.location) = image.position;
        Ok(())
    }
}

/// The reservation part of a replay: reservation images stored in log order by one
/// thread, which locks the reservation shards it holds once and keeps them until dropped.
/// Deadlines and the remembered count are set by [`Engine::rebuild_deadlines`].
///
/// Reservation shards are independent too: two `ReservationReplay`s over disjoint
/// halves ([`ReservationReplay::half`]) let two threads share the work.
pub struct ReservationReplay<'a> {
    engine: &'a Engine,
    /// The first shard held; `shards[i]` is shard `first + i`.
    first: usize,
    shards: Vec<MutexGuard<'a, ReservationShard>>,
}

impl<'a> ReservationReplay<'a> {
    /// Holds every reservation shard.
    pub fn new(engine: &'a Engine) -> ReservationReplay<'a> {
        Self::holding(engine, 0..engine.reservations.shard_count())
    }

    /// Holds the lower (`upper` false) or upper half of the reservation shards.
    pub fn half(engine: &'a Engine, upper: bool) -> ReservationReplay<'a> {
        let (count, middle) = (engine.reservations.shard_count(), engine.reservations.shard_count() / 2);
        Self::holding(engine, if upper { middle..count } else { 0..middle })
    }

    fn holding(engine: &'a Engine, shards: std::ops::Range<usize>) -> ReservationReplay<'a> {
        assert!(engine.journal.is_none(), "replay runs before a journal is attached");
        let table = &engine.reservations;
        ReservationReplay { engine, first: shards.start, shards: shards.map(|index| table.lock_shard(index)).collect() }
    }

    /// Whether the reservation `id` lives in a shard this replay holds.
    pub fn holds(&self, id: &str) -> bool {
        self.engine.reservations.shard_of(id).wrapping_sub(self.first) < self.shards.len()
    }

    /// Stores an image of a reservation in a shard this replay holds.
    pub fn store(&mut self, image: LoggedReservation) {
        let id = match &image {
            LoggedReservation::Present(reservation) => &*reservation.id,
            LoggedReservation::Forgotten { id } => id.as_str(),
        };
        let index = self.engine.reservations.shard_of(id).wrapping_sub(self.first);
        let shard = self.shards.get_mut(index).expect("the image's shard is held by this replay");
        match image {
            LoggedReservation::Present(reservation) => {
                shard.by_id.insert(reservation.id.clone(), reservation);
            }
            LoggedReservation::Forgotten { id } => {
                shard.by_id.remove(id.as_str());
            }
        }
    }
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

    /// Schedules every reservation's deadline afresh, and counts the reservations
    /// remembered (after a replay).
    pub fn rebuild_deadlines(&self) {
        self.reservations.rebuild_deadlines();
        self.reservations.recount_remembered();
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{ReserveLine, ReserveRequest};
    use crate::model::{LocationId, Position};

    #[test]
    fn a_catalogue_record_holding_another_operation_is_refused_not_applied() {
        let engine = Engine::default();
        let mut positions = PositionReplay::new(&engine);
        let reserve = Operation::Reserve(ReserveRequest {
            id: "r".to_owned(),
            lines: vec![ReserveLine { sku: "A".to_owned(), location: "L".to_owned(), quantity: 1 }],
            ttl_ms: 1_000,
            promise_by: None,
        });
        let error = positions.step(PositionStep::Catalogue(Box::new(reserve))).unwrap_err();
        assert!(matches!(error, ReplayError::NotCatalogue("non-catalogue")), "{error}");
        assert_eq!(engine.reservations.remembered(), 0);
    }

    #[test]
    fn position_images_name_only_interned_skus_and_known_locations() {
        let engine = Engine::default();
        let mut positions = PositionReplay::new(&engine);
        let image = |sku, location| {
            PositionStep::Image(LoggedPosition {
                sku: SkuId(sku),
                location: LocationId(location),
                position: Position { on_hand: 3, ..Position::default() },
            })
        };
        assert!(matches!(positions.step(image(0, 0)), Err(ReplayError::UnknownSku { sku: 0 })));
        positions.step(PositionStep::Interned { sku: SkuId(0), name: "A".to_owned() }).unwrap();
        assert!(matches!(positions.step(image(0, 0)), Err(ReplayError::UnknownLocation { location: 0 })));
        let locations = Operation::UpsertLocations(vec![crate::model::LocationSpec {
            name: "L".to_owned(),
            kind: crate::model::LocationKind::Warehouse,
            coordinates: crate::model::Coordinates { latitude: 0.0, longitude: 0.0 },
            flags: crate::model::LocationFlags { ships: true, pickup: false },
            priority: 1,
        }]);
        positions.step(PositionStep::Catalogue(Box::new(locations))).unwrap();
        positions.step(image(0, 0)).unwrap();
        drop(positions);
        assert_eq!(engine.stock.read(SkuId(0)).get(SkuId(0), LocationId(0)).map(|p| p.on_hand), Some(3));
    }
}
