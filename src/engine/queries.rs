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
enum Scope<'c> {
    Location(LocationId),
    Channel(&'c Channel),
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
        let catalogue = self.catalogue.load();
        let scope = self.resolve_scope(&catalogue, scope)?;
        let Some(sku_id) = self.sku_for_read(sku)? else { return Ok(0) };
        Ok(self.count(&catalogue, sku_id, &scope, measure, None))
    }

    /// One SKU (or kit) across a channel: the total and, if asked, each location.
    pub fn channel_availability(
        &self,
        sku: &str,
        channel: &str,
        breakdown: bool,
    ) -> Result<ChannelAvailability, EngineError> {
        let catalogue = self.catalogue.load();
        let scope = self.resolve_scope(&catalogue, &AvailabilityScope::Channel(channel.to_owned()))?;
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
        if skus.len() > MAX_BATCH_SKUS {
            return Err(EngineError::TooMany { what: "SKUs in a batch", count: skus.len(), limit: MAX_BATCH_SKUS });
        }
        let catalogue = self.catalogue.load();
        let scope = self.resolve_scope(&catalogue, scope)?;
        let mut result = Vec::with_capacity(skus.len());
        for sku in skus {
            let value = match self.sku_for_read(sku)? {
                None => 0,
                Some(sku_id) => self.count(&catalogue, sku_id, &scope, measure, None),
            };
            result.push(value);
        }
        Ok(result)
    }

    fn resolve_scope<'c>(&self, catalogue: &'c Catalogue, scope: &AvailabilityScope) -> Result<Scope<'c>, EngineError> {
        match scope {
            AvailabilityScope::Location(name) => Ok(Scope::Location(self.location_id(catalogue, name)?)),
            AvailabilityScope::Channel(name) => {
                validate_id(IdKind::Channel, name)?;
                let channel = catalogue.channel(name).ok_or_else(|| EngineError::UnknownChannel(name.clone()))?;
                Ok(Scope::Channel(channel))
            }
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
