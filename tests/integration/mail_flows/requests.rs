//! What the request endpoints share: the same answer for every address,
//! the resend throttle (also across servers and under bursts), and a
//! failing mailer changing nothing.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use authgate_core::model::UniqueKey;
use authgate_core::ports::Store;
use authgate_tests::{
    captured_logs, dynamo_store, token_after, unique_email, FailingMailer, Options, TestApp,
};
use serde_json::{json, Value};

use super::{
    record, request_change, request_reset, request_verification, sign_up, CHANGE, PASSWORD, RESET,
    VERIFY,
};

#[tokio::test]
async fn unknown_and_known_emails_get_identical_answers_on_every_request_endpoint() {
    let app = TestApp::spawn().await;
    let known = unique_email("known");
    let verified = unique_email("verified");
    sign_up(&app, &known).await;
    let verified_id = sign_up(&app, &verified).await;
    let before = record(&app, &verified_id).await;
    let mut after = before.clone();
    after.verified = true;
    after.version += 1;
    let keys = [UniqueKey::new("email", verified.to_lowercase())];
    app.store
        .update_record(&before, &after, &keys, &keys)
        .await
        .expect("mark verified");

    for action in ["request-verification", "request-password-reset"] {
        let unknown = app
            .post_text("users", action, json!({"email": unique_email("nobody")}))
            .await;
        let known_answer = app
            .post_text("users", action, json!({"email": known}))
            .await;
        let verified_answer = app
            .post_text("users", action, json!({"email": verified}))
            .await;
        let throttled = app
            .post_text("users", action, json!({"email": known}))
            .await;
        assert_eq!(unknown, (204, String::new()), "{action}: unknown");
        assert_eq!(known_answer, unknown, "{action}: known");
        assert_eq!(verified_answer, unknown, "{action}: verified");
        assert_eq!(throttled, unknown, "{action}: throttled");
    }
}

#[tokio::test]
async fn a_second_request_within_two_minutes_sends_no_mail_until_the_window_passes() {
    let app = TestApp::spawn().await;
    let email = unique_email("throttle");
    sign_up(&app, &email).await;
    let kinds = |app: &TestApp| {
        let mails = app.mails_to(&email);
        let resets = mails
            .iter()
            .filter(|m| m.token_after(RESET).is_some())
            .count();
        let verifications = mails
            .iter()
            .filter(|m| m.token_after(VERIFY).is_some())
            .count();
        (resets, verifications)
    };

    assert_eq!(request_reset(&app, &email).await.0, 204);
    assert_eq!(request_reset(&app, &email).await.0, 204);
    assert_eq!(request_verification(&app, &email).await.0, 204);
    assert_eq!(request_verification(&app, &email).await.0, 204);
    assert_eq!(
        kinds(&app),
        (1, 1),
        "one mail of each kind; the throttles are separate"
    );

    app.clock.advance_secs(119);
    assert_eq!(request_reset(&app, &email).await.0, 204);
    assert_eq!(kinds(&app), (1, 1), "still inside the window at 119 s");

    app.clock.advance_secs(2);
    assert_eq!(request_reset(&app, &email).await.0, 204);
    assert_eq!(request_verification(&app, &email).await.0, 204);
    assert_eq!(kinds(&app), (2, 2), "a new window after 121 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn simultaneous_reset_requests_send_one_mail() {
    let app = TestApp::spawn().await;
    let email = unique_email("burst");
    sign_up(&app, &email).await;
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..10 {
        let (http, url) = (app.http.clone(), app.url("users", "request-password-reset"));
        let body = json!({"email": email});
        set.spawn(async move {
            http.post(url)
                .json(&body)
                .send()
                .await
                .expect("request")
                .status()
                .as_u16()
        });
    }
    while let Some(s) = set.join_next().await {
        assert_eq!(s.expect("task"), 204);
    }
    assert_eq!(app.mails_to(&email).len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_resend_throttle_holds_across_two_servers_sharing_a_dynamodb_table() {
    let store: Arc<dyn Store> = dynamo_store().await;
    let a = TestApp::on_store(store.clone()).await;
    let b = TestApp::on_store(store).await;
    let email = unique_email("containers");
    sign_up(&a, &email).await;
    let (ra, rb) = tokio::join!(request_reset(&a, &email), request_reset(&b, &email));
    assert_eq!((ra.0, rb.0), (204, 204));
    assert_eq!(
        a.mails_to(&email).len() + b.mails_to(&email).len(),
        1,
        "one mail between both containers"
    );
}

#[tokio::test]
async fn when_the_mailer_fails_requests_still_answer_204_log_the_error_and_change_nothing() {
    let mailer = FailingMailer::new();
    let app = TestApp::spawn_with(Options {
        mailer: Some(mailer.clone()),
        ..Default::default()
    })
    .await;
    let email = unique_email("down");
    let id = sign_up(&app, &email).await;
    let auth = app.login("users", &email, PASSWORD).await;
    let before = record(&app, &id).await;

    let unknown = app
        .post_text(
            "users",
            "request-password-reset",
            json!({"email": unique_email("nobody")}),
        )
        .await;
    for action in ["request-verification", "request-password-reset"] {
        let answer = app
            .post_text("users", action, json!({"email": email}))
            .await;
        assert_eq!(
            answer, unknown,
            "{action}: same answer as an unknown address"
        );
    }
    let (status, body) = request_change(&app, &auth, &unique_email("down-new")).await;
    assert_eq!((status, body), (204, Value::Null), "request-email-change");

    assert_eq!(record(&app, &id).await, before, "the record is untouched");
    assert_eq!(
        app.refresh_status("users", &auth).await,
        200,
        "tokens still valid"
    );
    assert_eq!(mailer.attempts.load(Ordering::SeqCst), 3);

    // The failed send used up the resend window (see the throttle test above): the
    // next request inside it does not try again.
    assert_eq!(request_reset(&app, &email).await.0, 204);
    assert_eq!(mailer.attempts.load(Ordering::SeqCst), 3);

    let logs = captured_logs();
    let failures = logs
        .lines()
        .filter(|l| l.contains("failed to send mail") && l.contains(&mailer.outage))
        .count();
    assert_eq!(
        failures, 3,
        "each failure logged once with the mailer's error"
    );
    assert!(
        logs.contains(&format!("record_id={id}")),
        "the log names the record"
    );
    let seen = mailer.seen.lock().map(|s| s.clone()).unwrap_or_default();
    for message in seen {
        let token = [VERIFY, RESET, CHANGE]
            .iter()
            .find_map(|m| token_after(&message.text, m))
            .expect("a link in every message");
        assert!(
            !logs.contains(&token),
            "{} token logged",
            message.kind.as_str()
        );
    }
}
