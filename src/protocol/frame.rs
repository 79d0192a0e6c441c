//! Framing: `[u32 little-endian payload length][payload]`, back to back on a byte
//! stream, and the decoding of a payload into a request or response frame.
//!
//! [`FrameDecoder`] works incrementally: push the bytes as they arrive, take whole
//! payloads out. It never trusts a length prefix with memory: a length above the
//! limit is refused as soon as its 4 bytes are in (nothing is reserved for it), and
//! the buffer only ever holds bytes that were pushed. Once a stream has sent an
//! oversized length it cannot be resynchronised, so the error is sticky.
//!
//! A payload that does not decode is not a stream error: its boundaries are known,
//! so the server answers `BadFrame` (with the request id, when the payload starts with
//! a readable one) and reads on.

use super::error::ErrorCode;
use super::messages::{RequestFrame, ResponseFrame, TOO_MANY_MARKER};
use crate::codec::{self, CodecError};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// Bytes of the length prefix.
pub const FRAME_HEADER_BYTES: usize = 4;

/// Capacity above which an idle decoder gives memory back (after one large frame).
const RETAINED_CAPACITY: usize = 64 * 1024;

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// A length prefix above the limit (stream-fatal: the stream must be closed).
    #[error("a frame of {length} bytes is larger than the limit of {limit} bytes")]
    Oversized { length: u64, limit: u32 },
    /// The stream ended inside a frame (stream-fatal).
    #[error("the stream ended inside a frame: {received} of {expected} bytes")]
    Truncated { expected: u64, received: u64 },
    /// The payload is not a valid message: garbage, an unknown variant, an invalid
    /// value, trailing bytes. `request_id` is the id the payload starts with, if any.
    #[error("undecodable frame: {reason}")]
    Undecodable { request_id: Option<u64>, reason: String },
    /// The payload declares a batch longer than the protocol's hard bound.
    #[error("frame exceeds a limit: {reason}")]
    TooLong { request_id: Option<u64>, reason: String },
}

impl FrameError {
    /// The code a server answers this error with.
    pub fn code(&self) -> ErrorCode {
        match self {
            FrameError::Oversized { .. } | FrameError::TooLong { .. } => ErrorCode::LimitExceeded,
            FrameError::Truncated { .. } | FrameError::Undecodable { .. } => ErrorCode::BadFrame,
        }
    }

    /// Whether the stream can go on after this error (the frame's boundaries are known).
    pub fn is_recoverable(&self) -> bool {
        matches!(self, FrameError::Undecodable { .. } | FrameError::TooLong { .. })
    }

    /// The request id to answer with: the one the payload starts with, else 0.
    pub fn request_id(&self) -> u64 {
        match self {
            FrameError::Undecodable { request_id, .. } | FrameError::TooLong { request_id, .. } => {
                request_id.unwrap_or(0)
            }
            FrameError::Oversized { .. } | FrameError::Truncated { .. } => 0,
        }
    }

    fn from_codec(request_id: Option<u64>, error: CodecError) -> FrameError {
        let reason = error.to_string();
        if reason.contains(TOO_MANY_MARKER) {
            FrameError::TooLong { request_id, reason }
        } else {
            FrameError::Undecodable { request_id, reason }
        }
    }
}

/// Splits a byte stream into frame payloads. See the module documentation.
///
/// Memory: the buffer holds at most the frame being received plus whatever the last
/// [`push`](FrameDecoder::push) added beyond it; callers push what one read returned
/// and then take every whole frame out.
#[derive(Debug)]
pub struct FrameDecoder {
    buffer: Vec<u8>,
    /// Bytes at the front of `buffer` already handed out.
    start: usize,
    /// Offset in `buffer` of the first length prefix not yet checked against the limit.
    next_header: usize,
    limit: u32,
    failed: Option<FrameError>,
}

impl FrameDecoder {
    /// A decoder refusing payloads longer than `max_frame_bytes`.
    pub fn new(max_frame_bytes: u32) -> FrameDecoder {
        FrameDecoder { buffer: Vec::new(), start: 0, next_header: 0, limit: max_frame_bytes, failed: None }
    }

    pub fn limit(&self) -> u32 {
        self.limit
    }

    /// Bytes received and not yet handed out as a frame.
    pub fn buffered(&self) -> usize {
        self.buffer.len() - self.start
    }

    /// Room the decoder's buffer holds (for tests and metrics).
    pub fn capacity(&self) -> usize {
        self.buffer.capacity()
    }

    /// Adds bytes read from the stream. Every complete length prefix is checked at
    /// once; after an oversized one the decoder keeps nothing and ignores all input.
    pub fn push(&mut self, bytes: &[u8]) {
        if self.failed.is_some() {
            return;
        }
        if self.start > 0 {
            self.buffer.drain(..self.start);
            self.next_header -= self.start;
            self.start = 0;
            if self.buffer.capacity() > RETAINED_CAPACITY && self.buffer.len() <= RETAINED_CAPACITY {
                self.buffer.shrink_to(RETAINED_CAPACITY);
            }
        }
        // Check every length prefix that is complete once `bytes` are added, before
        // adding them: after an oversized one nothing more is taken in.
        let total = self.buffer.len() + bytes.len();
        while self.next_header + FRAME_HEADER_BYTES <= total {
            let length = length_at(&self.buffer, bytes, self.next_header);
            if length > self.limit {
                self.failed = Some(FrameError::Oversized { length: u64::from(length), limit: self.limit });
                self.buffer = Vec::new();
                self.start = 0;
                self.next_header = 0;
                return;
            }
            self.next_header += FRAME_HEADER_BYTES + length as usize;
        }
        self.buffer.extend_from_slice(bytes);
    }

    /// The next whole payload, borrowed from the buffer; `None` until one is complete.
    pub fn next_payload(&mut self) -> Result<Option<&[u8]>, FrameError> {
        if let Some(error) = &self.failed {
            return Err(error.clone());
        }
        let pending = &self.buffer[self.start..];
        if pending.len() < FRAME_HEADER_BYTES {
            return Ok(None);
        }
        // Checked by `push` against the limit already.
        let length = read_length(pending) as usize;
        if pending.len() - FRAME_HEADER_BYTES < length {
            return Ok(None);
        }
        let begin = self.start + FRAME_HEADER_BYTES;
        self.start = begin + length;
        Ok(Some(&self.buffer[begin..begin + length]))
    }

    /// Where the next whole payload is, for [`Self::payload`]; `None` until one is
    /// complete. The range stays valid until the next [`Self::push`].
    pub fn next_payload_range(&mut self) -> Result<Option<std::ops::Range<usize>>, FrameError> {
        let begin = self.start + FRAME_HEADER_BYTES;
        Ok(self.next_payload()?.map(|payload| begin..begin + payload.len()))
    }

    /// The payload at a range [`Self::next_payload_range`] returned since the last push.
    pub fn payload(&self, range: std::ops::Range<usize>) -> &[u8] {
        &self.buffer[range]
    }

    /// The next whole payload, copied out.
    pub fn next_frame(&mut self) -> Result<Option<Vec<u8>>, FrameError> {
        self.next_payload().map(|payload| payload.map(<[u8]>::to_vec))
    }

    /// Call when the stream has ended: an error if it ended inside a frame (or failed).
    pub fn finish(&self) -> Result<(), FrameError> {
        if let Some(error) = &self.failed {
            return Err(error.clone());
        }
        let pending = &self.buffer[self.start..];
        if pending.is_empty() {
            return Ok(());
        }
        let expected = if pending.len() < FRAME_HEADER_BYTES {
            FRAME_HEADER_BYTES as u64
        } else {
            FRAME_HEADER_BYTES as u64 + u64::from(read_length(pending))
        };
        Err(FrameError::Truncated { expected, received: pending.len() as u64 })
    }
}

/// The length prefix at `offset` of `buffer` followed by `more`.
fn length_at(buffer: &[u8], more: &[u8], offset: usize) -> u32 {
    let byte = |i: usize| if i < buffer.len() { buffer[i] } else { more[i - buffer.len()] };
    u32::from_le_bytes([byte(offset), byte(offset + 1), byte(offset + 2), byte(offset + 3)])
}

fn read_length(bytes: &[u8]) -> u32 {
    u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]])
}

/// Appends `message` as one frame (length prefix and payload) to `out`. Refused,
/// leaving `out` as it was, if the payload is longer than `limit`.
pub fn encode_frame<T: Serialize + ?Sized>(message: &T, limit: u32, out: &mut Vec<u8>) -> Result<(), FrameError> {
    let begin = out.len();
    out.extend_from_slice(&[0; FRAME_HEADER_BYTES]);
    codec::encode_into(message, out);
    let length = out.len() - begin - FRAME_HEADER_BYTES;
    match u32::try_from(length) {
        Ok(length) if length <= limit => {
            out[begin..begin + FRAME_HEADER_BYTES].copy_from_slice(&length.to_le_bytes());
            Ok(())
        }
        _ => {
            out.truncate(begin);
            Err(FrameError::Oversized { length: length as u64, limit })
        }
    }
}

/// Decodes a request payload (exactly one [`RequestFrame`], nothing after it).
pub fn decode_request_frame(payload: &[u8]) -> Result<RequestFrame, FrameError> {
    decode_payload(payload)
}

/// Decodes a response payload (exactly one [`ResponseFrame`], nothing after it).
pub fn decode_response_frame(payload: &[u8]) -> Result<ResponseFrame, FrameError> {
    decode_payload(payload)
}

fn decode_payload<T: DeserializeOwned>(payload: &[u8]) -> Result<T, FrameError> {
    codec::decode(payload).map_err(|error| {
        // Both frames start with the request id: answer with it when it is readable.
        let request_id = codec::decode_prefix::<u64>(payload).ok();
        FrameError::from_codec(request_id, error)
    })
}
