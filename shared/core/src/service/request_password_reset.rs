//! `POST request-password-reset`: mails a password reset link.

use serde::Deserialize;

use crate::config::{AppConfig, Collection};
use crate::error::{Error, Result};
use crate::model::Timestamp;
use crate::token::{Extra, TokenKind};

use super::mail_flows::{self, kind};
use super::Ctx;

/// The request body.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RequestPasswordResetInput {
    pub email: String,
}

/// Sends a reset mail to the record with this email.
///
/// The answer is the same `Ok(())` (204) for an unknown address, a throttled
/// resend and a failed send, so it tells nothing about which addresses have
/// accounts. Only the resend counter changes state.
pub async fn request_password_reset(
    ctx: &Ctx,
    cfg: &AppConfig,
    collection: &Collection,
    input: RequestPasswordResetInput,
    now: Timestamp,
) -> Result<()> {
    ensure_enabled(collection)?;
    let email = input.email.trim();
    if let Some(e) = mail_flows::check_email(email) {
        return Err(mail_flows::invalid("email", e));
    }
    let Some(record) = mail_flows::find_by_email(ctx, collection, email).await? else {
        return Ok(());
    };
    if !mail_flows::resend_allowed(ctx, kind::PASSWORD_RESET, collection, &record, now).await? {
        return Ok(());
    }
    mail_flows::send_token_mail(
        ctx,
        cfg,
        collection,
        &record,
        TokenKind::PasswordReset,
        Extra {
            email: Some(record.email.clone()),
            new_email: None,
        },
        &collection.reset_password_template,
        &record.email,
        kind::PASSWORD_RESET,
        now,
    )
    .await?;
    Ok(())
}

/// 400 unless the collection allows password logins (PocketBase answers 400
/// here, not the 403 of auth-with-password). Checked before the body is read.
pub fn ensure_enabled(collection: &Collection) -> Result<()> {
    if !collection.password_auth.enabled {
        return Err(Error::bad_request(
            "The collection is not configured to allow password authentication.",
        ));
    }
    Ok(())
}
