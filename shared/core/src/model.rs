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

/// A record of an auth collection. Its `Debug` leaves out the password hash
/// and the token key, so a record in a log line never carries either.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub id: String,
    pub collection_id: String,
    pub email: String,
    pub email_visibility: bool,
    pub verified: bool,
    /// argon2id PHC string, or a bcrypt hash imported from PocketBase until
    /// its owner's next login replaces it. Never serialized to clients.
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

impl std::fmt::Debug for Record {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Record")
            .field("id", &self.id)
            .field("collection_id", &self.collection_id)
            .field("email", &self.email)
            .field("verified", &self.verified)
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
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

    /// `keys` without repeats, first occurrences in order: a store claims
    /// or releases each marker once (two fields may normalise to the same
    /// key, and a transaction may not touch one item twice).
    pub fn distinct(keys: &[UniqueKey]) -> Vec<&UniqueKey> {
        let mut out: Vec<&UniqueKey> = Vec::with_capacity(keys.len());
        for k in keys {
            if !out.contains(&k) {
                out.push(k);
            }
        }
        out
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
    /// The first factor's method.
    pub method: AuthMethod,
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

/// The ways to prove a login factor, named as PocketBase names them in MFA
/// sessions (`password`, `otp`, `oauth2`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthMethod {
    Password,
    Otp,
    #[serde(rename = "oauth2")]
    OAuth2,
}

impl AuthMethod {
    /// The stored and logged name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Password => "password",
            Self::Otp => "otp",
            Self::OAuth2 => "oauth2",
        }
    }

    /// The method a stored name stands for; `None` for anything else.
    pub fn parse(name: &str) -> Option<Self> {
        [Self::Password, Self::Otp, Self::OAuth2]
            .into_iter()
            .find(|m| m.as_str() == name)
    }
}

/// The mails Authgate sends. Each flow has its own template, throttle and
/// (except OTP) token type; see `service::mail_delivery`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MailFlow {
    Verification,
    PasswordReset,
    EmailChange,
    Otp,
    /// A login from a new location (PocketBase's `authAlert`).
    AuthAlert,
}

impl MailFlow {
    /// The name used in logs and local mailbox file names.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Verification => "verification",
            Self::PasswordReset => "password-reset",
            Self::EmailChange => "email-change",
            Self::Otp => "otp",
            Self::AuthAlert => "auth-alert",
        }
    }
}

/// A mail waiting in the outbox. Requests only write these; the sender
/// (the `mailer` function on the table's stream, or the local server's
/// background task) sends and deletes them.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxItem {
    pub id: String,
    pub collection_id: String,
    pub flow: MailFlow,
    /// The rendered message (`MailMessage` as JSON), sealed with the
    /// collection's outbox key (`service::mail_delivery`): it carries a
    /// token or code. A decoy's is random bytes of the same kind.
    pub sealed: String,
    /// Written so that a request for an unknown address, or a throttled
    /// one, does the same store work as a real mail; the sender drops it.
    pub decoy: bool,
    pub created: Timestamp,
    /// Kept this long for replay if sending keeps failing (TTL).
    pub expires_at: Timestamp,
}

impl std::fmt::Debug for OutboxItem {
    // The sealed message is opaque anyway; keep log lines short.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutboxItem")
            .field("id", &self.id)
            .field("collection_id", &self.collection_id)
            .field("flow", &self.flow)
            .field("decoy", &self.decoy)
            .finish_non_exhaustive()
    }
}

/// A fixed-window counter shared by every container. The stored key is
/// [`CounterKey::storage_key`]; its format is part of the stored data, so
/// it never changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CounterKey<'a> {
    /// Resend throttle of a mail flow for one record.
    MailResend {
        flow: MailFlow,
        collection_id: &'a str,
        record_id: &'a str,
    },
    /// OTPs issued for one record (or one decoy address).
    OtpIssue {
        collection_id: &'a str,
        record_id: &'a str,
    },
    /// OTP code checks against one record (or one decoy address).
    OtpCheck {
        collection_id: &'a str,
        record_id: &'a str,
    },
    /// Requests of one client under one rate limit rule (`scope` names the
    /// rule and, for collection rules, the route).
    RateLimit { scope: &'a str, client: &'a str },
    /// Password attempts against one account: a record id, or for an
    /// unknown identity the identity as named (so both are capped alike).
    PasswordAttempts {
        collection_id: &'a str,
        subject: &'a str,
    },
    /// Mails of one flow to one (folded) address, whoever asked for them.
    MailTo { flow: MailFlow, address: &'a str },
    /// A network (or, for the record-wide marker, any network) a record
    /// logged in from, as a keyed digest that also names the period; see
    /// `service::auth_alert`. The window is the memory.
    AuthOrigin {
        collection_id: &'a str,
        record_id: &'a str,
        digest: &'a str,
    },
}

impl CounterKey<'_> {
    pub fn storage_key(&self) -> String {
        match self {
            Self::MailResend {
                flow,
                collection_id,
                record_id,
            } => format!("mail:{}:{collection_id}:{record_id}", flow.as_str()),
            Self::OtpIssue {
                collection_id,
                record_id,
            } => format!("otp:issue:{collection_id}:{record_id}"),
            Self::OtpCheck {
                collection_id,
                record_id,
            } => format!("otp:check:{collection_id}:{record_id}"),
            Self::RateLimit { scope, client } => format!("rl:{scope}:{client}"),
            Self::PasswordAttempts {
                collection_id,
                subject,
            } => format!("pw:{collection_id}:{subject}"),
            Self::MailTo { flow, address } => format!("mailto:{}:{address}", flow.as_str()),
            Self::AuthOrigin {
                collection_id,
                record_id,
                digest,
            } => format!("origin:{collection_id}:{record_id}:{digest}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distinct_unique_keys_keep_first_occurrences_in_order() {
        let a = UniqueKey::new("email", "a@x.io");
        let b = UniqueKey::new("username", "a");
        let keys = [a.clone(), b.clone(), a.clone(), b.clone()];
        assert_eq!(UniqueKey::distinct(&keys), vec![&a, &b]);
        assert!(UniqueKey::distinct(&[]).is_empty());
    }

    #[test]
    fn a_records_debug_output_hides_its_password_hash_and_token_key() {
        let record = Record {
            id: "r1".into(),
            collection_id: "c1".into(),
            email: "a@example.com".into(),
            email_visibility: false,
            verified: false,
            password_hash: "$argon2id$secret-hash".into(),
            token_key: "the-token-key".into(),
            created: Timestamp(0),
            updated: Timestamp(0),
            fields: Map::new(),
            version: 1,
        };
        let dbg = format!("{record:?}");
        assert!(
            !dbg.contains("secret-hash") && !dbg.contains("the-token-key"),
            "{dbg}"
        );
    }

    #[test]
    fn counter_keys_keep_their_stored_format() {
        let cases = [
            (
                CounterKey::MailResend {
                    flow: MailFlow::PasswordReset,
                    collection_id: "c",
                    record_id: "r",
                },
                "mail:password-reset:c:r",
            ),
            (
                CounterKey::OtpIssue {
                    collection_id: "c",
                    record_id: "r",
                },
                "otp:issue:c:r",
            ),
            (
                CounterKey::OtpCheck {
                    collection_id: "c",
                    record_id: "r",
                },
                "otp:check:c:r",
            ),
            (
                CounterKey::AuthOrigin {
                    collection_id: "c",
                    record_id: "r",
                    digest: "d",
                },
                "origin:c:r:d",
            ),
        ];
        for (key, want) in cases {
            assert_eq!(key.storage_key(), want, "{key:?}");
        }
    }

    #[test]
    fn auth_methods_round_trip_through_their_stored_names() {
        for m in [AuthMethod::Password, AuthMethod::Otp, AuthMethod::OAuth2] {
            assert_eq!(AuthMethod::parse(m.as_str()), Some(m));
        }
        assert_eq!(AuthMethod::parse("sms"), None);
    }
}
