//! Changes to the catalogue: locations, channels and kits.
//!
//! A change builds a new catalogue and swaps it in whole; readers keep the one they
//! loaded. Changes are rare (an admin adds a store), so copying is the right trade.

use super::journal::JournalEntry;
use super::{Engine, EngineError, Operation};
use crate::limits::{MAX_CHANNELS, MAX_KIT_COMPONENTS, MAX_LOCATIONS, MAX_LOCATIONS_PER_CHANNEL, MAX_QUANTITY};
use crate::model::{
    validate_id, Catalogue, Channel, ChannelBuffer, ChannelSpec, IdKind, Kit, KitComponent, Location, LocationId,
    LocationSpec,
};
use std::collections::HashSet;
use std::sync::Arc;

impl Engine {
    /// Creates or replaces locations, all or none. Returns their ids in order.
    pub fn upsert_locations(&self, specs: &[LocationSpec]) -> Result<Vec<LocationId>, EngineError> {
        self.logged(|| Operation::UpsertLocations(specs.to_vec()), |op| self.upsert_locations_as(specs, op))
    }

    pub(super) fn upsert_locations_as(
        &self,
        specs: &[LocationSpec],
        operation: Option<&Operation>,
    ) -> Result<Vec<LocationId>, EngineError> {
        for spec in specs {
            validate_location(spec)?;
        }
        let _writer = self.catalogue_writer.lock();
        let mut next = Catalogue::clone(&self.catalogue.load());
        let mut ids = Vec::with_capacity(specs.len());
        for spec in specs {
            let id = match next.location_id(&spec.name) {
                Some(id) => id,
                None if next.locations.len() >= MAX_LOCATIONS => {
                    return Err(EngineError::TooMany {
                        what: "locations",
                        count: next.locations.len() + 1,
                        limit: MAX_LOCATIONS,
                    })
                }
                None => LocationId(u32::try_from(next.locations.len()).expect("MAX_LOCATIONS fits in u32")),
            };
            let name: Arc<str> = Arc::from(spec.name.as_str());
            let location = Location {
                id,
                name: name.clone(),
                kind: spec.kind,
                coordinates: spec.coordinates,
                flags: spec.flags,
                priority: spec.priority,
            };
            if id.index() == next.locations.len() {
                next.locations.push(location);
                next.location_ids.insert(name, id);
            } else {
                next.locations[id.index()] = location;
            }
            ids.push(id);
        }
        next.reindex_stores();
        self.store_catalogue(next, operation);
        Ok(ids)
    }

    pub fn upsert_location(&self, spec: &LocationSpec) -> Result<LocationId, EngineError> {
        Ok(self.upsert_locations(std::slice::from_ref(spec))?[0])
    }

    /// Creates or replaces a channel.
    pub fn upsert_channel(&self, spec: &ChannelSpec) -> Result<(), EngineError> {
        self.logged(|| Operation::UpsertChannel(spec.clone()), |op| self.upsert_channel_as(spec, op))
    }

    pub(super) fn upsert_channel_as(
        &self,
        spec: &ChannelSpec,
        operation: Option<&Operation>,
    ) -> Result<(), EngineError> {
        validate_id(IdKind::Channel, &spec.name)?;
        if spec.locations.len() > MAX_LOCATIONS_PER_CHANNEL {
            return Err(EngineError::TooMany {
                what: "locations in a channel",
                count: spec.locations.len(),
                limit: MAX_LOCATIONS_PER_CHANNEL,
            });
        }
        if let ChannelBuffer::Percent(percent) = spec.buffer {
            check_range("channel buffer percent", i64::from(percent), 0, 100)?;
        }
        if let ChannelBuffer::Units(units) = spec.buffer {
            check_range("channel buffer units", i64::from(units), 0, i64::from(MAX_QUANTITY))?;
        }
        let _writer = self.catalogue_writer.lock();
        let current = self.catalogue.load();
        let excluded = spec
            .excluded
            .iter()
            .map(|name| self.location_id(&current, name))
            .collect::<Result<HashSet<LocationId>, _>>()?;
        let mut locations = Vec::with_capacity(spec.locations.len());
        for name in &spec.locations {
            let id = self.location_id(&current, name)?;
            if !excluded.contains(&id) {
                locations.push(id);
            }
        }
        if !current.channels.contains_key(spec.name.as_str()) && current.channels.len() >= MAX_CHANNELS {
            return Err(EngineError::TooMany {
                what: "channels",
                count: current.channels.len() + 1,
                limit: MAX_CHANNELS,
            });
        }
        let name: Arc<str> = Arc::from(spec.name.as_str());
        let mut next = Catalogue::clone(&current);
        next.channels.insert(name.clone(), Arc::new(Channel::new(name, locations, spec.buffer)));
        self.store_catalogue(next, operation);
        Ok(())
    }

    /// Defines (or redefines) a kit: a SKU made of other SKUs. A kit holds no stock
    /// itself, and its components may not be kits. Reservations already made keep
    /// the components they hold.
    pub fn define_kit(&self, kit: &str, components: &[(String, u32)]) -> Result<(), EngineError> {
        let build = || Operation::DefineKit { kit: kit.to_owned(), components: components.to_vec() };
        self.logged(build, |op| self.define_kit_as(kit, components, op))
    }

    pub(super) fn define_kit_as(
        &self,
        kit: &str,
        components: &[(String, u32)],
        operation: Option<&Operation>,
    ) -> Result<(), EngineError> {
        validate_id(IdKind::Sku, kit)?;
        if components.is_empty() {
            let max = MAX_KIT_COMPONENTS as i64;
            return Err(EngineError::OutOfRange { field: "kit components", value: 0, min: 1, max });
        }
        if components.len() > MAX_KIT_COMPONENTS {
            return Err(EngineError::TooMany {
                what: "kit components",
                count: components.len(),
                limit: MAX_KIT_COMPONENTS,
            });
        }
        let mut seen = HashSet::new();
        for (index, (sku, quantity)) in components.iter().enumerate() {
            validate_id(IdKind::Sku, sku)?;
            check_range("kit component quantity", i64::from(*quantity), 1, i64::from(MAX_QUANTITY))?;
            if sku == kit || !seen.insert(sku.as_str()) {
                return Err(EngineError::DuplicateLine { index, sku: sku.clone(), location: String::new() });
            }
        }
        let _writer = self.catalogue_writer.lock();
        let current = self.catalogue.load();
        let kit_id = self.skus.intern(kit, self.journal.as_deref())?;
        // Held until the new catalogue is stored, so no position can appear meanwhile.
        let kit_shard = self.stock.write(kit_id);
        if !kit_shard.positions(kit_id).is_empty() {
            return Err(EngineError::KitNotAllowed {
                sku: kit.to_owned(),
                operation: "defined while it has positions",
            });
        }
        // Kits do not nest: a component of another kit may not become a kit.
        if current.kits.values().any(|other| other.components.iter().any(|c| c.sku == kit_id)) {
            let operation = "defined while it is a kit component";
            return Err(EngineError::KitNotAllowed { sku: kit.to_owned(), operation });
        }
        let mut parts = Vec::with_capacity(components.len());
        for (sku, quantity) in components {
            let id = self.skus.intern(sku, self.journal.as_deref())?;
            if current.kit(id).is_some() {
                return Err(EngineError::KitNotAllowed { sku: sku.clone(), operation: "a kit component" });
            }
            parts.push(KitComponent { sku: id, quantity: *quantity });
        }
        let mut next = Catalogue::clone(&current);
        next.kits.insert(kit_id, Arc::new(Kit { sku: kit_id, components: parts }));
        self.store_catalogue(next, operation);
        drop(kit_shard);
        Ok(())
    }
}

impl Engine {
    /// Records a catalogue change (under the catalogue writer lock, so catalogue
    /// changes are logged in the order they happen), then makes it visible.
    fn store_catalogue(&self, next: Catalogue, operation: Option<&Operation>) {
        if let Some(journal) = self.journal.as_deref() {
            let operation = operation.expect("a journaled call carries its operation");
            journal.record(&JournalEntry::Catalogue { operation });
        }
        self.catalogue.store(Arc::new(next));
    }
}

fn validate_location(spec: &LocationSpec) -> Result<(), EngineError> {
    validate_id(IdKind::Location, &spec.name)?;
    let coordinates = spec.coordinates;
    let on_earth = coordinates.latitude.is_finite()
        && coordinates.longitude.is_finite()
        && (-90.0..=90.0).contains(&coordinates.latitude)
        && (-180.0..=180.0).contains(&coordinates.longitude);
    if !on_earth {
        return Err(EngineError::InvalidCoordinates(format!("({}, {})", coordinates.latitude, coordinates.longitude)));
    }
    Ok(())
}

/// Refuses `value` outside `min..=max` with a typed error naming the field.
pub(crate) fn check_range(field: &'static str, value: i64, min: i64, max: i64) -> Result<(), EngineError> {
    if value < min || value > max {
        return Err(EngineError::OutOfRange { field, value, min, max });
    }
    Ok(())
}
