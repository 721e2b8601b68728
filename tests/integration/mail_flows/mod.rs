//! The mail flows: `request-verification` / `confirm-verification`,
//! `request-password-reset` / `confirm-password-reset`,
//! `request-email-change` / `confirm-email-change`. A file per flow, plus
//! what they share: the request endpoints' answers and throttle, token
//! types and expiry, the forms, and the SES adapter and the PocketBase JS
//! SDK end to end. The helpers below act on the built-in `users` collection.

mod email_change;
mod end_to_end;
mod forms;
mod password_reset;
mod requests;
mod tokens;
mod verification;

use authgate_core::model::Record;
use authgate_tests::TestApp;
use serde_json::{json, Value};

const USERS: &str = "_pb_users_auth_";
const PASSWORD: &str = "first-Passw0rd";
const VERIFY: &str = "/confirm-verification/";
const RESET: &str = "/confirm-password-reset/";
const CHANGE: &str = "/confirm-email-change/";

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
async fn token_in_mail(app: &TestApp, to: &str, marker: &str) -> String {
    app.mails_to(to)
        .await
        .iter()
        .rev()
        .find_map(|m| m.token_after(marker))
        .unwrap_or_else(|| panic!("no mail to {to} with a {marker} link"))
}

/// `data.<field>.code` of an error body.
fn code<'a>(body: &'a Value, field: &str) -> &'a str {
    body["data"][field]["code"].as_str().unwrap_or_default()
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
