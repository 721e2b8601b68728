//! `auth-methods` OAuth2 providers and `POST auth-with-oauth2`, against the
//! OAuth2/OIDC mock provider (infra/node/oauth2-mock.mjs,
//! `AUTHGATE_TEST_OAUTH2`). Each test picks its provider user through
//! `login_hint` and friends on the authorize URL, with a unique email, so
//! the mock's per-email counters tell what reached the provider.
//!
//! A file per concern: the providers and what they answer, the code
//! exchange request, sign-in, the data a first login creates, account
//! linking (and pre-account hijacking), failures of the store mid-way, and
//! the HTTP client itself against raw local servers (`http_client`).

mod code_exchange;
mod create_data;
mod http_client;
mod linking;
mod providers;
mod self_service;
mod sign_in;
mod store_failures;

use std::sync::Arc;

use authgate_core::model::ExternalAuth;
use authgate_core::ports::Store;
use authgate_tests::{config_with, merge_keys, oauth2_mock_url, Options, TestApp};
use serde_json::{json, Value};

pub(crate) const REDIRECT: &str = "https://app.example.test/oauth2-redirect";
const CLIENT_ID: &str = "authgate-test";
const CLIENT_SECRET: &str = "authgate-test-secret";

/// The mock as the collection's `oidc` provider.
fn mock_provider() -> Value {
    let m = oauth2_mock_url();
    json!({
        "name": "oidc",
        "clientId": CLIENT_ID,
        "clientSecret": CLIENT_SECRET,
        "displayName": "Mock IdP",
        "authURL": format!("{m}/authorize"),
        "tokenURL": format!("{m}/token"),
        "userInfoURL": format!("{m}/userinfo"),
    })
}

/// An auth collection `name` with OAuth2 via the mock, plus `extra` keys.
pub(crate) fn collection(name: &str, extra: Value) -> Value {
    let mut c = json!({
        "name": name,
        "type": "auth",
        "fields": [
            {"name": "name", "type": "text", "max": 255},
            {"name": "handle", "type": "text", "max": 64, "pattern": "^[a-z0-9_.]+$"},
            {"name": "created", "type": "autodate", "onCreate": true, "onUpdate": false},
            {"name": "updated", "type": "autodate", "onCreate": true, "onUpdate": true}
        ],
        "indexes": [format!("CREATE UNIQUE INDEX idx_handle_{name} ON {name} (handle)")],
        "passwordAuth": {"enabled": true, "identityFields": ["email"]},
        "oauth2": {
            "enabled": true,
            "providers": [mock_provider()],
            "mappedFields": {"name": "name", "username": "handle"},
            "redirectURLs": [REDIRECT]
        }
    });
    merge_keys(&mut c, extra);
    c
}

async fn app_with(extra: Value) -> TestApp {
    TestApp::with_config(config_with(vec![collection("people", extra)])).await
}

/// The mock's counters for one email.
async fn stats(app: &TestApp, email: &str) -> Value {
    let res = app
        .http
        .get(format!("{}/__mock/stats", oauth2_mock_url()))
        .query(&[("login_hint", email)])
        .send()
        .await
        .expect("mock stats");
    res.json().await.expect("stats JSON")
}

/// What a browser does: take the provider entry from auth-methods, append
/// the redirect URL (and the mock's user choice), follow the authorize URL
/// once and read `code` from the redirect. Returns (code, codeVerifier).
pub(crate) async fn authorize(
    app: &TestApp,
    coll: &str,
    user: &[(&str, &str)],
) -> (String, String) {
    let (status, methods) = app.get(coll, "auth-methods").await;
    assert_eq!(status, 200, "{methods}");
    let p = &methods["oauth2"]["providers"][0];
    let mut url = format!(
        "{}{}",
        p["authURL"].as_str().expect("authURL"),
        url::form_urlencoded::byte_serialize(REDIRECT.as_bytes()).collect::<String>()
    );
    for (k, v) in user {
        url.push_str(&format!(
            "&{k}={}",
            url::form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>()
        ));
    }
    let res = app.http.get(&url).send().await.expect("authorize");
    assert_eq!(res.status(), 302, "authorize should redirect");
    let location = res.headers()["location"].to_str().expect("location");
    let back = url::Url::parse(location).expect("redirect URL");
    assert!(location.starts_with(REDIRECT), "{location}");
    let q: std::collections::HashMap<_, _> = back.query_pairs().into_owned().collect();
    assert_eq!(
        q.get("state").map(String::as_str),
        p["state"].as_str(),
        "state round trip"
    );
    (
        q.get("code").cloned().expect("code"),
        p["codeVerifier"].as_str().expect("verifier").to_owned(),
    )
}

async fn exchange(
    app: &TestApp,
    coll: &str,
    code: &str,
    verifier: &str,
    extra: Value,
) -> (u16, Value) {
    let mut body = json!({
        "provider": "oidc",
        "code": code,
        "codeVerifier": verifier,
        "redirectURL": REDIRECT,
    });
    merge_keys(&mut body, extra);
    app.post(coll, "auth-with-oauth2", body).await
}

/// authorize + exchange for the mock user `email` (plus mock options).
async fn login_as(app: &TestApp, email: &str, opts: &[(&str, &str)], extra: Value) -> (u16, Value) {
    let mut user = vec![("login_hint", email)];
    user.extend_from_slice(opts);
    let (code, verifier) = authorize(app, "people", &user).await;
    exchange(app, "people", &code, &verifier, extra).await
}

/// The links of `record_id` in `people`.
async fn links_of(app: &TestApp, record_id: &str) -> Vec<ExternalAuth> {
    let collection_id = &app.config.collection("people").expect("people").id;
    app.store
        .list_external_auths(collection_id, record_id)
        .await
        .expect("store")
}

/// The `people` collection of [`collection`] on `store`.
async fn app_on(store: Arc<dyn Store>) -> TestApp {
    TestApp::spawn_with(Options {
        config: config_with(vec![collection("people", json!({}))]),
        store: Some(store),
        ..Default::default()
    })
    .await
}
