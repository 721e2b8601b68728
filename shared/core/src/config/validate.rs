//! The document as it arrives (`raw.rs`) → the validated model: `meta`,
//! `rateLimits`, then each collection (`collection.rs`). The first invalid
//! value ends validation with an error naming its path.

use serde_json::Value;

use super::raw::{RawConfig, RawMeta, RawRateLimits};
use super::{err, AppConfig, Collection, ConfigError, Meta, RateLimitRule, RateLimits};

impl AppConfig {
    /// Parses and validates a config document. Every token secret must be
    /// present: call [`fill_secrets`](super::fill_secrets) first for
    /// documents written by hand.
    pub fn from_json(doc: &Value) -> Result<Self, ConfigError> {
        let raw: RawConfig = serde_path_to_error::deserialize(doc)
            .map_err(|e| err(e.path().to_string(), e.inner().to_string()))?;
        raw.validate()
    }
}

impl RawConfig {
    fn validate(self) -> Result<AppConfig, ConfigError> {
        let meta = meta(self.meta)?;
        let rate_limits = rate_limits(self.rate_limits)?;
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

fn meta(raw: RawMeta) -> Result<Meta, ConfigError> {
    let meta = Meta {
        app_name: raw.app_name.unwrap_or_else(|| "Authgate".into()),
        app_url: raw
            .app_url
            .unwrap_or_else(|| "http://127.0.0.1:8090".into())
            .trim_end_matches('/')
            .to_owned(),
        sender_name: raw.sender_name.unwrap_or_else(|| "Authgate".into()),
        sender_address: raw
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
    Ok(meta)
}

fn rate_limits(raw: RawRateLimits) -> Result<RateLimits, ConfigError> {
    let rules = raw.rules.unwrap_or_else(default_rate_rules);
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
        if !["", "@guest", "@auth"].contains(&r.audience.as_str()) {
            return Err(err(
                format!("rateLimits.rules[{i}].audience"),
                "must be \"\", \"@guest\" or \"@auth\"",
            ));
        }
    }
    let failed = raw.failed_logins_per_account.unwrap_or(10);
    if !(1..100).contains(&failed) {
        return Err(err(
            "rateLimits.failedLoginsPerAccount",
            "must be between 1 and 99",
        ));
    }
    let window = raw.failed_logins_window.unwrap_or(900);
    if !(1..=86_400).contains(&window) {
        return Err(err(
            "rateLimits.failedLoginsWindow",
            "must be between 1 and 86400 seconds",
        ));
    }
    Ok(RateLimits {
        enabled: raw.enabled.unwrap_or(true),
        rules,
        failed_logins_per_account: failed,
        failed_logins_window_secs: window,
    })
}

/// PocketBase's rate limit rules, turned on by default in Authgate.
fn default_rate_rules() -> Vec<RateLimitRule> {
    let rule = |label: &str, max_requests, duration| RateLimitRule {
        label: label.into(),
        max_requests,
        duration,
        audience: String::new(),
    };
    vec![
        rule("*:auth", 2, 3),
        rule("*:create", 20, 5),
        rule("/api/", 300, 10),
    ]
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::secrets::Counter;
    use super::super::{fill_secrets, CollectionKind, FieldKind, UniqueField};
    use super::*;

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
            (
                json!({"collections":[{"name":"a","type":"auth","otp":{"enabled":true,"length":4}}]}),
                "collections[0].otp.length: must be ≥ 6",
            ),
            (
                json!({"rateLimits":{"rules":[{"label":"*:auth","maxRequests":1,"duration":1,"audience":"@admin"}]}}),
                "rateLimits.rules[0].audience",
            ),
            (
                json!({"rateLimits":{"failedLoginsWindow":0}}),
                "rateLimits.failedLoginsWindow",
            ),
        ];
        for (doc, want) in cases {
            let got = parse(doc).expect_err(want).to_string();
            assert!(got.starts_with(want), "want {want:?}, got {got:?}");
        }
    }

    #[test]
    fn a_password_field_max_above_the_ceiling_of_255_is_refused() {
        let doc = |max: u32| {
            json!({"collections":[{"name":"a","type":"auth",
                "fields":[{"name":"password","type":"password","min":8,"max":max}]}]})
        };
        let cfg = parse(doc(255)).expect("255 is the ceiling");
        assert_eq!(cfg.collections[0].password.max, 255);
        for max in [256, 1000, 1_000_000] {
            let got = parse(doc(max)).map(|_| ()).map_err(|e| e.to_string());
            assert!(
                got.as_ref()
                    .is_err_and(|e| e.starts_with("collections[0].fields[0].max")),
                "max {max}: {got:?}"
            );
        }
    }

    #[test]
    fn rate_limits_are_on_by_default_with_pocketbases_rules_and_an_account_cap() {
        let cfg = parse(json!({})).expect("valid");
        let limits = &cfg.rate_limits;
        assert!(limits.enabled);
        let rules: Vec<(&str, u32, i64)> = limits
            .rules
            .iter()
            .map(|r| (r.label.as_str(), r.max_requests, r.duration))
            .collect();
        assert_eq!(
            rules,
            [("*:auth", 2, 3), ("*:create", 20, 5), ("/api/", 300, 10)]
        );
        assert_eq!(
            (
                limits.failed_logins_per_account,
                limits.failed_logins_window_secs
            ),
            (10, 900)
        );
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
}
