//! Storing a collections config document: what `authgate collections
//! apply` does, and what `authgate import pocketbase` writes the imported
//! collections through, so both store a config the same way.

use serde_json::Value;

use super::{fill_secrets, AppConfig, ConfigError};
use crate::ports::{Store, StoreError};
use crate::random::Random;

/// A config document ready to store (or stored).
pub struct Applied {
    pub config: AppConfig,
    /// Token secrets generated because neither the document nor the stored
    /// config had them.
    pub generated_secrets: usize,
    /// Whether the stored document differs from the one before.
    pub changed: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("invalid config: {0}")]
    Invalid(#[from] ConfigError),
    #[error("store: {0}")]
    Store(#[from] StoreError),
}

/// Fills `doc`'s missing token secrets (keeping the stored ones, generating
/// the rest), validates it and, unless `dry_run`, stores it. Idempotent:
/// applying the same document again changes nothing.
pub async fn apply(
    store: &dyn Store,
    mut doc: Value,
    rng: &dyn Random,
    dry_run: bool,
) -> Result<Applied, ApplyError> {
    let existing = store.load_config().await?;
    let generated_secrets = fill_secrets(&mut doc, existing.as_ref(), rng);
    let config = AppConfig::from_json(&doc)?;
    let changed = existing.as_ref() != Some(&doc);
    if changed && !dry_run {
        store.save_config(&doc).await?;
    }
    Ok(Applied {
        config,
        generated_secrets,
        changed,
    })
}

/// Where a collections config is kept and how it is stored: what
/// `authgate collections apply` does, handed to `authgate import
/// pocketbase` so that both store a config the same way (wherever the
/// secrets live).
#[async_trait::async_trait]
pub trait ConfigWriter: Send + Sync {
    /// The stored document, secrets included; `None` before the first apply.
    async fn load(&self) -> Result<Option<Value>, ApplyError>;
    /// Fills `doc`'s missing secrets, validates it and, unless `dry_run`,
    /// stores it.
    async fn apply(&self, doc: Value, dry_run: bool) -> Result<Applied, ApplyError>;
}

/// A config kept whole in the store's config item: [`apply`].
pub struct InStore<'a> {
    pub store: &'a dyn Store,
    pub rng: &'a dyn Random,
}

#[async_trait::async_trait]
impl ConfigWriter for InStore<'_> {
    async fn load(&self) -> Result<Option<Value>, ApplyError> {
        Ok(self.store.load_config().await?)
    }

    async fn apply(&self, doc: Value, dry_run: bool) -> Result<Applied, ApplyError> {
        apply(self.store, doc, self.rng, dry_run).await
    }
}
