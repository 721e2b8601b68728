//! Random strings from an injected source of randomness.

/// A cryptographically secure random source, injected for tests.
pub trait Random: Send + Sync {
    fn fill(&self, buf: &mut [u8]);
}

pub const LOWER_ALNUM: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
pub const ALNUM: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
pub const DIGITS: &[u8] = b"0123456789";

/// A uniformly random string over `alphabet` (rejection sampling, no modulo bias).
pub fn string(rng: &dyn Random, len: usize, alphabet: &[u8]) -> String {
    let n = alphabet.len();
    debug_assert!(n > 0 && n <= 256);
    // Largest multiple of n that fits in a byte: bytes at or above it are rejected.
    let limit = 256 - (256 % n);
    let mut out = String::with_capacity(len);
    let mut buf = [0u8; 64];
    while out.len() < len {
        rng.fill(&mut buf);
        for &b in &buf {
            if (b as usize) < limit {
                out.push(alphabet[(b as usize) % n] as char);
                if out.len() == len {
                    break;
                }
            }
        }
    }
    out
}

/// A 15 character `[a-z0-9]` record id, PocketBase's id shape.
pub fn record_id(rng: &dyn Random) -> String {
    string(rng, 15, LOWER_ALNUM)
}

/// A 50 character secret (token keys, collection secrets).
pub fn secret(rng: &dyn Random) -> String {
    string(rng, 50, ALNUM)
}
