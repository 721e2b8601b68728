//! Where the collections config comes from: a fixed document (local server,
//! tests) or the store and the secret store, cached per Lambda container for
//! a short time so no request pays a config read.

use std::sync::Arc;

use async_trait::async_trait;
use authgate_core::config::{has_inline_secrets, merge_secrets, AppConfig};
use authgate_core::model::Timestamp;
use authgate_core::ports::{Clock, SecretStore, Store};
use authgate_core::Error;
use tokio::sync::RwLock;

#[async_trait]
pub trait ConfigSource: Send + Sync {
    async fn current(&self) -> Result<Arc<AppConfig>, Error>;
}

/// A config fixed at startup.
pub struct StaticConfig(pub Arc<AppConfig>);

#[async_trait]
impl ConfigSource for StaticConfig {
    async fn current(&self) -> Result<Arc<AppConfig>, Error> {
        Ok(self.0.clone())
    }
}

/// The config document stored by `authgate collections apply` with its
/// secrets from the secret store, both re-read at most once per `ttl_secs`
/// (so a rotation takes effect within it). When a refresh fails the last
/// good config keeps serving (and the failure is logged).
pub struct CachedStoreConfig {
    store: Arc<dyn Store>,
    secrets: Arc<dyn SecretStore>,
    clock: Arc<dyn Clock>,
    ttl_secs: i64,
    cache: RwLock<Option<Cached>>,
}

struct Cached {
    doc: serde_json::Value,
    config: Arc<AppConfig>,
    expires: Timestamp,
}

impl CachedStoreConfig {
    pub fn new(
        store: Arc<dyn Store>,
        secrets: Arc<dyn SecretStore>,
        clock: Arc<dyn Clock>,
        ttl_secs: i64,
    ) -> Self {
        Self {
            store,
            secrets,
            clock,
            ttl_secs,
            cache: RwLock::new(None),
        }
    }

    /// The stored document with its secrets put back (both read at once).
    async fn load_doc(&self) -> Result<serde_json::Value, Error> {
        let (doc, secrets) = tokio::join!(self.store.load_config(), self.secrets.load_secrets());
        let mut doc = doc?.ok_or_else(|| {
            Error::internal(
                "no collections config in the table: run `authgate collections apply FILE`",
            )
        })?;
        if has_inline_secrets(&doc) {
            tracing::warn!(
                "the config item holds secrets: run `authgate collections apply` to move them \
                 to the secret store (it rotates the token secrets)"
            );
        }
        if let Some(secrets) = secrets? {
            merge_secrets(&mut doc, &secrets);
        }
        Ok(doc)
    }
}

#[async_trait]
impl ConfigSource for CachedStoreConfig {
    async fn current(&self) -> Result<Arc<AppConfig>, Error> {
        let now = self.clock.now();
        if let Some(c) = self.cache.read().await.as_ref() {
            if c.expires > now {
                return Ok(c.config.clone());
            }
        }
        let mut guard = self.cache.write().await;
        // Another request may have refreshed while we waited for the lock.
        if let Some(c) = guard.as_ref() {
            if c.expires > now {
                return Ok(c.config.clone());
            }
        }
        let expires = now.plus_secs(self.ttl_secs);
        let doc = match self.load_doc().await {
            Ok(doc) => doc,
            Err(e) => {
                return match guard.as_mut() {
                    Some(stale) => {
                        tracing::warn!(error = %e, "config refresh failed; serving the cached config");
                        stale.expires = expires;
                        Ok(stale.config.clone())
                    }
                    None => Err(e),
                }
            }
        };
        // Unchanged document: keep the parsed config (and don't re-log its
        // warnings every refresh).
        if let Some(c) = guard.as_mut().filter(|c| c.doc == doc) {
            c.expires = expires;
            return Ok(c.config.clone());
        }
        match AppConfig::from_json(&doc) {
            Ok(cfg) => {
                let config = Arc::new(cfg);
                *guard = Some(Cached {
                    doc,
                    config: config.clone(),
                    expires,
                });
                Ok(config)
            }
            Err(e) => {
                let e = Error::internal(format!("stored collections config is invalid: {e}"));
                match guard.as_mut() {
                    Some(stale) => {
                        tracing::error!(error = %e, "serving the last valid config");
                        stale.expires = expires;
                        Ok(stale.config.clone())
                    }
                    None => Err(e),
                }
            }
        }
    }
}
