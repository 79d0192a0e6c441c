//! Sourcing: choosing the locations of an order and reserving there in one atomic
//! step, and the click & collect store finder.
//!
//! - `profile`: named rules (rank keys, exclusions, split limit, fallbacks).
//! - `geo`: great-circle distances and unit-sphere points.
//! - `allocate`: the search for the best set of locations (pure, no locks).
//! - `stores`: stores near a point that can serve a basket now.
//!
//! The objective is stated in docs/ENGINE.md, "Sourcing".

mod allocate;
mod geo;
mod profile;
mod stores;

pub use geo::{distance_m, StoreIndex};
pub use profile::{ProfileError, RankKey, SourcingProfile, SourcingProfiles};
pub use stores::{StoreMatch, StoreQuery};

use super::reserve::ReserveOutcome;
use super::{Engine, EngineError};
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
    pub lines: Vec<OrderLine>,
    pub destination: Destination,
    /// The sourcing profile's name (see [`SourcingProfiles`]).
    pub profile: String,
    pub ttl_ms: u64,
    /// Incoming supply due by this date may cover lines (only if the profile allows pre-orders).
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
    pub kind: HoldKind,
    /// Great-circle distance to the delivery point, whole metres; `None` for pickup.
    pub distance_m: Option<u32>,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SourcedOutcome {
    /// The reservation as a plain reserve would report it (component lines).
    pub reservation: ReserveOutcome,
    /// Per request line, where its units are held, in line order then rank order.
    pub allocation: Vec<AllocatedLine>,
    /// Distinct locations of the allocation.
    pub locations_used: u8,
    /// False when the search ran out of its node budget and the greedy allocation
    /// was taken instead of the proven best one.
    pub exact: bool,
}

impl Engine {
    /// Chooses locations for `request` by its profile and holds every line there, all
    /// or nothing. Idempotent by reservation id like [`Engine::reserve`].
    pub fn reserve_sourced(
        &self,
        request: &SourcedReserveRequest,
        now: Timestamp,
    ) -> Result<SourcedOutcome, EngineError> {
        self.logged(
            || super::Operation::ReserveSourced(request.clone()),
            |op| self.reserve_sourced_as(request, now, op),
        )
    }

    pub(super) fn reserve_sourced_as(
        &self,
        request: &SourcedReserveRequest,
        _now: Timestamp,
        _operation: Option<&super::Operation>,
    ) -> Result<SourcedOutcome, EngineError> {
        let profiles = self.sourcing_profiles();
        if profiles.get(&request.profile).is_none() {
            return Err(EngineError::UnknownProfile(request.profile.clone()));
        }
        Err(EngineError::UnknownChannel(request.channel.clone()))
    }

    /// Replaces the sourcing profiles (server configuration; not logged).
    pub fn set_sourcing_profiles(&self, profiles: SourcingProfiles) {
        self.sourcing_profiles.store(Arc::new(profiles));
    }

    /// The sourcing profiles in force; cheap and lock-free.
    pub fn sourcing_profiles(&self) -> Arc<SourcingProfiles> {
        self.sourcing_profiles.load_full()
    }
}
