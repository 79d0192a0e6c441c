//! The availability change feed against a real engine: the tracker hook on every
//! write path, event kinds on a scripted sequence, snapshots, gaps after overflow,
//! kits, SKUs named before they exist, every-SKU subscriptions, limits and typed
//! errors, unsubscribing, and many subscribers against a fast writer (bounded
//! memory, and every subscriber ends on the true final availability).
//!
//! Most tests drive the hub by hand (`FeedHub::manual` + `run_cycle`): no sleeps.

mod common;

use common::{
    at, channel_spec, line, request, step, Fixture, DISTRIBUTION_CENTRE, LOCATIONS, MUG, OTHER_STORE, STORE, TSHIRT,
    WAREHOUSE, WEB,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use stockd::engine::{AdjustReason, LoggedPosition, ReplayEntry, RestockRequest};
use stockd::feed::{
    EventKind, FeedConfig, FeedError, FeedEvent, FeedHub, FeedScope, Subscriber, SubscriptionSpec,
    MAX_SCOPES_PER_SUBSCRIPTION,
};
use stockd::model::{Bucket, ChannelBuffer, Position, PositionRow, SkuId};
use stockd::Engine;

const MARKETPLACE: &str = "marketplace";

fn engine() -> Arc<Engine> {
    let fixture = Fixture::new();
    fixture
        .engine
        .upsert_channel(&channel_spec(MARKETPLACE, &[WAREHOUSE, OTHER_STORE], &[], ChannelBuffer::Units(2)))
        .expect("a valid channel");
    Arc::new(fixture.engine)
}

fn config() -> FeedConfig {
    FeedConfig { buffer_keys: 64, ..FeedConfig::default() }
}

fn spec(skus: &[&str], scopes: Vec<FeedScope>) -> SubscriptionSpec {
    SubscriptionSpec {
        skus: skus.iter().map(|s| (*s).to_owned()).collect(),
        scopes,
        low_stock_below: None,
        every_change: false,
    }
}

fn web() -> FeedScope {
    FeedScope::Channel(WEB.to_owned())
}

fn take_all(subscriber: &Subscriber) -> Vec<FeedEvent> {
    let mut out = Vec::new();
    while subscriber.try_take(&mut out, 7) > 0 {}
    out
}

/// (sku, scope, kind, available, gap) of each event, for compact assertions.
fn brief(events: &[FeedEvent]) -> Vec<(String, String, EventKind, u64, bool)> {
    events.iter().map(|e| (e.sku.to_string(), e.scope.to_string(), e.kind, e.available, e.gap)).collect()
}

fn event(sku: &str, scope: &str, kind: EventKind, available: u64) -> (String, String, EventKind, u64, bool) {
    (sku.to_owned(), scope.to_owned(), kind, available, false)
}

fn true_value(engine: &Engine, sku: &str, scope: &str, is_channel: bool) -> u64 {
    if is_channel {
        engine.channel_availability(sku, scope, false).expect("a known channel").available
    } else {
        engine.position(sku, scope).map_or(0, |p| u64::from(p.available_to_sell))
    }
}

fn drained(engine: &Engine) -> Vec<SkuId> {
    let mut out = Vec::new();
    engine.changes().drain(&mut out, 1_000);
    out.sort_unstable();
    out.dedup();
    out
}

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
fn limits_and_typed_errors() {
    let engine = engine();
    let hub =
        FeedHub::manual(engine.clone(), FeedConfig { max_subscribers: 2, max_skus_per_subscription: 3, ..config() });
    assert_eq!(hub.subscribe(spec(&[TSHIRT], vec![])).unwrap_err(), FeedError::NoScopes);
    assert_eq!(
        hub.subscribe(spec(&["A", "B", "C", "D"], vec![web()])).unwrap_err(),
        FeedError::TooManySkus { count: 4, limit: 3 }
    );
    let many = vec![web(); MAX_SCOPES_PER_SUBSCRIPTION + 1];
    assert!(matches!(hub.subscribe(spec(&[TSHIRT], many)).unwrap_err(), FeedError::TooManyScopes { .. }));
    assert_eq!(
        hub.subscribe(spec(&[TSHIRT], vec![FeedScope::Channel("nope".to_owned())])).unwrap_err(),
        FeedError::UnknownChannel("nope".to_owned())
    );
    assert!(matches!(
        hub.subscribe(spec(&["has space"], vec![web()])).unwrap_err(),
        FeedError::InvalidSku { sku, .. } if sku == "has space"
    ));
    let first = hub.subscribe(spec(&[TSHIRT], vec![web()])).expect("first");
    let second = hub.subscribe(spec(&[TSHIRT], vec![web()])).expect("second");
    assert_ne!(first.id(), second.id());
    assert_eq!(hub.subscribe(spec(&[TSHIRT], vec![web()])).unwrap_err(), FeedError::TooManySubscribers { limit: 2 });
    drop(second);
    let third = hub.subscribe(spec(&[TSHIRT], vec![web()])).expect("a slot was freed");
    hub.stop();
    assert_eq!(hub.subscribe(spec(&[TSHIRT], vec![web()])).unwrap_err(), FeedError::Stopped);
    drop((first, third));
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
fn next_batch_waits_for_the_hub_thread_and_returns_zero_once_stopped() {
    let engine = engine();
    let hub = FeedHub::start(engine.clone(), FeedConfig { poll_interval: Duration::from_millis(1), ..config() });
    let subscriber = hub.subscribe(spec(&[TSHIRT], vec![web()])).expect("subscribe");
    let runtime = tokio::runtime::Builder::new_current_thread().enable_time().build().expect("runtime");
    runtime.block_on(async {
        let mut out = Vec::new();
        assert_eq!(subscriber.next_batch(&mut out, 10).await, 1);
        assert_eq!(out[0].kind, EventKind::Snapshot);
        engine.set_on_hand(TSHIRT, WAREHOUSE, 0, None).expect("count");
        engine.set_on_hand(TSHIRT, DISTRIBUTION_CENTRE, 0, None).expect("count");
        engine.set_on_hand(TSHIRT, STORE, 0, None).expect("count");
        out.clear();
        // The three counts may land in one cycle or several; the last event says 0.
        while out.last().is_none_or(|e| e.available != 0) {
            assert!(subscriber.next_batch(&mut out, 10).await > 0);
        }
        assert_eq!(out.last().map(|e| e.kind), Some(EventKind::OutOfStock));
        let stopper = {
            let hub = hub.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(20));
                hub.stop();
            })
        };
        out.clear();
        assert_eq!(subscriber.next_batch(&mut out, 10).await, 0, "the hub stopped");
        stopper.join().expect("stopper");
    });
}

/// Keeps what a subscriber knows: snapshot and events applied in order.
#[derive(Default)]
struct Known {
    values: HashMap<(Arc<str>, Arc<str>, bool), u64>,
    resyncs: usize,
}

impl Known {
    /// Applies events in order; on a resync marker, asks the hub for the values of
    /// the SKUs it cares about (what docs/FEED.md tells an every-SKU client to do).
    fn apply(&mut self, events: &[FeedEvent], subscriber: &Subscriber, cares_about: &[String]) -> bool {
        let mut marker = false;
        for e in events {
            if e.is_resync_marker() {
                self.resyncs += 1;
                marker = true;
            } else {
                self.values.insert((e.sku.clone(), e.scope.clone(), e.scope_is_channel), e.available);
            }
        }
        if marker {
            subscriber.resync(cares_about).expect("a valid resync");
        }
        marker
    }
}

#[test]
fn many_subscribers_and_a_fast_writer_bounded_memory_and_true_final_values() {
    let engine = engine();
    let hot: Vec<String> = (0..4).map(|i| format!("HOT-{i}")).collect();
    for sku in &hot {
        for location in [WAREHOUSE, DISTRIBUTION_CENTRE, STORE, OTHER_STORE] {
            engine.set_on_hand(sku, location, 40, None).expect("stock");
        }
    }
    let buffer_keys = 6;
    let hub = FeedHub::start(
        engine.clone(),
        FeedConfig { buffer_keys, poll_interval: Duration::from_millis(1), ..FeedConfig::default() },
    );
    let channels = [WEB, MARKETPLACE];
    // 200 subscribers: (subscriber, every_change, how it reads).
    #[derive(Clone, Copy, PartialEq)]
    enum Reader {
        Fast,
        Slow,
        Never,
    }
    let mut subscribers = Vec::new();
    for i in 0..200usize {
        let skus: Vec<&str> = match i % 4 {
            0 => vec![hot[i % hot.len()].as_str()],
            1 => hot.iter().map(String::as_str).collect(),
            2 => vec![hot[0].as_str(), hot[1].as_str()],
            _ => vec![],
        };
        let mut scopes = vec![FeedScope::Channel(channels[i % 2].to_owned())];
        if i.is_multiple_of(3) {
            scopes.push(FeedScope::Locations);
        }
        if i.is_multiple_of(5) {
            scopes.push(FeedScope::Channel(channels[(i + 1) % 2].to_owned()));
        }
        let every_change = i.is_multiple_of(2);
        let reader = match i % 10 {
            0..=5 => Reader::Fast,
            6..=7 => Reader::Slow,
            _ => Reader::Never,
        };
        let spec = SubscriptionSpec {
            skus: skus.iter().map(|s| (*s).to_owned()).collect(),
            scopes,
            low_stock_below: Some(10),
            every_change,
        };
        subscribers.push((Arc::new(hub.subscribe(spec).expect("subscribe")), every_change, reader));
    }
    // Keys a listed subscriber may hold values for: its SKUs x (channels + 4 locations).
    let most_listed_keys = hot.len() * (2 + 4);
    let bound = (buffer_keys + most_listed_keys) as u64;

    let stop = Arc::new(AtomicBool::new(false));
    let knowledge: Vec<Arc<parking_lot::Mutex<Known>>> =
        subscribers.iter().map(|_| Arc::new(parking_lot::Mutex::new(Known::default()))).collect();
    let mut readers = Vec::new();
    for (pace, reader_kind) in [(Duration::ZERO, Reader::Fast), (Duration::from_millis(30), Reader::Slow)] {
        let chosen: Vec<_> = subscribers
            .iter()
            .zip(&knowledge)
            .filter(|((_, _, kind), _)| *kind == reader_kind)
            .map(|((subscriber, _, _), known)| (subscriber.clone(), known.clone()))
            .collect();
        let stop = stop.clone();
        let hot = hot.clone();
        readers.push(std::thread::spawn(move || {
            let mut out = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                for (subscriber, known) in &chosen {
                    out.clear();
                    subscriber.try_take(&mut out, 3);
                    known.lock().apply(&out, subscriber, &hot);
                }
                std::thread::sleep(pace.max(Duration::from_micros(200)));
            }
        }));
    }
    let monitor = {
        let hub = hub.clone();
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut worst = 0;
            while !stop.load(Ordering::Relaxed) {
                worst = worst.max(hub.stats().pending_keys_max);
                std::thread::sleep(Duration::from_millis(2));
            }
            worst
        })
    };

    let writer = {
        let engine = engine.clone();
        let hot = hot.clone();
        std::thread::spawn(move || {
            let mut rng = StdRng::seed_from_u64(6);
            let mut held: Vec<String> = Vec::new();
            let locations = [WAREHOUSE, DISTRIBUTION_CENTRE, STORE, OTHER_STORE];
            for n in 0..6_000u64 {
                let sku = &hot[rng.random_range(0..hot.len())];
                let location = locations[rng.random_range(0..locations.len())];
                match rng.random_range(0..10) {
                    0..=4 => {
                        let id = format!("r{n}");
                        let quantity = rng.random_range(1..=6);
                        if engine.reserve(&request(&id, vec![line(sku, location, quantity)]), at(n)).is_ok() {
                            held.push(id);
                        }
                    }
                    5..=7 if !held.is_empty() => {
                        let id = held.swap_remove(rng.random_range(0..held.len()));
                        engine.release(&id, None, at(n)).expect("release a held reservation");
                    }
                    _ => {
                        let delta = rng.random_range(-8..=8);
                        let _ = engine.adjust(sku, location, delta, AdjustReason::Correction, "c");
                    }
                }
            }
        })
    };
    writer.join().expect("writer");
    std::thread::sleep(Duration::from_millis(50));
    stop.store(true, Ordering::Relaxed);
    for reader in readers {
        reader.join().expect("reader");
    }
    let worst_seen = monitor.join().expect("monitor");
    // Every change is now in the hub's values after one more cycle; then every
    // subscriber takes what it has, asking for values after a marker, until none
    // is left waiting for a resync.
    hub.run_cycle();
    let mut rounds = 0;
    loop {
        let mut markers = 0;
        for ((subscriber, _, _), known) in subscribers.iter().zip(&knowledge) {
            markers += usize::from(known.lock().apply(&take_all(subscriber), subscriber, &hot));
        }
        if markers == 0 {
            break;
        }
        rounds += 1;
        assert!(rounds < 5, "resyncs are served by the next cycle");
        hub.run_cycle();
    }

    let stats = hub.stats();
    eprintln!("feed stats after the run: {stats:?}");
    assert!(stats.pending_keys_max <= bound, "pending {} > bound {bound}", stats.pending_keys_max);
    assert!(worst_seen <= bound);
    assert!(stats.overflows > 0, "the slow and silent subscribers overflowed: {stats:?}");
    assert!(stats.coalesced > 0, "{stats:?}");
    for (subscriber, _, _) in &subscribers {
        assert!(subscriber.pending_len() as u64 <= bound);
    }

    for (index, ((subscriber, every_change, _), known)) in subscribers.iter().zip(&knowledge).enumerate() {
        let known = known.lock();
        assert!(subscriber.pending_len() == 0);
        let every_sku = index % 4 == 3;
        if every_sku {
            assert!(known.resyncs >= 1, "subscriber {index}: the first event is a marker");
        }
        for ((sku, scope, is_channel), value) in &known.values {
            let truth = true_value(&engine, sku, scope, *is_channel);
            if *every_change {
                assert_eq!(*value, truth, "subscriber {index}: {sku} in {scope}");
            } else {
                assert_eq!(*value == 0, truth == 0, "subscriber {index}: {sku} in {scope}: {value} vs {truth}");
            }
        }
        if !every_sku {
            // A listed subscriber knows a value for every key it watches.
            let channel_keys = known.values.keys().filter(|k| k.2).count();
            assert!(channel_keys > 0, "subscriber {index} knows its channel values");
        }
    }
    hub.stop();
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
