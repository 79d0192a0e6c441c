//! SKU names to dense [`SkuId`]s and back.
//!
//! Reads take no lock and make no atomic read-modify-write: a lookup loads the
//! current [`Table`] and probes it with plain (`Acquire`) loads, and a name is two
//! loads into the append-only [`NameList`]. [`SkuInterner::get_many`] hashes a
//! group of names and prefetches every home slot before probing any, so the
//! group's cache misses overlap. New names are added one at a time under a mutex:
//! the name is set in the list (its id is the list's length, so ids are dense
//! and in order), recorded in the journal, counted in [`SkuInterner::len`], and
//! only then inserted into the table, where readers can find it. When the table would become more than half full it
//! is rebuilt at twice the size and published; the old one is kept (a reader may
//! still be probing it) until the interner is dropped, which bounds the retired
//! tables to less than the current one. Nothing is ever removed: a snapshot that
//! replaces the engine's state builds a new interner.

mod names;
mod table;
#[cfg(test)]
mod tests;

use crate::engine::journal::{Journal, JournalEntry};
use crate::limits::MAX_SKUS;
use crate::model::SkuId;
use crate::EngineError;
use names::NameList;
use parking_lot::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use table::{Key, Table};

/// Slots of the first table.
const FIRST_TABLE_SLOTS: usize = 64;
/// Tables an interner can grow through (each twice the one before).
const MAX_TABLES: usize = 32;
/// Names looked up together by [`SkuInterner::get_many`]: their home slots are
/// prefetched before any is probed.
const LOOKUP_GROUP: usize = 32;

const _: () = assert!(2 * MAX_SKUS <= FIRST_TABLE_SLOTS << (MAX_TABLES - 1));

pub struct SkuInterner {
    /// Every table built so far; `current` indexes the one in use. The others are
    /// retired: full copies no longer written to, kept for readers still on them.
    tables: [OnceLock<Table>; MAX_TABLES],
    current: AtomicUsize,
    names: NameList,
    /// Held by whoever adds a name (the only writer of `tables`, `current`, `names`).
    writer: Mutex<()>,
}

impl Default for SkuInterner {
    fn default() -> Self {
        let tables: [OnceLock<Table>; MAX_TABLES] = std::array::from_fn(|_| OnceLock::new());
        assert!(tables[0].set(Table::with_capacity(FIRST_TABLE_SLOTS)).is_ok());
        SkuInterner { tables, current: AtomicUsize::new(0), names: NameList::default(), writer: Mutex::new(()) }
    }
}

impl SkuInterner {
    fn table(&self) -> &Table {
        // Acquire: the table was built before its index was published (Release).
        let current = self.current.load(Ordering::Acquire);
        self.tables[current].get().expect("the current table is built before it is published")
    }

    pub fn get(&self, name: &str) -> Option<SkuId> {
        self.table().find(&Key::new(name), &self.names)
    }

    /// Looks up every name of `names`, storing each one's id (or `None`) at the same
    /// index of `found`: exactly what [`Self::get`] would say for each, faster for
    /// a group because the lookups' memory reads overlap.
    pub fn get_many<S: AsRef<str>>(&self, names: &[S], found: &mut [Option<SkuId>]) {
        assert_eq!(names.len(), found.len(), "one result per name");
        let table = self.table();
        let mut keys = [Key::EMPTY; LOOKUP_GROUP];
        for (group, found) in names.chunks(LOOKUP_GROUP).zip(found.chunks_mut(LOOKUP_GROUP)) {
            for (key, name) in keys.iter_mut().zip(group) {
                *key = Key::new(name.as_ref());
                table.prefetch(key);
            }
            for (found, key) in found.iter_mut().zip(&keys) {
                *found = table.find(key, &self.names);
            }
        }
    }

    /// The id of `name`, handing out the next one if it is new (and recording that
    /// in the journal, before any change can use the id). The name must already be
    /// validated. Concurrent calls for one new name get one id.
    pub fn intern(&self, name: &str, journal: Option<&dyn Journal>) -> Result<SkuId, EngineError> {
        let key = Key::new(name);
        if let Some(id) = self.table().find(&key, &self.names) {
            return Ok(id);
        }
        let _writer = self.writer.lock();
        if let Some(id) = self.table().find(&key, &self.names) {
            return Ok(id);
        }
        let count = self.names.len();
        if count >= MAX_SKUS {
            return Err(EngineError::TooMany { what: "SKUs", count: count + 1, limit: MAX_SKUS });
        }
        let table = self.table_with_room_for(count + 1);
        let id = SkuId(u32::try_from(count).expect("MAX_SKUS fits in u32"));
        self.names.set_next(Arc::from(name));
        if let Some(journal) = journal {
            journal.record(&JournalEntry::SkuInterned { sku: id, name });
        }
        // Counted once journaled (a snapshot lists `0..len()`), and findable once
        // counted (whoever finds an id sees `len()` above it).
        self.names.publish_next();
        table.insert(&key, id);
        Ok(id)
    }

    /// The current table, first replaced by one twice as large if `count` names
    /// would fill more than half of it. Call with the writer lock held.
    fn table_with_room_for(&self, count: usize) -> &Table {
        let current = self.current.load(Ordering::Relaxed);
        let table = self.table();
        if count * 2 <= table.capacity() {
            return table;
        }
        let grown = Table::with_capacity(table.capacity() * 2);
        for index in 0..self.names.len() {
            let name = self.names.get(index).expect("names below the length are set");
            grown.insert(&Key::new(name), SkuId(index as u32));
        }
        let next = current + 1;
        assert!(self.tables[next].set(grown).is_ok(), "table {next} is built once");
        // Release: readers that load this index see the whole table.
        self.current.store(next, Ordering::Release);
        self.tables[next].get().expect("just built")
    }

    pub fn name(&self, id: SkuId) -> Arc<str> {
        self.name_ref(id).clone()
    }

    /// The name copied into a new `String`, without touching the shared name's
    /// reference count (two atomic writes to a line other threads read).
    pub fn name_string(&self, id: SkuId) -> String {
        String::from(&**self.name_ref(id))
    }

    fn name_ref(&self, id: SkuId) -> &Arc<str> {
        self.names.get(id.index()).unwrap_or_else(|| panic!("SKU id {} was never interned", id.0))
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// Every name, in id order.
    pub fn names(&self) -> Vec<Arc<str>> {
        (0..self.len()).map(|index| self.name_ref(SkuId(index as u32)).clone()).collect()
    }
}
