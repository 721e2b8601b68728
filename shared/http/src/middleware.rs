//! Cross-cutting behaviour: PocketBase's security headers and CORS, and one
//! JSON log line per request.

use axum::extract::{Request, State};
use axum::http::header::{self, HeaderValue};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::state::AppState;

/// Answers CORS preflights with 204 and adds CORS and security headers to
/// every response.
pub async fn headers(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let origin = req
        .headers()
        .get(header::ORIGIN)
        .and_then(|o| o.to_str().ok())
        .map(str::to_owned);
    let preflight = req.method() == Method::OPTIONS
        && req
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    let mut res = if preflight {
        StatusCode::NO_CONTENT.into_response()
    } else {
        next.run(req).await
    };
    let h = res.headers_mut();
    let allowed = if state.cors_origins.iter().any(|o| o == "*") {
        Some("*".to_owned())
    } else {
        origin.filter(|o| state.cors_origins.iter().any(|a| a == o))
    };
    if let Some(allow) = allowed.and_then(|a| HeaderValue::from_str(&a).ok()) {
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, allow);
        // Browser apps read a 429's wait time.
        h.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static("Retry-After"),
        );
        if preflight {
            h.insert(
                header::ACCESS_CONTROL_ALLOW_METHODS,
                HeaderValue::from_static("GET,HEAD,PUT,PATCH,POST,DELETE"),
            );
            h.insert(
                header::ACCESS_CONTROL_ALLOW_HEADERS,
                HeaderValue::from_static(
                    "Authorization,Content-Type,Accept,Accept-Language,X-Requested-With",
                ),
            );
            h.insert(
                header::ACCESS_CONTROL_MAX_AGE,
                HeaderValue::from_static("86400"),
            );
        }
    }
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::X_FRAME_OPTIONS,
        HeaderValue::from_static("SAMEORIGIN"),
    );
    h.insert(
        header::X_XSS_PROTECTION,
        HeaderValue::from_static("1; mode=block"),
    );
    h.insert(
        "cross-origin-opener-policy",
        HeaderValue::from_static("same-origin"),
    );
    h.append(header::VARY, HeaderValue::from_static("Origin"));
    res
}

/// Runs the request inside a `request` span (Lambda request id, function,
/// collection, and the record a login attempt names, which the services
/// record on it) and logs one line when it is answered: its status and
/// outcome. Never the body, the query or a header.
pub async fn request_log(State(state): State<AppState>, req: Request, next: Next) -> Response {
    use tracing::Instrument;
    let request_id = req
        .extensions()
        .get::<lambda_http::Context>()
        .map(|c| c.request_id.clone())
        .unwrap_or_default();
    let path = req.uri().path().to_owned();
    let collection = path
        .strip_prefix("/api/collections/")
        .and_then(|rest| rest.split('/').next())
        .unwrap_or("")
        .to_owned();
    let span = tracing::info_span!(
        "request",
        request_id = %request_id,
        function = state.function,
        collection = %collection,
        record = tracing::field::Empty,
    );
    let res = next.run(req).instrument(span.clone()).await;
    let status = res.status().as_u16();
    let outcome = outcome(&path, status);
    tracing::info!(parent: &span, status, outcome, "request");
    res
}

/// What became of a request, for alarms and queries: `ok`, `auth_failed`
/// (a login refused: wrong password, unknown identity, bad code, …),
/// `rate_limited`, `rejected` (any other 4xx) or `error` (5xx).
fn outcome(path: &str, status: u16) -> &'static str {
    let login = ["/auth-with-password", "/auth-with-otp", "/auth-with-oauth2"]
        .iter()
        .any(|p| path.ends_with(p));
    match status {
        429 => "rate_limited",
        500.. => "error",
        400.. if login => "auth_failed",
        400.. => "rejected",
        _ => "ok",
    }
}

#[cfg(test)]
mod tests {
    use super::outcome;

    #[test]
    fn outcomes_by_status_and_endpoint() {
        let login = "/api/collections/users/auth-with-password";
        assert_eq!(outcome(login, 200), "ok");
        assert_eq!(outcome(login, 401), "auth_failed");
        assert_eq!(outcome(login, 400), "auth_failed");
        assert_eq!(outcome(login, 429), "rate_limited");
        assert_eq!(outcome("/api/collections/users/records", 400), "rejected");
        assert_eq!(outcome("/api/collections/users/records", 503), "error");
    }
}
