//! `POST confirm-email-change`: switches a record to the address its
//! email-change mail was sent to.

use serde::Deserialize;

use crate::config::{AppConfig, Collection};
use crate::error::{FieldError, FieldErrors, Result};
use crate::form;
use crate::model::{Record, Timestamp};
use crate::secret::Secret;
use crate::token::{self, TokenKind};
use crate::validate;

use super::mail_token::{check_token, keep};
use super::rate_limit::{self, Attempted};
use super::records::{self, Hardening, HardeningSteps, WriteError};
use super::Ctx;

/// The request body.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ConfirmEmailChangeInput {
    pub token: Secret,
    pub password: Secret,
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
    let raw = input.token.expose();
    let mut errors = FieldErrors::new();
    let mut checked = match form::required(raw) {
        Some(e) => keep(&mut errors, "token", Err(e)),
        None => keep(
            &mut errors,
            "token",
            check(ctx, cfg, collection, raw, now).await?,
        ),
    };
    let password = input.password.expose();
    if let Some(e) = validate::password_to_check(password) {
        errors.insert("password".into(), e);
    } else {
        // Without a valid token there is no record to check against:
        // PocketBase reports the password as invalid too. With one, the
        // check counts against the account's password attempts.
        let record = checked.as_ref().map(|(record, _)| record);
        if let Some(r) = record {
            let who = Attempted::Record(&r.id);
            rate_limit::password_attempt(ctx, &cfg.rate_limits, collection, who, now).await?;
        }
        if record.is_none() || !ctx.verify_password(record, password).await? {
            errors.insert(
                "password".into(),
                FieldError::new(
                    "validation_invalid_password",
                    "Missing or invalid auth record password.",
                ),
            );
        }
    }
    form::check(errors)?;
    let token_error = |e| form::invalid("token", e);
    if checked.is_none() {
        return Err(token_error(FieldError::invalid_token()));
    }

    let steps = HardeningSteps {
        reset_password: false,
        drop_links: true,
    };
    let mut hardening = Hardening::new();
    for _ in records::attempts() {
        // After a lost write, re-check: a rotated key makes the token invalid.
        let (record, new_email) = match checked.take() {
            Some(found) => found,
            None => check(ctx, cfg, collection, raw, now)
                .await?
                .map_err(token_error)?,
        };
        let mut new = records::next_version(collection, &record, now);
        new.email = new_email;
        new.verified = true;
        records::rotate_token_key(ctx, &mut new);
        hardening.apply(ctx, &record, &mut new, steps).await?;
        let new_keys = Some(validate::unique_keys(collection, &new));
        match records::write(ctx, collection, &record, &new, new_keys).await {
            Ok(true) => return Ok(()),
            Ok(false) => continue,
            // Someone took the address between our check and our write.
            Err(WriteError::Conflict { .. }) => return Err(token_error(email_taken())),
            Err(e) => return Err(e.into()),
        }
    }
    Err(token_error(FieldError::invalid_token()))
}

/// The token's record and new address, or the `token` field error.
async fn check(
    ctx: &Ctx,
    cfg: &AppConfig,
    collection: &Collection,
    raw: &str,
    now: Timestamp,
) -> Result<Result<(Record, String), FieldError>> {
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
        match check_token(ctx, cfg, collection, raw, TokenKind::EmailChange, now).await? {
            Ok(found) => found,
            Err(e) => return Ok(Err(e)),
        };
    let new_email = claims.new_email.unwrap_or_default();
    if records::find_by_email(ctx, collection, &new_email)
        .await?
        .is_some()
    {
        return Ok(Err(email_taken()));
    }
    Ok(Ok((record, new_email)))
}
