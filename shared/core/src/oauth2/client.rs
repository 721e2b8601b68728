//! The outbound HTTP port and what travels through it. Which URLs to call
//! and how to read the answers is decided in this module's siblings;
//! adapters only move bytes.

use async_trait::async_trait;

use crate::secret::Secret;

/// How the client authenticates at the token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    /// `Authorization: Basic base64(client_id:client_secret)` (RFC 6749 default).
    Basic,
    /// `client_id` and `client_secret` in the form body (Apple, Facebook).
    RequestBody,
}

/// An authorization-code token request.
#[derive(Debug)]
pub struct TokenRequest<'a> {
    pub token_url: &'a str,
    pub client_id: &'a str,
    pub client_secret: &'a Secret,
    pub client_auth: ClientAuth,
    pub code: &'a str,
    /// The PKCE verifier, when the provider uses PKCE.
    pub code_verifier: Option<&'a str>,
    pub redirect_url: &'a str,
}

/// A token endpoint's answer. Tokens never print.
#[derive(Debug, Clone, Default)]
pub struct OAuth2Token {
    pub access_token: Secret,
    pub refresh_token: Secret,
    /// The OpenID Connect `id_token`, when the provider sent one.
    pub id_token: Secret,
    pub expires_in: Option<u64>,
}

/// An outbound call failed. `Status` carries the HTTP status of an error
/// answer; the message is for logs and must never contain tokens or codes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HttpError {
    #[error("provider answered HTTP {0}")]
    Status(u16),
    #[error("{0}")]
    Other(String),
}

/// Outbound OAuth2 HTTP: the token exchange and authenticated JSON GETs
/// (user info). Which URLs to call and how to read the answers is decided
/// in [`crate::oauth2`]; adapters only move bytes, with redirects disabled
/// and timeouts on every call.
#[async_trait]
pub trait OAuth2Client: Send + Sync {
    /// Exchanges an authorization code at the provider's token endpoint.
    async fn exchange_code(&self, request: &TokenRequest<'_>) -> Result<OAuth2Token, HttpError>;

    /// `GET url` with `Authorization: Bearer <access_token>`, expecting JSON.
    async fn get_json(&self, url: &str, access_token: &str)
        -> Result<serde_json::Value, HttpError>;
}
