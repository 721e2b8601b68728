//! Changing an existing record safely: the next version, optimistic writes
//! retried against concurrent ones, and the hardening every flow applies
//! when a record goes from unverified to verified.

use crate::config::Collection;
use crate::error::{Error, Result};
use crate::form::EmailInput;
use crate::model::{Record, Timestamp, UniqueKey};
use crate::ports::StoreError;
use crate::random;
use crate::validate;

use super::Ctx;

/// How often a flow re-reads the record after losing an optimistic write
/// before it gives up. A lost write means another request changed the
/// record in between; re-reading and re-deciding (for token flows: re-checking
/// the token, which a rotated `tokenKey` fails) is what keeps single use
/// without failing a valid request because of an unrelated update.
pub const UPDATE_ATTEMPTS: usize = 3;

/// Length of the random password given to records whose password must stop
/// working (PocketBase's `SetRandomPassword`).
pub const RANDOM_PASSWORD_LEN: usize = 30;

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

/// [`find_by_email`] for an email form (its field error when malformed).
pub async fn find_by_email_input(
    ctx: &Ctx,
    collection: &Collection,
    input: &EmailInput,
) -> Result<Option<Record>> {
    find_by_email(ctx, collection, input.parse()?.as_str()).await
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
    record.token_key = random::secret(ctx.rng.as_ref());
}

/// The attempts of an optimistic update: read the record, decide the
/// change, [`write`] it; when [`write`] says a concurrent write won, go
/// round again from a fresh read. Every flow that changes a record loops
/// over this, so they all give up after the same number of lost races.
pub fn attempts() -> std::ops::Range<usize> {
    0..UPDATE_ATTEMPTS
}

/// Why [`write`] failed.
#[derive(Debug)]
pub enum WriteError {
    /// A unique value `new` claims belongs to another record.
    Conflict { field: String },
    /// The store failed.
    Failed(Error),
}

impl From<WriteError> for Error {
    fn from(e: WriteError) -> Self {
        match e {
            WriteError::Failed(e) => e,
            WriteError::Conflict { field } => {
                Error::internal(format!("unexpected unique conflict on {field}"))
            }
        }
    }
}

/// Replaces `old` with `new` (its [`next_version`]) in one conditional
/// write. `new_keys` are the unique keys `new` claims when they differ from
/// `old`'s (an email change); `None` keeps `old`'s. `Ok(false)` means
/// another request changed the record since `old` was read: nothing was
/// written, and the caller's next attempt re-reads and re-decides.
pub async fn write(
    ctx: &Ctx,
    collection: &Collection,
    old: &Record,
    new: &Record,
    new_keys: Option<Vec<UniqueKey>>,
) -> Result<bool, WriteError> {
    let old_keys = validate::unique_keys(collection, old);
    let new_keys = new_keys.unwrap_or_else(|| old_keys.clone());
    match ctx
        .store
        .update_record(old, new, &old_keys, &new_keys)
        .await
    {
        Ok(()) => Ok(true),
        Err(StoreError::Stale) => Ok(false),
        Err(StoreError::Conflict { field }) => Err(WriteError::Conflict { field }),
        Err(e) => Err(WriteError::Failed(e.into())),
    }
}

/// The hardening of a record whose owner just proved something about it
/// (a mailed link or code, an OAuth2 identity), shared by every flow. Kept
/// across the [`attempts`] of one update, so work done for a lost write (a
/// password hash, dropped links) carries over to the next attempt.
#[derive(Default)]
pub struct Hardening {
    random_hash: Option<String>,
    links_dropped: bool,
}

/// What [`Hardening::apply`] does beyond the unverified → verified rules.
#[derive(Debug, Clone, Copy, Default)]
pub struct HardeningSteps {
    /// Replace the password by a random one and rotate the token key:
    /// whoever set up the record before its owner (pre-account-hijacking)
    /// loses access.
    pub reset_password: bool,
    /// Drop the record's OAuth2 links on unverified → verified (PocketBase
    /// does it on every such change). Only the OAuth2 flow, which has just
    /// dropped every link but the one in use, turns this off.
    pub drop_links: bool,
}

impl Hardening {
    pub fn new() -> Self {
        Self::default()
    }

    /// Applies `steps` to `new`, the next version of `old`.
    ///
    /// When `old` is unverified and `new` verified, the record's OAuth2 links
    /// are dropped and its tokens revoked: whoever created the account
    /// before the owner of the address could have linked their own OAuth2
    /// identity to it, and that link must not outlive the proof. This runs
    /// right before the conditional write: if that write then loses a race,
    /// the links of a still-unverified record are gone, which is the safe
    /// side. On a retry the links are already gone, but the token key the
    /// lost write carried was never stored: it is rotated again.
    pub async fn apply(
        &mut self,
        ctx: &Ctx,
        old: &Record,
        new: &mut Record,
        steps: HardeningSteps,
    ) -> Result<()> {
        if steps.reset_password {
            new.password_hash = self.random_hash(ctx).await?;
            rotate_token_key(ctx, new);
        }
        if !steps.drop_links || old.verified || !new.verified {
            return Ok(());
        }
        let links = ctx
            .store
            .list_external_auths(&old.collection_id, &old.id)
            .await?;
        for link in &links {
            ctx.store.delete_external_auth(link).await?;
        }
        self.links_dropped |= !links.is_empty();
        if self.links_dropped && new.token_key == old.token_key {
            rotate_token_key(ctx, new);
        }
        Ok(())
    }

    /// A hash of a random password nobody knows, made once per flow.
    async fn random_hash(&mut self, ctx: &Ctx) -> Result<String> {
        if let Some(h) = &self.random_hash {
            return Ok(h.clone());
        }
        let password = random::string(ctx.rng.as_ref(), RANDOM_PASSWORD_LEN, random::ALNUM);
        let hash = ctx.hash_password(&password).await?;
        self.random_hash = Some(hash.clone());
        Ok(hash)
    }
}
