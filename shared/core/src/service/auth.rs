//! What every login shares: reading an `Authorization` header, finishing a
//! login (MFA or token), and the record as clients see it.

use std::fmt;

use serde_json::{Map, Value};

use crate::config::{AppConfig, Collection, CollectionKind};
use crate::error::{Error, Result};
use crate::model::{AuthMethod, MfaSession, Record, Timestamp};
use crate::secret::Secret;
use crate::token::{self, TokenKind};

use super::Ctx;

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

impl fmt::Debug for AuthOutcome {
    // The token is a credential: never in logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Authenticated { .. } => f.write_str("Authenticated"),
            Self::MfaRequired { mfa_id } => f
                .debug_struct("MfaRequired")
                .field("mfa_id", mfa_id)
                .finish(),
        }
    }
}

/// What a login request carries besides its body, as the HTTP layer read
/// it.
#[derive(Debug, Clone, Copy, Default)]
pub struct LoginRequest<'a> {
    /// The `?mfaId=` query parameter (where the SDK sends it).
    pub mfa_id: Option<&'a str>,
    /// The client's address as rate limits count it (an IPv4 address or an
    /// IPv6 /64), for the new-location alert ([`super::auth_alert`]).
    pub client: Option<&'a str>,
}

/// A factor that just succeeded, as [`finish_auth`] needs it.
pub struct Factor<'a> {
    pub method: AuthMethod,
    /// The MFA session of an earlier factor: the query's `mfaId` if set,
    /// else the body's (see [`mfa_id`]).
    pub mfa_id: Option<&'a str>,
    /// PocketBase's `meta` (OAuth2 only).
    pub meta: Option<Value>,
    /// Where the login comes from ([`LoginRequest::client`]).
    pub client: Option<&'a str>,
}

/// The MFA session id a login names: the `?mfaId=` query parameter (where
/// the SDK sends it) wins over the body's `mfaId`; empty means none.
pub fn mfa_id<'a>(query: Option<&'a str>, body: &'a str) -> Option<&'a str> {
    query
        .filter(|s| !s.is_empty())
        .or(Some(body).filter(|s| !s.is_empty()))
}

/// Completes a login after one factor succeeded: starts or finishes MFA
/// when the collection wants it, else issues the auth token and notes
/// where the login came from (the new-location alert, which never fails
/// the login).
pub async fn finish_auth(
    ctx: &Ctx,
    cfg: &AppConfig,
    collection: &Collection,
    record: &Record,
    factor: Factor<'_>,
    now: Timestamp,
) -> Result<AuthOutcome> {
    check_auth_rule(collection)?;
    if collection.mfa.enabled {
        match factor.mfa_id {
            None => {
                let session = MfaSession {
                    id: crate::random::record_id(ctx.rng.as_ref()),
                    collection_id: collection.id.clone(),
                    record_id: record.id.clone(),
                    method: factor.method,
                    created: now,
                    expires_at: now.plus_secs(collection.mfa.duration),
                };
                ctx.store.insert_mfa(&session).await?;
                return Ok(AuthOutcome::MfaRequired { mfa_id: session.id });
            }
            Some(id) => second_factor(ctx, collection, record, factor.method, id, now).await?,
        }
    }
    let token = token::issue(collection, record, TokenKind::Auth, now, Default::default())?;
    super::auth_alert::note_login(ctx, cfg, collection, record, factor.client, now).await;
    Ok(AuthOutcome::Authenticated {
        token,
        record: record_json(collection, record, true),
        meta: factor.meta,
    })
}

/// `authRule`: `null` refuses every login and refresh of the collection
/// (PocketBase's 403, after the credentials were checked); `""` lets every
/// record in (the only other form Authgate accepts).
pub fn check_auth_rule(collection: &Collection) -> Result<()> {
    if collection.rules.auth == crate::config::Rule::Nobody {
        return Err(Error::Forbidden(
            "The request doesn't satisfy the collection requirements to authenticate.".into(),
        ));
    }
    Ok(())
}

/// Checks and uses up the MFA session `id` of an earlier, different factor.
async fn second_factor(
    ctx: &Ctx,
    collection: &Collection,
    record: &Record,
    method: AuthMethod,
    id: &str,
    now: Timestamp,
) -> Result<()> {
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
    let expired =
        session.expires_at <= now || session.created.plus_secs(collection.mfa.duration) <= now;
    if session.record_id != record.id || expired {
        return Err(invalid());
    }
    if session.method == method {
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
    Ok(())
}

/// The token in an `Authorization` header: PocketBase takes the value as
/// is, without a `Bearer ` prefix (case-sensitive, as PocketBase strips it).
pub fn bearer_token(header: &str) -> &str {
    let raw = header.trim();
    raw.strip_prefix("Bearer ").unwrap_or(raw).trim()
}

/// Who an `Authorization` header authenticates.
pub struct Authenticated<'a> {
    pub collection: &'a Collection,
    pub record: Record,
    pub claims: token::Claims,
}

/// Resolves an `Authorization` header value (raw JWT or `Bearer <jwt>`) to
/// the collection and record it authenticates. Any failure is the same 401.
pub async fn authenticate<'a>(
    ctx: &Ctx,
    cfg: &'a AppConfig,
    header: Option<&str>,
    now: Timestamp,
) -> Result<Authenticated<'a>> {
    let raw = bearer_token(header.unwrap_or_default());
    if raw.is_empty() {
        return Err(Error::invalid_auth_token());
    }
    let claims = token::peek(raw).ok_or_else(Error::invalid_auth_token)?;
    if claims.kind != Some(TokenKind::Auth) || !crate::model::is_plausible_id(&claims.id) {
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
    Ok(Authenticated {
        collection,
        record,
        claims,
    })
}

/// A caller authenticated for one collection's endpoint.
pub struct Session {
    pub record: Record,
    pub claims: token::Claims,
    /// The auth token as sent, without its `Bearer ` prefix.
    pub token: Secret,
}

/// [`authenticate`], for an endpoint of `collection` only: a valid token of
/// another auth collection is a 403 that names the token's collection, as
/// PocketBase's does.
pub async fn authenticate_in(
    ctx: &Ctx,
    cfg: &AppConfig,
    collection: &Collection,
    header: Option<&str>,
    now: Timestamp,
) -> Result<Session> {
    let auth = authenticate(ctx, cfg, header, now).await?;
    if auth.collection.id != collection.id {
        return Err(Error::Forbidden(format!(
            "The request requires auth record from {} collection.",
            auth.collection.name
        )));
    }
    Ok(Session {
        record: auth.record,
        claims: auth.claims,
        token: Secret::new(bearer_token(header.unwrap_or_default())),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_capitalised_bearer_prefix_is_stripped_as_pocketbase_does() {
        let cases = [
            ("abc.def.ghi", "abc.def.ghi"),
            ("Bearer abc.def.ghi", "abc.def.ghi"),
            ("  Bearer  abc.def.ghi  ", "abc.def.ghi"),
            ("bearer abc.def.ghi", "bearer abc.def.ghi"),
        ];
        for (header, want) in cases {
            assert_eq!(bearer_token(header), want, "{header:?}");
        }
    }

    #[test]
    fn the_query_mfa_id_wins_over_the_body_and_empty_means_none() {
        assert_eq!(mfa_id(Some("q"), "b"), Some("q"));
        assert_eq!(mfa_id(Some(""), "b"), Some("b"));
        assert_eq!(mfa_id(None, "b"), Some("b"));
        assert_eq!(mfa_id(None, ""), None);
        assert_eq!(mfa_id(Some(""), ""), None);
    }
}
