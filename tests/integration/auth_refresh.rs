//! `POST /api/collections/{c}/auth-refresh`.

use authgate_tests::{config_with, unique_email, TestApp};
use serde_json::json;

#[tokio::test]
async fn refresh_accepts_raw_and_bearer_tokens_and_returns_a_fresh_token() {
    let app = TestApp::spawn().await;
    let e = unique_email("refresh");
    app.sign_up("users", &e, "1234567890").await;
    let token = app.login("users", &e, "1234567890").await;
    app.clock.advance_secs(10);
    for header in [token.clone(), format!("Bearer {token}")] {
        let (status, body) = app
            .post_auth("users", "auth-refresh", json!({}), Some(&header))
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["record"]["email"], e.as_str());
        let fresh = body["token"].as_str().unwrap();
        assert_ne!(fresh, token, "a new token with a later expiry");
        let old = authgate_core::token::peek(&token).unwrap();
        let new = authgate_core::token::peek(fresh).unwrap();
        assert!(new.exp > old.exp);
    }
}

#[tokio::test]
async fn missing_garbage_and_expired_tokens_are_401() {
    let app = TestApp::spawn().await;
    let e = unique_email("refresh");
    app.sign_up("users", &e, "1234567890").await;
    let token = app.login("users", &e, "1234567890").await;
    let tampered = {
        let mut t = token.clone();
        t.pop();
        t.push(if token.ends_with('A') { 'B' } else { 'A' });
        t
    };
    for header in [
        None,
        Some("garbage"),
        Some("Bearer "),
        Some(tampered.as_str()),
    ] {
        let (status, body) = app
            .post_auth("users", "auth-refresh", json!({}), header)
            .await;
        assert_eq!(status, 401, "{header:?}");
        assert_eq!(
            body["message"],
            "The request requires valid record authorization token."
        );
    }
    app.clock.advance_secs(432_001);
    let (status, _) = app
        .post_auth("users", "auth-refresh", json!({}), Some(&token))
        .await;
    assert_eq!(status, 401, "expired");
}

#[tokio::test]
async fn a_token_of_another_collection_is_403() {
    let app =
        TestApp::with_config(config_with(vec![json!({"name": "admins", "type": "auth"})])).await;
    let e = unique_email("refresh");
    app.sign_up("admins", &e, "1234567890").await;
    let token = app.login("admins", &e, "1234567890").await;
    let (status, body) = app
        .post_auth("users", "auth-refresh", json!({}), Some(&token))
        .await;
    assert_eq!(status, 403);
    assert_eq!(
        body["message"],
        "The request requires auth record from admins collection."
    );
}

#[tokio::test]
async fn only_a_capitalised_bearer_prefix_is_stripped_as_pocketbase_does() {
    let app = TestApp::spawn().await;
    let e = unique_email("refresh");
    app.sign_up("users", &e, "1234567890").await;
    let token = app.login("users", &e, "1234567890").await;
    // PocketBase strips exactly `Bearer ` (case-sensitive); anything else is
    // read as part of the token, which then fails like any malformed one.
    for header in [format!("bearer {token}"), format!("BEARER {token}")] {
        let (status, body) = app
            .post_auth("users", "auth-refresh", json!({}), Some(&header))
            .await;
        assert_eq!(status, 401, "{header:.7}: {body}");
    }
    let (status, body) = app
        .post_auth(
            "users",
            "auth-refresh",
            json!({}),
            Some(&format!("Bearer {token}")),
        )
        .await;
    assert_eq!(status, 200, "{body}");
}
