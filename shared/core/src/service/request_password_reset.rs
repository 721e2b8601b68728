//! `POST request-password-reset`: mails a password reset link.

use crate::config::{AppConfig, Collection};
use crate::error::Result;
use crate::form::EmailInput;
use crate::model::{MailFlow, Timestamp};

use super::mail_delivery::{self, LinkMail};
use super::{records, Ctx};

/// The request body.
pub type RequestPasswordResetInput = EmailInput;

/// Queues a reset mail to the record with this email, if there is one (the
/// collection must allow password auth: `guards::Requirement::PasswordReset`).
/// Like every request endpoint it answers 204 whatever happened (see
/// [`mail_delivery::queue_throttled`]).
pub async fn request_password_reset(
    ctx: &Ctx,
    cfg: &AppConfig,
    collection: &Collection,
    input: RequestPasswordResetInput,
    now: Timestamp,
) -> Result<()> {
    let flow = MailFlow::PasswordReset;
    let (record, subject) = records::addressee(ctx, collection, &input).await?;
    let mail = record.as_ref().map(|r| LinkMail::to_own_address(flow, r));
    mail_delivery::queue_throttled(ctx, cfg, collection, flow, &subject, mail, now).await
}
