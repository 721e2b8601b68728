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
    let mut unique_fields = Vec::new();
    for (j, idx) in indexes.iter().enumerate() {
        let Some((col, nocase)) = unique_index_column(idx) else {
            continue;
        };
        if SYSTEM_FIELDS.contains(&col) || col == "created" || col == "updated" {
            continue;
        }
        match fields.iter().find(|f| f.name == col) {
            Some(f) if !matches!(f.kind, FieldKind::Unsupported(_)) => {
                unique_fields.push(UniqueField {
                    name: col.to_owned(),
                    nocase,
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

/// The column of a one-column `CREATE UNIQUE INDEX name ON table (col
/// [COLLATE NOCASE]) ...` statement (keywords in any case, the column
/// optionally quoted with backticks, double quotes or brackets) and whether
/// it is `COLLATE NOCASE`; `None` for any other statement (plain or
/// multi-column indexes). Read by hand, not with a regex: compiling that
/// regex cost ~1 ms of every cold start.
fn unique_index_column(sql: &str) -> Option<(&str, bool)> {
    let rest = keyword(sql.trim_start(), "CREATE")?;
    let rest = keyword(rest, "UNIQUE")?;
    let rest = keyword(rest, "INDEX")?;
    // The column list is the first parenthesis whose content reads as one
    // column; anything may come before it (name, `ON table`) or after it.
    let mut from = 0;
    while let Some(open) = rest[from..].find('(') {
        let inner = &rest[from + open + 1..];
        if let Some(found) = one_column(inner) {
            return Some(found);
        }
        from += open + 1;
    }
    None
}

/// `s` without its leading `word` (any case) and the whitespace after it
/// (at least one character of it).
fn keyword<'a>(s: &'a str, word: &str) -> Option<&'a str> {
    let rest = strip_word(s, word)?;
    rest.starts_with(char::is_whitespace)
        .then(|| rest.trim_start())
}

/// `s` without its leading `word` (any case).
fn strip_word<'a>(s: &'a str, word: &str) -> Option<&'a str> {
    let head = s.get(..word.len())?;
    head.eq_ignore_ascii_case(word).then(|| &s[word.len()..])
}

/// `` `col` [COLLATE NOCASE] ) `` at the start of `s` (after a `(`).
fn one_column(s: &str) -> Option<(&str, bool)> {
    let s = s.trim_start();
    let s = s.strip_prefix(['`', '"', '[']).unwrap_or(s);
    let end = s
        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .unwrap_or(s.len());
    let (col, rest) = s.split_at(end);
    if col.is_empty() {
        return None;
    }
    let rest = rest
        .strip_prefix(['`', '"', ']'])
        .unwrap_or(rest)
        .trim_start();
    let (nocase, rest) = match keyword(rest, "COLLATE") {
        Some(r) => (true, strip_word(r, "NOCASE")?),
        None => (false, rest),
    };
    rest.trim_start().starts_with(')').then_some((col, nocase))
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

#[cfg(test)]
mod tests {
    use super::unique_index_column;

    #[test]
    fn reads_the_column_of_one_column_unique_indexes() {
        let cases = [
            (
                "CREATE UNIQUE INDEX `idx_username__pb_users_auth_` ON `users` (`username` COLLATE NOCASE) WHERE `username` != ''",
                Some(("username", true)),
            ),
            ("CREATE UNIQUE INDEX idx_nick ON members (nick)", Some(("nick", false))),
            ("  create unique index i on t ( \"nick\" )", Some(("nick", false))),
            ("CREATE UNIQUE INDEX i ON t ([nick] collate   nocase)", Some(("nick", true))),
            ("CREATE UNIQUE INDEX IF NOT EXISTS i ON t (nick)", Some(("nick", false))),
            ("CREATE\nUNIQUE\tINDEX i ON t (nick)\nWHERE (nick != '')", Some(("nick", false))),
            ("CREATE UNIQUE INDEX i ON t (a, b)", None),
            ("CREATE UNIQUE INDEX i ON t (a, b) WHERE (c)", Some(("c", false))),
            ("CREATE INDEX i ON t (nick)", None),
            ("CREATE UNIQUE INDEX i ON t (nick COLLATE BINARY)", None),
            ("CREATE UNIQUE INDEX(nick)", None),
            ("CREATE UNIQUEINDEX i ON t (nick)", None),
            ("", None),
        ];
        for (sql, want) in cases {
            assert_eq!(unique_index_column(sql), want, "{sql}");
        }
    }
}
