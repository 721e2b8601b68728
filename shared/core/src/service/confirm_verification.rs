//! `POST confirm-verification`: marks a record verified with the token from
//! its verification mail.

use serde::Deserialize;

use crate::config::{AppConfig, Collection};
use crate::error::{FieldError, Result};
use crate::model::{Record, Timestamp};
use crate::ports::StoreError;
use crate::token::{self, TokenKind};
use crate::validate;

use super::mail_flows::{self, TokenCheck, CONFIRM_ATTEMPTS};
use super::Ctx;

/// The request body.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ConfirmVerificationInput {
    pub token: String,
}

/// Verifies the token's record. A verification token is not single use
/// (the `tokenKey` does not change), so confirming again while the record is
/// still verified answers 204 again, as PocketBase does.
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
    if input.token.is_empty() {
        return Err(mail_flows::invalid("token", FieldError::required()));
    }
    for _ in 0..CONFIRM_ATTEMPTS {
        let record = match check(ctx, cfg, collection, &input.token, now).await? {
            Ok(record) => record,
            Err(e) => return Err(mail_flows::invalid("token", e)),
        };
        if record.verified {
            return Ok(());
        }
        let mut new = mail_flows::next_version(collection, &record, now);
        new.verified = true;
        if !collection.password_auth.enabled {
            // PocketBase's pre-hijack guard: whoever set a password on this
            // address before it was proven must not be able to use it if
            // password auth is turned on later.
            let password = crate::random::secret(ctx.rng.as_ref());
            new.password_hash = ctx.hash_password(&password).await?;
            mail_flows::rotate_token_key(ctx, &mut new);
        }
        mail_flows::drop_links_on_verified_upgrade(ctx, &record, &mut new).await?;
        let keys = validate::unique_keys(collection, &record);
        match ctx.store.update_record(&record, &new, &keys, &keys).await {
            Ok(()) => return Ok(()),
            // Someone else changed the record: read it again and re-check.
            Err(StoreError::Stale) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(mail_flows::invalid("token", FieldError::invalid_token()))
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
    match mail_flows::check_token(ctx, cfg, collection, raw, TokenKind::Verification, now).await? {
        TokenCheck::Invalid(e) => Ok(Err(e)),
        // The link verifies the address it was sent to, not whatever the
        // record's address is now.
        TokenCheck::Valid(record, claims) if claims.email.as_deref() != Some(&record.email) => {
            Ok(Err(FieldError::new(
                "validation_token_email_mismatch",
                "The record email doesn't match with the requested token claims.",
            )))
        }
        TokenCheck::Valid(record, _) => Ok(Ok(*record)),
    }
}
