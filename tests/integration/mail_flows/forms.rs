//! The six forms: PocketBase's error codes and envelopes.

use authgate_tests::TestApp;
use serde_json::{json, Value};

use super::code;

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
            .post_malformed("users", action, "{\"token", Some("x"))
            .await;
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

/// A collection whose password field allows the longest password there is.
fn long_password_collection() -> Value {
    json!({
        "name": "longpw",
        "type": "auth",
        "fields": [{"name": "password", "type": "password", "min": 8, "max": 255}],
        "passwordAuth": {"enabled": true, "identityFields": ["email"]}
    })
}

#[tokio::test]
async fn a_password_as_long_as_the_field_allows_works_in_every_form() {
    let app = TestApp::with_config(authgate_tests::config_with(
        vec![long_password_collection()],
    ))
    .await;
    let email = authgate_tests::unique_email("longpw");
    let password = "Long-Passw0rd-".repeat(20)[..255].to_owned();
    app.sign_up("longpw", &email, &password).await;
    let auth = app.login("longpw", &email, &password).await;

    // The password reset sets one of the longest length again.
    let (status, body) = app
        .post("longpw", "request-password-reset", json!({"email": email}))
        .await;
    assert_eq!(status, 204, "{body}");
    let token = super::token_in_mail(&app, &email, super::RESET).await;
    let reset = "Other-Passw0rd-".repeat(20)[..255].to_owned();
    let (status, body) = app
        .post(
            "longpw",
            "confirm-password-reset",
            json!({"token": token, "password": reset, "passwordConfirm": reset}),
        )
        .await;
    assert_eq!(status, 204, "reset to a 255-character password: {body}");
    assert_eq!(
        app.refresh_status("longpw", &auth).await,
        401,
        "reset revokes"
    );
    let auth = app.login("longpw", &email, &reset).await;

    // The email change confirms with it too.
    let new_email = authgate_tests::unique_email("longpw-new");
    let (status, body) = app
        .post_auth(
            "longpw",
            "request-email-change",
            json!({"newEmail": new_email}),
            Some(&auth),
        )
        .await;
    assert_eq!(status, 204, "{body}");
    let token = super::token_in_mail(&app, &new_email, super::CHANGE).await;
    let (status, body) = app
        .post(
            "longpw",
            "confirm-email-change",
            json!({"token": token, "password": reset}),
        )
        .await;
    assert_eq!(
        status, 204,
        "confirm-email-change with a 255-character password: {body}"
    );
    app.login("longpw", &new_email, &reset).await;
}
