//! A reference model of the stockd engine, written from `docs/ENGINE.md`.
//!
//! It exists to be obviously right, not fast: names instead of interned ids, `i64`
//! quantities, plain `BTreeMap`s and `Vec`s, one call at a time, and no deadline
//! heaps (expiry and forgetting look at every reservation). The model-based test
//! applies every operation to it and to the engine and compares the answers.
//!
//! Where the document leaves an order or a detail open, the model follows the
//! engine; those places are marked `ENGINE CHOICE`.

#![allow(dead_code)] // each test crate that includes the model uses a part of it

mod catalogue;
pub mod compare;
mod lifecycle;
mod queries;
mod reserve;
mod stock;

use std::collections::BTreeMap;
use stockd::engine::{
    Availability, AvailabilityScope, LineQuantity, PartialStep, ReservationState, ReserveRequest, RestockRequest,
    ShortLine,
};
use stockd::limits::{
    MAX_EXPANDED_LINES, MAX_ID_BYTES, MAX_INCOMING_PER_POSITION, MAX_KIT_COMPONENTS, MAX_LINES_PER_RESERVATION,
    MAX_QUANTITY, MAX_REFERENCE_BYTES, MAX_STEPS_PER_RESERVATION, MAX_TTL_MS, MIN_TTL_MS,
};
use stockd::model::{Bucket, ChannelBuffer, ChannelSpec, HoldKind, IdKind, LocationSpec, PositionRow};
use stockd::{EngineError, Operation, Timestamp};

const MAX: i64 = MAX_QUANTITY as i64;

/// (SKU, location), by name.
type Key = (String, String);

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Supply {
    pub reference: String,
    pub quantity: i64,
    pub expected_at: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Position {
    pub on_hand: i64,
    pub reserved: i64,
    pub safety_stock: i64,
    pub damaged: i64,
    pub quality_control: i64,
    pub backorder_limit: i64,
    pub version: u64,
    /// Sorted by expected date, then reference.
    pub incoming: Vec<Supply>,
}

impl Position {
    fn room(&self) -> i64 {
        self.on_hand - self.safety_stock - self.reserved
    }

    pub fn available_to_sell(&self) -> i64 {
        self.room().max(0)
    }

    fn incoming_by(&self, by: u64) -> i64 {
        self.incoming.iter().filter(|s| s.expected_at <= by).map(|s| s.quantity).sum()
    }

    fn incoming_total(&self) -> i64 {
        self.incoming.iter().map(|s| s.quantity).sum()
    }

    pub fn available_to_promise(&self, by: u64) -> i64 {
        (self.room() + self.incoming_by(by)).max(0)
    }

    fn ceiling(&self) -> i64 {
        self.on_hand - self.safety_stock + self.backorder_limit + self.incoming_total()
    }

    fn keeps_invariant(&self) -> bool {
        self.reserved <= self.ceiling().max(0) && self.incoming_total() <= MAX && self.on_hand <= MAX
    }

    fn bucket_mut(&mut self, bucket: Bucket) -> &mut i64 {
        match bucket {
            Bucket::Sellable => &mut self.on_hand,
            Bucket::Damaged => &mut self.damaged,
            Bucket::QualityControl => &mut self.quality_control,
        }
    }

    /// The hold rules of "Holding a line": how `quantity` would be covered, or what
    /// the position could offer instead.
    fn check_hold(&self, quantity: i64, promise_by: Option<u64>) -> Result<HoldKind, i64> {
        let room = self.room();
        if quantity <= room {
            return Ok(HoldKind::InStock);
        }
        let with_supply = match promise_by {
            Some(by) => room + self.incoming_by(by),
            None => room,
        };
        if promise_by.is_some() && quantity <= with_supply {
            return Ok(HoldKind::PreOrder);
        }
        let with_backorder = with_supply + self.backorder_limit;
        if self.backorder_limit > 0 && quantity <= with_backorder {
            return Ok(HoldKind::Backorder);
        }
        let available = if self.backorder_limit > 0 { with_backorder } else { with_supply };
        Err(available.max(0))
    }
}

/// Everything a client may read about one position.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PositionSnapshot {
    pub sku: String,
    pub location: String,
    pub on_hand: i64,
    pub reserved: i64,
    pub safety_stock: i64,
    pub damaged: i64,
    pub quality_control: i64,
    pub backorder_limit: i64,
    pub available_to_sell: i64,
    pub incoming: Vec<Supply>,
    pub version: u64,
}

fn snapshot(sku: &str, location: &str, p: &Position) -> PositionSnapshot {
    PositionSnapshot {
        sku: sku.to_owned(),
        location: location.to_owned(),
        on_hand: p.on_hand,
        reserved: p.reserved,
        safety_stock: p.safety_stock,
        damaged: p.damaged,
        quality_control: p.quality_control,
        backorder_limit: p.backorder_limit,
        available_to_sell: p.available_to_sell(),
        incoming: p.incoming.clone(),
        version: p.version,
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Line {
    pub sku: String,
    pub location: String,
    pub kind: HoldKind,
    pub quantity: i64,
    pub held: i64,
    pub fulfilled: i64,
    pub released: i64,
    pub returned: i64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reservation {
    pub id: String,
    pub state: ReservationState,
    pub created_at: u64,
    /// Held: when it expires. Expired: when it did. Otherwise none.
    pub expires_at: Option<u64>,
    pub first_expires_at: u64,
    pub promise_by: Option<u64>,
    /// The lines as the client asked for them (kits not expanded), in request order.
    pub requested: Vec<(String, String, i64)>,
    /// One per (component SKU, location), in order of first appearance.
    pub lines: Vec<Line>,
    pub forget_at: Option<u64>,
    pub applied_steps: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReservedLine {
    pub sku: String,
    pub location: String,
    pub quantity: i64,
    pub kind: HoldKind,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reserved {
    pub id: String,
    pub lines: Vec<ReservedLine>,
    pub expires_at: u64,
    pub replayed: bool,
    pub state: ReservationState,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BulkLoaded {
    pub inserted: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub rejected: u64,
    /// (row index, error), sorted by row.
    pub rejections: Vec<(u64, EngineError)>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Locations(Vec<u32>),
    Done,
    Reserved(Reserved),
    Reservation(Reservation),
    Expiry { expired: u64, forgotten: u64 },
    Position(PositionSnapshot),
    BulkLoad(BulkLoaded),
}

/// A channel's (available, summed, [(location, available)]).
pub type Breakdown = (u64, u64, Vec<(String, u64)>);

#[derive(Clone, Debug)]
pub struct Channel {
    /// Sorted by location id (order of creation), no repeats, exclusions removed.
    pub locations: Vec<String>,
    pub buffer: ChannelBuffer,
}

#[derive(Clone)]
pub struct Model {
    idempotency_window_ms: u64,
    max_reservations: usize,
    /// Index = location id.
    locations: Vec<String>,
    channels: BTreeMap<String, Channel>,
    kits: BTreeMap<String, Vec<(String, i64)>>,
    positions: BTreeMap<Key, Position>,
    reservations: BTreeMap<String, Reservation>,
}

// ---------------------------------------------------------------------------
// Validation, as the document's "shape" checks.

fn check_text(kind: IdKind, text: &str, max_bytes: usize, free_text: bool) -> Result<(), EngineError> {
    let reason = if text.is_empty() && !free_text {
        Some("is empty")
    } else if text.len() > max_bytes {
        Some("is too long")
    } else if text.chars().any(char::is_control) {
        Some("contains a control character")
    } else if !free_text && text.chars().any(char::is_whitespace) {
        Some("contains whitespace")
    } else {
        None
    };
    match reason {
        None => Ok(()),
        Some(reason) => Err(EngineError::InvalidId { kind, id: text.chars().take(MAX_ID_BYTES).collect(), reason }),
    }
}

fn check_id(kind: IdKind, id: &str) -> Result<(), EngineError> {
    check_text(kind, id, MAX_ID_BYTES, false)
}

fn check_range(field: &'static str, value: i64, min: i64, max: i64) -> Result<(), EngineError> {
    if value < min || value > max {
        return Err(EngineError::OutOfRange { field, value, min, max });
    }
    Ok(())
}

fn check_quantity(quantity: u32) -> Result<(), EngineError> {
    check_range("quantity", i64::from(quantity), 1, MAX)
}

fn check_ttl(ttl_ms: u64) -> Result<(), EngineError> {
    let ttl = i64::try_from(ttl_ms).unwrap_or(i64::MAX);
    check_range("ttl_ms", ttl, MIN_TTL_MS as i64, MAX_TTL_MS as i64)
}

fn too_many(what: &'static str, count: usize, limit: usize) -> EngineError {
    EngineError::TooMany { what, count, limit }
}

fn invalid_state(id: &str, state: ReservationState, operation: &'static str) -> EngineError {
    EngineError::InvalidState { id: id.to_owned(), state, operation, expected: "" }
}

fn expired_error(reservation: &Reservation) -> EngineError {
    EngineError::ReservationExpired {
        id: reservation.id.clone(),
        expired_at: Timestamp(reservation.expires_at.expect("an expired reservation says when")),
    }
}

fn bucket_name(bucket: Bucket) -> &'static str {
    match bucket {
        Bucket::Sellable => "on hand",
        Bucket::Damaged => "damaged",
        Bucket::QualityControl => "quality control",
    }
}

fn is_terminal(state: ReservationState) -> bool {
    matches!(state, ReservationState::Fulfilled | ReservationState::Released | ReservationState::Expired)
}

fn apply_buffer(buffer: ChannelBuffer, summed: u64) -> u64 {
    match buffer {
        ChannelBuffer::None => summed,
        ChannelBuffer::Units(units) => summed.saturating_sub(u64::from(units)),
        ChannelBuffer::Percent(percent) => summed.saturating_sub((summed * u64::from(percent)).div_ceil(100)),
    }
}

impl Model {
    pub fn new(idempotency_window_ms: u64, max_reservations: usize) -> Model {
        Model {
            idempotency_window_ms,
            max_reservations,
            locations: Vec::new(),
            channels: BTreeMap::new(),
            kits: BTreeMap::new(),
            positions: BTreeMap::new(),
            reservations: BTreeMap::new(),
        }
    }

    pub fn apply(&mut self, operation: &Operation, now: Timestamp) -> Result<Outcome, EngineError> {
        let now = now.millis();
        let position = |r: Result<PositionSnapshot, EngineError>| r.map(Outcome::Position);
        match operation {
            Operation::UpsertLocations(specs) => self.upsert_locations(specs),
            Operation::UpsertChannel(spec) => self.upsert_channel(spec),
            Operation::DefineKit { kit, components } => self.define_kit(kit, components),
            Operation::Reserve(request) => self.reserve(request, now),
            Operation::Commit { id } => self.commit(id, now),
            Operation::Release { id, partial } => self.take_units(id, partial.as_ref(), now, false),
            Operation::Fulfil { id, partial } => self.take_units(id, partial.as_ref(), now, true),
            Operation::Extend { id, ttl_ms } => self.extend(id, *ttl_ms, now),
            Operation::ExpireDue => Ok(self.expire_due(now)),
            Operation::Adjust { sku, location, delta, reference, .. } => {
                position(self.adjust(sku, location, *delta, reference))
            }
            Operation::SetOnHand { sku, location, on_hand, expected_version } => {
                position(self.set_on_hand(sku, location, *on_hand, *expected_version))
            }
            Operation::SetSafetyStock { sku, location, safety_stock } => {
                check_range("safety_stock", i64::from(*safety_stock), 0, MAX)?;
                position(self.update(sku, location, "given safety stock", |p| {
                    p.safety_stock = i64::from(*safety_stock);
                    Ok(())
                }))
            }
            Operation::SetBackorderLimit { sku, location, limit } => {
                check_range("backorder_limit", i64::from(*limit), 0, MAX)?;
                position(self.update(sku, location, "given a backorder limit", |p| {
                    p.backorder_limit = i64::from(*limit);
                    Ok(())
                }))
            }
            Operation::MoveStock { sku, location, from, to, quantity } => {
                position(self.move_stock(sku, location, *from, *to, *quantity))
            }
            Operation::AddIncoming { sku, location, reference, quantity, expected_at } => {
                position(self.add_incoming(sku, location, reference, *quantity, expected_at.millis()))
            }
            Operation::ReceiveIncoming { sku, location, reference, quantity } => {
                position(self.receive_incoming(sku, location, reference, *quantity))
            }
            Operation::CancelIncoming { sku, location, reference } => {
                check_id(IdKind::SupplyReference, reference)?;
                position(self.update(sku, location, "given a cancelled supply", |p| {
                    let at = find_supply(p, sku, location, reference)?;
                    p.incoming.remove(at);
                    Ok(())
                }))
            }
            Operation::Restock(request) => position(self.restock(request)),
            Operation::BulkLoad(rows) => self.bulk_load(rows),
            // The model does not generate sourced reserves (tests/sourcing.rs covers them).
            Operation::ReserveSourced(_) => unreachable!("the model generates no sourced reserve"),
        }
    }
}

fn find_supply(p: &Position, sku: &str, location: &str, reference: &str) -> Result<usize, EngineError> {
    p.incoming.iter().position(|s| s.reference == reference).ok_or_else(|| EngineError::UnknownSupply {
        sku: sku.to_owned(),
        location: location.to_owned(),
        reference: reference.to_owned(),
    })
}
