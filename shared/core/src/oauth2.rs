//! OAuth2 providers, without HTTP: the built-in provider definitions
//! (endpoints, scopes, PKCE), the authorization URL that `auth-methods`
//! hands to clients, PKCE challenges, `id_token` claims, and the mapping of
//! each provider's user JSON to an [`AuthUser`]. The bytes travel through the
//! [`OAuth2Client`] port (HTTP adapter in `authgate-adapters`).
//!
//! Email trust: an [`AuthUser`] carries the email the provider reported plus
//! whether the provider vouches for it (`email_verified`). Only a verified
//! email may link to an existing account or mark a record verified.

use std::fmt;

use base64::Engine;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::config::{ProviderConfig, Secret};
use crate::model::Timestamp;
use crate::ports::OAuth2Client;

/// How the client authenticates at the token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    /// `Authorization: Basic base64(client_id:client_secret)` (RFC 6749 default).
    Basic,
    /// `client_id` and `client_secret` in the form body (Apple, Facebook).
    RequestBody,
}

/// Where a provider's user data comes from, and how to read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Google,
    Github,
    Facebook,
    Microsoft,
    Gitlab,
    Discord,
    /// User claims from the `id_token` (Apple has no user-info endpoint).
    Apple,
    /// Generic OpenID Connect: the user-info endpoint, or the `id_token`
    /// claims when no `userInfoURL` is configured.
    Oidc,
}

/// A built-in provider's defaults.
#[derive(Debug)]
pub struct Builtin {
    pub name: &'static str,
    pub kind: Kind,
    pub display_name: &'static str,
    pub auth_url: &'static str,
    pub token_url: &'static str,
    pub user_info_url: &'static str,
    pub scopes: &'static [&'static str],
    pub pkce: bool,
    pub client_auth: ClientAuth,
}

const OIDC_SCOPES: &[&str] = &["openid", "email", "profile"];

const fn oidc(name: &'static str) -> Builtin {
    Builtin {
        name,
        kind: Kind::Oidc,
        display_name: "OIDC",
        auth_url: "",
        token_url: "",
        user_info_url: "",
        scopes: OIDC_SCOPES,
        pkce: true,
        client_auth: ClientAuth::Basic,
    }
}

/// The providers Authgate knows, with PocketBase's defaults.
pub const BUILTINS: &[Builtin] = &[
    Builtin {
        name: "apple",
        kind: Kind::Apple,
        display_name: "Apple",
        auth_url: "https://appleid.apple.com/auth/authorize",
        token_url: "https://appleid.apple.com/auth/token",
        user_info_url: "",
        scopes: &["name", "email"],
        pkce: true,
        client_auth: ClientAuth::RequestBody,
    },
    Builtin {
        name: "google",
        kind: Kind::Google,
        display_name: "Google",
        auth_url: "https://accounts.google.com/o/oauth2/v2/auth",
        token_url: "https://oauth2.googleapis.com/token",
        user_info_url: "https://www.googleapis.com/oauth2/v3/userinfo",
        scopes: &[
            "https://www.googleapis.com/auth/userinfo.profile",
            "https://www.googleapis.com/auth/userinfo.email",
        ],
        pkce: true,
        client_auth: ClientAuth::Basic,
    },
    Builtin {
        name: "microsoft",
        kind: Kind::Microsoft,
        display_name: "Microsoft",
        auth_url: "https://login.microsoftonline.com/common/oauth2/v2.0/authorize",
        token_url: "https://login.microsoftonline.com/common/oauth2/v2.0/token",
        user_info_url: "https://graph.microsoft.com/v1.0/me",
        scopes: &["User.Read"],
        pkce: true,
        client_auth: ClientAuth::Basic,
    },
    Builtin {
        name: "facebook",
        kind: Kind::Facebook,
        display_name: "Facebook",
        auth_url: "https://www.facebook.com/v3.2/dialog/oauth",
        token_url: "https://graph.facebook.com/v3.2/oauth/access_token",
        user_info_url: "https://graph.facebook.com/me?fields=name,email,picture.type(large)",
        scopes: &["email"],
        pkce: true,
        client_auth: ClientAuth::RequestBody,
    },
    Builtin {
        name: "github",
        kind: Kind::Github,
        display_name: "GitHub",
        auth_url: "https://github.com/login/oauth/authorize",
        token_url: "https://github.com/login/oauth/access_token",
        user_info_url: "https://api.github.com/user",
        scopes: &["read:user", "user:email"],
        // GitHub ignores the PKCE parameters where unsupported; sending them is safe.
        pkce: true,
        client_auth: ClientAuth::Basic,
    },
    Builtin {
        name: "gitlab",
        kind: Kind::Gitlab,
        display_name: "GitLab",
        auth_url: "https://gitlab.com/oauth/authorize",
        token_url: "https://gitlab.com/oauth/token",
        user_info_url: "https://gitlab.com/api/v4/user",
        scopes: &["read_user"],
        pkce: true,
        client_auth: ClientAuth::Basic,
    },
    Builtin {
        name: "discord",
        kind: Kind::Discord,
        display_name: "Discord",
        auth_url: "https://discord.com/api/oauth2/authorize",
        token_url: "https://discord.com/api/oauth2/token",
        user_info_url: "https://discord.com/api/users/@me",
        scopes: &["identify", "email"],
        pkce: true,
        client_auth: ClientAuth::Basic,
    },
    oidc("oidc"),
    oidc("oidc2"),
    oidc("oidc3"),
];

/// Apple's `id_token` issuer.
pub const APPLE_ISSUER: &str = "https://appleid.apple.com";

/// Clock skew tolerated on `id_token` time claims (PocketBase's default).
const ID_TOKEN_LEEWAY_SECS: i64 = 300;

/// Longest provider user id accepted, in bytes.
pub const MAX_USER_ID_BYTES: usize = 255;

/// The built-in provider called `name`.
pub fn builtin(name: &str) -> Option<&'static Builtin> {
    BUILTINS.iter().find(|b| b.name == name)
}

/// A collection's provider: its config merged over the built-in defaults.
#[derive(Debug, Clone)]
pub struct Provider {
    pub name: String,
    pub kind: Kind,
    pub display_name: String,
    pub client_id: String,
    pub client_secret: Secret,
    pub auth_url: String,
    pub token_url: String,
    /// Empty: read the user from the `id_token` (Apple, OIDC without one).
    pub user_info_url: String,
    pub scopes: Vec<String>,
    pub pkce: bool,
    pub client_auth: ClientAuth,
    pub extra: Map<String, Value>,
}

fn or_default(configured: &str, default: &str) -> String {
    let c = configured.trim();
    if c.is_empty() {
        default.to_owned()
    } else {
        c.to_owned()
    }
}

impl Provider {
    /// Resolves a configured provider; `None` for an unknown name (config
    /// validation rejects those, so this only guards hand-built configs).
    pub fn from_config(cfg: &ProviderConfig) -> Option<Self> {
        let b = builtin(cfg.name.trim())?;
        let mut scopes: Vec<String> = b.scopes.iter().map(|s| (*s).to_owned()).collect();
        let extra = cfg.extra.clone();
        // Microsoft only sends an id_token (for the email claim options) with `openid`.
        if b.kind == Kind::Microsoft
            && microsoft_email_claim(&extra).is_some()
            && !scopes.iter().any(|s| s == "openid")
        {
            scopes.push("openid".into());
        }
        Some(Self {
            name: b.name.to_owned(),
            kind: b.kind,
            display_name: or_default(&cfg.display_name, b.display_name),
            client_id: cfg.client_id.clone(),
            client_secret: cfg.client_secret.clone(),
            auth_url: or_default(&cfg.auth_url, b.auth_url),
            token_url: or_default(&cfg.token_url, b.token_url),
            user_info_url: or_default(&cfg.user_info_url, b.user_info_url),
            scopes,
            pkce: cfg.pkce.unwrap_or(b.pkce),
            client_auth: b.client_auth,
            extra,
        })
    }

    /// The authorization URL for `auth-methods`, PocketBase's shape: the
    /// query in key order, then an empty `redirect_uri=` for the client to
    /// complete.
    pub fn authorization_url(&self, state: &str, code_challenge: Option<&str>) -> String {
        let scope = self.scopes.join(" ");
        let mut pairs: Vec<(&str, &str)> = vec![
            ("client_id", &self.client_id),
            ("response_type", "code"),
            ("state", state),
        ];
        if !scope.is_empty() {
            pairs.push(("scope", &scope));
        }
        if let Some(challenge) = code_challenge {
            pairs.push(("code_challenge", challenge));
            pairs.push(("code_challenge_method", "S256"));
        }
        if self.kind == Kind::Apple {
            // Apple requires form_post when name or email scopes are requested.
            pairs.push(("response_mode", "form_post"));
        }
        pairs.sort_by_key(|(k, _)| *k);
        let query = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish();
        let sep = if self.auth_url.contains('?') {
            '&'
        } else {
            '?'
        };
        format!("{}{sep}{query}&redirect_uri=", self.auth_url)
    }
}

/// The PKCE S256 challenge of a verifier: base64url(sha256(verifier)), unpadded.
pub fn pkce_challenge(verifier: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// Checks a collection's provider list: known names, no duplicates, client
/// credentials present, absolute http(s) URLs, and the endpoints a generic
/// `oidc` provider cannot do without. Returns `(index, field, message)`.
pub fn check_providers(providers: &[ProviderConfig]) -> Result<(), (usize, &'static str, String)> {
    for (j, p) in providers.iter().enumerate() {
        let name = p.name.trim();
        let Some(b) = builtin(name) else {
            let known: Vec<&str> = BUILTINS.iter().map(|b| b.name).collect();
            return Err((
                j,
                "name",
                format!("unknown provider {name:?} (known: {})", known.join(", ")),
            ));
        };
        if providers[..j].iter().any(|o| o.name.trim() == name) {
            return Err((j, "name", format!("provider {name:?} is listed twice")));
        }
        if p.client_id.trim().is_empty() {
            return Err((j, "clientId", "cannot be blank".into()));
        }
        if p.client_secret.is_empty() {
            return Err((j, "clientSecret", "cannot be blank".into()));
        }
        for (field, value) in [
            ("authURL", &p.auth_url),
            ("tokenURL", &p.token_url),
            ("userInfoURL", &p.user_info_url),
        ] {
            if !value.trim().is_empty() && !is_http_url(value.trim()) {
                return Err((j, field, "must be an absolute http(s) URL".into()));
            }
        }
        if b.kind == Kind::Oidc {
            if p.auth_url.trim().is_empty() {
                return Err((j, "authURL", format!("required for provider {name:?}")));
            }
            if p.token_url.trim().is_empty() {
                return Err((j, "tokenURL", format!("required for provider {name:?}")));
            }
        }
    }
    Ok(())
}

fn is_http_url(s: &str) -> bool {
    url::Url::parse(s)
        .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
}

// ---------------------------------------------------------------------------
// What travels through the port.

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

// ---------------------------------------------------------------------------
// Users.

/// The provider's user, normalised.
#[derive(Clone, PartialEq)]
pub struct AuthUser {
    /// The provider's stable user id (never empty).
    pub id: String,
    pub name: String,
    pub username: String,
    /// The email the provider reported (possibly unverified; may be empty).
    pub email: String,
    /// Whether the provider vouches that the user owns `email`.
    pub email_verified: bool,
    pub avatar_url: String,
    /// The provider's user JSON as received.
    pub raw: Value,
}

impl fmt::Debug for AuthUser {
    // Personal data stays out of logs: the id and flags are enough to debug.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthUser")
            .field("id", &self.id)
            .field("email_verified", &self.email_verified)
            .finish_non_exhaustive()
    }
}

impl AuthUser {
    /// The email only when the provider verified it (PocketBase's `email`).
    pub fn verified_email(&self) -> &str {
        if self.email_verified {
            &self.email
        } else {
            ""
        }
    }
}

/// Why a user could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UserError {
    #[error("user-info request failed: {0}")]
    Http(#[from] HttpError),
    #[error("invalid user data: {0}")]
    Invalid(String),
}

fn invalid(msg: impl Into<String>) -> UserError {
    UserError::Invalid(msg.into())
}

fn text(v: &Value, key: &str) -> String {
    match v.get(key) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    }
}

/// PocketBase's `cast.ToBool` for claims sent as bool or string (Apple sends "true").
fn truthy(v: &Value, key: &str) -> bool {
    match v.get(key) {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => matches!(s.trim(), "true" | "1" | "TRUE" | "True" | "t" | "T"),
        Some(Value::Number(n)) => n.as_f64().is_some_and(|f| f != 0.0),
        _ => false,
    }
}

/// Maps a provider's raw user JSON (user-info answer or `id_token` claims).
/// GitHub's email comes separately (see [`github_verified_primary_email`]);
/// Microsoft's optional `id_token` email claims are applied by
/// [`fetch_user`].
pub fn map_user(kind: Kind, raw: &Value) -> Result<AuthUser, UserError> {
    if !raw.is_object() {
        return Err(invalid("user data is not a JSON object"));
    }
    let mut user = AuthUser {
        id: String::new(),
        name: String::new(),
        username: String::new(),
        email: String::new(),
        email_verified: false,
        avatar_url: String::new(),
        raw: raw.clone(),
    };
    match kind {
        Kind::Google => {
            user.id = text(raw, "sub");
            user.name = text(raw, "name");
            user.avatar_url = text(raw, "picture");
            user.email = text(raw, "email");
            user.email_verified = truthy(raw, "email_verified");
        }
        Kind::Oidc => {
            user.id = text(raw, "sub");
            user.name = text(raw, "name");
            user.username = text(raw, "preferred_username");
            user.avatar_url = text(raw, "picture");
            user.email = text(raw, "email");
            user.email_verified = truthy(raw, "email_verified");
        }
        Kind::Apple => {
            // Apple sends the name only in the first form_post redirect, never here.
            user.id = text(raw, "sub");
            user.name = text(raw, "name");
            user.email = text(raw, "email");
            user.email_verified = truthy(raw, "email_verified");
        }
        Kind::Github => {
            user.id = text(raw, "id");
            user.name = text(raw, "name");
            user.username = text(raw, "login");
            user.avatar_url = text(raw, "avatar_url");
        }
        Kind::Gitlab => {
            user.id = text(raw, "id");
            user.name = text(raw, "name");
            user.username = text(raw, "username");
            user.avatar_url = text(raw, "avatar_url");
            user.email = text(raw, "email");
            // GitLab confirms the primary email before `confirmed_at` is set.
            user.email_verified =
                chrono::DateTime::parse_from_rfc3339(&text(raw, "confirmed_at")).is_ok();
        }
        Kind::Facebook => {
            user.id = text(raw, "id");
            user.name = text(raw, "name");
            user.avatar_url = raw
                .pointer("/picture/data/url")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            // The Graph API only returns confirmed emails (PocketBase trusts it too).
            user.email = text(raw, "email");
            user.email_verified = !user.email.is_empty();
        }
        Kind::Microsoft => {
            user.id = text(raw, "id");
            user.name = text(raw, "displayName");
            // **Authgate:** Graph's `mail` is not verified (any tenant admin can
            // set it), so it never links accounts unless an `idTokenEmailClaim`
            // is configured. PocketBase trusts it by default.
            user.email = text(raw, "mail");
            user.email_verified = false;
        }
        Kind::Discord => {
            user.id = text(raw, "id");
            user.username = text(raw, "username");
            let global = text(raw, "global_name");
            user.name = if global.is_empty() {
                let disc = text(raw, "discriminator");
                if disc.is_empty() || disc == "0" {
                    user.username.clone()
                } else {
                    format!("{}#{disc}", user.username)
                }
            } else {
                global
            };
            let avatar = text(raw, "avatar");
            if !avatar.is_empty() {
                user.avatar_url = format!(
                    "https://cdn.discordapp.com/avatars/{}/{avatar}.png",
                    user.id
                );
            }
            user.email = text(raw, "email");
            user.email_verified = truthy(raw, "verified");
        }
    }
    if user.id.is_empty() {
        return Err(invalid("the provider sent no user id"));
    }
    // The id keys the identity link in the store: bounded, so no provider
    // answer can make a store key too long (OpenID Connect Core §2 caps
    // `sub` at 255 ASCII characters; every built-in provider's ids fit).
    if user.id.len() > MAX_USER_ID_BYTES {
        return Err(invalid("the provider's user id is too long"));
    }
    if user.email.is_empty() {
        user.email_verified = false;
    }
    Ok(user)
}

/// The verified primary address from GitHub's `GET /user/emails`.
pub fn github_verified_primary_email(emails: &Value) -> Option<String> {
    emails.as_array()?.iter().find_map(|e| {
        (truthy(e, "verified") && truthy(e, "primary"))
            .then(|| text(e, "email"))
            .filter(|s| !s.is_empty())
    })
}

/// The claims of a JWT, read without checking its signature.
pub fn jwt_claims(token: &str) -> Option<Map<String, Value>> {
    let mut parts = token.split('.');
    let (_header, payload, _sig) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    match serde_json::from_slice(&bytes).ok()? {
        Value::Object(m) => Some(m),
        _ => None,
    }
}

/// Checks an `id_token`'s claims: `aud` must name the client, `exp` (when
/// `require_exp`, or present) must lie ahead and `iat` not in the future,
/// `iss` must be one of `issuers` when any are given.
///
/// The signature is **not** checked: the token came straight from the
/// provider's token endpoint over TLS, which OpenID Connect Core §3.1.3.7
/// accepts in place of a signature check. Verifying against the provider's
/// JWKS would need an extra fetch per login and is not done.
pub fn check_id_token(
    claims: &Map<String, Value>,
    client_id: &str,
    issuers: &[String],
    require_exp: bool,
    now: Timestamp,
) -> Result<(), UserError> {
    let now = now.seconds();
    let aud_ok = match claims.get("aud") {
        Some(Value::String(a)) => a == client_id,
        Some(Value::Array(list)) => list.iter().any(|a| a.as_str() == Some(client_id)),
        _ => false,
    };
    if !aud_ok {
        return Err(invalid("id_token audience mismatch"));
    }
    // The times are the provider's numbers: any size, so saturating.
    match claims.get("exp").map(claim_secs) {
        Some(None) => return Err(invalid("id_token exp is not a number")),
        Some(Some(exp)) if exp.saturating_add(ID_TOKEN_LEEWAY_SECS) <= now => {
            return Err(invalid("id_token expired"));
        }
        None if require_exp => return Err(invalid("id_token without exp")),
        _ => {}
    }
    match claims.get("iat").map(claim_secs) {
        Some(None) => return Err(invalid("id_token iat is not a number")),
        Some(Some(iat)) if iat.saturating_sub(ID_TOKEN_LEEWAY_SECS) > now => {
            return Err(invalid("id_token issued in the future"));
        }
        _ => {}
    }
    if !issuers.is_empty() {
        let iss = claims
            .get("iss")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if !issuers.iter().any(|i| i == iss) {
            return Err(invalid("id_token issuer not allowed"));
        }
    }
    Ok(())
}

/// A JWT NumericDate claim in whole seconds; `None` when it is not a number.
fn claim_secs(v: &Value) -> Option<i64> {
    v.as_f64().and_then(secs_from_f64)
}

/// Seconds as `i64`, clamped: infinities and values out of range become
/// `i64::MIN`/`i64::MAX` (what `as` does), NaN is refused.
fn secs_from_f64(f: f64) -> Option<i64> {
    (!f.is_nan()).then_some(f as i64)
}

fn string_list(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        Some(Value::String(s)) if !s.is_empty() => vec![s.clone()],
        _ => Vec::new(),
    }
}

/// Microsoft's `extra.idTokenEmailClaim` (PocketBase's option names).
fn microsoft_email_claim(extra: &Map<String, Value>) -> Option<&str> {
    extra
        .get("idTokenEmailClaim")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

/// Applies Microsoft's `idTokenEmailClaim` option: which `id_token` claim
/// holds an email Microsoft verified.
fn microsoft_id_token_email(
    user: &mut AuthUser,
    option: &str,
    claims: Option<&Map<String, Value>>,
) {
    let Some(c) = claims else {
        return;
    };
    let get = |k: &str| c.get(k).and_then(Value::as_str).unwrap_or_default();
    let primary = get("verified_primary_email");
    let edov = if c.get("xms_edov").is_some_and(|v| match v {
        Value::Bool(b) => *b,
        Value::String(s) => s == "true" || s == "1",
        _ => false,
    }) {
        get("email")
    } else {
        ""
    };
    let email = match option {
        "any_verified" => {
            if primary.is_empty() {
                edov
            } else {
                primary
            }
        }
        "verified_primary_email" => primary,
        "email_and_xms_edov" => edov,
        "email" => get("email"),
        _ => "",
    };
    if !email.is_empty() {
        user.email = email.to_owned();
        user.email_verified = true;
    }
}

/// Why a login could not get the provider's user.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The code exchange failed (bad code, verifier, redirect URL, …).
    #[error("token exchange failed: {0}")]
    Token(HttpError),
    /// The token was issued but the user could not be read.
    #[error("{0}")]
    User(UserError),
}

/// Exchanges the code and reads the provider's user: from the user-info
/// endpoint, or from the `id_token` (Apple; OIDC without a user-info URL).
pub async fn fetch_user(
    client: &dyn OAuth2Client,
    provider: &Provider,
    code: &str,
    code_verifier: &str,
    redirect_url: &str,
    now: Timestamp,
) -> Result<(AuthUser, OAuth2Token), FetchError> {
    let request = TokenRequest {
        token_url: &provider.token_url,
        client_id: &provider.client_id,
        client_secret: &provider.client_secret,
        client_auth: provider.client_auth,
        code,
        code_verifier: (provider.pkce && !code_verifier.is_empty()).then_some(code_verifier),
        redirect_url,
    };
    let token = client
        .exchange_code(&request)
        .await
        .map_err(FetchError::Token)?;
    let user = read_user(client, provider, &token, now)
        .await
        .map_err(FetchError::User)?;
    Ok((user, token))
}

async fn read_user(
    client: &dyn OAuth2Client,
    provider: &Provider,
    token: &OAuth2Token,
    now: Timestamp,
) -> Result<AuthUser, UserError> {
    let access = token.access_token.expose();
    let id_token_claims = || -> Result<Map<String, Value>, UserError> {
        let claims = jwt_claims(token.id_token.expose())
            .ok_or_else(|| invalid("missing or malformed id_token"))?;
        Ok(claims)
    };
    match provider.kind {
        Kind::Apple => {
            let claims = id_token_claims()?;
            check_id_token(
                &claims,
                &provider.client_id,
                &[APPLE_ISSUER.to_owned()],
                true,
                now,
            )?;
            map_user(Kind::Apple, &Value::Object(claims))
        }
        Kind::Oidc if provider.user_info_url.is_empty() => {
            let claims = id_token_claims()?;
            let issuers = string_list(provider.extra.get("issuers"));
            check_id_token(&claims, &provider.client_id, &issuers, false, now)?;
            map_user(Kind::Oidc, &Value::Object(claims))
        }
        Kind::Github => {
            let raw = client.get_json(&provider.user_info_url, access).await?;
            let mut user = map_user(Kind::Github, &raw)?;
            // Always ask for the verified primary address: the profile's
            // `email` may be private, absent or (on Enterprise) unverified.
            let emails_url = format!("{}/emails", provider.user_info_url.trim_end_matches('/'));
            match client.get_json(&emails_url, access).await {
                Ok(list) => {
                    if let Some(email) = github_verified_primary_email(&list) {
                        user.email = email;
                        user.email_verified = true;
                    }
                }
                // Missing `user:email` scope: the user simply has no email.
                Err(HttpError::Status(401 | 403 | 404)) => {}
                Err(e) => return Err(e.into()),
            }
            Ok(user)
        }
        Kind::Microsoft => {
            let raw = client.get_json(&provider.user_info_url, access).await?;
            let mut user = map_user(Kind::Microsoft, &raw)?;
            if let Some(option) = microsoft_email_claim(&provider.extra) {
                let claims = jwt_claims(token.id_token.expose());
                let claims = claims
                    .filter(|c| check_id_token(c, &provider.client_id, &[], false, now).is_ok());
                microsoft_id_token_email(&mut user, option, claims.as_ref());
            }
            Ok(user)
        }
        kind => {
            let raw = client.get_json(&provider.user_info_url, access).await?;
            map_user(kind, &raw)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fixture(name: &str) -> Value {
        let path = format!(
            "{}/../../tests/fixtures/oauth2/{name}.json",
            env!("CARGO_MANIFEST_DIR")
        );
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    fn config(name: &str) -> ProviderConfig {
        ProviderConfig {
            name: name.into(),
            client_id: "cid".into(),
            client_secret: Secret::new("shh"),
            ..Default::default()
        }
    }

    struct Case {
        kind: Kind,
        fixture: &'static str,
        id: &'static str,
        name: &'static str,
        username: &'static str,
        email: &'static str,
        verified: bool,
        avatar: &'static str,
    }

    #[test]
    fn each_builtin_provider_maps_its_recorded_user_json() {
        let cases = [
            Case {
                kind: Kind::Google,
                fixture: "google",
                id: "109876543210987654321",
                name: "Jane Doe",
                username: "",
                email: "jane.doe@gmail.com",
                verified: true,
                avatar: "https://lh3.googleusercontent.com/a/ACg8ocJ-example=s96-c",
            },
            Case {
                kind: Kind::Github,
                fixture: "github",
                id: "1234567",
                name: "Monalisa Octocat",
                username: "octocat",
                email: "",
                verified: false,
                avatar: "https://avatars.githubusercontent.com/u/1234567?v=4",
            },
            Case {
                kind: Kind::Facebook,
                fixture: "facebook",
                id: "10160000000000001",
                name: "Jane Doe",
                username: "",
                email: "jane@example.com",
                verified: true,
                avatar: "https://platform-lookaside.fbsbx.com/platform/profilepic/?asid=10160000000000001&height=200&width=200",
            },
            Case {
                kind: Kind::Microsoft,
                fixture: "microsoft",
                id: "87d349ed-44d7-43e1-9a83-5f2406dee5bd",
                name: "Megan Bowen",
                username: "",
                email: "MeganB@contoso.example",
                verified: false,
                avatar: "",
            },
            Case {
                kind: Kind::Gitlab,
                fixture: "gitlab",
                id: "4242",
                name: "John Smith",
                username: "john_smith",
                email: "john@example.com",
                verified: true,
                avatar: "https://gitlab.example/uploads/-/system/user/avatar/4242/avatar.png",
            },
            Case {
                kind: Kind::Discord,
                fixture: "discord",
                id: "80351110224678912",
                name: "Nelly",
                username: "nelly",
                email: "nelly@discord.example",
                verified: true,
                avatar: "https://cdn.discordapp.com/avatars/80351110224678912/8342729096ea3675442027381ff50dfe.png",
            },
            Case {
                kind: Kind::Apple,
                fixture: "apple",
                id: "001234.0a1b2c3d4e5f60718293a4b5c6d7e8f9.1234",
                name: "",
                username: "",
                email: "abc123xyz@privaterelay.appleid.com",
                verified: true,
                avatar: "",
            },
            Case {
                kind: Kind::Oidc,
                fixture: "oidc",
                id: "248289761001",
                name: "Jane Doe",
                username: "j.doe",
                email: "janedoe@example.com",
                verified: true,
                avatar: "http://example.com/janedoe/me.jpg",
            },
        ];
        for c in cases {
            let raw = fixture(c.fixture);
            let u = map_user(c.kind, &raw).unwrap_or_else(|e| panic!("{}: {e}", c.fixture));
            let got = (
                u.id.as_str(),
                u.name.as_str(),
                u.username.as_str(),
                u.email.as_str(),
                u.email_verified,
                u.avatar_url.as_str(),
            );
            let want = (c.id, c.name, c.username, c.email, c.verified, c.avatar);
            assert_eq!(got, want, "mapping of the {} fixture", c.fixture);
            assert_eq!(u.raw, raw, "{}: raw user kept as received", c.fixture);
        }
    }

    #[test]
    fn unverified_or_unconfirmed_emails_are_never_reported_verified() {
        let cases = [
            (
                Kind::Google,
                json!({"sub":"1","email":"a@x.test","email_verified":false}),
            ),
            (
                Kind::Oidc,
                json!({"sub":"1","email":"a@x.test","email_verified":"false"}),
            ),
            (Kind::Apple, json!({"sub":"1","email":"a@x.test"})),
            (
                Kind::Gitlab,
                json!({"id":1,"email":"a@x.test","confirmed_at":null}),
            ),
            (
                Kind::Discord,
                json!({"id":"1","email":"a@x.test","verified":false}),
            ),
            (Kind::Microsoft, json!({"id":"1","mail":"a@x.test"})),
        ];
        for (kind, raw) in cases {
            let u = map_user(kind, &raw).expect("maps");
            assert_eq!(u.email, "a@x.test", "{kind:?} keeps the reported email");
            assert!(!u.email_verified, "{kind:?} must not vouch for {raw}");
            assert_eq!(u.verified_email(), "", "{kind:?}");
        }
    }

    #[test]
    fn a_user_without_an_id_is_rejected() {
        for kind in [Kind::Google, Kind::Github, Kind::Oidc, Kind::Discord] {
            assert!(
                map_user(kind, &json!({"email":"a@x.test"})).is_err(),
                "{kind:?}"
            );
        }
        assert!(map_user(Kind::Google, &json!([1, 2])).is_err());
    }

    #[test]
    fn discord_falls_back_to_username_and_legacy_discriminator() {
        let u = map_user(
            Kind::Discord,
            &json!({"id":"1","username":"old","discriminator":"1234"}),
        )
        .expect("maps");
        assert_eq!((u.name.as_str(), u.avatar_url.as_str()), ("old#1234", ""));
    }

    #[test]
    fn github_uses_only_the_verified_primary_email() {
        let emails = fixture("github_emails");
        assert_eq!(
            github_verified_primary_email(&emails).as_deref(),
            Some("octocat@github.example")
        );
        let none = json!([{"email":"a@x.test","verified":false,"primary":true},{"email":"b@x.test","verified":true,"primary":false}]);
        assert_eq!(github_verified_primary_email(&none), None);
    }

    #[test]
    fn the_pkce_challenge_is_rfc7636_s256() {
        // RFC 7636 appendix B.
        assert_eq!(
            pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn the_authorization_url_has_sorted_params_and_ends_with_redirect_uri() {
        let p = Provider::from_config(&config("github")).expect("known");
        let url = p.authorization_url("st8", Some("chal"));
        assert_eq!(
            url,
            "https://github.com/login/oauth/authorize?client_id=cid&code_challenge=chal&code_challenge_method=S256&response_type=code&scope=read%3Auser+user%3Aemail&state=st8&redirect_uri="
        );
        let mut cfg = config("oidc");
        cfg.auth_url = "https://id.example/auth?tenant=t1".into();
        cfg.token_url = "https://id.example/token".into();
        let p = Provider::from_config(&cfg).expect("known");
        let url = p.authorization_url("s", None);
        assert!(
            url.starts_with("https://id.example/auth?tenant=t1&client_id=cid&"),
            "{url}"
        );
        assert!(!url.contains("code_challenge"), "{url}");
        let apple = Provider::from_config(&config("apple")).expect("known");
        assert!(apple
            .authorization_url("s", None)
            .contains("&response_mode=form_post&"));
    }

    #[test]
    fn configured_values_override_builtin_defaults() {
        let mut cfg = config("google");
        cfg.display_name = "Sign in with G".into();
        cfg.pkce = Some(false);
        cfg.user_info_url = "https://proxy.example/userinfo".into();
        let p = Provider::from_config(&cfg).expect("known");
        assert_eq!(p.display_name, "Sign in with G");
        assert!(!p.pkce);
        assert_eq!(p.user_info_url, "https://proxy.example/userinfo");
        assert_eq!(p.token_url, "https://oauth2.googleapis.com/token");
        assert!(Provider::from_config(&config("myspace")).is_none());
        let mut ms = config("microsoft");
        ms.extra
            .insert("idTokenEmailClaim".into(), json!("verified_primary_email"));
        let p = Provider::from_config(&ms).expect("known");
        assert!(p.scopes.iter().any(|s| s == "openid"));
    }

    #[test]
    fn provider_config_errors_name_the_field() {
        let mut dup = vec![config("github"), config("github")];
        assert_eq!(
            check_providers(&dup).map_err(|e| (e.0, e.1)),
            Err((1, "name"))
        );
        dup[1].name = "myspace".into();
        assert_eq!(
            check_providers(&dup).map_err(|e| (e.0, e.1)),
            Err((1, "name"))
        );
        let oidc = vec![config("oidc")];
        assert_eq!(check_providers(&oidc).map_err(|e| e.1), Err("authURL"));
        let mut bad_url = config("google");
        bad_url.token_url = "ftp://x".into();
        assert_eq!(
            check_providers(&[bad_url]).map_err(|e| e.1),
            Err("tokenURL")
        );
        let mut no_secret = config("google");
        no_secret.client_secret = Secret::default();
        assert_eq!(
            check_providers(&[no_secret]).map_err(|e| e.1),
            Err("clientSecret")
        );
        let mut ok = config("oidc2");
        ok.auth_url = "http://127.0.0.1:1/authorize".into();
        ok.token_url = "http://127.0.0.1:1/token".into();
        assert!(check_providers(&[ok, config("apple")]).is_ok());
    }

    fn jwt(claims: Value) -> String {
        let b64 = |v: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
        format!(
            "{}.{}.sig",
            b64(br#"{"alg":"RS256"}"#),
            b64(claims.to_string().as_bytes())
        )
    }

    #[test]
    fn id_token_claims_are_decoded_and_checked() {
        let now = Timestamp(1_800_000_000_000);
        let good = json!({"iss": APPLE_ISSUER, "aud": "cid", "exp": 1_800_000_600, "iat": 1_799_999_990, "sub": "u1"});
        let claims = jwt_claims(&jwt(good.clone())).expect("decodes");
        assert_eq!(Value::Object(claims.clone()), good);
        let apple = [APPLE_ISSUER.to_owned()];
        assert!(check_id_token(&claims, "cid", &apple, true, now).is_ok());
        let cases = [
            (
                json!({"iss": APPLE_ISSUER, "aud": "other", "exp": 1_800_000_600}),
                "audience",
            ),
            (
                json!({"iss": APPLE_ISSUER, "aud": "cid", "exp": 1_799_999_000}),
                "expired",
            ),
            (json!({"iss": APPLE_ISSUER, "aud": "cid"}), "no exp"),
            (
                json!({"iss": "https://evil.example", "aud": ["cid"], "exp": 1_800_000_600}),
                "issuer",
            ),
        ];
        for (claims, why) in cases {
            let claims = jwt_claims(&jwt(claims)).expect("decodes");
            assert!(
                check_id_token(&claims, "cid", &apple, true, now).is_err(),
                "{why} must be rejected"
            );
        }
        assert!(jwt_claims("not-a-jwt").is_none());
        assert!(jwt_claims("a.b").is_none());
    }

    #[test]
    fn huge_or_odd_id_token_times_are_judged_without_overflow() {
        let now = Timestamp(1_800_000_000_000);
        let check = |claims: Value| {
            let claims = jwt_claims(&jwt(claims)).expect("decodes");
            check_id_token(&claims, "cid", &[], true, now).map_err(|e| e.to_string())
        };
        // Far future expiry, far past issue: valid.
        assert_eq!(
            check(json!({"aud": "cid", "exp": 1e300, "iat": -1e300})),
            Ok(())
        );
        assert_eq!(
            check(json!({"aud": "cid", "exp": i64::MAX, "iat": i64::MIN})),
            Ok(())
        );
        assert_eq!(check(json!({"aud": "cid", "exp": u64::MAX})), Ok(()));
        // Far past expiry, far future issue: rejected.
        let cases = [
            (json!({"aud": "cid", "exp": -1e300}), "expired"),
            (json!({"aud": "cid", "exp": i64::MIN}), "expired"),
            (json!({"aud": "cid", "exp": 1e300, "iat": 1e300}), "future"),
            (
                json!({"aud": "cid", "exp": 1e300, "iat": i64::MAX}),
                "future",
            ),
            (json!({"aud": "cid", "exp": "1e300"}), "not a number"),
            (
                json!({"aud": "cid", "exp": 1e300, "iat": "0"}),
                "not a number",
            ),
        ];
        for (claims, why) in cases {
            let got = check(claims.clone());
            assert!(
                got.as_ref().is_err_and(|e| e.contains(why)),
                "{claims}: want {why}, got {got:?}"
            );
        }
        // Within the leeway either side.
        let edge = json!({"aud": "cid", "exp": 1_800_000_000 - 299, "iat": 1_800_000_000 + 300});
        assert_eq!(check(edge), Ok(()));
        let late = json!({"aud": "cid", "exp": 1_800_000_000 - 300});
        assert!(check(late).is_err());
        let early = json!({"aud": "cid", "exp": 1e300, "iat": 1_800_000_000 + 301});
        assert!(check(early).is_err());
        // NaN and infinities cannot come from JSON; the conversion clamps anyway.
        assert_eq!(secs_from_f64(f64::NAN), None);
        assert_eq!(secs_from_f64(f64::INFINITY), Some(i64::MAX));
        assert_eq!(secs_from_f64(f64::NEG_INFINITY), Some(i64::MIN));
        assert_eq!(claim_secs(&json!(-1e300)), Some(i64::MIN));
        assert_eq!(claim_secs(&json!(1e300)), Some(i64::MAX));
        assert_eq!(claim_secs(&json!(1.9)), Some(1));
    }

    #[test]
    fn an_overlong_provider_user_id_is_rejected() {
        let ok = "1".repeat(MAX_USER_ID_BYTES);
        assert!(map_user(Kind::Oidc, &json!({"sub": ok})).is_ok());
        let long = "1".repeat(MAX_USER_ID_BYTES + 1);
        assert!(map_user(Kind::Oidc, &json!({"sub": long})).is_err());
        assert!(map_user(Kind::Github, &json!({"id": long})).is_err());
    }

    #[test]
    fn microsoft_id_token_email_options_mark_the_email_verified() {
        let claims =
            json!({"email":"e@x.test","xms_edov":true,"verified_primary_email":"p@x.test"});
        let claims = claims.as_object().cloned();
        for (option, want) in [
            ("verified_primary_email", "p@x.test"),
            ("email_and_xms_edov", "e@x.test"),
            ("any_verified", "p@x.test"),
            ("email", "e@x.test"),
        ] {
            let mut u =
                map_user(Kind::Microsoft, &json!({"id":"1","mail":"m@x.test"})).expect("maps");
            microsoft_id_token_email(&mut u, option, claims.as_ref());
            assert_eq!(
                (u.email.as_str(), u.email_verified),
                (want, true),
                "{option}"
            );
        }
    }
}
