//! The issue-6 signals on `/metrics`: the change feed's counters and the lost-demand
//! counters (totals, and the few SKUs with the most refused demand, so that the
//! number of series stays bounded however many SKUs there are).

use super::exposition::Writer;
use crate::engine::{DemandCounters, DemandRank};
use crate::feed::FeedStats;
use crate::Engine;

/// SKUs shown by `stockd_demand_top_refused_units`.
pub const DEMAND_TOP_SERIES: usize = 10;

pub(super) fn render_feed(stats: &FeedStats, w: &mut Writer<'_>) {
    let gauges: [(&str, &str, u64); 3] = [
        ("stockd_feed_subscribers", "Change-feed subscriptions open.", stats.subscribers),
        ("stockd_feed_tracked_keys", "(SKU, scope) values the change feed keeps.", stats.tracked_keys),
        ("stockd_feed_pending_keys", "Changes waiting in subscribers' buffers.", stats.pending_keys),
    ];
    for (name, help, value) in gauges {
        w.family(name, "gauge", help);
        w.sample(name, &[], value);
    }
    let counters: [(&str, &str, u64); 5] = [
        ("stockd_feed_events_total", "Change-feed events handed to subscribers.", stats.events_sent),
        ("stockd_feed_coalesced_total", "Changes merged into one already waiting for the same key.", stats.coalesced),
        ("stockd_feed_gaps_total", "Events delivered marked gap (the subscriber had fallen behind).", stats.gaps),
        ("stockd_feed_overflows_total", "Times a subscriber's buffer was full and was dropped.", stats.overflows),
        (
            "stockd_feed_tracker_overflows_total",
            "Times the engine's queue of changed SKUs was full (each costs the feed a rescan).",
            stats.tracker_overflows,
        ),
    ];
    for (name, help, value) in counters {
        w.family(name, "counter", help);
        w.sample(name, &[], value);
    }
}

pub(super) fn render_demand(engine: &Engine, w: &mut Writer<'_>) {
    let totals = engine.demand_totals();
    let DemandCounters {
        refused_reservations,
        refused_units,
        expired_reservations,
        expired_units,
        backorder_reservations,
        backorder_units,
    } = totals;
    let counters: [(&str, &str, u64); 6] = [
        ("stockd_demand_refused_reservations_total", "Reservations refused for lack of stock.", refused_reservations),
        ("stockd_demand_refused_units_total", "Units asked by reservations refused for lack of stock.", refused_units),
        ("stockd_demand_expired_reservations_total", "Reservations that expired unpaid.", expired_reservations),
        ("stockd_demand_expired_units_total", "Units held by reservations that expired unpaid.", expired_units),
        ("stockd_demand_backorder_reservations_total", "Reservations with a backordered line.", backorder_reservations),
        ("stockd_demand_backorder_units_total", "Units reserved as backorders.", backorder_units),
    ];
    for (name, help, value) in counters {
        w.family(name, "counter", help);
        w.sample(name, &[], value);
    }
    let name = "stockd_demand_top_refused_units";
    w.family(name, "gauge", "Refused units of the SKUs with the most refused demand (at most 10 series).");
    if let Ok(top) = engine.demand_top(None, DemandRank::RefusedUnits, DEMAND_TOP_SERIES) {
        for entry in top.iter().filter(|entry| entry.counters.refused_units > 0) {
            w.sample(name, &[("sku", &entry.sku)], entry.counters.refused_units);
        }
    }
}
