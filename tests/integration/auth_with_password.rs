//! `POST /api/collections/{c}/auth-with-password`.

use authgate_tests::{config_with, unique_email, TestApp};
use serde_json::json;

#[tokio::test]
async fn a_correct_password_returns_a_token_and_the_record_with_its_email() {
    let app = TestApp::spawn().await;
    let e = unique_email("pw");
    app.sign_up("users", &e, "1234567890").await;
    let (status, body) = app
        .post(
            "users",
            "auth-with-password",
            json!({"identity": e.to_uppercase(), "password": "1234567890"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["record"]["email"],
        e.as_str(),
        "email shown to its owner, as stored"
    );
    let token = body["token"].as_str().unwrap();
    let claims = authgate_core::token::peek(token).unwrap();
    assert_eq!(claims.kind, Some(authgate_core::token::TokenKind::Auth));
    assert_eq!(claims.refreshable, Some(true));
    assert_eq!(claims.collection_id, "_pb_users_auth_");
    assert_eq!(claims.id, body["record"]["id"].as_str().unwrap());
    let now = app.clock.now_secs();
    assert!(
        (claims.exp - now - 432_000).abs() <= 2,
        "default auth token lifetime"
    );
}

#[tokio::test]
async fn wrong_password_and_unknown_identity_get_byte_identical_answers() {
    let app = TestApp::spawn().await;
    let e = unique_email("pw");
    app.sign_up("users", &e, "1234567890").await;
    let wrong = app
        .http
        .post(app.url("users", "auth-with-password"))
        .json(&json!({"identity": e, "password": "not-the-password"}))
        .send()
        .await
        .unwrap();
    let unknown = app
        .http
        .post(app.url("users", "auth-with-password"))
        .json(&json!({"identity": unique_email("pw"), "password": "not-the-password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 400);
    assert_eq!(unknown.status(), 400);
    let (a, b) = (wrong.bytes().await.unwrap(), unknown.bytes().await.unwrap());
    assert_eq!(a, b);
    assert_eq!(
        &a[..],
        br#"{"data":{},"message":"Failed to authenticate.","status":400}"#
    );
}

#[tokio::test]
async fn missing_fields_and_bad_identity_field_are_validation_errors() {
    let app = TestApp::spawn().await;
    let (status, body) = app.post("users", "auth-with-password", json!({})).await;
    assert_eq!(status, 400);
    assert_eq!(body["data"]["identity"]["code"], "validation_required");
    assert_eq!(body["data"]["password"]["code"], "validation_required");
    let (status, body) = app
        .post(
            "users",
            "auth-with-password",
            json!({"identity": "a@b.co", "password": "x", "identityField": "tokenKey"}),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(
        body["data"]["identityField"]["code"],
        "validation_in_invalid"
    );
}

#[tokio::test]
async fn an_overlong_identity_reports_the_allowed_length_as_params() {
    let app = TestApp::spawn().await;
    let body = json!({"identity": "x".repeat(256), "password": "x"});
    let (status, body) = app.post("users", "auth-with-password", body).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        body["data"]["identity"],
        json!({
            "code": "validation_length_out_of_range",
            "message": "The length must be between 1 and 255.",
            "params": {"min": 1, "max": 255}
        })
    );
}

#[tokio::test]
async fn other_identity_fields_work_with_their_unique_index() {
    let app = TestApp::with_config(config_with(vec![json!({
        "name": "members", "type": "auth",
        "fields": [{"name": "username", "type": "text"}],
        "indexes": ["CREATE UNIQUE INDEX idx_username ON members (username COLLATE NOCASE)"],
        "passwordAuth": {"enabled": true, "identityFields": ["email", "username"]}
    })]))
    .await;
    let e = unique_email("pw");
    let (status, body) = app
        .post("members", "records", json!({"email": e, "username": "Neo", "password": "1234567890", "passwordConfirm": "1234567890"}))
        .await;
    assert_eq!(status, 200, "{body}");
    for (identity, field) in [
        ("neo", None),
        ("NEO", Some("username")),
        (e.as_str(), None),
        (e.as_str(), Some("email")),
    ] {
        let mut req = json!({"identity": identity, "password": "1234567890"});
        if let Some(f) = field {
            req["identityField"] = json!(f);
        }
        let (status, body) = app.post("members", "auth-with-password", req.clone()).await;
        assert_eq!(status, 200, "{req} → {body}");
    }
    let (status, _) = app
        .post(
            "members",
            "auth-with-password",
            json!({"identity": "neo", "password": "1234567890", "identityField": "email"}),
        )
        .await;
    assert_eq!(status, 400, "a username is not an email");
}

#[tokio::test]
async fn disabled_password_auth_is_403_and_base_collections_are_404() {
    let app = TestApp::with_config(config_with(vec![
        json!({"name": "nopw", "type": "auth", "passwordAuth": {"enabled": false}}),
        json!({"name": "posts", "type": "base"}),
    ]))
    .await;
    let (status, body) = app
        .post(
            "nopw",
            "auth-with-password",
            json!({"identity": "a@b.co", "password": "x"}),
        )
        .await;
    assert_eq!(status, 403);
    assert_eq!(
        body["message"],
        "The collection is not configured to allow password authentication."
    );
    // The method check comes before the body is read.
    let res = app
        .post_malformed("nopw", "auth-with-password", "{not json", None)
        .await;
    assert_eq!(res.status(), 403);
    let (status, body) = app.post("posts", "auth-with-password", json!({})).await;
    assert_eq!(status, 404);
    assert_eq!(
        body["message"],
        "Missing or invalid auth collection context."
    );
    let (status, _) = app.post("missing", "auth-with-password", json!({})).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn fields_projection_applies_to_auth_responses() {
    let app = TestApp::spawn().await;
    let e = unique_email("pw");
    app.sign_up("users", &e, "1234567890").await;
    let (_, body) = app
        .post(
            "users",
            "auth-with-password?fields=token,record.id",
            json!({"identity": e, "password": "1234567890"}),
        )
        .await;
    assert_eq!(body["record"].as_object().unwrap().len(), 1, "{body}");
    assert!(body["token"].is_string());
}

#[tokio::test]
async fn urlencoded_form_bodies_are_accepted() {
    let app = TestApp::spawn().await;
    let e = unique_email("pw");
    app.sign_up("users", &e, "1234567890").await;
    let res = app
        .http
        .post(app.url("users", "auth-with-password"))
        .form(&[("identity", e.as_str()), ("password", "1234567890")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}
