//! The availability change feed: subscriptions to SKUs, channels or everything, and
//! the events they receive (out of stock, back in stock, low stock, every change).
//!
//! ```text
//! writers ──(stock table: ChangeTracker::touch, one atomic load when off)──> dirty SKU queue (bounded)
//!                                                                               │ drained by
//!  "stockd-feed" thread: FeedHub::run_cycle ◄───────────────────────────────────┘
//!     recompute each watched (sku, scope) once, compare with the last value it knows
//!     (one per key, shared by every subscriber), offer the change to each interested
//!     subscriber ──> per-subscriber pending map (bounded, coalesced by key) ──> Notify
//!  Subscriber::try_take / next_batch: kinds decided from (value before, latest value)
//! ```
//! The exact rules a client may rely on are in docs/FEED.md.
//!
//! - `hub`: the hub thread and its cycle, offering changes to subscribers;
//!   `hub/interest.rs`: which keys are watched and by whom, the one value kept per
//!   key, and recomputing it (baselines, snapshots, resyncs, dirty SKUs).
//! - `subscription`: a subscriber's pending map, the take path, dropping.
//! - `coalesce`: keys, pending entries and the event kind of a (before, latest) pair.

mod coalesce;
mod hub;
mod subscription;

pub use hub::FeedHub;
pub use subscription::Subscriber;

use std::sync::Arc;
use std::time::Duration;

/// Most scopes (channels, plus `Locations`) one subscription may name.
pub const MAX_SCOPES_PER_SUBSCRIPTION: usize = 64;

/// What a subscription watches for each of its SKUs.
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum FeedScope {
    /// The SKU's available to sell in this channel, the channel buffer applied: the
    /// number [`crate::Engine::channel_availability`] answers.
    Channel(String),
    /// Each (sku, location) position's available to sell (a kit: what each location
    /// of its first component can make).
    Locations,
}

/// What a client subscribes to.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SubscriptionSpec {
    /// The SKUs to watch (duplicates ignored); empty means every SKU.
    pub skus: Vec<String>,
    /// At least one.
    pub scopes: Vec<FeedScope>,
    /// Report `LowStock` when a value falls from at or above this to below it (and
    /// above 0).
    pub low_stock_below: Option<u32>,
    /// Also report every other change of a value (`Changed`).
    pub every_change: bool,
}

/// Why an event was sent. See docs/FEED.md for the precedence.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub enum EventKind {
    /// The current value: first events of a subscription, and re-sent values after a
    /// gap (`gap: true`).
    Snapshot,
    /// From above 0 to 0.
    OutOfStock,
    /// From 0 to above 0.
    BackInStock,
    /// From at or above the subscriber's threshold to below it (and above 0).
    LowStock,
    /// Any other change (only with `every_change`).
    Changed,
}

/// One event. `available` is always the absolute latest value the hub knew when the
/// event was taken, so applying events in order leaves a client with the hub's view.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FeedEvent {
    /// The SKU; empty for a resync marker (see [`FeedEvent::is_resync_marker`]).
    pub sku: Arc<str>,
    /// The channel name, or the location name for a `Locations` scope.
    pub scope: Arc<str>,
    pub scope_is_channel: bool,
    pub available: u64,
    pub kind: EventKind,
    /// Events were lost before this one (the subscriber fell behind): this is a
    /// re-sent current value, or, for an every-SKU subscription, the resync marker.
    pub gap: bool,
}

impl FeedEvent {
    /// The marker an every-SKU subscription gets first and after falling behind: no
    /// SKU, no scope, `kind: Snapshot`, `gap: true`. It means "query what you need
    /// now; every change after this point will be reported".
    pub fn is_resync_marker(&self) -> bool {
        self.sku.is_empty()
    }

    pub(crate) fn resync_marker() -> FeedEvent {
        FeedEvent {
            sku: Arc::from(""),
            scope: Arc::from(""),
            scope_is_channel: false,
            available: 0,
            kind: EventKind::Snapshot,
            gap: true,
        }
    }
}

/// The hub's bounds and pace. Memory per subscriber is at most `buffer_keys` pending
/// changes plus one re-sent value per (sku, scope) of its own SKU list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FeedConfig {
    /// Subscriptions open at once; one more is refused with `TooManySubscribers`.
    pub max_subscribers: usize,
    /// Distinct (sku, scope) changes a subscriber may have waiting; one more drops
    /// them and marks it lagging (it then gets the latest values with `gap: true`).
    pub buffer_keys: usize,
    /// Capacity of the engine's dirty-SKU queue (fixed by the first hub that enables
    /// the engine's tracker). Beyond it writers set a flag and the hub rescans.
    pub queue_capacity: usize,
    /// How long the hub thread sleeps between cycles: the feed's added latency, and
    /// the window in which bursts coalesce. The feed's cost to writers is per cycle
    /// (each dirty watched SKU is read once per cycle), so a longer interval slows
    /// writers less; see BENCHMARKS.md, "Change feed".
    pub poll_interval: Duration,
    /// SKUs one subscription may list.
    pub max_skus_per_subscription: usize,
}

impl Default for FeedConfig {
    fn default() -> Self {
        FeedConfig {
            max_subscribers: 10_000,
            buffer_keys: 1_024,
            queue_capacity: crate::engine::DEFAULT_CHANGE_QUEUE_CAPACITY,
            poll_interval: Duration::from_millis(10),
            max_skus_per_subscription: 1_000,
        }
    }
}

/// Counters since the hub started.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FeedStats {
    /// Subscriptions open now.
    pub subscribers: u64,
    /// Events handed to subscribers (markers included).
    pub events_sent: u64,
    /// Changes merged into a change already pending for the same key.
    pub coalesced: u64,
    /// Events delivered with `gap: true`.
    pub gaps: u64,
    /// Times a subscriber's pending map was full and was dropped.
    pub overflows: u64,
    /// Times the engine's dirty queue overflowed (each costs the hub a rescan).
    pub tracker_overflows: u64,
    /// Hub cycles run.
    pub cycles: u64,
    /// (sku, scope) keys whose last value the hub keeps now.
    pub tracked_keys: u64,
    /// Pending entries over all subscribers at the end of the last cycle that gave
    /// any subscriber something (idle cycles do not visit subscribers).
    pub pending_keys: u64,
    /// The most pending entries one subscriber ever had.
    pub pending_keys_max: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FeedError {
    #[error("too many subscribers: the limit is {limit}")]
    TooManySubscribers { limit: usize },
    #[error("too many SKUs in one subscription: {count}, the limit is {limit}")]
    TooManySkus { count: usize, limit: usize },
    #[error("too many scopes in one subscription: {count}, the limit is {limit}")]
    TooManyScopes { count: usize, limit: usize },
    #[error("a subscription needs at least one scope")]
    NoScopes,
    #[error("unknown channel {0:?}")]
    UnknownChannel(String),
    #[error("invalid SKU {sku:?}: {reason}")]
    InvalidSku { sku: String, reason: String },
    #[error("the feed has stopped")]
    Stopped,
}
