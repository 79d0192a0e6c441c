//! The hot requests read without allocating, and their replies written by hand.
//!
//! `Call::Availability` and `Call::AvailabilityBatch` are most of what a storefront
//! sends (`Apply(Reserve)`, the checkout's, is in [`reserve`]). Decoding them through serde builds two or more `String`s per request; here
//! a [`HotFrame`] borrows its names from the payload instead. The wire format is the
//! one of [`super::messages`] exactly (bincode 2, standard configuration: varints,
//! enum variants as varint indices in declaration order, strings and sequences after
//! their varint length).
//!
//! [`decode_hot`] is a fast path, never a second definition of the format: it answers
//! `None` for anything it is not sure of (another request, a non-canonical varint, a
//! list over its bound, bytes left over, invalid UTF-8), and the caller then decodes
//! the payload the ordinary way, which gives every error its usual answer. So it
//! accepts only payloads that the ordinary decoder reads to the same values (the tests
//! check both against each other). The replies it writes are byte for byte what
//! [`super::encode_frame`] writes for the same [`super::ResponseFrame`].

use super::frame::FRAME_HEADER_BYTES;
use crate::codec::by_hand::{put_str, put_varint, Reader};
use crate::engine::{Availability, ScopeName};
use crate::limits::MAX_BATCH_SKUS;
use crate::model::Timestamp;

/// Variant indices (declaration order in `messages.rs`).
const REQUEST_CALL: u64 = 1;
const CALL_AVAILABILITY: u64 = 2;
const CALL_AVAILABILITY_BATCH: u64 = 4;
const SCOPE_LOCATION: u64 = 0;
const SCOPE_CHANNEL: u64 = 1;
const MEASURE_TO_SELL: u64 = 0;
const MEASURE_TO_PROMISE: u64 = 1;
const RESPONSE_REPLY: u64 = 1;
const REPLY_AVAILABILITY: u64 = 2;
const REPLY_AVAILABILITY_BATCH: u64 = 4;

/// A request frame of one of the hot calls, its names borrowed from the payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HotFrame<'a> {
    pub request_id: u64,
    pub call: HotCall<'a>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HotCall<'a> {
    /// `Call::Availability`.
    Availability { sku: &'a str, scope: ScopeName<'a>, measure: Availability },
    /// `Call::AvailabilityBatch` (at most [`MAX_BATCH_SKUS`] SKUs).
    AvailabilityBatch { skus: Vec<&'a str>, scope: ScopeName<'a>, measure: Availability },
}

/// The payload as a hot request frame, or `None`: decode it the ordinary way.
pub fn decode_hot(payload: &[u8]) -> Option<HotFrame<'_>> {
    let mut reader = Reader::new(payload);
    let request_id = reader.varint()?;
    if reader.varint()? != REQUEST_CALL {
        return None;
    }
    let call = match reader.varint()? {
        CALL_AVAILABILITY => {
            let sku = reader.str()?;
            HotCall::Availability { sku, scope: reader.scope()?, measure: reader.measure()? }
        }
        CALL_AVAILABILITY_BATCH => {
            let count = reader.varint()?;
            if count > MAX_BATCH_SKUS as u64 {
                return None;
            }
            let mut skus = Vec::with_capacity(count as usize);
            for _ in 0..count {
                skus.push(reader.str()?);
            }
            HotCall::AvailabilityBatch { skus, scope: reader.scope()?, measure: reader.measure()? }
        }
        _ => return None,
    };
    reader.is_empty().then_some(HotFrame { request_id, call })
}

/// Appends the frame of `ResponseFrame { request_id, Response::Reply(Reply::Availability
/// { available }) }` to `out`.
pub fn encode_availability_reply(request_id: u64, available: u64, out: &mut Vec<u8>) {
    let begin = start_frame(out);
    put_varint(out, request_id);
    put_varint(out, RESPONSE_REPLY);
    put_varint(out, REPLY_AVAILABILITY);
    put_varint(out, available);
    end_frame(out, begin);
}

/// Appends the frame of `ResponseFrame { request_id, Response::Reply(Reply::AvailabilityBatch
/// { available }) }` to `out`. At most [`MAX_BATCH_SKUS`] values: the frame is then
/// under 1 KiB, which every server's frame limit allows.
pub fn encode_availability_batch_reply(request_id: u64, available: &[u64], out: &mut Vec<u8>) {
    assert!(available.len() <= MAX_BATCH_SKUS, "a batch reply has at most {MAX_BATCH_SKUS} values");
    let begin = start_frame(out);
    put_varint(out, request_id);
    put_varint(out, RESPONSE_REPLY);
    put_varint(out, REPLY_AVAILABILITY_BATCH);
    put_varint(out, available.len() as u64);
    for &value in available {
        put_varint(out, value);
    }
    end_frame(out, begin);
}

/// Appends the request frame of `call` with `request_id` to `out`: byte for byte what
/// [`super::encode_frame`] writes for the same `RequestFrame` (a client's fast path).
/// At most [`MAX_BATCH_SKUS`] SKUs; names longer than the server's frame limit allows
/// are the caller's to refuse (the frame's length is returned).
pub fn encode_hot_request(request_id: u64, call: &HotCall<'_>, out: &mut Vec<u8>) -> usize {
    let begin = start_frame(out);
    put_varint(out, request_id);
    put_varint(out, REQUEST_CALL);
    match call {
        HotCall::Availability { sku, scope, measure } => {
            put_varint(out, CALL_AVAILABILITY);
            put_str(out, sku);
            put_scope(out, *scope);
            put_measure(out, *measure);
        }
        HotCall::AvailabilityBatch { skus, scope, measure } => {
            assert!(skus.len() <= MAX_BATCH_SKUS, "a batch asks for at most {MAX_BATCH_SKUS} SKUs");
            put_varint(out, CALL_AVAILABILITY_BATCH);
            put_varint(out, skus.len() as u64);
            for sku in skus {
                put_str(out, sku);
            }
            put_scope(out, *scope);
            put_measure(out, *measure);
        }
    }
    end_frame(out, begin);
    out.len() - begin
}

/// The response payload as `(request_id, available)` if it is exactly a
/// `Reply::Availability`; `None`: decode it the ordinary way.
pub fn decode_availability_reply(payload: &[u8]) -> Option<(u64, u64)> {
    let mut reader = Reader::new(payload);
    let request_id = reader.varint()?;
    if reader.varint()? != RESPONSE_REPLY || reader.varint()? != REPLY_AVAILABILITY {
        return None;
    }
    let available = reader.varint()?;
    reader.is_empty().then_some((request_id, available))
}

fn put_scope(out: &mut Vec<u8>, scope: ScopeName<'_>) {
    let (variant, name) = match scope {
        ScopeName::Location(name) => (SCOPE_LOCATION, name),
        ScopeName::Channel(name) => (SCOPE_CHANNEL, name),
    };
    put_varint(out, variant);
    put_str(out, name);
}

fn put_measure(out: &mut Vec<u8>, measure: Availability) {
    match measure {
        Availability::ToSell => put_varint(out, MEASURE_TO_SELL),
        Availability::ToPromise(by) => {
            put_varint(out, MEASURE_TO_PROMISE);
            put_varint(out, by.0);
        }
    }
}

fn start_frame(out: &mut Vec<u8>) -> usize {
    let begin = out.len();
    out.extend_from_slice(&[0; FRAME_HEADER_BYTES]);
    begin
}

fn end_frame(out: &mut [u8], begin: usize) {
    let length = (out.len() - begin - FRAME_HEADER_BYTES) as u32;
    out[begin..begin + FRAME_HEADER_BYTES].copy_from_slice(&length.to_le_bytes());
}

/// What [`Reader`] reads of this module's messages.
trait ReadHot<'a> {
    fn scope(&mut self) -> Option<ScopeName<'a>>;
    fn measure(&mut self) -> Option<Availability>;
}

impl<'a> ReadHot<'a> for Reader<'a> {
    fn scope(&mut self) -> Option<ScopeName<'a>> {
        match self.varint()? {
            SCOPE_LOCATION => Some(ScopeName::Location(self.str()?)),
            SCOPE_CHANNEL => Some(ScopeName::Channel(self.str()?)),
            _ => None,
        }
    }

    fn measure(&mut self) -> Option<Availability> {
        match self.varint()? {
            MEASURE_TO_SELL => Some(Availability::ToSell),
            MEASURE_TO_PROMISE => Some(Availability::ToPromise(Timestamp(self.varint()?))),
            _ => None,
        }
    }
}

mod reserve;
pub use reserve::{as_reserve_outcome, decode_reserve_request, encode_reserve_reply};

#[cfg(test)]
mod tests;
