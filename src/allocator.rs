//! The process's allocator: mimalloc, entered through its plain functions whenever
//! the alignment asked for is one every mimalloc block has anyway.
//!
//! `mimalloc::MiMalloc` passes every request to `mi_malloc_aligned`. In mimalloc v3
//! that function's fast path needs a free block in the size's page; once that page is
//! empty, a size whose block is not a power of two (most of ours: a 160-byte
//! reservation, 24- and 48-byte nodes) falls to over-allocation from a larger class,
//! and keeps doing so, because the aligned path never refills the size's own page
//! (`alloc-aligned.c`, `mi_theap_malloc_zero_aligned_at_generic`; measured: ~180
//! extra instructions per reserve on the reservation's allocation alone). The plain
//! `mi_malloc` has no such cliff. Every mimalloc block is aligned to at least a
//! machine word, so requests aligned to at most that take the plain functions; the
//! rest (rare: SIMD types, cache-line padding) keep `MiMalloc`'s aligned ones. All
//! blocks are freed by `mi_free` either way.

use libmimalloc_sys as ffi;
use mimalloc::MiMalloc;
use std::alloc::{GlobalAlloc, Layout};
use std::ffi::c_void;

/// The alignment of every block mimalloc hands out (a machine word).
const WORD_ALIGN: usize = std::mem::size_of::<usize>();

/// Install with `#[global_allocator] static ALLOCATOR: stockd::Allocator = stockd::Allocator;`.
pub struct Allocator;

// SAFETY: every method forwards to mimalloc, which returns blocks of at least the
// size asked for, aligned to at least `WORD_ALIGN` (plain functions, used only when
// that satisfies the layout) or to the layout's alignment (`MiMalloc`), or null on
// failure; `mi_free`/`mi_realloc` accept any block from either family.
unsafe impl GlobalAlloc for Allocator {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.align() <= WORD_ALIGN {
            // SAFETY: a plain allocation of `size` bytes; word-aligned by mimalloc's contract.
            unsafe { ffi::mi_malloc(layout.size()) as *mut u8 }
        } else {
            // SAFETY: forwarded with the caller's layout.
            unsafe { MiMalloc.alloc(layout) }
        }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if layout.align() <= WORD_ALIGN {
            // SAFETY: as in `alloc`, zeroed.
            unsafe { ffi::mi_zalloc(layout.size()) as *mut u8 }
        } else {
            // SAFETY: forwarded with the caller's layout.
            unsafe { MiMalloc.alloc_zeroed(layout) }
        }
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from this allocator, so from mimalloc; `mi_free` takes any block.
        unsafe { MiMalloc.dealloc(ptr, layout) }
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if layout.align() <= WORD_ALIGN {
            // SAFETY: `ptr` is a mimalloc block; the new block keeps word alignment.
            unsafe { ffi::mi_realloc(ptr as *mut c_void, new_size) as *mut u8 }
        } else {
            // SAFETY: forwarded with the caller's layout.
            unsafe { MiMalloc.realloc(ptr, layout, new_size) }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Blocks of every small size, at every alignment up to a page, are aligned, usable
    /// and survive growing and shrinking (through both families of functions).
    #[test]
    fn blocks_are_aligned_and_usable() {
        let allocator = Allocator;
        for align in [1usize, 2, 4, 8, 16, 32, 64, 4096] {
            for size in (1..=600).step_by(7).chain([1024, 4096, 65_536]) {
                let layout = Layout::from_size_align(size, align).unwrap();
                // SAFETY: a non-zero size; every block is written within its size and freed once.
                unsafe {
                    let zeroed = allocator.alloc_zeroed(layout);
                    assert!(!zeroed.is_null() && (zeroed as usize).is_multiple_of(align), "{size} at {align}");
                    assert!(std::slice::from_raw_parts(zeroed, size).iter().all(|&b| b == 0));
                    allocator.dealloc(zeroed, layout);
                    let block = allocator.alloc(layout);
                    assert!(!block.is_null() && (block as usize).is_multiple_of(align), "{size} at {align}");
                    block.write_bytes(0xa5, size);
                    let grown = allocator.realloc(block, layout, size * 3);
                    assert!(!grown.is_null() && (grown as usize).is_multiple_of(align), "grown {size} at {align}");
                    assert!(std::slice::from_raw_parts(grown, size).iter().all(|&b| b == 0xa5));
                    allocator.dealloc(grown, Layout::from_size_align(size * 3, align).unwrap());
                }
            }
        }
    }
}
