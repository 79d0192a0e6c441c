//! The payload of a log record (segment format version 2): a fixed, little-endian
//! layout for what replay reads (SKU names, position and reservation after-images),
//! and the codec (`src/codec/`) only for what replay re-applies or skips (catalogue
//! operations, and the cause of a change). ARCHITECTURE.md ("Log record payload")
//! lays it out byte by byte.
//!
//! ```text
//!   0  kind  u8   0 SkuInterned, 1 Catalogue, 2 Change
//! SkuInterned:  sku u32, name (string)
//! Catalogue:    the codec-encoded `Operation`
//! Change:       at u64, positions u32 count, each a position image (below),
//!               reservation u8 (0 none, 1 present, 2 forgotten) then a reservation
//!               image (1) or its id (string, 2), then the codec-encoded cause
//! string:       length u32, UTF-8 bytes
//! option:       u8 0 (then u64 0) or 1 (then the u64): always 9 bytes
//! position:     sku u32, location u32, on_hand, reserved, safety_stock, damaged,
//!               quality_control, backorder_limit (u32 each), version u64,
//!               incoming u32 count, each quantity u32, expected_at u64, reference (string)
//! reservation:  id (string), state u8, created_at u64, expires_at (option),
//!               first_expires_at u64, promise_by (option), forget_at (option),
//!               requested u32 count, each sku u32, location u32, quantity u32,
//!               lines u32 count, each sku u32, location u32, kind u8, quantity, held,
//!               fulfilled, released, returned (u32 each),
//!               applied_steps u32 count, each a string
//! ```
//!
//! Replay ([`decode_replay`]) reads the fixed part straight from the slice and never
//! touches the cause. The operator's tools decode a whole [`LogEntry`] with
//! [`decode_entry`] (the fixed part the same way, then the trailing operation or cause
//! through the codec).

use crate::codec;
use crate::codec::by_hand;
use crate::engine::{Cause, Operation, PositionImage, ReservationImage, ReserveRequest};
use crate::engine::{HeldLine, RequestedLine, Reservation, ReservationState};
use crate::engine::{JournalEntry, LogEntry, LoggedPosition, LoggedReservation, ReplayEntry};
use crate::model::{HoldKind, IncomingSupply, LocationId, Position, SkuId, Timestamp};
use std::sync::Arc;

const KIND_SKU_INTERNED: u8 = 0;
const KIND_CATALOGUE: u8 = 1;
const KIND_CHANGE: u8 = 2;
const RESERVATION_NONE: u8 = 0;
const RESERVATION_PRESENT: u8 = 1;
const RESERVATION_FORGOTTEN: u8 = 2;

/// The fixed bytes of a position image (without its incoming supply).
const POSITION_IMAGE_BYTES: usize = 44;
const REQUESTED_LINE_BYTES: usize = 12;
const HELD_LINE_BYTES: usize = 29;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RecordError {
    #[error("the payload ends inside {0}")]
    Truncated(&'static str),
    #[error("unknown {what} tag {tag}")]
    BadTag { what: &'static str, tag: u8 },
    #[error("{0} is not UTF-8")]
    NotUtf8(&'static str),
    #[error("{0} trailing bytes after the record")]
    TrailingBytes(usize),
    #[error("{0}")]
    Codec(String),
}

// ---------------------------------------------------------------- encoding

/// Appends the payload of `entry` to `out`.
pub fn encode_entry(entry: &JournalEntry<'_>, out: &mut Vec<u8>) {
    match entry {
        JournalEntry::SkuInterned { sku, name } => {
            out.push(KIND_SKU_INTERNED);
            put_u32(out, sku.0);
            put_str(out, name);
        }
        JournalEntry::Catalogue { operation } => {
            out.push(KIND_CATALOGUE);
            codec::encode_into(*operation, out);
        }
        JournalEntry::Change { at, positions, reservation, cause } => {
            out.push(KIND_CHANGE);
            put_u64(out, at.0);
            put_u32(out, len_u32(positions.len()));
            for image in positions {
                put_position(out, image);
            }
            match reservation {
                None => out.push(RESERVATION_NONE),
                Some(ReservationImage::Present(reservation)) => {
                    out.push(RESERVATION_PRESENT);
                    put_reservation(out, reservation);
                }
                Some(ReservationImage::Forgotten { id }) => {
                    out.push(RESERVATION_FORGOTTEN);
                    put_str(out, id);
                }
            }
            encode_cause(cause, out);
        }
    }
}

/// Appends the codec's encoding of a change's cause. The most frequent one, a plain
/// reserve, is written out here byte for byte as the codec writes it (a test checks
/// that the two agree): the generic path costs several times as much per record.
fn encode_cause(cause: &Cause<'_>, out: &mut Vec<u8>) {
    match cause {
        Cause::Operation(Operation::Reserve(request)) => put_reserve_cause(out, request),
        _ => codec::encode_into(cause, out),
    }
}

/// `Cause::Operation(Operation::Reserve(request))` as bincode's standard
/// configuration lays it out: variant indexes and integers as varints, strings and
/// sequences after their varint length, an option as a 0 or 1 byte then its value.
fn put_reserve_cause(out: &mut Vec<u8>, request: &ReserveRequest) {
    const CAUSE_OPERATION: u64 = 0;
    const OPERATION_RESERVE: u64 = 3;
    by_hand::put_varint(out, CAUSE_OPERATION);
    by_hand::put_varint(out, OPERATION_RESERVE);
    by_hand::put_str(out, &request.id);
    by_hand::put_varint(out, request.lines.len() as u64);
    for line in &request.lines {
        by_hand::put_str(out, &line.sku);
        by_hand::put_str(out, &line.location);
        by_hand::put_varint(out, u64::from(line.quantity));
    }
    by_hand::put_varint(out, request.ttl_ms);
    by_hand::put_option_varint(out, request.promise_by.map(|at| at.0));
}

fn put_position(out: &mut Vec<u8>, image: &PositionImage<'_>) {
    let p = image.position;
    let mut fixed = [0u8; POSITION_IMAGE_BYTES];
    let words = [image.sku.0, image.location.0, p.on_hand, p.reserved, p.safety_stock, p.damaged, p.quality_control];
    for (i, word) in words.iter().chain(std::iter::once(&p.backorder_limit)).enumerate() {
        fixed[i * 4..i * 4 + 4].copy_from_slice(&word.to_le_bytes());
    }
    fixed[32..40].copy_from_slice(&p.version.to_le_bytes());
    let incoming = p.incoming_lines();
    fixed[40..44].copy_from_slice(&len_u32(incoming.len()).to_le_bytes());
    out.extend_from_slice(&fixed);
    for supply in incoming {
        put_u32(out, supply.quantity);
        put_u64(out, supply.expected_at.0);
        put_str(out, &supply.reference);
    }
}

/// The bytes of a reservation image from its state to its count of requested lines.
const RESERVATION_FIXED_BYTES: usize = 48;

/// Fixed-size parts are laid out in arrays and appended whole (one capacity check
/// each rather than one per field: this runs for every logged reserve).
fn put_reservation(out: &mut Vec<u8>, r: &Reservation) {
    put_str(out, &r.id);
    let mut fixed = [0u8; RESERVATION_FIXED_BYTES];
    fixed[0] = state_code(r.state);
    fixed[1..9].copy_from_slice(&r.created_at.0.to_le_bytes());
    fixed[9..18].copy_from_slice(&option_bytes(r.expires_at));
    fixed[18..26].copy_from_slice(&r.first_expires_at.0.to_le_bytes());
    fixed[26..35].copy_from_slice(&option_bytes(r.promise_by));
    fixed[35..44].copy_from_slice(&option_bytes(r.forget_at));
    fixed[44..48].copy_from_slice(&len_u32(r.requested.len()).to_le_bytes());
    out.extend_from_slice(&fixed);
    for line in &r.requested {
        let mut bytes = [0u8; REQUESTED_LINE_BYTES];
        for (i, word) in [line.sku.0, line.location.0, line.quantity].into_iter().enumerate() {
            bytes[i * 4..i * 4 + 4].copy_from_slice(&word.to_le_bytes());
        }
        out.extend_from_slice(&bytes);
    }
    put_u32(out, len_u32(r.lines.len()));
    for line in &r.lines {
        let mut bytes = [0u8; HELD_LINE_BYTES];
        bytes[0..4].copy_from_slice(&line.sku.0.to_le_bytes());
        bytes[4..8].copy_from_slice(&line.location.0.to_le_bytes());
        bytes[8] = hold_kind_code(line.kind);
        for (i, word) in
            [line.quantity, line.held, line.fulfilled, line.released, line.returned].into_iter().enumerate()
        {
            bytes[9 + i * 4..13 + i * 4].copy_from_slice(&word.to_le_bytes());
        }
        out.extend_from_slice(&bytes);
    }
    put_u32(out, len_u32(r.applied_steps.len()));
    for step in &r.applied_steps {
        put_str(out, step);
    }
}

fn len_u32(len: usize) -> u32 {
    u32::try_from(len).expect("a record's counts fit in u32 (records are at most 32 MiB)")
}

fn put_u32(out: &mut Vec<u8>, value: u32) {
    out.extend_from_slice(&value.to_le_bytes());
}

fn put_u64(out: &mut Vec<u8>, value: u64) {
    out.extend_from_slice(&value.to_le_bytes());
}

fn put_str(out: &mut Vec<u8>, text: &str) {
    put_u32(out, len_u32(text.len()));
    out.extend_from_slice(text.as_bytes());
}

/// An option as the layout has it: 0 then eight zero bytes, or 1 then the value.
fn option_bytes(value: Option<Timestamp>) -> [u8; 9] {
    let mut bytes = [0u8; 9];
    if let Some(at) = value {
        bytes[0] = 1;
        bytes[1..9].copy_from_slice(&at.0.to_le_bytes());
    }
    bytes
}

fn state_code(state: ReservationState) -> u8 {
    match state {
        ReservationState::Held => 0,
        ReservationState::Committed => 1,
        ReservationState::Fulfilled => 2,
        ReservationState::Released => 3,
        ReservationState::Expired => 4,
    }
}

fn hold_kind_code(kind: HoldKind) -> u8 {
    match kind {
        HoldKind::InStock => 0,
        HoldKind::PreOrder => 1,
        HoldKind::Backorder => 2,
    }
}

// ---------------------------------------------------------------- decoding

/// Where the fixed part is read from (a slice of the payload).
trait Source {
    fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], RecordError>;
    /// Hands the next `len` bytes to `f`.
    fn with_bytes<T>(&mut self, len: usize, what: &'static str, f: impl FnOnce(&[u8]) -> T) -> Result<T, RecordError>;
    /// An upper bound on the bytes left (bounds what a count may allocate).
    fn remaining(&self) -> usize;

    fn u8(&mut self, what: &'static str) -> Result<u8, RecordError> {
        Ok(self.array::<1>(what)?[0])
    }
    fn u32(&mut self, what: &'static str) -> Result<u32, RecordError> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }
    fn u64(&mut self, what: &'static str) -> Result<u64, RecordError> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }
    fn option(&mut self, what: &'static str) -> Result<Option<Timestamp>, RecordError> {
        let bytes: [u8; 9] = self.array(what)?;
        let value = Timestamp(u64::from_le_bytes(bytes[1..9].try_into().expect("8 bytes")));
        match bytes[0] {
            0 => Ok(None),
            1 => Ok(Some(value)),
            tag => Err(RecordError::BadTag { what, tag }),
        }
    }
    /// A count of items of at least `item_bytes` each, checked against what is left.
    fn count(&mut self, item_bytes: usize, what: &'static str) -> Result<usize, RecordError> {
        let count = self.u32(what)? as usize;
        if count.saturating_mul(item_bytes) > self.remaining() {
            return Err(RecordError::Truncated(what));
        }
        Ok(count)
    }
    fn string<T>(&mut self, what: &'static str, make: impl FnOnce(&str) -> T) -> Result<T, RecordError> {
        let len = self.count(1, what)?;
        self.with_bytes(len, what, |bytes| std::str::from_utf8(bytes).map(make))?
            .map_err(|_| RecordError::NotUtf8(what))
    }
}

struct SliceSource<'a> {
    bytes: &'a [u8],
}

impl Source for SliceSource<'_> {
    #[inline]
    fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], RecordError> {
        let (head, rest) = self.bytes.split_first_chunk::<N>().ok_or(RecordError::Truncated(what))?;
        self.bytes = rest;
        Ok(*head)
    }

    fn with_bytes<T>(&mut self, len: usize, what: &'static str, f: impl FnOnce(&[u8]) -> T) -> Result<T, RecordError> {
        let (head, rest) = self.bytes.split_at_checked(len).ok_or(RecordError::Truncated(what))?;
        self.bytes = rest;
        Ok(f(head))
    }

    fn remaining(&self) -> usize {
        self.bytes.len()
    }
}

/// Where a change's after-images go as they are decoded: collected into a
/// [`ReplayEntry`] or [`LogEntry`], or handed straight to replay ([`decode_replay_into`]).
pub trait ImageSink {
    fn position(&mut self, image: LoggedPosition);
    fn reservation(&mut self, image: LoggedReservation);
}

/// Collects one change's images (for the whole-entry decoders).
#[derive(Default)]
struct Collected {
    positions: Vec<LoggedPosition>,
    reservation: Option<LoggedReservation>,
}

impl ImageSink for Collected {
    fn position(&mut self, image: LoggedPosition) {
        self.positions.push(image);
    }
    fn reservation(&mut self, image: LoggedReservation) {
        self.reservation = Some(image);
    }
}

/// The fixed part of a payload: everything but a catalogue operation and a cause
/// (a change's images have gone to the sink).
enum Head {
    SkuInterned { sku: SkuId, name: String },
    Catalogue,
    Change { at: Timestamp },
}

fn decode_head(source: &mut impl Source, sink: &mut impl ImageSink) -> Result<Head, RecordError> {
    match source.u8("the record kind")? {
        KIND_SKU_INTERNED => {
            let sku = SkuId(source.u32("a SKU id")?);
            let name = source.string("a SKU name", str::to_owned)?;
            Ok(Head::SkuInterned { sku, name })
        }
        KIND_CATALOGUE => Ok(Head::Catalogue),
        KIND_CHANGE => {
            let at = Timestamp(source.u64("the change time")?);
            let count = source.count(POSITION_IMAGE_BYTES, "the position images")?;
            for _ in 0..count {
                sink.position(position(source)?);
            }
            match source.u8("the reservation tag")? {
                RESERVATION_NONE => {}
                RESERVATION_PRESENT => sink.reservation(LoggedReservation::Present(reservation(source)?)),
                RESERVATION_FORGOTTEN => sink.reservation(LoggedReservation::Forgotten {
                    id: source.string("a reservation id", str::to_owned)?,
                }),
                tag => return Err(RecordError::BadTag { what: "reservation image", tag }),
            }
            Ok(Head::Change { at })
        }
        tag => Err(RecordError::BadTag { what: "record kind", tag }),
    }
}

#[inline]
fn position(source: &mut impl Source) -> Result<LoggedPosition, RecordError> {
    let fixed: [u8; POSITION_IMAGE_BYTES] = source.array("a position image")?;
    let word = |i: usize| u32::from_le_bytes(fixed[i * 4..i * 4 + 4].try_into().expect("4 bytes"));
    let incoming_count = word(10) as usize;
    let incoming = if incoming_count == 0 {
        None
    } else {
        if incoming_count.saturating_mul(16) > source.remaining() {
            return Err(RecordError::Truncated("incoming supply"));
        }
        let mut lines = Vec::with_capacity(incoming_count);
        for _ in 0..incoming_count {
            let quantity = source.u32("incoming supply")?;
            let expected_at = Timestamp(source.u64("incoming supply")?);
            let reference = source.string("a supply reference", |s| Box::<str>::from(s))?;
            lines.push(IncomingSupply { reference, quantity, expected_at });
        }
        Some(Box::new(lines))
    };
    Ok(LoggedPosition {
        sku: SkuId(word(0)),
        location: LocationId(word(1)),
        position: Position {
            on_hand: word(2),
            reserved: word(3),
            safety_stock: word(4),
            damaged: word(5),
            quality_control: word(6),
            backorder_limit: word(7),
            version: u64::from_le_bytes(fixed[32..40].try_into().expect("8 bytes")),
            incoming,
        },
    })
}

fn reservation(source: &mut impl Source) -> Result<Reservation, RecordError> {
    let id = source.string("a reservation id", |s| Arc::<str>::from(s))?;
    let state = match source.u8("a reservation state")? {
        0 => ReservationState::Held,
        1 => ReservationState::Committed,
        2 => ReservationState::Fulfilled,
        3 => ReservationState::Released,
        4 => ReservationState::Expired,
        tag => return Err(RecordError::BadTag { what: "reservation state", tag }),
    };
    let created_at = Timestamp(source.u64("a reservation")?);
    let expires_at = source.option("expires_at")?;
    let first_expires_at = Timestamp(source.u64("a reservation")?);
    let promise_by = source.option("promise_by")?;
    let forget_at = source.option("forget_at")?;
    let count = source.count(REQUESTED_LINE_BYTES, "requested lines")?;
    let mut requested = Vec::with_capacity(count);
    for _ in 0..count {
        let bytes: [u8; REQUESTED_LINE_BYTES] = source.array("a requested line")?;
        let word = |i: usize| u32::from_le_bytes(bytes[i * 4..i * 4 + 4].try_into().expect("4 bytes"));
        requested.push(RequestedLine { sku: SkuId(word(0)), location: LocationId(word(1)), quantity: word(2) });
    }
    let count = source.count(HELD_LINE_BYTES, "held lines")?;
    let mut lines = Vec::with_capacity(count);
    for _ in 0..count {
        let bytes: [u8; HELD_LINE_BYTES] = source.array("a held line")?;
        let word = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"));
        let kind = match bytes[8] {
            0 => HoldKind::InStock,
            1 => HoldKind::PreOrder,
            2 => HoldKind::Backorder,
            tag => return Err(RecordError::BadTag { what: "hold kind", tag }),
        };
        lines.push(HeldLine {
            sku: SkuId(word(0)),
            location: LocationId(word(4)),
            kind,
            quantity: word(9),
            held: word(13),
            fulfilled: word(17),
            released: word(21),
            returned: word(25),
        });
    }
    let count = source.count(4, "applied steps")?;
    let mut applied_steps = Vec::with_capacity(count);
    for _ in 0..count {
        applied_steps.push(source.string("an applied step", |s| Box::<str>::from(s))?);
    }
    Ok(Reservation {
        id,
        state,
        created_at,
        expires_at,
        first_expires_at,
        promise_by,
        requested,
        lines,
        forget_at,
        applied_steps,
    })
}

/// What replay needs of a payload; a change's cause is not decoded.
pub fn decode_replay(payload: &[u8]) -> Result<ReplayEntry, RecordError> {
    let mut images = Collected::default();
    match decode_replay_into(payload, &mut images)? {
        ReplayHead::SkuInterned { sku, name } => Ok(ReplayEntry::SkuInterned { sku, name }),
        ReplayHead::Catalogue { operation } => Ok(ReplayEntry::Catalogue { operation }),
        ReplayHead::Change { at } => {
            Ok(ReplayEntry::Change { at, positions: images.positions, reservation: images.reservation })
        }
    }
}

/// A payload as replay sees it, once a change's images have gone to the sink.
#[derive(Debug, PartialEq)]
pub enum ReplayHead {
    SkuInterned { sku: SkuId, name: String },
    Catalogue { operation: crate::Operation },
    Change { at: Timestamp },
}

/// Decodes what replay needs of a payload, handing a change's images to `sink` in
/// the order they are logged (no vector per record). On an error, the images
/// already handed over belong to a record that does not decode: the caller stops.
pub fn decode_replay_into(payload: &[u8], sink: &mut impl ImageSink) -> Result<ReplayHead, RecordError> {
    let mut source = SliceSource { bytes: payload };
    match decode_head(&mut source, sink)? {
        Head::SkuInterned { sku, name } => {
            trailing(&source)?;
            Ok(ReplayHead::SkuInterned { sku, name })
        }
        Head::Catalogue => Ok(ReplayHead::Catalogue { operation: codec_decode(source.bytes)? }),
        Head::Change { at } => Ok(ReplayHead::Change { at }),
    }
}

/// The time of a change record, read without decoding it (`None` for other kinds
/// or a payload too short to say).
pub fn change_time(payload: &[u8]) -> Option<Timestamp> {
    match payload.split_first_chunk::<9>() {
        Some((head, _)) if head[0] == KIND_CHANGE => {
            Some(Timestamp(u64::from_le_bytes(head[1..9].try_into().expect("8 bytes"))))
        }
        _ => None,
    }
}

/// The whole entry, cause included (what the operator's tools show).
pub fn decode_entry(payload: &[u8]) -> Result<LogEntry, RecordError> {
    let mut source = SliceSource { bytes: payload };
    let mut images = Collected::default();
    match decode_head(&mut source, &mut images)? {
        Head::SkuInterned { sku, name } => {
            trailing(&source)?;
            Ok(LogEntry::SkuInterned { sku, name })
        }
        Head::Catalogue => Ok(LogEntry::Catalogue { operation: codec_decode(source.bytes)? }),
        Head::Change { at } => Ok(LogEntry::Change {
            at,
            positions: images.positions,
            reservation: images.reservation,
            cause: codec_decode(source.bytes)?,
        }),
    }
}

fn trailing(source: &SliceSource<'_>) -> Result<(), RecordError> {
    match source.bytes.len() {
        0 => Ok(()),
        extra => Err(RecordError::TrailingBytes(extra)),
    }
}

fn codec_decode<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, RecordError> {
    codec::decode(bytes).map_err(|error| RecordError::Codec(error.to_string()))
}

#[cfg(test)]
mod tests;
