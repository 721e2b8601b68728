//! `POST auth-revoke` (an Authgate addition; PocketBase has none): log out
//! everywhere.

use crate::config::Collection;
use crate::error::{Error, Result};
use crate::model::{Record, Timestamp};

use super::records::{attempts, next_version, rotate_token_key, write};
use super::Ctx;

/// Rotates the caller's `tokenKey`: every auth token issued before,
/// including the one of this request, stops working (as do its pending
/// verification, reset and email-change tokens, which are signed with it
/// too). Retried against concurrent updates of the record.
pub async fn auth_revoke(
    ctx: &Ctx,
    collection: &Collection,
    caller: &Record,
    now: Timestamp,
) -> Result<()> {
    let mut old = caller.clone();
    for _ in attempts() {
        let mut new = next_version(collection, &old, now);
        rotate_token_key(ctx, &mut new);
        if write(ctx, collection, &old, &new, None).await? {
            tracing::info!(collection = %collection.name, record = %old.id, "all sessions revoked");
            return Ok(());
        }
        old = ctx
            .store
            .get_record(&collection.id, &caller.id)
            .await?
            .ok_or_else(Error::invalid_auth_token)?;
    }
    Err(Error::internal(
        "token key rotation kept losing to concurrent updates",
    ))
}
