//! The wire protocol of the network front end (`docs/PROTOCOL.md` is its
//! specification; this module is the reference implementation, with no networking).
//!
//! - [`messages`]: every request and response, as plain serde data. Encoded by
//!   [`crate::codec`] (bincode 2.0.1, standard configuration) like everything else.
//! - [`frame`]: `[u32 little-endian payload length][payload]` framing on a byte
//!   stream, an incremental [`FrameDecoder`] that refuses an oversized frame before
//!   allocating, and the frame-level encode/decode helpers.
//! - [`error`]: [`WireError`] and its stable numeric [`ErrorCode`], mapped from every
//!   [`crate::EngineError`] and [`crate::storage::ApplyError`].
//! - [`convert`]: engine views and outcomes (which name SKUs and locations by internal
//!   id) into wire types (which name them by their client strings).
//!
//! A connection (QUIC, ALPN [`ALPN`]) opens long-lived bidirectional streams; on each,
//! the client sends [`RequestFrame`]s and the server answers [`ResponseFrame`]s with the
//! same request id, possibly out of order. The first request of a connection is
//! [`Request::Hello`]; nothing else is answered before it succeeds.

pub mod convert;
pub mod error;
pub mod frame;
pub mod hot;
pub mod messages;

pub use error::{engine_error_code, ErrorCode, ShortLine, WireError};
pub use frame::{
    decode_request_frame, decode_response_frame, encode_frame, FrameDecoder, FrameError, FRAME_HEADER_BYTES,
};
pub use messages::*;

/// The QUIC application protocol name both ends must offer.
pub const ALPN: &[u8] = b"stockd/1";

/// The protocol version this build speaks (sent in `Hello`, confirmed in `Welcome`).
pub const PROTOCOL_VERSION: u16 = 1;

/// Largest frame payload accepted by default (the server may configure it, within
/// [`MAX_FRAME_BYTES_CEILING`], and announces its value in `Welcome`).
pub const MAX_FRAME_BYTES: u32 = 4 * 1024 * 1024;

/// The most a server may be configured to accept in one frame. Every value the codec
/// decodes from a frame claims at most 8 bytes of its decode budget per byte read, and
/// that budget is [`crate::codec::MAX_DECODED_BYTES`] (64 MiB): every frame up to this
/// size decodes.
pub const MAX_FRAME_BYTES_CEILING: u32 = 8 * 1024 * 1024;

/// Calls in one `Request::Batch`, a hard bound checked while decoding (before the
/// calls are built); a server may configure a lower one.
pub const MAX_BATCH_CALLS: usize = 1_000;

/// Requests a client may have in flight on one connection, by default.
pub const DEFAULT_MAX_IN_FLIGHT: u32 = 1_024;

/// How long the server works on a request before answering `DeadlineExceeded`, by default.
pub const DEFAULT_REQUEST_DEADLINE_MS: u64 = 5_000;

/// How long a connection may stay silent before the server closes it, by default.
pub const DEFAULT_IDLE_TIMEOUT_MS: u64 = 30_000;

/// Longest bearer token accepted in `Hello`, in bytes.
pub const MAX_TOKEN_BYTES: usize = 256;

/// The role a request needs (see [`Request::required_role`]).
pub fn required_role(request: &Request) -> Role {
    request.required_role()
}

/// QUIC application error codes a server closes a connection (or resets a stream)
/// with; the reason phrase says more, for people.
pub mod close {
    /// Normal close (the client is done, or the server drained it at shutdown).
    pub const NORMAL: u32 = 0;
    /// The stream or connection broke the framing (an oversized length prefix, a
    /// stream that ended inside a frame) and cannot be read on.
    pub const PROTOCOL_ERROR: u32 = 1;
    /// `Hello` was refused (unknown token), or never came before the handshake timeout.
    pub const UNAUTHENTICATED: u32 = 2;
    /// `Hello` asked for a protocol version the server does not speak.
    pub const UNSUPPORTED_VERSION: u32 = 3;
    /// The server is shutting down; reconnect (to it or another one) and retry.
    pub const SHUTTING_DOWN: u32 = 4;
    /// The server has as many connections as it accepts.
    pub const TOO_MANY_CONNECTIONS: u32 = 5;
}
