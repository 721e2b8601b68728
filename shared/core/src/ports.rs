//! Ports: what the services need from the outside world. Adapters live in
//! `authgate-adapters`; the in-memory adapter doubles as the test store.

use async_trait::async_trait;

use crate::model::{
    CounterKey, ExternalAuth, MailFlow, MfaSession, Otp, OutboxItem, Record, Timestamp, UniqueKey,
};

// These two ports live beside what they serve; they are named here too, so
// that every port is found in one place.
pub use crate::oauth2::OAuth2Client;
pub use crate::random::Random;

/// The current time, injected so expiry logic is testable without sleeping.
pub trait Clock: Send + Sync {
    fn now(&self) -> Timestamp;
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique value (email, unique field, …) already belongs to another record.
    #[error("unique value of field {field:?} already taken")]
    Conflict { field: String },
    /// The item changed since it was read (optimistic concurrency lost).
    #[error("item was modified concurrently")]
    Stale,
    /// The backend failed; the message is for logs only.
    #[error("{0}")]
    Backend(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Records of auth collections, with unique values enforced atomically.
#[async_trait]
pub trait RecordStore: Send + Sync {
    /// Inserts a record and claims all its unique keys in one atomic step.
    /// Fails with [`StoreError::Conflict`] naming the first taken field; then
    /// nothing is written.
    async fn insert_record(&self, record: &Record, unique: &[UniqueKey]) -> StoreResult<()>;

    /// Strongly consistent read.
    async fn get_record(&self, collection_id: &str, id: &str) -> StoreResult<Option<Record>>;

    /// Finds the record owning a unique key (strongly consistent).
    async fn find_record_by_unique(
        &self,
        collection_id: &str,
        key: &UniqueKey,
    ) -> StoreResult<Option<Record>>;

    /// Replaces `old` with `new` if the stored version still equals
    /// `old.version` ([`StoreError::Stale`] otherwise). Unique keys present in
    /// `new_unique` but not `old_unique` are claimed, the others released, all
    /// in the same atomic step. `new.version` must be `old.version + 1`.
    async fn update_record(
        &self,
        old: &Record,
        new: &Record,
        old_unique: &[UniqueKey],
        new_unique: &[UniqueKey],
    ) -> StoreResult<()>;

    /// Deletes a record, releases its unique keys and removes every OAuth2
    /// link of the record ([`ExternalAuthStore`]), if the stored version still
    /// equals `record.version` ([`StoreError::Stale`] otherwise; then nothing
    /// is deleted). Record, keys and links go in one atomic step where the
    /// backend allows it (memory, SQL, DynamoDB up to its 100 items per
    /// transaction; links past that are removed just before). A link inserted
    /// concurrently with the delete may survive it: it names a record that no
    /// longer exists, and the OAuth2 login drops such a link on its next use.
    /// The record's OTPs and MFA sessions are left to expire: each names the
    /// record id, which no new record ever gets again, so none can log in.
    /// Used by the account deletion (`DELETE records/{id}`) and to undo a
    /// record created by a flow that then failed.
    async fn delete_record(&self, record: &Record, unique: &[UniqueKey]) -> StoreResult<()>;
}

/// Fixed-window counters shared by every container: rate limits, resend
/// throttles, OTP attempt limits.
#[async_trait]
pub trait CounterStore: Send + Sync {
    /// Counts one hit on `key`. Returns `true` while the window holds at most
    /// `limit` hits (this one included), `false` once the limit is exceeded.
    /// A window starts at the first hit and lasts `window_secs`.
    async fn hit(
        &self,
        key: &CounterKey<'_>,
        limit: u32,
        window_secs: i64,
        now: Timestamp,
    ) -> StoreResult<bool>;

    /// Takes back one hit of `key`'s live window (a successful login gives
    /// its password attempt back). Nothing happens when the window is over
    /// or holds no hits; never goes below zero under concurrency.
    async fn give_back(&self, key: &CounterKey<'_>, now: Timestamp) -> StoreResult<()>;

    /// Ends `key`'s window: the next hit starts a new one (a password reset
    /// lifts the account's attempt cap).
    async fn clear(&self, key: &CounterKey<'_>) -> StoreResult<()>;
}

/// One-time passwords.
#[async_trait]
pub trait OtpStore: Send + Sync {
    async fn insert_otp(&self, otp: &Otp) -> StoreResult<()>;
    async fn get_otp(&self, collection_id: &str, id: &str) -> StoreResult<Option<Otp>>;
    /// Deletes the OTP only if its hash is `code_hash` and it has not expired
    /// at `now`. Exactly one of many concurrent callers gets `true`.
    async fn consume_otp(
        &self,
        collection_id: &str,
        id: &str,
        code_hash: &str,
        now: Timestamp,
    ) -> StoreResult<bool>;
}

/// Multi-factor sessions.
#[async_trait]
pub trait MfaStore: Send + Sync {
    async fn insert_mfa(&self, session: &MfaSession) -> StoreResult<()>;
    async fn get_mfa(&self, collection_id: &str, id: &str) -> StoreResult<Option<MfaSession>>;
    /// Deletes the session only if it belongs to `record_id` and has not
    /// expired at `now`. Exactly one of many concurrent callers gets `true`.
    async fn consume_mfa(
        &self,
        collection_id: &str,
        id: &str,
        record_id: &str,
        now: Timestamp,
    ) -> StoreResult<bool>;
}

/// OAuth2 identity links.
#[async_trait]
pub trait ExternalAuthStore: Send + Sync {
    async fn find_external_auth(
        &self,
        collection_id: &str,
        provider: &str,
        provider_id: &str,
    ) -> StoreResult<Option<ExternalAuth>>;
    /// Creates the link; [`StoreError::Conflict`] if that provider identity is
    /// already linked.
    async fn insert_external_auth(&self, link: &ExternalAuth) -> StoreResult<()>;
    async fn list_external_auths(
        &self,
        collection_id: &str,
        record_id: &str,
    ) -> StoreResult<Vec<ExternalAuth>>;
    async fn delete_external_auth(&self, link: &ExternalAuth) -> StoreResult<()>;
}

/// Mails waiting to be sent (see [`OutboxItem`]).
#[async_trait]
pub trait OutboxStore: Send + Sync {
    /// Stores a mail to send.
    async fn enqueue_mail(&self, item: &OutboxItem) -> StoreResult<()>;
    /// Stores an OTP and the mail carrying its code in one atomic step:
    /// neither exists without the other.
    async fn insert_otp_with_mail(&self, otp: &Otp, item: &OutboxItem) -> StoreResult<()>;
    /// Strongly consistent read.
    async fn get_mail(&self, id: &str) -> StoreResult<Option<OutboxItem>>;
    /// Claims a pending mail for one sender: `true` unless it is gone or
    /// another sender claimed it less than `lease_secs` ago. One conditional
    /// write, so a mail delivered to two senders at once is sent by one.
    async fn claim_mail(&self, id: &str, now: Timestamp, lease_secs: i64) -> StoreResult<bool>;
    /// Deletes a sent (or dropped) mail.
    async fn delete_mail(&self, id: &str) -> StoreResult<()>;
    /// Gives a claim back after a failed send, so a retry can claim it.
    async fn release_mail(&self, id: &str) -> StoreResult<()>;
    /// Ids of up to `limit` waiting mails, oldest first: what the local
    /// sender polls (in AWS the table's stream delivers them instead).
    async fn pending_mail(&self, limit: usize) -> StoreResult<Vec<String>>;
}

/// The collections config document as stored for the Lambdas.
#[async_trait]
pub trait ConfigStore: Send + Sync {
    async fn load_config(&self) -> StoreResult<Option<serde_json::Value>>;
    async fn save_config(&self, config: &serde_json::Value) -> StoreResult<()>;
}

/// Where the token signing secrets and OAuth2 client secrets live, apart
/// from the table (AWS Secrets Manager in AWS, a 0600 file for `authgate
/// serve`, memory in tests): one JSON secrets document
/// (`config::split_secrets`). Not part of [`Store`]: whoever can read the
/// table or its backups must not be able to forge tokens.
#[async_trait]
pub trait SecretStore: Send + Sync {
    /// The secrets document, `None` when none was ever stored.
    async fn load_secrets(&self) -> StoreResult<Option<serde_json::Value>>;
    /// Replaces the secrets document.
    async fn save_secrets(&self, secrets: &serde_json::Value) -> StoreResult<()>;
}

/// Everything a store adapter provides.
pub trait Store:
    RecordStore + CounterStore + OtpStore + MfaStore + ExternalAuthStore + OutboxStore + ConfigStore
{
}

impl<T> Store for T where
    T: RecordStore
        + CounterStore
        + OtpStore
        + MfaStore
        + ExternalAuthStore
        + OutboxStore
        + ConfigStore
{
}

/// An email ready to send.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MailMessage {
    pub from_name: String,
    pub from_address: String,
    pub to: String,
    pub subject: String,
    pub html: String,
    pub text: String,
    /// Which flow sent it, for logs and mailbox file names.
    pub kind: MailFlow,
}

#[derive(Debug, thiserror::Error)]
#[error("mail delivery failed: {0}")]
pub struct MailError(pub String);

#[async_trait]
pub trait Mailer: Send + Sync {
    async fn send(&self, message: &MailMessage) -> Result<(), MailError>;
}
