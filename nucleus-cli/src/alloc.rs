//! The binary's allocator: mimalloc, called the way Rust's own `System` allocator calls
//! `malloc`, and tuned for a server that holds many idle connections.
//!
//! **Plain `mi_malloc` where it suffices.** The `mimalloc` crate's `GlobalAlloc` passes every
//! request to `mi_malloc_aligned`, alignment 1 or 8 included. In mimalloc v3 that call finds a
//! free block only on its fast path; when the size class's free list is empty (after every
//! free, since frees go to a separate list first) it over-allocates by the alignment, unless the
//! size is a power of two. A handler's boxed future of 344 bytes took that path on every
//! request: 90 instructions per allocation instead of about 40, and a block from a bigger size
//! class. `mi_malloc` already returns blocks aligned to 16 bytes (8 for blocks under 16), so
//! like `std::alloc::System` with glibc, only alignments above that, or above the size, go to
//! the aligned calls.
//!
//! A keep-alive connection that idles frees its buffers (see `nucleus-http`'s dispatcher).
//! mimalloc keeps freed pages for a delay (1 s by default) before it returns them to the
//! kernel, and only counts that delay down when the thread allocates again. On a worker whose
//! connections are all idle, that never happens, so freed buffers stayed resident: 6.4 KiB
//! per idle connection instead of 1.9 KiB (docs/PERFORMANCE.md).
//!
//! Returning them at once (a delay of 0) was the first answer, but it makes a busy worker
//! give pages back and fault them in again for every batch of work that empties one: an
//! `madvise` per 32 HTTP/2 requests, and 648,000 instead of 967,000 h2c requests per second
//! on one core (h2load -c 16 -m 32); TLS handshakes paid the same way for rustls's buffers.
//! 100 ms keeps pages that are reused at once and still returns what idle connections freed:
//! 2.2–2.9 KiB per idle connection in this session's runs of `SKIP_BUILD=1 bench/idle.sh
//! nucleus` (2.2 KiB with purging at once).

use std::alloc::{GlobalAlloc, Layout};
use std::ffi::{c_long, c_void};

/// The alignment every `mi_malloc` block of at least 16 bytes has (mimalloc's
/// `MI_MAX_ALIGN_SIZE`, `max_align_t` on the 64-bit targets we build for; smaller blocks are
/// 8 bytes and 8-aligned). mimalloc checks this of every block it hands out in its debug builds
/// (`_mi_page_malloc_zero`); the tests below check it of ours.
const MALLOC_ALIGN: usize = 16;

/// mimalloc as the global allocator, with `mi_malloc` for the common case (see the module docs).
pub(crate) struct Mimalloc;

/// Whether plain `mi_malloc` (or `mi_realloc`) of `size` bytes meets `align`: the rule
/// `std::alloc::System` applies to glibc's `malloc`.
#[inline(always)]
fn malloc_fits(size: usize, align: usize) -> bool {
    align <= MALLOC_ALIGN && align <= size
}

// SAFETY: every method returns what mimalloc returns: a block of at least the requested size
// with the requested alignment, or null on failure. The plain calls are taken only when
// `malloc_fits`, that is when the alignment is at most 16 and at most the size: mimalloc's blocks
// of 16 bytes or more are 16-aligned and its 8-byte blocks 8-aligned, so any such block meets
// an alignment that is no larger than its size and no larger than 16. Every other request goes
// to the `_aligned` call with the layout's alignment. `mi_free` and the `realloc` calls accept a
// block from any of these calls. `GlobalAlloc` callers never pass a zero size.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Mimalloc {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: see the impl.
        unsafe {
            if malloc_fits(layout.size(), layout.align()) {
                libmimalloc_sys::mi_malloc(layout.size()).cast()
            } else {
                libmimalloc_sys::mi_malloc_aligned(layout.size(), layout.align()).cast()
            }
        }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: see the impl.
        unsafe {
            if malloc_fits(layout.size(), layout.align()) {
                libmimalloc_sys::mi_zalloc(layout.size()).cast()
            } else {
                libmimalloc_sys::mi_zalloc_aligned(layout.size(), layout.align()).cast()
            }
        }
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, _layout: Layout) {
        // SAFETY: see the impl; `ptr` came from this allocator.
        unsafe { libmimalloc_sys::mi_free(ptr.cast::<c_void>()) }
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: see the impl; `ptr` came from this allocator with `layout`.
        unsafe {
            if malloc_fits(new_size, layout.align()) {
                libmimalloc_sys::mi_realloc(ptr.cast::<c_void>(), new_size).cast()
            } else {
                libmimalloc_sys::mi_realloc_aligned(ptr.cast::<c_void>(), new_size, layout.align())
                    .cast()
            }
        }
    }
}

/// mimalloc's `mi_option_purge_delay` (its position in `mi_option_e`, mimalloc v3).
const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;
/// Its documented default in milliseconds, used to check that `PURGE_DELAY` names it.
const DEFAULT_PURGE_DELAY_MS: c_long = 1000;
/// Ours.
const PURGE_DELAY_MS: c_long = 100;

/// Returns freed memory to the kernel after 100 ms, unless the operator chose a delay with
/// `MIMALLOC_PURGE_DELAY`. Returns whether the setting was changed.
pub(crate) fn purge_freed_memory_soon() -> bool {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() {
        return false;
    }
    #[allow(unsafe_code)]
    // SAFETY: both calls only read or write one entry of mimalloc's option table; any option
    // index is accepted (an unknown one is ignored), and the option is re-read by the
    // allocator on every purge, so changing it while threads allocate is supported.
    unsafe {
        // Only if the option at that index has the purge delay's default: a different
        // mimalloc version with another enum order leaves everything as it was.
        if libmimalloc_sys::mi_option_get(PURGE_DELAY) != DEFAULT_PURGE_DELAY_MS {
            return false;
        }
        libmimalloc_sys::mi_option_set(PURGE_DELAY, PURGE_DELAY_MS);
        libmimalloc_sys::mi_option_get(PURGE_DELAY) == PURGE_DELAY_MS
    }
}

#[cfg(test)]
mod tests {
    use std::alloc::{GlobalAlloc, Layout};

    use super::Mimalloc;

    /// Every size from 1 to 4 KiB (and some larger) with every alignment from 1 to 4 KiB: the
    /// block is aligned, writable to its end, and keeps its bytes through a `realloc` that
    /// grows it and one that shrinks it; a zeroed block reads zero.
    #[test]
    #[allow(unsafe_code)]
    fn blocks_meet_every_layout() {
        let aligned = |p: *mut u8, align: usize| !p.is_null() && (p as usize).is_multiple_of(align);
        for size in (1..=4096).chain([5000, 65_536, 1 << 20]) {
            for align in [1, 2, 4, 8, 16, 32, 64, 4096] {
                let layout = Layout::from_size_align(size, align).unwrap();
                let doubled = Layout::from_size_align(size * 2, align).unwrap();
                // SAFETY: non-zero sizes; each block is used within its size and freed once,
                // with the layout it has at that point.
                unsafe {
                    let p = Mimalloc.alloc(layout);
                    assert!(aligned(p, align), "alloc: size {size}, align {align}");
                    p.write_bytes(0xA5, size);
                    let grown = Mimalloc.realloc(p, layout, size * 2);
                    assert!(aligned(grown, align), "grown: size {size}, align {align}");
                    assert_eq!(*grown.add(size - 1), 0xA5);
                    let shrunk = Mimalloc.realloc(grown, doubled, size);
                    assert!(aligned(shrunk, align), "shrunk: size {size}, align {align}");
                    assert_eq!(*shrunk, 0xA5);
                    Mimalloc.dealloc(shrunk, layout);

                    let zeroed = Mimalloc.alloc_zeroed(layout);
                    assert!(aligned(zeroed, align), "zeroed: size {size}, align {align}");
                    let bytes = std::slice::from_raw_parts(zeroed, size);
                    assert!(bytes.iter().all(|&b| b == 0));
                    Mimalloc.dealloc(zeroed, layout);
                }
            }
        }
    }

    #[test]
    fn the_purge_delay_is_found_and_set() {
        // The test binary's allocator is the system one, but mimalloc's option table is
        // linked in all the same: the index must hold the documented default until set.
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() {
            return;
        }
        assert!(super::purge_freed_memory_soon());
        assert!(!super::purge_freed_memory_soon(), "already set: left alone");
    }
}
