//! Account self-service ([10]): `GET/PATCH/DELETE records/{id}`, `GET
//! records`, the API rules, `auth-revoke`. Every test runs on the
//! in-memory store and on DynamoDB (moto). The `_externalAuths` routes,
//! which need an OAuth2 login, are in `oauth2/self_service.rs`; the JS SDK
//! runs `infra/node/sdk-self-service.mjs` from there too.

mod records;
mod rules;

use std::sync::Arc;

use authgate_adapters::secrets::MemorySecrets;
use authgate_core::ports::{SecretStore, Store};
use authgate_tests::{config_with, Options, TestApp};
use serde_json::{json, Value};

/// Defines each test twice: `memory::<name>` and `dynamodb::<name>`; the
/// test gets the store to run on (`None`: the in-memory default).
macro_rules! on_both_stores {
    ($($name:ident),* $(,)?) => {
        mod memory {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::$name(None).await;
                }
            )*
        }
        mod dynamodb {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let store: std::sync::Arc<dyn authgate_core::ports::Store> =
                        authgate_tests::dynamo_store().await;
                    super::$name(Some(store)).await;
                }
            )*
        }
    };
}
pub(crate) use on_both_stores;

/// An app with `collections` added to the default config, on `store`.
pub(crate) async fn app(store: Option<Arc<dyn Store>>, collections: Vec<Value>) -> TestApp {
    app_with(store, config_with(collections)).await
}

/// The config is applied as `authgate collections apply` leaves it and read
/// the way the Lambdas read it: secrets in a secret store (moto's Secrets
/// Manager beside DynamoDB, memory beside the memory store), the rest in
/// the store.
pub(crate) async fn app_with(store: Option<Arc<dyn Store>>, config: Value) -> TestApp {
    let secrets: Arc<dyn SecretStore> = match store {
        Some(_) => authgate_tests::moto_secrets(&authgate_tests::unique("authgate-ss-")).await,
        None => Arc::new(MemorySecrets::new()),
    };
    let opts = Options {
        config,
        store,
        ..Default::default()
    };
    TestApp::spawn_with(opts.applied(secrets).await).await
}

/// Any request under `/api/collections/`: (status, body as JSON or Null).
pub(crate) async fn send(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = app
        .http
        .request(method, format!("{}/api/collections/{path}", app.base));
    if let Some(t) = token {
        req = req.header("Authorization", t);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let res = req.send().await.expect("request");
    let status = res.status().as_u16();
    let text = res.text().await.unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

pub(crate) async fn view(app: &TestApp, coll: &str, id: &str, token: Option<&str>) -> (u16, Value) {
    send(
        app,
        reqwest::Method::GET,
        &format!("{coll}/records/{id}"),
        token,
        None,
    )
    .await
}

pub(crate) async fn patch(
    app: &TestApp,
    coll: &str,
    id: &str,
    token: Option<&str>,
    body: Value,
) -> (u16, Value) {
    let path = format!("{coll}/records/{id}");
    send(app, reqwest::Method::PATCH, &path, token, Some(body)).await
}

pub(crate) async fn delete(app: &TestApp, coll: &str, id: &str, token: Option<&str>) -> u16 {
    let path = format!("{coll}/records/{id}");
    send(app, reqwest::Method::DELETE, &path, token, None)
        .await
        .0
}

/// Signs `email` up in `coll` with password `1234567890`, logs in: (id, token).
pub(crate) async fn account(app: &TestApp, coll: &str, email: &str) -> (String, String) {
    let rec = app.sign_up(coll, email, "1234567890").await;
    let token = app.login(coll, email, "1234567890").await;
    (rec["id"].as_str().expect("id").to_owned(), token)
}

/// A `users`-like collection `name` with `extra` keys (rules, fields).
pub(crate) fn users_like(name: &str, extra: Value) -> Value {
    let mut c = json!({
        "name": name,
        "type": "auth",
        "fields": [
            {"name": "name", "type": "text", "max": 20},
            {"name": "bio", "type": "text", "max": 200},
            {"name": "age", "type": "number", "onlyInt": true},
            {"name": "handle", "type": "text", "max": 32},
            {"name": "secret", "type": "text", "hidden": true},
            {"name": "created", "type": "autodate", "onCreate": true, "onUpdate": false},
            {"name": "updated", "type": "autodate", "onCreate": true, "onUpdate": true}
        ],
        "indexes": [format!("CREATE UNIQUE INDEX idx_handle_{name} ON {name} (handle) WHERE handle != ''")],
        "passwordAuth": {"enabled": true, "identityFields": ["email"]},
        "otp": {"enabled": true, "duration": 60, "emailTemplate": {
            "subject": "Your code",
            "body": "<p>Your one-time password is: <strong>{OTP}</strong></p><p>Request: {OTP_ID}</p>"
        }}
    });
    authgate_tests::merge_keys(&mut c, extra);
    c
}
