//! One module per endpoint, plus the steps they share. Each endpoint reads
//! like PocketBase's handlers: the collection and its method switch are
//! checked first ([`guards`], run by the HTTP layer before the body is
//! read) → the form validates → the record is looked up → answer.
//!
//! Shared steps: [`auth`] (finishing a login, MFA, reading auth tokens),
//! [`records`] (optimistic updates with retry, the unverified → verified
//! hardening), [`sign_up`] (creating records), [`mail_delivery`] and
//! [`mail_token`] (the mail flows' sending and token checks).

use std::sync::Arc;

use crate::error::Result;
use crate::model::Record;
use crate::password::Hasher;
use crate::ports::{Clock, Mailer, Random, Store};

pub mod auth;
pub mod auth_alert;
pub mod guards;
pub mod mail_delivery;
pub mod mail_sender;
pub mod mail_token;
pub mod rate_limit;
pub mod records;
pub mod self_service;
pub mod sign_up;

pub mod auth_methods;
pub mod auth_refresh;
pub mod auth_revoke;
pub mod auth_with_oauth2;
pub mod auth_with_otp;
pub mod auth_with_password;
pub mod confirm_email_change;
pub mod confirm_password_reset;
pub mod confirm_verification;
pub mod external_auths;
pub mod records_create;
pub mod records_delete;
pub mod records_list;
pub mod records_update;
pub mod records_view;
pub mod request_email_change;
pub mod request_otp;
pub mod request_password_reset;
pub mod request_verification;

pub use auth::{authenticate, finish_auth, record_json, AuthOutcome, LoginRequest};
pub use guards::auth_collection;

/// Everything a service needs from outside: stores, mail, time, randomness.
/// Built once per process (per Lambda cold start).
#[derive(Clone)]
pub struct Ctx {
    pub store: Arc<dyn Store>,
    pub mailer: Arc<dyn Mailer>,
    pub clock: Arc<dyn Clock>,
    pub rng: Arc<dyn Random>,
    /// The bounded argon2 pool (see [`crate::password`]).
    pub hasher: Hasher,
    /// Outbound OAuth2 HTTP; set with [`Ctx::with_oauth2`] (the core has no
    /// HTTP client of its own). Without it OAuth2 logins fail with a 500.
    pub oauth2: Option<Arc<dyn crate::ports::OAuth2Client>>,
}

impl Ctx {
    /// Builds the context with one hashing worker per core. Nothing is
    /// hashed at start-up (the dummy hash is a constant).
    pub fn new(
        store: Arc<dyn Store>,
        mailer: Arc<dyn Mailer>,
        clock: Arc<dyn Clock>,
        rng: Arc<dyn Random>,
    ) -> Result<Self> {
        Ok(Self {
            store,
            mailer,
            clock,
            rng,
            hasher: Hasher::per_core(),
            oauth2: None,
        })
    }

    /// Sets the OAuth2 HTTP client (the adapter's, or a fake in tests).
    pub fn with_oauth2(mut self, client: Arc<dyn crate::ports::OAuth2Client>) -> Self {
        self.oauth2 = Some(client);
        self
    }

    /// Replaces the hashing pool (worker count and queue bound).
    pub fn with_hasher(mut self, hasher: Hasher) -> Self {
        self.hasher = hasher;
        self
    }

    pub fn random_string(&self, len: usize, alphabet: &[u8]) -> String {
        crate::random::string(self.rng.as_ref(), len, alphabet)
    }

    /// Hashes a password on the pool with a fresh random salt.
    pub async fn hash_password(&self, password: &str) -> Result<String> {
        self.hasher.hash(password, salt(self.rng.as_ref())).await
    }

    /// Verifies a password for a record, or against the dummy hash when there
    /// is no record, so unknown identities cost the same as wrong passwords.
    pub async fn verify_password(&self, record: Option<&Record>, password: &str) -> Result<bool> {
        let (hash, real) = match record {
            Some(r) if !r.password_hash.is_empty() => (r.password_hash.as_str(), true),
            _ => (crate::password::DUMMY_HASH, false),
        };
        let ok = self.hasher.verify(password, hash).await?;
        Ok(ok && real)
    }
}

fn salt(rng: &dyn Random) -> [u8; 16] {
    let mut s = [0u8; 16];
    rng.fill(&mut s);
    s
}
