//! `GET auth-methods`: which ways of logging in a collection offers.

use serde_json::{json, Value};

use crate::config::Collection;
use crate::error::Result;

use super::Ctx;

/// The auth-methods body. OAuth2 providers are listed by the OAuth2 service
/// (each with a fresh PKCE verifier and state) once configured.
pub fn auth_methods(_ctx: &Ctx, collection: &Collection) -> Result<Value> {
    let password = &collection.password_auth;
    let duration = |enabled: bool, d: i64| if enabled { d } else { 0 };
    Ok(json!({
        "password": {
            "enabled": password.enabled,
            "identityFields": if password.enabled { password.identity_fields.clone() } else { Vec::new() },
        },
        "oauth2": {
            "enabled": collection.oauth2.enabled,
            "providers": [],
        },
        "mfa": {
            "enabled": collection.mfa.enabled,
            "duration": duration(collection.mfa.enabled, collection.mfa.duration),
        },
        "otp": {
            "enabled": collection.otp.enabled,
            "duration": duration(collection.otp.enabled, collection.otp.duration),
        },
    }))
}
