//! Candidates and their order: which locations may serve an order, their capacities
//! under the stock locks, and the profile's rank order (only as far as a search
//! needs it).

use super::allocate::{whole_units, Piece, Problem, Search};
use super::geo::{chord_squared, distance_between, distance_m, unit_vector};
use super::reserve::ResolvedOrder;
use super::{Destination, RankKey, SourcedReserveRequest, SourcingProfile};
use crate::engine::stock_table::ShardGuards;
use crate::engine::{Engine, EngineError};
use crate::limits::MAX_SOURCING_SEARCH_NODES;
use crate::model::{Catalogue, Channel, LocationId, Position};

/// Candidates put in rank order before a search; more only if the search reaches them.
pub(super) const RANKED_PREFIX: usize = 64;

/// A location that passes the profile's filters, before stock is looked at.
#[derive(Clone, Copy)]
pub(super) struct Eligible {
    pub(super) location: LocationId,
    /// Known up front only when the profile bounds the distance.
    pub(super) distance_m: Option<u32>,
}

/// The inputs of one search: eligible locations with some capacity, the first
/// `ordered` in rank order and before all the others.
pub(super) struct Ranked {
    pub(super) ordered: usize,
    pub(super) locations: Vec<LocationId>,
    pub(super) distances: Vec<Option<u32>>,
    pub(super) capacity: Vec<u64>,
    /// Per candidate and line, its capacity for the line (`Problem::rooms`).
    pub(super) rooms: Vec<u64>,
}

impl Engine {
    /// The eligible locations with capacity for some line, in the profile's rank
    /// order, and their capacities per pool.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn rank_candidates(
        &self,
        guards: &mut ShardGuards<'_>,
        catalogue: &Catalogue,
        profile: &SourcingProfile,
        order: &ResolvedOrder,
        eligible: &[Eligible],
        request: &SourcedReserveRequest,
        room: &impl Fn(&Position) -> u64,
        prefix: usize,
    ) -> Ranked {
        let pools = order.pools.len();
        let mut capacity = vec![0u64; eligible.len() * pools];
        for (pool, &sku) in order.pools.iter().enumerate() {
            let shard = guards.shard(self.stock.shard_of(sku));
            let positions = shard.positions(sku);
            let locations = positions.locations();
            // Both lists are sorted by location id: a galloping merge, which costs
            // O(candidates x log(positions / candidates)) whichever list is longer.
            let mut from = 0;
            let mut rows = positions.iter();
            for (at, candidate) in eligible.iter().enumerate() {
                // The common case first: the next position is this candidate's, or
                // past it (both lists hold mostly the same locations).
                match locations.get(from) {
                    None => break,
                    Some(location) if *location == candidate.location => {
                        let (_, position) = rows.nth(0).expect("rows follow locations");
                        capacity[at * pools + pool] = room(position);
                        from += 1;
                        continue;
                    }
                    Some(location) if *location > candidate.location => continue,
                    Some(_) => {}
                }
                let rest = &locations[from..];
                let mut bound = 1;
                while bound < rest.len() && rest[bound] < candidate.location {
                    bound *= 2;
                }
                let skip = rest[..(bound + 1).min(rest.len())].partition_point(|l| *l < candidate.location);
                if skip > 0 {
                    rows.nth(skip - 1);
                }
                from += skip;
                if from == locations.len() {
                    break;
                }
                if locations[from] == candidate.location {
                    let (_, position) = rows.nth(0).expect("rows follow locations");
                    capacity[at * pools + pool] = room(position);
                    from += 1;
                }
            }
        }
        let lines = order.lines.len();
        let mut line_rooms = vec![0u64; eligible.len() * lines];
        for at in 0..eligible.len() {
            let pools = &capacity[at * order.pools.len()..(at + 1) * order.pools.len()];
            for (line, resolved) in order.lines.iter().enumerate() {
                let room = resolved.components.iter().map(|&(pool, per_unit)| whole_units(pools[pool], per_unit));
                line_rooms[at * lines + line] = room.min().unwrap_or(0);
            }
        }
        let mut distances: Vec<Option<u32>> = vec![None; eligible.len()];
        let keyed: Vec<usize> = (0..eligible.len())
            .filter(|at| line_rooms[at * lines..(at + 1) * lines].iter().any(|room| *room > 0))
            .collect();
        let (order_of, ordered) = rank_order(catalogue, profile, eligible, request, keyed, prefix, &mut distances);
        let count = order_of.len();
        let mut ranked = Ranked {
            ordered,
            locations: Vec::with_capacity(count),
            distances: Vec::with_capacity(count),
            capacity: Vec::with_capacity(count * pools),
            rooms: Vec::with_capacity(count * lines),
        };
        for at in order_of {
            ranked.locations.push(eligible[at].location);
            ranked.distances.push(distances[at]);
            // Element by element: rows are a few words, too short for a `memmove` call.
            ranked.capacity.extend(capacity[at * pools..(at + 1) * pools].iter().copied());
            ranked.rooms.extend(line_rooms[at * lines..(at + 1) * lines].iter().copied());
        }
        ranked
    }

    /// The fast path of a search that minimises locations (docs/ENGINE.md, Sourcing:
    /// the objective): its first pass takes the best-ranked candidate that alone
    /// fills every line. Ranks the eligible locations (without first reading their
    /// stock, so also those with none) as far as `rank_order` orders them at first,
    /// and reads capacities by a binary search per pool, in rank order, only until
    /// one such candidate is found. A candidate without stock never fills a line, so
    /// the first one found is also the first among the candidates with capacity the
    /// full search would rank: the same answer. `None` when no ordered candidate
    /// covers alone (or the search would have spent its node budget first): the
    /// caller then runs the full search.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn single_covering(
        &self,
        guards: &mut ShardGuards<'_>,
        catalogue: &Catalogue,
        profile: &SourcingProfile,
        order: &ResolvedOrder,
        components: &[Vec<(usize, u32)>],
        eligible: &[Eligible],
        request: &SourcedReserveRequest,
        room: &impl Fn(&Position) -> u64,
    ) -> Option<(Ranked, Vec<Piece>)> {
        debug_assert!(profile.minimise_locations);
        let mut distances: Vec<Option<u32>> = vec![None; eligible.len()];
        let all = (0..eligible.len()).collect();
        let (order_of, ordered) = rank_order(catalogue, profile, eligible, request, all, RANKED_PREFIX, &mut distances);
        let lines = order.lines.len();
        let mut capacity = vec![0u64; order.pools.len()];
        let mut rooms = vec![0u64; lines];
        // The full search counts one node per candidate it looks at, in rank order,
        // and stops at its budget: a candidate past it would not be found exactly.
        let budget = usize::try_from(MAX_SOURCING_SEARCH_NODES).unwrap_or(usize::MAX);
        let mut read = vec![false; order.pools.len()];
        'candidates: for &at in order_of[..ordered].iter().take(budget) {
            let location = eligible[at].location;
            // Line by line, each pool read on first use: a candidate is dropped at its
            // first line that does not fit (an order that must split reads one pool per
            // candidate). Every pool is some line's, so a candidate that passes has all
            // of `capacity` and `rooms` filled in.
            read.fill(false);
            for (line, resolved) in order.lines.iter().enumerate() {
                let mut line_room = if resolved.components.is_empty() { 0 } else { u64::MAX };
                for &(pool, per_unit) in &resolved.components {
                    if !read[pool] {
                        let sku = order.pools[pool];
                        let shard = guards.shard(self.stock.shard_of(sku));
                        capacity[pool] = shard.get(sku, location).map_or(0, room);
                        read[pool] = true;
                    }
                    line_room = line_room.min(whole_units(capacity[pool], per_unit));
                }
                rooms[line] = line_room;
                // Necessary (lines may share pools, so not sufficient): the line fits alone.
                if line_room < u64::from(order.demands[line]) {
                    continue 'candidates;
                }
            }
            // The search itself on this one candidate decides (the fill with shared pools).
            let problem = Problem {
                demands: &order.demands,
                components,
                capacity: &capacity,
                rooms: &rooms,
                pools: order.pools.len(),
                candidates: 1,
                ordered: 1,
                max_locations: 1,
                minimise_locations: true,
                node_budget: MAX_SOURCING_SEARCH_NODES,
            };
            if let Search::Found { pieces, exact: true } = problem.solve() {
                let ranked =
                    Ranked { ordered: 1, locations: vec![location], distances: vec![distances[at]], capacity, rooms };
                return Some((ranked, pieces));
            }
        }
        None
    }
}

/// Puts `keyed` (indices into `eligible`) in the profile's rank order, as far as
/// needed: returns them with the first `ordered` in rank order and before all the
/// others, and writes the distances of the ordered ones (and of others it computed)
/// to `distances`. The order is a total order on locations (keys, then name), so
/// ranking a subset gives the same relative order as ranking all of them.
fn rank_order(
    catalogue: &Catalogue,
    profile: &SourcingProfile,
    eligible: &[Eligible],
    request: &SourcedReserveRequest,
    mut keyed: Vec<usize>,
    prefix: usize,
    distances: &mut [Option<u32>],
) -> (Vec<usize>, usize) {
    debug_assert!(u32::try_from(eligible.len()).is_ok(), "MAX_LOCATIONS_PER_CHANNEL fits in 32 bits");
    let point = match &request.destination {
        Destination::Delivery { point } => Some(unit_vector(*point)),
        Destination::Pickup { .. } => None,
    };
    // Distance first: the nearest (and every candidate within a metre of them) rank
    // before all the others, which then need no exact distance and no key.
    let mut unranked: Vec<usize> = Vec::new();
    let mut prefix = prefix;
    if let (Some(from), Some(RankKey::Distance)) = (&point, profile.rank_by.first()) {
        if keyed.len() > prefix && eligible.iter().all(|e| e.distance_m.is_none()) {
            if let Some((near, far)) = nearest_first(catalogue, eligible, from, &keyed, prefix, distances) {
                keyed = near;
                unranked = far;
                prefix = usize::MAX;
            }
        }
    }
    // Each candidate's keys packed into one integer, most significant first, with its
    // index in `eligible` in the low 32 bits: every key fits in 32 bits.
    let mut useful: Vec<u128> = Vec::with_capacity(keyed.len());
    for at in keyed {
        let candidate = &eligible[at];
        let location = catalogue.location(candidate.location).expect("an eligible location exists");
        let distance = point.as_ref().map(|point| {
            distances[at].or(candidate.distance_m).unwrap_or_else(|| {
                catalogue.stores.vector(candidate.location).map_or_else(
                    || distance_m(request_point(request), location.coordinates),
                    |vector| distance_between(point, vector),
                )
            })
        });
        let mut key = 0u128;
        for (slot, rank) in profile.rank_by.iter().enumerate() {
            let value = match rank {
                RankKey::Distance => distance.unwrap_or(0),
                RankKey::Priority => u32::from(location.priority),
                RankKey::Cost => profile.cost_of(&location.name),
            };
            key |= u128::from(value) << (96 - 32 * slot);
        }
        distances[at] = distance;
        useful.push(key | at as u128);
    }
    // The total order: the profile's keys in turn, then the location name's bytes
    // (only runs of equal keys need the names). Only the best `prefix` are put in
    // order (with every candidate tied with the last of them): the search rarely
    // looks further, and asks for the rest when it does.
    let ordered = if useful.len() > prefix {
        useful.select_nth_unstable(prefix - 1);
        let boundary = useful[prefix - 1] >> 32;
        let mut end = prefix;
        for index in prefix..useful.len() {
            if useful[index] >> 32 == boundary {
                useful.swap(index, end);
                end += 1;
            }
        }
        end
    } else {
        useful.len()
    };
    useful[..ordered].sort_unstable();
    let name = |packed: &u128| catalogue.location(eligible[at_of(*packed)].location).expect("exists").name.as_bytes();
    let mut start = 0;
    while start < ordered {
        let end = start + useful[start..ordered].iter().take_while(|k| *k >> 32 == useful[start] >> 32).count();
        if end - start > 1 {
            useful[start..end].sort_unstable_by(|a, b| name(a).cmp(name(b)));
        }
        start = end;
    }
    let order = useful.into_iter().map(at_of).chain(unranked).collect();
    (order, ordered)
}

/// Splits candidates (indices into `eligible`) for a profile that ranks by distance
/// first: `near` holds every candidate at most one metre farther than the
/// `prefix`-th nearest (their exact distances written to `distances`), `far` the rest,
/// all at least two metres farther than any of `near`, so all of `near` rank before
/// all of `far` whatever the other keys. Candidates are compared by squared chord
/// (cheap, and in the same order as the distance); only those within a few metres of
/// the boundary get an exact distance. `None` if a location has no unit vector.
fn nearest_first(
    catalogue: &Catalogue,
    eligible: &[Eligible],
    from: &[f64; 3],
    candidates: &[usize],
    prefix: usize,
    distances: &mut [Option<u32>],
) -> Option<(Vec<usize>, Vec<usize>)> {
    assert!(prefix >= 1 && candidates.len() > prefix);
    let vector = |at: usize| catalogue.stores.vector(eligible[at].location);
    let mut chords: Vec<(u64, usize)> = Vec::with_capacity(candidates.len());
    for &at in candidates {
        let to = vector(at)?;
        let squared = (from[0] - to[0]).powi(2) + (from[1] - to[1]).powi(2) + (from[2] - to[2]).powi(2);
        // A non-negative float's bits order as the float does.
        chords.push((squared.to_bits(), at));
    }
    chords.select_nth_unstable(prefix - 1);
    let boundary_m = distance_between(from, vector(chords[prefix - 1].1)?);
    // Everything within boundary + 1 m is less than boundary + 1.5 m away before
    // rounding; a 3 m chord bound leaves room for any floating-point error.
    let within = chord_squared(f64::from(boundary_m) + 3.0);
    let (mut near, mut far) = (Vec::with_capacity(prefix * 2), Vec::with_capacity(candidates.len()));
    for (bits, at) in chords {
        if f64::from_bits(bits) <= within {
            let metres = distance_between(from, vector(at)?);
            if metres <= boundary_m.saturating_add(1) {
                distances[at] = Some(metres);
                near.push(at);
                continue;
            }
        }
        far.push(at);
    }
    debug_assert!(near.len() >= prefix);
    Some((near, far))
}

/// The delivery point of a request (the origin for a pickup, which has no distances).
fn request_point(request: &SourcedReserveRequest) -> crate::model::Coordinates {
    match &request.destination {
        Destination::Delivery { point } => *point,
        Destination::Pickup { .. } => crate::model::Coordinates { latitude: 0.0, longitude: 0.0 },
    }
}

/// The index in `eligible` packed into the low 32 bits of a rank key.
fn at_of(packed: u128) -> usize {
    (packed & u128::from(u32::MAX)) as usize
}
/// The channel's locations that pass the profile's filters for this destination.
pub(super) fn eligible_locations(
    catalogue: &Catalogue,
    channel: &Channel,
    profile: &SourcingProfile,
    destination: &Destination,
) -> Result<Vec<Eligible>, EngineError> {
    let mut excluded: Vec<LocationId> =
        profile.exclude_locations.iter().filter_map(|name| catalogue.location_id(name)).collect();
    excluded.sort_unstable();
    let passes = |id: LocationId| {
        let location = catalogue.location(id).expect("a channel's locations exist");
        !profile.exclude_kinds.contains(&location.kind)
            && !profile.exclude_flags.iter().any(|flag| flag.is_set(location.flags))
            && excluded.binary_search(&id).is_err()
    };
    match destination {
        Destination::Pickup { store } => {
            let id = catalogue.location_id(store).ok_or_else(|| EngineError::UnknownLocation(store.clone()))?;
            let location = catalogue.location(id).expect("an id names a location");
            if !channel.contains(id) || !location.flags.pickup {
                return Err(EngineError::NotPickupStore { store: store.clone(), channel: channel.name.to_string() });
            }
            Ok(if passes(id) { vec![Eligible { location: id, distance_m: None }] } else { Vec::new() })
        }
        Destination::Delivery { point } => {
            let from = unit_vector(*point);
            let mut eligible = Vec::new();
            for &id in &channel.locations {
                let location = catalogue.location(id).expect("a channel's locations exist");
                if !location.flags.ships || !passes(id) {
                    continue;
                }
                let mut distance = None;
                if let Some(km) = profile.max_distance_km {
                    let metres = catalogue
                        .stores
                        .vector(id)
                        .map_or_else(|| distance_m(*point, location.coordinates), |to| distance_between(&from, to));
                    if f64::from(metres) > km * 1_000.0 {
                        continue;
                    }
                    distance = Some(metres);
                }
                eligible.push(Eligible { location: id, distance_m: distance });
            }
            debug_assert!(eligible.windows(2).all(|w| w[0].location < w[1].location), "channel order");
            Ok(eligible)
        }
    }
}
