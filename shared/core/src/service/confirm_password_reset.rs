//! `POST confirm-password-reset`: sets a new password with the token from a
//! reset mail.

use serde::Deserialize;

use crate::config::{AppConfig, Collection, PasswordRules};
use crate::error::{Error, FieldError, FieldErrors, Result};
use crate::form::{self, Errors};
use crate::model::Timestamp;
use crate::secret::Secret;
use crate::token::TokenKind;
use crate::validate;

use super::mail_token::{check_token, keep, TokenCheck};
use super::rate_limit;
use super::records::{self, Hardening, HardeningSteps};
use super::Ctx;

/// The request body.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ConfirmPasswordResetInput {
    pub token: Secret,
    pub password: Secret,
    pub password_confirm: Secret,
}

impl ConfirmPasswordResetInput {
    /// The form's own rules (the token is checked against the store apart).
    /// The form checks the length only; the password field's own max and
    /// pattern come after, as PocketBase's save does.
    pub fn validate(&self, collection: &Collection) -> FieldErrors {
        let password = self.password.expose();
        let confirm = self.password_confirm.expose();
        let mismatch =
            (!confirm.is_empty() && confirm != password).then(FieldError::values_mismatch);
        let mut errors = Errors::new();
        errors
            .add(
                "password",
                form::required_length(
                    password,
                    collection.password.min.max(1),
                    PasswordRules::CEILING,
                ),
            )
            .add("passwordConfirm", form::required(confirm).or(mismatch));
        errors.into_inner()
    }
}

/// Sets the new password and rotates the record's `tokenKey`, which revokes
/// every older token: auth tokens, other reset links and this one, so the
/// link is single use. N simultaneous confirms of one token give exactly one
/// success: all but one lose the conditional write, re-read the record and
/// find the token signed with a key that no longer exists.
///
/// An unverified record becomes verified when the token's email is still the
/// record's: the mail reached that address, which proves it. The account's
/// password attempt cap is lifted, so its owner can log in at once.
///
/// Errors (all fields reported together, as PocketBase does): `token`
/// (`validation_required`, `validation_invalid_token`,
/// `validation_token_collection_mismatch`), `password` (`validation_required`,
/// `validation_length_out_of_range`), `passwordConfirm`
/// (`validation_required`, `validation_values_mismatch`); then the
/// collection's own password rules under `Failed to set new password.`.
pub async fn confirm_password_reset(
    ctx: &Ctx,
    cfg: &AppConfig,
    collection: &Collection,
    input: ConfirmPasswordResetInput,
    now: Timestamp,
) -> Result<()> {
    let mut errors = FieldErrors::new();
    let mut checked = match form::required(input.token.expose()) {
        Some(e) => keep(&mut errors, "token", Err(e)),
        None => keep(
            &mut errors,
            "token",
            check(ctx, cfg, collection, &input, now).await?,
        ),
    };
    errors.extend(input.validate(collection));
    form::check(errors)?;
    let invalid_token = || form::invalid("token", FieldError::invalid_token());
    if checked.is_none() {
        return Err(invalid_token());
    }
    if let Some(e) = validate::password(&collection.password, input.password.expose()) {
        return Err(Error::field("Failed to set new password.", "password", e));
    }

    let hash = ctx.hash_password(input.password.expose()).await?;
    let steps = HardeningSteps {
        reset_password: false,
        drop_links: true,
    };
    let mut hardening = Hardening::new();
    for _ in records::attempts() {
        // After a lost write, re-check: if the winner rotated the key, the
        // token is no longer valid.
        let (record, claims) = match checked.take() {
            Some(found) => found,
            None => check(ctx, cfg, collection, &input, now)
                .await?
                .map_err(|_| invalid_token())?,
        };
        let mut new = records::next_version(collection, &record, now);
        new.password_hash = hash.clone();
        records::rotate_token_key(ctx, &mut new);
        if !record.verified && claims.email.as_deref() == Some(record.email.as_str()) {
            new.verified = true;
        }
        hardening.apply(ctx, &record, &mut new, steps).await?;
        if records::write(ctx, collection, &record, &new, None).await? {
            return rate_limit::password_attempts_cleared(ctx, collection, &record.id).await;
        }
    }
    Err(invalid_token())
}

async fn check(
    ctx: &Ctx,
    cfg: &AppConfig,
    collection: &Collection,
    input: &ConfirmPasswordResetInput,
    now: Timestamp,
) -> Result<TokenCheck> {
    let raw = input.token.expose();
    check_token(ctx, cfg, collection, raw, TokenKind::PasswordReset, now).await
}
