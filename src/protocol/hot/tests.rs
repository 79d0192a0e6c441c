//! The fast path against the ordinary codec: same values, same bytes, and `None`
//! wherever it is not sure.

use super::*;
use crate::engine::AvailabilityScope;
use crate::protocol::{
    decode_request_frame, encode_frame, Call, Reply, Request, RequestFrame, Response, ResponseFrame, MAX_FRAME_BYTES,
};
use proptest::prelude::*;

fn frame_bytes(frame: &RequestFrame) -> Vec<u8> {
    let mut out = Vec::new();
    encode_frame(frame, MAX_FRAME_BYTES, &mut out).unwrap();
    out.split_off(FRAME_HEADER_BYTES)
}

fn owned_scope(scope: ScopeName<'_>) -> AvailabilityScope {
    match scope {
        ScopeName::Location(name) => AvailabilityScope::Location(name.to_owned()),
        ScopeName::Channel(name) => AvailabilityScope::Channel(name.to_owned()),
    }
}

/// The hot frame as the ordinary decoder's value.
fn owned(frame: &HotFrame<'_>) -> RequestFrame {
    let call = match &frame.call {
        HotCall::Availability { sku, scope, measure } => {
            Call::Availability { sku: (*sku).to_owned(), scope: owned_scope(*scope), measure: *measure }
        }
        HotCall::AvailabilityBatch { skus, scope, measure } => Call::AvailabilityBatch {
            skus: skus.iter().map(|sku| (*sku).to_owned()).collect(),
            scope: owned_scope(*scope),
            measure: *measure,
        },
    };
    RequestFrame { request_id: frame.request_id, request: Request::Call(call) }
}

fn scope() -> impl Strategy<Value = AvailabilityScope> {
    prop_oneof![".{0,30}".prop_map(AvailabilityScope::Location), ".{0,30}".prop_map(AvailabilityScope::Channel)]
}

fn measure() -> impl Strategy<Value = Availability> {
    prop_oneof![
        Just(Availability::ToSell),
        prop_oneof![any::<u64>(), 0..300u64, 65_000..70_000u64].prop_map(|at| Availability::ToPromise(Timestamp(at)))
    ]
}

fn request_id() -> impl Strategy<Value = u64> {
    prop_oneof![any::<u64>(), 0..300u64, 65_000..70_000u64, 4_294_967_000..4_294_968_000u64]
}

fn hot_request() -> impl Strategy<Value = RequestFrame> {
    let single = (request_id(), ".{0,40}", scope(), measure()).prop_map(|(request_id, sku, scope, measure)| {
        RequestFrame { request_id, request: Request::Call(Call::Availability { sku, scope, measure }) }
    });
    let batch = (request_id(), prop::collection::vec(".{0,12}", 0..=MAX_BATCH_SKUS), scope(), measure()).prop_map(
        |(request_id, skus, scope, measure)| RequestFrame {
            request_id,
            request: Request::Call(Call::AvailabilityBatch { skus, scope, measure }),
        },
    );
    prop_oneof![single, batch]
}

proptest! {
    #[test]
    fn hot_requests_decode_to_what_the_codec_decodes(frame in hot_request()) {
        let bytes = frame_bytes(&frame);
        let hot = decode_hot(&bytes).expect("a hot request takes the fast path");
        prop_assert_eq!(owned(&hot), frame);
    }

    #[test]
    fn the_fast_path_never_accepts_what_the_codec_reads_otherwise(frame in hot_request(), cut in any::<prop::sample::Index>(), byte in any::<u8>(), flip in any::<prop::sample::Index>()) {
        let mut bytes = frame_bytes(&frame);
        // A truncated payload, and one with a byte changed: whatever the fast path
        // accepts, the codec must read to the same value.
        let truncated = &bytes[..cut.index(bytes.len())];
        prop_assert!(decode_hot(truncated).is_none());
        let at = flip.index(bytes.len());
        bytes[at] = byte;
        if let Some(hot) = decode_hot(&bytes) {
            prop_assert_eq!(decode_request_frame(&bytes).ok(), Some(owned(&hot)));
        }
        bytes.push(0);
        prop_assert!(decode_hot(&bytes).is_none(), "trailing bytes are refused");
    }

    #[test]
    fn requests_are_the_bytes_encode_frame_writes(frame in hot_request()) {
        let mut expected = Vec::new();
        encode_frame(&frame, MAX_FRAME_BYTES, &mut expected).unwrap();
        let hot = decode_hot(&expected[FRAME_HEADER_BYTES..]).expect("a hot request");
        let mut written = vec![7];
        let length = encode_hot_request(frame.request_id, &hot.call, &mut written);
        prop_assert_eq!(length, expected.len());
        prop_assert_eq!(&written[1..], &expected[..]);
    }

    #[test]
    fn availability_replies_decode_to_what_the_codec_decodes(request_id in request_id(), available in request_id(), batch in any::<bool>()) {
        let response = if batch {
            Response::Reply(Reply::AvailabilityBatch { available: vec![available] })
        } else {
            Response::Reply(Reply::Availability { available })
        };
        let mut bytes = Vec::new();
        encode_frame(&ResponseFrame { request_id, response }, MAX_FRAME_BYTES, &mut bytes).unwrap();
        let payload = &bytes[FRAME_HEADER_BYTES..];
        let fast = decode_availability_reply(payload);
        prop_assert_eq!(fast.is_some(), !batch);
        if let Some((id, value)) = fast {
            let decoded = crate::protocol::decode_response_frame(payload).unwrap();
            prop_assert_eq!(decoded, ResponseFrame { request_id: id, response: Response::Reply(Reply::Availability { available: value }) });
        }
        prop_assert!(decode_availability_reply(&payload[..payload.len() - 1]).is_none());
    }

    #[test]
    fn replies_are_the_bytes_encode_frame_writes(request_id in request_id(), values in prop::collection::vec(request_id(), 0..=MAX_BATCH_SKUS)) {
        let mut expected = Vec::new();
        let mut written = Vec::new();
        let single = Response::Reply(Reply::Availability { available: values.first().copied().unwrap_or(7) });
        encode_frame(&ResponseFrame { request_id, response: single }, MAX_FRAME_BYTES, &mut expected).unwrap();
        encode_availability_reply(request_id, values.first().copied().unwrap_or(7), &mut written);
        let batch = Response::Reply(Reply::AvailabilityBatch { available: values.clone() });
        encode_frame(&ResponseFrame { request_id, response: batch }, MAX_FRAME_BYTES, &mut expected).unwrap();
        encode_availability_batch_reply(request_id, &values, &mut written);
        prop_assert_eq!(written, expected);
    }
}

#[test]
fn other_requests_and_odd_encodings_take_the_ordinary_path() {
    let ping = RequestFrame { request_id: 9, request: Request::Call(Call::Ping) };
    assert!(decode_hot(&frame_bytes(&ping)).is_none());
    let position = RequestFrame {
        request_id: 9,
        request: Request::Call(Call::Position { sku: "A".into(), location: "B".into() }),
    };
    assert!(decode_hot(&frame_bytes(&position)).is_none());
    let hello = RequestFrame { request_id: 1, request: Request::Hello { protocol_version: 1, token: "t".into() } };
    assert!(decode_hot(&frame_bytes(&hello)).is_none());
    // Request id 5 written in 3 bytes instead of 1 (the codec may read it; the fast
    // path leaves it to the codec).
    let query = RequestFrame {
        request_id: 5,
        request: Request::Call(Call::Availability {
            sku: "SKU-1".into(),
            scope: AvailabilityScope::Location("DC1".into()),
            measure: Availability::ToSell,
        }),
    };
    let mut long_form = vec![251, 5, 0];
    long_form.extend_from_slice(&frame_bytes(&query)[1..]);
    assert!(decode_hot(&long_form).is_none());
    // Invalid UTF-8 in the SKU.
    let mut bytes = frame_bytes(&query);
    let at = bytes.iter().position(|&b| b == b'S').unwrap();
    bytes[at] = 0xff;
    assert!(decode_hot(&bytes).is_none());
    // One SKU over the bound.
    let over = RequestFrame {
        request_id: 5,
        request: Request::Call(Call::AvailabilityBatch {
            skus: vec!["A".into(); MAX_BATCH_SKUS + 1],
            scope: AvailabilityScope::Channel("web".into()),
            measure: Availability::ToSell,
        }),
    };
    assert!(decode_hot(&frame_bytes(&over)).is_none());
}
