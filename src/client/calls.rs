//! Typed helpers: one call each (split only where the server's limits demand it),
//! returning the reply's payload, a refusal as [`ClientError::Refused`], and a reply
//! of the wrong shape as [`ClientError::Protocol`].

use super::error::ClientError;
use super::retry::Attempt;
use super::{batch_replies, reply_name, Client};
use crate::codec;
use crate::engine::RestockRequest;
use crate::engine::{AdjustReason, Availability, AvailabilityScope, Operation, PartialStep, ReserveRequest};
use crate::model::PositionRow;
use crate::protocol::{
    Applied, Call, Reply, Request, WireBulkLoad, WireChannelAvailability, WirePosition, WireReservation,
    WireReserveOutcome, WireSnapshot, WireStats, WireVerifyReport,
};
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Bytes of a request frame around a bulk load's rows: the request id (at most 9),
/// the variant tags of `Call`, `Apply` and `BulkLoad`, the row count (at most 9).
const BULK_LOAD_OVERHEAD: usize = 32;

/// Rejections a bulk load reports, as the server does.
const MAX_REPORTED_REJECTIONS: usize = 100;

pub(super) fn unexpected(expected: &str, reply: &Reply) -> ClientError {
    ClientError::Protocol(format!("expected {expected}, the server answered {}", reply_name(reply)))
}

pub(super) fn unexpected_applied(expected: &str, applied: &Applied) -> ClientError {
    let got = match applied {
        Applied::Locations(_) => "Applied::Locations",
        Applied::Done => "Applied::Done",
        Applied::Reserved(_) => "Applied::Reserved",
        Applied::Reservation(_) => "Applied::Reservation",
        Applied::Expiry(_) => "Applied::Expiry",
        Applied::Position(_) => "Applied::Position",
        Applied::BulkLoad(_) => "Applied::BulkLoad",
        Applied::Sourced(_) => "Applied::Sourced",
    };
    ClientError::Protocol(format!("expected {expected}, the server answered {got}"))
}

impl Client {
    /// A round trip: the time from sending `Ping` to reading `Pong`.
    pub async fn ping(&self) -> Result<Duration, ClientError> {
        let start = Instant::now();
        match self.call(Call::Ping).await? {
            Reply::Pong { .. } => Ok(start.elapsed()),
            other => Err(unexpected("Pong", &other)),
        }
    }

    pub async fn position(&self, sku: &str, location: &str) -> Result<WirePosition, ClientError> {
        match self.call(Call::Position { sku: sku.to_string(), location: location.to_string() }).await? {
            Reply::Position(position) => Ok(position),
            other => Err(unexpected("Position", &other)),
        }
    }

    pub async fn availability(
        &self,
        sku: &str,
        scope: AvailabilityScope,
        measure: Availability,
    ) -> Result<u64, ClientError> {
        match self.call(Call::Availability { sku: sku.to_string(), scope, measure }).await? {
            Reply::Availability { available } => Ok(available),
            other => Err(unexpected("Availability", &other)),
        }
    }

    pub async fn channel_availability(
        &self,
        sku: &str,
        channel: &str,
        breakdown: bool,
    ) -> Result<WireChannelAvailability, ClientError> {
        let call = Call::ChannelAvailability { sku: sku.to_string(), channel: channel.to_string(), breakdown };
        match self.call(call).await? {
            Reply::ChannelAvailability(availability) => Ok(availability),
            other => Err(unexpected("ChannelAvailability", &other)),
        }
    }

    /// One number per SKU, in the order asked. More SKUs than the server's
    /// `max_batch_skus` are split over several `AvailabilityBatch` calls (sent in as
    /// few batches as possible).
    pub async fn availability_batch(
        &self,
        skus: Vec<String>,
        scope: AvailabilityScope,
        measure: Availability,
    ) -> Result<Vec<u64>, ClientError> {
        let per_call = (self.limits().max_batch_skus as usize).max(1);
        if skus.len() <= per_call {
            let count = skus.len();
            return match self.call(Call::AvailabilityBatch { skus, scope, measure }).await? {
                Reply::AvailabilityBatch { available } if available.len() == count => Ok(available),
                Reply::AvailabilityBatch { available } => {
                    Err(ClientError::Protocol(format!("{count} SKUs asked, {} numbers answered", available.len())))
                }
                other => Err(unexpected("AvailabilityBatch", &other)),
            };
        }
        let counts: Vec<usize> = skus.chunks(per_call).map(<[String]>::len).collect();
        let mut skus = skus.into_iter();
        let calls = counts
            .iter()
            .map(|&count| Call::AvailabilityBatch {
                skus: skus.by_ref().take(count).collect(),
                scope: scope.clone(),
                measure,
            })
            .collect();
        let mut all = Vec::with_capacity(counts.iter().sum());
        for (reply, count) in self.batch_chunked(calls).await?.into_iter().zip(counts) {
            match reply {
                Reply::AvailabilityBatch { available } if available.len() == count => all.extend(available),
                Reply::Error(error) => return Err(ClientError::Refused(error)),
                other => return Err(unexpected("AvailabilityBatch", &other)),
            }
        }
        Ok(all)
    }

    pub async fn reservation(&self, id: &str) -> Result<WireReservation, ClientError> {
        match self.call(Call::Reservation { id: id.to_string() }).await? {
            Reply::Reservation(reservation) => Ok(*reservation),
            other => Err(unexpected("Reservation", &other)),
        }
    }

    pub async fn stats(&self) -> Result<WireStats, ClientError> {
        match self.call(Call::Stats).await? {
            Reply::Stats(stats) => Ok(stats),
            other => Err(unexpected("Stats", &other)),
        }
    }

    pub async fn verify(&self) -> Result<WireVerifyReport, ClientError> {
        match self.call(Call::Verify).await? {
            Reply::Verify(report) => Ok(report),
            other => Err(unexpected("Verify", &other)),
        }
    }

    pub async fn take_snapshot(&self) -> Result<WireSnapshot, ClientError> {
        match self.call(Call::TakeSnapshot).await? {
            Reply::SnapshotTaken(snapshot) => Ok(snapshot),
            other => Err(unexpected("SnapshotTaken", &other)),
        }
    }

    /// Any write. Retried only if [`is_safe_to_retry`](super::is_safe_to_retry).
    pub async fn apply(&self, operation: Operation) -> Result<Applied, ClientError> {
        match self.call(Call::Apply(operation)).await? {
            Reply::Applied(applied) => Ok(applied),
            other => Err(unexpected("Applied", &other)),
        }
    }

    /// Holds stock under `request.id`. Retries resend the same request: a reserve that
    /// was applied before its answer was lost is answered from the first outcome
    /// (`replayed: true`), never held twice.
    pub async fn reserve(&self, request: ReserveRequest) -> Result<WireReserveOutcome, ClientError> {
        match self.apply(Operation::Reserve(request)).await? {
            Applied::Reserved(outcome) => Ok(outcome),
            other => Err(unexpected_applied("Applied::Reserved", &other)),
        }
    }

    pub async fn commit(&self, id: &str) -> Result<WireReservation, ClientError> {
        self.reservation_write(Operation::Commit { id: id.to_string() }).await
    }

    /// The whole reservation (`partial: None`) or one step of it.
    pub async fn release(&self, id: &str, partial: Option<PartialStep>) -> Result<WireReservation, ClientError> {
        self.reservation_write(Operation::Release { id: id.to_string(), partial }).await
    }

    /// The whole reservation (`partial: None`) or one step of it.
    pub async fn fulfil(&self, id: &str, partial: Option<PartialStep>) -> Result<WireReservation, ClientError> {
        self.reservation_write(Operation::Fulfil { id: id.to_string(), partial }).await
    }

    pub async fn extend(&self, id: &str, ttl_ms: u64) -> Result<WireReservation, ClientError> {
        self.reservation_write(Operation::Extend { id: id.to_string(), ttl_ms }).await
    }

    /// Fulfilled units coming back (a return), under a step id (applies once).
    pub async fn restock(&self, request: RestockRequest) -> Result<WirePosition, ClientError> {
        self.position_write(Operation::Restock(request)).await
    }

    /// A delta on hand. Never retried: after [`ClientError::ConnectionLost`] or
    /// [`ClientError::Timeout`] its outcome is unknown (read the position's `version`).
    pub async fn adjust(
        &self,
        sku: &str,
        location: &str,
        delta: i64,
        reason: AdjustReason,
        reference: &str,
    ) -> Result<WirePosition, ClientError> {
        let operation = Operation::Adjust {
            sku: sku.to_string(),
            location: location.to_string(),
            delta,
            reason,
            reference: reference.to_string(),
        };
        self.position_write(operation).await
    }

    /// A count. With `expected_version` it is a compare-and-set (and retried); without,
    /// it is not retried.
    pub async fn set_on_hand(
        &self,
        sku: &str,
        location: &str,
        on_hand: u32,
        expected_version: Option<u64>,
    ) -> Result<WirePosition, ClientError> {
        let operation =
            Operation::SetOnHand { sku: sku.to_string(), location: location.to_string(), on_hand, expected_version };
        self.position_write(operation).await
    }

    /// Loads positions, split into as many `BulkLoad` calls as the server's
    /// `max_frame_bytes` requires, sent one after another (so a later row for the same
    /// position wins, as in one load). The counts are summed; rejected rows are
    /// numbered in `rows`, the first 100 listed. Not retried; if a part fails, the
    /// parts before it were applied (rows are absolute: loading them again is harmless).
    pub async fn bulk_load(&self, rows: Vec<PositionRow>) -> Result<WireBulkLoad, ClientError> {
        let budget = (self.limits().max_frame_bytes as usize).saturating_sub(BULK_LOAD_OVERHEAD);
        let mut total = WireBulkLoad::default();
        let mut part = Vec::new();
        let mut part_bytes = 0;
        let mut first_row = 0usize;
        let mut scratch = Vec::new();
        let count = rows.len();
        for (index, row) in rows.into_iter().enumerate() {
            scratch.clear();
            codec::encode_into(&row, &mut scratch);
            if scratch.len() > budget {
                return Err(ClientError::LimitExceeded(format!(
                    "row {index} encodes to {} bytes; a frame holds at most {}",
                    scratch.len(),
                    self.limits().max_frame_bytes
                )));
            }
            if part_bytes + scratch.len() > budget {
                let sent = part.len();
                self.bulk_load_part(std::mem::take(&mut part), first_row, &mut total).await?;
                first_row += sent;
                part_bytes = 0;
            }
            part_bytes += scratch.len();
            part.push(row);
        }
        if !part.is_empty() || count == 0 {
            self.bulk_load_part(part, first_row, &mut total).await?;
        }
        Ok(total)
    }

    async fn bulk_load_part(
        &self,
        rows: Vec<PositionRow>,
        first_row: usize,
        total: &mut WireBulkLoad,
    ) -> Result<(), ClientError> {
        let outcome = match self.apply(Operation::BulkLoad(rows)).await? {
            Applied::BulkLoad(outcome) => outcome,
            other => return Err(unexpected_applied("Applied::BulkLoad", &other)),
        };
        total.inserted += outcome.inserted;
        total.updated += outcome.updated;
        total.unchanged += outcome.unchanged;
        total.rejected += outcome.rejected;
        for mut rejection in outcome.rejections {
            if total.rejections.len() == MAX_REPORTED_REJECTIONS {
                break;
            }
            rejection.row += first_row as u64;
            total.rejections.push(rejection);
        }
        Ok(())
    }

    /// Any number of calls in as few frames as the server allows: batches of at most
    /// `max_batch_calls` (and halved until each fits `max_frame_bytes`), all sent before
    /// the first answer is awaited. One reply per call, in order; per-call refusals stay
    /// in the list. Each batch is retried on its own (if all its calls are safe to).
    pub async fn batch_chunked(&self, calls: Vec<Call>) -> Result<Vec<Reply>, ClientError> {
        let total = calls.len();
        let per_batch = (self.limits().max_batch_calls as usize).max(1);
        let mut todo: VecDeque<Vec<Call>> = VecDeque::new();
        let mut calls = calls.into_iter();
        while calls.len() > 0 {
            todo.push_back(calls.by_ref().take(per_batch).collect());
        }
        // Send every batch first (pipelined), then collect the answers in order.
        let mut sent = Vec::with_capacity(todo.len());
        while let Some(batch) = todo.pop_front() {
            let count = batch.len();
            let request = Request::Batch(batch);
            match self.start(&request).await {
                Ok(pending) => sent.push((request, count, Ok(pending))),
                Err(ClientError::LimitExceeded(reason)) => {
                    let Request::Batch(mut batch) = request else { unreachable!("built as a batch") };
                    if batch.len() == 1 {
                        return Err(ClientError::LimitExceeded(reason));
                    }
                    let second = batch.split_off(batch.len() / 2);
                    todo.push_front(second);
                    todo.push_front(batch);
                }
                Err(error) => sent.push((request, count, Err(error))),
            }
        }
        let mut replies = Vec::with_capacity(total);
        for (request, count, started) in sent {
            let first = match started {
                Ok(pending) => Attempt::Sent(pending.await),
                Err(error) => Attempt::NotSent(error),
            };
            let response = self.settle(&request, first).await?;
            replies.extend(batch_replies(response, count)?);
        }
        Ok(replies)
    }

    async fn reservation_write(&self, operation: Operation) -> Result<WireReservation, ClientError> {
        match self.apply(operation).await? {
            Applied::Reservation(reservation) => Ok(*reservation),
            other => Err(unexpected_applied("Applied::Reservation", &other)),
        }
    }

    async fn position_write(&self, operation: Operation) -> Result<WirePosition, ClientError> {
        match self.apply(operation).await? {
            Applied::Position(position) => Ok(position),
            other => Err(unexpected_applied("Applied::Position", &other)),
        }
    }
}
