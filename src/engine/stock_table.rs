//! The sharded stock table: every position, grouped by SKU.
//!
//! A SKU's positions all live in one shard (shard = low bits of the dense SKU id),
//! sorted by location, so that a channel query takes one read lock and walks one
//! contiguous slice. Writers that touch several SKUs lock their shards in ascending
//! shard order, which is what makes multi-line reservations deadlock-free.

use super::changes::ChangeTracker;
use crate::model::{LocationId, Position, SkuId};
use crossbeam_utils::CachePadded;
use parking_lot::{RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::sync::Arc;

/// One position and the location it is at (what bulk loads and snapshots insert).
#[derive(Clone, Debug, Default)]
pub struct PositionEntry {
    pub location: LocationId,
    pub position: Position,
}

/// One SKU's positions, sorted by location. The location ids sit in their own array
/// (40 of them per cache line), so finding a location touches one or two lines
/// before the one position it reads.
#[derive(Default)]
pub struct SkuPositions {
    locations: Vec<LocationId>,
    positions: Vec<Position>,
}

static NO_POSITIONS: SkuPositions = SkuPositions { locations: Vec::new(), positions: Vec::new() };

impl SkuPositions {
    pub fn is_empty(&self) -> bool {
        self.locations.is_empty()
    }

    pub fn locations(&self) -> &[LocationId] {
        &self.locations
    }

    /// (location, position), sorted by location.
    pub fn iter(&self) -> impl Iterator<Item = (LocationId, &Position)> + '_ {
        self.locations.iter().copied().zip(self.positions.iter())
    }

    fn find(&self, location: LocationId) -> Result<usize, usize> {
        self.locations.binary_search(&location)
    }

    /// Where the position at `location` is, if there is one (for [`Self::position`]).
    pub fn index_of(&self, location: LocationId) -> Option<usize> {
        self.find(location).ok()
    }

    /// The position at an index from [`Self::index_of`].
    pub fn position(&self, index: usize) -> &Position {
        &self.positions[index]
    }

    /// Asks the core to start loading the location list (a hint: nothing waits).
    pub fn prefetch_locations(&self) {
        prefetch_lines(self.locations.as_ptr().cast(), size_of_val(self.locations.as_slice()));
    }

    /// Asks the core to start loading the location list and the positions (the first
    /// [`PREFETCH_MAX_LINES`] cache lines of each; the hardware streams the rest).
    pub fn prefetch_all(&self) {
        self.prefetch_locations();
        prefetch_lines(self.positions.as_ptr().cast(), size_of_val(self.positions.as_slice()));
    }

    /// Asks the core to start loading the position at `index`.
    pub fn prefetch_position(&self, index: usize) {
        prefetch_lines((&raw const self.positions[index]).cast(), size_of::<Position>());
    }
}

/// Most cache lines one prefetch request covers.
const PREFETCH_MAX_LINES: usize = 8;

/// Hints the core to load the cache lines of `bytes` bytes from `start` (at most
/// [`PREFETCH_MAX_LINES`]). A prefetch never faults and changes nothing a program
/// can observe but time, whatever the address.
fn prefetch_lines(start: *const u8, bytes: usize) {
    const LINE: usize = 64;
    if bytes == 0 {
        return;
    }
    let first = start as usize & !(LINE - 1);
    let end = start as usize + bytes;
    let mut line = first;
    for _ in 0..PREFETCH_MAX_LINES {
        if line >= end {
            break;
        }
        prefetch(line as *const u8);
        line += LINE;
    }
}

#[cfg(target_arch = "x86_64")]
pub(super) fn prefetch(address: *const u8) {
    use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
    // SAFETY: a prefetch is a hint: it never dereferences in the program's sense,
    // never faults (an invalid address is ignored) and SSE is part of x86_64.
    unsafe { _mm_prefetch::<_MM_HINT_T0>(address.cast()) }
}

#[cfg(not(target_arch = "x86_64"))]
pub(super) fn prefetch(_address: *const u8) {}

#[cfg(target_arch = "x86_64")]
fn prefetch_for_write(address: *const u8) {
    use std::arch::x86_64::{_mm_prefetch, _MM_HINT_ET0};
    // SAFETY: as for `prefetch`: a hint that never faults.
    unsafe { _mm_prefetch::<_MM_HINT_ET0>(address.cast()) }
}

#[cfg(not(target_arch = "x86_64"))]
fn prefetch_for_write(_address: *const u8) {}

/// All positions of the SKUs that fall into one shard.
#[derive(Default)]
pub struct StockShard {
    /// Indexed by `sku >> shard_bits`.
    skus: Vec<SkuPositions>,
    shard_bits: u32,
    /// Positions in this shard (for sizing a snapshot's copy up front).
    position_count: usize,
    /// Told of every SKU whose positions may change, for the change feed. Every
    /// mutable accessor below calls it (the shard's write lock is held), so no write
    /// path elsewhere needs to know about the feed.
    changes: Arc<ChangeTracker>,
}

impl StockShard {
    fn slot(&self, sku: SkuId) -> usize {
        (sku.0 >> self.shard_bits) as usize
    }

    /// The positions of one SKU (empty if it has none).
    pub fn positions(&self, sku: SkuId) -> &SkuPositions {
        self.skus.get(self.slot(sku)).unwrap_or(&NO_POSITIONS)
    }

    pub fn get(&self, sku: SkuId, location: LocationId) -> Option<&Position> {
        let positions = self.positions(sku);
        positions.find(location).ok().map(|index| &positions.positions[index])
    }

    pub fn get_mut(&mut self, sku: SkuId, location: LocationId) -> Option<&mut Position> {
        let slot = self.slot(sku);
        let positions = self.skus.get_mut(slot)?;
        let index = positions.find(location).ok()?;
        self.changes.touch(sku);
        Some(&mut positions.positions[index])
    }

    /// Asks the core to start loading the slot of `sku` (its lists' pointers).
    pub fn prefetch_slot(&self, sku: SkuId) {
        if let Some(positions) = self.skus.get(self.slot(sku)) {
            prefetch_lines((positions as *const SkuPositions).cast(), size_of::<SkuPositions>());
        }
    }

    fn slot_mut(&mut self, sku: SkuId) -> &mut SkuPositions {
        let slot = self.slot(sku);
        if self.skus.len() <= slot {
            self.skus.resize_with(slot + 1, SkuPositions::default);
        }
        &mut self.skus[slot]
    }

    /// The position, created empty if it does not exist yet.
    pub fn get_or_insert(&mut self, sku: SkuId, location: LocationId) -> &mut Position {
        self.changes.touch(sku);
        let slot = self.slot(sku);
        let positions = self.slot_mut(sku);
        let index = match positions.find(location) {
            Ok(index) => index,
            Err(index) => {
                positions.locations.insert(index, location);
                positions.positions.insert(index, Position::default());
                self.position_count += 1;
                index
            }
        };
        &mut self.skus[slot].positions[index]
    }

    /// Adds new positions (sorted by location, none already present) to a SKU; for
    /// bulk loads and snapshots, which would otherwise insert them one by one.
    pub fn insert_sorted(&mut self, sku: SkuId, fresh: Vec<PositionEntry>) {
        if fresh.is_empty() {
            return;
        }
        self.changes.touch(sku);
        self.position_count += fresh.len();
        let positions = self.slot_mut(sku);
        let mut entries: Vec<PositionEntry> = Vec::new();
        let sorted_already = positions.is_empty();
        if !sorted_already {
            entries.reserve_exact(positions.locations.len() + fresh.len());
            let old_locations = std::mem::take(&mut positions.locations);
            let old_positions = std::mem::take(&mut positions.positions);
            entries.extend(
                old_locations
                    .into_iter()
                    .zip(old_positions)
                    .map(|(location, position)| PositionEntry { location, position }),
            );
        }
        entries.extend(fresh);
        if !sorted_already {
            entries.sort_by_key(|e| e.location);
        }
        positions.locations = Vec::with_capacity(entries.len());
        positions.positions = Vec::with_capacity(entries.len());
        for entry in entries {
            positions.locations.push(entry.location);
            positions.positions.push(entry.position);
        }
    }

    pub fn position_count(&self) -> usize {
        self.position_count
    }

    /// Every (sku, location, position) of this shard.
    pub fn iter(&self, shard_index: usize) -> impl Iterator<Item = (SkuId, LocationId, &Position)> + '_ {
        let bits = self.shard_bits;
        self.skus.iter().enumerate().flat_map(move |(slot, positions)| {
            let sku = SkuId(((slot as u32) << bits) | shard_index as u32);
            positions.iter().map(move |(location, position)| (sku, location, position))
        })
    }
}

pub struct StockTable {
    shards: Box<[CachePadded<RwLock<StockShard>>]>,
    shard_bits: u32,
}

/// Write guards on several shards, taken in ascending shard order. The common case,
/// one shard, is held apart: a single-line reserve then allocates nothing for its lock.
pub struct ShardGuards<'a> {
    single: Option<(usize, RwLockWriteGuard<'a, StockShard>)>,
    /// Sorted by shard index; empty when `single` holds the only guard.
    guards: Vec<(usize, RwLockWriteGuard<'a, StockShard>)>,
}

impl ShardGuards<'_> {
    /// After-images of the given positions, for the journal. Each must exist.
    pub fn images(
        &self,
        shard_bits: u32,
        keys: impl Iterator<Item = (SkuId, LocationId)>,
    ) -> Vec<crate::engine::journal::PositionImage<'_>> {
        let mask = (1usize << shard_bits) - 1;
        keys.map(|(sku, location)| {
            let position = self.shard_ref(sku.index() & mask).get(sku, location).expect("an imaged position exists");
            crate::engine::journal::PositionImage { sku, location, position }
        })
        .collect()
    }

    /// Where the guard of `shard_index` is: `None` for the single guard, else its
    /// place in the sorted list. Panics if the caller did not lock that shard.
    fn place_of(&self, shard_index: usize) -> Option<usize> {
        if let Some((index, _)) = &self.single {
            assert_eq!(*index, shard_index, "the caller locked every shard it touches");
            return None;
        }
        let at = self
            .guards
            .binary_search_by_key(&shard_index, |(index, _)| *index)
            .expect("the caller locked every shard it touches");
        Some(at)
    }

    fn shard_ref(&self, shard_index: usize) -> &StockShard {
        match (self.place_of(shard_index), &self.single) {
            (Some(at), _) => &self.guards[at].1,
            (None, Some((_, guard))) => guard,
            (None, None) => unreachable!("no single guard has no place"),
        }
    }

    pub fn shard(&mut self, shard_index: usize) -> &mut StockShard {
        match (self.place_of(shard_index), &mut self.single) {
            (Some(at), _) => &mut self.guards[at].1,
            (None, Some((_, guard))) => guard,
            (None, None) => unreachable!("no single guard has no place"),
        }
    }
}

impl StockTable {
    /// Most shards a table may have (bulk loads pack the shard index into 16 bits).
    pub const MAX_SHARDS: usize = 1 << 16;

    /// `shard_count` is rounded up to a power of two, at most [`Self::MAX_SHARDS`].
    /// Every shard tells `changes` of the SKUs it lets a caller mutate.
    pub fn new(shard_count: usize, changes: Arc<ChangeTracker>) -> StockTable {
        let shard_count = shard_count.clamp(1, Self::MAX_SHARDS).next_power_of_two();
        let shard_bits = shard_count.trailing_zeros();
        let shards = (0..shard_count)
            .map(|_| {
                CachePadded::new(RwLock::new(StockShard {
                    skus: Vec::new(),
                    shard_bits,
                    position_count: 0,
                    changes: changes.clone(),
                }))
            })
            .collect();
        StockTable { shards, shard_bits }
    }

    pub fn shard_count(&self) -> usize {
        self.shards.len()
    }

    pub fn shard_of(&self, sku: SkuId) -> usize {
        (sku.0 as usize) & (self.shards.len() - 1)
    }

    pub fn read(&self, sku: SkuId) -> RwLockReadGuard<'_, StockShard> {
        self.shards[self.shard_of(sku)].read()
    }

    /// Asks the core to start loading the lock of the shard of `sku`, for writing (the
    /// read lock's atomic update writes it).
    pub fn prefetch_lock(&self, sku: SkuId) {
        prefetch_for_write((&raw const self.shards[self.shard_of(sku)]).cast());
    }

    /// A read lock that may be taken while this thread holds another read lock of the
    /// same shard (a plain `read` could then wait for a queued writer forever).
    pub fn read_recursive(&self, sku: SkuId) -> RwLockReadGuard<'_, StockShard> {
        self.shards[self.shard_of(sku)].read_recursive()
    }

    pub fn write(&self, sku: SkuId) -> RwLockWriteGuard<'_, StockShard> {
        self.shards[self.shard_of(sku)].write()
    }

    pub fn read_shard(&self, shard_index: usize) -> RwLockReadGuard<'_, StockShard> {
        self.shards[shard_index].read()
    }

    pub fn write_shard(&self, shard_index: usize) -> RwLockWriteGuard<'_, StockShard> {
        self.shards[shard_index].write()
    }

    /// Write-locks the shards of all `skus`, in ascending shard order.
    pub fn write_many(&self, skus: impl Iterator<Item = SkuId>) -> ShardGuards<'_> {
        let mut indices = skus.map(|sku| self.shard_of(sku));
        let Some(first) = indices.next() else {
            return ShardGuards { single: None, guards: Vec::new() };
        };
        // Allocates only if another shard is named.
        let mut others: Vec<usize> = indices.filter(|&index| index != first).collect();
        if others.is_empty() {
            return ShardGuards { single: Some((first, self.shards[first].write())), guards: Vec::new() };
        }
        others.push(first);
        others.sort_unstable();
        others.dedup();
        let guards = others.into_iter().map(|index| (index, self.shards[index].write())).collect();
        ShardGuards { single: None, guards }
    }

    pub fn shard_bits(&self) -> u32 {
        self.shard_bits
    }
}
