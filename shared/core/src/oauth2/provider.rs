//! A collection's provider, resolved: its config merged over the built-in
//! defaults, and the authorization URL that `auth-methods` hands to clients.

use base64::Engine;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::client::ClientAuth;
use super::id_token::microsoft_email_claim;
use super::provider_config::ProviderConfig;
use super::providers::{builtin, Kind};
use super::quirks::UserSource;
use crate::secret::Secret;

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
        // The id_token that carries the email claim only comes with `openid`.
        if b.kind.quirks().source == UserSource::UserInfoAndIdTokenEmail
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
        if self.kind.quirks().form_post {
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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::provider_config::for_test as config;
    use super::*;

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
}
