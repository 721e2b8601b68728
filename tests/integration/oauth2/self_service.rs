//! Account self-service around OAuth2 ([10]): the `_externalAuths` routes
//! the SDK's `listExternalAuths`/`unlinkExternalAuth` call, account
//! deletion taking the links along, `createRule: null` closing OAuth2
//! sign-up, and the official JS SDK driving all of it.

use std::sync::Arc;

use authgate_core::ports::Store;
use authgate_tests::{config_with, oauth2_mock_url, repo_root, run_node, unique_email, TestApp};
use serde_json::{json, Value};

use super::{app_with, collection, links_of, login_as, REDIRECT};

/// The `people` collection on `store`, applied as `authgate collections
/// apply` leaves it (token and OAuth2 client secrets in a secret store, the
/// rest in the store) and read the way the Lambdas read it.
async fn app_on(store: Option<Arc<dyn Store>>) -> TestApp {
    let opts = authgate_tests::Options {
        config: config_with(vec![collection("people", json!({}))]),
        store,
        ..Default::default()
    };
    TestApp::spawn_with(
        opts.applied(Arc::new(authgate_adapters::secrets::MemorySecrets::new()))
            .await,
    )
    .await
}

async fn get(app: &TestApp, path: &str, token: Option<&str>) -> (u16, Value) {
    let mut req = app.http.get(format!("{}/api/collections/{path}", app.base));
    if let Some(t) = token {
        req = req.header("Authorization", t);
    }
    let res = req.send().await.unwrap();
    (
        res.status().as_u16(),
        res.json().await.unwrap_or(Value::Null),
    )
}

async fn delete(app: &TestApp, path: &str, token: Option<&str>) -> u16 {
    let mut req = app
        .http
        .delete(format!("{}/api/collections/{path}", app.base));
    if let Some(t) = token {
        req = req.header("Authorization", t);
    }
    req.send().await.unwrap().status().as_u16()
}

fn filter(record: &str, provider: Option<&str>) -> String {
    let mut f = format!("recordRef = \"{record}\"");
    if let Some(p) = provider {
        f.push_str(&format!(" && provider = \"{p}\""));
    }
    format!(
        "_externalAuths/records?page=1&perPage=1000&skipTotal=1&filter={}",
        url::form_urlencoded::byte_serialize(f.as_bytes()).collect::<String>()
    )
}

async fn links_are_listed_and_unlinked_by_their_owner_only(store: Arc<dyn Store>) {
    let app = app_on(Some(store)).await;
    let email = unique_email("links");
    let (status, body) = login_as(&app, &email, &[], json!({})).await;
    assert_eq!(status, 200, "{body}");
    let (id, token) = (
        body["record"]["id"].as_str().unwrap().to_owned(),
        body["token"].as_str().unwrap().to_owned(),
    );
    let people = app.config.collection("people").unwrap().id.clone();

    let (status, list) = get(&app, &filter(&id, None), Some(&token)).await;
    assert_eq!(status, 200, "{list}");
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{list}");
    let link = &items[0];
    assert_eq!(link["provider"], "oidc");
    assert_eq!(link["recordRef"], id.as_str());
    assert_eq!(link["collectionRef"], people.as_str());
    assert_eq!(link["collectionName"], "_externalAuths");
    assert_eq!(link["providerId"], format!("sub-{email}"));
    let link_id = link["id"].as_str().unwrap().to_owned();
    // getFirstListItem's form, with the provider.
    let (status, one) = get(&app, &filter(&id, Some("oidc")), Some(&token)).await;
    assert_eq!(
        (status, one["items"][0]["id"].clone()),
        (200, json!(link_id))
    );
    let (_, none) = get(&app, &filter(&id, Some("github")), Some(&token)).await;
    assert_eq!(none["items"], json!([]));

    // Nobody else sees or removes it.
    let other_email = unique_email("links-other");
    app.sign_up("people", &other_email, "1234567890").await;
    let other = app.login("people", &other_email, "1234567890").await;
    for t in [Some(other.as_str()), None, Some("garbage")] {
        let (status, list) = get(&app, &filter(&id, None), t).await;
        assert_eq!((status, list["items"].clone()), (200, json!([])), "{t:?}");
        assert_eq!(
            delete(&app, &format!("_externalAuths/records/{link_id}"), t).await,
            404
        );
    }
    // A filter the SDK never sends.
    let path = "_externalAuths/records?filter=provider%20%3D%20%22oidc%22";
    let (status, body) = get(&app, path, Some(&token)).await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("recordRef"),
        "{body}"
    );
    assert_eq!(links_of(&app, &id).await.len(), 1);

    assert_eq!(
        delete(
            &app,
            &format!("_externalAuths/records/{link_id}"),
            Some(&token)
        )
        .await,
        204
    );
    assert!(links_of(&app, &id).await.is_empty());
    let (_, list) = get(&app, &filter(&id, None), Some(&token)).await;
    assert_eq!(list["items"], json!([]));
    assert_eq!(
        delete(
            &app,
            &format!("_externalAuths/records/{link_id}"),
            Some(&token)
        )
        .await,
        404
    );
    // The provider login links again, to the same (verified) record.
    let (status, again) = login_as(&app, &email, &[], json!({})).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["record"]["id"], id.as_str());
    assert_eq!(again["meta"]["isNew"], false);
}

async fn deleting_an_account_takes_its_links_along(store: Arc<dyn Store>) {
    let app = app_on(Some(store)).await;
    let email = unique_email("delete-links");
    let (_, first) = login_as(&app, &email, &[], json!({})).await;
    let id = first["record"]["id"].as_str().unwrap().to_owned();
    let token = first["token"].as_str().unwrap().to_owned();
    assert_eq!(links_of(&app, &id).await.len(), 1);
    assert_eq!(
        delete(&app, &format!("people/records/{id}"), Some(&token)).await,
        204
    );
    assert!(links_of(&app, &id).await.is_empty());
    let people = app.config.collection("people").unwrap().id.clone();
    let found = app
        .store
        .find_external_auth(&people, "oidc", &format!("sub-{email}"))
        .await
        .unwrap();
    assert_eq!(found, None);
    // The identity signs up afresh.
    let (status, again) = login_as(&app, &email, &[], json!({})).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["meta"]["isNew"], true);
    assert_ne!(again["record"]["id"], id.as_str());
}

#[tokio::test]
async fn links_are_listed_and_unlinked_by_their_owner_only_in_memory() {
    links_are_listed_and_unlinked_by_their_owner_only(Arc::new(
        authgate_adapters::memory::MemoryStore::new(),
    ))
    .await;
}

#[tokio::test]
async fn links_are_listed_and_unlinked_by_their_owner_only_in_dynamodb() {
    links_are_listed_and_unlinked_by_their_owner_only(authgate_tests::dynamo_store().await).await;
}

#[tokio::test]
async fn deleting_an_account_takes_its_links_along_in_memory() {
    deleting_an_account_takes_its_links_along(Arc::new(
        authgate_adapters::memory::MemoryStore::new(),
    ))
    .await;
}

#[tokio::test]
async fn deleting_an_account_takes_its_links_along_in_dynamodb() {
    deleting_an_account_takes_its_links_along(authgate_tests::dynamo_store().await).await;
}

#[tokio::test]
async fn a_create_rule_of_null_stops_oauth2_from_creating_records() {
    let app = app_with(json!({"createRule": null})).await;
    let email = unique_email("nocreate");
    let (status, body) = login_as(&app, &email, &[], json!({})).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["message"], "Only superusers can perform this action.");
    let people = app.config.collection("people").unwrap();
    let key = authgate_core::validate::identity_key(people, "email", &email);
    assert!(app
        .store
        .find_record_by_unique(&people.id, &key)
        .await
        .unwrap()
        .is_none());
    assert!(app
        .store
        .find_external_auth(&people.id, "oidc", &format!("sub-{email}"))
        .await
        .unwrap()
        .is_none());
}

async fn sdk_self_service(store: Option<Arc<dyn Store>>) {
    let app = app_on(store).await;
    let script = repo_root().join("infra/node/sdk-self-service.mjs");
    let env = [
        ("BASE_URL", app.base.clone()),
        ("OAUTH2_URL", oauth2_mock_url()),
        ("COLLECTION", "people".to_owned()),
        ("REDIRECT_URL", REDIRECT.to_owned()),
    ];
    let (ok, out) = run_node(&script, &env).await;
    assert!(ok, "{out}");
    assert!(out.contains("sdk self-service: ok"), "{out}");
}

#[tokio::test]
async fn the_pocketbase_sdk_views_updates_unlinks_and_deletes_an_account() {
    sdk_self_service(None).await;
}

#[tokio::test]
async fn the_pocketbase_sdk_views_updates_unlinks_and_deletes_an_account_on_dynamodb() {
    sdk_self_service(Some(authgate_tests::dynamo_store().await)).await;
}
