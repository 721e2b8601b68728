//! Storing a collections config document: what `authgate collections
//! apply` (and `serve`) does, and what `authgate import pocketbase` writes
//! the imported collections through, so all of them store a config the
//! same way: the secrets (token signing secrets, OAuth2 client secrets) in
//! the secret store, the rest in the store's config item.

use serde_json::Value;

use super::{
    fill_secrets, has_inline_secrets, merge_secrets, split_secrets, AppConfig, ConfigError,
};
use crate::ports::{SecretStore, Store, StoreError};
use crate::random::Random;

/// A config document ready to store (or stored).
pub struct Applied {
    pub config: AppConfig,
    /// Token secrets generated because neither the document nor the stored
    /// config had them.
    pub generated_secrets: usize,
    /// Whether the stored document or secrets differ from those before.
    pub changed: bool,
    /// Whether the stored config item held secrets (written before the
    /// secret store existed): they were moved out, the token ones rotated.
    pub moved_inline_secrets: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("invalid config: {0}")]
    Invalid(#[from] ConfigError),
    #[error("store: {0}")]
    Store(#[from] StoreError),
}

/// The stored document with its secrets merged back in: what is deployed.
pub async fn load_deployed(
    store: &dyn Store,
    secrets: &dyn SecretStore,
) -> Result<Option<Value>, ApplyError> {
    let Some(mut doc) = store.load_config().await? else {
        return Ok(None);
    };
    split_secrets(&mut doc);
    if let Some(stored) = secrets.load_secrets().await? {
        merge_secrets(&mut doc, &stored);
    }
    Ok(Some(doc))
}

/// Fills `doc`'s missing secrets (keeping the deployed ones, generating the
/// rest), validates it and, unless `dry_run`, stores it: its secrets in
/// `secrets`, the rest in `store`. Secrets found in the stored config item
/// (written before the secret store existed) are never kept: the table and
/// its backups may have been read, so the token secrets are generated anew
/// unless `doc` names them. Idempotent.
pub async fn apply(
    store: &dyn Store,
    secrets: &dyn SecretStore,
    mut doc: Value,
    rng: &dyn Random,
    dry_run: bool,
) -> Result<Applied, ApplyError> {
    let existing = store.load_config().await?;
    let stored = secrets.load_secrets().await?;
    let moved_inline_secrets = existing.as_ref().is_some_and(has_inline_secrets);
    // What is deployed: the stored document (or, on a first apply, `doc`
    // itself) without inline secrets, with the secret store's ones.
    let mut deployed = existing.clone().unwrap_or_else(|| doc.clone());
    split_secrets(&mut deployed);
    if let Some(stored) = &stored {
        merge_secrets(&mut deployed, stored);
    }
    let generated_secrets = fill_secrets(&mut doc, Some(&deployed), rng);
    let config = AppConfig::from_json(&doc)?;
    let new_secrets = split_secrets(&mut doc);
    let changed = existing.as_ref() != Some(&doc) || stored.as_ref() != Some(&new_secrets);
    if changed && !dry_run {
        // Secrets first: a function reading in between merges the new
        // secrets into the old document, never old secrets into a new one.
        secrets.save_secrets(&new_secrets).await?;
        store.save_config(&doc).await?;
    }
    Ok(Applied {
        config,
        generated_secrets,
        changed,
        moved_inline_secrets,
    })
}

/// Where a collections config is kept and how it is stored, handed to
/// `authgate import pocketbase` so that it stores a config exactly as
/// `authgate collections apply` does.
#[async_trait::async_trait]
pub trait ConfigWriter: Send + Sync {
    /// The deployed document, secrets included; `None` before the first
    /// apply.
    async fn load(&self) -> Result<Option<Value>, ApplyError>;
    /// [`apply`]s `doc`.
    async fn apply(&self, doc: Value, dry_run: bool) -> Result<Applied, ApplyError>;
}

/// A store and the secret store beside it, written with [`apply`].
pub struct Deployed<'a> {
    pub store: &'a dyn Store,
    pub secrets: &'a dyn SecretStore,
    pub rng: &'a dyn Random,
}

#[async_trait::async_trait]
impl ConfigWriter for Deployed<'_> {
    async fn load(&self) -> Result<Option<Value>, ApplyError> {
        load_deployed(self.store, self.secrets).await
    }

    async fn apply(&self, doc: Value, dry_run: bool) -> Result<Applied, ApplyError> {
        apply(self.store, self.secrets, doc, self.rng, dry_run).await
    }
}
