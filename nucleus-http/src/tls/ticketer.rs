//! Session tickets: stateless resumption for TLS 1.3 and 1.2.
//!
//! The same scheme as rustls's *ring* `Ticketer`: ChaCha20-Poly1305 under a random 256-bit
//! key, a random 16-byte key name in clear in front (authenticated as associated data), a
//! random 96-bit nonce per ticket, keys rotated every 6 hours by rustls's `TicketRotator`
//! (a ticket stays valid for one more period after its key is retired). The difference is
//! where each ticket's nonce comes from: this thread's generator (`random.rs`) rather than a
//! `getrandom` system call. Keys still come from the kernel.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, CHACHA20_POLY1305, NONCE_LEN};
use ring::rand::{SecureRandom as _, SystemRandom};
use rustls::crypto::GetRandomFailed;
use rustls::server::ProducesTickets;
use rustls::ticketer::TicketRotator;

use super::random;

/// How long one key encrypts new tickets, in seconds; also the lifetime clients are told.
const ROTATION: u32 = 6 * 60 * 60;

const KEY_NAME_LEN: usize = 16;

/// A ticketer whose keys rotate every 6 hours.
pub(crate) fn new() -> Result<Arc<dyn ProducesTickets>, rustls::Error> {
    Ok(Arc::new(TicketRotator::new(ROTATION, TicketKey::generate)?))
}

/// One ticket key.
struct TicketKey {
    key: LessSafeKey,
    name: [u8; KEY_NAME_LEN],
    /// The longest ticket this key has made: longer ones are refused unopened, so that a
    /// forged ticket cannot probe the AEAD with inputs of any length (the "partitioning
    /// oracle" attack, <https://eprint.iacr.org/2020/1491>), as rustls does.
    longest: AtomicUsize,
}

impl TicketKey {
    fn generate() -> Result<Box<dyn ProducesTickets>, GetRandomFailed> {
        let kernel = SystemRandom::new();
        let mut key = [0u8; 32];
        let mut name = [0u8; KEY_NAME_LEN];
        kernel.fill(&mut key).map_err(|_| GetRandomFailed)?;
        kernel.fill(&mut name).map_err(|_| GetRandomFailed)?;
        let key = UnboundKey::new(&CHACHA20_POLY1305, &key).map_err(|_| GetRandomFailed)?;
        Ok(Box::new(TicketKey {
            key: LessSafeKey::new(key),
            name,
            longest: AtomicUsize::new(0),
        }))
    }
}

impl ProducesTickets for TicketKey {
    fn enabled(&self) -> bool {
        true
    }

    fn lifetime(&self) -> u32 {
        ROTATION
    }

    /// `name ‖ nonce ‖ ciphertext ‖ tag`.
    fn encrypt(&self, plain: &[u8]) -> Option<Vec<u8>> {
        let mut nonce = [0u8; NONCE_LEN];
        random::fill(&mut nonce).ok()?;
        let tag_len = CHACHA20_POLY1305.tag_len();
        let mut ticket = Vec::with_capacity(KEY_NAME_LEN + NONCE_LEN + plain.len() + tag_len);
        ticket.extend_from_slice(&self.name);
        ticket.extend_from_slice(&nonce);
        ticket.extend_from_slice(plain);
        let sealed = ticket.get_mut(KEY_NAME_LEN + NONCE_LEN..)?;
        let tag = self
            .key
            .seal_in_place_separate_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(self.name),
                sealed,
            )
            .ok()?;
        ticket.extend_from_slice(tag.as_ref());
        self.longest.fetch_max(ticket.len(), Ordering::Relaxed);
        Some(ticket)
    }

    fn decrypt(&self, ticket: &[u8]) -> Option<Vec<u8>> {
        if ticket.len() > self.longest.load(Ordering::Relaxed) {
            return None;
        }
        let (name, rest) = ticket.split_at_checked(KEY_NAME_LEN)?;
        // The name is public (it travels in clear); it only tells which key to try.
        if name != self.name {
            return None;
        }
        let (nonce, sealed) = rest.split_at_checked(NONCE_LEN)?;
        let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut plain = sealed.to_vec();
        let len = self
            .key
            .open_in_place(nonce, Aad::from(name), &mut plain)
            .ok()?
            .len();
        plain.truncate(len);
        Some(plain)
    }
}

impl std::fmt::Debug for TicketKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TicketKey").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> Box<dyn ProducesTickets> {
        TicketKey::generate().unwrap()
    }

    #[test]
    fn a_ticket_opens_with_its_key_only() {
        let (a, b) = (key(), key());
        let ticket = a.encrypt(b"session state").unwrap();
        assert_eq!(a.decrypt(&ticket).as_deref(), Some(&b"session state"[..]));
        let _ = b.encrypt(&[0; 64]);
        assert_eq!(b.decrypt(&ticket), None, "another key's ticket");
    }

    #[test]
    fn two_tickets_of_the_same_state_differ() {
        let a = key();
        assert_ne!(a.encrypt(b"state"), a.encrypt(b"state"));
    }

    #[test]
    fn altered_short_and_overlong_tickets_are_refused() {
        let a = key();
        let ticket = a.encrypt(b"session state").unwrap();
        for at in [0, KEY_NAME_LEN, KEY_NAME_LEN + NONCE_LEN, ticket.len() - 1] {
            let mut altered = ticket.clone();
            altered[at] ^= 1;
            assert_eq!(a.decrypt(&altered), None, "byte {at} flipped");
        }
        assert_eq!(a.decrypt(&ticket[..KEY_NAME_LEN + 3]), None);
        assert_eq!(a.decrypt(&[]), None);
        let mut longer = ticket.clone();
        longer.push(0);
        assert_eq!(a.decrypt(&longer), None);
    }
}
