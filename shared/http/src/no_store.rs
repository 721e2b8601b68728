//! Answers that carry credentials must not be kept by caches.
//!
//! Tokens (auth responses), MFA session ids, OTP ids and the PKCE verifiers
//! and `state` of `auth-methods` are bearer material: a shared proxy or the
//! browser's disk cache holding one hands it to whoever reads that cache
//! next. RFC 6749 §5.1 asks the same of token responses.

use axum::http::header::{self, HeaderValue};
use axum::response::{IntoResponse, Response};

/// Wraps an answer so it goes out with `Cache-Control: no-store` (and
/// `Pragma: no-cache` for HTTP/1.0 caches).
pub(crate) struct NoStore<T>(pub T);

impl<T: IntoResponse> IntoResponse for NoStore<T> {
    fn into_response(self) -> Response {
        let mut res = self.0.into_response();
        let h = res.headers_mut();
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
        res
    }
}

#[cfg(test)]
mod tests {
    use axum::http::StatusCode;

    use super::*;

    #[test]
    fn a_wrapped_answer_keeps_its_status_and_forbids_storing() {
        let res = NoStore((StatusCode::UNAUTHORIZED, "x")).into_response();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(res.headers()[header::CACHE_CONTROL], "no-store");
        assert_eq!(res.headers()[header::PRAGMA], "no-cache");
    }
}
