//! Raw pipelines: a stream of their own per pipeline, for load generators and
//! benchmarks (see [`Pipeline`]).

use super::connection::*;
use super::error::ClientError;
use crate::protocol::hot::{decode_availability_reply, encode_hot_request, HotCall};
use crate::protocol::{
    decode_response_frame, encode_frame, FrameDecoder, FrameError, Limits, Reply, Request, RequestFrame, Response,
    ResponseFrame, FRAME_HEADER_BYTES,
};
use quinn::{RecvStream, SendStream};
use std::collections::VecDeque;
use std::sync::Arc;
use tokio::sync::TryAcquireError;

/// A raw pipeline on a stream of its own, for load generators and benchmarks: queue
/// many requests, flush once, read the responses as they come (in any order: match
/// them by the ids [`queue`](Pipeline::queue) returned). No task, no lock, no retry,
/// no per-request allocation beyond the encoding; used from one task.
///
/// Requests in flight count against the connection's `max_in_flight` together with
/// the client's calls: [`flush`](Pipeline::flush) sends only what fits, reading this
/// pipeline's own responses meanwhile (they are kept for
/// [`next_response`](Pipeline::next_response)) until the rest fits.
///
/// The pipeline lives on the connection current when it was opened: if that
/// connection is lost, the pipeline fails (open a new one). Closing the client closes
/// its pipelines.
pub struct Pipeline {
    conn: Arc<Conn>,
    send: SendStream,
    recv: RecvStream,
    id_base: u64,
    sequence: u32,
    /// Encoded frames queued and not yet sent.
    out: Vec<u8>,
    /// The length of each frame in `out`, in order.
    queued: VecDeque<usize>,
    /// A queued request that could not be encoded: reported by the next `flush`.
    refused: Option<ClientError>,
    decoder: FrameDecoder,
    buffer: Vec<u8>,
    /// Responses read and not yet returned.
    ready: VecDeque<Result<ResponseFrame, ClientError>>,
    /// Permits held: requests sent and not yet answered.
    held: usize,
    /// Requests queued whose responses `next_response` has not returned yet.
    unreturned: usize,
    broken: Option<Failure>,
}

impl Pipeline {
    pub(super) fn new(
        conn: Arc<Conn>,
        send: SendStream,
        recv: RecvStream,
        id_base: u64,
        decoder: FrameDecoder,
    ) -> Self {
        Pipeline {
            conn,
            send,
            recv,
            id_base,
            sequence: 0,
            out: Vec::new(),
            queued: VecDeque::new(),
            refused: None,
            decoder,
            buffer: vec![0; READ_BUFFER_BYTES],
            ready: VecDeque::new(),
            held: 0,
            unreturned: 0,
            broken: None,
        }
    }

    /// Queues `request` (encoded now, sent by [`flush`](Pipeline::flush)) and returns
    /// its request id. A request larger than the server's `max_frame_bytes` is not
    /// queued: the next `flush` reports it.
    pub fn queue(&mut self, request: Request) -> u64 {
        self.sequence = self.sequence.wrapping_add(1).max(1);
        let request_id = self.id_base | u64::from(self.sequence);
        let begin = self.out.len();
        match encode_frame(&RequestFrame { request_id, request }, self.conn.mux.max_frame_bytes, &mut self.out) {
            Ok(()) => {
                self.queued.push_back(self.out.len() - begin);
                self.unreturned += 1;
            }
            Err(error) => {
                if self.refused.is_none() {
                    self.refused = Some(ClientError::LimitExceeded(format!("request {request_id}: {error}")));
                }
            }
        }
        request_id
    }

    /// Queues an availability query (one SKU or a batch) given by borrowed names, as
    /// [`queue`](Pipeline::queue) would queue the same `Call`, without building it:
    /// the frame is written straight into the send buffer (the same bytes).
    pub fn queue_hot(&mut self, call: &HotCall<'_>) -> u64 {
        self.sequence = self.sequence.wrapping_add(1).max(1);
        let request_id = self.id_base | u64::from(self.sequence);
        let begin = self.out.len();
        let length = encode_hot_request(request_id, call, &mut self.out);
        let limit = self.conn.mux.max_frame_bytes;
        if length - FRAME_HEADER_BYTES > limit as usize {
            self.out.truncate(begin);
            if self.refused.is_none() {
                let error = FrameError::Oversized { length: (length - FRAME_HEADER_BYTES) as u64, limit };
                self.refused = Some(ClientError::LimitExceeded(format!("request {request_id}: {error}")));
            }
        } else {
            self.queued.push_back(length);
            self.unreturned += 1;
        }
        request_id
    }

    /// Requests queued or sent whose responses [`next_response`](Pipeline::next_response)
    /// has not returned yet.
    pub fn in_flight(&self) -> usize {
        self.unreturned
    }

    /// The limits of the connection the pipeline is on.
    pub fn limits(&self) -> Limits {
        self.conn.limits
    }

    /// Sends everything queued, in as few writes as the server's `max_in_flight`
    /// allows (one when there is room for all of it).
    pub async fn flush(&mut self) -> Result<(), ClientError> {
        if let Some(error) = self.refused.take() {
            return Err(error);
        }
        if let Some(failure) = &self.broken {
            return Err(failure.to_error());
        }
        while !self.queued.is_empty() {
            let count = self.take_permits().await?;
            let bytes: usize = self.queued.drain(..count).sum();
            let written = self.send.write_all(&self.out[..bytes]).await;
            self.out.drain(..bytes);
            self.held += count;
            if let Err(error) = written {
                return Err(self.break_with(Failure::lost(format!("cannot send: {error}"))));
            }
        }
        Ok(())
    }

    /// The next response to arrive (not necessarily to the oldest request). Waits at
    /// most the client's `request_timeout` for bytes.
    pub async fn next_response(&mut self) -> Result<ResponseFrame, ClientError> {
        loop {
            if let Some(item) = self.ready.pop_front() {
                self.unreturned -= 1;
                return item;
            }
            if let Some(failure) = &self.broken {
                return Err(failure.to_error());
            }
            if self.held == 0 {
                return Err(ClientError::NothingInFlight);
            }
            let read = match tokio::time::timeout(self.conn.request_timeout, self.recv.read(&mut self.buffer)).await {
                Ok(read) => read,
                Err(_elapsed) => return Err(ClientError::Timeout),
            };
            self.absorb(read)?;
        }
    }

    /// Permits for the next frames queued: as many as are free (at least one),
    /// waiting for one when none is.
    async fn take_permits(&mut self) -> Result<usize, ClientError> {
        let gate = self.conn.mux.gate.clone();
        loop {
            let wanted = self.queued.len().min(u32::MAX as usize);
            let available = gate.available_permits().min(wanted);
            if available > 0 {
                match gate.try_acquire_many(available as u32) {
                    Ok(permits) => {
                        permits.forget();
                        return Ok(available);
                    }
                    Err(TryAcquireError::Closed) => return Err(self.connection_lost()),
                    // Taken meanwhile by another thread: look again.
                    Err(TryAcquireError::NoPermits) => continue,
                }
            }
            if self.held > 0 {
                // Our own responses free permits too: read them while waiting.
                tokio::select! {
                    permit = gate.acquire() => match permit {
                        Ok(permit) => {
                            permit.forget();
                            return Ok(1);
                        }
                        Err(_closed) => return Err(self.connection_lost()),
                    },
                    read = self.recv.read(&mut self.buffer) => self.absorb(read)?,
                }
            } else {
                match tokio::time::timeout(self.conn.request_timeout, gate.acquire()).await {
                    Ok(Ok(permit)) => {
                        permit.forget();
                        return Ok(1);
                    }
                    Ok(Err(_closed)) => return Err(self.connection_lost()),
                    Err(_elapsed) => return Err(ClientError::Timeout),
                }
            }
        }
    }

    fn connection_lost(&mut self) -> ClientError {
        let failure = match self.conn.connection.close_reason() {
            Some(error) => Failure::lost(describe_connection_error(&error)),
            None => Failure::lost("the connection failed"),
        };
        self.break_with(failure)
    }

    /// Takes in the bytes of one read: every whole response goes to `ready`.
    fn absorb(&mut self, read: Result<Option<usize>, quinn::ReadError>) -> Result<(), ClientError> {
        let read = match read {
            Ok(Some(read)) => read,
            Ok(None) => return Err(self.break_with(Failure::lost("the server ended the stream"))),
            Err(quinn::ReadError::ConnectionLost(error)) => {
                return Err(self.break_with(Failure::lost(describe_connection_error(&error))))
            }
            Err(error) => return Err(self.break_with(Failure::lost(error.to_string()))),
        };
        self.decoder.push(&self.buffer[..read]);
        let mut answered = 0;
        let fatal = loop {
            match self.decoder.next_payload() {
                Ok(Some(payload)) => {
                    answered += 1;
                    // The most common answer without the general decoder.
                    let item = match decode_availability_reply(payload) {
                        Some((request_id, available)) => Ok(ResponseFrame {
                            request_id,
                            response: Response::Reply(Reply::Availability { available }),
                        }),
                        None => decode_response_frame(payload)
                            .map_err(|error| ClientError::Protocol(format!("a response does not decode: {error}"))),
                    };
                    self.ready.push_back(item);
                }
                Ok(None) => break None,
                Err(error) => break Some(Failure::protocol(format!("the server broke the framing: {error}"))),
            }
        };
        let answered = answered.min(self.held);
        self.held -= answered;
        if answered > 0 {
            self.conn.mux.gate.add_permits(answered);
        }
        match fatal {
            Some(failure) => Err(self.break_with(failure)),
            None => Ok(()),
        }
    }

    fn break_with(&mut self, failure: Failure) -> ClientError {
        let error = failure.to_error();
        self.broken.get_or_insert(failure);
        error
    }
}

impl Drop for Pipeline {
    fn drop(&mut self) {
        // The stream goes away with its requests: give their room back.
        if self.held > 0 {
            self.conn.mux.gate.add_permits(self.held);
        }
    }
}
