//! Stored entities. Adapters map these to and from their own item formats.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Milliseconds since the Unix epoch. Read once per request at the edge
/// (through [`crate::ports::Clock`]) and passed down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Timestamp(pub i64);

impl Timestamp {
    pub fn millis(self) -> i64 {
        self.0
    }

    pub fn seconds(self) -> i64 {
        self.0.div_euclid(1000)
    }

    pub fn plus_secs(self, secs: i64) -> Self {
        Self(self.0.saturating_add(secs.saturating_mul(1000)))
    }

    /// PocketBase's datetime format: `2026-11-26 01:14:36.865Z`.
    pub fn to_pocketbase(self) -> String {
        match chrono::DateTime::<chrono::Utc>::from_timestamp_millis(self.0) {
            Some(dt) => dt.format("%Y-%m-%d %H:%M:%S%.3fZ").to_string(),
            None => String::new(),
        }
    }
}

/// Whether `id` has the shape of an id Authgate issues (records, OTPs, MFA
/// sessions: 15 `[a-z0-9]`; a little leeway for imported data). Ids from
/// unverified input (token claims, `mfaId`, `otpId`) are checked before they
/// reach a store key, so forged giant ids are a clean 4xx, never a backend
/// error.
pub fn is_plausible_id(id: &str) -> bool {
    (1..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// A record of an auth collection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub id: String,
    pub collection_id: String,
    pub email: String,
    pub email_visibility: bool,
    pub verified: bool,
    /// argon2id PHC string. Never serialized to clients.
    pub password_hash: String,
    /// Per-record key mixed into every token's signing key; rotating it
    /// revokes all tokens issued before.
    pub token_key: String,
    pub created: Timestamp,
    pub updated: Timestamp,
    /// The collection's own (non-system) fields.
    pub fields: Map<String, Value>,
    /// Optimistic-concurrency version, bumped by every update.
    pub version: u64,
}

/// A unique value of a record: the marker that keeps `(collection, field, value)`
/// to one record. `value` is already normalised (emails ASCII-folded).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct UniqueKey {
    pub field: String,
    pub value: String,
}

impl UniqueKey {
    pub fn new(field: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            value: value.into(),
        }
    }
}

/// A one-time password waiting to be used. Only a hash of the code is kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Otp {
    pub id: String,
    pub collection_id: String,
    pub record_id: String,
    pub code_hash: String,
    /// The address the code was mailed to.
    pub sent_to: String,
    pub created: Timestamp,
    pub expires_at: Timestamp,
}

/// A half-finished multi-factor login.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MfaSession {
    pub id: String,
    pub collection_id: String,
    pub record_id: String,
    /// The first factor's method: `password`, `otp` or `oauth2`.
    pub method: String,
    pub created: Timestamp,
    pub expires_at: Timestamp,
}

/// A link between a record and an OAuth2 provider identity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExternalAuth {
    pub collection_id: String,
    pub record_id: String,
    pub provider: String,
    pub provider_id: String,
    pub created: Timestamp,
}
