//! The checks every endpoint makes before it reads its body, in
//! PocketBase's order: the collection exists and is an auth collection
//! (404), then the login method the endpoint serves is enabled (403, or 400
//! for password reset, as PocketBase answers there). The HTTP layer runs
//! them in its extractors, so services can rely on them.

use crate::config::{AppConfig, Collection, CollectionKind};
use crate::error::{Error, Result};

/// Finds an auth collection by id or name; 404s otherwise (PocketBase's
/// messages: this check comes before anything else).
pub fn auth_collection<'a>(cfg: &'a AppConfig, id_or_name: &str) -> Result<&'a Collection> {
    let c = cfg
        .collection(id_or_name)
        .ok_or_else(Error::missing_collection)?;
    if c.kind != CollectionKind::Auth {
        return Err(Error::missing_auth_collection());
    }
    Ok(c)
}

/// What an endpoint needs the collection to allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requirement {
    /// `auth-with-password`: 403 when password auth is off.
    PasswordAuth,
    /// `request-password-reset`: the same switch, but PocketBase answers 400.
    PasswordReset,
    /// `request-otp`, `auth-with-otp`.
    Otp,
    /// `auth-with-oauth2`.
    OAuth2,
}

impl Requirement {
    /// `Ok` when `collection` allows it.
    pub fn check(self, collection: &Collection) -> Result<()> {
        let (enabled, what) = match self {
            Self::PasswordAuth | Self::PasswordReset => {
                (collection.password_auth.enabled, "password")
            }
            Self::Otp => (collection.otp.enabled, "OTP"),
            Self::OAuth2 => (collection.oauth2.enabled, "OAuth2"),
        };
        if enabled {
            return Ok(());
        }
        let message = format!("The collection is not configured to allow {what} authentication.");
        Err(match self {
            Self::PasswordReset => Error::bad_request(message),
            _ => Error::Forbidden(message),
        })
    }
}
