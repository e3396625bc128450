//! A small number per thread, for structures kept in per-thread shards (the in-flight gauge,
//! metrics counters, access-log buffers) and for request IDs: threads are numbered in the
//! order they first ask, so that workers spread over the shards and each keeps writing its
//! own. A structure with `n` shards uses `thread_number() % n`. One numbering for all of
//! them, here, so that the framework crate shares it (`internal::thread_number`).

use std::sync::atomic::{AtomicUsize, Ordering};

thread_local! {
    static NUMBER: usize = NEXT.fetch_add(1, Ordering::Relaxed);
}

static NEXT: AtomicUsize = AtomicUsize::new(0);

/// The calling thread's number: the same on every call from one thread.
pub fn thread_number() -> usize {
    NUMBER.with(|n| *n)
}

#[cfg(test)]
mod tests {
    use super::thread_number;

    #[test]
    fn a_thread_keeps_its_number_and_two_threads_differ() {
        let here = thread_number();
        assert_eq!(thread_number(), here);
        let there = std::thread::spawn(thread_number).join().unwrap();
        assert_ne!(there, here);
    }
}
