//! Validation of client-supplied record data, mirroring PocketBase's field
//! rules and error codes. Values are cast the way PocketBase casts them
//! (a number sent to a text field becomes its string form, …).

use serde_json::{json, Map, Value};

use crate::config::{Collection, Field, FieldKind, PasswordRules};
use crate::error::{FieldError, FieldErrors};
use crate::model::{Record, Timestamp, UniqueKey};

fn min_text(min: usize) -> FieldError {
    FieldError::new(
        "validation_min_text_constraint",
        format!("Must be at least {min} character(s)."),
    )
    .with_params(json!({ "min": min }))
}

fn max_text(max: usize) -> FieldError {
    FieldError::new(
        "validation_max_text_constraint",
        format!("Must be no more than {max} character(s)."),
    )
    .with_params(json!({ "max": max }))
}

/// Checks a new password against the collection's password field rules.
pub fn password(rules: &PasswordRules, value: &str) -> Option<FieldError> {
    let len = value.chars().count();
    if value.is_empty() {
        return Some(FieldError::required());
    }
    if len < rules.min {
        return Some(min_text(rules.min));
    }
    if len > rules.max {
        return Some(max_text(rules.max));
    }
    if let Some(p) = &rules.pattern {
        if !p.is_match(value) {
            return Some(FieldError::new(
                "validation_invalid_format",
                "Invalid value format.",
            ));
        }
    }
    None
}

/// Checks a password a form compares with the stored hash: present and at
/// most [`PasswordRules::CEILING`] characters, which no collection's `max`
/// exceeds, so every password that could be set passes.
pub fn password_to_check(value: &str) -> Option<FieldError> {
    crate::form::required_length(value, 1, PasswordRules::CEILING)
}

/// PocketBase's `cast.ToString`.
pub fn cast_string(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        _ => String::new(),
    }
}

/// PocketBase's `cast.ToBool`.
pub fn cast_bool(v: &Value) -> bool {
    match v {
        Value::Bool(b) => *b,
        Value::String(s) => matches!(s.trim(), "true" | "1" | "TRUE" | "True" | "t" | "T"),
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        _ => false,
    }
}

fn cast_number(v: &Value) -> f64 {
    match v {
        Value::Number(n) => n.as_f64().unwrap_or(0.0),
        Value::String(s) => s.trim().parse().unwrap_or(0.0),
        Value::Bool(b) => f64::from(u8::from(*b)),
        _ => 0.0,
    }
}

fn number_value(f: f64) -> Value {
    if f.fract() == 0.0 && f.abs() < 9.0e15 {
        json!(f as i64)
    } else {
        serde_json::Number::from_f64(f).map_or(json!(0), Value::Number)
    }
}

fn domain_allowed(addr_domain: &str, only: &[String], except: &[String]) -> bool {
    let d = addr_domain.to_ascii_lowercase();
    if !only.is_empty() && !only.iter().any(|o| o.eq_ignore_ascii_case(&d)) {
        return false;
    }
    !except.iter().any(|e| e.eq_ignore_ascii_case(&d))
}

fn parse_date(s: &str) -> Option<String> {
    let s = s.trim();
    let parsed = chrono::DateTime::parse_from_rfc3339(s)
        .map(|d| d.with_timezone(&chrono::Utc))
        .ok()
        .or_else(|| {
            chrono::NaiveDateTime::parse_from_str(s.trim_end_matches('Z'), "%Y-%m-%d %H:%M:%S%.f")
                .ok()
                .map(|n| n.and_utc())
        })
        .or_else(|| {
            chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .ok()
                .and_then(|d| d.and_hms_opt(0, 0, 0))
                .map(|n| n.and_utc())
        })?;
    Some(Timestamp(parsed.timestamp_millis()).to_pocketbase())
}

/// A blank value: an error for a required field, else stored as `zero`.
fn blank(field: &Field, zero: Value) -> Result<Value, FieldError> {
    if field.required {
        Err(FieldError::required())
    } else {
        Ok(zero)
    }
}

/// Either domain list of an email or url field refusing `domain`.
fn domain_error(
    domain: &str,
    only: &[String],
    except: &[String],
    code: &str,
    what: &str,
) -> Result<(), FieldError> {
    if domain_allowed(domain, only, except) {
        Ok(())
    } else {
        Err(FieldError::new(
            code,
            format!("{what} domain is not allowed."),
        ))
    }
}

/// Validates and casts one field's value. `None` input means "not sent".
fn field_value(field: &Field, input: Option<&Value>) -> Result<Value, FieldError> {
    let v = input.unwrap_or(&Value::Null);
    match &field.kind {
        FieldKind::Text { min, max, pattern } => {
            let s = cast_string(v);
            if s.is_empty() {
                return blank(field, Value::String(s));
            }
            let len = s.chars().count();
            if len < *min {
                return Err(min_text(*min));
            }
            if len > *max {
                return Err(max_text(*max));
            }
            if let Some(p) = pattern {
                if !p.is_match(&s) {
                    return Err(FieldError::new(
                        "validation_invalid_format",
                        "Invalid value format.",
                    ));
                }
            }
            Ok(Value::String(s))
        }
        FieldKind::Email {
            only_domains,
            except_domains,
        } => {
            let s = cast_string(v).trim().to_owned();
            if s.is_empty() {
                return blank(field, Value::String(s));
            }
            if !crate::email::is_valid(&s) {
                return Err(FieldError::is_email());
            }
            let domain = s.rsplit_once('@').map(|(_, d)| d).unwrap_or_default();
            let code = "validation_email_domain_not_allowed";
            domain_error(domain, only_domains, except_domains, code, "Email")?;
            Ok(Value::String(s))
        }
        FieldKind::Url {
            only_domains,
            except_domains,
        } => {
            let s = cast_string(v).trim().to_owned();
            if s.is_empty() {
                return blank(field, Value::String(s));
            }
            let Ok(u) = url::Url::parse(&s) else {
                return Err(FieldError::new("validation_is_url", "Must be a valid url."));
            };
            let host = u.host_str().unwrap_or_default();
            if host.is_empty() {
                return Err(FieldError::new("validation_is_url", "Must be a valid url."));
            }
            let code = "validation_url_domain_not_allowed";
            domain_error(host, only_domains, except_domains, code, "Url")?;
            Ok(Value::String(s))
        }
        FieldKind::Bool => {
            let b = cast_bool(v);
            if field.required && !b {
                return Err(FieldError::required());
            }
            Ok(Value::Bool(b))
        }
        FieldKind::Number { min, max, only_int } => {
            let n = cast_number(v);
            if !n.is_finite() {
                return Err(FieldError::new(
                    "validation_not_a_number",
                    "The submitted number is not properly formatted.",
                ));
            }
            // A zero value is "blank": only `required` applies to it.
            if n == 0.0 {
                return blank(field, json!(0));
            }
            if *only_int && n.fract() != 0.0 {
                return Err(FieldError::new(
                    "validation_only_int_constraint",
                    "Decimal numbers are not allowed.",
                ));
            }
            if let Some(m) = min {
                if n < *m {
                    return Err(FieldError::new(
                        "validation_min_number_constraint",
                        format!("Must be larger than {m}."),
                    )
                    .with_params(json!({ "min": m })));
                }
            }
            if let Some(m) = max {
                if n > *m {
                    return Err(FieldError::new(
                        "validation_max_number_constraint",
                        format!("Must be less than {m}."),
                    )
                    .with_params(json!({ "max": m })));
                }
            }
            Ok(number_value(n))
        }
        FieldKind::Date => {
            let s = cast_string(v);
            if s.trim().is_empty() {
                return blank(field, Value::String(String::new()));
            }
            parse_date(&s)
                .map(Value::String)
                .ok_or_else(|| FieldError::new("validation_invalid_date", "Must be a valid date."))
        }
        FieldKind::Json { max_size } => {
            let size = serde_json::to_vec(v).map(|b| b.len()).unwrap_or(usize::MAX);
            if size > *max_size {
                return Err(FieldError::new(
                    "validation_json_size_limit",
                    format!("The maximum allowed JSON size is {max_size} bytes."),
                )
                .with_params(json!({ "maxSize": max_size })));
            }
            let empty = matches!(v, Value::Null)
                || v.as_str() == Some("")
                || v.as_array().is_some_and(Vec::is_empty)
                || v.as_object().is_some_and(Map::is_empty);
            if field.required && empty {
                return Err(FieldError::required());
            }
            Ok(v.clone())
        }
        FieldKind::Select { values, max_select } => {
            let picked: Vec<String> = match v {
                Value::Array(a) => a
                    .iter()
                    .map(cast_string)
                    .filter(|s| !s.is_empty())
                    .collect(),
                other => Some(cast_string(other))
                    .filter(|s| !s.is_empty())
                    .into_iter()
                    .collect(),
            };
            if picked.is_empty() && field.required {
                return Err(FieldError::required());
            }
            if let Some(bad) = picked.iter().find(|p| !values.contains(p)) {
                return Err(FieldError::new(
                    "validation_invalid_value",
                    format!("Invalid value {bad}."),
                )
                .with_params(json!({ "value": bad })));
            }
            if picked.len() > *max_select {
                return Err(FieldError::new(
                    "validation_too_many_values",
                    format!("Select no more than {max_select}."),
                )
                .with_params(json!({ "maxSelect": max_select })));
            }
            Ok(if *max_select > 1 {
                json!(picked)
            } else {
                Value::String(picked.into_iter().next().unwrap_or_default())
            })
        }
        FieldKind::Autodate { .. } | FieldKind::Unsupported(_) => Ok(Value::Null),
    }
}

/// Builds the custom-field map of a new record from client input. Hidden
/// fields cannot be set by clients (PocketBase restores them), autodate
/// fields are filled from `now`, unsupported types are left out.
pub fn new_record_fields(
    collection: &Collection,
    input: &Map<String, Value>,
    now: Timestamp,
    errors: &mut FieldErrors,
) -> Map<String, Value> {
    let mut out = Map::new();
    for field in &collection.fields {
        match &field.kind {
            FieldKind::Unsupported(_) => continue,
            FieldKind::Autodate { on_create, .. } => {
                if *on_create {
                    out.insert(field.name.clone(), Value::String(now.to_pocketbase()));
                }
                continue;
            }
            _ => {}
        }
        let given = if field.hidden {
            None
        } else {
            input.get(&field.name)
        };
        match field_value(field, given) {
            Ok(v) => {
                out.insert(field.name.clone(), v);
            }
            Err(e) => {
                errors.insert(field.name.clone(), e);
            }
        }
    }
    out
}

/// Applies client input to an existing record's custom fields: each of the
/// collection's own fields present in `input` is validated and cast as on
/// sign-up; fields not sent keep their values. Hidden fields cannot be set
/// by clients (PocketBase drops them from the body), autodate fields are
/// not settable (PocketBase ignores them; `onUpdate` ones are touched by
/// the update itself), unsupported types and unknown keys are ignored.
pub fn updated_record_fields(
    collection: &Collection,
    input: &Map<String, Value>,
    current: &Map<String, Value>,
    errors: &mut FieldErrors,
) -> Map<String, Value> {
    let mut out = current.clone();
    for field in &collection.fields {
        if field.hidden
            || matches!(
                field.kind,
                FieldKind::Autodate { .. } | FieldKind::Unsupported(_)
            )
        {
            continue;
        }
        let Some(given) = input.get(&field.name) else {
            continue;
        };
        match field_value(field, Some(given)) {
            Ok(v) => {
                out.insert(field.name.clone(), v);
            }
            Err(e) => {
                errors.insert(field.name.clone(), e);
            }
        }
    }
    out
}

/// Marks `onUpdate` autodate fields as changed at `now`.
pub fn touch_autodates(collection: &Collection, fields: &mut Map<String, Value>, now: Timestamp) {
    for f in &collection.fields {
        if let FieldKind::Autodate {
            on_update: true, ..
        } = f.kind
        {
            fields.insert(f.name.clone(), Value::String(now.to_pocketbase()));
        }
    }
}

/// The unique keys a record claims: its folded email plus every non-empty
/// value of a field with a UNIQUE index.
pub fn unique_keys(collection: &Collection, record: &Record) -> Vec<UniqueKey> {
    let mut keys = Vec::new();
    if !record.email.is_empty() {
        keys.push(UniqueKey::new("email", crate::email::fold(&record.email)));
    }
    for u in &collection.unique_fields {
        let value = record
            .fields
            .get(&u.name)
            .map(cast_string)
            .unwrap_or_default();
        if value.is_empty() {
            continue;
        }
        let value = if u.nocase {
            value.to_ascii_lowercase()
        } else {
            value
        };
        keys.push(UniqueKey::new(u.name.clone(), value));
    }
    keys
}

/// The unique key used to look a record up by an identity field.
pub fn identity_key(collection: &Collection, field: &str, identity: &str) -> UniqueKey {
    if field == "email" {
        return UniqueKey::new("email", crate::email::fold(identity));
    }
    let nocase = collection
        .unique_fields
        .iter()
        .any(|u| u.name == field && u.nocase);
    let value = if nocase {
        identity.to_ascii_lowercase()
    } else {
        identity.to_owned()
    };
    UniqueKey::new(field, value)
}
