//! A small fixture shared by the operation tests: an engine with a few locations,
//! one channel and some stock, plus helpers to build requests and to take a
//! snapshot of everything a refused call must leave untouched.
//!
//! Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

use stockd::engine::{EngineStats, LineQuantity, PartialStep, Reservation, ReserveLine, ReserveRequest};
use stockd::model::{ChannelBuffer, ChannelSpec, Coordinates, LocationFlags, LocationKind, LocationSpec, PositionView};
use stockd::{Engine, EngineConfig, EngineError, Timestamp};

/// The fixture's warehouse: TSHIRT 10, MUG 20, CAP 4.
pub const WAREHOUSE: &str = "WH-LONDON";
/// The fixture's distribution centre: TSHIRT 5.
pub const DISTRIBUTION_CENTRE: &str = "DC-LEEDS";
/// A store in the web channel: TSHIRT 3.
pub const STORE: &str = "STORE-SOHO";
/// A store outside the web channel, with no stock.
pub const OTHER_STORE: &str = "STORE-BATH";
/// The channel that sees the warehouse, the distribution centre and one store.
pub const WEB: &str = "web-uk";

pub const TSHIRT: &str = "TSHIRT-RED-M";
pub const MUG: &str = "MUG-WHITE";
pub const CAP: &str = "CAP-BLUE";

/// Every location of the fixture.
pub const LOCATIONS: [&str; 4] = [WAREHOUSE, DISTRIBUTION_CENTRE, STORE, OTHER_STORE];

/// The TTL most tests reserve with.
pub const TTL_MS: u64 = 60_000;

/// An engine with the fixture's catalogue and stock, and the SKUs a test names so
/// that snapshots cover them.
pub struct Fixture {
    pub engine: Engine,
    pub skus: Vec<String>,
}

pub fn location_spec(name: &str, kind: LocationKind, latitude: f64, longitude: f64) -> LocationSpec {
    LocationSpec {
        name: name.to_owned(),
        kind,
        coordinates: Coordinates { latitude, longitude },
        flags: LocationFlags { ships: kind != LocationKind::Store, pickup: kind == LocationKind::Store },
        priority: 10,
    }
}

pub fn channel_spec(name: &str, locations: &[&str], excluded: &[&str], buffer: ChannelBuffer) -> ChannelSpec {
    ChannelSpec {
        name: name.to_owned(),
        locations: locations.iter().map(|l| (*l).to_owned()).collect(),
        excluded: excluded.iter().map(|l| (*l).to_owned()).collect(),
        buffer,
    }
}

impl Fixture {
    /// The fixture with the default configuration.
    pub fn new() -> Fixture {
        Fixture::with_config(EngineConfig::default())
    }

    /// The fixture with small shard counts (fast to build and to verify) and the
    /// given configuration otherwise.
    pub fn with_config(config: EngineConfig) -> Fixture {
        let config = EngineConfig { stock_shards: 8, reservation_shards: 4, ..config };
        let engine = Engine::new(config);
        engine
            .upsert_locations(&[
                location_spec(WAREHOUSE, LocationKind::Warehouse, 51.5, -0.1),
                location_spec(DISTRIBUTION_CENTRE, LocationKind::DistributionCentre, 53.8, -1.5),
                location_spec(STORE, LocationKind::Store, 51.51, -0.13),
                location_spec(OTHER_STORE, LocationKind::Store, 51.38, -2.36),
            ])
            .expect("the fixture's locations are valid");
        engine
            .upsert_channel(&channel_spec(WEB, &[WAREHOUSE, DISTRIBUTION_CENTRE, STORE], &[], ChannelBuffer::None))
            .expect("the fixture's channel is valid");
        let fixture = Fixture { engine, skus: vec![TSHIRT.to_owned(), MUG.to_owned(), CAP.to_owned()] };
        fixture.stock(TSHIRT, WAREHOUSE, 10);
        fixture.stock(TSHIRT, DISTRIBUTION_CENTRE, 5);
        fixture.stock(TSHIRT, STORE, 3);
        fixture.stock(MUG, WAREHOUSE, 20);
        fixture.stock(CAP, WAREHOUSE, 4);
        fixture
    }

    /// Sets on hand, unconditionally.
    pub fn stock(&self, sku: &str, location: &str, on_hand: u32) -> PositionView {
        self.engine.set_on_hand(sku, location, on_hand, None).expect("a valid count")
    }

    /// Adds a SKU to those snapshots cover.
    pub fn track(&mut self, sku: &str) {
        if !self.skus.iter().any(|s| s == sku) {
            self.skus.push(sku.to_owned());
        }
    }

    pub fn view(&self, sku: &str, location: &str) -> PositionView {
        self.engine.position(sku, location).expect("the position exists")
    }

    pub fn reserved(&self, sku: &str, location: &str) -> u32 {
        self.view(sku, location).reserved
    }

    pub fn on_hand(&self, sku: &str, location: &str) -> u32 {
        self.view(sku, location).on_hand
    }

    pub fn ats(&self, sku: &str, location: &str) -> u32 {
        self.view(sku, location).available_to_sell
    }

    /// Everything a refused call must leave as it was: every tracked position at
    /// every location (or its absence), the named reservations, and the counters.
    pub fn snapshot(&self, reservations: &[&str]) -> Snapshot {
        let mut positions = Vec::new();
        for sku in &self.skus {
            for location in LOCATIONS {
                positions.push(self.engine.position(sku, location));
            }
        }
        Snapshot {
            positions,
            reservations: reservations.iter().map(|id| self.engine.reservation(id)).collect(),
            // A refused write may still intern the SKU it names (ARCHITECTURE.md,
            // invariant 3, a deliberate exception), so the SKU count is left out.
            stats: EngineStats { skus: 0, ..self.engine.stats() },
        }
    }

    /// Asserts that the engine's invariants hold.
    pub fn assert_clean(&self) {
        let report = self.engine.verify();
        assert!(report.is_clean(), "verify found {:?}", report.findings);
        assert!(report.positions_checked > 0);
    }
}

impl Default for Fixture {
    fn default() -> Self {
        Fixture::new()
    }
}

#[derive(Debug, PartialEq)]
pub struct Snapshot {
    pub positions: Vec<Result<PositionView, EngineError>>,
    pub reservations: Vec<Result<Reservation, EngineError>>,
    pub stats: EngineStats,
}

pub fn at(ms: u64) -> Timestamp {
    Timestamp(ms)
}

pub fn line(sku: &str, location: &str, quantity: u32) -> ReserveLine {
    ReserveLine { sku: sku.to_owned(), location: location.to_owned(), quantity }
}

/// A reservation request with [`TTL_MS`] and no promise date.
pub fn request(id: &str, lines: Vec<ReserveLine>) -> ReserveRequest {
    ReserveRequest { id: id.to_owned(), lines, ttl_ms: TTL_MS, promise_by: None }
}

pub fn step(step_id: &str, lines: &[(&str, &str, u32)]) -> PartialStep {
    PartialStep {
        step_id: step_id.to_owned(),
        lines: lines
            .iter()
            .map(|(sku, location, quantity)| LineQuantity {
                sku: (*sku).to_owned(),
                location: (*location).to_owned(),
                quantity: *quantity,
            })
            .collect(),
    }
}
