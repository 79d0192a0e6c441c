//! Arbitrary bytes into the wire protocol's frame decoder and message decoders.
//!
//! Checks, for every input: nothing panics, aborts or allocates without bound; every
//! failure is a typed `FrameError`; the server's hand-written decoders
//! (`protocol::hot`) accept only what the ordinary decoder reads the same way; a
//! payload that decodes re-encodes to bytes that decode to the same encoding; the
//! decoder never hands out a payload above its limit and never buffers more than one
//! frame plus the last push.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stockd::codec;
use stockd::protocol::hot::{decode_hot, decode_reserve_request};
use stockd::protocol::{decode_request_frame, decode_response_frame, FrameDecoder, FrameError};

const LIMIT: u32 = 4096;

fuzz_target!(|data: &[u8]| {
    check_payload(data);

    // The input as a stream, cut in two where its first byte says.
    let mut decoder = FrameDecoder::new(LIMIT);
    let cut = data.first().map_or(0, |b| usize::from(*b)).min(data.len());
    for piece in [&data[..cut], &data[cut..]] {
        decoder.push(piece);
        loop {
            match decoder.next_payload() {
                Ok(Some(payload)) => {
                    assert!(payload.len() <= LIMIT as usize);
                    check_payload(payload);
                }
                Ok(None) => break,
                Err(FrameError::Oversized { length, limit }) => {
                    assert!(length > u64::from(limit));
                    assert_eq!(decoder.buffered(), 0);
                    break;
                }
                Err(other) => panic!("next_payload failed with {other:?}"),
            }
        }
        assert!(decoder.buffered() <= LIMIT as usize + 4 + piece.len());
    }
    match decoder.finish() {
        Ok(()) | Err(FrameError::Truncated { .. } | FrameError::Oversized { .. }) => {}
        Err(other) => panic!("finish failed with {other:?}"),
    }
});

fn check_payload(payload: &[u8]) {
    // The server's fast paths accept only what the ordinary decoder reads the same way.
    if let Some(fast) = decode_reserve_request(payload) {
        assert_eq!(decode_request_frame(payload).ok(), Some(fast));
    }
    if let Some(hot) = decode_hot(payload) {
        let ordinary = decode_request_frame(payload).expect("a hot request decodes the ordinary way");
        assert_eq!(ordinary.request_id, hot.request_id);
    }
    match decode_request_frame(payload) {
        Ok(frame) => {
            // Compared as bytes: a decoded f64 may be NaN, which is not equal to itself.
            let encoded = codec::encode(&frame);
            let again = decode_request_frame(&encoded).expect("a re-encoded request decodes");
            assert_eq!(codec::encode(&again), encoded);
        }
        Err(FrameError::Undecodable { .. } | FrameError::TooLong { .. }) => {}
        Err(other) => panic!("decode_request_frame failed with {other:?}"),
    }
    match decode_response_frame(payload) {
        Ok(frame) => {
            let encoded = codec::encode(&frame);
            let again = decode_response_frame(&encoded).expect("a re-encoded response decodes");
            assert_eq!(codec::encode(&again), encoded);
        }
        Err(FrameError::Undecodable { .. } | FrameError::TooLong { .. }) => {}
        Err(other) => panic!("decode_response_frame failed with {other:?}"),
    }
}
