//! A generated demo catalogue and a scripted scenario that exercises the engine:
//! what the `stockd demo` command runs, and what a newcomer sees first.
//!
//! The catalogue is seeded, so two runs with the same settings build the same
//! network; the flash sale runs on real threads against real shards.

use crate::engine::{
    Availability, AvailabilityScope, EngineConfig, EngineError, EngineStats, ReserveLine, ReserveRequest, VerifyReport,
};
use crate::model::{ChannelBuffer, ChannelSpec, Coordinates, LocationFlags, LocationKind, LocationSpec, PositionRow};
use crate::{Engine, Timestamp};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The size of the generated network and of the scripted load.
#[derive(Clone, Debug)]
pub struct DemoSettings {
    pub skus: u32,
    pub locations: u32,
    pub seed: u64,
    /// Threads fighting over the flash-sale SKU.
    pub shoppers: usize,
    /// Units of the flash-sale SKU on sale (spread over the locations).
    pub flash_sale_units: u32,
}

impl Default for DemoSettings {
    fn default() -> Self {
        DemoSettings { skus: 20_000, locations: 50, seed: 7, shoppers: 4, flash_sale_units: 5_000 }
    }
}

/// What the demo did and found.
#[derive(Clone, Debug)]
pub struct DemoReport {
    pub positions_loaded: u64,
    pub load_time: Duration,
    pub page_availability: Vec<(String, u64)>,
    pub flash_sale_sold: u64,
    pub flash_sale_refused: u64,
    pub flash_sale_time: Duration,
    pub flash_sale_left: u64,
    pub checkouts_fulfilled: u64,
    pub expired_by_ttl: u64,
    pub stats: EngineStats,
    pub verify: VerifyReport,
}

pub const DEMO_CHANNEL: &str = "web-uk";
pub const FLASH_SALE_SKU: &str = "DROP-SNEAKER-42";

pub fn location_name(index: u32) -> String {
    if index < 3 {
        format!("DC-{index:02}")
    } else {
        format!("STORE-{index:04}")
    }
}

pub fn sku_name(index: u32) -> String {
    format!("SKU-{index:07}")
}

/// Builds the demo network: locations (3 warehouses, the rest stores), a web
/// channel with a 5 % buffer, a kit, stock for every SKU at every location, and the
/// flash-sale SKU.
pub fn build(settings: &DemoSettings) -> Result<(Engine, Duration), EngineError> {
    let engine = Engine::new(EngineConfig::default());
    let mut rng = StdRng::seed_from_u64(settings.seed);
    let locations: Vec<LocationSpec> = (0..settings.locations)
        .map(|i| LocationSpec {
            name: location_name(i),
            kind: if i < 3 { LocationKind::Warehouse } else { LocationKind::Store },
            coordinates: Coordinates { latitude: rng.random_range(50.0..55.0), longitude: rng.random_range(-4.0..1.0) },
            flags: LocationFlags { ships: i < 3, pickup: i >= 3 },
            priority: if i < 3 { 1 } else { 10 },
        })
        .collect();
    engine.upsert_locations(&locations)?;
    engine.upsert_channel(&ChannelSpec {
        name: DEMO_CHANNEL.to_owned(),
        locations: locations.iter().map(|l| l.name.clone()).collect(),
        excluded: vec![],
        buffer: ChannelBuffer::Percent(5),
    })?;
    let mut rows = Vec::with_capacity((settings.skus * settings.locations) as usize);
    for sku in 0..settings.skus {
        for location in 0..settings.locations {
            rows.push(PositionRow {
                sku: sku_name(sku),
                location: location_name(location),
                on_hand: rng.random_range(0..40),
                safety_stock: rng.random_range(0..3),
                damaged: 0,
                quality_control: 0,
                backorder_limit: 0,
            });
        }
    }
    let per_location = settings.flash_sale_units / settings.locations.max(1);
    for location in 0..settings.locations {
        let extra = u32::from(location == 0) * (settings.flash_sale_units - per_location * settings.locations);
        rows.push(PositionRow {
            sku: FLASH_SALE_SKU.to_owned(),
            location: location_name(location),
            on_hand: per_location + extra,
            safety_stock: 0,
            damaged: 0,
            quality_control: 0,
            backorder_limit: 0,
        });
    }
    let started = Instant::now();
    engine.bulk_load(&rows)?;
    let load_time = started.elapsed();
    engine.define_kit("GIFT-SET-1", &[(sku_name(0), 1), (sku_name(1), 2)])?;
    Ok((engine, load_time))
}

/// Runs the scripted scenario: a listing page, a flash sale, checkouts, and
/// abandoned carts expiring by TTL; then verifies every invariant.
pub fn run(settings: &DemoSettings) -> Result<DemoReport, EngineError> {
    let (engine, load_time) = build(settings)?;
    let start = Timestamp(1_800_000_000_000);
    let channel = AvailabilityScope::Channel(DEMO_CHANNEL.to_owned());
    let page: Vec<String> = (0..48).map(sku_name).chain(["GIFT-SET-1".to_owned()]).collect();
    let counts = engine.availability_batch(&page, &channel, Availability::ToSell)?;
    let page_availability = page.into_iter().zip(counts).take(6).collect();

    let (sold, refused, flash_sale_time) = flash_sale(&engine, settings, start);
    let flash_sale_left = engine.availability(FLASH_SALE_SKU, &channel, Availability::ToSell)?;

    let mut rng = StdRng::seed_from_u64(settings.seed + 1);
    let mut checkouts_fulfilled = 0;
    for order in 0..1_000u32 {
        let sku = sku_name(rng.random_range(0..settings.skus));
        let location = location_name(rng.random_range(0..settings.locations));
        let id = format!("order-{order}");
        let request = ReserveRequest {
            id: id.clone(),
            lines: vec![ReserveLine { sku, location, quantity: 1 }],
            ttl_ms: 15 * 60 * 1_000,
            promise_by: None,
        };
        if engine.reserve(&request, start).is_err() {
            continue;
        }
        if order % 3 == 0 {
            continue; // an abandoned cart: its TTL will give the unit back
        }
        engine.commit(&id, start)?;
        engine.fulfil(&id, None, start)?;
        checkouts_fulfilled += 1;
    }
    let expiry = engine.expire_due(start.saturating_add_ms(16 * 60 * 1_000));
    Ok(DemoReport {
        positions_loaded: u64::from(settings.skus) * u64::from(settings.locations) + u64::from(settings.locations),
        load_time,
        page_availability,
        flash_sale_sold: sold,
        flash_sale_refused: refused,
        flash_sale_time,
        flash_sale_left,
        checkouts_fulfilled,
        expired_by_ttl: expiry.expired,
        stats: engine.stats(),
        verify: engine.verify(),
    })
}

/// `shoppers` threads each try to buy one unit of the flash-sale SKU at a random
/// location until every location says no. Returns (sold, refused, time taken).
fn flash_sale(engine: &Engine, settings: &DemoSettings, now: Timestamp) -> (u64, u64, Duration) {
    let sold = AtomicU64::new(0);
    let refused = AtomicU64::new(0);
    let started = Instant::now();
    std::thread::scope(|scope| {
        for shopper in 0..settings.shoppers {
            let (sold, refused) = (&sold, &refused);
            scope.spawn(move || {
                let mut rng = StdRng::seed_from_u64(settings.seed ^ shopper as u64);
                let mut sold_out_at = vec![false; settings.locations as usize];
                let mut attempt = 0u64;
                while sold_out_at.iter().any(|out| !out) {
                    let location = rng.random_range(0..settings.locations);
                    if sold_out_at[location as usize] {
                        continue;
                    }
                    attempt += 1;
                    let request = ReserveRequest {
                        id: format!("flash-{shopper}-{attempt}"),
                        lines: vec![ReserveLine {
                            sku: FLASH_SALE_SKU.to_owned(),
                            location: location_name(location),
                            quantity: 1,
                        }],
                        ttl_ms: 10 * 60 * 1_000,
                        promise_by: None,
                    };
                    match engine.reserve(&request, now) {
                        Ok(_) => sold.fetch_add(1, Ordering::Relaxed),
                        Err(_) => {
                            sold_out_at[location as usize] = true;
                            refused.fetch_add(1, Ordering::Relaxed)
                        }
                    };
                }
            });
        }
    });
    (sold.into_inner(), refused.into_inner(), started.elapsed())
}
