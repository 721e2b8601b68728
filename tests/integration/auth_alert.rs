//! The new-location alert (PocketBase's `authAlert`): a mail when a login
//! succeeds from a network the record has not logged in from lately. The
//! app trusts one proxy hop, so each request names its client address in
//! `X-Forwarded-For`.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use authgate_core::ports::Store;
use authgate_tests::{config_with, unique_email, FaultyStore, Options, TestApp};
use serde_json::{json, Value};

const PASSWORD: &str = "alert-Passw0rd";
const SUBJECT: &str = "Login from a new location";

fn collection(name: &str, enabled: bool) -> Value {
    json!({
        "name": name,
        "type": "auth",
        "passwordAuth": {"enabled": true, "identityFields": ["email"]},
        "otp": {"enabled": true, "duration": 60},
        "authAlert": {"enabled": enabled}
    })
}

async fn app_on(store: Option<Arc<dyn Store>>) -> TestApp {
    TestApp::spawn_with(Options {
        config: config_with(vec![
            collection("alerted", true),
            collection("quiet", false),
        ]),
        store,
        trusted_proxy_hops: 1,
        ..Default::default()
    })
    .await
}

/// `auth-with-password` as the client at `ip`: the status and the body.
async fn login_from(app: &TestApp, coll: &str, ip: &str, email: &str) -> (u16, Value) {
    let res = app
        .http
        .post(app.url(coll, "auth-with-password"))
        .header("x-forwarded-for", ip)
        .json(&json!({"identity": email, "password": PASSWORD}))
        .send()
        .await
        .expect("login");
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

/// Alerts mailed to `email` so far.
async fn alerts(app: &TestApp, email: &str) -> usize {
    app.mails_to(email)
        .await
        .iter()
        .filter(|m| m.subject == SUBJECT)
        .count()
}

#[tokio::test]
async fn a_login_from_a_new_network_mails_a_new_location_alert() {
    let app = app_on(None).await;
    let email = unique_email("alert");
    app.sign_up("alerted", &email, PASSWORD).await;
    // The first login has nothing to compare with: remembered, no mail.
    assert_eq!(
        login_from(&app, "alerted", "203.0.113.5", &email).await.0,
        200
    );
    // Another address of the same /24: the same network.
    assert_eq!(
        login_from(&app, "alerted", "203.0.113.77", &email).await.0,
        200
    );
    assert_eq!(
        alerts(&app, &email).await,
        0,
        "first login and same network"
    );

    let (status, body) = login_from(&app, "alerted", "198.51.100.9", &email).await;
    assert_eq!(status, 200, "the alert never changes the login: {body}");
    assert!(body["token"].is_string(), "{body}");
    let mails = app.mails_to(&email).await;
    let alert = mails
        .iter()
        .find(|m| m.subject == SUBJECT)
        .expect("an alert mail");
    assert!(alert.text.contains("new location"), "{}", alert.text);
    assert!(
        !alert.text.contains("198.51.100"),
        "no address in the mail: {}",
        alert.text
    );

    // Now known: no second alert, also not from the first network.
    for ip in ["198.51.100.10", "203.0.113.5"] {
        assert_eq!(login_from(&app, "alerted", ip, &email).await.0, 200);
    }
    assert_eq!(alerts(&app, &email).await, 1, "known networks");
}

#[tokio::test]
async fn no_alert_when_disabled_or_on_auth_refresh() {
    let app = app_on(None).await;
    let email = unique_email("quiet");
    app.sign_up("quiet", &email, PASSWORD).await;
    for ip in ["203.0.113.5", "198.51.100.9", "192.0.2.1"] {
        assert_eq!(login_from(&app, "quiet", ip, &email).await.0, 200);
    }
    assert_eq!(alerts(&app, &email).await, 0, "authAlert disabled");

    let email = unique_email("refresh");
    app.sign_up("alerted", &email, PASSWORD).await;
    let (_, body) = login_from(&app, "alerted", "203.0.113.5", &email).await;
    let token = body["token"].as_str().expect("token");
    let res = app
        .http
        .post(app.url("alerted", "auth-refresh"))
        .header("x-forwarded-for", "198.51.100.9")
        .header("Authorization", token)
        .send()
        .await
        .expect("refresh");
    assert_eq!(res.status(), 200);
    assert_eq!(alerts(&app, &email).await, 0, "auth-refresh never alerts");
}

#[tokio::test]
async fn a_network_is_forgotten_after_two_months_without_a_login_from_it() {
    let app = app_on(None).await;
    let email = unique_email("forget");
    app.sign_up("alerted", &email, PASSWORD).await;
    login_from(&app, "alerted", "203.0.113.5", &email).await;
    login_from(&app, "alerted", "198.51.100.9", &email).await;
    assert_eq!(alerts(&app, &email).await, 1);
    // Kept while in use: a login every few weeks from 203.0.113.x.
    for _ in 0..4 {
        app.clock.advance_secs(25 * 24 * 3600);
        login_from(&app, "alerted", "203.0.113.5", &email).await;
    }
    assert_eq!(
        alerts(&app, &email).await,
        1,
        "a network in use stays known"
    );
    // 198.51.100.x was last used 100 days ago: new again.
    login_from(&app, "alerted", "198.51.100.9", &email).await;
    assert_eq!(alerts(&app, &email).await, 2, "a forgotten network alerts");
}

#[tokio::test]
async fn a_password_reset_forgets_every_network_without_alerting() {
    let app = app_on(None).await;
    let email = unique_email("reset");
    app.sign_up("alerted", &email, PASSWORD).await;
    login_from(&app, "alerted", "203.0.113.5", &email).await;
    let (status, _) = app
        .post("alerted", "request-password-reset", json!({"email": email}))
        .await;
    assert_eq!(status, 204);
    let token = app
        .mails_to(&email)
        .await
        .iter()
        .rev()
        .find_map(|m| m.token_after("/confirm-password-reset/"))
        .expect("reset mail");
    let (status, body) = app
        .post(
            "alerted",
            "confirm-password-reset",
            json!({"token": token, "password": PASSWORD, "passwordConfirm": PASSWORD}),
        )
        .await;
    assert_eq!(status, 204, "{body}");
    // As after PocketBase's password change: the next login is a first one.
    login_from(&app, "alerted", "198.51.100.9", &email).await;
    assert_eq!(alerts(&app, &email).await, 0);
    login_from(&app, "alerted", "192.0.2.1", &email).await;
    assert_eq!(alerts(&app, &email).await, 1);
}

#[tokio::test]
async fn an_otp_login_from_a_new_network_alerts_too() {
    let app = app_on(None).await;
    let email = unique_email("otp-alert");
    app.sign_up("alerted", &email, PASSWORD).await;
    // The first OTP login proves the address, which hardens the record (new
    // password and tokenKey): a first login again.
    for (ip, want) in [
        ("203.0.113.5", 0),
        ("2001:db8:1:2::7", 1),
        ("2001:db8:1:2::8", 1),
    ] {
        let (otp_id, code) = app.request_otp("alerted", &email).await;
        let res = app
            .http
            .post(app.url("alerted", "auth-with-otp"))
            .header("x-forwarded-for", ip)
            .json(&json!({"otpId": otp_id, "password": code}))
            .send()
            .await
            .expect("otp login");
        assert_eq!(res.status(), 200, "{ip}");
        assert_eq!(alerts(&app, &email).await, want, "after {ip}");
    }
}

#[tokio::test]
async fn a_store_failure_while_checking_the_network_never_fails_the_login() {
    let store = FaultyStore::new();
    let app = app_on(Some(store.clone())).await;
    let email = unique_email("faulty");
    app.sign_up("alerted", &email, PASSWORD).await;
    login_from(&app, "alerted", "203.0.113.5", &email).await;
    store.origin_hits_fail.store(true, Ordering::SeqCst);
    let (status, body) = login_from(&app, "alerted", "198.51.100.9", &email).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["token"].is_string(), "{body}");
    assert_eq!(alerts(&app, &email).await, 0);
}

#[tokio::test]
async fn an_mfa_login_alerts_when_it_completes_never_on_its_first_factor() {
    let mut mfa = collection("alertedmfa", true);
    mfa["mfa"] = json!({"enabled": true, "duration": 60});
    let app = TestApp::spawn_with(Options {
        config: config_with(vec![mfa]),
        trusted_proxy_hops: 1,
        ..Default::default()
    })
    .await;
    let email = unique_email("mfa-alert");
    app.sign_up("alertedmfa", &email, PASSWORD).await;
    for (ip, want) in [("203.0.113.5", 0), ("198.51.100.9", 1)] {
        let (status, body) = login_from(&app, "alertedmfa", ip, &email).await;
        assert_eq!(status, 401, "{body}");
        assert_eq!(alerts(&app, &email).await, 0, "first factor from {ip}");
        let mfa_id = body["mfaId"].as_str().expect("mfaId").to_owned();
        let (otp_id, code) = app.request_otp("alertedmfa", &email).await;
        let res = app
            .http
            .post(app.url("alertedmfa", "auth-with-otp"))
            .header("x-forwarded-for", ip)
            .json(&json!({"otpId": otp_id, "password": code, "mfaId": mfa_id}))
            .send()
            .await
            .expect("second factor");
        assert_eq!(res.status(), 200, "{ip}");
        assert_eq!(alerts(&app, &email).await, want, "completed from {ip}");
    }
}

#[tokio::test]
async fn the_new_location_alert_also_works_on_dynamodb() {
    alerts_on(authgate_tests::dynamo_store().await).await;
}

#[tokio::test]
async fn the_new_location_alert_also_works_on_sqlite() {
    alerts_on(authgate_tests::sqlite_store()).await;
}

async fn alerts_on(store: Arc<dyn Store>) {
    let app = app_on(Some(store)).await;
    let email = unique_email("ddb-alert");
    app.sign_up("alerted", &email, PASSWORD).await;
    for (ip, want) in [
        ("203.0.113.5", 0),
        ("203.0.113.6", 0),
        ("198.51.100.9", 1),
        ("198.51.100.9", 1),
    ] {
        assert_eq!(login_from(&app, "alerted", ip, &email).await.0, 200);
        assert_eq!(alerts(&app, &email).await, want, "after {ip}");
    }
    // A month later the first network is still known (seen last period).
    app.clock.advance_secs(31 * 24 * 3600);
    login_from(&app, "alerted", "203.0.113.5", &email).await;
    assert_eq!(alerts(&app, &email).await, 1);
}
