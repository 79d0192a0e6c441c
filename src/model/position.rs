//! One SKU at one location: the unit of stock truth, and the arithmetic rules that
//! keep it true.
//!
//! Quantities are stored as `u32` (bounded by [`MAX_QUANTITY`]) and every sum is
//! formed in `i64`, so no rule here can overflow. The invariant every method keeps:
//!
//! ```text
//! reserved <= on_hand - safety_stock + backorder_limit + incoming_total
//! ```
//!
//! `reserved` counts every live reservation line on the position, whether it was
//! taken from stock on hand, against incoming supply (pre-order) or as a backorder.

use crate::limits::MAX_QUANTITY;
use crate::model::{LocationId, SkuId, Timestamp};

/// Supply on its way to a position: a purchase order or a transfer.
#[derive(
    Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize,
)]
pub struct IncomingSupply {
    /// The client's reference for this supply (a PO or transfer number).
    pub reference: Box<str>,
    pub quantity: u32,
    pub expected_at: Timestamp,
}

/// Where physical units sit at a position. Only `Sellable` counts toward on hand.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Bucket {
    Sellable,
    Damaged,
    QualityControl,
}

/// How a reservation line was covered.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    serde::Serialize,
    serde::Deserialize,
    rkyv::Archive,
    rkyv::Serialize,
    rkyv::Deserialize,
)]
pub enum HoldKind {
    /// From stock on hand (within available to sell).
    InStock,
    /// Against incoming supply that arrives by the requested promise date.
    PreOrder,
    /// Beyond stock and supply, within the position's backorder limit.
    Backorder,
}

/// The stored state of one position. 40 bytes; see BENCHMARKS.md for memory.
#[derive(
    Clone,
    Debug,
    Default,
    PartialEq,
    Eq,
    serde::Serialize,
    serde::Deserialize,
    rkyv::Archive,
    rkyv::Serialize,
    rkyv::Deserialize,
)]
pub struct Position {
    pub on_hand: u32,
    pub reserved: u32,
    pub safety_stock: u32,
    pub damaged: u32,
    pub quality_control: u32,
    /// Units that may be reserved beyond stock and supply. 0: backorders not allowed.
    pub backorder_limit: u32,
    /// Bumped by every change; the compare-and-set token of `set_on_hand`.
    pub version: u64,
    /// Sorted by expected date, then reference. `None` when there is none, to keep
    /// the common position small.
    pub incoming: Option<Box<Vec<IncomingSupply>>>,
}

/// A bulk-load row: the absolute quantities a feed says a position has.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PositionRow {
    pub sku: String,
    pub location: String,
    pub on_hand: u32,
    pub safety_stock: u32,
    pub damaged: u32,
    pub quality_control: u32,
    pub backorder_limit: u32,
}

impl PositionRow {
    /// A row of `on_hand` units, every other quantity 0.
    pub fn on_hand(sku: &str, location: &str, on_hand: u32) -> PositionRow {
        PositionRow {
            sku: sku.to_owned(),
            location: location.to_owned(),
            on_hand,
            safety_stock: 0,
            damaged: 0,
            quality_control: 0,
            backorder_limit: 0,
        }
    }
}

/// Everything a client may read about one position.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PositionView {
    pub sku: SkuId,
    pub location: LocationId,
    pub on_hand: u32,
    pub reserved: u32,
    pub safety_stock: u32,
    pub damaged: u32,
    pub quality_control: u32,
    pub backorder_limit: u32,
    pub available_to_sell: u32,
    pub incoming: Vec<IncomingSupply>,
    pub version: u64,
}

/// The outcome of asking a position for room: either how the hold is covered, or
/// how much it could have offered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HoldCheck {
    Fits(HoldKind),
    Short { available: u32 },
}

impl Position {
    /// Units that may be promised from stock on hand: `on_hand - safety - reserved`.
    /// Negative while pre-orders or backorders are outstanding.
    pub fn in_stock_room(&self) -> i64 {
        i64::from(self.on_hand) - i64::from(self.safety_stock) - i64::from(self.reserved)
    }

    /// Available to sell (ATS), never shown below 0.
    pub fn available_to_sell(&self) -> u32 {
        clamp_to_u32(self.in_stock_room())
    }

    pub fn incoming_total(&self) -> i64 {
        self.incoming_lines().iter().map(|s| i64::from(s.quantity)).sum()
    }

    /// Incoming supply expected at or before `by`.
    pub fn incoming_by(&self, by: Timestamp) -> i64 {
        self.incoming_lines().iter().filter(|s| s.expected_at <= by).map(|s| i64::from(s.quantity)).sum()
    }

    /// Available to promise by a date: ATS plus supply arriving by then, never below 0.
    pub fn available_to_promise(&self, by: Timestamp) -> u32 {
        clamp_to_u32(self.in_stock_room() + self.incoming_by(by))
    }

    pub fn incoming_lines(&self) -> &[IncomingSupply] {
        self.incoming.as_deref().map(Vec::as_slice).unwrap_or(&[])
    }

    /// The most `reserved` may ever be: the no-oversell invariant's right-hand side.
    pub fn reservable_ceiling(&self) -> i64 {
        i64::from(self.on_hand) - i64::from(self.safety_stock) + i64::from(self.backorder_limit) + self.incoming_total()
    }

    /// Whether the invariant holds; every mutation is checked against it.
    pub fn is_consistent(&self) -> bool {
        i64::from(self.reserved) <= self.reservable_ceiling().max(0)
            && self.on_hand <= MAX_QUANTITY
            && self.incoming_total() <= i64::from(MAX_QUANTITY)
    }

    /// Can `quantity` more be held here? `promise_by` allows incoming supply due by
    /// then to cover it; the backorder limit is used only when stock and supply fall short.
    pub fn check_hold(&self, quantity: u32, promise_by: Option<Timestamp>) -> HoldCheck {
        let wanted = i64::from(quantity);
        let in_stock = self.in_stock_room();
        if wanted <= in_stock {
            return HoldCheck::Fits(HoldKind::InStock);
        }
        let with_supply = match promise_by {
            Some(by) => in_stock + self.incoming_by(by),
            None => in_stock,
        };
        if wanted <= with_supply {
            return HoldCheck::Fits(HoldKind::PreOrder);
        }
        // Backorders may not reach into supply that is not due by the promise date.
        let with_backorder = with_supply + i64::from(self.backorder_limit);
        if self.backorder_limit > 0 && wanted <= with_backorder {
            return HoldCheck::Fits(HoldKind::Backorder);
        }
        HoldCheck::Short {
            available: clamp_to_u32(if self.backorder_limit > 0 { with_backorder } else { with_supply }),
        }
    }

    /// Makes a read-only view of this position.
    pub fn view(&self, sku: SkuId, location: LocationId) -> PositionView {
        PositionView {
            sku,
            location,
            on_hand: self.on_hand,
            reserved: self.reserved,
            safety_stock: self.safety_stock,
            damaged: self.damaged,
            quality_control: self.quality_control,
            backorder_limit: self.backorder_limit,
            available_to_sell: self.available_to_sell(),
            incoming: self.incoming_lines().to_vec(),
            version: self.version,
        }
    }

    pub fn bucket(&self, bucket: Bucket) -> u32 {
        match bucket {
            Bucket::Sellable => self.on_hand,
            Bucket::Damaged => self.damaged,
            Bucket::QualityControl => self.quality_control,
        }
    }

    pub fn bucket_mut(&mut self, bucket: Bucket) -> &mut u32 {
        match bucket {
            Bucket::Sellable => &mut self.on_hand,
            Bucket::Damaged => &mut self.damaged,
            Bucket::QualityControl => &mut self.quality_control,
        }
    }

    /// True when the row's quantities equal this position's (bulk loads skip those).
    pub fn matches_row(&self, row: &PositionRow) -> bool {
        self.on_hand == row.on_hand
            && self.safety_stock == row.safety_stock
            && self.damaged == row.damaged
            && self.quality_control == row.quality_control
            && self.backorder_limit == row.backorder_limit
    }
}

/// Clamps a signed room to the `u32` a client sees: below 0 shows as 0.
pub fn clamp_to_u32(value: i64) -> u32 {
    u32::try_from(value.max(0)).unwrap_or(u32::MAX)
}
