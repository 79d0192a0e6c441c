//! Sourcing (`reserve_sourced`), profiles, the click & collect store finder and the
//! lost-demand counters: every rule, every refusal (each shown to change nothing),
//! idempotent retries, kits, fallbacks, determinism, and property tests against a
//! brute-force search for the documented objective (docs/ENGINE.md, "Sourcing").

#[path = "sourcing/demand.rs"]
mod demand;
#[path = "sourcing/errors.rs"]
mod errors;
#[path = "sourcing/profiles.rs"]
mod profiles;
#[path = "sourcing/properties.rs"]
mod properties;
#[path = "sourcing/rules.rs"]
mod rules;
#[path = "sourcing/stores.rs"]
mod stores;

use stockd::engine::{
    Destination, EngineStats, OrderLine, SourcedOutcome, SourcedReserveRequest, SourcingProfile, SourcingProfiles,
};
use stockd::model::{ChannelBuffer, ChannelSpec, Coordinates, HoldKind, LocationFlags, LocationKind, LocationSpec};
use stockd::{Engine, EngineConfig, EngineError, Timestamp};

pub const CHANNEL: &str = "web";

/// A check of the error a refusal must give.
pub type ErrorCheck = fn(&EngineError) -> bool;
pub const TTL_MS: u64 = 60_000;

/// A location: kind, point, flags and priority.
pub fn place(name: &str, kind: LocationKind, latitude: f64, longitude: f64, ships: bool, pickup: bool) -> LocationSpec {
    LocationSpec {
        name: name.to_owned(),
        kind,
        coordinates: Coordinates { latitude, longitude },
        flags: LocationFlags { ships, pickup },
        priority: 10,
    }
}

pub fn with_priority(mut spec: LocationSpec, priority: u16) -> LocationSpec {
    spec.priority = priority;
    spec
}

/// An engine with `locations`, all of them in channel [`CHANNEL`] unless listed in `outside`.
pub fn network(locations: &[LocationSpec], outside: &[&str]) -> Engine {
    let engine = Engine::new(EngineConfig { stock_shards: 8, reservation_shards: 4, ..EngineConfig::default() });
    engine.upsert_locations(locations).expect("valid locations");
    let names = locations.iter().map(|l| l.name.clone()).filter(|n| !outside.contains(&n.as_str())).collect();
    let channel =
        ChannelSpec { name: CHANNEL.to_owned(), locations: names, excluded: vec![], buffer: ChannelBuffer::None };
    engine.upsert_channel(&channel).expect("a valid channel");
    engine
}

pub fn stock(engine: &Engine, sku: &str, location: &str, on_hand: u32) {
    engine.set_on_hand(sku, location, on_hand, None).expect("a valid count");
}

pub fn at(ms: u64) -> Timestamp {
    Timestamp(ms)
}

pub fn point(latitude: f64, longitude: f64) -> Coordinates {
    Coordinates { latitude, longitude }
}

pub fn deliver(latitude: f64, longitude: f64) -> Destination {
    Destination::Delivery { point: point(latitude, longitude) }
}

pub fn pickup(store: &str) -> Destination {
    Destination::Pickup { store: store.to_owned() }
}

pub fn order(id: &str, lines: &[(&str, u32)], destination: Destination, profile: &str) -> SourcedReserveRequest {
    SourcedReserveRequest {
        id: id.to_owned(),
        channel: CHANNEL.to_owned(),
        lines: lines.iter().map(|(sku, quantity)| OrderLine { sku: (*sku).to_owned(), quantity: *quantity }).collect(),
        destination,
        profile: profile.to_owned(),
        ttl_ms: TTL_MS,
        promise_by: None,
    }
}

/// Adds profiles to the built-in ones.
pub fn add_profiles(engine: &Engine, extra: Vec<SourcingProfile>) {
    let builtin = engine.sourcing_profiles();
    let mut all: Vec<SourcingProfile> = builtin.names().map(|n| (**builtin.get(n).unwrap()).clone()).collect();
    all.extend(extra);
    engine.set_sourcing_profiles(SourcingProfiles::from_profiles(all).expect("valid profiles"));
}

/// The allocation as (line, location name, quantity, kind).
pub fn placed(engine: &Engine, outcome: &SourcedOutcome) -> Vec<(u16, String, u32, HoldKind)> {
    outcome
        .allocation
        .iter()
        .map(|a| (a.line, engine.location_name(a.location).unwrap().to_string(), a.quantity, a.kind))
        .collect()
}

/// Everything a refused call must leave as it was.
pub fn state(engine: &Engine) -> (u64, EngineStats) {
    (engine.digest(), EngineStats { skus: 0, ..engine.stats() })
}

/// Asserts `request` is refused with an error `check` accepts, and changed nothing.
pub fn assert_refused(
    engine: &Engine,
    request: &SourcedReserveRequest,
    check: impl Fn(&EngineError) -> bool,
) -> EngineError {
    let before = state(engine);
    let error = engine.reserve_sourced(request, at(1_000)).expect_err("the order must be refused");
    assert!(check(&error), "unexpected error {error:?}");
    assert_eq!(state(engine), before, "a refused sourced reserve changed something");
    assert!(engine.verify().is_clean());
    error
}
