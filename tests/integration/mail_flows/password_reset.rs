//! `request-password-reset` / `confirm-password-reset`.

use std::sync::Arc;

use authgate_core::ports::Store;
use authgate_tests::{captured_logs, config_with, dynamo_store, unique, unique_email, TestApp};
use serde_json::{json, Value};

use super::{code, confirm_reset, record, request_reset, sign_up, token_in_mail, PASSWORD, RESET};

#[tokio::test]
async fn password_reset_sets_the_new_password_revokes_older_tokens_and_is_single_use() {
    let app = TestApp::spawn().await;
    let email = unique_email("reset");
    let id = sign_up(&app, &email).await;
    let old_auth = app.login("users", &email, PASSWORD).await;

    let (status, body) = request_reset(&app, &email).await;
    assert_eq!((status, &body), (204, &Value::Null));
    let token = token_in_mail(&app, &email, RESET).await;

    let new_password = format!("N3w-{}", unique("pw"));
    let (status, body) = confirm_reset(&app, &token, &new_password).await;
    assert_eq!(status, 204, "{body}");

    assert_eq!(
        app.login_status("users", &email, PASSWORD).await,
        400,
        "old password"
    );
    assert_eq!(
        app.login_status("users", &email, &new_password).await,
        200,
        "new password"
    );
    assert_eq!(
        app.refresh_status("users", &old_auth).await,
        401,
        "older auth token revoked"
    );
    let (status, body) = confirm_reset(&app, &token, "another-Passw0rd").await;
    assert_eq!(status, 400, "reused reset token: {body}");
    assert_eq!(code(&body, "token"), "validation_invalid_token", "{body}");
    assert_eq!(
        app.login_status("users", &email, &new_password).await,
        200,
        "the reused token changed nothing"
    );
    assert!(
        record(&app, &id).await.verified,
        "the reset mail reached the address: verified"
    );
    let logs = captured_logs();
    assert!(!logs.contains(&token), "the token never appears in logs");
    assert!(
        !logs.contains(&new_password),
        "the password never appears in logs"
    );
}

/// N simultaneous confirms of one reset token, each with its own password:
/// exactly one succeeds and exactly its password works afterwards.
async fn one_reset_token_confirmed_ten_times_at_once(app: &TestApp) {
    let email = unique_email("stampede");
    sign_up(app, &email).await;
    request_reset(app, &email).await;
    let token = token_in_mail(app, &email, RESET).await;

    let mut set = tokio::task::JoinSet::new();
    for i in 0..10 {
        let (http, url) = (app.http.clone(), app.url("users", "confirm-password-reset"));
        let password = format!("stampede-Passw0rd-{i}");
        let body = json!({"token": token, "password": password, "passwordConfirm": password});
        set.spawn(async move {
            let res = http.post(url).json(&body).send().await.expect("request");
            let status = res.status().as_u16();
            let body: Value = res.json().await.unwrap_or(Value::Null);
            (status, body, password)
        });
    }
    let mut winners = Vec::new();
    while let Some(r) = set.join_next().await {
        let (status, body, password) = r.expect("task");
        match status {
            204 => winners.push(password),
            400 => assert_eq!(code(&body, "token"), "validation_invalid_token", "{body}"),
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one 204: {winners:?}");
    assert_eq!(app.login_status("users", &email, &winners[0]).await, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ten_simultaneous_confirms_of_one_reset_token_succeed_exactly_once() {
    let app = TestApp::spawn().await;
    one_reset_token_confirmed_ten_times_at_once(&app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ten_simultaneous_confirms_of_one_reset_token_succeed_exactly_once_on_dynamodb() {
    let store: Arc<dyn Store> = dynamo_store().await;
    let app = TestApp::on_store(store).await;
    one_reset_token_confirmed_ten_times_at_once(&app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ten_simultaneous_confirms_of_one_reset_token_succeed_exactly_once_on_sqlite() {
    let app = TestApp::on_store(authgate_tests::sqlite_store()).await;
    one_reset_token_confirmed_ten_times_at_once(&app).await;
}

#[tokio::test]
async fn a_token_of_another_auth_collection_is_refused_with_a_collection_mismatch() {
    let app = TestApp::with_config(config_with(vec![json!({
        "id": "clients00000001", "name": "clients", "type": "auth",
        "passwordAuth": {"enabled": true, "identityFields": ["email"]}
    })]))
    .await;
    let email = unique_email("elsewhere");
    sign_up(&app, &email).await;
    request_reset(&app, &email).await;
    let token = token_in_mail(&app, &email, RESET).await;
    let (status, body) = app
        .post(
            "clients",
            "confirm-password-reset",
            json!({"token": token, "password": "other-Passw0rd", "passwordConfirm": "other-Passw0rd"}),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        code(&body, "token"),
        "validation_token_collection_mismatch",
        "{body}"
    );
    assert_eq!(confirm_reset(&app, &token, "other-Passw0rd").await.0, 204);
}
