//! Reads: one position, one SKU across a channel, a batch of SKUs, available to
//! promise by a date, kits, and engine statistics. Reads take shard read locks only
//! and never allocate on the single-value paths.

use super::reservations::ReservationState;
use super::stock_table::StockShard;
use super::{Engine, EngineError};
use crate::limits::MAX_BATCH_SKUS;
use crate::model::{
    validate_id, Catalogue, Channel, IdKind, Kit, LocationId, Position, PositionView, SkuId, Timestamp,
};

/// Where availability is counted: one location, or a channel's locations.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum AvailabilityScope {
    Location(String),
    Channel(String),
}

/// A scope named by borrowed strings: what a request decoded without allocating
/// carries ([`AvailabilityScope::name`] borrows an owned one).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScopeName<'a> {
    Location(&'a str),
    Channel(&'a str),
}

impl AvailabilityScope {
    pub fn name(&self) -> ScopeName<'_> {
        match self {
            AvailabilityScope::Location(name) => ScopeName::Location(name),
            AvailabilityScope::Channel(name) => ScopeName::Channel(name),
        }
    }
}

/// One single-SKU availability question, borrowed (see [`Engine::availability_many`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AvailabilityQuery<'a> {
    pub sku: &'a str,
    pub scope: ScopeName<'a>,
    pub measure: Availability,
}

/// What to count at each position.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Availability {
    /// Available to sell now.
    ToSell,
    /// Available to promise by a date (ATS plus supply due by then).
    ToPromise(Timestamp),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LocationAvailability {
    pub location: LocationId,
    pub available: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ChannelAvailability {
    /// Summed over the channel's locations, less the channel buffer, never below 0.
    pub available: u64,
    /// The sum before the buffer.
    pub summed: u64,
    /// Per location with a position in the channel, sorted by location id
    /// (empty unless asked for).
    pub locations: Vec<LocationAvailability>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct EngineStats {
    pub skus: u64,
    pub positions: u64,
    pub locations: u64,
    pub channels: u64,
    pub kits: u64,
    pub reservations_held: u64,
    pub reservations_committed: u64,
    pub reservations_fulfilled: u64,
    pub reservations_released: u64,
    pub reservations_expired: u64,
    /// Reservations remembered in all states, counted against `max_reservations`.
    pub reservations_remembered: u64,
}

/// A resolved scope: a location id, or a channel from the loaded catalogue.
#[derive(Clone, Copy)]
enum Scope<'c> {
    Location(LocationId),
    Channel(&'c Channel),
}

/// Queries whose memory reads are issued together by [`Engine::count_many`]: about
/// what the core's miss buffers and the prefetch queue keep in flight at once.
const PREFETCH_GROUP: usize = 32;

/// A query resolved to ids, and where its answer goes.
struct Lookup<'c> {
    sku: SkuId,
    scope: Scope<'c>,
    measure: Availability,
    at: usize,
}

impl Availability {
    fn at(self, position: &Position) -> u64 {
        match self {
            Availability::ToSell => u64::from(position.available_to_sell()),
            Availability::ToPromise(by) => u64::from(position.available_to_promise(by)),
        }
    }
}

impl Engine {
    /// Every quantity of one position.
    pub fn position(&self, sku: &str, location: &str) -> Result<PositionView, EngineError> {
        let catalogue = self.catalogue.load();
        let location_id = self.location_id(&catalogue, location)?;
        let unknown = || EngineError::UnknownPosition { sku: sku.to_owned(), location: location.to_owned() };
        let sku_id = self.sku_for_read(sku)?.ok_or_else(unknown)?;
        let shard = self.stock.read(sku_id);
        shard.get(sku_id, location_id).map(|p| p.view(sku_id, location_id)).ok_or_else(unknown)
    }

    /// Available to sell (or promise) for one SKU or kit in a scope. An unknown SKU
    /// or a missing position counts as 0.
    pub fn availability(
        &self,
        sku: &str,
        scope: &AvailabilityScope,
        measure: Availability,
    ) -> Result<u64, EngineError> {
        self.availability_named(sku, scope.name(), measure)
    }

    /// [`Engine::availability`] with the scope named by a borrowed string.
    pub fn availability_named(
        &self,
        sku: &str,
        scope: ScopeName<'_>,
        measure: Availability,
    ) -> Result<u64, EngineError> {
        let catalogue = self.catalogue.load();
        let scope = self.resolve_scope(&catalogue, scope)?;
        let Some(sku_id) = self.sku_for_read(sku)? else { return Ok(0) };
        Ok(self.count(&catalogue, sku_id, &scope, measure, None))
    }

    /// Answers many independent [`Engine::availability`] questions, appending one
    /// result per query to `out`, in order: each is exactly what `availability` would
    /// return for it. Faster than one call each because the queries go through the
    /// table in steps, every step issuing the memory reads of all queries of a group
    /// before using any (their cache misses overlap instead of following each other).
    pub fn availability_many(&self, queries: &[AvailabilityQuery<'_>], out: &mut Vec<Result<u64, EngineError>>) {
        let catalogue = self.catalogue.load();
        let mut lookups = Vec::with_capacity(queries.len().min(PREFETCH_GROUP));
        let mut names = [""; PREFETCH_GROUP];
        let mut ids = [None; PREFETCH_GROUP];
        for group in queries.chunks(PREFETCH_GROUP) {
            lookups.clear();
            for query in group {
                let resolved = self.resolve_scope(&catalogue, query.scope).and_then(|scope| {
                    validate_id(IdKind::Sku, query.sku)?;
                    Ok(scope)
                });
                match resolved {
                    Ok(scope) => {
                        names[lookups.len()] = query.sku;
                        // The id is filled in below, once the group's names are looked up.
                        lookups.push(Lookup { sku: SkuId(0), scope, measure: query.measure, at: out.len() });
                        out.push(Ok(0));
                    }
                    Err(error) => out.push(Err(error)),
                }
            }
            let (names, ids) = (&names[..lookups.len()], &mut ids[..lookups.len()]);
            self.skus.get_many(names, ids);
            // An unknown SKU counts as 0, which `out` already says.
            let mut ids = ids.iter();
            lookups.retain_mut(|lookup| match ids.next().copied().flatten() {
                Some(sku) => {
                    lookup.sku = sku;
                    true
                }
                None => false,
            });
            self.count_many(&catalogue, &lookups, |at, value| out[at] = Ok(value));
        }
    }

    /// One SKU (or kit) across a channel: the total and, if asked, each location.
    pub fn channel_availability(
        &self,
        sku: &str,
        channel: &str,
        breakdown: bool,
    ) -> Result<ChannelAvailability, EngineError> {
        let catalogue = self.catalogue.load();
        let scope = self.resolve_scope(&catalogue, ScopeName::Channel(channel))?;
        let Scope::Channel(resolved) = scope else { unreachable!("a channel scope resolves to a channel") };
        let mut locations = Vec::new();
        let summed = match self.sku_for_read(sku)? {
            None => 0,
            Some(sku_id) => self.sum_channel(
                &catalogue,
                sku_id,
                resolved,
                Availability::ToSell,
                breakdown.then_some(&mut locations),
            ),
        };
        Ok(ChannelAvailability { available: resolved.buffer.apply(summed), summed, locations })
    }

    /// Availability of up to [`MAX_BATCH_SKUS`] SKUs in one scope (a listing page),
    /// in the order asked.
    pub fn availability_batch(
        &self,
        skus: &[String],
        scope: &AvailabilityScope,
        measure: Availability,
    ) -> Result<Vec<u64>, EngineError> {
        self.availability_batch_named(skus, scope.name(), measure)
    }

    /// [`Engine::availability_batch`] with the scope named by a borrowed string.
    pub fn availability_batch_named<S: AsRef<str>>(
        &self,
        skus: &[S],
        scope: ScopeName<'_>,
        measure: Availability,
    ) -> Result<Vec<u64>, EngineError> {
        if skus.len() > MAX_BATCH_SKUS {
            return Err(EngineError::TooMany { what: "SKUs in a batch", count: skus.len(), limit: MAX_BATCH_SKUS });
        }
        let catalogue = self.catalogue.load();
        let scope = self.resolve_scope(&catalogue, scope)?;
        let mut result = vec![0; skus.len()];
        let mut lookups = Vec::with_capacity(skus.len().min(PREFETCH_GROUP));
        let mut ids = [None; PREFETCH_GROUP];
        for (first, group) in skus.chunks(PREFETCH_GROUP).enumerate() {
            for sku in group {
                validate_id(IdKind::Sku, sku.as_ref())?;
            }
            let ids = &mut ids[..group.len()];
            self.skus.get_many(group, ids);
            lookups.clear();
            for (offset, id) in ids.iter().enumerate() {
                if let Some(sku) = *id {
                    lookups.push(Lookup { sku, scope, measure, at: first * PREFETCH_GROUP + offset });
                }
            }
            self.count_many(&catalogue, &lookups, |at, value| result[at] = value);
        }
        Ok(result)
    }

    fn resolve_scope<'c>(&self, catalogue: &'c Catalogue, scope: ScopeName<'_>) -> Result<Scope<'c>, EngineError> {
        match scope {
            ScopeName::Location(name) => Ok(Scope::Location(self.location_id(catalogue, name)?)),
            ScopeName::Channel(name) => {
                validate_id(IdKind::Channel, name)?;
                let channel = catalogue.channel(name).ok_or_else(|| EngineError::UnknownChannel(name.to_owned()))?;
                Ok(Scope::Channel(channel))
            }
        }
    }

    /// Counts every lookup (as [`Self::count`] would, without a breakdown) and hands
    /// each value to `store` with the lookup's `at`. The steps: lock each SKU's shard
    /// (its lock prefetched first) and prefetch its slot; then every slot's location list (and, for a channel, its
    /// positions); then, for a location, the one position found; then read. Each
    /// step's reads are all issued before the next step uses them. The shards' read
    /// locks are held from the first step to the last (taken recursively: two lookups
    /// may share a shard), a few microseconds for a group.
    fn count_many(&self, catalogue: &Catalogue, lookups: &[Lookup<'_>], mut store: impl FnMut(usize, u64)) {
        for lookup in lookups {
            self.stock.prefetch_lock(lookup.sku);
        }
        let mut locked = Vec::with_capacity(lookups.len());
        for lookup in lookups {
            if catalogue.kit(lookup.sku).is_some() {
                // Kits read several SKUs each: the plain path (rare on listing pages).
                store(lookup.at, self.count(catalogue, lookup.sku, &lookup.scope, lookup.measure, None));
                continue;
            }
            let shard = self.stock.read_recursive(lookup.sku);
            shard.prefetch_slot(lookup.sku);
            locked.push((lookup, shard));
        }
        for (lookup, shard) in &locked {
            let positions = shard.positions(lookup.sku);
            match lookup.scope {
                Scope::Location(_) => positions.prefetch_locations(),
                Scope::Channel(_) => positions.prefetch_all(),
            }
        }
        let mut found = Vec::with_capacity(locked.len());
        for (lookup, shard) in &locked {
            let positions = shard.positions(lookup.sku);
            let index = match lookup.scope {
                Scope::Location(location) => positions.index_of(location),
                Scope::Channel(_) => None,
            };
            if let Some(index) = index {
                positions.prefetch_position(index);
            }
            found.push(index);
        }
        for ((lookup, shard), index) in locked.iter().zip(found) {
            let positions = shard.positions(lookup.sku);
            let value = match lookup.scope {
                Scope::Location(_) => index.map_or(0, |index| lookup.measure.at(positions.position(index))),
                Scope::Channel(channel) => channel.buffer.apply(
                    positions
                        .iter()
                        .filter(|(location, _)| channel.contains(*location))
                        .map(|(_, position)| lookup.measure.at(position))
                        .sum(),
                ),
            };
            store(lookup.at, value);
        }
    }

    fn count(
        &self,
        catalogue: &Catalogue,
        sku: SkuId,
        scope: &Scope,
        measure: Availability,
        breakdown: Option<&mut Vec<LocationAvailability>>,
    ) -> u64 {
        match scope {
            Scope::Location(location) => match catalogue.kit(sku) {
                Some(kit) => self.kit_at(kit, *location, measure),
                None => self.stock.read(sku).get(sku, *location).map_or(0, |p| measure.at(p)),
            },
            Scope::Channel(channel) => {
                channel.buffer.apply(self.sum_channel(catalogue, sku, channel, measure, breakdown))
            }
        }
    }

    /// Sums a SKU's (or kit's) availability over a channel's locations, before the buffer.
    fn sum_channel(
        &self,
        catalogue: &Catalogue,
        sku: SkuId,
        channel: &Channel,
        measure: Availability,
        mut breakdown: Option<&mut Vec<LocationAvailability>>,
    ) -> u64 {
        let mut record = |location: LocationId, available: u64| {
            if let Some(list) = breakdown.as_deref_mut() {
                list.push(LocationAvailability { location, available });
            }
            available
        };
        match catalogue.kit(sku) {
            None => {
                let shard = self.stock.read(sku);
                shard
                    .positions(sku)
                    .iter()
                    .filter(|(location, _)| channel.contains(*location))
                    .map(|(location, position)| record(location, measure.at(position)))
                    .sum()
            }
            Some(kit) => {
                let first = kit.components[0].sku;
                let candidates: Vec<LocationId> = {
                    let shard = self.stock.read(first);
                    shard.positions(first).locations().iter().copied().filter(|l| channel.contains(*l)).collect()
                };
                candidates.into_iter().map(|location| record(location, self.kit_at(kit, location, measure))).sum()
            }
        }
    }

    /// Kits a location can make now: the minimum over components of units / quantity.
    fn kit_at(&self, kit: &Kit, location: LocationId, measure: Availability) -> u64 {
        kit.components
            .iter()
            .map(|component| {
                let shard: parking_lot::RwLockReadGuard<'_, StockShard> = self.stock.read(component.sku);
                let units = shard.get(component.sku, location).map_or(0, |p| measure.at(p));
                units / u64::from(component.quantity)
            })
            .min()
            .unwrap_or(0)
    }

    /// Counts of everything the engine holds. Walks every shard: for operators, not
    /// for the request path.
    pub fn stats(&self) -> EngineStats {
        let catalogue = self.catalogue.load();
        let mut stats = EngineStats {
            skus: self.skus.len() as u64,
            locations: catalogue.locations.len() as u64,
            channels: catalogue.channels.len() as u64,
            kits: catalogue.kits.len() as u64,
            reservations_remembered: self.reservations.remembered() as u64,
            ..EngineStats::default()
        };
        for index in 0..self.stock.shard_count() {
            stats.positions += self.stock.read_shard(index).position_count() as u64;
        }
        for index in 0..self.reservations.shard_count() {
            let shard = self.reservations.lock_shard(index);
            for reservation in shard.by_id.values() {
                let counter = match reservation.state {
                    ReservationState::Held => &mut stats.reservations_held,
                    ReservationState::Committed => &mut stats.reservations_committed,
                    ReservationState::Fulfilled => &mut stats.reservations_fulfilled,
                    ReservationState::Released => &mut stats.reservations_released,
                    ReservationState::Expired => &mut stats.reservations_expired,
                };
                *counter += 1;
            }
        }
        stats
    }

    /// A reservation as the engine remembers it.
    pub fn reservation(&self, id: &str) -> Result<super::Reservation, EngineError> {
        validate_id(IdKind::Reservation, id)?;
        let shard = self.reservations.lock_for(id);
        shard.by_id.get(id).cloned().ok_or_else(|| EngineError::UnknownReservation(id.to_owned()))
    }
}
