//! `POST confirm-email-change`: switches a record to the address its
//! email-change mail was sent to.

use serde::Deserialize;

use crate::config::{AppConfig, Collection};
use crate::error::{FieldError, FieldErrors, Result};
use crate::model::{Record, Timestamp};
use crate::ports::StoreError;
use crate::token::{self, TokenKind};
use crate::validate;

use super::mail_flows::{self, TokenCheck, CONFIRM_ATTEMPTS};
use super::Ctx;

/// The request body.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ConfirmEmailChangeInput {
    pub token: String,
    pub password: String,
}

fn email_taken() -> FieldError {
    FieldError::new(
        "validation_invalid_token_email",
        "The new email address is invalid.",
    )
}

/// Checks the token and the record's current password, then moves the
/// record to the token's `newEmail`: the new unique marker is claimed and the
/// old one released in the same conditional write, so two records can never
/// end up with one address, even when an older change token races someone
/// else's change to that address. The record becomes verified (the mail
/// reached the new address) and its `tokenKey` rotates, revoking every older
/// token, this one included.
///
/// Errors: `token` (`validation_required`, `validation_invalid_token_payload`
/// without a `newEmail` claim, `validation_invalid_token`,
/// `validation_token_collection_mismatch`, `validation_invalid_token_email`
/// when the new address belongs to another record by now); `password`
/// (`validation_required`, `validation_length_out_of_range`,
/// `validation_invalid_password`).
pub async fn confirm_email_change(
    ctx: &Ctx,
    cfg: &AppConfig,
    collection: &Collection,
    input: ConfirmEmailChangeInput,
    now: Timestamp,
) -> Result<()> {
    let mut errors = FieldErrors::new();
    let mut checked = None;
    if input.token.is_empty() {
        errors.insert("token".into(), FieldError::required());
    } else {
        match check(ctx, cfg, collection, &input.token, now).await? {
            Ok(found) => checked = Some(found),
            Err(e) => {
                errors.insert("token".into(), e);
            }
        }
    }
    if input.password.is_empty() {
        errors.insert("password".into(), FieldError::required());
    } else if input.password.chars().count() > 100 {
        errors.insert("password".into(), mail_flows::length_out_of_range(1, 100));
    } else {
        // Without a valid token there is no record to check against:
        // PocketBase reports the password as invalid too.
        let ok = match &checked {
            Some((record, _)) => {
                ctx.verify_password(Some(record.as_ref()), &input.password)
                    .await?
            }
            None => false,
        };
        if !ok {
            errors.insert(
                "password".into(),
                FieldError::new(
                    "validation_invalid_password",
                    "Missing or invalid auth record password.",
                ),
            );
        }
    }
    mail_flows::check_form(errors)?;
    let Some((mut record, mut new_email)) = checked else {
        return Err(mail_flows::invalid("token", FieldError::invalid_token()));
    };

    for attempt in 0..CONFIRM_ATTEMPTS {
        if attempt > 0 {
            match check(ctx, cfg, collection, &input.token, now).await? {
                Ok(found) => (record, new_email) = found,
                Err(e) => return Err(mail_flows::invalid("token", e)),
            }
        }
        let mut new = mail_flows::next_version(collection, &record, now);
        new.email = new_email.clone();
        new.verified = true;
        mail_flows::rotate_token_key(ctx, &mut new);
        mail_flows::drop_links_on_verified_upgrade(ctx, &record, &mut new).await?;
        let old_keys = validate::unique_keys(collection, &record);
        let new_keys = validate::unique_keys(collection, &new);
        match ctx
            .store
            .update_record(&record, &new, &old_keys, &new_keys)
            .await
        {
            Ok(()) => return Ok(()),
            // Someone took the address between our check and our write.
            Err(StoreError::Conflict { .. }) => {
                return Err(mail_flows::invalid("token", email_taken()))
            }
            // Someone changed the record: re-read and re-check the token
            // (a rotated key makes it invalid).
            Err(StoreError::Stale) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(mail_flows::invalid("token", FieldError::invalid_token()))
}

/// The token's record and new address, or the `token` field error.
async fn check(
    ctx: &Ctx,
    cfg: &AppConfig,
    collection: &Collection,
    raw: &str,
    now: Timestamp,
) -> Result<Result<(Box<Record>, String), FieldError>> {
    // Checked on the unverified claims first, as PocketBase does.
    let has_new_email = token::peek(raw)
        .and_then(|c| c.new_email)
        .is_some_and(|e| !e.is_empty());
    if !has_new_email {
        return Ok(Err(FieldError::new(
            "validation_invalid_token_payload",
            "Invalid token payload - newEmail must be set.",
        )));
    }
    let (record, claims) =
        match mail_flows::check_token(ctx, cfg, collection, raw, TokenKind::EmailChange, now)
            .await?
        {
            TokenCheck::Valid(record, claims) => (record, claims),
            TokenCheck::Invalid(e) => return Ok(Err(e)),
        };
    let new_email = claims.new_email.unwrap_or_default();
    if mail_flows::find_by_email(ctx, collection, &new_email)
        .await?
        .is_some()
    {
        return Ok(Err(email_taken()));
    }
    Ok(Ok((record, new_email)))
}
