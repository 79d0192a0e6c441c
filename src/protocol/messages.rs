//! Every message of the wire protocol, as plain serde data.
//!
//! The encoding is the codec's (bincode 2.0.1, standard configuration; see
//! docs/PROTOCOL.md): structs are their fields in declaration order, enums a varint
//! variant index (in declaration order) followed by the variant's fields. So **the
//! order of fields and variants here is the wire format**: append new variants at
//! the end of an enum, never reorder, and bump [`super::PROTOCOL_VERSION`] for any
//! other change. The generated examples in docs/PROTOCOL.md pin one value of every
//! variant (`tests/protocol_wire/` fails if they drift).
//!
//! Requests reuse the engine's input types ([`Operation`], [`AvailabilityScope`],
//! [`Availability`]), which name everything by client strings. Responses use types of
//! their own (`Wire*`), because the engine's views name SKUs and locations by internal
//! ids, which never leave the process ([`super::convert`] translates).
//!
//! Nesting is bounded by construction: a batch holds [`Call`]s, and a `Call` cannot
//! hold a batch, so a hostile frame cannot make the decoder recurse deeply. Batch
//! lengths are checked against their bounds while decoding, before the elements are
//! built.

use super::error::WireError;
use super::MAX_BATCH_CALLS;
use crate::engine::{Availability, AvailabilityScope, DemandRank, Operation, ReservationState, StoreQuery};
use crate::limits::MAX_BATCH_SKUS;
use crate::model::{HoldKind, Timestamp};
use serde::{Deserialize, Serialize};

/// One request on a stream: the client's id for it, echoed by the response.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RequestFrame {
    /// Chosen by the client, unique among its requests in flight on the connection.
    /// 0 is reserved (the server answers a frame whose id it cannot read with id 0).
    pub request_id: u64,
    pub request: Request,
}

/// One response on a stream: the id of the request it answers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ResponseFrame {
    pub request_id: u64,
    pub response: Response,
}

/// Access levels of bearer tokens, lowest first; a higher role may do everything a
/// lower one may.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Role {
    /// Queries and the change feed.
    Read,
    /// Plus the reservation lifecycle: reserve, commit, fulfil, release, extend, restock.
    Reserve,
    /// Everything: stock writes, counts, bulk loads, the catalogue, expiry sweeps,
    /// snapshots, verify and stats.
    Admin,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Request {
    /// The handshake: the first request of every connection, answered by
    /// `Response::Welcome` or `Response::Error` (then the connection is closed).
    Hello { protocol_version: u16, token: String },
    /// One call, answered by `Response::Reply`.
    Call(Call),
    /// Up to [`MAX_BATCH_CALLS`] calls, answered by `Response::Batch` with one reply
    /// per call, in the same order. Calls run one after another, each on its own (a
    /// refused call does not stop the next ones and undoes nothing before it).
    Batch(#[serde(deserialize_with = "bounded::<_, Call, MAX_BATCH_CALLS>")] Vec<Call>),
    /// Turns on the availability change feed for this stream (docs/FEED.md): answered
    /// by `Response::Subscribed`, then by `Response::Events` frames with this request's
    /// id for as long as the stream is open. The client ends it by finishing its side
    /// of the stream. Needs the `read` role; does not count as a request in flight.
    Subscribe(WireSubscription),
    /// On a stream carrying a subscription: asks for the current value of every key
    /// the subscription watches for these SKUs, sent as `Snapshot` events with
    /// `gap: true` **in order with the other events** (what an every-SKU subscriber does
    /// after a resync marker; docs/FEED.md). Answered by `Response::ResyncScheduled`
    /// (or `Response::Error`) with this request's id; the values follow as `Events`.
    Resync {
        #[serde(deserialize_with = "bounded::<_, String, MAX_SUBSCRIPTION_SKUS>")]
        skus: Vec<String>,
    },
}

/// What a change-feed subscription watches.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireSubscription {
    /// The SKUs watched (at most [`MAX_SUBSCRIPTION_SKUS`]); empty: every SKU.
    #[serde(deserialize_with = "bounded::<_, String, MAX_SUBSCRIPTION_SKUS>")]
    pub skus: Vec<String>,
    /// Channels whose availability (buffer applied) is watched.
    #[serde(deserialize_with = "bounded::<_, String, MAX_SUBSCRIPTION_SCOPES>")]
    pub channels: Vec<String>,
    /// Also watch each position (SKU at a location) on its own.
    pub locations: bool,
    /// Send `LowStock` when a value falls below this (and stays above 0).
    pub low_stock_below: Option<u32>,
    /// Send every change of the value (`Changed`), not only the transitions.
    pub every_change: bool,
}

/// SKUs one subscription may list.
pub const MAX_SUBSCRIPTION_SKUS: usize = 10_000;
/// Channels one subscription may list.
pub const MAX_SUBSCRIPTION_SCOPES: usize = 64;

/// Everything the engine can be asked: every read, every write (as an [`Operation`]),
/// and the operator calls.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Call {
    /// Answered by `Reply::Pong` (liveness and round-trip time).
    Ping,
    /// Every quantity of one position: `Reply::Position`.
    Position { sku: String, location: String },
    /// ATS or ATP of one SKU (or kit) at a location or in a channel: `Reply::Availability`.
    Availability { sku: String, scope: AvailabilityScope, measure: Availability },
    /// One SKU across a channel, with each location if `breakdown`: `Reply::ChannelAvailability`.
    ChannelAvailability { sku: String, channel: String, breakdown: bool },
    /// Up to [`MAX_BATCH_SKUS`] SKUs in one scope (a listing page of 48), in the order
    /// asked: `Reply::AvailabilityBatch`.
    AvailabilityBatch {
        #[serde(deserialize_with = "bounded::<_, String, MAX_BATCH_SKUS>")]
        skus: Vec<String>,
        scope: AvailabilityScope,
        measure: Availability,
    },
    /// A reservation as the engine remembers it: `Reply::Reservation`.
    Reservation { id: String },
    /// Counts of everything (walks the whole state): `Reply::Stats`.
    Stats,
    /// The online invariant check: `Reply::Verify`.
    Verify,
    /// Any write: `Reply::Applied` once it is durable under the server's mode.
    Apply(Operation),
    /// A snapshot now: `Reply::SnapshotTaken`.
    TakeSnapshot,
    /// Click & collect: pickup stores of a channel near a point that can serve every
    /// line now, nearest first: `Reply::Stores`. (A sourced reservation, for delivery
    /// or at a chosen store, is `Apply(Operation::ReserveSourced(..))`.)
    FindStores(StoreQuery),
    /// Lost-demand counters of one SKU, over every reserve (`channel: None`) or over a
    /// channel's sourced reserves: `Reply::Demand`.
    Demand { sku: String, channel: Option<String> },
    /// The SKUs with the most lost demand by one counter, highest first (at most
    /// [`MAX_DEMAND_TOP`]): `Reply::DemandTop`.
    DemandTop { channel: Option<String>, rank: DemandRank, limit: u32 },
    /// The sourcing profiles in force, as TOML: `Reply::SourcingProfiles`.
    SourcingProfiles,
    /// Replaces every sourcing profile with those of a TOML document (validated first;
    /// kept in the server's profiles file, so a restart keeps them): `Reply::SourcingProfiles`.
    SetSourcingProfiles { toml: String },
}

/// Most entries one `DemandTop` returns.
pub const MAX_DEMAND_TOP: u32 = 1_000;

/// The limits a server enforces on a connection, announced in `Welcome`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Largest frame payload the server accepts (a larger one closes the stream).
    pub max_frame_bytes: u32,
    /// Calls in one batch.
    pub max_batch_calls: u32,
    /// Requests in flight on the connection; more are answered `Overloaded`.
    pub max_in_flight: u32,
    /// SKUs in one `AvailabilityBatch`.
    pub max_batch_skus: u32,
    /// How long the server works on a request before answering `DeadlineExceeded`.
    pub request_deadline_ms: u64,
    /// Silence after which the server closes the connection.
    pub idle_timeout_ms: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_frame_bytes: super::MAX_FRAME_BYTES,
            max_batch_calls: MAX_BATCH_CALLS as u32,
            max_in_flight: super::DEFAULT_MAX_IN_FLIGHT,
            max_batch_skus: MAX_BATCH_SKUS as u32,
            request_deadline_ms: super::DEFAULT_REQUEST_DEADLINE_MS,
            idle_timeout_ms: super::DEFAULT_IDLE_TIMEOUT_MS,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Response {
    /// The handshake succeeded: the version both ends now speak, the token's role,
    /// and the server's limits.
    Welcome { protocol_version: u16, role: Role, limits: Limits },
    /// The answer to `Request::Call`.
    Reply(Reply),
    /// The answers to `Request::Batch`, one per call, in order.
    Batch(Vec<Reply>),
    /// The request as a whole was refused and **nothing of it ran** (a bad frame, no
    /// handshake yet, a role too low for a call of the batch, a limit, overload). A
    /// call that ran and was refused is answered `Reply::Error` instead.
    Error(WireError),
    /// A subscription started (the answer to `Request::Subscribe`).
    Subscribed { subscription_id: u64 },
    /// Change-feed events of the stream's subscription, oldest first.
    Events(Vec<WireFeedEvent>),
    /// The answer to `Request::Resync`: the values will come as `Events`.
    ResyncScheduled,
}

/// The outcome of one call.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Reply {
    Pong {
        /// The server's clock, milliseconds since the Unix epoch.
        server_time_ms: u64,
    },
    Position(WirePosition),
    Availability {
        available: u64,
    },
    ChannelAvailability(WireChannelAvailability),
    AvailabilityBatch {
        /// One per SKU asked, in the same order.
        available: Vec<u64>,
    },
    Reservation(Box<WireReservation>),
    Stats(WireStats),
    Verify(WireVerifyReport),
    Applied(Applied),
    SnapshotTaken(WireSnapshot),
    /// The call was refused; it changed nothing (see [`ErrorCode::NotDurable`] and
    /// [`ErrorCode::DeadlineExceeded`] for the two cases where the outcome is unknown).
    ///
    /// [`ErrorCode::NotDurable`]: super::ErrorCode::NotDurable
    /// [`ErrorCode::DeadlineExceeded`]: super::ErrorCode::DeadlineExceeded
    Error(WireError),
    /// `FindStores`: the matching stores, nearest first.
    Stores(Vec<WireStoreMatch>),
    Demand(WireDemandCounters),
    DemandTop(Vec<WireDemandEntry>),
    /// The profiles in force: their names (sorted) and the whole TOML document.
    SourcingProfiles {
        names: Vec<String>,
        toml: String,
    },
}

/// What a write did (the engine's `Outcome`, with names instead of ids).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Applied {
    /// `UpsertLocations`: the locations created or replaced, in the order sent.
    Locations(Vec<String>),
    /// `UpsertChannel`, `DefineKit`.
    Done,
    /// `Reserve`.
    Reserved(WireReserveOutcome),
    /// `Commit`, `Release`, `Fulfil`, `Extend`: the reservation after the call.
    Reservation(Box<WireReservation>),
    /// `ExpireDue`.
    Expiry(WireExpiryReport),
    /// Stock writes and `Restock`: the position after the write.
    Position(WirePosition),
    /// `BulkLoad`.
    BulkLoad(WireBulkLoad),
    /// `ReserveSourced`: the reservation and where each line is held.
    Sourced(WireSourcedOutcome),
}

/// Supply on its way to a position.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireIncoming {
    pub reference: String,
    pub quantity: u32,
    pub expected_at: Timestamp,
}

/// Every quantity of one position.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WirePosition {
    pub sku: String,
    pub location: String,
    pub on_hand: u32,
    pub reserved: u32,
    pub safety_stock: u32,
    pub damaged: u32,
    pub quality_control: u32,
    pub backorder_limit: u32,
    pub available_to_sell: u32,
    pub incoming: Vec<WireIncoming>,
    pub version: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireLocationAvailability {
    pub location: String,
    pub available: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireChannelAvailability {
    /// Summed over the channel's locations, less its buffer, never below 0.
    pub available: u64,
    /// The sum before the buffer.
    pub summed: u64,
    /// Each location with a position in the channel (empty unless asked for).
    pub locations: Vec<WireLocationAvailability>,
}

/// A line as the client asked for it (the SKU may be a kit).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireRequestedLine {
    pub sku: String,
    pub location: String,
    pub quantity: u32,
}

/// A held line (kits expanded into components) and what became of its units.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireHeldLine {
    pub sku: String,
    pub location: String,
    pub kind: HoldKind,
    /// Units held when the reservation was made.
    pub quantity: u32,
    /// Units still held.
    pub held: u32,
    pub fulfilled: u32,
    pub released: u32,
    /// Fulfilled units that came back through `Restock`.
    pub returned: u32,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireReservation {
    pub id: String,
    pub state: ReservationState,
    pub created_at: Timestamp,
    /// While held: when it expires.
    pub expires_at: Option<Timestamp>,
    /// The expiry the first reserve reported.
    pub first_expires_at: Timestamp,
    pub promise_by: Option<Timestamp>,
    pub requested: Vec<WireRequestedLine>,
    pub lines: Vec<WireHeldLine>,
    /// Once terminal: when the id is forgotten (and may be used again).
    pub forget_at: Option<Timestamp>,
    /// Step ids of the partial fulfils, releases and returns applied.
    pub applied_steps: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireReservedLine {
    pub sku: String,
    pub location: String,
    pub quantity: u32,
    pub kind: HoldKind,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireReserveOutcome {
    pub id: String,
    /// Kits expanded into their components; one line per (SKU, location).
    pub lines: Vec<WireReservedLine>,
    pub expires_at: Timestamp,
    /// True when this answers a retry: nothing was reserved by this call.
    pub replayed: bool,
    /// The reservation's state now (a replay may find it committed or expired).
    pub state: ReservationState,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireExpiryReport {
    pub expired: u64,
    pub forgotten: u64,
    /// The sweep stopped at its bound with deadlines still due.
    pub more_due: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireRowRejection {
    /// The row's index in the load.
    pub row: u64,
    pub error: WireError,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireBulkLoad {
    pub inserted: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub rejected: u64,
    /// The first 100 rejected rows.
    pub rejections: Vec<WireRowRejection>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireStats {
    pub skus: u64,
    pub positions: u64,
    pub locations: u64,
    pub channels: u64,
    pub kits: u64,
    pub reservations_held: u64,
    pub reservations_committed: u64,
    pub reservations_fulfilled: u64,
    pub reservations_released: u64,
    pub reservations_expired: u64,
    pub reservations_remembered: u64,
}

/// One broken invariant found by `Verify`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum WireFinding {
    ReservedDrift { sku: String, location: String, reserved: u64, held_by_lines: u64 },
    Oversold { sku: String, location: String, reserved: u64, ceiling: i64 },
    BrokenReservation { id: String, reason: String },
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireVerifyReport {
    pub positions_checked: u64,
    pub reservations_checked: u64,
    /// Findings in total; the first 100 are listed.
    pub findings_total: u64,
    pub findings: Vec<WireFinding>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireSnapshot {
    /// The snapshot file, as a path on the server.
    pub path: String,
    pub covers_lsn: u64,
    pub complete_lsn: u64,
    pub created_at_ms: u64,
    pub positions: u64,
    pub reservations: u64,
    pub body_bytes: u64,
    /// How long the copy of the state took (the server kept serving meanwhile).
    pub copy_time_us: u64,
    pub total_time_us: u64,
    pub segments_deleted: u64,
}

/// One line of a sourced reservation as the engine placed it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireAllocatedLine {
    /// The index of the order line it serves (kits: one entry per component).
    pub line: u16,
    pub sku: String,
    pub location: String,
    pub quantity: u32,
    pub kind: HoldKind,
    /// Great-circle distance from the delivery point, in metres (none for pickup).
    pub distance_m: Option<u32>,
}

/// What a sourced reservation did: the reservation and where each line ships from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireSourcedOutcome {
    pub reservation: WireReserveOutcome,
    pub allocation: Vec<WireAllocatedLine>,
    pub locations_used: u8,
    /// False when the search hit its work bound and the greedy choice was taken.
    pub exact: bool,
}

/// A pickup store that can serve every line of a store-finder query now.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireStoreMatch {
    pub location: String,
    pub distance_m: u32,
    /// Available to sell at the store, one per query line, in order.
    pub available: Vec<u32>,
}

/// Lost-demand and health counters of a SKU (or of a SKU in a channel), since the
/// server started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireDemandCounters {
    pub refused_reservations: u64,
    pub refused_units: u64,
    pub expired_reservations: u64,
    pub expired_units: u64,
    pub backorder_reservations: u64,
    pub backorder_units: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireDemandEntry {
    pub sku: String,
    pub channel: Option<String>,
    pub counters: WireDemandCounters,
}

/// What an availability change-feed event says (docs/FEED.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum WireEventKind {
    /// The value when the subscription started (or after a gap).
    Snapshot,
    OutOfStock,
    BackInStock,
    /// Fell below the subscriber's threshold (still above 0).
    LowStock,
    /// Any other change (only with `every_change`).
    Changed,
}

/// One change-feed event: a SKU's availability in a channel or at a location.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireFeedEvent {
    pub sku: String,
    /// A channel name when `scope_is_channel`, else a location name.
    pub scope: String,
    pub scope_is_channel: bool,
    pub available: u64,
    pub kind: WireEventKind,
    /// Events were dropped before this one (the subscriber fell behind): this is the
    /// latest value, not necessarily the next one.
    pub gap: bool,
}

impl Request {
    /// The lowest role allowed to send this request. `Hello` needs none (it is what
    /// authenticates) and reports `Read`, the lowest; a batch needs the highest role
    /// of its calls (an empty batch: `Read`).
    pub fn required_role(&self) -> Role {
        match self {
            Request::Hello { .. } => Role::Read,
            Request::Call(call) => call.required_role(),
            Request::Batch(calls) => calls.iter().map(Call::required_role).max().unwrap_or(Role::Read),
            Request::Subscribe(_) | Request::Resync { .. } => Role::Read,
        }
    }
}

impl Call {
    pub fn required_role(&self) -> Role {
        match self {
            Call::Ping
            | Call::Position { .. }
            | Call::Availability { .. }
            | Call::ChannelAvailability { .. }
            | Call::AvailabilityBatch { .. }
            | Call::Reservation { .. }
            | Call::FindStores(_)
            | Call::Demand { .. }
            | Call::DemandTop { .. }
            | Call::SourcingProfiles => Role::Read,
            Call::SetSourcingProfiles { .. } => Role::Admin,
            // Both walk the whole state: operator calls, not for the request path.
            Call::Stats | Call::Verify | Call::TakeSnapshot => Role::Admin,
            Call::Apply(operation) => operation_role(operation),
        }
    }

    /// True for calls that change state (`Apply`, `TakeSnapshot`, `SetSourcingProfiles`).
    pub fn is_write(&self) -> bool {
        matches!(self, Call::Apply(_) | Call::TakeSnapshot | Call::SetSourcingProfiles { .. })
    }
}

/// The role an operation needs. Exhaustive on purpose: a new operation must be
/// given a role here before it compiles.
pub fn operation_role(operation: &Operation) -> Role {
    use Operation as Op;
    match operation {
        Op::Reserve(_)
        | Op::Commit { .. }
        | Op::Release { .. }
        | Op::Fulfil { .. }
        | Op::Extend { .. }
        | Op::Restock(_)
        | Op::ReserveSourced(_) => Role::Reserve,
        Op::UpsertLocations(_)
        | Op::UpsertChannel(_)
        | Op::DefineKit { .. }
        | Op::ExpireDue
        | Op::Adjust { .. }
        | Op::SetOnHand { .. }
        | Op::SetSafetyStock { .. }
        | Op::SetBackorderLimit { .. }
        | Op::MoveStock { .. }
        | Op::AddIncoming { .. }
        | Op::ReceiveIncoming { .. }
        | Op::CancelIncoming { .. }
        | Op::BulkLoad(_) => Role::Admin,
    }
}

/// Marks the decode error of a sequence longer than its bound, so that
/// [`super::frame::decode_request_frame`] answers `LimitExceeded` rather than `BadFrame`.
pub(super) const TOO_MANY_MARKER: &str = "stockd: sequence longer than its bound";

/// Deserializes a sequence of at most `LIMIT` elements, refusing a longer one from
/// its declared length, before any element is decoded or any room reserved.
fn bounded<'de, D, T, const LIMIT: usize>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    struct BoundedVisitor<T, const LIMIT: usize>(std::marker::PhantomData<T>);

    impl<'de, T: Deserialize<'de>, const LIMIT: usize> serde::de::Visitor<'de> for BoundedVisitor<T, LIMIT> {
        type Value = Vec<T>;

        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            write!(f, "a sequence of at most {LIMIT} elements")
        }

        fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<T>, A::Error> {
            let too_many =
                |count: usize| serde::de::Error::custom(format_args!("{TOO_MANY_MARKER}: {count} > {LIMIT}"));
            let declared = seq.size_hint().unwrap_or(0);
            if declared > LIMIT {
                return Err(too_many(declared));
            }
            let mut items = Vec::with_capacity(declared);
            while let Some(item) = seq.next_element()? {
                if items.len() == LIMIT {
                    return Err(too_many(LIMIT + 1));
                }
                items.push(item);
            }
            Ok(items)
        }
    }

    deserializer.deserialize_seq(BoundedVisitor::<T, LIMIT>(std::marker::PhantomData))
}
