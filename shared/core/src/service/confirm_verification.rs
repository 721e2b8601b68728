//! `POST confirm-verification`: marks a record verified with the token from
//! its verification mail.

use serde::Deserialize;

use crate::config::{AppConfig, Collection};
use crate::error::{FieldError, Result};
use crate::form;
use crate::model::{Record, Timestamp};
use crate::secret::Secret;
use crate::token::{self, TokenKind};

use super::mail_token::check_token;
use super::records::{self, Hardening, HardeningSteps};
use super::Ctx;

/// The request body.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ConfirmVerificationInput {
    pub token: Secret,
}

/// Verifies the token's record. A verification token is not single use
/// (the `tokenKey` does not change), so confirming again while the record is
/// still verified answers 204 again, as PocketBase does. When password auth
/// is off, the password is replaced too (PocketBase's pre-hijack guard:
/// whoever set a password on this address before it was proven must not be
/// able to use it if password auth is turned on later).
///
/// `token` errors, in PocketBase's order: `validation_required`,
/// `validation_invalid_token_claims` (no `email` claim, e.g. another token
/// type), `validation_invalid_token` (bad signature, expired, wrong type,
/// unknown record), `validation_token_collection_mismatch`,
/// `validation_token_email_mismatch` (the record's email changed since).
pub async fn confirm_verification(
    ctx: &Ctx,
    cfg: &AppConfig,
    collection: &Collection,
    input: ConfirmVerificationInput,
    now: Timestamp,
) -> Result<()> {
    let token_error = |e| form::invalid("token", e);
    if let Some(e) = form::required(input.token.expose()) {
        return Err(token_error(e));
    }
    let steps = HardeningSteps {
        reset_password: !collection.password_auth.enabled,
        drop_links: true,
    };
    let mut hardening = Hardening::new();
    for _ in records::attempts() {
        let record = check(ctx, cfg, collection, input.token.expose(), now)
            .await?
            .map_err(token_error)?;
        if record.verified {
            return Ok(());
        }
        let mut new = records::next_version(collection, &record, now);
        new.verified = true;
        hardening.apply(ctx, &record, &mut new, steps).await?;
        if records::write(ctx, collection, &record, &new, None).await? {
            return Ok(());
        }
    }
    Err(token_error(FieldError::invalid_token()))
}

/// The token's record, or the `token` field error.
async fn check(
    ctx: &Ctx,
    cfg: &AppConfig,
    collection: &Collection,
    raw: &str,
    now: Timestamp,
) -> Result<Result<Record, FieldError>> {
    // Checked on the unverified claims first, as PocketBase does.
    let has_email = token::peek(raw)
        .and_then(|c| c.email)
        .is_some_and(|e| !e.is_empty());
    if !has_email {
        return Ok(Err(FieldError::new(
            "validation_invalid_token_claims",
            "Missing email token claim.",
        )));
    }
    Ok(
        match check_token(ctx, cfg, collection, raw, TokenKind::Verification, now).await? {
            Err(e) => Err(e),
            // The link verifies the address it was sent to, not whatever the
            // record's address is now.
            Ok((record, claims)) if claims.email.as_deref() != Some(&record.email) => {
                Err(FieldError::new(
                    "validation_token_email_mismatch",
                    "The record email doesn't match with the requested token claims.",
                ))
            }
            Ok((record, _)) => Ok(record),
        },
    )
}
