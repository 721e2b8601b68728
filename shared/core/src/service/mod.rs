//! One module per endpoint. Each reads like PocketBase's handlers: find the
//! collection → check the method is enabled → validate input → look up the
//! record → answer. Handlers in the HTTP layer only translate.

use std::sync::Arc;

use serde_json::{Map, Value};

use crate::config::{AppConfig, Collection, CollectionKind};
use crate::error::{Error, Result};
use crate::model::{MfaSession, Record, Timestamp};
use crate::ports::{Clock, Mailer, Random, Store};
use crate::token::{self, TokenKind};

pub mod auth_methods;
pub mod auth_refresh;
pub mod auth_with_oauth2;
pub mod auth_with_otp;
pub mod auth_with_password;
pub mod confirm_email_change;
pub mod confirm_password_reset;
pub mod confirm_verification;
pub mod mail_flows;
pub mod records_create;
pub mod request_email_change;
pub mod request_otp;
pub mod request_password_reset;
pub mod request_verification;

/// Everything a service needs from outside: stores, mail, time, randomness.
/// Built once per process (per Lambda cold start).
#[derive(Clone)]
pub struct Ctx {
    pub store: Arc<dyn Store>,
    pub mailer: Arc<dyn Mailer>,
    pub clock: Arc<dyn Clock>,
    pub rng: Arc<dyn Random>,
    /// A real argon2id hash of a random password: verified against when the
    /// identity is unknown so both answers take the same time.
    dummy_hash: Arc<str>,
    /// Outbound OAuth2 HTTP; set with [`Ctx::with_oauth2`] (the core has no
    /// HTTP client of its own). Without it OAuth2 logins fail with a 500.
    pub oauth2: Option<Arc<dyn crate::ports::OAuth2Client>>,
}

impl Ctx {
    /// Builds the context, hashing the dummy password once (blocking, ~tens of ms).
    pub fn new(
        store: Arc<dyn Store>,
        mailer: Arc<dyn Mailer>,
        clock: Arc<dyn Clock>,
        rng: Arc<dyn Random>,
    ) -> Result<Self> {
        let password = crate::random::secret(rng.as_ref());
        let dummy_hash = crate::password::hash_blocking(&password, &salt(rng.as_ref()))?;
        Ok(Self {
            store,
            mailer,
            clock,
            rng,
            dummy_hash: dummy_hash.into(),
            oauth2: None,
        })
    }

    /// Sets the OAuth2 HTTP client (the adapter's, or a fake in tests).
    pub fn with_oauth2(mut self, client: Arc<dyn crate::ports::OAuth2Client>) -> Self {
        self.oauth2 = Some(client);
        self
    }

    pub fn random_string(&self, len: usize, alphabet: &[u8]) -> String {
        crate::random::string(self.rng.as_ref(), len, alphabet)
    }

    /// Hashes a password off the executor with a fresh random salt.
    pub async fn hash_password(&self, password: &str) -> Result<String> {
        crate::password::hash(password.to_owned(), salt(self.rng.as_ref())).await
    }

    /// Verifies a password for a record, or against the dummy hash when there
    /// is no record, so unknown identities cost the same as wrong passwords.
    pub async fn verify_password(&self, record: Option<&Record>, password: &str) -> Result<bool> {
        let (hash, real) = match record {
            Some(r) if !r.password_hash.is_empty() => (r.password_hash.clone(), true),
            _ => (self.dummy_hash.to_string(), false),
        };
        let ok = crate::password::verify(password.to_owned(), hash).await?;
        Ok(ok && real)
    }
}

fn salt(rng: &dyn Random) -> [u8; 16] {
    let mut s = [0u8; 16];
    rng.fill(&mut s);
    s
}

/// Finds an auth collection by id or name; 404s otherwise (PocketBase's
/// messages: this check comes before anything else).
pub fn auth_collection<'a>(cfg: &'a AppConfig, id_or_name: &str) -> Result<&'a Collection> {
    let c = cfg
        .collection(id_or_name)
        .ok_or_else(Error::missing_collection)?;
    if c.kind != CollectionKind::Auth {
        return Err(Error::missing_auth_collection());
    }
    Ok(c)
}

/// A record as clients see it. `password` and `tokenKey` never leave the
/// server; `email` only when `show_email` (the owner) or `emailVisibility`.
pub fn record_json(collection: &Collection, record: &Record, show_email: bool) -> Value {
    let mut m = Map::new();
    m.insert("collectionId".into(), Value::String(collection.id.clone()));
    m.insert(
        "collectionName".into(),
        Value::String(collection.name.clone()),
    );
    m.insert("id".into(), Value::String(record.id.clone()));
    if show_email || record.email_visibility {
        m.insert("email".into(), Value::String(record.email.clone()));
    }
    m.insert(
        "emailVisibility".into(),
        Value::Bool(record.email_visibility),
    );
    m.insert("verified".into(), Value::Bool(record.verified));
    for f in &collection.fields {
        if f.hidden {
            continue;
        }
        if let Some(v) = record.fields.get(&f.name) {
            m.insert(f.name.clone(), v.clone());
        }
    }
    m.entry("created")
        .or_insert_with(|| Value::String(record.created.to_pocketbase()));
    m.entry("updated")
        .or_insert_with(|| Value::String(record.updated.to_pocketbase()));
    Value::Object(m)
}

/// The result of a successful factor.
#[derive(Debug)]
pub enum AuthOutcome {
    /// `200 {token, record, meta?}`
    Authenticated {
        token: String,
        record: Value,
        meta: Option<Value>,
    },
    /// `401 {"mfaId": …}`: a second, different factor is required.
    MfaRequired { mfa_id: String },
}

/// The auth method names PocketBase records in MFA sessions.
pub mod method {
    pub const PASSWORD: &str = "password";
    pub const OTP: &str = "otp";
    pub const OAUTH2: &str = "oauth2";
}

/// Completes a login after one factor succeeded: starts or finishes MFA
/// when the collection wants it, else issues the auth token.
pub async fn finish_auth(
    ctx: &Ctx,
    collection: &Collection,
    record: &Record,
    auth_method: &str,
    mfa_id: Option<&str>,
    meta: Option<Value>,
    now: Timestamp,
) -> Result<AuthOutcome> {
    if collection.mfa.enabled {
        match mfa_id.filter(|id| !id.is_empty()) {
            None => {
                let session = MfaSession {
                    id: crate::random::record_id(ctx.rng.as_ref()),
                    collection_id: collection.id.clone(),
                    record_id: record.id.clone(),
                    method: auth_method.to_owned(),
                    created: now,
                    expires_at: now.plus_secs(collection.mfa.duration),
                };
                ctx.store.insert_mfa(&session).await?;
                return Ok(AuthOutcome::MfaRequired { mfa_id: session.id });
            }
            Some(id) => {
                let invalid = || Error::bad_request("Invalid or expired MFA session.");
                if !crate::model::is_plausible_id(id) {
                    return Err(invalid());
                }
                let session = ctx
                    .store
                    .get_mfa(&collection.id, id)
                    .await?
                    .ok_or_else(invalid)?;
                // A shortened `mfa.duration` applies to live sessions too (PocketBase
                // checks `created + duration`).
                let expired = session.expires_at <= now
                    || session.created.plus_secs(collection.mfa.duration) <= now;
                if session.record_id != record.id || expired {
                    return Err(invalid());
                }
                if session.method == auth_method {
                    return Err(Error::bad_request(
                        "A different authentication method is required.",
                    ));
                }
                // Single use even when two second factors race.
                if !ctx
                    .store
                    .consume_mfa(&collection.id, id, &record.id, now)
                    .await?
                {
                    return Err(invalid());
                }
            }
        }
    }
    let token = token::issue(collection, record, TokenKind::Auth, now, Default::default())?;
    Ok(AuthOutcome::Authenticated {
        token,
        record: record_json(collection, record, true),
        meta,
    })
}

/// Resolves an `Authorization` header value (raw JWT or `Bearer <jwt>`) to
/// the collection and record it authenticates. Any failure is the same 401.
pub async fn authenticate<'a>(
    ctx: &Ctx,
    cfg: &'a AppConfig,
    header: Option<&str>,
    now: Timestamp,
) -> Result<(&'a Collection, Record, token::Claims)> {
    let raw = header.map(str::trim).unwrap_or_default();
    let raw = raw
        .strip_prefix("Bearer ")
        .or_else(|| raw.strip_prefix("bearer "))
        .unwrap_or(raw)
        .trim();
    if raw.is_empty() {
        return Err(Error::invalid_auth_token());
    }
    let claims = token::peek(raw).ok_or_else(Error::invalid_auth_token)?;
    if claims.kind != TokenKind::Auth.as_str() || !crate::model::is_plausible_id(&claims.id) {
        return Err(Error::invalid_auth_token());
    }
    let collection = cfg
        .collection_by_id(&claims.collection_id)
        .filter(|c| c.kind == CollectionKind::Auth)
        .ok_or_else(Error::invalid_auth_token)?;
    let record = ctx
        .store
        .get_record(&collection.id, &claims.id)
        .await?
        .ok_or_else(Error::invalid_auth_token)?;
    let claims = token::verify(collection, &record, raw, TokenKind::Auth, now)
        .ok_or_else(Error::invalid_auth_token)?;
    Ok((collection, record, claims))
}
