//! What the request endpoints share: the same answer for every address,
//! the resend throttle (also across servers and under bursts), and a
//! failing mailer changing nothing but when the mail leaves.

use std::sync::Arc;

use authgate_adapters::system::OsRandom;
use authgate_core::config::fill_secrets;
use authgate_core::model::{MailFlow, UniqueKey};
use authgate_core::ports::Store;
use authgate_core::service::mail_sender::Delivery;
use authgate_tests::{
    captured_logs, config_with, dynamo_store, token_after, unique_email, FailingMailer, Options,
    TestApp,
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
    let kinds = async |app: &TestApp| {
        let mails = app.mails_to(&email).await;
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
        kinds(&app).await,
        (1, 1),
        "one mail of each kind; the throttles are separate"
    );

    app.clock.advance_secs(119);
    assert_eq!(request_reset(&app, &email).await.0, 204);
    assert_eq!(
        kinds(&app).await,
        (1, 1),
        "still inside the window at 119 s"
    );

    app.clock.advance_secs(2);
    assert_eq!(request_reset(&app, &email).await.0, 204);
    assert_eq!(request_verification(&app, &email).await.0, 204);
    assert_eq!(kinds(&app).await, (2, 2), "a new window after 121 s");
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
    assert_eq!(app.mails_to(&email).await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_resend_throttle_holds_across_two_servers_sharing_a_dynamodb_table() {
    let store: Arc<dyn Store> = dynamo_store().await;
    // One config, secrets included, as every container reads it from the
    // table: either server's sender must open the other's outbox items.
    let mut config = config_with(vec![]);
    fill_secrets(&mut config, None, &OsRandom);
    let container = || Options {
        config: config.clone(),
        store: Some(store.clone()),
        ..Default::default()
    };
    let a = TestApp::spawn_with(container()).await;
    let b = TestApp::spawn_with(container()).await;
    let email = unique_email("containers");
    sign_up(&a, &email).await;
    let (ra, rb) = tokio::join!(request_reset(&a, &email), request_reset(&b, &email));
    assert_eq!((ra.0, rb.0), (204, 204));
    assert_eq!(
        a.mails_to(&email).await.len() + b.mails_to(&email).await.len(),
        1,
        "one mail between both containers"
    );
}

/// Requests never wait for the mail provider: they queue the mail and
/// answer. While the provider is down the mails wait in the outbox (each
/// failed attempt logged, without the token); once it is back, the next
/// delivery sends each exactly once.
#[tokio::test]
async fn when_the_mailer_fails_requests_still_answer_204_and_the_mails_wait_in_the_outbox_until_it_recovers(
) {
    let mailer = FailingMailer::new();
    let app = TestApp::spawn_with(Options {
        mailer: Some(mailer.clone()),
        // No background sender: this test counts the mailer's attempts.
        sender: None,
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
    let new_email = unique_email("down-new");
    let (status, body) = request_change(&app, &auth, &new_email).await;
    assert_eq!((status, body), (204, Value::Null), "request-email-change");

    assert_eq!(record(&app, &id).await, before, "the record is untouched");
    assert_eq!(
        app.refresh_status("users", &auth).await,
        200,
        "tokens still valid"
    );
    assert_eq!(mailer.attempts(), 0, "no request waited for the provider");
    assert_eq!(
        app.pending_mail().await.len(),
        4,
        "three mails and the unknown address's decoy queued"
    );

    // The provider is down: each mail is tried once and stays queued; the
    // decoy is dropped without a send.
    let outcomes = app.deliver_mail().await;
    let mut failed: Vec<String> = outcomes
        .iter()
        .filter(|(_, d)| matches!(d, Delivery::Failed(_)))
        .map(|(id, _)| id.clone())
        .collect();
    failed.sort();
    assert_eq!(failed.len(), 3, "{outcomes:?}");
    assert_eq!(
        outcomes
            .iter()
            .filter(|(_, d)| *d == Delivery::Dropped)
            .count(),
        1,
        "{outcomes:?}"
    );
    assert_eq!(mailer.attempts(), 3);
    let mut waiting = app.pending_mail().await;
    waiting.sort();
    assert_eq!(waiting, failed, "the failed mails stay in the outbox");

    // The failed send used up the resend window (see the throttle test
    // above): the next request inside it queues only a decoy, so the next
    // delivery tries the same three mails again and nothing more.
    assert_eq!(request_reset(&app, &email).await.0, 204);
    let outcomes = app.deliver_mail().await;
    assert_eq!(mailer.attempts(), 6, "{outcomes:?}");
    let mut waiting = app.pending_mail().await;
    waiting.sort();
    assert_eq!(waiting, failed, "still the same three waiting");

    let logs = captured_logs();
    let failures: Vec<&str> = logs
        .lines()
        .filter(|l| l.contains("mail not sent") && l.contains(&mailer.outage))
        .collect();
    assert_eq!(
        failures.len(),
        6,
        "each failure logged once with the mailer's error"
    );
    for outbox_id in &failed {
        assert_eq!(
            failures
                .iter()
                .filter(|l| l.contains(&format!("outbox_id={outbox_id}")))
                .count(),
            2,
            "the log names the outbox item of each failed attempt"
        );
    }

    // The provider is back: the next delivery sends each waiting mail once.
    mailer.recover();
    let outcomes = app.deliver_mail().await;
    assert_eq!(
        outcomes
            .iter()
            .filter(|(_, d)| *d == Delivery::Sent)
            .count(),
        3,
        "{outcomes:?}"
    );
    assert!(app.pending_mail().await.is_empty(), "the outbox is empty");
    assert!(app.deliver_mail().await.is_empty(), "nothing left to send");
    let sent = mailer.sent();
    let mut kinds: Vec<(&str, &str)> = sent
        .iter()
        .map(|m| (m.kind.as_str(), m.to.as_str()))
        .collect();
    kinds.sort();
    let mut want = vec![
        (MailFlow::EmailChange.as_str(), new_email.as_str()),
        (MailFlow::PasswordReset.as_str(), email.as_str()),
        (MailFlow::Verification.as_str(), email.as_str()),
    ];
    want.sort();
    assert_eq!(kinds, want, "each mail sent exactly once");
    assert_eq!(mailer.attempts(), 9);

    let logs = captured_logs();
    for message in mailer.seen() {
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
