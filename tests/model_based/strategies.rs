//! What the test generates: the acts, their arguments, the setup and the time steps.

use super::*;

#[derive(Clone, Debug)]
pub(super) enum IdPick {
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
pub(super) enum StepLines {
    /// (which held line, quantity seed: 0 asks one more than held).
    Matching(Vec<(usize, u32)>),
    /// (sku, location, quantity) from the pools.
    Raw(Vec<(usize, usize, u32)>),
}

#[derive(Clone, Debug)]
pub(super) struct StepPick {
    pub(super) step: usize,
    pub(super) lines: StepLines,
}

#[derive(Clone, Debug)]
pub(super) enum VersionPick {
    None,
    Current,
    /// Current plus this: always a mismatch.
    Stale(u64),
}

#[derive(Clone, Debug)]
pub(super) enum Promise {
    InMs(u64),
    /// Exactly the expected date of the n-th supply line (modulo), to hit the `<=`.
    AtSupply(usize),
}

/// How far the clock moves before an operation.
#[derive(Clone, Copy, Debug)]
pub(super) enum Advance {
    Ms(u64),
    /// Exactly to the next TTL or forgetting deadline, to hit the `<=`.
    ToNextDeadline,
}

#[derive(Clone, Debug)]
pub(super) enum SupplyPick {
    /// The n-th incoming supply line of any position (modulo how many there are).
    Existing(usize),
    Raw {
        sku: usize,
        location: usize,
        supply: usize,
    },
}

#[derive(Clone, Debug)]
pub(super) struct RowPick {
    pub(super) sku: usize,
    pub(super) location: usize,
    pub(super) on_hand: u32,
    pub(super) safety_stock: u32,
    pub(super) damaged: u32,
    pub(super) quality_control: u32,
    pub(super) backorder_limit: u32,
}

#[derive(Clone, Debug)]
pub(super) enum Act {
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
pub(super) struct Setup {
    pub(super) stock_shards: usize,
    pub(super) reservation_shards: usize,
    pub(super) max_reservations: usize,
    pub(super) channel_excludes_l3: bool,
    pub(super) buffer: ChannelBuffer,
    /// A, B, C at L1, L2, L3: (on hand, safety stock, backorder limit) or no position.
    pub(super) stock: Vec<Option<(u32, u32, u32)>>,
}

#[derive(Clone, Debug)]
pub(super) struct Case {
    pub(super) setup: Setup,
    /// (ms to advance the clock by, then the operation).
    pub(super) acts: Vec<(Advance, Act)>,
}

pub(super) fn sku() -> impl Strategy<Value = usize> {
    prop_oneof![12 => Just(0), 10 => Just(1), 8 => Just(2), 6 => Just(3), 1 => Just(4), 1 => Just(5)]
}

/// For stock writes: kits (refused) and SKUs nobody stocks, rarely.
pub(super) fn write_sku() -> impl Strategy<Value = usize> {
    prop_oneof![8 => Just(0), 7 => Just(1), 6 => Just(2), 1 => Just(3), 1 => Just(4), 1 => Just(5)]
}

pub(super) fn location() -> impl Strategy<Value = usize> {
    prop_oneof![24 => Just(0), 20 => Just(1), 12 => Just(2), 1 => Just(3)]
}

pub(super) fn quantity() -> impl Strategy<Value = u32> {
    prop_oneof![60 => 1u32..4, 1 => Just(0), 2 => 4u32..40]
}

pub(super) fn reserve_id() -> impl Strategy<Value = IdPick> {
    prop_oneof![
        36 => (0..ID_POOL.len()).prop_map(IdPick::Pool),
        24 => Just(IdPick::Fresh),
        1 => (0..INVALID_IDS.len()).prop_map(IdPick::Invalid),
    ]
}

pub(super) fn target_id() -> impl Strategy<Value = IdPick> {
    prop_oneof![
        24 => (0usize..8).prop_map(IdPick::Actionable),
        12 => (0usize..3).prop_map(IdPick::Recent),
        5 => (0..ID_POOL.len()).prop_map(IdPick::Pool),
        1 => Just(IdPick::Fresh),
        1 => (0..INVALID_IDS.len()).prop_map(IdPick::Invalid),
    ]
}

pub(super) fn ttl_ms() -> impl Strategy<Value = u64> {
    prop_oneof![100 => 5_000u64..60_000, 1 => Just(999), 1 => Just(MAX_TTL_MS), 1 => Just(MAX_TTL_MS + 1)]
}

pub(super) fn step_pick() -> impl Strategy<Value = Option<StepPick>> {
    let matching = prop_oneof![4 => vec((0usize..4, 0u32..16), 1..2), 1 => vec((0usize..4, 0u32..16), 2..4)];
    let raw = vec((sku(), location(), quantity()), 0..3).prop_map(StepLines::Raw);
    let lines = prop_oneof![10 => matching.prop_map(StepLines::Matching), 1 => raw];
    prop_oneof![1 => Just(None), 1 => (0..STEP_IDS.len(), lines).prop_map(|(step, lines)| Some(StepPick { step, lines }))]
}

pub(super) fn supply() -> impl Strategy<Value = SupplyPick> {
    prop_oneof![
        4 => (0usize..8).prop_map(SupplyPick::Existing),
        1 => (write_sku(), location(), 0..SUPPLIES.len()).prop_map(|(sku, location, supply)| SupplyPick::Raw { sku, location, supply }),
    ]
}

pub(super) fn row() -> impl Strategy<Value = RowPick> {
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

pub(super) fn buffer() -> impl Strategy<Value = ChannelBuffer> {
    prop_oneof![
        Just(ChannelBuffer::None),
        (0u32..4).prop_map(ChannelBuffer::Units),
        (0u8..=40).prop_map(ChannelBuffer::Percent),
        Just(ChannelBuffer::Percent(101)),
    ]
}

pub(super) fn reserve() -> impl Strategy<Value = Act> {
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

pub(super) fn act() -> impl Strategy<Value = Act> {
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

pub(super) fn advance() -> impl Strategy<Value = Advance> {
    prop_oneof![
        14 => (0u64..300).prop_map(Advance::Ms),
        5 => (300u64..3_000).prop_map(Advance::Ms),
        1 => (5_000u64..60_000).prop_map(Advance::Ms),
        2 => Just(Advance::ToNextDeadline),
    ]
}

pub(super) fn setup() -> impl Strategy<Value = Setup> {
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

pub(super) fn case() -> impl Strategy<Value = Case> {
    // A few reserves first, so that the lifecycle calls have something to act on.
    let opening = vec((advance(), reserve()), 0..5);
    (setup(), opening, vec((advance(), act()), 1..56)).prop_map(|(setup, mut acts, rest)| {
        acts.extend(rest);
        Case { setup, acts }
    })
}
