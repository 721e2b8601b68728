//! Multi-factor logins: password and OTP in both orders, on an MFA collection.

use std::sync::Arc;

use authgate_tests::{config_with, unique_email, TestApp};
use serde_json::{json, Value};

use crate::otp::otp_collection;

const PASSWORD: &str = "1234567890";
const INVALID_MFA: &str = "Invalid or expired MFA session.";

/// `mfausers`: OTP and password on, MFA on with 60 s sessions; `mfausers2`
/// the same, for cross-collection checks.
async fn mfa_app() -> TestApp {
    let mfa = json!({"mfa": {"enabled": true, "duration": 60}});
    TestApp::with_config(config_with(vec![
        otp_collection("mfausers", mfa.clone()),
        otp_collection("mfausers2", mfa),
    ]))
    .await
}

/// Signs up a fresh address in `collection` and returns it.
async fn user(app: &TestApp, collection: &str) -> String {
    let e = unique_email("otp");
    app.sign_up(collection, &e, PASSWORD).await;
    e
}

/// Password as the first factor: asserts the MFA 401 and returns the mfaId.
async fn password_first(app: &TestApp, collection: &str, e: &str) -> String {
    let (status, body) = app
        .post(
            collection,
            "auth-with-password",
            json!({"identity": e, "password": PASSWORD}),
        )
        .await;
    assert_eq!(status, 401, "{body}");
    let obj = body.as_object().unwrap();
    assert_eq!(obj.len(), 1, "the MFA 401 carries only the mfaId: {body}");
    body["mfaId"].as_str().unwrap().to_owned()
}

/// OTP as the first factor: asserts the MFA 401 and returns the mfaId.
async fn otp_first(app: &TestApp, collection: &str, e: &str) -> String {
    let (otp_id, code) = app.request_otp(collection, e).await;
    let (status, body) = app
        .post(
            collection,
            "auth-with-otp",
            json!({"otpId": otp_id, "password": code}),
        )
        .await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body.as_object().unwrap().len(), 1, "{body}");
    body["mfaId"].as_str().unwrap().to_owned()
}

/// OTP as the second factor, with the mfaId in the query string (as the SDK sends it).
async fn otp_second(app: &TestApp, collection: &str, e: &str, mfa_id: &str) -> (u16, Value) {
    let (otp_id, code) = app.request_otp(collection, e).await;
    app.post(
        collection,
        &format!("auth-with-otp?mfaId={mfa_id}"),
        json!({"otpId": otp_id, "password": code}),
    )
    .await
}

#[tokio::test]
async fn password_then_otp_with_the_mfa_id_in_the_query_logs_in() {
    let app = mfa_app().await;
    let e = user(&app, "mfausers").await;
    let mfa_id = password_first(&app, "mfausers", &e).await;
    let (status, body) = otp_second(&app, "mfausers", &e, &mfa_id).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["record"]["email"], e.as_str());
    assert!(body["token"].as_str().is_some_and(|t| !t.is_empty()));

    // The session is single use.
    let (status, body) = app
        .post(
            "mfausers",
            "auth-with-password",
            json!({"identity": e, "password": PASSWORD, "mfaId": mfa_id}),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        body,
        json!({"data": {}, "message": INVALID_MFA, "status": 400})
    );
}

#[tokio::test]
async fn otp_then_password_with_the_mfa_id_in_the_body_logs_in_and_keeps_the_password() {
    let app = mfa_app().await;
    let e = user(&app, "mfausers").await;
    let mfa_id = otp_first(&app, "mfausers", &e).await;
    // With MFA on, the OTP verified the address but did not replace the
    // password: it is the second factor now.
    let (status, body) = app
        .post(
            "mfausers",
            "auth-with-password",
            json!({"identity": e, "password": PASSWORD, "mfaId": mfa_id}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["record"]["verified"], true);
}

#[tokio::test]
async fn the_query_mfa_id_wins_over_the_body() {
    let app = mfa_app().await;
    let e = user(&app, "mfausers").await;
    let mfa_id = password_first(&app, "mfausers", &e).await;
    let (otp_id, code) = app.request_otp("mfausers", &e).await;
    let (status, body) = app
        .post(
            "mfausers",
            &format!("auth-with-otp?mfaId={mfa_id}"),
            json!({"otpId": otp_id, "password": code, "mfaId": "bogusbogusbogus"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn the_same_method_twice_is_refused_and_the_session_survives() {
    let app = mfa_app().await;
    let e = user(&app, "mfausers").await;

    let mfa_id = password_first(&app, "mfausers", &e).await;
    let (status, body) = app
        .post(
            "mfausers",
            &format!("auth-with-password?mfaId={mfa_id}"),
            json!({"identity": e, "password": PASSWORD}),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        body,
        json!({"data": {}, "message": "A different authentication method is required.", "status": 400})
    );
    let (status, body) = otp_second(&app, "mfausers", &e, &mfa_id).await;
    assert_eq!(
        status, 200,
        "the session is still usable with another method: {body}"
    );

    let mfa_id = otp_first(&app, "mfausers", &e).await;
    let (status, body) = otp_second(&app, "mfausers", &e, &mfa_id).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        body["message"],
        "A different authentication method is required."
    );
}

#[tokio::test]
async fn an_expired_mfa_session_is_refused() {
    let app = mfa_app().await;
    let e = user(&app, "mfausers").await;
    let mfa_id = password_first(&app, "mfausers", &e).await;
    app.clock.advance_secs(60);
    let (status, body) = otp_second(&app, "mfausers", &e, &mfa_id).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        body,
        json!({"data": {}, "message": INVALID_MFA, "status": 400})
    );
}

#[tokio::test]
async fn an_mfa_session_of_another_record_or_collection_is_refused() {
    let app = mfa_app().await;
    let alice = user(&app, "mfausers").await;
    let bob = user(&app, "mfausers").await;
    let alice_mfa = password_first(&app, "mfausers", &alice).await;

    let (status, body) = otp_second(&app, "mfausers", &bob, &alice_mfa).await;
    assert_eq!(
        (status, body["message"].clone()),
        (400, json!(INVALID_MFA)),
        "{body}"
    );

    // Same address signed up in the second collection: the id means nothing there.
    app.sign_up("mfausers2", &alice, PASSWORD).await;
    let (status, body) = otp_second(&app, "mfausers2", &alice, &alice_mfa).await;
    assert_eq!(
        (status, body["message"].clone()),
        (400, json!(INVALID_MFA)),
        "{body}"
    );

    for (case, id) in [("unknown", "aaaaaaaaaaaaaaa"), ("garbage", "../x")] {
        let (status, body) = otp_second(&app, "mfausers", &alice, id).await;
        assert_eq!(
            (status, body["message"].clone()),
            (400, json!(INVALID_MFA)),
            "{case}"
        );
    }

    // Alice's session was not consumed by any of that.
    let (status, body) = otp_second(&app, "mfausers", &alice, &alice_mfa).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_second_factors_on_one_session_have_exactly_one_winner() {
    let app = mfa_app().await;
    let e = user(&app, "mfausers").await;
    let mfa_id = password_first(&app, "mfausers", &e).await;
    // Three separate OTPs (within the record's 5 checks), raced on one session.
    let mut otps = Vec::new();
    for _ in 0..3 {
        otps.push(app.request_otp("mfausers", &e).await);
    }
    let app = Arc::new(app);
    let tasks: Vec<_> = otps
        .into_iter()
        .map(|(otp_id, code)| {
            let app = app.clone();
            let action = format!("auth-with-otp?mfaId={mfa_id}");
            tokio::spawn(async move {
                app.post(
                    "mfausers",
                    &action,
                    json!({"otpId": otp_id, "password": code}),
                )
                .await
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for t in tasks {
        let (status, body) = t.await.unwrap();
        if status == 400 {
            assert_eq!(body["message"], INVALID_MFA);
        }
        statuses.push(status);
    }
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 400, 400]);
}

#[tokio::test]
async fn auth_refresh_of_an_mfa_login_never_asks_for_mfa() {
    let app = mfa_app().await;
    let e = user(&app, "mfausers").await;
    let mfa_id = password_first(&app, "mfausers", &e).await;
    let (status, body) = otp_second(&app, "mfausers", &e, &mfa_id).await;
    assert_eq!(status, 200, "{body}");
    let token = body["token"].as_str().unwrap();
    let (status, body) = app
        .post_auth("mfausers", "auth-refresh", json!({}), Some(token))
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(body["token"].as_str().is_some_and(|t| !t.is_empty()));
    assert!(body.get("mfaId").is_none());
}

#[tokio::test]
async fn auth_methods_report_mfa_and_otp_with_their_durations() {
    let app = mfa_app().await;
    let (status, body) = app.get("mfausers", "auth-methods").await;
    assert_eq!(status, 200);
    assert_eq!(body["mfa"], json!({"enabled": true, "duration": 60}));
    assert_eq!(body["otp"], json!({"enabled": true, "duration": 60}));
    let (status, body) = app.get("users", "auth-methods").await;
    assert_eq!(status, 200);
    assert_eq!(body["mfa"], json!({"enabled": false, "duration": 0}));
    assert_eq!(body["otp"], json!({"enabled": false, "duration": 0}));
}

#[tokio::test]
async fn an_mfa_session_of_a_deleted_account_finishes_no_login_not_even_for_its_namesake() {
    let app = mfa_app().await;
    let e = user(&app, "mfausers").await;
    // A full login gives the token that deletes the account.
    let first = password_first(&app, "mfausers", &e).await;
    let (status, body) = otp_second(&app, "mfausers", &e, &first).await;
    assert_eq!(status, 200, "{body}");
    let token = body["token"].as_str().unwrap().to_owned();
    let id = body["record"]["id"].as_str().unwrap().to_owned();
    // A first factor left pending, then the account is deleted.
    let pending = password_first(&app, "mfausers", &e).await;
    let res = app
        .http
        .delete(format!(
            "{}/api/collections/mfausers/records/{id}",
            app.base
        ))
        .header("Authorization", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    // The address signs up again; its own OTP with the old session fails.
    app.sign_up("mfausers", &e, PASSWORD).await;
    let (status, body) = otp_second(&app, "mfausers", &e, &pending).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["message"], INVALID_MFA);
}
