//! `POST confirm-password-reset`: sets a new password with the token from a
//! reset mail.

use serde::Deserialize;

use crate::config::{AppConfig, Collection};
use crate::error::{Error, FieldError, FieldErrors, Result};
use crate::model::Timestamp;
use crate::ports::StoreError;
use crate::token::TokenKind;
use crate::validate;

use super::mail_flows::{self, TokenCheck, CONFIRM_ATTEMPTS};
use super::Ctx;

/// The request body.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ConfirmPasswordResetInput {
    pub token: String,
    pub password: String,
    pub password_confirm: String,
}

/// Sets the new password and rotates the record's `tokenKey`, which revokes
/// every older token: auth tokens, other reset links and this one, so the
/// link is single use. N simultaneous confirms of one token give exactly one
/// success: all but one lose the conditional write, re-read the record and
/// find the token signed with a key that no longer exists.
///
/// An unverified record becomes verified when the token's email is still the
/// record's: the mail reached that address, which proves it.
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
    let mut checked = None;
    if input.token.is_empty() {
        errors.insert("token".into(), FieldError::required());
    } else {
        match mail_flows::check_token(
            ctx,
            cfg,
            collection,
            &input.token,
            TokenKind::PasswordReset,
            now,
        )
        .await?
        {
            TokenCheck::Valid(record, claims) => checked = Some((record, claims)),
            TokenCheck::Invalid(e) => {
                errors.insert("token".into(), e);
            }
        }
    }
    // The form checks the length only; the password field's own max and
    // pattern come after, as PocketBase's save does.
    let min = collection.password.min.max(1);
    let len = input.password.chars().count();
    if input.password.is_empty() {
        errors.insert("password".into(), FieldError::required());
    } else if len < min || len > 255 {
        errors.insert("password".into(), mail_flows::length_out_of_range(min, 255));
    }
    if input.password_confirm.is_empty() {
        errors.insert("passwordConfirm".into(), FieldError::required());
    } else if input.password_confirm != input.password {
        errors.insert("passwordConfirm".into(), FieldError::values_mismatch());
    }
    mail_flows::check_form(errors)?;
    let invalid_token = || mail_flows::invalid("token", FieldError::invalid_token());
    let Some((mut record, mut claims)) = checked else {
        return Err(invalid_token());
    };
    if let Some(e) = validate::password(&collection.password, &input.password) {
        return Err(Error::field("Failed to set new password.", "password", e));
    }

    let hash = ctx.hash_password(&input.password).await?;
    for attempt in 0..CONFIRM_ATTEMPTS {
        if attempt > 0 {
            match mail_flows::check_token(
                ctx,
                cfg,
                collection,
                &input.token,
                TokenKind::PasswordReset,
                now,
            )
            .await?
            {
                TokenCheck::Valid(r, c) => (record, claims) = (r, c),
                TokenCheck::Invalid(_) => return Err(invalid_token()),
            }
        }
        let mut new = mail_flows::next_version(collection, &record, now);
        new.password_hash = hash.clone();
        mail_flows::rotate_token_key(ctx, &mut new);
        if !record.verified && claims.email.as_deref() == Some(record.email.as_str()) {
            new.verified = true;
        }
        mail_flows::drop_links_on_verified_upgrade(ctx, &record, &mut new).await?;
        let keys = validate::unique_keys(collection, &record);
        match ctx.store.update_record(&record, &new, &keys, &keys).await {
            Ok(()) => return Ok(()),
            // Lost the race: re-read; if the winner rotated the key, the
            // re-check above turns this into an invalid token.
            Err(StoreError::Stale) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(invalid_token())
}
