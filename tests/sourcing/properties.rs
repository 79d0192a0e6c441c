//! Property tests: on random small networks, sourcing never oversells, never breaks
//! the profile, and picks exactly what a brute-force search over every subset of
//! locations picks for the documented objective; the store finder equals a
//! brute-force filter and sort.

use super::*;
use proptest::prelude::*;
use stockd::engine::{distance_m, LocationFlag, RankKey, StoreQuery};
use stockd::model::LocationKind;

const KINDS: [LocationKind; 5] = [
    LocationKind::Warehouse,
    LocationKind::DistributionCentre,
    LocationKind::Store,
    LocationKind::DarkStore,
    LocationKind::DropShipVendor,
];
const SKUS: [&str; 3] = ["S0", "S1", "S2"];

#[derive(Clone, Debug)]
struct Site {
    spec: LocationSpec,
    in_channel: bool,
    stock: [u32; 3],
    backorder: [u32; 3],
}

#[derive(Clone, Debug)]
struct Case {
    sites: Vec<Site>,
    lines: Vec<(usize, u32)>,
    profile: SourcingProfile,
    point: Coordinates,
}

fn site(index: usize) -> impl Strategy<Value = Site> {
    (
        (0u32..200, 0u32..200, 0usize..5),
        (prop::bool::weighted(0.8), any::<bool>(), 0u16..4, prop::bool::weighted(0.85)),
        [0u32..6, 0u32..6, 0u32..6],
        [0u32..3, 0u32..3, 0u32..3],
    )
        .prop_map(move |((lat, lon, kind), (ships, pickup, priority, in_channel), stock, backorder)| {
            // Names in an order unrelated to the index, so ties by name matter.
            let name = format!("L{}", (index * 7 + 3) % 10);
            let spec = with_priority(
                place(&name, KINDS[kind], 50.0 + f64::from(lat) / 100.0, -2.0 + f64::from(lon) / 100.0, ships, pickup),
                priority,
            );
            Site { spec, in_channel, stock, backorder }
        })
}

fn profile() -> impl Strategy<Value = SourcingProfile> {
    let ranks = prop::sample::select(vec![
        vec![],
        vec![RankKey::Distance],
        vec![RankKey::Priority],
        vec![RankKey::Cost],
        vec![RankKey::Distance, RankKey::Priority],
        vec![RankKey::Priority, RankKey::Distance],
        vec![RankKey::Cost, RankKey::Priority, RankKey::Distance],
    ]);
    (
        ranks,
        any::<bool>(),
        1u8..=4,
        prop::option::weighted(0.3, 40u32..250),
        prop::option::weighted(0.3, 0usize..5),
        prop::option::weighted(0.3, 0usize..6),
        ([0u32..4, 0u32..4, 0u32..4, 0u32..4, 0u32..4, 0u32..4], 0u32..4),
        (any::<bool>(), prop::bool::weighted(0.3)),
    )
        .prop_map(
            |(rank_by, minimise, max_locations, km, kind, excluded, (costs, default_cost), (backorder, no_pickup))| {
                let mut profile = SourcingProfile::new("random");
                profile.rank_by = rank_by;
                profile.minimise_locations = minimise;
                profile.max_locations = max_locations;
                profile.max_distance_km = km.map(f64::from);
                profile.exclude_kinds = kind.map(|k| vec![KINDS[k]]).unwrap_or_default();
                profile.exclude_locations =
                    excluded.map(|i| vec![format!("L{}", (i * 7 + 3) % 10)]).unwrap_or_default();
                profile.location_costs = (0..6).map(|i| (format!("L{}", (i * 7 + 3) % 10), costs[i])).collect();
                profile.default_cost = default_cost;
                profile.allow_backorder = backorder;
                profile.exclude_flags = if no_pickup { vec![LocationFlag::Pickup] } else { Vec::new() };
                profile
            },
        )
}

fn case() -> impl Strategy<Value = Case> {
    let sites = (1usize..=6).prop_flat_map(|n| (0..n).map(site).collect::<Vec<_>>());
    let lines = prop::sample::subsequence(vec![0usize, 1, 2], 1..=3)
        .prop_flat_map(|skus| {
            let n = skus.len();
            (Just(skus), prop::collection::vec(1u32..9, n))
        })
        .prop_map(|(skus, quantities)| skus.into_iter().zip(quantities).collect());
    (sites, lines, profile(), (0u32..200, 0u32..200)).prop_map(|(sites, lines, profile, (lat, lon))| Case {
        sites,
        lines,
        profile,
        point: point(50.0 + f64::from(lat) / 100.0, -2.0 + f64::from(lon) / 100.0),
    })
}

fn build(case: &Case) -> Engine {
    let specs: Vec<LocationSpec> = case.sites.iter().map(|s| s.spec.clone()).collect();
    let outside: Vec<&str> = case.sites.iter().filter(|s| !s.in_channel).map(|s| s.spec.name.as_str()).collect();
    let engine = network(&specs, &outside);
    for site in &case.sites {
        for (sku, name) in SKUS.iter().enumerate() {
            stock(&engine, name, &site.spec.name, site.stock[sku]);
            engine.set_backorder_limit(name, &site.spec.name, site.backorder[sku]).unwrap();
        }
    }
    add_profiles(&engine, vec![case.profile.clone()]);
    engine
}

fn eligible(case: &Case, site: &Site) -> bool {
    let profile = &case.profile;
    let distance = distance_m(case.point, site.spec.coordinates);
    site.in_channel
        && site.spec.flags.ships
        && !profile.exclude_kinds.contains(&site.spec.kind)
        && !(profile.exclude_flags.contains(&LocationFlag::Pickup) && site.spec.flags.pickup)
        && !profile.exclude_locations.contains(&site.spec.name)
        && profile.max_distance_km.is_none_or(|km| f64::from(distance) <= km * 1_000.0)
}

/// `(|S|` if minimising, else 0`, S's ranks ascending)`: compared as a tuple.
type Objective = (usize, Vec<usize>);
/// `(line, location name, quantity)` per piece.
type Allocation = Vec<(u16, String, u32)>;

/// The documented objective, by enumerating every subset: `(line, location, quantity)`.
fn brute_force(case: &Case) -> Option<Allocation> {
    let phases: &[bool] = if case.profile.allow_backorder { &[false, true] } else { &[false] };
    for &with_backorder in phases {
        let capacity = |site: &Site, sku: usize| {
            let extra = if with_backorder { site.backorder[sku] } else { 0 };
            u64::from(site.stock[sku] + extra)
        };
        let mut ranked: Vec<&Site> = case
            .sites
            .iter()
            .filter(|s| eligible(case, s) && case.lines.iter().any(|(sku, _)| capacity(s, *sku) > 0))
            .collect();
        let key = |s: &Site| {
            let keys: Vec<u64> = case
                .profile
                .rank_by
                .iter()
                .map(|k| match k {
                    RankKey::Distance => u64::from(distance_m(case.point, s.spec.coordinates)),
                    RankKey::Priority => u64::from(s.spec.priority),
                    RankKey::Cost => u64::from(case.profile.cost_of(&s.spec.name)),
                })
                .collect();
            (keys, s.spec.name.clone())
        };
        ranked.sort_by_key(|s| key(s));
        let mut best: Option<(Objective, Allocation)> = None;
        for mask in 1u32..(1 << ranked.len()) {
            let members: Vec<usize> = (0..ranked.len()).filter(|i| mask & (1 << i) != 0).collect();
            if members.len() > usize::from(case.profile.max_locations) {
                continue;
            }
            let mut used = vec![false; members.len()];
            let mut pieces = Vec::new();
            let mut covered = true;
            for (line, &(sku, quantity)) in case.lines.iter().enumerate() {
                let mut wanted = u64::from(quantity);
                for (m, &member) in members.iter().enumerate() {
                    let take = wanted.min(capacity(ranked[member], sku));
                    if take > 0 {
                        used[m] = true;
                        wanted -= take;
                        pieces.push((line as u16, ranked[member].spec.name.clone(), take as u32));
                    }
                }
                covered &= wanted == 0;
            }
            if !covered || used.contains(&false) {
                continue;
            }
            let objective = (if case.profile.minimise_locations { members.len() } else { 0 }, members);
            if best.as_ref().is_none_or(|(b, _)| objective < *b) {
                best = Some((objective, pieces));
            }
        }
        if let Some((_, pieces)) = best {
            return Some(pieces);
        }
    }
    None
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn sourcing_matches_brute_force_and_keeps_every_rule(case in case()) {
        let engine = build(&case);
        let lines: Vec<(&str, u32)> = case.lines.iter().map(|(sku, q)| (SKUS[*sku], *q)).collect();
        let request = order("o", &lines, Destination::Delivery { point: case.point }, "random");
        let before = state(&engine);
        let result = engine.reserve_sourced(&request, at(1));
        let expected = brute_force(&case);
        prop_assert!(engine.verify().is_clean());
        match (result, expected) {
            (Ok(outcome), Some(expected)) => {
                let got: Vec<(u16, String, u32)> =
                    placed(&engine, &outcome).into_iter().map(|(l, name, q, _)| (l, name, q)).collect();
                prop_assert_eq!(&got, &expected);
                prop_assert!(outcome.exact);
                prop_assert!(usize::from(outcome.locations_used) <= usize::from(case.profile.max_locations));
                for allocated in &outcome.allocation {
                    let name = engine.location_name(allocated.location).unwrap();
                    let site = case.sites.iter().find(|s| *s.spec.name == *name).unwrap();
                    prop_assert!(eligible(&case, site), "{} is not eligible", name);
                    prop_assert_eq!(allocated.distance_m, Some(distance_m(case.point, site.spec.coordinates)));
                }
                // Reserved equals the allocation, position by position; nothing oversold.
                for site in &case.sites {
                    for (sku, name) in SKUS.iter().enumerate() {
                        let line = case.lines.iter().position(|(s, _)| *s == sku);
                        let allocated: u32 = got
                            .iter()
                            .filter(|(l, location, _)| Some(usize::from(*l)) == line && *location == site.spec.name)
                            .map(|(_, _, q)| q)
                            .sum();
                        let position = engine.position(name, &site.spec.name).unwrap();
                        prop_assert_eq!(position.reserved, allocated);
                        prop_assert!(position.reserved <= position.on_hand + position.backorder_limit);
                        if !case.profile.allow_backorder {
                            prop_assert!(position.reserved <= position.on_hand);
                        }
                    }
                }
            }
            (Err(error), None) => {
                prop_assert!(matches!(error, EngineError::Unsourceable { .. }), "{:?}", error);
                prop_assert_eq!(state(&engine), before);
            }
            (got, expected) => prop_assert!(false, "engine {:?}, brute force {:?}", got, expected),
        }
    }

    #[test]
    fn the_store_finder_equals_a_filter_and_sort(
        stores in prop::collection::vec(
            ((-60i32..60, -180i32..=180), (any::<bool>(), prop::bool::weighted(0.85)), [0u32..4, 0u32..4]),
            1..16,
        ),
        (lat, lon) in (-60i32..60, -180i32..=180),
        radius_km in 1u32..3_000,
        wanted in prop::collection::vec((0usize..2, 1u32..3), 0..3),
        limit in 1u16..6,
    ) {
        let specs: Vec<LocationSpec> = stores
            .iter()
            .enumerate()
            .map(|(i, ((lat, lon), (pickup, _), _))| {
                place(&format!("ST{}", (i * 5 + 1) % 16), LocationKind::Store, f64::from(*lat), f64::from(*lon), false, *pickup)
            })
            .collect();
        let outside: Vec<&str> =
            specs.iter().zip(&stores).filter(|(_, s)| !s.1 .1).map(|(spec, _)| spec.name.as_str()).collect();
        let engine = network(&specs, &outside);
        for (spec, (_, _, stock_of)) in specs.iter().zip(&stores) {
            for (sku, name) in SKUS[..2].iter().enumerate() {
                stock(&engine, name, &spec.name, stock_of[sku]);
            }
        }
        let mut lines: Vec<OrderLine> = Vec::new();
        for (sku, quantity) in &wanted {
            if !lines.iter().any(|l| l.sku == SKUS[*sku]) {
                lines.push(OrderLine { sku: SKUS[*sku].into(), quantity: *quantity });
            }
        }
        let query = StoreQuery {
            channel: CHANNEL.into(),
            point: point(f64::from(lat), f64::from(lon)),
            radius_km: f64::from(radius_km),
            lines: lines.clone(),
            limit,
        };
        let got: Vec<(String, u32, Vec<u32>)> = engine
            .find_stores(&query)
            .unwrap()
            .into_iter()
            .map(|m| (m.name.to_string(), m.distance_m, m.available))
            .collect();
        let mut expected: Vec<(String, u32, Vec<u32>)> = specs
            .iter()
            .zip(&stores)
            .filter(|(spec, (_, (pickup, in_channel), _))| {
                *pickup && *in_channel && f64::from(distance_m(query.point, spec.coordinates)) <= f64::from(radius_km) * 1_000.0
            })
            .filter_map(|(spec, (_, _, stock_of))| {
                let available: Vec<u32> =
                    lines.iter().map(|l| stock_of[SKUS.iter().position(|s| *s == l.sku).unwrap()]).collect();
                lines.iter().zip(&available).all(|(l, a)| *a >= l.quantity).then(|| {
                    (spec.name.clone(), distance_m(query.point, spec.coordinates), available)
                })
            })
            .collect();
        expected.sort_by(|a, b| (a.1, a.0.as_bytes()).cmp(&(b.1, b.0.as_bytes())));
        expected.truncate(usize::from(limit));
        prop_assert_eq!(got, expected);
    }
}

/// A long list of warehouses on a coarse grid (so that distances tie), each with
/// a priority and stock of `S0` and `S1`.
type GridSite = ((u32, u32), u16, [u32; 2]);

fn grid_network(sites: &[GridSite]) -> (Engine, Vec<LocationSpec>) {
    let specs: Vec<LocationSpec> = sites
        .iter()
        .enumerate()
        .map(|(i, ((y, x), priority, _))| {
            let (latitude, longitude) = (50.0 + f64::from(*y) / 100.0, f64::from(*x) / 100.0);
            let spec =
                place(&format!("G{:03}", (i * 37) % 160), LocationKind::Warehouse, latitude, longitude, true, false);
            with_priority(spec, *priority)
        })
        .collect();
    let engine = network(&specs, &[]);
    for (spec, (_, _, stock_of)) in specs.iter().zip(sites) {
        stock(&engine, "S0", &spec.name, stock_of[0]);
        stock(&engine, "S1", &spec.name, stock_of[1]);
    }
    (engine, specs)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    /// Past the 64 candidates ranked before a search (distance first, ties on a
    /// coarse grid): `single` takes the first covering location in the full order.
    #[test]
    fn long_lists_rank_like_a_full_sort(
        sites in prop::collection::vec(((0u32..12, 0u32..12), 0u16..3, [0u32..3, 0u32..3]), 65..160),
        (lat, lon) in (0u32..12, 0u32..12),
        wanted in (1u32..3, 1u32..3),
    ) {
        let (engine, specs) = grid_network(&sites);
        let at_point = point(50.0 + f64::from(lat) / 100.0, f64::from(lon) / 100.0);
        let mut expected: Vec<(u32, u16, String)> = specs
            .iter()
            .zip(&sites)
            .filter(|(_, (_, _, s))| s[0] >= wanted.0 && s[1] >= wanted.1)
            .map(|(spec, _)| (distance_m(at_point, spec.coordinates), spec.priority, spec.name.clone()))
            .collect();
        expected.sort_by(|a, b| (a.0, a.1, a.2.as_bytes()).cmp(&(b.0, b.1, b.2.as_bytes())));
        let request = order("o", &[("S0", wanted.0), ("S1", wanted.1)], Destination::Delivery { point: at_point }, "single");
        match (engine.reserve_sourced(&request, at(1)), expected.first()) {
            (Ok(outcome), Some(best)) => {
                let got = placed(&engine, &outcome);
                prop_assert_eq!(got.len(), 2);
                prop_assert_eq!(&got[0].1, &best.2);
                prop_assert_eq!(&got[1].1, &best.2);
            }
            (Err(error), None) => prop_assert!(matches!(error, EngineError::Unsourceable { .. }), "{:?}", error),
            (got, best) => prop_assert!(false, "engine {:?}, expected {:?}", got, best),
        }
        prop_assert!(engine.verify().is_clean());
    }
}

/// The allocation the objective picks on a long list with at most two locations,
/// fewest first: the first location in rank order holding both lines, else the first
/// pair (ascending ranks, lexicographic) whose fill covers both lines and uses both.
/// `ranked` is (name, stock of S0, stock of S1) in the full rank order.
fn best_of_at_most_two(ranked: &[(String, [u32; 2])], wanted: [u32; 2]) -> Option<Vec<(u16, String, u32)>> {
    if let Some((name, _)) = ranked.iter().find(|(_, s)| s[0] >= wanted[0] && s[1] >= wanted[1]) {
        return Some(vec![(0, name.clone(), wanted[0]), (1, name.clone(), wanted[1])]);
    }
    for (i, (first, a)) in ranked.iter().enumerate() {
        for (second, b) in &ranked[i + 1..] {
            let mut pieces = Vec::new();
            let (mut used_a, mut used_b, mut covered) = (false, false, true);
            for line in 0..2 {
                let from_a = wanted[line].min(a[line]);
                let from_b = (wanted[line] - from_a).min(b[line]);
                if from_a > 0 {
                    used_a = true;
                    pieces.push((line as u16, first.clone(), from_a));
                }
                if from_b > 0 {
                    used_b = true;
                    pieces.push((line as u16, second.clone(), from_b));
                }
                covered &= from_a + from_b == wanted[line];
            }
            if covered && used_a && used_b {
                return Some(pieces);
            }
        }
    }
    None
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    /// Long lists with fewest locations first and at most two: the single-location
    /// pass (which reads stock only for the candidates it reaches) when one location
    /// holds everything, the full search when none does (demands above any one
    /// location's stock force a split, or a refusal).
    #[test]
    fn long_lists_fewest_locations_split_like_a_brute_force(
        sites in prop::collection::vec(((0u32..12, 0u32..12), 0u16..3, [0u32..3, 0u32..3]), 65..160),
        (lat, lon) in (0u32..12, 0u32..12),
        wanted in (1u32..5, 1u32..5),
    ) {
        let (engine, specs) = grid_network(&sites);
        let mut pair = SourcingProfile::new("pair");
        pair.rank_by = vec![RankKey::Distance, RankKey::Priority];
        pair.minimise_locations = true;
        pair.max_locations = 2;
        add_profiles(&engine, vec![pair]);
        let at_point = point(50.0 + f64::from(lat) / 100.0, f64::from(lon) / 100.0);
        let mut ranked: Vec<(u32, u16, String, [u32; 2])> = specs
            .iter()
            .zip(&sites)
            .map(|(spec, (_, _, s))| (distance_m(at_point, spec.coordinates), spec.priority, spec.name.clone(), *s))
            .collect();
        ranked.sort_by(|a, b| (a.0, a.1, a.2.as_bytes()).cmp(&(b.0, b.1, b.2.as_bytes())));
        let ranked: Vec<(String, [u32; 2])> = ranked.into_iter().map(|(_, _, name, s)| (name, s)).collect();
        let expected = best_of_at_most_two(&ranked, [wanted.0, wanted.1]);
        let request = order("o", &[("S0", wanted.0), ("S1", wanted.1)], Destination::Delivery { point: at_point }, "pair");
        match (engine.reserve_sourced(&request, at(1)), expected) {
            (Ok(outcome), Some(best)) => {
                prop_assert!(outcome.exact);
                let got: Vec<(u16, String, u32)> =
                    placed(&engine, &outcome).into_iter().map(|(line, name, quantity, _)| (line, name, quantity)).collect();
                prop_assert_eq!(got, best);
            }
            (Err(error), None) => prop_assert!(matches!(error, EngineError::Unsourceable { .. }), "{:?}", error),
            (got, best) => prop_assert!(false, "engine {:?}, expected {:?}", got, best),
        }
        prop_assert!(engine.verify().is_clean());
    }
}
