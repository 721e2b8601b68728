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
