//! The engine: the one API that the server, the log replay and the tests all call.
//!
//! It is a deterministic state machine over the stock table, the reservation table
//! and the catalogue. Time comes in as an argument; there is no I/O and no clock.
//! Every call either returns its outcome or refuses with an [`EngineError`] and
//! changes nothing.

mod bulk;
mod catalogue_ops;
mod changes;
mod demand;
mod error;
mod image;
mod interner;
mod journal;
mod lifecycle;
mod operation;
mod queries;
mod replay;
mod reservations;
mod reserve;
mod returns;
mod sourcing;
mod stock_ops;
mod stock_table;
mod verify;

pub use bulk::{BulkLoadOutcome, RowRejection};
pub use changes::{ChangeTracker, Drained, DEFAULT_CHANGE_QUEUE_CAPACITY};
pub use demand::{DemandCounters, DemandEntry, DemandRank};
pub use error::{EngineError, ShortLine, SourcingShortLine, UnsourceableReason};
pub use image::{ChannelImage, EngineImage, ImageError, StoredPosition};
pub use journal::{
    Cause, Journal, JournalEntry, LogEntry, LoggedCause, LoggedPosition, LoggedReservation, PositionImage, ReplayEntry,
    ReservationImage,
};
pub use lifecycle::{ExpiryReport, LineQuantity, PartialStep};
pub use operation::{AdjustReason, Operation, Outcome};
pub use queries::{
    Availability, AvailabilityQuery, AvailabilityScope, ChannelAvailability, EngineStats, LocationAvailability,
    ScopeName,
};
pub use replay::ReplayError;
pub use replay::{PositionReplay, PositionStep, ReplaySizing, ReservationReplay};
pub use reservations::{HeldLine, RequestedLine, Reservation, ReservationState};
pub use reserve::{ReserveLine, ReserveOutcome, ReserveRequest, ReservedLine};
pub use returns::RestockRequest;
pub use sourcing::{
    distance_m, AllocatedLine, Destination, LocationFlag, OrderLine, ProfileError, RankKey, SourcedOutcome,
    SourcedReserveRequest, SourcingProfile, SourcingProfiles, StoreIndex, StoreMatch, StoreQuery,
};
pub use verify::{Finding, VerifyReport};

use crate::model::{validate_id, Catalogue, IdKind, LocationId, SkuId};
use arc_swap::ArcSwap;
use interner::SkuInterner;
use parking_lot::Mutex;
use reservations::ReservationTable;
use std::sync::Arc;
use stock_table::StockTable;

/// Settings an operator may change; every default is documented in README.md.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EngineConfig {
    /// Shards of the stock table (rounded up to a power of two). More shards, less
    /// contention between unrelated SKUs; each costs one cache line and one lock.
    pub stock_shards: usize,
    /// Shards of the reservation table (rounded up to a power of two).
    pub reservation_shards: usize,
    /// How long a fulfilled, released or expired reservation is remembered, so that
    /// a late retry with its id returns the first outcome instead of reserving again.
    /// With `max_reservations`, it bounds the sustained rate of new reservations:
    /// 10 M remembered over 15 minutes is about 11,000 reservations a second.
    pub idempotency_window_ms: u64,
    /// Reservations remembered at once (live and within their window). A reserve
    /// beyond it is refused with `ReservationCapacity`.
    pub max_reservations: usize,
    /// Deadlines (expiries and forgettings) one `expire_due` call processes at most,
    /// so that a sweep's pause is bounded; the rest wait for the next call.
    pub max_expiries_per_sweep: usize,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            stock_shards: 1024,
            reservation_shards: 256,
            idempotency_window_ms: 15 * 60 * 1_000,
            max_reservations: 10_000_000,
            max_expiries_per_sweep: 100_000,
        }
    }
}

/// The in-memory inventory engine. Share it between threads behind an `Arc`.
pub struct Engine {
    config: EngineConfig,
    /// Locations, channels and kits: read without a lock, replaced whole on change.
    catalogue: ArcSwap<Catalogue>,
    /// Serializes catalogue changes (readers never take it).
    catalogue_writer: Mutex<()>,
    skus: SkuInterner,
    stock: StockTable,
    reservations: ReservationTable,
    /// Where every change is recorded (the write-ahead log), if anywhere.
    journal: Option<Arc<dyn Journal>>,
    /// Sourcing profiles: server configuration, swapped whole, never logged.
    sourcing_profiles: ArcSwap<SourcingProfiles>,
    /// Lost-demand counters since start (not logged, not in snapshots).
    demand: demand::DemandTable,
    /// SKUs whose positions changed, for the change feed (disabled unless watched).
    changes: Arc<ChangeTracker>,
}

impl Default for Engine {
    fn default() -> Self {
        Engine::new(EngineConfig::default())
    }
}

impl Engine {
    pub fn new(config: EngineConfig) -> Engine {
        let changes = Arc::new(ChangeTracker::default());
        Engine {
            stock: StockTable::new(config.stock_shards, changes.clone()),
            changes,
            reservations: ReservationTable::new(config.reservation_shards),
            catalogue: ArcSwap::from_pointee(Catalogue::default()),
            catalogue_writer: Mutex::new(()),
            skus: SkuInterner::default(),
            journal: None,
            sourcing_profiles: ArcSwap::from_pointee(SourcingProfiles::builtin()),
            demand: demand::DemandTable::default(),
            config,
        }
    }

    /// From now on, records every change in `journal` (after recovery has replayed
    /// the log into this engine).
    pub fn attach_journal(&mut self, journal: Arc<dyn Journal>) {
        self.journal = Some(journal);
    }

    pub fn has_journal(&self) -> bool {
        self.journal.is_some()
    }

    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// The current catalogue; cheap, lock-free, and consistent for as long as it is held.
    pub fn catalogue(&self) -> Arc<Catalogue> {
        self.catalogue.load_full()
    }

    /// The id a SKU name is interned as, if any write ever named it.
    pub fn sku_id(&self, sku: &str) -> Option<SkuId> {
        self.skus.get(sku)
    }

    /// The client name of an interned SKU.
    pub fn sku_name(&self, sku: SkuId) -> Arc<str> {
        self.skus.name(sku)
    }

    /// The client name of an interned SKU, as a new `String` (for replies).
    pub fn sku_name_string(&self, sku: SkuId) -> String {
        self.skus.name_string(sku)
    }

    /// The client name of a location id.
    pub fn location_name(&self, location: LocationId) -> Option<Arc<str>> {
        self.catalogue.load().location(location).map(|l| l.name.clone())
    }

    /// Runs `run` with the operation a journal records: built by `build` only when a
    /// journal is attached, so unjournaled direct calls never pay for the copy.
    fn logged<R>(&self, build: impl FnOnce() -> Operation, run: impl FnOnce(Option<&Operation>) -> R) -> R {
        if self.journal.is_some() {
            let operation = build();
            run(Some(&operation))
        } else {
            run(None)
        }
    }

    /// Records a change in the journal, if one is attached. Call it with the locks
    /// of the change still held, after the change is made.
    fn record_change<'a>(
        &self,
        at: crate::model::Timestamp,
        cause: Cause<'a>,
        positions: impl FnOnce() -> Vec<PositionImage<'a>>,
        reservation: Option<ReservationImage<'a>>,
    ) {
        if let Some(journal) = self.journal.as_deref() {
            journal.record(&JournalEntry::Change { at, positions: positions(), reservation, cause });
        }
    }

    /// Resolves a SKU for a write to its positions, interning it if new. Kits have
    /// no positions of their own, so writing to one is refused.
    fn sku_for_write(&self, catalogue: &Catalogue, sku: &str, operation: &'static str) -> Result<SkuId, EngineError> {
        validate_id(IdKind::Sku, sku)?;
        let id = self.skus.intern(sku, self.journal.as_deref())?;
        if catalogue.kit(id).is_some() {
            return Err(EngineError::KitNotAllowed { sku: sku.to_owned(), operation });
        }
        Ok(id)
    }

    /// Resolves a SKU for a read; `None` if no write ever named it.
    fn sku_for_read(&self, sku: &str) -> Result<Option<SkuId>, EngineError> {
        validate_id(IdKind::Sku, sku)?;
        Ok(self.skus.get(sku))
    }

    fn location_id(&self, catalogue: &Catalogue, location: &str) -> Result<LocationId, EngineError> {
        validate_id(IdKind::Location, location)?;
        catalogue.location_id(location).ok_or_else(|| EngineError::UnknownLocation(location.to_owned()))
    }
}
