//! `GET auth-methods`: which ways of logging in a collection offers.

use serde_json::{json, Value};

use crate::config::Collection;
use crate::error::Result;
use crate::oauth2::{pkce_challenge, Provider};
use crate::random::ALNUM;

use super::Ctx;

/// The auth-methods body. Every OAuth2 provider comes with a fresh `state`
/// and PKCE verifier (the client keeps both until `auth-with-oauth2`).
/// PocketBase's legacy keys (`authProviders`, `usernamePassword`,
/// `emailPassword`, `authUrl`) are included for older SDKs.
pub fn auth_methods(ctx: &Ctx, collection: &Collection) -> Result<Value> {
    let password = &collection.password_auth;
    let duration = |enabled: bool, d: i64| if enabled { d } else { 0 };
    let identity_fields = if password.enabled {
        password.identity_fields.clone()
    } else {
        Vec::new()
    };
    let providers: Vec<Value> = if collection.oauth2.enabled {
        collection
            .oauth2
            .providers
            .iter()
            .filter_map(Provider::from_config)
            .map(|p| provider_info(ctx, &p))
            .collect()
    } else {
        Vec::new()
    };
    let has = |f: &str| password.enabled && identity_fields.iter().any(|x| x == f);
    Ok(json!({
        "password": {
            "enabled": password.enabled,
            "identityFields": identity_fields,
        },
        "oauth2": {
            "enabled": collection.oauth2.enabled,
            "providers": providers,
        },
        "mfa": {
            "enabled": collection.mfa.enabled,
            "duration": duration(collection.mfa.enabled, collection.mfa.duration),
        },
        "otp": {
            "enabled": collection.otp.enabled,
            "duration": duration(collection.otp.enabled, collection.otp.duration),
        },
        "authProviders": providers,
        "usernamePassword": has("username"),
        "emailPassword": has("email"),
    }))
}

/// One provider entry: PocketBase sends empty PKCE fields when PKCE is off.
fn provider_info(ctx: &Ctx, p: &Provider) -> Value {
    let state = ctx.random_string(30, ALNUM);
    let (verifier, challenge, method) = if p.pkce {
        // 43 alphanumerics: the shortest verifier RFC 7636 allows, ~256 bits.
        let v = ctx.random_string(43, ALNUM);
        let c = pkce_challenge(&v);
        (v, c, "S256")
    } else {
        (String::new(), String::new(), "")
    };
    let auth_url = p.authorization_url(&state, p.pkce.then_some(challenge.as_str()));
    json!({
        "name": p.name,
        "displayName": p.display_name,
        "state": state,
        "authURL": auth_url,
        "authUrl": auth_url,
        "codeVerifier": verifier,
        "codeChallenge": challenge,
        "codeChallengeMethod": method,
    })
}
