//! API rules of auth collections (`listRule`, `viewRule`, `createRule`,
//! `updateRule`, `deleteRule`, `authRule`), PocketBase's filter
//! expressions. Authgate evaluates the three forms account self-service
//! needs and refuses any other at config load, naming the path:
//!
//! - `null`: superusers only. Authgate has no superusers, so nobody.
//! - `""`: anyone, logged in or not.
//! - `id = @request.auth.id` (any spacing, either side): the record's owner.
//!
//! A rule key missing from the document takes PocketBase's default for its
//! `users` collection (the owner for list/view/update/delete, `""` for
//! create and auth), so documents written before rules were read keep
//! their public sign-up.

use serde_json::Value;

use super::{err, ConfigError};

/// One evaluated API rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// `null`: superusers only (nobody here).
    Nobody,
    /// `""`: anyone.
    Anyone,
    /// `id = @request.auth.id`: the record's owner.
    Owner,
}

impl Rule {
    /// Whether a caller (the id of its auth record in this collection, if
    /// any) may act on the record `record_id` under this rule.
    pub fn admits(self, caller: Option<&str>, record_id: &str) -> bool {
        match self {
            Self::Nobody => false,
            Self::Anyone => true,
            Self::Owner => caller == Some(record_id),
        }
    }
}

/// The API rules of an auth collection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rules {
    pub list: Rule,
    pub view: Rule,
    pub create: Rule,
    pub update: Rule,
    pub delete: Rule,
    pub auth: Rule,
}

impl Default for Rules {
    /// PocketBase's `users` defaults.
    fn default() -> Self {
        Self {
            list: Rule::Owner,
            view: Rule::Owner,
            create: Rule::Anyone,
            update: Rule::Owner,
            delete: Rule::Owner,
            auth: Rule::Anyone,
        }
    }
}

/// The rule keys as they arrive: `None` when the key is absent, `Some(Null)`
/// for an explicit `null`.
#[derive(Default)]
pub(super) struct RawRules {
    pub(super) list: Option<Value>,
    pub(super) view: Option<Value>,
    pub(super) create: Option<Value>,
    pub(super) update: Option<Value>,
    pub(super) delete: Option<Value>,
    pub(super) auth: Option<Value>,
}

/// What each rule may be (the forms named in errors).
#[derive(Clone, Copy)]
enum Allowed {
    /// `null`, `""` or the owner rule.
    All,
    /// `null` or the owner rule: listing everyone would need a table scan.
    NotAnyone,
    /// `null` or `""`: the owner rule cannot match a record being created,
    /// and `authRule` is checked on the record logging in.
    NotOwner,
}

impl Allowed {
    fn describe(self) -> &'static str {
        match self {
            Self::All => "null (nobody), \"\" (anyone) or \"id = @request.auth.id\" (the owner)",
            Self::NotAnyone => {
                "null (nobody) or \"id = @request.auth.id\" (the owner); \"\" would list every \
                 record, which needs a table scan Authgate never makes"
            }
            Self::NotOwner => "null (nobody) or \"\" (anyone)",
        }
    }

    fn allows(self, rule: Rule) -> bool {
        !matches!(
            (self, rule),
            (Self::NotAnyone, Rule::Anyone) | (Self::NotOwner, Rule::Owner)
        )
    }
}

impl RawRules {
    /// The rules of an auth collection at `path`.
    pub(super) fn validate(self, path: &str) -> Result<Rules, ConfigError> {
        let d = Rules::default();
        Ok(Rules {
            list: rule(self.list, d.list, path, "listRule", Allowed::NotAnyone)?,
            view: rule(self.view, d.view, path, "viewRule", Allowed::All)?,
            create: rule(self.create, d.create, path, "createRule", Allowed::NotOwner)?,
            update: rule(self.update, d.update, path, "updateRule", Allowed::All)?,
            delete: rule(self.delete, d.delete, path, "deleteRule", Allowed::All)?,
            auth: rule(self.auth, d.auth, path, "authRule", Allowed::NotOwner)?,
        })
    }
}

fn rule(
    raw: Option<Value>,
    default: Rule,
    path: &str,
    key: &str,
    allowed: Allowed,
) -> Result<Rule, ConfigError> {
    let parsed = match &raw {
        None => return Ok(default),
        Some(Value::Null) => Some(Rule::Nobody),
        Some(Value::String(s)) => parse(s),
        Some(_) => None,
    };
    match parsed {
        Some(r) if allowed.allows(r) => Ok(r),
        _ => Err(err(
            format!("{path}.{key}"),
            format!(
                "unsupported rule {}: Authgate supports {}",
                raw.map(|v| v.to_string()).unwrap_or_default(),
                allowed.describe()
            ),
        )),
    }
}

/// `""` (blank) or the owner rule in any spacing; `None` for anything else.
fn parse(expr: &str) -> Option<Rule> {
    let compact: String = expr.chars().filter(|c| !c.is_whitespace()).collect();
    match compact.as_str() {
        "" => Some(Rule::Anyone),
        "id=@request.auth.id" | "@request.auth.id=id" => Some(Rule::Owner),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn one(key: &str, v: Value) -> Result<Rules, ConfigError> {
        let mut raw = RawRules::default();
        let slot = match key {
            "listRule" => &mut raw.list,
            "viewRule" => &mut raw.view,
            "createRule" => &mut raw.create,
            "updateRule" => &mut raw.update,
            "deleteRule" => &mut raw.delete,
            _ => &mut raw.auth,
        };
        *slot = Some(v);
        raw.validate("collections[0]")
    }

    #[test]
    fn absent_rules_are_pocketbases_users_defaults() {
        assert_eq!(RawRules::default().validate("c").unwrap(), Rules::default());
    }

    #[test]
    fn the_owner_rule_is_read_in_pocketbases_spacing_variants() {
        for s in [
            "id = @request.auth.id",
            "id=@request.auth.id",
            "  id  =\n@request.auth.id ",
            "@request.auth.id = id",
        ] {
            assert_eq!(one("viewRule", json!(s)).unwrap().view, Rule::Owner, "{s}");
        }
        assert_eq!(one("viewRule", json!(" ")).unwrap().view, Rule::Anyone);
        assert_eq!(one("viewRule", Value::Null).unwrap().view, Rule::Nobody);
    }

    #[test]
    fn other_expressions_are_refused_naming_the_path_and_what_is_supported() {
        for (key, v) in [
            ("viewRule", json!("verified = true")),
            (
                "updateRule",
                json!("id = @request.auth.id && verified = true"),
            ),
            ("deleteRule", json!("id != @request.auth.id")),
            ("listRule", json!("")),
            ("createRule", json!("id = @request.auth.id")),
            ("authRule", json!("verified = true")),
            ("viewRule", json!(true)),
        ] {
            let e = one(key, v.clone()).unwrap_err();
            assert_eq!(e.path, format!("collections[0].{key}"), "{v}");
            assert!(e.message.contains("Authgate supports"), "{e}");
        }
        let e = one("listRule", json!("")).unwrap_err();
        assert!(e.message.contains("table scan"), "{e}");
    }

    #[test]
    fn admits_follows_each_rule() {
        assert!(!Rule::Nobody.admits(Some("a"), "a"));
        assert!(Rule::Anyone.admits(None, "a"));
        assert!(Rule::Owner.admits(Some("a"), "a"));
        assert!(!Rule::Owner.admits(Some("b"), "a"));
        assert!(!Rule::Owner.admits(None, "a"));
    }
}
