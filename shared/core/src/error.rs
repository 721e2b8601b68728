//! Domain errors. Each variant names *what* went wrong; the HTTP layer alone
//! decides the status code and renders PocketBase's envelope.

use std::collections::BTreeMap;

use serde::Serialize;

/// One field's validation failure, as PocketBase renders it under `data.<field>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub code: String,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub params: Option<serde_json::Value>,
}

impl FieldError {
    pub fn new(code: &str, message: impl Into<String>) -> Self {
        Self {
            code: code.to_owned(),
            message: message.into(),
            params: None,
        }
    }

    pub fn with_params(mut self, params: serde_json::Value) -> Self {
        self.params = Some(params);
        self
    }

    pub fn required() -> Self {
        Self::new("validation_required", "Cannot be blank.")
    }

    pub fn invalid_token() -> Self {
        Self::new("validation_invalid_token", "Invalid or expired token.")
    }

    pub fn is_email() -> Self {
        Self::new("validation_is_email", "Must be a valid email address.")
    }

    pub fn not_unique() -> Self {
        Self::new("validation_not_unique", "Value must be unique.")
    }

    pub fn values_mismatch() -> Self {
        Self::new("validation_values_mismatch", "Values don't match.")
    }
}

/// Field name → error, ordered so that responses are deterministic.
pub type FieldErrors = BTreeMap<String, FieldError>;

/// What a service can fail with. Messages are PocketBase's wire messages.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// 400 with optional per-field errors.
    #[error("{message}")]
    BadRequest { message: String, data: FieldErrors },
    /// 401: missing or invalid authorization.
    #[error("{0}")]
    Unauthorized(String),
    /// 403: the caller or collection is not allowed to do this.
    #[error("{0}")]
    Forbidden(String),
    /// 404: collection (or record) missing.
    #[error("{0}")]
    NotFound(String),
    /// 413: the request body is larger than allowed.
    #[error("{0}")]
    PayloadTooLarge(String),
    /// 429: a limit was hit.
    #[error("{0}")]
    TooManyRequests(String),
    /// 429 `Too Many Requests.` from a rate limit, with the seconds after
    /// which the window is over (the `Retry-After` header).
    #[error("Too Many Requests.")]
    RateLimited { retry_after_secs: i64 },
    /// 503: too many password hashes are waiting; the request can be
    /// retried shortly.
    #[error("Service is busy, please try again shortly.")]
    Unavailable,
    /// 500: something outside the caller's control. The message is logged,
    /// never sent to the client.
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::BadRequest {
            message: message.into(),
            data: FieldErrors::new(),
        }
    }

    pub fn validation(message: impl Into<String>, data: FieldErrors) -> Self {
        Self::BadRequest {
            message: message.into(),
            data,
        }
    }

    pub fn field(message: impl Into<String>, field: &str, error: FieldError) -> Self {
        let mut data = FieldErrors::new();
        data.insert(field.to_owned(), error);
        Self::validation(message, data)
    }

    pub fn internal(context: impl std::fmt::Display) -> Self {
        Self::Internal(context.to_string())
    }

    /// The message PocketBase uses for every malformed request body.
    pub fn bad_body() -> Self {
        Self::bad_request("An error occurred while loading the submitted data.")
    }

    pub fn missing_collection() -> Self {
        Self::NotFound("Missing or invalid collection context.".into())
    }

    pub fn missing_auth_collection() -> Self {
        Self::NotFound("Missing or invalid auth collection context.".into())
    }

    pub fn invalid_auth_token() -> Self {
        Self::Unauthorized("The request requires valid record authorization token.".into())
    }

    /// A rule of `null` (superusers only), PocketBase's answer.
    pub fn only_superusers() -> Self {
        Self::Forbidden("Only superusers can perform this action.".into())
    }

    /// A record that is missing or that the rule hides.
    pub fn record_not_found() -> Self {
        Self::NotFound("The requested resource wasn't found.".into())
    }

    pub fn rate_limited(retry_after_secs: i64) -> Self {
        Self::RateLimited { retry_after_secs }
    }
}

impl From<crate::ports::StoreError> for Error {
    fn from(err: crate::ports::StoreError) -> Self {
        Self::Internal(format!("store: {err}"))
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
