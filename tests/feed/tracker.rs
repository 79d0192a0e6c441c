//! The tracker hook: every write path and replay report their SKUs; the tracker is off
//! without subscribers; a full queue makes the hub rescan.

use super::*;

#[test]
fn every_write_path_reports_its_sku_to_the_tracker() {
    let engine = engine();
    let tshirt = engine.sku_id(TSHIRT).expect("interned");
    let mug = engine.sku_id(MUG).expect("interned");
    engine.changes().enable();
    assert!(drained(&engine).is_empty());

    engine.adjust(TSHIRT, WAREHOUSE, 2, AdjustReason::Received, "po-1").expect("adjust");
    assert_eq!(drained(&engine), vec![tshirt], "adjust");
    engine.set_on_hand(MUG, WAREHOUSE, 30, None).expect("count");
    assert_eq!(drained(&engine), vec![mug], "set on hand");

    engine.reserve(&request("r1", vec![line(TSHIRT, WAREHOUSE, 1), line(MUG, WAREHOUSE, 1)]), at(1)).expect("reserve");
    assert_eq!(drained(&engine), vec![tshirt, mug], "reserve");
    engine.release("r1", Some(&step("s1", &[(MUG, WAREHOUSE, 1)])), at(2)).expect("partial release");
    assert_eq!(drained(&engine), vec![mug], "partial release");
    engine.commit("r1", at(3)).expect("commit");
    drained(&engine);
    engine.fulfil("r1", None, at(4)).expect("fulfil");
    assert_eq!(drained(&engine), vec![tshirt], "fulfil");
    let restock = RestockRequest {
        reservation_id: "r1".to_owned(),
        step_id: "ret-1".to_owned(),
        line: stockd::engine::LineQuantity { sku: TSHIRT.to_owned(), location: STORE.to_owned(), quantity: 1 },
        bucket: Bucket::Sellable,
    };
    engine.restock(&restock).expect("return");
    assert_eq!(drained(&engine), vec![tshirt], "return");

    engine.reserve(&request("r2", vec![line(MUG, WAREHOUSE, 2)]), at(10)).expect("reserve");
    drained(&engine);
    engine.expire_due(at(10 + common::TTL_MS + 1));
    assert_eq!(drained(&engine), vec![mug], "expiry");

    let row = |sku: &str, on_hand| PositionRow {
        sku: sku.to_owned(),
        location: OTHER_STORE.to_owned(),
        on_hand,
        safety_stock: 0,
        damaged: 0,
        quality_control: 0,
        backorder_limit: 0,
    };
    engine.bulk_load(&[row(TSHIRT, 4), row("BULK-NEW", 9)]).expect("bulk load");
    let bulk_new = engine.sku_id("BULK-NEW").expect("interned by the load");
    assert_eq!(drained(&engine), vec![tshirt, bulk_new], "bulk load (new and existing positions)");

    // A refused write may report its SKU (harmless); a read reports nothing.
    engine.channel_availability(TSHIRT, WEB, true).expect("read");
    engine.position(MUG, WAREHOUSE).expect("read");
    assert!(drained(&engine).is_empty(), "reads");

    engine.changes().disable();
    engine.adjust(TSHIRT, WAREHOUSE, 1, AdjustReason::Received, "po-2").expect("adjust");
    assert!(drained(&engine).is_empty(), "disabled");
}

#[test]
fn replay_reports_its_skus_too() {
    let source = engine();
    let replica = Engine::new(stockd::EngineConfig { stock_shards: 8, reservation_shards: 4, ..Default::default() });
    // Same catalogue and interned names, then a logged after-image replayed.
    for id in 0..source.sku_count() {
        let name = source.sku_name(SkuId(id as u32)).to_string();
        replica.replay(ReplayEntry::SkuInterned { sku: SkuId(id as u32), name }).expect("interning");
    }
    let locations: Vec<_> = LOCATIONS
        .iter()
        .map(|name| common::location_spec(name, stockd::model::LocationKind::Store, 0.0, 0.0))
        .collect();
    replica.upsert_locations(&locations).expect("locations");
    replica.changes().enable();
    let tshirt = replica.sku_id(TSHIRT).expect("interned");
    let position = Position { on_hand: 7, ..Position::default() };
    let location = replica.catalogue().location_id(WAREHOUSE).expect("known");
    replica
        .replay(ReplayEntry::Change {
            at: at(1),
            positions: vec![LoggedPosition { sku: tshirt, location, position }],
            reservation: None,
        })
        .expect("replay");
    assert_eq!(drained(&replica), vec![tshirt]);
}

#[test]
fn dropping_the_last_subscriber_disables_the_tracker() {
    let engine = engine();
    let hub = FeedHub::manual(engine.clone(), config());
    assert!(!engine.changes().is_enabled(), "off until someone subscribes");
    let subscriber = hub.subscribe(spec(&[TSHIRT], vec![web()])).expect("subscribe");
    hub.run_cycle();
    assert!(engine.changes().is_enabled());
    assert_eq!(hub.stats().subscribers, 1);
    assert!(hub.stats().tracked_keys >= 1);
    drop(subscriber);
    assert_eq!(hub.stats().subscribers, 0);
    hub.run_cycle();
    assert!(!engine.changes().is_enabled());
    assert_eq!(hub.stats().tracked_keys, 0);
}

#[test]
fn a_full_dirty_queue_makes_the_hub_rescan_and_values_stay_true() {
    let engine = engine();
    // The first enabling sizes the engine's queue: 2 SKU ids.
    let hub = FeedHub::manual(engine.clone(), FeedConfig { queue_capacity: 2, ..config() });
    let subscriber = hub
        .subscribe(SubscriptionSpec { every_change: true, ..spec(&[TSHIRT, MUG, common::CAP], vec![web()]) })
        .expect("subscribe");
    hub.run_cycle();
    take_all(&subscriber);
    for (sku, on_hand) in [(TSHIRT, 1), (MUG, 2), (common::CAP, 3), ("UNWATCHED", 9)] {
        engine.set_on_hand(sku, WAREHOUSE, on_hand, None).expect("count");
    }
    hub.run_cycle();
    assert_eq!(hub.stats().tracker_overflows, 1);
    let mut events = brief(&take_all(&subscriber));
    events.sort();
    assert_eq!(
        events,
        vec![
            event(common::CAP, WEB, EventKind::Changed, 3),
            event(MUG, WEB, EventKind::Changed, 2),
            event(TSHIRT, WEB, EventKind::Changed, 9),
        ]
    );
}
