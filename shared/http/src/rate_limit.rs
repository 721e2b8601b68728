//! The rate limit middlewares: PocketBase's two checks. Every request is
//! counted under the rule its path labels find (`/api/` by default); a
//! collection endpoint is also counted under the rule its tags find
//! (`*:auth` for the logins, by default). Both answer 429 with
//! `Retry-After` before the handler runs.

use std::collections::HashMap;

use authgate_core::service::rate_limit::{self, Audience};
use authgate_core::service::{auth, guards};
use authgate_core::Error;
use axum::extract::{Path, Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::RequestExt;

use crate::client::{client_key, ClientIp};
use crate::error::ApiError;
use crate::state::AppState;

/// The rate limit tags of one endpoint (PocketBase's action names).
#[derive(Clone)]
pub struct Tags {
    pub app: AppState,
    pub tags: &'static [&'static str],
}

/// Counts every request under its path rule.
pub async fn global(State(app): State<AppState>, req: Request, next: Next) -> Response {
    let seen = Seen::of(&app, &req);
    match check(&app, seen, None).await {
        Ok(()) => next.run(req).await,
        Err(e) => ApiError(e).into_response(),
    }
}

/// Counts a collection endpoint's request under its tag rule.
pub async fn route(State(route): State<Tags>, mut req: Request, next: Next) -> Response {
    let collection = req
        .extract_parts::<Path<HashMap<String, String>>>()
        .await
        .ok()
        .and_then(|mut p| p.0.remove("collection"));
    let Some(collection) = collection else {
        return next.run(req).await;
    };
    let seen = Seen::of(&route.app, &req);
    match check(&route.app, seen, Some((&collection, route.tags))).await {
        Ok(()) => next.run(req).await,
        Err(e) => ApiError(e).into_response(),
    }
}

/// What a check needs of the request, read before anything is awaited.
struct Seen {
    client: Option<String>,
    method: String,
    path: String,
    authorization: Option<String>,
}

impl Seen {
    fn of(app: &AppState, req: &Request) -> Self {
        Self {
            client: client_key(
                req.extensions().get::<ClientIp>(),
                req.headers(),
                app.trusted_proxy_hops,
            ),
            method: req.method().as_str().to_owned(),
            path: req.uri().path().to_owned(),
            authorization: req
                .headers()
                .get(AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
        }
    }
}

/// One rule check. A request without a usable client address, for an
/// unknown collection (the handler answers 404) or under no rule passes.
async fn check(app: &AppState, seen: Seen, route: Option<(&str, &[&str])>) -> Result<(), Error> {
    let config = app.config().await?;
    let limits = &config.rate_limits;
    if !limits.enabled {
        return Ok(());
    }
    let Some(client) = seen.client else {
        return Ok(());
    };
    let (method, path) = (seen.method.as_str(), seen.path.as_str());
    let now = app.now();
    let audience = if rate_limit::needs_audience(limits) {
        let header = seen.authorization.as_deref();
        match auth::authenticate(&app.ctx, &config, header, now).await {
            Ok(_) => Audience::Auth,
            Err(_) => Audience::Guest,
        }
    } else {
        Audience::Guest
    };
    let (labels, scope) = match route {
        None => (rate_limit::path_labels(method, path), None),
        Some((name, tags)) => {
            let Ok(collection) = guards::auth_collection(&config, name) else {
                return Ok(());
            };
            let labels = rate_limit::collection_labels(collection, tags, method, path);
            // Per collection and endpoint, whichever spelling (name or id)
            // the path used.
            (
                labels,
                Some(format!("{}:{}", collection.id, tags.join(","))),
            )
        }
    };
    let Some(rule) = rate_limit::find_rule(limits, &labels, audience) else {
        return Ok(());
    };
    let scope = scope.unwrap_or_else(|| rule.label.clone());
    rate_limit::hit(&app.ctx, rule, &scope, &client, now).await
}
