//! The wire protocol (`src/protocol`, docs/PROTOCOL.md): every message round-trips
//! through a frame; the frame decoder refuses garbage, truncation, oversized lengths,
//! unknown tags and trailing bytes with typed errors and never panics; the encoding
//! rules the document states hold byte for byte; the role table and the error-code
//! mapping; and the document's generated examples match the code
//! (`STOCKD_BLESS=1 cargo test --test protocol_wire` rewrites them).

use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;
use proptest::strategy::{Union, ValueTree};
use proptest::test_runner::{Config, TestRunner};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use stockd::codec;
use stockd::engine::{
    AdjustReason, Availability, AvailabilityScope, DemandRank, Destination, LineQuantity, OrderLine, PartialStep,
    ReservationState, ReserveLine, ReserveRequest, RestockRequest, ShortLine as EngineShortLine, SourcedReserveRequest,
    StoreQuery,
};
use stockd::model::{
    Bucket, ChannelBuffer, ChannelSpec, Coordinates, HoldKind, IdKind, LocationFlags, LocationKind, LocationSpec,
    PositionRow, Timestamp,
};
use stockd::protocol::convert::{self, Names};
use stockd::protocol::*;
use stockd::storage::ApplyError;
use stockd::wal::WalError;
use stockd::{Engine, EngineError, Operation};

mod decoder;
mod doc_examples;
mod rules;
mod strategies;
mod views;

#[allow(unused_imports)]
use decoder::*;
#[allow(unused_imports)]
use doc_examples::*;
#[allow(unused_imports)]
use rules::*;
use strategies::*;

// ---------------------------------------------------------------------------------
// Round trips
// ---------------------------------------------------------------------------------

#[test]
pub(crate) fn every_request_round_trips_through_a_frame() {
    let strategy = (any::<u64>(), request(), vec(0usize..40, 0..4));
    runner(2_000)
        .run(&strategy, |(request_id, request, cuts)| {
            let frame = RequestFrame { request_id, request };
            let payload = through_decoder(&frame, &cuts);
            prop_assert_eq!(decode_request_frame(&payload).unwrap(), frame);
            Ok(())
        })
        .unwrap();
}

#[test]
pub(crate) fn every_response_round_trips_through_a_frame() {
    let strategy = (any::<u64>(), response(), vec(0usize..40, 0..4));
    runner(2_000)
        .run(&strategy, |(request_id, response, cuts)| {
            let frame = ResponseFrame { request_id, response };
            let payload = through_decoder(&frame, &cuts);
            prop_assert_eq!(decode_response_frame(&payload).unwrap(), frame);
            Ok(())
        })
        .unwrap();
}

#[test]
pub(crate) fn many_pipelined_frames_come_out_in_order_however_the_bytes_are_cut() {
    let strategy = (vec((any::<u64>(), request()), 1..12), any::<u64>());
    runner(300)
        .run(&strategy, |(frames, seed)| {
            let frames: Vec<RequestFrame> =
                frames.into_iter().map(|(request_id, request)| RequestFrame { request_id, request }).collect();
            let mut stream = Vec::new();
            for frame in &frames {
                encode_frame(frame, MAX_FRAME_BYTES, &mut stream).unwrap();
            }
            let mut rng = StdRng::seed_from_u64(seed);
            let mut decoder = FrameDecoder::new(MAX_FRAME_BYTES);
            let mut decoded = Vec::new();
            let mut rest = &stream[..];
            while !rest.is_empty() {
                let (piece, tail) = rest.split_at(rng.random_range(1..=rest.len().min(64)));
                decoder.push(piece);
                rest = tail;
                while let Some(payload) = decoder.next_payload().unwrap() {
                    decoded.push(decode_request_frame(payload).unwrap());
                }
            }
            decoder.finish().unwrap();
            prop_assert_eq!(decoded, frames);
            prop_assert_eq!(decoder.buffered(), 0);
            Ok(())
        })
        .unwrap();
}
