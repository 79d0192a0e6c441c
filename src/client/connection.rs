//! The connection machinery: establishing a connection (QUIC, then `Hello`), the
//! shared multiplexed stream every [`Client`](super::Client) call goes through, and raw
//! [`Pipeline`]s. See the module documentation of [`crate::client`] for the design.

use super::config::ClientConfig;
use super::error::ClientError;
use super::pipeline::Pipeline;
use crate::protocol::{
    close, decode_response_frame, encode_frame, FrameDecoder, Limits, Request, Response, Role, MAX_FRAME_BYTES,
    MAX_FRAME_BYTES_CEILING, PROTOCOL_VERSION,
};
use crate::protocol::{ErrorCode, WireError};
use parking_lot::Mutex;
use quinn::{Connection, ConnectionError, Endpoint, RecvStream, SendStream, VarInt};
use serde::Serialize;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;
use tokio::sync::{Notify, Semaphore, TryAcquireError};

/// The request id of `Hello` (the shared stream's ids have a generation of at least 1
/// in their upper half, so they never equal it).
const HELLO_ID: u64 = 1;

/// Set in every request id of a [`Pipeline`], clear in the shared stream's.
const PIPELINE_BIT: u64 = 1 << 63;

/// Bytes asked of the stream per read.
pub(super) const READ_BUFFER_BYTES: usize = 64 * 1024;

/// Capacity the writer keeps between writes (it gives back more after a large write).
const RETAINED_WRITE_BUFFER: usize = 256 * 1024;

/// The coarsest tick of the timeout clock.
const MAX_TICK: Duration = Duration::from_millis(250);

/// A request frame borrowing its request: encodes exactly as [`RequestFrame`] (serde
/// serializes a reference as the value), so a retry re-encodes the same request under
/// a new id without cloning it.
#[derive(Serialize)]
struct RequestFrameRef<'a> {
    request_id: u64,
    request: &'a Request,
}

/// Why a connection (or a pipeline) stopped: cheap to clone into every waiting call.
#[derive(Clone, Debug)]
pub(super) enum Failure {
    Lost(Arc<str>),
    Protocol(Arc<str>),
    Closed,
}

impl Failure {
    pub(super) fn to_error(&self) -> ClientError {
        match self {
            Failure::Lost(reason) => ClientError::ConnectionLost(reason.to_string()),
            Failure::Protocol(reason) => ClientError::Protocol(reason.to_string()),
            Failure::Closed => ClientError::Closed,
        }
    }

    pub(super) fn lost(reason: impl Into<String>) -> Failure {
        Failure::Lost(reason.into().into())
    }

    pub(super) fn protocol(reason: impl Into<String>) -> Failure {
        Failure::Protocol(reason.into().into())
    }
}

/// Words for a connection error; names the close code when the server closed it.
pub(super) fn describe_connection_error(error: &ConnectionError) -> String {
    match error {
        ConnectionError::ApplicationClosed(closed) => {
            let code = closed.error_code.into_inner();
            let name = match u32::try_from(code) {
                Ok(close::NORMAL) => "NORMAL",
                Ok(close::PROTOCOL_ERROR) => "PROTOCOL_ERROR",
                Ok(close::UNAUTHENTICATED) => "UNAUTHENTICATED",
                Ok(close::UNSUPPORTED_VERSION) => "UNSUPPORTED_VERSION",
                Ok(close::SHUTTING_DOWN) => "SHUTTING_DOWN",
                Ok(close::TOO_MANY_CONNECTIONS) => "TOO_MANY_CONNECTIONS",
                _ => "unknown code",
            };
            format!("closed by the server ({name}, {code}): {}", String::from_utf8_lossy(&closed.reason))
        }
        other => other.to_string(),
    }
}

// ---------------------------------------------------------------------------------
// Establishing a connection

/// A connection that said `Hello` and got `Welcome`: the QUIC connection, what the
/// server granted, the shared stream, and the in-flight gate its pipelines share.
pub(super) struct Conn {
    pub(super) connection: Connection,
    pub(super) role: Role,
    pub(super) limits: Limits,
    pub(super) request_timeout: Duration,
    pub(super) mux: Arc<Mux>,
    next_pipeline: AtomicU32,
}

impl Drop for Conn {
    fn drop(&mut self) {
        // The tasks of the shared stream hold the connection too: close it explicitly.
        self.connection.close(VarInt::from_u32(close::NORMAL), b"client dropped");
    }
}

impl Conn {
    /// Connects, says `Hello`, and starts the shared stream's tasks (on the current
    /// tokio runtime). Bounded by `config.connect_timeout`.
    pub(super) async fn establish(
        endpoint: &Endpoint,
        quic: &quinn::ClientConfig,
        config: &ClientConfig,
    ) -> Result<Arc<Conn>, ClientError> {
        let server = config.server;
        let attempt = async {
            let connecting = endpoint
                .connect_with(quic.clone(), server, &config.server_name)
                .map_err(|error| ClientError::Connect { server, reason: error.to_string() })?;
            let connection = connecting
                .await
                .map_err(|error| ClientError::Connect { server, reason: describe_connection_error(&error) })?;
            match hello(&connection, config).await {
                Ok(welcome) => Ok((connection, welcome)),
                Err(error) => {
                    connection.close(VarInt::from_u32(close::NORMAL), b"handshake failed");
                    Err(error)
                }
            }
        };
        let (connection, welcome) = match tokio::time::timeout(config.connect_timeout, attempt).await {
            Ok(result) => result?,
            Err(_) => {
                return Err(ClientError::Connect {
                    server,
                    reason: format!("no connection within {:?}", config.connect_timeout),
                })
            }
        };
        let Welcome { send, recv, decoder, role, limits } = welcome;
        let gate = Arc::new(Semaphore::new((limits.max_in_flight.max(1) as usize).min(Semaphore::MAX_PERMITS)));
        let tick = (config.request_timeout / 8).clamp(Duration::from_millis(1), MAX_TICK);
        let timeout_ticks = config.request_timeout.as_nanos().div_ceil(tick.as_nanos()).min(u64::MAX as u128) as u64;
        let mux = Arc::new(Mux {
            state: Mutex::new(MuxState {
                out: Vec::new(),
                writer_pending: false,
                slots: Vec::new(),
                free: Vec::new(),
                tick: 0,
                failure: None,
            }),
            writer: Notify::new(),
            failed: AtomicBool::new(false),
            gate,
            connection: connection.clone(),
            max_frame_bytes: limits.max_frame_bytes.min(MAX_FRAME_BYTES_CEILING),
            timeout_ticks: timeout_ticks.saturating_add(1),
        });
        tokio::spawn(run_writer(mux.clone(), send));
        tokio::spawn(run_reader(mux.clone(), recv, decoder));
        tokio::spawn(run_sweeper(mux.clone(), tick));
        Ok(Arc::new(Conn {
            connection,
            role,
            limits,
            request_timeout: config.request_timeout,
            mux,
            next_pipeline: AtomicU32::new(0),
        }))
    }

    /// True once the connection or its shared stream broke (the next call reconnects).
    /// One atomic load: the reader task marks the stream failed as soon as the
    /// connection is lost (a call that slips in before that fails as lost, and is
    /// retried if it may be).
    pub(super) fn is_failed(&self) -> bool {
        self.mux.failed.load(Ordering::Acquire)
    }

    /// Closes the connection: calls in flight fail with `failure`.
    pub(super) fn shut_down(&self, failure: Failure) {
        self.mux.fail(failure);
    }

    /// Sends `request` on the shared stream once there is room under the server's
    /// `max_in_flight`. An error means nothing was sent.
    pub(super) async fn start(&self, request: &Request) -> Result<Pending, ClientError> {
        match self.mux.gate.try_acquire() {
            Ok(permit) => permit.forget(),
            Err(TryAcquireError::Closed) => return Err(self.mux.failure_error()),
            Err(TryAcquireError::NoPermits) => {
                match tokio::time::timeout(self.request_timeout, self.mux.gate.acquire()).await {
                    Ok(Ok(permit)) => permit.forget(),
                    Ok(Err(_closed)) => return Err(self.mux.failure_error()),
                    Err(_elapsed) => return Err(ClientError::Timeout),
                }
            }
        }
        self.mux.enqueue(request)
    }

    /// A new stream of this connection for a [`Pipeline`].
    pub(super) async fn open_pipeline(self: &Arc<Self>) -> Result<Pipeline, ClientError> {
        let (send, recv) = self
            .connection
            .open_bi()
            .await
            .map_err(|error| ClientError::ConnectionLost(describe_connection_error(&error)))?;
        let number = self.next_pipeline.fetch_add(1, Ordering::Relaxed) & 0x7fff_ffff;
        let decoder = FrameDecoder::new(MAX_FRAME_BYTES_CEILING.max(self.limits.max_frame_bytes));
        Ok(Pipeline::new(self.clone(), send, recv, PIPELINE_BIT | (u64::from(number) << 32), decoder))
    }
}

struct Welcome {
    send: SendStream,
    recv: RecvStream,
    decoder: FrameDecoder,
    role: Role,
    limits: Limits,
}

/// Sends `Hello` on a new stream and reads the answer. The stream becomes the shared
/// stream (the decoder keeps any bytes after the answer).
async fn hello(connection: &Connection, config: &ClientConfig) -> Result<Welcome, ClientError> {
    let server = config.server;
    // What a failure during the handshake means: the server's close code says whether
    // it refused the token or the version.
    let broken = |fallback: String| -> ClientError {
        if let Some(ConnectionError::ApplicationClosed(closed)) = connection.close_reason() {
            let code = match u32::try_from(closed.error_code.into_inner()) {
                Ok(close::UNAUTHENTICATED) => Some(ErrorCode::Unauthenticated),
                Ok(close::UNSUPPORTED_VERSION) => Some(ErrorCode::UnsupportedVersion),
                _ => None,
            };
            if let Some(code) = code {
                return ClientError::Handshake(WireError::new(code, String::from_utf8_lossy(&closed.reason)));
            }
        }
        match connection.close_reason() {
            Some(error) => ClientError::Connect { server, reason: describe_connection_error(&error) },
            None => ClientError::Connect { server, reason: fallback },
        }
    };
    let (mut send, mut recv) = connection.open_bi().await.map_err(|error| broken(error.to_string()))?;
    let hello = Request::Hello { protocol_version: PROTOCOL_VERSION, token: config.token.clone() };
    let mut out = Vec::new();
    encode_frame(&RequestFrameRef { request_id: HELLO_ID, request: &hello }, MAX_FRAME_BYTES, &mut out)
        .map_err(|error| ClientError::LimitExceeded(format!("Hello: {error}")))?;
    send.write_all(&out).await.map_err(|error| broken(error.to_string()))?;
    let mut decoder = FrameDecoder::new(MAX_FRAME_BYTES_CEILING);
    let mut buffer = vec![0; 4096];
    let frame = loop {
        match decoder.next_payload() {
            Ok(Some(payload)) => {
                break decode_response_frame(payload)
                    .map_err(|error| ClientError::Protocol(format!("the answer to Hello does not decode: {error}")))?
            }
            Ok(None) => {}
            Err(error) => return Err(ClientError::Protocol(format!("the answer to Hello: {error}"))),
        }
        match recv.read(&mut buffer).await {
            Ok(Some(read)) => decoder.push(&buffer[..read]),
            Ok(None) => return Err(broken("the server ended the stream before answering Hello".to_string())),
            Err(error) => return Err(broken(error.to_string())),
        }
    };
    match frame.response {
        Response::Error(error) => Err(ClientError::Handshake(error)),
        _ if frame.request_id != HELLO_ID => Err(ClientError::Protocol(format!(
            "the answer to Hello (request {HELLO_ID}) came with request id {}",
            frame.request_id
        ))),
        Response::Welcome { protocol_version, role, limits } if protocol_version == PROTOCOL_VERSION => {
            Ok(Welcome { send, recv, decoder, role, limits })
        }
        Response::Welcome { protocol_version, .. } => Err(ClientError::Protocol(format!(
            "the server answered Hello with protocol version {protocol_version}; this client speaks {PROTOCOL_VERSION}"
        ))),
        other => Err(ClientError::Protocol(format!("Hello was answered with {}", super::response_name(&other)))),
    }
}

// ---------------------------------------------------------------------------------
// The shared stream

/// The shared stream of one connection: requests are encoded straight into `out`
/// (under the lock), one writer task writes whatever accumulated in one go, one reader
/// task decodes responses and hands each to the slot its id names.
pub(super) struct Mux {
    state: Mutex<MuxState>,
    writer: Notify,
    failed: AtomicBool,
    /// Requests in flight on the connection (shared stream and pipelines): the
    /// server's `max_in_flight`. A permit is taken before a request is sent and given
    /// back when its response arrives. Closed when the connection fails.
    pub(super) gate: Arc<Semaphore>,
    connection: Connection,
    pub(super) max_frame_bytes: u32,
    /// Ticks of the timeout clock a request may wait for its response.
    timeout_ticks: u64,
}

struct MuxState {
    /// Frames encoded and not yet taken by the writer.
    out: Vec<u8>,
    /// The writer has been notified and not yet taken `out`.
    writer_pending: bool,
    /// One per request in flight; a request id names its slot and the slot's generation.
    slots: Vec<Slot>,
    free: Vec<u32>,
    /// The coarse clock of timeouts, advanced by the sweeper.
    tick: u64,
    failure: Option<Failure>,
}

struct Slot {
    generation: u32,
    deadline: u64,
    state: SlotState,
}

enum SlotState {
    Free,
    /// Sent, unanswered; the caller waits.
    Waiting(Option<Waker>),
    /// The response (or why there will be none), not yet taken by the caller.
    Answered(Result<Response, Failure>),
    /// Unanswered past its deadline: the caller is told `Timeout`; the slot stays
    /// taken (and its permit held) until the response arrives.
    TimedOut,
    /// Unanswered and nobody waits (timed out, or the caller dropped its future).
    Abandoned,
}

impl MuxState {
    fn allocate(&mut self, deadline: u64) -> (u32, u64) {
        let index = match self.free.pop() {
            Some(index) => index,
            None => {
                self.slots.push(Slot { generation: 0, deadline: 0, state: SlotState::Free });
                (self.slots.len() - 1) as u32
            }
        };
        let slot = &mut self.slots[index as usize];
        // 1 to 2^31 - 1: never 0 (so never `HELLO_ID`), never the pipeline bit.
        slot.generation = slot.generation % 0x7fff_ffff + 1;
        slot.deadline = deadline;
        slot.state = SlotState::Waiting(None);
        (index, (u64::from(slot.generation) << 32) | (u64::from(index) + 1))
    }

    fn release(&mut self, index: u32) {
        self.slots[index as usize].state = SlotState::Free;
        self.free.push(index);
    }

    fn slot_of(&self, request_id: u64) -> Option<usize> {
        if request_id & PIPELINE_BIT != 0 {
            return None;
        }
        let index = (request_id & 0xffff_ffff).checked_sub(1)? as usize;
        let generation = (request_id >> 32) as u32;
        let slot = self.slots.get(index)?;
        (slot.generation == generation && !matches!(slot.state, SlotState::Free)).then_some(index)
    }

    /// Hands a response to its request; true if it answered a request in flight.
    fn deliver(&mut self, request_id: u64, result: Result<Response, Failure>, wakers: &mut Vec<Waker>) -> bool {
        let Some(index) = self.slot_of(request_id) else {
            if request_id == 0 {
                tracing::warn!(response = ?result.as_ref().map(super::response_name), "the server could not read a request");
            } else {
                tracing::debug!(request_id, "a response to no request in flight (ignored)");
            }
            return false;
        };
        let slot = &mut self.slots[index];
        match std::mem::replace(&mut slot.state, SlotState::Free) {
            SlotState::Waiting(waker) => {
                slot.state = SlotState::Answered(result);
                wakers.extend(waker);
                true
            }
            SlotState::TimedOut => {
                // The caller was told `Timeout` and will take this instead if it has
                // not polled yet: a late answer is better than none.
                slot.state = SlotState::Answered(result);
                true
            }
            SlotState::Abandoned => {
                self.free.push(index as u32);
                true
            }
            answered @ SlotState::Answered(_) => {
                slot.state = answered;
                tracing::debug!(request_id, "a second response to one request (ignored)");
                false
            }
            SlotState::Free => false,
        }
    }
}

impl Mux {
    fn failure_error(&self) -> ClientError {
        match &self.state.lock().failure {
            Some(failure) => failure.to_error(),
            None => ClientError::ConnectionLost("the connection is closed".to_string()),
        }
    }

    /// Encodes `request` into the outgoing buffer (a permit is held) and wakes the
    /// writer if this is the first frame since its last write.
    fn enqueue(self: &Arc<Self>, request: &Request) -> Result<Pending, ClientError> {
        let mut state = self.state.lock();
        if let Some(failure) = &state.failure {
            return Err(failure.to_error());
        }
        let deadline = state.tick.saturating_add(self.timeout_ticks);
        let (index, request_id) = state.allocate(deadline);
        let frame = RequestFrameRef { request_id, request };
        if let Err(error) = encode_frame(&frame, self.max_frame_bytes, &mut state.out) {
            state.release(index);
            drop(state);
            self.gate.add_permits(1);
            return Err(ClientError::LimitExceeded(error.to_string()));
        }
        let wake_writer = !std::mem::replace(&mut state.writer_pending, true);
        drop(state);
        if wake_writer {
            self.writer.notify_one();
        }
        Ok(Pending { mux: self.clone(), index, done: false })
    }

    /// Hands decoded responses to their requests, under one lock, then wakes the callers.
    fn dispatch(&self, frames: &mut Vec<(u64, Result<Response, Failure>)>, wakers: &mut Vec<Waker>) {
        let mut answered = 0;
        {
            let mut state = self.state.lock();
            for (request_id, result) in frames.drain(..) {
                answered += usize::from(state.deliver(request_id, result, wakers));
            }
        }
        if answered > 0 {
            self.gate.add_permits(answered);
        }
        for waker in wakers.drain(..) {
            waker.wake();
        }
    }

    /// Stops the shared stream for good: every waiting call fails with `failure`, the
    /// gate closes, the connection is closed. Later calls reconnect.
    fn fail(&self, failure: Failure) {
        let mut wakers = Vec::new();
        {
            let mut state = self.state.lock();
            if state.failure.is_some() {
                return;
            }
            state.failure = Some(failure.clone());
            state.out = Vec::new();
            for slot in &mut state.slots {
                if let SlotState::Waiting(waker) = &mut slot.state {
                    wakers.extend(waker.take());
                    slot.state = SlotState::Answered(Err(failure.clone()));
                }
            }
        }
        self.failed.store(true, Ordering::Release);
        self.gate.close();
        self.writer.notify_one();
        for waker in wakers {
            waker.wake();
        }
        let (code, reason): (u32, &[u8]) = match &failure {
            Failure::Protocol(_) => (close::PROTOCOL_ERROR, b"protocol error"),
            Failure::Lost(_) => (close::NORMAL, b"stream lost"),
            Failure::Closed => (close::NORMAL, b"client closed"),
        };
        self.connection.close(VarInt::from_u32(code), reason);
    }

    /// One tick of the timeout clock: requests past their deadline are told `Timeout`.
    /// False once the stream has failed (the sweeper stops).
    fn sweep(&self) -> bool {
        let mut wakers = Vec::new();
        {
            let mut state = self.state.lock();
            if state.failure.is_some() {
                return false;
            }
            state.tick += 1;
            let tick = state.tick;
            for slot in &mut state.slots {
                if slot.deadline <= tick {
                    if let SlotState::Waiting(waker) = &mut slot.state {
                        wakers.extend(waker.take());
                        slot.state = SlotState::TimedOut;
                    }
                }
            }
        }
        for waker in wakers {
            waker.wake();
        }
        true
    }
}

/// The response of one request sent on the shared stream. Dropping it before it
/// completes abandons the request (its slot is reused once the response arrives).
pub(super) struct Pending {
    mux: Arc<Mux>,
    index: u32,
    done: bool,
}

impl Future for Pending {
    type Output = Result<Response, ClientError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        if this.done {
            return Poll::Ready(Err(ClientError::Protocol("a response polled after completion".to_string())));
        }
        let mut state = this.mux.state.lock();
        let slot = &mut state.slots[this.index as usize];
        let output = match std::mem::replace(&mut slot.state, SlotState::Free) {
            SlotState::Waiting(waker) => {
                let waker = match waker {
                    Some(waker) if waker.will_wake(cx.waker()) => waker,
                    _ => cx.waker().clone(),
                };
                slot.state = SlotState::Waiting(Some(waker));
                return Poll::Pending;
            }
            SlotState::Answered(result) => {
                state.free.push(this.index);
                result.map_err(|failure| failure.to_error())
            }
            SlotState::TimedOut => {
                slot.state = SlotState::Abandoned;
                Err(ClientError::Timeout)
            }
            other @ (SlotState::Free | SlotState::Abandoned) => {
                slot.state = other;
                Err(ClientError::Protocol("the response slot was lost".to_string()))
            }
        };
        drop(state);
        this.done = true;
        Poll::Ready(output)
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let mut state = self.mux.state.lock();
        let slot = &mut state.slots[self.index as usize];
        match slot.state {
            SlotState::Waiting(_) | SlotState::TimedOut => slot.state = SlotState::Abandoned,
            SlotState::Answered(_) => state.release(self.index),
            SlotState::Free | SlotState::Abandoned => {}
        }
    }
}

/// Writes whatever accumulated in the outgoing buffer, one write per wake-up: every
/// request encoded in the same scheduler tick goes out in one `write_all`.
async fn run_writer(mux: Arc<Mux>, mut send: SendStream) {
    let mut buffer = Vec::new();
    loop {
        mux.writer.notified().await;
        {
            let mut state = mux.state.lock();
            if state.failure.is_some() {
                return;
            }
            state.writer_pending = false;
            std::mem::swap(&mut state.out, &mut buffer);
        }
        if buffer.is_empty() {
            continue;
        }
        if let Err(error) = send.write_all(&buffer).await {
            mux.fail(Failure::lost(format!("cannot send: {error}")));
            return;
        }
        buffer.clear();
        if buffer.capacity() > RETAINED_WRITE_BUFFER {
            buffer.shrink_to(RETAINED_WRITE_BUFFER);
        }
    }
}

/// Reads responses and dispatches every whole frame of each read under one lock.
async fn run_reader(mux: Arc<Mux>, mut recv: RecvStream, mut decoder: FrameDecoder) {
    let mut buffer = vec![0; READ_BUFFER_BYTES];
    let mut frames = Vec::new();
    let mut wakers = Vec::new();
    let failure = loop {
        let fatal = loop {
            match decoder.next_payload() {
                Ok(Some(payload)) => match decode_response_frame(payload) {
                    Ok(frame) => frames.push((frame.request_id, Ok(frame.response))),
                    Err(error) => match error.request_id() {
                        // The frame's boundaries are known and it names its request:
                        // that request fails, the stream goes on.
                        0 => {
                            break Some(Failure::protocol(format!(
                                "an undecodable response with no request id: {error}"
                            )))
                        }
                        request_id => frames.push((
                            request_id,
                            Err(Failure::protocol(format!("the response does not decode: {error}"))),
                        )),
                    },
                },
                Ok(None) => break None,
                Err(error) => break Some(Failure::protocol(format!("the server broke the framing: {error}"))),
            }
        };
        if !frames.is_empty() {
            mux.dispatch(&mut frames, &mut wakers);
        }
        if let Some(failure) = fatal {
            break failure;
        }
        match recv.read(&mut buffer).await {
            Ok(Some(read)) => decoder.push(&buffer[..read]),
            Ok(None) => break Failure::lost("the server ended the stream"),
            Err(quinn::ReadError::ConnectionLost(error)) => break Failure::lost(describe_connection_error(&error)),
            Err(error) => break Failure::lost(error.to_string()),
        }
    };
    mux.fail(failure);
}

/// Advances the timeout clock until the stream fails.
async fn run_sweeper(mux: Arc<Mux>, tick: Duration) {
    let mut interval = tokio::time::interval(tick);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    interval.tick().await;
    loop {
        interval.tick().await;
        if !mux.sweep() {
            return;
        }
    }
}

/// The local address a client endpoint binds for `server`: loopback for a loopback
/// server, else any address of its family.
pub(super) fn bind_address(server: SocketAddr) -> SocketAddr {
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
    let ip = match server.ip() {
        IpAddr::V4(ip) if ip.is_loopback() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        IpAddr::V6(ip) if ip.is_loopback() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    };
    SocketAddr::new(ip, 0)
}

#[cfg(test)]
pub(super) fn encode_request_ref(request_id: u64, request: &Request) -> Vec<u8> {
    let mut out = Vec::new();
    encode_frame(&RequestFrameRef { request_id, request }, u32::MAX, &mut out).unwrap();
    out
}
