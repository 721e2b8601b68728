//! External auths (OAuth2 links): found, listed, deleted, and unique per
//! provider identity.

use std::sync::Arc;

use authgate_core::model::ExternalAuth;
use authgate_core::ports::Store;

use super::{is_conflict_on, COLL, T0};

fn link(record_id: &str, provider: &str, provider_id: &str) -> ExternalAuth {
    ExternalAuth {
        collection_id: COLL.to_owned(),
        record_id: record_id.to_owned(),
        provider: provider.to_owned(),
        provider_id: provider_id.to_owned(),
        created: T0,
    }
}

pub(super) async fn external_auths_are_found_listed_and_deleted_and_unique_per_identity(
    store: Arc<dyn Store>,
) {
    let google = link("linkedaaaaaaaaa", "google", "g-123");
    let github = link("linkedaaaaaaaaa", "github", "gh#456");
    store.insert_external_auth(&google).await.unwrap();
    store.insert_external_auth(&github).await.unwrap();
    store
        .insert_external_auth(&link("otheraaaaaaaaaa", "google", "g-999"))
        .await
        .unwrap();

    assert_eq!(
        store
            .find_external_auth(COLL, "google", "g-123")
            .await
            .unwrap(),
        Some(google.clone())
    );
    assert_eq!(
        store
            .find_external_auth(COLL, "google", "g-404")
            .await
            .unwrap(),
        None
    );
    let mut listed = store
        .list_external_auths(COLL, "linkedaaaaaaaaa")
        .await
        .unwrap();
    listed.sort_by(|a, b| a.provider.cmp(&b.provider));
    assert_eq!(listed, vec![github.clone(), google.clone()]);
    assert!(store
        .list_external_auths(COLL, "nobodyaaaaaaaaa")
        .await
        .unwrap()
        .is_empty());

    // The same identity can't be linked twice, not even to another record.
    let err = store
        .insert_external_auth(&link("thirdaaaaaaaaaa", "google", "g-123"))
        .await
        .unwrap_err();
    assert!(is_conflict_on(&err, "provider"), "{err:?}");
    assert!(store
        .list_external_auths(COLL, "thirdaaaaaaaaaa")
        .await
        .unwrap()
        .is_empty());

    store.delete_external_auth(&google).await.unwrap();
    assert_eq!(
        store
            .find_external_auth(COLL, "google", "g-123")
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .list_external_auths(COLL, "linkedaaaaaaaaa")
            .await
            .unwrap(),
        vec![github]
    );
    // Once unlinked, the identity can be linked again.
    store
        .insert_external_auth(&link("thirdaaaaaaaaaa", "google", "g-123"))
        .await
        .unwrap();
}
