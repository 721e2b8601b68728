//! `POST request-verification`: mails a verification link.

use crate::config::{AppConfig, Collection};
use crate::error::Result;
use crate::form::EmailInput;
use crate::model::{MailFlow, Timestamp};

use super::mail_delivery::{self, LinkMail};
use super::{records, Ctx};

/// The request body.
pub type RequestVerificationInput = EmailInput;

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
    let email = input.parse()?;
    let Some(record) = records::find_by_email(ctx, collection, email.as_str()).await? else {
        return Ok(());
    };
    if record.verified {
        return Ok(());
    }
    let mail = LinkMail::to_own_address(MailFlow::Verification, &record);
    mail_delivery::send_throttled(ctx, cfg, collection, mail, now).await
}
