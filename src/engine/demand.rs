//! Lost-demand signals: since-start counters of demand that stock did not serve.
//!
//! - refused: a reserve or sourced reserve refused for lack of stock (the quantity
//!   asked of each short line; a kit counts its short components);
//! - expired: a held reservation whose TTL passed unpaid (the units it still held);
//! - backorder: a line held as a backorder (its units).
//!
//! Counted per SKU over every call, and per (channel, SKU) for sourced reserves,
//! the only calls that name a channel. In memory only: not logged, not in
//! snapshots, reset by a restart, and never counted by replay (replay restores
//! after-images and calls none of the counting paths). Sharded by SKU, so the
//! request path takes one short lock per counted SKU and no global lock. Only
//! interned SKUs are counted, so the table is bounded by the interner (times the
//! channels, for sourced reserves).

use super::{Engine, EngineError};
use crate::limits::MAX_DEMAND_TOP;
use crate::model::{validate_id, IdKind, SkuId};
use crossbeam_utils::CachePadded;
use parking_lot::Mutex;
use rustc_hash::FxHashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Units and reservations of demand that stock did not serve.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct DemandCounters {
    pub refused_reservations: u64,
    pub refused_units: u64,
    pub expired_reservations: u64,
    pub expired_units: u64,
    pub backorder_reservations: u64,
    pub backorder_units: u64,
}

impl DemandCounters {
    fn add(&mut self, other: &DemandCounters) {
        self.refused_reservations += other.refused_reservations;
        self.refused_units += other.refused_units;
        self.expired_reservations += other.expired_reservations;
        self.expired_units += other.expired_units;
        self.backorder_reservations += other.backorder_reservations;
        self.backorder_units += other.backorder_units;
    }

    fn ranked(&self, rank: DemandRank) -> u64 {
        match rank {
            DemandRank::RefusedUnits => self.refused_units,
            DemandRank::ExpiredUnits => self.expired_units,
            DemandRank::BackorderUnits => self.backorder_units,
        }
    }
}

/// The counter `demand_top` ranks by (highest first).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum DemandRank {
    RefusedUnits,
    ExpiredUnits,
    BackorderUnits,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DemandEntry {
    pub sku: Arc<str>,
    /// `None`: every call; `Some`: the sourced reserves of that channel.
    pub channel: Option<Arc<str>>,
    pub counters: DemandCounters,
}

/// What happened to some units of one SKU.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum DemandEvent {
    Refused,
    Expired,
    Backorder,
}

type DemandKey = (SkuId, Option<Arc<str>>);

const DEMAND_SHARDS: usize = 64;

type DemandShard = CachePadded<Mutex<FxHashMap<DemandKey, DemandCounters>>>;

pub(super) struct DemandTable {
    shards: Box<[DemandShard]>,
    /// Sourced reserves whose exact search ran out of its node budget.
    inexact_searches: AtomicU64,
}

impl Default for DemandTable {
    fn default() -> Self {
        let shards = (0..DEMAND_SHARDS).map(|_| CachePadded::new(Mutex::new(FxHashMap::default()))).collect();
        DemandTable { shards, inexact_searches: AtomicU64::new(0) }
    }
}

impl DemandTable {
    /// Counts one reservation's `units` of `sku` (and, with a channel, under that
    /// channel too). Call once per SKU per reservation.
    pub(super) fn count(&self, sku: SkuId, channel: Option<&Arc<str>>, event: DemandEvent, units: u64) {
        let mut shard = self.shards[sku.index() % DEMAND_SHARDS].lock();
        let mut bump = |key: DemandKey| {
            let counters = shard.entry(key).or_default();
            let (reservations, total) = match event {
                DemandEvent::Refused => (&mut counters.refused_reservations, &mut counters.refused_units),
                DemandEvent::Expired => (&mut counters.expired_reservations, &mut counters.expired_units),
                DemandEvent::Backorder => (&mut counters.backorder_reservations, &mut counters.backorder_units),
            };
            *reservations = reservations.saturating_add(1);
            *total = total.saturating_add(units);
        };
        bump((sku, None));
        if let Some(channel) = channel {
            bump((sku, Some(channel.clone())));
        }
    }

    /// Counts units per SKU for one reservation: repeats of a SKU (a component held
    /// at several locations) are summed into one reservation's worth.
    pub(super) fn count_lines(
        &self,
        lines: impl IntoIterator<Item = (SkuId, u64)>,
        channel: Option<&Arc<str>>,
        event: DemandEvent,
    ) {
        let mut per_sku: Vec<(SkuId, u64)> = Vec::new();
        for (sku, units) in lines {
            match per_sku.iter_mut().find(|(s, _)| *s == sku) {
                Some(entry) => entry.1 = entry.1.saturating_add(units),
                None => per_sku.push((sku, units)),
            }
        }
        for (sku, units) in per_sku {
            if units > 0 {
                self.count(sku, channel, event, units);
            }
        }
    }

    fn get(&self, sku: SkuId, channel: Option<&str>) -> DemandCounters {
        let shard = self.shards[sku.index() % DEMAND_SHARDS].lock();
        let key = (sku, channel.map(Arc::from));
        shard.get(&key).copied().unwrap_or_default()
    }

    pub(super) fn count_inexact(&self) {
        self.inexact_searches.fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn inexact_searches(&self) -> u64 {
        self.inexact_searches.load(Ordering::Relaxed)
    }
}

impl Engine {
    /// The counters of one SKU: over every call (`channel: None`) or over one
    /// channel's sourced reserves. A SKU never named has all zeros.
    pub fn demand_for(&self, sku: &str, channel: Option<&str>) -> Result<DemandCounters, EngineError> {
        self.check_demand_channel(channel)?;
        let Some(id) = self.sku_for_read(sku)? else {
            return Ok(DemandCounters::default());
        };
        Ok(self.demand.get(id, channel))
    }

    /// The `limit` SKUs with the highest `rank` counter (those above zero), highest
    /// first, ties by SKU name (byte order). `limit` is at most `MAX_DEMAND_TOP`.
    pub fn demand_top(
        &self,
        channel: Option<&str>,
        rank: DemandRank,
        limit: usize,
    ) -> Result<Vec<DemandEntry>, EngineError> {
        if limit > MAX_DEMAND_TOP {
            return Err(EngineError::TooMany { what: "demand entries asked for", count: limit, limit: MAX_DEMAND_TOP });
        }
        self.check_demand_channel(channel)?;
        let mut entries: Vec<(u64, Arc<str>, DemandEntry)> = Vec::new();
        for shard in self.demand.shards.iter() {
            let shard = shard.lock();
            for ((sku, key_channel), counters) in shard.iter() {
                if key_channel.as_deref() != channel || counters.ranked(rank) == 0 {
                    continue;
                }
                let name = self.skus.name(*sku);
                let entry = DemandEntry { sku: name.clone(), channel: key_channel.clone(), counters: *counters };
                entries.push((counters.ranked(rank), name, entry));
            }
        }
        entries.sort_unstable_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.as_bytes().cmp(b.1.as_bytes())));
        entries.truncate(limit);
        Ok(entries.into_iter().map(|(_, _, entry)| entry).collect())
    }

    /// The counters summed over every SKU (every call).
    pub fn demand_totals(&self) -> DemandCounters {
        let mut totals = DemandCounters::default();
        for shard in self.demand.shards.iter() {
            for ((_, channel), counters) in shard.lock().iter() {
                if channel.is_none() {
                    totals.add(counters);
                }
            }
        }
        totals
    }

    /// Sourced reserves since start whose exact search ran out of its node budget
    /// and took the greedy allocation (`exact: false`).
    pub fn sourcing_inexact_searches(&self) -> u64 {
        self.demand.inexact_searches()
    }

    fn check_demand_channel(&self, channel: Option<&str>) -> Result<(), EngineError> {
        if let Some(channel) = channel {
            validate_id(IdKind::Channel, channel)?;
            if self.catalogue.load().channel(channel).is_none() {
                return Err(EngineError::UnknownChannel(channel.to_owned()));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reservation_counts_once_per_sku_and_per_channel_too() {
        let table = DemandTable::default();
        let web: Arc<str> = Arc::from("web");
        table.count_lines([(SkuId(1), 2), (SkuId(2), 0), (SkuId(1), 3)], Some(&web), DemandEvent::Refused);
        let all = table.get(SkuId(1), None);
        assert_eq!((all.refused_reservations, all.refused_units), (1, 5));
        assert_eq!(table.get(SkuId(1), Some("web")), all);
        assert_eq!(table.get(SkuId(2), None), DemandCounters::default(), "zero units count nothing");
        table.count(SkuId(1), None, DemandEvent::Expired, 4);
        table.count(SkuId(1), None, DemandEvent::Backorder, 1);
        let all = table.get(SkuId(1), None);
        assert_eq!((all.expired_units, all.backorder_units), (4, 1));
        assert_eq!(table.get(SkuId(1), Some("web")).expired_units, 0);
        assert_eq!(all.ranked(DemandRank::ExpiredUnits), 4);
    }
}
