//! The hub: one thread ("stockd-feed") that turns the engine's dirty SKUs into
//! changes of watched values and offers them to subscribers.
//!
//! One cycle ([`FeedHub::run_cycle`]), under the hub's state mutex:
//! 1. forget dropped subscribers, take new ones; with none at all, disable the
//!    engine's tracker and forget every value (nothing is watched);
//! 2. enable the tracker (before any value is read, so no later change is missed);
//! 3. a new catalogue (channels, kits, buffers) means every watched value is recomputed;
//! 4. subscribers came or went: rebuild the interest (which keys are watched, by
//!    whom), reading the current value of each newly watched key, and give each new
//!    subscriber its snapshot (or, for every SKU, its resync marker) from those values;
//! 5. new SKU names: resolve listed names the engine had not seen (they get their
//!    snapshot now); with an every-SKU subscriber, watch the new SKUs from 0;
//! 6. drain the dirty SKUs (all of them: every watched SKU after an overflow or a
//!    catalogue change), recompute each watched key of those SKUs (and of the kits
//!    made of them), and offer each changed value to every interested subscriber;
//! 7. wake the subscribers that got something.
//!
//! Why the values stay true: the tracker is enabled before a value is first read, and
//! a SKU is reported after any change that its read may have missed (see
//! `engine::changes`). Every offer carries the value the hub kept before and the new
//! one, and the hub keeps one value per key for everybody, so a subscriber whose
//! snapshot came from the hub's value is offered every later change of it.

use super::coalesce::{Key, Names, Offered, PendingTable, ScopeKey};
use super::subscription::{Subscriber, SubscriberShared};
use super::{FeedConfig, FeedError, FeedScope, FeedStats, SubscriptionSpec, MAX_SCOPES_PER_SUBSCRIPTION};
use crate::model::{validate_id, Catalogue, Channel, IdKind, LocationId, SkuId};
use crate::Engine;
use parking_lot::{Mutex, RwLock};
use rustc_hash::FxHashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;

/// The change feed of one engine. Start it with [`FeedHub::start`] (a thread) or
/// [`FeedHub::manual`] (cycles run by the caller, for tests).
pub struct FeedHub {
    core: Arc<HubCore>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

/// What the hub thread, the hub handle and every subscriber share.
pub(crate) struct HubCore {
    engine: Arc<Engine>,
    config: FeedConfig,
    /// Everything a cycle reads and writes; held for a whole cycle.
    state: Mutex<HubState>,
    /// Subscribers not yet registered by a cycle (at most `max_subscribers`).
    incoming: Mutex<Vec<Arc<SubscriberShared>>>,
    /// Open subscriptions (registered or not), for the limit.
    subscribers: AtomicUsize,
    next_id: AtomicU64,
    stopped: AtomicBool,
    counters: Counters,
    /// The hub thread, to wake it early when a subscriber arrives.
    thread: OnceLock<std::thread::Thread>,
    /// Scope names, for subscribers naming their events (without the hub's state
    /// or the engine's catalogue, whose reference count writers' cores read).
    scope_names: RwLock<ScopeNames>,
}

/// The names events carry for scopes.
#[derive(Default)]
pub(crate) struct ScopeNames {
    /// By channel slot (append-only).
    channels: Vec<Arc<str>>,
    /// By location id, from the hub's current catalogue.
    locations: Vec<Arc<str>>,
    /// Of the SKUs the hub watches.
    skus: FxHashMap<SkuId, Arc<str>>,
}

#[derive(Default)]
struct Counters {
    events_sent: AtomicU64,
    coalesced: AtomicU64,
    gaps: AtomicU64,
    overflows: AtomicU64,
    tracker_overflows: AtomicU64,
    cycles: AtomicU64,
    tracked_keys: AtomicU64,
    pending_keys: AtomicU64,
    pending_keys_max: AtomicU64,
}

/// A channel as the hub numbers it. Slots are never reused.
struct ChannelSlot {
    name: Arc<str>,
    /// From the current catalogue; `None` if the channel was removed (its values are 0).
    channel: Option<Arc<Channel>>,
}

/// A registered subscriber, resolved.
struct SubRecord {
    shared: Arc<SubscriberShared>,
    /// Sorted, deduplicated.
    channel_slots: Vec<u32>,
    /// The names of those channels, in the same order (for unseen SKUs' zeros).
    channel_names: Vec<Arc<str>>,
    wants_locations: bool,
    every_sku: bool,
    /// Listed SKUs the engine knows, sorted, deduplicated.
    skus: Vec<SkuId>,
    /// Listed SKUs no write has named yet.
    unseen: Vec<Arc<str>>,
    /// Offered something this cycle: wake it at the end.
    woken: bool,
}

impl SubRecord {
    fn wants(&self, scope: ScopeKey) -> bool {
        match scope {
            ScopeKey::Channel(slot) => self.channel_slots.binary_search(&slot).is_ok(),
            ScopeKey::Location(_) => self.wants_locations,
        }
    }
}

/// The last values the hub knows for one watched SKU.
struct TrackedSku {
    /// (channel slot, value), sorted by slot.
    channels: Vec<(u32, u64)>,
    /// (location, value) of each position, sorted by location, if watched.
    locations: Option<Vec<(LocationId, u64)>>,
    /// Indices into `HubState::subs` of the subscribers listing it.
    listed_by: Vec<usize>,
}

impl TrackedSku {
    fn key_count(&self) -> usize {
        self.channels.len() + self.locations.as_ref().map_or(0, Vec::len)
    }
}

/// A change found by a cycle.
struct Change {
    key: Key,
    before: u64,
    latest: u64,
}

struct HubState {
    subs: Vec<SubRecord>,
    channel_slots: Vec<ChannelSlot>,
    slot_by_name: FxHashMap<Arc<str>, u32>,
    tracked: FxHashMap<SkuId, TrackedSku>,
    tracked_keys: usize,
    /// Indices of the every-SKU subscribers, and the union of what they watch.
    every_subs: Vec<usize>,
    every_channels: Vec<u32>,
    every_locations: bool,
    /// Component SKU -> the kits made of it.
    kits_of: FxHashMap<SkuId, Vec<SkuId>>,
    catalogue: Arc<Catalogue>,
    /// SKU ids seen so far (`Engine::sku_count` at the last cycle).
    known_skus: usize,
    tracker_on: bool,
    dirty: Vec<SkuId>,
    /// This cycle's changes, and for each subscriber the indices of those it
    /// watches (kept between cycles for their capacity).
    changes: Vec<Change>,
    offers: Vec<Vec<u32>>,
}

impl FeedHub {
    /// Starts the hub and its thread, "stockd-feed", which runs a cycle every
    /// `poll_interval`. The engine's tracker is enabled only while subscribers exist.
    pub fn start(engine: Arc<Engine>, config: FeedConfig) -> Arc<FeedHub> {
        let hub = FeedHub::manual(engine, config);
        let core = hub.core.clone();
        let poll_interval = core.config.poll_interval;
        let handle = std::thread::Builder::new()
            .name("stockd-feed".to_owned())
            .spawn(move || {
                while !core.is_stopped() {
                    core.run_cycle();
                    std::thread::park_timeout(poll_interval);
                }
            })
            .expect("the feed thread starts");
        let _ = hub.core.thread.set(handle.thread().clone());
        *hub.thread.lock() = Some(handle);
        hub
    }

    /// A hub without a thread: nothing happens until the caller runs
    /// [`FeedHub::run_cycle`]. For deterministic tests, and for embedding the hub in
    /// another loop.
    pub fn manual(engine: Arc<Engine>, config: FeedConfig) -> Arc<FeedHub> {
        let catalogue = engine.catalogue();
        let catalogue_for_names = catalogue.clone();
        let state = HubState {
            subs: Vec::new(),
            channel_slots: Vec::new(),
            slot_by_name: FxHashMap::default(),
            tracked: FxHashMap::default(),
            tracked_keys: 0,
            every_subs: Vec::new(),
            every_channels: Vec::new(),
            every_locations: false,
            kits_of: kits_of(&catalogue),
            catalogue,
            known_skus: 0,
            tracker_on: false,
            dirty: Vec::new(),
            changes: Vec::new(),
            offers: Vec::new(),
        };
        Arc::new(FeedHub {
            core: Arc::new(HubCore {
                engine,
                config,
                state: Mutex::new(state),
                incoming: Mutex::new(Vec::new()),
                subscribers: AtomicUsize::new(0),
                next_id: AtomicU64::new(1),
                stopped: AtomicBool::new(false),
                counters: Counters::default(),
                thread: OnceLock::new(),
                scope_names: RwLock::new(ScopeNames {
                    channels: Vec::new(),
                    locations: location_names(&catalogue_for_names),
                    skus: FxHashMap::default(),
                }),
            }),
            thread: Mutex::new(None),
        })
    }

    /// Opens a subscription. Its first events (snapshot or resync marker) arrive
    /// after the hub's next cycle.
    pub fn subscribe(&self, spec: SubscriptionSpec) -> Result<Subscriber, FeedError> {
        self.core.subscribe(spec)
    }

    /// Runs one cycle now, on this thread (it waits for a cycle in progress on the
    /// hub thread, if any). Does nothing once stopped.
    pub fn run_cycle(&self) {
        if !self.core.is_stopped() {
            self.core.run_cycle();
        }
    }

    pub fn stats(&self) -> FeedStats {
        let counters = &self.core.counters;
        let get = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        FeedStats {
            subscribers: self.core.subscribers.load(Ordering::Relaxed) as u64,
            events_sent: get(&counters.events_sent),
            coalesced: get(&counters.coalesced),
            gaps: get(&counters.gaps),
            overflows: get(&counters.overflows),
            tracker_overflows: get(&counters.tracker_overflows),
            cycles: get(&counters.cycles),
            tracked_keys: get(&counters.tracked_keys),
            pending_keys: get(&counters.pending_keys),
            pending_keys_max: get(&counters.pending_keys_max),
        }
    }

    pub fn config(&self) -> &FeedConfig {
        &self.core.config
    }

    /// Stops the hub: joins its thread, disables the engine's tracker, and wakes
    /// every subscriber (whose `next_batch` then returns what is pending, then 0).
    /// New subscriptions are refused with [`FeedError::Stopped`]. Idempotent.
    pub fn stop(&self) {
        self.core.stopped.store(true, Ordering::SeqCst);
        if let Some(thread) = self.core.thread.get() {
            thread.unpark();
        }
        if let Some(handle) = self.thread.lock().take() {
            let _ = handle.join();
        }
        let state = self.core.state.lock();
        self.core.engine.changes().disable();
        for record in &state.subs {
            record.shared.notify.notify_waiters();
            record.shared.notify.notify_one();
        }
        for shared in self.core.incoming.lock().iter() {
            shared.notify.notify_waiters();
            shared.notify.notify_one();
        }
    }
}

impl Drop for FeedHub {
    fn drop(&mut self) {
        self.stop();
    }
}

impl HubCore {
    pub(crate) fn is_stopped(&self) -> bool {
        self.stopped.load(Ordering::SeqCst)
    }

    pub(crate) fn count_taken(&self, taken: usize, gaps: usize) {
        if taken > 0 {
            self.counters.events_sent.fetch_add(taken as u64, Ordering::Relaxed);
        }
        if gaps > 0 {
            self.counters.gaps.fetch_add(gaps as u64, Ordering::Relaxed);
        }
    }

    pub(crate) fn max_skus_per_subscription(&self) -> usize {
        self.config.max_skus_per_subscription
    }

    /// Runs the hub thread's next cycle early (no-op for a manual hub).
    pub(crate) fn wake(&self) {
        if let Some(thread) = self.thread.get() {
            thread.unpark();
        }
    }

    pub(crate) fn unsubscribed(&self) {
        self.subscribers.fetch_sub(1, Ordering::SeqCst);
    }

    fn subscribe(self: &Arc<Self>, spec: SubscriptionSpec) -> Result<Subscriber, FeedError> {
        if self.is_stopped() {
            return Err(FeedError::Stopped);
        }
        self.validate(&spec)?;
        let limit = self.config.max_subscribers;
        self.subscribers
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |open| (open < limit).then_some(open + 1))
            .map_err(|_| FeedError::TooManySubscribers { limit })?;
        let pending = PendingTable::new(self.config.buffer_keys, spec.low_stock_below, spec.every_change);
        let shared = Arc::new(SubscriberShared {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            spec,
            pending: Mutex::new(pending),
            notify: tokio::sync::Notify::new(),
            dropped: AtomicBool::new(false),
            resync: Mutex::new(None),
        });
        self.incoming.lock().push(shared.clone());
        self.wake();
        Ok(Subscriber { shared, core: self.clone() })
    }

    fn validate(&self, spec: &SubscriptionSpec) -> Result<(), FeedError> {
        if spec.scopes.is_empty() {
            return Err(FeedError::NoScopes);
        }
        if spec.scopes.len() > MAX_SCOPES_PER_SUBSCRIPTION {
            return Err(FeedError::TooManyScopes { count: spec.scopes.len(), limit: MAX_SCOPES_PER_SUBSCRIPTION });
        }
        let limit = self.config.max_skus_per_subscription;
        if spec.skus.len() > limit {
            return Err(FeedError::TooManySkus { count: spec.skus.len(), limit });
        }
        for sku in &spec.skus {
            validate_id(IdKind::Sku, sku)
                .map_err(|error| FeedError::InvalidSku { sku: sku.clone(), reason: error.to_string() })?;
        }
        let catalogue = self.engine.catalogue();
        for scope in &spec.scopes {
            if let FeedScope::Channel(name) = scope {
                if catalogue.channel(name).is_none() {
                    return Err(FeedError::UnknownChannel(name.clone()));
                }
            }
        }
        Ok(())
    }

    fn run_cycle(&self) {
        let mut state = self.state.lock();
        self.counters.cycles.fetch_add(1, Ordering::Relaxed);
        let before = state.subs.len();
        state.subs.retain(|record| !record.shared.dropped.load(Ordering::SeqCst));
        let removed = state.subs.len() != before;
        let fresh: Vec<Arc<SubscriberShared>> = std::mem::take(&mut *self.incoming.lock());
        let fresh: Vec<_> = fresh.into_iter().filter(|shared| !shared.dropped.load(Ordering::SeqCst)).collect();
        if state.subs.is_empty() && fresh.is_empty() {
            self.go_idle(&mut state);
            return;
        }
        if !state.tracker_on {
            self.engine.changes().enable_with_capacity(self.config.queue_capacity);
            state.tracker_on = true;
            // Read after enabling: a SKU below this count is read after the tracker
            // is on, one above it is new and watched from 0 by `watch_new_skus`.
            state.known_skus = self.engine.sku_count();
        }
        let mut rescan_all = false;
        let catalogue = self.engine.catalogue();
        if !Arc::ptr_eq(&catalogue, &state.catalogue) {
            self.scope_names.write().locations = location_names(&catalogue);
            state.refresh_catalogue(catalogue);
            rescan_all = true;
        }
        let interest_changed = self.update_interest(&mut state, removed, fresh);
        let offered = self.process_changes(&mut state, rescan_all);
        let resynced = state.serve_resyncs(&self.engine);
        // An idle cycle touches no subscriber: with thousands of them, visiting each
        // every poll interval would cost more than the changes.
        if offered || resynced || interest_changed {
            self.finish_cycle(&mut state);
        }
    }

    /// Registers new subscribers (with their snapshots), rebuilds the interest if
    /// subscribers came or went, and watches SKUs that appeared since the last cycle.
    /// Returns whether any subscriber was given something.
    fn update_interest(&self, state: &mut HubState, removed: bool, fresh: Vec<Arc<SubscriberShared>>) -> bool {
        let first_new = state.subs.len();
        for shared in fresh {
            let record = state.resolve(&self.engine, shared);
            state.subs.push(record);
        }
        {
            let mut names = self.scope_names.write();
            let known = names.channels.len();
            names.channels.extend(state.channel_slots[known..].iter().map(|slot| slot.name.clone()));
        }
        let sku_count = self.engine.sku_count();
        let rebuilt = removed || first_new < state.subs.len();
        if rebuilt {
            state.rebuild_interest(&self.engine, sku_count);
            self.name_skus(state.tracked.keys().copied());
            for index in first_new..state.subs.len() {
                state.send_snapshot(index);
            }
        }
        let mut resolved_any = false;
        if sku_count > state.known_skus {
            if !rebuilt && !state.every_subs.is_empty() {
                state.watch_new_skus(&self.engine, sku_count);
                self.name_skus((state.known_skus..sku_count).map(|id| SkuId(id as u32)));
            }
            let resolved = state.resolve_unseen(&self.engine);
            resolved_any = !resolved.is_empty();
            self.name_skus(resolved.into_iter());
        }
        state.known_skus = sku_count;
        rebuilt || resolved_any
    }

    /// Drains the dirty SKUs (or takes every watched one), recomputes their watched
    /// values and offers the changes. Returns whether anything changed.
    fn process_changes(&self, state: &mut HubState, mut rescan_all: bool) -> bool {
        // Holds the SKUs `rebuild_interest` or `watch_new_skus` watch from 0.
        let mut dirty = std::mem::take(&mut state.dirty);
        let drained = self.engine.changes().drain(&mut dirty, self.config.queue_capacity.max(1));
        if drained.overflowed {
            self.counters.tracker_overflows.fetch_add(1, Ordering::Relaxed);
            rescan_all = true;
        }
        if rescan_all {
            dirty.clear();
            dirty.extend(state.tracked.keys().copied());
        } else {
            let kits: Vec<SkuId> = dirty.iter().filter_map(|sku| state.kits_of.get(sku)).flatten().copied().collect();
            dirty.extend(kits);
        }
        dirty.sort_unstable();
        dirty.dedup();
        let mut changes = std::mem::take(&mut state.changes);
        for &sku in &dirty {
            state.recompute(&self.engine, sku, &mut changes);
        }
        state.changes = changes;
        let offered = !state.changes.is_empty();
        self.offer_changes(state);
        dirty.clear();
        state.dirty = dirty;
        offered
    }

    /// Nobody watches: writers go back to one atomic load, and the hub forgets values.
    fn go_idle(&self, state: &mut HubState) {
        if state.tracker_on {
            self.scope_names.write().skus = FxHashMap::default();
            self.engine.changes().disable();
            state.tracker_on = false;
            state.tracked = FxHashMap::default();
            state.tracked_keys = 0;
            state.every_subs.clear();
            state.every_channels.clear();
            state.every_locations = false;
        }
        self.counters.tracked_keys.store(0, Ordering::Relaxed);
        self.counters.pending_keys.store(0, Ordering::Relaxed);
    }

    /// Offers this cycle's changes (the hub's values are all updated already) to
    /// every subscriber that watches their keys: grouped by subscriber first, so
    /// that each subscriber's lock is taken once per cycle, not once per change.
    fn offer_changes(&self, state: &mut HubState) {
        let HubState { subs, tracked, every_subs, changes, offers, .. } = state;
        if changes.is_empty() {
            return;
        }
        // Listing subscribers: each change goes to those listing its SKU.
        offers.resize_with(subs.len(), Vec::new);
        for (index, change) in changes.iter().enumerate() {
            let Some(entry) = tracked.get(&change.key.sku) else { continue };
            for &sub in &entry.listed_by {
                if subs[sub].wants(change.key.scope) {
                    offers[sub].push(index as u32);
                }
            }
        }
        let mut coalesced = 0u64;
        for (record, indices) in subs.iter_mut().zip(offers.iter_mut()) {
            if indices.is_empty() {
                continue;
            }
            let changes = indices.iter().map(|&index| &changes[index as usize]);
            coalesced += self.offer_to(record, changes, tracked);
            record.woken = true;
            indices.clear();
        }
        // Every-SKU subscribers: every change of a scope they watch, without lists.
        for &sub in every_subs.iter() {
            let record = &subs[sub];
            let mut wanted = changes.iter().filter(|change| record.wants(change.key.scope)).peekable();
            if wanted.peek().is_some() {
                coalesced += self.offer_to(record, wanted, tracked);
                subs[sub].woken = true;
            }
        }
        changes.clear();
        if coalesced > 0 {
            self.counters.coalesced.fetch_add(coalesced, Ordering::Relaxed);
        }
    }

    /// Offers `changes` to one subscriber under one lock; returns how many merged
    /// into a change already pending.
    fn offer_to<'a>(
        &self,
        record: &SubRecord,
        changes: impl Iterator<Item = &'a Change>,
        tracked: &FxHashMap<SkuId, TrackedSku>,
    ) -> u64 {
        let mut coalesced = 0;
        let mut pending = record.shared.pending.lock();
        for change in changes {
            match pending.offer(change.key, change.before, change.latest) {
                Offered::Inserted | Offered::Ignored => {}
                Offered::Coalesced => coalesced += 1,
                Offered::Full => {
                    self.counters.overflows.fetch_add(1, Ordering::Relaxed);
                    self.counters.pending_keys_max.fetch_max(pending.len() as u64, Ordering::Relaxed);
                    pending.clear();
                    if record.every_sku {
                        pending.set_marker();
                    } else {
                        // The hub's values already include every change of this
                        // cycle; the rest of this cycle's offers merge into them.
                        fill_values(&mut pending, record, tracked, true);
                    }
                }
            }
        }
        let len = pending.len() as u64;
        drop(pending);
        self.counters.pending_keys_max.fetch_max(len, Ordering::Relaxed);
        coalesced
    }

    /// Copies the names of newly watched SKUs into the feed's own table: events
    /// carry these, so a consumer never touches the reference count of the
    /// engine's own name, whose memory neighbours writers' data.
    fn name_skus(&self, skus: impl Iterator<Item = SkuId>) {
        let mut fresh = Vec::new();
        {
            let names = self.scope_names.read();
            fresh.extend(skus.filter(|sku| !names.skus.contains_key(sku)));
        }
        if fresh.is_empty() {
            return;
        }
        let copies: Vec<(SkuId, Arc<str>)> =
            fresh.into_iter().map(|sku| (sku, Arc::from(&*self.engine.sku_name(sku)))).collect();
        self.scope_names.write().skus.extend(copies);
    }

    /// The names of a key's events (for the take path).
    pub(crate) fn names_of(&self, scope_names: &ScopeNames, key: Key) -> Names {
        let sku = match scope_names.skus.get(&key.sku) {
            Some(name) => name.clone(),
            None => Arc::from(&*self.engine.sku_name(key.sku)),
        };
        match key.scope {
            ScopeKey::Channel(slot) => {
                Names { sku, scope: scope_names.channels[slot as usize].clone(), scope_is_channel: true }
            }
            ScopeKey::Location(location) => {
                let scope = match scope_names.locations.get(location.index()) {
                    Some(name) => name.clone(),
                    None => Arc::from(format!("#{}", location.0)),
                };
                Names { sku, scope, scope_is_channel: false }
            }
        }
    }

    pub(crate) fn scope_names(&self) -> parking_lot::RwLockReadGuard<'_, ScopeNames> {
        self.scope_names.read()
    }

    fn finish_cycle(&self, state: &mut HubState) {
        let mut total = 0usize;
        let mut largest = 0usize;
        for record in &mut state.subs {
            let pending = record.shared.pending.lock().len();
            total += pending;
            largest = largest.max(pending);
            if std::mem::take(&mut record.woken) && pending > 0 {
                record.shared.notify.notify_one();
            }
        }
        self.counters.pending_keys.store(total as u64, Ordering::Relaxed);
        self.counters.pending_keys_max.fetch_max(largest as u64, Ordering::Relaxed);
        self.counters.tracked_keys.store(state.tracked_keys as u64, Ordering::Relaxed);
    }
}

mod interest;

use interest::{fill_values, kits_of, location_names};
