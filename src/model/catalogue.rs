//! The read-mostly configuration of the network: locations, channels and kits.
//!
//! The engine holds one immutable [`Catalogue`] behind an `ArcSwap`: readers load it
//! without a lock, and an admin change builds a new one and swaps it in.

use crate::model::{LocationId, SkuId};
use rustc_hash::FxHashMap;
use std::sync::Arc;

#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    serde::Serialize,
    serde::Deserialize,
    rkyv::Archive,
    rkyv::Serialize,
    rkyv::Deserialize,
)]
pub enum LocationKind {
    Warehouse,
    DistributionCentre,
    Store,
    DarkStore,
    DropShipVendor,
}

/// Latitude and longitude in degrees (WGS 84).
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    serde::Serialize,
    serde::Deserialize,
    rkyv::Archive,
    rkyv::Serialize,
    rkyv::Deserialize,
)]
pub struct Coordinates {
    pub latitude: f64,
    pub longitude: f64,
}

#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    serde::Serialize,
    serde::Deserialize,
    rkyv::Archive,
    rkyv::Serialize,
    rkyv::Deserialize,
)]
pub struct LocationFlags {
    /// Can ship to customers.
    pub ships: bool,
    /// Serves click & collect (BOPIS).
    pub pickup: bool,
}

/// What a client sends to create or replace a location.
#[derive(
    Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize,
)]
pub struct LocationSpec {
    pub name: String,
    pub kind: LocationKind,
    pub coordinates: Coordinates,
    pub flags: LocationFlags,
    /// Lower is preferred by sourcing.
    pub priority: u16,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Location {
    pub id: LocationId,
    pub name: Arc<str>,
    pub kind: LocationKind,
    pub coordinates: Coordinates,
    pub flags: LocationFlags,
    pub priority: u16,
}

/// The part of a channel's summed availability that is held back from sale.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    serde::Serialize,
    serde::Deserialize,
    rkyv::Archive,
    rkyv::Serialize,
    rkyv::Deserialize,
)]
pub enum ChannelBuffer {
    None,
    /// A fixed number of units.
    Units(u32),
    /// A share of the summed availability, 0 to 100, rounded up in the buffer's favour.
    Percent(u8),
}

impl ChannelBuffer {
    /// The availability a channel shows for a summed availability, never below 0.
    pub fn apply(self, summed: u64) -> u64 {
        match self {
            ChannelBuffer::None => summed,
            ChannelBuffer::Units(units) => summed.saturating_sub(u64::from(units)),
            ChannelBuffer::Percent(percent) => {
                let held = (summed * u64::from(percent)).div_ceil(100);
                summed.saturating_sub(held)
            }
        }
    }
}

/// What a client sends to create or replace a channel.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ChannelSpec {
    pub name: String,
    /// The locations whose stock the channel sees.
    pub locations: Vec<String>,
    /// Locations taken out of the channel even if listed (a store being refitted).
    pub excluded: Vec<String>,
    pub buffer: ChannelBuffer,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Channel {
    pub name: Arc<str>,
    /// Sorted, deduplicated, exclusions removed.
    pub locations: Vec<LocationId>,
    /// One bit per location id, for a membership test without a search.
    pub membership: Vec<u64>,
    pub buffer: ChannelBuffer,
}

impl Channel {
    pub fn new(name: Arc<str>, mut locations: Vec<LocationId>, buffer: ChannelBuffer) -> Channel {
        locations.sort_unstable();
        locations.dedup();
        let words = locations.last().map_or(0, |last| last.index() / 64 + 1);
        let mut membership = vec![0u64; words];
        for location in &locations {
            membership[location.index() / 64] |= 1 << (location.index() % 64);
        }
        Channel { name, locations, membership, buffer }
    }

    pub fn contains(&self, location: LocationId) -> bool {
        let word = location.index() / 64;
        word < self.membership.len() && self.membership[word] & (1 << (location.index() % 64)) != 0
    }
}

#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    serde::Serialize,
    serde::Deserialize,
    rkyv::Archive,
    rkyv::Serialize,
    rkyv::Deserialize,
)]
pub struct KitComponent {
    pub sku: SkuId,
    pub quantity: u32,
}

/// A SKU sold as a bundle of other SKUs; reserving one reserves its components.
#[derive(
    Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize,
)]
pub struct Kit {
    pub sku: SkuId,
    pub components: Vec<KitComponent>,
}

/// Locations, channels and kits, immutable once built.
#[derive(Clone, Debug, Default)]
pub struct Catalogue {
    /// Indexed by `LocationId`.
    pub locations: Vec<Location>,
    pub location_ids: FxHashMap<Arc<str>, LocationId>,
    pub channels: FxHashMap<Arc<str>, Arc<Channel>>,
    pub kits: FxHashMap<SkuId, Arc<Kit>>,
    /// The pickup stores in a spatial index, for the store finder. Derived from
    /// `locations`: rebuilt whenever they change (see `Catalogue::reindex_stores`).
    pub stores: Arc<crate::engine::StoreIndex>,
}

impl Catalogue {
    pub fn location_id(&self, name: &str) -> Option<LocationId> {
        self.location_ids.get(name).copied()
    }

    pub fn location(&self, id: LocationId) -> Option<&Location> {
        self.locations.get(id.index())
    }

    pub fn channel(&self, name: &str) -> Option<&Arc<Channel>> {
        self.channels.get(name)
    }

    pub fn kit(&self, sku: SkuId) -> Option<&Arc<Kit>> {
        self.kits.get(&sku)
    }

    /// Rebuilds the store index from the locations; call after changing them.
    pub fn reindex_stores(&mut self) {
        self.stores = Arc::new(crate::engine::StoreIndex::build(self));
    }
}
