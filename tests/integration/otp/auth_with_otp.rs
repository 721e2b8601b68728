//! `POST auth-with-otp`: a code logs in once, before expiry, only for its own
//! request; the login proves the address.

use authgate_core::model::{ExternalAuth, Otp, Timestamp};
use authgate_core::service::request_otp::code_hash;
use authgate_tests::{
    captured_logs, config_with, repo_root, run_node, unique, unique_email, TestApp,
};
use serde_json::json;

use super::{auth_with_otp_text, is_record_id, otp_app, otp_collection, INVALID_OTP};

#[tokio::test]
async fn an_otp_from_the_mail_logs_in_with_a_token_and_the_record() {
    let app = otp_app().await;
    let e = unique_email("otp");
    app.sign_up("otpusers", &e, "1234567890").await;

    let (status, body) = app
        .post(
            "otpusers",
            "request-otp",
            json!({"email": e.to_uppercase()}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let keys: Vec<&String> = body.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["otpId"], "the body is only the otpId");
    let otp_id = body["otpId"].as_str().unwrap();
    assert!(
        is_record_id(otp_id),
        "otpId {otp_id:?} has PocketBase's id shape"
    );

    let mails = app.mails_to(&e).await;
    assert_eq!(mails.len(), 1, "one mail, to the stored address");
    let mail = &mails[0];
    assert!(
        mail.subject.contains("Your Authgate code"),
        "{}",
        mail.subject
    );
    assert!(
        mail.text.contains(otp_id),
        "{{OTP_ID}} is filled: {}",
        mail.text
    );
    let code = authgate_tests::otp_code(mail).unwrap();
    assert_eq!(code.len(), 8, "8 digits by default");

    let (status, body) = app.auth_with_otp("otpusers", otp_id, &code).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["record"]["email"], e.as_str());
    assert_eq!(body["record"]["collectionName"], "otpusers");
    let claims = authgate_core::token::peek(body["token"].as_str().unwrap()).unwrap();
    assert_eq!(claims.kind, Some(authgate_core::token::TokenKind::Auth));
    assert_eq!(claims.id, body["record"]["id"].as_str().unwrap());
}

#[tokio::test]
async fn an_otp_works_only_once() {
    let app = otp_app().await;
    let e = unique_email("otp");
    app.sign_up("otpusers", &e, "1234567890").await;
    let (otp_id, code) = app.request_otp("otpusers", &e).await;
    let body = json!({"otpId": otp_id, "password": code});
    let (status, _) = app.post("otpusers", "auth-with-otp", body.clone()).await;
    assert_eq!(status, 200);
    let (status, text) = app.post_text("otpusers", "auth-with-otp", body).await;
    assert_eq!((status, text.as_str()), (400, INVALID_OTP));
}

#[tokio::test]
async fn an_expired_otp_is_rejected_even_with_the_right_code() {
    let app = otp_app().await;
    let e = unique_email("otp");
    app.sign_up("otpusers", &e, "1234567890").await;
    let (otp_id, code) = app.request_otp("otpusers", &e).await;
    app.clock.advance_secs(60);
    let (status, text) = auth_with_otp_text(&app, &otp_id, &code).await;
    assert_eq!((status, text.as_str()), (400, INVALID_OTP));
}

#[tokio::test]
async fn wrong_unknown_and_foreign_otps_get_the_same_answer() {
    let app = otp_app().await;
    let e = unique_email("otp");
    app.sign_up("otpusers", &e, "1234567890").await;
    app.sign_up("otpothers", &e, "1234567890").await;
    let (otp_id, code) = app.request_otp("otpusers", &e).await;
    let wrong = if code == "00000000" {
        "11111111"
    } else {
        "00000000"
    };
    let (other_id, other_code) = app.request_otp("otpothers", &e).await;

    let cases = [
        ("wrong code", json!({"otpId": otp_id, "password": wrong})),
        (
            "unknown id",
            json!({"otpId": "aaaaaaaaaaaaaaa", "password": code}),
        ),
        (
            "other collection's OTP",
            json!({"otpId": other_id, "password": other_code}),
        ),
    ];
    for (case, body) in cases {
        let (status, text) = app.post_text("otpusers", "auth-with-otp", body).await;
        assert_eq!((status, text.as_str()), (400, INVALID_OTP), "{case}");
    }
    // Neither OTP was used up by the failed attempts.
    let (status, _) = app.auth_with_otp("otpothers", &other_id, &other_code).await;
    assert_eq!(status, 200, "the other collection's OTP still works there");
    let (status, _) = app.auth_with_otp("otpusers", &otp_id, &code).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn an_otp_login_verifies_the_record_and_without_mfa_replaces_its_password() {
    let app = otp_app().await;
    let e = unique_email("otp");
    let rec = app.sign_up("otpusers", &e, "1234567890").await;
    assert_eq!(rec["verified"], false);
    let old_token = app.login("otpusers", &e, "1234567890").await;

    let (otp_id, code) = app.request_otp("otpusers", &e).await;
    let (status, body) = app.auth_with_otp("otpusers", &otp_id, &code).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["record"]["verified"], true,
        "the code reached the address"
    );
    let token = body["token"].as_str().unwrap();

    // Whoever set the old password (a pre-hijacker) is locked out: the
    // password no longer works and tokens issued with it are revoked.
    assert_eq!(
        app.login_status("otpusers", &e, "1234567890").await,
        400,
        "the old password stops working"
    );
    assert_eq!(
        app.refresh_status("otpusers", &old_token).await,
        401,
        "tokens from before are revoked"
    );
    let (status, body) = app
        .post_auth("otpusers", "auth-refresh", json!({}), Some(token))
        .await;
    assert_eq!(status, 200, "the OTP login's token works");
    assert_eq!(body["record"]["verified"], true, "verified is stored");
}

#[tokio::test]
async fn an_otp_sent_to_another_address_logs_in_but_changes_nothing() {
    // An OTP mailed before an email change went to the old address: it
    // proves nothing about the current one.
    let app = otp_app().await;
    let e = unique_email("otp");
    let rec = app.sign_up("otpusers", &e, "1234567890").await;
    let coll = app.config.collection("otpusers").unwrap();
    let now = authgate_core::ports::Clock::now(app.clock.as_ref());
    let otp = Otp {
        id: "oldaddress00001".into(),
        collection_id: coll.id.clone(),
        record_id: rec["id"].as_str().unwrap().into(),
        code_hash: code_hash(coll, "oldaddress00001", "12345678"),
        sent_to: "previous@example.com".into(),
        created: now,
        expires_at: now.plus_secs(60),
    };
    app.store.insert_otp(&otp).await.unwrap();
    let (status, body) = app.auth_with_otp("otpusers", &otp.id, "12345678").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["record"]["verified"], false);
    app.login("otpusers", &e, "1234567890").await;
}

/// Pre-account hijacking through OAuth2: an attacker signs up with the
/// victim's address and links their own OAuth2 identity while the record is
/// unverified. The victim's OTP login proves the address; the link must go
/// (PocketBase drops all links on any unverified → verified change).
async fn an_otp_login_drops_links_made_before_the_address_was_proven(mfa: bool) {
    let extra = if mfa {
        json!({"mfa": {"enabled": true}})
    } else {
        json!({})
    };
    let app = TestApp::with_config(config_with(vec![otp_collection("otpusers", extra)])).await;
    let coll = app.config.collection("otpusers").unwrap();
    let e = unique_email("otp");
    let rec = app.sign_up("otpusers", &e, "1234567890").await;
    assert_eq!(rec["verified"], false);
    let id = rec["id"].as_str().unwrap();
    let before = app.store.get_record(&coll.id, id).await.unwrap().unwrap();
    app.store
        .insert_external_auth(&ExternalAuth {
            collection_id: coll.id.clone(),
            record_id: id.into(),
            provider: "github".into(),
            provider_id: unique("gh"),
            created: Timestamp(0),
        })
        .await
        .unwrap();

    let (otp_id, code) = app.request_otp("otpusers", &e).await;
    let (status, body) = app.auth_with_otp("otpusers", &otp_id, &code).await;
    if mfa {
        assert_eq!(status, 401, "first factor: {body}");
        assert!(body["mfaId"].is_string(), "{body}");
    } else {
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["record"]["verified"], true);
    }
    let links = app.store.list_external_auths(&coll.id, id).await.unwrap();
    assert!(links.is_empty(), "links dropped: {links:?}");
    let after = app.store.get_record(&coll.id, id).await.unwrap().unwrap();
    assert!(after.verified, "verified is stored");
    assert_ne!(
        after.token_key, before.token_key,
        "tokens from before (an OAuth2 login's too) are revoked"
    );
}

#[tokio::test]
async fn an_otp_login_drops_oauth2_links_made_before_the_address_was_proven() {
    an_otp_login_drops_links_made_before_the_address_was_proven(false).await;
}

#[tokio::test]
async fn an_otp_first_factor_drops_oauth2_links_made_before_the_address_was_proven() {
    an_otp_login_drops_links_made_before_the_address_was_proven(true).await;
}

#[tokio::test]
async fn otp_codes_never_appear_in_logs() {
    let app = TestApp::with_config(config_with(vec![otp_collection(
        "otplong",
        json!({"otp": {"enabled": true, "length": 32}}),
    )]))
    .await;
    let e = unique_email("otp");
    app.sign_up("otplong", &e, "1234567890").await;
    let (otp_id, code) = app.request_otp("otplong", &e).await;
    assert_eq!(code.len(), 32);
    let (status, _) = app.auth_with_otp("otplong", &otp_id, &code).await;
    assert_eq!(status, 200);
    assert!(!captured_logs().contains(&code), "the code was logged");
}

#[tokio::test]
async fn the_pocketbase_sdk_logs_in_with_otp_and_completes_mfa() {
    sdk_otp_flows(None).await;
}

#[tokio::test]
async fn the_pocketbase_sdk_logs_in_with_otp_and_completes_mfa_on_dynamodb() {
    let store: std::sync::Arc<dyn authgate_core::ports::Store> =
        authgate_tests::dynamo_store().await;
    sdk_otp_flows(Some(store)).await;
}

#[tokio::test]
async fn the_pocketbase_sdk_logs_in_with_otp_and_completes_mfa_on_sqlite() {
    sdk_otp_flows(Some(authgate_tests::sqlite_store())).await;
}

async fn sdk_otp_flows(store: Option<std::sync::Arc<dyn authgate_core::ports::Store>>) {
    let app = TestApp::spawn_with(authgate_tests::Options {
        config: config_with(vec![
            otp_collection("otpusers", json!({})),
            otp_collection("mfausers", json!({"mfa": {"enabled": true}})),
        ]),
        store,
        ..Default::default()
    })
    .await;
    let script = repo_root().join("infra/node/sdk-otp.mjs");
    let (ok, output) = run_node(
        &script,
        &[
            ("BASE_URL", app.base.clone()),
            ("MAIL_DIR", app.mail_dir.display().to_string()),
            ("EMAIL_SUFFIX", unique("sdk")),
        ],
    )
    .await;
    assert!(ok, "sdk-otp.mjs failed:\n{output}");
}
