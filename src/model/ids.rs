//! Compact integer ids that stand for client strings inside the engine.

/// A SKU, interned from its client string. Dense: ids are handed out 0, 1, 2 ...
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    serde::Serialize,
    serde::Deserialize,
    rkyv::Archive,
    rkyv::Serialize,
    rkyv::Deserialize,
)]
pub struct SkuId(pub u32);

/// A location, interned from its client string. Dense, like [`SkuId`].
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    serde::Serialize,
    serde::Deserialize,
    rkyv::Archive,
    rkyv::Serialize,
    rkyv::Deserialize,
)]
pub struct LocationId(pub u32);

impl SkuId {
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

impl LocationId {
    pub fn index(self) -> usize {
        self.0 as usize
    }
}
