//! Sourcing: choosing the locations of an order and reserving there in one atomic
//! step, and the click & collect store finder.
//!
//! - `profile`: named rules (rank keys, exclusions, split limit, fallbacks).
//! - `geo`: great-circle distances and the spatial index of pickup stores.
//! - `allocate`: the search for the best set of locations (pure, no locks).
//! - `rank`: candidates, their capacities under the stock locks, and their order.
//! - `reserve`: the engine call: validation, idempotency, the search in phases, and
//!   the hold through the same code as a plain reserve.
//! - `stores`: stores near a point that can serve a basket now.
//!
//! The objective is stated in docs/ENGINE.md, "Sourcing".

mod allocate;
mod geo;
mod profile;
mod rank;
mod reserve;
mod stores;

pub use geo::{distance_m, StoreIndex};
pub use profile::{LocationFlag, ProfileError, RankKey, SourcingProfile, SourcingProfiles};
pub use stores::{StoreMatch, StoreQuery};

use super::reserve::ReserveOutcome;
use super::Engine;
use crate::model::{Coordinates, HoldKind, LocationId, SkuId, Timestamp};
use std::sync::Arc;

/// One line of an order: a SKU (or kit) and how many, with no location yet.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct OrderLine {
    pub sku: String,
    pub quantity: u32,
}

/// Where the order goes: shipped to a point, or collected at a named store.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Destination {
    Delivery { point: Coordinates },
    Pickup { store: String },
}

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SourcedReserveRequest {
    /// The client's reservation id; retries reuse it.
    pub id: String,
    /// The channel whose locations may serve the order.
    pub channel: String,
    /// At most one line per SKU.
    pub lines: Vec<OrderLine>,
    pub destination: Destination,
    /// The sourcing profile's name (see [`SourcingProfiles`]).
    pub profile: String,
    pub ttl_ms: u64,
    /// Incoming supply due by this date may cover lines, if the profile allows
    /// pre-orders and stock alone cannot cover the order.
    pub promise_by: Option<Timestamp>,
}

/// Where (part of) one order line is held. A kit line is held as its components at
/// one location; `sku` is then the kit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AllocatedLine {
    /// Index of the line in the request.
    pub line: u16,
    pub sku: SkuId,
    pub location: LocationId,
    pub quantity: u32,
    /// How the units are covered (for a kit, the least certain of its components).
    pub kind: HoldKind,
    /// Great-circle distance to the delivery point, whole metres; `None` for pickup.
    pub distance_m: Option<u32>,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SourcedOutcome {
    /// The reservation as a plain reserve reports it (component lines).
    pub reservation: ReserveOutcome,
    /// Where each request line is held: in line order, then rank order.
    pub allocation: Vec<AllocatedLine>,
    /// Distinct locations of the allocation.
    pub locations_used: u8,
    /// False when the search ran out of its node budget and the greedy allocation
    /// was taken instead of the proven best one. A replayed outcome says true.
    pub exact: bool,
}

impl Engine {
    /// Replaces the sourcing profiles (server configuration; not logged).
    pub fn set_sourcing_profiles(&self, profiles: SourcingProfiles) {
        self.sourcing_profiles.store(Arc::new(profiles));
    }

    /// The sourcing profiles in force; cheap and lock-free.
    pub fn sourcing_profiles(&self) -> Arc<SourcingProfiles> {
        self.sourcing_profiles.load_full()
    }
}
