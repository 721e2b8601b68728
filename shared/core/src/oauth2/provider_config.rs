//! One provider as a collection's config names it (PocketBase's
//! `oauth2.providers[]` shape), and the checks that list must pass.

use serde::Deserialize;
use serde_json::Value;

use super::id_token::check_email_claim_option;
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
/// credentials present, absolute `https` URLs (`http` only on loopback, for
/// local stand-ins), the endpoints a generic `oidc` provider cannot do
/// without, and no option that would trust an unverified email claim.
/// Returns `(index, field, message)`.
///
/// `https` is what makes the unsigned `id_token` trustworthy (see
/// [`check_id_token`](super::check_id_token)) and keeps the code, the
/// client secret and the access token off the wire.
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
            if !value.trim().is_empty() && !is_secure_url(value.trim()) {
                return Err((
                    j,
                    field,
                    "must be an absolute https URL (http only for 127.0.0.1, ::1 or localhost)"
                        .into(),
                ));
            }
        }
        if let Err(message) = check_email_claim_option(b.kind, &p.extra) {
            return Err((j, "extra.idTokenEmailClaim", message));
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

/// An absolute `https` URL, or an `http` one on a loopback host (the local
/// stand-ins of tests and `authgate serve`).
fn is_secure_url(s: &str) -> bool {
    let Ok(u) = url::Url::parse(s) else {
        return false;
    };
    let loopback = match u.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => return false,
    };
    u.scheme() == "https" || (u.scheme() == "http" && loopback)
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

    #[test]
    fn provider_urls_must_be_https_except_on_loopback() {
        let cases = [
            ("https://id.example/token", true),
            ("https://127.0.0.1:8443/token", true),
            ("http://127.0.0.1:1/token", true),
            ("http://127.1.2.3:1/token", true),
            ("http://localhost:8080/token", true),
            ("http://LOCALHOST/token", true),
            ("http://[::1]:9000/token", true),
            ("http://id.example/token", false),
            ("http://10.0.0.7/token", false),
            ("http://[::2]/token", false),
            ("http://localhost.evil.example/token", false),
            ("http://127.0.0.1.evil.example/token", false),
        ];
        for (url, ok) in cases {
            for field in ["authURL", "tokenURL", "userInfoURL"] {
                let mut p = config("google");
                match field {
                    "authURL" => p.auth_url = url.into(),
                    "tokenURL" => p.token_url = url.into(),
                    _ => p.user_info_url = url.into(),
                }
                let got = check_providers(&[p]).map_err(|e| e.1);
                let want = if ok { Ok(()) } else { Err(field) };
                assert_eq!(got, want, "{field} = {url}");
            }
        }
    }

    #[test]
    fn an_option_that_trusts_the_plain_id_token_email_claim_is_refused() {
        // nOAuth: Entra ID's plain `email` claim is whatever the user's
        // tenant admin typed; trusting it hands out any address.
        let with = |name: &str, value: serde_json::Value| {
            let mut p = config(name);
            p.extra.insert("idTokenEmailClaim".into(), value);
            check_providers(&[p]).map_err(|e| e.1)
        };
        let field = "extra.idTokenEmailClaim";
        assert_eq!(with("microsoft", "email".into()), Err(field));
        assert_eq!(with("microsoft", "emial_verified".into()), Err(field));
        assert_eq!(with("microsoft", serde_json::json!(true)), Err(field));
        for verified in [
            "verified_primary_email",
            "email_and_xms_edov",
            "any_verified",
            "",
        ] {
            assert_eq!(with("microsoft", verified.into()), Ok(()), "{verified:?}");
        }
        // Providers that never read the option must not seem to honour it.
        for other in ["oidc", "google", "apple"] {
            assert_eq!(with(other, "email".into()), Err(field), "{other}");
            assert_eq!(
                with(other, "verified_primary_email".into()),
                Err(field),
                "{other}"
            );
        }
    }
}
