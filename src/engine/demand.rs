//! Lost-demand signals: since-start counters of refused, expired and backordered
//! demand per SKU (and per channel and SKU for sourced reserves).
//!
//! In memory only: not logged, not in snapshots, and never counted by replay.

use super::{Engine, EngineError};
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
    /// `None`: all channels (every reserve); `Some`: sourced reserves of that channel.
    pub channel: Option<Arc<str>>,
    pub counters: DemandCounters,
}

#[derive(Default)]
pub(super) struct DemandTable {}

impl Engine {
    /// The counters of one SKU, over all calls (`None`) or a channel's sourced reserves.
    pub fn demand_for(&self, _sku: &str, _channel: Option<&str>) -> Result<DemandCounters, EngineError> {
        Ok(DemandCounters::default())
    }

    /// The `limit` SKUs with the highest `rank` counter, ties by SKU name.
    pub fn demand_top(
        &self,
        _channel: Option<&str>,
        _rank: DemandRank,
        _limit: usize,
    ) -> Result<Vec<DemandEntry>, EngineError> {
        Ok(Vec::new())
    }

    /// The counters summed over every SKU (all channels).
    pub fn demand_totals(&self) -> DemandCounters {
        DemandCounters::default()
    }
}
