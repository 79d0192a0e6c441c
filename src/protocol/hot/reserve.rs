//! `Apply(Reserve)`, the checkout's request, read and answered by hand.
//!
//! A reserve's request and reply cost the server's thread more in serde's generic
//! (de)serialisation than in their bytes (perf, `reserve-interval`: bincode and serde
//! ~10 % of the thread). The request still becomes the owned [`RequestFrame`] the
//! ordinary decoder builds (the engine takes owned names), and the same rules apply as
//! to the rest of this module: `None` for anything not certain, byte-identical output
//! (the tests hold both to the codec).

use super::{end_frame, start_frame, REQUEST_CALL, RESPONSE_REPLY};
use crate::codec::by_hand::{put_str, put_varint, Reader};
use crate::engine::ReservationState;
use crate::engine::{Operation, ReserveLine, ReserveRequest};
use crate::limits::MAX_LINES_PER_RESERVATION;
use crate::model::{HoldKind, Timestamp};
use crate::protocol::{Applied, Call, Reply, Request, RequestFrame, WireReserveOutcome};

/// Variant indices (declaration order in `messages.rs` and `operation.rs`).
const CALL_APPLY: u64 = 8;
const OPERATION_RESERVE: u64 = 3;
const REPLY_APPLIED: u64 = 8;
const APPLIED_RESERVED: u64 = 2;

/// The payload as an `Apply(Operation::Reserve(..))` request frame, or `None`: decode
/// it the ordinary way. At most [`MAX_LINES_PER_RESERVATION`] lines (the engine
/// refuses more, with the ordinary decoder's value).
pub fn decode_reserve_request(payload: &[u8]) -> Option<RequestFrame> {
    let mut reader = Reader::new(payload);
    let request_id = reader.varint()?;
    if reader.varint()? != REQUEST_CALL || reader.varint()? != CALL_APPLY || reader.varint()? != OPERATION_RESERVE {
        return None;
    }
    let id = reader.str()?.to_owned();
    let count = reader.varint()?;
    if count > MAX_LINES_PER_RESERVATION as u64 {
        return None;
    }
    let mut lines = Vec::with_capacity(count as usize);
    for _ in 0..count {
        let sku = reader.str()?.to_owned();
        let location = reader.str()?.to_owned();
        let quantity = u32::try_from(reader.varint()?).ok()?;
        lines.push(ReserveLine { sku, location, quantity });
    }
    let ttl_ms = reader.varint()?;
    let promise_by = match reader.byte()? {
        0 => None,
        1 => Some(Timestamp(reader.varint()?)),
        _ => return None,
    };
    if !reader.is_empty() {
        return None;
    }
    let request = ReserveRequest { id, lines, ttl_ms, promise_by };
    Some(RequestFrame { request_id, request: Request::Call(Call::Apply(Operation::Reserve(request))) })
}

/// The reserve outcome of `reply`, if that is what it is.
pub fn as_reserve_outcome(reply: &Reply) -> Option<&WireReserveOutcome> {
    match reply {
        Reply::Applied(Applied::Reserved(outcome)) => Some(outcome),
        _ => None,
    }
}

/// Appends the frame of `ResponseFrame { request_id, Response::Reply(Reply::Applied(
/// Applied::Reserved(outcome))) }` to `out`; returns its length (header included).
pub fn encode_reserve_reply(request_id: u64, outcome: &WireReserveOutcome, out: &mut Vec<u8>) -> usize {
    let begin = start_frame(out);
    put_varint(out, request_id);
    put_varint(out, RESPONSE_REPLY);
    put_varint(out, REPLY_APPLIED);
    put_varint(out, APPLIED_RESERVED);
    put_str(out, &outcome.id);
    put_varint(out, outcome.lines.len() as u64);
    for line in &outcome.lines {
        put_str(out, &line.sku);
        put_str(out, &line.location);
        put_varint(out, u64::from(line.quantity));
        put_varint(out, hold_kind_index(line.kind));
    }
    put_varint(out, outcome.expires_at.0);
    out.push(u8::from(outcome.replayed));
    put_varint(out, state_index(outcome.state));
    end_frame(out, begin);
    out.len() - begin
}

fn hold_kind_index(kind: HoldKind) -> u64 {
    match kind {
        HoldKind::InStock => 0,
        HoldKind::PreOrder => 1,
        HoldKind::Backorder => 2,
    }
}

fn state_index(state: ReservationState) -> u64 {
    match state {
        ReservationState::Held => 0,
        ReservationState::Committed => 1,
        ReservationState::Fulfilled => 2,
        ReservationState::Released => 3,
        ReservationState::Expired => 4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::frame::FRAME_HEADER_BYTES;
    use crate::protocol::{decode_request_frame, encode_frame, Response, ResponseFrame, WireReservedLine};
    use proptest::prelude::*;

    fn varint_values() -> impl Strategy<Value = u64> {
        prop_oneof![any::<u64>(), 0..300u64, 65_000..70_000u64, 4_294_967_000..4_294_968_000u64]
    }

    fn reserve_frame() -> impl Strategy<Value = RequestFrame> {
        let line = (".{0,20}", ".{0,12}", any::<u32>()).prop_map(|(sku, location, quantity)| ReserveLine {
            sku,
            location,
            quantity,
        });
        let promise = prop_oneof![Just(None), varint_values().prop_map(|at| Some(Timestamp(at)))];
        (varint_values(), ".{0,40}", prop::collection::vec(line, 0..6), varint_values(), promise).prop_map(
            |(request_id, id, lines, ttl_ms, promise_by)| RequestFrame {
                request_id,
                request: Request::Call(Call::Apply(Operation::Reserve(ReserveRequest {
                    id,
                    lines,
                    ttl_ms,
                    promise_by,
                }))),
            },
        )
    }

    fn payload(frame: &RequestFrame) -> Vec<u8> {
        let mut out = Vec::new();
        encode_frame(frame, crate::protocol::MAX_FRAME_BYTES, &mut out).unwrap();
        out.split_off(FRAME_HEADER_BYTES)
    }

    fn outcome() -> impl Strategy<Value = WireReserveOutcome> {
        let kind = prop_oneof![Just(HoldKind::InStock), Just(HoldKind::PreOrder), Just(HoldKind::Backorder)];
        let line = (".{0,20}", ".{0,12}", any::<u32>(), kind)
            .prop_map(|(sku, location, quantity, kind)| WireReservedLine { sku, location, quantity, kind });
        let state = prop_oneof![
            Just(ReservationState::Held),
            Just(ReservationState::Committed),
            Just(ReservationState::Fulfilled),
            Just(ReservationState::Released),
            Just(ReservationState::Expired),
        ];
        (".{0,40}", prop::collection::vec(line, 0..6), varint_values(), any::<bool>(), state).prop_map(
            |(id, lines, expires_at, replayed, state)| WireReserveOutcome {
                id,
                lines,
                expires_at: Timestamp(expires_at),
                replayed,
                state,
            },
        )
    }

    proptest! {
        #[test]
        fn reserve_requests_decode_to_what_the_codec_decodes(frame in reserve_frame()) {
            prop_assert_eq!(decode_reserve_request(&payload(&frame)), Some(frame));
        }

        #[test]
        fn the_fast_path_never_accepts_what_the_codec_reads_otherwise(frame in reserve_frame(), cut in any::<prop::sample::Index>(), byte in any::<u8>(), at in any::<prop::sample::Index>()) {
            let mut bytes = payload(&frame);
            prop_assert!(decode_reserve_request(&bytes[..cut.index(bytes.len())]).is_none());
            let at = at.index(bytes.len());
            bytes[at] = byte;
            if let Some(fast) = decode_reserve_request(&bytes) {
                prop_assert_eq!(decode_request_frame(&bytes).ok(), Some(fast));
            }
            bytes.push(0);
            prop_assert!(decode_reserve_request(&bytes).is_none(), "trailing bytes are refused");
        }

        #[test]
        fn reserve_replies_are_the_bytes_encode_frame_writes(request_id in varint_values(), outcome in outcome()) {
            let frame = ResponseFrame { request_id, response: Response::Reply(Reply::Applied(Applied::Reserved(outcome.clone()))) };
            let mut expected = Vec::new();
            encode_frame(&frame, crate::protocol::MAX_FRAME_BYTES, &mut expected).unwrap();
            let mut written = vec![9];
            let length = encode_reserve_reply(request_id, &outcome, &mut written);
            prop_assert_eq!(length, expected.len());
            prop_assert_eq!(&written[1..], &expected[..]);
        }
    }

    #[test]
    fn other_requests_and_too_many_lines_take_the_ordinary_path() {
        let commit = RequestFrame {
            request_id: 3,
            request: Request::Call(Call::Apply(Operation::Commit { id: "cart-1".into() })),
        };
        assert!(decode_reserve_request(&payload(&commit)).is_none());
        let line = ReserveLine { sku: "A".into(), location: "L".into(), quantity: 1 };
        let over = RequestFrame {
            request_id: 3,
            request: Request::Call(Call::Apply(Operation::Reserve(ReserveRequest {
                id: "cart-2".into(),
                lines: vec![line; MAX_LINES_PER_RESERVATION + 1],
                ttl_ms: 60_000,
                promise_by: None,
            }))),
        };
        assert!(decode_reserve_request(&payload(&over)).is_none());
    }
}
