//! The sourcing rules: candidates, ranking, the objective, kits, fallbacks,
//! pickup, idempotency, the journal and determinism.

use super::*;
use stockd::engine::{RankKey, ReservationState, UnsourceableReason};
use stockd::model::LocationKind::{DistributionCentre, DropShipVendor, Store, Warehouse};
use stockd::{Operation, Outcome};

/// The customer, in central London.
pub const HOME: (f64, f64) = (51.5, -0.12);

/// Five places around the customer: a near warehouse (priority 20), a mid
/// distribution centre (priority 5), a far warehouse (priority 1), a pickup-only
/// store and a drop-ship vendor.
pub fn uk() -> Engine {
    network(
        &[
            with_priority(place("WH-NEAR", Warehouse, 51.6, -0.1, true, false), 20),
            with_priority(place("DC-MID", DistributionCentre, 52.5, -1.5, true, false), 5),
            with_priority(place("WH-FAR", Warehouse, 55.9, -3.2, true, false), 1),
            place("STORE-A", Store, 51.51, -0.13, false, true),
            place("DS-1", DropShipVendor, 51.45, -0.2, true, false),
            place("WH-OUTSIDE", Warehouse, 51.5, -0.12, true, true),
        ],
        &["WH-OUTSIDE"],
    )
}

fn home() -> Destination {
    deliver(HOME.0, HOME.1)
}

fn profile(name: &str, change: impl FnOnce(&mut SourcingProfile)) -> SourcingProfile {
    let mut profile = SourcingProfile::new(name);
    change(&mut profile);
    profile
}

#[test]
fn the_default_profile_prefers_one_location_over_a_nearer_split() {
    let engine = uk();
    stock(&engine, "A", "WH-NEAR", 5);
    stock(&engine, "A", "DC-MID", 5);
    stock(&engine, "B", "DC-MID", 5);
    let outcome = engine.reserve_sourced(&order("o1", &[("A", 2), ("B", 2)], home(), "default"), at(1)).unwrap();
    assert_eq!(
        placed(&engine, &outcome),
        vec![(0, "DC-MID".into(), 2, HoldKind::InStock), (1, "DC-MID".into(), 2, HoldKind::InStock)]
    );
    assert_eq!((outcome.locations_used, outcome.exact, outcome.reservation.replayed), (1, true, false));
    let distance = outcome.allocation[0].distance_m.unwrap();
    assert!((140_000..150_000).contains(&distance), "{distance}");
    assert_eq!(engine.position("A", "DC-MID").unwrap().reserved, 2);
    assert_eq!(engine.position("A", "WH-NEAR").unwrap().reserved, 0);
    assert!(engine.verify().is_clean());
}

#[test]
fn the_nearest_profile_takes_each_line_from_the_nearest_location_that_has_it() {
    let engine = uk();
    stock(&engine, "A", "WH-NEAR", 5);
    stock(&engine, "A", "DC-MID", 5);
    stock(&engine, "B", "DC-MID", 5);
    let outcome = engine.reserve_sourced(&order("o1", &[("A", 2), ("B", 2)], home(), "nearest"), at(1)).unwrap();
    assert_eq!(
        placed(&engine, &outcome),
        vec![(0, "WH-NEAR".into(), 2, HoldKind::InStock), (1, "DC-MID".into(), 2, HoldKind::InStock)]
    );
    assert_eq!(outcome.locations_used, 2);
}

#[test]
fn a_line_is_split_in_rank_order_within_max_locations() {
    let engine = uk();
    stock(&engine, "A", "WH-NEAR", 3);
    stock(&engine, "A", "DC-MID", 3);
    stock(&engine, "A", "WH-FAR", 3);
    let outcome = engine.reserve_sourced(&order("o1", &[("A", 5)], home(), "default"), at(1)).unwrap();
    assert_eq!(
        placed(&engine, &outcome),
        vec![(0, "WH-NEAR".into(), 3, HoldKind::InStock), (0, "DC-MID".into(), 2, HoldKind::InStock)]
    );
    // `single` never splits: refused, naming the line and what one location has.
    let error = assert_refused(&engine, &order("o2", &[("A", 4)], home(), "single"), |e| {
        matches!(e, EngineError::Unsourceable { .. })
    });
    let EngineError::Unsourceable { reason, lines } = error else { unreachable!() };
    assert_eq!(reason, UnsourceableReason::TooManySplits);
    assert_eq!((lines[0].requested, lines[0].available_in_channel, lines[0].best_single_location), (4, 4, 3));
}

#[test]
fn rank_keys_apply_in_turn_and_names_break_ties() {
    let engine = uk();
    for location in ["WH-NEAR", "DC-MID", "WH-FAR", "DS-1"] {
        stock(&engine, "A", location, 5);
    }
    add_profiles(
        &engine,
        vec![
            profile("by-priority", |p| p.rank_by = vec![RankKey::Priority]),
            profile("by-cost", |p| {
                p.rank_by = vec![RankKey::Cost, RankKey::Distance];
                p.location_costs = [("WH-NEAR".to_owned(), 9), ("DC-MID".to_owned(), 3)].into();
                p.default_cost = 5;
            }),
            profile("by-name", |p| p.rank_by = vec![]),
        ],
    );
    let first = |id: &str, profile: &str| {
        let outcome = engine.reserve_sourced(&order(id, &[("A", 1)], home(), profile), at(1)).unwrap();
        engine.release(id, None, at(2)).unwrap();
        placed(&engine, &outcome)[0].1.clone()
    };
    assert_eq!(first("p", "by-priority"), "WH-FAR");
    assert_eq!(first("c", "by-cost"), "DC-MID");
    // No keys: the location name's bytes decide ("DC-MID" < "DS-1" < "WH-FAR" < "WH-NEAR").
    assert_eq!(first("n", "by-name"), "DC-MID");
    // Default: distance first; the drop-ship vendor is about 6 km away, the warehouse 11 km.
    assert_eq!(first("d", "default"), "DS-1");
}

#[test]
fn exclusions_flags_channel_and_distance_limit_the_candidates() {
    let engine = uk();
    for location in ["WH-NEAR", "DC-MID", "WH-FAR", "DS-1", "STORE-A", "WH-OUTSIDE"] {
        stock(&engine, "A", location, 5);
    }
    add_profiles(
        &engine,
        vec![
            profile("no-warehouses", |p| p.exclude_kinds = vec![Warehouse, DropShipVendor]),
            profile("not-dc", |p| {
                p.exclude_locations = vec!["DC-MID".into(), "DS-1".into(), "WH-NEAR".into(), "NO-SUCH".into()];
            }),
            profile("within-50km", |p| {
                p.max_distance_km = Some(50.0);
                p.rank_by = vec![RankKey::Priority];
            }),
        ],
    );
    let used = |id: &str, profile: &str, quantity: u32| {
        let outcome = engine.reserve_sourced(&order(id, &[("A", quantity)], home(), profile), at(1));
        let locations = outcome.map(|o| placed(&engine, &o).into_iter().map(|p| p.1).collect::<Vec<_>>());
        engine.release(id, None, at(2)).ok();
        locations
    };
    assert_eq!(used("k", "no-warehouses", 1).unwrap(), vec!["DC-MID"]);
    assert_eq!(used("x", "not-dc", 1).unwrap(), vec!["WH-FAR"]);
    // Priority ranks WH-FAR (1) and DC-MID (5) first, but they are 500 and 145 km
    // away; the store is near but does not ship. DS-1 (10) before WH-NEAR (20).
    assert_eq!(used("d", "within-50km", 1).unwrap(), vec!["DS-1"]);
    assert_eq!(used("d2", "within-50km", 10).unwrap(), vec!["DS-1", "WH-NEAR"]);
    // The store (pickup only) and the warehouse outside the channel are never used:
    // 4 shipping locations x 5 units is all there is.
    assert_eq!(used("all", "nearest", 20).unwrap().len(), 4);
    let error = used("more", "nearest", 21).unwrap_err();
    assert!(matches!(error, EngineError::Unsourceable { reason: UnsourceableReason::InsufficientStock, .. }));
    let EngineError::Unsourceable { lines, .. } = error else { unreachable!() };
    assert_eq!((lines[0].available_in_channel, lines[0].best_single_location), (20, 5));
}

#[test]
fn a_kit_is_held_as_its_components_at_one_location() {
    let engine = uk();
    engine.define_kit("KIT", &[("A".into(), 1), ("B".into(), 2)]).unwrap();
    stock(&engine, "A", "WH-NEAR", 5);
    stock(&engine, "B", "WH-NEAR", 3); // one kit
    stock(&engine, "A", "DC-MID", 2);
    stock(&engine, "B", "DC-MID", 4); // two kits
    let outcome = engine.reserve_sourced(&order("k", &[("KIT", 2)], home(), "default"), at(1)).unwrap();
    assert_eq!(placed(&engine, &outcome), vec![(0, "DC-MID".into(), 2, HoldKind::InStock)]);
    assert_eq!(engine.sku_name(outcome.allocation[0].sku).as_ref(), "KIT");
    let mut held: Vec<(String, u32)> =
        outcome.reservation.lines.iter().map(|l| (engine.sku_name(l.sku).to_string(), l.quantity)).collect();
    held.sort();
    assert_eq!(held, vec![("A".into(), 2), ("B".into(), 4)]);
    assert_eq!(engine.position("B", "DC-MID").unwrap().reserved, 4);
    // Three kits: one from WH-NEAR (nearest), then none left at DC-MID: split refused.
    let error = assert_refused(&engine, &order("k2", &[("KIT", 2)], home(), "default"), |e| {
        matches!(e, EngineError::Unsourceable { .. })
    });
    let EngineError::Unsourceable { lines, .. } = error else { unreachable!() };
    assert_eq!((lines[0].available_in_channel, lines[0].best_single_location), (1, 1));
    // A kit line and a line of one of its components share the component's stock.
    let outcome = engine.reserve_sourced(&order("k3", &[("KIT", 1), ("A", 4)], home(), "default"), at(1)).unwrap();
    assert_eq!(
        placed(&engine, &outcome),
        vec![(0, "WH-NEAR".into(), 1, HoldKind::InStock), (1, "WH-NEAR".into(), 4, HoldKind::InStock)]
    );
    assert_eq!(engine.position("A", "WH-NEAR").unwrap().reserved, 5);
    assert!(engine.verify().is_clean());
}

#[test]
fn backorders_are_a_fallback_only_when_the_profile_allows_them() {
    let engine = uk();
    stock(&engine, "A", "WH-NEAR", 0);
    engine.set_backorder_limit("A", "WH-NEAR", 5).unwrap();
    stock(&engine, "A", "WH-FAR", 2);
    add_profiles(&engine, vec![profile("backorder", |p| p.allow_backorder = true)]);
    assert_refused(&engine, &order("b1", &[("A", 3)], home(), "default"), |e| {
        matches!(e, EngineError::Unsourceable { reason: UnsourceableReason::InsufficientStock, .. })
    });
    // Stock first, even far away: the fallback phase runs only if stock cannot cover.
    let outcome = engine.reserve_sourced(&order("b2", &[("A", 2)], home(), "backorder"), at(1)).unwrap();
    assert_eq!(placed(&engine, &outcome), vec![(0, "WH-FAR".into(), 2, HoldKind::InStock)]);
    let outcome = engine.reserve_sourced(&order("b3", &[("A", 3)], home(), "backorder"), at(1)).unwrap();
    assert_eq!(placed(&engine, &outcome), vec![(0, "WH-NEAR".into(), 3, HoldKind::Backorder)]);
    assert_eq!(engine.position("A", "WH-NEAR").unwrap().reserved, 3);
    assert_refused(&engine, &order("b4", &[("A", 3)], home(), "backorder"), |e| {
        matches!(e, EngineError::Unsourceable { .. })
    });
    assert!(engine.verify().is_clean());
}

#[test]
fn pre_orders_need_the_profile_and_supply_due_by_the_promise_date() {
    let engine = uk();
    stock(&engine, "A", "DC-MID", 1);
    engine.add_incoming("A", "DC-MID", "PO-1", 10, at(5_000)).unwrap();
    add_profiles(&engine, vec![profile("preorder", |p| p.allow_preorder = true)]);
    let with_promise = |id: &str, profile: &str, by: u64| SourcedReserveRequest {
        promise_by: Some(at(by)),
        ..order(id, &[("A", 4)], home(), profile)
    };
    assert_refused(&engine, &with_promise("p1", "default", 6_000), |e| matches!(e, EngineError::Unsourceable { .. }));
    assert_refused(&engine, &with_promise("p2", "preorder", 4_000), |e| matches!(e, EngineError::Unsourceable { .. }));
    let outcome = engine.reserve_sourced(&with_promise("p3", "preorder", 6_000), at(1)).unwrap();
    assert_eq!(placed(&engine, &outcome), vec![(0, "DC-MID".into(), 4, HoldKind::PreOrder)]);
    assert_eq!(engine.reservation("p3").unwrap().promise_by, Some(at(6_000)));
    assert!(engine.verify().is_clean());
}

#[test]
fn pickup_holds_at_the_named_store_only() {
    let engine = uk();
    stock(&engine, "A", "STORE-A", 2);
    stock(&engine, "A", "WH-NEAR", 50);
    let outcome = engine.reserve_sourced(&order("c1", &[("A", 2)], pickup("STORE-A"), "pickup"), at(1)).unwrap();
    assert_eq!(placed(&engine, &outcome), vec![(0, "STORE-A".into(), 2, HoldKind::InStock)]);
    assert_eq!(outcome.allocation[0].distance_m, None);
    // Any profile may serve a pickup; the store is still the only candidate.
    assert_refused(&engine, &order("c2", &[("A", 1)], pickup("STORE-A"), "nearest"), |e| {
        matches!(e, EngineError::Unsourceable { reason: UnsourceableReason::InsufficientStock, .. })
    });
    assert_refused(
        &engine,
        &order("c3", &[("A", 1)], pickup("WH-NEAR"), "pickup"),
        |e| matches!(e, EngineError::NotPickupStore { store, channel } if store == "WH-NEAR" && channel == CHANNEL),
    );
    assert_refused(&engine, &order("c4", &[("A", 1)], pickup("WH-OUTSIDE"), "pickup"), |e| {
        matches!(e, EngineError::NotPickupStore { .. })
    });
    assert_refused(
        &engine,
        &order("c5", &[("A", 1)], pickup("NOWHERE"), "pickup"),
        |e| matches!(e, EngineError::UnknownLocation(name) if name == "NOWHERE"),
    );
    add_profiles(&engine, vec![profile("no-stores", |p| p.exclude_kinds = vec![Store])]);
    assert_refused(&engine, &order("c6", &[("A", 1)], pickup("STORE-A"), "no-stores"), |e| {
        matches!(e, EngineError::Unsourceable { reason: UnsourceableReason::NoEligibleLocation, .. })
    });
}

#[test]
fn a_retry_returns_the_first_outcome_and_other_lines_conflict() {
    let engine = uk();
    stock(&engine, "A", "WH-NEAR", 3);
    stock(&engine, "A", "DC-MID", 3);
    stock(&engine, "B", "DC-MID", 3);
    let first = engine.reserve_sourced(&order("r", &[("A", 5), ("B", 1)], home(), "nearest"), at(1)).unwrap();
    let before = state(&engine);
    // Same lines in another order, even another destination or profile: the first outcome.
    let retry =
        engine.reserve_sourced(&order("r", &[("B", 1), ("A", 5)], deliver(0.0, 0.0), "default"), at(2)).unwrap();
    assert!(retry.reservation.replayed);
    assert_eq!(retry.reservation.expires_at, first.reservation.expires_at);
    assert_eq!(retry.reservation.lines, first.reservation.lines);
    let key =
        |o: &SourcedOutcome| o.allocation.iter().map(|a| (a.sku, a.location, a.quantity, a.kind)).collect::<Vec<_>>();
    let mut expected = key(&first);
    let mut got = key(&retry);
    expected.sort_by_key(|k| (k.0, k.1));
    got.sort_by_key(|k| (k.0, k.1));
    assert_eq!(got, expected);
    assert_eq!(retry.locations_used, first.locations_used);
    assert_eq!(state(&engine), before, "a retry holds nothing more");
    assert_refused(
        &engine,
        &order("r", &[("A", 4), ("B", 1)], home(), "nearest"),
        |e| matches!(e, EngineError::Conflict(id) if id == "r"),
    );
    assert_refused(&engine, &order("r", &[("A", 5)], home(), "nearest"), |e| matches!(e, EngineError::Conflict(_)));
    // After its TTL, a retry reports the reservation expired (and its units back).
    let late = engine.reserve_sourced(&order("r", &[("A", 5), ("B", 1)], home(), "nearest"), at(1 + TTL_MS)).unwrap();
    assert!(late.reservation.replayed);
    assert_eq!(late.reservation.state, ReservationState::Expired);
    assert_eq!(engine.position("A", "WH-NEAR").unwrap().reserved, 0);
}

#[test]
fn apply_takes_the_operation_and_answers_with_the_sourced_outcome() {
    let engine = uk();
    stock(&engine, "A", "WH-NEAR", 3);
    let request = order("ap", &[("A", 2)], home(), "default");
    let outcome = engine.apply(&Operation::ReserveSourced(request.clone()), at(1)).unwrap();
    let Outcome::Sourced(sourced) = outcome else { panic!("expected Outcome::Sourced, got {outcome:?}") };
    assert_eq!(placed(&engine, &sourced), vec![(0, "WH-NEAR".into(), 2, HoldKind::InStock)]);
    let again = engine.reserve_sourced(&request, at(2)).unwrap();
    assert!(again.reservation.replayed);
}

#[test]
fn the_same_inputs_give_the_same_allocations_and_state() {
    let run = || {
        let engine = uk();
        for (i, location) in ["WH-NEAR", "DC-MID", "WH-FAR", "DS-1"].into_iter().enumerate() {
            for (j, sku) in ["A", "B", "C"].into_iter().enumerate() {
                stock(&engine, sku, location, ((i * 3 + j * 5) % 7) as u32);
            }
        }
        let mut outcomes = Vec::new();
        for n in 0..12u32 {
            let lines = [("A", 1 + n % 3), ("B", 1 + n % 2), ("C", 1)];
            let profile = ["default", "nearest", "single"][(n % 3) as usize];
            let request = order(
                &format!("o{n}"),
                &lines[..1 + (n % 3) as usize],
                deliver(51.0 + f64::from(n) / 10.0, -1.0),
                profile,
            );
            outcomes.push(engine.reserve_sourced(&request, at(u64::from(n))).map(|o| placed(&engine, &o)));
        }
        (outcomes, engine.digest())
    };
    let (first, digest) = run();
    assert!(first.iter().filter(|o| o.is_ok()).count() >= 3, "{first:?}");
    assert_eq!(run(), (first, digest));
}

#[test]
fn the_log_replays_a_sourced_reserve_without_its_profile_and_counts_no_demand() {
    use stockd::storage::{recover, DurableEngine, RecoveryTarget, StorageConfig};
    use stockd::wal::DurabilityMode;
    let dir = tempfile::tempdir().unwrap();
    let config = StorageConfig::with_manual_snapshots(
        dir.path().join("data"),
        dir.path().join("snapshots"),
        DurabilityMode::Always,
    );
    let digest = {
        let (durable, _) = DurableEngine::open(config.clone()).unwrap();
        let apply = |op: Operation| durable.apply(&op, at(1_000)).unwrap();
        apply(Operation::UpsertLocations(vec![
            place("WH-1", Warehouse, 51.0, 0.0, true, false),
            place("WH-2", Warehouse, 52.0, 0.0, true, false),
        ]));
        apply(Operation::UpsertChannel(ChannelSpec {
            name: CHANNEL.into(),
            locations: vec!["WH-1".into(), "WH-2".into()],
            excluded: vec![],
            buffer: ChannelBuffer::None,
        }));
        apply(Operation::SetOnHand { sku: "A".into(), location: "WH-1".into(), on_hand: 2, expected_version: None });
        apply(Operation::SetOnHand { sku: "A".into(), location: "WH-2".into(), on_hand: 9, expected_version: None });
        let far_first = profile("far-first", |p| p.rank_by = vec![RankKey::Cost]);
        let far_first = SourcingProfile { location_costs: [("WH-1".to_owned(), 9)].into(), ..far_first };
        add_profiles(durable.engine(), vec![far_first]);
        apply(Operation::ReserveSourced(order("s", &[("A", 3)], deliver(51.0, 0.0), "far-first")));
        assert!(durable
            .apply(&Operation::ReserveSourced(order("t", &[("A", 30)], deliver(51.0, 0.0), "default")), at(1_000))
            .is_err());
        assert_eq!(durable.engine().position("A", "WH-2").unwrap().reserved, 3);
        assert_eq!(durable.engine().demand_totals().refused_units, 30);
        durable.engine().digest()
    };
    let (engine, _) = recover(&config, RecoveryTarget::default(), false).unwrap();
    assert!(engine.sourcing_profiles().get("far-first").is_none(), "profiles are configuration, not logged");
    assert_eq!(engine.digest(), digest);
    assert_eq!(engine.position("A", "WH-2").unwrap().reserved, 3);
    assert_eq!(engine.demand_totals(), Default::default(), "replay counts no demand");
    assert!(engine.verify().is_clean());
}

#[test]
fn concurrent_sourced_reserves_never_oversell() {
    let engine = std::sync::Arc::new(uk());
    for location in ["WH-NEAR", "DC-MID", "WH-FAR", "DS-1"] {
        stock(&engine, "A", location, 40);
        stock(&engine, "B", location, 25);
    }
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let engine = engine.clone();
            std::thread::spawn(move || {
                let mut held = 0u32;
                for i in 0..60 {
                    let id = format!("t{t}-{i}");
                    let profile = ["default", "nearest", "single"][i % 3];
                    let lines = [("A", 1 + (i % 4) as u32), ("B", 1 + (i % 2) as u32)];
                    if let Ok(outcome) =
                        engine.reserve_sourced(&order(&id, &lines, deliver(52.0, -1.0), profile), at(1))
                    {
                        held += outcome.allocation.iter().map(|a| a.quantity).sum::<u32>();
                        if i % 5 == 0 {
                            engine.release(&id, None, at(2)).unwrap();
                            held -= outcome.allocation.iter().map(|a| a.quantity).sum::<u32>();
                        }
                    }
                }
                held
            })
        })
        .collect();
    let held: u32 = threads.into_iter().map(|t| t.join().unwrap()).sum();
    let reserved: u32 = ["WH-NEAR", "DC-MID", "WH-FAR", "DS-1"]
        .iter()
        .flat_map(|l| ["A", "B"].map(|s| engine.position(s, l).unwrap().reserved))
        .sum();
    assert_eq!(reserved, held);
    assert!(reserved <= 4 * 65);
    assert!(engine.verify().is_clean());
}

#[test]
fn the_best_location_may_rank_far_down_a_long_list() {
    // 100 warehouses going north, 1 km apart; all have A, only the 90th has B.
    let places: Vec<LocationSpec> = (0..100)
        .map(|i| place(&format!("W{i:03}"), Warehouse, 50.0 + f64::from(i) * 0.009, 0.0, true, false))
        .collect();
    let engine = network(&places, &[]);
    for place in &places {
        stock(&engine, "A", &place.name, 2);
    }
    stock(&engine, "B", "W089", 1);
    let outcome =
        engine.reserve_sourced(&order("far", &[("A", 2), ("B", 1)], deliver(50.0, 0.0), "default"), at(1)).unwrap();
    assert_eq!(
        placed(&engine, &outcome),
        vec![(0, "W089".into(), 2, HoldKind::InStock), (1, "W089".into(), 1, HoldKind::InStock)]
    );
    engine.release("far", None, at(2)).unwrap();
    let outcome =
        engine.reserve_sourced(&order("near", &[("A", 2), ("B", 1)], deliver(50.0, 0.0), "nearest"), at(1)).unwrap();
    assert_eq!(
        placed(&engine, &outcome),
        vec![(0, "W000".into(), 2, HoldKind::InStock), (1, "W089".into(), 1, HoldKind::InStock)]
    );
    // Splits over the far end of the list: 150 units from 75 locations is beyond 8.
    let error =
        engine.reserve_sourced(&order("many", &[("A", 150)], deliver(50.0, 0.0), "nearest"), at(1)).unwrap_err();
    assert!(matches!(error, EngineError::Unsourceable { reason: UnsourceableReason::TooManySplits, .. }), "{error:?}");
    assert!(engine.verify().is_clean());
}

#[test]
fn ties_on_every_key_are_broken_by_name_however_long_the_list() {
    // 120 warehouses at one point with one priority: only names order them.
    let names: Vec<String> = (0..120).map(|i| format!("T{:03}", (i * 37) % 120)).collect();
    let places: Vec<LocationSpec> = names.iter().map(|n| place(n, Warehouse, 51.0, 0.0, true, false)).collect();
    let engine = network(&places, &[]);
    for name in &names {
        let index: u32 = name[1..].parse().unwrap();
        stock(&engine, "A", name, if index % 7 == 3 { 5 } else { 1 });
    }
    let first = |id: &str, quantity: u32, profile: &str| {
        let outcome =
            engine.reserve_sourced(&order(id, &[("A", quantity)], deliver(51.0, 0.0), profile), at(1)).unwrap();
        engine.release(id, None, at(2)).unwrap();
        placed(&engine, &outcome).into_iter().map(|p| (p.1, p.2)).collect::<Vec<_>>()
    };
    assert_eq!(first("one", 1, "nearest"), vec![("T000".to_owned(), 1)]);
    // Only every seventh (from T003) has 5: the first by name.
    assert_eq!(first("five", 5, "single"), vec![("T003".to_owned(), 5)]);
    // Without minimising, a split fills by name order.
    assert_eq!(first("three", 3, "nearest"), vec![("T000".into(), 1), ("T001".into(), 1), ("T002".into(), 1)]);
}

#[test]
fn candidates_tied_on_distance_at_the_ranking_boundary_keep_their_order() {
    // 99 warehouses in groups of three at one point, groups 1 km apart; within a
    // group the higher index has the lower (better) priority. Only group 21, the
    // one holding the 64th nearest, has B.
    let places: Vec<LocationSpec> = (0..99u32)
        .map(|i| {
            let group = f64::from(i / 3);
            let spec = place(&format!("W{i:03}"), Warehouse, 50.0 + group * 0.009, 0.0, true, false);
            with_priority(spec, 1_000 - i as u16)
        })
        .collect();
    let engine = network(&places, &[]);
    for place in &places {
        stock(&engine, "A", &place.name, 1);
    }
    for name in ["W063", "W064", "W065"] {
        stock(&engine, "B", name, 1);
    }
    let outcome =
        engine.reserve_sourced(&order("tie", &[("A", 1), ("B", 1)], deliver(50.0, 0.0), "single"), at(1)).unwrap();
    assert_eq!(
        placed(&engine, &outcome),
        vec![(0, "W065".into(), 1, HoldKind::InStock), (1, "W065".into(), 1, HoldKind::InStock)]
    );
    // `nearest` ranks by distance only: within group 0, the name decides.
    let outcome = engine.reserve_sourced(&order("near", &[("A", 1)], deliver(50.0, 0.0), "nearest"), at(1)).unwrap();
    assert_eq!(placed(&engine, &outcome), vec![(0, "W000".into(), 1, HoldKind::InStock)]);
    assert_eq!(outcome.allocation[0].distance_m, Some(0));
}
