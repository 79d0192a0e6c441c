//! `reserve_sourced`: choose locations by a profile and hold there, all or nothing.
//!
//! Order of work: validate; resolve the channel, profile and lines; take the
//! reservation shard (idempotency, as `reserve`); filter the eligible locations;
//! take the write locks of every component SKU's stock shard; compute capacities
//! and search under those locks (fewest locations first: the best-ranked location
//! that has every line, reading stock only for the candidates looked at, before
//! the full capacity table and search); hold through [`Engine::hold_locked`], the same
//! code a plain reserve uses, which also records the change in the journal.

use super::allocate::{Piece, Problem, Search};
use super::geo::{distance_m, is_on_earth};
use super::rank::{eligible_locations, Eligible, Ranked, RANKED_PREFIX};
use super::{AllocatedLine, Destination, SourcedOutcome, SourcedReserveRequest, SourcingProfile};
use crate::engine::catalogue_ops::check_range;
use crate::engine::demand::DemandEvent;
use crate::engine::reservations::{RequestedLine, Reservation};
use crate::engine::reserve::{add_component, validate_reservation_shape, HoldSpec, ReserveOutcome};
use crate::engine::stock_table::ShardGuards;
use crate::engine::{Engine, EngineError, Operation, SourcingShortLine, UnsourceableReason};
use crate::limits::{MAX_EXPANDED_LINES, MAX_QUANTITY, MAX_SOURCING_SEARCH_NODES};
use crate::model::{validate_id, Catalogue, Channel, HoldKind, IdKind, LocationId, Position, SkuId, Timestamp};

/// One request line with its SKU resolved: `None` if no write ever named it.
pub(super) struct ResolvedLine {
    pub(super) sku: Option<SkuId>,
    /// (component pool, units per line unit); a plain SKU is its own single pool.
    pub(super) components: Vec<(usize, u32)>,
}

/// The request's lines over distinct component pools.
pub(super) struct ResolvedOrder {
    pub(super) lines: Vec<ResolvedLine>,
    /// Component SKUs, each once.
    pub(super) pools: Vec<SkuId>,
    /// Units wanted per line.
    pub(super) demands: Vec<u32>,
}

/// Which capacity a search may use (docs/ENGINE.md, Sourcing: phases).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    InStock,
    Fallback,
}

impl Engine {
    /// Chooses locations for `request` by its profile and holds every line there, all
    /// or nothing. Idempotent by reservation id like [`Engine::reserve`]; a retry
    /// must name the same SKUs and quantities (in any order).
    pub fn reserve_sourced(
        &self,
        request: &SourcedReserveRequest,
        now: Timestamp,
    ) -> Result<SourcedOutcome, EngineError> {
        self.logged(|| Operation::ReserveSourced(request.clone()), |op| self.reserve_sourced_as(request, now, op))
    }

    pub(in crate::engine) fn reserve_sourced_as(
        &self,
        request: &SourcedReserveRequest,
        now: Timestamp,
        operation: Option<&Operation>,
    ) -> Result<SourcedOutcome, EngineError> {
        validate_sourced(request)?;
        let catalogue = self.catalogue.load();
        let channel = catalogue
            .channel(&request.channel)
            .ok_or_else(|| EngineError::UnknownChannel(request.channel.clone()))?
            .clone();
        let profile = self
            .sourcing_profiles
            .load()
            .get(&request.profile)
            .ok_or_else(|| EngineError::UnknownProfile(request.profile.clone()))?
            .clone();
        let order = self.resolve_order(&catalogue, request)?;
        let mut shard = self.reservations.lock_for(&request.id);
        if let Some(existing) = shard.by_id.get(request.id.as_str()) {
            if !same_order(existing, &order) {
                return Err(EngineError::Conflict(request.id.clone()));
            }
            self.expire_retried_if_due(&mut shard, &request.id, now);
            let existing = &shard.by_id[request.id.as_str()];
            return Ok(self.replayed_outcome(&catalogue, existing, &order, request));
        }
        let eligible = eligible_locations(&catalogue, &channel, &profile, &request.destination)?;
        if !self.reservations.try_count_new(self.config.max_reservations) {
            return Err(EngineError::ReservationCapacity { limit: self.config.max_reservations });
        }
        let sourced = if eligible.is_empty() {
            Err(no_eligible_location(request))
        } else {
            self.source_and_hold(&catalogue, &channel, &profile, &order, &eligible, request, now, operation)
        };
        match sourced {
            Ok((reservation, outcome)) => {
                shard.schedule(reservation.first_expires_at, reservation.id.clone());
                shard.by_id.insert(reservation.id.clone(), reservation);
                Ok(outcome)
            }
            Err(error) => {
                self.reservations.count_forgotten();
                if let EngineError::Unsourceable { lines, .. } = &error {
                    let known = lines.iter().filter_map(|l| Some((self.skus.get(&l.sku)?, u64::from(l.requested))));
                    self.demand.count_lines(known, Some(&channel.name), DemandEvent::Refused);
                }
                Err(error)
            }
        }
    }

    /// Resolves line SKUs (without interning: an unknown SKU has no stock) and kits.
    fn resolve_order(
        &self,
        catalogue: &Catalogue,
        request: &SourcedReserveRequest,
    ) -> Result<ResolvedOrder, EngineError> {
        let mut pools: Vec<SkuId> = Vec::new();
        let mut lines = Vec::with_capacity(request.lines.len());
        let mut pool_of = |sku: SkuId| match pools.iter().position(|p| *p == sku) {
            Some(pool) => pool,
            None => {
                pools.push(sku);
                pools.len() - 1
            }
        };
        for line in &request.lines {
            let sku = self.skus.get(&line.sku);
            let components = match sku {
                None => Vec::new(),
                Some(sku) => match catalogue.kit(sku) {
                    None => vec![(pool_of(sku), 1)],
                    Some(kit) => {
                        let mut parts = Vec::with_capacity(kit.components.len());
                        for component in &kit.components {
                            let units = i64::from(line.quantity) * i64::from(component.quantity);
                            check_range("quantity after kit expansion", units, 1, i64::from(MAX_QUANTITY))?;
                            parts.push((pool_of(component.sku), component.quantity));
                        }
                        parts
                    }
                },
            };
            lines.push(ResolvedLine { sku, components });
        }
        let demands = request.lines.iter().map(|l| l.quantity).collect();
        Ok(ResolvedOrder { lines, pools, demands })
    }

    /// Under the stock locks: search in stock, then (if the profile allows) with the
    /// fallbacks, and hold the first allocation found.
    #[allow(clippy::too_many_arguments)]
    fn source_and_hold(
        &self,
        catalogue: &Catalogue,
        channel: &Channel,
        profile: &SourcingProfile,
        order: &ResolvedOrder,
        eligible: &[Eligible],
        request: &SourcedReserveRequest,
        now: Timestamp,
        operation: Option<&Operation>,
    ) -> Result<(Reservation, SourcedOutcome), EngineError> {
        let mut guards = self.stock.write_many(order.pools.iter().copied());
        let promise_by = if profile.allow_preorder { request.promise_by } else { None };
        let mut phases = vec![Phase::InStock];
        if profile.allow_backorder || promise_by.is_some() {
            phases.push(Phase::Fallback);
        }
        let mut refusal = None;
        let components: Vec<Vec<(usize, u32)>> = order.lines.iter().map(|l| l.components.clone()).collect();
        for phase in phases {
            let room = |position: &Position| phase_room(position, phase, profile, promise_by);
            let spec = HoldSpec { id: &request.id, ttl_ms: request.ttl_ms, promise_by, channel: Some(&channel.name) };
            // Fewest locations first: one location that has everything is usually
            // among the nearest few, found without reading every candidate's stock.
            if profile.minimise_locations {
                let single =
                    self.single_covering(&mut guards, catalogue, profile, order, &components, eligible, request, &room);
                if let Some((ranked, pieces)) = single {
                    return self.hold_allocation(
                        &mut guards,
                        catalogue,
                        order,
                        &ranked,
                        &pieces,
                        true,
                        &spec,
                        now,
                        operation,
                    );
                }
            }
            let mut prefix = RANKED_PREFIX;
            let (ranked, problem_search) = loop {
                let ranked =
                    self.rank_candidates(&mut guards, catalogue, profile, order, eligible, request, &room, prefix);
                match search_problem(order, &components, &ranked, profile).solve() {
                    Search::Unordered => prefix = usize::MAX,
                    search => break (ranked, search),
                }
            };
            let problem = search_problem(order, &components, &ranked, profile);
            let search = problem_search;
            let exhaustive = match &search {
                Search::Found { exact, .. } => *exact,
                Search::NotFound { exhaustive } => *exhaustive,
                Search::Unordered => unreachable!("solved again with every candidate ordered"),
            };
            if !exhaustive {
                self.demand.count_inexact();
            }
            match search {
                Search::Found { pieces, exact } => {
                    return self.hold_allocation(
                        &mut guards,
                        catalogue,
                        order,
                        &ranked,
                        &pieces,
                        exact,
                        &spec,
                        now,
                        operation,
                    );
                }
                Search::NotFound { .. } => refusal = Some(self.unsourceable(&problem, request)),
                Search::Unordered => unreachable!("handled above"),
            }
        }
        Err(refusal.expect("at least the in-stock phase ran"))
    }

    /// Holds the allocation's component lines (the shared hold path) and builds the outcome.
    #[allow(clippy::too_many_arguments)]
    fn hold_allocation(
        &self,
        guards: &mut ShardGuards<'_>,
        catalogue: &Catalogue,
        order: &ResolvedOrder,
        ranked: &Ranked,
        pieces: &[Piece],
        exact: bool,
        spec: &HoldSpec<'_>,
        now: Timestamp,
        operation: Option<&Operation>,
    ) -> Result<(Reservation, SourcedOutcome), EngineError> {
        let mut component_lines: Vec<(SkuId, LocationId, u32)> = Vec::new();
        let mut requested = Vec::with_capacity(pieces.len());
        for piece in pieces {
            let location = ranked.locations[piece.candidate];
            let line = &order.lines[piece.line];
            let sku = line.sku.expect("a line with capacity names a known SKU");
            requested.push(RequestedLine { sku, location, quantity: piece.quantity });
            for &(pool, per_unit) in &line.components {
                let units = i64::from(piece.quantity) * i64::from(per_unit);
                add_component(&mut component_lines, order.pools[pool], location, units)?;
            }
        }
        if component_lines.len() > MAX_EXPANDED_LINES {
            return Err(EngineError::TooMany {
                what: "lines after kit expansion",
                count: component_lines.len(),
                limit: MAX_EXPANDED_LINES,
            });
        }
        let reservation = self.hold_locked(guards, catalogue, requested, &component_lines, spec, now, operation)?;
        let allocation = pieces
            .iter()
            .map(|piece| {
                let location = ranked.locations[piece.candidate];
                AllocatedLine {
                    line: u16::try_from(piece.line).expect("MAX_LINES_PER_RESERVATION fits in u16"),
                    sku: order.lines[piece.line].sku.expect("checked above"),
                    location,
                    quantity: piece.quantity,
                    kind: line_kind(&reservation, order, piece.line, location),
                    distance_m: ranked.distances[piece.candidate],
                }
            })
            .collect();
        let outcome = sourced_outcome(&reservation, allocation, exact, false);
        Ok((reservation, outcome))
    }

    /// The refusal of a search that found nothing: why, and each line's numbers.
    fn unsourceable(&self, problem: &Problem<'_>, request: &SourcedReserveRequest) -> EngineError {
        let mut lines: Vec<(SourcingShortLine, bool)> = Vec::with_capacity(request.lines.len());
        for (index, line) in request.lines.iter().enumerate() {
            let rooms = (0..problem.candidates).map(|c| problem.static_room(c, index));
            let (total, best) = rooms.fold((0u64, 0u64), |(total, best), room| (total + room, best.max(room)));
            let short = SourcingShortLine {
                sku: line.sku.clone(),
                requested: line.quantity,
                available_in_channel: total,
                best_single_location: u32::try_from(best).unwrap_or(u32::MAX),
            };
            lines.push((short, total < u64::from(line.quantity)));
        }
        let reason = if problem.all_candidates_cover() {
            UnsourceableReason::TooManySplits
        } else {
            UnsourceableReason::InsufficientStock
        };
        // Name the lines that are the problem: short in total, or (too many splits)
        // beyond any one location.
        let named = |(line, short): &(SourcingShortLine, bool)| match reason {
            UnsourceableReason::TooManySplits => line.best_single_location < line.requested,
            _ => *short,
        };
        let chosen: Vec<SourcingShortLine> = lines.iter().filter(|l| named(l)).map(|(l, _)| l.clone()).collect();
        let lines = if chosen.is_empty() { lines.into_iter().map(|(l, _)| l).collect() } else { chosen };
        EngineError::Unsourceable { reason, lines }
    }

    /// The first outcome again, for a retry: the allocation rebuilt from the
    /// reservation's requested lines (kept in line order, then rank order).
    fn replayed_outcome(
        &self,
        catalogue: &Catalogue,
        existing: &Reservation,
        order: &ResolvedOrder,
        request: &SourcedReserveRequest,
    ) -> SourcedOutcome {
        let point = match &request.destination {
            Destination::Delivery { point } => Some(*point),
            Destination::Pickup { .. } => None,
        };
        let allocation = existing
            .requested
            .iter()
            .map(|r| {
                let line = order.lines.iter().position(|l| l.sku == Some(r.sku)).expect("same_order checked the SKUs");
                let coordinates = catalogue.location(r.location).map(|l| l.coordinates);
                AllocatedLine {
                    line: u16::try_from(line).expect("MAX_LINES_PER_RESERVATION fits in u16"),
                    sku: r.sku,
                    location: r.location,
                    quantity: r.quantity,
                    kind: line_kind(existing, order, line, r.location),
                    distance_m: point.zip(coordinates).map(|(a, b)| distance_m(a, b)),
                }
            })
            .collect();
        sourced_outcome(existing, allocation, true, true)
    }
}

fn no_eligible_location(request: &SourcedReserveRequest) -> EngineError {
    let lines = request
        .lines
        .iter()
        .map(|l| SourcingShortLine {
            sku: l.sku.clone(),
            requested: l.quantity,
            available_in_channel: 0,
            best_single_location: 0,
        })
        .collect();
    EngineError::Unsourceable { reason: UnsourceableReason::NoEligibleLocation, lines }
}

fn sourced_outcome(
    reservation: &Reservation,
    allocation: Vec<AllocatedLine>,
    exact: bool,
    replayed: bool,
) -> SourcedOutcome {
    let mut locations: Vec<LocationId> = allocation.iter().map(|a: &AllocatedLine| a.location).collect();
    locations.sort_unstable();
    locations.dedup();
    SourcedOutcome {
        reservation: ReserveOutcome::first(reservation, replayed),
        allocation,
        locations_used: u8::try_from(locations.len()).unwrap_or(u8::MAX),
        exact,
    }
}

/// How a line's units at a location are covered: the least certain kind among its
/// components' held lines there.
fn line_kind(reservation: &Reservation, order: &ResolvedOrder, line: usize, location: LocationId) -> HoldKind {
    let certainty = |kind: HoldKind| match kind {
        HoldKind::InStock => 0,
        HoldKind::PreOrder => 1,
        HoldKind::Backorder => 2,
    };
    order.lines[line]
        .components
        .iter()
        .filter_map(|&(pool, _)| {
            let sku = order.pools[pool];
            reservation.lines.iter().find(|l| l.sku == sku && l.location == location).map(|l| l.kind)
        })
        .max_by_key(|kind| certainty(*kind))
        .unwrap_or(HoldKind::InStock)
}

/// Units a position may give a sourced line in a phase: in stock only (ATS), or as
/// `Position::check_hold` would allow with the profile's fallbacks.
fn phase_room(position: &Position, phase: Phase, profile: &SourcingProfile, promise_by: Option<Timestamp>) -> u64 {
    let in_stock = position.in_stock_room();
    let room = match phase {
        Phase::InStock => in_stock,
        Phase::Fallback => {
            let with_supply = in_stock + promise_by.map_or(0, |by| position.incoming_by(by));
            if profile.allow_backorder && position.backorder_limit > 0 {
                with_supply + i64::from(position.backorder_limit)
            } else {
                with_supply
            }
        }
    };
    u64::try_from(room.max(0)).expect("non-negative")
}

/// Whether a retry names the same SKUs and quantities as the reservation found:
/// the reservation's requested lines summed per SKU, compared in any order.
fn same_order(existing: &Reservation, order: &ResolvedOrder) -> bool {
    let mut before: Vec<(SkuId, u64)> = Vec::new();
    for line in &existing.requested {
        match before.iter_mut().find(|(sku, _)| *sku == line.sku) {
            Some(entry) => entry.1 += u64::from(line.quantity),
            None => before.push((line.sku, u64::from(line.quantity))),
        }
    }
    let mut now = Vec::with_capacity(order.lines.len());
    for (line, &quantity) in order.lines.iter().zip(&order.demands) {
        let Some(sku) = line.sku else { return false };
        now.push((sku, u64::from(quantity)));
    }
    before.sort_unstable();
    now.sort_unstable();
    before == now
}

/// The allocation search of an order over its ranked candidates.
fn search_problem<'p>(
    order: &'p ResolvedOrder,
    components: &'p [Vec<(usize, u32)>],
    ranked: &'p Ranked,
    profile: &SourcingProfile,
) -> Problem<'p> {
    Problem {
        demands: &order.demands,
        components,
        capacity: &ranked.capacity,
        rooms: &ranked.rooms,
        pools: order.pools.len(),
        candidates: ranked.locations.len(),
        ordered: ranked.ordered,
        max_locations: usize::from(profile.max_locations),
        minimise_locations: profile.minimise_locations,
        node_budget: MAX_SOURCING_SEARCH_NODES,
    }
}

fn validate_sourced(request: &SourcedReserveRequest) -> Result<(), EngineError> {
    validate_reservation_shape(&request.id, request.lines.len(), request.ttl_ms)?;
    validate_id(IdKind::Channel, &request.channel)?;
    for (index, line) in request.lines.iter().enumerate() {
        validate_id(IdKind::Sku, &line.sku)?;
        check_range("quantity", i64::from(line.quantity), 1, i64::from(MAX_QUANTITY))?;
        if request.lines[..index].iter().any(|l| l.sku == line.sku) {
            return Err(EngineError::DuplicateLine { index, sku: line.sku.clone(), location: String::new() });
        }
    }
    match &request.destination {
        Destination::Delivery { point } if !is_on_earth(*point) => {
            Err(EngineError::InvalidCoordinates(format!("({}, {})", point.latitude, point.longitude)))
        }
        Destination::Delivery { .. } => Ok(()),
        Destination::Pickup { store } => validate_id(IdKind::Location, store),
    }
}
