//! `POST request-email-change`: mails a confirmation link to the new address.

use serde::Deserialize;

use crate::config::{AppConfig, Collection};
use crate::error::{Error, FieldError, Result};
use crate::model::Timestamp;
use crate::token::{Extra, TokenKind};

use super::mail_flows::{self, kind};
use super::{authenticate, Ctx};

/// The request body.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct RequestEmailChangeInput {
    pub new_email: String,
}

/// Sends an email-change link for the authenticated record to `newEmail`
/// only: the link proves the caller controls the new address, and the
/// current address learns nothing it could act on.
///
/// `input` is the parsed body or why it could not be read.
///
/// Errors: 401 without a valid auth token, 403 for a record of another
/// collection, 400 `newEmail` validation (`validation_not_in_invalid` when it
/// is the current address, `validation_invalid_new_email` when another
/// record has it; both ASCII case-insensitive, as identities are). A failed
/// send is logged and still answers 204, like the other request endpoints.
pub async fn request_email_change(
    ctx: &Ctx,
    cfg: &AppConfig,
    collection: &Collection,
    authorization: Option<&str>,
    input: Result<RequestEmailChangeInput>,
    now: Timestamp,
) -> Result<()> {
    let (owner, record, _) = authenticate(ctx, cfg, authorization, now).await?;
    if owner.id != collection.id {
        // PocketBase names the token's collection here, not the route's.
        return Err(Error::Forbidden(format!(
            "The request requires auth record from {} collection.",
            owner.name
        )));
    }
    // A malformed body is reported only now: PocketBase checks the caller
    // (401/403) before it reads the body.
    let input = input?;

    let new_email = input.new_email.trim();
    if let Some(e) = mail_flows::check_email(new_email) {
        return Err(mail_flows::invalid("newEmail", e));
    }
    if crate::email::fold(new_email) == crate::email::fold(&record.email) {
        return Err(mail_flows::invalid(
            "newEmail",
            FieldError::new("validation_not_in_invalid", "Must not be in list."),
        ));
    }
    if let Some(other) = mail_flows::find_by_email(ctx, collection, new_email).await? {
        if other.id != record.id {
            return Err(mail_flows::invalid(
                "newEmail",
                FieldError::new("validation_invalid_new_email", "Invalid new email address."),
            ));
        }
    }

    mail_flows::send_token_mail(
        ctx,
        cfg,
        collection,
        &record,
        TokenKind::EmailChange,
        Extra {
            email: Some(record.email.clone()),
            new_email: Some(new_email.to_owned()),
        },
        &collection.confirm_email_change_template,
        new_email,
        kind::EMAIL_CHANGE,
        now,
    )
    .await?;
    Ok(())
}
