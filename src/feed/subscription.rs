//! A subscriber: what it shares with the hub (its pending table and its wake-up),
//! and the handle a client holds.

use super::coalesce::PendingTable;
use super::hub::HubCore;
use super::{FeedError, FeedEvent, SubscriptionSpec};
use crate::model::{validate_id, IdKind};
use parking_lot::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tokio::sync::Notify;

/// The part of a subscription the hub and the subscriber both hold.
pub(crate) struct SubscriberShared {
    pub id: u64,
    /// As asked (validated); the hub resolves it when it registers the subscriber.
    pub spec: SubscriptionSpec,
    /// Changes offered by the hub, not yet taken. The hub holds this lock for one
    /// offer at a time; the subscriber for one take.
    pub pending: Mutex<PendingTable>,
    /// Signalled by the hub at the end of a cycle that offered something, and when
    /// the hub stops.
    pub notify: Notify,
    /// Set when the [`Subscriber`] is dropped; the hub forgets it on its next cycle.
    pub dropped: AtomicBool,
    /// SKUs whose current values the subscriber asked to be re-sent (at most one
    /// request waits; a new one replaces it).
    pub resync: Mutex<Option<Vec<String>>>,
}

/// An open subscription. Dropping it unsubscribes.
pub struct Subscriber {
    pub(crate) shared: Arc<SubscriberShared>,
    pub(crate) core: Arc<HubCore>,
}

impl Subscriber {
    /// Moves up to `max` pending events into `out` (appending) without waiting;
    /// returns how many. Pending changes that make no event for this subscription
    /// (see docs/FEED.md) are discarded on the way.
    pub fn try_take(&self, out: &mut Vec<FeedEvent>, max: usize) -> usize {
        let core = &self.core;
        let scope_names = core.scope_names();
        let names = |key| core.names_of(&scope_names, key);
        let (taken, gaps) = self.shared.pending.lock().take(out, max, names);
        self.core.count_taken(taken, gaps);
        taken
    }

    /// Waits until events are pending, then moves up to `max` of them into `out`;
    /// returns 0 only once the hub has stopped and nothing is pending (or if `max`
    /// is 0).
    pub async fn next_batch(&self, out: &mut Vec<FeedEvent>, max: usize) -> usize {
        if max == 0 {
            return 0;
        }
        loop {
            let notified = self.shared.notify.notified();
            tokio::pin!(notified);
            // Registered before looking, so a wake-up between the look and the wait
            // is not lost.
            notified.as_mut().enable();
            let taken = self.try_take(out, max);
            if taken > 0 {
                return taken;
            }
            if self.core.is_stopped() {
                return 0;
            }
            notified.await;
        }
    }

    /// Asks the hub to send, at its next cycle, its current value of every key this
    /// subscription watches for `skus` (kind `Snapshot`, `gap: true`), in order with
    /// every other event: what an every-SKU subscriber does after a resync marker
    /// to get exact values without racing the hub. SKUs it does not watch (not
    /// listed by a listing subscription) are ignored. A request replaces one that
    /// has not been served yet.
    pub fn resync(&self, skus: &[String]) -> Result<(), FeedError> {
        let limit = self.core.max_skus_per_subscription();
        if skus.len() > limit {
            return Err(FeedError::TooManySkus { count: skus.len(), limit });
        }
        for sku in skus {
            validate_id(IdKind::Sku, sku)
                .map_err(|error| FeedError::InvalidSku { sku: sku.clone(), reason: error.to_string() })?;
        }
        if self.core.is_stopped() {
            return Err(FeedError::Stopped);
        }
        *self.shared.resync.lock() = Some(skus.to_vec());
        self.core.wake();
        Ok(())
    }

    /// This subscription's id, unique within its hub.
    pub fn id(&self) -> u64 {
        self.shared.id
    }

    /// Pending entries now (for tests and metrics).
    pub fn pending_len(&self) -> usize {
        self.shared.pending.lock().len()
    }
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        self.shared.dropped.store(true, Ordering::SeqCst);
        self.core.unsubscribed();
    }
}

impl std::fmt::Debug for Subscriber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscriber").field("id", &self.shared.id).finish_non_exhaustive()
    }
}
