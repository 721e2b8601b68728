//! Lambda entry: every request function's binary calls [`run`] with its
//! slug and its endpoint's router (`routes::single::<endpoint>`), so it
//! serves (and links) that endpoint alone.

use authgate_core::Error;
use lambda_http::request::RequestContext;
use lambda_http::{Request, RequestExt};

pub use crate::env::BoxError;
use crate::env::OAuth2Factory;
use crate::state::AppState;
use axum::Router;

pub use crate::client::ClientIp;

/// Logs as JSON lines (CloudWatch friendly), level from `RUST_LOG`.
pub fn init_tracing(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // A second init (tests) is harmless: keep the first subscriber.
    let _ = if json {
        builder.json().without_time().with_ansi(false).try_init()
    } else {
        builder.try_init()
    };
}

/// Runs `endpoint`'s router as the Lambda function `function`. `oauth2`
/// builds the OAuth2 HTTP client where the endpoint needs one.
///
/// The functions' `main`s run this on tokio's current-thread runtime: a
/// Lambda process serves one event at a time and hashes on its own pool, so
/// worker threads would only add start-up work (threads, counting cores) on
/// the fraction of a vCPU a small function gets.
pub async fn run(
    function: &'static str,
    endpoint: fn(AppState) -> Router,
    oauth2: Option<OAuth2Factory>,
) -> Result<(), BoxError> {
    init_tracing(true);
    let state = crate::env::request_state_from_env(oauth2)
        .await?
        .with_function(function);
    tracing::info!(function, "cold start");
    let service = tower::ServiceBuilder::new()
        .map_request(from_api_gateway)
        .service(endpoint(state));
    lambda_http::run(service).await
}

/// Normalises an API Gateway request: drops a REST/HTTP API stage prefix
/// from the path (so `/prod/api/...` routes like `/api/...`) and records the
/// caller's source IP.
pub fn from_api_gateway(mut req: Request) -> Request {
    let (stage, ip) = match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV1(c)) => (c.stage.clone(), c.identity.source_ip.clone()),
        Some(RequestContext::ApiGatewayV2(c)) => (c.stage.clone(), c.http.source_ip.clone()),
        _ => (None, None),
    };
    if let Some(ip) = ip {
        req.extensions_mut().insert(ClientIp(ip));
    }
    if let Some(stage) = stage.filter(|s| !s.is_empty() && s != "$default") {
        let prefix = format!("/{stage}");
        let path = req.uri().path();
        if let Some(rest) = path.strip_prefix(&prefix).filter(|r| r.starts_with('/')) {
            let pq = match req.uri().query() {
                Some(q) => format!("{rest}?{q}"),
                None => rest.to_owned(),
            };
            let mut parts = req.uri().clone().into_parts();
            match pq.parse() {
                Ok(p) => {
                    parts.path_and_query = Some(p);
                    if let Ok(uri) = lambda_http::http::Uri::from_parts(parts) {
                        *req.uri_mut() = uri;
                    }
                }
                Err(e) => tracing::warn!(error = %Error::internal(e), "could not strip stage"),
            }
        }
    }
    req
}
