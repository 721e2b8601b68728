//! `POST request-verification`: mails a verification link.

use crate::config::{AppConfig, Collection};
use crate::error::Result;
use crate::form::EmailInput;
use crate::model::{MailFlow, Timestamp};

use super::mail_delivery::{self, LinkMail};
use super::{records, Ctx};

/// The request body.
pub type RequestVerificationInput = EmailInput;

/// Queues a verification mail to the record with this email, if there is
/// one and it is not verified yet; 204 whatever happened (see
/// [`mail_delivery::queue_throttled`]).
pub async fn request_verification(
    ctx: &Ctx,
    cfg: &AppConfig,
    collection: &Collection,
    input: RequestVerificationInput,
    now: Timestamp,
) -> Result<()> {
    let flow = MailFlow::Verification;
    let (record, subject) = records::addressee(ctx, collection, &input).await?;
    let mail = record
        .as_ref()
        .filter(|r| !r.verified)
        .map(|r| LinkMail::to_own_address(flow, r));
    mail_delivery::queue_throttled(ctx, cfg, collection, flow, &subject, mail, now).await
}
