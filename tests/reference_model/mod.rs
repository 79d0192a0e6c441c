//! A reference model of the stockd engine, written from `docs/ENGINE.md`.
//!
//! It exists to be obviously right, not fast: names instead of interned ids, `i64`
//! quantities, plain `BTreeMap`s and `Vec`s, one call at a time, and no deadline
//! heaps (expiry and forgetting look at every reservation). The model-based test
//! applies every operation to it and to the engine and compares the answers.
//!
//! Where the document leaves an order or a detail open, the model follows the
//! engine; those places are marked `ENGINE CHOICE`.

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

    // -----------------------------------------------------------------------
    // Reads.

    pub fn position(&self, sku: &str, location: &str) -> Option<PositionSnapshot> {
        let key = (sku.to_owned(), location.to_owned());
        self.positions.get(&key).map(|p| snapshot(sku, location, p))
    }

    pub fn reservation(&self, id: &str) -> Option<&Reservation> {
        self.reservations.get(id)
    }

    pub fn reservation_ids(&self) -> Vec<String> {
        self.reservations.keys().cloned().collect()
    }

    /// Every incoming supply line: (sku, location, reference).
    pub fn supplies(&self) -> Vec<(String, String, String)> {
        let mut supplies = Vec::new();
        for ((sku, location), p) in &self.positions {
            for supply in &p.incoming {
                supplies.push((sku.clone(), location.clone(), supply.reference.clone()));
            }
        }
        supplies
    }

    /// The expected dates of every incoming supply line.
    pub fn supply_dates(&self) -> Vec<u64> {
        self.positions.values().flat_map(|p| p.incoming.iter().map(|s| s.expected_at)).collect()
    }

    /// The first TTL or forgetting deadline after `now`.
    pub fn next_deadline(&self, now: u64) -> Option<u64> {
        let deadline = |r: &Reservation| match r.state {
            ReservationState::Held => r.expires_at,
            ReservationState::Committed => None,
            _ => r.forget_at,
        };
        self.reservations.values().filter_map(deadline).filter(|at| *at > now).min()
    }

    pub fn is_kit(&self, sku: &str) -> bool {
        self.kits.contains_key(sku)
    }

    fn measure_at(&self, sku: &str, location: &str, measure: Availability) -> u64 {
        let key = (sku.to_owned(), location.to_owned());
        let Some(p) = self.positions.get(&key) else { return 0 };
        let units = match measure {
            Availability::ToSell => p.available_to_sell(),
            Availability::ToPromise(by) => p.available_to_promise(by.millis()),
        };
        units as u64
    }

    /// A SKU's or a kit's availability at one location.
    fn available_at(&self, sku: &str, location: &str, measure: Availability) -> u64 {
        match self.kits.get(sku) {
            None => self.measure_at(sku, location, measure),
            Some(components) => components
                .iter()
                .map(|(component, quantity)| self.measure_at(component, location, measure) / *quantity as u64)
                .min()
                .unwrap_or(0),
        }
    }

    pub fn availability(
        &self,
        sku: &str,
        scope: &AvailabilityScope,
        measure: Availability,
    ) -> Result<u64, EngineError> {
        match scope {
            AvailabilityScope::Location(location) => {
                self.location_exists(location)?;
                check_id(IdKind::Sku, sku)?;
                Ok(self.available_at(sku, location, measure))
            }
            AvailabilityScope::Channel(name) => {
                let channel = self.channel(name)?;
                check_id(IdKind::Sku, sku)?;
                let summed = channel.locations.iter().map(|l| self.available_at(sku, l, measure)).sum();
                Ok(apply_buffer(channel.buffer, summed))
            }
        }
    }

    /// A plain SKU across a channel: (available, summed, per location that has a position).
    pub fn channel_breakdown(&self, sku: &str, channel: &str) -> Result<Breakdown, EngineError> {
        let channel = self.channel(channel)?;
        let breakdown: Vec<(String, u64)> = channel
            .locations
            .iter()
            .filter(|l| self.positions.contains_key(&(sku.to_owned(), (*l).clone())))
            .map(|l| (l.clone(), self.measure_at(sku, l, Availability::ToSell)))
            .collect();
        let summed = breakdown.iter().map(|(_, units)| units).sum();
        Ok((apply_buffer(channel.buffer, summed), summed, breakdown))
    }

    fn channel(&self, name: &str) -> Result<&Channel, EngineError> {
        check_id(IdKind::Channel, name)?;
        self.channels.get(name).ok_or_else(|| EngineError::UnknownChannel(name.to_owned()))
    }

    fn location_exists(&self, location: &str) -> Result<(), EngineError> {
        check_id(IdKind::Location, location)?;
        if self.locations.iter().any(|l| l == location) {
            Ok(())
        } else {
            Err(EngineError::UnknownLocation(location.to_owned()))
        }
    }

    fn location_index(&self, location: &str) -> usize {
        self.locations.iter().position(|l| l == location).expect("a known location")
    }

    // -----------------------------------------------------------------------
    // Catalogue.

    fn upsert_locations(&mut self, specs: &[LocationSpec]) -> Result<Outcome, EngineError> {
        for spec in specs {
            check_id(IdKind::Location, &spec.name)?;
            let (latitude, longitude) = (spec.coordinates.latitude, spec.coordinates.longitude);
            if !((-90.0..=90.0).contains(&latitude) && (-180.0..=180.0).contains(&longitude)) {
                return Err(EngineError::InvalidCoordinates(format!("({latitude}, {longitude})")));
            }
        }
        let mut ids = Vec::new();
        for spec in specs {
            if !self.locations.contains(&spec.name) {
                self.locations.push(spec.name.clone());
            }
            ids.push(self.location_index(&spec.name) as u32);
        }
        Ok(Outcome::Locations(ids))
    }

    fn upsert_channel(&mut self, spec: &ChannelSpec) -> Result<Outcome, EngineError> {
        check_id(IdKind::Channel, &spec.name)?;
        if let ChannelBuffer::Percent(percent) = spec.buffer {
            check_range("channel buffer percent", i64::from(percent), 0, 100)?;
        }
        if let ChannelBuffer::Units(units) = spec.buffer {
            check_range("channel buffer units", i64::from(units), 0, MAX)?;
        }
        // ENGINE CHOICE: exclusions are resolved before the listed locations.
        for name in spec.excluded.iter().chain(&spec.locations) {
            self.location_exists(name)?;
        }
        let mut locations: Vec<String> =
            spec.locations.iter().filter(|l| !spec.excluded.contains(l)).cloned().collect();
        locations.sort_by_key(|l| self.location_index(l));
        locations.dedup();
        self.channels.insert(spec.name.clone(), Channel { locations, buffer: spec.buffer });
        Ok(Outcome::Done)
    }

    fn define_kit(&mut self, kit: &str, components: &[(String, u32)]) -> Result<Outcome, EngineError> {
        check_id(IdKind::Sku, kit)?;
        if components.is_empty() || components.len() > MAX_KIT_COMPONENTS {
            return Err(too_many("kit components", components.len(), MAX_KIT_COMPONENTS));
        }
        for (index, (sku, quantity)) in components.iter().enumerate() {
            check_id(IdKind::Sku, sku)?;
            check_range("kit component quantity", i64::from(*quantity), 1, MAX)?;
            if sku == kit || components[..index].iter().any(|(earlier, _)| earlier == sku) {
                return Err(EngineError::DuplicateLine { index, sku: sku.clone(), location: String::new() });
            }
        }
        // A kit holds no stock of its own.
        if self.positions.keys().any(|(sku, _)| sku == kit) {
            return Err(EngineError::KitNotAllowed { sku: kit.to_owned(), operation: "" });
        }
        if let Some((sku, _)) = components.iter().find(|(sku, _)| self.kits.contains_key(sku)) {
            return Err(EngineError::KitNotAllowed { sku: sku.clone(), operation: "" });
        }
        let parts = components.iter().map(|(sku, quantity)| (sku.clone(), i64::from(*quantity))).collect();
        self.kits.insert(kit.to_owned(), parts);
        Ok(Outcome::Done)
    }

    // -----------------------------------------------------------------------
    // Reserve.

    fn reserve(&mut self, request: &ReserveRequest, now: u64) -> Result<Outcome, EngineError> {
        // 1. Shape.
        check_id(IdKind::Reservation, &request.id)?;
        if request.lines.is_empty() {
            return Err(EngineError::NoLines);
        }
        if request.lines.len() > MAX_LINES_PER_RESERVATION {
            return Err(too_many("lines in a reservation", request.lines.len(), MAX_LINES_PER_RESERVATION));
        }
        check_ttl(request.ttl_ms)?;
        // ENGINE CHOICE: a repeated (SKU, location) is a shape error, found before
        // any location is looked up (the document lists both under step 2).
        for (index, line) in request.lines.iter().enumerate() {
            check_id(IdKind::Sku, &line.sku)?;
            check_id(IdKind::Location, &line.location)?;
            check_quantity(line.quantity)?;
            if request.lines[..index].iter().any(|l| l.sku == line.sku && l.location == line.location) {
                return Err(EngineError::DuplicateLine {
                    index,
                    sku: line.sku.clone(),
                    location: line.location.clone(),
                });
            }
        }
        // 2. Locations, kit expansion.
        let mut requested: Vec<(String, String, i64)> = Vec::new();
        let mut expanded: Vec<(String, String, i64)> = Vec::new();
        for line in &request.lines {
            self.location_exists(&line.location)?;
            requested.push((line.sku.clone(), line.location.clone(), i64::from(line.quantity)));
            let components = match self.kits.get(&line.sku) {
                Some(components) => components.clone(),
                None => vec![(line.sku.clone(), 1)],
            };
            for (component, per_kit) in components {
                let units = i64::from(line.quantity) * per_kit;
                match expanded.iter_mut().find(|(s, l, _)| *s == component && *l == line.location) {
                    Some(existing) => existing.2 += units,
                    None => expanded.push((component, line.location.clone(), units)),
                }
            }
        }
        if expanded.len() > MAX_EXPANDED_LINES {
            return Err(too_many("lines after kit expansion", expanded.len(), MAX_EXPANDED_LINES));
        }
        for (_, _, units) in &expanded {
            check_range("quantity after kit expansion", *units, 1, MAX)?;
        }
        // 3. A known id: the first outcome again, or a conflict.
        let promise_by = request.promise_by.map(Timestamp::millis);
        if let Some(existing) = self.reservations.get(&request.id) {
            let mut before = existing.requested.clone();
            let mut asked = requested.clone();
            before.sort();
            asked.sort();
            if before != asked || existing.promise_by != promise_by {
                return Err(EngineError::Conflict(request.id.clone()));
            }
            self.expire_if_due(&request.id, now);
            return Ok(Outcome::Reserved(first_outcome(&self.reservations[&request.id], true)));
        }
        // 4. Capacity.
        if self.reservations.len() >= self.max_reservations {
            return Err(EngineError::ReservationCapacity { limit: self.max_reservations });
        }
        // 5. Every line, all or nothing.
        let mut kinds = Vec::new();
        let mut short = Vec::new();
        for (sku, location, units) in &expanded {
            let check = match self.positions.get(&(sku.clone(), location.clone())) {
                Some(p) => p.check_hold(*units, promise_by),
                None => Err(0),
            };
            match check {
                Ok(kind) => kinds.push(kind),
                Err(available) => short.push(ShortLine {
                    sku: sku.clone(),
                    location: location.clone(),
                    requested: *units as u32,
                    available: available.min(i64::from(u32::MAX)) as u32,
                }),
            }
        }
        if !short.is_empty() {
            return Err(EngineError::InsufficientStock(short));
        }
        let mut lines = Vec::new();
        for ((sku, location, units), kind) in expanded.into_iter().zip(kinds) {
            let p = self.positions.get_mut(&(sku.clone(), location.clone())).expect("checked above");
            p.reserved += units;
            p.version += 1;
            lines.push(Line {
                sku,
                location,
                kind,
                quantity: units,
                held: units,
                fulfilled: 0,
                released: 0,
                returned: 0,
            });
        }
        let expires_at = now.saturating_add(request.ttl_ms);
        let reservation = Reservation {
            id: request.id.clone(),
            state: ReservationState::Held,
            created_at: now,
            expires_at: Some(expires_at),
            first_expires_at: expires_at,
            promise_by,
            requested,
            lines,
            forget_at: None,
            applied_steps: Vec::new(),
        };
        let outcome = first_outcome(&reservation, false);
        self.reservations.insert(request.id.clone(), reservation);
        Ok(Outcome::Reserved(outcome))
    }

    // -----------------------------------------------------------------------
    // Lifecycle.

    /// Gives back every unit a held reservation past its TTL still holds.
    fn expire_if_due(&mut self, id: &str, now: u64) {
        let Some(reservation) = self.reservations.get_mut(id) else { return };
        let due = reservation.state == ReservationState::Held && reservation.expires_at.is_some_and(|at| at <= now);
        if !due {
            return;
        }
        for line in reservation.lines.iter_mut().filter(|l| l.held > 0) {
            let p = self.positions.get_mut(&(line.sku.clone(), line.location.clone())).expect("a held line's position");
            p.reserved -= line.held;
            p.version += 1;
            line.released += line.held;
            line.held = 0;
        }
        reservation.state = ReservationState::Expired;
        // ENGINE CHOICE: the window counts from when the expiry is processed.
        reservation.forget_at = Some(now.saturating_add(self.idempotency_window_ms));
    }

    /// The reservation `id`, expired first if its TTL has passed.
    fn live(&mut self, id: &str, now: u64) -> Result<(), EngineError> {
        if !self.reservations.contains_key(id) {
            return Err(EngineError::UnknownReservation(id.to_owned()));
        }
        self.expire_if_due(id, now);
        Ok(())
    }

    fn commit(&mut self, id: &str, now: u64) -> Result<Outcome, EngineError> {
        check_id(IdKind::Reservation, id)?;
        self.live(id, now)?;
        let reservation = self.reservations.get_mut(id).expect("live");
        match reservation.state {
            ReservationState::Held => {
                reservation.state = ReservationState::Committed;
                reservation.expires_at = None;
            }
            ReservationState::Committed => {}
            ReservationState::Expired => return Err(expired_error(reservation)),
            state => return Err(invalid_state(id, state, "commit")),
        }
        Ok(Outcome::Reservation(reservation.clone()))
    }

    fn extend(&mut self, id: &str, ttl_ms: u64, now: u64) -> Result<Outcome, EngineError> {
        check_id(IdKind::Reservation, id)?;
        check_ttl(ttl_ms)?;
        self.live(id, now)?;
        let reservation = self.reservations.get_mut(id).expect("live");
        match reservation.state {
            ReservationState::Held => reservation.expires_at = Some(now.saturating_add(ttl_ms)),
            ReservationState::Expired => return Err(expired_error(reservation)),
            state => return Err(invalid_state(id, state, "extend")),
        }
        Ok(Outcome::Reservation(reservation.clone()))
    }

    /// `release` (fulfil = false) and `fulfil`, whole or partial.
    fn take_units(
        &mut self,
        id: &str,
        partial: Option<&PartialStep>,
        now: u64,
        fulfil: bool,
    ) -> Result<Outcome, EngineError> {
        check_id(IdKind::Reservation, id)?;
        if let Some(step) = partial {
            check_step(step)?;
        }
        self.live(id, now)?;
        let operation = if fulfil { "fulfil" } else { "release" };
        let reservation = &self.reservations[id];
        // ENGINE CHOICE: a step id already applied answers before any state check.
        if let Some(step) = partial {
            if reservation.applied_steps.contains(&step.step_id) {
                return Ok(Outcome::Reservation(reservation.clone()));
            }
        }
        use ReservationState::{Committed, Expired, Fulfilled, Held, Released};
        match (reservation.state, fulfil, partial.is_some()) {
            (Held, true, _) => return Err(invalid_state(id, Held, operation)),
            (Held | Committed, _, _) => {}
            (Released | Expired, false, false) | (Fulfilled, true, false) => {
                return Ok(Outcome::Reservation(reservation.clone()))
            }
            (Expired, _, _) => return Err(expired_error(reservation)),
            (state, _, _) => return Err(invalid_state(id, state, operation)),
        }
        let amounts: Vec<(usize, i64)> = match partial {
            None => {
                reservation.lines.iter().enumerate().filter(|(_, l)| l.held > 0).map(|(i, l)| (i, l.held)).collect()
            }
            Some(step) => {
                if reservation.applied_steps.len() >= MAX_STEPS_PER_RESERVATION {
                    let count = reservation.applied_steps.len() + 1;
                    return Err(too_many("partial steps on one reservation", count, MAX_STEPS_PER_RESERVATION));
                }
                step_amounts(reservation, step)?
            }
        };
        if fulfil {
            for &(at, quantity) in &amounts {
                let line = &reservation.lines[at];
                let key = (line.sku.clone(), line.location.clone());
                let on_hand = self.positions.get(&key).map_or(0, |p| p.on_hand);
                if on_hand < quantity {
                    return Err(EngineError::InsufficientUnits {
                        sku: line.sku.clone(),
                        location: line.location.clone(),
                        bucket: "on hand",
                        available: on_hand as u32,
                        requested: quantity as u32,
                    });
                }
            }
        }
        let reservation = self.reservations.get_mut(id).expect("live");
        for (at, quantity) in amounts {
            let line = &mut reservation.lines[at];
            let p = self.positions.get_mut(&(line.sku.clone(), line.location.clone())).expect("a held line's position");
            p.reserved -= quantity;
            p.version += 1;
            line.held -= quantity;
            if fulfil {
                p.on_hand -= quantity;
                line.fulfilled += quantity;
            } else {
                line.released += quantity;
            }
        }
        if let Some(step) = partial {
            reservation.applied_steps.push(step.step_id.clone());
        }
        // When no line holds units any more, the reservation ends.
        if reservation.lines.iter().all(|l| l.held == 0) {
            let any_fulfilled = reservation.lines.iter().any(|l| l.fulfilled > 0);
            reservation.state = if any_fulfilled { Fulfilled } else { Released };
            reservation.expires_at = None;
            reservation.forget_at = Some(now.saturating_add(self.idempotency_window_ms));
        }
        Ok(Outcome::Reservation(reservation.clone()))
    }

    fn expire_due(&mut self, now: u64) -> Outcome {
        // Forget first: a reservation expired by this sweep starts its window now.
        let before = self.reservations.len();
        self.reservations.retain(|_, r| !(is_terminal(r.state) && r.forget_at.is_some_and(|at| at <= now)));
        let forgotten = (before - self.reservations.len()) as u64;
        let due: Vec<String> = self
            .reservations
            .values()
            .filter(|r| r.state == ReservationState::Held && r.expires_at.is_some_and(|at| at <= now))
            .map(|r| r.id.clone())
            .collect();
        for id in &due {
            self.expire_if_due(id, now);
        }
        Outcome::Expiry { expired: due.len() as u64, forgotten }
    }

    fn restock(&mut self, request: &RestockRequest) -> Result<PositionSnapshot, EngineError> {
        let (sku, location) = (&request.line.sku, &request.line.location);
        check_id(IdKind::Reservation, &request.reservation_id)?;
        check_id(IdKind::Step, &request.step_id)?;
        check_id(IdKind::Sku, sku)?;
        check_quantity(request.line.quantity)?;
        self.location_exists(location)?;
        // ENGINE CHOICE: restock carries no time, so it does not expire a held
        // reservation first (one past its TTL has nothing fulfilled anyway).
        let Some(reservation) = self.reservations.get(&request.reservation_id) else {
            return Err(EngineError::UnknownReservation(request.reservation_id.clone()));
        };
        if self.kits.contains_key(sku) {
            return Err(EngineError::KitNotAllowed { sku: sku.clone(), operation: "" });
        }
        let key = (sku.clone(), location.clone());
        // A step id already applied: the position as it is now, changing nothing.
        if reservation.applied_steps.contains(&request.step_id) {
            let unknown = || EngineError::UnknownPosition { sku: sku.clone(), location: location.clone() };
            return self.positions.get(&key).map(|p| snapshot(sku, location, p)).ok_or_else(unknown);
        }
        if reservation.applied_steps.len() >= MAX_STEPS_PER_RESERVATION {
            let count = reservation.applied_steps.len() + 1;
            return Err(too_many("partial steps on one reservation", count, MAX_STEPS_PER_RESERVATION));
        }
        let quantity = i64::from(request.line.quantity);
        let returnable: i64 =
            reservation.lines.iter().filter(|l| l.sku == *sku).map(|l| l.fulfilled - l.returned).sum();
        if quantity > returnable {
            return Err(EngineError::ReturnExceedsFulfilled {
                id: request.reservation_id.clone(),
                sku: sku.clone(),
                returnable: returnable as u32,
                requested: quantity as u32,
            });
        }
        let mut next = self.positions.get(&key).cloned().unwrap_or_default();
        let after = *next.bucket_mut(request.bucket) + quantity;
        check_range(bucket_name(request.bucket), after, 0, MAX)?;
        *next.bucket_mut(request.bucket) = after;
        next.version += 1;
        let view = snapshot(sku, location, &next);
        self.positions.insert(key, next);
        let reservation = self.reservations.get_mut(&request.reservation_id).expect("found above");
        let mut left = quantity;
        for line in reservation.lines.iter_mut().filter(|l| l.sku == *sku) {
            let take = left.min(line.fulfilled - line.returned);
            line.returned += take;
            left -= take;
        }
        reservation.applied_steps.push(request.step_id.clone());
        Ok(view)
    }

    // -----------------------------------------------------------------------
    // Stock writes.

    /// Resolves the location, refuses kits, changes a copy, checks the invariant,
    /// then stores it with the version bumped.
    fn update(
        &mut self,
        sku: &str,
        location: &str,
        operation: &'static str,
        change: impl FnOnce(&mut Position) -> Result<(), EngineError>,
    ) -> Result<PositionSnapshot, EngineError> {
        check_id(IdKind::Sku, sku)?;
        self.location_exists(location)?;
        if self.kits.contains_key(sku) {
            return Err(EngineError::KitNotAllowed { sku: sku.to_owned(), operation });
        }
        let key = (sku.to_owned(), location.to_owned());
        let mut next = self.positions.get(&key).cloned().unwrap_or_default();
        change(&mut next)?;
        if !next.keeps_invariant() {
            return Err(EngineError::BelowReserved {
                sku: sku.to_owned(),
                location: location.to_owned(),
                reserved: next.reserved as u32,
                ceiling: next.ceiling(),
            });
        }
        next.version += 1;
        let view = snapshot(sku, location, &next);
        self.positions.insert(key, next);
        Ok(view)
    }

    fn adjust(
        &mut self,
        sku: &str,
        location: &str,
        delta: i64,
        reference: &str,
    ) -> Result<PositionSnapshot, EngineError> {
        check_text(IdKind::AdjustmentReference, reference, MAX_REFERENCE_BYTES, true)?;
        check_range("delta magnitude", delta.saturating_abs(), 1, MAX)?;
        self.update(sku, location, "adjusted", |p| {
            let after = p.on_hand + delta;
            if after < 0 {
                return Err(short(sku, location, "on hand", p.on_hand, delta.abs()));
            }
            check_range("on_hand", after, 0, MAX)?;
            p.on_hand = after;
            Ok(())
        })
    }

    fn set_on_hand(
        &mut self,
        sku: &str,
        location: &str,
        on_hand: u32,
        expected_version: Option<u64>,
    ) -> Result<PositionSnapshot, EngineError> {
        check_range("on_hand", i64::from(on_hand), 0, MAX)?;
        self.update(sku, location, "counted", |p| {
            if let Some(expected) = expected_version {
                if expected != p.version {
                    return Err(EngineError::VersionMismatch {
                        sku: sku.to_owned(),
                        location: location.to_owned(),
                        expected,
                        actual: p.version,
                    });
                }
            }
            p.on_hand = i64::from(on_hand);
            Ok(())
        })
    }

    fn move_stock(
        &mut self,
        sku: &str,
        location: &str,
        from: Bucket,
        to: Bucket,
        quantity: u32,
    ) -> Result<PositionSnapshot, EngineError> {
        check_quantity(quantity)?;
        if from == to {
            return Err(EngineError::OutOfRange { field: "", value: 0, min: 1, max: 1 });
        }
        let quantity = i64::from(quantity);
        self.update(sku, location, "moved between buckets", |p| {
            let available = *p.bucket_mut(from);
            if available < quantity {
                return Err(short(sku, location, bucket_name(from), available, quantity));
            }
            let target = *p.bucket_mut(to) + quantity;
            check_range("bucket quantity", target, 0, MAX)?;
            *p.bucket_mut(from) -= quantity;
            *p.bucket_mut(to) = target;
            Ok(())
        })
    }

    fn add_incoming(
        &mut self,
        sku: &str,
        location: &str,
        reference: &str,
        quantity: u32,
        expected_at: u64,
    ) -> Result<PositionSnapshot, EngineError> {
        check_id(IdKind::SupplyReference, reference)?;
        check_quantity(quantity)?;
        self.update(sku, location, "given incoming supply", |p| {
            if p.incoming.iter().any(|s| s.reference == reference) {
                return Err(EngineError::DuplicateSupply {
                    sku: sku.to_owned(),
                    location: location.to_owned(),
                    reference: reference.to_owned(),
                });
            }
            if p.incoming.len() >= MAX_INCOMING_PER_POSITION {
                return Err(too_many("incoming supply lines", p.incoming.len() + 1, MAX_INCOMING_PER_POSITION));
            }
            p.incoming.push(Supply { reference: reference.to_owned(), quantity: i64::from(quantity), expected_at });
            p.incoming.sort_by(|a, b| (a.expected_at, &a.reference).cmp(&(b.expected_at, &b.reference)));
            check_range("incoming total", p.incoming_total(), 0, MAX)
        })
    }

    fn receive_incoming(
        &mut self,
        sku: &str,
        location: &str,
        reference: &str,
        quantity: u32,
    ) -> Result<PositionSnapshot, EngineError> {
        check_id(IdKind::SupplyReference, reference)?;
        check_quantity(quantity)?;
        let quantity = i64::from(quantity);
        self.update(sku, location, "received", |p| {
            let at = find_supply(p, sku, location, reference)?;
            if p.incoming[at].quantity < quantity {
                return Err(short(sku, location, "incoming", p.incoming[at].quantity, quantity));
            }
            p.incoming[at].quantity -= quantity;
            check_range("on_hand", p.on_hand + quantity, 0, MAX)?;
            p.on_hand += quantity;
            p.incoming.retain(|s| s.quantity > 0);
            Ok(())
        })
    }

    fn bulk_load(&mut self, rows: &[PositionRow]) -> Result<Outcome, EngineError> {
        // Every row first; the first bad one refuses the load.
        for (index, row) in rows.iter().enumerate() {
            let invalid = |error| EngineError::InvalidRow { row: index as u64, error: Box::new(error) };
            check_row(row).map_err(invalid)?;
            self.location_exists(&row.location).map_err(invalid)?;
            if self.kits.contains_key(&row.sku) {
                return Err(invalid(EngineError::KitNotAllowed { sku: row.sku.clone(), operation: "" }));
            }
        }
        // ENGINE CHOICE (order only): which repeated row is named is not specified;
        // the test accepts any row of a repeated position.
        for (index, row) in rows.iter().enumerate() {
            if rows[..index].iter().any(|r| r.sku == row.sku && r.location == row.location) {
                return Err(EngineError::InvalidRow {
                    row: index as u64,
                    error: Box::new(EngineError::DuplicateLine {
                        index,
                        sku: row.sku.clone(),
                        location: row.location.clone(),
                    }),
                });
            }
        }
        let mut outcome = BulkLoaded::default();
        for (index, row) in rows.iter().enumerate() {
            let key = (row.sku.clone(), row.location.clone());
            let Some(current) = self.positions.get(&key) else {
                let mut fresh = Position::default();
                set_row(&mut fresh, row);
                fresh.version = 1;
                self.positions.insert(key, fresh);
                outcome.inserted += 1;
                continue;
            };
            let mut next = current.clone();
            set_row(&mut next, row);
            if next == *current {
                outcome.unchanged += 1;
            } else if !next.keeps_invariant() {
                outcome.rejected += 1;
                let error = EngineError::BelowReserved {
                    sku: row.sku.clone(),
                    location: row.location.clone(),
                    reserved: next.reserved as u32,
                    ceiling: next.ceiling(),
                };
                outcome.rejections.push((index as u64, error));
            } else {
                next.version += 1;
                self.positions.insert(key, next);
                outcome.updated += 1;
            }
        }
        Ok(Outcome::BulkLoad(outcome))
    }
}

fn first_outcome(reservation: &Reservation, replayed: bool) -> Reserved {
    Reserved {
        id: reservation.id.clone(),
        lines: reservation
            .lines
            .iter()
            .map(|l| ReservedLine {
                sku: l.sku.clone(),
                location: l.location.clone(),
                quantity: l.quantity,
                kind: l.kind,
            })
            .collect(),
        expires_at: reservation.first_expires_at,
        replayed,
        state: reservation.state,
    }
}

fn check_step(step: &PartialStep) -> Result<(), EngineError> {
    check_id(IdKind::Step, &step.step_id)?;
    if step.lines.is_empty() {
        return Err(EngineError::NoLines);
    }
    if step.lines.len() > MAX_EXPANDED_LINES {
        return Err(too_many("lines in a step", step.lines.len(), MAX_EXPANDED_LINES));
    }
    for line in &step.lines {
        check_id(IdKind::Sku, &line.sku)?;
        check_id(IdKind::Location, &line.location)?;
        check_quantity(line.quantity)?;
    }
    Ok(())
}

/// A step's lines as (index of the reservation line, units), each checked to fit.
fn step_amounts(reservation: &Reservation, step: &PartialStep) -> Result<Vec<(usize, i64)>, EngineError> {
    let mut amounts: Vec<(usize, i64)> = Vec::new();
    for (index, LineQuantity { sku, location, quantity }) in step.lines.iter().enumerate() {
        let Some(at) = reservation.lines.iter().position(|l| l.sku == *sku && l.location == *location) else {
            return Err(EngineError::UnknownLine {
                id: reservation.id.clone(),
                sku: sku.clone(),
                location: location.clone(),
            });
        };
        if amounts.iter().any(|(i, _)| *i == at) {
            return Err(EngineError::DuplicateLine { index, sku: sku.clone(), location: location.clone() });
        }
        let held = reservation.lines[at].held;
        if i64::from(*quantity) > held {
            return Err(EngineError::ExceedsLine {
                id: reservation.id.clone(),
                sku: sku.clone(),
                location: location.clone(),
                held: held as u32,
                requested: *quantity,
            });
        }
        amounts.push((at, i64::from(*quantity)));
    }
    Ok(amounts)
}

fn find_supply(p: &Position, sku: &str, location: &str, reference: &str) -> Result<usize, EngineError> {
    p.incoming.iter().position(|s| s.reference == reference).ok_or_else(|| EngineError::UnknownSupply {
        sku: sku.to_owned(),
        location: location.to_owned(),
        reference: reference.to_owned(),
    })
}

fn short(sku: &str, location: &str, bucket: &'static str, available: i64, requested: i64) -> EngineError {
    EngineError::InsufficientUnits {
        sku: sku.to_owned(),
        location: location.to_owned(),
        bucket,
        available: available as u32,
        requested: requested as u32,
    }
}

fn check_row(row: &PositionRow) -> Result<(), EngineError> {
    check_id(IdKind::Sku, &row.sku)?;
    check_id(IdKind::Location, &row.location)?;
    check_range("on_hand", i64::from(row.on_hand), 0, MAX)?;
    check_range("safety_stock", i64::from(row.safety_stock), 0, MAX)?;
    check_range("damaged", i64::from(row.damaged), 0, MAX)?;
    check_range("quality_control", i64::from(row.quality_control), 0, MAX)?;
    check_range("backorder_limit", i64::from(row.backorder_limit), 0, MAX)
}

/// A row sets every quantity but `reserved` and incoming.
fn set_row(p: &mut Position, row: &PositionRow) {
    p.on_hand = i64::from(row.on_hand);
    p.safety_stock = i64::from(row.safety_stock);
    p.damaged = i64::from(row.damaged);
    p.quality_control = i64::from(row.quality_control);
    p.backorder_limit = i64::from(row.backorder_limit);
}
