//! Which requests may be sent again, and the retry loop.
//!
//! A request is retried only when repeating it cannot do anything twice (by
//! construction, not by luck), and only after a lost connection (reconnecting first)
//! or a refusal whose code [`ErrorCode::is_transient`]. A retry sends the very same
//! request (the same [`Operation`], so the same reservation and step ids) under a new
//! request id: a retried reserve can never hold stock twice.
//!
//! [`ErrorCode::is_transient`]: crate::protocol::ErrorCode::is_transient

use super::connection::{Conn, Pending};
use super::error::ClientError;
use super::Client;
use crate::engine::Operation;
use crate::protocol::{Call, Reply, Request, Response};
use std::sync::Arc;
use std::time::Duration;

/// Whether `operation` may be sent again after its outcome went unknown (a lost
/// connection) or it was refused with a transient code. Exhaustive on purpose: a new
/// operation must be classified here before it compiles.
///
/// Safe by construction:
/// - `Reserve`: the reservation id; a retry with the same lines returns the first
///   outcome (`replayed`), never a second hold.
/// - `Commit`, whole `Release` / `Fulfil`: idempotent by state. Partial `Release` /
///   `Fulfil` and `Restock`: the step id applies once.
/// - `Extend`: sets the expiry to now + ttl, whatever it was.
/// - `SetOnHand` with `expected_version`: a compare-and-set (a repeat after the first
///   applied answers `VERSION_MISMATCH` rather than writing again).
///
/// Never retried: deltas (`Adjust`, `MoveStock`, `ReceiveIncoming`), `SetOnHand`
/// without a version, the catalogue and limit writes, supply references, `BulkLoad`
/// and `ExpireDue`: operator writes whose caller decides (docs/PROTOCOL.md, section 11,
/// lists several of them as idempotent; this client stays on the safe side).
pub fn is_safe_to_retry(operation: &Operation) -> bool {
    use Operation as Op;
    match operation {
        Op::Reserve(_)
        | Op::Commit { .. }
        | Op::Release { .. }
        | Op::Fulfil { .. }
        | Op::Extend { .. }
        | Op::Restock(_) => true,
        // Idempotent by reservation id, like `Reserve`.
        Op::ReserveSourced(_) => true,
        Op::SetOnHand { expected_version, .. } => expected_version.is_some(),
        Op::UpsertLocations(_)
        | Op::UpsertChannel(_)
        | Op::DefineKit { .. }
        | Op::ExpireDue
        | Op::Adjust { .. }
        | Op::SetSafetyStock { .. }
        | Op::SetBackorderLimit { .. }
        | Op::MoveStock { .. }
        | Op::AddIncoming { .. }
        | Op::ReceiveIncoming { .. }
        | Op::CancelIncoming { .. }
        | Op::BulkLoad(_) => false,
    }
}

/// Reads always; writes as [`is_safe_to_retry`] says; never a snapshot (costly, and
/// the caller should see that it failed).
pub fn is_call_safe_to_retry(call: &Call) -> bool {
    match call {
        Call::Ping
        | Call::Position { .. }
        | Call::Availability { .. }
        | Call::ChannelAvailability { .. }
        | Call::AvailabilityBatch { .. }
        | Call::Reservation { .. }
        | Call::Stats
        | Call::Verify
        | Call::FindStores(_)
        | Call::Demand { .. }
        | Call::DemandTop { .. }
        | Call::SourcingProfiles => true,
        // Replacing the profiles with the same document twice leaves the same profiles.
        Call::SetSourcingProfiles { .. } => true,
        Call::Apply(operation) => is_safe_to_retry(operation),
        Call::TakeSnapshot => false,
    }
}

/// A batch when every call of it is.
pub fn is_request_safe_to_retry(request: &Request) -> bool {
    match request {
        Request::Hello { .. } => true,
        Request::Call(call) => is_call_safe_to_retry(call),
        Request::Batch(calls) => calls.iter().all(is_call_safe_to_retry),
        // A subscription lives on a stream of its own and is never sent through the
        // shared stream's retry loop; starting one again is harmless.
        Request::Subscribe(_) | Request::Resync { .. } => true,
    }
}

/// A refusal that may clear if the same request is sent again later. For a batch,
/// only a refusal of the whole (per-call refusals are the caller's to read).
fn transient_refusal(response: &Response) -> bool {
    match response {
        Response::Error(error) | Response::Reply(Reply::Error(error)) => error.code.is_transient(),
        Response::Welcome { .. }
        | Response::Reply(_)
        | Response::Batch(_)
        | Response::Subscribed { .. }
        | Response::Events(_)
        | Response::ResyncScheduled => false,
    }
}

/// The pause before retry number `retry` (from 1): `base` doubled for each retry
/// before it, at most 64 times `base`, plus up to a quarter more at random so that
/// clients that failed together do not retry together.
pub(super) fn backoff(base: Duration, retry: u32) -> Duration {
    let doubled = base.saturating_mul(1 << retry.saturating_sub(1).min(6));
    doubled.saturating_add(doubled.mul_f64(rand::random::<f64>() * 0.25))
}

/// One attempt: either nothing was sent (free to try again), or it was and this is
/// what came back.
pub(super) enum Attempt {
    NotSent(ClientError),
    Sent(Result<Response, ClientError>),
}

impl Attempt {
    fn into_result(self) -> Result<Response, ClientError> {
        match self {
            Attempt::NotSent(error) => Err(error),
            Attempt::Sent(result) => result,
        }
    }
}

impl Client {
    /// The connection, reconnecting first if it was lost (one task reconnects, the
    /// others wait for it).
    pub(super) async fn connection(&self) -> Result<Arc<Conn>, ClientError> {
        let inner = &self.inner;
        if inner.closed.load(std::sync::atomic::Ordering::Acquire) {
            return Err(ClientError::Closed);
        }
        let current = inner.current.load_full();
        if !current.is_failed() {
            return Ok(current);
        }
        use std::sync::atomic::Ordering;
        let attempts_seen = inner.reconnect_attempts.load(Ordering::Acquire);
        let mut last_failure = inner.reconnect.lock().await;
        if inner.closed.load(Ordering::Acquire) {
            return Err(ClientError::Closed);
        }
        let current = inner.current.load_full();
        if !current.is_failed() {
            return Ok(current);
        }
        if inner.reconnect_attempts.load(Ordering::Acquire) != attempts_seen {
            // Another caller tried while this one waited, and failed: share its
            // outcome (its own retry policy decides when to try again).
            if let Some(reason) = last_failure.as_ref() {
                return Err(ClientError::Connect { server: inner.config.server, reason: reason.clone() });
            }
        }
        tracing::debug!(server = %inner.config.server, "reconnecting");
        let attempt = Conn::establish(&inner.endpoint, &inner.quic, &inner.config).await;
        inner.reconnect_attempts.fetch_add(1, Ordering::AcqRel);
        match attempt {
            Ok(fresh) => {
                *last_failure = None;
                inner.current.store(fresh.clone());
                Ok(fresh)
            }
            Err(error) => {
                *last_failure = Some(error.to_string());
                Err(error)
            }
        }
    }

    /// Sends `request` on the shared stream (an error: nothing was sent).
    pub(super) async fn start(&self, request: &Request) -> Result<Pending, ClientError> {
        self.connection().await?.start(request).await
    }

    pub(super) async fn attempt(&self, request: &Request) -> Attempt {
        match self.start(request).await {
            Ok(pending) => Attempt::Sent(pending.await),
            Err(error) => Attempt::NotSent(error),
        }
    }

    /// `request`, retried as the module documentation says.
    pub(super) async fn request(&self, request: &Request) -> Result<Response, ClientError> {
        let first = self.attempt(request).await;
        self.settle(request, first).await
    }

    /// Retries `request` after its first attempt gave `outcome`, while that is allowed.
    pub(super) async fn settle(&self, request: &Request, mut outcome: Attempt) -> Result<Response, ClientError> {
        let safe = is_request_safe_to_retry(request);
        let mut retry = 0;
        loop {
            let again = match &outcome {
                // Nothing was sent: any request may go once there is a connection.
                Attempt::NotSent(error) => {
                    matches!(error, ClientError::Connect { .. } | ClientError::ConnectionLost(_))
                }
                Attempt::Sent(Err(error)) => safe && matches!(error, ClientError::ConnectionLost(_)),
                Attempt::Sent(Ok(response)) => safe && transient_refusal(response),
            };
            if !again || retry >= self.inner.config.retries {
                return outcome.into_result();
            }
            retry += 1;
            let pause = backoff(self.inner.config.retry_backoff, retry);
            tracing::debug!(retry, ?pause, "retrying a request");
            tokio::time::sleep(pause).await;
            outcome = self.attempt(request).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{AdjustReason, LineQuantity, PartialStep, ReserveLine, ReserveRequest, RestockRequest};
    use crate::model::Bucket;

    #[test]
    fn classification_of_operations() {
        let reserve = Operation::Reserve(ReserveRequest {
            id: "r".into(),
            lines: vec![ReserveLine { sku: "S".into(), location: "L".into(), quantity: 1 }],
            ttl_ms: 60_000,
            promise_by: None,
        });
        let step = PartialStep {
            step_id: "s".into(),
            lines: vec![LineQuantity { sku: "S".into(), location: "L".into(), quantity: 1 }],
        };
        let safe = [
            reserve,
            Operation::Commit { id: "r".into() },
            Operation::Release { id: "r".into(), partial: None },
            Operation::Release { id: "r".into(), partial: Some(step.clone()) },
            Operation::Fulfil { id: "r".into(), partial: None },
            Operation::Fulfil { id: "r".into(), partial: Some(step) },
            Operation::Extend { id: "r".into(), ttl_ms: 1_000 },
            Operation::Restock(RestockRequest {
                reservation_id: "r".into(),
                step_id: "s".into(),
                line: LineQuantity { sku: "S".into(), location: "L".into(), quantity: 1 },
                bucket: Bucket::Sellable,
            }),
            Operation::SetOnHand { sku: "S".into(), location: "L".into(), on_hand: 5, expected_version: Some(3) },
        ];
        for operation in &safe {
            assert!(is_safe_to_retry(operation), "{operation:?}");
            assert!(is_call_safe_to_retry(&Call::Apply(operation.clone())));
        }
        let unsafe_ = [
            Operation::Adjust {
                sku: "S".into(),
                location: "L".into(),
                delta: 1,
                reason: AdjustReason::Found,
                reference: String::new(),
            },
            Operation::SetOnHand { sku: "S".into(), location: "L".into(), on_hand: 5, expected_version: None },
            Operation::MoveStock {
                sku: "S".into(),
                location: "L".into(),
                from: Bucket::Sellable,
                to: Bucket::Damaged,
                quantity: 1,
            },
            Operation::ReceiveIncoming { sku: "S".into(), location: "L".into(), reference: "p".into(), quantity: 1 },
            Operation::BulkLoad(Vec::new()),
            Operation::ExpireDue,
        ];
        for operation in &unsafe_ {
            assert!(!is_safe_to_retry(operation), "{operation:?}");
        }
        assert!(is_call_safe_to_retry(&Call::Ping));
        assert!(is_call_safe_to_retry(&Call::Stats));
        assert!(!is_call_safe_to_retry(&Call::TakeSnapshot));
        assert!(is_request_safe_to_retry(&Request::Batch(vec![Call::Ping, Call::Apply(safe[1].clone())])));
        assert!(!is_request_safe_to_retry(&Request::Batch(vec![Call::Ping, Call::Apply(unsafe_[0].clone())])));
    }

    #[test]
    fn backoff_doubles_and_is_bounded() {
        let base = Duration::from_millis(10);
        for retry in 1..20 {
            let pause = backoff(base, retry);
            let floor = base * (1 << (retry - 1).min(6));
            assert!(pause >= floor && pause <= floor + floor / 4, "{retry}: {pause:?}");
        }
        assert_eq!(backoff(Duration::ZERO, 3), Duration::ZERO);
        assert_eq!(backoff(Duration::MAX, 30), Duration::MAX);
    }
}
