//! What the mail flows (verification, password reset, email change) share:
//! input checks with PocketBase's codes, the resend throttle, "send and log
//! the failure", reading a mail-flow token, and building the next version of
//! a record.

use serde_json::json;

use crate::config::{AppConfig, Collection, CollectionKind};
use crate::error::{Error, FieldError, FieldErrors, Result};
use crate::model::{Record, Timestamp};
use crate::ports::MailMessage;
use crate::token::{self, Claims, TokenKind};
use crate::validate;

use super::Ctx;

/// PocketBase's message for a form that failed validation.
pub const VALIDATION_FAILED: &str = "An error occurred while validating the submitted data.";

/// At most one verification and one password-reset mail per record per
/// window (PocketBase: 2 minutes), however many requests arrive.
pub const RESEND_WINDOW_SECS: i64 = 120;

/// How often a confirm re-reads the record after losing an optimistic write
/// before it gives up and calls the token invalid. A lost write means another
/// request changed the record in between; re-reading and re-checking the
/// token is what makes single use hold (a rotated `tokenKey` fails the
/// check) without failing a valid token because of an unrelated update.
pub const CONFIRM_ATTEMPTS: usize = 3;

/// Mail kinds, used in logs and mailbox file names.
pub mod kind {
    pub const VERIFICATION: &str = "verification";
    pub const PASSWORD_RESET: &str = "password-reset";
    pub const EMAIL_CHANGE: &str = "email-change";
}

/// ozzo-validation's `Length(min, max)` failure as PocketBase renders it.
pub fn length_out_of_range(min: usize, max: usize) -> FieldError {
    FieldError::new(
        "validation_length_out_of_range",
        format!("The length must be between {min} and {max}."),
    )
    .with_params(json!({ "min": min, "max": max }))
}

/// PocketBase's `Required, Length(1, 255), is.EmailFormat` on an address;
/// `None` when the address is acceptable.
pub fn check_email(value: &str) -> Option<FieldError> {
    if value.is_empty() {
        Some(FieldError::required())
    } else if value.chars().count() > 255 {
        Some(length_out_of_range(1, 255))
    } else if !crate::email::is_valid(value) {
        Some(FieldError::is_email())
    } else {
        None
    }
}

/// A single-field validation failure with PocketBase's form message.
pub fn invalid(field: &str, error: FieldError) -> Error {
    Error::field(VALIDATION_FAILED, field, error)
}

/// A whole form's validation failures; `Ok` when there are none.
pub fn check_form(errors: FieldErrors) -> Result<()> {
    if errors.is_empty() {
        Ok(())
    } else {
        Err(Error::validation(VALIDATION_FAILED, errors))
    }
}

/// Finds a record of `collection` by email, ASCII case-insensitively
/// through its unique marker (strongly consistent).
pub async fn find_by_email(
    ctx: &Ctx,
    collection: &Collection,
    email: &str,
) -> Result<Option<Record>> {
    let key = validate::identity_key(collection, "email", email);
    Ok(ctx
        .store
        .find_record_by_unique(&collection.id, &key)
        .await?)
}

/// Counts a request for a `kind` mail to `record` and says whether it may
/// be sent. The counter lives in the shared store, so the limit holds across
/// every Lambda container, and the check-and-count is one conditional write,
/// so N simultaneous requests let exactly one mail through.
///
/// The hit is taken *before* sending, so a send that then fails still uses up
/// the window: that is what keeps concurrent requests to one mail (there is
/// no way to "un-count" without reopening the race), and it also stops
/// clients from hammering a mail provider that is failing.
pub async fn resend_allowed(
    ctx: &Ctx,
    kind: &str,
    collection: &Collection,
    record: &Record,
    now: Timestamp,
) -> Result<bool> {
    let key = format!("mail:{kind}:{}:{}", collection.id, record.id);
    Ok(ctx.store.hit(&key, 1, RESEND_WINDOW_SECS, now).await?)
}

/// Issues a `kind` token for `record`, renders `template` with it and mails
/// it to `to`, logging (never returning) a delivery failure.
#[allow(clippy::too_many_arguments)]
pub async fn send_token_mail(
    ctx: &Ctx,
    cfg: &AppConfig,
    collection: &Collection,
    record: &Record,
    token_kind: TokenKind,
    extra: token::Extra,
    template: &crate::config::Template,
    to: &str,
    mail_kind: &'static str,
    now: Timestamp,
) -> Result<()> {
    let token = token::issue(collection, record, token_kind, now, extra)?;
    let placeholders = crate::mail::Placeholders {
        token: Some(&token),
        ..Default::default()
    };
    let message = crate::mail::render(
        &cfg.meta,
        collection,
        template,
        record,
        to,
        &placeholders,
        mail_kind,
    );
    send_logged(ctx, record, &message).await;
    Ok(())
}

/// Sends a mail; a failure is logged and swallowed. The request endpoints
/// answer the same whether or not the mail went out, so a mail outage can't
/// be used to tell known addresses from unknown ones. The log carries the
/// mailer's error (provider error and request id) and the record id, never
/// the message itself, which holds the token.
pub async fn send_logged(ctx: &Ctx, record: &Record, message: &MailMessage) {
    if let Err(e) = ctx.mailer.send(message).await {
        tracing::error!(
            kind = message.kind,
            collection_id = %record.collection_id,
            record_id = %record.id,
            error = %e,
            "failed to send mail"
        );
    }
}

/// A mail-flow token checked against its record.
pub enum TokenCheck {
    /// Signature, type, expiry and collection are right.
    Valid(Box<Record>, Claims),
    /// Refused, with the `token` field error PocketBase gives.
    Invalid(FieldError),
}

/// Reads a token of `kind` the way PocketBase's `FindAuthRecordByToken`
/// does: the record is looked up in whichever auth collection the token
/// names, the signature checked with that record's key, and only then is a
/// token of another collection told apart (`validation_token_collection_mismatch`).
pub async fn check_token(
    ctx: &Ctx,
    cfg: &AppConfig,
    collection: &Collection,
    raw: &str,
    kind: TokenKind,
    now: Timestamp,
) -> Result<TokenCheck> {
    let invalid = || Ok(TokenCheck::Invalid(FieldError::invalid_token()));
    let Some(claims) = token::peek(raw) else {
        return invalid();
    };
    if claims.kind != kind.as_str() || !crate::model::is_plausible_id(&claims.id) {
        return invalid();
    }
    let Some(owner) = cfg
        .collection_by_id(&claims.collection_id)
        .filter(|c| c.kind == CollectionKind::Auth)
    else {
        return invalid();
    };
    let Some(record) = ctx.store.get_record(&owner.id, &claims.id).await? else {
        return invalid();
    };
    let Some(claims) = token::verify(owner, &record, raw, kind, now) else {
        return invalid();
    };
    if owner.id != collection.id {
        return Ok(TokenCheck::Invalid(FieldError::new(
            "validation_token_collection_mismatch",
            "The provided token is for different auth collection.",
        )));
    }
    Ok(TokenCheck::Valid(Box::new(record), claims))
}

/// The record as it will be after an update at `now`: next version, `updated`
/// and `onUpdate` autodate fields set. The caller changes what it changes
/// and writes it with `update_record(old, &new, …)`.
pub fn next_version(collection: &Collection, old: &Record, now: Timestamp) -> Record {
    let mut new = old.clone();
    new.version = old.version + 1;
    new.updated = now;
    validate::touch_autodates(collection, &mut new.fields, now);
    new
}

/// A fresh `tokenKey`: every token signed with the old one stops working.
pub fn rotate_token_key(ctx: &Ctx, record: &mut Record) {
    record.token_key = crate::random::secret(ctx.rng.as_ref());
}

/// PocketBase's guard for a record that goes from unverified to verified:
/// its OAuth2 links are dropped (and its tokens revoked if there were any).
/// Someone who created the unverified account could have linked their own
/// OAuth2 identity to it; once the owner of the address proves it, that
/// link must not keep working.
///
/// Runs right before the record's conditional write: if that write then
/// loses a race, the links of a still-unverified record are gone, which is
/// the safe side; the reverse order could leave a verified record with
/// the links still in place.
pub async fn drop_links_on_verified_upgrade(
    ctx: &Ctx,
    old: &Record,
    new: &mut Record,
) -> Result<()> {
    if old.verified || !new.verified {
        return Ok(());
    }
    let links = ctx
        .store
        .list_external_auths(&old.collection_id, &old.id)
        .await?;
    if links.is_empty() {
        return Ok(());
    }
    for link in &links {
        ctx.store.delete_external_auth(link).await?;
    }
    if new.token_key == old.token_key {
        rotate_token_key(ctx, new);
    }
    Ok(())
}
