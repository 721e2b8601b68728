//! The OAuth2 HTTP client ([`OAuth2Client`] port): the authorization-code
//! exchange through the `oauth2` crate, and bearer-authenticated JSON GETs
//! for user info, both sent by one hyper-util client built per process on
//! the HTTP stack the AWS SDK already links (hyper 1, hyper-rustls with
//! rustls and ring, no OpenSSL; `https://` and plain `http://` URLs). TLS
//! trusts the system's root certificates (`rustls-native-certs`, as the AWS
//! SDK does; in Lambda the image's CA bundle), not a compiled-in list.
//!
//! Redirects are never followed (a provider endpoint that redirects could
//! otherwise bounce the code, verifier or access token to another host:
//! SSRF); a 3xx is an error answer. Every call has a total timeout (connect,
//! send, read the answer) and a connect timeout (TCP and TLS handshake), and
//! answers are read up to [`MAX_ANSWER_BYTES`], never unbounded.
//!
//! Error messages never contain codes, tokens, URLs or response bodies:
//! they are logged by the service.

use std::error::Error as StdError;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use ::oauth2::basic::{
    BasicErrorResponse, BasicRevocationErrorResponse, BasicTokenIntrospectionResponse,
    BasicTokenType,
};
use ::oauth2::{
    AsyncHttpClient, AuthType, AuthorizationCode, ClientId, ClientSecret, ExtraTokenFields,
    HttpRequest, HttpResponse, PkceCodeVerifier, RedirectUrl, RequestTokenError,
    StandardRevocableToken, StandardTokenResponse, TokenResponse, TokenUrl,
};
use async_trait::async_trait;
use authgate_core::oauth2::{ClientAuth, HttpError, OAuth2Client, OAuth2Token, TokenRequest};
use authgate_core::secret::Secret;
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::{HeaderValue, ACCEPT, AUTHORIZATION, USER_AGENT};
use hyper::{Request, Response, StatusCode, Uri};
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Total time allowed for each outbound call.
pub const TIMEOUT: Duration = Duration::from_secs(10);
/// Time allowed to connect (TCP and TLS handshake), within [`TIMEOUT`].
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Answers (token and user info) larger than this are refused.
pub const MAX_ANSWER_BYTES: usize = 1 << 20;
/// GitHub's API refuses requests without a User-Agent.
const USER_AGENT_VALUE: &str = concat!("Authgate/", env!("CARGO_PKG_VERSION"));

type BoxError = Box<dyn StdError + Send + Sync>;
type Http =
    hyper_util::client::legacy::Client<ConnectTimeout<HttpsConnector<HttpConnector>>, Full<Bytes>>;

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
    http: Http,
    timeout: Duration,
}

impl fmt::Debug for HttpOAuth2Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("HttpOAuth2Client")
    }
}

impl HttpOAuth2Client {
    /// Builds the client once per process (cold start), with [`TIMEOUT`]
    /// and [`CONNECT_TIMEOUT`]. Fails when the system has no usable root
    /// certificate.
    pub fn new() -> Result<Self, HttpError> {
        Self::with_timeouts(TIMEOUT, CONNECT_TIMEOUT)
    }

    /// [`HttpOAuth2Client::new`] with other limits (the tests' slow
    /// providers): `total` per call, `connect` for TCP and TLS.
    pub fn with_timeouts(total: Duration, connect: Duration) -> Result<Self, HttpError> {
        let mut tcp = HttpConnector::new();
        tcp.enforce_http(false);
        tcp.set_nodelay(true);
        let https = HttpsConnectorBuilder::new()
            .with_provider_and_native_roots(rustls::crypto::ring::default_provider())
            .map_err(|e| HttpError::Other(format!("no usable root certificates: {e}")))?
            .https_or_http()
            .enable_http1()
            .wrap_connector(tcp);
        let http = hyper_util::client::legacy::Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .build(ConnectTimeout {
                inner: https,
                limit: connect,
            });
        Ok(Self {
            http,
            timeout: total,
        })
    }

    /// Sends `req` (with the User-Agent) and reads the answer's body when
    /// `read_body(status)`, at most [`MAX_ANSWER_BYTES`]; all within the
    /// total timeout. Redirects are answers like any other.
    async fn send(
        &self,
        mut req: Request<Full<Bytes>>,
        read_body: fn(StatusCode) -> bool,
    ) -> Result<Response<Vec<u8>>, CallError> {
        req.headers_mut()
            .entry(USER_AGENT)
            .or_insert(HeaderValue::from_static(USER_AGENT_VALUE));
        let call = async {
            let res = self
                .http
                .request(req)
                .await
                .map_err(|e| CallError::Send(chain(&e)))?;
            let (parts, body) = res.into_parts();
            let body = if read_body(parts.status) {
                read_limited(body).await?
            } else {
                Vec::new()
            };
            Ok(Response::from_parts(parts, body))
        };
        tokio::time::timeout(self.timeout, call)
            .await
            .map_err(|_| CallError::TimedOut(self.timeout))?
    }
}

/// The `oauth2` crate's HTTP client: sends the token request as it built
/// it. An error answer's body is read too: it carries the error code.
struct TokenHttp<'a>(&'a HttpOAuth2Client);

impl<'c> AsyncHttpClient<'c> for TokenHttp<'_> {
    type Error = CallError;
    type Future = Pin<Box<dyn Future<Output = Result<HttpResponse, CallError>> + Send + 'c>>;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        Box::pin(
            self.0
                .send(request.map(|b| Full::new(Bytes::from(b))), |_| true),
        )
    }
}

/// The answer's body, refused past [`MAX_ANSWER_BYTES`] without reading
/// further.
async fn read_limited(body: Incoming) -> Result<Vec<u8>, CallError> {
    match Limited::new(body, MAX_ANSWER_BYTES).collect().await {
        Ok(collected) => Ok(collected.to_bytes().to_vec()),
        Err(e) if e.is::<LengthLimitError>() => Err(CallError::TooLarge),
        Err(e) => Err(CallError::Read(chain(&*e))),
    }
}

/// An error and its sources, `: `-separated (hyper's top-level errors only
/// say "client error (Connect)"). None of them carries the URL or a body.
fn chain(e: &(dyn StdError + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

/// Why a call failed; never carries what was sent or answered.
#[derive(Debug)]
enum CallError {
    Send(String),
    Read(String),
    TooLarge,
    TimedOut(Duration),
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Send(e) => f.write_str(e),
            Self::Read(e) => write!(f, "reading the answer failed: {e}"),
            Self::TooLarge => write!(f, "answer too large (over {MAX_ANSWER_BYTES} bytes)"),
            Self::TimedOut(d) => write!(f, "no complete answer within {} ms", d.as_millis()),
        }
    }
}

impl StdError for CallError {}

impl From<CallError> for HttpError {
    fn from(e: CallError) -> Self {
        HttpError::Other(e.to_string())
    }
}

/// The connector with a time limit on connecting: DNS, TCP and the TLS
/// handshake (hyper-util's own connect timeout covers TCP only).
#[derive(Clone)]
struct ConnectTimeout<C> {
    inner: C,
    limit: Duration,
}

#[derive(Debug)]
struct ConnectTimedOut(Duration);

impl fmt::Display for ConnectTimedOut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "not connected within {} ms", self.0.as_millis())
    }
}

impl StdError for ConnectTimedOut {}

impl<C> tower::Service<Uri> for ConnectTimeout<C>
where
    C: tower::Service<Uri>,
    C::Response: 'static,
    C::Error: Into<BoxError>,
    C::Future: Send + 'static,
{
    type Response = C::Response;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<C::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let connecting = self.inner.call(uri);
        let limit = self.limit;
        Box::pin(async move {
            match tokio::time::timeout(limit, connecting).await {
                Ok(connected) => connected.map_err(Into::into),
                Err(_) => Err(ConnectTimedOut(limit).into()),
            }
        })
    }
}

fn describe<E: StdError>(e: RequestTokenError<E, BasicErrorResponse>) -> HttpError {
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
        let answer = request
            .request_async(&TokenHttp(self))
            .await
            .map_err(describe)?;
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
        let uri: Uri = url
            .parse()
            .map_err(|_| HttpError::Other("invalid user-info URL".into()))?;
        let mut bearer = HeaderValue::try_from(format!("Bearer {access_token}"))
            .map_err(|_| HttpError::Other("access token is not a valid header value".into()))?;
        bearer.set_sensitive(true);
        let req = Request::get(uri)
            .header(AUTHORIZATION, bearer)
            .header(ACCEPT, "application/json")
            .body(Full::default())
            .map_err(|_| HttpError::Other("invalid user-info request".into()))?;
        // Error answers' bodies are not read.
        let res = self.send(req, |s| s.is_success()).await?;
        let status = res.status();
        if !status.is_success() {
            return Err(HttpError::Status(status.as_u16()));
        }
        serde_json::from_slice(res.body())
            .map_err(|_| HttpError::Other("answer is not JSON".into()))
    }
}
