//! Test doubles: a clock tests can move, a mailer whose provider is down
//! (until it recovers), a store with switchable failures, and forged tokens.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use authgate_adapters::memory::MemoryStore;
use authgate_core::model::{
    CounterKey, ExternalAuth, MfaSession, Otp, OutboxItem, Record, Timestamp, UniqueKey,
};
use authgate_core::ports::{
    Clock, ConfigStore, CounterStore, ExternalAuthStore, MailError, MailMessage, Mailer, MfaStore,
    OtpStore, OutboxStore, RecordStore, StoreError, StoreResult,
};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Value};

use crate::names::unique;

// ---------------------------------------------------------------------------
// Clock

/// Real time plus an offset tests can move forward instead of sleeping.
#[derive(Debug, Default)]
pub struct ManualClock(AtomicI64);

fn wall_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl ManualClock {
    pub fn new() -> Self {
        Self(AtomicI64::new(0))
    }
    pub fn now_secs(&self) -> i64 {
        self.now().seconds()
    }
    pub fn advance_secs(&self, secs: i64) {
        self.0.fetch_add(secs * 1000, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp(wall_millis() + self.0.load(Ordering::SeqCst))
    }
}

// ---------------------------------------------------------------------------
// Mailer

/// A mailer whose provider is down until [`FailingMailer::recover`]: every
/// send fails with an error naming a unique `outage`. Counts its attempts
/// and remembers what it was asked to send (so a test knows the tokens that
/// must not be logged) and what it accepted once up again.
pub struct FailingMailer {
    pub outage: String,
    /// Every call to `send`, failed or not.
    pub attempts: AtomicUsize,
    /// Every message `send` was given, failed or not.
    pub seen: Mutex<Vec<MailMessage>>,
    /// The messages sent while the provider was up.
    pub sent: Mutex<Vec<MailMessage>>,
    down: AtomicBool,
}

impl FailingMailer {
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            outage: unique("outage"),
            attempts: AtomicUsize::new(0),
            seen: Mutex::new(Vec::new()),
            sent: Mutex::new(Vec::new()),
            down: AtomicBool::new(true),
        })
    }

    /// The provider is back: sends succeed from now on.
    pub fn recover(&self) {
        self.down.store(false, Ordering::SeqCst);
    }

    /// The provider is down again.
    pub fn fail(&self) {
        self.down.store(true, Ordering::SeqCst);
    }

    pub fn attempts(&self) -> usize {
        self.attempts.load(Ordering::SeqCst)
    }

    /// What was sent while the provider was up.
    pub fn sent(&self) -> Vec<MailMessage> {
        self.sent.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Every message `send` was given.
    pub fn seen(&self) -> Vec<MailMessage> {
        self.seen.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

#[async_trait]
impl Mailer for FailingMailer {
    async fn send(&self, message: &MailMessage) -> Result<(), MailError> {
        self.attempts.fetch_add(1, Ordering::SeqCst);
        if let Ok(mut seen) = self.seen.lock() {
            seen.push(message.clone());
        }
        if !self.down.load(Ordering::SeqCst) {
            if let Ok(mut sent) = self.sent.lock() {
                sent.push(message.clone());
            }
            return Ok(());
        }
        Err(MailError(format!(
            "simulated provider outage {} (request id: req-1)",
            self.outage
        )))
    }
}

// ---------------------------------------------------------------------------
// Store

/// What [`FaultyStore::update_record`] does.
pub const UPDATE_OK: u8 = 0;
pub const UPDATE_BACKEND_ERROR: u8 = 1;
pub const UPDATE_STALE: u8 = 2;

/// The memory store with switchable failures, to test what a failed step
/// leaves behind.
pub struct FaultyStore {
    inner: MemoryStore,
    /// One of `UPDATE_*`.
    pub update: AtomicU8,
    pub link_insert_fails: AtomicBool,
    /// Every port call made, in order (by method name).
    pub calls: Mutex<Vec<&'static str>>,
    /// Counter hits on the new-location alert's keys (`origin:…`) fail.
    pub origin_hits_fail: AtomicBool,
    /// A concurrent writer: the next `update_record` first stores what this
    /// function makes of the stored record (as the next version), so the
    /// update itself then loses the race (`Stale`).
    #[allow(clippy::type_complexity)]
    pub race_once: Mutex<Option<Box<dyn FnOnce(&mut Record) + Send>>>,
}

impl FaultyStore {
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            inner: MemoryStore::new(),
            update: AtomicU8::new(UPDATE_OK),
            link_insert_fails: AtomicBool::new(false),
            calls: Mutex::new(Vec::new()),
            origin_hits_fail: AtomicBool::new(false),
            race_once: Mutex::new(None),
        })
    }

    fn log(&self, call: &'static str) {
        if let Ok(mut calls) = self.calls.lock() {
            calls.push(call);
        }
    }

    /// The calls logged since the last `take_calls`.
    pub fn take_calls(&self) -> Vec<&'static str> {
        self.calls
            .lock()
            .map(|mut c| std::mem::take(&mut *c))
            .unwrap_or_default()
    }
}

fn injected() -> StoreError {
    StoreError::Backend("injected failure".into())
}

#[async_trait]
impl RecordStore for FaultyStore {
    async fn insert_record(&self, record: &Record, unique: &[UniqueKey]) -> StoreResult<()> {
        self.log("insert_record");
        self.inner.insert_record(record, unique).await
    }
    async fn get_record(&self, collection_id: &str, id: &str) -> StoreResult<Option<Record>> {
        self.log("get_record");
        self.inner.get_record(collection_id, id).await
    }
    async fn find_record_by_unique(
        &self,
        collection_id: &str,
        key: &UniqueKey,
    ) -> StoreResult<Option<Record>> {
        self.log("find_record_by_unique");
        self.inner.find_record_by_unique(collection_id, key).await
    }
    async fn update_record(
        &self,
        old: &Record,
        new: &Record,
        old_unique: &[UniqueKey],
        new_unique: &[UniqueKey],
    ) -> StoreResult<()> {
        self.log("update_record");
        let race = self.race_once.lock().ok().and_then(|mut r| r.take());
        if let Some(change) = race {
            let mut theirs = old.clone();
            change(&mut theirs);
            theirs.version = old.version + 1;
            self.inner
                .update_record(old, &theirs, old_unique, old_unique)
                .await?;
        }
        match self.update.load(Ordering::SeqCst) {
            UPDATE_BACKEND_ERROR => Err(injected()),
            UPDATE_STALE => Err(StoreError::Stale),
            _ => {
                self.inner
                    .update_record(old, new, old_unique, new_unique)
                    .await
            }
        }
    }
    async fn delete_record(&self, record: &Record, unique: &[UniqueKey]) -> StoreResult<()> {
        self.log("delete_record");
        self.inner.delete_record(record, unique).await
    }
}

#[async_trait]
impl CounterStore for FaultyStore {
    async fn hit(
        &self,
        key: &CounterKey<'_>,
        limit: u32,
        window_secs: i64,
        now: Timestamp,
    ) -> StoreResult<bool> {
        self.log("hit");
        if self.origin_hits_fail.load(Ordering::SeqCst) && key.storage_key().starts_with("origin:")
        {
            return Err(injected());
        }
        self.inner.hit(key, limit, window_secs, now).await
    }

    async fn give_back(&self, key: &CounterKey<'_>, now: Timestamp) -> StoreResult<()> {
        self.log("give_back");
        self.inner.give_back(key, now).await
    }

    async fn clear(&self, key: &CounterKey<'_>) -> StoreResult<()> {
        self.log("clear");
        self.inner.clear(key).await
    }
}

#[async_trait]
impl OtpStore for FaultyStore {
    async fn insert_otp(&self, otp: &Otp) -> StoreResult<()> {
        self.log("insert_otp");
        self.inner.insert_otp(otp).await
    }
    async fn get_otp(&self, collection_id: &str, id: &str) -> StoreResult<Option<Otp>> {
        self.log("get_otp");
        self.inner.get_otp(collection_id, id).await
    }
    async fn consume_otp(
        &self,
        collection_id: &str,
        id: &str,
        code_hash: &str,
        now: Timestamp,
    ) -> StoreResult<bool> {
        self.log("consume_otp");
        self.inner
            .consume_otp(collection_id, id, code_hash, now)
            .await
    }
}

#[async_trait]
impl MfaStore for FaultyStore {
    async fn insert_mfa(&self, session: &MfaSession) -> StoreResult<()> {
        self.log("insert_mfa");
        self.inner.insert_mfa(session).await
    }
    async fn get_mfa(&self, collection_id: &str, id: &str) -> StoreResult<Option<MfaSession>> {
        self.log("get_mfa");
        self.inner.get_mfa(collection_id, id).await
    }
    async fn consume_mfa(
        &self,
        collection_id: &str,
        id: &str,
        record_id: &str,
        now: Timestamp,
    ) -> StoreResult<bool> {
        self.log("consume_mfa");
        self.inner
            .consume_mfa(collection_id, id, record_id, now)
            .await
    }
}

#[async_trait]
impl ExternalAuthStore for FaultyStore {
    async fn find_external_auth(
        &self,
        collection_id: &str,
        provider: &str,
        provider_id: &str,
    ) -> StoreResult<Option<ExternalAuth>> {
        self.log("find_external_auth");
        self.inner
            .find_external_auth(collection_id, provider, provider_id)
            .await
    }
    async fn insert_external_auth(&self, link: &ExternalAuth) -> StoreResult<()> {
        self.log("insert_external_auth");
        if self.link_insert_fails.load(Ordering::SeqCst) {
            return Err(injected());
        }
        self.inner.insert_external_auth(link).await
    }
    async fn list_external_auths(
        &self,
        collection_id: &str,
        record_id: &str,
    ) -> StoreResult<Vec<ExternalAuth>> {
        self.log("list_external_auths");
        self.inner
            .list_external_auths(collection_id, record_id)
            .await
    }
    async fn delete_external_auth(&self, link: &ExternalAuth) -> StoreResult<()> {
        self.log("delete_external_auth");
        self.inner.delete_external_auth(link).await
    }
}

#[async_trait]
impl OutboxStore for FaultyStore {
    async fn enqueue_mail(&self, item: &OutboxItem) -> StoreResult<()> {
        self.log("enqueue_mail");
        self.inner.enqueue_mail(item).await
    }
    async fn insert_otp_with_mail(&self, otp: &Otp, item: &OutboxItem) -> StoreResult<()> {
        self.log("insert_otp_with_mail");
        self.inner.insert_otp_with_mail(otp, item).await
    }
    async fn get_mail(&self, id: &str) -> StoreResult<Option<OutboxItem>> {
        self.log("get_mail");
        self.inner.get_mail(id).await
    }
    async fn claim_mail(&self, id: &str, now: Timestamp, lease_secs: i64) -> StoreResult<bool> {
        self.log("claim_mail");
        self.inner.claim_mail(id, now, lease_secs).await
    }
    async fn delete_mail(&self, id: &str) -> StoreResult<()> {
        self.log("delete_mail");
        self.inner.delete_mail(id).await
    }
    async fn release_mail(&self, id: &str) -> StoreResult<()> {
        self.log("release_mail");
        self.inner.release_mail(id).await
    }
    async fn pending_mail(&self, limit: usize) -> StoreResult<Vec<String>> {
        self.log("pending_mail");
        self.inner.pending_mail(limit).await
    }
}

#[async_trait]
impl ConfigStore for FaultyStore {
    async fn load_config(&self) -> StoreResult<Option<Value>> {
        self.log("load_config");
        self.inner.load_config().await
    }
    async fn save_config(&self, config: &Value) -> StoreResult<()> {
        self.log("save_config");
        self.inner.save_config(config).await
    }
}

// ---------------------------------------------------------------------------
// Tokens

/// A JSON value as a JWT segment: base64url without padding.
pub fn jwt_segment(v: &Value) -> String {
    URL_SAFE_NO_PAD.encode(v.to_string().as_bytes())
}

/// A token shaped like an HS256 JWT carrying `claims`, with a signature no
/// key produced.
pub fn forged_jwt(claims: &Value) -> String {
    format!(
        "{}.{}.c2ln",
        jwt_segment(&json!({"alg": "HS256", "typ": "JWT"})),
        jwt_segment(claims)
    )
}
