//! Catalogue writes: locations, channels, kits.

use super::*;

impl Model {
    pub(super) fn upsert_locations(&mut self, specs: &[LocationSpec]) -> Result<Outcome, EngineError> {
        for spec in specs {
            check_id(IdKind::Location, &spec.name)?;
            let (latitude, longitude) = (spec.coordinates.latitude, spec.coordinates.longitude);
            if !((-90.0..=90.0).contains(&latitude) && (-180.0..=180.0).contains(&longitude)) {
                return Err(EngineError::InvalidCoordinates(format!("({latitude}, {longitude})")));
            }
        }
        let mut ids = Vec::new();
        for spec in specs {
            if !self.locations.contains(&spec.name) {
                self.locations.push(spec.name.clone());
            }
            ids.push(self.location_index(&spec.name) as u32);
        }
        Ok(Outcome::Locations(ids))
    }

    pub(super) fn upsert_channel(&mut self, spec: &ChannelSpec) -> Result<Outcome, EngineError> {
        check_id(IdKind::Channel, &spec.name)?;
        if let ChannelBuffer::Percent(percent) = spec.buffer {
            check_range("channel buffer percent", i64::from(percent), 0, 100)?;
        }
        if let ChannelBuffer::Units(units) = spec.buffer {
            check_range("channel buffer units", i64::from(units), 0, MAX)?;
        }
        // ENGINE CHOICE: exclusions are resolved before the listed locations.
        for name in spec.excluded.iter().chain(&spec.locations) {
            self.location_exists(name)?;
        }
        let mut locations: Vec<String> =
            spec.locations.iter().filter(|l| !spec.excluded.contains(l)).cloned().collect();
        locations.sort_by_key(|l| self.location_index(l));
        locations.dedup();
        self.channels.insert(spec.name.clone(), Channel { locations, buffer: spec.buffer });
        Ok(Outcome::Done)
    }

    pub(super) fn define_kit(&mut self, kit: &str, components: &[(String, u32)]) -> Result<Outcome, EngineError> {
        check_id(IdKind::Sku, kit)?;
        if components.is_empty() || components.len() > MAX_KIT_COMPONENTS {
            return Err(too_many("kit components", components.len(), MAX_KIT_COMPONENTS));
        }
        for (index, (sku, quantity)) in components.iter().enumerate() {
            check_id(IdKind::Sku, sku)?;
            check_range("kit component quantity", i64::from(*quantity), 1, MAX)?;
            if sku == kit || components[..index].iter().any(|(earlier, _)| earlier == sku) {
                return Err(EngineError::DuplicateLine { index, sku: sku.clone(), location: String::new() });
            }
        }
        // A kit holds no stock of its own.
        if self.positions.keys().any(|(sku, _)| sku == kit) {
            return Err(EngineError::KitNotAllowed { sku: kit.to_owned(), operation: "" });
        }
        if let Some((sku, _)) = components.iter().find(|(sku, _)| self.kits.contains_key(sku)) {
            return Err(EngineError::KitNotAllowed { sku: sku.clone(), operation: "" });
        }
        let parts = components.iter().map(|(sku, quantity)| (sku.clone(), i64::from(*quantity))).collect();
        self.kits.insert(kit.to_owned(), parts);
        Ok(Outcome::Done)
    }
}
