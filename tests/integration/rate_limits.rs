//! Rate limits (429): PocketBase's rules per client address, on by default,
//! exact under concurrency on both stores; the per-account cap on password
//! attempts; the email-change mail throttles.

use std::sync::Arc;

use authgate_core::ports::Store;
use authgate_tests::{config_with, dynamo_store, unique_email, Options, TestApp};
use serde_json::{json, Value};

const TOO_MANY: &str = r#"{"data":{},"message":"Too Many Requests.","status":429}"#;

/// The test config with `rateLimits` set to `limits` (`None`: left out, so
/// the defaults apply) and OTP on for `users`.
fn config(limits: Option<Value>) -> Value {
    let mut doc = config_with(vec![]);
    match limits {
        Some(l) => doc["rateLimits"] = l,
        None => {
            if let Some(o) = doc.as_object_mut() {
                o.remove("rateLimits");
            }
        }
    }
    doc["collections"][0]["otp"] = json!({"enabled": true});
    doc
}

fn rule(label: &str, max: u32, duration: u32) -> Value {
    json!({"label": label, "maxRequests": max, "duration": duration})
}

/// An app that reads the client address from `X-Forwarded-For` (one trusted
/// proxy hop), so a test can speak from many addresses.
async fn behind_proxy(limits: Option<Value>, store: Option<Arc<dyn Store>>) -> TestApp {
    TestApp::spawn_with(Options {
        config: config(limits),
        store,
        trusted_proxy_hops: 1,
        ..Default::default()
    })
    .await
}

/// POSTs JSON as the client at `ip` (through the trusted proxy); returns
/// the status, the `Retry-After` header and the raw body.
async fn post_from(
    app: &TestApp,
    ip: &str,
    action: &str,
    body: Value,
) -> (u16, Option<String>, String) {
    let res = app
        .http
        .post(app.url("users", action))
        .header("x-forwarded-for", ip)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let retry = res
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    (status, retry, res.text().await.unwrap())
}

async fn login_from(
    app: &TestApp,
    ip: &str,
    email: &str,
    password: &str,
) -> (u16, Option<String>, String) {
    let body = json!({"identity": email, "password": password});
    post_from(app, ip, "auth-with-password", body).await
}

async fn fifty_concurrent_requests_against_a_rule_of_ten(store: Option<Arc<dyn Store>>) {
    let limits = json!({"enabled": true, "rules": [rule("*:listAuthMethods", 10, 60)]});
    let app = Arc::new(behind_proxy(Some(limits), store).await);
    let statuses = concurrent_gets(&app, 50).await;
    let passed = statuses.iter().filter(|s| **s == 200).count();
    let limited = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!((passed, limited), (10, 40), "{statuses:?}");
    // The window is fixed and expires: after it requests pass again.
    app.clock.advance_secs(61);
    let (status, _, body) = get_from(&app, "198.51.100.7").await;
    assert_eq!(status, 200, "{body}");
}

async fn get_from(app: &TestApp, ip: &str) -> (u16, Option<String>, String) {
    let res = app
        .http
        .get(app.url("users", "auth-methods"))
        .header("x-forwarded-for", ip)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let retry = res
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    (status, retry, res.text().await.unwrap())
}

/// `n` simultaneous `auth-methods` requests from one client.
async fn concurrent_gets(app: &Arc<TestApp>, n: usize) -> Vec<u16> {
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let app = app.clone();
            tokio::spawn(async move { get_from(&app, "198.51.100.7").await.0 })
        })
        .collect();
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    statuses
}

#[tokio::test]
async fn fifty_concurrent_requests_against_a_rule_of_ten_let_exactly_ten_through_in_memory() {
    fifty_concurrent_requests_against_a_rule_of_ten(None).await;
}

#[tokio::test]
async fn fifty_concurrent_requests_against_a_rule_of_ten_let_exactly_ten_through_in_dynamodb() {
    let store: Arc<dyn Store> = dynamo_store().await;
    fifty_concurrent_requests_against_a_rule_of_ten(Some(store)).await;
}

#[tokio::test]
async fn without_a_rate_limits_section_pocketbases_rules_are_on() {
    let app = behind_proxy(None, None).await;
    let e = unique_email("rl");
    app.sign_up("users", &e, "1234567890").await;
    // `*:auth`: 2 per 3 s per client.
    for _ in 0..2 {
        let (status, _, body) = login_from(&app, "203.0.113.5", &e, "wrong-password").await;
        assert_eq!(status, 400, "{body}");
    }
    let (status, retry, body) = login_from(&app, "203.0.113.5", &e, "1234567890").await;
    assert_eq!((status, body.as_str()), (429, TOO_MANY));
    assert_eq!(retry.as_deref(), Some("3"));
    // Another client is not affected; the window ends after 3 s.
    let (status, _, body) = login_from(&app, "203.0.113.6", &e, "1234567890").await;
    assert_eq!(status, 200, "{body}");
    app.clock.advance_secs(3);
    let (status, _, body) = login_from(&app, "203.0.113.5", &e, "1234567890").await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn a_forwarded_for_header_is_not_trusted_without_configured_proxy_hops() {
    let limits = json!({"enabled": true, "rules": [rule("*:auth", 2, 60)]});
    let app = TestApp::with_config(config(Some(limits))).await;
    let e = unique_email("rl");
    app.sign_up("users", &e, "1234567890").await;
    let mut statuses = Vec::new();
    for i in 0..3 {
        let res = app
            .http
            .post(app.url("users", "auth-with-password"))
            .header("x-forwarded-for", format!("192.0.2.{i}"))
            .json(&json!({"identity": e, "password": "wrong-password"}))
            .send()
            .await
            .unwrap();
        statuses.push(res.status().as_u16());
    }
    assert_eq!(
        statuses,
        [400, 400, 429],
        "one client whatever the header says"
    );
}

#[tokio::test]
async fn eleven_wrong_passwords_from_many_addresses_lock_only_that_account_for_a_window() {
    let app = behind_proxy(None, None).await;
    let (victim, other) = (unique_email("victim"), unique_email("other"));
    app.sign_up("users", &victim, "victim-password").await;
    app.sign_up("users", &other, "other-password").await;
    for i in 0..10 {
        let ip = format!("198.51.100.{i}");
        let (status, _, body) = login_from(&app, &ip, &victim, "guess").await;
        assert_eq!(status, 400, "attempt {i}: {body}");
    }
    // The cap counts every attempt before the password is checked: the 11th
    // is refused even with the right password.
    let (status, retry, body) =
        login_from(&app, "198.51.100.200", &victim, "victim-password").await;
    assert_eq!((status, body.as_str()), (429, TOO_MANY));
    assert_eq!(retry.as_deref(), Some("900"));
    // Another account from the same addresses still logs in (each address
    // used one of its two `*:auth` requests).
    let (status, _, body) = login_from(&app, "198.51.100.3", &other, "other-password").await;
    assert_eq!(status, 200, "{body}");
    // The window expires: no permanent lockout.
    app.clock.advance_secs(900);
    let (status, _, body) = login_from(&app, "198.51.100.201", &victim, "victim-password").await;
    assert_eq!(status, 200, "{body}");
    // Locked out again, the owner can still log in with an OTP: OTP (and
    // OAuth2) logins are not blocked by password failures.
    for i in 0..10 {
        login_from(&app, &format!("198.51.100.{}", 100 + i), &victim, "guess").await;
    }
    let (status, _, _) = login_from(&app, "198.51.100.202", &victim, "victim-password").await;
    assert_eq!(status, 429);
    let (otp_id, code) = app.request_otp("users", &victim).await;
    let (status, body) = app.auth_with_otp("users", &otp_id, &code).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn the_owners_own_logins_give_their_attempts_back() {
    let limits = json!({"enabled": true, "rules": [], "failedLoginsPerAccount": 3});
    let app = behind_proxy(Some(limits), None).await;
    let e = unique_email("owner");
    app.sign_up("users", &e, "1234567890").await;
    for i in 0..20 {
        let (status, _, body) = login_from(&app, "192.0.2.1", &e, "1234567890").await;
        assert_eq!(status, 200, "login {i}: {body}");
    }
    // Failures still count: 3 of them use up the window.
    for _ in 0..3 {
        login_from(&app, "192.0.2.1", &e, "guess").await;
    }
    let (status, _, _) = login_from(&app, "192.0.2.1", &e, "1234567890").await;
    assert_eq!(status, 429);
}

#[tokio::test]
async fn a_password_reset_lifts_the_account_cap_at_once() {
    let limits = json!({"enabled": true, "rules": [], "failedLoginsPerAccount": 3});
    let app = behind_proxy(Some(limits), None).await;
    let e = unique_email("reset");
    app.sign_up("users", &e, "1234567890").await;
    for _ in 0..3 {
        login_from(&app, "192.0.2.1", &e, "guess").await;
    }
    let (status, _, _) = login_from(&app, "192.0.2.1", &e, "1234567890").await;
    assert_eq!(status, 429);
    let (status, body) = app
        .post("users", "request-password-reset", json!({ "email": e }))
        .await;
    assert_eq!(status, 204, "{body}");
    let token = app
        .mails_to(&e)
        .await
        .last()
        .and_then(|m| m.token_after("confirm-password-reset/"))
        .expect("reset token");
    let body =
        json!({"token": token, "password": "new-password-1", "passwordConfirm": "new-password-1"});
    let (status, _, text) = post_from(&app, "192.0.2.2", "confirm-password-reset", body).await;
    assert_eq!(status, 204, "{text}");
    let (status, _, body) = login_from(&app, "192.0.2.1", &e, "new-password-1").await;
    assert_eq!(status, 200, "the reset lifted the cap: {body}");
}

#[tokio::test]
async fn over_the_cap_known_and_unknown_identities_get_byte_identical_answers() {
    let limits = json!({"enabled": true, "rules": [], "failedLoginsPerAccount": 3});
    let app = behind_proxy(Some(limits), None).await;
    let known = unique_email("known");
    let unknown = unique_email("unknown");
    app.sign_up("users", &known, "1234567890").await;
    let mut answers = Vec::new();
    for email in [&known, &unknown] {
        for i in 0..3 {
            let (status, _, _) = login_from(&app, &format!("192.0.2.{i}"), email, "guess").await;
            assert_eq!(status, 400, "{email} attempt {i}");
        }
        answers.push(login_from(&app, "192.0.2.99", email, "guess").await);
    }
    assert_eq!(answers[0], answers[1]);
    assert_eq!(answers[0].0, 429);
    // Spelling an unknown identity differently does not escape its count.
    let (status, _, _) = login_from(&app, "192.0.2.98", &unknown.to_uppercase(), "guess").await;
    assert_eq!(status, 429);
}

#[tokio::test]
async fn the_password_check_of_confirm_email_change_counts_against_the_account() {
    let limits = json!({"enabled": true, "rules": [], "failedLoginsPerAccount": 2});
    let app = behind_proxy(Some(limits), None).await;
    let e = unique_email("cec");
    app.sign_up("users", &e, "1234567890").await;
    let token = app.login("users", &e, "1234567890").await;
    let new_email = unique_email("cec-new");
    let (status, body) = app
        .post_auth(
            "users",
            "request-email-change",
            json!({"newEmail": new_email}),
            Some(&token),
        )
        .await;
    assert_eq!(status, 204, "{body}");
    let change = app
        .mails_to(&new_email)
        .await
        .last()
        .and_then(|m| m.token_after("confirm-email-change/"))
        .expect("email-change token");
    for ip in ["192.0.2.1", "192.0.2.2"] {
        let body = json!({"token": change, "password": "guess"});
        let (status, _, text) = post_from(&app, ip, "confirm-email-change", body).await;
        assert_eq!(status, 400, "{text}");
    }
    let body = json!({"token": change, "password": "1234567890"});
    let (status, _, text) = post_from(&app, "192.0.2.3", "confirm-email-change", body).await;
    assert_eq!(
        (status, text.as_str()),
        (429, TOO_MANY),
        "2 guesses used the 2 attempts"
    );
}

#[tokio::test]
async fn email_change_mails_are_throttled_per_record_and_per_target_address() {
    let app = TestApp::with_config(config(Some(json!({"enabled": false})))).await;
    let target = unique_email("target");
    let mut tokens = Vec::new();
    for i in 0..4 {
        let e = unique_email(&format!("sender{i}"));
        app.sign_up("users", &e, "1234567890").await;
        tokens.push(app.login("users", &e, "1234567890").await);
    }
    let request = |token: String, to: String| {
        let app = &app;
        async move {
            app.post_auth(
                "users",
                "request-email-change",
                json!({ "newEmail": to }),
                Some(&token),
            )
            .await
            .0
        }
    };
    // One record: one mail per resend window, whatever the address.
    let first = unique_email("first");
    let second = unique_email("second");
    assert_eq!(request(tokens[0].clone(), first.clone()).await, 204);
    assert_eq!(request(tokens[0].clone(), second.clone()).await, 204);
    assert_eq!(app.mails_to(&first).await.len(), 1);
    assert_eq!(app.mails_to(&second).await.len(), 0, "throttled per record");
    app.clock.advance_secs(121);
    // One address: at most 3 mails an hour, whoever asks.
    for token in &tokens {
        assert_eq!(request(token.clone(), target.clone()).await, 204);
    }
    assert_eq!(
        app.mails_to(&target).await.len(),
        3,
        "the 4th sender's mail is not sent"
    );
}
