//! Bulk loads: millions of absolute position rows in one call (a nightly full sync,
//! a store opening).
//!
//! Phase 1 validates every row and changes nothing: a malformed row, an unknown
//! location or a repeated position refuses the whole load with the row's index.
//! Phase 2 applies the rows shard by shard, each shard under one write lock. A row
//! equal to the current state is skipped; a row that would leave a position below
//! what is reserved on it is rejected (and listed), and the other rows still apply.

use super::catalogue_ops::check_range;
use super::journal::{Cause, PositionImage};
use super::stock_table::{PositionEntry, StockShard};
use super::{Engine, EngineError};
use crate::limits::{MAX_BULK_ROWS, MAX_QUANTITY, MAX_REPORTED_REJECTIONS};
use crate::model::{validate_id, IdKind, LocationId, Position, PositionRow, SkuId, Timestamp};

/// Position images in one bulk-load log record (about 60 bytes each).
pub const BULK_IMAGES_PER_RECORD: usize = 50_000;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BulkLoadOutcome {
    pub inserted: u64,
    pub updated: u64,
    /// Rows equal to the current state: nothing to do.
    pub unchanged: u64,
    /// Rows refused because the position has more reserved than they would allow.
    pub rejected: u64,
    /// The first [`MAX_REPORTED_REJECTIONS`] rejected rows.
    pub rejections: Vec<RowRejection>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RowRejection {
    /// The row's index in the load.
    pub row: u64,
    pub error: EngineError,
}

/// A validated row: where it goes and its index in the load.
#[derive(Clone, Copy)]
struct Placed {
    /// shard (16 bits) | slot in shard (27 bits) | location (20 bits): sorting by it
    /// groups rows by shard, then SKU, then location.
    key: u64,
    sku: SkuId,
    location: LocationId,
    row: u32,
}

impl Engine {
    pub fn bulk_load(&self, rows: &[PositionRow]) -> Result<BulkLoadOutcome, EngineError> {
        self.bulk_load_at(rows, Timestamp(0))
    }

    /// A bulk load at time `at` (recorded in the journal). Each shard's part is
    /// recorded as after-images, under that shard's lock, in records of at most
    /// [`BULK_IMAGES_PER_RECORD`] positions; the rows themselves are not logged.
    pub(super) fn bulk_load_at(&self, rows: &[PositionRow], at: Timestamp) -> Result<BulkLoadOutcome, EngineError> {
        if rows.len() > MAX_BULK_ROWS {
            return Err(EngineError::TooMany { what: "rows in a bulk load", count: rows.len(), limit: MAX_BULK_ROWS });
        }
        let mut placed = self.place_rows(rows)?;
        // Ties broken by row, so that a repeated position is reported at its repeat.
        placed.sort_unstable_by_key(|p| (p.key, p.row));
        if let Some(pair) = placed.windows(2).find(|pair| pair[0].key == pair[1].key) {
            let row = &rows[pair[1].row as usize];
            return Err(EngineError::InvalidRow {
                row: u64::from(pair[1].row),
                error: Box::new(EngineError::DuplicateLine {
                    index: pair[1].row as usize,
                    sku: row.sku.clone(),
                    location: row.location.clone(),
                }),
            });
        }
        let mut outcome = BulkLoadOutcome::default();
        let mut start = 0;
        while start < placed.len() {
            let shard_index = self.stock.shard_of(placed[start].sku);
            let end = start + placed[start..].iter().take_while(|p| self.stock.shard_of(p.sku) == shard_index).count();
            let mut shard = self.stock.write_shard(shard_index);
            let mut changed = Vec::new();
            for group in placed[start..end].chunk_by(|a, b| a.sku == b.sku) {
                self.load_sku(&mut shard, group, rows, &mut outcome, &mut changed);
            }
            for part in changed.chunks(BULK_IMAGES_PER_RECORD) {
                let images = || {
                    part.iter()
                        .map(|&(sku, location)| {
                            let position = shard.get(sku, location).expect("loaded above");
                            PositionImage { sku, location, position }
                        })
                        .collect()
                };
                self.record_change(at, Cause::BulkLoadPart { rows: part.len() as u64 }, images, None);
            }
            start = end;
        }
        Ok(outcome)
    }

    fn place_rows(&self, rows: &[PositionRow]) -> Result<Vec<Placed>, EngineError> {
        let catalogue = self.catalogue.load();
        let shard_bits = self.stock.shard_bits();
        // Every row is checked before any new SKU name is interned.
        let mut locations = Vec::with_capacity(rows.len());
        for (index, row) in rows.iter().enumerate() {
            let invalid = |error| EngineError::InvalidRow { row: index as u64, error: Box::new(error) };
            validate_row(row).map_err(invalid)?;
            locations.push(self.location_id(&catalogue, &row.location).map_err(invalid)?);
            if self.skus.get(&row.sku).is_some_and(|id| catalogue.kit(id).is_some()) {
                return Err(invalid(EngineError::KitNotAllowed { sku: row.sku.clone(), operation: "bulk loaded" }));
            }
        }
        let mut placed = Vec::with_capacity(rows.len());
        let mut last_sku: Option<(&str, SkuId)> = None;
        for ((index, row), location) in rows.iter().enumerate().zip(locations) {
            let invalid = |error| EngineError::InvalidRow { row: index as u64, error: Box::new(error) };
            let sku = match last_sku {
                Some((name, id)) if name == row.sku => id,
                _ => {
                    let id = self.sku_for_write(&catalogue, &row.sku, "bulk loaded").map_err(invalid)?;
                    last_sku = Some((&row.sku, id));
                    id
                }
            };
            let shard = u64::from(sku.0) & ((1 << shard_bits) - 1);
            let slot = u64::from(sku.0 >> shard_bits);
            let key = (shard << 47) | (slot << 20) | u64::from(location.0);
            placed.push(Placed { key, sku, location, row: index as u32 });
        }
        Ok(placed)
    }

    /// Applies one SKU's rows (sorted by location) to its positions.
    fn load_sku(
        &self,
        shard: &mut StockShard,
        group: &[Placed],
        rows: &[PositionRow],
        outcome: &mut BulkLoadOutcome,
        changed: &mut Vec<(SkuId, LocationId)>,
    ) {
        let sku = group[0].sku;
        let mut fresh: Vec<PositionEntry> = Vec::new();
        for placed in group {
            let row = &rows[placed.row as usize];
            let Some(position) = shard.get_mut(sku, placed.location) else {
                let position = Position {
                    on_hand: row.on_hand,
                    safety_stock: row.safety_stock,
                    damaged: row.damaged,
                    quality_control: row.quality_control,
                    backorder_limit: row.backorder_limit,
                    version: 1,
                    ..Position::default()
                };
                fresh.push(PositionEntry { location: placed.location, position });
                continue;
            };
            if position.matches_row(row) {
                outcome.unchanged += 1;
                continue;
            }
            let mut next = position.clone();
            next.on_hand = row.on_hand;
            next.safety_stock = row.safety_stock;
            next.damaged = row.damaged;
            next.quality_control = row.quality_control;
            next.backorder_limit = row.backorder_limit;
            if !next.is_consistent() {
                outcome.rejected += 1;
                if outcome.rejections.len() < MAX_REPORTED_REJECTIONS {
                    let error = EngineError::BelowReserved {
                        sku: row.sku.clone(),
                        location: row.location.clone(),
                        reserved: next.reserved,
                        ceiling: next.reservable_ceiling(),
                    };
                    outcome.rejections.push(RowRejection { row: u64::from(placed.row), error });
                }
                continue;
            }
            next.version += 1;
            *position = next;
            outcome.updated += 1;
            changed.push((sku, placed.location));
        }
        outcome.inserted += fresh.len() as u64;
        changed.extend(fresh.iter().map(|entry| (sku, entry.location)));
        shard.insert_sorted(sku, fresh);
    }
}

fn validate_row(row: &PositionRow) -> Result<(), EngineError> {
    validate_id(IdKind::Sku, &row.sku)?;
    validate_id(IdKind::Location, &row.location)?;
    let max = i64::from(MAX_QUANTITY);
    check_range("on_hand", i64::from(row.on_hand), 0, max)?;
    check_range("safety_stock", i64::from(row.safety_stock), 0, max)?;
    check_range("damaged", i64::from(row.damaged), 0, max)?;
    check_range("quality_control", i64::from(row.quality_control), 0, max)?;
    check_range("backorder_limit", i64::from(row.backorder_limit), 0, max)?;
    Ok(())
}
