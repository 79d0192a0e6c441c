//! A subscriber's pending changes, coalesced by key, and the kind of event a
//! (value before, latest value) pair makes. No locks here: the subscriber's mutex
//! guards a [`PendingTable`].

use super::{EventKind, FeedEvent};
use crate::model::{LocationId, SkuId};
use rustc_hash::FxHashMap;
use std::collections::VecDeque;
use std::sync::Arc;

/// A scope as the hub numbers it: a channel slot (the hub's own numbering of the
/// channels subscriptions name) or a location.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum ScopeKey {
    Channel(u32),
    Location(LocationId),
}

/// One watched value: a SKU in a scope.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Key {
    pub sku: SkuId,
    pub scope: ScopeKey,
}

/// The names an event carries. Resolved from the key when the subscriber takes the
/// event, not when the hub offers it: the hub never touches a name's reference
/// count, whose cache line would otherwise bounce between the hub's core and the
/// consumers'.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Names {
    pub sku: Arc<str>,
    pub scope: Arc<str>,
    pub scope_is_channel: bool,
}

/// A pending change: the value before its first un-sent change (`None`: a value to
/// send as it is, a snapshot or a re-sent value after a gap) and the latest value.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Entry {
    before: Option<u64>,
    latest: u64,
    gap: bool,
}

/// What became of an offered change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Offered {
    Inserted,
    /// Merged into the change already pending for its key.
    Coalesced,
    /// Nothing pending for the key and the change cannot matter to this subscriber
    /// (see [`PendingTable::offer`]): not stored.
    Ignored,
    /// The table holds `buffer_keys` changes already: nothing was stored.
    Full,
}

/// The event kind of a change from `before` to `latest`, if the subscriber wants one.
/// Precedence: OutOfStock, BackInStock, LowStock, Changed.
pub(crate) fn kind_of(before: u64, latest: u64, low_stock_below: Option<u32>, every_change: bool) -> Option<EventKind> {
    if before > 0 && latest == 0 {
        return Some(EventKind::OutOfStock);
    }
    if before == 0 && latest > 0 {
        return Some(EventKind::BackInStock);
    }
    if let Some(threshold) = low_stock_below.map(u64::from) {
        if before >= threshold && latest < threshold {
            return Some(EventKind::LowStock);
        }
    }
    (every_change && before != latest).then_some(EventKind::Changed)
}

/// Pending changes of one subscriber, by key, oldest first. Holds at most
/// `buffer_keys` changes plus one value to send per key of the subscriber's own list
/// (snapshots, re-sent values after a gap), plus the snapshot of listed SKUs the
/// engine has never seen.
///
/// A queue in the order keys first became pending, with a hash index of each key's
/// sequence number: an offer is one hash lookup (and a push), a take one pop and
/// one removal, no allocation once the capacities have grown to the bound.
#[derive(Debug)]
pub(crate) struct PendingTable {
    entries: VecDeque<(Key, Entry)>,
    /// Key -> sequence number of its entry; `entries[0]` has sequence `head`.
    index: FxHashMap<Key, u64>,
    head: u64,
    /// Entries with a `before` value: the ones `buffer_keys` bounds.
    changes: usize,
    buffer_keys: usize,
    /// An every-SKU subscription's resync marker is due.
    marker: bool,
    /// (sku, channel, gap) of listed SKUs the engine has never seen: sent as 0.
    unseen: VecDeque<(Arc<str>, Arc<str>, bool)>,
    /// The subscription's interest.
    low_stock_below: Option<u32>,
    every_change: bool,
}

impl PendingTable {
    pub fn new(buffer_keys: usize, low_stock_below: Option<u32>, every_change: bool) -> PendingTable {
        PendingTable {
            entries: VecDeque::new(),
            index: FxHashMap::default(),
            head: 0,
            changes: 0,
            buffer_keys: buffer_keys.max(1),
            marker: false,
            unseen: VecDeque::new(),
            low_stock_below,
            every_change,
        }
    }

    /// Entries waiting (markers and unseen-SKU values included).
    pub fn len(&self) -> usize {
        self.entries.len() + self.unseen.len() + usize::from(self.marker)
    }

    /// Offers a change of `key` from `before` to `latest`.
    ///
    /// Without `every_change`, a change of a key with nothing pending is ignored if
    /// `before` and `latest` are in the same class (both 0 or both above; both at or
    /// above the threshold or both below): the kind of any later (before, latest)
    /// pair depends on `before` only through that class, so storing it would change
    /// no event. This is what keeps threshold-only subscribers cheap.
    pub fn offer(&mut self, key: Key, before: u64, latest: u64) -> Offered {
        if let Some(entry) = self.entry_mut(key) {
            entry.latest = latest;
            return Offered::Coalesced;
        }
        if !self.every_change && self.same_class(before, latest) {
            return Offered::Ignored;
        }
        if self.changes >= self.buffer_keys {
            return Offered::Full;
        }
        self.push(key, Entry { before: Some(before), latest, gap: false });
        self.changes += 1;
        Offered::Inserted
    }

    fn same_class(&self, a: u64, b: u64) -> bool {
        let above = |value: u64| self.low_stock_below.is_some_and(|threshold| value >= u64::from(threshold));
        (a == 0) == (b == 0) && above(a) == above(b)
    }

    fn entry_mut(&mut self, key: Key) -> Option<&mut Entry> {
        let sequence = *self.index.get(&key)?;
        let (_, entry) = &mut self.entries[(sequence - self.head) as usize];
        Some(entry)
    }

    fn push(&mut self, key: Key, entry: Entry) {
        self.index.insert(key, self.head + self.entries.len() as u64);
        self.entries.push_back((key, entry));
    }

    /// Sets a value to send as it is (kind `Snapshot`), replacing what was pending
    /// for the key.
    pub fn put_value(&mut self, key: Key, latest: u64, gap: bool) {
        let value = Entry { before: None, latest, gap };
        match self.entry_mut(key) {
            Some(entry) => {
                let was_change = entry.before.is_some();
                *entry = value;
                if was_change {
                    self.changes -= 1;
                }
            }
            None => self.push(key, value),
        }
    }

    /// The snapshot of a listed SKU that the engine has never seen: 0 in `channel`.
    pub fn put_unseen(&mut self, sku: Arc<str>, channel: Arc<str>, gap: bool) {
        self.unseen.push_back((sku, channel, gap));
    }

    pub fn set_marker(&mut self) {
        self.marker = true;
    }

    /// Drops everything pending (on overflow).
    pub fn clear(&mut self) {
        self.entries.clear();
        self.index.clear();
        self.head = 0;
        self.unseen.clear();
        self.changes = 0;
        self.marker = false;
    }

    /// Moves up to `max` events into `out`, naming each key with `names`; returns
    /// (events, of which with `gap`). Changes that make no event for this subscriber
    /// are dropped on the way.
    pub fn take(
        &mut self,
        out: &mut Vec<FeedEvent>,
        max: usize,
        mut names: impl FnMut(Key) -> Names,
    ) -> (usize, usize) {
        let mut taken = 0;
        let mut gaps = 0;
        if max > 0 && self.marker {
            self.marker = false;
            out.push(FeedEvent::resync_marker());
            taken += 1;
            gaps += 1;
        }
        while taken < max {
            let Some((sku, channel, gap)) = self.unseen.pop_front() else { break };
            out.push(FeedEvent {
                sku,
                scope: channel,
                scope_is_channel: true,
                available: 0,
                kind: EventKind::Snapshot,
                gap,
            });
            taken += 1;
            gaps += usize::from(gap);
        }
        while taken < max {
            let Some((key, entry)) = self.entries.pop_front() else { break };
            self.index.remove(&key);
            self.head += 1;
            let kind = match entry.before {
                None => Some(EventKind::Snapshot),
                Some(before) => {
                    self.changes -= 1;
                    kind_of(before, entry.latest, self.low_stock_below, self.every_change)
                }
            };
            let Some(kind) = kind else { continue };
            let names = names(key);
            out.push(FeedEvent {
                sku: names.sku,
                scope: names.scope,
                scope_is_channel: names.scope_is_channel,
                available: entry.latest,
                kind,
                gap: entry.gap,
            });
            taken += 1;
            gaps += usize::from(entry.gap);
        }
        (taken, gaps)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(sku: u32, channel: u32) -> Key {
        Key { sku: SkuId(sku), scope: ScopeKey::Channel(channel) }
    }

    fn names(_: Key) -> Names {
        Names { sku: Arc::from("SKU"), scope: Arc::from("web"), scope_is_channel: true }
    }

    fn take_all(table: &mut PendingTable) -> Vec<(EventKind, u64, bool)> {
        let mut out = Vec::new();
        table.take(&mut out, usize::MAX, names);
        out.into_iter().map(|e| (e.kind, e.available, e.gap)).collect()
    }

    #[test]
    fn kinds_from_before_and_latest() {
        assert_eq!(kind_of(5, 0, None, false), Some(EventKind::OutOfStock));
        assert_eq!(kind_of(0, 3, None, false), Some(EventKind::BackInStock));
        assert_eq!(kind_of(0, 3, Some(10), true), Some(EventKind::BackInStock), "back in stock wins over low");
        assert_eq!(kind_of(10, 9, Some(10), false), Some(EventKind::LowStock));
        assert_eq!(kind_of(12, 3, Some(10), false), Some(EventKind::LowStock));
        assert_eq!(kind_of(9, 3, Some(10), false), None, "already below: no new crossing");
        assert_eq!(kind_of(9, 3, Some(10), true), Some(EventKind::Changed));
        assert_eq!(kind_of(3, 12, Some(10), false), None, "rising above the threshold is not low stock");
        assert_eq!(kind_of(7, 7, None, true), None, "no change, no event");
        assert_eq!(kind_of(7, 8, None, false), None);
        assert_eq!(kind_of(7, 8, None, true), Some(EventKind::Changed));
        assert_eq!(kind_of(4, 0, Some(10), true), Some(EventKind::OutOfStock), "out of stock wins over low");
    }

    #[test]
    fn a_burst_keeps_the_first_before_and_the_last_value() {
        let mut table = PendingTable::new(4, None, true);
        assert_eq!(table.offer(key(1, 0), 5, 3), Offered::Inserted);
        assert_eq!(table.offer(key(1, 0), 3, 0), Offered::Coalesced);
        assert_eq!(table.offer(key(1, 0), 0, 2), Offered::Coalesced);
        // 5 -> 2: not out of stock, not back in stock.
        assert_eq!(take_all(&mut table), vec![(EventKind::Changed, 2, false)]);
        assert_eq!(table.len(), 0);
    }

    #[test]
    fn a_burst_that_ends_where_it_started_is_nothing() {
        let mut table = PendingTable::new(4, Some(10), true);
        table.offer(key(1, 0), 5, 0);
        table.offer(key(1, 0), 0, 5);
        assert_eq!(take_all(&mut table), vec![]);
        assert_eq!(table.len(), 0);
    }

    #[test]
    fn a_full_table_refuses_new_keys_but_coalesces_known_ones() {
        let mut table = PendingTable::new(2, None, true);
        table.offer(key(1, 0), 5, 4);
        table.offer(key(2, 0), 5, 4);
        assert_eq!(table.offer(key(3, 0), 5, 4), Offered::Full);
        assert_eq!(table.offer(key(2, 0), 4, 0), Offered::Coalesced);
        assert_eq!(table.len(), 2);
    }

    #[test]
    fn overflow_then_gap_values_carry_the_latest() {
        let mut table = PendingTable::new(1, None, false);
        assert_eq!(table.offer(key(1, 0), 5, 0), Offered::Inserted);
        assert_eq!(table.offer(key(2, 0), 5, 0), Offered::Full);
        // What the hub does on Full: drop everything, re-send every listed key's value.
        table.clear();
        table.put_value(key(1, 0), 0, true);
        table.put_value(key(2, 0), 0, true);
        // Re-sent values do not count against buffer_keys, and later changes coalesce into them.
        assert_eq!(table.offer(key(2, 0), 0, 3), Offered::Coalesced);
        // Key 3's 1 -> 2 cannot matter to a subscriber without every_change.
        assert_eq!(table.offer(key(3, 0), 1, 2), Offered::Ignored);
        assert_eq!(take_all(&mut table), vec![(EventKind::Snapshot, 0, true), (EventKind::Snapshot, 3, true)]);
    }

    #[test]
    fn changes_within_a_class_are_ignored_without_changing_any_event() {
        let mut table = PendingTable::new(8, Some(10), false);
        // 12 -> 11: both above the threshold, both above 0.
        assert_eq!(table.offer(key(1, 0), 12, 11), Offered::Ignored);
        assert_eq!(table.offer(key(1, 0), 11, 9), Offered::Inserted);
        assert_eq!(take_all(&mut table), vec![(EventKind::LowStock, 9, false)]);
        // 3 -> 12 crosses the threshold upwards: no event of its own, but it is kept,
        // so that 3 -> 12 -> 8 stays "no crossing below" as one change from 3.
        assert_eq!(table.offer(key(1, 0), 3, 12), Offered::Inserted);
        assert_eq!(table.offer(key(1, 0), 12, 8), Offered::Coalesced);
        assert_eq!(take_all(&mut table), vec![]);
        // With every_change nothing is ignored.
        let mut every = PendingTable::new(8, Some(10), true);
        assert_eq!(every.offer(key(1, 0), 12, 11), Offered::Inserted);
    }

    #[test]
    fn take_respects_max_and_the_marker_comes_first() {
        let mut table = PendingTable::new(8, None, false);
        table.offer(key(1, 0), 0, 1);
        table.offer(key(2, 0), 0, 1);
        table.set_marker();
        let mut out = Vec::new();
        assert_eq!(table.take(&mut out, 2, names), (2, 1));
        assert!(out[0].is_resync_marker());
        assert_eq!(out[1].kind, EventKind::BackInStock);
        assert_eq!(table.len(), 1);
    }

    #[test]
    fn unseen_skus_are_sent_as_zero_before_any_change() {
        let mut table = PendingTable::new(8, None, false);
        table.put_unseen(Arc::from("NEW"), Arc::from("web"), false);
        table.offer(key(1, 0), 0, 1);
        let mut out = Vec::new();
        table.take(&mut out, 10, names);
        assert_eq!(&*out[0].sku, "NEW");
        assert_eq!((out[0].kind, out[0].available), (EventKind::Snapshot, 0));
        assert_eq!(out[1].kind, EventKind::BackInStock);
    }
}
