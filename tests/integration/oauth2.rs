//! `auth-methods` OAuth2 providers and `POST auth-with-oauth2`, against the
//! OAuth2/OIDC mock provider (infra/node/oauth2-mock.mjs,
//! `AUTHGATE_TEST_OAUTH2`). Each test picks its provider user through
//! `login_hint` and friends on the authorize URL, with a unique email, so
//! the mock's per-email counters tell what reached the provider.

use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use authgate_adapters::memory::MemoryStore;
use authgate_core::config::{fill_secrets, AppConfig};
use authgate_core::model::{ExternalAuth, MfaSession, Otp, Record, Timestamp, UniqueKey};
use authgate_core::ports::{
    ConfigStore, CounterStore, ExternalAuthStore, MfaStore, OtpStore, RecordStore, Store,
    StoreError, StoreResult,
};
use authgate_tests::{
    captured_logs, config_with, repo_root, require_env, run_node, unique, Options, TestApp,
};
use base64::Engine;
use serde_json::{json, Value};

const REDIRECT: &str = "https://app.example.test/oauth2-redirect";
const CLIENT_ID: &str = "authgate-test";
const CLIENT_SECRET: &str = "authgate-test-secret";

fn mock_url() -> String {
    require_env("AUTHGATE_TEST_OAUTH2")
}

fn email(prefix: &str) -> String {
    format!("{}@example.test", unique(prefix))
}

fn merge(base: &mut Value, extra: Value) {
    if let (Some(b), Value::Object(e)) = (base.as_object_mut(), extra) {
        for (k, v) in e {
            b.insert(k, v);
        }
    }
}

/// The mock as the collection's `oidc` provider.
fn mock_provider() -> Value {
    let m = mock_url();
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
fn collection(name: &str, extra: Value) -> Value {
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
    merge(&mut c, extra);
    c
}

async fn app_with(extra: Value) -> TestApp {
    TestApp::with_config(config_with(vec![collection("people", extra)])).await
}

/// The mock's counters for one email.
async fn stats(app: &TestApp, email: &str) -> Value {
    let res = app
        .http
        .get(format!("{}/__mock/stats", mock_url()))
        .query(&[("login_hint", email)])
        .send()
        .await
        .expect("mock stats");
    res.json().await.expect("stats JSON")
}

/// What a browser does: take the provider entry from auth-methods, append
/// the redirect URL (and the mock's user choice), follow the authorize URL
/// once and read `code` from the redirect. Returns (code, codeVerifier).
async fn authorize(app: &TestApp, coll: &str, user: &[(&str, &str)]) -> (String, String) {
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
    merge(&mut body, extra);
    app.post(coll, "auth-with-oauth2", body).await
}

/// authorize + exchange for the mock user `email` (plus mock options).
async fn login_as(app: &TestApp, email: &str, opts: &[(&str, &str)], extra: Value) -> (u16, Value) {
    let mut user = vec![("login_hint", email)];
    user.extend_from_slice(opts);
    let (code, verifier) = authorize(app, "people", &user).await;
    exchange(app, "people", &code, &verifier, extra).await
}

#[tokio::test]
async fn auth_methods_lists_each_provider_with_fresh_pkce_and_state() {
    let app = app_with(json!({})).await;
    let (_, a) = app.get("people", "auth-methods").await;
    let (_, b) = app.get("people", "auth-methods").await;
    assert_eq!(a["oauth2"]["enabled"], true);
    let p = &a["oauth2"]["providers"][0];
    assert_eq!(p["name"], "oidc");
    assert_eq!(p["displayName"], "Mock IdP");
    assert_eq!(p["codeChallengeMethod"], "S256");
    let state = p["state"].as_str().expect("state");
    let verifier = p["codeVerifier"].as_str().expect("verifier");
    let challenge = p["codeChallenge"].as_str().expect("challenge");
    assert_eq!(state.len(), 30, "{state}");
    assert_eq!(verifier.len(), 43, "{verifier}");
    assert_eq!(
        challenge.len(),
        43,
        "S256 base64url without padding: {challenge}"
    );
    let auth_url = p["authURL"].as_str().expect("authURL");
    let wanted = [
        format!("{}/authorize?", mock_url()),
        format!("client_id={CLIENT_ID}&"),
        format!("&code_challenge={challenge}&code_challenge_method=S256&"),
        "&response_type=code&".to_owned(),
        "&scope=openid+email+profile&".to_owned(),
        format!("&state={state}&redirect_uri="),
    ];
    for w in wanted {
        assert!(auth_url.contains(&w), "{auth_url} lacks {w}");
    }
    assert!(auth_url.ends_with("&redirect_uri="), "{auth_url}");
    assert_eq!(p["authUrl"], p["authURL"], "legacy key");
    assert_eq!(a["authProviders"][0]["name"], "oidc", "legacy list");
    assert_eq!(a["emailPassword"], true);
    let q = &b["oauth2"]["providers"][0];
    assert_ne!(p["state"], q["state"], "state is fresh per call");
    assert_ne!(
        p["codeVerifier"], q["codeVerifier"],
        "verifier is fresh per call"
    );
    assert_ne!(p["codeChallenge"], q["codeChallenge"]);
}

#[tokio::test]
async fn a_first_login_creates_a_verified_record_and_the_next_one_finds_it() {
    let app = app_with(json!({})).await;
    let email = email("first");
    let (status, body) = login_as(&app, &email, &[("mock_name", "Ada L")], json!({})).await;
    assert_eq!(status, 200, "{body}");
    let record = &body["record"];
    assert_eq!(record["email"], email.as_str());
    assert_eq!(record["verified"], true, "provider-verified email");
    assert_eq!(record["name"], "Ada L", "mapped name");
    let local = email.split('@').next().unwrap_or_default();
    assert_eq!(record["handle"], local, "mapped username");
    let meta = &body["meta"];
    assert_eq!(meta["isNew"], true);
    assert_eq!(meta["id"], format!("sub-{email}"));
    assert_eq!(meta["email"], email.as_str());
    assert_eq!(meta["name"], "Ada L");
    assert_eq!(meta["username"], local);
    assert!(
        meta["avatarURL"]
            .as_str()
            .is_some_and(|u| u.contains("/avatar/")),
        "{meta}"
    );
    assert!(
        meta["accessToken"].as_str().is_some_and(|t| !t.is_empty()),
        "{meta}"
    );
    assert!(
        meta["expiry"].as_str().is_some_and(|t| t.ends_with('Z')),
        "{meta}"
    );
    assert_eq!(meta["rawUser"]["email"], email.as_str());
    let token = body["token"].as_str().expect("token");
    let (status, refreshed) = app
        .post_auth("people", "auth-refresh", json!({}), Some(token))
        .await;
    assert_eq!(status, 200, "the token works: {refreshed}");

    let (status, again) = login_as(&app, &email, &[("mock_name", "Renamed")], json!({})).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["meta"]["isNew"], false);
    assert_eq!(again["record"]["id"], record["id"], "same record");
    assert_eq!(
        again["record"]["name"], "Ada L",
        "profile data is not re-applied"
    );
    let s = stats(&app, &email).await;
    assert_eq!(
        (s["tokenOk"].as_u64(), s["userinfoOk"].as_u64()),
        (Some(2), Some(2)),
        "{s}"
    );
}

#[tokio::test]
async fn the_identity_is_the_provider_user_id_not_the_email() {
    let app = app_with(json!({})).await;
    let email = email("ident");
    let other = email.replace("ident", "ident-new");
    let sub = unique("stable-sub-");
    let (status, first) = login_as(&app, &email, &[("mock_sub", &sub)], json!({})).await;
    assert_eq!(status, 200, "{first}");
    // Same provider user, new email at the provider: still the same record.
    let (status, second) = login_as(&app, &other, &[("mock_sub", &sub)], json!({})).await;
    assert_eq!(status, 200, "{second}");
    assert_eq!(second["record"]["id"], first["record"]["id"]);
    assert_eq!(
        second["record"]["email"],
        email.as_str(),
        "record email unchanged"
    );
}

#[tokio::test]
async fn a_wrong_code_verifier_or_a_reused_code_is_a_token_error() {
    let app = app_with(json!({})).await;
    let email = email("pkce");
    let (code, _verifier) = authorize(&app, "people", &[("login_hint", &email)]).await;
    let wrong = "x".repeat(43);
    let (status, body) = exchange(&app, "people", &code, &wrong, json!({})).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["message"], "Failed to fetch OAuth2 token.");
    assert_eq!(body["data"], json!({}));

    let (code, verifier) = authorize(&app, "people", &[("login_hint", &email)]).await;
    let (status, ok) = exchange(&app, "people", &code, &verifier, json!({})).await;
    assert_eq!(status, 200, "{ok}");
    let (status, body) = exchange(&app, "people", &code, &verifier, json!({})).await;
    assert_eq!(
        (status, body["message"].as_str()),
        (400, Some("Failed to fetch OAuth2 token."))
    );
}

#[tokio::test]
async fn a_redirect_url_off_the_allow_list_is_refused_before_the_provider_is_called() {
    let app = app_with(json!({})).await;
    let email = email("redir");
    let (code, verifier) = authorize(&app, "people", &[("login_hint", &email)]).await;
    for bad in [
        "https://evil.example/oauth2-redirect",
        "https://app.example.test/oauth2-redirect/../x",
        "https://app.example.test/oauth2-redirect?next=1",
    ] {
        let body = json!({"redirectURL": bad});
        let (status, res) = exchange(&app, "people", &code, &verifier, body).await;
        assert_eq!(status, 400, "{bad}: {res}");
        assert_eq!(
            res["message"],
            "An error occurred while loading the submitted data."
        );
        assert_eq!(
            res["data"]["redirectURL"]["code"], "validation_invalid_redirect_url",
            "{bad}"
        );
    }
    let s = stats(&app, &email).await;
    assert_eq!(s["token"], 0, "no token request reached the provider: {s}");
    // The same code still works with the allowed URL, also under the legacy key.
    let body = json!({"redirectURL": "", "redirectUrl": REDIRECT});
    let (status, res) = exchange(&app, "people", &code, &verifier, body).await;
    assert_eq!(status, 200, "{res}");
}

#[tokio::test]
async fn without_an_allow_list_only_urls_under_the_app_url_are_accepted() {
    let mut c = collection("people", json!({}));
    c["oauth2"]["redirectURLs"] = json!([]);
    let app = TestApp::with_config(config_with(vec![c])).await;
    let email = email("appurl");
    let (code, verifier) = authorize(&app, "people", &[("login_hint", &email)]).await;
    let body = json!({"redirectURL": "https://app.example.test.evil.example/oauth2-redirect"});
    let (status, res) = exchange(&app, "people", &code, &verifier, body).await;
    assert_eq!(
        (status, &res["data"]["redirectURL"]["code"]),
        (400, &json!("validation_invalid_redirect_url"))
    );
    let (status, res) = exchange(&app, "people", &code, &verifier, json!({})).await;
    assert_eq!(status, 200, "a URL below appURL is fine: {res}");
}

#[tokio::test]
async fn bad_requests_name_the_field_and_a_disabled_collection_is_forbidden() {
    let mut disabled = collection("closed", json!({}));
    disabled["oauth2"]["enabled"] = json!(false);
    let app =
        TestApp::with_config(config_with(vec![collection("people", json!({})), disabled])).await;
    let cases = [
        (
            json!({"provider": "github", "code": "c", "redirectURL": REDIRECT}),
            "provider",
            "validation_invalid_provider",
        ),
        (
            json!({"provider": "", "code": "c", "redirectURL": REDIRECT}),
            "provider",
            "validation_required",
        ),
        (
            json!({"provider": "oidc", "code": "", "redirectURL": REDIRECT}),
            "code",
            "validation_required",
        ),
        (
            json!({"provider": "oidc", "code": "c"}),
            "redirectURL",
            "validation_required",
        ),
    ];
    for (body, field, code) in cases {
        let (status, res) = app.post("people", "auth-with-oauth2", body.clone()).await;
        assert_eq!(status, 400, "{body}: {res}");
        assert_eq!(res["data"][field]["code"], code, "{body}: {res}");
    }
    let (status, res) = app
        .post(
            "closed",
            "auth-with-oauth2",
            json!({"provider": "oidc", "code": "c", "redirectURL": REDIRECT}),
        )
        .await;
    assert_eq!(status, 403, "{res}");
    assert_eq!(
        res["message"],
        "The collection is not configured to allow OAuth2 authentication."
    );
    let malformed = app
        .http
        .post(app.url("closed", "auth-with-oauth2"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .expect("request");
    assert_eq!(malformed.status(), 403, "403 comes before reading the body");
    let (_, methods) = app.get("closed", "auth-methods").await;
    assert_eq!(
        methods["oauth2"],
        json!({"enabled": false, "providers": []})
    );
    let (status, res) = app.post("nope", "auth-with-oauth2", json!({})).await;
    assert_eq!(status, 404, "{res}");
}

#[tokio::test]
async fn a_failing_user_info_endpoint_is_a_user_error() {
    let mut provider = mock_provider();
    provider["userInfoURL"] = json!(format!("{}/no-such-userinfo", mock_url()));
    let mut c = collection("people", json!({}));
    c["oauth2"]["providers"] = json!([provider]);
    let app = TestApp::with_config(config_with(vec![c])).await;
    let email = email("userinfo");
    let (status, res) = login_as(&app, &email, &[], json!({})).await;
    assert_eq!(status, 400, "{res}");
    assert_eq!(res["message"], "Failed to fetch OAuth2 user.");
    assert_eq!(stats(&app, &email).await["tokenOk"], 1);
}

#[tokio::test]
async fn without_a_user_info_url_the_id_token_claims_identify_the_user() {
    let mut provider = mock_provider();
    provider["userInfoURL"] = json!("");
    let mut c = collection("people", json!({}));
    c["oauth2"]["providers"] = json!([provider]);
    let app = TestApp::with_config(config_with(vec![c])).await;
    let email = email("idtoken");
    let (status, res) = login_as(&app, &email, &[], json!({})).await;
    assert_eq!(status, 200, "{res}");
    assert_eq!(res["meta"]["id"], format!("sub-{email}"));
    assert_eq!(res["record"]["verified"], true);
    assert_eq!(
        stats(&app, &email).await["userinfo"],
        0,
        "no user-info call"
    );
}

#[tokio::test]
async fn create_data_applies_only_on_creation_and_never_sets_system_fields() {
    let app = app_with(json!({})).await;
    let email = email("cdata");
    // `verified` cannot be chosen by the client, exactly like sign-up.
    let (status, res) = login_as(
        &app,
        &email,
        &[],
        json!({"createData": {"verified": true, "name": "N"}}),
    )
    .await;
    assert_eq!(status, 400, "{res}");
    assert_eq!(res["message"], "Failed to create record.");
    assert_eq!(
        res["data"]["verified"]["code"],
        "validation_values_mismatch"
    );

    let create = json!({"createData": {
        "tokenKey": "x", "id": "chosenid1234567", "name": "N", "verified": false,
        "created": "2000-01-01 00:00:00.000Z", "emailVisibility": true
    }});
    let unverified = [("mock_email_verified", "false")];
    let (status, res) = login_as(&app, &email, &unverified, create).await;
    assert_eq!(status, 200, "{res}");
    let record = &res["record"];
    assert_eq!(record["name"], "N", "createData applies on creation");
    assert_ne!(record["id"], "chosenid1234567");
    assert_ne!(record["created"], "2000-01-01 00:00:00.000Z");
    assert_eq!(record["emailVisibility"], true);
    assert_eq!(
        record["verified"], false,
        "the provider did not vouch for the email"
    );
    assert_eq!(
        res["meta"]["email"], "",
        "meta carries only a verified email"
    );
    let collection_id = &app.config.collection("people").expect("people").id;
    let id = record["id"].as_str().expect("id");
    let stored = app
        .store
        .get_record(collection_id, id)
        .await
        .expect("store")
        .expect("record");
    assert_ne!(
        stored.token_key, "x",
        "tokenKey is never taken from createData"
    );

    let (status, again) = login_as(
        &app,
        &email,
        &unverified,
        json!({"createData": {"name": "Other"}}),
    )
    .await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["record"]["id"], record["id"]);
    assert_eq!(
        again["record"]["name"], "N",
        "createData is ignored for existing records"
    );
}

#[tokio::test]
async fn create_data_is_validated_like_sign_up() {
    let app = app_with(json!({})).await;
    let email = email("cvalid");
    let body = json!({"createData": {"handle": "Not Valid!", "password": "short", "passwordConfirm": "other"}});
    let (status, res) = login_as(&app, &email, &[], body).await;
    assert_eq!(status, 400, "{res}");
    assert_eq!(res["message"], "Failed to create record.");
    assert_eq!(
        res["data"]["handle"]["code"], "validation_invalid_format",
        "{res}"
    );
    assert_eq!(
        res["data"]["password"]["code"], "validation_min_text_constraint",
        "{res}"
    );
    assert_eq!(
        res["data"]["passwordConfirm"]["code"], "validation_values_mismatch",
        "{res}"
    );
}

#[tokio::test]
async fn a_taken_username_is_not_mapped_and_does_not_block_the_sign_up() {
    let app = app_with(json!({})).await;
    let first = email("dupname");
    let (status, a) = login_as(&app, &first, &[], json!({})).await;
    assert_eq!(status, 200, "{a}");
    let handle = a["record"]["handle"].as_str().expect("handle").to_owned();
    // Same preferred_username (local part), another provider user and email.
    let second = first.replace("@example.test", "@other.example.test");
    let (status, b) = login_as(&app, &second, &[], json!({})).await;
    assert_eq!(status, 200, "{b}");
    assert_ne!(b["record"]["id"], a["record"]["id"]);
    assert_ne!(b["record"]["handle"], handle.as_str(), "{b}");
}

#[tokio::test]
async fn a_verified_provider_email_takes_over_a_pre_created_unverified_account() {
    let app = app_with(json!({})).await;
    let victim = email("victim");
    // The attacker registers the victim's address with a password...
    let signed_up = app.sign_up("people", &victim, "attacker-pass-1").await;
    let attacker_token = app.login("people", &victim, "attacker-pass-1").await;
    // ...and links their own provider account that claims it, unverified.
    let attacker_sub = unique("attacker-sub-");
    let pre = [
        ("mock_sub", attacker_sub.as_str()),
        ("mock_email_verified", "false"),
    ];
    let (status, res) = login_as(&app, &victim, &pre, json!({})).await;
    assert_eq!(status, 400, "an unverified email never links: {res}");

    // The victim signs in with a provider that verified the address.
    let (status, res) = login_as(&app, &victim, &[], json!({})).await;
    assert_eq!(status, 200, "{res}");
    assert_eq!(res["meta"]["isNew"], false);
    assert_eq!(
        res["record"]["id"], signed_up["id"],
        "linked to the existing record"
    );
    assert_eq!(res["record"]["verified"], true);

    let (status, _) = app
        .post(
            "people",
            "auth-with-password",
            json!({"identity": victim, "password": "attacker-pass-1"}),
        )
        .await;
    assert_eq!(status, 400, "the attacker's password no longer works");
    let (status, _) = app
        .post_auth("people", "auth-refresh", json!({}), Some(&attacker_token))
        .await;
    assert_eq!(status, 401, "the attacker's session is revoked");
}

#[tokio::test]
async fn linking_an_unverified_record_drops_its_other_provider_links() {
    let app = app_with(json!({})).await;
    let victim = email("prelinked");
    let attacker_sub = unique("attacker-sub-");
    // The attacker creates the account through a provider that does not
    // verify emails: an unverified record linked to the attacker's identity.
    let pre = [
        ("mock_sub", attacker_sub.as_str()),
        ("mock_email_verified", "false"),
    ];
    let (status, created) = login_as(&app, &victim, &pre, json!({})).await;
    assert_eq!(status, 200, "{created}");
    assert_eq!(created["record"]["verified"], false);
    let (status, again) = login_as(&app, &victim, &pre, json!({})).await;
    assert_eq!(
        (status, &again["record"]["id"]),
        (200, &created["record"]["id"])
    );

    // The real owner arrives with a verified email: takes the record over.
    let (status, owner) = login_as(&app, &victim, &[], json!({})).await;
    assert_eq!(status, 200, "{owner}");
    assert_eq!(owner["record"]["id"], created["record"]["id"]);
    assert_eq!(owner["record"]["verified"], true);

    // The attacker's identity is no longer linked: it would need a new
    // record, and the email is taken.
    let (status, res) = login_as(&app, &victim, &pre, json!({})).await;
    assert_eq!(status, 400, "{res}");
    assert_eq!(
        res["data"]["email"]["code"], "validation_not_unique",
        "{res}"
    );
}

#[tokio::test]
async fn the_takeover_of_a_pre_created_account_also_holds_on_dynamodb() {
    let store = crate::store_contract::dynamo_store().await;
    let app = TestApp::spawn_with(Options {
        config: config_with(vec![collection("people", json!({}))]),
        store: Some(store),
        mailer: None,
    })
    .await;
    let victim = email("ddb-victim");
    let attacker_sub = unique("ddb-attacker-");
    let pre = [
        ("mock_sub", attacker_sub.as_str()),
        ("mock_email_verified", "false"),
    ];
    let (status, created) = login_as(&app, &victim, &pre, json!({})).await;
    assert_eq!(status, 200, "{created}");
    let (status, owner) = login_as(&app, &victim, &[], json!({})).await;
    assert_eq!(status, 200, "{owner}");
    assert_eq!(owner["record"]["id"], created["record"]["id"]);
    assert_eq!(owner["record"]["verified"], true);
    let (status, again) = login_as(&app, &victim, &[], json!({})).await;
    assert_eq!(
        (status, &again["meta"]["isNew"]),
        (200, &json!(false)),
        "{again}"
    );
    let (status, res) = login_as(&app, &victim, &pre, json!({})).await;
    assert_eq!(status, 400, "the attacker's link is gone: {res}");
}

#[tokio::test]
async fn an_unverified_provider_email_never_links_to_an_existing_account() {
    let app = app_with(json!({})).await;
    let owner = email("owner");
    let signed_up = app.sign_up("people", &owner, "owner-pass-1").await;
    let (status, res) =
        login_as(&app, &owner, &[("mock_email_verified", "false")], json!({})).await;
    assert_eq!(status, 400, "{res}");
    assert_eq!(res["message"], "Failed to create record.");
    assert_eq!(res["data"]["email"]["code"], "validation_not_unique");
    // Nothing changed for the owner.
    let token = app.login("people", &owner, "owner-pass-1").await;
    assert!(!token.is_empty());
    // Verified, it links (and the record id is the signed-up one).
    let (status, res) = login_as(&app, &owner, &[], json!({})).await;
    assert_eq!(
        (status, &res["record"]["id"]),
        (200, &signed_up["id"]),
        "{res}"
    );
}

#[tokio::test]
async fn a_provider_without_an_email_needs_one_in_create_data() {
    let app = app_with(json!({})).await;
    let hint = email("noemail");
    let (status, res) = login_as(&app, &hint, &[("mock_no_email", "1")], json!({})).await;
    assert_eq!(status, 400, "{res}");
    assert_eq!(res["data"]["email"]["code"], "validation_required");
    let chosen = email("chosen");
    let (status, res) = login_as(
        &app,
        &hint,
        &[("mock_no_email", "1")],
        json!({"createData": {"email": chosen}}),
    )
    .await;
    assert_eq!(status, 200, "{res}");
    assert_eq!(res["record"]["email"], chosen.as_str());
    assert_eq!(res["record"]["verified"], false);
}

#[tokio::test]
async fn a_logged_in_user_links_another_provider_identity_to_their_account() {
    let app = app_with(json!({})).await;
    let me = email("me");
    let signed_up = app.sign_up("people", &me, "my-pass-123").await;
    let token = app.login("people", &me, "my-pass-123").await;
    let provider_email = email("elsewhere");
    let (code, verifier) = authorize(&app, "people", &[("login_hint", &provider_email)]).await;
    let body = json!({"provider": "oidc", "code": code, "codeVerifier": verifier, "redirectURL": REDIRECT});
    let (status, res) = app
        .post_auth("people", "auth-with-oauth2", body, Some(&token))
        .await;
    assert_eq!(status, 200, "{res}");
    assert_eq!(res["record"]["id"], signed_up["id"]);
    assert_eq!(res["meta"]["isNew"], false);
    // The caller's own password survives (it is their logged-in record).
    app.login("people", &me, "my-pass-123").await;
    // Later, the provider identity alone finds the account.
    let (status, res) = login_as(&app, &provider_email, &[], json!({})).await;
    assert_eq!(
        (status, &res["record"]["id"]),
        (200, &signed_up["id"]),
        "{res}"
    );
}

#[tokio::test]
async fn oauth2_works_as_an_mfa_factor_with_a_password() {
    let app = app_with(json!({"mfa": {"enabled": true, "duration": 600}})).await;
    let email = email("mfa");
    let create =
        json!({"createData": {"password": "mfa-pass-123", "passwordConfirm": "mfa-pass-123"}});
    // OAuth2 first: the record is created and linked, then MFA is required.
    let (status, first) = login_as(&app, &email, &[], create).await;
    assert_eq!(status, 401, "{first}");
    let mfa_id = first["mfaId"].as_str().expect("mfaId").to_owned();
    assert_eq!(
        first.as_object().map(|o| o.len()),
        Some(1),
        "only mfaId: {first}"
    );
    let (status, done) = app
        .post(
            "people",
            "auth-with-password",
            json!({"identity": email, "password": "mfa-pass-123", "mfaId": mfa_id}),
        )
        .await;
    assert_eq!(status, 200, "{done}");

    // Password first, OAuth2 second (mfaId in the query, as the SDK sends it).
    let (status, first) = app
        .post(
            "people",
            "auth-with-password",
            json!({"identity": email, "password": "mfa-pass-123"}),
        )
        .await;
    assert_eq!(status, 401, "{first}");
    let mfa_id = first["mfaId"].as_str().expect("mfaId").to_owned();
    let (code, verifier) = authorize(&app, "people", &[("login_hint", &email)]).await;
    let res = app
        .http
        .post(format!("{}?mfaId={mfa_id}", app.url("people", "auth-with-oauth2")))
        .json(&json!({"provider": "oidc", "code": code, "codeVerifier": verifier, "redirectURL": REDIRECT}))
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.expect("json");
    assert_eq!(body["meta"]["isNew"], false, "{body}");
    assert!(body["token"].as_str().is_some_and(|t| !t.is_empty()));

    // OAuth2 twice is not two factors.
    let (status, first) = login_as(&app, &email, &[], json!({})).await;
    assert_eq!(status, 401, "{first}");
    let mfa_id = first["mfaId"].as_str().expect("mfaId");
    let (status, res) = login_as(&app, &email, &[], json!({"mfaId": mfa_id})).await;
    assert_eq!(status, 400, "{res}");
    assert_eq!(
        res["message"],
        "A different authentication method is required."
    );
}

#[tokio::test]
async fn codes_verifiers_and_provider_tokens_never_reach_the_logs() {
    let app = app_with(json!({})).await;
    let email = email("logs");
    let (code, verifier) = authorize(&app, "people", &[("login_hint", &email)]).await;
    let (status, res) = exchange(&app, "people", &code, &verifier, json!({})).await;
    assert_eq!(status, 200, "{res}");
    // A failing exchange logs its reason, still without the secrets.
    let (code2, _) = authorize(&app, "people", &[("login_hint", &email)]).await;
    let (status, _) = exchange(&app, "people", &code2, &"y".repeat(43), json!({})).await;
    assert_eq!(status, 400);
    let logs = captured_logs();
    assert!(
        logs.contains("OAuth2 token exchange failed"),
        "the failure itself is logged"
    );
    let access = res["meta"]["accessToken"].as_str().expect("access token");
    for (what, secret) in [
        ("code", code.as_str()),
        ("second code", code2.as_str()),
        ("verifier", verifier.as_str()),
        ("access token", access),
        ("client secret", CLIENT_SECRET),
    ] {
        assert!(!logs.contains(secret), "the {what} appears in the logs");
    }
}

#[tokio::test]
async fn the_pocketbase_sdk_completes_an_oauth2_login_with_the_code_flow() {
    let app = app_with(json!({})).await;
    let script = repo_root().join("infra/node/sdk-oauth2.mjs");
    let env = [
        ("BASE_URL", app.base.clone()),
        ("OAUTH2_URL", mock_url()),
        ("COLLECTION", "people".to_owned()),
        ("REDIRECT_URL", REDIRECT.to_owned()),
    ];
    let (ok, out) = run_node(&script, &env).await;
    assert!(ok, "{out}");
    assert!(out.contains("sdk oauth2: ok"), "{out}");
}

#[test]
fn provider_config_errors_name_their_path() {
    let m = "http://127.0.0.1:1";
    let cases = [
        (
            json!({"name": "myspace", "clientId": "a", "clientSecret": "b"}),
            "collections[1].oauth2.providers[0].name",
        ),
        (
            json!({"name": "oidc", "clientId": "a", "clientSecret": "b"}),
            "collections[1].oauth2.providers[0].authURL",
        ),
        (
            json!({"name": "oidc", "clientId": "a", "clientSecret": "b", "authURL": format!("{m}/a")}),
            "collections[1].oauth2.providers[0].tokenURL",
        ),
        (
            json!({"name": "google", "clientSecret": "b"}),
            "collections[1].oauth2.providers[0].clientId",
        ),
        (
            json!({"name": "google", "clientId": "a", "clientSecret": "b", "userInfoURL": "not a url"}),
            "collections[1].oauth2.providers[0].userInfoURL",
        ),
    ];
    for (provider, want) in cases {
        let mut doc = config_with(vec![json!({
            "name": "people", "type": "auth",
            "oauth2": {"enabled": true, "providers": [provider]}
        })]);
        fill_secrets(&mut doc, None, &authgate_adapters::system::OsRandom);
        let got = AppConfig::from_json(&doc)
            .map(|_| ())
            .map_err(|e| e.to_string());
        assert!(
            got.as_ref().is_err_and(|e| e.starts_with(want)),
            "want {want}, got {got:?}"
        );
    }
}

/// The links of `record_id` in `people`.
async fn links_of(app: &TestApp, record_id: &str) -> Vec<ExternalAuth> {
    let collection_id = &app.config.collection("people").expect("people").id;
    app.store
        .list_external_auths(collection_id, record_id)
        .await
        .expect("store")
}

#[tokio::test]
async fn logins_to_an_unverified_record_keep_exactly_its_one_link() {
    let app = app_with(json!({})).await;
    let email = email("onelink");
    let sub = unique("onelink-sub-");
    let opts = [("mock_sub", sub.as_str()), ("mock_email_verified", "false")];
    let (status, first) = login_as(&app, &email, &opts, json!({})).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["record"]["verified"], false);
    let id = first["record"]["id"].as_str().expect("id").to_owned();
    let original = links_of(&app, &id).await;
    assert_eq!(original.len(), 1, "{original:?}");
    for _ in 0..2 {
        let (status, again) = login_as(&app, &email, &opts, json!({})).await;
        assert_eq!(status, 200, "{again}");
        assert_eq!(again["record"]["id"], id.as_str());
        assert_eq!(again["meta"]["isNew"], false);
        let links = links_of(&app, &id).await;
        assert_eq!(links.len(), 1, "{links:?}");
        assert_eq!(
            (
                links[0].provider.as_str(),
                &links[0].provider_id,
                links[0].created
            ),
            ("oidc", &sub, original[0].created),
            "the link in use is kept, not deleted and re-added"
        );
    }
}

/// What [`FaultyStore::update_record`] does.
const UPDATE_OK: u8 = 0;
const UPDATE_BACKEND_ERROR: u8 = 1;
const UPDATE_STALE: u8 = 2;

/// The memory store with switchable failures, to test what a failed step
/// leaves behind.
struct FaultyStore {
    inner: MemoryStore,
    update: AtomicU8,
    link_insert_fails: AtomicBool,
}

impl FaultyStore {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            inner: MemoryStore::new(),
            update: AtomicU8::new(UPDATE_OK),
            link_insert_fails: AtomicBool::new(false),
        })
    }
}

fn injected() -> StoreError {
    StoreError::Backend("injected failure".into())
}

#[async_trait]
impl RecordStore for FaultyStore {
    async fn insert_record(&self, record: &Record, unique: &[UniqueKey]) -> StoreResult<()> {
        self.inner.insert_record(record, unique).await
    }
    async fn get_record(&self, collection_id: &str, id: &str) -> StoreResult<Option<Record>> {
        self.inner.get_record(collection_id, id).await
    }
    async fn find_record_by_unique(
        &self,
        collection_id: &str,
        key: &UniqueKey,
    ) -> StoreResult<Option<Record>> {
        self.inner.find_record_by_unique(collection_id, key).await
    }
    async fn update_record(
        &self,
        old: &Record,
        new: &Record,
        old_unique: &[UniqueKey],
        new_unique: &[UniqueKey],
    ) -> StoreResult<()> {
        match self.update.load(Ordering::SeqCst) {
            UPDATE_BACKEND_ERROR => Err(injected()),
            UPDATE_STALE => Err(StoreError::Stale),
            _ => {
                self.inner
                    .update_record(old, new, old_unique, new_unique)
                    .await
            }
        }
    }
    async fn delete_record(&self, record: &Record, unique: &[UniqueKey]) -> StoreResult<()> {
        self.inner.delete_record(record, unique).await
    }
}

#[async_trait]
impl CounterStore for FaultyStore {
    async fn hit(
        &self,
        key: &str,
        limit: u32,
        window_secs: i64,
        now: Timestamp,
    ) -> StoreResult<bool> {
        self.inner.hit(key, limit, window_secs, now).await
    }
}

#[async_trait]
impl OtpStore for FaultyStore {
    async fn insert_otp(&self, otp: &Otp) -> StoreResult<()> {
        self.inner.insert_otp(otp).await
    }
    async fn get_otp(&self, collection_id: &str, id: &str) -> StoreResult<Option<Otp>> {
        self.inner.get_otp(collection_id, id).await
    }
    async fn consume_otp(
        &self,
        collection_id: &str,
        id: &str,
        code_hash: &str,
        now: Timestamp,
    ) -> StoreResult<bool> {
        self.inner
            .consume_otp(collection_id, id, code_hash, now)
            .await
    }
}

#[async_trait]
impl MfaStore for FaultyStore {
    async fn insert_mfa(&self, session: &MfaSession) -> StoreResult<()> {
        self.inner.insert_mfa(session).await
    }
    async fn get_mfa(&self, collection_id: &str, id: &str) -> StoreResult<Option<MfaSession>> {
        self.inner.get_mfa(collection_id, id).await
    }
    async fn consume_mfa(
        &self,
        collection_id: &str,
        id: &str,
        record_id: &str,
        now: Timestamp,
    ) -> StoreResult<bool> {
        self.inner
            .consume_mfa(collection_id, id, record_id, now)
            .await
    }
}

#[async_trait]
impl ExternalAuthStore for FaultyStore {
    async fn find_external_auth(
        &self,
        collection_id: &str,
        provider: &str,
        provider_id: &str,
    ) -> StoreResult<Option<ExternalAuth>> {
        self.inner
            .find_external_auth(collection_id, provider, provider_id)
            .await
    }
    async fn insert_external_auth(&self, link: &ExternalAuth) -> StoreResult<()> {
        if self.link_insert_fails.load(Ordering::SeqCst) {
            return Err(injected());
        }
        self.inner.insert_external_auth(link).await
    }
    async fn list_external_auths(
        &self,
        collection_id: &str,
        record_id: &str,
    ) -> StoreResult<Vec<ExternalAuth>> {
        self.inner
            .list_external_auths(collection_id, record_id)
            .await
    }
    async fn delete_external_auth(&self, link: &ExternalAuth) -> StoreResult<()> {
        self.inner.delete_external_auth(link).await
    }
}

#[async_trait]
impl ConfigStore for FaultyStore {
    async fn load_config(&self) -> StoreResult<Option<Value>> {
        self.inner.load_config().await
    }
    async fn save_config(&self, config: &Value) -> StoreResult<()> {
        self.inner.save_config(config).await
    }
}

async fn faulty_app() -> (TestApp, Arc<FaultyStore>) {
    let store = FaultyStore::new();
    let app = TestApp::spawn_with(Options {
        config: config_with(vec![collection("people", json!({}))]),
        store: Some(store.clone() as Arc<dyn Store>),
        mailer: None,
    })
    .await;
    (app, store)
}

#[tokio::test]
async fn a_failed_update_of_an_unverified_record_never_takes_its_link_away() {
    let (app, store) = faulty_app().await;
    let email = email("keeplink");
    let sub = unique("keeplink-sub-");
    let opts = [("mock_sub", sub.as_str()), ("mock_email_verified", "false")];
    let (status, first) = login_as(&app, &email, &opts, json!({})).await;
    assert_eq!(status, 200, "{first}");
    let id = first["record"]["id"].as_str().expect("id").to_owned();

    // The password reset of the next login fails: a backend error, then a
    // record that keeps changing (three stale writes in a row).
    for (mode, want) in [(UPDATE_BACKEND_ERROR, 500), (UPDATE_STALE, 400)] {
        store.update.store(mode, Ordering::SeqCst);
        let (status, res) = login_as(&app, &email, &opts, json!({})).await;
        assert_eq!(status, want, "mode {mode}: {res}");
        if want == 400 {
            assert_eq!(res["message"], "Failed to authenticate.");
        }
        let links = links_of(&app, &id).await;
        assert_eq!(links.len(), 1, "mode {mode}: the identity stays linked");
        assert_eq!(links[0].provider_id, sub);
    }

    store.update.store(UPDATE_OK, Ordering::SeqCst);
    let (status, again) = login_as(&app, &email, &opts, json!({})).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["record"]["id"], id.as_str(), "still the same account");
}

#[tokio::test]
async fn a_failed_takeover_leaves_the_owner_a_way_to_retry() {
    let (app, store) = faulty_app().await;
    let victim = email("retry-victim");
    let signed_up = app.sign_up("people", &victim, "attacker-pass-1").await;
    // Linking succeeds, securing the record fails: the owner's identity is
    // linked, the record unchanged; the retry goes through the link.
    store.update.store(UPDATE_BACKEND_ERROR, Ordering::SeqCst);
    let (status, res) = login_as(&app, &victim, &[], json!({})).await;
    assert_eq!(status, 500, "{res}");
    let id = signed_up["id"].as_str().expect("id");
    assert_eq!(links_of(&app, id).await.len(), 1);
    store.update.store(UPDATE_OK, Ordering::SeqCst);
    let (status, res) = login_as(&app, &victim, &[], json!({})).await;
    assert_eq!(status, 200, "{res}");
    assert_eq!(res["record"]["id"], signed_up["id"]);
    assert_eq!(res["record"]["verified"], true);
    let (status, _) = app
        .post(
            "people",
            "auth-with-password",
            json!({"identity": victim, "password": "attacker-pass-1"}),
        )
        .await;
    assert_eq!(status, 400, "the pre-set password is reset on the retry");
    assert_eq!(links_of(&app, id).await.len(), 1);
}

#[tokio::test]
async fn a_new_record_whose_link_cannot_be_stored_is_undone() {
    let (app, store) = faulty_app().await;
    let email = email("undo");
    store.link_insert_fails.store(true, Ordering::SeqCst);
    let (status, res) = login_as(&app, &email, &[], json!({})).await;
    assert_eq!(status, 500, "{res}");
    let collection = app.config.collection("people").expect("people");
    let key = authgate_core::validate::identity_key(collection, "email", &email);
    let left = app
        .store
        .find_record_by_unique(&collection.id, &key)
        .await
        .expect("store");
    assert!(left.is_none(), "no orphan record: {left:?}");

    // The retry signs up cleanly instead of finding the email taken.
    store.link_insert_fails.store(false, Ordering::SeqCst);
    let (status, res) = login_as(&app, &email, &[], json!({})).await;
    assert_eq!(status, 200, "{res}");
    assert_eq!(res["meta"]["isNew"], true);
}

#[tokio::test]
async fn an_invalid_authorization_header_is_ignored_as_pocketbase_does() {
    let store = crate::store_contract::dynamo_store().await;
    let app = TestApp::spawn_with(Options {
        config: config_with(vec![collection("people", json!({}))]),
        store: Some(store),
        mailer: None,
    })
    .await;
    let collection_id = app.config.collection("people").expect("people").id.clone();
    let b64 = |v: &Value| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string().as_bytes())
    };
    let forged = |id: &str| {
        let claims = json!({"collectionId": collection_id, "exp": 9_999_999_999i64,
            "id": id, "type": "auth", "refreshable": true});
        format!(
            "{}.{}.c2ln",
            b64(&json!({"alg": "HS256", "typ": "JWT"})),
            b64(&claims)
        )
    };
    let headers = [
        "garbage".to_owned(),
        "Bearer not.a.jwt".to_owned(),
        forged("abcdefghijklmno"),
        forged(&"a".repeat(1500)),
        forged(&"a".repeat(5000)),
    ];
    for header in headers {
        let email = email("forged");
        let (code, verifier) = authorize(&app, "people", &[("login_hint", &email)]).await;
        let body = json!({"provider": "oidc", "code": code, "codeVerifier": verifier, "redirectURL": REDIRECT});
        let (status, res) = app
            .post_auth("people", "auth-with-oauth2", body, Some(&header))
            .await;
        let shown = &header[..header.len().min(60)];
        assert_eq!(status, 200, "{shown}: {res}");
        assert_eq!(res["meta"]["isNew"], true, "{shown}: not logged in");
        assert_eq!(res["record"]["email"], email.as_str());
    }
}

#[tokio::test]
async fn an_overlong_provider_user_id_is_a_user_error() {
    let app = app_with(json!({})).await;
    let email = email("longsub");
    let sub = "s".repeat(256);
    let (status, res) = login_as(&app, &email, &[("mock_sub", &sub)], json!({})).await;
    assert_eq!(status, 400, "{res}");
    assert_eq!(res["message"], "Failed to fetch OAuth2 user.");
}
