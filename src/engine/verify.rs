//! `verify`: an online check of the invariants, for operators and for tests.
//!
//! It locks every reservation shard (in order), which freezes every position's
//! `reserved` (only reservation calls change it, and they take a reservation shard
//! first), sums the held lines per position, then reads the stock shards one at a
//! time and compares. Adjustments and reads go on meanwhile; reservation calls wait.

use super::reservations::ReservationState;
use super::reserve::location_label;
use super::Engine;
use crate::limits::MAX_REPORTED_FINDINGS;
use crate::model::{LocationId, SkuId};
use rustc_hash::FxHashMap;

/// One broken invariant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Finding {
    /// A position's `reserved` differs from the sum of the live lines held on it.
    ReservedDrift { sku: String, location: String, reserved: u64, held_by_lines: u64 },
    /// More reserved than on hand, safety stock, backorders and supply allow.
    Oversold { sku: String, location: String, reserved: u64, ceiling: i64 },
    /// A reservation's line does not add up (held + fulfilled + released != quantity),
    /// or a terminal reservation still holds units.
    BrokenReservation { id: String, reason: &'static str },
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VerifyReport {
    pub positions_checked: u64,
    pub reservations_checked: u64,
    /// Findings in total; the first [`MAX_REPORTED_FINDINGS`] are in `findings`.
    pub findings_total: u64,
    pub findings: Vec<Finding>,
}

impl VerifyReport {
    pub fn is_clean(&self) -> bool {
        self.findings_total == 0
    }

    fn add(&mut self, finding: Finding) {
        self.findings_total += 1;
        if self.findings.len() < MAX_REPORTED_FINDINGS {
            self.findings.push(finding);
        }
    }
}

impl Engine {
    pub fn verify(&self) -> VerifyReport {
        let mut report = VerifyReport::default();
        let reservation_guards: Vec<_> =
            (0..self.reservations.shard_count()).map(|i| self.reservations.lock_shard(i)).collect();
        let mut held: FxHashMap<(SkuId, LocationId), u64> = FxHashMap::default();
        for shard in &reservation_guards {
            for reservation in shard.by_id.values() {
                report.reservations_checked += 1;
                for line in &reservation.lines {
                    if line.held + line.fulfilled + line.released != line.quantity || line.returned > line.fulfilled {
                        report.add(Finding::BrokenReservation {
                            id: reservation.id.to_string(),
                            reason: "a line does not add up",
                        });
                    }
                    if line.held > 0 {
                        *held.entry((line.sku, line.location)).or_default() += u64::from(line.held);
                    }
                }
                let holds = reservation.held_units() > 0;
                if reservation.state.is_terminal() == holds {
                    report.add(Finding::BrokenReservation {
                        id: reservation.id.to_string(),
                        reason: "state disagrees with held units",
                    });
                }
                let has_expiry = matches!(reservation.state, ReservationState::Held | ReservationState::Expired);
                if has_expiry != reservation.expires_at.is_some() {
                    report.add(Finding::BrokenReservation {
                        id: reservation.id.to_string(),
                        reason: "expiry disagrees with state",
                    });
                }
            }
        }
        let catalogue = self.catalogue.load();
        for index in 0..self.stock.shard_count() {
            let shard = self.stock.read_shard(index);
            for (sku, location, position) in shard.iter(index) {
                report.positions_checked += 1;
                let held_by_lines = held.remove(&(sku, location)).unwrap_or(0);
                let names = || (self.skus.name(sku).to_string(), location_label(&catalogue, location));
                if u64::from(position.reserved) != held_by_lines {
                    let (sku, location) = names();
                    report.add(Finding::ReservedDrift {
                        sku,
                        location,
                        reserved: u64::from(position.reserved),
                        held_by_lines,
                    });
                }
                if !position.is_consistent() {
                    let (sku, location) = names();
                    report.add(Finding::Oversold {
                        sku,
                        location,
                        reserved: u64::from(position.reserved),
                        ceiling: position.reservable_ceiling(),
                    });
                }
            }
        }
        for ((sku, location), held_by_lines) in held {
            report.add(Finding::ReservedDrift {
                sku: self.skus.name(sku).to_string(),
                location: location_label(&catalogue, location),
                reserved: 0,
                held_by_lines,
            });
        }
        drop(reservation_guards);
        report
    }
}
