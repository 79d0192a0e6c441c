//! The availability change feed (docs/FEED.md): a [`Subscription`] on a stream of
//! its own, read as an async sequence of events.

use super::connection::{describe_connection_error, Conn, Failure, READ_BUFFER_BYTES};
use super::error::ClientError;
use super::{response_name, Client};
use crate::protocol::{
    decode_response_frame, encode_frame, FrameDecoder, Request, RequestFrame, Response, WireFeedEvent,
    WireSubscription, MAX_FRAME_BYTES_CEILING,
};
use futures_util::stream::Stream;
use quinn::{RecvStream, SendStream};
use std::collections::VecDeque;
use std::sync::Arc;

/// The request id of a subscription's `Subscribe` (each subscription has its own stream);
/// its `Resync` requests count up from the next one.
const SUBSCRIBE_ID: u64 = 1;

/// A change-feed subscription: events arrive in the order the server sent them. The
/// server coalesces bursts and never lets a slow subscriber hold back writers: a
/// subscriber that falls too far behind gets the latest values marked `gap: true`.
/// Dropping it (or [`close`](Subscription::close)) ends the subscription.
///
/// Lives on the connection current when it was made; if that connection is lost,
/// [`next`](Subscription::next) fails and a new subscription must be made (it starts
/// again with `Snapshot` events, so nothing is missed).
pub struct Subscription {
    // Keeps the connection open for as long as the subscription lives.
    conn: Arc<Conn>,
    send: SendStream,
    recv: RecvStream,
    decoder: FrameDecoder,
    buffer: Vec<u8>,
    ready: VecDeque<WireFeedEvent>,
    id: u64,
    ended: bool,
    /// The request id of the last `Resync` sent.
    last_request: u64,
}

impl Client {
    /// Starts a change-feed subscription on a new stream and waits for the server to
    /// accept it (a refusal, such as an unknown channel or too many subscribers, is
    /// `ClientError::Refused`).
    pub async fn subscribe(&self, subscription: WireSubscription) -> Result<Subscription, ClientError> {
        let conn = self.connection().await?;
        let (mut send, recv) = conn
            .connection
            .open_bi()
            .await
            .map_err(|error| ClientError::ConnectionLost(describe_connection_error(&error)))?;
        let mut frame = Vec::new();
        let request = RequestFrame { request_id: SUBSCRIBE_ID, request: Request::Subscribe(subscription) };
        encode_frame(&request, conn.limits.max_frame_bytes, &mut frame)
            .map_err(|error| ClientError::LimitExceeded(format!("the subscription: {error}")))?;
        send.write_all(&frame).await.map_err(|error| ClientError::ConnectionLost(error.to_string()))?;
        let decoder = FrameDecoder::new(MAX_FRAME_BYTES_CEILING.max(conn.limits.max_frame_bytes));
        let timeout = conn.request_timeout;
        let mut subscription = Subscription {
            conn,
            send,
            recv,
            decoder,
            buffer: vec![0; READ_BUFFER_BYTES],
            ready: VecDeque::new(),
            id: 0,
            ended: false,
            last_request: SUBSCRIBE_ID,
        };
        match tokio::time::timeout(timeout, subscription.next_response()).await {
            Err(_elapsed) => Err(ClientError::Timeout),
            Ok(Err(error)) => Err(error),
            Ok(Ok(None)) => Err(ClientError::ConnectionLost("the server ended the subscription's stream".into())),
            Ok(Ok(Some(Response::Subscribed { subscription_id }))) => {
                subscription.id = subscription_id;
                Ok(subscription)
            }
            Ok(Ok(Some(Response::Error(error)))) => Err(ClientError::Refused(error)),
            Ok(Ok(Some(other))) => Err(ClientError::Protocol(format!(
                "expected Subscribed, the server answered {}",
                response_name(&other)
            ))),
        }
    }
}

impl Subscription {
    /// The server's id of this subscription (for its logs).
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The next event; `Ok(None)` once the server ended the subscription (it is
    /// shutting down). Waits as long as it takes: events come only when values change.
    pub async fn next(&mut self) -> Result<Option<WireFeedEvent>, ClientError> {
        loop {
            if let Some(event) = self.ready.pop_front() {
                return Ok(Some(event));
            }
            match self.next_response().await? {
                None => return Ok(None),
                Some(Response::Events(events)) => self.ready.extend(events),
                Some(Response::ResyncScheduled) => {}
                Some(Response::Error(error)) => return Err(ClientError::Refused(error)),
                Some(other) => {
                    return Err(ClientError::Protocol(format!(
                        "expected Events, the server answered {}",
                        response_name(&other)
                    )))
                }
            }
        }
    }

    /// Asks for the current value of every key this subscription watches for `skus`:
    /// they come as `Snapshot` events with `gap: true`, in order with the other events
    /// (what an every-SKU subscriber does after a resync marker; docs/FEED.md). A
    /// refusal (too many SKUs, an invalid one) comes back from [`next`](Self::next).
    pub async fn resync(&mut self, skus: Vec<String>) -> Result<(), ClientError> {
        self.last_request += 1;
        let frame = RequestFrame { request_id: self.last_request, request: Request::Resync { skus } };
        let mut bytes = Vec::new();
        encode_frame(&frame, self.conn.limits.max_frame_bytes, &mut bytes)
            .map_err(|error| ClientError::LimitExceeded(format!("the resync: {error}")))?;
        self.send.write_all(&bytes).await.map_err(|error| ClientError::ConnectionLost(error.to_string()))
    }

    /// Every event already received, without waiting (possibly none).
    pub fn drain_ready(&mut self) -> Vec<WireFeedEvent> {
        self.ready.drain(..).collect()
    }

    /// The events as a `Stream` (for `StreamExt` combinators); it ends when the server
    /// ends the subscription, after yielding an error if it broke.
    pub fn into_stream(self) -> impl Stream<Item = Result<WireFeedEvent, ClientError>> {
        futures_util::stream::unfold(Some(self), |state| async move {
            let mut subscription = state?;
            match subscription.next().await {
                Ok(Some(event)) => Some((Ok(event), Some(subscription))),
                Ok(None) => None,
                Err(error) => Some((Err(error), None)),
            }
        })
    }

    /// Ends the subscription: tells the server, which stops sending.
    pub async fn close(mut self) {
        let _ = self.send.finish();
        let _ = tokio::time::timeout(std::time::Duration::from_secs(1), self.send.stopped()).await;
    }

    /// The next whole response frame on the stream (`None`: the stream ended).
    async fn next_response(&mut self) -> Result<Option<Response>, ClientError> {
        loop {
            match self.decoder.next_payload() {
                Ok(Some(payload)) => {
                    let frame = decode_response_frame(payload)
                        .map_err(|error| ClientError::Protocol(format!("a feed frame does not decode: {error}")))?;
                    return Ok(Some(frame.response));
                }
                Ok(None) => {}
                Err(error) => {
                    return Err(Failure::protocol(format!("the server broke the framing: {error}")).to_error())
                }
            }
            if self.ended {
                return Ok(None);
            }
            match self.recv.read(&mut self.buffer).await {
                Ok(Some(read)) => self.decoder.push(&self.buffer[..read]),
                Ok(None) => self.ended = true,
                Err(quinn::ReadError::ConnectionLost(error)) => {
                    return Err(ClientError::ConnectionLost(describe_connection_error(&error)))
                }
                Err(error) => return Err(ClientError::ConnectionLost(error.to_string())),
            }
        }
    }
}
