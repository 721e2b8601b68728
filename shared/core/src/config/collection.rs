//! One collection of the document → a validated [`Collection`], one step
//! per section. The first failing check is the error reported, so the order
//! of the steps is part of the behaviour: name, id, type, fields, unique
//! indexes, password auth, OTP, MFA, OAuth2, tokens.

use super::defaults;
use super::fields::{fields, unique_fields};
use super::raw::{
    RawCollection, RawMfa, RawOAuth2, RawOtp, RawPasswordAuth, RawTemplate, RawToken,
};
use super::rules::RawRules;
use super::{
    err, AuthAlert, Collection, CollectionKind, ConfigError, Field, FieldKind, MfaConfig,
    OAuth2Config, OtpConfig, PasswordAuth, Rules, Secret, Template, TokenConfig, UniqueField,
};

impl RawCollection {
    pub(super) fn validate(self, path: &str) -> Result<Collection, ConfigError> {
        check_name(&self.name, path)?;
        let id = collection_id(self.id, &self.name, path)?;
        let kind = collection_kind(self.kind.as_deref(), path)?;
        let is_auth = kind == CollectionKind::Auth;
        let (fields, password) = fields(self.fields, is_auth, &self.name, path)?;
        let unique_fields = unique_fields(&self.indexes, &fields, path)?;
        let password_auth = password_auth(self.password_auth, &fields, &unique_fields, path)?;
        let otp = otp(self.otp, path)?;
        let mfa = mfa(self.mfa, path)?;
        let oauth2 = oauth2(self.oauth2, path)?;
        let raw_rules = RawRules {
            list: self.list_rule,
            view: self.view_rule,
            create: self.create_rule,
            update: self.update_rule,
            delete: self.delete_rule,
            auth: self.auth_rule,
        };
        // Only auth collections' rules are evaluated (base collections are
        // not served).
        let rules = if is_auth {
            raw_rules.validate(path)?
        } else {
            Rules::default()
        };
        let token =
            |key: &str, raw: RawToken, default: i64| token_config(path, is_auth, key, raw, default);
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
            password_auth,
            otp,
            mfa,
            oauth2,
            rules,
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

fn check_name(name: &str, path: &str) -> Result<(), ConfigError> {
    let name_ok = !name.is_empty()
        && name.len() <= 255
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !name_ok {
        return Err(err(
            format!("{path}.name"),
            "must be 1-255 characters of a-z, A-Z, 0-9 and _",
        ));
    }
    Ok(())
}

/// The configured id, else one derived from the name (stable across deploys).
fn collection_id(id: Option<String>, name: &str, path: &str) -> Result<String, ConfigError> {
    match id {
        Some(id) if !id.is_empty() => {
            if !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(err(
                    format!("{path}.id"),
                    "must contain only a-z, A-Z, 0-9 and _",
                ));
            }
            Ok(id)
        }
        _ => Ok(derived_id(name)),
    }
}

fn derived_id(name: &str) -> String {
    super::secrets::derived_id(name)
}

fn collection_kind(kind: Option<&str>, path: &str) -> Result<CollectionKind, ConfigError> {
    match kind.unwrap_or("base") {
        "auth" => Ok(CollectionKind::Auth),
        "base" => Ok(CollectionKind::Base),
        "view" => Ok(CollectionKind::View),
        other => Err(err(
            format!("{path}.type"),
            format!("must be one of auth, base, view (got {other:?})"),
        )),
    }
}

/// Identity fields other than `email` must be unique text or email fields.
fn password_auth(
    raw: RawPasswordAuth,
    fields: &[Field],
    unique_fields: &[UniqueField],
    path: &str,
) -> Result<PasswordAuth, ConfigError> {
    let identity_fields = raw.identity_fields.unwrap_or_else(|| vec!["email".into()]);
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
    Ok(PasswordAuth {
        enabled: raw.enabled.unwrap_or(true),
        identity_fields,
    })
}

fn otp(raw: RawOtp, path: &str) -> Result<OtpConfig, ConfigError> {
    Ok(OtpConfig {
        enabled: raw.enabled,
        duration: int_in(
            &format!("{path}.otp.duration"),
            raw.duration,
            180,
            10,
            86400,
        )?,
        // Authgate: at least 6 digits (PocketBase allows 4). At 5 checks per
        // window, 4 digits give an attacker a real chance per account per day.
        length: int_in(&format!("{path}.otp.length"), raw.length, 8, 6, 32)? as usize,
        email_template: template(raw.email_template, defaults::OTP),
    })
}

fn mfa(raw: RawMfa, path: &str) -> Result<MfaConfig, ConfigError> {
    Ok(MfaConfig {
        enabled: raw.enabled,
        duration: int_in(
            &format!("{path}.mfa.duration"),
            raw.duration,
            600,
            10,
            86400,
        )?,
    })
}

fn oauth2(raw: RawOAuth2, path: &str) -> Result<OAuth2Config, ConfigError> {
    for (j, p) in raw.providers.iter().enumerate() {
        if p.name.trim().is_empty() {
            return Err(err(
                format!("{path}.oauth2.providers[{j}].name"),
                "cannot be blank",
            ));
        }
    }
    // Like PocketBase, provider details are checked once OAuth2 is on.
    if raw.enabled {
        if let Err((j, field, message)) = crate::oauth2::check_providers(&raw.providers) {
            return Err(err(
                format!("{path}.oauth2.providers[{j}].{field}"),
                message,
            ));
        }
    }
    for (j, u) in raw.redirect_urls.iter().enumerate() {
        if url::Url::parse(u).is_err() {
            return Err(err(
                format!("{path}.oauth2.redirectURLs[{j}]"),
                "must be an absolute URL",
            ));
        }
    }
    Ok(OAuth2Config {
        enabled: raw.enabled,
        providers: raw.providers,
        mapped_fields: raw.mapped_fields,
        redirect_urls: raw.redirect_urls,
    })
}

/// A token's lifetime and secret; auth collections must have a real secret.
fn token_config(
    path: &str,
    is_auth: bool,
    key: &str,
    raw: RawToken,
    default: i64,
) -> Result<TokenConfig, ConfigError> {
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
        secret: Secret::new(secret),
        duration,
    })
}

/// `v` within `min..=max`; absent or `0` means `default`.
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

/// The configured template; a blank subject or body falls back to `default`.
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
