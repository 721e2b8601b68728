//! `POST request-verification`: mails a verification link.

use serde::Deserialize;

use crate::config::{AppConfig, Collection};
use crate::error::Result;
use crate::model::Timestamp;
use crate::token::{Extra, TokenKind};

use super::mail_flows::{self, kind};
use super::Ctx;

/// The request body.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RequestVerificationInput {
    pub email: String,
}

/// Sends a verification mail to an unverified record with this email.
///
/// The answer is the same `Ok(())` (204) for an unknown address, an already
/// verified record, a throttled resend and a failed send, so it tells
/// nothing about which addresses have accounts. Only the resend counter
/// changes state.
pub async fn request_verification(
    ctx: &Ctx,
    cfg: &AppConfig,
    collection: &Collection,
    input: RequestVerificationInput,
    now: Timestamp,
) -> Result<()> {
    let email = input.email.trim();
    if let Some(e) = mail_flows::check_email(email) {
        return Err(mail_flows::invalid("email", e));
    }
    let Some(record) = mail_flows::find_by_email(ctx, collection, email).await? else {
        return Ok(());
    };
    if record.verified {
        return Ok(());
    }
    if !mail_flows::resend_allowed(ctx, kind::VERIFICATION, collection, &record, now).await? {
        return Ok(());
    }
    mail_flows::send_token_mail(
        ctx,
        cfg,
        collection,
        &record,
        TokenKind::Verification,
        Extra {
            email: Some(record.email.clone()),
            new_email: None,
        },
        &collection.verification_template,
        &record.email,
        kind::VERIFICATION,
        now,
    )
    .await?;
    Ok(())
}
