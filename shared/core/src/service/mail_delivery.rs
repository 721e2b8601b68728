//! Sending the flows' mails: which template and token each flow uses, the
//! per-record resend throttle, and "send and log the failure".

use crate::config::{AppConfig, Collection, Template};
use crate::error::{Error, Result};
use crate::mail::{self, Placeholders};
use crate::model::{CounterKey, MailFlow, Record, Timestamp};
use crate::ports::MailMessage;
use crate::token::{self, TokenKind};

use super::Ctx;

/// At most one verification and one password-reset mail per record per
/// window (PocketBase: 2 minutes), however many requests arrive.
pub const RESEND_WINDOW_SECS: i64 = 120;

impl MailFlow {
    /// The token a flow's link carries; OTP mails carry a code instead.
    pub fn token_kind(self) -> Option<TokenKind> {
        match self {
            Self::Verification => Some(TokenKind::Verification),
            Self::PasswordReset => Some(TokenKind::PasswordReset),
            Self::EmailChange => Some(TokenKind::EmailChange),
            Self::Otp => None,
        }
    }

    /// The collection's template for this flow.
    pub fn template(self, collection: &Collection) -> &Template {
        match self {
            Self::Verification => &collection.verification_template,
            Self::PasswordReset => &collection.reset_password_template,
            Self::EmailChange => &collection.confirm_email_change_template,
            Self::Otp => &collection.otp.email_template,
        }
    }
}

/// Counts a request for a `flow` mail to `record` and says whether it may
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
    flow: MailFlow,
    record: &Record,
    now: Timestamp,
) -> Result<bool> {
    let key = CounterKey::MailResend {
        flow,
        collection_id: &record.collection_id,
        record_id: &record.id,
    };
    Ok(ctx.store.hit(&key, 1, RESEND_WINDOW_SECS, now).await?)
}

/// Mails of one flow to one address per hour, whoever asks for them.
pub const MAILS_PER_TARGET: u32 = 3;
const TARGET_WINDOW_SECS: i64 = 3600;

/// Counts a `flow` mail to `address` (ASCII case-folded) and says whether it
/// is within [`MAILS_PER_TARGET`] per hour.
pub async fn target_allowed(
    ctx: &Ctx,
    flow: MailFlow,
    address: &str,
    now: Timestamp,
) -> Result<bool> {
    let address = crate::email::fold(address);
    let key = CounterKey::MailTo {
        flow,
        address: &address,
    };
    Ok(ctx
        .store
        .hit(&key, MAILS_PER_TARGET, TARGET_WINDOW_SECS, now)
        .await?)
}

/// A link mail: which flow, for which record, to which address, with which
/// extra token claims.
pub struct LinkMail<'a> {
    pub flow: MailFlow,
    pub record: &'a Record,
    pub to: &'a str,
    pub claims: token::Extra,
}

impl<'a> LinkMail<'a> {
    /// A `flow` mail to the record's own address, its token carrying that
    /// address (so the link proves exactly it).
    pub fn to_own_address(flow: MailFlow, record: &'a Record) -> Self {
        Self {
            flow,
            record,
            to: &record.email,
            claims: token::Extra {
                email: Some(record.email.clone()),
                new_email: None,
            },
        }
    }
}

/// [`send_link_mail`] unless the record's resend window for the flow is
/// used up (see [`resend_allowed`]).
///
/// The request endpoints answer the same `Ok(())` (204) for an unknown
/// address, an already verified record, a throttled resend and a failed
/// send, so they tell nothing about which addresses have accounts. Only the
/// resend counter changes state.
pub async fn send_throttled(
    ctx: &Ctx,
    cfg: &AppConfig,
    collection: &Collection,
    mail: LinkMail<'_>,
    now: Timestamp,
) -> Result<()> {
    if !resend_allowed(ctx, mail.flow, mail.record, now).await? {
        return Ok(());
    }
    send_link_mail(ctx, cfg, collection, mail, now).await
}

/// Issues the flow's token for the record, renders the flow's template with
/// it and mails it, logging (never returning) a delivery failure.
pub async fn send_link_mail(
    ctx: &Ctx,
    cfg: &AppConfig,
    collection: &Collection,
    mail: LinkMail<'_>,
    now: Timestamp,
) -> Result<()> {
    let kind = mail
        .flow
        .token_kind()
        .ok_or_else(|| Error::internal("a link mail needs a token kind"))?;
    let token = token::issue(collection, mail.record, kind, now, mail.claims)?;
    let placeholders = Placeholders {
        token: Some(&token),
        ..Default::default()
    };
    let message = render(
        cfg,
        collection,
        mail.flow,
        mail.record,
        mail.to,
        &placeholders,
    );
    send_logged(ctx, mail.record, &message).await;
    Ok(())
}

/// Renders `flow`'s template for `record` into a message to `to`.
pub fn render(
    cfg: &AppConfig,
    collection: &Collection,
    flow: MailFlow,
    record: &Record,
    to: &str,
    placeholders: &Placeholders<'_>,
) -> MailMessage {
    let template = flow.template(collection);
    mail::render(
        &cfg.meta,
        collection,
        template,
        record,
        to,
        placeholders,
        flow,
    )
}

/// Sends a mail; a failure is logged and swallowed. The request endpoints
/// answer the same whether or not the mail went out, so a mail outage can't
/// be used to tell known addresses from unknown ones. The log carries the
/// mailer's error (provider error and request id) and the record id, never
/// the message itself, which holds the token. Returns whether it was sent.
pub async fn send_logged(ctx: &Ctx, record: &Record, message: &MailMessage) -> bool {
    match ctx.mailer.send(message).await {
        Ok(()) => true,
        Err(e) => {
            tracing::error!(
                kind = message.kind.as_str(),
                collection_id = %record.collection_id,
                record_id = %record.id,
                error = %e,
                "failed to send mail"
            );
            false
        }
    }
}
