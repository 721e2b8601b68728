//! The fields of a collection: each field's own rules, the system
//! `password` field's rules, and the unique indexes over fields.

use regex::Regex;
use serde_json::Value;

use super::raw::RawField;
use super::{err, ConfigError, Field, FieldKind, PasswordRules, UniqueField};

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

/// The collection's own fields, in order, and the rules of its system
/// `password` field (defaults unless an auth collection lists it).
pub(super) fn fields(
    raw: Vec<RawField>,
    is_auth: bool,
    collection: &str,
    path: &str,
) -> Result<(Vec<Field>, PasswordRules), ConfigError> {
    let mut fields: Vec<Field> = Vec::new();
    let mut password = PasswordRules {
        min: 8,
        max: 71,
        pattern: None,
    };
    let mut unsupported = Vec::new();
    for (j, f) in raw.into_iter().enumerate() {
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
            collection = %collection,
            fields = %unsupported.join(", "),
            "field types not served by Authgate: kept out of writes"
        );
    }
    Ok((fields, password))
}

/// The fields that `CREATE UNIQUE INDEX` statements cover; indexes on
/// system or autodate columns are PocketBase's and skipped.
pub(super) fn unique_fields(
    indexes: &[String],
    fields: &[Field],
    path: &str,
) -> Result<Vec<UniqueField>, ConfigError> {
    let index_re = Regex::new(
        r#"(?is)^\s*CREATE\s+UNIQUE\s+INDEX\s+.*?\(\s*[`"\[]?(\w+)[`"\]]?\s*(COLLATE\s+NOCASE)?\s*\)"#,
    )
    .map_err(|e| err(format!("{path}.indexes"), e.to_string()))?;
    let mut unique_fields = Vec::new();
    for (j, idx) in indexes.iter().enumerate() {
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
    Ok(unique_fields)
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
    if max > PasswordRules::CEILING {
        return Err(err(
            format!("{path}.max"),
            format!(
                "must be ≤ {} (the longest password Authgate accepts)",
                PasswordRules::CEILING
            ),
        ));
    }
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
