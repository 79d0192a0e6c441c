//! Model-based test: random sequences of every write operation, applied to the
//! engine and to the reference model in `reference_model/`, which is written from
//! `docs/ENGINE.md`. Every outcome, every error and, after every operation, every
//! position, availability (location, channel, kit), reservation and `verify()`
//! must agree.
//!
//! The universe is tiny on purpose (SKUs A, B, C, kit K = 2 A + 1 B, a SKU K2 that
//! may become a kit, a SKU Z nobody stocks; locations L1-L3 and an unknown LX; a
//! pool of five reservation ids and four step ids), so that conflicts, retries,
//! expiries, forgetting and id reuse happen within 60 operations. Time advances by
//! random steps, past TTLs and past the (short) idempotency window.
//!
//! `PROPTEST_CASES` raises the number of cases (512 by default); the seed is fixed
//! unless `PROPTEST_RNG_SEED` is set.

#[path = "reference_model/mod.rs"]
mod reference_model;

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed, TestCaseError, TestRunner};
use reference_model::compare::{compare_outcomes, compare_state, Universe};
use reference_model::{Model, Reservation};
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use stockd::engine::{LineQuantity, PartialStep, ReservationState, ReserveLine, ReserveRequest, RestockRequest};
use stockd::limits::{MAX_QUANTITY, MAX_TTL_MS};
use stockd::model::{
    Bucket, ChannelBuffer, ChannelSpec, Coordinates, LocationFlags, LocationKind, LocationSpec, PositionRow,
};
use stockd::{Engine, EngineConfig, EngineError, Operation, Timestamp};

const SKUS: [&str; 6] = ["A", "B", "C", "K", "K2", "Z"];
/// `LX` is never created.
const LOCATIONS: [&str; 4] = ["L1", "L2", "L3", "LX"];
const KNOWN_LOCATIONS: [&str; 3] = ["L1", "L2", "L3"];
const ID_POOL: [&str; 5] = ["r0", "r1", "r2", "r3", "r4"];
const INVALID_IDS: [&str; 3] = ["", "two words", "bell\u{7}"];
const STEP_IDS: [&str; 4] = ["s0", "s1", "s2", "s3"];
const SUPPLIES: [&str; 3] = ["po1", "po2", "po3"];
const REFERENCES: [&str; 3] = ["", "ASN 1001", "bad\nreference"];
const BUCKETS: [Bucket; 3] = [Bucket::Sellable, Bucket::Damaged, Bucket::QualityControl];
const CHANNEL: &str = "web";
const START_MS: u64 = 1_700_000_000_000;
const IDEMPOTENCY_WINDOW_MS: u64 = 15_000;
const DEFAULT_CASES: u32 = 512;
/// Availability to promise is compared at `now` plus this.
const PROMISE_HORIZON_MS: u64 = 20_000;

// ---------------------------------------------------------------------------
// What the generator produces: operations over small pools, made concrete when
// they run (a retry repeats the last reserve, a partial step picks lines the
// reservation really holds, a compare-and-set uses the current version).

#[derive(Clone, Debug)]
enum IdPick {
    Pool(usize),
    /// The k-th most recent id that a reserve created.
    Recent(usize),
    /// The k-th (modulo) remembered reservation in a state the operation can act on
    /// (held for commit, committed for fulfil, ...); `Recent` if there is none.
    Actionable(usize),
    /// An id never used before.
    Fresh,
    Invalid(usize),
}

#[derive(Clone, Debug)]
enum StepLines {
    /// (which held line, quantity seed: 0 asks one more than held).
    Matching(Vec<(usize, u32)>),
    /// (sku, location, quantity) from the pools.
    Raw(Vec<(usize, usize, u32)>),
}

#[derive(Clone, Debug)]
struct StepPick {
    step: usize,
    lines: StepLines,
}

#[derive(Clone, Debug)]
enum VersionPick {
    None,
    Current,
    /// Current plus this: always a mismatch.
    Stale(u64),
}

#[derive(Clone, Debug)]
enum Promise {
    InMs(u64),
    /// Exactly the expected date of the n-th supply line (modulo), to hit the `<=`.
    AtSupply(usize),
}

/// How far the clock moves before an operation.
#[derive(Clone, Copy, Debug)]
enum Advance {
    Ms(u64),
    /// Exactly to the next TTL or forgetting deadline, to hit the `<=`.
    ToNextDeadline,
}

#[derive(Clone, Debug)]
enum SupplyPick {
    /// The n-th incoming supply line of any position (modulo how many there are).
    Existing(usize),
    Raw {
        sku: usize,
        location: usize,
        supply: usize,
    },
}

#[derive(Clone, Debug)]
struct RowPick {
    sku: usize,
    location: usize,
    on_hand: u32,
    safety_stock: u32,
    damaged: u32,
    quality_control: u32,
    backorder_limit: u32,
}

#[derive(Clone, Debug)]
enum Act {
    Reserve {
        id: IdPick,
        lines: Vec<(usize, usize, u32)>,
        ttl_ms: u64,
        promise: Option<Promise>,
    },
    RetryReserve,
    Commit(IdPick),
    Release(IdPick, Option<StepPick>),
    Fulfil(IdPick, Option<StepPick>),
    Extend(IdPick, u64),
    ExpireDue,
    Adjust {
        sku: usize,
        location: usize,
        delta: i64,
        reference: usize,
    },
    SetOnHand {
        sku: usize,
        location: usize,
        on_hand: u32,
        version: VersionPick,
    },
    SetSafetyStock {
        sku: usize,
        location: usize,
        value: u32,
    },
    SetBackorderLimit {
        sku: usize,
        location: usize,
        value: u32,
    },
    MoveStock {
        sku: usize,
        location: usize,
        from: usize,
        to: usize,
        quantity: u32,
    },
    AddIncoming {
        sku: usize,
        location: usize,
        supply: usize,
        quantity: u32,
        due_in_ms: i64,
    },
    ReceiveIncoming {
        supply: SupplyPick,
        quantity: u32,
    },
    CancelIncoming {
        supply: SupplyPick,
    },
    /// `line`: return a SKU the reservation holds a line of (to its location).
    Restock {
        id: IdPick,
        step: usize,
        line: Option<usize>,
        sku: usize,
        location: usize,
        quantity_seed: u32,
        bucket: usize,
    },
    BulkLoad(Vec<RowPick>),
    DefineKit {
        kit: usize,
        components: Vec<(usize, u32)>,
    },
    UpsertChannel {
        locations: Vec<usize>,
        excluded: Vec<usize>,
        buffer: ChannelBuffer,
    },
}

#[derive(Clone, Debug)]
struct Setup {
    stock_shards: usize,
    reservation_shards: usize,
    max_reservations: usize,
    channel_excludes_l3: bool,
    buffer: ChannelBuffer,
    /// A, B, C at L1, L2, L3: (on hand, safety stock, backorder limit) or no position.
    stock: Vec<Option<(u32, u32, u32)>>,
}

#[derive(Clone, Debug)]
struct Case {
    setup: Setup,
    /// (ms to advance the clock by, then the operation).
    acts: Vec<(Advance, Act)>,
}

fn sku() -> impl Strategy<Value = usize> {
    prop_oneof![12 => Just(0), 10 => Just(1), 8 => Just(2), 6 => Just(3), 1 => Just(4), 1 => Just(5)]
}

/// For stock writes: kits (refused) and SKUs nobody stocks, rarely.
fn write_sku() -> impl Strategy<Value = usize> {
    prop_oneof![8 => Just(0), 7 => Just(1), 6 => Just(2), 1 => Just(3), 1 => Just(4), 1 => Just(5)]
}

fn location() -> impl Strategy<Value = usize> {
    prop_oneof![24 => Just(0), 20 => Just(1), 12 => Just(2), 1 => Just(3)]
}

fn quantity() -> impl Strategy<Value = u32> {
    prop_oneof![60 => 1u32..4, 1 => Just(0), 2 => 4u32..40]
}

fn reserve_id() -> impl Strategy<Value = IdPick> {
    prop_oneof![
        36 => (0..ID_POOL.len()).prop_map(IdPick::Pool),
        24 => Just(IdPick::Fresh),
        1 => (0..INVALID_IDS.len()).prop_map(IdPick::Invalid),
    ]
}

fn target_id() -> impl Strategy<Value = IdPick> {
    prop_oneof![
        24 => (0usize..8).prop_map(IdPick::Actionable),
        12 => (0usize..3).prop_map(IdPick::Recent),
        5 => (0..ID_POOL.len()).prop_map(IdPick::Pool),
        1 => Just(IdPick::Fresh),
        1 => (0..INVALID_IDS.len()).prop_map(IdPick::Invalid),
    ]
}

fn ttl_ms() -> impl Strategy<Value = u64> {
    prop_oneof![100 => 5_000u64..60_000, 1 => Just(999), 1 => Just(MAX_TTL_MS), 1 => Just(MAX_TTL_MS + 1)]
}

fn step_pick() -> impl Strategy<Value = Option<StepPick>> {
    let matching = prop_oneof![4 => vec((0usize..4, 0u32..16), 1..2), 1 => vec((0usize..4, 0u32..16), 2..4)];
    let raw = vec((sku(), location(), quantity()), 0..3).prop_map(StepLines::Raw);
    let lines = prop_oneof![10 => matching.prop_map(StepLines::Matching), 1 => raw];
    prop_oneof![1 => Just(None), 1 => (0..STEP_IDS.len(), lines).prop_map(|(step, lines)| Some(StepPick { step, lines }))]
}

fn supply() -> impl Strategy<Value = SupplyPick> {
    prop_oneof![
        4 => (0usize..8).prop_map(SupplyPick::Existing),
        1 => (write_sku(), location(), 0..SUPPLIES.len()).prop_map(|(sku, location, supply)| SupplyPick::Raw { sku, location, supply }),
    ]
}

fn row() -> impl Strategy<Value = RowPick> {
    let on_hand = prop_oneof![20 => 10u32..80, 2 => 0u32..10, 1 => Just(MAX_QUANTITY + 1)];
    let backorder_limit = prop_oneof![3 => Just(0u32), 1 => 1u32..6];
    (sku(), location(), on_hand, 0u32..3, 0u32..3, 0u32..3, backorder_limit).prop_map(
        |(sku, location, on_hand, safety_stock, damaged, quality_control, backorder_limit)| RowPick {
            sku,
            location,
            on_hand,
            safety_stock,
            damaged,
            quality_control,
            backorder_limit,
        },
    )
}

fn buffer() -> impl Strategy<Value = ChannelBuffer> {
    prop_oneof![
        Just(ChannelBuffer::None),
        (0u32..4).prop_map(ChannelBuffer::Units),
        (0u8..=40).prop_map(ChannelBuffer::Percent),
        Just(ChannelBuffer::Percent(101)),
    ]
}

fn reserve() -> impl Strategy<Value = Act> {
    let reserve_lines = prop_oneof![
        60 => vec((sku(), location(), quantity()), 1..3),
        10 => vec((sku(), location(), quantity()), 3..5),
        1 => Just(Vec::new()),
    ];
    let promise = prop_oneof![
        9 => Just(None),
        2 => (0u64..60_000).prop_map(|ms| Some(Promise::InMs(ms))),
        1 => (0usize..4).prop_map(|n| Some(Promise::AtSupply(n))),
    ];
    (reserve_id(), reserve_lines, ttl_ms(), promise).prop_map(|(id, lines, ttl_ms, promise)| Act::Reserve {
        id,
        lines,
        ttl_ms,
        promise,
    })
}

fn act() -> impl Strategy<Value = Act> {
    let delta = prop_oneof![
        16 => -6i64..=-1,
        20 => 1i64..=15,
        1 => Just(0i64),
        1 => Just(-1_000i64),
        1 => Just(i64::from(MAX_QUANTITY) + 1),
    ];
    let reference = prop_oneof![10 => Just(0usize), 10 => Just(1usize), 1 => Just(2usize)];
    let to_bucket = prop_oneof![10 => 1usize..3, 1 => Just(0usize)];
    let version = prop_oneof![1 => Just(VersionPick::None), 3 => Just(VersionPick::Current), 1 => (1u64..3).prop_map(VersionPick::Stale)];
    prop_oneof![
        18 => reserve(),
        4 => Just(Act::RetryReserve),
        11 => target_id().prop_map(Act::Commit),
        6 => (target_id(), step_pick()).prop_map(|(id, step)| Act::Release(id, step)),
        9 => (target_id(), step_pick()).prop_map(|(id, step)| Act::Fulfil(id, step)),
        3 => (target_id(), ttl_ms()).prop_map(|(id, ttl)| Act::Extend(id, ttl)),
        5 => Just(Act::ExpireDue),
        5 => (write_sku(), location(), delta, reference)
            .prop_map(|(sku, location, delta, reference)| Act::Adjust { sku, location, delta, reference }),
        3 => (write_sku(), location(), prop_oneof![10 => 10u32..80, 1 => 0u32..10], version)
            .prop_map(|(sku, location, on_hand, version)| Act::SetOnHand { sku, location, on_hand, version }),
        2 => (write_sku(), location(), 0u32..8).prop_map(|(sku, location, value)| Act::SetSafetyStock { sku, location, value }),
        2 => (write_sku(), location(), prop_oneof![Just(0u32), 1u32..10])
            .prop_map(|(sku, location, value)| Act::SetBackorderLimit { sku, location, value }),
        2 => (write_sku(), location(), prop_oneof![4 => Just(0usize), 1 => 1usize..3], to_bucket, quantity()).prop_map(
            |(sku, location, from, offset, quantity)| Act::MoveStock { sku, location, from, to: (from + offset) % 3, quantity }
        ),
        3 => (write_sku(), location(), 0..SUPPLIES.len(), quantity(), prop_oneof![10 => -10_000i64..60_000, 1 => Just(PROMISE_HORIZON_MS as i64)]).prop_map(
            |(sku, location, supply, quantity, due_in_ms)| Act::AddIncoming { sku, location, supply, quantity, due_in_ms }
        ),
        2 => (supply(), quantity()).prop_map(|(supply, quantity)| Act::ReceiveIncoming { supply, quantity }),
        2 => supply().prop_map(|supply| Act::CancelIncoming { supply }),
        3 => (target_id(), 0..STEP_IDS.len(), proptest::option::weighted(0.8, 0usize..4), sku(), location(), 0u32..6, 0usize..3)
            .prop_map(|(id, step, line, sku, location, quantity_seed, bucket)| Act::Restock {
                id,
                step,
                line,
                sku,
                location,
                quantity_seed,
                bucket
            }),
        2 => vec(row(), 1..4).prop_map(Act::BulkLoad),
        1 => (prop_oneof![3 => Just(4usize), 1 => Just(3usize)], vec((0usize..3, 1u32..3), 1..4))
            .prop_map(|(kit, components)| Act::DefineKit { kit, components }),
        1 => (vec(0usize..4, 0..4), vec(0usize..3, 0..2), buffer())
            .prop_map(|(locations, excluded, buffer)| Act::UpsertChannel { locations, excluded, buffer }),
    ]
}

fn advance() -> impl Strategy<Value = Advance> {
    prop_oneof![
        14 => (0u64..300).prop_map(Advance::Ms),
        5 => (300u64..3_000).prop_map(Advance::Ms),
        1 => (5_000u64..60_000).prop_map(Advance::Ms),
        2 => Just(Advance::ToNextDeadline),
    ]
}

fn setup() -> impl Strategy<Value = Setup> {
    let one_position = (30u32..80, 0u32..3, prop_oneof![3 => Just(0u32), 1 => 1u32..8]);
    (
        prop_oneof![Just(1usize), Just(4), Just(64)],
        prop_oneof![Just(1usize), Just(8)],
        prop_oneof![1 => Just(4usize), 3 => Just(1_000)],
        any::<bool>(),
        prop_oneof![
            Just(ChannelBuffer::None),
            (1u32..4).prop_map(ChannelBuffer::Units),
            (1u8..30).prop_map(ChannelBuffer::Percent)
        ],
        vec(proptest::option::weighted(0.95, one_position), 9),
    )
        .prop_map(|(stock_shards, reservation_shards, max_reservations, channel_excludes_l3, buffer, stock)| {
            Setup { stock_shards, reservation_shards, max_reservations, channel_excludes_l3, buffer, stock }
        })
}

fn case() -> impl Strategy<Value = Case> {
    // A few reserves first, so that the lifecycle calls have something to act on.
    let opening = vec((advance(), reserve()), 0..5);
    (setup(), opening, vec((advance(), act()), 1..56)).prop_map(|(setup, mut acts, rest)| {
        acts.extend(rest);
        Case { setup, acts }
    })
}

// ---------------------------------------------------------------------------
// Turning picks into operations.

#[derive(Default)]
struct Driver {
    last_reserve: Option<ReserveRequest>,
    /// Ids that a reserve created, oldest first.
    created: Vec<String>,
    fresh: usize,
    /// Every reservation id any operation named (for the state comparison).
    seen: BTreeSet<String>,
}

impl Driver {
    fn id(&mut self, pick: &IdPick, model: &Model, actionable: fn(&Reservation) -> bool) -> String {
        let candidates: Vec<String> =
            model.reservation_ids().into_iter().filter(|id| model.reservation(id).is_some_and(actionable)).collect();
        let id = match pick {
            IdPick::Actionable(k) if !candidates.is_empty() => candidates[k % candidates.len()].clone(),
            IdPick::Actionable(_) | IdPick::Recent(_) if self.created.is_empty() => ID_POOL[0].to_owned(),
            IdPick::Actionable(k) => self.created[self.created.len() - 1 - k % self.created.len()].clone(),
            IdPick::Pool(i) => ID_POOL[*i].to_owned(),
            IdPick::Recent(_) if self.created.is_empty() => ID_POOL[0].to_owned(),
            IdPick::Recent(k) => self.created[self.created.len() - 1 - k % self.created.len()].clone(),
            IdPick::Fresh => {
                self.fresh += 1;
                format!("n{}", self.fresh)
            }
            IdPick::Invalid(i) => INVALID_IDS[*i].to_owned(),
        };
        if !id.is_empty() && !INVALID_IDS.contains(&id.as_str()) {
            self.seen.insert(id.clone());
        }
        id
    }

    fn step(&self, pick: &StepPick, reservation: Option<&Reservation>) -> PartialStep {
        let lines = match (&pick.lines, reservation) {
            (StepLines::Matching(picks), Some(r)) if !r.lines.is_empty() => picks
                .iter()
                .map(|&(which, seed)| {
                    let line = &r.lines[which % r.lines.len()];
                    let held = line.held as u32;
                    let quantity = if seed == 0 { held + 1 } else { 1 + seed % held.max(1) };
                    LineQuantity { sku: line.sku.clone(), location: line.location.clone(), quantity }
                })
                .collect(),
            (StepLines::Raw(raw), _) => raw
                .iter()
                .map(|&(sku, location, quantity)| LineQuantity {
                    sku: SKUS[sku].to_owned(),
                    location: LOCATIONS[location].to_owned(),
                    quantity,
                })
                .collect(),
            (StepLines::Matching(_), _) => vec![LineQuantity { sku: "A".into(), location: "L1".into(), quantity: 1 }],
        };
        PartialStep { step_id: STEP_IDS[pick.step].to_owned(), lines }
    }

    /// (sku, location, reference) of a supply line.
    fn supply(pick: &SupplyPick, model: &Model) -> (String, String, String) {
        let supplies = model.supplies();
        match pick {
            SupplyPick::Existing(n) if !supplies.is_empty() => supplies[n % supplies.len()].clone(),
            SupplyPick::Existing(_) => ("A".into(), "L1".into(), SUPPLIES[0].into()),
            SupplyPick::Raw { sku, location, supply } => {
                (SKUS[*sku].to_owned(), LOCATIONS[*location].to_owned(), SUPPLIES[*supply].to_owned())
            }
        }
    }

    fn operation(&mut self, act: &Act, model: &Model, now: u64) -> Operation {
        let names = |sku: usize, location: usize| (SKUS[sku].to_owned(), LOCATIONS[location].to_owned());
        match act {
            Act::Reserve { id, lines, ttl_ms, promise } => {
                let dates = model.supply_dates();
                let promise_by = match promise {
                    None => None,
                    Some(Promise::AtSupply(n)) if !dates.is_empty() => Some(Timestamp(dates[n % dates.len()])),
                    Some(Promise::AtSupply(_)) => Some(Timestamp(now)),
                    Some(Promise::InMs(ms)) => Some(Timestamp(now + ms)),
                };
                let request = ReserveRequest {
                    id: self.id(id, model, |_| false),
                    lines: lines
                        .iter()
                        .map(|&(sku, location, quantity)| ReserveLine {
                            sku: SKUS[sku].to_owned(),
                            location: LOCATIONS[location].to_owned(),
                            quantity,
                        })
                        .collect(),
                    ttl_ms: *ttl_ms,
                    promise_by,
                };
                self.last_reserve = Some(request.clone());
                Operation::Reserve(request)
            }
            Act::RetryReserve => match &self.last_reserve {
                Some(request) => Operation::Reserve(request.clone()),
                None => Operation::ExpireDue,
            },
            Act::Commit(id) => Operation::Commit { id: self.id(id, model, |r| r.state == ReservationState::Held) },
            Act::Release(id, step) | Act::Fulfil(id, step) => {
                let fulfil = matches!(act, Act::Fulfil(..));
                let id = if fulfil {
                    self.id(id, model, |r| r.state == ReservationState::Committed)
                } else {
                    self.id(id, model, |r| matches!(r.state, ReservationState::Held | ReservationState::Committed))
                };
                let partial = step.as_ref().map(|s| self.step(s, model.reservation(&id)));
                if fulfil {
                    Operation::Fulfil { id, partial }
                } else {
                    Operation::Release { id, partial }
                }
            }
            Act::Extend(id, ttl_ms) => {
                Operation::Extend { id: self.id(id, model, |r| r.state == ReservationState::Held), ttl_ms: *ttl_ms }
            }
            Act::ExpireDue => Operation::ExpireDue,
            Act::Adjust { sku, location, delta, reference } => {
                let (sku, location) = names(*sku, *location);
                let reason = stockd::engine::AdjustReason::Correction;
                Operation::Adjust { sku, location, delta: *delta, reason, reference: REFERENCES[*reference].to_owned() }
            }
            Act::SetOnHand { sku, location, on_hand, version } => {
                let (sku, location) = names(*sku, *location);
                let current = model.position(&sku, &location).map_or(0, |p| p.version);
                let expected_version = match version {
                    VersionPick::None => None,
                    VersionPick::Current => Some(current),
                    VersionPick::Stale(off) => Some(current + off),
                };
                Operation::SetOnHand { sku, location, on_hand: *on_hand, expected_version }
            }
            Act::SetSafetyStock { sku, location, value } => {
                let (sku, location) = names(*sku, *location);
                Operation::SetSafetyStock { sku, location, safety_stock: *value }
            }
            Act::SetBackorderLimit { sku, location, value } => {
                let (sku, location) = names(*sku, *location);
                Operation::SetBackorderLimit { sku, location, limit: *value }
            }
            Act::MoveStock { sku, location, from, to, quantity } => {
                let (sku, location) = names(*sku, *location);
                Operation::MoveStock { sku, location, from: BUCKETS[*from], to: BUCKETS[*to], quantity: *quantity }
            }
            Act::AddIncoming { sku, location, supply, quantity, due_in_ms } => {
                let (sku, location) = names(*sku, *location);
                let expected_at = Timestamp(now.saturating_add_signed(*due_in_ms));
                Operation::AddIncoming {
                    sku,
                    location,
                    reference: SUPPLIES[*supply].to_owned(),
                    quantity: *quantity,
                    expected_at,
                }
            }
            Act::ReceiveIncoming { supply, quantity } => {
                let (sku, location, reference) = Driver::supply(supply, model);
                Operation::ReceiveIncoming { sku, location, reference, quantity: *quantity }
            }
            Act::CancelIncoming { supply } => {
                let (sku, location, reference) = Driver::supply(supply, model);
                Operation::CancelIncoming { sku, location, reference }
            }
            Act::Restock { id, step, line, sku, location, quantity_seed, bucket } => {
                let id = self.id(id, model, |r| r.lines.iter().any(|l| l.fulfilled > l.returned));
                let (mut sku, mut location) = names(*sku, *location);
                let mut quantity = quantity_seed + 1;
                if let (Some(which), Some(r)) = (line, model.reservation(&id)) {
                    if !r.lines.is_empty() {
                        let held = &r.lines[which % r.lines.len()];
                        sku = held.sku.clone();
                        location = held.location.clone();
                        let returnable: i64 =
                            r.lines.iter().filter(|l| l.sku == sku).map(|l| l.fulfilled - l.returned).sum();
                        let returnable = returnable as u32;
                        quantity =
                            if *quantity_seed == 0 { returnable + 1 } else { 1 + quantity_seed % returnable.max(1) };
                    }
                }
                Operation::Restock(RestockRequest {
                    reservation_id: id,
                    step_id: STEP_IDS[*step].to_owned(),
                    line: LineQuantity { sku, location, quantity },
                    bucket: BUCKETS[*bucket],
                })
            }
            Act::BulkLoad(rows) => Operation::BulkLoad(
                rows.iter()
                    .map(|r| PositionRow {
                        sku: SKUS[r.sku].to_owned(),
                        location: LOCATIONS[r.location].to_owned(),
                        on_hand: r.on_hand,
                        safety_stock: r.safety_stock,
                        damaged: r.damaged,
                        quality_control: r.quality_control,
                        backorder_limit: r.backorder_limit,
                    })
                    .collect(),
            ),
            Act::DefineKit { kit, components } => Operation::DefineKit {
                kit: SKUS[*kit].to_owned(),
                components: components.iter().map(|&(sku, quantity)| (SKUS[sku].to_owned(), quantity)).collect(),
            },
            Act::UpsertChannel { locations, excluded, buffer } => Operation::UpsertChannel(ChannelSpec {
                name: CHANNEL.to_owned(),
                locations: locations.iter().map(|&l| LOCATIONS[l].to_owned()).collect(),
                excluded: excluded.iter().map(|&l| LOCATIONS[l].to_owned()).collect(),
                buffer: *buffer,
            }),
        }
    }

    /// Remembers what a reserve created, for later operations to aim at.
    fn record(&mut self, result: &Result<reference_model::Outcome, EngineError>) {
        if let Ok(reference_model::Outcome::Reserved(reserved)) = result {
            if !reserved.replayed {
                self.created.push(reserved.id.clone());
            }
        }
    }
}

fn setup_operations(setup: &Setup) -> Vec<Operation> {
    let location = |name: &str, kind, pickup| LocationSpec {
        name: name.to_owned(),
        kind,
        coordinates: Coordinates { latitude: 51.5, longitude: -0.1 },
        flags: LocationFlags { ships: true, pickup },
        priority: 1,
    };
    let excluded = if setup.channel_excludes_l3 { vec!["L3".to_owned()] } else { Vec::new() };
    let mut rows = Vec::new();
    for (index, stock) in setup.stock.iter().enumerate() {
        if let Some((on_hand, safety_stock, backorder_limit)) = *stock {
            rows.push(PositionRow {
                sku: SKUS[index / 3].to_owned(),
                location: KNOWN_LOCATIONS[index % 3].to_owned(),
                on_hand,
                safety_stock,
                damaged: 0,
                quality_control: 0,
                backorder_limit,
            });
        }
    }
    vec![
        Operation::UpsertLocations(vec![
            location("L1", LocationKind::Warehouse, false),
            location("L2", LocationKind::Store, true),
            location("L3", LocationKind::DarkStore, false),
        ]),
        Operation::UpsertChannel(ChannelSpec {
            name: CHANNEL.to_owned(),
            locations: vec!["L2".into(), "L1".into(), "L3".into(), "L2".into()],
            excluded,
            buffer: setup.buffer,
        }),
        Operation::DefineKit { kit: "K".into(), components: vec![("A".into(), 2), ("B".into(), 1)] },
        Operation::BulkLoad(rows),
    ]
}

// ---------------------------------------------------------------------------
// The operation mix, so that a generator that stopped reaching the interesting
// states (successful reserves, commits, fulfils) fails loudly.

#[derive(Default)]
struct Mix {
    /// Operation label -> (succeeded, refused).
    counts: BTreeMap<&'static str, (u64, u64)>,
    /// (operation label, error variant) -> count.
    refusals: BTreeMap<(&'static str, String), u64>,
    expired: u64,
    forgotten: u64,
}

impl Mix {
    fn label(operation: &Operation, result: &Result<reference_model::Outcome, EngineError>) -> &'static str {
        use reference_model::Outcome as M;
        match (operation, result) {
            (Operation::Reserve(_), Ok(M::Reserved(r))) if r.replayed => "reserve (replayed)",
            (Operation::Reserve(_), _) => "reserve",
            (Operation::Commit { .. }, _) => "commit",
            (Operation::Release { partial: None, .. }, _) => "release whole",
            (Operation::Release { .. }, _) => "release partial",
            (Operation::Fulfil { partial: None, .. }, _) => "fulfil whole",
            (Operation::Fulfil { .. }, _) => "fulfil partial",
            (Operation::Extend { .. }, _) => "extend",
            (Operation::ExpireDue, _) => "expire_due",
            (Operation::Adjust { .. }, _) => "adjust",
            (Operation::SetOnHand { expected_version: Some(_), .. }, _) => "set_on_hand (versioned)",
            (Operation::SetOnHand { .. }, _) => "set_on_hand",
            (Operation::SetSafetyStock { .. }, _) => "set_safety_stock",
            (Operation::SetBackorderLimit { .. }, _) => "set_backorder_limit",
            (Operation::MoveStock { .. }, _) => "move_stock",
            (Operation::AddIncoming { .. }, _) => "add_incoming",
            (Operation::ReceiveIncoming { .. }, _) => "receive_incoming",
            (Operation::CancelIncoming { .. }, _) => "cancel_incoming",
            (Operation::Restock(_), _) => "restock",
            (Operation::BulkLoad(_), _) => "bulk_load",
            (Operation::DefineKit { .. }, _) => "define_kit",
            (Operation::UpsertChannel(_), _) => "upsert_channel",
            (Operation::UpsertLocations(_), _) => "upsert_locations",
            (Operation::ReserveSourced(_), _) => "reserve_sourced",
        }
    }

    fn record(&mut self, operation: &Operation, result: &Result<reference_model::Outcome, EngineError>) {
        let label = Mix::label(operation, result);
        let entry = self.counts.entry(label).or_default();
        match result {
            Ok(_) => entry.0 += 1,
            Err(error) => {
                entry.1 += 1;
                let variant = format!("{error:?}").split([' ', '(', '{']).next().unwrap_or_default().to_owned();
                *self.refusals.entry((label, variant)).or_default() += 1;
            }
        }
        if let Ok(reference_model::Outcome::Expiry { expired, forgotten }) = result {
            self.expired += expired;
            self.forgotten += forgotten;
        }
    }

    fn succeeded(&self, label: &str) -> u64 {
        self.counts.get(label).map_or(0, |c| c.0)
    }

    fn total(&self) -> u64 {
        self.counts.values().map(|(ok, refused)| ok + refused).sum()
    }

    fn report(&self) -> String {
        let total = self.total().max(1) as f64;
        let mut text = format!("{} operations\n", self.total());
        for (label, (ok, refused)) in &self.counts {
            let share = 100.0 * (ok + refused) as f64 / total;
            text += &format!("  {label:<26} {share:5.1}%  ok {ok:>6}  refused {refused:>6}\n");
        }
        for ((label, variant), count) in &self.refusals {
            text += &format!("    {label:<24} refused {variant:<24} {count:>6}\n");
        }
        text + &format!("  reservations expired by sweeps {}, forgotten {}\n", self.expired, self.forgotten)
    }
}

fn run_case(case: &Case, mix: &mut Mix) -> Result<(), TestCaseError> {
    let engine = Engine::new(EngineConfig {
        stock_shards: case.setup.stock_shards,
        reservation_shards: case.setup.reservation_shards,
        idempotency_window_ms: IDEMPOTENCY_WINDOW_MS,
        max_reservations: case.setup.max_reservations,
        max_expiries_per_sweep: 1_000_000,
    });
    let mut model = Model::new(IDEMPOTENCY_WINDOW_MS, case.setup.max_reservations);
    let mut now = START_MS;
    for operation in setup_operations(&case.setup) {
        let actual = engine.apply(&operation, Timestamp(now));
        let expected = model.apply(&operation, Timestamp(now));
        prop_assert!(actual.is_ok(), "setup {:?}: {:?}", operation, actual);
        compare_outcomes(&engine, &operation, &actual, &expected)?;
    }
    let mut driver = Driver::default();
    driver.seen.extend(ID_POOL.iter().map(|id| (*id).to_owned()));
    let universe = Universe {
        skus: SKUS.map(str::to_owned).to_vec(),
        locations: KNOWN_LOCATIONS.map(str::to_owned).to_vec(),
        channel: CHANNEL.to_owned(),
    };
    for (index, (advance, act)) in case.acts.iter().enumerate() {
        now = match advance {
            Advance::Ms(ms) => now + ms,
            Advance::ToNextDeadline => model.next_deadline(now).unwrap_or(now + 1_000),
        };
        let operation = driver.operation(act, &model, now);
        let actual = engine.apply(&operation, Timestamp(now));
        let expected = model.apply(&operation, Timestamp(now));
        mix.record(&operation, &expected);
        driver.record(&expected);
        let context = format!("operation {index} at {now}: {operation:?}");
        compare_outcomes(&engine, &operation, &actual, &expected)
            .map_err(|e| TestCaseError::fail(format!("{context}\n{e}")))?;
        compare_state(&engine, &model, &universe, &driver.seen, now + PROMISE_HORIZON_MS)
            .map_err(|e| TestCaseError::fail(format!("after {context}\n{e}")))?;
    }
    Ok(())
}

fn config() -> Config {
    let mut config = Config { failure_persistence: None, ..Config::default() };
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = DEFAULT_CASES;
    }
    if std::env::var_os("PROPTEST_RNG_SEED").is_none() {
        config.rng_seed = RngSeed::Fixed(0x5700_cd00);
    }
    config
}

#[test]
fn engine_matches_the_reference_model() {
    let mix = RefCell::new(Mix::default());
    let mut runner = TestRunner::new(config());
    let result = runner.run(&case(), |case| run_case(&case, &mut mix.borrow_mut()));
    let mix = mix.into_inner();
    eprintln!("{}", mix.report());
    if let Err(error) = result {
        panic!("{error}");
    }
    // The generator must keep reaching the states that matter, not only refusals.
    let total = mix.total();
    for (label, at_least_per_mille) in [
        ("reserve", 50),
        ("reserve (replayed)", 5),
        ("commit", 30),
        ("fulfil whole", 5),
        ("fulfil partial", 5),
        ("release whole", 5),
        ("release partial", 5),
        ("restock", 2),
        ("adjust", 10),
        ("set_on_hand (versioned)", 5),
    ] {
        let succeeded = mix.succeeded(label);
        assert!(
            succeeded * 1000 >= total * at_least_per_mille,
            "only {succeeded} successful {label} in {total} operations"
        );
    }
    assert!(mix.expired > 0 && mix.forgotten > 0, "sweeps must expire and forget: {}", mix.report());
}
