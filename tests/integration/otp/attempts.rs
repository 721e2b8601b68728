//! The attempt limit (five wrong checks per record and window), the same
//! for the decoy ids of unknown emails; one winner among concurrent uses.

use std::sync::Arc;

use authgate_core::model::Otp;
use authgate_core::ports::Store;
use authgate_core::service::request_otp::{code_hash, decoy_record_id};
use authgate_tests::{dynamo_store, unique_email, Options, TestApp};
use serde_json::json;

use super::{auth_with_otp_text, otp_app, otp_options, INVALID_OTP};

#[tokio::test]
async fn five_wrong_codes_lock_the_record_out_even_for_the_right_code() {
    let app = otp_app().await;
    let e = unique_email("otp");
    app.sign_up("otpusers", &e, "1234567890").await;
    let (otp_id, code) = app.request_otp("otpusers", &e).await;
    let wrong = if code == "00000000" {
        "11111111"
    } else {
        "00000000"
    };
    for attempt in 1..=5 {
        let (status, _) = app.auth_with_otp("otpusers", &otp_id, wrong).await;
        assert_eq!(status, 400, "wrong code #{attempt}");
    }
    let (status, text) = auth_with_otp_text(&app, &otp_id, &code).await;
    assert_eq!(status, 429, "the 6th check is refused, right code or not");
    assert_eq!(
        text,
        r#"{"data":{},"message":"Too many attempts, please try again later with a new OTP.","status":429}"#
    );

    // The lock is per record and window (180 s); a new OTP afterwards works.
    app.clock.advance_secs(181);
    let (otp_id, code) = app.request_otp("otpusers", &e).await;
    let (status, body) = app.auth_with_otp("otpusers", &otp_id, &code).await;
    assert_eq!(status, 200, "{body}");
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
        answers.push(app.post_text("otpusers", "auth-with-otp", body).await);
    }
    answers
}

/// The attempt limit must not tell real OTP ids from the ids handed out for
/// unknown emails: both get five 400s, then the same 429 (counted per
/// address across its OTPs, in every spelling).
async fn fake_ids_are_rate_limited_like_real_ones(store: Option<Arc<dyn Store>>) {
    let app = TestApp::spawn_with(Options {
        store,
        ..otp_options()
    })
    .await;
    let known = unique_email("otp");
    let unknown = unique_email("otp");
    app.sign_up("otpusers", &known, "1234567890").await;

    let real = six_wrong_checks(&app, &known).await;
    let fake = six_wrong_checks(&app, &unknown).await;
    let too_many = r#"{"data":{},"message":"Too many attempts, please try again later with a new OTP.","status":429}"#;
    let mut expected = vec![(400, INVALID_OTP.to_owned()); 5];
    expected.push((429, too_many.to_owned()));
    assert_eq!(real, expected, "real OTP ids");
    assert_eq!(fake, real, "fake ids answer exactly like real ones");
    assert!(app.mails_to(&unknown).await.is_empty(), "still no mail");

    // After the window the checks are counted afresh for both; a decoy
    // still never logs in.
    app.clock.advance_secs(181);
    let (status, body) = app
        .post("otpusers", "request-otp", json!({"email": unknown}))
        .await;
    assert_eq!(status, 200, "{body}");
    let fake_id = body["otpId"].as_str().unwrap();
    for code in ["00000000", "12345678", "99999999"] {
        let (status, text) = auth_with_otp_text(&app, fake_id, code).await;
        assert_eq!((status, text.as_str()), (400, INVALID_OTP), "{code}");
    }
    assert_eq!(
        app.mails().await.len(),
        2,
        "only the known address got mail"
    );
}

#[tokio::test]
async fn fake_ids_for_unknown_emails_are_rate_limited_like_real_ones_in_memory() {
    fake_ids_are_rate_limited_like_real_ones(None).await;
}

#[tokio::test]
async fn fake_ids_for_unknown_emails_are_rate_limited_like_real_ones_on_dynamodb() {
    let store: Arc<dyn Store> = dynamo_store().await;
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
        record_id: decoy_record_id(coll, &unique_email("otp")),
        code_hash: code_hash(coll, "decoymatch00001", "12345678"),
        sent_to: String::new(),
        created: now,
        expires_at: now.plus_secs(60),
    };
    app.store.insert_otp(&otp).await.unwrap();
    let (status, text) = auth_with_otp_text(&app, &otp.id, "12345678").await;
    assert_eq!((status, text.as_str()), (400, INVALID_OTP));
}

/// Ten simultaneous uses of one OTP with the right code: exactly one login.
/// The others get 400 (already used) or 429 (the record's 5 checks per
/// window are spent), never 200.
async fn concurrent_uses_have_exactly_one_winner(store: Option<Arc<dyn Store>>) {
    let app = TestApp::spawn_with(Options {
        store,
        ..otp_options()
    })
    .await;
    let e = unique_email("otp");
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
    let store: Arc<dyn Store> = dynamo_store().await;
    concurrent_uses_have_exactly_one_winner(Some(store)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_uses_of_one_otp_have_exactly_one_winner_on_sqlite() {
    concurrent_uses_have_exactly_one_winner(Some(authgate_tests::sqlite_store())).await;
}
