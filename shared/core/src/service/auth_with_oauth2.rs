//! `POST auth-with-oauth2`: log in (or sign up) with an OAuth2 provider's
//! authorization code.
//!
//! The identity is the pair (provider, provider user id), never the email
//! alone. When no record is linked yet:
//! - the logged-in record (a valid `Authorization` header of this
//!   collection) gets the link, as in PocketBase;
//! - else a record with the provider's email gets it, but only when the
//!   provider vouches for that email;
//! - else a new record is created (`createData` applies only here).
//!
//! Linking to an existing *unverified* record resets its password and drops
//! its other provider links: whoever created it before the real owner (a
//! pre-hijack, PocketBase advisories GHSA-m93w-4fxv-r35v and
//! GHSA-pq7p-mc74-g65w) loses every way back in. Not when the record is the
//! caller's own logged-in one: then its owner is adding an identity.

use std::fmt;

use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::config::{AppConfig, Collection, OAuth2Config, Rule};
use crate::email;
use crate::error::{Error, FieldError, FieldErrors, Result};
use crate::model::{AuthMethod, ExternalAuth, Record, Timestamp};
use crate::oauth2::{self, AuthUser, FetchError, OAuth2Token, Provider};
use crate::ports::StoreError;
use crate::secret::Secret;
use crate::validate::{self, cast_string};

use super::auth::{self, Factor};
use super::records::{self, Hardening, HardeningSteps};
use super::sign_up::{self, NewPassword, CREATE_FAILED};
use super::{finish_auth, AuthOutcome, Ctx, LoginRequest};

/// The request body. `redirectUrl` is PocketBase's deprecated spelling.
#[derive(Default, Deserialize)]
#[serde(default)]
pub struct AuthWithOAuth2Input {
    pub provider: String,
    pub code: Secret,
    #[serde(rename = "codeVerifier")]
    pub code_verifier: Secret,
    #[serde(rename = "redirectURL")]
    pub redirect_url: String,
    #[serde(rename = "redirectUrl")]
    pub redirect_url_legacy: String,
    #[serde(rename = "createData")]
    pub create_data: Option<Map<String, Value>>,
    #[serde(rename = "mfaId")]
    pub mfa_id: String,
}

impl fmt::Debug for AuthWithOAuth2Input {
    // The code and verifier are credentials: never in logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthWithOAuth2Input")
            .field("provider", &self.provider)
            .finish_non_exhaustive()
    }
}

const LOAD_FAILED: &str = "An error occurred while loading the submitted data.";
/// PocketBase's answer when linking or updating the record fails.
const AUTH_FAILED: &str = "Failed to authenticate.";

/// Whether `url` may receive the authorization code. **Authgate:** exact
/// match against the collection's `redirectURLs`; without a list, the app
/// URL itself or anything below it.
pub fn redirect_allowed(oauth2: &OAuth2Config, app_url: &str, url: &str) -> bool {
    if !oauth2.redirect_urls.is_empty() {
        return oauth2.redirect_urls.iter().any(|u| u == url);
    }
    let base = app_url.trim_end_matches('/');
    !base.is_empty() && (url == base || url.starts_with(&format!("{base}/")))
}

fn validate_input(
    cfg: &AppConfig,
    collection: &Collection,
    input: &AuthWithOAuth2Input,
    redirect_url: &str,
) -> Result<Provider> {
    let mut errors = FieldErrors::new();
    let provider = collection
        .oauth2
        .providers
        .iter()
        .find(|p| p.name == input.provider)
        .and_then(Provider::from_config);
    if input.provider.is_empty() {
        errors.insert("provider".into(), FieldError::required());
    } else if provider.is_none() || input.provider.chars().count() > 100 {
        errors.insert(
            "provider".into(),
            FieldError::new(
                "validation_invalid_provider",
                format!(
                    "Provider with name {} is missing or is not enabled.",
                    input.provider
                ),
            )
            .with_params(json!({ "name": input.provider })),
        );
    }
    if input.code.is_empty() {
        errors.insert("code".into(), FieldError::required());
    }
    if redirect_url.is_empty() {
        errors.insert("redirectURL".into(), FieldError::required());
    } else if !redirect_allowed(&collection.oauth2, &cfg.meta.app_url, redirect_url) {
        errors.insert(
            "redirectURL".into(),
            FieldError::new(
                "validation_invalid_redirect_url",
                "The redirect URL is not allowed for this collection.",
            ),
        );
    }
    match provider {
        Some(p) if errors.is_empty() => Ok(p),
        _ => Err(Error::validation(LOAD_FAILED, errors)),
    }
}

/// Exchanges the code, finds or creates the linked record, and completes the
/// login (or starts MFA) with PocketBase's `meta`. The collection must allow
/// OAuth2 (`guards`); `authorization` is the raw header, `request` carries
/// the query's `mfaId` and the client's address.
pub async fn auth_with_oauth2(
    ctx: &Ctx,
    cfg: &AppConfig,
    collection: &Collection,
    input: AuthWithOAuth2Input,
    authorization: Option<&str>,
    request: LoginRequest<'_>,
    now: Timestamp,
) -> Result<AuthOutcome> {
    let redirect_url = if input.redirect_url.is_empty() {
        input.redirect_url_legacy.as_str()
    } else {
        input.redirect_url.as_str()
    };
    // Everything is checked before the provider sees the code.
    let provider = validate_input(cfg, collection, &input, redirect_url)?;
    let client = ctx
        .oauth2
        .as_deref()
        .ok_or_else(|| Error::internal("no OAuth2 client configured"))?;
    // Before the exchange: a store failure here must not burn the one-time code.
    let logged_in = logged_in_record(ctx, cfg, collection, authorization, now).await?;

    let fetched = oauth2::fetch_user(
        client,
        &provider,
        input.code.expose(),
        input.code_verifier.expose(),
        redirect_url,
        now,
    )
    .await;
    let (user, token) = match fetched {
        Ok(ok) => ok,
        Err(FetchError::Token(e)) => {
            tracing::info!(provider = %provider.name, error = %e, "OAuth2 token exchange failed");
            return Err(Error::bad_request("Failed to fetch OAuth2 token."));
        }
        Err(FetchError::User(e)) => {
            tracing::info!(provider = %provider.name, error = %e, "OAuth2 user fetch failed");
            return Err(Error::bad_request("Failed to fetch OAuth2 user."));
        }
    };

    let (record, is_new) = find_or_create(
        ctx,
        collection,
        &provider.name,
        &user,
        input.create_data,
        logged_in,
        now,
    )
    .await?;
    // The request log names the account by its id (see auth_with_password).
    tracing::Span::current().record("record", record.id.as_str());
    let meta = meta(&user, &token, is_new, now);
    let factor = Factor {
        method: AuthMethod::OAuth2,
        mfa_id: auth::mfa_id(request.mfa_id, &input.mfa_id),
        meta: Some(meta),
        client: request.client,
    };
    finish_auth(ctx, cfg, collection, &record, factor, now).await
}

/// PocketBase's `meta`: the provider's user and tokens, plus `isNew`.
fn meta(user: &AuthUser, token: &OAuth2Token, is_new: bool, now: Timestamp) -> Value {
    let expiry = token
        .expires_in
        .map(|s| {
            now.plus_secs(i64::try_from(s).unwrap_or(i64::MAX))
                .to_pocketbase()
        })
        .unwrap_or_default();
    json!({
        "id": user.id,
        "name": user.name,
        "username": user.username,
        // PocketBase's meta carries only a verified email.
        "email": user.verified_email(),
        "avatarURL": user.avatar_url,
        "avatarUrl": user.avatar_url,
        "accessToken": token.access_token.expose(),
        "refreshToken": token.refresh_token.expose(),
        "expiry": expiry,
        "isNew": is_new,
        "rawUser": user.raw,
    })
}

/// The record of a valid `Authorization` header, when it belongs to this
/// collection. A missing or invalid token (malformed, forged, expired, of a
/// deleted record, of another collection) simply means "not logged in":
/// PocketBase's auth middleware ignores a token it cannot load. Only a store
/// failure is an error (500): guessing "not logged in" then could create a
/// second account instead of linking this one.
async fn logged_in_record(
    ctx: &Ctx,
    cfg: &AppConfig,
    collection: &Collection,
    authorization: Option<&str>,
    now: Timestamp,
) -> Result<Option<Record>> {
    if authorization.is_none_or(|h| h.trim().is_empty()) {
        return Ok(None);
    }
    match auth::authenticate(ctx, cfg, authorization, now).await {
        Ok(found) if found.collection.id == collection.id => Ok(Some(found.record)),
        Ok(_) => Ok(None),
        Err(e @ Error::Internal(_)) => Err(e),
        Err(e) => {
            tracing::debug!(error = %e, "OAuth2 login ignores an invalid Authorization header");
            Ok(None)
        }
    }
}

async fn find_or_create(
    ctx: &Ctx,
    collection: &Collection,
    provider: &str,
    user: &AuthUser,
    create_data: Option<Map<String, Value>>,
    logged_in: Option<Record>,
    now: Timestamp,
) -> Result<(Record, bool)> {
    let mut link = ctx
        .store
        .find_external_auth(&collection.id, provider, &user.id)
        .await?;
    let mut record = None;
    if let Some(l) = &link {
        record = ctx.store.get_record(&collection.id, &l.record_id).await?;
        if record.is_none() {
            // The record is gone: the stale link must not block a fresh sign-up.
            ctx.store.delete_external_auth(l).await?;
            link = None;
        }
    }
    let logged_in_id = logged_in.as_ref().map(|r| r.id.clone());
    if record.is_none() {
        record = logged_in;
    }
    if record.is_none() && user.email_verified && !user.email.is_empty() {
        let key = validate::identity_key(collection, "email", &user.email);
        record = ctx
            .store
            .find_record_by_unique(&collection.id, &key)
            .await?;
    }

    let Some(existing) = record else {
        let record = create_record(ctx, collection, user, create_data, now).await?;
        if let Err(e) = insert_link(ctx, collection, &record, provider, user, now).await {
            // Without its link the new record is an orphan nobody can log
            // into (its email would block the retry's sign-up): undo it.
            let keys = validate::unique_keys(collection, &record);
            if let Err(undo) = ctx.store.delete_record(&record, &keys).await {
                tracing::error!(error = %undo, record = %record.id, "could not undo an unlinked OAuth2 record");
            }
            return Err(e);
        }
        return Ok((record, true));
    };

    // An existing record. Order matters, as the steps are separate writes
    // (no transaction spans them); each failure leaves a state the same
    // login can retry from, and never takes this identity's link away:
    // 1. an unverified record loses its *other* provider links (they may be
    //    a pre-hijacker's), unless it is the caller's own logged-in record:
    //    its owner is adding an identity, and whoever holds its session
    //    already controls it, so dropping links would only hurt the owner
    //    (a pre-hijacker's links still go once the real owner proves the
    //    address without that session). The link being used now is kept,
    //    never deleted and re-added. This comes first: once the record is
    //    verified, later logins no longer drop links;
    // 2. the link is created when missing;
    // 3. the record is secured (password reset, token key rotated, verified).
    // Remaining window: if step 2 or 3 fails, the other links of step 1 are
    // gone although the login failed. Only an unverified record has them,
    // and the successful retry would drop them anyway. A failure in step 3
    // leaves the record linked but not yet secured, which the retry (now
    // through the link) completes.
    let is_logged_in = logged_in_id.as_deref() == Some(existing.id.as_str());
    if !existing.verified && !is_logged_in {
        for l in ctx
            .store
            .list_external_auths(&collection.id, &existing.id)
            .await?
        {
            if l.provider == provider && l.provider_id == user.id {
                link = Some(l);
            } else {
                ctx.store.delete_external_auth(&l).await?;
            }
        }
    }
    if link.is_none() {
        insert_link(ctx, collection, &existing, provider, user, now).await?;
    }
    let record = secure_existing(ctx, collection, existing, user, is_logged_in, now).await?;
    Ok((record, false))
}

/// Links the provider identity to `record`.
async fn insert_link(
    ctx: &Ctx,
    collection: &Collection,
    record: &Record,
    provider: &str,
    user: &AuthUser,
    now: Timestamp,
) -> Result<()> {
    let link = ExternalAuth {
        collection_id: collection.id.clone(),
        record_id: record.id.clone(),
        provider: provider.to_owned(),
        provider_id: user.id.clone(),
        created: now,
    };
    match ctx.store.insert_external_auth(&link).await {
        Ok(()) => Ok(()),
        // A concurrent login linked the same identity first.
        Err(StoreError::Conflict { .. }) => Err(Error::bad_request(AUTH_FAILED)),
        Err(e) => Err(e.into()),
    }
}

/// Updates an existing record the provider just proved access to: an
/// unverified one (unless it is the caller's own logged-in record) gets a
/// random password and a new token key, revoking whatever its creator set
/// up; it becomes verified when its email is the provider's verified one.
/// Its other links were dropped before this login's link was made (see
/// [`find_or_create`]), so the shared hardening keeps links alone here.
async fn secure_existing(
    ctx: &Ctx,
    collection: &Collection,
    record: Record,
    user: &AuthUser,
    is_logged_in: bool,
    now: Timestamp,
) -> Result<Record> {
    let mut hardening = Hardening::new();
    let mut current = record;
    for attempt in records::attempts() {
        if attempt > 0 {
            // Another request updated the record in between: start again.
            current = ctx
                .store
                .get_record(&collection.id, &current.id)
                .await?
                .ok_or_else(|| Error::bad_request(AUTH_FAILED))?;
        }
        let reset_password = !is_logged_in && !current.verified;
        let verify = !current.verified
            && user.email_verified
            && email::fold(&current.email) == email::fold(&user.email);
        if !reset_password && !verify {
            return Ok(current);
        }
        let mut new = records::next_version(collection, &current, now);
        new.verified |= verify;
        let steps = HardeningSteps {
            reset_password,
            drop_links: false,
        };
        hardening.apply(ctx, &current, &mut new, steps).await?;
        if records::write(ctx, collection, &current, &new, None).await? {
            return Ok(new);
        }
    }
    // Concurrent requests on the same record, not a server fault: 400 as
    // PocketBase answers a failed update; the login can simply be retried.
    tracing::warn!(record = %current.id, "record kept changing during OAuth2 login");
    Err(Error::bad_request(AUTH_FAILED))
}

/// Creates the record for a first OAuth2 login through the sign-up path.
/// `createData` may set the email, `emailVisibility`, a password (with
/// `passwordConfirm`, as in sign-up; without one the password is random)
/// and the collection's own fields; never `verified`, `tokenKey`, `id` or
/// timestamps. The provider's profile fills the collection's `mappedFields`
/// that `createData` leaves out.
async fn create_record(
    ctx: &Ctx,
    collection: &Collection,
    user: &AuthUser,
    create_data: Option<Map<String, Value>>,
    now: Timestamp,
) -> Result<Record> {
    // `createRule: null` closes sign-up, OAuth2's included (PocketBase
    // creates the record through its records create request).
    if collection.rules.create == Rule::Nobody {
        return Err(Error::only_superusers());
    }
    let mut input = create_data.unwrap_or_default();
    let given = input.get("email").map(cast_string).unwrap_or_default();
    let email = if given.trim().is_empty() {
        user.email.clone()
    } else {
        given.trim().to_owned()
    };
    // PocketBase sets a random password when `createData` has none.
    let has_password = input
        .get("password")
        .map(cast_string)
        .is_some_and(|p| !p.is_empty());
    let password = || {
        if has_password {
            NewPassword::FromInput
        } else {
            NewPassword::Random
        }
    };

    let mapped = &collection.oauth2.mapped_fields;
    for (field, value) in [
        (&mapped.id, &user.id),
        (&mapped.name, &user.name),
        (&mapped.avatar_url, &user.avatar_url),
    ] {
        if !field.is_empty() && !value.is_empty() && !input.contains_key(field) {
            input.insert(field.clone(), Value::String(value.clone()));
        }
    }
    let username_field = mapped.username.as_str();
    let mapped_username = map_username(ctx, collection, user, &mut input).await?;

    let (mut draft, mut errors) = sign_up::check(ctx, collection, &input, &email, password(), now);
    // A mapped username the field's rules refuse is left out instead
    // (PocketBase's rule), so it never blocks the sign-up.
    if mapped_username && errors.contains_key(username_field) {
        input.remove(username_field);
        (draft, errors) = sign_up::check(ctx, collection, &input, &email, password(), now);
    }
    if !errors.is_empty() {
        return Err(Error::validation(CREATE_FAILED, errors));
    }
    let verified = user.email_verified && email::fold(&email) == email::fold(&user.email);
    sign_up::insert(ctx, collection, draft, verified, now).await
}

/// Puts the provider's username into `input` when the collection maps it,
/// `createData` does not set it and it is still free (PocketBase's rule,
/// so a taken name never blocks the sign-up). Says whether it did.
async fn map_username(
    ctx: &Ctx,
    collection: &Collection,
    user: &AuthUser,
    input: &mut Map<String, Value>,
) -> Result<bool> {
    let field = collection.oauth2.mapped_fields.username.as_str();
    if field.is_empty() || user.username.is_empty() || input.contains_key(field) {
        return Ok(false);
    }
    let unique = collection.unique_fields.iter().any(|u| u.name == field);
    if unique {
        let key = validate::identity_key(collection, field, &user.username);
        if ctx
            .store
            .find_record_by_unique(&collection.id, &key)
            .await?
            .is_some()
        {
            return Ok(false);
        }
    }
    input.insert(field.to_owned(), Value::String(user.username.clone()));
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn oauth2(urls: &[&str]) -> OAuth2Config {
        OAuth2Config {
            enabled: true,
            redirect_urls: urls.iter().map(|s| (*s).to_owned()).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn redirect_urls_must_match_the_allow_list_exactly() {
        let list = oauth2(&["https://app.example.test/oauth2-redirect"]);
        let app = "https://app.example.test";
        let cases = [
            ("https://app.example.test/oauth2-redirect", true),
            ("https://app.example.test/oauth2-redirect/", false),
            ("https://app.example.test/oauth2-redirect?x=1", false),
            ("https://APP.example.test/oauth2-redirect", false),
            ("https://app.example.test/other", false),
        ];
        for (url, want) in cases {
            assert_eq!(redirect_allowed(&list, app, url), want, "{url}");
        }
    }

    #[test]
    fn without_a_list_only_the_app_url_and_paths_below_it_are_allowed() {
        let none = oauth2(&[]);
        let app = "https://app.example.test";
        let cases = [
            ("https://app.example.test", true),
            ("https://app.example.test/", true),
            ("https://app.example.test/cb", true),
            ("https://app.example.test.evil.example/cb", false),
            ("https://app.example.testevil/cb", false),
            ("http://app.example.test/cb", false),
            ("", false),
        ];
        for (url, want) in cases {
            assert_eq!(redirect_allowed(&none, app, url), want, "{url:?}");
        }
    }

    #[test]
    fn the_input_debug_output_hides_the_code_and_verifier() {
        let input = AuthWithOAuth2Input {
            provider: "oidc".into(),
            code: Secret::new("the-code"),
            code_verifier: Secret::new("the-verifier"),
            ..Default::default()
        };
        let dbg = format!("{input:?}");
        assert!(
            !dbg.contains("the-code") && !dbg.contains("the-verifier"),
            "{dbg}"
        );
    }
}
