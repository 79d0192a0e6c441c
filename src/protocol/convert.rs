//! Engine views and outcomes into wire types. The engine names SKUs and locations
//! by dense internal ids ([`SkuId`], [`LocationId`]); the wire names them by the
//! client strings those ids stand for, looked up in the engine that produced them.
//!
//! A location id always has a name in the catalogue that produced it (locations are
//! never removed); should one be missing all the same, it is shown as `#<id>` rather
//! than failing the reply.

use super::messages::*;
use crate::engine::{
    BulkLoadOutcome, ChannelAvailability, DemandCounters, DemandEntry, EngineStats, ExpiryReport, Finding, Outcome,
    Reservation, ReserveOutcome, SourcedOutcome, StoreMatch, VerifyReport,
};
use crate::feed::{EventKind, FeedEvent, FeedScope, SubscriptionSpec};
use crate::model::{Catalogue, LocationId, PositionView, SkuId};
use crate::storage::SnapshotTaken;
use crate::Engine;
use std::sync::Arc;

/// Resolves ids to client names against one engine (and one catalogue load).
pub struct Names<'e> {
    engine: &'e Engine,
    catalogue: Arc<Catalogue>,
}

impl<'e> Names<'e> {
    pub fn new(engine: &'e Engine) -> Names<'e> {
        Names { engine, catalogue: engine.catalogue() }
    }

    pub fn sku(&self, sku: SkuId) -> String {
        self.engine.sku_name_string(sku)
    }

    pub fn location(&self, location: LocationId) -> String {
        match self.catalogue.location(location) {
            Some(found) => found.name.to_string(),
            None => format!("#{}", location.0),
        }
    }

    pub fn position(&self, view: &PositionView) -> WirePosition {
        WirePosition {
            sku: self.sku(view.sku),
            location: self.location(view.location),
            on_hand: view.on_hand,
            reserved: view.reserved,
            safety_stock: view.safety_stock,
            damaged: view.damaged,
            quality_control: view.quality_control,
            backorder_limit: view.backorder_limit,
            available_to_sell: view.available_to_sell,
            incoming: view
                .incoming
                .iter()
                .map(|s| WireIncoming {
                    reference: s.reference.to_string(),
                    quantity: s.quantity,
                    expected_at: s.expected_at,
                })
                .collect(),
            version: view.version,
        }
    }

    pub fn channel_availability(&self, availability: &ChannelAvailability) -> WireChannelAvailability {
        WireChannelAvailability {
            available: availability.available,
            summed: availability.summed,
            locations: availability
                .locations
                .iter()
                .map(|l| WireLocationAvailability { location: self.location(l.location), available: l.available })
                .collect(),
        }
    }

    pub fn reservation(&self, reservation: &Reservation) -> WireReservation {
        WireReservation {
            id: reservation.id.to_string(),
            state: reservation.state,
            created_at: reservation.created_at,
            expires_at: reservation.expires_at,
            first_expires_at: reservation.first_expires_at,
            promise_by: reservation.promise_by,
            requested: reservation
                .requested
                .iter()
                .map(|l| WireRequestedLine {
                    sku: self.sku(l.sku),
                    location: self.location(l.location),
                    quantity: l.quantity,
                })
                .collect(),
            lines: reservation
                .lines
                .iter()
                .map(|l| WireHeldLine {
                    sku: self.sku(l.sku),
                    location: self.location(l.location),
                    kind: l.kind,
                    quantity: l.quantity,
                    held: l.held,
                    fulfilled: l.fulfilled,
                    released: l.released,
                    returned: l.returned,
                })
                .collect(),
            forget_at: reservation.forget_at,
            applied_steps: reservation.applied_steps.iter().map(|s| s.to_string()).collect(),
        }
    }

    pub fn reserve_outcome(&self, outcome: &ReserveOutcome) -> WireReserveOutcome {
        WireReserveOutcome {
            id: outcome.id.to_string(),
            lines: outcome
                .lines
                .iter()
                .map(|l| WireReservedLine {
                    sku: self.sku(l.sku),
                    location: self.location(l.location),
                    quantity: l.quantity,
                    kind: l.kind,
                })
                .collect(),
            expires_at: outcome.expires_at,
            replayed: outcome.replayed,
            state: outcome.state,
        }
    }

    /// What a write did, as `Reply::Applied` carries it.
    pub fn outcome(&self, outcome: &Outcome) -> Applied {
        match outcome {
            Outcome::Locations(ids) => Applied::Locations(ids.iter().map(|id| self.location(*id)).collect()),
            Outcome::Done => Applied::Done,
            Outcome::Reserved(reserved) => Applied::Reserved(self.reserve_outcome(reserved)),
            Outcome::Reservation(reservation) => Applied::Reservation(Box::new(self.reservation(reservation))),
            Outcome::Expiry(report) => Applied::Expiry(expiry_report(report)),
            Outcome::Position(view) => Applied::Position(self.position(view)),
            Outcome::BulkLoad(load) => Applied::BulkLoad(bulk_load(load)),
            Outcome::Sourced(sourced) => Applied::Sourced(self.sourced(sourced)),
        }
    }

    pub fn sourced(&self, outcome: &SourcedOutcome) -> WireSourcedOutcome {
        WireSourcedOutcome {
            reservation: self.reserve_outcome(&outcome.reservation),
            allocation: outcome
                .allocation
                .iter()
                .map(|l| WireAllocatedLine {
                    line: l.line,
                    sku: self.sku(l.sku),
                    location: self.location(l.location),
                    quantity: l.quantity,
                    kind: l.kind,
                    distance_m: l.distance_m,
                })
                .collect(),
            locations_used: outcome.locations_used,
            exact: outcome.exact,
        }
    }
}

pub fn store_matches(matches: &[StoreMatch]) -> Vec<WireStoreMatch> {
    matches
        .iter()
        .map(|m| WireStoreMatch {
            location: m.name.to_string(),
            distance_m: m.distance_m,
            available: m.available.clone(),
        })
        .collect()
}

pub fn demand_counters(counters: &DemandCounters) -> WireDemandCounters {
    WireDemandCounters {
        refused_reservations: counters.refused_reservations,
        refused_units: counters.refused_units,
        expired_reservations: counters.expired_reservations,
        expired_units: counters.expired_units,
        backorder_reservations: counters.backorder_reservations,
        backorder_units: counters.backorder_units,
    }
}

pub fn demand_entries(entries: &[DemandEntry]) -> Vec<WireDemandEntry> {
    entries
        .iter()
        .map(|e| WireDemandEntry {
            sku: e.sku.to_string(),
            channel: e.channel.as_deref().map(str::to_owned),
            counters: demand_counters(&e.counters),
        })
        .collect()
}

pub fn expiry_report(report: &ExpiryReport) -> WireExpiryReport {
    WireExpiryReport { expired: report.expired, forgotten: report.forgotten, more_due: report.more_due }
}

pub fn bulk_load(load: &BulkLoadOutcome) -> WireBulkLoad {
    WireBulkLoad {
        inserted: load.inserted,
        updated: load.updated,
        unchanged: load.unchanged,
        rejected: load.rejected,
        rejections: load.rejections.iter().map(|r| WireRowRejection { row: r.row, error: (&r.error).into() }).collect(),
    }
}

pub fn stats(stats: &EngineStats) -> WireStats {
    WireStats {
        skus: stats.skus,
        positions: stats.positions,
        locations: stats.locations,
        channels: stats.channels,
        kits: stats.kits,
        reservations_held: stats.reservations_held,
        reservations_committed: stats.reservations_committed,
        reservations_fulfilled: stats.reservations_fulfilled,
        reservations_released: stats.reservations_released,
        reservations_expired: stats.reservations_expired,
        reservations_remembered: stats.reservations_remembered,
    }
}

pub fn verify_report(report: &VerifyReport) -> WireVerifyReport {
    WireVerifyReport {
        positions_checked: report.positions_checked,
        reservations_checked: report.reservations_checked,
        findings_total: report.findings_total,
        findings: report
            .findings
            .iter()
            .map(|finding| match finding {
                Finding::ReservedDrift { sku, location, reserved, held_by_lines } => WireFinding::ReservedDrift {
                    sku: sku.clone(),
                    location: location.clone(),
                    reserved: *reserved,
                    held_by_lines: *held_by_lines,
                },
                Finding::Oversold { sku, location, reserved, ceiling } => WireFinding::Oversold {
                    sku: sku.clone(),
                    location: location.clone(),
                    reserved: *reserved,
                    ceiling: *ceiling,
                },
                Finding::BrokenReservation { id, reason } => {
                    WireFinding::BrokenReservation { id: id.clone(), reason: (*reason).to_owned() }
                }
            })
            .collect(),
    }
}

pub fn snapshot(taken: &SnapshotTaken) -> WireSnapshot {
    let micros = |d: std::time::Duration| u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
    WireSnapshot {
        path: taken.path.display().to_string(),
        covers_lsn: taken.header.covers_lsn,
        complete_lsn: taken.header.complete_lsn,
        created_at_ms: taken.header.created_at_ms,
        positions: taken.header.positions,
        reservations: taken.header.reservations,
        body_bytes: taken.header.body_bytes,
        copy_time_us: micros(taken.copy_time),
        total_time_us: micros(taken.total_time),
        segments_deleted: taken.segments_deleted as u64,
    }
}

/// A subscription as the wire asks for it, as the feed hub takes it.
pub fn subscription_spec(subscription: WireSubscription) -> SubscriptionSpec {
    let mut scopes: Vec<FeedScope> = subscription.channels.into_iter().map(FeedScope::Channel).collect();
    if subscription.locations {
        scopes.push(FeedScope::Locations);
    }
    SubscriptionSpec {
        skus: subscription.skus,
        scopes,
        low_stock_below: subscription.low_stock_below,
        every_change: subscription.every_change,
    }
}

pub fn feed_event(event: &FeedEvent) -> WireFeedEvent {
    WireFeedEvent {
        sku: event.sku.to_string(),
        scope: event.scope.to_string(),
        scope_is_channel: event.scope_is_channel,
        available: event.available,
        kind: match event.kind {
            EventKind::Snapshot => WireEventKind::Snapshot,
            EventKind::OutOfStock => WireEventKind::OutOfStock,
            EventKind::BackInStock => WireEventKind::BackInStock,
            EventKind::LowStock => WireEventKind::LowStock,
            EventKind::Changed => WireEventKind::Changed,
        },
        gap: event.gap,
    }
}
