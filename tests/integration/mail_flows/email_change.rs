//! `request-email-change` / `confirm-email-change`: who may change to what,
//! and one owner per address when changes race.

use authgate_core::model::UniqueKey;
use authgate_tests::{config_with, unique_email, TestApp};
use serde_json::{json, Value};

use super::{
    code, confirm_change, record, request_change, sign_up, token_in_mail, CHANGE, PASSWORD, USERS,
};

#[tokio::test]
async fn email_change_mails_only_the_new_address_and_moves_the_login_there() {
    let app = TestApp::spawn().await;
    let old_email = unique_email("change-old");
    let new_email = unique_email("change-new");
    let id = sign_up(&app, &old_email).await;
    let auth = app.login("users", &old_email, PASSWORD).await;

    let (status, body) = request_change(&app, &format!("Bearer {auth}"), &new_email).await;
    assert_eq!((status, &body), (204, &Value::Null));
    assert_eq!(
        app.mails_to(&new_email).await.len(),
        1,
        "mail to the new address"
    );
    assert!(
        app.mails_to(&old_email).await.is_empty(),
        "nothing to the old address"
    );
    let token = token_in_mail(&app, &new_email, CHANGE).await;

    let (status, body) = confirm_change(&app, &token, "wrong-Passw0rd").await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        code(&body, "password"),
        "validation_invalid_password",
        "{body}"
    );
    assert_eq!(
        record(&app, &id).await.email,
        old_email,
        "unchanged after a wrong password"
    );

    let (status, body) = confirm_change(&app, &token, PASSWORD).await;
    assert_eq!(status, 204, "{body}");
    let (status, body) = app
        .post(
            "users",
            "auth-with-password",
            json!({"identity": new_email, "password": PASSWORD}),
        )
        .await;
    assert_eq!(status, 200, "login with the new address: {body}");
    assert_eq!(body["record"]["email"], new_email.as_str());
    assert_eq!(
        body["record"]["verified"], true,
        "the new address is proven"
    );
    assert_eq!(
        app.login_status("users", &old_email, PASSWORD).await,
        400,
        "old address"
    );
    assert_eq!(
        app.refresh_status("users", &auth).await,
        401,
        "older auth token revoked"
    );
    let (status, body) = confirm_change(&app, &token, PASSWORD).await;
    assert_eq!(status, 400, "reused change token: {body}");
    assert_eq!(code(&body, "token"), "validation_invalid_token", "{body}");

    // The old address was released with the change.
    app.sign_up("users", &old_email, PASSWORD).await;
}

#[tokio::test]
async fn email_change_to_a_taken_address_in_any_case_or_to_the_current_one_is_refused() {
    let app = TestApp::spawn().await;
    let mine = unique_email("mine");
    let taken = format!("Taken-{}", unique_email("x"));
    sign_up(&app, &mine).await;
    sign_up(&app, &taken).await;
    let auth = app.login("users", &mine, PASSWORD).await;

    let cases = [
        (
            taken.to_lowercase(),
            "validation_invalid_new_email",
            "taken, lower case",
        ),
        (
            taken.to_uppercase(),
            "validation_invalid_new_email",
            "taken, upper case",
        ),
        (
            mine.clone(),
            "validation_not_in_invalid",
            "the current address",
        ),
        (
            mine.to_uppercase(),
            "validation_not_in_invalid",
            "the current address, upper case",
        ),
        ("not-an-email".into(), "validation_is_email", "malformed"),
        (String::new(), "validation_required", "empty"),
    ];
    for (new_email, expected, case) in cases {
        let (status, body) = request_change(&app, &auth, &new_email).await;
        assert_eq!(status, 400, "{case}: {body}");
        assert_eq!(code(&body, "newEmail"), expected, "{case}: {body}");
        assert_eq!(
            body["message"], "An error occurred while validating the submitted data.",
            "{case}"
        );
    }
    assert!(app.mails().await.is_empty(), "no mail for a refused change");
}

#[tokio::test]
async fn request_email_change_needs_an_auth_token_of_this_collection() {
    let mut doc = config_with(vec![json!({
        "id": "clients00000001", "name": "clients", "type": "auth",
        "passwordAuth": {"enabled": true, "identityFields": ["email"]}
    })]);
    doc["meta"]["appName"] = json!("Mail flows");
    let app = TestApp::with_config(doc).await;
    let email = unique_email("who");
    sign_up(&app, &email).await;
    let auth = app.login("users", &email, PASSWORD).await;
    let client = unique_email("client");
    app.post(
        "clients",
        "records",
        json!({"email": client, "password": PASSWORD, "passwordConfirm": PASSWORD}),
    )
    .await;
    let client_auth = app.login("clients", &client, PASSWORD).await;
    let new_email = unique_email("who-new");

    let (status, body) = app
        .post(
            "users",
            "request-email-change",
            json!({"newEmail": new_email}),
        )
        .await;
    assert_eq!(status, 401, "no token: {body}");
    let (status, _) = request_change(&app, "garbage", &new_email).await;
    assert_eq!(status, 401, "garbage token");
    let (status, body) = request_change(&app, &client_auth, &new_email).await;
    assert_eq!(status, 403, "token of another collection: {body}");
    assert_eq!(
        body["message"],
        "The request requires auth record from clients collection."
    );
    let (status, body) = app
        .post_auth(
            "users",
            "request-email-change",
            json!({"newEmail": new_email}),
            None,
        )
        .await;
    assert_eq!(status, 401, "{body}");
    // Caller checks come before the body is read.
    let res = app
        .post_malformed("users", "request-email-change", "{\"newEmail", None)
        .await;
    assert_eq!(res.status().as_u16(), 401, "malformed body without a token");
    let res = app
        .post_malformed("users", "request-email-change", "{\"newEmail", Some(&auth))
        .await;
    assert_eq!(res.status().as_u16(), 400, "malformed body with a token");

    assert_eq!(
        request_change(&app, &auth, &new_email).await.0,
        204,
        "raw token"
    );
}

#[tokio::test]
async fn an_older_change_token_fails_once_someone_else_took_the_address() {
    let app = TestApp::spawn().await;
    let (a, b) = (unique_email("race-a"), unique_email("race-b"));
    let target = unique_email("race-target");
    let a_id = sign_up(&app, &a).await;
    let b_id = sign_up(&app, &b).await;
    let a_auth = app.login("users", &a, PASSWORD).await;
    let b_auth = app.login("users", &b, PASSWORD).await;

    assert_eq!(request_change(&app, &a_auth, &target).await.0, 204);
    let a_token = token_in_mail(&app, &target, CHANGE).await;
    assert_eq!(
        request_change(&app, &b_auth, &target.to_uppercase())
            .await
            .0,
        204
    );
    let b_token = token_in_mail(&app, &target, CHANGE).await;
    assert_ne!(a_token, b_token);

    assert_eq!(confirm_change(&app, &b_token, PASSWORD).await.0, 204);
    let (status, body) = confirm_change(&app, &a_token, PASSWORD).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        code(&body, "token"),
        "validation_invalid_token_email",
        "{body}"
    );

    assert_eq!(record(&app, &a_id).await.email, a, "A keeps its address");
    assert_eq!(
        record(&app, &b_id).await.email,
        target.to_uppercase(),
        "B has the new one"
    );
    let owner = app
        .store
        .find_record_by_unique(USERS, &UniqueKey::new("email", target.to_lowercase()))
        .await
        .expect("store")
        .expect("an owner");
    assert_eq!(owner.id, b_id, "exactly one owner");
    assert_eq!(app.login_status("users", &a, PASSWORD).await, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn simultaneous_changes_of_two_records_to_one_address_leave_exactly_one_owner() {
    let app = TestApp::spawn().await;
    let target = unique_email("dup-target");
    let mut tokens = Vec::new();
    let mut ids = Vec::new();
    for label in ["dup-a", "dup-b", "dup-c"] {
        let email = unique_email(label);
        ids.push(sign_up(&app, &email).await);
        let auth = app.login("users", &email, PASSWORD).await;
        assert_eq!(request_change(&app, &auth, &target).await.0, 204);
        tokens.push(token_in_mail(&app, &target, CHANGE).await);
    }
    let mut set = tokio::task::JoinSet::new();
    for token in tokens {
        let (http, url) = (app.http.clone(), app.url("users", "confirm-email-change"));
        set.spawn(async move {
            http.post(url)
                .json(&json!({"token": token, "password": PASSWORD}))
                .send()
                .await
                .expect("request")
                .status()
                .as_u16()
        });
    }
    let mut statuses = Vec::new();
    while let Some(s) = set.join_next().await {
        statuses.push(s.expect("task"));
    }
    statuses.sort();
    assert_eq!(statuses, vec![204, 400, 400], "exactly one change wins");
    let mut owners = 0;
    for id in &ids {
        if record(&app, id).await.email == target {
            owners += 1;
        }
    }
    assert_eq!(owners, 1, "one record holds the address");
}
