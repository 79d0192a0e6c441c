//! The reservation table: every remembered reservation, sharded by id, with a
//! deadline heap per shard so that expiry never scans all reservations.
//!
//! Lock order, everywhere: one reservation shard, then stock shards (ascending).
//! Holding a reservation shard while reserving is what makes a retried request with
//! the same id wait for the first one and then return its outcome.

use crate::model::{HoldKind, LocationId, SkuId, Timestamp};
use crossbeam_utils::CachePadded;
use parking_lot::{Mutex, MutexGuard};
use rustc_hash::{FxBuildHasher, FxHashMap};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Where a reservation is in its lifecycle (see the domain notes).
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    serde::Serialize,
    serde::Deserialize,
    rkyv::Archive,
    rkyv::Serialize,
    rkyv::Deserialize,
)]
pub enum ReservationState {
    Held,
    Committed,
    Fulfilled,
    Released,
    Expired,
}

impl ReservationState {
    /// A terminal reservation holds no stock and is only remembered for idempotency.
    pub fn is_terminal(self) -> bool {
        matches!(self, ReservationState::Fulfilled | ReservationState::Released | ReservationState::Expired)
    }
}

/// One line as the client asked for it (the SKU may be a kit).
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    serde::Serialize,
    serde::Deserialize,
    rkyv::Archive,
    rkyv::Serialize,
    rkyv::Deserialize,
)]
pub struct RequestedLine {
    pub sku: SkuId,
    pub location: LocationId,
    pub quantity: u32,
}

/// One held line: a component SKU at a location, and what became of its units.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    serde::Serialize,
    serde::Deserialize,
    rkyv::Archive,
    rkyv::Serialize,
    rkyv::Deserialize,
)]
pub struct HeldLine {
    pub sku: SkuId,
    pub location: LocationId,
    pub kind: HoldKind,
    /// Units held when the reservation was made.
    pub quantity: u32,
    /// Units still held (counted in the position's `reserved`).
    pub held: u32,
    pub fulfilled: u32,
    pub released: u32,
    /// Fulfilled units that came back through `restock`.
    pub returned: u32,
}

#[derive(
    Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize,
)]
pub struct Reservation {
    pub id: Arc<str>,
    pub state: ReservationState,
    pub created_at: Timestamp,
    /// When a held reservation expires; `None` once committed or terminal.
    pub expires_at: Option<Timestamp>,
    /// The expiry the first outcome reported (the idempotent reply repeats it).
    pub first_expires_at: Timestamp,
    pub promise_by: Option<Timestamp>,
    pub requested: Vec<RequestedLine>,
    pub lines: Vec<HeldLine>,
    /// When a terminal reservation is forgotten (its idempotency window ends).
    pub forget_at: Option<Timestamp>,
    /// Client ids of the partial fulfils, releases and returns already applied, so
    /// that a retried step is not applied twice. At most `MAX_STEPS_PER_RESERVATION`.
    pub applied_steps: Vec<Box<str>>,
}

impl Reservation {
    /// Whether a held reservation's time to live has passed at `now`.
    pub fn is_past_ttl(&self, now: Timestamp) -> bool {
        self.state == ReservationState::Held && self.expires_at.is_some_and(|at| at <= now)
    }

    /// When the engine must look at this reservation again: its TTL while held, its
    /// forgetting once terminal.
    pub fn deadline(&self) -> Option<Timestamp> {
        match self.state {
            ReservationState::Held => self.expires_at,
            ReservationState::Committed => None,
            _ => self.forget_at,
        }
    }

    pub fn held_units(&self) -> u64 {
        self.lines.iter().map(|l| u64::from(l.held)).sum()
    }
}

/// A shard's reservations by id.
///
/// The reservations live in a slab of fixed-size chunks and the hash table holds only
/// the id and a slot number (24 bytes a slot, not ~180): when the table grows (it
/// doubles, moving every slot into freshly faulted memory), it moves and zeroes a
/// seventh of the bytes, and a reservation never moves once stored. A server that
/// keeps every order for its idempotency window grows this table all day; on the
/// reserve path its growth (rehash, page faults) was ~18 % of the network thread's
/// time when reservations were stored inline. A chunk is allocated once per
/// [`SLAB_CHUNK`] reservations rather than a box per reservation (a box cost ~180
/// instructions a reserve: mimalloc's aligned entry point, which the global allocator
/// uses, takes a slow over-allocating path for this size once its page is full).
/// Forgotten slots are reused; the slab never shrinks (bounded by the most
/// reservations the shard ever held at once, itself bounded by `max_reservations`).
#[derive(Default)]
pub struct ReservationMap {
    entries: FxHashMap<Arc<str>, u32>,
    slab: ReservationSlab,
}

/// Reservations a slab chunk holds (about 160 KiB of them).
const SLAB_CHUNK: usize = 1024;

/// Slots for reservations in chunks that never reallocate, so that a stored
/// reservation stays where it is; vacated slots are reused first.
#[derive(Default)]
struct ReservationSlab {
    /// Each of capacity exactly `SLAB_CHUNK`; all but the last are full.
    chunks: Vec<Vec<Option<Reservation>>>,
    vacant: Vec<u32>,
}

impl ReservationSlab {
    #[inline]
    fn get(&self, slot: u32) -> &Reservation {
        let slot = slot as usize;
        self.chunks[slot / SLAB_CHUNK][slot % SLAB_CHUNK].as_ref().expect("an indexed slot is occupied")
    }

    #[inline]
    fn get_mut(&mut self, slot: u32) -> &mut Reservation {
        let slot = slot as usize;
        self.chunks[slot / SLAB_CHUNK][slot % SLAB_CHUNK].as_mut().expect("an indexed slot is occupied")
    }

    /// Puts `reservation` in a vacant slot, or a new one, and returns the slot.
    #[inline]
    fn store(&mut self, reservation: Reservation) -> u32 {
        let slot = match self.vacant.pop() {
            Some(slot) => slot,
            None => self.new_slot(),
        };
        let place = &mut self.chunks[slot as usize / SLAB_CHUNK][slot as usize % SLAB_CHUNK];
        debug_assert!(place.is_none(), "a vacant slot is empty");
        // Moved once, straight into its place.
        *place = Some(reservation);
        slot
    }

    /// Appends an empty slot to the last chunk (a new one if it is full).
    fn new_slot(&mut self) -> u32 {
        if self.chunks.last().is_none_or(|chunk| chunk.len() == SLAB_CHUNK) {
            self.chunks.push(Vec::with_capacity(SLAB_CHUNK));
        }
        let full_chunks = self.chunks.len() - 1;
        let chunk = self.chunks.last_mut().expect("a chunk with room");
        debug_assert!(chunk.len() < SLAB_CHUNK && chunk.capacity() == SLAB_CHUNK, "a chunk never reallocates");
        chunk.push(None);
        u32::try_from(full_chunks * SLAB_CHUNK + chunk.len() - 1).expect("fewer than 2^32 reservations a shard")
    }

    fn take(&mut self, slot: u32) -> Reservation {
        let place = &mut self.chunks[slot as usize / SLAB_CHUNK][slot as usize % SLAB_CHUNK];
        let reservation = place.take().expect("an indexed slot is occupied");
        self.vacant.push(slot);
        reservation
    }
}

impl ReservationMap {
    pub fn get(&self, id: &str) -> Option<&Reservation> {
        self.entries.get(id).map(|&slot| self.slab.get(slot))
    }

    pub fn get_mut(&mut self, id: &str) -> Option<&mut Reservation> {
        self.entries.get(id).map(|&slot| self.slab.get_mut(slot))
    }

    pub fn contains_key(&self, id: &str) -> bool {
        self.entries.contains_key(id)
    }

    /// Stores `reservation` under `id`, returning the one it replaces.
    #[inline]
    pub fn insert(&mut self, id: Arc<str>, reservation: Reservation) -> Option<Reservation> {
        debug_assert_eq!(id, reservation.id, "a reservation is stored under its own id");
        match self.entries.get(&*id) {
            Some(&slot) => Some(std::mem::replace(self.slab.get_mut(slot), reservation)),
            None => {
                let slot = self.slab.store(reservation);
                self.entries.insert(id, slot);
                None
            }
        }
    }

    /// Stores a reservation whose id the map does not hold (the caller looked it up
    /// under the same shard lock), and returns it where it now lies.
    #[inline]
    pub fn insert_new(&mut self, reservation: Reservation) -> &Reservation {
        debug_assert!(!self.entries.contains_key(&*reservation.id), "insert_new of a stored id");
        let id = reservation.id.clone();
        let slot = self.slab.store(reservation);
        self.entries.insert(id, slot);
        self.slab.get(slot)
    }

    pub fn remove(&mut self, id: &str) -> Option<Reservation> {
        self.entries.remove(id).map(|slot| self.slab.take(slot))
    }

    /// In the order of the hash table (as when the table held the reservations).
    pub fn values(&self) -> impl Iterator<Item = &Reservation> {
        self.entries.values().map(|&slot| self.slab.get(slot))
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// How many reservations fit before the table grows.
    pub fn capacity(&self) -> usize {
        self.entries.capacity()
    }

    /// Makes room for `additional` more reservations at once (replay sizes a table for
    /// the rest of the log instead of doubling it step by step).
    pub fn reserve(&mut self, additional: usize) {
        self.entries.reserve(additional);
    }
}

impl std::ops::Index<&str> for ReservationMap {
    type Output = Reservation;

    fn index(&self, id: &str) -> &Reservation {
        self.get(id).expect("the reservation is in the map")
    }
}

/// A moment at which a reservation must be looked at again: its TTL or its
/// forgetting. Stale entries (after an extend or a commit) are skipped when popped.
type Deadline = Reverse<(Timestamp, Arc<str>)>;

#[derive(Default)]
pub struct ReservationShard {
    pub by_id: ReservationMap,
    deadlines: BinaryHeap<Deadline>,
}

impl ReservationShard {
    pub fn schedule(&mut self, at: Timestamp, id: Arc<str>) {
        self.deadlines.push(Reverse((at, id)));
    }

    /// Pops the next deadline due at or before `now`.
    pub fn pop_due(&mut self, now: Timestamp) -> Option<(Timestamp, Arc<str>)> {
        match self.deadlines.peek() {
            Some(Reverse((at, _))) if *at <= now => self.deadlines.pop().map(|Reverse(entry)| entry),
            _ => None,
        }
    }

    pub fn has_due(&self, now: Timestamp) -> bool {
        self.deadlines.peek().is_some_and(|Reverse((at, _))| *at <= now)
    }
}

pub struct ReservationTable {
    shards: Box<[CachePadded<Mutex<ReservationShard>>]>,
    hasher: FxBuildHasher,
    /// Reservations remembered across all shards (held, committed or terminal).
    remembered: AtomicUsize,
}

impl ReservationTable {
    pub fn new(shard_count: usize) -> ReservationTable {
        let shard_count = shard_count.max(1).next_power_of_two();
        let shards = (0..shard_count).map(|_| CachePadded::new(Mutex::new(ReservationShard::default()))).collect();
        ReservationTable { shards, hasher: FxBuildHasher, remembered: AtomicUsize::new(0) }
    }

    pub fn shard_count(&self) -> usize {
        self.shards.len()
    }

    pub fn lock_for(&self, id: &str) -> MutexGuard<'_, ReservationShard> {
        self.shards[self.shard_of(id)].lock()
    }

    pub fn lock_shard(&self, index: usize) -> MutexGuard<'_, ReservationShard> {
        self.shards[index].lock()
    }

    pub fn remembered(&self) -> usize {
        self.remembered.load(Ordering::Relaxed)
    }

    /// Counts one more remembered reservation unless that would pass `limit`.
    pub fn try_count_new(&self, limit: usize) -> bool {
        self.remembered.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| (n < limit).then_some(n + 1)).is_ok()
    }

    /// Puts back a reservation read from a snapshot or the log, with its deadline.
    /// Returns false (and changes nothing) if the id is already there.
    pub fn insert_restored(&self, reservation: Reservation) -> bool {
        let mut shard = self.lock_for(&reservation.id);
        if shard.by_id.contains_key(&reservation.id) {
            return false;
        }
        if let Some(at) = reservation.deadline() {
            shard.schedule(at, reservation.id.clone());
        }
        shard.by_id.insert(reservation.id.clone(), reservation);
        self.remembered.fetch_add(1, Ordering::Relaxed);
        true
    }

    /// Replaces (or adds) a reservation from the log. Its deadline is scheduled by
    /// `rebuild_deadlines` once replay ends.
    pub fn replace_restored(&self, reservation: Reservation) {
        let mut shard = self.lock_for(&reservation.id);
        if shard.by_id.insert(reservation.id.clone(), reservation).is_none() {
            self.remembered.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Drops every scheduled deadline and schedules each reservation's current one.
    pub fn rebuild_deadlines(&self) {
        for shard in self.shards.iter() {
            let mut shard = shard.lock();
            let deadlines: Vec<Deadline> =
                shard.by_id.values().filter_map(|r| r.deadline().map(|at| Reverse((at, r.id.clone())))).collect();
            shard.deadlines = BinaryHeap::from(deadlines);
        }
    }

    /// Removes a forgotten reservation replayed from the log.
    pub fn remove_restored(&self, id: &str) {
        if self.lock_for(id).by_id.remove(id).is_some() {
            self.count_forgotten();
        }
    }

    pub fn count_forgotten(&self) {
        self.remembered.fetch_sub(1, Ordering::Relaxed);
    }

    /// The index of the shard `id` lives in (for [`Self::lock_shard`]). Taken from
    /// bits 32 and up of the id's hash: a shard's map finds its buckets from the low
    /// bits of the same hash (and hashbrown's tag from the top 7), so a shard index
    /// from the low bits would give every id in a shard the same low bits and start
    /// all their probes in 1/256th of the buckets.
    pub fn shard_of(&self, id: &str) -> usize {
        ((self.hasher.hash_one(id) >> 32) as usize) & (self.shards.len() - 1)
    }

    /// Sets the remembered count to what the shards hold (after a replay that
    /// stored reservations under shard locks it held throughout).
    pub fn recount_remembered(&self) {
        let held: usize = self.shards.iter().map(|shard| shard.lock().by_id.len()).sum();
        self.remembered.store(held, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reservation(id: &str, quantity: u32) -> Reservation {
        Reservation {
            id: Arc::from(id),
            state: ReservationState::Held,
            created_at: Timestamp(1),
            expires_at: Some(Timestamp(2)),
            first_expires_at: Timestamp(2),
            promise_by: None,
            requested: vec![RequestedLine { sku: SkuId(0), location: LocationId(0), quantity }],
            lines: Vec::new(),
            forget_at: None,
            applied_steps: Vec::new(),
        }
    }

    /// The slab behind the map: inserts past a chunk, replaces, removes and reuses
    /// slots, and every lookup finds the reservation stored under its id.
    #[test]
    fn map_keeps_each_reservation_under_its_id_across_chunks_and_reuse() {
        let mut map = ReservationMap::default();
        let mut expected = std::collections::HashMap::new();
        let count = SLAB_CHUNK * 2 + 7;
        for i in 0..count {
            let id = format!("r{i}");
            assert!(map.insert(Arc::from(id.as_str()), reservation(&id, 1)).is_none());
            expected.insert(id, 1);
        }
        for i in (0..count).step_by(3) {
            let id = format!("r{i}");
            assert_eq!(map.remove(&id).map(|r| r.id.to_string()), Some(id.clone()));
            assert!(map.remove(&id).is_none());
            expected.remove(&id);
        }
        for i in (0..count).step_by(5) {
            let id = format!("r{i}");
            let previous = map.insert(Arc::from(id.as_str()), reservation(&id, 2));
            assert_eq!(previous.is_some(), expected.contains_key(&id), "{id}");
            expected.insert(id, 2);
        }
        for i in 0..SLAB_CHUNK {
            let id = format!("new{i}");
            if i % 2 == 0 {
                assert!(map.insert(Arc::from(id.as_str()), reservation(&id, 3)).is_none());
            } else {
                assert_eq!(&*map.insert_new(reservation(&id, 3)).id, id.as_str());
            }
            expected.insert(id, 3);
        }
        map.get_mut("r1").expect("kept").requested[0].quantity = 9;
        expected.insert("r1".to_owned(), 9);
        assert_eq!(map.len(), expected.len());
        for (id, quantity) in &expected {
            let stored = map.get(id).expect("stored");
            assert_eq!(&*stored.id, id.as_str());
            assert_eq!(stored.requested[0].quantity, *quantity);
            assert!(map.contains_key(id));
        }
        let mut seen: Vec<&str> = map.values().map(|r| &*r.id).collect();
        seen.sort_unstable();
        let mut ids: Vec<&str> = expected.keys().map(String::as_str).collect();
        ids.sort_unstable();
        assert_eq!(seen, ids);
        // Vacated slots were reused before the slab grew: it has as many slots as the
        // most reservations ever stored at once (the first `count`, or now).
        let slots: usize = map.slab.chunks.iter().map(Vec::len).sum();
        assert_eq!(slots, count.max(map.len()));
        assert!(map.slab.chunks.iter().all(|chunk| chunk.capacity() == SLAB_CHUNK));
        assert_eq!(slots - map.slab.vacant.len(), map.len());
    }
}
