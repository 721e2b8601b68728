//! The document as it arrives (the wire shapes). Everything is optional:
//! `validate.rs` gives the defaults and the path-named errors.

use serde::Deserialize;
use serde_json::Value;

use super::{MappedFields, RateLimitRule};
use crate::oauth2::ProviderConfig;

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
pub(super) struct RawConfig {
    pub(super) meta: RawMeta,
    pub(super) rate_limits: RawRateLimits,
    pub(super) collections: Vec<RawCollection>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct RawMeta {
    #[serde(rename = "appName")]
    pub(super) app_name: Option<String>,
    #[serde(rename = "appURL", alias = "appUrl")]
    pub(super) app_url: Option<String>,
    #[serde(rename = "senderName")]
    pub(super) sender_name: Option<String>,
    #[serde(rename = "senderAddress")]
    pub(super) sender_address: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
pub(super) struct RawRateLimits {
    pub(super) enabled: Option<bool>,
    pub(super) rules: Option<Vec<RateLimitRule>>,
    pub(super) failed_logins_per_account: Option<u32>,
    pub(super) failed_logins_window: Option<i64>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
pub(super) struct RawCollection {
    pub(super) id: Option<String>,
    pub(super) name: String,
    #[serde(rename = "type")]
    pub(super) kind: Option<String>,
    pub(super) fields: Vec<RawField>,
    pub(super) indexes: Vec<String>,
    pub(super) password_auth: RawPasswordAuth,
    pub(super) otp: RawOtp,
    pub(super) mfa: RawMfa,
    pub(super) oauth2: RawOAuth2,
    pub(super) auth_alert: RawAuthAlert,
    pub(super) auth_token: RawToken,
    pub(super) verification_token: RawToken,
    pub(super) password_reset_token: RawToken,
    pub(super) email_change_token: RawToken,
    pub(super) file_token: RawToken,
    pub(super) verification_template: Option<RawTemplate>,
    pub(super) reset_password_template: Option<RawTemplate>,
    pub(super) confirm_email_change_template: Option<RawTemplate>,
    #[serde(deserialize_with = "present")]
    pub(super) list_rule: Option<Value>,
    #[serde(deserialize_with = "present")]
    pub(super) view_rule: Option<Value>,
    #[serde(deserialize_with = "present")]
    pub(super) create_rule: Option<Value>,
    #[serde(deserialize_with = "present")]
    pub(super) update_rule: Option<Value>,
    #[serde(deserialize_with = "present")]
    pub(super) delete_rule: Option<Value>,
    #[serde(deserialize_with = "present")]
    pub(super) auth_rule: Option<Value>,
}

/// A key that is present, `null` included (`Some(Null)`); with
/// `#[serde(default)]` an absent key stays `None`.
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
pub(super) struct RawField {
    pub(super) name: String,
    #[serde(rename = "type")]
    pub(super) kind: String,
    pub(super) required: bool,
    pub(super) hidden: bool,
    pub(super) min: Option<Value>,
    pub(super) max: Option<Value>,
    pub(super) pattern: Option<String>,
    pub(super) only_int: bool,
    pub(super) only_domains: Option<Vec<String>>,
    pub(super) except_domains: Option<Vec<String>>,
    pub(super) max_size: Option<u64>,
    pub(super) values: Option<Vec<String>>,
    pub(super) max_select: Option<u64>,
    pub(super) on_create: Option<bool>,
    pub(super) on_update: Option<bool>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
pub(super) struct RawPasswordAuth {
    pub(super) enabled: Option<bool>,
    pub(super) identity_fields: Option<Vec<String>>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
pub(super) struct RawOtp {
    pub(super) enabled: bool,
    pub(super) duration: Option<i64>,
    pub(super) length: Option<i64>,
    pub(super) email_template: Option<RawTemplate>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct RawMfa {
    pub(super) enabled: bool,
    pub(super) duration: Option<i64>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
pub(super) struct RawOAuth2 {
    pub(super) enabled: bool,
    pub(super) providers: Vec<ProviderConfig>,
    pub(super) mapped_fields: MappedFields,
    #[serde(rename = "redirectURLs", alias = "redirectUrls")]
    pub(super) redirect_urls: Vec<String>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
pub(super) struct RawAuthAlert {
    pub(super) enabled: Option<bool>,
    pub(super) email_template: Option<RawTemplate>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct RawToken {
    pub(super) secret: Option<String>,
    pub(super) duration: Option<i64>,
}

#[derive(Deserialize, Default, Clone)]
#[serde(default)]
pub(super) struct RawTemplate {
    pub(super) subject: String,
    pub(super) body: String,
}
