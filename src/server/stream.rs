//! One bidirectional stream: read frames, run their requests, write their responses.
//!
//! Everything a stream does happens on the server's one network thread, without a
//! hand-off per request (waking another core costs ~25 us on this class of machine):
//! cheap calls run inline as their frame is decoded; heavy calls
//! ([`dispatch::is_heavy`]) go to a bounded worker pool and come back through a
//! channel. A write's response waits in `awaiting` until the log is durable up to its
//! position: the log's syncer publishes each new durable LSN on a watch channel, so
//! one fsync releases every response it covers, on every stream, with one wake-up.
//! Responses that became ready while handling one read are written with one call.
//!
//! Bounds: requests in flight per connection (`max_in_flight`, shared by its
//! streams), heavy calls queued server-wide, the frame size (the decoder refuses a
//! larger length before buffering it), and the socket: when the client stops reading
//! responses, `write_all` waits and the stream stops reading requests, so QUIC's flow
//! control pushes back on the client.

use super::connection::ConnectionState;
use super::dispatch::{self, run_calls};
use super::metrics::{call_label_availability, call_label_availability_batch};
use super::ServerShared;
use crate::engine::{Availability, AvailabilityQuery, ScopeName};
use crate::feed::{FeedError, FeedEvent, Subscriber};
use crate::protocol::convert;
use crate::protocol::hot::{
    as_reserve_outcome, decode_hot, decode_reserve_request, encode_availability_batch_reply, encode_availability_reply,
    encode_reserve_reply, HotCall, HotFrame,
};
use crate::protocol::Role;
use crate::protocol::{close, WireSubscription};
use crate::protocol::{
    decode_request_frame, encode_frame, ErrorCode, FrameDecoder, Reply, Request, RequestFrame, Response, ResponseFrame,
    WireError, FRAME_HEADER_BYTES, PROTOCOL_VERSION,
};
use crate::EngineError;
use std::collections::VecDeque;
use std::ops::Range;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// How often responses waiting for durability are checked against their deadline.
const DEADLINE_TICK: Duration = Duration::from_millis(50);

/// A response held back until the log is durable up to `lsn`.
struct Awaiting {
    lsn: u64,
    deadline: Instant,
    frame: ResponseFrame,
}

/// A heavy call's result, back from the worker pool.
struct Finished {
    lsn: u64,
    deadline: Instant,
    frame: ResponseFrame,
}

/// Encoded bytes waiting to be written above which a subscription's events are not
/// taken from the hub (they keep coalescing there, bounded, instead of here).
const FEED_OUT_HIGH_WATER: usize = 256 * 1024;

/// Events in one `Response::Events` frame, at most (fewer when frames are small).
const MAX_EVENTS_PER_FRAME: usize = 1_024;

/// The change-feed subscription a stream carries.
struct Feed {
    /// The id of the `Subscribe` request: every `Events` frame carries it.
    request_id: u64,
    subscriber: Subscriber,
}

/// Most single-SKU queries answered together (a bound on what a group holds).
const MAX_QUERY_GROUP: usize = 128;

/// The single-SKU queries of one read, answered together by
/// [`StreamState::answer_queries`]: their ids and their questions (names borrowed
/// from the frame decoder's buffer).
#[derive(Default)]
struct QueryGroup<'a> {
    ids: Vec<u64>,
    queries: Vec<AvailabilityQuery<'a>>,
}

impl<'a> QueryGroup<'a> {
    fn push(&mut self, request_id: u64, query: AvailabilityQuery<'a>) {
        self.ids.push(request_id);
        self.queries.push(query);
    }
}

/// Why a stream stopped early.
enum StreamEnd {
    /// The client finished its side and every response was sent.
    Done,
    /// The connection was closed (by us, the peer, or the idle timeout).
    Lost,
}

pub(super) async fn serve_stream(
    shared: Arc<ServerShared>,
    connection: Arc<ConnectionState>,
    mut send: quinn::SendStream,
    mut recv: quinn::RecvStream,
) {
    let mut stream = StreamState::new(shared.clone(), connection.clone());
    let end = stream.run(&mut send, &mut recv).await;
    // Whatever is still counted as in flight on this stream is gone with it.
    connection.in_flight.fetch_sub(stream.in_flight, Ordering::AcqRel);
    shared.metrics.in_flight_add(-(stream.in_flight as i64));
    if let StreamEnd::Done = end {
        let _ = send.finish();
    }
}

struct StreamState {
    shared: Arc<ServerShared>,
    connection: Arc<ConnectionState>,
    decoder: FrameDecoder,
    /// Encoded response frames not yet written.
    out: Vec<u8>,
    /// Responses of writes waiting for durability, in log order.
    awaiting: VecDeque<Awaiting>,
    finished_tx: mpsc::UnboundedSender<Finished>,
    finished_rx: mpsc::UnboundedReceiver<Finished>,
    /// Heavy calls sent to the worker pool and not back yet.
    at_workers: usize,
    /// Requests of this stream counted in the connection's in-flight total.
    in_flight: u32,
    /// After the handshake failed: write what is queued, then close the connection.
    close_after_write: Option<(u32, &'static str)>,
    /// The change-feed subscription of this stream, if it started one.
    feed: Option<Feed>,
    /// Events per `Events` frame (so that a frame of the longest names still fits).
    events_per_frame: usize,
    /// Where the frames of the current read are in the decoder's buffer (kept for its
    /// capacity).
    payloads: Vec<Range<usize>>,
    /// The engine's answers to a [`QueryGroup`] (kept for its capacity).
    query_results: Vec<Result<u64, EngineError>>,
}

impl StreamState {
    fn new(shared: Arc<ServerShared>, connection: Arc<ConnectionState>) -> StreamState {
        let (finished_tx, finished_rx) = mpsc::unbounded_channel();
        // An event of the longest SKU and scope names encodes in under 160 bytes.
        let events_per_frame = (shared.wire_limits.max_frame_bytes as usize / 256).clamp(1, MAX_EVENTS_PER_FRAME);
        StreamState {
            decoder: FrameDecoder::new(shared.wire_limits.max_frame_bytes),
            shared,
            connection,
            out: Vec::with_capacity(16 * 1024),
            awaiting: VecDeque::new(),
            finished_tx,
            finished_rx,
            at_workers: 0,
            in_flight: 0,
            close_after_write: None,
            feed: None,
            events_per_frame,
            payloads: Vec::new(),
            query_results: Vec::new(),
        }
    }

    async fn run(&mut self, send: &mut quinn::SendStream, recv: &mut quinn::RecvStream) -> StreamEnd {
        let mut durable_lsn = self.shared.durable_lsn.clone();
        let mut shutdown = self.shared.shutdown.clone();
        let mut reading = !*shutdown.borrow_and_update();
        let mut deadline_tick = tokio::time::interval(DEADLINE_TICK);
        deadline_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut events = Vec::new();
        loop {
            if !reading && self.awaiting.is_empty() && self.at_workers == 0 && self.out.is_empty() {
                return StreamEnd::Done;
            }
            tokio::select! {
                chunk = recv.read_chunk(usize::MAX, true), if reading => match chunk {
                    Ok(Some(chunk)) => {
                        if let Err(reason) = self.on_bytes(&chunk.bytes) {
                            // Answer (id 0) before closing: the stream cannot be read on.
                            self.close_after_write = Some((close::PROTOCOL_ERROR, reason));
                        }
                    }
                    Ok(None) => {
                        reading = false;
                        if let Err(error) = self.decoder.finish() {
                            tracing::debug!(%error, "stream ended inside a frame");
                            self.connection.close(close::PROTOCOL_ERROR, "a stream ended inside a frame");
                            return StreamEnd::Lost;
                        }
                    }
                    Err(_) => return StreamEnd::Lost,
                },
                changed = durable_lsn.changed(), if !self.awaiting.is_empty() => {
                    if changed.is_err() {
                        return StreamEnd::Lost;
                    }
                    self.release_durable();
                }
                Some(finished) = self.finished_rx.recv(), if self.at_workers > 0 => {
                    self.at_workers -= 1;
                    self.hold_until_durable(finished.lsn, finished.deadline, finished.frame);
                }
                _ = deadline_tick.tick(), if !self.awaiting.is_empty() => self.expire_deadlines(),
                taken = next_events(&self.feed, &mut events, self.events_per_frame),
                    if self.feed.is_some() && self.out.len() < FEED_OUT_HIGH_WATER =>
                {
                    self.on_events(taken, &mut events);
                }
                _ = super::stopping(&mut shutdown), if reading => reading = false,
            }
            if self.write_out(send).await.is_err() {
                return StreamEnd::Lost;
            }
            if let Some((code, reason)) = self.close_after_write.take() {
                // Give the client a moment to receive the refusal before closing.
                let _ = send.finish();
                let _ = tokio::time::timeout(Duration::from_millis(200), send.stopped()).await;
                self.connection.close(code, reason);
                return StreamEnd::Lost;
            }
        }
    }

    async fn write_out(&mut self, send: &mut quinn::SendStream) -> Result<(), quinn::WriteError> {
        if self.out.is_empty() {
            return Ok(());
        }
        let result = send.write_all(&self.out).await;
        self.out.clear();
        if self.out.capacity() > 1 << 20 {
            self.out.shrink_to(16 * 1024);
        }
        result
    }

    /// Takes the frames out of newly read bytes and handles each. An error is a
    /// broken stream (its reason closes the connection).
    fn on_bytes(&mut self, bytes: &[u8]) -> Result<(), &'static str> {
        self.decoder.push(bytes);
        let durable = self.shared.durable.clone();
        // One wake-up of the log's writer for all the writes of this read.
        durable.batching_log_wakeups(|| self.on_frames())
    }

    fn on_frames(&mut self) -> Result<(), &'static str> {
        // Every whole frame of this read first, then their requests: the hot queries
        // among them are answered together (`QueryGroup`), borrowing their names from
        // the decoder's buffer, which is set aside meanwhile (nothing is pushed into it
        // before the next read).
        let mut payloads = std::mem::take(&mut self.payloads);
        payloads.clear();
        let broken = loop {
            match self.decoder.next_payload_range() {
                Ok(Some(range)) => payloads.push(range),
                Ok(None) => break None,
                Err(error) => break Some(error),
            }
        };
        let decoder = std::mem::replace(&mut self.decoder, FrameDecoder::new(0));
        let mut lap = Instant::now();
        let mut group = QueryGroup::default();
        for range in payloads.iter().cloned() {
            let payload = decoder.payload(range);
            match decode_hot(payload) {
                Some(HotFrame { request_id, call: HotCall::Availability { sku, scope, measure } }) => {
                    // A gathered query counts as in flight until answered: answer them
                    // first rather than refuse this one for their sake.
                    let limit = self.shared.wire_limits.max_in_flight;
                    if group.ids.len() >= MAX_QUERY_GROUP || self.connection.in_flight.load(Ordering::Acquire) >= limit
                    {
                        self.answer_queries(&mut group, &mut lap);
                    }
                    if self.admit(request_id, Role::Read, None) {
                        group.push(request_id, AvailabilityQuery { sku, scope, measure });
                    }
                }
                Some(HotFrame { request_id, call: HotCall::AvailabilityBatch { skus, scope, measure } }) => {
                    if self.admit(request_id, Role::Read, None) {
                        self.on_availability_batch(request_id, &skus, scope, measure, &mut lap);
                    }
                }
                None => {
                    // In order with the queries before it (a write may follow them).
                    self.answer_queries(&mut group, &mut lap);
                    let frame = decode_reserve_request(payload).map_or_else(|| decode_request_frame(payload), Ok);
                    match frame {
                        Ok(frame) => self.on_request(frame, &mut lap),
                        Err(error) => {
                            let code = error.code();
                            self.shared.metrics.record_refused_request(code);
                            self.respond_error(error.request_id(), code, error.to_string());
                        }
                    }
                }
            }
            if self.close_after_write.is_some() {
                break;
            }
        }
        self.answer_queries(&mut group, &mut lap);
        self.decoder = decoder;
        self.payloads = payloads;
        if self.close_after_write.is_some() {
            return Ok(());
        }
        match broken {
            None => Ok(()),
            Some(error) => {
                // An oversized length: answer with id 0 if we can, then close.
                self.shared.metrics.record_refused_request(error.code());
                self.respond_error(0, error.code(), error.to_string());
                Err("a frame was larger than the server's limit")
            }
        }
    }

    /// The checks every request passes before it runs (the role, a batch's length,
    /// the connection's requests in flight); a refused one is answered here. An
    /// admitted one counts as in flight until [`Self::complete`] (or `leave`).
    fn admit(&mut self, request_id: u64, needed: Role, batch_calls: Option<usize>) -> bool {
        let Some(role) = self.connection.role() else {
            self.refuse(request_id, ErrorCode::Unauthenticated, "say Hello first".to_owned());
            return false;
        };
        if needed > role {
            let message = format!("this token's role ({role:?}) may not do what needs {needed:?}");
            self.refuse(request_id, ErrorCode::Forbidden, message);
            return false;
        }
        if let Some(calls) = batch_calls {
            let limit = self.shared.wire_limits.max_batch_calls;
            if calls > limit as usize {
                let message = format!("a batch of {calls} calls; the limit is {limit}");
                self.refuse(request_id, ErrorCode::LimitExceeded, message);
                return false;
            }
        }
        if !self.connection.try_enter(self.shared.wire_limits.max_in_flight) {
            let message = format!("{} requests in flight on this connection", self.shared.wire_limits.max_in_flight);
            self.refuse(request_id, ErrorCode::Overloaded, message);
            return false;
        }
        self.in_flight += 1;
        self.shared.metrics.in_flight_add(1);
        true
    }

    /// Answers the single-SKU queries gathered so far, in one pass through the engine
    /// ([`crate::Engine::availability_many`]); their latency is the pass's time shared
    /// equally. Each reply is written straight into `out`.
    fn answer_queries(&mut self, group: &mut QueryGroup<'_>, lap: &mut Instant) {
        if group.ids.is_empty() {
            return;
        }
        let mut results = std::mem::take(&mut self.query_results);
        results.clear();
        self.shared.durable.engine().availability_many(&group.queries, &mut results);
        let ended = Instant::now();
        let count = group.ids.len();
        let each = ended.saturating_duration_since(*lap) / count as u32;
        *lap = ended;
        let label = call_label_availability();
        let mut succeeded = 0;
        for (&request_id, result) in group.ids.iter().zip(&results) {
            match result {
                Ok(available) => {
                    succeeded += 1;
                    encode_availability_reply(request_id, *available, &mut self.out);
                }
                Err(error) => {
                    let error = WireError::from(error);
                    self.shared.metrics.record_call(label, Err(error.code), each);
                    self.encode(&ResponseFrame { request_id, response: Response::Reply(Reply::Error(error)) });
                }
            }
        }
        self.shared.metrics.record_successes(label, succeeded, each);
        self.leave(count as u32);
        group.ids.clear();
        group.queries.clear();
        self.query_results = results;
    }

    /// Runs an admitted `AvailabilityBatch` decoded without allocating its names.
    fn on_availability_batch(
        &mut self,
        request_id: u64,
        skus: &[&str],
        scope: ScopeName<'_>,
        measure: Availability,
        lap: &mut Instant,
    ) {
        let result = self.shared.durable.engine().availability_batch_named(skus, scope, measure);
        let ended = Instant::now();
        let latency = ended.saturating_duration_since(*lap);
        *lap = ended;
        let label = call_label_availability_batch();
        match result {
            Ok(available) => {
                self.shared.metrics.record_call(label, Ok(()), latency);
                encode_availability_batch_reply(request_id, &available, &mut self.out);
            }
            Err(error) => {
                let error = WireError::from(&error);
                self.shared.metrics.record_call(label, Err(error.code), latency);
                self.encode(&ResponseFrame { request_id, response: Response::Reply(Reply::Error(error)) });
            }
        }
        self.leave(1);
    }

    fn on_request(&mut self, frame: RequestFrame, lap: &mut Instant) {
        let RequestFrame { request_id, request } = frame;
        if let Request::Hello { protocol_version, token } = &request {
            return self.on_hello(request_id, *protocol_version, token);
        }
        if let Request::Subscribe(subscription) = request {
            return self.on_subscribe(request_id, subscription);
        }
        if let Request::Resync { skus } = request {
            return self.on_resync(request_id, &skus);
        }
        let batch_calls = match &request {
            Request::Batch(calls) => Some(calls.len()),
            _ => None,
        };
        if !self.admit(request_id, request.required_role(), batch_calls) {
            return;
        }
        // `lap` is when the previous request of this read finished: close enough to
        // this one's arrival for a deadline of seconds, and no extra clock read.
        let deadline = *lap + Duration::from_millis(self.shared.wire_limits.request_deadline_ms);
        let heavy = match &request {
            Request::Call(call) => dispatch::is_heavy(call),
            Request::Batch(calls) => calls.iter().any(dispatch::is_heavy),
            Request::Hello { .. } | Request::Subscribe(_) | Request::Resync { .. } => false,
        };
        if heavy {
            self.run_on_worker(request_id, request, deadline);
        } else {
            let (response, lsn) = run_request(&self.shared, request, lap);
            self.hold_until_durable(lsn, deadline, ResponseFrame { request_id, response });
        }
    }

    fn run_on_worker(&mut self, request_id: u64, request: Request, deadline: Instant) {
        let Ok(permit) = self.shared.heavy_slots.clone().try_acquire_owned() else {
            self.leave_one();
            return self.refuse(request_id, ErrorCode::Overloaded, "too many heavy calls queued".to_owned());
        };
        let shared = self.shared.clone();
        let finished = self.finished_tx.clone();
        self.at_workers += 1;
        tokio::task::spawn_blocking(move || {
            let (response, lsn) = if Instant::now() >= deadline {
                let error = WireError::new(ErrorCode::DeadlineExceeded, "the request waited past its deadline");
                (Response::Error(error), 0)
            } else {
                run_request(&shared, request, &mut Instant::now())
            };
            drop(permit);
            let _ = finished.send(Finished { lsn, deadline, frame: ResponseFrame { request_id, response } });
        });
    }

    /// Sends a response now if nothing it reports needs the log, else holds it.
    fn hold_until_durable(&mut self, lsn: u64, deadline: Instant, frame: ResponseFrame) {
        if lsn == 0 || self.shared.durable.is_durable(lsn) {
            return self.complete(frame);
        }
        // Keep `awaiting` sorted by LSN (a worker's result may come back behind
        // later inline writes).
        let at = self.awaiting.partition_point(|held| held.lsn <= lsn);
        self.awaiting.insert(at, Awaiting { lsn, deadline, frame });
    }

    fn release_durable(&mut self) {
        if let Some(failure) = self.shared.durable.wal().and_then(|wal| wal.failure()) {
            let message = format!("applied in memory but the log failed: {failure}");
            while let Some(held) = self.awaiting.pop_front() {
                self.complete_as_error(held.frame, ErrorCode::NotDurable, &message);
            }
            return;
        }
        while let Some(front) = self.awaiting.front() {
            if !self.shared.durable.is_durable(front.lsn) {
                break;
            }
            let held = self.awaiting.pop_front().expect("front exists");
            self.complete(held.frame);
        }
    }

    fn expire_deadlines(&mut self) {
        let now = Instant::now();
        if self.awaiting.iter().all(|held| held.deadline > now) {
            return;
        }
        let (expired, kept): (Vec<_>, Vec<_>) = self.awaiting.drain(..).partition(|held| held.deadline <= now);
        self.awaiting = kept.into();
        for held in expired {
            let message = "applied, but not durable within the request deadline: the outcome is unknown; retry if safe";
            self.complete_as_error(held.frame, ErrorCode::DeadlineExceeded, message);
        }
    }

    /// Queues the response of a request that was in flight.
    fn complete(&mut self, frame: ResponseFrame) {
        self.leave_one();
        self.encode(&frame);
    }

    /// Answers a request whose calls ran but whose outcome cannot be acknowledged
    /// (the log failed, or its deadline passed first): each call's reply becomes the
    /// error, which says the outcome is unknown.
    fn complete_as_error(&mut self, mut frame: ResponseFrame, code: ErrorCode, message: &str) {
        self.shared.metrics.record_refused_request(code);
        let error = || Reply::Error(WireError::new(code, message));
        match &mut frame.response {
            Response::Batch(replies) => replies.iter_mut().for_each(|reply| *reply = error()),
            response => *response = Response::Reply(error()),
        }
        self.complete(frame);
    }

    fn leave_one(&mut self) {
        self.leave(1);
    }

    /// `count` requests of this stream are no longer in flight.
    fn leave(&mut self, count: u32) {
        self.in_flight -= count;
        self.connection.in_flight.fetch_sub(count, Ordering::AcqRel);
        self.shared.metrics.in_flight_add(-i64::from(count));
    }

    /// Answers a request that was refused as a whole (it was never in flight).
    fn refuse(&mut self, request_id: u64, code: ErrorCode, message: String) {
        self.shared.metrics.record_refused_request(code);
        self.respond_error(request_id, code, message);
    }

    fn respond_error(&mut self, request_id: u64, code: ErrorCode, message: String) {
        self.encode(&ResponseFrame { request_id, response: Response::Error(WireError::new(code, message)) });
    }

    fn encode(&mut self, frame: &ResponseFrame) {
        let limit = self.shared.wire_limits.max_frame_bytes;
        let mark = self.out.len();
        if let Response::Reply(reply) = &frame.response {
            if let Some(outcome) = as_reserve_outcome(reply) {
                // Written by hand; one that would not fit takes the ordinary path,
                // which answers LIMIT_EXCEEDED.
                let written = encode_reserve_reply(frame.request_id, outcome, &mut self.out);
                if written - FRAME_HEADER_BYTES <= limit as usize {
                    return;
                }
                self.out.truncate(mark);
            }
        }
        if let Err(error) = encode_frame(frame, limit, &mut self.out) {
            self.out.truncate(mark);
            let message = format!("the response does not fit in a frame: {error}");
            let fallback = ResponseFrame {
                request_id: frame.request_id,
                response: Response::Error(WireError::new(ErrorCode::LimitExceeded, message)),
            };
            encode_frame(&fallback, limit, &mut self.out).expect("a short error always fits a frame");
        }
    }

    /// Starts this stream's change-feed subscription (docs/FEED.md), or refuses it.
    fn on_subscribe(&mut self, request_id: u64, subscription: WireSubscription) {
        let Some(role) = self.connection.role() else {
            return self.refuse(request_id, ErrorCode::Unauthenticated, "say Hello first".to_owned());
        };
        if role < crate::protocol::Role::Read {
            return self.refuse(request_id, ErrorCode::Forbidden, "the change feed needs the read role".to_owned());
        }
        if self.feed.is_some() {
            let message = "this stream already carries a subscription: open another stream for another one";
            return self.refuse(request_id, ErrorCode::BadFrame, message.to_owned());
        }
        match self.shared.feed.subscribe(convert::subscription_spec(subscription)) {
            Ok(subscriber) => {
                let subscription_id = subscriber.id();
                tracing::debug!(subscription_id, "change-feed subscription started");
                self.encode(&ResponseFrame { request_id, response: Response::Subscribed { subscription_id } });
                self.feed = Some(Feed { request_id, subscriber });
            }
            Err(error) => self.refuse(request_id, feed_error_code(&error), error.to_string()),
        }
    }

    /// Asks the hub for the current values of these SKUs' keys, in order with the
    /// subscription's other events.
    fn on_resync(&mut self, request_id: u64, skus: &[String]) {
        if self.connection.role().is_none() {
            return self.refuse(request_id, ErrorCode::Unauthenticated, "say Hello first".to_owned());
        }
        let Some(feed) = &self.feed else {
            let message = "Resync needs a subscription on this stream (send Subscribe first)";
            return self.refuse(request_id, ErrorCode::BadFrame, message.to_owned());
        };
        match feed.subscriber.resync(skus) {
            Ok(()) => self.encode(&ResponseFrame { request_id, response: Response::ResyncScheduled }),
            Err(error) => self.refuse(request_id, feed_error_code(&error), error.to_string()),
        }
    }

    /// Sends the events just taken from the subscription; none means the hub stopped.
    fn on_events(&mut self, taken: usize, events: &mut Vec<FeedEvent>) {
        let Some(feed) = &self.feed else { return };
        let request_id = feed.request_id;
        if taken == 0 {
            self.feed = None;
            let error = WireError::new(ErrorCode::Overloaded, "the change feed stopped (the server is shutting down)");
            return self.encode(&ResponseFrame { request_id, response: Response::Error(error) });
        }
        let wire = events.drain(..).map(|event| convert::feed_event(&event)).collect();
        self.encode(&ResponseFrame { request_id, response: Response::Events(wire) });
    }

    fn on_hello(&mut self, request_id: u64, protocol_version: u16, token: &str) {
        if self.connection.role().is_some() {
            return self.refuse(request_id, ErrorCode::BadFrame, "the connection is already authenticated".to_owned());
        }
        if protocol_version != PROTOCOL_VERSION {
            self.refuse(
                request_id,
                ErrorCode::UnsupportedVersion,
                format!("this server speaks protocol version {PROTOCOL_VERSION}, not {protocol_version}"),
            );
            self.close_after_write = Some((close::UNSUPPORTED_VERSION, "unsupported protocol version"));
            return;
        }
        match self.shared.tokens.authenticate(token) {
            Some(grant) => {
                let role = grant.role;
                self.connection.authenticate(role, &grant.name);
                let limits = self.shared.wire_limits;
                let response = Response::Welcome { protocol_version: PROTOCOL_VERSION, role, limits };
                self.encode(&ResponseFrame { request_id, response });
            }
            None => {
                self.refuse(request_id, ErrorCode::Unauthenticated, "unknown token".to_owned());
                self.close_after_write = Some((close::UNAUTHENTICATED, "unknown token"));
            }
        }
    }
}

/// The wire code of a refused subscription or resync.
fn feed_error_code(error: &FeedError) -> ErrorCode {
    match error {
        FeedError::TooManySubscribers { .. } | FeedError::Stopped => ErrorCode::Overloaded,
        FeedError::TooManySkus { .. } | FeedError::TooManyScopes { .. } => ErrorCode::LimitExceeded,
        FeedError::NoScopes | FeedError::InvalidSku { .. } => ErrorCode::InvalidArgument,
        FeedError::UnknownChannel(_) => ErrorCode::UnknownEntity,
    }
}

/// Waits for the subscription's next events (forever when there is none).
async fn next_events(feed: &Option<Feed>, out: &mut Vec<FeedEvent>, max: usize) -> usize {
    match feed {
        Some(feed) => feed.subscriber.next_batch(out, max).await,
        None => std::future::pending().await,
    }
}

/// Runs a call or a batch (never `Hello`, which is answered before dispatch) and
/// returns its response and the log position it must wait for.
fn run_request(shared: &ServerShared, request: Request, lap: &mut Instant) -> (Response, u64) {
    match request {
        Request::Call(call) => {
            let (mut replies, lsn) = run_calls(shared.services(), [&call], lap);
            (Response::Reply(replies.pop().expect("one reply per call")), lsn)
        }
        Request::Batch(calls) => {
            let (replies, lsn) = run_calls(shared.services(), &calls, lap);
            (Response::Batch(replies), lsn)
        }
        Request::Hello { .. } | Request::Subscribe(_) | Request::Resync { .. } => {
            unreachable!("Hello, Subscribe and Resync are answered before dispatch")
        }
    }
}
