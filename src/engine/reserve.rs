//! `reserve`: all-or-nothing holds on stock, idempotent by reservation id.

use super::catalogue_ops::check_range;
use super::demand::DemandEvent;
use super::journal::{Cause, ReservationImage};
use super::reservations::{HeldLine, RequestedLine, Reservation, ReservationShard, ReservationState};
use super::stock_table::ShardGuards;
use super::{Engine, EngineError, Operation, ShortLine};
use crate::limits::{MAX_EXPANDED_LINES, MAX_LINES_PER_RESERVATION, MAX_QUANTITY, MAX_TTL_MS, MIN_TTL_MS};
use crate::model::HoldCheck;
use crate::model::{validate_id, Catalogue, HoldKind, IdKind, LocationId, SkuId, Timestamp};
use smallvec::SmallVec;
use std::sync::Arc;

/// Lines a request usually has at most: up to this many, the reserve path keeps its
/// working lists on the stack.
const INLINE_LINES: usize = 4;

/// Expanded lines, one per (component SKU, location), with their units.
type ComponentLines = SmallVec<[(SkuId, LocationId, u32); INLINE_LINES]>;

/// One line of a reservation request, as a client names it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ReserveLine {
    pub sku: String,
    pub location: String,
    pub quantity: u32,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ReserveRequest {
    /// The client's id for the cart or order; retries reuse it.
    pub id: String,
    pub lines: Vec<ReserveLine>,
    pub ttl_ms: u64,
    /// Accept lines against incoming supply expected by this date (pre-orders).
    pub promise_by: Option<Timestamp>,
}

/// One held line of a reservation: a (component) SKU at a location.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ReservedLine {
    pub sku: SkuId,
    pub location: LocationId,
    pub quantity: u32,
    pub kind: HoldKind,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ReserveOutcome {
    pub id: Arc<str>,
    /// Kits expanded into their components; one line per (SKU, location).
    pub lines: Vec<ReservedLine>,
    pub expires_at: Timestamp,
    /// True when this answers a retry: nothing was reserved by this call.
    pub replayed: bool,
    /// The reservation's state now (a replay may find it committed or expired).
    pub state: ReservationState,
}

impl ReserveOutcome {
    pub(super) fn first(reservation: &Reservation, replayed: bool) -> ReserveOutcome {
        ReserveOutcome {
            id: reservation.id.clone(),
            lines: reservation
                .lines
                .iter()
                .map(|l| ReservedLine { sku: l.sku, location: l.location, quantity: l.quantity, kind: l.kind })
                .collect(),
            expires_at: reservation.first_expires_at,
            replayed,
            state: reservation.state,
        }
    }
}

/// Who holds, for how long, and against which supply: what a hold needs besides
/// its lines.
pub(super) struct HoldSpec<'a> {
    pub id: &'a str,
    pub ttl_ms: u64,
    pub promise_by: Option<Timestamp>,
    /// The channel of a sourced reserve, for the per-channel demand counters.
    pub channel: Option<&'a Arc<str>>,
}

/// The request with names resolved and kits expanded.
struct ResolvedRequest {
    requested: Vec<RequestedLine>,
    /// One per (sku, location), in order of first appearance.
    component_lines: ComponentLines,
    /// Lines whose SKU no write has ever named: nothing to hold there.
    unknown: Vec<ShortLine>,
    promise_by: Option<Timestamp>,
}

impl Engine {
    /// Holds every line or none. A retry with the same id and lines returns the
    /// first outcome; the same id with other lines is a `Conflict`.
    pub fn reserve(&self, request: &ReserveRequest, now: Timestamp) -> Result<ReserveOutcome, EngineError> {
        self.logged(|| Operation::Reserve(request.clone()), |op| self.reserve_as(request, now, op))
    }

    pub(super) fn reserve_as(
        &self,
        request: &ReserveRequest,
        now: Timestamp,
        operation: Option<&Operation>,
    ) -> Result<ReserveOutcome, EngineError> {
        validate_request(request)?;
        let catalogue = self.catalogue.load();
        let resolved = self.resolve_request(&catalogue, request)?;
        let mut shard = self.reservations.lock_for(&request.id);
        if let Some(existing) = shard.by_id.get(request.id.as_str()) {
            if !resolved.unknown.is_empty() || !same_request(existing, &resolved.requested, request.promise_by) {
                return Err(EngineError::Conflict(request.id.clone()));
            }
            self.expire_retried_if_due(&mut shard, &request.id, now);
            let existing = &shard.by_id[request.id.as_str()];
            return Ok(ReserveOutcome::first(existing, true));
        }
        // Capacity before stock (docs/ENGINE.md, Reserve 4 then 5), unknown SKUs included.
        if !self.reservations.try_count_new(self.config.max_reservations) {
            return Err(EngineError::ReservationCapacity { limit: self.config.max_reservations });
        }
        if !resolved.unknown.is_empty() {
            self.reservations.count_forgotten();
            let error = EngineError::InsufficientStock(self.all_short_lines(&catalogue, &resolved));
            self.count_refused(&error);
            return Err(error);
        }
        let reservation = match self.hold_lines(&catalogue, resolved, request, now, operation) {
            Ok(reservation) => reservation,
            Err(error) => {
                self.reservations.count_forgotten();
                self.count_refused(&error);
                return Err(error);
            }
        };
        let stored = shard.by_id.insert_new(reservation);
        let outcome = ReserveOutcome::first(stored, false);
        let deadline = (stored.first_expires_at, stored.id.clone());
        shard.schedule(deadline.0, deadline.1);
        Ok(outcome)
    }

    /// A retry found its reservation: if its TTL has passed, it expires now (because
    /// time passed, not because of the call), so that the answer shows its state.
    pub(super) fn expire_retried_if_due(&self, shard: &mut ReservationShard, id: &str, now: Timestamp) {
        let Some(existing) = shard.by_id.get_mut(id) else { return };
        if existing.is_past_ttl(now) {
            self.expire_reservation(existing, now);
            let forget_at = existing.forget_at.expect("expiry sets forget_at");
            let id = existing.id.clone();
            shard.schedule(forget_at, id);
        }
    }

    fn resolve_request(&self, catalogue: &Catalogue, request: &ReserveRequest) -> Result<ResolvedRequest, EngineError> {
        let mut requested = Vec::with_capacity(request.lines.len());
        let mut component_lines = ComponentLines::new();
        let mut unknown = Vec::new();
        for (index, line) in request.lines.iter().enumerate() {
            // The name was validated with the request.
            let location = catalogue
                .location_id(&line.location)
                .ok_or_else(|| EngineError::UnknownLocation(line.location.clone()))?;
            let Some(sku) = self.skus.get(&line.sku) else {
                unknown.push(ShortLine {
                    sku: line.sku.clone(),
                    location: line.location.clone(),
                    requested: line.quantity,
                    available: 0,
                });
                continue;
            };
            if requested.iter().any(|r: &RequestedLine| r.sku == sku && r.location == location) {
                return Err(EngineError::DuplicateLine {
                    index,
                    sku: line.sku.clone(),
                    location: line.location.clone(),
                });
            }
            requested.push(RequestedLine { sku, location, quantity: line.quantity });
            match catalogue.kit(sku) {
                None => add_component(&mut component_lines, sku, location, i64::from(line.quantity))?,
                Some(kit) => {
                    for component in &kit.components {
                        let units = i64::from(line.quantity) * i64::from(component.quantity);
                        add_component(&mut component_lines, component.sku, location, units)?;
                    }
                }
            }
        }
        if component_lines.len() > MAX_EXPANDED_LINES {
            return Err(EngineError::TooMany {
                what: "lines after kit expansion",
                count: component_lines.len(),
                limit: MAX_EXPANDED_LINES,
            });
        }
        Ok(ResolvedRequest { requested, component_lines, unknown, promise_by: request.promise_by })
    }

    /// Takes the write locks of all shards involved and holds every line or none
    /// (see [`Engine::hold_locked`]).
    #[inline]
    fn hold_lines(
        &self,
        catalogue: &Catalogue,
        resolved: ResolvedRequest,
        request: &ReserveRequest,
        now: Timestamp,
        operation: Option<&Operation>,
    ) -> Result<Reservation, EngineError> {
        let lines = &resolved.component_lines;
        let mut guards = self.stock.write_many(lines.iter().map(|(sku, _, _)| *sku));
        let spec = HoldSpec { id: &request.id, ttl_ms: request.ttl_ms, promise_by: resolved.promise_by, channel: None };
        self.hold_locked(&mut guards, catalogue, resolved.requested, lines, &spec, now, operation)
    }

    /// Checks every line under write locks the caller already holds (every shard of
    /// `lines`), then holds all of them and records the new reservation before the
    /// locks go, or holds none and names every short line. The one place a
    /// reservation's stock is taken: plain and sourced reserves both come here.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn hold_locked(
        &self,
        guards: &mut ShardGuards<'_>,
        catalogue: &Catalogue,
        requested: Vec<RequestedLine>,
        lines: &[(SkuId, LocationId, u32)],
        spec: &HoldSpec<'_>,
        now: Timestamp,
        operation: Option<&Operation>,
    ) -> Result<Reservation, EngineError> {
        // The held lines are built as the lines are checked (a refused hold drops them).
        let mut held = Vec::with_capacity(lines.len());
        let mut short = Vec::new();
        for &(sku, location, quantity) in lines {
            let shard = guards.shard(self.stock.shard_of(sku));
            let check = match shard.get(sku, location) {
                Some(position) => position.check_hold(quantity, spec.promise_by),
                None => HoldCheck::Short { available: 0 },
            };
            match check {
                HoldCheck::Fits(kind) => held.push(HeldLine {
                    sku,
                    location,
                    kind,
                    quantity,
                    held: quantity,
                    fulfilled: 0,
                    released: 0,
                    returned: 0,
                }),
                HoldCheck::Short { available } => short.push((sku, location, quantity, available)),
            }
        }
        if !short.is_empty() {
            let lines = short
                .into_iter()
                .map(|(sku, location, requested, available)| ShortLine {
                    sku: self.skus.name(sku).to_string(),
                    location: location_label(catalogue, location),
                    requested,
                    available,
                })
                .collect();
            return Err(EngineError::InsufficientStock(lines));
        }
        for line in &held {
            let shard = guards.shard(self.stock.shard_of(line.sku));
            let position = shard.get_mut(line.sku, line.location).expect("checked above");
            position.reserved += line.quantity;
            position.version += 1;
            debug_assert!(position.is_consistent());
        }
        let expires_at = now.saturating_add_ms(spec.ttl_ms);
        let reservation = Reservation {
            id: Arc::from(spec.id),
            state: ReservationState::Held,
            created_at: now,
            expires_at: Some(expires_at),
            first_expires_at: expires_at,
            promise_by: spec.promise_by,
            requested,
            lines: held,
            forget_at: None,
            applied_steps: Vec::new(),
        };
        if let Some(operation) = operation {
            let images =
                || guards.images(self.stock.shard_bits(), reservation.lines.iter().map(|l| (l.sku, l.location)));
            self.record_change(now, Cause::Operation(operation), images, Some(ReservationImage::Present(&reservation)));
        }
        let backorders = reservation.lines.iter().filter(|l| l.kind == HoldKind::Backorder);
        // Nothing to count (the usual case) is skipped without a call.
        if backorders.clone().next().is_some() {
            self.demand.count_lines(
                backorders.map(|l| (l.sku, u64::from(l.quantity))),
                spec.channel,
                DemandEvent::Backorder,
            );
        }
        Ok(reservation)
    }

    /// Counts a reserve refused for lack of stock as lost demand: the quantity asked
    /// of each short line whose SKU is interned.
    fn count_refused(&self, error: &EngineError) {
        if let EngineError::InsufficientStock(lines) = error {
            let known = lines.iter().filter_map(|l| Some((self.skus.get(&l.sku)?, u64::from(l.requested))));
            self.demand.count_lines(known, None, DemandEvent::Refused);
        }
    }

    /// Every line that is short, for a reserve that names an unknown SKU: the unknown
    /// ones and, so that the client learns everything in one reply, the known ones too.
    fn all_short_lines(&self, catalogue: &Catalogue, resolved: &ResolvedRequest) -> Vec<ShortLine> {
        let mut lines = resolved.unknown.clone();
        if let Err(EngineError::InsufficientStock(known)) = self.check_lines(catalogue, resolved) {
            lines.extend(known);
        }
        lines
    }

    /// Checks lines without holding anything.
    fn check_lines(&self, catalogue: &Catalogue, resolved: &ResolvedRequest) -> Result<(), EngineError> {
        let mut short = Vec::new();
        for &(sku, location, quantity) in &resolved.component_lines {
            let shard = self.stock.read(sku);
            let check = match shard.get(sku, location) {
                Some(position) => position.check_hold(quantity, resolved.promise_by),
                None => HoldCheck::Short { available: 0 },
            };
            if let HoldCheck::Short { available } = check {
                short.push(ShortLine {
                    sku: self.skus.name(sku).to_string(),
                    location: location_label(catalogue, location),
                    requested: quantity,
                    available,
                });
            }
        }
        if short.is_empty() {
            Ok(())
        } else {
            Err(EngineError::InsufficientStock(short))
        }
    }
}

fn validate_request(request: &ReserveRequest) -> Result<(), EngineError> {
    validate_reservation_shape(&request.id, request.lines.len(), request.ttl_ms)?;
    for (index, line) in request.lines.iter().enumerate() {
        validate_id(IdKind::Sku, &line.sku)?;
        validate_id(IdKind::Location, &line.location)?;
        check_range("quantity", i64::from(line.quantity), 1, i64::from(MAX_QUANTITY))?;
        if request.lines[..index].iter().any(|l| l.sku == line.sku && l.location == line.location) {
            return Err(EngineError::DuplicateLine { index, sku: line.sku.clone(), location: line.location.clone() });
        }
    }
    Ok(())
}

/// The checks every reservation request shares (plain and sourced): a valid id, 1 to
/// `MAX_LINES_PER_RESERVATION` lines, a TTL within bounds.
pub(super) fn validate_reservation_shape(id: &str, lines: usize, ttl_ms: u64) -> Result<(), EngineError> {
    validate_id(IdKind::Reservation, id)?;
    if lines == 0 {
        return Err(EngineError::NoLines);
    }
    if lines > MAX_LINES_PER_RESERVATION {
        return Err(EngineError::TooMany {
            what: "lines in a reservation",
            count: lines,
            limit: MAX_LINES_PER_RESERVATION,
        });
    }
    check_range("ttl_ms", clamp_i64(ttl_ms), MIN_TTL_MS as i64, MAX_TTL_MS as i64)
}

/// Whether a retry asks for the same thing as the reservation it found: the same
/// lines, in any order, and the same promise date.
fn same_request(existing: &Reservation, requested: &[RequestedLine], promise_by: Option<Timestamp>) -> bool {
    let key = |l: &RequestedLine| (l.sku, l.location, l.quantity);
    let mut before: Vec<_> = existing.requested.iter().map(key).collect();
    let mut now: Vec<_> = requested.iter().map(key).collect();
    before.sort_unstable();
    now.sort_unstable();
    before == now && existing.promise_by == promise_by
}

/// Adds units of a component SKU to the expanded lines (a `Vec`, or the inline list
/// of a plain reserve), merging a repeat.
pub(super) fn add_component<L>(lines: &mut L, sku: SkuId, location: LocationId, units: i64) -> Result<(), EngineError>
where
    L: AsMut<[(SkuId, LocationId, u32)]> + Extend<(SkuId, LocationId, u32)>,
{
    if let Some(new_line) = merge_component(lines.as_mut(), sku, location, units)? {
        lines.extend([new_line]);
    }
    Ok(())
}

/// Adds `units` to the line of (`sku`, `location`) if there is one, or returns the
/// new line to append; either way checks the line's total.
fn merge_component(
    lines: &mut [(SkuId, LocationId, u32)],
    sku: SkuId,
    location: LocationId,
    units: i64,
) -> Result<Option<(SkuId, LocationId, u32)>, EngineError> {
    let merged = match lines.iter_mut().find(|(s, l, _)| *s == sku && *l == location) {
        Some(line) => {
            let total = i64::from(line.2) + units;
            check_range("quantity after kit expansion", total, 1, i64::from(MAX_QUANTITY))?;
            line.2 = total as u32;
            return Ok(None);
        }
        None => units,
    };
    check_range("quantity after kit expansion", merged, 1, i64::from(MAX_QUANTITY))?;
    Ok(Some((sku, location, merged as u32)))
}

/// A location's client name, for error messages.
pub(super) fn location_label(catalogue: &Catalogue, location: LocationId) -> String {
    catalogue.location(location).map_or_else(|| format!("#{}", location.0), |l| l.name.to_string())
}

pub(super) fn clamp_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}
