//! The random bytes rustls asks for per handshake, from a per-thread CSPRNG.
//!
//! rustls's *ring* provider reads every random value from the kernel: the server random and,
//! for each of the two TLS 1.3 session tickets, a nonce, an age offset and the ticket's
//! encryption nonce. That is seven `getrandom` system calls per handshake, where OpenSSL,
//! BoringSSL and AWS-LC draw from a user-space generator seeded by the kernel. Here they
//! come from `rand`'s `ThreadRng`: ChaCha12, one instance per thread, seeded from the
//! kernel and reseeded from it after every 64 KiB of output. Nucleus never forks, so no
//! two processes share a generator's state.
//!
//! What stays with the kernel: the ephemeral key-exchange secret and the ECDSA nonce, which
//! *ring* draws itself, and the session-ticket keys (see `ticketer.rs`).

use rand::TryRngCore;
use rustls::crypto::{GetRandomFailed, SecureRandom};

/// rustls's source of random bytes for Nucleus's listeners.
#[derive(Debug)]
pub(crate) struct ThreadRandom;

impl SecureRandom for ThreadRandom {
    fn fill(&self, buf: &mut [u8]) -> Result<(), GetRandomFailed> {
        fill(buf)
    }
}

/// Fills `buf` from this thread's generator.
pub(crate) fn fill(buf: &mut [u8]) -> Result<(), GetRandomFailed> {
    rand::rng().try_fill_bytes(buf).map_err(|_| GetRandomFailed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fills_differ_and_are_not_all_zero() {
        let (mut a, mut b) = ([0u8; 32], [0u8; 32]);
        ThreadRandom.fill(&mut a).unwrap();
        ThreadRandom.fill(&mut b).unwrap();
        assert_ne!(a, [0; 32]);
        assert_ne!(a, b);
    }

    #[test]
    fn threads_draw_different_bytes() {
        let draw = || {
            let mut bytes = [0u8; 32];
            fill(&mut bytes).unwrap();
            bytes
        };
        let other = std::thread::spawn(draw).join().unwrap();
        assert_ne!(draw(), other);
    }
}
