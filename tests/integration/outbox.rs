//! Mail through the outbox: requests only queue a sealed item (a decoy for
//! unknown addresses and throttled requests) and answer; the sender claims,
//! opens, sends and deletes it. What that must guarantee: known and unknown
//! addresses cost the same time, a provider outage loses nothing and sends
//! nothing twice, decoys never become mail, and nothing waiting in the
//! store can be read without the key.

use std::sync::Arc;
use std::time::{Duration, Instant};

use authgate_core::model::OutboxItem;
use authgate_core::ports::{Clock, Store};
use authgate_core::service::mail_sender::{self, Delivery};
use authgate_tests::{
    captured_logs, config_with, dynamo_store, dynamodb_client, otp_code, read_mails, token_after,
    unique_email, FailingMailer, Options, TestApp,
};
use serde_json::{json, Value};

use crate::otp::otp_collection;

const PASSWORD: &str = "outbox-Passw0rd";
const VERIFY: &str = "/confirm-verification/";
const RESET: &str = "/confirm-password-reset/";
const CHANGE: &str = "/confirm-email-change/";

/// `users` (password reset, verification) and `otpusers` (OTP, 60 s codes,
/// a template carrying `{OTP_ID}`).
fn config() -> Value {
    config_with(vec![otp_collection("otpusers", json!({}))])
}

/// Waits up to 5 s for `done`, checking every 20 ms.
async fn eventually(mut done: impl AsyncFnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if done().await {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The waiting items, read straight from the store.
async fn pending(app: &TestApp) -> Vec<OutboxItem> {
    let mut items = Vec::new();
    for id in app.store.pending_mail(10_000).await.expect("outbox list") {
        if let Some(item) = app.store.get_mail(&id).await.expect("outbox read") {
            items.push(item);
        }
    }
    items
}

fn count(outcomes: &[(String, Delivery)], want: &Delivery) -> usize {
    outcomes.iter().filter(|(_, d)| d == want).count()
}

// ---------------------------------------------------------------------------
// Flat timing

/// Known and unknown addresses, one endpoint: the median time of 20
/// requests each, in ms.
///
/// What keeps the comparison honest:
/// - every known request is for a fresh account (signed up beforehand, not
///   timed), so each is a first, real send (token issued, template
///   rendered, sealed, queued) rather than a throttled decoy; every unknown
///   request is for a fresh address too, so both sides pay the same
///   first-time counter writes;
/// - the requests alternate known/unknown and swap which goes first each
///   round, so drift (a loaded machine, a growing moto table) hits both
///   sides alike;
/// - a few untimed rounds first warm the connection and the store;
/// - no background sender runs beside them (`sender: None`): in AWS the
///   mailer is another function, while here a poller would compete for the
///   same single-threaded moto and add noise that lands on either side;
/// - rate limits are off (the default test config), and the time is taken
///   by the client around the whole HTTP exchange: what an attacker sees.
async fn known_vs_unknown(app: &TestApp, collection: &str, action: &str) -> (f64, f64) {
    const ROUNDS: usize = 20;
    const WARM_UP: usize = 3;
    let mut known_accounts = Vec::new();
    for _ in 0..ROUNDS + WARM_UP {
        let email = unique_email("flat");
        app.sign_up(collection, &email, PASSWORD).await;
        known_accounts.push(email);
    }
    let want = if action == "request-otp" { 200 } else { 204 };
    let timed = async |email: &str| {
        let started = Instant::now();
        let (status, body) = app
            .post(collection, action, json!({ "email": email }))
            .await;
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        assert_eq!(status, want, "{action} for {email}: {body}");
        ms
    };
    let (mut known, mut unknown) = (Vec::new(), Vec::new());
    for (round, account) in known_accounts.iter().enumerate() {
        let nobody = unique_email("flat");
        let (k, u) = if round.is_multiple_of(2) {
            let k = timed(account).await;
            (k, timed(&nobody).await)
        } else {
            let u = timed(&nobody).await;
            (timed(account).await, u)
        };
        if round >= WARM_UP {
            known.push(k);
            unknown.push(u);
        }
    }
    (median(known), median(unknown))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    if v.len().is_multiple_of(2) {
        (v[mid - 1] + v[mid]) / 2.0
    } else {
        v[mid]
    }
}

/// Every request endpoint on `app`: the medians printed, then compared
/// (all printed before any assertion fails).
async fn request_endpoints_take_the_same_time(app: &TestApp, store: &str, slack_ms: f64) {
    let mut results = Vec::new();
    for (collection, action) in [
        ("otpusers", "request-otp"),
        ("users", "request-password-reset"),
        ("users", "request-verification"),
    ] {
        let (known, unknown) = known_vs_unknown(app, collection, action).await;
        eprintln!(
            "flat timing [{store}] {action}: median known {known:.2} ms, unknown {unknown:.2} ms, \
             difference {:.2} ms",
            (known - unknown).abs()
        );
        results.push((action, known, unknown));
    }
    for (action, known, unknown) in results {
        assert!(
            (known - unknown).abs() <= slack_ms,
            "[{store}] {action}: median known {known:.2} ms vs unknown {unknown:.2} ms"
        );
    }
    // Everything the requests queued is still there: one item per request.
    assert_eq!(app.pending_mail().await.len(), 3 * 2 * 23);
}

#[tokio::test]
async fn known_and_unknown_addresses_take_the_same_time_on_every_request_endpoint_in_memory() {
    let app = TestApp::spawn_with(Options {
        config: config(),
        sender: None,
        ..Default::default()
    })
    .await;
    request_endpoints_take_the_same_time(&app, "memory", 5.0).await;
}

/// On moto the medians are printed as figures (a bench, run alone:
/// `cargo test -p authgate-tests -- --ignored on_dynamodb --nocapture`);
/// measured here 0.2 to 3.8 ms apart with the machine at load 3.4. It is
/// not part of the suite because every other test of this binary shares the
/// one moto server, whose noise then dominates; the exact check of "the same
/// work" is the next test (the same store calls, in the same order).
#[tokio::test]
#[ignore = "a timing bench on a shared moto; run alone (see the comment); the exact check is the next test"]
async fn known_and_unknown_addresses_take_the_same_time_on_every_request_endpoint_on_dynamodb() {
    let store: Arc<dyn Store> = dynamo_store().await;
    let app = TestApp::spawn_with(Options {
        config: config(),
        store: Some(store),
        sender: None,
        ..Default::default()
    })
    .await;
    request_endpoints_take_the_same_time(&app, "moto", 8.0).await;
}

/// The exact form of "the same work": a known and an unknown address make
/// the same store calls, in the same order, on every request endpoint.
#[tokio::test]
async fn known_and_unknown_addresses_make_the_same_store_calls_on_every_request_endpoint() {
    let store = authgate_tests::FaultyStore::new();
    let app = TestApp::spawn_with(Options {
        config: config(),
        store: Some(store.clone()),
        sender: None,
        ..Default::default()
    })
    .await;
    for (collection, action) in [
        ("otpusers", "request-otp"),
        ("users", "request-password-reset"),
        ("users", "request-verification"),
    ] {
        let known = unique_email("calls");
        app.sign_up(collection, &known, PASSWORD).await;
        let mut calls = Vec::new();
        for email in [known, unique_email("nobody")] {
            store.take_calls();
            let (status, body) = app
                .post(collection, action, json!({ "email": email }))
                .await;
            assert!(status == 200 || status == 204, "{action}: {body}");
            calls.push(store.take_calls());
        }
        assert_eq!(calls[0], calls[1], "{action}: known vs unknown");
        assert!(calls[0].contains(&"enqueue_mail") || calls[0].contains(&"insert_otp_with_mail"));
    }
}

// ---------------------------------------------------------------------------
// A provider outage

#[tokio::test]
async fn with_the_mailer_down_requests_still_answer_and_the_mails_wait_until_a_later_delivery_sends_each_once(
) {
    let mailer = FailingMailer::new();
    let app = TestApp::spawn_with(Options {
        config: config(),
        mailer: Some(mailer.clone()),
        // Deliveries happen only when this test says so.
        sender: None,
        ..Default::default()
    })
    .await;
    let email = unique_email("outage");
    app.sign_up("users", &email, PASSWORD).await;
    app.sign_up("otpusers", &email, PASSWORD).await;

    let (status, body) = app
        .post("users", "request-password-reset", json!({ "email": email }))
        .await;
    assert_eq!(status, 204, "{body}");
    let (status, body) = app
        .post("users", "request-verification", json!({ "email": email }))
        .await;
    assert_eq!(status, 204, "{body}");
    let (status, body) = app
        .post("otpusers", "request-otp", json!({ "email": email }))
        .await;
    assert_eq!(status, 200, "{body}");
    let otp_id = body["otpId"].as_str().expect("otpId").to_owned();
    assert_eq!(mailer.attempts(), 0, "no request talked to the provider");

    let mut queued = app.store.pending_mail(100).await.expect("outbox list");
    queued.sort();
    assert_eq!(queued.len(), 3);

    // Two rounds while the provider is down: each mail tried, none lost.
    for round in 1..=2 {
        let outcomes = app.deliver_mail().await;
        assert_eq!(count(&outcomes, &Delivery::Sent), 0, "{outcomes:?}");
        assert!(
            outcomes
                .iter()
                .all(|(_, d)| matches!(d, Delivery::Failed(_))),
            "{outcomes:?}"
        );
        assert_eq!(mailer.attempts(), 3 * round);
        let mut waiting = app.store.pending_mail(100).await.expect("outbox list");
        waiting.sort();
        assert_eq!(
            waiting, queued,
            "round {round}: the mails stay in the outbox"
        );
    }

    // Back up: the next delivery sends each mail exactly once.
    mailer.recover();
    let outcomes = app.deliver_mail().await;
    assert_eq!(count(&outcomes, &Delivery::Sent), 3, "{outcomes:?}");
    assert!(app.store.pending_mail(100).await.unwrap().is_empty());
    assert!(app.deliver_mail().await.is_empty(), "nothing left to send");
    let sent = mailer.sent();
    let mut kinds: Vec<&str> = sent.iter().map(|m| m.kind.as_str()).collect();
    kinds.sort();
    assert_eq!(kinds, ["otp", "password-reset", "verification"]);
    assert!(sent.iter().all(|m| m.to == email));

    // The late mail still works: its code logs in (the OTP lives 60 s).
    let otp_mail = sent
        .iter()
        .find(|m| m.text.contains(&otp_id))
        .expect("OTP mail");
    let code = otp_code(&authgate_tests::Mail {
        to: otp_mail.to.clone(),
        subject: otp_mail.subject.clone(),
        text: otp_mail.text.clone(),
        html: otp_mail.html.clone(),
        raw: String::new(),
    })
    .expect("code");
    assert_eq!(app.auth_with_otp("otpusers", &otp_id, &code).await.0, 200);

    let logs = captured_logs();
    for message in mailer.seen() {
        let secret = [VERIFY, RESET]
            .iter()
            .find_map(|m| token_after(&message.text, m))
            .unwrap_or_else(|| code.clone());
        assert!(
            !logs.contains(&secret),
            "{} secret logged",
            message.kind.as_str()
        );
    }
}

#[tokio::test]
async fn the_background_sender_retries_a_failed_mail_with_backoff_and_sends_it_once_the_mailer_recovers(
) {
    let mailer = FailingMailer::new();
    let app = TestApp::spawn_with(Options {
        mailer: Some(mailer.clone()),
        sender: Some(Duration::from_millis(20)),
        ..Default::default()
    })
    .await;
    let email = unique_email("retry");
    app.sign_up("users", &email, PASSWORD).await;
    let (status, _) = app
        .post("users", "request-password-reset", json!({ "email": email }))
        .await;
    assert_eq!(status, 204);
    let queued = app.store.pending_mail(100).await.unwrap();
    assert_eq!(queued.len(), 1);
    let outbox_id = queued[0].clone();

    assert!(
        eventually(async || mailer.attempts() >= 1).await,
        "the sender tried on its own"
    );
    // Polled every 20 ms, but the retry waits 1 s: not tried again at once.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        mailer.attempts() < 5,
        "backoff, not a retry per poll: {} attempts",
        mailer.attempts()
    );
    assert_eq!(app.store.pending_mail(100).await.unwrap(), queued);
    let logs = captured_logs();
    let line = logs
        .lines()
        .find(|l| l.contains("will retry") && l.contains(&format!("outbox_id={outbox_id}")))
        .unwrap_or_else(|| panic!("no retry logged for {outbox_id}"));
    assert!(line.contains("attempt=1"), "{line}");

    mailer.recover();
    assert!(
        eventually(async || mailer.sent().len() == 1).await,
        "sent after the mailer recovered"
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(mailer.sent().len(), 1, "sent exactly once");
    assert!(app.store.pending_mail(100).await.unwrap().is_empty());
    let token = token_after(&mailer.sent()[0].text, RESET).expect("reset link");
    assert!(!captured_logs().contains(&token), "the token was logged");
}

// ---------------------------------------------------------------------------
// Exactly one mail per item

/// Delivers the one queued item twice in a row, then (a second item) eight
/// times at once: one mail each.
async fn an_item_delivered_twice_sends_one_mail(store: Option<Arc<dyn Store>>) {
    let app = TestApp::spawn_with(Options {
        store,
        sender: None,
        ..Default::default()
    })
    .await;
    let first = unique_email("twice");
    let second = unique_email("twice");
    for email in [&first, &second] {
        app.sign_up("users", email, PASSWORD).await;
    }
    let now = app.clock.now();

    let (status, _) = app
        .post("users", "request-verification", json!({ "email": first }))
        .await;
    assert_eq!(status, 204);
    let ids = app.store.pending_mail(100).await.unwrap();
    assert_eq!(ids.len(), 1);
    let a = mail_sender::deliver(&app.ctx, &app.config, &ids[0], now)
        .await
        .unwrap();
    let b = mail_sender::deliver(&app.ctx, &app.config, &ids[0], now)
        .await
        .unwrap();
    assert_eq!(
        (a, b),
        (Delivery::Sent, Delivery::Dropped),
        "sent, then gone"
    );

    let (status, _) = app
        .post("users", "request-verification", json!({ "email": second }))
        .await;
    assert_eq!(status, 204);
    let ids = app.store.pending_mail(100).await.unwrap();
    assert_eq!(ids.len(), 1);
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let (ctx, cfg, id) = (app.ctx.clone(), app.config.clone(), ids[0].clone());
        set.spawn(async move { mail_sender::deliver(&ctx, &cfg, &id, now).await });
    }
    let mut outcomes = Vec::new();
    while let Some(r) = set.join_next().await {
        outcomes.push(r.expect("task").expect("delivery"));
    }
    assert_eq!(
        outcomes.iter().filter(|d| **d == Delivery::Sent).count(),
        1,
        "{outcomes:?}"
    );
    assert!(
        outcomes
            .iter()
            .all(|d| matches!(d, Delivery::Sent | Delivery::Busy | Delivery::Dropped)),
        "{outcomes:?}"
    );

    let mails = read_mails(&app.mail_dir);
    for email in [&first, &second] {
        assert_eq!(
            mails
                .iter()
                .filter(|m| m.to.contains(email.as_str()))
                .count(),
            1,
            "one mail to {email}"
        );
    }
    assert!(app.store.pending_mail(100).await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_same_item_delivered_twice_or_concurrently_sends_one_mail_in_memory() {
    an_item_delivered_twice_sends_one_mail(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_same_item_delivered_twice_or_concurrently_sends_one_mail_on_dynamodb() {
    an_item_delivered_twice_sends_one_mail(Some(dynamo_store().await)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_same_item_delivered_twice_or_concurrently_sends_one_mail_on_sqlite() {
    an_item_delivered_twice_sends_one_mail(Some(authgate_tests::sqlite_store())).await;
}

// ---------------------------------------------------------------------------
// Decoys and sealing

#[tokio::test]
async fn decoys_are_dropped_without_a_mail() {
    let mailer = FailingMailer::new();
    mailer.recover();
    let app = TestApp::spawn_with(Options {
        config: config(),
        mailer: Some(mailer.clone()),
        sender: None,
        ..Default::default()
    })
    .await;
    let known = unique_email("decoy");
    app.sign_up("users", &known, PASSWORD).await;
    let nobody = unique_email("decoy");
    let requests = [
        ("otpusers", "request-otp", &nobody),
        ("users", "request-password-reset", &nobody),
        ("users", "request-verification", &nobody),
        // The first is real; the second, inside the resend window, a decoy.
        ("users", "request-password-reset", &known),
        ("users", "request-password-reset", &known),
    ];
    for (collection, action, email) in requests {
        let (status, body) = app
            .post(collection, action, json!({ "email": email }))
            .await;
        assert!(status == 200 || status == 204, "{action}: {status} {body}");
    }
    let items = pending(&app).await;
    assert_eq!(items.len(), 5, "one item per request");
    assert_eq!(items.iter().filter(|i| i.decoy).count(), 4, "{items:?}");

    let outcomes = app.deliver_mail().await;
    assert_eq!(count(&outcomes, &Delivery::Dropped), 4, "{outcomes:?}");
    assert_eq!(count(&outcomes, &Delivery::Sent), 1, "{outcomes:?}");
    assert_eq!(mailer.attempts(), 1, "decoys never reach the provider");
    let sent = mailer.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].to, known);
    assert!(
        app.store.pending_mail(100).await.unwrap().is_empty(),
        "decoys are deleted too"
    );
}

/// Every item of a DynamoDB table, raw (records, OTPs, counters, outbox),
/// as one string.
async fn scan_table(table: &str) -> String {
    let client = dynamodb_client().await;
    let mut all = String::new();
    let mut start = None;
    loop {
        let out = client
            .scan()
            .table_name(table)
            .set_exclusive_start_key(start)
            .send()
            .await
            .expect("scan");
        all.push_str(&format!("{:?}", out.items()));
        start = out.last_evaluated_key().cloned();
        if start.is_none() {
            break;
        }
    }
    all
}

/// Queues one mail of every flow for one account (OTP codes of 32 digits,
/// so a match is never chance) and, before anything is sent, reads what the
/// store holds: every waiting outbox item, the OTP and the record, and with
/// `table` the whole DynamoDB table. Then delivers, and checks that no code
/// or token from the mails appears in any of it, nor a recipient address in
/// any outbox item.
async fn nothing_waiting_is_readable(store: Option<Arc<dyn Store>>, table: Option<String>) {
    let app = TestApp::spawn_with(Options {
        config: config_with(vec![otp_collection(
            "otpusers",
            json!({"otp": {"enabled": true, "duration": 60, "length": 32}}),
        )]),
        store,
        sender: None,
        ..Default::default()
    })
    .await;
    let email = unique_email("sealed");
    let new_email = unique_email("sealed-new");
    app.sign_up("users", &email, PASSWORD).await;
    app.sign_up("otpusers", &email, PASSWORD).await;
    let auth = app.login("users", &email, PASSWORD).await;
    let mut otp_id = String::new();
    for (collection, action) in [
        ("otpusers", "request-otp"),
        ("users", "request-password-reset"),
        ("users", "request-verification"),
    ] {
        let (status, body) = app
            .post(collection, action, json!({ "email": email }))
            .await;
        assert!(status == 200 || status == 204, "{action}: {status} {body}");
        if let Some(id) = body["otpId"].as_str() {
            otp_id = id.to_owned();
        }
    }
    let (status, body) = app
        .post_auth(
            "users",
            "request-email-change",
            json!({ "newEmail": new_email }),
            Some(&auth),
        )
        .await;
    assert_eq!(status, 204, "{body}");

    let items = pending(&app).await;
    assert_eq!(items.len(), 4);
    let otps = app.config.collection("otpusers").expect("otpusers");
    let otp = app
        .store
        .get_otp(&otps.id, &otp_id)
        .await
        .expect("store")
        .expect("the OTP is stored");
    let mut stored = format!(
        "{}\n{:?}",
        serde_json::to_string(&otp).expect("OTP as JSON"),
        app.stored_record("users", &email).await
    );
    if let Some(table) = &table {
        let raw = scan_table(table).await;
        assert!(raw.contains("sealed"), "the scan sees the outbox items");
        stored.push_str(&raw);
    }

    let mails = app.mails().await;
    let mut secrets = Vec::new();
    for mail in &mails {
        if let Some(t) = [VERIFY, RESET, CHANGE]
            .iter()
            .find_map(|m| mail.token_after(m))
        {
            secrets.push(t);
        } else {
            let code = otp_code(mail).expect("an OTP mail");
            assert_eq!(code.len(), 32);
            secrets.push(code);
        }
    }
    assert_eq!(secrets.len(), 4, "a secret from every mail");

    for item in &items {
        let whole = serde_json::to_string(item).expect("item as JSON");
        for secret in &secrets {
            assert!(
                !item.sealed.contains(secret.as_str()),
                "secret in the clear"
            );
            assert!(!whole.contains(secret.as_str()), "secret in the item");
        }
        for address in [&email, &new_email] {
            assert!(
                !whole.contains(address.as_str()),
                "recipient address in the item"
            );
        }
    }
    for secret in &secrets {
        assert!(!stored.contains(secret.as_str()), "secret in the store");
    }
}

#[tokio::test]
async fn nothing_in_the_memory_store_holds_a_token_or_code_in_clear() {
    nothing_waiting_is_readable(None, None).await;
}

#[tokio::test]
async fn nothing_in_the_dynamodb_table_holds_a_token_or_code_in_clear() {
    let store = dynamo_store().await;
    let table = store.table().to_owned();
    nothing_waiting_is_readable(Some(store), Some(table)).await;
}
