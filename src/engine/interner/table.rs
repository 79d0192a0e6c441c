//! The name -> id table of the SKU interner: open addressing with linear probing,
//! insert-only, read without locks.
//!
//! A slot is 32 bytes (two per cache line): a header word and the name's first 24
//! bytes. The header holds the id (plus one; 0 = empty), the name's length and 24
//! bits of its hash. The writer (one at a time, under the interner's mutex) stores
//! the bytes first and then the header with `Release`; a reader loads the header
//! with `Acquire` and reads the bytes only if it is not empty, so it never sees a
//! half-written entry. Slots are never changed again once filled (nothing is ever
//! removed), and every access is an atomic load or store: no `unsafe`, and on x86
//! a lookup is plain loads (no read-modify-write, no fence), so the misses of
//! consecutive lookups overlap. Names of up to 24 bytes (nearly all SKUs) compare
//! within the slot; a longer one is checked against the id's name in the list.

use super::names::NameList;
use crate::model::SkuId;
use std::hash::Hasher;
use std::sync::atomic::{AtomicU64, Ordering};

/// Name bytes kept in a slot.
const INLINE_BYTES: usize = 24;
const INLINE_WORDS: usize = INLINE_BYTES / 8;

/// A name with what a lookup needs of it, computed once: the hash, the header a
/// matching slot has (less the id) and the first bytes as words.
#[derive(Clone, Copy)]
pub(super) struct Key<'a> {
    name: &'a str,
    hash: u64,
    inline: [u64; INLINE_WORDS],
}

impl<'a> Key<'a> {
    /// A placeholder (for filling an array before use).
    pub(super) const EMPTY: Key<'static> = Key { name: "", hash: 0, inline: [0; INLINE_WORDS] };

    pub(super) fn new(name: &'a str) -> Self {
        let mut hasher = rustc_hash::FxHasher::default();
        hasher.write(name.as_bytes());
        let mut bytes = [0u8; INLINE_BYTES];
        let kept = name.len().min(INLINE_BYTES);
        bytes[..kept].copy_from_slice(&name.as_bytes()[..kept]);
        let inline =
            std::array::from_fn(|word| u64::from_le_bytes(bytes[word * 8..word * 8 + 8].try_into().expect("8 bytes")));
        Key { name, hash: hasher.finish(), inline }
    }

    /// The upper half of a matching slot's header: 24 bits of hash, then the
    /// length (255 standing for any longer name).
    fn header_tag(&self) -> u64 {
        (self.hash >> 40) << 8 | self.name.len().min(255) as u64
    }

    fn header(&self, id: SkuId) -> u64 {
        self.header_tag() << 32 | (u64::from(id.0) + 1)
    }
}

#[repr(align(32))]
#[derive(Default)]
struct Slot {
    header: AtomicU64,
    inline: [AtomicU64; INLINE_WORDS],
}

/// A fixed-capacity table (a power of two, at least 2 slots). The interner keeps
/// it at most half full, so every probe ends at an empty slot.
pub(super) struct Table {
    slots: Box<[Slot]>,
}

impl Table {
    pub(super) fn with_capacity(slots: usize) -> Self {
        assert!(slots.is_power_of_two() && slots >= 2, "a table has a power-of-two capacity");
        Table { slots: (0..slots).map(|_| Slot::default()).collect() }
    }

    pub(super) fn capacity(&self) -> usize {
        self.slots.len()
    }

    fn home(&self, key: &Key<'_>) -> usize {
        key.hash as usize & (self.slots.len() - 1)
    }

    /// Asks the core to start loading the slot where `key`'s probe starts.
    pub(super) fn prefetch(&self, key: &Key<'_>) {
        crate::engine::stock_table::prefetch((&raw const self.slots[self.home(key)]).cast());
    }

    /// The id `key`'s name was inserted with, if any (as far as this thread can see).
    pub(super) fn find(&self, key: &Key<'_>, names: &NameList) -> Option<SkuId> {
        let mask = self.slots.len() - 1;
        let tag = key.header_tag();
        let mut index = self.home(key);
        loop {
            let slot = &self.slots[index];
            let header = slot.header.load(Ordering::Acquire);
            if header == 0 {
                return None;
            }
            if header >> 32 == tag && self.inline_matches(slot, key) {
                let id = SkuId((header as u32) - 1);
                if key.name.len() <= INLINE_BYTES || names.get(id.index()).is_some_and(|name| **name == *key.name) {
                    return Some(id);
                }
            }
            index = (index + 1) & mask;
        }
    }

    fn inline_matches(&self, slot: &Slot, key: &Key<'_>) -> bool {
        // Relaxed: ordered after the header's Acquire load, which synchronised with
        // the writer's Release store made after these words were stored.
        slot.inline.iter().zip(key.inline).all(|(word, expected)| word.load(Ordering::Relaxed) == expected)
    }

    /// Inserts a name that is not in the table. Only one thread may insert at a time
    /// (the interner's writer lock), and the table must have an empty slot.
    pub(super) fn insert(&self, key: &Key<'_>, id: SkuId) {
        let mask = self.slots.len() - 1;
        let mut index = self.home(key);
        while self.slots[index].header.load(Ordering::Relaxed) != 0 {
            index = (index + 1) & mask;
        }
        let slot = &self.slots[index];
        for (word, value) in slot.inline.iter().zip(key.inline) {
            word.store(value, Ordering::Relaxed);
        }
        // Release: a reader that sees this header sees the words above.
        slot.header.store(key.header(id), Ordering::Release);
    }
}
