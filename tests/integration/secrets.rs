//! Secrets outside the table: token signing secrets and OAuth2 client
//! secrets live in the secret store (Secrets Manager, here moto's), never in
//! a DynamoDB item; `authgate collections apply` moves the secrets of an
//! older config item out and rotates them; `authgate collections
//! rotate-secrets` logs out one collection and no other.

use std::collections::HashMap;
use std::sync::Arc;

use authgate_adapters::dynamodb::DynamoStore;
use authgate_core::config::{fill_secrets, secret_values, TOKEN_KEYS};
use authgate_core::ports::{ConfigStore, SecretStore, Store};
use authgate_tests::{
    config_with, dynamodb_client, moto_secrets, temp_dir, unique, unique_email, Options, TestApp,
};
use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::{json, Value};

use crate::cli::collections;

const PASSWORD: &str = "secret-Passw0rd";
const CLIENT_SECRET: &str = "gh-client-secret-0123456789-abcdefghij";

/// The default config plus a second auth collection `members` with OTP,
/// MFA off and a GitHub provider (client secret [`CLIENT_SECRET`]).
fn two_collections() -> Value {
    config_with(vec![json!({
        "name": "members",
        "type": "auth",
        "otp": {"enabled": true},
        "authAlert": {"enabled": true},
        "oauth2": {
            "enabled": true,
            "providers": [{"name": "github", "clientId": "cid", "clientSecret": CLIENT_SECRET}]
        }
    })])
}

/// Writes `doc` to a file and runs `authgate collections apply` on `table`.
async fn apply(doc: &Value, table: &str) -> String {
    let file = temp_dir("secrets-cfg").join("collections.json");
    std::fs::write(&file, doc.to_string()).unwrap();
    let out = collections(&["apply".as_ref(), file.as_os_str()], table).await;
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "apply failed: {printed}");
    printed
}

/// The server reading its config the way a Lambda does: from `table` and
/// the secret named after it, cached for 30 s of the test clock. No
/// background sender, so queued mail stays in the table to be scanned.
async fn app_on(table: &str) -> TestApp {
    let store: Arc<dyn Store> = Arc::new(DynamoStore::new(dynamodb_client().await, table));
    TestApp::spawn_with(Options {
        store: Some(store),
        secrets: Some(moto_secrets(table).await),
        sender: None,
        ..Default::default()
    })
    .await
}

/// Every string in every item of `table`: string attributes (and, where
/// they hold JSON, every string inside), numbers, binary values as text and
/// base64, lists and maps walked. Also the item count.
async fn every_string_in(table: &str) -> (Vec<String>, usize) {
    fn json_strings(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::String(s) => out.push(s.clone()),
            Value::Array(a) => a.iter().for_each(|v| json_strings(v, out)),
            Value::Object(m) => m.iter().for_each(|(k, v)| {
                out.push(k.clone());
                json_strings(v, out)
            }),
            _ => {}
        }
    }
    fn walk(v: &AttributeValue, out: &mut Vec<String>) {
        use base64::Engine;
        match v {
            AttributeValue::S(s) => {
                out.push(s.clone());
                if let Ok(inner) = serde_json::from_str::<Value>(s) {
                    json_strings(&inner, out);
                }
            }
            AttributeValue::N(n) => out.push(n.clone()),
            AttributeValue::B(b) => {
                out.push(String::from_utf8_lossy(b.as_ref()).into_owned());
                out.push(base64::engine::general_purpose::STANDARD.encode(b.as_ref()));
            }
            AttributeValue::Ss(l) | AttributeValue::Ns(l) => out.extend(l.iter().cloned()),
            AttributeValue::L(l) => l.iter().for_each(|v| walk(v, out)),
            AttributeValue::M(m) => m.iter().for_each(|(k, v)| {
                out.push(k.clone());
                walk(v, out)
            }),
            _ => {}
        }
    }
    let client = dynamodb_client().await;
    let mut out = Vec::new();
    let mut items = 0;
    let mut start: Option<HashMap<String, AttributeValue>> = None;
    loop {
        let page = client
            .scan()
            .table_name(table)
            .set_exclusive_start_key(start.take())
            .send()
            .await
            .expect("scan");
        for item in page.items() {
            items += 1;
            for (k, v) in item {
                out.push(k.clone());
                walk(v, &mut out);
            }
        }
        match page.last_evaluated_key() {
            Some(k) if !k.is_empty() => start = Some(k.clone()),
            _ => break,
        }
    }
    (out, items)
}

/// Fails naming the first of `secrets` found in any item of `table`.
async fn assert_table_holds_none_of(table: &str, secrets: &[String]) -> usize {
    let (strings, items) = every_string_in(table).await;
    for secret in secrets {
        assert!(secret.len() >= 20, "not a real secret: {secret:?}");
        if let Some(hit) = strings.iter().find(|s| s.contains(secret.as_str())) {
            panic!("a secret is stored in the table, in {hit:.80}");
        }
    }
    items
}

/// Whether `token` is signed with `secret` and the record's `tokenKey`
/// (Authgate's signing key), whatever its claims say.
fn signed_with(token: &str, token_key: &str, secret: &str) -> bool {
    let key = jsonwebtoken::DecodingKey::from_secret(format!("{token_key}{secret}").as_bytes());
    let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    v.validate_exp = false;
    v.required_spec_claims.clear();
    jsonwebtoken::decode::<Value>(token, &key, &v).is_ok()
}

#[tokio::test]
async fn no_token_secret_or_oauth2_client_secret_is_stored_anywhere_in_the_table() {
    let table = unique("authgate-secrets-");
    let printed = apply(&two_collections(), &table).await;
    let stored = moto_secrets(&table)
        .await
        .load_secrets()
        .await
        .unwrap()
        .expect("secrets in Secrets Manager");
    let secrets = secret_values(&stored);
    assert_eq!(
        secrets.len(),
        11,
        "5 token secrets × 2 collections + 1 client secret"
    );
    assert!(secrets.iter().any(|s| s == CLIENT_SECRET));
    for s in &secrets {
        assert!(!printed.contains(s.as_str()), "apply printed a secret");
    }

    // Every kind of item the flows write: records, unique markers, the
    // stand-in record, counters (rate limits, attempt caps, new-location
    // digests), OTPs, outbox items (sealed mails), the config.
    let app = app_on(&table).await;
    let users = unique_email("sec-users");
    let members = unique_email("sec-members");
    app.sign_up("users", &users, PASSWORD).await;
    app.sign_up("members", &members, PASSWORD).await;
    let token = app.login("users", &users, PASSWORD).await;
    app.login("members", &members, PASSWORD).await;
    assert_eq!(
        app.login_status("users", &users, "wrong-Passw0rd").await,
        400
    );
    for (coll, email) in [("users", &users), ("members", &members)] {
        for action in ["request-verification", "request-password-reset"] {
            let (status, _) = app.post(coll, action, json!({ "email": email })).await;
            assert_eq!(status, 204, "{action}");
        }
    }
    let (status, _) = app
        .post("members", "request-otp", json!({ "email": members }))
        .await;
    assert_eq!(status, 200);
    let (status, _) = app
        .post(
            "users",
            "request-verification",
            json!({"email": "nobody@example.test"}),
        )
        .await;
    assert_eq!(status, 204);
    assert!(
        !app.pending_mail().await.is_empty(),
        "mail waits in the table"
    );

    // The secrets in the secret store are the ones in use.
    let record = app.stored_record("users", &users).await;
    let auth_secret = stored["collections"]["_pb_users_auth_"]["authToken"]
        .as_str()
        .unwrap();
    assert!(signed_with(&token, &record.token_key, auth_secret));

    let items = assert_table_holds_none_of(&table, &secrets).await;
    assert!(
        items >= 15,
        "the scan saw the items the flows wrote ({items})"
    );
    let config = DynamoStore::new(dynamodb_client().await, table.clone())
        .load_config()
        .await
        .unwrap()
        .expect("config item");
    assert_eq!(
        config["collections"][1]["oauth2"]["providers"][0]["clientId"],
        "cid"
    );
}

#[tokio::test]
async fn apply_moves_the_secrets_of_an_older_config_item_out_of_the_table_and_rotates_them() {
    let table = unique("authgate-upgrade-");
    let store = DynamoStore::new(dynamodb_client().await, table.clone());
    store.create_table().await.unwrap();
    // The config item as the CLI wrote it before the secret store: secrets
    // inline.
    let mut legacy = two_collections();
    fill_secrets(&mut legacy, None, &authgate_adapters::system::OsRandom);
    store.save_config(&legacy).await.unwrap();
    let old: Vec<String> = legacy["collections"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| TOKEN_KEYS.map(|k| c[k]["secret"].as_str().unwrap().to_owned()))
        .collect();
    assert_eq!(old.len(), 10);
    // The scan finds secrets where they are (inside the item's JSON here).
    let (strings, _) = every_string_in(&table).await;
    for s in old.iter().chain([&CLIENT_SECRET.to_owned()]) {
        assert!(
            strings.iter().any(|x| x.contains(s.as_str())),
            "the scan misses a secret"
        );
    }

    // Upgraded functions still serve it until the next apply.
    let app = app_on(&table).await;
    let email = unique_email("upgrade");
    app.sign_up("users", &email, PASSWORD).await;
    let token = app.login("users", &email, PASSWORD).await;
    assert_eq!(app.refresh_status("users", &token).await, 200);

    // Rotating waits until the secrets are out of the table.
    let out = collections(&["rotate-secrets".as_ref(), "users".as_ref()], &table).await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("still holds secrets"));

    let printed = apply(&two_collections(), &table).await;
    assert!(printed.contains("moved to the secret store"), "{printed}");
    for s in old.iter().chain([&CLIENT_SECRET.to_owned()]) {
        assert!(!printed.contains(s.as_str()), "apply printed a secret");
    }
    let stored = moto_secrets(&table)
        .await
        .load_secrets()
        .await
        .unwrap()
        .unwrap();
    let new = secret_values(&stored);
    assert_eq!(new.len(), 11);
    for s in &old {
        assert!(!new.contains(s), "every token secret is rotated");
    }
    assert!(
        new.iter().any(|s| s == CLIENT_SECRET),
        "the client secret is moved"
    );
    let everything: Vec<String> = old.iter().chain(new.iter()).cloned().collect();
    assert_table_holds_none_of(&table, &everything).await;

    // Once the functions re-read the config, the old sessions are over.
    app.clock.advance_secs(31);
    assert_eq!(app.refresh_status("users", &token).await, 401);
    let token = app.login("users", &email, PASSWORD).await;
    assert_eq!(app.refresh_status("users", &token).await, 200);
}

#[tokio::test]
async fn rotating_one_collections_secrets_logs_out_its_sessions_and_no_other() {
    let table = unique("authgate-rotate-");
    apply(&two_collections(), &table).await;
    let secrets = moto_secrets(&table).await;
    let before = secrets.load_secrets().await.unwrap().unwrap();
    let app = app_on(&table).await;
    let a = unique_email("rotate-a");
    let b = unique_email("rotate-b");
    app.sign_up("users", &a, PASSWORD).await;
    app.sign_up("members", &b, PASSWORD).await;
    let token_a = app.login("users", &a, PASSWORD).await;
    let token_b = app.login("members", &b, PASSWORD).await;
    assert_eq!(app.refresh_status("users", &token_a).await, 200);
    assert_eq!(app.refresh_status("members", &token_b).await, 200);

    let out = collections(&["rotate-secrets".as_ref(), "users".as_ref()], &table).await;
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{printed}");
    let after = secrets.load_secrets().await.unwrap().unwrap();
    for s in secret_values(&before).iter().chain(&secret_values(&after)) {
        assert!(
            !printed.contains(s.as_str()),
            "rotate-secrets printed a secret"
        );
    }
    let users_id = "_pb_users_auth_";
    let members_id = app.config.collection("members").unwrap().id.clone();
    for key in TOKEN_KEYS {
        assert_ne!(
            after["collections"][users_id][key],
            before["collections"][users_id][key]
        );
        assert_eq!(
            after["collections"][&members_id][key],
            before["collections"][&members_id][key]
        );
    }
    assert_eq!(
        after["collections"][&members_id]["oauth2"],
        before["collections"][&members_id]["oauth2"]
    );

    // Once the functions re-read their config (its TTL: 30 s).
    app.clock.advance_secs(31);
    assert_eq!(
        app.refresh_status("users", &token_a).await,
        401,
        "collection A logged out"
    );
    assert_eq!(
        app.refresh_status("members", &token_b).await,
        200,
        "collection B untouched"
    );
    let token_a = app.login("users", &a, PASSWORD).await;
    assert_eq!(
        app.refresh_status("users", &token_a).await,
        200,
        "new logins work"
    );

    for bad in ["posts-that-do-not-exist", "nope"] {
        let out = collections(&["rotate-secrets".as_ref(), bad.as_ref()], &table).await;
        assert!(!out.status.success());
    }
    assert_eq!(secrets.load_secrets().await.unwrap().unwrap(), after);
}
