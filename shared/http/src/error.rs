//! The one place where domain errors become HTTP responses, in PocketBase's
//! envelope `{"status":N,"message":"…","data":{…}}`.

use authgate_core::Error;
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
        let (status, message, data) = match self.0 {
            Error::BadRequest { message, data } => (StatusCode::BAD_REQUEST, message, json!(data)),
            Error::Unauthorized(m) => (StatusCode::UNAUTHORIZED, m, json!({})),
            Error::Forbidden(m) => (StatusCode::FORBIDDEN, m, json!({})),
            Error::NotFound(m) => (StatusCode::NOT_FOUND, m, json!({})),
            Error::PayloadTooLarge(m) => (StatusCode::PAYLOAD_TOO_LARGE, m, json!({})),
            Error::TooManyRequests(m) => (StatusCode::TOO_MANY_REQUESTS, m, json!({})),
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
        (
            status,
            Json(json!({"status": status.as_u16(), "message": message, "data": data})),
        )
            .into_response()
    }
}
