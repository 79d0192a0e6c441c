//! The hub thread, and many subscribers against a fast writer.

use super::*;

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
