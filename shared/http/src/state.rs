//! Shared state of the router: the service context and the config source.

use std::sync::Arc;

use authgate_core::config::AppConfig;
use authgate_core::model::Timestamp;
use authgate_core::service::Ctx;
use authgate_core::Error;

use crate::config_source::ConfigSource;

#[derive(Clone)]
pub struct AppState {
    pub ctx: Ctx,
    pub config: Arc<dyn ConfigSource>,
    /// Allowed CORS origins; `*` allows any.
    pub cors_origins: Arc<Vec<String>>,
    /// Proxies in front of us whose `X-Forwarded-For` entries are trusted
    /// (0: the header is ignored). See `client::client_key`.
    pub trusted_proxy_hops: usize,
    /// The function serving (its binary name; `authgate` locally), logged
    /// with every request.
    pub function: &'static str,
}

impl AppState {
    pub fn new(ctx: Ctx, config: Arc<dyn ConfigSource>) -> Self {
        Self {
            ctx,
            config,
            cors_origins: Arc::new(vec!["*".into()]),
            trusted_proxy_hops: 0,
            function: "authgate",
        }
    }

    pub fn with_function(mut self, function: &'static str) -> Self {
        self.function = function;
        self
    }

    pub fn with_trusted_proxy_hops(mut self, hops: usize) -> Self {
        self.trusted_proxy_hops = hops;
        self
    }

    pub fn with_cors_origins(mut self, origins: Vec<String>) -> Self {
        self.cors_origins = Arc::new(origins);
        self
    }

    pub async fn config(&self) -> Result<Arc<AppConfig>, Error> {
        self.config.current().await
    }

    /// The request's time, read once at the edge and passed down.
    pub fn now(&self) -> Timestamp {
        self.ctx.clock.now()
    }
}
