//! `POST auth-with-password`.

use serde::Deserialize;

use crate::config::{AppConfig, Collection};
use crate::error::{Error, FieldError, FieldErrors, Result};
use crate::form::{self, Errors};
use crate::model::{AuthMethod, Record, Timestamp};
use crate::secret::Secret;
use crate::validate::{self, identity_key};

use super::auth::{self, Factor};
use super::rate_limit::{self, Attempted};
use super::{finish_auth, AuthOutcome, Ctx, LoginRequest};

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct AuthWithPasswordInput {
    pub identity: String,
    pub password: Secret,
    pub identity_field: String,
    pub mfa_id: String,
}

impl AuthWithPasswordInput {
    pub fn validate(&self, collection: &Collection) -> FieldErrors {
        let field = &self.identity_field;
        let known = field.is_empty() || collection.password_auth.identity_fields.contains(field);
        let mut errors = Errors::new();
        errors
            .add("identity", form::required_length(&self.identity, 1, 255))
            .add(
                "password",
                validate::password_to_check(self.password.expose()),
            )
            .add(
                "identityField",
                (!known)
                    .then(|| FieldError::new("validation_in_invalid", "Must be a valid value.")),
            );
        errors.into_inner()
    }
}

/// Logs in with an identity and password (the collection must allow
/// password auth: `guards`). `request` carries the query's `mfaId` and the
/// client's address. Every attempt counts
/// against the account's cap (`rate_limit::password_attempt`) before the
/// password is checked, so over it even the right password gets the 429; a
/// successful one then gives its attempt back.
pub async fn auth_with_password(
    ctx: &Ctx,
    cfg: &AppConfig,
    collection: &Collection,
    input: AuthWithPasswordInput,
    request: LoginRequest<'_>,
    now: Timestamp,
) -> Result<AuthOutcome> {
    form::check(input.validate(collection))?;
    let record = find_by_identity(ctx, collection, &input.identity, &input.identity_field).await?;
    if let Some(r) = &record {
        // The request log names the account a login attempt was for by its
        // id (never by the identity typed): failed logins of one account
        // can be found without logging addresses.
        tracing::Span::current().record("record", r.id.as_str());
    }
    let who = match &record {
        Some(r) => Attempted::Record(&r.id),
        None => Attempted::UnknownIdentity(&input.identity),
    };
    rate_limit::password_attempt(ctx, &cfg.rate_limits, collection, who, now).await?;
    // Unknown identity and wrong password must be indistinguishable: same
    // work (a real argon2 verify against a dummy hash), same answer.
    if !ctx
        .verify_password(record.as_ref(), input.password.expose())
        .await?
    {
        return Err(Error::bad_request("Failed to authenticate."));
    }
    let Some(record) = record else {
        return Err(Error::bad_request("Failed to authenticate."));
    };
    rate_limit::password_attempt_succeeded(ctx, collection, &record.id, now).await?;
    // A bcrypt hash imported from PocketBase becomes argon2id now that the
    // password is known.
    let record =
        super::records::upgrade_legacy_hash(ctx, collection, record, input.password.expose()).await;
    let factor = Factor {
        method: AuthMethod::Password,
        mfa_id: auth::mfa_id(request.mfa_id, &input.mfa_id),
        meta: None,
        client: request.client,
    };
    finish_auth(ctx, cfg, collection, &record, factor, now).await
}

/// Looks an identity up by `identity_field`, or by every identity field with
/// `email` first (PocketBase's order) when none is given.
async fn find_by_identity(
    ctx: &Ctx,
    collection: &Collection,
    identity: &str,
    identity_field: &str,
) -> Result<Option<Record>> {
    let mut fields: Vec<&str> = if identity_field.is_empty() {
        collection
            .password_auth
            .identity_fields
            .iter()
            .map(String::as_str)
            .collect()
    } else {
        vec![identity_field]
    };
    fields.sort_by_key(|f| *f != "email");
    for field in fields {
        if field == "email" && identity_field.is_empty() && !crate::email::is_valid(identity) {
            continue;
        }
        let key = identity_key(collection, field, identity);
        if let Some(r) = ctx
            .store
            .find_record_by_unique(&collection.id, &key)
            .await?
        {
            return Ok(Some(r));
        }
    }
    Ok(None)
}
