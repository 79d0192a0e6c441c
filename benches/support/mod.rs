//! The dataset both benches build, and the small helpers they share.
//!
//! The network: `location_count` locations named `L000000`, `L000001`, ...; SKUs named
//! `SKU-00000000`, `SKU-00000001`, ...; each SKU stocked at the first
//! `locations_per_sku` locations. Quantities are large enough that a bench's
//! reserve-then-release loop never runs short.

// Each bench uses a different part of this module.
#![allow(dead_code)]

use stockd::engine::AvailabilityScope;
use stockd::model::{ChannelBuffer, ChannelSpec, Coordinates, LocationFlags, LocationKind, LocationSpec, PositionRow};
use stockd::{Engine, EngineConfig};

/// Units on hand at every generated position.
pub const ON_HAND: u32 = 1_000;

pub fn sku_name(index: usize) -> String {
    format!("SKU-{index:08}")
}

/// Writes `sku_name(index)` into `buffer`, without allocating once the buffer has
/// room: a bench names a random SKU the way a request would carry it, fresh in
/// cache, instead of reading a pre-built name from a table that does not fit in it.
pub fn write_sku_name(buffer: &mut String, index: usize) {
    assert!(index < 100_000_000, "SKU names have 8 digits");
    buffer.clear();
    buffer.push_str("SKU-");
    let mut divisor = 10_000_000;
    while divisor > 0 {
        let digit = (index / divisor) % 10;
        buffer.push(char::from(b'0' + digit as u8));
        divisor /= 10;
    }
}

pub fn location_name(index: usize) -> String {
    format!("L{index:06}")
}

/// Creates `count` locations, in one catalogue change.
pub fn add_locations(engine: &Engine, count: usize) {
    let specs: Vec<LocationSpec> = (0..count)
        .map(|index| LocationSpec {
            name: location_name(index),
            kind: LocationKind::Store,
            coordinates: Coordinates { latitude: 51.0, longitude: 0.0 },
            flags: LocationFlags { ships: true, pickup: true },
            priority: 1,
        })
        .collect();
    engine.upsert_locations(&specs).expect("generated locations are valid");
}

/// Creates a channel over the first `location_count` locations, with no buffer.
pub fn add_channel(engine: &Engine, name: &str, location_count: usize) {
    let spec = ChannelSpec {
        name: name.to_owned(),
        locations: (0..location_count).map(location_name).collect(),
        excluded: Vec::new(),
        buffer: ChannelBuffer::None,
    };
    engine.upsert_channel(&spec).expect("generated channel is valid");
}

/// One row per (SKU, location): `sku_count` SKUs at the first `locations_per_sku`
/// locations, SKU-major (the order a feed sorted by SKU would send).
pub fn position_rows(sku_count: usize, locations_per_sku: usize) -> Vec<PositionRow> {
    let location_names: Vec<String> = (0..locations_per_sku).map(location_name).collect();
    let mut rows = Vec::with_capacity(sku_count * locations_per_sku);
    for sku in 0..sku_count {
        let name = sku_name(sku);
        for location in &location_names {
            rows.push(PositionRow {
                sku: name.clone(),
                location: location.clone(),
                on_hand: ON_HAND,
                safety_stock: 0,
                damaged: 0,
                quality_control: 0,
                backorder_limit: 0,
            });
        }
    }
    rows
}

/// One row for a SKU at the given locations, with `on_hand` units each.
pub fn rows_for_sku(sku: &str, locations: usize, on_hand: u32) -> Vec<PositionRow> {
    (0..locations)
        .map(|index| PositionRow {
            sku: sku.to_owned(),
            location: location_name(index),
            on_hand,
            safety_stock: 0,
            damaged: 0,
            quality_control: 0,
            backorder_limit: 0,
        })
        .collect()
}

/// The engine the read and reservation benches run on.
pub struct Dataset {
    pub engine: Engine,
    /// Stocked SKUs: `sku_name(0)` .. `sku_name(sku_count - 1)`.
    pub sku_count: usize,
    /// The locations each stocked SKU is at: `L000000` .. `L{locations_per_sku - 1}`.
    pub locations: Vec<String>,
    /// One `Location` scope per entry of `locations`.
    pub location_scopes: Vec<AvailabilityScope>,
    /// A channel over exactly `locations`.
    pub narrow_channel: String,
    /// A channel over every location, and a SKU stocked at all of them.
    pub wide_channel: String,
    pub wide_sku: String,
    /// A SKU at `locations[0]` with so much stock that no bench runs it short.
    pub hot_sku: String,
}

pub struct DatasetSize {
    pub sku_count: usize,
    pub locations_per_sku: usize,
    /// Locations in the catalogue (and in the wide channel).
    pub location_count: usize,
}

/// Builds the engine: the catalogue, `sku_count x locations_per_sku` positions, one
/// SKU at every location, and one hot SKU.
pub fn build_dataset(size: &DatasetSize, config: EngineConfig) -> Dataset {
    assert!(size.locations_per_sku <= size.location_count);
    let engine = Engine::new(config);
    add_locations(&engine, size.location_count);
    let narrow_channel = "narrow".to_owned();
    let wide_channel = "wide".to_owned();
    add_channel(&engine, &narrow_channel, size.locations_per_sku);
    add_channel(&engine, &wide_channel, size.location_count);

    let rows = position_rows(size.sku_count, size.locations_per_sku);
    let outcome = engine.bulk_load(&rows).expect("generated rows are valid");
    assert_eq!(outcome.inserted as usize, rows.len());
    drop(rows);

    let wide_sku = "WIDE-SKU".to_owned();
    engine.bulk_load(&rows_for_sku(&wide_sku, size.location_count, ON_HAND)).expect("generated rows are valid");
    let hot_sku = "HOT-SKU".to_owned();
    engine.bulk_load(&rows_for_sku(&hot_sku, 1, stockd::limits::MAX_QUANTITY)).expect("generated rows are valid");

    let locations: Vec<String> = (0..size.locations_per_sku).map(location_name).collect();
    let location_scopes = locations.iter().map(|name| AvailabilityScope::Location(name.clone())).collect();
    Dataset {
        engine,
        sku_count: size.sku_count,
        locations,
        location_scopes,
        narrow_channel,
        wide_channel,
        wide_sku,
        hot_sku,
    }
}

/// A tiny, fast pseudo-random generator (xorshift64*), so that choosing a random
/// position costs a few cycles and no shared state.
pub struct FastRandom(u64);

impl FastRandom {
    pub fn new(seed: u64) -> FastRandom {
        FastRandom(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A value in `0..bound` (bound > 0).
    pub fn below(&mut self, bound: usize) -> usize {
        ((u128::from(self.next_u64()) * bound as u128) >> 64) as usize
    }
}

/// The resident set size of this process, in bytes, from /proc/self/status.
pub fn resident_bytes() -> Option<u64> {
    status_field_kib("VmRSS:").map(|kib| kib * 1024)
}

/// The peak resident set size of this process, in bytes.
pub fn peak_resident_bytes() -> Option<u64> {
    status_field_kib("VmHWM:").map(|kib| kib * 1024)
}

fn status_field_kib(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with(field))?;
    line[field.len()..].trim().trim_end_matches("kB").trim().parse().ok()
}

/// True when run by `cargo bench` (criterion's rule: `--bench` given, `--test` not);
/// `cargo test --benches` runs each bench once on a small dataset instead.
pub fn benchmark_mode() -> bool {
    let args: Vec<String> = std::env::args().collect();
    args.iter().any(|arg| arg == "--bench") && !args.iter().any(|arg| arg == "--test")
}
