//! Records imported from PocketBase keep their bcrypt hashes: a login
//! verifies them with bcrypt and replaces them with argon2id, with one
//! conditional write that never loses a concurrent change.

use std::sync::Arc;

use authgate_core::model::{Record, Timestamp};
use authgate_core::ports::Store;
use authgate_tests::{unique, unique_email, FaultyStore, Options, TestApp};
use serde_json::Map;

/// `"password123"` hashed by PocketBase v0.40.6 (Go's bcrypt, cost 10).
const PB_HASH: &str = "$2a$10$7T/QEIfawAlNdLU7mV1Jf.QC98vgbbHQC9jokv9bXnzsnE9SjCBce";
const PB_PASSWORD: &str = "password123";

/// Stores a `users` record as the importer does: PocketBase's hash as is.
async fn imported_user(app: &TestApp, email: &str) -> Record {
    let coll = app.config.collection("users").unwrap();
    let record = Record {
        id: unique("r"),
        collection_id: coll.id.clone(),
        email: email.to_owned(),
        email_visibility: false,
        verified: true,
        password_hash: PB_HASH.to_owned(),
        token_key: unique("tk").repeat(3),
        created: Timestamp(1_700_000_000_000),
        updated: Timestamp(1_700_000_000_000),
        fields: Map::new(),
        version: 1,
    };
    let keys = authgate_core::validate::unique_keys(coll, &record);
    app.store.insert_record(&record, &keys).await.unwrap();
    record
}

fn is_argon2id(hash: &str) -> bool {
    hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$")
}

#[tokio::test]
async fn a_bcrypt_hash_logs_in_and_becomes_argon2id_on_the_first_login_only() {
    let app = TestApp::spawn().await;
    let e = unique_email("bc");
    let before = imported_user(&app, &e).await;

    // A wrong password changes nothing.
    assert_eq!(app.login_status("users", &e, "password124").await, 400);
    assert_eq!(app.stored_record("users", &e).await, before);

    let token = app.login("users", &e, PB_PASSWORD).await;
    let after = app.stored_record("users", &e).await;
    assert!(is_argon2id(&after.password_hash), "upgraded");
    assert_eq!(after.version, before.version + 1, "one write");
    assert_eq!(after.token_key, before.token_key, "sessions kept");
    assert_eq!(
        after.updated, before.updated,
        "nothing the owner sees changed"
    );
    assert!(app
        .ctx
        .verify_password(Some(&after), PB_PASSWORD)
        .await
        .unwrap());
    assert_eq!(app.refresh_status("users", &token).await, 200);

    // Later logins verify the argon2id hash and write nothing.
    app.login("users", &e, PB_PASSWORD).await;
    assert_eq!(app.stored_record("users", &e).await, after);
    assert_eq!(app.login_status("users", &e, "password124").await, 400);
}

#[tokio::test]
async fn concurrent_first_logins_all_succeed_and_upgrade_the_hash_once() {
    let app = Arc::new(TestApp::spawn().await);
    let e = unique_email("bc");
    let before = imported_user(&app, &e).await;
    let logins: Vec<_> = (0..6)
        .map(|_| {
            let (app, e) = (app.clone(), e.clone());
            tokio::spawn(async move { app.login_status("users", &e, PB_PASSWORD).await })
        })
        .collect();
    for l in logins {
        assert_eq!(l.await.unwrap(), 200);
    }
    let after = app.stored_record("users", &e).await;
    assert!(is_argon2id(&after.password_hash));
    assert_eq!(after.version, before.version + 1, "exactly one upgrade won");
    assert_eq!(app.login_status("users", &e, PB_PASSWORD).await, 200);
}

async fn app_on(store: Arc<FaultyStore>) -> TestApp {
    TestApp::spawn_with(Options {
        store: Some(store as Arc<dyn Store>),
        ..Default::default()
    })
    .await
}

#[tokio::test]
async fn an_upgrade_that_loses_to_an_unrelated_update_retries_and_keeps_both() {
    let store = FaultyStore::new();
    let app = app_on(store.clone()).await;
    let e = unique_email("bc");
    let before = imported_user(&app, &e).await;
    *store.race_once.lock().unwrap() = Some(Box::new(|r: &mut Record| {
        r.email_visibility = true;
    }));
    app.login("users", &e, PB_PASSWORD).await;
    let after = app.stored_record("users", &e).await;
    assert!(after.email_visibility, "the concurrent change is kept");
    assert!(is_argon2id(&after.password_hash), "and the upgrade retried");
    assert_eq!(after.version, before.version + 2);
}

#[tokio::test]
async fn an_upgrade_never_overwrites_a_password_set_meanwhile() {
    let store = FaultyStore::new();
    let app = app_on(store.clone()).await;
    let e = unique_email("bc");
    imported_user(&app, &e).await;
    // A password reset (or another login's upgrade) lands first.
    let new_hash = app.ctx.hash_password("a brand new password").await.unwrap();
    let theirs = new_hash.clone();
    *store.race_once.lock().unwrap() = Some(Box::new(move |r: &mut Record| {
        r.password_hash = theirs;
    }));
    // The login verified the old password before the reset: it succeeds.
    assert_eq!(app.login_status("users", &e, PB_PASSWORD).await, 200);
    let after = app.stored_record("users", &e).await;
    assert_eq!(after.password_hash, new_hash, "the new password stays");
    assert_eq!(app.login_status("users", &e, PB_PASSWORD).await, 400);
    assert_eq!(
        app.login_status("users", &e, "a brand new password").await,
        200
    );
}

#[tokio::test]
async fn a_failed_upgrade_write_does_not_fail_the_login_and_the_next_one_upgrades() {
    let store = FaultyStore::new();
    let app = app_on(store.clone()).await;
    let e = unique_email("bc");
    imported_user(&app, &e).await;
    store.update.store(
        authgate_tests::fakes::UPDATE_BACKEND_ERROR,
        std::sync::atomic::Ordering::SeqCst,
    );
    assert_eq!(app.login_status("users", &e, PB_PASSWORD).await, 200);
    assert_eq!(app.stored_record("users", &e).await.password_hash, PB_HASH);
    store.update.store(
        authgate_tests::fakes::UPDATE_OK,
        std::sync::atomic::Ordering::SeqCst,
    );
    assert_eq!(app.login_status("users", &e, PB_PASSWORD).await, 200);
    assert!(is_argon2id(
        &app.stored_record("users", &e).await.password_hash
    ));
}

#[tokio::test]
async fn unknown_identities_and_bcrypt_records_answer_alike() {
    let app = TestApp::spawn().await;
    let e = unique_email("bc");
    imported_user(&app, &e).await;
    let (s1, b1) = app.password_login("users", &e, "wrong-password").await;
    let (s2, b2) = app
        .password_login("users", &unique_email("nobody"), "wrong-password")
        .await;
    assert_eq!((s1, &b1), (s2, &b2));
}
