//! `POST request-otp`: what is mailed and stored, and answers that never
//! tell a known email from an unknown one.

use authgate_core::service::mail_sender::Delivery;
use authgate_core::service::request_otp::{code_hash, decoy_record_id};
use authgate_tests::{
    captured_logs, config_with, otp_code, unique_email, FailingMailer, Mail, Options, TestApp,
};
use serde_json::{json, Value};

use super::{is_record_id, otp_app, otp_collection, otp_options, INVALID_OTP};

#[tokio::test]
async fn the_code_is_stored_only_as_a_hash_bound_to_record_and_address() {
    let app = otp_app().await;
    let e = unique_email("otp");
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
async fn an_unknown_email_gets_an_indistinguishable_answer_and_no_mail() {
    let app = otp_app().await;
    let known = unique_email("otp");
    let unknown = unique_email("otp");
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

    assert_eq!(app.mails_to(&known).await.len(), 1);
    assert!(
        app.mails_to(&unknown).await.is_empty(),
        "no mail for an unknown email"
    );
    assert_eq!(
        app.mails().await.len(),
        1,
        "no mail at all besides the known one"
    );

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
    let e = unique_email("otp");
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
    assert_eq!(app.mails_to(&e).await.len(), 9, "no 10th mail");
    let coll = app.config.collection("otpusers").unwrap();
    assert!(
        app.store.get_otp(&coll.id, otp_id).await.unwrap().is_none(),
        "nothing stored"
    );

    // Once the first ones have expired, new OTPs are issued again.
    app.clock.advance_secs(60);
    let (otp_id, code) = app.request_otp("otpusers", &e).await;
    let (status, _) = app.auth_with_otp("otpusers", &otp_id, &code).await;
    assert_eq!(status, 200);
    assert_eq!(app.mails_to(&e).await.len(), 10);
}

#[tokio::test]
async fn the_tenth_request_looks_the_same_for_known_and_unknown_emails() {
    let app = otp_app().await;
    let coll = app.config.collection("otpusers").unwrap();
    let known = unique_email("otp");
    let unknown = unique_email("otp");
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
            answers.push(app.post_text("otpusers", "auth-with-otp", body).await);
        }
        tenth.push(answers);
    }
    assert_eq!(tenth[0], vec![(400, INVALID_OTP.to_owned()); 6]);
    assert_eq!(tenth[0], tenth[1]);
    assert_eq!(app.mails_to(&known).await.len(), 9);
    assert!(app.mails_to(&unknown).await.is_empty());
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
        let res = app.post_malformed("users", action, "{not json", None).await;
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

/// The OTP and its mail are one write, and the request never waits for the
/// provider: a failed send keeps both (the mail for a retry, the OTP live
/// until it expires), and the code mailed once the provider is back logs in.
#[tokio::test]
async fn a_failed_delivery_keeps_the_otp_and_its_mail_for_a_retry_and_answers_like_any_other_request(
) {
    let mailer = FailingMailer::new();
    let app = TestApp::spawn_with(Options {
        mailer: Some(mailer.clone()),
        // No background sender: this test counts the mailer's attempts.
        sender: None,
        // 32-digit codes: a code found in the logs is no coincidence.
        config: config_with(vec![otp_collection(
            "otpusers",
            json!({"otp": {"enabled": true, "duration": 60, "length": 32}}),
        )]),
        ..otp_options()
    })
    .await;
    let e = unique_email("otp");
    app.sign_up("otpusers", &e, "1234567890").await;
    let (status, body) = app
        .post("otpusers", "request-otp", json!({"email": e}))
        .await;
    assert_eq!(status, 200, "a 500 would reveal the account: {body}");
    let otp_id = body["otpId"].as_str().unwrap();
    let coll = app.config.collection("otpusers").unwrap();
    assert_eq!(
        mailer.attempts(),
        0,
        "the request did not wait for the provider"
    );

    let outcomes = app.deliver_mail().await;
    assert!(
        matches!(&outcomes[..], [(_, Delivery::Failed(_))]),
        "{outcomes:?}"
    );
    assert_eq!(mailer.attempts(), 1);
    assert_eq!(
        app.pending_mail().await,
        vec![outcomes[0].0.clone()],
        "the undelivered mail stays in the outbox"
    );
    assert!(
        app.store.get_otp(&coll.id, otp_id).await.unwrap().is_some(),
        "the OTP stays live while its mail waits"
    );

    mailer.recover();
    let outcomes = app.deliver_mail().await;
    assert!(
        matches!(&outcomes[..], [(_, Delivery::Sent)]),
        "{outcomes:?}"
    );
    assert!(app.pending_mail().await.is_empty());
    assert!(app.deliver_mail().await.is_empty(), "sent once");
    let sent = mailer.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].to, e);
    let mail = Mail {
        to: sent[0].to.clone(),
        subject: sent[0].subject.clone(),
        text: sent[0].text.clone(),
        html: sent[0].html.clone(),
        raw: String::new(),
    };
    let code = otp_code(&mail).expect("a code in the mail");
    assert_eq!(code.len(), 32);
    let (status, body) = app.auth_with_otp("otpusers", otp_id, &code).await;
    assert_eq!(
        status, 200,
        "the code mailed after the retry logs in: {body}"
    );
    assert!(!captured_logs().contains(&code), "the code was logged");
}
