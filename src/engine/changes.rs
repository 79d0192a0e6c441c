//! Which SKUs changed: the engine's side of the availability change feed.
//!
//! The stock table calls [`ChangeTracker::touch`] from every accessor that can
//! mutate a position, with that SKU's shard write lock held. While the tracker is
//! disabled (the default) that costs one relaxed atomic load. While enabled, a SKU is
//! pushed into a bounded lock-free queue at most once until the consumer drains it
//! (a per-SKU "already queued" bit skips the push); a full queue sets the
//! `overflowed` flag instead, and the consumer then rescans every SKU it cares about.
//! A writer never blocks, waits or allocates for the feed.
//!
//! ## Why nothing is missed
//! `touch` runs under the SKU's shard write lock and before the lock is released;
//! the consumer clears a SKU's bit (or the overflow flag) *before* it reads the SKU
//! under the shard's read lock. So either the writer's lock came first, and the
//! consumer's read sees its change, or the consumer's clearing happened before the
//! writer looked at the bit, and the writer pushes again. Spurious notifications
//! (a SKU reported that did not change) are possible and harmless.

use super::Engine;
use crate::engine::{Availability, AvailabilityScope};
use crate::model::{Catalogue, Channel, LocationId, SkuId};
use crossbeam_queue::ArrayQueue;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::OnceLock;

/// Queue capacity used by [`ChangeTracker::enable`] (SKU ids, 4 bytes each).
pub const DEFAULT_CHANGE_QUEUE_CAPACITY: usize = 65_536;

/// SKU ids below this get a "queued already" bit (128 KiB of bits); SKUs above it are
/// pushed on every touch (still correct, just more pushes).
const DEDUP_SKUS: usize = 1 << 20;

/// The consumer's view of one drain.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Drained {
    /// The queue overflowed since the last drain: some changed SKUs were not
    /// queued, so the consumer must rescan every SKU it cares about (after this call).
    pub overflowed: bool,
}

/// Allocated on the first enabling, so that an engine nobody watches pays nothing.
struct TrackerQueue {
    queue: ArrayQueue<SkuId>,
    /// One bit per SKU id below `DEDUP_SKUS`: set while the SKU sits in the queue
    /// (or the overflow flag stands for it).
    queued: Box<[AtomicU64]>,
}

/// Dirty-SKU tracking for the change feed. Owned by the [`Engine`]; see the module
/// documentation for the protocol.
#[derive(Default)]
pub struct ChangeTracker {
    enabled: AtomicBool,
    overflowed: AtomicBool,
    inner: OnceLock<TrackerQueue>,
}

impl ChangeTracker {
    /// Starts tracking (with [`DEFAULT_CHANGE_QUEUE_CAPACITY`] if this is the first
    /// enabling).
    pub fn enable(&self) {
        self.enable_with_capacity(DEFAULT_CHANGE_QUEUE_CAPACITY);
    }

    /// Starts tracking. `queue_capacity` (at least 1) sizes the queue on the first
    /// enabling only; later enablings reuse the queue.
    pub fn enable_with_capacity(&self, queue_capacity: usize) {
        let inner = self.inner.get_or_init(|| TrackerQueue {
            queue: ArrayQueue::new(queue_capacity.max(1)),
            queued: (0..DEDUP_SKUS / 64).map(|_| AtomicU64::new(0)).collect(),
        });
        // Bits left from an earlier enabled period may stand for pushes that a
        // consumer never drained; clearing them only costs extra pushes.
        for word in inner.queued.iter() {
            word.store(0, Ordering::SeqCst);
        }
        self.enabled.store(true, Ordering::SeqCst);
    }

    /// Stops tracking; writers go back to one relaxed load. Whatever is queued stays
    /// (a later enabling reports it, spuriously).
    pub fn disable(&self) {
        self.enabled.store(false, Ordering::SeqCst);
    }

    pub fn is_enabled(&self) -> bool {
        self.enabled.load(Ordering::Relaxed)
    }

    /// SKU ids queued now (for statistics).
    pub fn queued(&self) -> usize {
        self.inner.get().map_or(0, |inner| inner.queue.len())
    }

    /// Records that `sku`'s positions may be about to change. Call it with the SKU's
    /// shard write lock held. Never blocks, never allocates.
    #[inline]
    pub fn touch(&self, sku: SkuId) {
        if !self.enabled.load(Ordering::Relaxed) {
            return;
        }
        self.touch_enabled(sku);
    }

    #[cold]
    #[inline(never)]
    fn touch_enabled(&self, sku: SkuId) {
        let Some(inner) = self.inner.get() else { return };
        if let Some(word) = inner.queued.get(sku.index() / 64) {
            let mask = 1u64 << (sku.index() % 64);
            if word.load(Ordering::Relaxed) & mask != 0 {
                return;
            }
            if word.fetch_or(mask, Ordering::AcqRel) & mask != 0 {
                return;
            }
        }
        if inner.queue.push(sku).is_err() {
            self.overflowed.store(true, Ordering::SeqCst);
        }
    }

    /// Moves up to `max` queued SKUs into `out` (appending; a SKU may be reported
    /// more than once or without having changed). Read the SKUs only after this
    /// returns. If `overflowed`, also rescan every SKU of interest.
    pub fn drain(&self, out: &mut Vec<SkuId>, max: usize) -> Drained {
        let Some(inner) = self.inner.get() else { return Drained::default() };
        let overflowed = self.overflowed.swap(false, Ordering::SeqCst);
        if overflowed {
            for word in inner.queued.iter() {
                word.store(0, Ordering::SeqCst);
            }
        }
        for _ in 0..max {
            let Some(sku) = inner.queue.pop() else { break };
            if let Some(word) = inner.queued.get(sku.index() / 64) {
                word.fetch_and(!(1u64 << (sku.index() % 64)), Ordering::AcqRel);
            }
            out.push(sku);
        }
        Drained { overflowed }
    }
}

/// Reads by SKU id for the change feed (which resolves names once and then works on
/// ids). Each takes one shard read lock, like the name-based reads.
impl Engine {
    /// The SKU change tracker the feed consumes.
    pub fn changes(&self) -> &ChangeTracker {
        &self.changes
    }

    /// How many SKU ids have been handed out (ids are dense: `0..sku_count()`).
    pub fn sku_count(&self) -> usize {
        self.skus.len()
    }

    /// Available to sell of each position of a SKU, `(location, ats)` sorted by
    /// location, appended to `out`. For a kit: the kits each location of its first
    /// component can make.
    pub fn location_ats_by_id(&self, catalogue: &Catalogue, sku: SkuId, out: &mut Vec<(LocationId, u64)>) {
        match catalogue.kit(sku) {
            None => {
                let shard = self.stock.read(sku);
                out.extend(
                    shard
                        .positions(sku)
                        .iter()
                        .map(|(location, position)| (location, u64::from(position.available_to_sell()))),
                );
            }
            Some(kit) => {
                let first = kit.components[0].sku;
                let candidates: Vec<LocationId> = self.stock.read(first).positions(first).locations().to_vec();
                let name = self.skus.name(sku);
                for location in candidates {
                    let Some(location_name) = catalogue.location(location).map(|l| l.name.to_string()) else {
                        continue;
                    };
                    let scope = AvailabilityScope::Location(location_name);
                    let available = self.availability(&name, &scope, Availability::ToSell).unwrap_or(0);
                    out.push((location, available));
                }
            }
        }
    }

    /// Everything the feed watches of one SKU, from one read of its positions:
    /// into `channel_values`, its available to sell in each of `channels` (buffer
    /// applied; `None`, a removed channel: 0), in order; into `locations`, if given,
    /// each position's, sorted by location. Kits go through the per-scope reads.
    pub fn feed_values_by_id(
        &self,
        catalogue: &Catalogue,
        sku: SkuId,
        channels: &[Option<&Channel>],
        channel_values: &mut Vec<u64>,
        locations: Option<&mut Vec<(LocationId, u64)>>,
    ) {
        if catalogue.kit(sku).is_some() {
            channel_values.extend(
                channels.iter().map(|channel| channel.map_or(0, |c| self.channel_ats_by_id(catalogue, sku, c))),
            );
            if let Some(locations) = locations {
                self.location_ats_by_id(catalogue, sku, locations);
            }
            return;
        }
        let start = channel_values.len();
        channel_values.resize(start + channels.len(), 0);
        let sums = &mut channel_values[start..];
        let shard = self.stock.read(sku);
        let mut locations = locations;
        for (location, position) in shard.positions(sku).iter() {
            let available = u64::from(position.available_to_sell());
            for (sum, channel) in sums.iter_mut().zip(channels) {
                if channel.is_some_and(|c| c.contains(location)) {
                    *sum += available;
                }
            }
            if let Some(list) = locations.as_deref_mut() {
                list.push((location, available));
            }
        }
        drop(shard);
        for (sum, channel) in sums.iter_mut().zip(channels) {
            *sum = channel.map_or(0, |c| c.buffer.apply(*sum));
        }
    }

    /// Available to sell of a SKU (or kit) in a channel, the channel buffer applied:
    /// the same number as [`Engine::channel_availability`].
    pub fn channel_ats_by_id(&self, catalogue: &Catalogue, sku: SkuId, channel: &Channel) -> u64 {
        if catalogue.kit(sku).is_some() {
            let name = self.skus.name(sku);
            let scope = AvailabilityScope::Channel(channel.name.to_string());
            return self.availability(&name, &scope, Availability::ToSell).unwrap_or(0);
        }
        let shard = self.stock.read(sku);
        let summed: u64 = shard
            .positions(sku)
            .iter()
            .filter(|(location, _)| channel.contains(*location))
            .map(|(_, position)| u64::from(position.available_to_sell()))
            .sum();
        channel.buffer.apply(summed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disabled_tracker_records_nothing() {
        let tracker = ChangeTracker::default();
        tracker.touch(SkuId(3));
        let mut out = Vec::new();
        assert_eq!(tracker.drain(&mut out, 10), Drained { overflowed: false });
        assert!(out.is_empty());
    }

    #[test]
    fn a_sku_is_queued_once_until_drained() {
        let tracker = ChangeTracker::default();
        tracker.enable_with_capacity(8);
        for _ in 0..5 {
            tracker.touch(SkuId(3));
        }
        tracker.touch(SkuId(4));
        let mut out = Vec::new();
        assert!(!tracker.drain(&mut out, 10).overflowed);
        assert_eq!(out, vec![SkuId(3), SkuId(4)]);
        tracker.touch(SkuId(3));
        out.clear();
        tracker.drain(&mut out, 10);
        assert_eq!(out, vec![SkuId(3)]);
    }

    #[test]
    fn a_full_queue_sets_overflowed_and_the_next_touch_after_drain_queues_again() {
        let tracker = ChangeTracker::default();
        tracker.enable_with_capacity(2);
        for sku in 0..5 {
            tracker.touch(SkuId(sku));
        }
        let mut out = Vec::new();
        assert!(tracker.drain(&mut out, 1).overflowed);
        assert_eq!(out, vec![SkuId(0)]);
        // The overflow cleared every bit: SKU 4, never queued, is queued by its next touch.
        tracker.touch(SkuId(4));
        out.clear();
        assert!(!tracker.drain(&mut out, 10).overflowed);
        assert_eq!(out, vec![SkuId(1), SkuId(4)]);
    }

    #[test]
    fn skus_beyond_the_dedup_range_are_pushed_every_time() {
        let tracker = ChangeTracker::default();
        tracker.enable_with_capacity(8);
        let far = SkuId(DEDUP_SKUS as u32 + 5);
        tracker.touch(far);
        tracker.touch(far);
        let mut out = Vec::new();
        tracker.drain(&mut out, 10);
        assert_eq!(out, vec![far, far]);
    }

    #[test]
    fn disabling_stops_recording() {
        let tracker = ChangeTracker::default();
        tracker.enable();
        tracker.disable();
        tracker.touch(SkuId(1));
        let mut out = Vec::new();
        tracker.drain(&mut out, 10);
        assert!(out.is_empty());
    }
}
