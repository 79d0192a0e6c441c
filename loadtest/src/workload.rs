//! The flows, against a real server: each arrival draws one flow from the mix (with
//! every random choice made at draw time, from the seeded generator, so the same seed
//! gives the same sequence of flows), then runs its requests one after another.
//!
//! | flow | requests (op names) | role |
//! |---|---|---|
//! | `position` | `position` | read |
//! | `channel` | `channel` (a quarter with the per-location breakdown) | read |
//! | `page` | `page`: `page-size` consecutive SKUs (+ a kit on a fifth of pages) in `LT-web` or `LT-app` | read |
//! | `checkout` | `reserve` -> `commit` -> `fulfil`; abandoned: `reserve` -> `release`, or `reserve` with `abandon-ttl` left to expire | reserve |
//! | `flash-sale` | `flash-reserve` (1 unit of a hot SKU) -> `commit` -> `fulfil` (or abandoned) | reserve |
//! | `adjust` | `adjust`: a ledger position (±1-5) or a popular position (+1-20 received, -1-3 damaged) | admin |
//! | `set-on-hand` | `count-read` + `set-on-hand` with the version (compare-and-set), or `set-on-hand` alone | admin |
//! | `bulk-load` | `bulk-load` of `bulk-rows` random positions | admin |
//!
//! Store finder (stores near a point with stock) is not in the protocol yet, so `browse`
//! has no such flow.

use crate::book::{Book, Ending, Item, Line, PosKey};
use crate::dataset::{initial_stock, sku_name, Dataset, CHANNELS};
use crate::driver::Executor;
use crate::params::{FlowKind, Mix, Params};
use crate::stats::{Op, Outcome, Recorder};
use crate::target::Pools;
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use std::cell::{Cell, RefCell};
use std::collections::HashSet;
use std::future::Future;
use stockd::client::ClientError;
use stockd::engine::{AdjustReason, Availability, AvailabilityScope, ReservationState, ReserveLine, ReserveRequest};
use stockd::model::PositionRow;
use stockd::protocol::{ErrorCode, WireReservation};
use tokio::time::Instant;

/// One arrival's work, fully drawn.
#[derive(Clone, Debug)]
pub enum Flow {
    Position { sku: u32, location: u16 },
    Channel { sku: u32, channel: u8, breakdown: bool },
    Page { first: u32, channel: u8, kit: Option<u32> },
    Checkout { seq: u64, lines: Box<[Line]>, ending: Ending },
    Flash { seq: u64, hot: u16, ending: Ending },
    Adjust { seq: u64, target: PosKey, delta: i64 },
    SetOnHand { sku: u32, location: u16, cas: bool, jitter: i64, count: u32 },
    BulkLoad { seed: u64 },
}

/// A request's error, named as reported: the error code's name, or what went wrong
/// on the client's side.
pub fn error_name(error: &ClientError) -> &'static str {
    if let Some(code) = error.code() {
        return code.name();
    }
    match error {
        ClientError::Timeout => "TIMEOUT",
        ClientError::ConnectionLost(_) => "CONNECTION_LOST",
        ClientError::Protocol(_) => "PROTOCOL_ERROR",
        ClientError::Closed => "CLIENT_CLOSED",
        ClientError::Connect { .. } => "CONNECT_FAILED",
        ClientError::Tls(_) => "TLS",
        _ => "CLIENT_ERROR",
    }
}

/// Whether a failed write may have been applied.
pub fn outcome_unknown(error: &ClientError) -> bool {
    match error {
        ClientError::Timeout | ClientError::ConnectionLost(_) | ClientError::Protocol(_) | ClientError::Closed => true,
        ClientError::Refused(wire) => matches!(wire.code, ErrorCode::DeadlineExceeded | ErrorCode::NotDurable),
        _ => false,
    }
}

fn classify(error: &ClientError, expected: &[ErrorCode]) -> Outcome {
    match error.code() {
        Some(code) if expected.contains(&code) => Outcome::Refused(code.name()),
        _ => Outcome::Error(error_name(error)),
    }
}

pub struct Workload<'a> {
    pub pools: &'a Pools,
    pub data: &'a Dataset,
    pub params: &'a Params,
    pub rec: &'a RefCell<Recorder>,
    pub book: RefCell<Book>,
    pub tag: String,
    mix: Vec<(FlowKind, f64)>,
    rng: RefCell<StdRng>,
    seq: Cell<u64>,
}

impl<'a> Workload<'a> {
    pub fn new(
        pools: &'a Pools,
        data: &'a Dataset,
        params: &'a Params,
        mix: &Mix,
        rec: &'a RefCell<Recorder>,
        tag: &str,
    ) -> Workload<'a> {
        let mut total = 0.0;
        let cumulative = mix
            .0
            .iter()
            .filter(|(_, weight)| **weight > 0.0)
            .map(|(kind, weight)| {
                total += weight;
                (*kind, total)
            })
            .collect();
        Workload {
            pools,
            data,
            params,
            rec,
            book: RefCell::new(Book::new(data.hot.len(), data.ledger.len(), params.seed)),
            tag: tag.to_owned(),
            mix: cumulative,
            rng: RefCell::new(StdRng::seed_from_u64(params.seed)),
            seq: Cell::new(0),
        }
    }

    pub fn reservation_id(&self, seq: u64) -> String {
        format!("lt-{}-{seq}", self.tag)
    }

    /// The name of a line's SKU (or kit).
    pub fn item_name(&self, item: Item) -> String {
        match item {
            Item::Sku(sku) => sku_name(sku),
            Item::Kit(kit) => self.data.kits[kit as usize].name.clone(),
            Item::Hot(hot) => self.data.hot[hot as usize].clone(),
        }
    }

    fn record(&self, op: Op, intended: Instant, sent: Instant, outcome: Outcome) {
        self.rec.borrow_mut().record(op, intended, sent, Instant::now(), outcome);
    }

    fn draw_kind(&self, rng: &mut StdRng) -> FlowKind {
        let total = self.mix.last().map_or(1.0, |(_, total)| *total);
        let point = rng.random_range(0.0..total);
        self.mix.iter().find(|(_, upto)| point < *upto).or(self.mix.last()).map(|(kind, _)| *kind).expect("a mix")
    }

    fn draw_ending(rng: &mut StdRng, abandon: f64, release: f64) -> Ending {
        if rng.random_bool(abandon) {
            if rng.random_bool(release) {
                Ending::Release
            } else {
                Ending::Expire
            }
        } else {
            Ending::Fulfil
        }
    }

    fn draw_checkout(&self, rng: &mut StdRng, seq: u64) -> Flow {
        let data = self.data;
        let pickup = rng.random_bool(self.params.pickup_share.0);
        // Click & collect from a store; home delivery mostly from a distribution centre
        // or the dark store, sometimes from a store that ships.
        let from = if pickup {
            &data.pickup
        } else if rng.random_bool(0.9) {
            &data.hubs
        } else {
            &data.ship
        };
        let location = *from.choose(rng).expect("locations");
        let mut count = 1;
        while count < self.params.max_lines && rng.random_bool(0.35) {
            count += 1;
        }
        let mut lines: Vec<Line> = Vec::with_capacity(count as usize);
        let mut attempts = 0;
        while lines.len() < count as usize && attempts < 100 {
            attempts += 1;
            let item = if !data.kits.is_empty() && rng.random_bool(self.params.kit_share.0) {
                Item::Kit(rng.random_range(0..data.kits.len() as u32))
            } else {
                Item::Sku(data.popular_sku(rng))
            };
            if lines.iter().any(|line| line.item == item) {
                continue;
            }
            let quantity = if rng.random_bool(0.85) { 1 } else { 2 };
            lines.push(Line { item, location, quantity });
        }
        let ending = Self::draw_ending(rng, self.params.abandon.0, self.params.abandon_release.0);
        Flow::Checkout { seq, lines: lines.into_boxed_slice(), ending }
    }

    /// Reserve, then the ending's steps. `first_op` names the reserve.
    async fn reservation_flow(&self, first_op: Op, seq: u64, lines: Box<[Line]>, ending: Ending, intended: Instant) {
        let client = self.pools.reserve();
        let id = self.reservation_id(seq);
        let ttl = if ending == Ending::Expire { self.params.abandon_ttl.0 } else { self.params.ttl.0 };
        let request = ReserveRequest {
            id: id.clone(),
            lines: lines
                .iter()
                .map(|line| ReserveLine {
                    sku: self.item_name(line.item),
                    location: self.data.location_name(line.location).to_owned(),
                    quantity: line.quantity,
                })
                .collect(),
            ttl_ms: ttl.as_millis() as u64,
            promise_by: None,
        };
        let hot = match lines.first().map(|line| line.item) {
            Some(Item::Hot(hot)) => Some(hot as usize),
            _ => None,
        };
        let index = self.book.borrow_mut().begin(seq, lines, ending);
        let sent = Instant::now();
        let result = client.reserve(request).await;
        match result {
            Ok(outcome) => {
                self.record(first_op, intended, sent, Outcome::Ok);
                if outcome.replayed {
                    self.rec.borrow_mut().count("reserves_replayed", 1);
                }
                self.book.borrow_mut().reserved(index, outcome.expires_at.millis());
            }
            Err(error) => {
                self.record(first_op, intended, sent, classify(&error, &[ErrorCode::InsufficientStock]));
                let mut book = self.book.borrow_mut();
                if let (Some(hot), Some(ErrorCode::InsufficientStock)) = (hot, error.code()) {
                    book.hot_refusals[hot] += 1;
                }
                if !outcome_unknown(&error) {
                    book.not_reserved(index);
                }
                return;
            }
        }
        match ending {
            Ending::Expire => {}
            Ending::Release => {
                self.step(Op::Release, index, ReservationState::Released, client.release(&id, None)).await;
            }
            Ending::Fulfil => {
                if !self.params.think.0.is_zero() {
                    tokio::time::sleep(self.params.think.0).await;
                }
                if self.step(Op::Commit, index, ReservationState::Committed, client.commit(&id)).await {
                    self.step(Op::Fulfil, index, ReservationState::Fulfilled, client.fulfil(&id, None)).await;
                }
            }
        }
    }

    /// One step of a reservation's lifecycle; true if the server acknowledged it.
    async fn step(
        &self,
        op: Op,
        index: usize,
        target: ReservationState,
        call: impl Future<Output = Result<WireReservation, ClientError>>,
    ) -> bool {
        self.book.borrow_mut().step(index, target);
        let sent = Instant::now();
        match call.await {
            Ok(reservation) => {
                self.record(op, sent, sent, Outcome::Ok);
                self.book.borrow_mut().acked(index, reservation.state);
                true
            }
            Err(error) => {
                let expected: &[ErrorCode] = if op == Op::Commit { &[ErrorCode::Expired] } else { &[] };
                self.record(op, sent, sent, classify(&error, expected));
                let mut book = self.book.borrow_mut();
                if error.code() == Some(ErrorCode::Expired) {
                    book.acked(index, ReservationState::Expired);
                } else if !outcome_unknown(&error) {
                    book.step_refused(index);
                }
                false
            }
        }
    }

    async fn adjust(&self, seq: u64, target: PosKey, delta: i64, intended: Instant) {
        let (sku, location, reason) = match target {
            PosKey::Ledger(index) => {
                let reason = if delta > 0 { AdjustReason::Found } else { AdjustReason::Lost };
                (self.data.ledger[index as usize].clone(), self.data.ledger_location, reason)
            }
            PosKey::Regular(sku, location) => {
                let reason = if delta > 0 { AdjustReason::Received } else { AdjustReason::Damaged };
                (sku_name(sku), location, reason)
            }
        };
        let reference = format!("lt-{}-adj-{seq}", self.tag);
        let client = self.pools.admin();
        let sent = Instant::now();
        let result = client.adjust(&sku, self.data.location_name(location), delta, reason, &reference).await;
        let mut book = self.book.borrow_mut();
        let ledger = match target {
            PosKey::Ledger(index) => Some(&mut book.ledger[index as usize]),
            PosKey::Regular(..) => None,
        };
        match result {
            Ok(position) => {
                self.record(Op::Adjust, intended, sent, Outcome::Ok);
                if let Some(ledger) = ledger {
                    ledger.acked += delta;
                    ledger.writes += 1;
                }
                book.version(target, position.version);
            }
            Err(error) => {
                self.record(
                    Op::Adjust,
                    intended,
                    sent,
                    classify(&error, &[ErrorCode::InsufficientStock, ErrorCode::Conflict]),
                );
                if let (Some(ledger), true) = (ledger, outcome_unknown(&error)) {
                    if delta > 0 {
                        ledger.unknown_up += delta;
                    } else {
                        ledger.unknown_down += delta;
                    }
                    ledger.writes += 1;
                }
            }
        }
    }

    async fn set_on_hand(&self, sku: u32, location: u16, cas: bool, jitter: i64, count: u32, intended: Instant) {
        let client = self.pools.admin();
        let name = sku_name(sku);
        let location_name = self.data.location_name(location);
        let (mut intended, mut on_hand, mut expected_version) = (intended, count, None);
        if cas {
            let sent = Instant::now();
            match client.position(&name, location_name).await {
                Ok(position) => {
                    self.record(Op::CountRead, intended, sent, Outcome::Ok);
                    on_hand = (i64::from(position.on_hand) + jitter).max(0) as u32;
                    expected_version = Some(position.version);
                    intended = Instant::now();
                }
                Err(error) => {
                    self.record(Op::CountRead, intended, sent, classify(&error, &[]));
                    return;
                }
            }
        }
        let sent = Instant::now();
        match client.set_on_hand(&name, location_name, on_hand, expected_version).await {
            Ok(position) => {
                self.record(Op::SetOnHand, intended, sent, Outcome::Ok);
                self.book.borrow_mut().version(PosKey::Regular(sku, location), position.version);
            }
            Err(error) => {
                let outcome = classify(&error, &[ErrorCode::VersionMismatch, ErrorCode::Conflict]);
                self.record(Op::SetOnHand, intended, sent, outcome);
            }
        }
    }

    async fn bulk_load(&self, seed: u64, intended: Instant) {
        let mut rng = StdRng::seed_from_u64(seed);
        let data = self.data;
        // Distinct positions: a load that names one twice is refused as a whole.
        let positions = u64::from(data.skus) * data.locations.len() as u64;
        let wanted = u64::from(self.params.bulk_rows).min(positions) as usize;
        let mut chosen = HashSet::with_capacity(wanted);
        let mut rows: Vec<PositionRow> = Vec::with_capacity(wanted);
        while rows.len() < wanted {
            let sku = rng.random_range(0..data.skus);
            let location = rng.random_range(0..data.locations.len() as u16);
            if !chosen.insert((sku, location)) {
                continue;
            }
            let (on_hand, safety_stock) = initial_stock(&mut rng, data.locations[location as usize].kind);
            rows.push(PositionRow {
                sku: sku_name(sku),
                location: data.location_name(location).to_owned(),
                on_hand,
                safety_stock,
                damaged: 0,
                quality_control: 0,
                backorder_limit: 0,
            });
        }
        let client = self.pools.admin();
        let sent = Instant::now();
        match client.bulk_load(rows).await {
            Ok(outcome) => {
                self.record(Op::BulkLoad, intended, sent, Outcome::Ok);
                let mut rec = self.rec.borrow_mut();
                rec.count("bulk_rows_applied", outcome.inserted + outcome.updated + outcome.unchanged);
                rec.count("bulk_rows_rejected", outcome.rejected);
            }
            Err(error) => self.record(Op::BulkLoad, intended, sent, classify(&error, &[])),
        }
    }
}

impl Executor for Workload<'_> {
    type Flow = Flow;

    fn next_flow(&self) -> Flow {
        let mut rng = self.rng.borrow_mut();
        let rng = &mut *rng;
        let seq = self.seq.get();
        self.seq.set(seq + 1);
        let data = self.data;
        let locations = data.locations.len() as u16;
        match self.draw_kind(rng) {
            FlowKind::Position => {
                Flow::Position { sku: data.popular_sku(rng), location: rng.random_range(0..locations) }
            }
            FlowKind::Channel => Flow::Channel {
                sku: data.popular_sku(rng),
                channel: rng.random_range(0..CHANNELS.len() as u8),
                breakdown: rng.random_bool(0.25),
            },
            FlowKind::Page => Flow::Page {
                first: data.popular_page(rng),
                channel: rng.random_range(0..2),
                kit: (!data.kits.is_empty() && rng.random_bool(0.2))
                    .then(|| rng.random_range(0..data.kits.len() as u32)),
            },
            FlowKind::Checkout => self.draw_checkout(rng, seq),
            FlowKind::FlashSale => Flow::Flash {
                seq,
                hot: rng.random_range(0..data.hot.len() as u16),
                ending: Self::draw_ending(rng, self.params.flash_abandon.0, self.params.abandon_release.0),
            },
            FlowKind::Adjust => {
                if rng.random_bool(0.5) {
                    let ledger = rng.random_range(0..data.ledger.len() as u32);
                    let magnitude = rng.random_range(1..=5i64);
                    let delta = if rng.random_bool(0.5) { magnitude } else { -magnitude };
                    Flow::Adjust { seq, target: PosKey::Ledger(ledger), delta }
                } else {
                    let target = PosKey::Regular(data.popular_sku(rng), rng.random_range(0..locations));
                    let delta = if rng.random_bool(0.7) { rng.random_range(1..=20) } else { -rng.random_range(1..=3) };
                    Flow::Adjust { seq, target, delta }
                }
            }
            FlowKind::SetOnHand => {
                let location = rng.random_range(0..locations);
                Flow::SetOnHand {
                    sku: data.popular_sku(rng),
                    location,
                    cas: rng.random_bool(self.params.cas_share.0),
                    jitter: rng.random_range(-3..=3),
                    count: initial_stock(rng, data.locations[location as usize].kind).0,
                }
            }
            FlowKind::BulkLoad => Flow::BulkLoad { seed: rng.random() },
        }
    }

    async fn run(&self, flow: Flow, intended: Instant) {
        match flow {
            Flow::Position { sku, location } => {
                let sent = Instant::now();
                let result = self.pools.read().position(&sku_name(sku), self.data.location_name(location)).await;
                self.record(Op::Position, intended, sent, result.err().map_or(Outcome::Ok, |e| classify(&e, &[])));
            }
            Flow::Channel { sku, channel, breakdown } => {
                let sent = Instant::now();
                let result =
                    self.pools.read().channel_availability(&sku_name(sku), CHANNELS[channel as usize], breakdown).await;
                self.record(Op::Channel, intended, sent, result.err().map_or(Outcome::Ok, |e| classify(&e, &[])));
            }
            Flow::Page { first, channel, kit } => {
                let end = (first + self.data.page_size).min(self.data.skus);
                let mut skus: Vec<String> = (first..end).map(sku_name).collect();
                if let Some(kit) = kit {
                    skus.pop();
                    skus.push(self.data.kits[kit as usize].name.clone());
                }
                let scope = AvailabilityScope::Channel(CHANNELS[channel as usize].to_owned());
                let sent = Instant::now();
                let result = self.pools.read().availability_batch(skus, scope, Availability::ToSell).await;
                self.record(Op::Page, intended, sent, result.err().map_or(Outcome::Ok, |e| classify(&e, &[])));
            }
            Flow::Checkout { seq, lines, ending } => {
                self.reservation_flow(Op::Reserve, seq, lines, ending, intended).await;
            }
            Flow::Flash { seq, hot, ending } => {
                let line = Line { item: Item::Hot(hot), location: self.data.hot_location, quantity: 1 };
                self.reservation_flow(Op::FlashReserve, seq, Box::new([line]), ending, intended).await;
            }
            Flow::Adjust { seq, target, delta } => self.adjust(seq, target, delta, intended).await,
            Flow::SetOnHand { sku, location, cas, jitter, count } => {
                self.set_on_hand(sku, location, cas, jitter, count, intended).await;
            }
            Flow::BulkLoad { seed } => self.bulk_load(seed, intended).await,
        }
    }
}
