//! The router: PocketBase's paths, one module per endpoint.

use authgate_core::service::AuthOutcome;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;

use crate::error::envelope;
use crate::fields::project;
use crate::state::AppState;

mod auth_methods;
mod auth_refresh;
mod auth_with_oauth2;
mod auth_with_otp;
mod auth_with_password;
mod confirm_email_change;
mod confirm_password_reset;
mod confirm_verification;
mod records_create;
mod request_email_change;
mod request_otp;
mod request_password_reset;
mod request_verification;

/// Builds the one router every entry point runs.
pub fn router(state: AppState) -> Router {
    let c = "/api/collections/{collection}";
    Router::new()
        .route(
            &format!("{c}/auth-methods"),
            get(auth_methods::auth_methods),
        )
        .route(
            &format!("{c}/auth-with-password"),
            post(auth_with_password::auth_with_password),
        )
        .route(&format!("{c}/request-otp"), post(request_otp::request_otp))
        .route(
            &format!("{c}/auth-with-otp"),
            post(auth_with_otp::auth_with_otp),
        )
        .route(
            &format!("{c}/auth-with-oauth2"),
            post(auth_with_oauth2::auth_with_oauth2),
        )
        .route(
            &format!("{c}/auth-refresh"),
            post(auth_refresh::auth_refresh),
        )
        .route(
            &format!("{c}/records"),
            post(records_create::records_create),
        )
        .route(
            &format!("{c}/request-verification"),
            post(request_verification::request_verification),
        )
        .route(
            &format!("{c}/confirm-verification"),
            post(confirm_verification::confirm_verification),
        )
        .route(
            &format!("{c}/request-password-reset"),
            post(request_password_reset::request_password_reset),
        )
        .route(
            &format!("{c}/confirm-password-reset"),
            post(confirm_password_reset::confirm_password_reset),
        )
        .route(
            &format!("{c}/request-email-change"),
            post(request_email_change::request_email_change),
        )
        .route(
            &format!("{c}/confirm-email-change"),
            post(confirm_email_change::confirm_email_change),
        )
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::middleware::headers,
        ))
        .with_state(state)
}

async fn not_found() -> Response {
    envelope(
        StatusCode::NOT_FOUND,
        "The requested resource wasn't found.",
    )
}

async fn method_not_allowed() -> Response {
    envelope(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed.")
}

/// Renders a login result: 200 `{token, record, meta?}` or the MFA 401
/// `{"mfaId": …}` (the one non-envelope error body, as PocketBase sends it).
pub(crate) fn auth_response(outcome: AuthOutcome, fields: Option<&str>) -> Response {
    match outcome {
        AuthOutcome::Authenticated {
            token,
            record,
            meta,
        } => {
            let mut body = json!({ "token": token, "record": record });
            if let Some(meta) = meta {
                body["meta"] = meta;
            }
            Json(project(body, fields)).into_response()
        }
        AuthOutcome::MfaRequired { mfa_id } => {
            (StatusCode::UNAUTHORIZED, Json(json!({ "mfaId": mfa_id }))).into_response()
        }
    }
}
