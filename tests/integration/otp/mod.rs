//! `POST request-otp` and `POST auth-with-otp` (MFA combinations are in
//! `mfa.rs`): a file per endpoint, plus the attempt limit, the decoys handed
//! out for unknown emails and concurrent uses.

mod attempts;
mod auth_with_otp;
mod request_otp;

use authgate_tests::{config_with, merge_keys, Options, TestApp};
use serde_json::{json, Value};

/// An auth collection with OTP on (60 s codes) and a template carrying
/// `{OTP_ID}`, so each mail can be matched to its request.
pub(crate) fn otp_collection(name: &str, extra: Value) -> Value {
    let mut c = json!({
        "name": name,
        "type": "auth",
        "otp": {
            "enabled": true,
            "duration": 60,
            "emailTemplate": {
                "subject": "Your {APP_NAME} code",
                "body": "<p>Your one-time password is: <strong>{OTP}</strong></p><p>Request: {OTP_ID}</p>"
            }
        }
    });
    merge_keys(&mut c, extra);
    c
}

async fn otp_app() -> TestApp {
    TestApp::with_config(config_with(vec![
        otp_collection("otpusers", json!({})),
        otp_collection("otpothers", json!({})),
    ]))
    .await
}

/// Options for an app with just `otpusers` (an [`otp_collection`]).
fn otp_options() -> Options {
    Options {
        config: config_with(vec![otp_collection("otpusers", json!({}))]),
        ..Default::default()
    }
}

fn is_record_id(s: &str) -> bool {
    s.len() == 15
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

const INVALID_OTP: &str = r#"{"data":{},"message":"Invalid or expired OTP.","status":400}"#;

/// `auth-with-otp` on `otpusers`: the status and the exact body text.
async fn auth_with_otp_text(app: &TestApp, otp_id: &str, code: &str) -> (u16, String) {
    app.post_text(
        "otpusers",
        "auth-with-otp",
        json!({"otpId": otp_id, "password": code}),
    )
    .await
}
