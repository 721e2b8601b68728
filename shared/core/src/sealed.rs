//! Sealing what must not sit readable in the store: a pending mail holds a
//! token or an OTP code. ChaCha20-Poly1305 with a random nonce per message;
//! the key never lives in the sealed item.

use base64::Engine as _;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, CHACHA20_POLY1305, NONCE_LEN};
use sha2::{Digest, Sha256};

use crate::ports::Random;

/// A 256-bit key derived from a secret for one purpose, so one secret can
/// key several things without their keys being related.
pub struct SealKey([u8; 32]);

impl SealKey {
    pub fn derive(purpose: &str, secret: &str) -> Self {
        let mut h = Sha256::new();
        h.update(b"authgate-seal-v1\0");
        h.update(purpose.as_bytes());
        h.update(b"\0");
        h.update(secret.as_bytes());
        Self(h.finalize().into())
    }

    fn aead(&self) -> Option<LessSafeKey> {
        UnboundKey::new(&CHACHA20_POLY1305, &self.0)
            .ok()
            .map(LessSafeKey::new)
    }
}

/// `base64(nonce ‖ ciphertext ‖ tag)` of `plain`, bound to `context` (e.g.
/// the id of the item holding it: a sealed value copied onto another item
/// does not open there); `None` only if the cipher cannot be set up.
pub fn seal(key: &SealKey, plain: &[u8], context: &str, rng: &dyn Random) -> Option<String> {
    let mut nonce = [0u8; NONCE_LEN];
    rng.fill(&mut nonce);
    let mut data = plain.to_vec();
    key.aead()?
        .seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(context.as_bytes()),
            &mut data,
        )
        .ok()?;
    let mut out = nonce.to_vec();
    out.extend_from_slice(&data);
    Some(base64::engine::general_purpose::STANDARD_NO_PAD.encode(out))
}

/// The plain bytes of a [`seal`]ed value; `None` when it was sealed with
/// another key or for another `context`, or altered.
pub fn open(key: &SealKey, sealed: &str, context: &str) -> Option<Vec<u8>> {
    let bytes = base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(sealed)
        .ok()?;
    if bytes.len() < NONCE_LEN {
        return None;
    }
    let (nonce, data) = bytes.split_at(NONCE_LEN);
    let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
    let mut data = data.to_vec();
    let plain = key
        .aead()?
        .open_in_place(nonce, Aad::from(context.as_bytes()), &mut data)
        .ok()?;
    Some(plain.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Counter(std::sync::atomic::AtomicU8);
    impl Random for Counter {
        fn fill(&self, buf: &mut [u8]) {
            for b in buf {
                *b = self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        }
    }

    #[test]
    fn a_sealed_value_opens_only_with_its_key_and_unaltered() {
        let rng = Counter(Default::default());
        let key = SealKey::derive("outbox", "secret-a");
        let sealed = seal(&key, b"token 123456", "item-1", &rng).unwrap();
        assert!(!sealed.contains("123456"));
        assert_eq!(
            open(&key, &sealed, "item-1").as_deref(),
            Some(&b"token 123456"[..])
        );
        assert_eq!(open(&key, &sealed, "item-2"), None, "bound to its item");
        assert_eq!(
            open(&SealKey::derive("outbox", "secret-b"), &sealed, "item-1"),
            None
        );
        assert_eq!(
            open(&SealKey::derive("other", "secret-a"), &sealed, "item-1"),
            None
        );
        let mut bytes: Vec<char> = sealed.chars().collect();
        let last = bytes.len() - 2;
        bytes[last] = if bytes[last] == 'A' { 'B' } else { 'A' };
        let altered: String = bytes.into_iter().collect();
        assert_eq!(open(&key, &altered, "item-1"), None);
        assert_ne!(
            seal(&key, b"same", "i", &rng),
            seal(&key, b"same", "i", &rng),
            "fresh nonces"
        );
    }
}
