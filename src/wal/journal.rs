//! The log as the engine's [`Journal`]: each entry is encoded (outside the log's
//! mutex, into a per-thread scratch buffer, in the layout of [`super::record`]) and
//! appended as one record.

use super::record::encode_entry;
use super::Wal;
use crate::engine::{Journal, JournalEntry};
use std::cell::RefCell;

thread_local! {
    static SCRATCH: RefCell<Vec<u8>> = RefCell::new(Vec::with_capacity(4096));
}

/// Scratch buffers larger than this are not kept between records.
const MAX_KEPT_SCRATCH_BYTES: usize = 1 << 20;

impl Journal for Wal {
    fn record(&self, entry: &JournalEntry<'_>) {
        SCRATCH.with(|scratch| {
            let mut scratch = scratch.borrow_mut();
            scratch.clear();
            encode_entry(entry, &mut scratch);
            self.append(|buffer| buffer.extend_from_slice(&scratch));
            if scratch.capacity() > MAX_KEPT_SCRATCH_BYTES {
                *scratch = Vec::with_capacity(4096);
            }
        });
    }
}
