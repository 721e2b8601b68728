//! OAuth2 providers, without HTTP: the built-in provider definitions
//! (endpoints, scopes, PKCE, and how each reads its user), the
//! authorization URL that `auth-methods` hands to clients, PKCE challenges,
//! `id_token` claims, and the mapping of each provider's user JSON to an
//! [`AuthUser`]. The bytes travel through the [`OAuth2Client`] port (HTTP
//! adapter in `authgate-adapters`).
//!
//! This module reads no other part of the collections config than its own
//! [`ProviderConfig`]; `crate::config` uses it, not the other way round.

mod client;
mod fetch;
mod id_token;
mod provider;
mod provider_config;
mod providers;
mod quirks;
mod user;

pub use client::{ClientAuth, HttpError, OAuth2Client, OAuth2Token, TokenRequest};
pub use fetch::{fetch_user, FetchError};
pub use id_token::{check_id_token, jwt_claims};
pub use provider::{pkce_challenge, Provider};
pub use provider_config::{check_providers, ProviderConfig};
pub use providers::{builtin, Builtin, Kind, APPLE_ISSUER, BUILTINS};
pub use user::{github_verified_primary_email, map_user, AuthUser, UserError, MAX_USER_ID_BYTES};
