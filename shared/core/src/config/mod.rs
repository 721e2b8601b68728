//! The collections config: one JSON document with `meta`, `rateLimits` and
//! `collections`, where each collection is PocketBase's own collection JSON
//! (what its "export collections" produces). Unknown keys are ignored; invalid
//! values are rejected with an error naming the path.
//!
//! This file holds the validated model that the services read. The document
//! as it arrives has its own shapes (`raw.rs`); [`AppConfig::from_json`]
//! (`validate.rs`, `collection.rs`, `fields.rs`) turns it into this model;
//! [`fill_secrets`] gives a hand-written document its token secrets before
//! that. A provider's own settings belong to [`crate::oauth2`], which is
//! why [`ProviderConfig`] is only named here.

use regex::Regex;
use serde::Deserialize;
use serde_json::Value;

mod apply;
mod collection;
pub mod defaults;
mod fields;
mod raw;
mod rules;
mod secrets;
mod validate;

pub use crate::oauth2::ProviderConfig;
pub use crate::secret::Secret;
pub use apply::{apply, load_deployed, Applied, ApplyError, ConfigWriter, Deployed};
pub use rules::{Rule, Rules};
pub use secrets::{
    collection_id, fill_secrets, has_inline_secrets, merge_secrets, rotate_token_secrets,
    secret_values, split_secrets, TOKEN_KEYS,
};

/// A config error naming where in the document it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct ConfigError {
    pub path: String,
    pub message: String,
}

fn err(path: impl Into<String>, message: impl Into<String>) -> ConfigError {
    ConfigError {
        path: path.into(),
        message: message.into(),
    }
}

#[derive(Debug, Clone)]
pub struct AppConfig {
    pub meta: Meta,
    pub rate_limits: RateLimits,
    pub collections: Vec<Collection>,
}

#[derive(Debug, Clone)]
pub struct Meta {
    pub app_name: String,
    pub app_url: String,
    pub sender_name: String,
    pub sender_address: String,
}

/// Rate limiting rules (PocketBase's `rateLimits` shape).
#[derive(Debug, Clone)]
pub struct RateLimits {
    pub enabled: bool,
    pub rules: Vec<RateLimitRule>,
    /// Failed logins allowed per account per window before 429.
    pub failed_logins_per_account: u32,
    pub failed_logins_window_secs: i64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RateLimitRule {
    pub label: String,
    pub max_requests: u32,
    pub duration: i64,
    /// `""` (everyone), `@guest` (requests without a valid auth token) or
    /// `@auth` (with one), as in PocketBase.
    #[serde(default)]
    pub audience: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CollectionKind {
    Auth,
    Base,
    View,
}

#[derive(Debug, Clone)]
pub struct Collection {
    pub id: String,
    pub name: String,
    pub kind: CollectionKind,
    /// The collection's own fields (system fields of auth collections excluded).
    pub fields: Vec<Field>,
    /// Rules of the system `password` field.
    pub password: PasswordRules,
    pub unique_fields: Vec<UniqueField>,
    pub password_auth: PasswordAuth,
    pub otp: OtpConfig,
    pub mfa: MfaConfig,
    pub oauth2: OAuth2Config,
    pub auth_alert: AuthAlert,
    /// API rules (auth collections; a base or view collection keeps the
    /// defaults, unused).
    pub rules: Rules,
    pub auth_token: TokenConfig,
    pub verification_token: TokenConfig,
    pub password_reset_token: TokenConfig,
    pub email_change_token: TokenConfig,
    pub file_token: TokenConfig,
    pub verification_template: Template,
    pub reset_password_template: Template,
    pub confirm_email_change_template: Template,
}

#[derive(Debug, Clone)]
pub struct Field {
    pub name: String,
    pub required: bool,
    pub hidden: bool,
    pub kind: FieldKind,
}

#[derive(Debug, Clone)]
pub enum FieldKind {
    Text {
        min: usize,
        max: usize,
        pattern: Option<Regex>,
    },
    Email {
        only_domains: Vec<String>,
        except_domains: Vec<String>,
    },
    Url {
        only_domains: Vec<String>,
        except_domains: Vec<String>,
    },
    Bool,
    Number {
        min: Option<f64>,
        max: Option<f64>,
        only_int: bool,
    },
    Date,
    Json {
        max_size: usize,
    },
    Select {
        values: Vec<String>,
        max_select: usize,
    },
    /// `created`/`updated`-style timestamps, filled by the server.
    Autodate {
        on_create: bool,
        on_update: bool,
    },
    /// A type Authgate accepts in the config but does not serve (file, relation, …).
    Unsupported(String),
}

/// The rules of an auth collection's `password` field, in characters.
/// `min ≤ max ≤` [`PasswordRules::CEILING`] (config validation).
#[derive(Debug, Clone)]
pub struct PasswordRules {
    pub min: usize,
    pub max: usize,
    pub pattern: Option<Regex>,
}

impl PasswordRules {
    /// The longest password any collection may allow. Config validation
    /// refuses a larger `max`, and every form that checks a password
    /// against the stored hash (auth-with-password, confirm-email-change)
    /// accepts up to this length, so each password a record can get is one
    /// it can use, even after `max` was lowered. (PocketBase's forms cap at
    /// 255 to log in and 100 to confirm an email change, whatever `max`
    /// says: a password of 101 to 255 characters could be set and never
    /// used there.)
    pub const CEILING: usize = 255;
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UniqueField {
    pub name: String,
    /// `COLLATE NOCASE`: values compare ASCII case-insensitively.
    pub nocase: bool,
}

#[derive(Debug, Clone)]
pub struct PasswordAuth {
    pub enabled: bool,
    pub identity_fields: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct OtpConfig {
    pub enabled: bool,
    pub duration: i64,
    pub length: usize,
    pub email_template: Template,
}

#[derive(Debug, Clone)]
pub struct MfaConfig {
    pub enabled: bool,
    pub duration: i64,
}

#[derive(Debug, Clone)]
pub struct AuthAlert {
    pub enabled: bool,
    pub email_template: Template,
}

#[derive(Debug, Clone, Default)]
pub struct OAuth2Config {
    pub enabled: bool,
    pub providers: Vec<ProviderConfig>,
    pub mapped_fields: MappedFields,
    /// **Authgate:** exact redirect URLs allowed in `auth-with-oauth2`. Empty
    /// means "URLs under `meta.appURL` only".
    pub redirect_urls: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct MappedFields {
    pub id: String,
    pub name: String,
    pub username: String,
    #[serde(rename = "avatarURL", alias = "avatarUrl")]
    pub avatar_url: String,
}

#[derive(Debug, Clone)]
pub struct TokenConfig {
    pub secret: Secret,
    pub duration: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    pub subject: String,
    pub body: String,
}

impl AppConfig {
    /// Finds a collection by id or name (PocketBase's `collectionIdOrName`).
    pub fn collection(&self, id_or_name: &str) -> Option<&Collection> {
        self.collections
            .iter()
            .find(|c| c.id == id_or_name)
            .or_else(|| self.collections.iter().find(|c| c.name == id_or_name))
    }

    pub fn collection_by_id(&self, id: &str) -> Option<&Collection> {
        self.collections.iter().find(|c| c.id == id)
    }

    /// The built-in config of `authgate serve` without `--config`: one
    /// `users` auth collection with password auth on `email`.
    pub fn default_document() -> Value {
        serde_json::json!({
            "meta": {
                "appName": "Authgate",
                "appURL": "http://127.0.0.1:8090",
                "senderName": "Authgate",
                "senderAddress": "no-reply@example.com"
            },
            "collections": [{
                "id": "_pb_users_auth_",
                "name": "users",
                "type": "auth",
                "fields": [
                    {"name": "name", "type": "text", "max": 255},
                    {"name": "created", "type": "autodate", "onCreate": true, "onUpdate": false},
                    {"name": "updated", "type": "autodate", "onCreate": true, "onUpdate": true}
                ],
                "passwordAuth": {"enabled": true, "identityFields": ["email"]}
            }]
        })
    }
}
