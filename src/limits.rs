//! Every bound the engine enforces, in one place.
//!
//! A bound reached is a typed [`crate::EngineError`], never a panic, a hang or an
//! unbounded allocation. Defaults that an operator may change live in
//! [`crate::EngineConfig`]; the constants here are hard limits of the format.

/// Longest SKU, location, channel, reservation or supply reference id, in bytes.
pub const MAX_ID_BYTES: usize = 64;

/// Longest free-text reference on an adjustment (an ASN, a ticket number), in bytes.
pub const MAX_REFERENCE_BYTES: usize = 128;

/// Largest quantity of one line, one bucket or one position field.
///
/// Chosen so that every sum the engine forms (on hand + backorder limit + incoming)
/// fits in an `i64` with room to spare, and every stored field fits in a `u32`.
pub const MAX_QUANTITY: u32 = 1_000_000_000;

/// Lines per reservation request (after kit expansion, see [`MAX_EXPANDED_LINES`]).
pub const MAX_LINES_PER_RESERVATION: usize = 100;

/// Lines a reservation may hold once kits are expanded into their components.
pub const MAX_EXPANDED_LINES: usize = 400;

/// SKUs in one batch availability query (a product listing page is 48).
pub const MAX_BATCH_SKUS: usize = 1_000;

/// Rows in one bulk load call.
pub const MAX_BULK_ROWS: usize = 20_000_000;

/// Distinct locations the catalogue can hold.
pub const MAX_LOCATIONS: usize = 1_000_000;

/// Locations one channel may contain.
pub const MAX_LOCATIONS_PER_CHANNEL: usize = 100_000;

/// Channels the catalogue can hold.
pub const MAX_CHANNELS: usize = 10_000;

/// Components of one kit.
pub const MAX_KIT_COMPONENTS: usize = 32;

/// Incoming supply lines on one position.
pub const MAX_INCOMING_PER_POSITION: usize = 32;

/// Distinct SKUs the interner can hold.
pub const MAX_SKUS: usize = 100_000_000;

/// Shortest time to live of a held reservation, in milliseconds.
pub const MIN_TTL_MS: u64 = 1_000;

/// Longest time to live of a held reservation, in milliseconds (7 days).
pub const MAX_TTL_MS: u64 = 7 * 24 * 60 * 60 * 1_000;

/// Rejected bulk rows reported one by one; the rest are only counted.
pub const MAX_REPORTED_REJECTIONS: usize = 100;

/// Findings reported one by one by `verify`; the rest are only counted.
pub const MAX_REPORTED_FINDINGS: usize = 100;

/// Partial fulfils, releases and returns one reservation remembers (each carries a
/// client step id so that a retry applies once).
pub const MAX_STEPS_PER_RESERVATION: usize = 64;

/// Locations one sourced order may be split over (a profile's `max_locations`).
pub const MAX_SOURCING_LOCATIONS: usize = 8;

/// Sourcing profiles one engine holds.
pub const MAX_SOURCING_PROFILES: usize = 256;

/// Entries in one profile list (excluded kinds or locations, location costs).
pub const MAX_PROFILE_LIST_ENTRIES: usize = 10_000;

/// Search nodes (location sets visited) one sourced reserve may spend on the exact
/// search before it falls back to the greedy allocation (`exact: false`).
pub const MAX_SOURCING_SEARCH_NODES: u32 = 20_000;

/// Stores one store-finder query may return.
pub const MAX_STORE_MATCHES: usize = 100;

/// Largest store-finder radius, in kilometres (half the Earth's circumference).
pub const MAX_STORE_RADIUS_KM: f64 = 20_038.0;

/// Entries one `demand_top` call may return.
pub const MAX_DEMAND_TOP: usize = 1_000;
