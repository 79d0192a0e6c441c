//! The frame decoder and bad input.

#[allow(unused_imports)]
use super::*;

// ---------------------------------------------------------------------------------
// The frame decoder and bad input
// ---------------------------------------------------------------------------------

pub(crate) fn frame_of(payload: &[u8]) -> Vec<u8> {
    let mut bytes = (payload.len() as u32).to_le_bytes().to_vec();
    bytes.extend_from_slice(payload);
    bytes
}

pub(crate) fn ping(request_id: u64) -> RequestFrame {
    RequestFrame { request_id, request: Request::Call(Call::Ping) }
}

#[test]
pub(crate) fn an_oversized_length_is_refused_before_anything_is_allocated_for_it() {
    let mut decoder = FrameDecoder::new(MAX_FRAME_BYTES);
    decoder.push(&u32::MAX.to_le_bytes());
    assert!(decoder.capacity() < 64, "nothing reserved for the announced length: {}", decoder.capacity());
    let error = decoder.next_frame().unwrap_err();
    assert_eq!(error, FrameError::Oversized { length: u64::from(u32::MAX), limit: MAX_FRAME_BYTES });
    assert_eq!(error.code(), ErrorCode::LimitExceeded);
    assert!(!error.is_recoverable());
    // Sticky: the stream cannot be resynchronised; what follows is ignored, not kept.
    decoder.push(&[0u8; 4096]);
    assert_eq!(decoder.buffered(), 0);
    assert!(decoder.capacity() < 64);
    assert_eq!(decoder.next_frame().unwrap_err(), error);
    assert_eq!(decoder.finish().unwrap_err(), error);
}

#[test]
pub(crate) fn an_oversized_length_behind_whole_frames_is_refused_without_taking_in_the_rest() {
    let limit = 1_000;
    let mut stream = Vec::new();
    encode_frame(&ping(1), limit, &mut stream).unwrap();
    stream.extend_from_slice(&(limit + 1).to_le_bytes());
    let mut decoder = FrameDecoder::new(limit);
    // One push: a whole frame, then a length one above the limit, then a megabyte.
    let mut chunk = stream.clone();
    chunk.extend(std::iter::repeat_n(0xAB, 1 << 20));
    decoder.push(&chunk);
    // The megabyte was pushed in the same call, after the bad length: it is dropped.
    assert!(decoder.capacity() < 4096, "kept {} bytes", decoder.capacity());
    assert_eq!(decoder.next_frame().unwrap_err(), FrameError::Oversized { length: u64::from(limit) + 1, limit });
}

#[test]
pub(crate) fn a_frame_of_exactly_the_limit_is_accepted_and_one_more_byte_is_not() {
    let limit = 64;
    let mut decoder = FrameDecoder::new(limit);
    decoder.push(&frame_of(&[7u8; 64]));
    assert_eq!(decoder.next_frame().unwrap(), Some(vec![7u8; 64]));
    decoder.push(&frame_of(&[7u8; 65])[..8]);
    assert_eq!(decoder.next_frame().unwrap_err(), FrameError::Oversized { length: 65, limit });

    // The encoder refuses the same frame and leaves its buffer as it was.
    let mut out = vec![1, 2, 3];
    let big = Request::Hello { protocol_version: 1, token: "x".repeat(100) };
    let error = encode_frame(&RequestFrame { request_id: 1, request: big }, limit, &mut out).unwrap_err();
    assert!(matches!(error, FrameError::Oversized { limit: 64, .. }), "{error:?}");
    assert_eq!(out, vec![1, 2, 3]);
}

#[test]
pub(crate) fn a_stream_that_ends_inside_a_frame_is_truncated() {
    let mut whole = Vec::new();
    encode_frame(&ping(9), MAX_FRAME_BYTES, &mut whole).unwrap();
    for cut in 1..whole.len() {
        let mut decoder = FrameDecoder::new(MAX_FRAME_BYTES);
        decoder.push(&whole[..cut]);
        assert_eq!(decoder.next_frame().unwrap(), None, "no frame from {cut} bytes");
        let error = decoder.finish().unwrap_err();
        let expected = if cut < FRAME_HEADER_BYTES { 4 } else { whole.len() as u64 };
        assert_eq!(error, FrameError::Truncated { expected, received: cut as u64 });
        assert_eq!(error.code(), ErrorCode::BadFrame);
    }
    // A payload cut short inside a well-formed frame is undecodable, with its id.
    let payload = &whole[FRAME_HEADER_BYTES..];
    let short = &payload[..payload.len() - 1];
    let error = decode_request_frame(short).unwrap_err();
    assert!(matches!(error, FrameError::Undecodable { request_id: Some(9), .. }), "{error:?}");
}

#[test]
pub(crate) fn an_empty_payload_and_garbage_are_undecodable_not_fatal() {
    let mut decoder = FrameDecoder::new(MAX_FRAME_BYTES);
    decoder.push(&frame_of(&[]));
    decoder.push(&frame_of(&[0xff; 9]));
    let mut good = Vec::new();
    encode_frame(&ping(5), MAX_FRAME_BYTES, &mut good).unwrap();
    decoder.push(&good);

    let empty = decoder.next_frame().unwrap().unwrap();
    let error = decode_request_frame(&empty).unwrap_err();
    assert!(matches!(error, FrameError::Undecodable { request_id: None, .. }), "{error:?}");
    assert_eq!(error.request_id(), 0, "an unreadable id is answered as request 0");
    assert!(error.is_recoverable());

    let garbage = decoder.next_frame().unwrap().unwrap();
    assert!(matches!(decode_request_frame(&garbage).unwrap_err(), FrameError::Undecodable { .. }));

    // The stream goes on: the next frame decodes.
    let next = decoder.next_frame().unwrap().unwrap();
    assert_eq!(decode_request_frame(&next).unwrap(), ping(5));
    assert_eq!(decoder.next_frame().unwrap(), None);
}

/// The payload of `frame` with its bytes from `at` replaced by `tail`.
pub(crate) fn patched(frame: &RequestFrame, at: usize, tail: &[u8]) -> Vec<u8> {
    let mut payload = codec::encode(frame);
    payload.truncate(at);
    payload.extend_from_slice(tail);
    payload
}

#[test]
pub(crate) fn unknown_variants_and_invalid_values_are_typed_errors_with_the_request_id() {
    // Request id 42 (one byte), then the Request variant index.
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("unknown Request variant", patched(&ping(42), 1, &[3])),
        ("unknown Call variant", patched(&ping(42), 1, &[1, 10])),
        ("unknown Operation variant", patched(&ping(42), 1, &[1, 8, 19])),
        ("variant index with a u64 marker", patched(&ping(42), 1, &[253, 0, 0, 0, 0, 0, 0, 0, 0])),
        ("bool that is 2", patched(&ping(42), 1, &[1, 3, 0, 0, 2])),
        ("Option tag that is 2", patched(&ping(42), 1, &[1, 8, 10, 0, 0, 0, 2])),
        ("string that is not UTF-8", patched(&ping(42), 1, &[1, 5, 2, 0xc3, 0x28])),
        ("string longer than the payload", patched(&ping(42), 1, &[1, 5, 252, 0, 0, 0, 1])),
        ("u16 varint with a u32 marker", patched(&ping(42), 1, &[0, 252, 1, 0, 0, 0, 0])),
    ];
    for (what, payload) in cases {
        match decode_request_frame(&payload) {
            Err(FrameError::Undecodable { request_id: Some(42), reason }) => assert!(!reason.is_empty(), "{what}"),
            other => panic!("{what}: expected Undecodable with id 42, got {other:?}"),
        }
    }
    // Responses likewise: an error code the protocol does not define is refused.
    let mut payload = codec::encode(&ResponseFrame {
        request_id: 42,
        response: Response::Error(WireError::new(ErrorCode::Internal, "")),
    });
    assert_eq!(payload[2], 16, "the code travels as its number");
    payload[2] = 99;
    let error = decode_response_frame(&payload).unwrap_err();
    assert!(matches!(&error, FrameError::Undecodable { request_id: Some(42), reason } if reason.contains("99")));
}

#[test]
pub(crate) fn trailing_bytes_after_the_message_are_refused() {
    let mut payload = codec::encode(&ping(7));
    payload.push(0);
    let error = decode_request_frame(&payload).unwrap_err();
    assert!(
        matches!(&error, FrameError::Undecodable { request_id: Some(7), reason } if reason.contains("trailing")),
        "{error:?}"
    );
}

#[test]
pub(crate) fn a_batch_longer_than_its_bound_is_refused_from_its_declared_length() {
    // Request::Batch (2) declaring u32::MAX calls, and no calls at all: refused from the
    // length alone (no room reserved, nothing decoded).
    let payload = patched(&ping(3), 1, &[2, 252, 0xff, 0xff, 0xff, 0xff]);
    let error = decode_request_frame(&payload).unwrap_err();
    assert!(matches!(error, FrameError::TooLong { request_id: Some(3), .. }), "{error:?}");
    assert_eq!(error.code(), ErrorCode::LimitExceeded);

    // Exactly the bound decodes; one more does not.
    let at_bound = RequestFrame { request_id: 3, request: Request::Batch(vec![Call::Ping; MAX_BATCH_CALLS]) };
    assert_eq!(decode_request_frame(&codec::encode(&at_bound)).unwrap(), at_bound);
    let over = RequestFrame { request_id: 3, request: Request::Batch(vec![Call::Ping; MAX_BATCH_CALLS + 1]) };
    assert!(matches!(decode_request_frame(&codec::encode(&over)), Err(FrameError::TooLong { .. })));

    // The SKUs of an availability batch likewise.
    let skus = vec!["S".to_owned(); stockd::limits::MAX_BATCH_SKUS + 1];
    let page =
        Call::AvailabilityBatch { skus, scope: AvailabilityScope::Location("L".into()), measure: Availability::ToSell };
    let frame = RequestFrame { request_id: 4, request: Request::Call(page) };
    assert!(matches!(
        decode_request_frame(&codec::encode(&frame)),
        Err(FrameError::TooLong { request_id: Some(4), .. })
    ));
}

/// Asserts that decoding `payload` and pushing `stream` never panics, and that every
/// failure is typed.
pub(crate) fn survive(payload: &[u8], stream: &[u8]) {
    match decode_request_frame(payload) {
        Ok(frame) => {
            // Whatever decodes re-encodes to a frame that decodes to the same encoding
            // (compared as bytes: a decoded f64 may be NaN, not equal to itself).
            let encoded = codec::encode(&frame);
            assert_eq!(codec::encode(&decode_request_frame(&encoded).unwrap()), encoded);
        }
        Err(FrameError::Undecodable { .. } | FrameError::TooLong { .. }) => {}
        Err(other) => panic!("a payload cannot be {other:?}"),
    }
    let _ = decode_response_frame(payload);
    let mut decoder = FrameDecoder::new(1024);
    for piece in stream.chunks(7) {
        decoder.push(piece);
        loop {
            match decoder.next_payload() {
                Ok(Some(payload)) => {
                    assert!(payload.len() <= 1024);
                    let _ = decode_request_frame(payload);
                }
                Ok(None) => break,
                Err(FrameError::Oversized { length, limit: 1024 }) => {
                    assert!(length > 1024);
                    break;
                }
                Err(other) => panic!("next_payload cannot fail with {other:?}"),
            }
        }
        assert!(decoder.buffered() <= 1024 + 4 + 7);
    }
    let _ = decoder.finish();
}

/// "Fuzz-lite" for CI (cargo-fuzz runs the same checks in fuzz/ on a nightly
/// toolchain): 100,000 seeded inputs, random bytes and mutations of valid frames.
#[test]
pub(crate) fn the_decoder_survives_random_bytes_and_mutated_frames() {
    let mut rng = StdRng::seed_from_u64(0x5eed_57c0);
    let mut valid = Vec::new();
    let mut strategy_runner = runner(1);
    let strategy = (any::<u64>(), request());
    for _ in 0..200 {
        let (request_id, request) = strategy.new_tree(&mut strategy_runner).unwrap().current();
        valid.push(codec::encode(&RequestFrame { request_id, request }));
    }
    for round in 0..100_000u32 {
        let input: Vec<u8> = if round % 2 == 0 {
            let length = rng.random_range(0..64);
            (0..length).map(|_| rng.random::<u8>()).collect()
        } else {
            let mut bytes = valid[rng.random_range(0..valid.len())].clone();
            for _ in 0..rng.random_range(1..4) {
                match rng.random_range(0..4) {
                    0 if !bytes.is_empty() => {
                        let at = rng.random_range(0..bytes.len());
                        bytes[at] = rng.random();
                    }
                    1 if !bytes.is_empty() => {
                        let at = rng.random_range(0..bytes.len());
                        bytes.truncate(at);
                    }
                    2 => {
                        let at = rng.random_range(0..=bytes.len());
                        let special = *[0u8, 1, 250, 251, 252, 253, 254, 255].get(rng.random_range(0..8)).unwrap();
                        bytes.insert(at, special);
                    }
                    _ => bytes.push(rng.random()),
                }
            }
            bytes
        };
        let mut stream = frame_of(&input);
        stream.extend_from_slice(&input);
        survive(&input, &stream);
    }
}
