//! PocketBase's shapes → Authgate's: an auth collection row → the
//! collection's config JSON (PocketBase's own export shape, which the
//! config reads), a record row → [`Record`], a link row → [`ExternalAuth`].
//! What Authgate does not enforce is narrowed and reported, never loosened.

use authgate_core::config::{Collection, FieldKind};
use authgate_core::model::{ExternalAuth, Record, Timestamp};
use serde_json::{json, Map, Value};

use super::source::{PbCollection, PbExternalAuth};

/// The shortest OTP Authgate sends (config validation refuses less).
pub const MIN_OTP_LENGTH: i64 = 6;

/// The Authgate config JSON of an auth collection, and a note for every
/// setting that was narrowed on the way.
pub fn collection_doc(pb: &PbCollection, notes: &mut Vec<String>) -> Value {
    let name = &pb.name;
    let mut doc = Map::new();
    doc.insert("id".into(), json!(pb.id));
    doc.insert("name".into(), json!(pb.name));
    doc.insert("type".into(), json!("auth"));
    doc.insert("fields".into(), Value::Array(pb.fields.clone()));
    doc.insert("indexes".into(), json!(pb.indexes));
    // Rules as they are (`authRule` comes with the options): the config's
    // own validation decides which forms Authgate enforces, and the import
    // turns the others into null (`fix_until_valid`).
    for (key, rule) in &pb.rules {
        doc.insert((*key).into(), json!(rule));
    }
    for (key, value) in &pb.options {
        match key.as_str() {
            "manageRule" => {
                if !value.is_null() {
                    notes.push(format!(
                        "{name}.manageRule: {:?} is not supported: imported as null (nobody manages other records)",
                        value.as_str().unwrap_or_default()
                    ));
                }
            }
            _ => {
                doc.insert(key.clone(), value.clone());
            }
        }
    }
    if let Some(otp) = doc.get_mut("otp").and_then(Value::as_object_mut) {
        let length = otp.get("length").and_then(Value::as_i64).unwrap_or(8);
        if length < MIN_OTP_LENGTH {
            notes.push(format!(
                "{name}.otp.length: {length} raised to {MIN_OTP_LENGTH} (Authgate's shortest code)"
            ));
            otp.insert("length".into(), json!(MIN_OTP_LENGTH));
        }
    }
    if let Some(mfa) = doc.get_mut("mfa").and_then(Value::as_object_mut) {
        let enabled = mfa.get("enabled").and_then(Value::as_bool) == Some(true);
        let rule = mfa
            .remove("rule")
            .and_then(|r| r.as_str().map(str::to_owned));
        if let Some(rule) = rule.filter(|r| enabled && !r.trim().is_empty()) {
            notes.push(format!(
                "{name}.mfa.rule: {rule:?} is not supported: MFA applies to every login"
            ));
        }
    }
    Value::Object(doc)
}

/// Why a record row could not become a record.
pub type RowError = String;

/// A record row, mapped.
pub struct Row {
    /// The record Authgate stores (version 1).
    pub record: Record,
    /// Unsupported fields whose non-empty values were left out.
    pub dropped: Vec<String>,
    /// Whether `created`/`updated` came from the row (PocketBase's autodate
    /// columns); when not, they are `now` and an update keeps the stored
    /// ones, so a re-import stays a no-op.
    pub dated: bool,
}

/// A record row of `collection` → the record Authgate stores.
pub fn record_from_row(
    collection: &Collection,
    row: &Map<String, Value>,
    now: Timestamp,
) -> Result<Row, RowError> {
    let text = |k: &str| match row.get(k) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    };
    let id = text("id");
    if !authgate_core::model::is_plausible_id(&id) {
        return Err(format!("id {id:?} is not a plausible record id"));
    }
    let mut fields = Map::new();
    let mut dropped = Vec::new();
    for f in &collection.fields {
        let raw = row.get(&f.name).cloned().unwrap_or(Value::Null);
        let value = match &f.kind {
            FieldKind::Unsupported(_) => {
                if !is_empty(&raw) {
                    dropped.push(f.name.clone());
                }
                continue;
            }
            FieldKind::Text { .. }
            | FieldKind::Email { .. }
            | FieldKind::Url { .. }
            | FieldKind::Date
            | FieldKind::Autodate { .. } => Value::String(text(&f.name)),
            FieldKind::Bool => Value::Bool(truthy(&raw)),
            FieldKind::Number { .. } => number(&raw),
            FieldKind::Json { .. } => match raw {
                Value::String(s) if s.trim().is_empty() => Value::Null,
                Value::String(s) => serde_json::from_str(&s).unwrap_or(Value::String(s)),
                other => other,
            },
            FieldKind::Select { max_select, .. } => {
                let s = text(&f.name);
                if *max_select > 1 {
                    serde_json::from_str::<Vec<String>>(&s)
                        .map(|v| json!(v))
                        .unwrap_or_else(|_| if s.is_empty() { json!([]) } else { json!([s]) })
                } else {
                    Value::String(s)
                }
            }
        };
        fields.insert(f.name.clone(), value);
    }
    let stamp = |k: &str| parse_pb_date(&text(k));
    let (created, updated) = (stamp("created"), stamp("updated"));
    let dated = created.is_some() && updated.is_some();
    let record = Record {
        id,
        collection_id: collection.id.clone(),
        email: text("email"),
        email_visibility: truthy(row.get("emailVisibility").unwrap_or(&Value::Null)),
        verified: truthy(row.get("verified").unwrap_or(&Value::Null)),
        password_hash: text("password"),
        token_key: text("tokenKey"),
        created: created.unwrap_or(now),
        updated: updated.or(created).unwrap_or(now),
        fields,
        version: 1,
    };
    Ok(Row {
        record,
        dropped,
        dated,
    })
}

/// A link row → the link Authgate stores.
pub fn link_from_row(link: &PbExternalAuth, now: Timestamp) -> ExternalAuth {
    ExternalAuth {
        collection_id: link.collection_ref.clone(),
        record_id: link.record_ref.clone(),
        provider: link.provider.clone(),
        provider_id: link.provider_id.clone(),
        created: parse_pb_date(&link.created).unwrap_or(now),
    }
}

/// PocketBase's datetime (`2026-11-26 01:14:36.865Z`, or RFC 3339).
pub fn parse_pb_date(s: &str) -> Option<Timestamp> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    let parsed = chrono::DateTime::parse_from_rfc3339(s)
        .map(|d| d.with_timezone(&chrono::Utc))
        .ok()
        .or_else(|| {
            chrono::NaiveDateTime::parse_from_str(s.trim_end_matches('Z'), "%Y-%m-%d %H:%M:%S%.f")
                .ok()
                .map(|n| n.and_utc())
        })?;
    Some(Timestamp(parsed.timestamp_millis()))
}

fn truthy(v: &Value) -> bool {
    match v {
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => matches!(s.trim(), "1" | "true" | "TRUE" | "True"),
        _ => false,
    }
}

fn number(v: &Value) -> Value {
    let f = match v {
        Value::Number(n) => n.as_f64().unwrap_or(0.0),
        Value::String(s) => s.trim().parse().unwrap_or(0.0),
        _ => 0.0,
    };
    if f.fract() == 0.0 && f.abs() < 9.0e15 {
        json!(f as i64)
    } else {
        serde_json::Number::from_f64(f).map_or(json!(0), Value::Number)
    }
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => {
            let t = s.trim();
            t.is_empty() || t == "[]" || t == "null" || t == "{}"
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pb(options: Value, rules: [Option<&str>; 5]) -> PbCollection {
        let keys = [
            "listRule",
            "viewRule",
            "createRule",
            "updateRule",
            "deleteRule",
        ];
        PbCollection {
            id: "c1".into(),
            name: "members".into(),
            kind: "auth".into(),
            system: false,
            fields: vec![],
            indexes: vec![],
            rules: keys
                .iter()
                .zip(rules)
                .map(|(k, r)| (*k, r.map(str::to_owned)))
                .collect(),
            options: options.as_object().cloned().unwrap_or_default(),
        }
    }

    #[test]
    fn settings_authgate_does_not_have_are_narrowed_and_reported_never_loosened() {
        let mut notes = Vec::new();
        let doc = collection_doc(
            &pb(
                json!({
                    "authRule": "verified = true",
                    "manageRule": "@request.auth.role = 'admin'",
                    "passwordAuth": {"enabled": true, "identityFields": ["email"]},
                    "otp": {"enabled": true, "length": 4, "duration": 180},
                    "oauth2": {"enabled": true, "providers": []},
                    "mfa": {"enabled": true, "duration": 600, "rule": "verified = false"}
                }),
                [
                    Some("id = @request.auth.id"),
                    Some("verified = true"),
                    Some(""),
                    None,
                    Some("id=@request.auth.id"),
                ],
            ),
            &mut notes,
        );
        // Rules pass as they are: the config's validation judges them.
        assert_eq!(doc["viewRule"], "verified = true");
        assert_eq!(doc["updateRule"], Value::Null);
        assert_eq!(doc["authRule"], "verified = true");
        assert_eq!(doc["otp"]["length"], 6);
        assert!(doc.get("manageRule").is_none());
        assert!(doc["mfa"].get("rule").is_none());
        let all = notes.join("\n");
        for want in [
            "members.manageRule",
            "members.otp.length: 4 raised to 6",
            "members.mfa.rule",
        ] {
            assert!(all.contains(want), "{want:?} missing in:\n{all}");
        }
        assert_eq!(notes.len(), 3, "{all}");
    }

    #[test]
    fn supported_settings_pass_without_notes() {
        let mut notes = Vec::new();
        let doc = collection_doc(
            &pb(
                json!({"authRule": "", "manageRule": null, "otp": {"enabled": false, "length": 8},
                       "mfa": {"enabled": false, "rule": ""}}),
                [None, Some(""), Some(""), None, None],
            ),
            &mut notes,
        );
        assert!(notes.is_empty(), "{notes:?}");
        assert_eq!(doc["otp"]["length"], 8);
    }

    #[test]
    fn pocketbase_dates_parse_to_milliseconds() {
        assert_eq!(
            parse_pb_date("2026-12-01 23:29:53.251Z"),
            Some(Timestamp(1_796_167_793_251))
        );
        assert_eq!(parse_pb_date(""), None);
    }
}
