//! The whole state as plain data: what a snapshot stores, and a digest of it.
//!
//! `export_image` copies while writes go on (a *fuzzy* copy): each shard is copied
//! under its own lock, never the whole engine at once, so the request path pauses
//! for one shard's copy at most. The copy is made in an order that keeps it
//! self-consistent: positions and reservations first, then SKU names and the
//! catalogue, so every id a copied position or line names exists in the copy.
//! Changes made during the copy may or may not be in it; a snapshot therefore
//! records the log position before the copy began, and recovery replays every
//! record after it (replaying an after-image that is already in the copy is harmless).

use super::reservations::{Reservation, ReservationState};
use super::stock_table::PositionEntry;
use super::{Engine, EngineConfig};
use crate::model::{Catalogue, Channel, ChannelBuffer, Kit, Location, LocationId, LocationSpec, Position, SkuId};
use std::hash::{Hash, Hasher};
use std::sync::Arc;

#[derive(Clone, Debug, PartialEq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct ChannelImage {
    pub name: String,
    pub locations: Vec<LocationId>,
    pub buffer: ChannelBuffer,
}

#[derive(Clone, Debug, PartialEq, Eq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct StoredPosition {
    pub sku: SkuId,
    pub location: LocationId,
    pub position: Position,
}

/// Everything the engine holds, in a form a snapshot can archive.
#[derive(Clone, Debug, Default, PartialEq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct EngineImage {
    /// In id order: a location's index is its id.
    pub locations: Vec<LocationSpec>,
    pub channels: Vec<ChannelImage>,
    pub kits: Vec<Kit>,
    /// In id order: a SKU's index is its id.
    pub sku_names: Vec<String>,
    pub positions: Vec<StoredPosition>,
    pub reservations: Vec<Reservation>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ImageError {
    #[error("SKU name {0:?} appears twice")]
    DuplicateSku(String),
    #[error("location name {0:?} appears twice")]
    DuplicateLocation(String),
    #[error("{what} names SKU id {sku}, but only {known} SKUs exist")]
    UnknownSku { what: &'static str, sku: u32, known: usize },
    #[error("{what} names location id {location}, but only {known} locations exist")]
    UnknownLocation { what: &'static str, location: u32, known: usize },
    #[error("position ({sku}, {location}) appears twice")]
    DuplicatePosition { sku: u32, location: u32 },
    #[error("reservation {0:?} appears twice")]
    DuplicateReservation(String),
    #[error("an invalid name: {0}")]
    InvalidName(String),
}

impl Engine {
    /// Copies the whole state, shard by shard (see the module notes).
    pub fn export_image(&self) -> EngineImage {
        let mut image = EngineImage::default();
        // Sized up front: growing a vector of millions while writers run means
        // copies and page faults that stall them.
        let counted: usize =
            (0..self.stock.shard_count()).map(|index| self.stock.read_shard(index).position_count()).sum();
        image.positions.reserve_exact(counted + counted / 64);
        for index in 0..self.stock.shard_count() {
            let shard = self.stock.read_shard(index);
            image.positions.extend(shard.iter(index).map(|(sku, location, position)| StoredPosition {
                sku,
                location,
                position: position.clone(),
            }));
        }
        for index in 0..self.reservations.shard_count() {
            let shard = self.reservations.lock_shard(index);
            image.reservations.extend(shard.by_id.values().cloned());
        }
        image.sku_names = self.skus.names().iter().map(|name| name.to_string()).collect();
        let catalogue = self.catalogue.load_full();
        image.locations = catalogue.locations.iter().map(location_spec).collect();
        let mut channels: Vec<&Arc<Channel>> = catalogue.channels.values().collect();
        channels.sort_by(|a, b| a.name.cmp(&b.name));
        image.channels = channels
            .into_iter()
            .map(|c| ChannelImage { name: c.name.to_string(), locations: c.locations.clone(), buffer: c.buffer })
            .collect();
        let mut kits: Vec<Kit> = catalogue.kits.values().map(|kit| Kit::clone(kit)).collect();
        kits.sort_by_key(|kit| kit.sku);
        image.kits = kits;
        image
    }

    /// Builds an engine holding exactly `image`, checking that every id it names exists.
    pub fn from_image(config: EngineConfig, image: EngineImage) -> Result<Engine, ImageError> {
        let engine = Engine::new(config);
        let mut catalogue = Catalogue::default();
        for (index, spec) in image.locations.into_iter().enumerate() {
            let id = LocationId(index as u32);
            let name: Arc<str> = Arc::from(spec.name.as_str());
            if catalogue.location_ids.insert(name.clone(), id).is_some() {
                return Err(ImageError::DuplicateLocation(spec.name));
            }
            catalogue.locations.push(Location {
                id,
                name,
                kind: spec.kind,
                coordinates: spec.coordinates,
                flags: spec.flags,
                priority: spec.priority,
            });
        }
        let known_locations = catalogue.locations.len();
        let check_location = |what, location: LocationId| {
            if location.index() < known_locations {
                Ok(())
            } else {
                Err(ImageError::UnknownLocation { what, location: location.0, known: known_locations })
            }
        };
        for name in &image.sku_names {
            crate::model::validate_id(crate::model::IdKind::Sku, name)
                .map_err(|error| ImageError::InvalidName(error.to_string()))?;
            let before = engine.skus.len();
            let id = engine.skus.intern(name, None).map_err(|error| ImageError::InvalidName(error.to_string()))?;
            if id.index() != before {
                return Err(ImageError::DuplicateSku(name.clone()));
            }
        }
        let known_skus = engine.skus.len();
        let check_sku = |what, sku: SkuId| {
            if sku.index() < known_skus {
                Ok(())
            } else {
                Err(ImageError::UnknownSku { what, sku: sku.0, known: known_skus })
            }
        };
        for channel in image.channels {
            for location in &channel.locations {
                check_location("a channel", *location)?;
            }
            let name: Arc<str> = Arc::from(channel.name.as_str());
            catalogue.channels.insert(name.clone(), Arc::new(Channel::new(name, channel.locations, channel.buffer)));
        }
        for kit in image.kits {
            check_sku("a kit", kit.sku)?;
            for component in &kit.components {
                check_sku("a kit component", component.sku)?;
            }
            catalogue.kits.insert(kit.sku, Arc::new(kit));
        }
        // The store finder's index is derived from the locations (sourcing, issue 6).
        catalogue.reindex_stores();
        engine.catalogue.store(Arc::new(catalogue));
        engine.load_positions(image.positions, &check_sku, &check_location)?;
        for reservation in image.reservations {
            for line in &reservation.lines {
                check_sku("a reservation line", line.sku)?;
                check_location("a reservation line", line.location)?;
            }
            let id = reservation.id.to_string();
            if !engine.reservations.insert_restored(reservation) {
                return Err(ImageError::DuplicateReservation(id));
            }
        }
        Ok(engine)
    }

    fn load_positions(
        &self,
        mut positions: Vec<StoredPosition>,
        check_sku: &dyn Fn(&'static str, SkuId) -> Result<(), ImageError>,
        check_location: &dyn Fn(&'static str, LocationId) -> Result<(), ImageError>,
    ) -> Result<(), ImageError> {
        // `export_image` writes each SKU's positions together, sorted by location; only
        // an image in another order pays for a sort.
        if !grouped_by_sku(&positions, self.skus.len()) {
            positions.sort_unstable_by_key(|p| (p.sku, p.location));
        }
        let mut rest = positions.into_iter().peekable();
        while let Some(first) = rest.next() {
            let sku = first.sku;
            check_sku("a position", sku)?;
            let mut entries = vec![PositionEntry { location: first.location, position: first.position }];
            while let Some(next) = rest.next_if(|p| p.sku == sku) {
                if entries.last().is_some_and(|last| last.location == next.location) {
                    return Err(ImageError::DuplicatePosition { sku: sku.0, location: next.location.0 });
                }
                entries.push(PositionEntry { location: next.location, position: next.position });
            }
            for entry in &entries {
                check_location("a position", entry.location)?;
            }
            self.stock.write(sku).insert_sorted(sku, entries);
        }
        Ok(())
    }

    /// A digest of the whole state, by names, not internal ids: two engines that
    /// hold the same inventory have the same digest, whatever order they interned
    /// names in. Stable within one build (crash tests compare runs of one binary).
    pub fn digest(&self) -> u64 {
        let image = self.export_image();
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        let location_name = |id: LocationId| image.locations[id.index()].name.as_str();
        let sku_name = |id: SkuId| image.sku_names[id.index()].as_str();
        let mut locations: Vec<String> = image.locations.iter().map(|l| format!("{l:?}")).collect();
        locations.sort();
        locations.hash(&mut hasher);
        for channel in &image.channels {
            channel.name.hash(&mut hasher);
            let mut names: Vec<&str> = channel.locations.iter().map(|l| location_name(*l)).collect();
            names.sort_unstable();
            names.hash(&mut hasher);
            format!("{:?}", channel.buffer).hash(&mut hasher);
        }
        let mut kits: Vec<(&str, Vec<(&str, u32)>)> = image
            .kits
            .iter()
            .map(|k| (sku_name(k.sku), k.components.iter().map(|c| (sku_name(c.sku), c.quantity)).collect()))
            .collect();
        kits.sort();
        kits.hash(&mut hasher);
        let mut positions: Vec<(&str, &str, &Position)> =
            image.positions.iter().map(|p| (sku_name(p.sku), location_name(p.location), &p.position)).collect();
        positions.sort_unstable_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
        for (sku, location, position) in positions {
            (sku, location).hash(&mut hasher);
            hash_position(position, &mut hasher);
        }
        let mut reservations: Vec<&Reservation> = image.reservations.iter().collect();
        reservations.sort_unstable_by(|a, b| a.id.cmp(&b.id));
        for reservation in reservations {
            reservation.id.hash(&mut hasher);
            (state_code(reservation.state), reservation.created_at, reservation.expires_at).hash(&mut hasher);
            (reservation.first_expires_at, reservation.promise_by, reservation.forget_at).hash(&mut hasher);
            for line in &reservation.requested {
                (sku_name(line.sku), location_name(line.location), line.quantity).hash(&mut hasher);
            }
            for line in &reservation.lines {
                (sku_name(line.sku), location_name(line.location), format!("{:?}", line.kind)).hash(&mut hasher);
                (line.quantity, line.held, line.fulfilled, line.released, line.returned).hash(&mut hasher);
            }
            reservation.applied_steps.hash(&mut hasher);
        }
        hasher.finish()
    }
}

/// Whether every SKU's positions form one run, sorted by location without repeats.
/// (A SKU id beyond `known_skus` says no; the caller's checks then refuse it.)
fn grouped_by_sku(positions: &[StoredPosition], known_skus: usize) -> bool {
    let mut seen = vec![false; known_skus];
    let mut previous: Option<&StoredPosition> = None;
    for position in positions {
        if position.sku.index() >= known_skus {
            return false;
        }
        match previous {
            Some(last) if last.sku == position.sku => {
                if last.location >= position.location {
                    return false;
                }
            }
            _ => {
                if std::mem::replace(&mut seen[position.sku.index()], true) {
                    return false;
                }
            }
        }
        previous = Some(position);
    }
    true
}

fn hash_position(position: &Position, hasher: &mut impl Hasher) {
    (position.on_hand, position.reserved, position.safety_stock, position.damaged).hash(hasher);
    (position.quality_control, position.backorder_limit, position.version).hash(hasher);
    for supply in position.incoming_lines() {
        (&supply.reference, supply.quantity, supply.expected_at).hash(hasher);
    }
}

fn state_code(state: ReservationState) -> u8 {
    state as u8
}

fn location_spec(location: &Location) -> LocationSpec {
    LocationSpec {
        name: location.name.to_string(),
        kind: location.kind,
        coordinates: location.coordinates,
        flags: location.flags,
        priority: location.priority,
    }
}
