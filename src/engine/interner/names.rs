//! The id -> name list of the SKU interner: append-only, read without locks.
//!
//! Names live in buckets that never move once allocated: bucket `b` holds
//! `FIRST_BUCKET << b` names, so a list of `n` names wastes less than half of its
//! slots and needs no copying to grow. Only the interner's writer (under its mutex)
//! appends; a reader finds a name with two `Acquire` loads (the bucket, the entry),
//! plain loads on x86, with no read-modify-write.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

/// Names in the first bucket.
const FIRST_BUCKET: usize = 64;
/// Buckets: enough for `FIRST_BUCKET * (2^BUCKETS - 1)` names, far above `MAX_SKUS`.
const BUCKETS: usize = 32;

const _: () = assert!(crate::limits::MAX_SKUS <= FIRST_BUCKET * ((1 << (BUCKETS - 1)) - 1));

type Bucket = Box<[OnceLock<Arc<str>>]>;

pub(super) struct NameList {
    buckets: [OnceLock<Bucket>; BUCKETS],
    /// Names published (with `Release`, after each was set).
    len: AtomicUsize,
}

impl Default for NameList {
    fn default() -> Self {
        NameList { buckets: std::array::from_fn(|_| OnceLock::new()), len: AtomicUsize::new(0) }
    }
}

/// The bucket index `index` falls in, and its place in that bucket.
fn locate(index: usize) -> (usize, usize) {
    let bucket = (usize::BITS - 1 - (index / FIRST_BUCKET + 1).leading_zeros()) as usize;
    let first_in_bucket = FIRST_BUCKET * ((1 << bucket) - 1);
    (bucket, index - first_in_bucket)
}

impl NameList {
    pub(super) fn len(&self) -> usize {
        self.len.load(Ordering::Acquire)
    }

    /// The name at `index`, if it was set (and this thread can see it).
    pub(super) fn get(&self, index: usize) -> Option<&Arc<str>> {
        let (bucket, offset) = locate(index);
        self.buckets.get(bucket)?.get()?[offset].get()
    }

    /// Sets the name at index [`Self::len`], without counting it yet (see
    /// [`Self::publish_next`]). Only one thread may append at a time (the
    /// interner's writer lock), which is what makes the index unique.
    pub(super) fn set_next(&self, name: Arc<str>) {
        let index = self.len.load(Ordering::Relaxed);
        let (bucket, offset) = locate(index);
        let entries =
            self.buckets[bucket].get_or_init(|| (0..FIRST_BUCKET << bucket).map(|_| OnceLock::new()).collect());
        assert!(entries[offset].set(name).is_ok(), "name list index {index} set twice");
    }

    /// Counts the name set by [`Self::set_next`] in [`Self::len`].
    pub(super) fn publish_next(&self) {
        let index = self.len.load(Ordering::Relaxed);
        assert!(self.get(index).is_some(), "name {index} is set before it is published");
        self.len.store(index + 1, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_tile_the_indices() {
        let mut expected = (0, 0);
        for index in 0..FIRST_BUCKET * 40 {
            assert_eq!(locate(index), expected, "index {index}");
            expected.1 += 1;
            if expected.1 == FIRST_BUCKET << expected.0 {
                expected = (expected.0 + 1, 0);
            }
        }
    }

    #[test]
    fn pushed_names_read_back_in_order() {
        let list = NameList::default();
        for index in 0..1_000 {
            list.set_next(Arc::from(format!("n{index}")));
            assert_eq!(list.len(), index, "not counted before it is published");
            list.publish_next();
        }
        assert_eq!(list.len(), 1_000);
        for index in 0..1_000 {
            assert_eq!(list.get(index).map(|name| &**name), Some(format!("n{index}").as_str()));
        }
        assert!(list.get(1_000).is_none());
    }
}
