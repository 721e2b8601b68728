//! Token secrets of a config document that is still plain JSON: kept from
//! the document itself or from the one already deployed, generated
//! otherwise. Secrets are never logged or printed.

use serde_json::{Map, Value};

use crate::random::{self, Random};

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
        let old = deployed_twin(obj, existing);
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
            let secret = match kept_secret(old, key) {
                Some(s) => s,
                None => {
                    generated += 1;
                    random::secret(rng)
                }
            };
            tok.insert("secret".into(), Value::String(secret));
        }
    }
    generated
}

/// The collection of `existing` that `coll` replaces: same id, else same name.
fn deployed_twin<'a>(coll: &Map<String, Value>, existing: Option<&'a Value>) -> Option<&'a Value> {
    let id = coll.get("id").and_then(Value::as_str).map(str::to_owned);
    let name = coll.get("name").and_then(Value::as_str).map(str::to_owned);
    existing
        .and_then(|e| e.get("collections"))
        .and_then(Value::as_array)
        .and_then(|list| {
            list.iter()
                .find(|c| id.is_some() && c.get("id").and_then(Value::as_str) == id.as_deref())
                .or_else(|| {
                    list.iter().find(|c| {
                        name.is_some() && c.get("name").and_then(Value::as_str) == name.as_deref()
                    })
                })
        })
}

/// The non-empty secret of token `key` in a deployed collection.
fn kept_secret(old: Option<&Value>, key: &str) -> Option<String> {
    old.and_then(|o| o.get(key))
        .and_then(|t| t.get("secret"))
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// A predictable [`Random`] for tests: bytes count up, modulo 62.
#[cfg(test)]
pub(super) struct Counter(pub(super) std::sync::atomic::AtomicU8);

#[cfg(test)]
impl Random for Counter {
    fn fill(&self, buf: &mut [u8]) {
        for b in buf {
            *b = self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % 62;
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::config::AppConfig;

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
