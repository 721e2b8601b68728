//! Password hashing with argon2id (OWASP parameters), always off the async
//! executor: one hash costs tens of milliseconds of CPU.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

use crate::error::{Error, Result};

/// OWASP's argon2id recommendation: m=19456 KiB, t=2, p=1.
fn argon2() -> Result<Argon2<'static>> {
    let params = Params::new(19_456, 2, 1, None).map_err(Error::internal)?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// Hashes `password` with a salt made from `salt_bytes` (16 random bytes,
/// injected so hashing stays deterministic under test).
pub async fn hash(password: String, salt_bytes: [u8; 16]) -> Result<String> {
    tokio::task::spawn_blocking(move || hash_blocking(&password, &salt_bytes))
        .await
        .map_err(Error::internal)?
}

pub fn hash_blocking(password: &str, salt_bytes: &[u8; 16]) -> Result<String> {
    let salt = SaltString::encode_b64(salt_bytes).map_err(Error::internal)?;
    let phc = argon2()?
        .hash_password(password.as_bytes(), &salt)
        .map_err(Error::internal)?;
    Ok(phc.to_string())
}

/// Verifies `password` against a PHC string. A malformed hash verifies as
/// false (after doing the same work against `dummy`) rather than erroring, so
/// a corrupt record cannot be told apart from a wrong password.
pub async fn verify(password: String, phc: String) -> Result<bool> {
    tokio::task::spawn_blocking(move || verify_blocking(&password, &phc))
        .await
        .map_err(Error::internal)
}

fn verify_blocking(password: &str, phc: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    match argon2() {
        Ok(a) => a.verify_password(password.as_bytes(), &parsed).is_ok(),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hash_verifies_only_its_own_password_and_uses_owasp_argon2id() {
        let h = hash("correct horse".into(), [7; 16]).await.unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(verify("correct horse".into(), h.clone()).await.unwrap());
        assert!(!verify("wrong horse".into(), h).await.unwrap());
        assert!(!verify("x".into(), "not a phc string".into()).await.unwrap());
    }
}
