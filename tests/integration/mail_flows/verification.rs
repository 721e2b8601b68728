//! `request-verification` / `confirm-verification`.

use authgate_core::model::{ExternalAuth, Timestamp, UniqueKey};
use authgate_tests::{captured_logs, config_with, unique, unique_email, TestApp};
use serde_json::{json, Value};

use super::{
    code, confirm_verification, record, request_verification, sign_up, token_in_mail, PASSWORD,
    USERS, VERIFY,
};

#[tokio::test]
async fn verification_link_marks_the_record_verified_and_confirming_again_is_still_204() {
    let app = TestApp::spawn().await;
    let email = unique_email("verify");
    let id = sign_up(&app, &email).await;

    let (status, body) = request_verification(&app, &email.to_uppercase()).await;
    assert_eq!((status, &body), (204, &Value::Null), "request-verification");
    let mails = app.mails_to(&email).await;
    assert_eq!(mails.len(), 1, "one verification mail: {mails:?}");
    assert!(
        mails[0]
            .text
            .contains("https://app.example.test/_/#/auth/confirm-verification/"),
        "link built from appURL: {}",
        mails[0].text
    );
    let token = token_in_mail(&app, &email, VERIFY).await;

    assert_eq!(confirm_verification(&app, &token).await.0, 204);
    assert!(record(&app, &id).await.verified, "record is verified");
    let (status, body) = app
        .post(
            "users",
            "auth-with-password",
            json!({"identity": email, "password": PASSWORD}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["record"]["verified"], true, "{body}");

    assert_eq!(
        confirm_verification(&app, &token).await.0,
        204,
        "confirming again while still verified"
    );
    assert_eq!(request_verification(&app, &email).await.0, 204);
    assert_eq!(
        app.mails_to(&email).await.len(),
        1,
        "an already verified record gets no mail"
    );
    let logs = captured_logs();
    assert!(!logs.contains(&token), "the token never appears in logs");
}

#[tokio::test]
async fn a_verification_token_for_an_address_the_record_no_longer_has_is_refused() {
    let app = TestApp::spawn().await;
    let email = unique_email("moved");
    let id = sign_up(&app, &email).await;
    request_verification(&app, &email).await;
    let token = token_in_mail(&app, &email, VERIFY).await;

    // Change the address behind the API's back, keeping the tokenKey, so
    // only the email claim can tell.
    let before = record(&app, &id).await;
    let mut after = before.clone();
    after.email = unique_email("moved-new");
    after.version += 1;
    app.store
        .update_record(
            &before,
            &after,
            &[UniqueKey::new("email", before.email.to_lowercase())],
            &[UniqueKey::new("email", after.email.to_lowercase())],
        )
        .await
        .expect("move");

    let (status, body) = confirm_verification(&app, &token).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        code(&body, "token"),
        "validation_token_email_mismatch",
        "{body}"
    );
    assert!(!record(&app, &id).await.verified);
}

#[tokio::test]
async fn becoming_verified_drops_oauth2_links_made_before_the_address_was_proven() {
    let app = TestApp::spawn().await;
    let email = unique_email("prelinked");
    let id = sign_up(&app, &email).await;
    let auth = app.login("users", &email, PASSWORD).await;
    app.store
        .insert_external_auth(&ExternalAuth {
            collection_id: USERS.into(),
            record_id: id.clone(),
            provider: "github".into(),
            provider_id: unique("gh"),
            created: Timestamp(0),
        })
        .await
        .expect("link");
    request_verification(&app, &email).await;
    let token = token_in_mail(&app, &email, VERIFY).await;

    assert_eq!(confirm_verification(&app, &token).await.0, 204);
    let links = app
        .store
        .list_external_auths(USERS, &id)
        .await
        .expect("store");
    assert!(links.is_empty(), "links dropped: {links:?}");
    assert_eq!(
        app.refresh_status("users", &auth).await,
        401,
        "and the tokens issued before revoked"
    );
}

#[tokio::test]
async fn confirming_verification_without_password_auth_replaces_the_password() {
    let app = TestApp::with_config(config_with(vec![json!({
        "id": "nopass000000001", "name": "nopass", "type": "auth",
        "passwordAuth": {"enabled": false}
    })]))
    .await;
    let email = unique_email("nopass");
    let (status, body) = app
        .post(
            "nopass",
            "records",
            json!({"email": email, "password": PASSWORD, "passwordConfirm": PASSWORD}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let id = body["id"].as_str().expect("id").to_owned();
    let before = app
        .store
        .get_record("nopass000000001", &id)
        .await
        .expect("store")
        .expect("record");
    assert_eq!(
        app.post("nopass", "request-verification", json!({"email": email}))
            .await
            .0,
        204
    );
    let token = token_in_mail(&app, &email, VERIFY).await;
    let (status, body) = app
        .post("nopass", "confirm-verification", json!({"token": token}))
        .await;
    assert_eq!(status, 204, "{body}");
    let after = app
        .store
        .get_record("nopass000000001", &id)
        .await
        .expect("store")
        .expect("record");
    assert!(after.verified);
    assert_ne!(
        after.password_hash, before.password_hash,
        "pre-hijack guard: the password set before verification is gone"
    );

    let (status, body) = app
        .post("nopass", "request-password-reset", json!({"email": email}))
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        body["message"],
        "The collection is not configured to allow password authentication."
    );
}
