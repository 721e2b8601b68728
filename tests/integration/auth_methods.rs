//! `GET /api/collections/{c}/auth-methods`.

use authgate_tests::{config_with, TestApp};
use serde_json::json;

#[tokio::test]
async fn auth_methods_reports_password_mfa_and_otp_from_config() {
    let app = TestApp::with_config(config_with(vec![json!({
        "name": "staff", "type": "auth",
        "otp": {"enabled": true, "duration": 300},
        "mfa": {"enabled": true, "duration": 900},
        "passwordAuth": {"enabled": false}
    })]))
    .await;
    let (status, body) = app.get("users", "auth-methods").await;
    assert_eq!(status, 200);
    assert_eq!(
        body["password"],
        json!({"enabled": true, "identityFields": ["email"]})
    );
    assert_eq!(body["mfa"], json!({"enabled": false, "duration": 0}));
    assert_eq!(body["otp"], json!({"enabled": false, "duration": 0}));
    assert_eq!(body["oauth2"]["enabled"], false);
    let (_, staff) = app.get("staff", "auth-methods").await;
    assert_eq!(staff["password"]["enabled"], false);
    assert_eq!(staff["mfa"], json!({"enabled": true, "duration": 900}));
    assert_eq!(staff["otp"], json!({"enabled": true, "duration": 300}));
}

#[tokio::test]
async fn auth_methods_supports_the_sdk_fields_projection_and_lookup_by_id() {
    let app = TestApp::spawn().await;
    let res = app
        .http
        .get(format!(
            "{}?fields=mfa,otp",
            app.url("_pb_users_auth_", "auth-methods")
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body.as_object().unwrap().len(), 2, "{body}");
    assert!(body.get("mfa").is_some() && body.get("otp").is_some());
}

#[tokio::test]
async fn every_response_carries_pocketbase_security_and_cors_headers() {
    let app = TestApp::spawn().await;
    let res = app
        .http
        .get(app.url("users", "auth-methods"))
        .send()
        .await
        .unwrap();
    let h = res.headers();
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["x-frame-options"], "SAMEORIGIN");
    assert_eq!(h["x-xss-protection"], "1; mode=block");
    assert_eq!(h["cross-origin-opener-policy"], "same-origin");
    assert_eq!(h["access-control-allow-origin"], "*");
    let pre = app
        .http
        .request(
            reqwest::Method::OPTIONS,
            app.url("users", "auth-with-password"),
        )
        .header("Origin", "https://app.example.test")
        .header("Access-Control-Request-Method", "POST")
        .send()
        .await
        .unwrap();
    assert_eq!(pre.status(), 204);
    assert!(pre.headers().contains_key("access-control-allow-methods"));
}

#[tokio::test]
async fn unknown_routes_answer_with_the_envelope() {
    let app = TestApp::spawn().await;
    let res = app
        .http
        .get(format!("{}/api/nothing", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["status"], 404);
    assert_eq!(body["data"], json!({}));
}
