//! The secrets of a config document: the five token signing secrets of
//! every auth collection and the OAuth2 client secrets.
//!
//! A document as written by hand gets its token secrets from
//! [`fill_secrets`] (kept from the document itself or from the one already
//! deployed, generated otherwise). Deployed, the secrets live apart from the
//! rest of the document: [`split_secrets`] moves them into a *secrets
//! document* for the [`SecretStore`](crate::ports::SecretStore) (AWS Secrets
//! Manager, a 0600 file locally), the rest goes to the table, and
//! [`merge_secrets`] puts them back together when a function loads its
//! config. Secrets are never logged or printed.
//!
//! The secrets document, keyed by collection id:
//! `{"collections": {"<id>": {"authToken": "…", "verificationToken": "…",
//! "passwordResetToken": "…", "emailChangeToken": "…", "fileToken": "…",
//! "oauth2": {"<provider name>": "<client secret>"}}}}`.

use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

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
        keep_client_secrets(obj, old);
    }
    generated
}

/// Gives each OAuth2 provider of `coll` without a `clientSecret` the one its
/// namesake in the deployed collection `old` has, so the file an operator
/// keeps (and commits) need not hold client secrets once they are stored.
fn keep_client_secrets(coll: &mut Map<String, Value>, old: Option<&Value>) {
    let Some(providers) = coll
        .get_mut("oauth2")
        .and_then(|o| o.get_mut("providers"))
        .and_then(Value::as_array_mut)
    else {
        return;
    };
    for p in providers.iter_mut().filter_map(Value::as_object_mut) {
        let has = p
            .get("clientSecret")
            .and_then(Value::as_str)
            .is_some_and(|s| !s.is_empty());
        if has {
            continue;
        }
        let name = p.get("name").and_then(Value::as_str).map(str::trim);
        let kept = old
            .and_then(|o| o.get("oauth2"))
            .and_then(|o| o.get("providers"))
            .and_then(Value::as_array)
            .and_then(|list| {
                list.iter()
                    .find(|q| q.get("name").and_then(Value::as_str).map(str::trim) == name)
            })
            .and_then(|q| q.get("clientSecret"))
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty());
        if let Some(secret) = kept {
            p.insert("clientSecret".into(), Value::String(secret.to_owned()));
        }
    }
}

/// The id a collection of the document gets: its `id`, else the one derived
/// from its name (as config validation derives it).
pub fn collection_id(coll: &Value) -> String {
    match coll.get("id").and_then(Value::as_str) {
        Some(id) if !id.is_empty() => id.to_owned(),
        _ => derived_id(coll.get("name").and_then(Value::as_str).unwrap_or("")),
    }
}

pub(super) fn derived_id(name: &str) -> String {
    let digest = Sha256::digest(name.as_bytes());
    let mut id = String::from("pbc_");
    for b in digest.iter().take(5) {
        id.push_str(&format!("{b:02x}"));
    }
    id
}

fn collections_mut(doc: &mut Value) -> impl Iterator<Item = &mut Map<String, Value>> {
    doc.get_mut("collections")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flat_map(|list| list.iter_mut().filter_map(Value::as_object_mut))
}

fn providers_mut(coll: &mut Map<String, Value>) -> impl Iterator<Item = &mut Map<String, Value>> {
    coll.get_mut("oauth2")
        .and_then(|o| o.get_mut("providers"))
        .and_then(Value::as_array_mut)
        .into_iter()
        .flat_map(|list| list.iter_mut().filter_map(Value::as_object_mut))
}

fn provider_name(p: &Map<String, Value>) -> String {
    p.get("name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .trim()
        .to_owned()
}

/// Takes every secret out of `doc` (token `secret`s, provider
/// `clientSecret`s) and returns them as a secrets document (module docs).
/// Empty values are dropped.
pub fn split_secrets(doc: &mut Value) -> Value {
    let mut out = Map::new();
    for coll in collections_mut(doc) {
        let id = collection_id(&Value::Object(coll.clone()));
        let mut entry = Map::new();
        for key in TOKEN_KEYS {
            let taken = coll
                .get_mut(key)
                .and_then(Value::as_object_mut)
                .and_then(|t| t.remove("secret"));
            if let Some(Value::String(s)) =
                taken.filter(|v| v.as_str().is_some_and(|s| !s.is_empty()))
            {
                entry.insert(key.into(), Value::String(s));
            }
        }
        let mut clients = Map::new();
        for p in providers_mut(coll) {
            let name = provider_name(p);
            if let Some(Value::String(s)) = p.remove("clientSecret") {
                if !s.is_empty() {
                    clients.insert(name, Value::String(s));
                }
            }
        }
        if !clients.is_empty() {
            entry.insert("oauth2".into(), Value::Object(clients));
        }
        if !entry.is_empty() {
            out.insert(id, Value::Object(entry));
        }
    }
    json!({ "collections": out })
}

/// Puts the secrets of `secrets` (a secrets document) into `doc`. A secret
/// the secrets document lacks but `doc` still holds inline (a stack whose
/// config predates the secret store) stays as it is.
pub fn merge_secrets(doc: &mut Value, secrets: &Value) {
    let stored = secrets.get("collections").and_then(Value::as_object);
    for coll in collections_mut(doc) {
        let id = collection_id(&Value::Object(coll.clone()));
        let Some(entry) = stored.and_then(|s| s.get(&id)) else {
            continue;
        };
        for key in TOKEN_KEYS {
            let Some(secret) = entry.get(key).and_then(Value::as_str) else {
                continue;
            };
            let tok = coll.entry(key).or_insert_with(|| Value::Object(Map::new()));
            if let Some(tok) = tok.as_object_mut() {
                tok.insert("secret".into(), Value::String(secret.to_owned()));
            }
        }
        let clients = entry.get("oauth2").and_then(Value::as_object);
        for p in providers_mut(coll) {
            let name = provider_name(p);
            if let Some(secret) = clients.and_then(|c| c.get(&name)).and_then(Value::as_str) {
                p.insert("clientSecret".into(), Value::String(secret.to_owned()));
            }
        }
    }
}

/// Whether `doc` holds any secret inline: a config item written before the
/// secret store, whose secrets `authgate collections apply` moves out and
/// rotates.
pub fn has_inline_secrets(doc: &Value) -> bool {
    let mut copy = doc.clone();
    split_secrets(&mut copy)
        .get("collections")
        .and_then(Value::as_object)
        .is_some_and(|c| !c.is_empty())
}

/// Every secret value of a secrets document (tests look for them in the
/// table).
pub fn secret_values(secrets: &Value) -> Vec<String> {
    fn walk(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::String(s) => out.push(s.clone()),
            Value::Object(m) => m.values().for_each(|v| walk(v, out)),
            Value::Array(a) => a.iter().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    if let Some(c) = secrets.get("collections") {
        walk(c, &mut out);
    }
    out
}

/// Replaces the five token secrets of collection `collection_id` in a
/// secrets document with fresh random ones: every token of that collection
/// (auth, verification, password reset, email change, file) stops
/// verifying; other collections and the OAuth2 client secrets are left as
/// they are.
pub fn rotate_token_secrets(secrets: &mut Value, collection_id: &str, rng: &dyn Random) {
    if !secrets.is_object() {
        *secrets = json!({});
    }
    let Some(root) = secrets.as_object_mut() else {
        return;
    };
    let colls = root
        .entry("collections")
        .or_insert_with(|| Value::Object(Map::new()));
    if !colls.is_object() {
        *colls = Value::Object(Map::new());
    }
    let Some(colls) = colls.as_object_mut() else {
        return;
    };
    let entry = colls
        .entry(collection_id)
        .or_insert_with(|| Value::Object(Map::new()));
    if !entry.is_object() {
        *entry = Value::Object(Map::new());
    }
    if let Some(entry) = entry.as_object_mut() {
        for key in TOKEN_KEYS {
            entry.insert(key.into(), Value::String(random::secret(rng)));
        }
    }
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

    #[test]
    fn split_takes_every_secret_out_and_merge_puts_them_back() {
        let mut doc = json!({"collections":[
            {"id":"c1","name":"users","type":"auth","oauth2":{"providers":[{"name":"github","clientId":"id","clientSecret":"gh-secret"}]}},
            {"name":"members","type":"auth"},
            {"name":"posts","type":"base"}
        ]});
        let rng = Counter(Default::default());
        fill_secrets(&mut doc, None, &rng);
        let full = doc.clone();
        let secrets = split_secrets(&mut doc);
        assert!(!has_inline_secrets(&doc));
        assert!(has_inline_secrets(&full));
        let text = doc.to_string();
        let values = secret_values(&secrets);
        assert_eq!(
            values.len(),
            11,
            "5 + 5 token secrets and one client secret"
        );
        for v in &values {
            assert!(
                !text.contains(v.as_str()),
                "a secret stayed in the document"
            );
        }
        assert_eq!(
            secrets["collections"]["c1"]["oauth2"]["github"],
            "gh-secret"
        );
        assert!(secrets["collections"][derived_id("members")]["authToken"].is_string());
        merge_secrets(&mut doc, &secrets);
        assert_eq!(doc, full);
    }

    #[test]
    fn rotation_changes_one_collections_five_token_secrets_only() {
        let mut doc = json!({"collections":[
            {"id":"a","name":"a","type":"auth","oauth2":{"providers":[{"name":"google","clientId":"id","clientSecret":"g"}]}},
            {"id":"b","name":"b","type":"auth"}
        ]});
        let rng = Counter(Default::default());
        fill_secrets(&mut doc, None, &rng);
        let before = split_secrets(&mut doc);
        let mut after = before.clone();
        rotate_token_secrets(&mut after, "a", &rng);
        for key in TOKEN_KEYS {
            assert_ne!(
                after["collections"]["a"][key],
                before["collections"]["a"][key]
            );
            assert_eq!(
                after["collections"]["b"][key],
                before["collections"]["b"][key]
            );
        }
        assert_eq!(
            after["collections"]["a"]["oauth2"],
            before["collections"]["a"]["oauth2"]
        );
    }

    #[test]
    fn a_client_secret_left_out_of_the_file_is_kept_from_the_deployed_collection() {
        let deployed = json!({"collections":[{"id":"c1","name":"users","type":"auth",
            "oauth2":{"providers":[{"name":"github","clientId":"id","clientSecret":"kept"}]}}]});
        let mut doc = json!({"collections":[{"id":"c1","name":"users","type":"auth",
            "oauth2":{"providers":[{"name":"github","clientId":"id"},{"name":"google","clientId":"id"}]}}]});
        fill_secrets(&mut doc, Some(&deployed), &Counter(Default::default()));
        let providers = &doc["collections"][0]["oauth2"]["providers"];
        assert_eq!(providers[0]["clientSecret"], "kept");
        assert!(providers[1].get("clientSecret").is_none());
    }
}
