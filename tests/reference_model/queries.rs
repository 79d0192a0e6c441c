//! Reads: positions, reservations, availability (one location, a channel, kits).

use super::*;

impl Model {
    pub fn position(&self, sku: &str, location: &str) -> Option<PositionSnapshot> {
        let key = (sku.to_owned(), location.to_owned());
        self.positions.get(&key).map(|p| snapshot(sku, location, p))
    }

    pub fn reservation(&self, id: &str) -> Option<&Reservation> {
        self.reservations.get(id)
    }

    pub fn reservation_ids(&self) -> Vec<String> {
        self.reservations.keys().cloned().collect()
    }

    /// Every incoming supply line: (sku, location, reference).
    pub fn supplies(&self) -> Vec<(String, String, String)> {
        let mut supplies = Vec::new();
        for ((sku, location), p) in &self.positions {
            for supply in &p.incoming {
                supplies.push((sku.clone(), location.clone(), supply.reference.clone()));
            }
        }
        supplies
    }

    /// The expected dates of every incoming supply line.
    pub fn supply_dates(&self) -> Vec<u64> {
        self.positions.values().flat_map(|p| p.incoming.iter().map(|s| s.expected_at)).collect()
    }

    /// The first TTL or forgetting deadline after `now`.
    pub fn next_deadline(&self, now: u64) -> Option<u64> {
        let deadline = |r: &Reservation| match r.state {
            ReservationState::Held => r.expires_at,
            ReservationState::Committed => None,
            _ => r.forget_at,
        };
        self.reservations.values().filter_map(deadline).filter(|at| *at > now).min()
    }

    /// Every SKU with a position and every kit, sorted, without repeats.
    pub fn skus(&self) -> Vec<String> {
        let names = self.positions.keys().map(|(sku, _)| sku).chain(self.kits.keys());
        names.cloned().collect::<std::collections::BTreeSet<String>>().into_iter().collect()
    }

    pub fn is_kit(&self, sku: &str) -> bool {
        self.kits.contains_key(sku)
    }

    pub(super) fn measure_at(&self, sku: &str, location: &str, measure: Availability) -> u64 {
        let key = (sku.to_owned(), location.to_owned());
        let Some(p) = self.positions.get(&key) else { return 0 };
        let units = match measure {
            Availability::ToSell => p.available_to_sell(),
            Availability::ToPromise(by) => p.available_to_promise(by.millis()),
        };
        units as u64
    }

    /// A SKU's or a kit's availability at one location.
    pub(super) fn available_at(&self, sku: &str, location: &str, measure: Availability) -> u64 {
        match self.kits.get(sku) {
            None => self.measure_at(sku, location, measure),
            Some(components) => components
                .iter()
                .map(|(component, quantity)| self.measure_at(component, location, measure) / *quantity as u64)
                .min()
                .unwrap_or(0),
        }
    }

    pub fn availability(
        &self,
        sku: &str,
        scope: &AvailabilityScope,
        measure: Availability,
    ) -> Result<u64, EngineError> {
        match scope {
            AvailabilityScope::Location(location) => {
                self.location_exists(location)?;
                check_id(IdKind::Sku, sku)?;
                Ok(self.available_at(sku, location, measure))
            }
            AvailabilityScope::Channel(name) => {
                let channel = self.channel(name)?;
                check_id(IdKind::Sku, sku)?;
                let summed = channel.locations.iter().map(|l| self.available_at(sku, l, measure)).sum();
                Ok(apply_buffer(channel.buffer, summed))
            }
        }
    }

    /// A plain SKU across a channel: (available, summed, per location that has a position).
    pub fn channel_breakdown(&self, sku: &str, channel: &str) -> Result<Breakdown, EngineError> {
        let channel = self.channel(channel)?;
        let breakdown: Vec<(String, u64)> = channel
            .locations
            .iter()
            .filter(|l| self.positions.contains_key(&(sku.to_owned(), (*l).clone())))
            .map(|l| (l.clone(), self.measure_at(sku, l, Availability::ToSell)))
            .collect();
        let summed = breakdown.iter().map(|(_, units)| units).sum();
        Ok((apply_buffer(channel.buffer, summed), summed, breakdown))
    }

    pub(super) fn channel(&self, name: &str) -> Result<&Channel, EngineError> {
        check_id(IdKind::Channel, name)?;
        self.channels.get(name).ok_or_else(|| EngineError::UnknownChannel(name.to_owned()))
    }

    pub(super) fn location_exists(&self, location: &str) -> Result<(), EngineError> {
        check_id(IdKind::Location, location)?;
        if self.locations.iter().any(|l| l == location) {
            Ok(())
        } else {
            Err(EngineError::UnknownLocation(location.to_owned()))
        }
    }

    pub(super) fn location_index(&self, location: &str) -> usize {
        self.locations.iter().position(|l| l == location).expect("a known location")
    }
}
