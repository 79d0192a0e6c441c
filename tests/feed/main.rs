//! The availability change feed against a real engine: the tracker hook on every
//! write path, event kinds on a scripted sequence, snapshots, gaps after overflow,
//! kits, SKUs named before they exist, every-SKU subscriptions, limits and typed
//! errors, unsubscribing, and many subscribers against a fast writer (bounded
//! memory, and every subscriber ends on the true final availability).
//!
//! Most tests drive the hub by hand (`FeedHub::manual` + `run_cycle`): no sleeps.

#[path = "../common/mod.rs"]
mod common;
mod events;
mod limits;
mod stress;
mod tracker;

use common::{
    at, channel_spec, line, request, step, Fixture, DISTRIBUTION_CENTRE, LOCATIONS, MUG, OTHER_STORE, STORE, TSHIRT,
    WAREHOUSE, WEB,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use stockd::engine::{AdjustReason, LoggedPosition, ReplayEntry, RestockRequest};
use stockd::feed::{
    EventKind, FeedConfig, FeedError, FeedEvent, FeedHub, FeedScope, Subscriber, SubscriptionSpec,
    MAX_SCOPES_PER_SUBSCRIPTION,
};
use stockd::model::{Bucket, ChannelBuffer, Position, PositionRow, SkuId};
use stockd::Engine;

const MARKETPLACE: &str = "marketplace";

fn engine() -> Arc<Engine> {
    let fixture = Fixture::new();
    fixture
        .engine
        .upsert_channel(&channel_spec(MARKETPLACE, &[WAREHOUSE, OTHER_STORE], &[], ChannelBuffer::Units(2)))
        .expect("a valid channel");
    Arc::new(fixture.engine)
}

fn config() -> FeedConfig {
    FeedConfig { buffer_keys: 64, ..FeedConfig::default() }
}

fn spec(skus: &[&str], scopes: Vec<FeedScope>) -> SubscriptionSpec {
    SubscriptionSpec {
        skus: skus.iter().map(|s| (*s).to_owned()).collect(),
        scopes,
        low_stock_below: None,
        every_change: false,
    }
}

fn web() -> FeedScope {
    FeedScope::Channel(WEB.to_owned())
}

fn take_all(subscriber: &Subscriber) -> Vec<FeedEvent> {
    let mut out = Vec::new();
    while subscriber.try_take(&mut out, 7) > 0 {}
    out
}

/// (sku, scope, kind, available, gap) of each event, for compact assertions.
fn brief(events: &[FeedEvent]) -> Vec<(String, String, EventKind, u64, bool)> {
    events.iter().map(|e| (e.sku.to_string(), e.scope.to_string(), e.kind, e.available, e.gap)).collect()
}

fn event(sku: &str, scope: &str, kind: EventKind, available: u64) -> (String, String, EventKind, u64, bool) {
    (sku.to_owned(), scope.to_owned(), kind, available, false)
}

fn true_value(engine: &Engine, sku: &str, scope: &str, is_channel: bool) -> u64 {
    if is_channel {
        engine.channel_availability(sku, scope, false).expect("a known channel").available
    } else {
        engine.position(sku, scope).map_or(0, |p| u64::from(p.available_to_sell))
    }
}

fn drained(engine: &Engine) -> Vec<SkuId> {
    let mut out = Vec::new();
    engine.changes().drain(&mut out, 1_000);
    out.sort_unstable();
    out.dedup();
    out
}
