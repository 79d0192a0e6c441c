//! The click & collect store finder: pickup stores near a point that can serve a
//! whole basket from stock now.
//!
//! The catalogue keeps its pickup stores in an R*-tree ([`super::StoreIndex`]), so a
//! query walks stores nearest first and stops as soon as it has `limit` matches (or
//! passes the radius), instead of scanning every location.

use super::geo::{distance_m, is_on_earth};
use super::OrderLine;
use crate::engine::catalogue_ops::check_range;
use crate::engine::{Engine, EngineError};
use crate::limits::{MAX_LINES_PER_RESERVATION, MAX_QUANTITY, MAX_STORE_MATCHES, MAX_STORE_RADIUS_KM};
use crate::model::{validate_id, Catalogue, Coordinates, IdKind, LocationId, SkuId};
use std::sync::Arc;

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct StoreQuery {
    pub channel: String,
    pub point: Coordinates,
    /// Stores at most this far (great-circle, whole metres, inclusive); above 0,
    /// at most `MAX_STORE_RADIUS_KM`.
    pub radius_km: f64,
    /// Every line must be available to sell at a store for it to match (a kit: in
    /// whole kits). No lines: every pickup store in the radius matches.
    pub lines: Vec<OrderLine>,
    /// Most stores returned: 1 to `MAX_STORE_MATCHES`.
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

/// A query line resolved: component SKUs and units per line unit.
type Basket = Vec<(u32, Vec<(SkuId, u32)>)>;

impl Engine {
    /// Pickup stores of the channel within the radius that can serve every line now
    /// from stock (ATS), nearest first, ties by name (byte order), at most `limit`.
    /// A read: it holds nothing, and each position is read under its own shard lock.
    pub fn find_stores(&self, query: &StoreQuery) -> Result<Vec<StoreMatch>, EngineError> {
        validate_query(query)?;
        let catalogue = self.catalogue.load();
        let channel = catalogue
            .channel(&query.channel)
            .ok_or_else(|| EngineError::UnknownChannel(query.channel.clone()))?
            .clone();
        let Some(basket) = self.resolve_basket(&catalogue, &query.lines) else {
            return Ok(Vec::new()); // a SKU no write ever named is nowhere in stock
        };
        let radius_m = query.radius_km * 1_000.0;
        let limit = usize::from(query.limit);
        let mut matches: Vec<StoreMatch> = Vec::with_capacity(limit);
        // Once `limit` stores match, only stores within a metre of the farthest of
        // them can still displace one (on a tie by name); the index yields stores in
        // order of distance, so the walk stops at the first one beyond that.
        let mut cutoff_m: Option<u32> = None;
        for id in catalogue.stores.nearest(query.point, radius_m) {
            let location = catalogue.location(id).expect("the index holds catalogue locations");
            let distance = distance_m(query.point, location.coordinates);
            if cutoff_m.is_some_and(|cutoff| distance > cutoff.saturating_add(1)) {
                break;
            }
            if f64::from(distance) > radius_m || !channel.contains(id) {
                continue;
            }
            let Some(available) = self.store_availability(id, &basket) else {
                continue;
            };
            matches.push(StoreMatch { location: id, name: location.name.clone(), distance_m: distance, available });
            if matches.len() == limit && cutoff_m.is_none() {
                cutoff_m = matches.iter().map(|m| m.distance_m).max();
            }
        }
        matches.sort_by(|a, b| a.distance_m.cmp(&b.distance_m).then_with(|| a.name.as_bytes().cmp(b.name.as_bytes())));
        matches.truncate(limit);
        Ok(matches)
    }

    /// The query lines as component SKUs; `None` if one names a SKU never written.
    fn resolve_basket(&self, catalogue: &Catalogue, lines: &[OrderLine]) -> Option<Basket> {
        let mut basket = Vec::with_capacity(lines.len());
        for line in lines {
            let sku = self.skus.get(&line.sku)?;
            let components = match catalogue.kit(sku) {
                None => vec![(sku, 1)],
                Some(kit) => kit.components.iter().map(|c| (c.sku, c.quantity)).collect(),
            };
            basket.push((line.quantity, components));
        }
        Some(basket)
    }

    /// What a store offers per line, if it can serve every line.
    fn store_availability(&self, store: LocationId, basket: &Basket) -> Option<Vec<u32>> {
        let mut available = Vec::with_capacity(basket.len());
        for (quantity, components) in basket {
            let mut whole = u32::MAX;
            for &(sku, per_unit) in components {
                let ats = self.stock.read(sku).get(sku, store).map_or(0, |p| p.available_to_sell());
                whole = whole.min(ats / per_unit);
            }
            if whole < *quantity {
                return None;
            }
            available.push(whole);
        }
        Some(available)
    }
}

fn validate_query(query: &StoreQuery) -> Result<(), EngineError> {
    validate_id(IdKind::Channel, &query.channel)?;
    if !is_on_earth(query.point) {
        let point = query.point;
        return Err(EngineError::InvalidCoordinates(format!("({}, {})", point.latitude, point.longitude)));
    }
    let radius = query.radius_km;
    if !(radius.is_finite() && radius > 0.0 && radius <= MAX_STORE_RADIUS_KM) {
        let value = if radius.is_finite() { radius.round() as i64 } else { i64::MAX };
        return Err(EngineError::OutOfRange { field: "radius_km", value, min: 0, max: MAX_STORE_RADIUS_KM as i64 });
    }
    check_range("limit", i64::from(query.limit), 1, MAX_STORE_MATCHES as i64)?;
    if query.lines.len() > MAX_LINES_PER_RESERVATION {
        return Err(EngineError::TooMany {
            what: "lines in a store query",
            count: query.lines.len(),
            limit: MAX_LINES_PER_RESERVATION,
        });
    }
    for line in &query.lines {
        validate_id(IdKind::Sku, &line.sku)?;
        check_range("quantity", i64::from(line.quantity), 1, i64::from(MAX_QUANTITY))?;
    }
    Ok(())
}
