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
use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
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
    #[error("the archive does not read back: {0}")]
    Archive(String),
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
        let locations = catalogue_locations(image.locations)?;
        engine.intern_image_names(image.sku_names.iter().map(String::as_str))?;
        let catalogue = catalogue_of(locations, image.channels, image.kits, engine.skus.len())?;
        let (known_skus, known_locations) = (engine.skus.len(), catalogue.locations.len());
        engine.catalogue.store(Arc::new(catalogue));
        let check_sku = |what, sku: SkuId| check_sku(what, sku, known_skus);
        let check_location = |what, location: LocationId| check_location(what, location, known_locations);
        engine.load_positions(image.positions, &check_sku, &check_location)?;
        engine.restore_reservations(image.reservations, known_skus, known_locations)?;
        Ok(engine)
    }

    /// Builds an engine straight from a validated snapshot archive, without
    /// deserialising its positions into an [`EngineImage`] first: each SKU's
    /// positions go from the archive into its shard, on two threads. Returns `None`
    /// if the positions are not in the order [`Engine::export_image`] writes for
    /// this engine's shard count (a snapshot from an engine with another
    /// `stock_shards`): the caller then takes the general path, [`Engine::from_image`].
    pub fn from_archived_image(
        config: EngineConfig,
        archived: &ArchivedEngineImage,
    ) -> Result<Option<Engine>, ImageError> {
        let engine = Engine::new(config);
        let locations = catalogue_locations(unarchive(&archived.locations)?)?;
        let (known_skus, known_locations) = (archived.sku_names.len(), locations.locations.len());
        let chunks = position_chunks(&archived.positions);
        let next_chunk = AtomicUsize::new(0);
        let out_of_order = AtomicBool::new(false);
        let positions = || -> Result<(), ImageError> {
            loop {
                let index = next_chunk.fetch_add(1, Ordering::Relaxed);
                let Some(range) = chunks.get(index) else { return Ok(()) };
                if out_of_order.load(Ordering::Relaxed) {
                    return Ok(());
                }
                let ordered =
                    engine.load_archived_positions(&archived.positions, range.clone(), known_skus, known_locations)?;
                if !ordered {
                    out_of_order.store(true, Ordering::Relaxed);
                }
            }
        };
        std::thread::scope(|scope| -> Result<(), ImageError> {
            let helper = std::thread::Builder::new()
                .name("stockd-snapshot-load".to_owned())
                .spawn_scoped(scope, positions)
                .map_err(|error| ImageError::Archive(format!("cannot start a loading thread: {error}")))?;
            let mine = engine.intern_image_names(archived.sku_names.iter().map(|name| name.as_str())).and_then(|()| {
                let channels = unarchive(&archived.channels)?;
                let catalogue = catalogue_of(locations, channels, unarchive(&archived.kits)?, known_skus)?;
                engine.catalogue.store(Arc::new(catalogue));
                positions()
            });
            let theirs = helper.join().expect("the snapshot loading thread does not panic");
            mine.and(theirs)
        })?;
        if out_of_order.load(Ordering::Relaxed) {
            return Ok(None);
        }
        assert_eq!(engine.skus.len(), known_skus, "every archived SKU name was interned");
        engine.restore_reservations(unarchive(&archived.reservations)?, known_skus, known_locations)?;
        Ok(Some(engine))
    }

    /// Interns the image's SKU names in order: a name's index becomes its id.
    fn intern_image_names<'n>(&self, names: impl Iterator<Item = &'n str>) -> Result<(), ImageError> {
        for name in names {
            crate::model::validate_id(crate::model::IdKind::Sku, name)
                .map_err(|error| ImageError::InvalidName(error.to_string()))?;
            let before = self.skus.len();
            let id = self.skus.intern(name, None).map_err(|error| ImageError::InvalidName(error.to_string()))?;
            if id.index() != before {
                return Err(ImageError::DuplicateSku(name.to_owned()));
            }
        }
        Ok(())
    }

    fn restore_reservations(
        &self,
        reservations: Vec<Reservation>,
        known_skus: usize,
        known_locations: usize,
    ) -> Result<(), ImageError> {
        for reservation in reservations {
            for line in &reservation.lines {
                check_sku("a reservation line", line.sku, known_skus)?;
                check_location("a reservation line", line.location, known_locations)?;
            }
            let id = reservation.id.to_string();
            if !self.reservations.insert_restored(reservation) {
                return Err(ImageError::DuplicateReservation(id));
            }
        }
        Ok(())
    }

    /// Stores the archived positions `range` (whole SKUs), checking that they
    /// follow the export order strictly (which also rules out repeats). Returns
    /// false, having stored nothing more, at the first position out of that order.
    fn load_archived_positions(
        &self,
        all: &[ArchivedStoredPosition],
        range: Range<usize>,
        known_skus: usize,
        known_locations: usize,
    ) -> Result<bool, ImageError> {
        let bits = self.stock.shard_bits();
        let mask = (1u32 << bits) - 1;
        let order = |p: &ArchivedStoredPosition| {
            let sku = p.sku.0.to_native();
            (sku & mask, sku >> bits, p.location.0.to_native())
        };
        let mut previous = range.start.checked_sub(1).map(|before| order(&all[before]));
        let mut at = range.start;
        let mut entries: Vec<PositionEntry> = Vec::new();
        while at < range.end {
            let sku = SkuId(all[at].sku.0.to_native());
            check_sku("a position", sku, known_skus)?;
            entries.clear();
            while at < range.end && all[at].sku.0.to_native() == sku.0 {
                let archived = &all[at];
                let key = order(archived);
                if previous.is_some_and(|previous| previous >= key) {
                    return Ok(false);
                }
                previous = Some(key);
                let location = LocationId(archived.location.0.to_native());
                check_location("a position", location, known_locations)?;
                entries.push(PositionEntry { location, position: unarchive(&archived.position)? });
                at += 1;
            }
            self.stock.write(sku).insert_sorted(sku, std::mem::take(&mut entries));
        }
        Ok(true)
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

/// Splits the archived positions into chunks of whole SKUs for the loading threads.
fn position_chunks(positions: &[ArchivedStoredPosition]) -> Vec<Range<usize>> {
    let target = positions.len().div_ceil(POSITION_CHUNKS).max(1);
    let mut chunks = Vec::with_capacity(POSITION_CHUNKS + 1);
    let mut start = 0;
    while start < positions.len() {
        let mut end = (start + target).min(positions.len());
        while end < positions.len() && positions[end].sku.0 == positions[end - 1].sku.0 {
            end += 1;
        }
        chunks.push(start..end);
        start = end;
    }
    chunks
}

/// Chunks the archived positions are loaded in (taken by whichever thread is free).
const POSITION_CHUNKS: usize = 64;

fn unarchive<T: rkyv::Archive>(archived: &T::Archived) -> Result<T, ImageError>
where
    T::Archived: rkyv::Deserialize<T, rkyv::rancor::Strategy<rkyv::de::Pool, rkyv::rancor::Error>>,
{
    rkyv::deserialize::<T, rkyv::rancor::Error>(archived).map_err(|error| ImageError::Archive(error.to_string()))
}

fn check_sku(what: &'static str, sku: SkuId, known: usize) -> Result<(), ImageError> {
    if sku.index() < known {
        Ok(())
    } else {
        Err(ImageError::UnknownSku { what, sku: sku.0, known })
    }
}

fn check_location(what: &'static str, location: LocationId, known: usize) -> Result<(), ImageError> {
    if location.index() < known {
        Ok(())
    } else {
        Err(ImageError::UnknownLocation { what, location: location.0, known })
    }
}

/// The catalogue's locations, in id order, refusing a repeated name.
fn catalogue_locations(specs: Vec<LocationSpec>) -> Result<Catalogue, ImageError> {
    let mut catalogue = Catalogue::default();
    for (index, spec) in specs.into_iter().enumerate() {
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
    Ok(catalogue)
}

/// Adds channels and kits to a catalogue holding the locations.
fn catalogue_of(
    mut catalogue: Catalogue,
    channels: Vec<ChannelImage>,
    kits: Vec<Kit>,
    known_skus: usize,
) -> Result<Catalogue, ImageError> {
    let known_locations = catalogue.locations.len();
    for channel in channels {
        for location in &channel.locations {
            check_location("a channel", *location, known_locations)?;
        }
        let name: Arc<str> = Arc::from(channel.name.as_str());
        catalogue.channels.insert(name.clone(), Arc::new(Channel::new(name, channel.locations, channel.buffer)));
    }
    for kit in kits {
        check_sku("a kit", kit.sku, known_skus)?;
        for component in &kit.components {
            check_sku("a kit component", component.sku, known_skus)?;
        }
        catalogue.kits.insert(kit.sku, Arc::new(kit));
    }
    // The store finder's index is derived from the locations (sourcing, issue 6).
    catalogue.reindex_stores();
    Ok(catalogue)
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
