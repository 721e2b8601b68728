//! The OAuth2 HTTP client ([`OAuth2Client`] port): the authorization-code
//! exchange through the `oauth2` crate, and bearer-authenticated JSON GETs
//! for user info. One `reqwest` client (rustls with ring, no OpenSSL) is
//! built per process, with redirects disabled (a provider endpoint that
//! redirects could otherwise bounce the code, verifier or access token to
//! another host: SSRF) and a timeout on every call.
//!
//! Error messages never contain codes, tokens or response bodies: they
//! are logged by the service.

use std::fmt;
use std::time::Duration;

use ::oauth2::basic::{
    BasicErrorResponse, BasicRevocationErrorResponse, BasicTokenIntrospectionResponse,
    BasicTokenType,
};
use ::oauth2::reqwest;
use ::oauth2::{
    AuthType, AuthorizationCode, ClientId, ClientSecret, ExtraTokenFields, PkceCodeVerifier,
    RedirectUrl, RequestTokenError, StandardRevocableToken, StandardTokenResponse, TokenResponse,
    TokenUrl,
};
use async_trait::async_trait;
use authgate_core::oauth2::{ClientAuth, HttpError, OAuth2Client, OAuth2Token, TokenRequest};
use authgate_core::secret::Secret;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Total time allowed for each outbound call.
pub const TIMEOUT: Duration = Duration::from_secs(10);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// User-info answers larger than this are refused.
const MAX_USER_INFO_BYTES: usize = 1 << 20;

/// The token response's `id_token` (OpenID Connect), kept as an extra field.
#[derive(Clone, Default, Deserialize, Serialize)]
struct IdTokenFields {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    id_token: Option<String>,
}

impl fmt::Debug for IdTokenFields {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("IdTokenFields(***)")
    }
}

impl ExtraTokenFields for IdTokenFields {}

type TokenAnswer = StandardTokenResponse<IdTokenFields, BasicTokenType>;
type Client = ::oauth2::Client<
    BasicErrorResponse,
    TokenAnswer,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
>;

/// The production [`OAuth2Client`].
#[derive(Clone)]
pub struct HttpOAuth2Client {
    http: reqwest::Client,
}

impl fmt::Debug for HttpOAuth2Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("HttpOAuth2Client")
    }
}

impl HttpOAuth2Client {
    /// Builds the client once per process (cold start).
    pub fn new() -> Result<Self, HttpError> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(TIMEOUT)
            .connect_timeout(CONNECT_TIMEOUT)
            // GitHub's API refuses requests without a User-Agent.
            .user_agent(concat!("Authgate/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| HttpError::Other(format!("cannot build the OAuth2 HTTP client: {e}")))?;
        Ok(Self { http })
    }
}

fn describe<E: std::error::Error>(e: RequestTokenError<E, BasicErrorResponse>) -> HttpError {
    match e {
        // Only the error code: descriptions may echo what was sent.
        RequestTokenError::ServerResponse(r) => {
            HttpError::Other(format!("token endpoint refused: {}", r.error()))
        }
        RequestTokenError::Request(e) => HttpError::Other(format!("token request failed: {e}")),
        RequestTokenError::Parse(e, _body) => {
            HttpError::Other(format!("unreadable token response (at {})", e.path()))
        }
        RequestTokenError::Other(m) => HttpError::Other(format!("token request failed: {m}")),
    }
}

#[async_trait]
impl OAuth2Client for HttpOAuth2Client {
    async fn exchange_code(&self, req: &TokenRequest<'_>) -> Result<OAuth2Token, HttpError> {
        let token_url = TokenUrl::new(req.token_url.to_owned())
            .map_err(|_| HttpError::Other("invalid token URL".into()))?;
        let redirect_url = RedirectUrl::new(req.redirect_url.to_owned())
            .map_err(|_| HttpError::Other("invalid redirect URL".into()))?;
        let mut client = Client::new(ClientId::new(req.client_id.to_owned()))
            .set_auth_type(match req.client_auth {
                ClientAuth::Basic => AuthType::BasicAuth,
                ClientAuth::RequestBody => AuthType::RequestBody,
            })
            .set_token_uri(token_url)
            .set_redirect_uri(redirect_url);
        if !req.client_secret.is_empty() {
            client =
                client.set_client_secret(ClientSecret::new(req.client_secret.expose().to_owned()));
        }
        let mut request = client.exchange_code(AuthorizationCode::new(req.code.to_owned()));
        if let Some(v) = req.code_verifier {
            request = request.set_pkce_verifier(PkceCodeVerifier::new(v.to_owned()));
        }
        let answer = request.request_async(&self.http).await.map_err(describe)?;
        Ok(OAuth2Token {
            access_token: Secret::new(answer.access_token().secret().clone()),
            refresh_token: answer
                .refresh_token()
                .map(|t| Secret::new(t.secret().clone()))
                .unwrap_or_default(),
            id_token: answer
                .extra_fields()
                .id_token
                .clone()
                .map(Secret::new)
                .unwrap_or_default(),
            expires_in: answer.expires_in().map(|d| d.as_secs()),
        })
    }

    async fn get_json(&self, url: &str, access_token: &str) -> Result<Value, HttpError> {
        let mut res = self
            .http
            .get(url)
            .bearer_auth(access_token)
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| HttpError::Other(format!("request failed: {}", e.without_url())))?;
        let status = res.status();
        if !status.is_success() {
            return Err(HttpError::Status(status.as_u16()));
        }
        let mut body = Vec::new();
        while let Some(chunk) = res.chunk().await.map_err(|e| {
            HttpError::Other(format!("reading the answer failed: {}", e.without_url()))
        })? {
            if body.len() + chunk.len() > MAX_USER_INFO_BYTES {
                return Err(HttpError::Other("answer too large".into()));
            }
            body.extend_from_slice(&chunk);
        }
        serde_json::from_slice(&body).map_err(|_| HttpError::Other("answer is not JSON".into()))
    }
}
