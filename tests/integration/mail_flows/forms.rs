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
