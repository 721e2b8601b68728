//! The mail flows: `request-verification` / `confirm-verification`,
//! `request-password-reset` / `confirm-password-reset`,
//! `request-email-change` / `confirm-email-change`. Full flows through the
//! local mailbox, single use under concurrency, the resend throttle, expiry
//! on an injected clock, token types kept apart, mail failures, the SES
//! adapter against aws-ses-v2-local and the PocketBase JS SDK.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use authgate_adapters::ses::SesMailer;
use authgate_core::model::{ExternalAuth, Record, Timestamp, UniqueKey};
use authgate_core::ports::{MailError, MailMessage, Mailer, Store};
use authgate_tests::{
    captured_logs, config_with, repo_root, require_env, run_node, unique, Options, TestApp,
};
use aws_sdk_sesv2::config::{Credentials, Region};
use serde_json::{json, Value};

const USERS: &str = "_pb_users_auth_";
const PASSWORD: &str = "first-Passw0rd";
const VERIFY: &str = "/confirm-verification/";
const RESET: &str = "/confirm-password-reset/";
const CHANGE: &str = "/confirm-email-change/";

fn address(label: &str) -> String {
    format!("{}@example.com", unique(label))
}

/// Signs `email` up with [`PASSWORD`]; returns the record id.
async fn sign_up(app: &TestApp, email: &str) -> String {
    let rec = app.sign_up("users", email, PASSWORD).await;
    rec["id"].as_str().expect("id").to_owned()
}

async fn record(app: &TestApp, id: &str) -> Record {
    app.store
        .get_record(USERS, id)
        .await
        .expect("store")
        .expect("record exists")
}

/// The token in the newest mail to `to` whose link contains `marker`.
fn token_in_mail(app: &TestApp, to: &str, marker: &str) -> String {
    app.mails_to(to)
        .iter()
        .rev()
        .find_map(|m| m.token_after(marker))
        .unwrap_or_else(|| panic!("no mail to {to} with a {marker} link"))
}

/// Status and exact body text, to compare answers byte for byte.
async fn raw_post(app: &TestApp, action: &str, body: Value) -> (u16, String) {
    let res = app
        .http
        .post(app.url("users", action))
        .json(&body)
        .send()
        .await
        .expect("request");
    (res.status().as_u16(), res.text().await.expect("body text"))
}

/// `data.<field>.code` of an error body.
fn code<'a>(body: &'a Value, field: &str) -> &'a str {
    body["data"][field]["code"].as_str().unwrap_or_default()
}

async fn login_status(app: &TestApp, email: &str, password: &str) -> u16 {
    app.post(
        "users",
        "auth-with-password",
        json!({"identity": email, "password": password}),
    )
    .await
    .0
}

async fn refresh_status(app: &TestApp, token: &str) -> u16 {
    app.post_auth("users", "auth-refresh", json!({}), Some(token))
        .await
        .0
}

async fn request_reset(app: &TestApp, email: &str) -> (u16, Value) {
    app.post("users", "request-password-reset", json!({"email": email}))
        .await
}

async fn request_verification(app: &TestApp, email: &str) -> (u16, Value) {
    app.post("users", "request-verification", json!({"email": email}))
        .await
}

async fn request_change(app: &TestApp, auth: &str, new_email: &str) -> (u16, Value) {
    app.post_auth(
        "users",
        "request-email-change",
        json!({"newEmail": new_email}),
        Some(auth),
    )
    .await
}

async fn confirm_reset(app: &TestApp, token: &str, password: &str) -> (u16, Value) {
    app.post(
        "users",
        "confirm-password-reset",
        json!({"token": token, "password": password, "passwordConfirm": password}),
    )
    .await
}

async fn confirm_change(app: &TestApp, token: &str, password: &str) -> (u16, Value) {
    app.post(
        "users",
        "confirm-email-change",
        json!({"token": token, "password": password}),
    )
    .await
}

async fn confirm_verification(app: &TestApp, token: &str) -> (u16, Value) {
    app.post("users", "confirm-verification", json!({"token": token}))
        .await
}

// ---------------------------------------------------------------------------
// Full flows

#[tokio::test]
async fn verification_link_marks_the_record_verified_and_confirming_again_is_still_204() {
    let app = TestApp::spawn().await;
    let email = address("verify");
    let id = sign_up(&app, &email).await;

    let (status, body) = request_verification(&app, &email.to_uppercase()).await;
    assert_eq!((status, &body), (204, &Value::Null), "request-verification");
    let mails = app.mails_to(&email);
    assert_eq!(mails.len(), 1, "one verification mail: {mails:?}");
    assert!(
        mails[0]
            .text
            .contains("https://app.example.test/_/#/auth/confirm-verification/"),
        "link built from appURL: {}",
        mails[0].text
    );
    let token = token_in_mail(&app, &email, VERIFY);

    assert_eq!(confirm_verification(&app, &token).await.0, 204);
    assert!(record(&app, &id).await.verified, "record is verified");
    let (status, body) = app
        .post(
            "users",
            "auth-with-password",
            json!({"identity": email, "password": PASSWORD}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["record"]["verified"], true, "{body}");

    assert_eq!(
        confirm_verification(&app, &token).await.0,
        204,
        "confirming again while still verified"
    );
    assert_eq!(request_verification(&app, &email).await.0, 204);
    assert_eq!(
        app.mails_to(&email).len(),
        1,
        "an already verified record gets no mail"
    );
    let logs = captured_logs();
    assert!(!logs.contains(&token), "the token never appears in logs");
}

#[tokio::test]
async fn password_reset_sets_the_new_password_revokes_older_tokens_and_is_single_use() {
    let app = TestApp::spawn().await;
    let email = address("reset");
    let id = sign_up(&app, &email).await;
    let old_auth = app.login("users", &email, PASSWORD).await;

    let (status, body) = request_reset(&app, &email).await;
    assert_eq!((status, &body), (204, &Value::Null));
    let token = token_in_mail(&app, &email, RESET);

    let new_password = format!("N3w-{}", unique("pw"));
    let (status, body) = confirm_reset(&app, &token, &new_password).await;
    assert_eq!(status, 204, "{body}");

    assert_eq!(
        login_status(&app, &email, PASSWORD).await,
        400,
        "old password"
    );
    assert_eq!(
        login_status(&app, &email, &new_password).await,
        200,
        "new password"
    );
    assert_eq!(
        refresh_status(&app, &old_auth).await,
        401,
        "older auth token revoked"
    );
    let (status, body) = confirm_reset(&app, &token, "another-Passw0rd").await;
    assert_eq!(status, 400, "reused reset token: {body}");
    assert_eq!(code(&body, "token"), "validation_invalid_token", "{body}");
    assert_eq!(
        login_status(&app, &email, &new_password).await,
        200,
        "the reused token changed nothing"
    );
    assert!(
        record(&app, &id).await.verified,
        "the reset mail reached the address: verified"
    );
    let logs = captured_logs();
    assert!(!logs.contains(&token), "the token never appears in logs");
    assert!(
        !logs.contains(&new_password),
        "the password never appears in logs"
    );
}

#[tokio::test]
async fn email_change_mails_only_the_new_address_and_moves_the_login_there() {
    let app = TestApp::spawn().await;
    let old_email = address("change-old");
    let new_email = address("change-new");
    let id = sign_up(&app, &old_email).await;
    let auth = app.login("users", &old_email, PASSWORD).await;

    let (status, body) = request_change(&app, &format!("Bearer {auth}"), &new_email).await;
    assert_eq!((status, &body), (204, &Value::Null));
    assert_eq!(app.mails_to(&new_email).len(), 1, "mail to the new address");
    assert!(
        app.mails_to(&old_email).is_empty(),
        "nothing to the old address"
    );
    let token = token_in_mail(&app, &new_email, CHANGE);

    let (status, body) = confirm_change(&app, &token, "wrong-Passw0rd").await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        code(&body, "password"),
        "validation_invalid_password",
        "{body}"
    );
    assert_eq!(
        record(&app, &id).await.email,
        old_email,
        "unchanged after a wrong password"
    );

    let (status, body) = confirm_change(&app, &token, PASSWORD).await;
    assert_eq!(status, 204, "{body}");
    let (status, body) = app
        .post(
            "users",
            "auth-with-password",
            json!({"identity": new_email, "password": PASSWORD}),
        )
        .await;
    assert_eq!(status, 200, "login with the new address: {body}");
    assert_eq!(body["record"]["email"], new_email.as_str());
    assert_eq!(
        body["record"]["verified"], true,
        "the new address is proven"
    );
    assert_eq!(
        login_status(&app, &old_email, PASSWORD).await,
        400,
        "old address"
    );
    assert_eq!(
        refresh_status(&app, &auth).await,
        401,
        "older auth token revoked"
    );
    let (status, body) = confirm_change(&app, &token, PASSWORD).await;
    assert_eq!(status, 400, "reused change token: {body}");
    assert_eq!(code(&body, "token"), "validation_invalid_token", "{body}");

    // The old address was released with the change.
    app.sign_up("users", &old_email, PASSWORD).await;
}

// ---------------------------------------------------------------------------
// Email change: who may change to what

#[tokio::test]
async fn email_change_to_a_taken_address_in_any_case_or_to_the_current_one_is_refused() {
    let app = TestApp::spawn().await;
    let mine = address("mine");
    let taken = format!("Taken-{}", address("x"));
    sign_up(&app, &mine).await;
    sign_up(&app, &taken).await;
    let auth = app.login("users", &mine, PASSWORD).await;

    let cases = [
        (
            taken.to_lowercase(),
            "validation_invalid_new_email",
            "taken, lower case",
        ),
        (
            taken.to_uppercase(),
            "validation_invalid_new_email",
            "taken, upper case",
        ),
        (
            mine.clone(),
            "validation_not_in_invalid",
            "the current address",
        ),
        (
            mine.to_uppercase(),
            "validation_not_in_invalid",
            "the current address, upper case",
        ),
        ("not-an-email".into(), "validation_is_email", "malformed"),
        (String::new(), "validation_required", "empty"),
    ];
    for (new_email, expected, case) in cases {
        let (status, body) = request_change(&app, &auth, &new_email).await;
        assert_eq!(status, 400, "{case}: {body}");
        assert_eq!(code(&body, "newEmail"), expected, "{case}: {body}");
        assert_eq!(
            body["message"], "An error occurred while validating the submitted data.",
            "{case}"
        );
    }
    assert!(app.mails().is_empty(), "no mail for a refused change");
}

#[tokio::test]
async fn request_email_change_needs_an_auth_token_of_this_collection() {
    let mut doc = config_with(vec![json!({
        "id": "clients00000001", "name": "clients", "type": "auth",
        "passwordAuth": {"enabled": true, "identityFields": ["email"]}
    })]);
    doc["meta"]["appName"] = json!("Mail flows");
    let app = TestApp::with_config(doc).await;
    let email = address("who");
    sign_up(&app, &email).await;
    let auth = app.login("users", &email, PASSWORD).await;
    let client = address("client");
    app.post(
        "clients",
        "records",
        json!({"email": client, "password": PASSWORD, "passwordConfirm": PASSWORD}),
    )
    .await;
    let client_auth = app.login("clients", &client, PASSWORD).await;
    let new_email = address("who-new");

    let (status, body) = app
        .post(
            "users",
            "request-email-change",
            json!({"newEmail": new_email}),
        )
        .await;
    assert_eq!(status, 401, "no token: {body}");
    let (status, _) = request_change(&app, "garbage", &new_email).await;
    assert_eq!(status, 401, "garbage token");
    let (status, body) = request_change(&app, &client_auth, &new_email).await;
    assert_eq!(status, 403, "token of another collection: {body}");
    assert_eq!(
        body["message"],
        "The request requires auth record from clients collection."
    );
    let (status, body) = app
        .post_auth(
            "users",
            "request-email-change",
            json!({"newEmail": new_email}),
            None,
        )
        .await;
    assert_eq!(status, 401, "{body}");
    // Caller checks come before the body is read.
    let res = app
        .http
        .post(app.url("users", "request-email-change"))
        .header("Content-Type", "application/json")
        .body("{\"newEmail")
        .send()
        .await
        .expect("request");
    assert_eq!(res.status().as_u16(), 401, "malformed body without a token");
    let res = app
        .http
        .post(app.url("users", "request-email-change"))
        .header("Authorization", &auth)
        .header("Content-Type", "application/json")
        .body("{\"newEmail")
        .send()
        .await
        .expect("request");
    assert_eq!(res.status().as_u16(), 400, "malformed body with a token");

    assert_eq!(
        request_change(&app, &auth, &new_email).await.0,
        204,
        "raw token"
    );
}

#[tokio::test]
async fn an_older_change_token_fails_once_someone_else_took_the_address() {
    let app = TestApp::spawn().await;
    let (a, b) = (address("race-a"), address("race-b"));
    let target = address("race-target");
    let a_id = sign_up(&app, &a).await;
    let b_id = sign_up(&app, &b).await;
    let a_auth = app.login("users", &a, PASSWORD).await;
    let b_auth = app.login("users", &b, PASSWORD).await;

    assert_eq!(request_change(&app, &a_auth, &target).await.0, 204);
    let a_token = token_in_mail(&app, &target, CHANGE);
    assert_eq!(
        request_change(&app, &b_auth, &target.to_uppercase())
            .await
            .0,
        204
    );
    let b_token = token_in_mail(&app, &target, CHANGE);
    assert_ne!(a_token, b_token);

    assert_eq!(confirm_change(&app, &b_token, PASSWORD).await.0, 204);
    let (status, body) = confirm_change(&app, &a_token, PASSWORD).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        code(&body, "token"),
        "validation_invalid_token_email",
        "{body}"
    );

    assert_eq!(record(&app, &a_id).await.email, a, "A keeps its address");
    assert_eq!(
        record(&app, &b_id).await.email,
        target.to_uppercase(),
        "B has the new one"
    );
    let owner = app
        .store
        .find_record_by_unique(USERS, &UniqueKey::new("email", target.to_lowercase()))
        .await
        .expect("store")
        .expect("an owner");
    assert_eq!(owner.id, b_id, "exactly one owner");
    assert_eq!(login_status(&app, &a, PASSWORD).await, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn simultaneous_changes_of_two_records_to_one_address_leave_exactly_one_owner() {
    let app = TestApp::spawn().await;
    let target = address("dup-target");
    let mut tokens = Vec::new();
    let mut ids = Vec::new();
    for label in ["dup-a", "dup-b", "dup-c"] {
        let email = address(label);
        ids.push(sign_up(&app, &email).await);
        let auth = app.login("users", &email, PASSWORD).await;
        assert_eq!(request_change(&app, &auth, &target).await.0, 204);
        tokens.push(token_in_mail(&app, &target, CHANGE));
    }
    let mut set = tokio::task::JoinSet::new();
    for token in tokens {
        let (http, url) = (app.http.clone(), app.url("users", "confirm-email-change"));
        set.spawn(async move {
            http.post(url)
                .json(&json!({"token": token, "password": PASSWORD}))
                .send()
                .await
                .expect("request")
                .status()
                .as_u16()
        });
    }
    let mut statuses = Vec::new();
    while let Some(s) = set.join_next().await {
        statuses.push(s.expect("task"));
    }
    statuses.sort();
    assert_eq!(statuses, vec![204, 400, 400], "exactly one change wins");
    let mut owners = 0;
    for id in &ids {
        if record(&app, id).await.email == target {
            owners += 1;
        }
    }
    assert_eq!(owners, 1, "one record holds the address");
}

// ---------------------------------------------------------------------------
// Enumeration, throttle

#[tokio::test]
async fn unknown_and_known_emails_get_identical_answers_on_every_request_endpoint() {
    let app = TestApp::spawn().await;
    let known = address("known");
    let verified = address("verified");
    sign_up(&app, &known).await;
    let verified_id = sign_up(&app, &verified).await;
    let before = record(&app, &verified_id).await;
    let mut after = before.clone();
    after.verified = true;
    after.version += 1;
    let keys = [UniqueKey::new("email", verified.to_lowercase())];
    app.store
        .update_record(&before, &after, &keys, &keys)
        .await
        .expect("mark verified");

    for action in ["request-verification", "request-password-reset"] {
        let unknown = raw_post(&app, action, json!({"email": address("nobody")})).await;
        let known_answer = raw_post(&app, action, json!({"email": known})).await;
        let verified_answer = raw_post(&app, action, json!({"email": verified})).await;
        let throttled = raw_post(&app, action, json!({"email": known})).await;
        assert_eq!(unknown, (204, String::new()), "{action}: unknown");
        assert_eq!(known_answer, unknown, "{action}: known");
        assert_eq!(verified_answer, unknown, "{action}: verified");
        assert_eq!(throttled, unknown, "{action}: throttled");
    }
}

#[tokio::test]
async fn a_second_request_within_two_minutes_sends_no_mail_until_the_window_passes() {
    let app = TestApp::spawn().await;
    let email = address("throttle");
    sign_up(&app, &email).await;
    let kinds = |app: &TestApp| {
        let mails = app.mails_to(&email);
        let resets = mails
            .iter()
            .filter(|m| m.token_after(RESET).is_some())
            .count();
        let verifications = mails
            .iter()
            .filter(|m| m.token_after(VERIFY).is_some())
            .count();
        (resets, verifications)
    };

    assert_eq!(request_reset(&app, &email).await.0, 204);
    assert_eq!(request_reset(&app, &email).await.0, 204);
    assert_eq!(request_verification(&app, &email).await.0, 204);
    assert_eq!(request_verification(&app, &email).await.0, 204);
    assert_eq!(
        kinds(&app),
        (1, 1),
        "one mail of each kind; the throttles are separate"
    );

    app.clock.advance_secs(119);
    assert_eq!(request_reset(&app, &email).await.0, 204);
    assert_eq!(kinds(&app), (1, 1), "still inside the window at 119 s");

    app.clock.advance_secs(2);
    assert_eq!(request_reset(&app, &email).await.0, 204);
    assert_eq!(request_verification(&app, &email).await.0, 204);
    assert_eq!(kinds(&app), (2, 2), "a new window after 121 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn simultaneous_reset_requests_send_one_mail() {
    let app = TestApp::spawn().await;
    let email = address("burst");
    sign_up(&app, &email).await;
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..10 {
        let (http, url) = (app.http.clone(), app.url("users", "request-password-reset"));
        let body = json!({"email": email});
        set.spawn(async move {
            http.post(url)
                .json(&body)
                .send()
                .await
                .expect("request")
                .status()
                .as_u16()
        });
    }
    while let Some(s) = set.join_next().await {
        assert_eq!(s.expect("task"), 204);
    }
    assert_eq!(app.mails_to(&email).len(), 1);
}

// ---------------------------------------------------------------------------
// Tokens: types, expiry, single use

/// A fresh unverified user with one valid token of every kind.
struct Tokens {
    email: String,
    id: String,
    auth: String,
    verification: String,
    reset: String,
    change: String,
}

async fn tokens(app: &TestApp) -> Tokens {
    let email = address("kinds");
    let id = sign_up(app, &email).await;
    let auth = app.login("users", &email, PASSWORD).await;
    request_verification(app, &email).await;
    request_reset(app, &email).await;
    let new_email = address("kinds-new");
    assert_eq!(request_change(app, &auth, &new_email).await.0, 204);
    Tokens {
        verification: token_in_mail(app, &email, VERIFY),
        reset: token_in_mail(app, &email, RESET),
        change: token_in_mail(app, &new_email, CHANGE),
        email,
        id,
        auth,
    }
}

#[tokio::test]
async fn a_token_of_one_type_is_refused_by_the_other_endpoints_and_as_an_auth_token() {
    let app = TestApp::spawn().await;
    let t = tokens(&app).await;

    for (token, kind) in [
        (&t.reset, "reset"),
        (&t.change, "change"),
        (&t.auth, "auth"),
    ] {
        let (status, body) = confirm_verification(&app, token).await;
        assert_eq!(status, 400, "{kind} at confirm-verification: {body}");
        assert!(
            code(&body, "token").starts_with("validation_invalid_token"),
            "{kind} at confirm-verification: {body}"
        );
    }
    for (token, kind) in [
        (&t.verification, "verification"),
        (&t.change, "change"),
        (&t.auth, "auth"),
    ] {
        let (status, body) = confirm_reset(&app, token, "other-Passw0rd").await;
        assert_eq!(status, 400, "{kind} at confirm-password-reset: {body}");
        assert_eq!(
            code(&body, "token"),
            "validation_invalid_token",
            "{kind} at confirm-password-reset: {body}"
        );
    }
    for (token, kind) in [
        (&t.verification, "verification"),
        (&t.reset, "reset"),
        (&t.auth, "auth"),
    ] {
        let (status, body) = confirm_change(&app, token, PASSWORD).await;
        assert_eq!(status, 400, "{kind} at confirm-email-change: {body}");
        assert!(
            code(&body, "token").starts_with("validation_invalid_token"),
            "{kind} at confirm-email-change: {body}"
        );
    }
    for (token, kind) in [
        (&t.verification, "verification"),
        (&t.reset, "reset"),
        (&t.change, "change"),
    ] {
        assert_eq!(
            refresh_status(&app, token).await,
            401,
            "{kind} as auth-refresh token"
        );
        let (status, _) = request_change(&app, token, &address("nope")).await;
        assert_eq!(status, 401, "{kind} as request-email-change token");
    }

    let r = record(&app, &t.id).await;
    assert!(!r.verified && r.email == t.email, "nothing changed: {r:?}");
    // Each token still works where it belongs.
    assert_eq!(confirm_verification(&app, &t.verification).await.0, 204);
    assert_eq!(
        confirm_reset(&app, &t.reset, "brand-new-Passw0rd").await.0,
        204
    );
}

#[tokio::test]
async fn expired_tokens_are_refused() {
    let app = TestApp::spawn().await;
    let t = tokens(&app).await;
    // passwordReset and emailChange live 1800 s, verification 86400 s.
    app.clock.advance_secs(1801);
    let (status, body) = confirm_reset(&app, &t.reset, "other-Passw0rd").await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(code(&body, "token"), "validation_invalid_token", "{body}");
    let (status, body) = confirm_change(&app, &t.change, PASSWORD).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(code(&body, "token"), "validation_invalid_token", "{body}");

    app.clock.advance_secs(86_400 - 1801 + 1);
    let (status, body) = confirm_verification(&app, &t.verification).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(code(&body, "token"), "validation_invalid_token", "{body}");

    let r = record(&app, &t.id).await;
    assert!(!r.verified && r.email == t.email, "nothing changed: {r:?}");
    assert_eq!(login_status(&app, &t.email, PASSWORD).await, 200);
}

/// N simultaneous confirms of one reset token, each with its own password:
/// exactly one succeeds and exactly its password works afterwards.
async fn one_reset_token_confirmed_ten_times_at_once(app: &TestApp) {
    let email = address("stampede");
    sign_up(app, &email).await;
    request_reset(app, &email).await;
    let token = token_in_mail(app, &email, RESET);

    let mut set = tokio::task::JoinSet::new();
    for i in 0..10 {
        let (http, url) = (app.http.clone(), app.url("users", "confirm-password-reset"));
        let password = format!("stampede-Passw0rd-{i}");
        let body = json!({"token": token, "password": password, "passwordConfirm": password});
        set.spawn(async move {
            let res = http.post(url).json(&body).send().await.expect("request");
            let status = res.status().as_u16();
            let body: Value = res.json().await.unwrap_or(Value::Null);
            (status, body, password)
        });
    }
    let mut winners = Vec::new();
    while let Some(r) = set.join_next().await {
        let (status, body, password) = r.expect("task");
        match status {
            204 => winners.push(password),
            400 => assert_eq!(code(&body, "token"), "validation_invalid_token", "{body}"),
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one 204: {winners:?}");
    assert_eq!(login_status(app, &email, &winners[0]).await, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ten_simultaneous_confirms_of_one_reset_token_succeed_exactly_once() {
    let app = TestApp::spawn().await;
    one_reset_token_confirmed_ten_times_at_once(&app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ten_simultaneous_confirms_of_one_reset_token_succeed_exactly_once_on_dynamodb() {
    let store: Arc<dyn Store> = crate::store_contract::dynamo_store().await;
    let app = TestApp::spawn_with(Options {
        store: Some(store),
        ..Default::default()
    })
    .await;
    one_reset_token_confirmed_ten_times_at_once(&app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_resend_throttle_holds_across_two_servers_sharing_a_dynamodb_table() {
    let store: Arc<dyn Store> = crate::store_contract::dynamo_store().await;
    let a = TestApp::spawn_with(Options {
        store: Some(store.clone()),
        ..Default::default()
    })
    .await;
    let b = TestApp::spawn_with(Options {
        store: Some(store),
        ..Default::default()
    })
    .await;
    let email = address("containers");
    sign_up(&a, &email).await;
    let (ra, rb) = tokio::join!(request_reset(&a, &email), request_reset(&b, &email));
    assert_eq!((ra.0, rb.0), (204, 204));
    assert_eq!(
        a.mails_to(&email).len() + b.mails_to(&email).len(),
        1,
        "one mail between both containers"
    );
}

// ---------------------------------------------------------------------------
// Token content checks

#[tokio::test]
async fn a_verification_token_for_an_address_the_record_no_longer_has_is_refused() {
    let app = TestApp::spawn().await;
    let email = address("moved");
    let id = sign_up(&app, &email).await;
    request_verification(&app, &email).await;
    let token = token_in_mail(&app, &email, VERIFY);

    // Change the address behind the API's back, keeping the tokenKey, so
    // only the email claim can tell.
    let before = record(&app, &id).await;
    let mut after = before.clone();
    after.email = address("moved-new");
    after.version += 1;
    app.store
        .update_record(
            &before,
            &after,
            &[UniqueKey::new("email", before.email.to_lowercase())],
            &[UniqueKey::new("email", after.email.to_lowercase())],
        )
        .await
        .expect("move");

    let (status, body) = confirm_verification(&app, &token).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        code(&body, "token"),
        "validation_token_email_mismatch",
        "{body}"
    );
    assert!(!record(&app, &id).await.verified);
}

#[tokio::test]
async fn a_token_of_another_auth_collection_is_refused_with_a_collection_mismatch() {
    let app = TestApp::with_config(config_with(vec![json!({
        "id": "clients00000001", "name": "clients", "type": "auth",
        "passwordAuth": {"enabled": true, "identityFields": ["email"]}
    })]))
    .await;
    let email = address("elsewhere");
    sign_up(&app, &email).await;
    request_reset(&app, &email).await;
    let token = token_in_mail(&app, &email, RESET);
    let (status, body) = app
        .post(
            "clients",
            "confirm-password-reset",
            json!({"token": token, "password": "other-Passw0rd", "passwordConfirm": "other-Passw0rd"}),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        code(&body, "token"),
        "validation_token_collection_mismatch",
        "{body}"
    );
    assert_eq!(confirm_reset(&app, &token, "other-Passw0rd").await.0, 204);
}

#[tokio::test]
async fn becoming_verified_drops_oauth2_links_made_before_the_address_was_proven() {
    let app = TestApp::spawn().await;
    let email = address("prelinked");
    let id = sign_up(&app, &email).await;
    let auth = app.login("users", &email, PASSWORD).await;
    app.store
        .insert_external_auth(&ExternalAuth {
            collection_id: USERS.into(),
            record_id: id.clone(),
            provider: "github".into(),
            provider_id: unique("gh"),
            created: Timestamp(0),
        })
        .await
        .expect("link");
    request_verification(&app, &email).await;
    let token = token_in_mail(&app, &email, VERIFY);

    assert_eq!(confirm_verification(&app, &token).await.0, 204);
    let links = app
        .store
        .list_external_auths(USERS, &id)
        .await
        .expect("store");
    assert!(links.is_empty(), "links dropped: {links:?}");
    assert_eq!(
        refresh_status(&app, &auth).await,
        401,
        "and the tokens issued before revoked"
    );
}

#[tokio::test]
async fn confirming_verification_without_password_auth_replaces_the_password() {
    let app = TestApp::with_config(config_with(vec![json!({
        "id": "nopass000000001", "name": "nopass", "type": "auth",
        "passwordAuth": {"enabled": false}
    })]))
    .await;
    let email = address("nopass");
    let (status, body) = app
        .post(
            "nopass",
            "records",
            json!({"email": email, "password": PASSWORD, "passwordConfirm": PASSWORD}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let id = body["id"].as_str().expect("id").to_owned();
    let before = app
        .store
        .get_record("nopass000000001", &id)
        .await
        .expect("store")
        .expect("record");
    assert_eq!(
        app.post("nopass", "request-verification", json!({"email": email}))
            .await
            .0,
        204
    );
    let token = token_in_mail(&app, &email, VERIFY);
    let (status, body) = app
        .post("nopass", "confirm-verification", json!({"token": token}))
        .await;
    assert_eq!(status, 204, "{body}");
    let after = app
        .store
        .get_record("nopass000000001", &id)
        .await
        .expect("store")
        .expect("record");
    assert!(after.verified);
    assert_ne!(
        after.password_hash, before.password_hash,
        "pre-hijack guard: the password set before verification is gone"
    );

    let (status, body) = app
        .post("nopass", "request-password-reset", json!({"email": email}))
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        body["message"],
        "The collection is not configured to allow password authentication."
    );
}

// ---------------------------------------------------------------------------
// Forms

#[tokio::test]
async fn the_forms_report_errors_with_pocketbase_codes() {
    let app = TestApp::spawn().await;
    let required = "validation_required";

    let (status, body) = app.post("users", "confirm-password-reset", json!({})).await;
    assert_eq!(status, 400);
    for field in ["token", "password", "passwordConfirm"] {
        assert_eq!(code(&body, field), required, "{field}: {body}");
    }
    let (status, body) = app
        .post(
            "users",
            "confirm-password-reset",
            json!({"token": "x.y.z", "password": "short", "passwordConfirm": "other"}),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(code(&body, "token"), "validation_invalid_token", "{body}");
    assert_eq!(
        code(&body, "password"),
        "validation_length_out_of_range",
        "{body}"
    );
    assert_eq!(
        code(&body, "passwordConfirm"),
        "validation_values_mismatch",
        "{body}"
    );

    let (status, body) = app.post("users", "confirm-email-change", json!({})).await;
    assert_eq!(status, 400);
    assert_eq!(code(&body, "token"), required, "{body}");
    assert_eq!(code(&body, "password"), required, "{body}");

    let (status, body) = app.post("users", "confirm-verification", json!({})).await;
    assert_eq!(status, 400);
    assert_eq!(code(&body, "token"), required, "{body}");

    for action in ["request-verification", "request-password-reset"] {
        let (status, body) = app.post("users", action, json!({})).await;
        assert_eq!(status, 400, "{action}");
        assert_eq!(
            body,
            json!({"data": {"email": {"code": required, "message": "Cannot be blank."}},
                   "message": "An error occurred while validating the submitted data.",
                   "status": 400}),
            "{action}"
        );
        let (status, body) = app.post("users", action, json!({"email": "nope"})).await;
        assert_eq!(status, 400, "{action}");
        assert_eq!(code(&body, "email"), "validation_is_email", "{action}");
    }

    for action in [
        "request-verification",
        "confirm-verification",
        "request-password-reset",
        "confirm-password-reset",
        "request-email-change",
        "confirm-email-change",
    ] {
        let res = app
            .http
            .post(app.url("users", action))
            .header("Content-Type", "application/json")
            .header("Authorization", "x")
            .body("{\"token")
            .send()
            .await
            .expect("request");
        let status = res.status().as_u16();
        let body: Value = res.json().await.expect("json");
        if action == "request-email-change" {
            assert_eq!(status, 401, "{action}: the caller is checked first");
            continue;
        }
        assert_eq!(status, 400, "{action}");
        assert_eq!(
            body,
            json!({"data": {}, "message": "An error occurred while loading the submitted data.", "status": 400}),
            "{action}"
        );
        let (status, body) = app.post("nosuch", action, json!({})).await;
        assert_eq!(status, 404, "{action}: {body}");
    }
}

// ---------------------------------------------------------------------------
// Mail failures

/// A mailer whose provider is down: every send fails. Remembers what it
/// was asked to send, so the test knows the tokens that must not be logged.
struct DownMailer {
    outage: String,
    attempts: AtomicUsize,
    seen: Mutex<Vec<MailMessage>>,
}

#[async_trait]
impl Mailer for DownMailer {
    async fn send(&self, message: &MailMessage) -> Result<(), MailError> {
        self.attempts.fetch_add(1, Ordering::SeqCst);
        if let Ok(mut seen) = self.seen.lock() {
            seen.push(message.clone());
        }
        Err(MailError(format!(
            "simulated provider outage {} (request id: req-1)",
            self.outage
        )))
    }
}

#[tokio::test]
async fn when_the_mailer_fails_requests_still_answer_204_log_the_error_and_change_nothing() {
    let mailer = Arc::new(DownMailer {
        outage: unique("outage"),
        attempts: AtomicUsize::new(0),
        seen: Mutex::new(Vec::new()),
    });
    let app = TestApp::spawn_with(Options {
        mailer: Some(mailer.clone()),
        ..Default::default()
    })
    .await;
    let email = address("down");
    let id = sign_up(&app, &email).await;
    let auth = app.login("users", &email, PASSWORD).await;
    let before = record(&app, &id).await;

    let unknown = raw_post(
        &app,
        "request-password-reset",
        json!({"email": address("nobody")}),
    )
    .await;
    for action in ["request-verification", "request-password-reset"] {
        let answer = raw_post(&app, action, json!({"email": email})).await;
        assert_eq!(
            answer, unknown,
            "{action}: same answer as an unknown address"
        );
    }
    let (status, body) = request_change(&app, &auth, &address("down-new")).await;
    assert_eq!((status, body), (204, Value::Null), "request-email-change");

    assert_eq!(record(&app, &id).await, before, "the record is untouched");
    assert_eq!(refresh_status(&app, &auth).await, 200, "tokens still valid");
    assert_eq!(mailer.attempts.load(Ordering::SeqCst), 3);

    // The failed send used up the resend window (see mail_flows.rs): the
    // next request inside it does not try again.
    assert_eq!(request_reset(&app, &email).await.0, 204);
    assert_eq!(mailer.attempts.load(Ordering::SeqCst), 3);

    let logs = captured_logs();
    let failures = logs
        .lines()
        .filter(|l| l.contains("failed to send mail") && l.contains(&mailer.outage))
        .count();
    assert_eq!(
        failures, 3,
        "each failure logged once with the mailer's error"
    );
    assert!(
        logs.contains(&format!("record_id={id}")),
        "the log names the record"
    );
    let seen = mailer.seen.lock().map(|s| s.clone()).unwrap_or_default();
    for message in seen {
        let token = [VERIFY, RESET, CHANGE]
            .iter()
            .find_map(|m| {
                let start = message.text.find(m)? + m.len();
                Some(
                    message.text[start..]
                        .chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || "._-".contains(*c))
                        .collect::<String>(),
                )
            })
            .expect("a link in every message");
        assert!(!logs.contains(&token), "{} token logged", message.kind);
    }
}

// ---------------------------------------------------------------------------
// Real adapters and the SDK

async fn ses_mailer(endpoint: &str) -> SesMailer {
    let sdk = authgate_adapters::aws::sdk_config().await;
    let mut builder = aws_sdk_sesv2::config::Builder::from(&sdk)
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new("test", "test", None, None, "test"));
    if sdk.region().is_none() {
        builder = builder.region(Region::new("us-east-1"));
    }
    SesMailer::new(aws_sdk_sesv2::Client::from_conf(builder.build()))
}

/// The token in the newest mail to `to` in aws-ses-v2-local's store.
async fn ses_token(endpoint: &str, to: &str, marker: &str) -> String {
    let store: Value = reqwest::get(format!("{endpoint}/store?since=0"))
        .await
        .expect("SES store")
        .json()
        .await
        .expect("SES store JSON");
    let mails: Vec<&Value> = store["emails"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter(|e| {
                    e["destination"]["to"]
                        .as_array()
                        .is_some_and(|t| t.iter().any(|x| x == to))
                })
                .collect()
        })
        .unwrap_or_default();
    let text = mails
        .iter()
        .rev()
        .find_map(|m| m["body"]["text"].as_str().filter(|t| t.contains(marker)))
        .unwrap_or_else(|| panic!("no SES mail to {to} with {marker}: {mails:?}"));
    let start = text.find(marker).map(|i| i + marker.len()).unwrap_or(0);
    text[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || "._-".contains(*c))
        .collect()
}

#[tokio::test]
async fn verification_and_reset_work_end_to_end_through_the_ses_adapter() {
    let endpoint = require_env("AUTHGATE_TEST_SES");
    let app = TestApp::spawn_with(Options {
        mailer: Some(Arc::new(ses_mailer(&endpoint).await)),
        ..Default::default()
    })
    .await;
    let email = address("ses");
    let id = sign_up(&app, &email).await;

    assert_eq!(request_verification(&app, &email).await.0, 204);
    let token = ses_token(&endpoint, &email, VERIFY).await;
    assert_eq!(confirm_verification(&app, &token).await.0, 204);
    assert!(record(&app, &id).await.verified);

    assert_eq!(request_reset(&app, &email).await.0, 204);
    let token = ses_token(&endpoint, &email, RESET).await;
    let (status, body) = confirm_reset(&app, &token, "ses-Passw0rd-2").await;
    assert_eq!(status, 204, "{body}");
    assert_eq!(login_status(&app, &email, "ses-Passw0rd-2").await, 200);
    assert_eq!(login_status(&app, &email, PASSWORD).await, 400);
    assert!(app.mails().is_empty(), "nothing went to the local mailbox");
}

#[tokio::test]
async fn the_pocketbase_sdk_runs_verification_reset_and_email_change() {
    let app = TestApp::spawn().await;
    let script = repo_root().join("infra/node/sdk-mail.mjs");
    let (ok, out) = run_node(
        &script,
        &[
            ("BASE_URL", app.base.clone()),
            ("MAIL_DIR", app.mail_dir.display().to_string()),
        ],
    )
    .await;
    assert!(ok, "{out}");
    assert!(out.contains("sdk mail: ok"), "{out}");
}
