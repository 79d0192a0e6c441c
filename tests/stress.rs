//! Multi-threaded stress: threads hammer a few hot positions with every kind of
//! write, then the books must balance exactly.
//!
//! - `hot_positions_balance_under_contention`: reserves (single and multi-line,
//!   lines shuffled so that threads ask for locks in different orders), commits,
//!   whole and partial fulfils and releases, extends, restocks, adjustments,
//!   compare-and-set counts and expiry sweeps on a shared, advancing clock, with
//!   `verify()` running concurrently. Afterwards: `verify()` is clean, every
//!   position's `reserved` equals the units its live reservation lines hold, and
//!   units are conserved (initial + adjustments + counted changes - fulfilled +
//!   restocked == on hand).
//! - Flash sales: N threads race for S units; exactly S reservations succeed
//!   (one SKU, a multi-line pair in both orders, a kit), and a reservation id
//!   raced by every thread at once is held at most once.
//!
//! Every loop is bounded by an operation count; nothing sleeps.

use rand::rngs::StdRng;
use rand::seq::{IndexedRandom, SliceRandom};
use rand::{Rng, SeedableRng};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use stockd::engine::{
    AdjustReason, LineQuantity, PartialStep, Reservation, ReservationState, ReserveLine, ReserveOutcome,
    ReserveRequest, RestockRequest,
};
use stockd::model::{
    Bucket, ChannelBuffer, ChannelSpec, Coordinates, LocationFlags, LocationKind, LocationSpec, PositionRow,
    PositionView,
};
use stockd::{Engine, EngineConfig, EngineError, Operation, Outcome, Timestamp};

const THREADS: usize = 8;
const OPERATIONS_PER_THREAD: usize = 4_000;
const HOT_SKUS: [&str; 4] = ["H0", "H1", "H2", "H3"];
const LOCATIONS: [&str; 2] = ["W1", "W2"];
const INITIAL_ON_HAND: u32 = 400;
/// H3 may be reserved this far beyond stock, so that fulfils can find too few on hand.
const H3_BACKORDER_LIMIT: u32 = 30;
const START_MS: u64 = 1_700_000_000_000;

fn engine(idempotency_window_ms: u64) -> Engine {
    Engine::new(EngineConfig {
        stock_shards: 1024,
        reservation_shards: 8,
        idempotency_window_ms,
        max_reservations: 1_000_000,
        max_expiries_per_sweep: 1_000_000,
    })
}

fn apply(engine: &Engine, operation: Operation, now: u64) -> Result<Outcome, EngineError> {
    engine.apply(&operation, Timestamp(now))
}

fn setup(engine: &Engine, rows: Vec<PositionRow>) {
    let location = |name: &str| LocationSpec {
        name: name.to_owned(),
        kind: LocationKind::Warehouse,
        coordinates: Coordinates { latitude: 48.8, longitude: 2.3 },
        flags: LocationFlags { ships: true, pickup: false },
        priority: 1,
    };
    let locations = LOCATIONS.iter().map(|l| location(l)).collect();
    apply(engine, Operation::UpsertLocations(locations), START_MS).expect("locations");
    let channel = ChannelSpec {
        name: "web".into(),
        locations: LOCATIONS.iter().map(|l| (*l).to_owned()).collect(),
        excluded: Vec::new(),
        buffer: ChannelBuffer::None,
    };
    apply(engine, Operation::UpsertChannel(channel), START_MS).expect("channel");
    match apply(engine, Operation::BulkLoad(rows.clone()), START_MS) {
        Ok(Outcome::BulkLoad(outcome)) => assert_eq!(outcome.inserted, rows.len() as u64),
        other => panic!("bulk load: {other:?}"),
    }
}

fn row(sku: &str, location: &str, on_hand: u32, backorder_limit: u32) -> PositionRow {
    PositionRow {
        sku: sku.to_owned(),
        location: location.to_owned(),
        on_hand,
        safety_stock: 0,
        damaged: 0,
        quality_control: 0,
        backorder_limit,
    }
}

fn reserve_request(id: String, lines: Vec<(&str, &str, u32)>, ttl_ms: u64) -> ReserveRequest {
    let lines = lines
        .into_iter()
        .map(|(sku, location, quantity)| ReserveLine { sku: sku.to_owned(), location: location.to_owned(), quantity })
        .collect();
    ReserveRequest { id, lines, ttl_ms, promise_by: None }
}

fn reserved(result: Result<Outcome, EngineError>) -> Result<ReserveOutcome, EngineError> {
    result.map(|outcome| match outcome {
        Outcome::Reserved(reserved) => reserved,
        other => panic!("reserve answered {other:?}"),
    })
}

fn reservation(result: Result<Outcome, EngineError>) -> Result<Reservation, EngineError> {
    result.map(|outcome| match outcome {
        Outcome::Reservation(reservation) => *reservation,
        other => panic!("expected a reservation, got {other:?}"),
    })
}

fn position(result: Result<Outcome, EngineError>) -> Result<PositionView, EngineError> {
    result.map(|outcome| match outcome {
        Outcome::Position(view) => view,
        other => panic!("expected a position, got {other:?}"),
    })
}

/// (sku name, location name) of an engine position.
type Key = (String, String);

fn key(engine: &Engine, sku: stockd::model::SkuId, location: stockd::model::LocationId) -> Key {
    (engine.sku_name(sku).to_string(), engine.location_name(location).expect("a known location").to_string())
}

/// What one thread did to the books, by position.
#[derive(Default)]
struct Ledger {
    /// Adjustments and compare-and-set counts that were applied.
    on_hand_changes: HashMap<Key, i64>,
    /// Units restocked into `on_hand`.
    restocked: HashMap<Key, i64>,
    /// Every reservation this thread created, with the last state it saw.
    reservations: BTreeMap<String, Reservation>,
    /// Outcome counts, to show the run did real work.
    counts: BTreeMap<&'static str, u64>,
}

impl Ledger {
    fn count(&mut self, what: &'static str) {
        *self.counts.entry(what).or_default() += 1;
    }

    /// Units fulfilled on this thread's reservations, by position.
    fn fulfilled(&self, engine: &Engine) -> HashMap<Key, i64> {
        let mut fulfilled = HashMap::new();
        for reservation in self.reservations.values() {
            for line in &reservation.lines {
                *fulfilled.entry(key(engine, line.sku, line.location)).or_default() += i64::from(line.fulfilled);
            }
        }
        fulfilled
    }
}

/// One thread's share of the hot-position stress.
struct Worker<'a> {
    engine: &'a Engine,
    clock: &'a AtomicU64,
    thread: usize,
    rng: StdRng,
    ledger: Ledger,
    /// Ids of this thread's reservations that may still hold units.
    live: Vec<String>,
    next_id: usize,
}

impl Worker<'_> {
    /// The shared clock, moved on a little by every operation.
    fn now(&mut self) -> u64 {
        let step = self.rng.random_range(0..4);
        self.clock.fetch_add(step, Ordering::Relaxed) + step
    }

    fn run(mut self) -> Ledger {
        for _ in 0..OPERATIONS_PER_THREAD {
            match self.rng.random_range(0..100) {
                0..30 => self.reserve(),
                30..45 => self.commit(),
                45..60 => self.fulfil(),
                60..70 => self.release(),
                70..78 => self.adjust(),
                78..84 => self.count_on_hand(),
                84..89 => self.expire(),
                89..93 => self.extend(),
                93..97 => self.restock(),
                _ => {
                    let report = self.engine.verify();
                    assert!(report.is_clean(), "concurrent verify: {:?}", report.findings);
                }
            }
        }
        self.ledger
    }

    fn remember(&mut self, reservation: Reservation) {
        let id = reservation.id.to_string();
        if reservation.state.is_terminal() {
            self.live.retain(|live| *live != id);
        }
        self.ledger.reservations.insert(id, reservation);
    }

    /// One of this thread's live reservations in `state`, if any.
    fn pick(&mut self, state: ReservationState) -> Option<String> {
        let candidates: Vec<&String> =
            self.live.iter().filter(|id| self.ledger.reservations[id.as_str()].state == state).collect();
        candidates.choose(&mut self.rng).map(|id| (*id).clone())
    }

    fn reserve(&mut self) {
        let mut skus = HOT_SKUS.to_vec();
        skus.shuffle(&mut self.rng);
        let line_count = self.rng.random_range(1..=3);
        let lines = skus[..line_count]
            .iter()
            .map(|sku| (*sku, LOCATIONS[self.rng.random_range(0..2)], self.rng.random_range(1..=3)))
            .collect();
        let id = format!("t{}-{}", self.thread, self.next_id);
        self.next_id += 1;
        let request = reserve_request(id.clone(), lines, self.rng.random_range(1_000..4_000));
        let now = self.now();
        match reserved(apply(self.engine, Operation::Reserve(request), now)) {
            Ok(outcome) => {
                assert!(!outcome.replayed, "a new id is not a replay");
                self.ledger.count("reserve");
                let stored = self.engine.reservation(&id);
                // A sweep on another thread may have expired (and forgotten) it already.
                match stored {
                    Ok(stored) => {
                        self.live.push(id);
                        self.remember(stored);
                    }
                    Err(EngineError::UnknownReservation(_)) => {}
                    Err(other) => panic!("reading {id}: {other}"),
                }
            }
            Err(EngineError::InsufficientStock(_)) => self.ledger.count("reserve refused"),
            Err(other) => panic!("reserve {id}: {other}"),
        }
    }

    fn commit(&mut self) {
        let Some(id) = self.pick(ReservationState::Held) else { return };
        let now = self.now();
        match reservation(apply(self.engine, Operation::Commit { id: id.clone() }, now)) {
            Ok(committed) => {
                assert_eq!(committed.state, ReservationState::Committed);
                self.ledger.count("commit");
                self.remember(committed);
            }
            Err(EngineError::ReservationExpired { .. }) => self.expired(&id),
            Err(EngineError::UnknownReservation(_)) => self.live.retain(|live| *live != id),
            Err(other) => panic!("commit {id}: {other}"),
        }
    }

    /// A held reservation of ours was expired, by a sweep or by our own call.
    fn expired(&mut self, id: &str) {
        self.ledger.count("found expired");
        match self.engine.reservation(id) {
            Ok(current) => {
                assert_eq!(current.state, ReservationState::Expired);
                self.remember(current);
            }
            Err(EngineError::UnknownReservation(_)) => self.live.retain(|live| live != id),
            Err(other) => panic!("reading {id}: {other}"),
        }
    }

    /// Some units of one held line, under a fresh step id.
    fn partial(&mut self, id: &str) -> Option<PartialStep> {
        let reservation = &self.ledger.reservations[id];
        let lines: Vec<_> = reservation.lines.iter().filter(|l| l.held > 0).collect();
        let line = lines.choose(&mut self.rng)?;
        let quantity = self.rng.random_range(1..=line.held);
        let line = LineQuantity {
            sku: self.engine.sku_name(line.sku).to_string(),
            location: self.engine.location_name(line.location).expect("known").to_string(),
            quantity,
        };
        self.next_id += 1;
        Some(PartialStep { step_id: format!("step-{}", self.next_id), lines: vec![line] })
    }

    fn fulfil(&mut self) {
        let Some(id) = self.pick(ReservationState::Committed) else { return };
        let partial = if self.rng.random_bool(0.5) { self.partial(&id) } else { None };
        let now = self.now();
        let label = if partial.is_some() { "fulfil partial" } else { "fulfil whole" };
        match reservation(apply(self.engine, Operation::Fulfil { id: id.clone(), partial }, now)) {
            Ok(after) => {
                self.ledger.count(label);
                self.remember(after);
            }
            // A backorder not yet in: nothing changed.
            Err(EngineError::InsufficientUnits { .. }) => self.ledger.count("fulfil short"),
            Err(other) => panic!("{label} {id}: {other}"),
        }
    }

    fn release(&mut self) {
        let state = if self.rng.random_bool(0.5) { ReservationState::Held } else { ReservationState::Committed };
        let Some(id) = self.pick(state) else { return };
        let partial = if self.rng.random_bool(0.5) { self.partial(&id) } else { None };
        let now = self.now();
        let label = if partial.is_some() { "release partial" } else { "release whole" };
        match reservation(apply(self.engine, Operation::Release { id: id.clone(), partial }, now)) {
            Ok(after) => {
                self.ledger.count(label);
                self.remember(after);
            }
            Err(EngineError::ReservationExpired { .. }) if state == ReservationState::Held => self.expired(&id),
            Err(EngineError::UnknownReservation(_)) if state == ReservationState::Held => {
                self.live.retain(|live| *live != id)
            }
            Err(other) => panic!("{label} {id}: {other}"),
        }
    }

    fn extend(&mut self) {
        let Some(id) = self.pick(ReservationState::Held) else { return };
        let now = self.now();
        match reservation(apply(self.engine, Operation::Extend { id: id.clone(), ttl_ms: 2_000 }, now)) {
            Ok(after) => {
                self.ledger.count("extend");
                self.remember(after);
            }
            Err(EngineError::ReservationExpired { .. }) => self.expired(&id),
            Err(EngineError::UnknownReservation(_)) => self.live.retain(|live| *live != id),
            Err(other) => panic!("extend {id}: {other}"),
        }
    }

    fn hot_position(&mut self) -> (String, String) {
        let sku = HOT_SKUS[self.rng.random_range(0..HOT_SKUS.len())];
        let location = LOCATIONS[self.rng.random_range(0..LOCATIONS.len())];
        (sku.to_owned(), location.to_owned())
    }

    fn adjust(&mut self) {
        let (sku, location) = self.hot_position();
        let delta =
            if self.rng.random_bool(0.5) { self.rng.random_range(1..=6) } else { -self.rng.random_range(1..=6) };
        let operation = Operation::Adjust {
            sku: sku.clone(),
            location: location.clone(),
            delta,
            reason: AdjustReason::Correction,
            reference: String::new(),
        };
        let now = self.now();
        match position(apply(self.engine, operation, now)) {
            Ok(_) => {
                *self.ledger.on_hand_changes.entry((sku, location)).or_default() += delta;
                self.ledger.count("adjust");
            }
            Err(EngineError::BelowReserved { .. } | EngineError::InsufficientUnits { .. }) => {
                self.ledger.count("adjust refused")
            }
            Err(other) => panic!("adjust: {other}"),
        }
    }

    /// A count with compare-and-set: read on hand and version, set a new count
    /// only if nothing changed meanwhile.
    fn count_on_hand(&mut self) {
        let (sku, location) = self.hot_position();
        let before = self.engine.position(&sku, &location).expect("a hot position");
        if self.rng.random_bool(0.5) {
            // Work done between reading the count and sending it: other threads get
            // time to change the position, and the version check must catch it.
            self.reserve();
        }
        let target = (i64::from(before.on_hand) + self.rng.random_range(-5..=5)).max(0) as u32;
        let operation = Operation::SetOnHand {
            sku: sku.clone(),
            location: location.clone(),
            on_hand: target,
            expected_version: Some(before.version),
        };
        let now = self.now();
        match position(apply(self.engine, operation, now)) {
            Ok(after) => {
                assert_eq!(after.on_hand, target);
                assert_eq!(after.version, before.version + 1);
                *self.ledger.on_hand_changes.entry((sku, location)).or_default() +=
                    i64::from(target) - i64::from(before.on_hand);
                self.ledger.count("count");
            }
            Err(EngineError::VersionMismatch { .. }) => self.ledger.count("count lost the race"),
            Err(EngineError::BelowReserved { .. }) => self.ledger.count("count refused"),
            Err(other) => panic!("set_on_hand: {other}"),
        }
    }

    fn expire(&mut self) {
        let now = self.now();
        match apply(self.engine, Operation::ExpireDue, now) {
            Ok(Outcome::Expiry(report)) => {
                assert!(!report.more_due);
                *self.ledger.counts.entry("expired by sweeps").or_default() += report.expired;
            }
            other => panic!("expire_due: {other:?}"),
        }
    }

    /// Returns some fulfilled units of one of our reservations to where they left.
    fn restock(&mut self) {
        let candidates: Vec<(String, usize)> = self
            .ledger
            .reservations
            .iter()
            .flat_map(|(id, r)| {
                r.lines.iter().enumerate().filter(|(_, l)| l.fulfilled > l.returned).map(move |(i, _)| (id.clone(), i))
            })
            .collect();
        let Some((id, at)) = candidates.choose(&mut self.rng).cloned() else { return };
        let line = self.ledger.reservations[&id].lines[at];
        let (sku, location) = key(self.engine, line.sku, line.location);
        let quantity = self.rng.random_range(1..=line.fulfilled - line.returned);
        self.next_id += 1;
        let request = RestockRequest {
            reservation_id: id.clone(),
            step_id: format!("return-{}", self.next_id),
            line: LineQuantity { sku: sku.clone(), location: location.clone(), quantity },
            bucket: Bucket::Sellable,
        };
        let now = self.now();
        match position(apply(self.engine, Operation::Restock(request), now)) {
            Ok(_) => {
                *self.ledger.restocked.entry((sku, location)).or_default() += i64::from(quantity);
                self.ledger.count("restock");
                // The reservation may be forgotten soon; count the return on our copy.
                let copy = self.ledger.reservations.get_mut(&id).expect("ours");
                copy.lines[at].returned += quantity;
            }
            Err(EngineError::UnknownReservation(_)) => {
                // Forgotten after its window: nothing more may be returned on it.
                let copy = self.ledger.reservations.get_mut(&id).expect("ours");
                for line in &mut copy.lines {
                    line.returned = line.fulfilled;
                }
            }
            Err(other) => panic!("restock: {other}"),
        }
    }
}

#[test]
fn hot_positions_balance_under_contention() {
    let engine = engine(3_000);
    let mut rows = Vec::new();
    for sku in HOT_SKUS {
        for location in LOCATIONS {
            let backorder_limit = if sku == "H3" { H3_BACKORDER_LIMIT } else { 0 };
            rows.push(row(sku, location, INITIAL_ON_HAND, backorder_limit));
        }
    }
    setup(&engine, rows);
    let clock = AtomicU64::new(START_MS);
    let ledgers: Vec<Ledger> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..THREADS)
            .map(|thread| {
                let worker = Worker {
                    engine: &engine,
                    clock: &clock,
                    thread,
                    rng: StdRng::seed_from_u64(0x5eed + thread as u64),
                    ledger: Ledger::default(),
                    live: Vec::new(),
                    next_id: 0,
                };
                scope.spawn(move || worker.run())
            })
            .collect();
        workers.into_iter().map(|w| w.join().expect("a worker panicked")).collect()
    });

    let report = engine.verify();
    assert!(report.is_clean(), "verify after the run: {:?}", report.findings);

    // The run did real work of every kind.
    let mut counts: BTreeMap<&str, u64> = BTreeMap::new();
    for ledger in &ledgers {
        for (what, n) in &ledger.counts {
            *counts.entry(what).or_default() += n;
        }
    }
    eprintln!("stress counts: {counts:?}");
    let expected = [
        "reserve",
        "commit",
        "fulfil whole",
        "fulfil partial",
        "release whole",
        "release partial",
        "adjust",
        "count",
        "count lost the race",
        "restock",
        "found expired",
    ];
    for what in expected {
        assert!(counts.get(what).copied().unwrap_or(0) >= 10, "too few {what}: {counts:?}");
    }

    // `reserved` equals what the live reservation lines hold.
    let mut held: HashMap<Key, i64> = HashMap::new();
    for id in ledgers.iter().flat_map(|l| l.reservations.keys()) {
        match engine.reservation(id) {
            Ok(current) => {
                for line in &current.lines {
                    *held.entry(key(&engine, line.sku, line.location)).or_default() += i64::from(line.held);
                }
            }
            Err(EngineError::UnknownReservation(_)) => {}
            Err(other) => panic!("reading {id}: {other}"),
        }
    }
    // Units are conserved: nothing appears or vanishes outside the calls that said so.
    for sku in HOT_SKUS {
        for location in LOCATIONS {
            let key: Key = (sku.to_owned(), location.to_owned());
            let sum = |get: &dyn Fn(&Ledger) -> i64| ledgers.iter().map(get).sum::<i64>();
            let changed = sum(&|l| l.on_hand_changes.get(&key).copied().unwrap_or(0));
            let restocked = sum(&|l| l.restocked.get(&key).copied().unwrap_or(0));
            let fulfilled = sum(&|l| l.fulfilled(&engine).get(&key).copied().unwrap_or(0));
            let view = engine.position(sku, location).expect("a hot position");
            assert_eq!(
                i64::from(view.on_hand),
                i64::from(INITIAL_ON_HAND) + changed - fulfilled + restocked,
                "{sku}@{location}: changed {changed}, fulfilled {fulfilled}, restocked {restocked}"
            );
            assert_eq!(i64::from(view.reserved), held.get(&key).copied().unwrap_or(0), "{sku}@{location}");
        }
    }

    // Once every hold is gone, nothing stays reserved.
    let end = clock.load(Ordering::Relaxed) + 60_000;
    apply(&engine, Operation::ExpireDue, end).expect("sweep");
    for id in ledgers.iter().flat_map(|l| l.reservations.keys()) {
        match reservation(apply(&engine, Operation::Release { id: id.clone(), partial: None }, end)) {
            Ok(released) => assert!(released.state.is_terminal() && released.held_units() == 0, "{released:?}"),
            Err(
                EngineError::UnknownReservation(_)
                | EngineError::InvalidState { state: ReservationState::Fulfilled, .. },
            ) => {}
            Err(other) => panic!("final release {id}: {other}"),
        }
    }
    for sku in HOT_SKUS {
        for location in LOCATIONS {
            assert_eq!(engine.position(sku, location).expect("hot").reserved, 0, "{sku}@{location}");
        }
    }
    assert!(engine.verify().is_clean());
}

/// Every thread reserves `lines` under fresh ids until the engine says there is no
/// more; returns how many reservations succeeded.
fn race_until_sold_out(engine: &Engine, lines: &[Vec<(&str, &str, u32)>], bound_per_thread: usize) -> u64 {
    let next_id = AtomicU64::new(0);
    let succeeded = AtomicU64::new(0);
    std::thread::scope(|scope| {
        for thread in 0..THREADS {
            let (next_id, succeeded) = (&next_id, &succeeded);
            let lines = lines[thread % lines.len()].clone();
            scope.spawn(move || {
                for _ in 0..bound_per_thread {
                    let id = format!("sale-{}", next_id.fetch_add(1, Ordering::Relaxed));
                    let request = reserve_request(id, lines.clone(), 60_000);
                    match reserved(apply(engine, Operation::Reserve(request.clone()), START_MS)) {
                        Ok(outcome) => {
                            assert!(!outcome.replayed);
                            succeeded.fetch_add(1, Ordering::Relaxed);
                            // A client retry returns the first outcome, holding nothing more.
                            let retry = reserved(apply(engine, Operation::Reserve(request), START_MS)).expect("retry");
                            assert!(
                                retry.replayed && retry.state == ReservationState::Held && retry.lines == outcome.lines
                            );
                        }
                        Err(EngineError::InsufficientStock(_)) => return,
                        Err(other) => panic!("flash sale reserve: {other}"),
                    }
                }
                panic!("thread {thread} never sold out in {bound_per_thread} tries");
            });
        }
    });
    succeeded.into_inner()
}

#[test]
fn flash_sale_sells_exactly_the_stock() {
    const STOCK: u32 = 500;
    let engine = engine(60_000);
    setup(&engine, vec![row("F", "W1", STOCK, 0)]);
    let sold = race_until_sold_out(&engine, &[vec![("F", "W1", 1)]], STOCK as usize + 1);
    assert_eq!(sold, u64::from(STOCK));
    let view = engine.position("F", "W1").expect("F");
    assert_eq!((view.reserved, view.available_to_sell), (STOCK, 0));
    assert!(engine.verify().is_clean());
}

#[test]
fn flash_sale_of_pairs_in_both_line_orders_sells_exactly_the_stock() {
    const STOCK: u32 = 300;
    let engine = engine(60_000);
    // Y is scarcer at W2 so that the pair in either order runs out on the same line.
    setup(&engine, vec![row("X", "W1", STOCK + 40, 0), row("Y", "W2", STOCK, 0)]);
    let orders = [vec![("X", "W1", 1), ("Y", "W2", 1)], vec![("Y", "W2", 1), ("X", "W1", 1)]];
    let sold = race_until_sold_out(&engine, &orders, STOCK as usize + 1);
    assert_eq!(sold, u64::from(STOCK));
    assert_eq!(engine.position("X", "W1").expect("X").reserved, STOCK);
    assert_eq!(engine.position("Y", "W2").expect("Y").available_to_sell, 0);
    assert!(engine.verify().is_clean());
}

#[test]
fn flash_sale_of_a_kit_sells_exactly_what_its_components_make() {
    let engine = engine(60_000);
    setup(&engine, vec![row("A", "W1", 200, 0), row("B", "W1", 130, 0)]);
    let kit = Operation::DefineKit { kit: "KIT".into(), components: vec![("A".into(), 2), ("B".into(), 1)] };
    apply(&engine, kit, START_MS).expect("kit");
    let makeable = engine
        .availability(
            "KIT",
            &stockd::engine::AvailabilityScope::Location("W1".into()),
            stockd::engine::Availability::ToSell,
        )
        .expect("availability");
    assert_eq!(makeable, 100);
    let sold = race_until_sold_out(&engine, &[vec![("KIT", "W1", 1)]], 101);
    assert_eq!(sold, 100);
    assert_eq!(engine.position("A", "W1").expect("A").reserved, 200);
    assert_eq!(engine.position("B", "W1").expect("B").reserved, 100);
    assert!(engine.verify().is_clean());
}

#[test]
fn a_reservation_id_raced_by_every_thread_is_held_once() {
    const STOCK: u32 = 200;
    const IDS: usize = 260;
    let engine = engine(60_000);
    setup(&engine, vec![row("F", "W1", STOCK, 0)]);
    // Every thread sends every id, in the same order: the same retried request
    // arriving from several connections at once.
    let first_holds: Vec<AtomicU64> = (0..IDS).map(|_| AtomicU64::new(0)).collect();
    std::thread::scope(|scope| {
        for _ in 0..THREADS {
            let first_holds = &first_holds;
            let engine = &engine;
            scope.spawn(move || {
                for (n, holds) in first_holds.iter().enumerate() {
                    let request = reserve_request(format!("cart-{n}"), vec![("F", "W1", 1)], 60_000);
                    match reserved(apply(engine, Operation::Reserve(request), START_MS)) {
                        Ok(outcome) if !outcome.replayed => {
                            holds.fetch_add(1, Ordering::Relaxed);
                        }
                        Ok(_) | Err(EngineError::InsufficientStock(_)) => {}
                        Err(other) => panic!("reserve cart-{n}: {other}"),
                    }
                }
            });
        }
    });
    let holds: Vec<u64> = first_holds.iter().map(|h| h.load(Ordering::Relaxed)).collect();
    assert!(holds.iter().all(|h| *h <= 1), "an id held twice: {holds:?}");
    assert_eq!(holds.iter().sum::<u64>(), u64::from(STOCK));
    assert_eq!(engine.position("F", "W1").expect("F").reserved, STOCK);
    assert!(engine.verify().is_clean());
}
