//! Wiring from the environment, done once per cold start. Handlers never
//! read environment variables.

use std::sync::Arc;

use authgate_adapters::aws::{lambda_https_client, lambda_sdk_config, TrustRoots};
use authgate_adapters::dynamodb::DynamoStore;
use authgate_adapters::secrets::NoSecrets;
use authgate_adapters::secrets_manager::SecretsManagerSecrets;
use authgate_adapters::ses::SesMailer;
use authgate_adapters::system::{NoMailer, OsRandom, SystemClock};
use authgate_core::password::Hasher;
use authgate_core::ports::{Mailer, OAuth2Client, SecretStore};
use authgate_core::service::Ctx;
use aws_sdk_dynamodb::config::SharedHttpClient;

use crate::config_source::{CachedStoreConfig, ConfigSource};
use crate::state::AppState;

/// Errors of start-up wiring (and of the Lambda runtime it hands over to).
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Environment variables read at cold start.
pub mod vars {
    /// DynamoDB table holding records, markers and the config (no secrets).
    pub const TABLE: &str = "AUTHGATE_TABLE";
    /// The Secrets Manager secret (name or ARN) holding the token signing
    /// and OAuth2 client secrets. Unset: the secrets must be inline in the
    /// config item (stacks older than the secret store).
    pub const SECRET_ID: &str = "AUTHGATE_SECRET_ID";
    /// Seconds a container keeps the collections config before re-reading it.
    pub const CONFIG_TTL_SECS: &str = "AUTHGATE_CONFIG_TTL_SECS";
    /// Optional SES configuration set.
    pub const SES_CONFIGURATION_SET: &str = "AUTHGATE_SES_CONFIGURATION_SET";
    /// Proxies in front of API Gateway (e.g. CloudFront) whose
    /// `X-Forwarded-For` entries are trusted for the client address (0 by
    /// default: the header is ignored).
    pub const TRUSTED_PROXY_HOPS: &str = "AUTHGATE_TRUSTED_PROXY_HOPS";
    /// Password hashing workers (default: one per core). Each holds 19 MiB
    /// while it hashes; more workers than cores only queue inside the CPU.
    pub const HASH_WORKERS: &str = "AUTHGATE_HASH_WORKERS";
    /// Comma-separated allowed CORS origins (`*` by default).
    pub const CORS_ORIGINS: &str = "AUTHGATE_CORS_ORIGINS";
    /// Which certificate authorities the AWS SDK clients trust: `amazon`
    /// (the Amazon Trust Services roots alone; the template's choice outside
    /// the China regions) or `system` (the CA bundle; the default).
    pub const TLS_ROOTS: &str = "AUTHGATE_TLS_ROOTS";
}

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// The password hashing pool from the environment: `AUTHGATE_HASH_WORKERS`
/// workers (one per core when unset), 32 waiting jobs per worker.
pub fn hasher() -> Result<Hasher, BoxError> {
    let workers = var(vars::HASH_WORKERS)
        .map(|v| v.parse::<usize>())
        .transpose()
        .map_err(|_| "AUTHGATE_HASH_WORKERS must be a whole number")?;
    Ok(match workers {
        Some(n) if n > 0 => Hasher::new(n, n * 32),
        _ => Hasher::per_core(),
    })
}

/// Trusted proxy hops from the environment (0 when unset).
pub fn trusted_proxy_hops() -> Result<usize, BoxError> {
    var(vars::TRUSTED_PROXY_HOPS)
        .map(|v| v.parse::<usize>())
        .transpose()
        .map_err(|_| "AUTHGATE_TRUSTED_PROXY_HOPS must be a whole number".into())
        .map(Option::unwrap_or_default)
}

/// Allowed CORS origins from the environment.
pub fn cors_origins() -> Vec<String> {
    var(vars::CORS_ORIGINS)
        .map(|v| {
            v.split(',')
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .collect()
        })
        .unwrap_or_else(|| vec!["*".into()])
}

/// The DynamoDB store named by `AUTHGATE_TABLE` (endpoint, region and
/// credentials from the standard AWS environment).
pub async fn dynamo_store_from_env() -> Result<DynamoStore, BoxError> {
    let table = var(vars::TABLE).ok_or("AUTHGATE_TABLE is not set")?;
    let sdk = authgate_adapters::aws::sdk_config().await;
    Ok(DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), table))
}

/// A Lambda's secret store: the one named by `AUTHGATE_SECRET_ID` (Secrets
/// Manager, SDK settings from the Lambda environment alone), or none when it
/// is unset.
pub fn secret_store_from_env(http: &SharedHttpClient) -> Result<Arc<dyn SecretStore>, BoxError> {
    Ok(match var(vars::SECRET_ID) {
        Some(id) => {
            let sdk = lambda_sdk_config("SECRETS_MANAGER", http)?;
            Arc::new(SecretsManagerSecrets::new(
                aws_sdk_secretsmanager::Client::new(&sdk),
                id,
            ))
        }
        None => {
            tracing::warn!("AUTHGATE_SECRET_ID is not set: secrets are read from the config item");
            Arc::new(NoSecrets)
        }
    })
}

/// Builds a request function's OAuth2 HTTP client; only `auth-with-oauth2`
/// passes one, so only its binary links the HTTP client.
pub type OAuth2Factory = fn() -> Result<Arc<dyn OAuth2Client>, BoxError>;

/// The OAuth2 HTTP client (`auth-with-oauth2`, the local server).
pub fn oauth2_client() -> Result<Arc<dyn OAuth2Client>, BoxError> {
    Ok(Arc::new(authgate_adapters::oauth2::HttpOAuth2Client::new()?))
}

/// Starts reading the config (the table's item and the secret) now, while
/// the rest of init runs and the Lambda runtime fetches the first event,
/// rather than when the first request asks for it: the request then waits
/// only for what is left of the read (`CachedStoreConfig` holds its lock
/// while loading). The yield lets the read's requests leave before init goes
/// on (the functions run a current-thread runtime). A read that fails or
/// takes longer than [`PREFETCH_TIMEOUT`] (an environment frozen between
/// init and its first event, say) is dropped, and the first request reads
/// the config itself as it would have without this.
async fn prefetch(config: Arc<dyn ConfigSource>) {
    tokio::spawn(async move {
        match tokio::time::timeout(PREFETCH_TIMEOUT, config.current()).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "reading the config at start-up failed"),
            Err(_) => tracing::warn!("reading the config at start-up timed out"),
        }
    });
    tokio::task::yield_now().await;
}

/// How long the start-up config read may hold the config's lock.
const PREFETCH_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// A request function's state: DynamoDB store, no mailer (requests queue
/// mail in the outbox), config from the table, and the OAuth2 client only
/// when `oauth2` builds one.
pub async fn request_state_from_env(oauth2: Option<OAuth2Factory>) -> Result<AppState, BoxError> {
    let http = lambda_https_client(TrustRoots::from_env()?)?;
    let (ctx, config) = ctx_from_env(Arc::new(NoMailer), &http).await?;
    let ctx = match oauth2 {
        Some(build) => ctx.with_oauth2(build()?),
        None => ctx,
    };
    Ok(AppState::new(ctx, config)
        .with_cors_origins(cors_origins())
        .with_trusted_proxy_hops(trusted_proxy_hops()?))
}

/// The `mailer` function's context: the request functions' base with the
/// SES mailer.
pub async fn mailer_ctx_from_env() -> Result<(Ctx, Arc<dyn ConfigSource>), BoxError> {
    let http = lambda_https_client(TrustRoots::from_env()?)?;
    let sdk = lambda_sdk_config("SESV2", &http)?;
    let mailer = Arc::new(
        SesMailer::new(aws_sdk_sesv2::Client::new(&sdk))
            .with_configuration_set(var(vars::SES_CONFIGURATION_SET)),
    );
    ctx_from_env(mailer, &http).await
}

/// A Lambda's service context (DynamoDB store, `mailer`, system clock and
/// randomness, the hashing pool; no OAuth2 client) and the config read from
/// the table and the secret store, cached for `AUTHGATE_CONFIG_TTL_SECS`.
/// The SDK settings come from the Lambda environment alone
/// (`lambda_sdk_config`).
async fn ctx_from_env(
    mailer: Arc<dyn Mailer>,
    http: &SharedHttpClient,
) -> Result<(Ctx, Arc<dyn ConfigSource>), BoxError> {
    let sdk = lambda_sdk_config("DYNAMODB", http)?;
    let table = var(vars::TABLE).ok_or("AUTHGATE_TABLE is not set")?;
    let ttl = var(vars::CONFIG_TTL_SECS)
        .map(|v| v.parse::<i64>())
        .transpose()
        .map_err(|_| "AUTHGATE_CONFIG_TTL_SECS must be a whole number of seconds")?
        .unwrap_or(30);
    let store = Arc::new(DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), table));
    let clock = Arc::new(SystemClock);
    // The hashing pool's workers allocate only when a job comes, so the
    // functions that never hash pay nothing for it.
    let ctx =
        Ctx::new(store.clone(), mailer, clock.clone(), Arc::new(OsRandom))?.with_hasher(hasher()?);
    let secrets = secret_store_from_env(http)?;
    let config: Arc<dyn ConfigSource> =
        Arc::new(CachedStoreConfig::new(store, secrets, clock, ttl));
    prefetch(config.clone()).await;
    Ok((ctx, config))
}
