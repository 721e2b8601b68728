//! One provider as a collection's config names it (PocketBase's
//! `oauth2.providers[]` shape), and the checks that list must pass.

use serde::Deserialize;
use serde_json::Value;

use super::providers::{builtin, BUILTINS};
use crate::secret::Secret;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ProviderConfig {
    pub name: String,
    pub client_id: String,
    #[serde(deserialize_with = "secret_from_string")]
    pub client_secret: Secret,
    pub display_name: String,
    pub pkce: Option<bool>,
    #[serde(rename = "authURL", alias = "authUrl")]
    pub auth_url: String,
    #[serde(rename = "tokenURL", alias = "tokenUrl")]
    pub token_url: String,
    #[serde(rename = "userInfoURL", alias = "userInfoUrl", alias = "userApiUrl")]
    pub user_info_url: String,
    pub extra: serde_json::Map<String, Value>,
}

fn secret_from_string<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Secret, D::Error> {
    Ok(Secret::new(
        Option::<String>::deserialize(d)?.unwrap_or_default(),
    ))
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
        // An endpoint the built-in has no default for must be configured.
        for (field, default, value) in [
            ("authURL", b.auth_url, &p.auth_url),
            ("tokenURL", b.token_url, &p.token_url),
        ] {
            if default.is_empty() && value.trim().is_empty() {
                return Err((j, field, format!("required for provider {name:?}")));
            }
        }
    }
    Ok(())
}

fn is_http_url(s: &str) -> bool {
    url::Url::parse(s)
        .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
}

/// A provider config with client credentials, for tests.
#[cfg(test)]
pub(super) fn for_test(name: &str) -> ProviderConfig {
    ProviderConfig {
        name: name.into(),
        client_id: "cid".into(),
        client_secret: Secret::new("shh"),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::for_test as config;
    use super::*;

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
}
