//! The router: PocketBase's paths, one module per endpoint.

use authgate_core::service::AuthOutcome;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, patch, post};
use axum::{Json, Router};
use serde_json::json;

use crate::error::envelope;
use crate::fields::project;
use crate::no_store::NoStore;
use crate::rate_limit;
use crate::state::AppState;

mod auth_methods;
mod auth_refresh;
mod auth_revoke;
mod auth_with_oauth2;
mod auth_with_otp;
mod auth_with_password;
mod confirm_email_change;
mod confirm_password_reset;
mod confirm_verification;
mod external_auths_delete;
mod external_auths_list;
mod records_create;
mod records_delete;
mod records_list;
mod records_update;
mod records_view;
mod request_email_change;
mod request_otp;
mod request_password_reset;
mod request_verification;

/// For each endpoint under `/api/collections/` (its handler named like its
/// path, with its rate limit tags: PocketBase's action names; the
/// `_externalAuths` routes have no `{collection}` and count under the path
/// rules only): a function in [`single`] building a router of that endpoint
/// alone (what its Lambda binary runs, so it links only that handler), and
/// the whole [`router`] of every endpoint (the local server, the tests).
macro_rules! endpoints {
    ($($method:ident $path:literal => $module:ident $tags:expr),* $(,)?) => {
        /// One endpoint's router each, with the shared layers.
        pub mod single {
            use super::*;
            $(
                #[doc = concat!("`", $path, "` alone.")]
                pub fn $module(state: AppState) -> Router {
                    finish(Router::new().route(
                        concat!("/api/collections/", $path),
                        endpoint!(state, $method $module $tags),
                    ), state)
                }
            )*
        }

        /// Builds the router of every endpoint.
        pub fn router(state: AppState) -> Router {
            let router = Router::new()$(.route(
                concat!("/api/collections/", $path),
                endpoint!(state, $method $module $tags),
            ))*;
            finish(router, state)
        }
    };
}

/// An endpoint's method router: its handler behind its rate limit tags.
macro_rules! endpoint {
    ($state:expr, $method:ident $module:ident $tags:expr) => {
        $method($module::$module).route_layer(axum::middleware::from_fn_with_state(
            rate_limit::Tags {
                app: $state.clone(),
                tags: $tags,
            },
            rate_limit::route,
        ))
    };
}

endpoints!(
    get "{collection}/auth-methods" => auth_methods &["listAuthMethods"],
    post "{collection}/auth-with-password" => auth_with_password &["authWithPassword", "auth"],
    post "{collection}/request-otp" => request_otp &["requestOTP"],
    post "{collection}/auth-with-otp" => auth_with_otp &["authWithOTP", "auth"],
    post "{collection}/auth-with-oauth2" => auth_with_oauth2 &["authWithOAuth2", "auth"],
    post "{collection}/auth-refresh" => auth_refresh &["authRefresh"],
    post "{collection}/auth-revoke" => auth_revoke &["authRevoke"],
    post "{collection}/records" => records_create &["create"],
    get "{collection}/records" => records_list &["list"],
    get "{collection}/records/{id}" => records_view &["view"],
    patch "{collection}/records/{id}" => records_update &["update"],
    delete "{collection}/records/{id}" => records_delete &["delete"],
    get "_externalAuths/records" => external_auths_list &["list"],
    delete "_externalAuths/records/{id}" => external_auths_delete &["delete"],
    post "{collection}/request-verification" => request_verification &["requestVerification"],
    post "{collection}/confirm-verification" => confirm_verification &["confirmVerification"],
    post "{collection}/request-password-reset" => request_password_reset &["requestPasswordReset"],
    post "{collection}/confirm-password-reset" => confirm_password_reset &["confirmPasswordReset"],
    post "{collection}/request-email-change" => request_email_change &["requestEmailChange"],
    post "{collection}/confirm-email-change" => confirm_email_change &["confirmEmailChange"],
);

/// The layers every router shares: PocketBase's 404 and 405 envelopes, the
/// path rate limit, CORS and security headers.
fn finish(router: Router<AppState>, state: AppState) -> Router {
    router
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            rate_limit::global,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::middleware::headers,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::middleware::request_log,
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
/// Both carry credentials: never cached ([`NoStore`]).
pub(crate) fn auth_response(outcome: AuthOutcome, fields: Option<&str>) -> Response {
    let res = match outcome {
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
    };
    NoStore(res).into_response()
}
