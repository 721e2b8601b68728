//! `POST request-verification`: mails a verification link.

use crate::config::{AppConfig, Collection};
use crate::error::Result;
use crate::form::EmailInput;
use crate::model::{MailFlow, Timestamp};

use super::mail_delivery::{self, LinkMail};
use super::{records, Ctx};

/// The request body.
pub type RequestVerificationInput = EmailInput;

/// Sends a verification mail to the record with this email, if there is one
/// and it is not verified yet; 204 whatever happened (see
/// [`mail_delivery::send_throttled`]).
pub async fn request_verification(
    ctx: &Ctx,
    cfg: &AppConfig,
    collection: &Collection,
    input: RequestVerificationInput,
    now: Timestamp,
) -> Result<()> {
    let Some(record) = records::find_by_email_input(ctx, collection, &input).await? else {
        return Ok(());
    };
    if record.verified {
        return Ok(());
    }
    let mail = LinkMail::to_own_address(MailFlow::Verification, &record);
    mail_delivery::send_throttled(ctx, cfg, collection, mail, now).await
}
