//! The flows' mails: which template and token each flow uses, the
//! throttles, and putting a mail into the outbox. Requests never talk to
//! the mail provider: they write an outbox item (sealed, since it carries a
//! token or code) and answer; `mail_sender` sends it. A request for an
//! unknown address, or a throttled one, writes a decoy item instead, so its
//! work and timing are those of a real mail.

use crate::config::{AppConfig, Collection, Template};
use crate::error::{Error, Result};
use crate::mail::{self, Placeholders};
use crate::model::{CounterKey, MailFlow, OutboxItem, Record, Timestamp};
use crate::ports::MailMessage;
use crate::random;
use crate::sealed::{self, SealKey};
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
            Self::Otp | Self::AuthAlert => None,
        }
    }

    /// The collection's template for this flow.
    pub fn template(self, collection: &Collection) -> &Template {
        match self {
            Self::Verification => &collection.verification_template,
            Self::PasswordReset => &collection.reset_password_template,
            Self::EmailChange => &collection.confirm_email_change_template,
            Self::Otp => &collection.otp.email_template,
            Self::AuthAlert => &collection.auth_alert.email_template,
        }
    }
}

/// How long an unsent mail is kept for retries and replay before TTL
/// removes it (days, past any retry schedule).
pub const OUTBOX_RETENTION_SECS: i64 = 3 * 24 * 3600;

/// Size of a decoy's sealed filler: about a rendered mail's.
const DECOY_BYTES: usize = 2048;

/// The key pending mails of `collection` are sealed with. Derived from the
/// collection's auth-token secret (kept with the token secrets, never in
/// an outbox item); rotating that secret makes older pending mails
/// unreadable, which only means they are not sent.
pub fn outbox_key(collection: &Collection) -> SealKey {
    SealKey::derive("outbox", collection.auth_token.secret.expose())
}

/// Counts a request for a `flow` mail to `subject` (a record id, or an
/// unknown address's [`super::records::decoy_record_id`]) and says whether
/// it may be sent. The counter lives in the shared store, so the limit
/// holds across every Lambda container, and the check-and-count is one
/// conditional write, so N simultaneous requests let exactly one mail
/// through.
///
/// The hit is taken *before* the mail is queued, so a mail that then fails
/// still uses up the window: that is what keeps concurrent requests to one
/// mail (there is no way to "un-count" without reopening the race).
pub async fn resend_allowed(
    ctx: &Ctx,
    flow: MailFlow,
    collection: &Collection,
    subject: &str,
    now: Timestamp,
) -> Result<bool> {
    let key = CounterKey::MailResend {
        flow,
        collection_id: &collection.id,
        record_id: subject,
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

/// The request endpoints' last step: the flow's link mail for `mail` when
/// there is one to send and the record's resend window allows it, else a
/// decoy. `subject` is what the resend throttle counts (see
/// [`resend_allowed`]).
///
/// The request endpoints answer the same `Ok(())` (204) for an unknown
/// address, an already verified record and a throttled resend, and do the
/// same store work (a counter hit and an outbox write) for each, so neither
/// the answer nor its timing tells which addresses have accounts.
pub async fn queue_throttled(
    ctx: &Ctx,
    cfg: &AppConfig,
    collection: &Collection,
    flow: MailFlow,
    subject: &str,
    mail: Option<LinkMail<'_>>,
    now: Timestamp,
) -> Result<()> {
    let allowed = resend_allowed(ctx, flow, collection, subject, now).await?;
    match mail.filter(|_| allowed) {
        Some(mail) => queue_link_mail(ctx, cfg, collection, mail, now).await,
        None => queue_decoy(ctx, collection, flow, now).await,
    }
}

/// Issues the flow's token for the record, renders the flow's template with
/// it and queues the mail.
pub async fn queue_link_mail(
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
    let item = outbox_item(ctx, collection, &message, now)?;
    Ok(ctx.store.enqueue_mail(&item).await?)
}

/// Queues a decoy of a `flow` mail: an outbox item like a real one that the
/// sender drops.
pub async fn queue_decoy(
    ctx: &Ctx,
    collection: &Collection,
    flow: MailFlow,
    now: Timestamp,
) -> Result<()> {
    let item = decoy_item(ctx, collection, flow, now)?;
    Ok(ctx.store.enqueue_mail(&item).await?)
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

/// `message` as an outbox item, sealed with the collection's outbox key.
pub fn outbox_item(
    ctx: &Ctx,
    collection: &Collection,
    message: &MailMessage,
    now: Timestamp,
) -> Result<OutboxItem> {
    let plain = serde_json::to_vec(message).map_err(Error::internal)?;
    item(ctx, collection, message.kind, &plain, false, now)
}

/// A decoy outbox item of `flow`: random filler, sealed like a message.
pub fn decoy_item(
    ctx: &Ctx,
    collection: &Collection,
    flow: MailFlow,
    now: Timestamp,
) -> Result<OutboxItem> {
    let mut filler = vec![0u8; DECOY_BYTES];
    ctx.rng.fill(&mut filler);
    item(ctx, collection, flow, &filler, true, now)
}

fn item(
    ctx: &Ctx,
    collection: &Collection,
    flow: MailFlow,
    plain: &[u8],
    decoy: bool,
    now: Timestamp,
) -> Result<OutboxItem> {
    let id = random::record_id(ctx.rng.as_ref());
    let sealed = sealed::seal(&outbox_key(collection), plain, &id, ctx.rng.as_ref())
        .ok_or_else(|| Error::internal("cannot seal an outbox item"))?;
    Ok(OutboxItem {
        id,
        collection_id: collection.id.clone(),
        flow,
        sealed,
        decoy,
        created: now,
        expires_at: now.plus_secs(OUTBOX_RETENTION_SECS),
    })
}
