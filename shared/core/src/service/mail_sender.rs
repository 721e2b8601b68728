//! Sending what the requests queued: one outbox item at a time, claimed
//! first so two senders given the same item (a stream delivering a batch
//! twice, the local poller racing itself) send it once, deleted when sent.
//!
//! Guarantee: at least once into the mail provider (a send that succeeds
//! but whose delete fails is retried after the claim's lease), at most once
//! per item when the send and the delete succeed. A failed send keeps the
//! item (unclaimed) for the next attempt and, in AWS, for replay from the
//! dead-letter queue; TTL removes it after `OUTBOX_RETENTION_SECS`.

use crate::config::AppConfig;
use crate::error::Result;
use crate::model::Timestamp;
use crate::ports::MailMessage;
use crate::sealed;

use super::mail_delivery::outbox_key;
use super::Ctx;

/// How long a claim keeps other senders off an item: longer than any send.
pub const CLAIM_LEASE_SECS: i64 = 120;

/// What became of one outbox item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// Sent and deleted.
    Sent,
    /// A decoy (or an item that is gone): nothing to send.
    Dropped,
    /// Claimed by another sender (or by one that died holding it): to be
    /// tried again after its lease.
    Busy,
    /// Not sent; kept for a retry. The reason is for logs (it never holds
    /// the message, which carries a token or code).
    Failed(String),
}

/// Sends the outbox item `id`.
pub async fn deliver(ctx: &Ctx, cfg: &AppConfig, id: &str, now: Timestamp) -> Result<Delivery> {
    if !ctx.store.claim_mail(id, now, CLAIM_LEASE_SECS).await? {
        // Gone means sent (or dropped) already; still there means another
        // sender holds it, or one died holding it: try again later, when
        // it is sent or its lease has run out.
        return Ok(match ctx.store.get_mail(id).await? {
            None => Delivery::Dropped,
            Some(_) => Delivery::Busy,
        });
    }
    let Some(item) = ctx.store.get_mail(id).await? else {
        return Ok(Delivery::Dropped);
    };
    if item.decoy {
        ctx.store.delete_mail(id).await?;
        return Ok(Delivery::Dropped);
    }
    let message = cfg
        .collection_by_id(&item.collection_id)
        .and_then(|c| sealed::open(&outbox_key(c), &item.sealed, &item.id))
        .and_then(|plain| serde_json::from_slice::<MailMessage>(&plain).ok());
    let Some(message) = message else {
        // Its collection or key is gone: no retry can send it. Kept (not
        // released) so it is not retried in a loop; TTL removes it.
        let reason = "cannot open the sealed message (collection or secret changed)";
        tracing::error!(outbox_id = %item.id, collection_id = %item.collection_id, reason);
        return Ok(Delivery::Failed(reason.into()));
    };
    match ctx.mailer.send(&message).await {
        Ok(()) => {
            ctx.store.delete_mail(id).await?;
            tracing::info!(outbox_id = %item.id, kind = message.kind.as_str(), "mail sent");
            Ok(Delivery::Sent)
        }
        Err(e) => {
            ctx.store.release_mail(id).await?;
            tracing::warn!(
                outbox_id = %item.id,
                kind = message.kind.as_str(),
                error = %e,
                "mail not sent; kept for a retry"
            );
            Ok(Delivery::Failed(e.to_string()))
        }
    }
}

/// Sends every waiting item once (the local server's poll, and tests):
/// returns what became of each, oldest first.
pub async fn deliver_pending(
    ctx: &Ctx,
    cfg: &AppConfig,
    now: Timestamp,
) -> Result<Vec<(String, Delivery)>> {
    let mut done = Vec::new();
    for id in ctx.store.pending_mail(100).await? {
        let outcome = deliver(ctx, cfg, &id, now).await?;
        done.push((id, outcome));
    }
    Ok(done)
}
