//! The availability change feed through the network (issue 6 §3): a subscription on
//! its own QUIC stream through the Rust client, the events a storefront relies on
//! (snapshot, out of stock, back in stock, low stock, every change), bad
//! subscriptions refused with typed errors, the subscriber limit, a subscriber that
//! never reads (writers are not slowed; it catches up with gap-marked latest values),
//! and unsubscribing by closing the stream.

mod net;

use net::*;
use std::collections::HashMap;
use std::time::{Duration, Instant};
use stockd::client::{Client, ClientError, Subscription};
use stockd::engine::{ReserveLine, ReserveRequest};
use stockd::model::{ChannelBuffer, ChannelSpec, Coordinates, LocationFlags, LocationKind, LocationSpec};
use stockd::protocol::{ErrorCode, WireEventKind, WireFeedEvent, WireSubscription};
use stockd::Operation;

async fn seed(admin: &Client, skus: &[&str]) {
    let spec = |name: &str| LocationSpec {
        name: name.into(),
        kind: LocationKind::Warehouse,
        coordinates: Coordinates { latitude: 52.0, longitude: 5.0 },
        flags: LocationFlags { ships: true, pickup: false },
        priority: 1,
    };
    admin.apply(Operation::UpsertLocations(vec![spec("DC-1"), spec("DC-2")])).await.unwrap();
    admin
        .apply(Operation::UpsertChannel(ChannelSpec {
            name: "web".into(),
            locations: vec!["DC-1".into(), "DC-2".into()],
            excluded: vec![],
            buffer: ChannelBuffer::None,
        }))
        .await
        .unwrap();
    for sku in skus {
        admin.set_on_hand(sku, "DC-1", 6, None).await.unwrap();
        admin.set_on_hand(sku, "DC-2", 4, None).await.unwrap();
    }
}

fn watch(skus: &[&str], low_stock_below: Option<u32>, every_change: bool) -> WireSubscription {
    WireSubscription {
        skus: skus.iter().map(|s| s.to_string()).collect(),
        channels: vec!["web".into()],
        locations: false,
        low_stock_below,
        every_change,
    }
}

fn reserve(id: &str, sku: &str, location: &str, quantity: u32) -> ReserveRequest {
    ReserveRequest {
        id: id.into(),
        lines: vec![ReserveLine { sku: sku.into(), location: location.into(), quantity }],
        ttl_ms: 600_000,
        promise_by: None,
    }
}

/// Reads events until one matches, within the tests' patience.
async fn until(feed: &mut Subscription, wanted: impl Fn(&WireFeedEvent) -> bool) -> WireFeedEvent {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let event = tokio::time::timeout_at(deadline, feed.next())
            .await
            .expect("the expected event arrives in time")
            .expect("the subscription is healthy")
            .expect("the subscription is open");
        if wanted(&event) {
            return event;
        }
    }
}

#[test]
fn a_storefront_sees_out_of_stock_back_in_stock_and_low_stock_as_they_happen() {
    let server = TestServer::start(|_| {});
    runtime().block_on(async {
        let admin = server.client(ADMIN_TOKEN).await;
        seed(&admin, &["SHIRT", "MUG"]).await;
        let storefront = server.client(READ_TOKEN).await;
        let mut feed = storefront.subscribe(watch(&["SHIRT"], Some(5), false)).await.unwrap();
        let first = until(&mut feed, |_| true).await;
        assert_eq!(
            (first.sku.as_str(), first.scope.as_str(), first.scope_is_channel, first.available, first.kind),
            ("SHIRT", "web", true, 10, WireEventKind::Snapshot)
        );

        let checkout = server.client(RESERVE_TOKEN).await;
        // 10 -> 4: below the threshold of 5.
        checkout.reserve(reserve("r-1", "SHIRT", "DC-1", 6)).await.unwrap();
        let low = until(&mut feed, |e| e.kind != WireEventKind::Snapshot).await;
        assert_eq!((low.kind, low.available), (WireEventKind::LowStock, 4));
        // 4 -> 3 is no news without `every_change`; 3 -> 0 is.
        checkout.reserve(reserve("r-2", "SHIRT", "DC-2", 1)).await.unwrap();
        checkout.reserve(reserve("r-3", "SHIRT", "DC-2", 3)).await.unwrap();
        let out = until(&mut feed, |_| true).await;
        assert_eq!((out.kind, out.available), (WireEventKind::OutOfStock, 0));
        // A change to another SKU says nothing to this subscription.
        checkout.reserve(reserve("r-4", "MUG", "DC-1", 1)).await.unwrap();
        // 0 -> 6.
        checkout.release("r-1", None).await.unwrap();
        let back = until(&mut feed, |_| true).await;
        assert_eq!((back.sku.as_str(), back.kind, back.available), ("SHIRT", WireEventKind::BackInStock, 6));
        feed.close().await;
    });
}

#[test]
fn every_change_subscribers_get_each_value_and_locations_scope_names_each_position() {
    let server = TestServer::start(|_| {});
    runtime().block_on(async {
        let admin = server.client(ADMIN_TOKEN).await;
        seed(&admin, &["SHIRT"]).await;
        let reader = server.client(READ_TOKEN).await;
        let mut all = reader.subscribe(watch(&["SHIRT"], None, true)).await.unwrap();
        let positions = WireSubscription {
            skus: vec!["SHIRT".into()],
            channels: vec![],
            locations: true,
            low_stock_below: None,
            every_change: true,
        };
        let mut each = reader.subscribe(positions).await.unwrap();
        assert_ne!(all.id(), each.id());
        // The write must come after each subscription's first values: a write before
        // the hub's first look is already in the snapshot, and no `Changed` follows.
        let before = until(&mut all, |e| e.kind == WireEventKind::Snapshot).await;
        assert_eq!(before.available, 10);
        until(&mut each, |e| e.kind == WireEventKind::Snapshot && e.scope == "DC-2").await;
        let checkout = server.client(RESERVE_TOKEN).await;
        checkout.reserve(reserve("r-1", "SHIRT", "DC-2", 1)).await.unwrap();
        let changed = until(&mut all, |e| e.kind == WireEventKind::Changed).await;
        assert_eq!(changed.available, 9);
        let at_dc2 = until(&mut each, |e| e.kind == WireEventKind::Changed).await;
        assert_eq!((at_dc2.scope.as_str(), at_dc2.scope_is_channel, at_dc2.available), ("DC-2", false, 3));
    });
}

#[test]
fn bad_subscriptions_are_refused_with_typed_errors_and_the_subscriber_limit_holds() {
    let server = TestServer::start(|config| config.feed.max_subscribers = 2);
    runtime().block_on(async {
        let admin = server.client(ADMIN_TOKEN).await;
        seed(&admin, &["SHIRT"]).await;
        let reader = server.client(READ_TOKEN).await;
        let refused = |result: Result<Subscription, ClientError>| match result {
            Err(error) => error.code(),
            Ok(_) => panic!("refused"),
        };
        let mut unknown = watch(&["SHIRT"], None, false);
        unknown.channels = vec!["no-such-channel".into()];
        assert_eq!(refused(reader.subscribe(unknown).await), Some(ErrorCode::UnknownEntity));
        let too_many: Vec<String> = (0..2_000).map(|i| format!("SKU-{i}")).collect();
        let mut big = watch(&[], None, false);
        big.skus = too_many;
        assert_eq!(refused(reader.subscribe(big).await), Some(ErrorCode::LimitExceeded));
        let mut nothing = watch(&["SHIRT"], None, false);
        nothing.channels.clear();
        assert_eq!(refused(reader.subscribe(nothing).await), Some(ErrorCode::InvalidArgument));

        let first = reader.subscribe(watch(&["SHIRT"], None, false)).await.unwrap();
        let second = reader.subscribe(watch(&["SHIRT"], None, false)).await.unwrap();
        assert_eq!(refused(reader.subscribe(watch(&["SHIRT"], None, false)).await), Some(ErrorCode::Overloaded));
        // Closing one frees its place.
        first.close().await;
        let deadline = Instant::now() + PATIENCE;
        let third = loop {
            match reader.subscribe(watch(&["SHIRT"], None, false)).await {
                Ok(subscription) => break subscription,
                Err(error) if error.code() == Some(ErrorCode::Overloaded) && Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(20)).await
                }
                Err(error) => panic!("{error}"),
            }
        };
        drop((second, third));
        // Queries still work on the same connection meanwhile.
        assert!(reader.ping().await.is_ok());
    });
}

#[test]
fn a_subscriber_that_never_reads_slows_no_writer_and_catches_up_on_the_true_final_values() {
    let skus: Vec<String> = (0..40).map(|i| format!("SKU-{i:02}")).collect();
    let sku_refs: Vec<&str> = skus.iter().map(String::as_str).collect();
    let server = TestServer::start(|config| {
        config.feed.buffer_keys = 4;
        config.durability = "interval:5".into();
    });
    runtime().block_on(async {
        let admin = server.client(ADMIN_TOKEN).await;
        seed(&admin, &sku_refs).await;
        let reader = server.client(READ_TOKEN).await;
        let mut sleeper = reader.subscribe(watch(&sku_refs, None, true)).await.unwrap();
        let mut reader_feed = reader.subscribe(watch(&sku_refs, None, true)).await.unwrap();

        // A writer churns every SKU while `sleeper` reads nothing.
        let checkout = server.client(RESERVE_TOKEN).await;
        let mut pending = Vec::new();
        for round in 0..5u32 {
            for sku in &skus {
                let id = format!("r-{sku}-{round}");
                pending.push(checkout.reserve(reserve(&id, sku, "DC-1", 1)));
            }
        }
        for result in futures_util::future::join_all(pending).await {
            result.expect("every write is acknowledged while a subscriber sleeps");
        }
        for sku in skus.iter().step_by(3) {
            checkout.release(&format!("r-{sku}-0"), None).await.unwrap();
        }

        // Both end on the engine's final values; the sleeper learns of its gap.
        let engine = server.running().durable().engine();
        let truth: HashMap<String, u64> = skus
            .iter()
            .map(|sku| (sku.clone(), engine.channel_availability(sku, "web", false).unwrap().available))
            .collect();
        for (name, feed) in [("sleeper", &mut sleeper), ("reader", &mut reader_feed)] {
            let mut known: HashMap<String, u64> = HashMap::new();
            let mut gaps = 0;
            let deadline = tokio::time::Instant::now() + PATIENCE;
            while known != truth {
                let event = tokio::time::timeout_at(deadline, feed.next())
                    .await
                    .unwrap_or_else(|_| panic!("{name} reaches the final values in time: {known:?} vs {truth:?}"))
                    .unwrap()
                    .unwrap();
                gaps += usize::from(event.gap);
                known.insert(event.sku.clone(), event.available);
            }
            if name == "sleeper" {
                assert!(gaps > 0, "a subscriber whose buffer overflowed is told so");
            }
        }
        let metrics = metrics_page(&server).await;
        assert!(metrics.contains("stockd_feed_subscribers 2"), "{metrics}");
        assert!(!metrics.contains("stockd_feed_overflows_total 0\n"), "the sleeper overflowed: {metrics}");
    });
}

#[test]
fn on_raw_streams_a_subscription_needs_hello_one_per_stream_and_ends_with_the_stream() {
    use stockd::protocol::{Call, Reply, Request, Response};
    let server = TestServer::start(|_| {});
    runtime().block_on(async {
        let admin = server.client(ADMIN_TOKEN).await;
        seed(&admin, &["SHIRT"]).await;

        // Before Hello: refused, nothing started.
        let connection = raw_connection(&server).await;
        let mut early = RawStream::open(&connection).await;
        early.send_request(5, Request::Subscribe(watch(&["SHIRT"], None, false))).await;
        let refused = early.next().await.expect("an answer");
        assert_eq!(refused.request_id, 5);
        assert!(matches!(&refused.response, Response::Error(e) if e.code == ErrorCode::Unauthenticated), "{refused:?}");

        // After Hello: Subscribed, the snapshot; a second Subscribe on the stream is refused;
        // other requests on it are still answered.
        let hello = early.hello(READ_TOKEN).await;
        assert!(matches!(hello.response, Response::Welcome { .. }));
        early.send_request(6, Request::Subscribe(watch(&["SHIRT"], None, false))).await;
        assert!(matches!(early.next().await.unwrap().response, Response::Subscribed { .. }));
        let snapshot = early.next().await.unwrap();
        assert_eq!(snapshot.request_id, 6);
        assert!(matches!(&snapshot.response, Response::Events(events) if events[0].available == 10), "{snapshot:?}");
        early.send_request(7, Request::Subscribe(watch(&["SHIRT"], None, false))).await;
        let second = early.next().await.unwrap();
        assert!(matches!(&second.response, Response::Error(e) if e.code == ErrorCode::BadFrame), "{second:?}");
        early.send_request(8, Request::Call(Call::Ping)).await;
        let pong = early.next().await.unwrap();
        assert!(matches!(pong.response, Response::Reply(Reply::Pong { .. })), "{pong:?}");
        assert!(metrics_page(&server).await.contains("stockd_feed_subscribers 1\n"));

        // Finishing the stream ends the subscription: the server finishes its side too.
        early.send.finish().unwrap();
        assert!(early.next().await.is_none(), "the server ends the stream");
        let deadline = Instant::now() + PATIENCE;
        while !metrics_page(&server).await.contains("stockd_feed_subscribers 0\n") {
            assert!(Instant::now() < deadline, "the subscription is dropped");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
}

#[test]
fn an_every_sku_subscriber_starts_at_a_resync_marker_and_resyncs_in_order_with_the_events() {
    let server = TestServer::start(|_| {});
    runtime().block_on(async {
        let admin = server.client(ADMIN_TOKEN).await;
        seed(&admin, &["SHIRT", "MUG"]).await;
        let reader = server.client(READ_TOKEN).await;
        let mut everything = reader.subscribe(watch(&[], Some(3), false)).await.unwrap();
        let marker = until(&mut everything, |_| true).await;
        assert!(marker.sku.is_empty() && marker.gap, "the first event is the resync marker: {marker:?}");

        everything.resync(vec!["MUG".into()]).await.unwrap();
        let mug = until(&mut everything, |_| true).await;
        assert_eq!((mug.sku.as_str(), mug.kind, mug.available, mug.gap), ("MUG", WireEventKind::Snapshot, 10, true));
        // Changes to any SKU are reported from then on.
        let checkout = server.client(RESERVE_TOKEN).await;
        checkout.reserve(reserve("r-1", "SHIRT", "DC-1", 6)).await.unwrap();
        checkout.reserve(reserve("r-2", "SHIRT", "DC-2", 2)).await.unwrap();
        let low = until(&mut everything, |e| e.sku == "SHIRT").await;
        assert_eq!((low.kind, low.available), (WireEventKind::LowStock, 2));
        // A resync the server refuses (an invalid SKU) comes back as a refusal.
        everything.resync(vec!["not a sku".into()]).await.unwrap();
        let refused = tokio::time::timeout(PATIENCE, everything.next()).await.unwrap();
        assert_eq!(refused.expect_err("refused").code(), Some(ErrorCode::InvalidArgument));
    });
}
