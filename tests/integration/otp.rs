//! `POST request-otp` and `POST auth-with-otp` (MFA combinations are in `mfa.rs`).

use std::sync::Arc;

use authgate_core::model::{ExternalAuth, Otp, Timestamp};
use authgate_core::ports::{MailError, MailMessage, Mailer, Store};
use authgate_core::service::request_otp::{code_hash, decoy_record_id};
use authgate_tests::{captured_logs, config_with, repo_root, run_node, unique, Options, TestApp};
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
    if let (Some(c), Value::Object(extra)) = (c.as_object_mut(), extra) {
        c.extend(extra);
    }
    c
}

pub(crate) async fn otp_app() -> TestApp {
    TestApp::with_config(config_with(vec![
        otp_collection("otpusers", json!({})),
        otp_collection("otpothers", json!({})),
    ]))
    .await
}

pub(crate) fn email() -> String {
    format!("{}@example.com", unique("otp"))
}

fn is_record_id(s: &str) -> bool {
    s.len() == 15
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

const INVALID_OTP: &str = r#"{"data":{},"message":"Invalid or expired OTP.","status":400}"#;

/// POSTs and returns the status and the raw body text.
async fn post_raw(app: &TestApp, collection: &str, action: &str, body: Value) -> (u16, String) {
    let res = app
        .http
        .post(app.url(collection, action))
        .json(&body)
        .send()
        .await
        .unwrap();
    (res.status().as_u16(), res.text().await.unwrap())
}

#[tokio::test]
async fn an_otp_from_the_mail_logs_in_with_a_token_and_the_record() {
    let app = otp_app().await;
    let e = email();
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

    let mails = app.mails_to(&e);
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

    let (status, body) = app
        .post(
            "otpusers",
            "auth-with-otp",
            json!({"otpId": otp_id, "password": code}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["record"]["email"], e.as_str());
    assert_eq!(body["record"]["collectionName"], "otpusers");
    let claims = authgate_core::token::peek(body["token"].as_str().unwrap()).unwrap();
    assert_eq!(claims.kind, "auth");
    assert_eq!(claims.id, body["record"]["id"].as_str().unwrap());
}

#[tokio::test]
async fn the_code_is_stored_only_as_a_hash_bound_to_record_and_address() {
    let app = otp_app().await;
    let e = email();
    let rec = app.sign_up("otpusers", &e, "1234567890").await;
    let (otp_id, code) = app.request_otp("otpusers", &e).await;
    let coll = app.config.collection("otpusers").unwrap();
    let stored = app.store.get_otp(&coll.id, &otp_id).await.unwrap().unwrap();
    assert_ne!(stored.code_hash, code);
    assert!(
        !stored.code_hash.contains(&code),
        "no plain code in the item"
    );
    assert_eq!(stored.code_hash, code_hash(coll, &otp_id, &code));
    assert_eq!(stored.record_id, rec["id"].as_str().unwrap());
    assert_eq!(stored.sent_to, e);
    assert_eq!(
        stored.expires_at.0 - stored.created.0,
        60_000,
        "otp.duration"
    );
}

#[tokio::test]
async fn an_otp_works_only_once() {
    let app = otp_app().await;
    let e = email();
    app.sign_up("otpusers", &e, "1234567890").await;
    let (otp_id, code) = app.request_otp("otpusers", &e).await;
    let body = json!({"otpId": otp_id, "password": code});
    let (status, _) = app.post("otpusers", "auth-with-otp", body.clone()).await;
    assert_eq!(status, 200);
    let (status, text) = post_raw(&app, "otpusers", "auth-with-otp", body).await;
    assert_eq!((status, text.as_str()), (400, INVALID_OTP));
}

#[tokio::test]
async fn an_expired_otp_is_rejected_even_with_the_right_code() {
    let app = otp_app().await;
    let e = email();
    app.sign_up("otpusers", &e, "1234567890").await;
    let (otp_id, code) = app.request_otp("otpusers", &e).await;
    app.clock.advance_secs(60);
    let (status, text) = post_raw(
        &app,
        "otpusers",
        "auth-with-otp",
        json!({"otpId": otp_id, "password": code}),
    )
    .await;
    assert_eq!((status, text.as_str()), (400, INVALID_OTP));
}

#[tokio::test]
async fn wrong_unknown_and_foreign_otps_get_the_same_answer() {
    let app = otp_app().await;
    let e = email();
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
        let (status, text) = post_raw(&app, "otpusers", "auth-with-otp", body).await;
        assert_eq!((status, text.as_str()), (400, INVALID_OTP), "{case}");
    }
    // Neither OTP was used up by the failed attempts.
    let (status, _) = app
        .post(
            "otpothers",
            "auth-with-otp",
            json!({"otpId": other_id, "password": other_code}),
        )
        .await;
    assert_eq!(status, 200, "the other collection's OTP still works there");
    let (status, _) = app
        .post(
            "otpusers",
            "auth-with-otp",
            json!({"otpId": otp_id, "password": code}),
        )
        .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn five_wrong_codes_lock_the_record_out_even_for_the_right_code() {
    let app = otp_app().await;
    let e = email();
    app.sign_up("otpusers", &e, "1234567890").await;
    let (otp_id, code) = app.request_otp("otpusers", &e).await;
    let wrong = if code == "00000000" {
        "11111111"
    } else {
        "00000000"
    };
    for attempt in 1..=5 {
        let (status, _) = app
            .post(
                "otpusers",
                "auth-with-otp",
                json!({"otpId": otp_id, "password": wrong}),
            )
            .await;
        assert_eq!(status, 400, "wrong code #{attempt}");
    }
    let (status, text) = post_raw(
        &app,
        "otpusers",
        "auth-with-otp",
        json!({"otpId": otp_id, "password": code}),
    )
    .await;
    assert_eq!(status, 429, "the 6th check is refused, right code or not");
    assert_eq!(
        text,
        r#"{"data":{},"message":"Too many attempts, please try again later with a new OTP.","status":429}"#
    );

    // The lock is per record and window (180 s); a new OTP afterwards works.
    app.clock.advance_secs(181);
    let (otp_id, code) = app.request_otp("otpusers", &e).await;
    let (status, body) = app
        .post(
            "otpusers",
            "auth-with-otp",
            json!({"otpId": otp_id, "password": code}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn an_unknown_email_gets_an_indistinguishable_answer_and_no_mail() {
    let app = otp_app().await;
    let known = email();
    let unknown = email();
    app.sign_up("otpusers", &known, "1234567890").await;

    let mut answers = Vec::new();
    for e in [&known, &unknown] {
        let res = app
            .http
            .post(app.url("otpusers", "request-otp"))
            .json(&json!({"email": e}))
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        let content_type = res.headers()["content-type"].to_str().unwrap().to_owned();
        let text = res.text().await.unwrap();
        answers.push((status, content_type, text));
    }
    let shape = |text: &str| -> (Vec<String>, usize, bool) {
        let v: Value = serde_json::from_str(text).unwrap();
        let id = v["otpId"].as_str().unwrap_or_default();
        (
            v.as_object().unwrap().keys().cloned().collect(),
            text.len(),
            is_record_id(id),
        )
    };
    assert_eq!(answers[0].0, 200);
    assert_eq!(answers[0].0, answers[1].0, "same status");
    assert_eq!(answers[0].1, answers[1].1, "same content type");
    assert_eq!(
        shape(&answers[0].2),
        shape(&answers[1].2),
        "same body shape and length"
    );
    assert!(shape(&answers[1].2).2, "fake id has the real id shape");
    assert_ne!(answers[0].2, answers[1].2, "ids are fresh");

    assert_eq!(app.mails_to(&known).len(), 1);
    assert!(
        app.mails_to(&unknown).is_empty(),
        "no mail for an unknown email"
    );
    assert_eq!(app.mails().len(), 1, "no mail at all besides the known one");

    // Behind the unknown email's id is a decoy: bound to a record id that
    // cannot exist, with a hash no code produces.
    let coll = app.config.collection("otpusers").unwrap();
    let fake: Value = serde_json::from_str(&answers[1].2).unwrap();
    let decoy = app
        .store
        .get_otp(&coll.id, fake["otpId"].as_str().unwrap())
        .await
        .unwrap()
        .expect("a decoy is stored");
    assert_eq!(decoy.record_id, decoy_record_id(coll, &unknown));
    assert!(decoy.record_id.starts_with('~') && decoy.record_id.len() == 15);
    assert_eq!(decoy.code_hash.len(), 64);
    assert!(
        !decoy
            .code_hash
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
        "outside code_hash's range: {}",
        decoy.code_hash
    );
    assert_eq!(decoy.sent_to, "", "the unknown address is not stored");
    assert_eq!(decoy.expires_at.0 - decoy.created.0, 60_000, "otp.duration");
}

#[tokio::test]
async fn a_tenth_live_otp_is_not_issued_but_the_answer_looks_the_same() {
    let app = otp_app().await;
    let e = email();
    app.sign_up("otpusers", &e, "1234567890").await;
    for _ in 0..9 {
        app.request_otp("otpusers", &e).await;
    }
    let (status, body) = app
        .post("otpusers", "request-otp", json!({"email": e}))
        .await;
    assert_eq!(status, 200, "{body}");
    let otp_id = body["otpId"].as_str().unwrap();
    assert!(is_record_id(otp_id));
    assert_eq!(app.mails_to(&e).len(), 9, "no 10th mail");
    let coll = app.config.collection("otpusers").unwrap();
    assert!(
        app.store.get_otp(&coll.id, otp_id).await.unwrap().is_none(),
        "nothing stored"
    );

    // Once the first ones have expired, new OTPs are issued again.
    app.clock.advance_secs(60);
    let (otp_id, code) = app.request_otp("otpusers", &e).await;
    let (status, _) = app
        .post(
            "otpusers",
            "auth-with-otp",
            json!({"otpId": otp_id, "password": code}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(app.mails_to(&e).len(), 10);
}

/// Six wrong checks, alternating between the ids of two requests for one
/// address in two spellings: `(status, body)` of each.
async fn six_wrong_checks(app: &TestApp, e: &str) -> Vec<(u16, String)> {
    let mut ids = Vec::new();
    for spelling in [e.to_owned(), e.to_uppercase()] {
        let (status, body) = app
            .post("otpusers", "request-otp", json!({"email": spelling}))
            .await;
        assert_eq!(status, 200, "{body}");
        ids.push(body["otpId"].as_str().unwrap().to_owned());
    }
    let mut answers = Vec::new();
    for i in 0..6 {
        // A 9-digit "code" is never the 8-digit one that was mailed.
        let body = json!({"otpId": ids[i % 2], "password": "000000000"});
        answers.push(post_raw(app, "otpusers", "auth-with-otp", body).await);
    }
    answers
}

/// The attempt limit must not tell real OTP ids from the ids handed out for
/// unknown emails: both get five 400s, then the same 429 (counted per
/// address across its OTPs, in every spelling).
async fn fake_ids_are_rate_limited_like_real_ones(store: Option<Arc<dyn Store>>) {
    let app = TestApp::spawn_with(Options {
        config: config_with(vec![otp_collection("otpusers", json!({}))]),
        store,
        ..Default::default()
    })
    .await;
    let known = email();
    let unknown = email();
    app.sign_up("otpusers", &known, "1234567890").await;

    let real = six_wrong_checks(&app, &known).await;
    let fake = six_wrong_checks(&app, &unknown).await;
    let too_many = r#"{"data":{},"message":"Too many attempts, please try again later with a new OTP.","status":429}"#;
    let mut expected = vec![(400, INVALID_OTP.to_owned()); 5];
    expected.push((429, too_many.to_owned()));
    assert_eq!(real, expected, "real OTP ids");
    assert_eq!(fake, real, "fake ids answer exactly like real ones");
    assert!(app.mails_to(&unknown).is_empty(), "still no mail");

    // After the window the checks are counted afresh for both; a decoy
    // still never logs in.
    app.clock.advance_secs(181);
    let (status, body) = app
        .post("otpusers", "request-otp", json!({"email": unknown}))
        .await;
    assert_eq!(status, 200, "{body}");
    let fake_id = body["otpId"].as_str().unwrap();
    for code in ["00000000", "12345678", "99999999"] {
        let (status, text) = post_raw(
            &app,
            "otpusers",
            "auth-with-otp",
            json!({"otpId": fake_id, "password": code}),
        )
        .await;
        assert_eq!((status, text.as_str()), (400, INVALID_OTP), "{code}");
    }
    assert_eq!(app.mails().len(), 2, "only the known address got mail");
}

#[tokio::test]
async fn fake_ids_for_unknown_emails_are_rate_limited_like_real_ones_in_memory() {
    fake_ids_are_rate_limited_like_real_ones(None).await;
}

#[tokio::test]
async fn fake_ids_for_unknown_emails_are_rate_limited_like_real_ones_on_dynamodb() {
    let store: Arc<dyn Store> = crate::store_contract::dynamo_store().await;
    fake_ids_are_rate_limited_like_real_ones(Some(store)).await;
}

#[tokio::test]
async fn a_decoy_never_logs_in_even_if_its_hash_matched() {
    // Second guard: a decoy's record id can never belong to a record, so
    // even a stored hash that matched the code would not log anyone in.
    let app = otp_app().await;
    let coll = app.config.collection("otpusers").unwrap();
    let now = authgate_core::ports::Clock::now(app.clock.as_ref());
    let otp = Otp {
        id: "decoymatch00001".into(),
        collection_id: coll.id.clone(),
        record_id: decoy_record_id(coll, &email()),
        code_hash: code_hash(coll, "decoymatch00001", "12345678"),
        sent_to: String::new(),
        created: now,
        expires_at: now.plus_secs(60),
    };
    app.store.insert_otp(&otp).await.unwrap();
    let (status, text) = post_raw(
        &app,
        "otpusers",
        "auth-with-otp",
        json!({"otpId": otp.id, "password": "12345678"}),
    )
    .await;
    assert_eq!((status, text.as_str()), (400, INVALID_OTP));
}

#[tokio::test]
async fn the_tenth_request_looks_the_same_for_known_and_unknown_emails() {
    let app = otp_app().await;
    let coll = app.config.collection("otpusers").unwrap();
    let known = email();
    let unknown = email();
    app.sign_up("otpusers", &known, "1234567890").await;
    let mut tenth = Vec::new();
    for e in [&known, &unknown] {
        let mut ids = Vec::new();
        for _ in 0..10 {
            let (status, body) = app
                .post("otpusers", "request-otp", json!({"email": e}))
                .await;
            assert_eq!(status, 200, "{body}");
            ids.push(body["otpId"].as_str().unwrap().to_owned());
        }
        let mut stored = Vec::new();
        for id in &ids {
            stored.push(app.store.get_otp(&coll.id, id).await.unwrap().is_some());
        }
        assert_eq!(stored, [vec![true; 9], vec![false]].concat(), "{e}");
        // Nothing is stored under the 10th id, so nothing is counted for it:
        // six checks, six 400s, for both.
        let mut answers = Vec::new();
        for _ in 0..6 {
            let body = json!({"otpId": ids[9], "password": "000000000"});
            answers.push(post_raw(&app, "otpusers", "auth-with-otp", body).await);
        }
        tenth.push(answers);
    }
    assert_eq!(tenth[0], vec![(400, INVALID_OTP.to_owned()); 6]);
    assert_eq!(tenth[0], tenth[1]);
    assert_eq!(app.mails_to(&known).len(), 9);
    assert!(app.mails_to(&unknown).is_empty());
}

#[tokio::test]
async fn validation_and_disabled_otp_errors_match_pocketbase() {
    let app = otp_app().await;
    let validation = "An error occurred while validating the submitted data.";

    let (status, body) = app.post("otpusers", "request-otp", json!({})).await;
    assert_eq!(status, 400);
    assert_eq!(body["message"], validation);
    assert_eq!(
        body["data"],
        json!({"email": {"code": "validation_required", "message": "Cannot be blank."}})
    );
    let (status, body) = app
        .post("otpusers", "request-otp", json!({"email": "invalid"}))
        .await;
    assert_eq!(status, 400);
    assert_eq!(body["data"]["email"]["code"], "validation_is_email");

    let (status, body) = app.post("otpusers", "auth-with-otp", json!({})).await;
    assert_eq!(status, 400);
    assert_eq!(body["message"], validation);
    assert_eq!(body["data"]["otpId"]["code"], "validation_required");
    assert_eq!(body["data"]["password"]["code"], "validation_required");

    // `users` (the built-in collection) has OTP off: 403 before the body is read.
    let disabled = "The collection is not configured to allow OTP authentication.";
    for action in ["request-otp", "auth-with-otp"] {
        let res = app
            .http
            .post(app.url("users", action))
            .header("content-type", "application/json")
            .body("{not json")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), 403, "{action}");
        let body: Value = res.json().await.unwrap();
        assert_eq!(
            body,
            json!({"data": {}, "message": disabled, "status": 403}),
            "{action}"
        );
    }

    let (status, body) = app
        .post("nope", "request-otp", json!({"email": "a@b.co"}))
        .await;
    assert_eq!(status, 404);
    assert_eq!(body["message"], "Missing or invalid collection context.");
    let (status, body) = app.post("otpusers", "request-otp", Value::Null).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        body["message"],
        "An error occurred while loading the submitted data."
    );
}

#[tokio::test]
async fn an_otp_login_verifies_the_record_and_without_mfa_replaces_its_password() {
    let app = otp_app().await;
    let e = email();
    let rec = app.sign_up("otpusers", &e, "1234567890").await;
    assert_eq!(rec["verified"], false);
    let old_token = app.login("otpusers", &e, "1234567890").await;

    let (otp_id, code) = app.request_otp("otpusers", &e).await;
    let (status, body) = app
        .post(
            "otpusers",
            "auth-with-otp",
            json!({"otpId": otp_id, "password": code}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["record"]["verified"], true,
        "the code reached the address"
    );
    let token = body["token"].as_str().unwrap();

    // Whoever set the old password (a pre-hijacker) is locked out: the
    // password no longer works and tokens issued with it are revoked.
    let (status, _) = app
        .post(
            "otpusers",
            "auth-with-password",
            json!({"identity": e, "password": "1234567890"}),
        )
        .await;
    assert_eq!(status, 400, "the old password stops working");
    let (status, _) = app
        .post_auth("otpusers", "auth-refresh", json!({}), Some(&old_token))
        .await;
    assert_eq!(status, 401, "tokens from before are revoked");
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
    let e = email();
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
    let (status, body) = app
        .post(
            "otpusers",
            "auth-with-otp",
            json!({"otpId": otp.id, "password": "12345678"}),
        )
        .await;
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
    let e = email();
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
    let (status, body) = app
        .post(
            "otpusers",
            "auth-with-otp",
            json!({"otpId": otp_id, "password": code}),
        )
        .await;
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

/// A mail service that is down.
struct BrokenMailer;

#[async_trait::async_trait]
impl Mailer for BrokenMailer {
    async fn send(&self, _message: &MailMessage) -> Result<(), MailError> {
        Err(MailError("connection refused".into()))
    }
}

#[tokio::test]
async fn a_failed_delivery_withdraws_the_otp_but_answers_like_any_other_request() {
    let app = TestApp::spawn_with(Options {
        config: config_with(vec![otp_collection("otpusers", json!({}))]),
        mailer: Some(Arc::new(BrokenMailer)),
        ..Default::default()
    })
    .await;
    let e = email();
    app.sign_up("otpusers", &e, "1234567890").await;
    let (status, body) = app
        .post("otpusers", "request-otp", json!({"email": e}))
        .await;
    assert_eq!(status, 200, "a 500 would reveal the account: {body}");
    let otp_id = body["otpId"].as_str().unwrap();
    let coll = app.config.collection("otpusers").unwrap();
    assert!(
        app.store.get_otp(&coll.id, otp_id).await.unwrap().is_none(),
        "the undelivered OTP is withdrawn"
    );
}

#[tokio::test]
async fn otp_codes_never_appear_in_logs() {
    let app = TestApp::with_config(config_with(vec![otp_collection(
        "otplong",
        json!({"otp": {"enabled": true, "length": 32}}),
    )]))
    .await;
    let e = email();
    app.sign_up("otplong", &e, "1234567890").await;
    let (otp_id, code) = app.request_otp("otplong", &e).await;
    assert_eq!(code.len(), 32);
    let (status, _) = app
        .post(
            "otplong",
            "auth-with-otp",
            json!({"otpId": otp_id, "password": code}),
        )
        .await;
    assert_eq!(status, 200);
    assert!(!captured_logs().contains(&code), "the code was logged");
}

/// Ten simultaneous uses of one OTP with the right code: exactly one login.
/// The others get 400 (already used) or 429 (the record's 5 checks per
/// window are spent), never 200.
async fn concurrent_uses_have_exactly_one_winner(store: Option<Arc<dyn Store>>) {
    let app = TestApp::spawn_with(Options {
        config: config_with(vec![otp_collection("otpusers", json!({}))]),
        store,
        ..Default::default()
    })
    .await;
    let e = email();
    app.sign_up("otpusers", &e, "1234567890").await;
    let (otp_id, code) = app.request_otp("otpusers", &e).await;
    let app = Arc::new(app);
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let app = app.clone();
            let body = json!({"otpId": otp_id, "password": code});
            tokio::spawn(async move { app.post("otpusers", "auth-with-otp", body).await.0 })
        })
        .collect();
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    statuses.sort_unstable();
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| [200, 400, 429].contains(s)),
        "{statuses:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_uses_of_one_otp_have_exactly_one_winner_in_memory() {
    concurrent_uses_have_exactly_one_winner(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_uses_of_one_otp_have_exactly_one_winner_on_dynamodb() {
    let store: Arc<dyn Store> = crate::store_contract::dynamo_store().await;
    concurrent_uses_have_exactly_one_winner(Some(store)).await;
}

#[tokio::test]
async fn the_pocketbase_sdk_logs_in_with_otp_and_completes_mfa() {
    let app = TestApp::with_config(config_with(vec![
        otp_collection("otpusers", json!({})),
        otp_collection("mfausers", json!({"mfa": {"enabled": true}})),
    ]))
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
