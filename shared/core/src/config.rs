//! The collections config: one JSON document with `meta`, `rateLimits` and
//! `collections`, where each collection is PocketBase's own collection JSON
//! (what its "export collections" produces). Unknown keys are ignored; invalid
//! values are rejected with an error naming the path.

use std::fmt;

use regex::Regex;
use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::ports::Random;

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

/// A secret string whose `Debug` never shows the value.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
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

#[derive(Debug, Clone)]
pub struct PasswordRules {
    pub min: usize,
    pub max: usize,
    pub pattern: Option<Regex>,
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
    Ok(Secret(
        Option::<String>::deserialize(d)?.unwrap_or_default(),
    ))
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

    /// Parses and validates a config document. Every token secret must be
    /// present: call [`fill_secrets`] first for documents written by hand.
    pub fn from_json(doc: &Value) -> Result<Self, ConfigError> {
        let raw: RawConfig = serde_path_to_error::deserialize(doc)
            .map_err(|e| err(e.path().to_string(), e.inner().to_string()))?;
        raw.validate()
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

/// The token types whose secrets live in each auth collection.
pub const TOKEN_KEYS: [&str; 5] = [
    "authToken",
    "verificationToken",
    "passwordResetToken",
    "emailChangeToken",
    "fileToken",
];

/// Gives every auth collection's token config a secret: the one already in
/// `doc`, else the one in `existing` (matched by collection id, then name),
/// else a fresh random one. Returns how many secrets were generated.
/// Secrets are never logged or printed.
pub fn fill_secrets(doc: &mut Value, existing: Option<&Value>, rng: &dyn Random) -> usize {
    let mut generated = 0;
    let Some(collections) = doc.get_mut("collections").and_then(Value::as_array_mut) else {
        return 0;
    };
    for coll in collections.iter_mut() {
        let Some(obj) = coll.as_object_mut() else {
            continue;
        };
        if obj.get("type").and_then(Value::as_str) != Some("auth") {
            continue;
        }
        let id = obj.get("id").and_then(Value::as_str).map(str::to_owned);
        let name = obj.get("name").and_then(Value::as_str).map(str::to_owned);
        let old = existing
            .and_then(|e| e.get("collections"))
            .and_then(Value::as_array)
            .and_then(|list| {
                list.iter()
                    .find(|c| id.is_some() && c.get("id").and_then(Value::as_str) == id.as_deref())
                    .or_else(|| {
                        list.iter().find(|c| {
                            name.is_some()
                                && c.get("name").and_then(Value::as_str) == name.as_deref()
                        })
                    })
            });
        for key in TOKEN_KEYS {
            let entry = obj
                .entry(key)
                .or_insert_with(|| Value::Object(Default::default()));
            let Some(tok) = entry.as_object_mut() else {
                continue;
            };
            let has = tok
                .get("secret")
                .and_then(Value::as_str)
                .is_some_and(|s| !s.is_empty());
            if has {
                continue;
            }
            let kept = old
                .and_then(|o| o.get(key))
                .and_then(|t| t.get("secret"))
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_owned);
            let secret = match kept {
                Some(s) => s,
                None => {
                    generated += 1;
                    crate::random::secret(rng)
                }
            };
            tok.insert("secret".into(), Value::String(secret));
        }
    }
    generated
}

// ---------------------------------------------------------------------------
// Raw (wire) shapes. Everything optional; validation below gives defaults and
// path-named errors.

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct RawConfig {
    meta: RawMeta,
    rate_limits: RawRateLimits,
    collections: Vec<RawCollection>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawMeta {
    #[serde(rename = "appName")]
    app_name: Option<String>,
    #[serde(rename = "appURL", alias = "appUrl")]
    app_url: Option<String>,
    #[serde(rename = "senderName")]
    sender_name: Option<String>,
    #[serde(rename = "senderAddress")]
    sender_address: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct RawRateLimits {
    enabled: Option<bool>,
    rules: Option<Vec<RateLimitRule>>,
    failed_logins_per_account: Option<u32>,
    failed_logins_window: Option<i64>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct RawCollection {
    id: Option<String>,
    name: String,
    #[serde(rename = "type")]
    kind: Option<String>,
    fields: Vec<RawField>,
    indexes: Vec<String>,
    password_auth: RawPasswordAuth,
    otp: RawOtp,
    mfa: RawMfa,
    oauth2: RawOAuth2,
    auth_alert: RawAuthAlert,
    auth_token: RawToken,
    verification_token: RawToken,
    password_reset_token: RawToken,
    email_change_token: RawToken,
    file_token: RawToken,
    verification_template: Option<RawTemplate>,
    reset_password_template: Option<RawTemplate>,
    confirm_email_change_template: Option<RawTemplate>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct RawField {
    name: String,
    #[serde(rename = "type")]
    kind: String,
    required: bool,
    hidden: bool,
    min: Option<Value>,
    max: Option<Value>,
    pattern: Option<String>,
    only_int: bool,
    only_domains: Option<Vec<String>>,
    except_domains: Option<Vec<String>>,
    max_size: Option<u64>,
    values: Option<Vec<String>>,
    max_select: Option<u64>,
    on_create: Option<bool>,
    on_update: Option<bool>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct RawPasswordAuth {
    enabled: Option<bool>,
    identity_fields: Option<Vec<String>>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct RawOtp {
    enabled: bool,
    duration: Option<i64>,
    length: Option<i64>,
    email_template: Option<RawTemplate>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawMfa {
    enabled: bool,
    duration: Option<i64>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct RawOAuth2 {
    enabled: bool,
    providers: Vec<ProviderConfig>,
    mapped_fields: MappedFields,
    #[serde(rename = "redirectURLs", alias = "redirectUrls")]
    redirect_urls: Vec<String>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct RawAuthAlert {
    enabled: Option<bool>,
    email_template: Option<RawTemplate>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawToken {
    secret: Option<String>,
    duration: Option<i64>,
}

#[derive(Deserialize, Default, Clone)]
#[serde(default)]
struct RawTemplate {
    subject: String,
    body: String,
}

/// System fields of auth collections: listed in PocketBase exports, handled
/// by Authgate itself.
const SYSTEM_FIELDS: [&str; 8] = [
    "id",
    "password",
    "tokenKey",
    "email",
    "emailVisibility",
    "verified",
    "collectionId",
    "collectionName",
];

impl RawConfig {
    fn validate(self) -> Result<AppConfig, ConfigError> {
        let meta = Meta {
            app_name: self.meta.app_name.unwrap_or_else(|| "Authgate".into()),
            app_url: self
                .meta
                .app_url
                .unwrap_or_else(|| "http://127.0.0.1:8090".into())
                .trim_end_matches('/')
                .to_owned(),
            sender_name: self.meta.sender_name.unwrap_or_else(|| "Authgate".into()),
            sender_address: self
                .meta
                .sender_address
                .unwrap_or_else(|| "no-reply@example.com".into()),
        };
        match url::Url::parse(&meta.app_url) {
            Ok(u) if u.scheme() == "http" || u.scheme() == "https" => {}
            _ => return Err(err("meta.appURL", "must be an absolute http(s) URL")),
        }
        if !crate::email::is_valid(&meta.sender_address) {
            return Err(err("meta.senderAddress", "must be a valid email address"));
        }

        let rules = self.rate_limits.rules.unwrap_or_else(default_rate_rules);
        for (i, r) in rules.iter().enumerate() {
            if r.label.trim().is_empty() {
                return Err(err(
                    format!("rateLimits.rules[{i}].label"),
                    "cannot be blank",
                ));
            }
            if r.max_requests < 1 {
                return Err(err(
                    format!("rateLimits.rules[{i}].maxRequests"),
                    "must be ≥ 1",
                ));
            }
            if r.duration < 1 {
                return Err(err(
                    format!("rateLimits.rules[{i}].duration"),
                    "must be ≥ 1",
                ));
            }
        }
        let failed = self.rate_limits.failed_logins_per_account.unwrap_or(10);
        if !(1..100).contains(&failed) {
            return Err(err(
                "rateLimits.failedLoginsPerAccount",
                "must be between 1 and 99",
            ));
        }
        let rate_limits = RateLimits {
            enabled: self.rate_limits.enabled.unwrap_or(true),
            rules,
            failed_logins_per_account: failed,
            failed_logins_window_secs: self.rate_limits.failed_logins_window.unwrap_or(300),
        };

        let mut collections: Vec<Collection> = Vec::with_capacity(self.collections.len());
        for (i, raw) in self.collections.into_iter().enumerate() {
            let path = format!("collections[{i}]");
            let c = raw.validate(&path)?;
            if collections
                .iter()
                .any(|o| o.name.eq_ignore_ascii_case(&c.name))
            {
                return Err(err(format!("{path}.name"), "must be unique"));
            }
            if collections.iter().any(|o| o.id == c.id) {
                return Err(err(format!("{path}.id"), "must be unique"));
            }
            collections.push(c);
        }
        Ok(AppConfig {
            meta,
            rate_limits,
            collections,
        })
    }
}

/// PocketBase's rate limit rules, turned on by default in Authgate.
fn default_rate_rules() -> Vec<RateLimitRule> {
    let rule = |label: &str, max_requests, duration| RateLimitRule {
        label: label.into(),
        max_requests,
        duration,
    };
    vec![
        rule("*:auth", 2, 3),
        rule("*:create", 20, 5),
        rule("/api/", 300, 10),
    ]
}

fn int_in(
    path: &str,
    v: Option<i64>,
    default: i64,
    min: i64,
    max: i64,
) -> Result<i64, ConfigError> {
    let v = v.unwrap_or(default);
    if v == 0 {
        return Ok(default);
    }
    if v < min {
        return Err(err(path, format!("must be ≥ {min}")));
    }
    if v > max {
        return Err(err(path, format!("must be ≤ {max}")));
    }
    Ok(v)
}

fn derived_id(name: &str) -> String {
    let digest = Sha256::digest(name.as_bytes());
    let mut id = String::from("pbc_");
    for b in digest.iter().take(5) {
        id.push_str(&format!("{b:02x}"));
    }
    id
}

impl RawCollection {
    fn validate(self, path: &str) -> Result<Collection, ConfigError> {
        let name_ok = !self.name.is_empty()
            && self.name.len() <= 255
            && self
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !name_ok {
            return Err(err(
                format!("{path}.name"),
                "must be 1-255 characters of a-z, A-Z, 0-9 and _",
            ));
        }
        let id = match self.id {
            Some(id) if !id.is_empty() => {
                if !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                    return Err(err(
                        format!("{path}.id"),
                        "must contain only a-z, A-Z, 0-9 and _",
                    ));
                }
                id
            }
            _ => derived_id(&self.name),
        };
        let kind = match self.kind.as_deref().unwrap_or("base") {
            "auth" => CollectionKind::Auth,
            "base" => CollectionKind::Base,
            "view" => CollectionKind::View,
            other => {
                return Err(err(
                    format!("{path}.type"),
                    format!("must be one of auth, base, view (got {other:?})"),
                ))
            }
        };
        let is_auth = kind == CollectionKind::Auth;

        let mut fields: Vec<Field> = Vec::new();
        let mut password = PasswordRules {
            min: 8,
            max: 71,
            pattern: None,
        };
        let mut unsupported = Vec::new();
        for (j, f) in self.fields.into_iter().enumerate() {
            let fpath = format!("{path}.fields[{j}]");
            if f.name.is_empty()
                || !f
                    .name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_')
            {
                return Err(err(format!("{fpath}.name"), "must be a-z, A-Z, 0-9 and _"));
            }
            if is_auth && f.name == "password" {
                password = password_rules(&f, &fpath)?;
                continue;
            }
            if is_auth && SYSTEM_FIELDS.contains(&f.name.as_str()) {
                continue;
            }
            if fields.iter().any(|o| o.name == f.name) {
                return Err(err(format!("{fpath}.name"), "duplicate field name"));
            }
            let field = f.validate(&fpath)?;
            if let FieldKind::Unsupported(t) = &field.kind {
                unsupported.push(format!("{}({t})", field.name));
            }
            fields.push(field);
        }
        if !unsupported.is_empty() {
            tracing::warn!(
                collection = %self.name,
                fields = %unsupported.join(", "),
                "field types not served by Authgate: kept out of writes"
            );
        }

        let index_re = Regex::new(
            r#"(?is)^\s*CREATE\s+UNIQUE\s+INDEX\s+.*?\(\s*[`"\[]?(\w+)[`"\]]?\s*(COLLATE\s+NOCASE)?\s*\)"#,
        )
        .map_err(|e| err(format!("{path}.indexes"), e.to_string()))?;
        let mut unique_fields = Vec::new();
        for (j, idx) in self.indexes.iter().enumerate() {
            let Some(caps) = index_re.captures(idx) else {
                continue;
            };
            let col = caps.get(1).map(|m| m.as_str()).unwrap_or_default();
            if SYSTEM_FIELDS.contains(&col) || col == "created" || col == "updated" {
                continue;
            }
            match fields.iter().find(|f| f.name == col) {
                Some(f) if !matches!(f.kind, FieldKind::Unsupported(_)) => {
                    unique_fields.push(UniqueField {
                        name: col.to_owned(),
                        nocase: caps.get(2).is_some(),
                    });
                }
                _ => {
                    return Err(err(
                        format!("{path}.indexes[{j}]"),
                        format!("unique index on unknown or unsupported field {col:?}"),
                    ))
                }
            }
        }

        let identity_fields = self
            .password_auth
            .identity_fields
            .unwrap_or_else(|| vec!["email".into()]);
        for (j, f) in identity_fields.iter().enumerate() {
            if f == "email" {
                continue;
            }
            let is_text = fields.iter().any(|x| {
                &x.name == f && matches!(x.kind, FieldKind::Text { .. } | FieldKind::Email { .. })
            });
            if !is_text || !unique_fields.iter().any(|u| &u.name == f) {
                return Err(err(
                    format!("{path}.passwordAuth.identityFields[{j}]"),
                    format!("{f:?} must be a text or email field with a UNIQUE index"),
                ));
            }
        }

        let otp = OtpConfig {
            enabled: self.otp.enabled,
            duration: int_in(
                &format!("{path}.otp.duration"),
                self.otp.duration,
                180,
                10,
                86400,
            )?,
            length: int_in(&format!("{path}.otp.length"), self.otp.length, 8, 4, 32)? as usize,
            email_template: template(self.otp.email_template, defaults::OTP),
        };
        let mfa = MfaConfig {
            enabled: self.mfa.enabled,
            duration: int_in(
                &format!("{path}.mfa.duration"),
                self.mfa.duration,
                600,
                10,
                86400,
            )?,
        };
        for (j, p) in self.oauth2.providers.iter().enumerate() {
            if p.name.trim().is_empty() {
                return Err(err(
                    format!("{path}.oauth2.providers[{j}].name"),
                    "cannot be blank",
                ));
            }
        }
        // Like PocketBase, provider details are checked once OAuth2 is on.
        if self.oauth2.enabled {
            if let Err((j, field, message)) = crate::oauth2::check_providers(&self.oauth2.providers)
            {
                return Err(err(
                    format!("{path}.oauth2.providers[{j}].{field}"),
                    message,
                ));
            }
        }
        for (j, u) in self.oauth2.redirect_urls.iter().enumerate() {
            if url::Url::parse(u).is_err() {
                return Err(err(
                    format!("{path}.oauth2.redirectURLs[{j}]"),
                    "must be an absolute URL",
                ));
            }
        }
        let oauth2 = OAuth2Config {
            enabled: self.oauth2.enabled,
            providers: self.oauth2.providers,
            mapped_fields: self.oauth2.mapped_fields,
            redirect_urls: self.oauth2.redirect_urls,
        };

        let token = |key: &str, raw: RawToken, default: i64| -> Result<TokenConfig, ConfigError> {
            let duration = int_in(
                &format!("{path}.{key}.duration"),
                raw.duration,
                default,
                10,
                63_072_000,
            )?;
            let secret = raw.secret.unwrap_or_default();
            if is_auth && secret.is_empty() {
                return Err(err(
                    format!("{path}.{key}.secret"),
                    "missing (run `authgate collections apply` to generate secrets)",
                ));
            }
            if is_auth && secret.len() < 30 {
                return Err(err(
                    format!("{path}.{key}.secret"),
                    "must be at least 30 characters",
                ));
            }
            Ok(TokenConfig {
                secret: Secret(secret),
                duration,
            })
        };

        Ok(Collection {
            auth_token: token("authToken", self.auth_token, 432_000)?,
            verification_token: token("verificationToken", self.verification_token, 86_400)?,
            password_reset_token: token("passwordResetToken", self.password_reset_token, 1_800)?,
            email_change_token: token("emailChangeToken", self.email_change_token, 1_800)?,
            file_token: token("fileToken", self.file_token, 180)?,
            id,
            name: self.name,
            kind,
            fields,
            password,
            unique_fields,
            password_auth: PasswordAuth {
                enabled: self.password_auth.enabled.unwrap_or(true),
                identity_fields,
            },
            otp,
            mfa,
            oauth2,
            auth_alert: AuthAlert {
                enabled: self.auth_alert.enabled.unwrap_or(false),
                email_template: template(self.auth_alert.email_template, defaults::AUTH_ALERT),
            },
            verification_template: template(self.verification_template, defaults::VERIFICATION),
            reset_password_template: template(
                self.reset_password_template,
                defaults::RESET_PASSWORD,
            ),
            confirm_email_change_template: template(
                self.confirm_email_change_template,
                defaults::CONFIRM_EMAIL_CHANGE,
            ),
        })
    }
}

fn template(raw: Option<RawTemplate>, default: (&str, &str)) -> Template {
    let raw = raw.unwrap_or_default();
    Template {
        subject: if raw.subject.trim().is_empty() {
            default.0.to_owned()
        } else {
            raw.subject
        },
        body: if raw.body.trim().is_empty() {
            default.1.to_owned()
        } else {
            raw.body
        },
    }
}

fn number(v: &Option<Value>) -> Option<f64> {
    v.as_ref().and_then(Value::as_f64)
}

fn compile_pattern(p: &Option<String>, path: &str) -> Result<Option<Regex>, ConfigError> {
    match p.as_deref() {
        None | Some("") => Ok(None),
        Some(p) => Regex::new(p)
            .map(Some)
            .map_err(|e| err(format!("{path}.pattern"), format!("invalid regex: {e}"))),
    }
}

fn password_rules(f: &RawField, path: &str) -> Result<PasswordRules, ConfigError> {
    let min = number(&f.min).unwrap_or(0.0) as usize;
    let max = number(&f.max).unwrap_or(0.0) as usize;
    let min = if min == 0 { 8 } else { min };
    let max = if max == 0 { 71 } else { max };
    if min > max {
        return Err(err(format!("{path}.min"), "must be ≤ max"));
    }
    Ok(PasswordRules {
        min,
        max,
        pattern: compile_pattern(&f.pattern, path)?,
    })
}

impl RawField {
    fn validate(self, path: &str) -> Result<Field, ConfigError> {
        let kind = match self.kind.as_str() {
            "text" => {
                let min = number(&self.min).unwrap_or(0.0);
                let max = number(&self.max).unwrap_or(0.0);
                if min < 0.0 {
                    return Err(err(format!("{path}.min"), "must be ≥ 0"));
                }
                let max = if max <= 0.0 { 5000.0 } else { max };
                if min > max {
                    return Err(err(format!("{path}.min"), "must be ≤ max"));
                }
                FieldKind::Text {
                    min: min as usize,
                    max: max as usize,
                    pattern: compile_pattern(&self.pattern, path)?,
                }
            }
            "email" => FieldKind::Email {
                only_domains: self.only_domains.unwrap_or_default(),
                except_domains: self.except_domains.unwrap_or_default(),
            },
            "url" => FieldKind::Url {
                only_domains: self.only_domains.unwrap_or_default(),
                except_domains: self.except_domains.unwrap_or_default(),
            },
            "bool" => FieldKind::Bool,
            "number" => {
                let (min, max) = (number(&self.min), number(&self.max));
                if let (Some(a), Some(b)) = (min, max) {
                    if a > b {
                        return Err(err(format!("{path}.min"), "must be ≤ max"));
                    }
                }
                FieldKind::Number {
                    min,
                    max,
                    only_int: self.only_int,
                }
            }
            "date" => FieldKind::Date,
            "json" => FieldKind::Json {
                max_size: match self.max_size {
                    Some(0) | None => 1 << 20,
                    Some(n) => n as usize,
                },
            },
            "select" => {
                let values = self.values.unwrap_or_default();
                if values.is_empty() {
                    return Err(err(format!("{path}.values"), "cannot be empty"));
                }
                FieldKind::Select {
                    values,
                    max_select: self.max_select.unwrap_or(1).max(1) as usize,
                }
            }
            "autodate" => FieldKind::Autodate {
                on_create: self.on_create.unwrap_or(true),
                on_update: self.on_update.unwrap_or(false),
            },
            "" => return Err(err(format!("{path}.type"), "cannot be blank")),
            other => FieldKind::Unsupported(other.to_owned()),
        };
        Ok(Field {
            name: self.name,
            required: self.required,
            hidden: self.hidden,
            kind,
        })
    }
}

/// PocketBase's default mail templates.
pub mod defaults {
    pub const VERIFICATION: (&str, &str) = (
        "Verify your {APP_NAME} email",
        "<p>Hello,</p>\n<p>Thank you for joining us at {APP_NAME}.</p>\n<p>Click on the button below to verify your email address.</p>\n<p>\n  <a class=\"btn\" href=\"{APP_URL}/_/#/auth/confirm-verification/{TOKEN}\" target=\"_blank\" rel=\"noopener\">Verify</a>\n</p>\n<p>\n  Thanks,<br/>\n  {APP_NAME} team\n</p>",
    );
    pub const RESET_PASSWORD: (&str, &str) = (
        "Reset your {APP_NAME} password",
        "<p>Hello,</p>\n<p>Click on the button below to reset your password.</p>\n<p>\n  <a class=\"btn\" href=\"{APP_URL}/_/#/auth/confirm-password-reset/{TOKEN}\" target=\"_blank\" rel=\"noopener\">Reset password</a>\n</p>\n<p><i>If you didn't ask to reset your password, you can ignore this email.</i></p>\n<p>\n  Thanks,<br/>\n  {APP_NAME} team\n</p>",
    );
    pub const CONFIRM_EMAIL_CHANGE: (&str, &str) = (
        "Confirm your {APP_NAME} new email address",
        "<p>Hello,</p>\n<p>Click on the button below to confirm your new email address.</p>\n<p>\n  <a class=\"btn\" href=\"{APP_URL}/_/#/auth/confirm-email-change/{TOKEN}\" target=\"_blank\" rel=\"noopener\">Confirm new email</a>\n</p>\n<p><i>If you didn't ask to change your email address, you can ignore this email.</i></p>\n<p>\n  Thanks,<br/>\n  {APP_NAME} team\n</p>",
    );
    pub const OTP: (&str, &str) = (
        "OTP for {APP_NAME}",
        "<p>Hello,</p>\n<p>Your one-time password is: <strong>{OTP}</strong></p>\n<p><i>If you didn't ask for the one-time password, you can ignore this email.</i></p>\n<p>\n  Thanks,<br/>\n  {APP_NAME} team\n</p>",
    );
    pub const AUTH_ALERT: (&str, &str) = (
        "Login from a new location",
        "<p>Hello,</p>\n<p>We noticed a login to your {APP_NAME} account from a new location.</p>\n<p><strong>If this wasn't you, you should immediately change your {APP_NAME} account password to revoke access from all other locations.</strong></p>\n<p>\n  Thanks,<br/>\n  {APP_NAME} team\n</p>",
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    struct Counter(std::sync::atomic::AtomicU8);
    impl Random for Counter {
        fn fill(&self, buf: &mut [u8]) {
            for b in buf {
                *b = self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % 62;
            }
        }
    }

    fn parse(mut doc: Value) -> Result<AppConfig, ConfigError> {
        fill_secrets(&mut doc, None, &Counter(Default::default()));
        AppConfig::from_json(&doc)
    }

    #[test]
    fn the_default_document_is_valid_and_has_a_users_auth_collection() {
        let cfg = parse(AppConfig::default_document()).expect("default config");
        let users = cfg.collection("users").expect("users");
        assert_eq!(users.kind, CollectionKind::Auth);
        assert!(users.password_auth.enabled);
        assert_eq!(users.password_auth.identity_fields, vec!["email"]);
        assert_eq!(users.auth_token.duration, 432_000);
        assert_eq!(
            cfg.collection("_pb_users_auth_").map(|c| c.name.as_str()),
            Some("users")
        );
    }

    #[test]
    fn invalid_values_are_rejected_with_their_path() {
        let cases = [
            (
                json!({"collections":[{"name":"a","type":"auth"},{"name":"b","type":"auth","otp":{"duration":5}}]}),
                "collections[1].otp.duration: must be ≥ 10",
            ),
            (
                json!({"collections":[{"name":"a","type":"nope"}]}),
                "collections[0].type",
            ),
            (json!({"meta":{"appURL":"not a url"}}), "meta.appURL"),
            (
                json!({"collections":[{"name":"a","type":"auth","passwordAuth":{"identityFields":["username"]}}]}),
                "collections[0].passwordAuth.identityFields[0]",
            ),
            (
                json!({"collections":[{"name":"a","type":"auth","fields":[{"name":"x","type":"text","pattern":"("}]}]}),
                "collections[0].fields[0].pattern",
            ),
            (
                json!({"collections":[{"name":"a","type":"auth","mfa":{"duration":"long"}}]}),
                "collections[0].mfa.duration",
            ),
            (
                json!({"collections":[{"name":"a"},{"name":"A"}]}),
                "collections[1].name",
            ),
        ];
        for (doc, want) in cases {
            let got = parse(doc).expect_err(want).to_string();
            assert!(got.starts_with(want), "want {want:?}, got {got:?}");
        }
    }

    #[test]
    fn unique_indexes_and_identity_fields_are_recognised() {
        let cfg = parse(json!({"collections":[{
            "name":"members","type":"auth",
            "fields":[{"name":"username","type":"text","min":3},{"name":"avatar","type":"file"},{"name":"extra","type":"text","unknownKey":1}],
            "indexes":["CREATE UNIQUE INDEX `idx_u` ON `members` (`username` COLLATE NOCASE)", "CREATE INDEX idx_x ON members (extra)"],
            "passwordAuth":{"enabled":true,"identityFields":["email","username"]}
        }]}))
        .expect("valid");
        let c = &cfg.collections[0];
        assert_eq!(
            c.unique_fields,
            vec![UniqueField {
                name: "username".into(),
                nocase: true
            }]
        );
        assert!(matches!(c.fields[1].kind, FieldKind::Unsupported(ref t) if t == "file"));
    }

    #[test]
    fn fill_secrets_keeps_existing_ones_and_generates_missing_ones() {
        let mut first = json!({"collections":[{"id":"c1","name":"users","type":"auth"}]});
        let rng = Counter(Default::default());
        assert_eq!(fill_secrets(&mut first, None, &rng), 5);
        let mut again = json!({"collections":[{"id":"c1","name":"users","type":"auth","authToken":{"duration":60}}]});
        assert_eq!(fill_secrets(&mut again, Some(&first), &rng), 0);
        assert_eq!(
            again["collections"][0]["authToken"]["secret"],
            first["collections"][0]["authToken"]["secret"]
        );
        assert_eq!(again["collections"][0]["authToken"]["duration"], 60);
        let dbg = format!(
            "{:?}",
            AppConfig::from_json(&again).expect("valid").collections[0].auth_token
        );
        assert!(!dbg.contains(
            first["collections"][0]["authToken"]["secret"]
                .as_str()
                .unwrap_or("?")
        ));
    }
}
