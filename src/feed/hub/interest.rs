//! The hub's state between cycles: which keys are watched and by whom (the
//! interest), the one value kept per key, and recomputing those values: baselines
//! for new subscribers, snapshots, resyncs, unseen and new SKUs, and the changes of a
//! dirty SKU. The cycle that drives it is in the parent module.

use super::*;

/// Puts the hub's current value of every key `record` watches into its pending table
/// (a snapshot, or re-sent values after a gap).
pub(super) fn fill_values(
    pending: &mut PendingTable,
    record: &SubRecord,
    tracked: &FxHashMap<SkuId, TrackedSku>,
    gap: bool,
) {
    for sku in &record.skus {
        let Some(entry) = tracked.get(sku) else { continue };
        put_entry_values(pending, record, *sku, entry, gap);
    }
    for sku in &record.unseen {
        for channel in &record.channel_names {
            pending.put_unseen(sku.clone(), channel.clone(), gap);
        }
    }
}

/// Puts the hub's value of each key of `sku` that `record` watches.
pub(super) fn put_entry_values(
    pending: &mut PendingTable,
    record: &SubRecord,
    sku: SkuId,
    entry: &TrackedSku,
    gap: bool,
) {
    for &(slot, value) in &entry.channels {
        let scope = ScopeKey::Channel(slot);
        if record.wants(scope) {
            pending.put_value(Key { sku, scope }, value, gap);
        }
    }
    if record.wants_locations {
        for &(location, value) in entry.locations.iter().flatten() {
            pending.put_value(Key { sku, scope: ScopeKey::Location(location) }, value, gap);
        }
    }
}

/// Location names by id: copies, not the catalogue's own (see `name_skus`).
pub(super) fn location_names(catalogue: &Catalogue) -> Vec<Arc<str>> {
    catalogue.locations.iter().map(|location| Arc::from(&*location.name)).collect()
}

pub(super) fn kits_of(catalogue: &Catalogue) -> FxHashMap<SkuId, Vec<SkuId>> {
    let mut map: FxHashMap<SkuId, Vec<SkuId>> = FxHashMap::default();
    for kit in catalogue.kits.values() {
        for component in &kit.components {
            map.entry(component.sku).or_default().push(kit.sku);
        }
    }
    map
}

impl HubState {
    pub(super) fn refresh_catalogue(&mut self, catalogue: Arc<Catalogue>) {
        for slot in &mut self.channel_slots {
            slot.channel = catalogue.channel(&slot.name).cloned();
        }
        self.kits_of = kits_of(&catalogue);
        self.catalogue = catalogue;
    }

    pub(super) fn slot_for(&mut self, name: &str) -> u32 {
        if let Some(slot) = self.slot_by_name.get(name) {
            return *slot;
        }
        let name: Arc<str> = Arc::from(name);
        let slot = u32::try_from(self.channel_slots.len()).expect("channel slots fit in u32");
        let channel = self.catalogue.channel(&name).cloned();
        self.channel_slots.push(ChannelSlot { name: name.clone(), channel });
        self.slot_by_name.insert(name, slot);
        slot
    }

    pub(super) fn resolve(&mut self, engine: &Engine, shared: Arc<SubscriberShared>) -> SubRecord {
        let mut channel_slots = Vec::new();
        let mut wants_locations = false;
        for scope in &shared.spec.scopes {
            match scope {
                FeedScope::Channel(name) => channel_slots.push(self.slot_for(name)),
                FeedScope::Locations => wants_locations = true,
            }
        }
        channel_slots.sort_unstable();
        channel_slots.dedup();
        let channel_names = channel_slots.iter().map(|&slot| self.channel_slots[slot as usize].name.clone()).collect();
        let mut skus = Vec::new();
        let mut unseen: Vec<Arc<str>> = Vec::new();
        for name in &shared.spec.skus {
            match engine.sku_id(name) {
                Some(id) => skus.push(id),
                None => unseen.push(Arc::from(name.as_str())),
            }
        }
        skus.sort_unstable();
        skus.dedup();
        unseen.sort_unstable();
        unseen.dedup();
        let every_sku = shared.spec.skus.is_empty();
        SubRecord { shared, channel_slots, channel_names, wants_locations, every_sku, skus, unseen, woken: false }
    }

    /// Recomputes which keys are watched and by whom, after subscribers came or went.
    /// Values already known are kept; newly watched keys are read now.
    pub(super) fn rebuild_interest(&mut self, engine: &Engine, sku_count: usize) {
        self.every_subs = (0..self.subs.len()).filter(|&index| self.subs[index].every_sku).collect();
        let mut every_channels: Vec<u32> =
            self.every_subs.iter().flat_map(|&index| self.subs[index].channel_slots.iter().copied()).collect();
        every_channels.sort_unstable();
        every_channels.dedup();
        self.every_channels = every_channels;
        self.every_locations = self.every_subs.iter().any(|&index| self.subs[index].wants_locations);

        let mut listed: FxHashMap<SkuId, Vec<usize>> = FxHashMap::default();
        for (index, record) in self.subs.iter().enumerate() {
            for sku in &record.skus {
                listed.entry(*sku).or_default().push(index);
            }
        }
        let mut old = std::mem::take(&mut self.tracked);
        let ids: Vec<SkuId> = if self.every_subs.is_empty() {
            listed.keys().copied().collect()
        } else {
            (0..sku_count as u32).map(SkuId).collect()
        };
        let mut tracked = FxHashMap::with_capacity_and_hasher(ids.len(), Default::default());
        let mut keys = 0;
        for sku in ids {
            let listed_by = listed.remove(&sku).unwrap_or_default();
            let mut channels = self.every_channels.clone();
            let mut locations = self.every_locations;
            for &index in &listed_by {
                channels.extend_from_slice(&self.subs[index].channel_slots);
                locations |= self.subs[index].wants_locations;
            }
            channels.sort_unstable();
            channels.dedup();
            let previous = old.remove(&sku);
            // A SKU new since the last cycle: its first changes may already have
            // been drained (before it was watched), so watch it from 0 and recompute.
            let from_zero = previous.is_none() && sku.index() >= self.known_skus;
            if from_zero {
                self.dirty.push(sku);
            }
            let entry = self.baseline(engine, sku, previous, &channels, locations, listed_by, from_zero);
            keys += entry.key_count();
            tracked.insert(sku, entry);
        }
        self.tracked = tracked;
        self.tracked_keys = keys;
    }

    /// A tracked SKU watching exactly `channels` (and its positions if `locations`):
    /// values kept from `previous` where it had them, the rest read now (or 0 if
    /// `from_zero`: a SKU new since the last cycle, whose changes are then reported
    /// as it is marked dirty).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn baseline(
        &self,
        engine: &Engine,
        sku: SkuId,
        previous: Option<TrackedSku>,
        channels: &[u32],
        locations: bool,
        listed_by: Vec<usize>,
        from_zero: bool,
    ) -> TrackedSku {
        let (old_channels, old_locations) = match previous {
            Some(entry) => (entry.channels, entry.locations),
            None => (Vec::new(), None),
        };
        let channels = channels
            .iter()
            .map(|&slot| {
                let known = old_channels.binary_search_by_key(&slot, |(s, _)| *s).ok().map(|at| old_channels[at].1);
                let value = known.unwrap_or_else(|| if from_zero { 0 } else { self.channel_value(engine, sku, slot) });
                (slot, value)
            })
            .collect();
        let locations = locations.then(|| {
            old_locations.unwrap_or_else(|| {
                let mut values = Vec::new();
                if !from_zero {
                    engine.location_ats_by_id(&self.catalogue, sku, &mut values);
                }
                values
            })
        });
        TrackedSku { channels, locations, listed_by }
    }

    pub(super) fn channel_value(&self, engine: &Engine, sku: SkuId, slot: u32) -> u64 {
        match &self.channel_slots[slot as usize].channel {
            Some(channel) => engine.channel_ats_by_id(&self.catalogue, sku, channel),
            None => 0,
        }
    }

    /// Gives subscriber `index` its first events: the hub's values of its keys, or
    /// the resync marker for an every-SKU subscription.
    pub(super) fn send_snapshot(&mut self, index: usize) {
        let record = &mut self.subs[index];
        let mut pending = record.shared.pending.lock();
        if record.every_sku {
            pending.set_marker();
        } else {
            fill_values(&mut pending, record, &self.tracked, false);
        }
        drop(pending);
        record.woken = true;
    }

    /// Re-sends the values asked for with [`Subscriber::resync`], from the hub's
    /// values (current: this runs after the cycle's changes were offered).
    pub(super) fn serve_resyncs(&mut self, engine: &Engine) -> bool {
        let mut served = false;
        for record in &mut self.subs {
            let Some(names) = record.shared.resync.lock().take() else { continue };
            let mut pending = record.shared.pending.lock();
            for name in &names {
                let listed = |id: &SkuId| record.every_sku || record.skus.binary_search(id).is_ok();
                match engine.sku_id(name) {
                    Some(sku) if listed(&sku) => {
                        let Some(entry) = self.tracked.get(&sku) else { continue };
                        put_entry_values(&mut pending, record, sku, entry, true);
                    }
                    Some(_) => {}
                    None if record.every_sku || record.unseen.iter().any(|unseen| **unseen == **name) => {
                        for &slot in &record.channel_slots {
                            let channel = self.channel_slots[slot as usize].name.clone();
                            pending.put_unseen(Arc::from(name.as_str()), channel, true);
                        }
                    }
                    None => {}
                }
            }
            drop(pending);
            record.woken = true;
            served = true;
        }
        served
    }

    /// Listed names the engine had not seen and now knows: watch them and send
    /// their values (after the 0s their subscribers were sent).
    pub(super) fn resolve_unseen(&mut self, engine: &Engine) -> Vec<SkuId> {
        let mut all_resolved = Vec::new();
        for index in 0..self.subs.len() {
            if self.subs[index].unseen.is_empty() {
                continue;
            }
            let mut resolved = Vec::new();
            self.subs[index].unseen.retain(|name| match engine.sku_id(name) {
                Some(id) => {
                    resolved.push(id);
                    false
                }
                None => true,
            });
            for sku in resolved {
                self.watch_listed(engine, index, sku);
                all_resolved.push(sku);
            }
        }
        all_resolved
    }

    /// New SKU ids appeared and no subscriber came or went: every-SKU subscribers
    /// watch them from 0 (they had no stock before their id existed), and they are
    /// recomputed in this cycle.
    pub(super) fn watch_new_skus(&mut self, engine: &Engine, sku_count: usize) {
        let every_channels = self.every_channels.clone();
        for id in self.known_skus..sku_count {
            let sku = SkuId(id as u32);
            let previous = self.tracked.remove(&sku);
            let listed_by = previous.as_ref().map(|entry| entry.listed_by.clone()).unwrap_or_default();
            let mut channels = every_channels.clone();
            let mut locations = self.every_locations;
            for &listing in &listed_by {
                channels.extend_from_slice(&self.subs[listing].channel_slots);
                locations |= self.subs[listing].wants_locations;
            }
            channels.sort_unstable();
            channels.dedup();
            let before = previous.as_ref().map_or(0, TrackedSku::key_count);
            let entry = self.baseline(engine, sku, previous, &channels, locations, listed_by, true);
            self.tracked_keys = self.tracked_keys + entry.key_count() - before;
            self.tracked.insert(sku, entry);
            self.dirty.push(sku);
        }
    }

    /// Subscriber `index` lists `sku`, which the engine now knows: watch its keys
    /// and send the subscriber their current values.
    pub(super) fn watch_listed(&mut self, engine: &Engine, index: usize, sku: SkuId) {
        let record = &self.subs[index];
        let previous = self.tracked.remove(&sku);
        let before = previous.as_ref().map_or(0, TrackedSku::key_count);
        let mut listed_by = previous.as_ref().map(|entry| entry.listed_by.clone()).unwrap_or_default();
        let mut channels: Vec<u32> =
            previous.as_ref().map(|e| e.channels.iter().map(|(s, _)| *s).collect()).unwrap_or_default();
        channels.extend_from_slice(&record.channel_slots);
        channels.sort_unstable();
        channels.dedup();
        let locations = record.wants_locations || previous.as_ref().is_some_and(|e| e.locations.is_some());
        listed_by.push(index);
        let entry = self.baseline(engine, sku, previous, &channels, locations, listed_by, false);
        self.tracked_keys = self.tracked_keys + entry.key_count() - before;
        self.tracked.insert(sku, entry);
        let record = &mut self.subs[index];
        record.skus.push(sku);
        record.skus.sort_unstable();
        let mut pending = record.shared.pending.lock();
        let entry = &self.tracked[&sku];
        put_entry_values(&mut pending, record, sku, entry, false);
        drop(pending);
        record.woken = true;
    }

    /// Reads every watched key of `sku` again; the ones that changed go to `changes`.
    pub(super) fn recompute(&mut self, engine: &Engine, sku: SkuId, changes: &mut Vec<Change>) {
        let Some(mut entry) = self.tracked.remove(&sku) else { return };
        let channels: Vec<Option<&Channel>> =
            entry.channels.iter().map(|(slot, _)| self.channel_slots[*slot as usize].channel.as_deref()).collect();
        let mut latest_values = Vec::with_capacity(channels.len());
        let mut fresh = entry.locations.as_ref().map(|old| Vec::with_capacity(old.len()));
        engine.feed_values_by_id(&self.catalogue, sku, &channels, &mut latest_values, fresh.as_mut());
        for ((slot, value), latest) in entry.channels.iter_mut().zip(latest_values) {
            if latest != *value {
                changes.push(Change { key: Key { sku, scope: ScopeKey::Channel(*slot) }, before: *value, latest });
                *value = latest;
            }
        }
        if let (Some(old), Some(fresh)) = (entry.locations.take(), fresh) {
            Self::diff_locations(sku, &old, &fresh, changes);
            self.tracked_keys = self.tracked_keys - old.len() + fresh.len();
            entry.locations = Some(fresh);
        }
        self.tracked.insert(sku, entry);
    }

    /// Both lists sorted by location; a position missing from one side counts as 0.
    pub(super) fn diff_locations(
        sku: SkuId,
        old: &[(LocationId, u64)],
        fresh: &[(LocationId, u64)],
        changes: &mut Vec<Change>,
    ) {
        let (mut i, mut j) = (0, 0);
        while i < old.len() || j < fresh.len() {
            let (location, before, latest) = match (old.get(i), fresh.get(j)) {
                (Some(&(a, before)), Some(&(b, latest))) if a == b => {
                    i += 1;
                    j += 1;
                    (a, before, latest)
                }
                (Some(&(a, before)), Some(&(b, _))) if a < b => {
                    i += 1;
                    (a, before, 0)
                }
                (Some(&(a, before)), None) => {
                    i += 1;
                    (a, before, 0)
                }
                (_, Some(&(b, latest))) => {
                    j += 1;
                    (b, 0, latest)
                }
                (None, None) => unreachable!("the loop runs while one side has entries"),
            };
            if before != latest {
                changes.push(Change { key: Key { sku, scope: ScopeKey::Location(location) }, before, latest });
            }
        }
    }
}
