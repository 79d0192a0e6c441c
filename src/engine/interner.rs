//! SKU names to dense [`SkuId`]s and back.
//!
//! Looking a name up is one `DashMap` read; a new name takes the shard's write lock
//! and then the id list's write lock, always in that order. Keys are
//! `CompactString`s: ids of up to 24 bytes (nearly all SKUs) sit inside the table's
//! slot, so a lookup compares without chasing a pointer to another cache line.

use crate::engine::journal::{Journal, JournalEntry};
use crate::limits::MAX_SKUS;
use crate::model::SkuId;
use crate::EngineError;
use compact_str::CompactString;
use dashmap::DashMap;
use parking_lot::RwLock;
use rustc_hash::FxBuildHasher;
use std::sync::Arc;

#[derive(Default)]
pub struct SkuInterner {
    ids: DashMap<CompactString, SkuId, FxBuildHasher>,
    names: RwLock<Vec<Arc<str>>>,
}

impl SkuInterner {
    pub fn get(&self, name: &str) -> Option<SkuId> {
        self.ids.get(name).map(|entry| *entry)
    }

    /// The id of `name`, handing out the next one if it is new (and recording that
    /// in the journal, before any change can use the id). The name must already be
    /// validated.
    pub fn intern(&self, name: &str, journal: Option<&dyn Journal>) -> Result<SkuId, EngineError> {
        if let Some(id) = self.get(name) {
            return Ok(id);
        }
        let entry = self.ids.entry(CompactString::from(name));
        if let dashmap::Entry::Occupied(existing) = &entry {
            return Ok(*existing.get());
        }
        let mut names = self.names.write();
        if names.len() >= MAX_SKUS {
            return Err(EngineError::TooMany { what: "SKUs", count: names.len() + 1, limit: MAX_SKUS });
        }
        let id = SkuId(u32::try_from(names.len()).expect("MAX_SKUS fits in u32"));
        names.push(Arc::from(name));
        if let Some(journal) = journal {
            journal.record(&JournalEntry::SkuInterned { sku: id, name });
        }
        entry.or_insert(id);
        Ok(id)
    }

    pub fn name(&self, id: SkuId) -> Arc<str> {
        self.names.read()[id.index()].clone()
    }

    /// The name copied into a new `String`, without touching the shared name's
    /// reference count (two atomic writes to a line other threads read).
    pub fn name_string(&self, id: SkuId) -> String {
        String::from(&*self.names.read()[id.index()])
    }

    pub fn len(&self) -> usize {
        self.names.read().len()
    }

    /// Every name, in id order.
    pub fn names(&self) -> Vec<Arc<str>> {
        self.names.read().clone()
    }
}
