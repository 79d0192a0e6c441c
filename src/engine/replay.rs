//! Replay: storing logged after-images back into an engine, in log order.
//!
//! Replay runs on an engine with no journal attached (nothing is logged twice) and
//! before the engine serves anything. Storing an image that a snapshot already holds
//! changes nothing, so replay may start anywhere at or before the snapshot's
//! starting LSN.

use super::journal::{LoggedPosition, LoggedReservation, ReplayEntry};
use super::reservations::ReservationShard;
use super::stock_table::StockShard;
use super::{Engine, EngineError, Operation};
use crate::model::{SkuId, Timestamp};
use parking_lot::{MutexGuard, RwLockWriteGuard};

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
///
/// Storing a position image is three dependent loads into a table far bigger than
/// the caches (the SKU's slot, its location list, the position), so a caller that
/// knows the coming steps hands them to [`PositionReplay::prefetch`] first: it
/// starts those loads a few images ahead, one stage each.
pub struct PositionReplay<'a> {
    engine: &'a Engine,
    /// Every stock shard's write guard, indexed by shard (taken at the first image).
    guards: Vec<RwLockWriteGuard<'a, StockShard>>,
    known_skus: usize,
    known_locations: usize,
}

impl<'a> PositionReplay<'a> {
    pub fn new(engine: &'a Engine) -> PositionReplay<'a> {
        assert!(engine.journal.is_none(), "replay runs before a journal is attached");
        PositionReplay {
            engine,
            guards: Vec::new(),
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
                self.guards.clear(); // the change takes the locks it needs
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
        if self.guards.is_empty() {
            self.guards = (0..stock.shard_count()).map(|index| stock.write_shard(index)).collect();
        }
        *self.guards[stock.shard_of(image.sku)].get_or_insert(image.sku, image.location) = image.position;
        Ok(())
    }

    /// Starts the loads that storing the coming position images will need, given the
    /// steps still to store (`coming[0]` next): the slot of the image
    /// [`PREFETCH_DISTANCE`] x 3 steps ahead, the location list of the one 2 x ahead
    /// (its slot fetched by now) and the position of the one 1 x ahead (its list
    /// fetched by now). Only a hint: it changes nothing and reads only what the
    /// shard holds (a SKU or location not there yet is skipped).
    pub fn prefetch<T>(&self, coming: &[T], image: impl Fn(&T) -> Option<&LoggedPosition>) {
        if self.guards.is_empty() {
            return;
        }
        let stock = &self.engine.stock;
        let shard = |image: &LoggedPosition| &*self.guards[stock.shard_of(image.sku)];
        if let Some(image) = coming.get(PREFETCH_DISTANCE * 3).and_then(&image) {
            // A slot is two vectors (48 bytes): it may straddle two lines.
            let slot = std::ptr::from_ref(shard(image).positions(image.sku));
            prefetch_line(slot.cast());
            prefetch_line(slot.cast::<u8>().wrapping_add(std::mem::size_of::<super::stock_table::SkuPositions>() - 1));
        }
        if let Some(image) = coming.get(PREFETCH_DISTANCE * 2).and_then(&image) {
            prefetch_line(shard(image).positions(image.sku).locations().as_ptr().cast());
        }
        if let Some(image) = coming.get(PREFETCH_DISTANCE).and_then(&image) {
            if let Some(position) = shard(image).get(image.sku, image.location) {
                prefetch_line(std::ptr::from_ref(position).cast());
            }
        }
    }
}

/// How many steps apart the stages of [`PositionReplay::prefetch`] run.
pub const PREFETCH_DISTANCE: usize = 4;

/// Asks the CPU to bring the cache line at `address` in (never faults, whatever the address).
#[inline(always)]
fn prefetch_line(address: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is a hint: it reads nothing the program sees and cannot
    // fault, whatever the address (SSE, which it needs, is part of x86_64).
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(address.cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = address;
}

/// The reservation part of a replay: reservation images stored in log order by one
/// thread, which locks the reservation shards it holds once and keeps them until dropped.
/// Deadlines and the remembered count are set by [`Engine::rebuild_deadlines`].
///
/// Reservation shards are independent too: two `ReservationReplay`s over disjoint
/// parts ([`ReservationReplay::part`]) let two threads share the work.
pub struct ReservationReplay<'a> {
    engine: &'a Engine,
    /// The first shard held; `shards[i]` is shard `first + i`.
    first: usize,
    shards: Vec<MutexGuard<'a, ReservationShard>>,
    /// The bytes the replay reads in all, if known: a shard about to grow is then
    /// sized for what it will hold at the end (see [`ReplaySizing`]).
    sizing: Option<ReplaySizing>,
    /// How far the replay had read when the record being stored began (bytes).
    read_bytes: u64,
    /// Per shard held: its size and `read_bytes` when it was last sized.
    last_sized: Vec<(usize, u64)>,
}

/// Sizing reservation shards ahead of their growth during a replay.
///
/// A reservation shard's map that grows one doubling at a time moves every entry
/// at each step and takes fresh (kernel-zeroed) memory for each new table: for a
/// log of a million new reservations, as much again as the final tables. So when a
/// shard's map is full, it is sized at once for the reservations it is expected to
/// hold at the end: its growth since it was last sized, per byte read meanwhile,
/// times the bytes still to read (at most [`ReplaySizing::MAX_GROWTH`] times its
/// size, so a log whose reservations all come early costs a bounded overshoot).
/// Each record's position in the log is handed in with it
/// ([`ReservationReplay::reading_at`]), so the sizes depend on the log alone, not on
/// how far ahead the reading thread happens to be.
#[derive(Clone, Copy, Debug)]
pub struct ReplaySizing {
    /// The bytes the replay reads in all.
    pub total_bytes: u64,
}

impl ReplaySizing {
    /// A shard is sized ahead only once it holds this many (fewer say too little about its rate).
    pub const MIN_ENTRIES: usize = 64;
    /// The most a shard is sized ahead to, as a multiple of what it holds.
    pub const MAX_GROWTH: usize = 8;

    /// The entries a shard holding `now` at `read` bytes will hold at the end, from
    /// its growth since it held `then` at `then_read` bytes; `None` if that says too little.
    fn expected(&self, now: usize, read: u64, (then, then_read): (usize, u64)) -> Option<usize> {
        if now < Self::MIN_ENTRIES || now <= then || read <= then_read {
            return None;
        }
        let per_byte = (now - then) as f64 / (read - then_read) as f64;
        let expected = now as f64 + per_byte * self.total_bytes.saturating_sub(read) as f64;
        Some((expected as usize).min(now.saturating_mul(Self::MAX_GROWTH)))
    }
}

impl<'a> ReservationReplay<'a> {
    /// Holds every reservation shard.
    pub fn new(engine: &'a Engine) -> ReservationReplay<'a> {
        Self::holding(engine, 0..engine.reservations.shard_count())
    }

    /// Holds the lower `lower_quarters` quarters of the reservation shards (`upper`
    /// false) or the rest.
    pub fn part(engine: &'a Engine, lower_quarters: usize, upper: bool) -> ReservationReplay<'a> {
        assert!(lower_quarters <= 4, "a part of at most four quarters");
        let count = engine.reservations.shard_count();
        let middle = count * lower_quarters / 4;
        Self::holding(engine, if upper { middle..count } else { 0..middle })
    }

    fn holding(engine: &'a Engine, shards: std::ops::Range<usize>) -> ReservationReplay<'a> {
        assert!(engine.journal.is_none(), "replay runs before a journal is attached");
        let table = &engine.reservations;
        let first = shards.start;
        let shards: Vec<_> = shards.map(|index| table.lock_shard(index)).collect();
        let last_sized = shards.iter().map(|shard| (shard.by_id.len(), 0)).collect();
        ReservationReplay { engine, first, shards, sizing: None, read_bytes: 0, last_sized }
    }

    /// Sizes each shard's map ahead of its growth (see [`ReplaySizing`]); the caller
    /// then says where each record begins with [`Self::reading_at`].
    pub fn sized_by(mut self, sizing: ReplaySizing) -> ReservationReplay<'a> {
        self.sizing = Some(sizing);
        self
    }

    /// The images stored next come from the record at this byte of the replay's input.
    pub fn reading_at(&mut self, bytes: u64) {
        self.read_bytes = bytes;
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
                let map = &mut shard.by_id;
                if map.len() == map.capacity() {
                    let read = self.read_bytes;
                    let expected =
                        self.sizing.and_then(|sizing| sizing.expected(map.len(), read, self.last_sized[index]));
                    if let Some(expected) = expected {
                        map.reserve(expected.saturating_sub(map.len()));
                        self.last_sized[index] = (map.len(), read);
                    }
                }
                map.insert(reservation.id.clone(), reservation);
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
    fn a_full_shard_is_sized_for_its_growth_per_byte_times_the_bytes_left_within_a_bound() {
        let sizing = ReplaySizing { total_bytes: 10_000 };
        let min = ReplaySizing::MIN_ENTRIES;
        // Too few entries, no growth since, or no bytes read since: nothing to go on.
        assert_eq!(sizing.expected(min - 1, 5_000, (0, 0)), None);
        assert_eq!(sizing.expected(min, 5_000, (min, 1_000)), None);
        assert_eq!(sizing.expected(min, 5_000, (0, 5_000)), None);
        // 100 entries over 1,000 bytes, 5,000 bytes left: 500 more.
        assert_eq!(sizing.expected(200, 5_000, (100, 4_000)), Some(700));
        // A burst early on is not taken for the whole log's rate.
        assert_eq!(sizing.expected(100, 100, (0, 0)), Some(100 * ReplaySizing::MAX_GROWTH));
    }

    #[test]
    fn a_sized_reservation_replay_stores_every_image() {
        let engine = Engine::default();
        let count = 5_000;
        {
            let mut replay = ReservationReplay::new(&engine).sized_by(ReplaySizing { total_bytes: count * 100 });
            for n in 0..count {
                replay.reading_at(n * 100);
                let id: std::sync::Arc<str> = std::sync::Arc::from(format!("r-{n}"));
                replay.store(LoggedReservation::Present(crate::engine::Reservation {
                    id,
                    state: crate::engine::ReservationState::Released,
                    created_at: Timestamp(1),
                    expires_at: None,
                    first_expires_at: Timestamp(2),
                    promise_by: None,
                    requested: Vec::new(),
                    lines: Vec::new(),
                    forget_at: Some(Timestamp(3)),
                    applied_steps: Vec::new(),
                }));
            }
            replay.store(LoggedReservation::Forgotten { id: "r-0".to_owned() });
        }
        engine.rebuild_deadlines();
        assert_eq!(engine.reservations.remembered(), count as usize - 1);
        assert!(engine.reservation("r-0").is_err() && engine.reservation("r-4999").is_ok());
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
