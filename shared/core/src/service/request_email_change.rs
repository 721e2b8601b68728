//! `POST request-email-change`: mails a confirmation link to the new address.

use serde::Deserialize;

use crate::config::{AppConfig, Collection};
use crate::error::{FieldError, Result};
use crate::form::{self, Email};
use crate::model::{MailFlow, Record, Timestamp};
use crate::token::Extra;

use super::mail_delivery::{self, LinkMail};
use super::{records, Ctx};

/// The request body.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct RequestEmailChangeInput {
    pub new_email: String,
}

/// Sends an email-change link for the authenticated `record` (checked
/// before the body is read, as PocketBase does) to `newEmail` only: the
/// link proves the caller controls the new address, and the current address
/// learns nothing it could act on.
///
/// Errors: 400 `newEmail` validation (`validation_not_in_invalid` when it
/// is the current address, `validation_invalid_new_email` when another
/// record has it; both ASCII case-insensitive, as identities are). A
/// throttled request (one mail per record per resend window, at most
/// [`mail_delivery::MAILS_PER_TARGET`] per hour to one address) or a failed
/// send still answers 204, like the other request endpoints.
pub async fn request_email_change(
    ctx: &Ctx,
    cfg: &AppConfig,
    collection: &Collection,
    record: &Record,
    input: RequestEmailChangeInput,
    now: Timestamp,
) -> Result<()> {
    let invalid = |e| form::invalid("newEmail", e);
    let new_email = Email::parse(&input.new_email).map_err(invalid)?;
    let new_email = new_email.as_str();
    if crate::email::fold(new_email) == crate::email::fold(&record.email) {
        return Err(invalid(FieldError::new(
            "validation_not_in_invalid",
            "Must not be in list.",
        )));
    }
    if let Some(other) = records::find_by_email(ctx, collection, new_email).await? {
        if other.id != record.id {
            return Err(invalid(FieldError::new(
                "validation_invalid_new_email",
                "Invalid new email address.",
            )));
        }
    }
    let mail = LinkMail {
        flow: MailFlow::EmailChange,
        record,
        to: new_email,
        claims: Extra {
            email: Some(record.email.clone()),
            new_email: Some(new_email.to_owned()),
        },
    };
    // The per-record throttle of every mail flow, then a limit per target
    // address across all senders: a signed-up attacker cannot make us mail
    // arbitrary people. Over either: the usual answer, a decoy, no mail.
    if !mail_delivery::resend_allowed(ctx, mail.flow, collection, &record.id, now).await? {
        return mail_delivery::queue_decoy(ctx, collection, mail.flow, now).await;
    }
    if !mail_delivery::target_allowed(ctx, mail.flow, new_email, now).await? {
        tracing::warn!(
            collection = %collection.name,
            record_id = %record.id,
            "too many email-change mails to one address; nothing sent"
        );
        return mail_delivery::queue_decoy(ctx, collection, mail.flow, now).await;
    }
    mail_delivery::queue_link_mail(ctx, cfg, collection, mail, now).await
}
