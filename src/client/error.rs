//! What can go wrong with a call, typed.

use crate::protocol::{ErrorCode, ShortLine, WireError};
use crate::tls::TlsError;
use std::net::SocketAddr;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// No connection: the address did not answer, the QUIC or TLS handshake failed
    /// (a certificate that does not match the pin or the CA), the server refused
    /// the connection (at its connection limit, shutting down).
    #[error("cannot connect to {server}: {reason}")]
    Connect { server: SocketAddr, reason: String },
    /// The client's TLS configuration could not be built (a CA file that cannot be read).
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// The server refused `Hello`: an unknown token (`UNAUTHENTICATED`) or an
    /// unsupported protocol version.
    #[error("the server refused the handshake: {0}")]
    Handshake(WireError),
    /// The server answered with a refusal: the call ran and was refused
    /// (`Reply::Error`), or the request as a whole was refused before anything ran
    /// (`Response::Error`). [`ClientError::code`] says why.
    #[error("refused: {0}")]
    Refused(WireError),
    /// The connection broke before the response came. For a write that was not
    /// retried (see [`is_safe_to_retry`](super::is_safe_to_retry)), its outcome is
    /// unknown. The next call reconnects.
    #[error("connection lost: {0}")]
    ConnectionLost(String),
    /// No response within [`request_timeout`](super::ClientConfig::request_timeout)
    /// (for a write: outcome unknown). The connection stays usable.
    #[error("no response within the request timeout")]
    Timeout,
    /// The server sent something this client cannot make sense of: an undecodable
    /// frame, or a response of the wrong shape for the request.
    #[error("protocol error: {0}")]
    Protocol(String),
    /// The request does not fit the server's announced limits (a frame larger than
    /// `max_frame_bytes`, a batch longer than `max_batch_calls`); nothing was sent.
    #[error("over the server's limits: {0}")]
    LimitExceeded(String),
    /// [`Client::close`](super::Client::close) was called.
    #[error("the client is closed")]
    Closed,
    /// [`Pipeline::next_response`](super::Pipeline::next_response) with no request sent
    /// and unanswered (queued requests are sent by `flush`).
    #[error("no request is in flight on this pipeline")]
    NothingInFlight,
}

impl ClientError {
    /// The protocol's error code, for refusals (and for requests over the server's
    /// limits, refused here before sending: `LIMIT_EXCEEDED`).
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            ClientError::Handshake(error) | ClientError::Refused(error) => Some(error.code),
            ClientError::LimitExceeded(_) => Some(ErrorCode::LimitExceeded),
            ClientError::Connect { .. }
            | ClientError::Tls(_)
            | ClientError::ConnectionLost(_)
            | ClientError::Timeout
            | ClientError::Protocol(_)
            | ClientError::Closed
            | ClientError::NothingInFlight => None,
        }
    }

    /// For `INSUFFICIENT_STOCK`: every line that fell short. Empty otherwise.
    pub fn short_lines(&self) -> &[ShortLine] {
        match self {
            ClientError::Refused(error) => &error.short_lines,
            _ => &[],
        }
    }
}
