//! Event kinds on scripted sequences: snapshots, transitions, every-change, gaps, kits,
//! SKUs named early, every-SKU subscriptions, catalogue changes, resync.

use super::*;

#[test]
fn scripted_sequence_gives_snapshot_out_of_stock_back_in_stock_and_low_stock() {
    let engine = engine();
    let hub = FeedHub::manual(engine.clone(), config());
    let subscriber = hub
        .subscribe(SubscriptionSpec { low_stock_below: Some(5), ..spec(&[TSHIRT], vec![web(), FeedScope::Locations]) })
        .expect("subscribe");
    assert!(take_all(&subscriber).is_empty(), "nothing before the hub's cycle");
    hub.run_cycle();
    assert_eq!(
        brief(&take_all(&subscriber)),
        vec![
            event(TSHIRT, WEB, EventKind::Snapshot, 18),
            event(TSHIRT, WAREHOUSE, EventKind::Snapshot, 10),
            event(TSHIRT, DISTRIBUTION_CENTRE, EventKind::Snapshot, 5),
            event(TSHIRT, STORE, EventKind::Snapshot, 3),
        ]
    );

    engine.set_on_hand(TSHIRT, WAREHOUSE, 0, None).expect("count");
    engine.set_on_hand(TSHIRT, DISTRIBUTION_CENTRE, 0, None).expect("count");
    hub.run_cycle();
    assert_eq!(
        brief(&take_all(&subscriber)),
        vec![
            event(TSHIRT, WEB, EventKind::LowStock, 3),
            event(TSHIRT, WAREHOUSE, EventKind::OutOfStock, 0),
            event(TSHIRT, DISTRIBUTION_CENTRE, EventKind::OutOfStock, 0),
        ]
    );

    engine.reserve(&request("cart-1", vec![line(TSHIRT, STORE, 3)]), at(1)).expect("reserve");
    hub.run_cycle();
    assert_eq!(
        brief(&take_all(&subscriber)),
        vec![event(TSHIRT, WEB, EventKind::OutOfStock, 0), event(TSHIRT, STORE, EventKind::OutOfStock, 0)]
    );

    engine.release("cart-1", Some(&step("s1", &[(TSHIRT, STORE, 1)])), at(2)).expect("release");
    hub.run_cycle();
    assert_eq!(
        brief(&take_all(&subscriber)),
        vec![event(TSHIRT, WEB, EventKind::BackInStock, 1), event(TSHIRT, STORE, EventKind::BackInStock, 1)]
    );

    // A change that stays below the threshold and above 0: nothing without every_change.
    engine.release("cart-1", Some(&step("s2", &[(TSHIRT, STORE, 1)])), at(3)).expect("release");
    hub.run_cycle();
    assert!(take_all(&subscriber).is_empty());

    // A burst between two cycles that ends where it started: nothing.
    engine.adjust(TSHIRT, STORE, 10, AdjustReason::Received, "x").expect("adjust");
    engine.adjust(TSHIRT, STORE, -10, AdjustReason::Damaged, "x").expect("adjust");
    hub.run_cycle();
    assert!(take_all(&subscriber).is_empty());

    // A burst that crosses 0 and back within one cycle: coalesced to nothing.
    engine.reserve(&request("cart-2", vec![line(TSHIRT, STORE, 2)]), at(4)).expect("reserve");
    engine.release("cart-2", None, at(5)).expect("release");
    hub.run_cycle();
    assert!(take_all(&subscriber).is_empty());
}

#[test]
fn every_change_reports_plain_changes_and_bursts_keep_the_first_before() {
    let engine = engine();
    let hub = FeedHub::manual(engine.clone(), config());
    let subscriber = hub
        .subscribe(SubscriptionSpec {
            every_change: true,
            ..spec(&[MUG], vec![FeedScope::Channel(MARKETPLACE.to_owned())])
        })
        .expect("subscribe");
    hub.run_cycle();
    // MUG: 20 at the warehouse, marketplace buffer of 2 units.
    assert_eq!(brief(&take_all(&subscriber)), vec![event(MUG, MARKETPLACE, EventKind::Snapshot, 18)]);
    engine.adjust(MUG, WAREHOUSE, -5, AdjustReason::Damaged, "d").expect("adjust");
    hub.run_cycle();
    engine.adjust(MUG, WAREHOUSE, -5, AdjustReason::Damaged, "d").expect("adjust");
    hub.run_cycle();
    // Two cycles' changes, still pending together: one event, the latest value.
    assert_eq!(brief(&take_all(&subscriber)), vec![event(MUG, MARKETPLACE, EventKind::Changed, 8)]);
    assert_eq!(hub.stats().coalesced, 1);
    // Down to the buffer: the channel shows 0.
    engine.adjust(MUG, WAREHOUSE, -8, AdjustReason::Damaged, "d").expect("adjust");
    hub.run_cycle();
    assert_eq!(brief(&take_all(&subscriber)), vec![event(MUG, MARKETPLACE, EventKind::OutOfStock, 0)]);
}

#[test]
fn a_full_pending_map_drops_it_and_resends_the_latest_values_with_a_gap() {
    let engine = engine();
    let hub = FeedHub::manual(engine.clone(), FeedConfig { buffer_keys: 2, ..config() });
    let subscriber = hub
        .subscribe(SubscriptionSpec { every_change: true, ..spec(&[TSHIRT, MUG, common::CAP], vec![web()]) })
        .expect("subscribe");
    hub.run_cycle();
    assert_eq!(take_all(&subscriber).len(), 3, "snapshots may exceed buffer_keys: they are bounded by the SKU list");
    for sku in [TSHIRT, MUG, common::CAP] {
        engine.adjust(sku, WAREHOUSE, -1, AdjustReason::Damaged, "d").expect("adjust");
    }
    hub.run_cycle();
    let stats = hub.stats();
    assert_eq!(stats.overflows, 1);
    assert!(stats.pending_keys_max <= 2 + 3);
    engine.adjust(MUG, WAREHOUSE, -1, AdjustReason::Damaged, "d").expect("adjust");
    hub.run_cycle();
    let events = take_all(&subscriber);
    // Events come in SKU id order (the fixture interns TSHIRT, MUG, CAP in that
    // order); MUG's change after the overflow coalesced into its re-sent value.
    let gap = |sku: &str, available| (sku.to_owned(), WEB.to_owned(), EventKind::Snapshot, available, true);
    assert_eq!(brief(&events), vec![gap(TSHIRT, 17), gap(MUG, 18), gap(common::CAP, 3)]);
    assert_eq!(hub.stats().gaps, 3);
    // Back to normal: the next change is an ordinary event.
    engine.adjust(MUG, WAREHOUSE, -1, AdjustReason::Damaged, "d").expect("adjust");
    hub.run_cycle();
    assert_eq!(brief(&take_all(&subscriber)), vec![event(MUG, WEB, EventKind::Changed, 17)]);
}

#[test]
fn kits_follow_their_components() {
    let engine = engine();
    engine.define_kit("GIFT-SET", &[(TSHIRT.to_owned(), 1), (MUG.to_owned(), 2)]).expect("kit");
    let hub = FeedHub::manual(engine.clone(), config());
    let subscriber = hub.subscribe(spec(&["GIFT-SET"], vec![web()])).expect("subscribe");
    hub.run_cycle();
    // Warehouse: min(10, 20 / 2) = 10; the other web locations have no mugs.
    assert_eq!(brief(&take_all(&subscriber)), vec![event("GIFT-SET", WEB, EventKind::Snapshot, 10)]);
    engine.set_on_hand(MUG, WAREHOUSE, 1, None).expect("count");
    hub.run_cycle();
    assert_eq!(brief(&take_all(&subscriber)), vec![event("GIFT-SET", WEB, EventKind::OutOfStock, 0)]);
}

#[test]
fn a_sku_named_before_it_exists_starts_at_zero_and_reports_its_stock() {
    let engine = engine();
    let hub = FeedHub::manual(engine.clone(), config());
    let subscriber = hub.subscribe(spec(&["LATER-1"], vec![web(), FeedScope::Locations])).expect("subscribe");
    hub.run_cycle();
    assert_eq!(brief(&take_all(&subscriber)), vec![event("LATER-1", WEB, EventKind::Snapshot, 0)]);
    engine.set_on_hand("LATER-1", STORE, 6, None).expect("count");
    hub.run_cycle();
    let events = take_all(&subscriber);
    let mut known: HashMap<(String, String), u64> = HashMap::new();
    for e in &events {
        known.insert((e.sku.to_string(), e.scope.to_string()), e.available);
    }
    assert_eq!(known.get(&("LATER-1".to_owned(), WEB.to_owned())), Some(&6));
    assert_eq!(known.get(&("LATER-1".to_owned(), STORE.to_owned())), Some(&6));
}

#[test]
fn every_sku_subscription_gets_a_marker_then_changes_of_any_sku() {
    let engine = engine();
    let hub = FeedHub::manual(engine.clone(), config());
    let subscriber = hub.subscribe(spec(&[], vec![web()])).expect("subscribe");
    hub.run_cycle();
    let events = take_all(&subscriber);
    assert_eq!(events.len(), 1);
    assert!(events[0].is_resync_marker() && events[0].gap);

    engine.set_on_hand(MUG, DISTRIBUTION_CENTRE, 4, None).expect("count");
    engine.set_on_hand("BRAND-NEW", STORE, 2, None).expect("count");
    engine.set_on_hand("NOT-IN-WEB", OTHER_STORE, 2, None).expect("count");
    hub.run_cycle();
    let mut events = brief(&take_all(&subscriber));
    events.sort();
    assert_eq!(events, vec![event("BRAND-NEW", WEB, EventKind::BackInStock, 2)]);
    engine.set_on_hand(TSHIRT, WAREHOUSE, 0, None).expect("count");
    hub.run_cycle();
    assert!(take_all(&subscriber).is_empty(), "18 -> 8 is a plain change");

    // Overflow of an every-SKU subscription: one marker, then changes again.
    // (One hub per engine: hubs would share, and split, the engine's dirty queue.)
    let engine = self::engine();
    let small = FeedHub::manual(engine.clone(), FeedConfig { buffer_keys: 1, ..config() });
    let watcher =
        small.subscribe(SubscriptionSpec { every_change: true, ..spec(&[], vec![web()]) }).expect("subscribe");
    small.run_cycle();
    assert!(take_all(&watcher)[0].is_resync_marker());
    engine.set_on_hand(TSHIRT, WAREHOUSE, 1, None).expect("count");
    engine.set_on_hand(MUG, WAREHOUSE, 1, None).expect("count");
    small.run_cycle();
    let events = take_all(&watcher);
    assert!(events[0].is_resync_marker(), "{events:?}");
    assert_eq!(small.stats().overflows, 1);
}

#[test]
fn a_catalogue_change_is_reported_as_changes_of_channel_values() {
    let engine = engine();
    let hub = FeedHub::manual(engine.clone(), config());
    let subscriber = hub.subscribe(spec(&[TSHIRT], vec![web()])).expect("subscribe");
    hub.run_cycle();
    take_all(&subscriber);
    // The web channel loses every location holding T-shirts but one with none.
    engine.upsert_channel(&channel_spec(WEB, &[OTHER_STORE], &[], ChannelBuffer::None)).expect("channel");
    hub.run_cycle();
    assert_eq!(brief(&take_all(&subscriber)), vec![event(TSHIRT, WEB, EventKind::OutOfStock, 0)]);
}

#[test]
fn resync_resends_the_hubs_values_of_watched_skus_only() {
    let engine = engine();
    let hub = FeedHub::manual(engine.clone(), FeedConfig { max_skus_per_subscription: 2, ..config() });
    let subscriber = hub.subscribe(spec(&[TSHIRT], vec![web()])).expect("subscribe");
    hub.run_cycle();
    take_all(&subscriber);
    subscriber.resync(&[TSHIRT.to_owned(), MUG.to_owned()]).expect("resync");
    hub.run_cycle();
    assert_eq!(
        brief(&take_all(&subscriber)),
        vec![(TSHIRT.to_owned(), WEB.to_owned(), EventKind::Snapshot, 18, true)],
        "MUG is not listed by this subscription"
    );
    assert!(matches!(
        subscriber.resync(&["A".to_owned(), "B".to_owned(), "C".to_owned()]),
        Err(FeedError::TooManySkus { count: 3, limit: 2 })
    ));
    assert!(matches!(subscriber.resync(&["bad sku".to_owned()]), Err(FeedError::InvalidSku { .. })));
}
