//! Where the collections config comes from: a fixed document (local server,
//! tests) or the store, cached per Lambda container for a short time so no
//! request pays a config read.

use std::sync::Arc;

use async_trait::async_trait;
use authgate_core::config::AppConfig;
use authgate_core::model::Timestamp;
use authgate_core::ports::{Clock, Store};
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

/// The config document stored by `authgate collections apply`, re-read at
/// most once per `ttl_secs`. When a refresh fails the last good config keeps
/// serving (and the failure is logged).
pub struct CachedStoreConfig {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    ttl_secs: i64,
    cache: RwLock<Option<(Arc<AppConfig>, Timestamp)>>,
}

impl CachedStoreConfig {
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>, ttl_secs: i64) -> Self {
        Self {
            store,
            clock,
            ttl_secs,
            cache: RwLock::new(None),
        }
    }

    async fn load(&self) -> Result<Arc<AppConfig>, Error> {
        let doc = self.store.load_config().await?.ok_or_else(|| {
            Error::internal(
                "no collections config in the table: run `authgate collections apply FILE`",
            )
        })?;
        let cfg = AppConfig::from_json(&doc)
            .map_err(|e| Error::internal(format!("stored collections config is invalid: {e}")))?;
        Ok(Arc::new(cfg))
    }
}

#[async_trait]
impl ConfigSource for CachedStoreConfig {
    async fn current(&self) -> Result<Arc<AppConfig>, Error> {
        let now = self.clock.now();
        if let Some((cfg, expires)) = self.cache.read().await.as_ref() {
            if *expires > now {
                return Ok(cfg.clone());
            }
        }
        let mut guard = self.cache.write().await;
        // Another request may have refreshed while we waited for the lock.
        if let Some((cfg, expires)) = guard.as_ref() {
            if *expires > now {
                return Ok(cfg.clone());
            }
        }
        match self.load().await {
            Ok(cfg) => {
                *guard = Some((cfg.clone(), now.plus_secs(self.ttl_secs)));
                Ok(cfg)
            }
            Err(e) => match guard.as_ref() {
                Some((stale, _)) => {
                    tracing::warn!(error = %e, "config refresh failed; serving the cached config");
                    Ok(stale.clone())
                }
                None => Err(e),
            },
        }
    }
}
