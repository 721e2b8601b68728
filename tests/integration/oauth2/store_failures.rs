//! A store failing mid-way through an OAuth2 login leaves nothing broken:
//! the link stays, the owner can retry, a half-created record is undone.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use authgate_tests::fakes::{UPDATE_BACKEND_ERROR, UPDATE_OK, UPDATE_STALE};
use authgate_tests::{unique, unique_email, FaultyStore, TestApp};
use serde_json::json;

use super::{app_on, links_of, login_as};

async fn faulty_app() -> (TestApp, Arc<FaultyStore>) {
    let store = FaultyStore::new();
    let app = app_on(store.clone()).await;
    (app, store)
}

#[tokio::test]
async fn a_failed_update_of_an_unverified_record_never_takes_its_link_away() {
    let (app, store) = faulty_app().await;
    let email = unique_email("keeplink");
    let sub = unique("keeplink-sub-");
    let opts = [("mock_sub", sub.as_str()), ("mock_email_verified", "false")];
    let (status, first) = login_as(&app, &email, &opts, json!({})).await;
    assert_eq!(status, 200, "{first}");
    let id = first["record"]["id"].as_str().expect("id").to_owned();

    // The password reset of the next login fails: a backend error, then a
    // record that keeps changing (three stale writes in a row).
    for (mode, want) in [(UPDATE_BACKEND_ERROR, 500), (UPDATE_STALE, 400)] {
        store.update.store(mode, Ordering::SeqCst);
        let (status, res) = login_as(&app, &email, &opts, json!({})).await;
        assert_eq!(status, want, "mode {mode}: {res}");
        if want == 400 {
            assert_eq!(res["message"], "Failed to authenticate.");
        }
        let links = links_of(&app, &id).await;
        assert_eq!(links.len(), 1, "mode {mode}: the identity stays linked");
        assert_eq!(links[0].provider_id, sub);
    }

    store.update.store(UPDATE_OK, Ordering::SeqCst);
    let (status, again) = login_as(&app, &email, &opts, json!({})).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["record"]["id"], id.as_str(), "still the same account");
}

#[tokio::test]
async fn a_failed_takeover_leaves_the_owner_a_way_to_retry() {
    let (app, store) = faulty_app().await;
    let victim = unique_email("retry-victim");
    let signed_up = app.sign_up("people", &victim, "attacker-pass-1").await;
    // Linking succeeds, securing the record fails: the owner's identity is
    // linked, the record unchanged; the retry goes through the link.
    store.update.store(UPDATE_BACKEND_ERROR, Ordering::SeqCst);
    let (status, res) = login_as(&app, &victim, &[], json!({})).await;
    assert_eq!(status, 500, "{res}");
    let id = signed_up["id"].as_str().expect("id");
    assert_eq!(links_of(&app, id).await.len(), 1);
    store.update.store(UPDATE_OK, Ordering::SeqCst);
    let (status, res) = login_as(&app, &victim, &[], json!({})).await;
    assert_eq!(status, 200, "{res}");
    assert_eq!(res["record"]["id"], signed_up["id"]);
    assert_eq!(res["record"]["verified"], true);
    assert_eq!(
        app.login_status("people", &victim, "attacker-pass-1").await,
        400,
        "the pre-set password is reset on the retry"
    );
    assert_eq!(links_of(&app, id).await.len(), 1);
}

#[tokio::test]
async fn a_new_record_whose_link_cannot_be_stored_is_undone() {
    let (app, store) = faulty_app().await;
    let email = unique_email("undo");
    store.link_insert_fails.store(true, Ordering::SeqCst);
    let (status, res) = login_as(&app, &email, &[], json!({})).await;
    assert_eq!(status, 500, "{res}");
    let collection = app.config.collection("people").expect("people");
    let key = authgate_core::validate::identity_key(collection, "email", &email);
    let left = app
        .store
        .find_record_by_unique(&collection.id, &key)
        .await
        .expect("store");
    assert!(left.is_none(), "no orphan record: {left:?}");

    // The retry signs up cleanly instead of finding the email taken.
    store.link_insert_fails.store(false, Ordering::SeqCst);
    let (status, res) = login_as(&app, &email, &[], json!({})).await;
    assert_eq!(status, 200, "{res}");
    assert_eq!(res["meta"]["isNew"], true);
}
