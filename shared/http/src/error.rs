//! The one place where domain errors become HTTP responses, in PocketBase's
//! envelope `{"status":N,"message":"…","data":{…}}`.

use authgate_core::Error;
use axum::http::header::{self, HeaderValue};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

/// Wrapper so handlers can `?` any domain error.
#[derive(Debug)]
pub struct ApiError(pub Error);

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        Self(e)
    }
}

/// Builds the envelope for a status and message with empty data.
pub fn envelope(status: StatusCode, message: &str) -> Response {
    (
        status,
        Json(json!({"status": status.as_u16(), "message": message, "data": {}})),
    )
        .into_response()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let retry_after = match &self.0 {
            Error::RateLimited { retry_after_secs } => Some(*retry_after_secs),
            _ => None,
        };
        let (status, message, data) = match self.0 {
            Error::BadRequest { message, data } => (StatusCode::BAD_REQUEST, message, json!(data)),
            Error::Unauthorized(m) => (StatusCode::UNAUTHORIZED, m, json!({})),
            Error::Forbidden(m) => (StatusCode::FORBIDDEN, m, json!({})),
            Error::NotFound(m) => (StatusCode::NOT_FOUND, m, json!({})),
            Error::PayloadTooLarge(m) => (StatusCode::PAYLOAD_TOO_LARGE, m, json!({})),
            Error::TooManyRequests(m) => (StatusCode::TOO_MANY_REQUESTS, m, json!({})),
            Error::Unavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                "Service is busy, please try again shortly.".to_owned(),
                json!({}),
            ),
            Error::RateLimited { .. } => (
                StatusCode::TOO_MANY_REQUESTS,
                "Too Many Requests.".to_owned(),
                json!({}),
            ),
            Error::Internal(detail) => {
                // The detail goes to the log once; the client gets a generic body.
                tracing::error!(error = %detail, "request failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Something went wrong while processing your request.".to_owned(),
                    json!({}),
                )
            }
        };
        let mut res = (
            status,
            Json(json!({"status": status.as_u16(), "message": message, "data": data})),
        )
            .into_response();
        if let Some(secs) = retry_after {
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
        }
        res
    }
}
