//! Records: inserts, updates and deletes keep every unique value owned by
//! exactly one record, also under concurrency and stale writes.

use std::sync::Arc;

use authgate_core::model::{ExternalAuth, UniqueKey};
use authgate_core::ports::{Store, StoreError};
use serde_json::json;

use super::{email_key, is_conflict_on, record, COLL, T0};

pub(super) async fn an_inserted_record_reads_back_by_id_and_by_each_unique_value(
    store: Arc<dyn Store>,
) {
    let mut rec = record("r1aaaaaaaaaaaaa", "alice@example.com");
    rec.email_visibility = true;
    rec.fields.insert("username".into(), json!("alice"));
    rec.fields.insert("name".into(), json!("Ålice \"A\" #1"));
    rec.fields.insert("empty".into(), json!(""));
    rec.fields
        .insert("nested".into(), json!({"a": [1, 2.5, null, true]}));
    let unique = [
        email_key("alice@example.com"),
        UniqueKey::new("username", "alice"),
    ];
    store.insert_record(&rec, &unique).await.unwrap();

    assert_eq!(
        store.get_record(COLL, &rec.id).await.unwrap(),
        Some(rec.clone())
    );
    for key in &unique {
        assert_eq!(
            store.find_record_by_unique(COLL, key).await.unwrap(),
            Some(rec.clone()),
            "lookup by {key:?}"
        );
    }
    assert_eq!(store.get_record(COLL, "missing").await.unwrap(), None);
    assert_eq!(store.get_record("other", &rec.id).await.unwrap(), None);
    assert_eq!(
        store
            .find_record_by_unique(COLL, &email_key("bob@example.com"))
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .find_record_by_unique("other", &email_key("alice@example.com"))
            .await
            .unwrap(),
        None
    );

    // Values too long for a DynamoDB key inline still work as unique keys.
    let long = "x".repeat(3000);
    let rec2 = record("r2aaaaaaaaaaaaa", "long@example.com");
    store
        .insert_record(&rec2, &[UniqueKey::new("bio", long.clone())])
        .await
        .unwrap();
    assert_eq!(
        store
            .find_record_by_unique(COLL, &UniqueKey::new("bio", long.clone()))
            .await
            .unwrap(),
        Some(rec2.clone())
    );
    let rec3 = record("r3aaaaaaaaaaaaa", "long3@example.com");
    let err = store
        .insert_record(&rec3, &[UniqueKey::new("bio", long)])
        .await
        .unwrap_err();
    assert!(is_conflict_on(&err, "bio"), "{err:?}");
}

pub(super) async fn inserting_a_taken_unique_value_conflicts_and_writes_nothing(
    store: Arc<dyn Store>,
) {
    let first = record("firstaaaaaaaaaa", "taken@example.com");
    store
        .insert_record(&first, &[email_key("taken@example.com")])
        .await
        .unwrap();

    let second = record("secondaaaaaaaaa", "taken@example.com");
    let err = store
        .insert_record(
            &second,
            &[
                UniqueKey::new("username", "free"),
                email_key("taken@example.com"),
            ],
        )
        .await
        .unwrap_err();
    assert!(is_conflict_on(&err, "email"), "{err:?}");

    // No orphan record and no orphan marker for the free value.
    assert_eq!(store.get_record(COLL, &second.id).await.unwrap(), None);
    assert_eq!(
        store
            .find_record_by_unique(COLL, &UniqueKey::new("username", "free"))
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .find_record_by_unique(COLL, &email_key("taken@example.com"))
            .await
            .unwrap(),
        Some(first)
    );
    // The free value really is still free.
    let third = record("thirdaaaaaaaaaa", "third@example.com");
    store
        .insert_record(&third, &[UniqueKey::new("username", "free")])
        .await
        .unwrap();
}

pub(super) async fn inserting_an_existing_record_id_conflicts_on_id(store: Arc<dyn Store>) {
    let rec = record("sameidaaaaaaaaa", "one@example.com");
    store
        .insert_record(&rec, &[email_key("one@example.com")])
        .await
        .unwrap();
    let again = record("sameidaaaaaaaaa", "two@example.com");
    let err = store
        .insert_record(&again, &[email_key("two@example.com")])
        .await
        .unwrap_err();
    assert!(is_conflict_on(&err, "id"), "{err:?}");
    assert_eq!(store.get_record(COLL, &rec.id).await.unwrap(), Some(rec));
    assert_eq!(
        store
            .find_record_by_unique(COLL, &email_key("two@example.com"))
            .await
            .unwrap(),
        None
    );
}

pub(super) async fn concurrent_inserts_of_one_email_have_exactly_one_winner(store: Arc<dyn Store>) {
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                let rec = record(&format!("racer{i:010}"), "race@example.com");
                let result = store
                    .insert_record(&rec, &[email_key("race@example.com")])
                    .await;
                (rec.id, result)
            })
        })
        .collect();
    let mut winners = Vec::new();
    let mut conflicts = 0;
    for task in tasks {
        let (id, result) = task.await.unwrap();
        match result {
            Ok(()) => winners.push(id),
            Err(e) if is_conflict_on(&e, "email") => conflicts += 1,
            Err(e) => panic!("unexpected error: {e:?}"),
        }
    }
    assert_eq!(winners.len(), 1, "winners: {winners:?}");
    assert_eq!(conflicts, 19);
    let owner = store
        .find_record_by_unique(COLL, &email_key("race@example.com"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(owner.id, winners[0]);
    for i in 0..20 {
        let id = format!("racer{i:010}");
        let stored = store.get_record(COLL, &id).await.unwrap();
        assert_eq!(stored.is_some(), id == winners[0], "record {id}");
    }
}

pub(super) async fn updating_a_unique_value_releases_the_old_one_and_claims_the_new_one(
    store: Arc<dyn Store>,
) {
    let old = record("moveraaaaaaaaaa", "old@example.com");
    let username = UniqueKey::new("username", "mover");
    store
        .insert_record(&old, &[email_key("old@example.com"), username.clone()])
        .await
        .unwrap();

    let mut new = old.clone();
    new.email = "new@example.com".into();
    new.verified = true;
    new.updated = T0.plus_secs(5);
    new.version = 2;
    store
        .update_record(
            &old,
            &new,
            &[email_key("old@example.com"), username.clone()],
            &[email_key("new@example.com"), username.clone()],
        )
        .await
        .unwrap();

    assert_eq!(
        store.get_record(COLL, &old.id).await.unwrap(),
        Some(new.clone())
    );
    assert_eq!(
        store
            .find_record_by_unique(COLL, &email_key("new@example.com"))
            .await
            .unwrap(),
        Some(new.clone())
    );
    assert_eq!(
        store.find_record_by_unique(COLL, &username).await.unwrap(),
        Some(new.clone())
    );
    assert_eq!(
        store
            .find_record_by_unique(COLL, &email_key("old@example.com"))
            .await
            .unwrap(),
        None
    );
    // The released value can be claimed by someone else.
    let other = record("otheraaaaaaaaaa", "old@example.com");
    store
        .insert_record(&other, &[email_key("old@example.com")])
        .await
        .unwrap();

    // An update that keeps every unique value touches only the record.
    let mut newer = new.clone();
    newer.fields.insert("name".into(), json!("Mover"));
    newer.version = 3;
    let keys = [email_key("new@example.com"), username.clone()];
    store
        .update_record(&new, &newer, &keys, &keys)
        .await
        .unwrap();
    assert_eq!(store.get_record(COLL, &old.id).await.unwrap(), Some(newer));
}

pub(super) async fn updating_to_a_taken_unique_value_conflicts_and_changes_nothing(
    store: Arc<dyn Store>,
) {
    let a = record("holderaaaaaaaaa", "a@example.com");
    let b = record("wanteraaaaaaaaa", "b@example.com");
    store
        .insert_record(&a, &[email_key("a@example.com")])
        .await
        .unwrap();
    store
        .insert_record(&b, &[email_key("b@example.com")])
        .await
        .unwrap();

    let mut b2 = b.clone();
    b2.email = "a@example.com".into();
    b2.version = 2;
    let err = store
        .update_record(
            &b,
            &b2,
            &[email_key("b@example.com")],
            &[email_key("a@example.com")],
        )
        .await
        .unwrap_err();
    assert!(is_conflict_on(&err, "email"), "{err:?}");

    assert_eq!(
        store.get_record(COLL, &b.id).await.unwrap(),
        Some(b.clone())
    );
    assert_eq!(
        store
            .find_record_by_unique(COLL, &email_key("b@example.com"))
            .await
            .unwrap(),
        Some(b.clone())
    );
    assert_eq!(
        store
            .find_record_by_unique(COLL, &email_key("a@example.com"))
            .await
            .unwrap(),
        Some(a)
    );
}

pub(super) async fn deleting_a_record_releases_its_unique_values_unless_it_changed(
    store: Arc<dyn Store>,
) {
    let r = record("deleteaaaaaaaaa", "d@example.com");
    let keys = [email_key("d@example.com")];
    store.insert_record(&r, &keys).await.unwrap();
    let mut stale = r.clone();
    stale.version = 7;
    let err = store.delete_record(&stale, &keys).await.unwrap_err();
    assert!(matches!(err, StoreError::Stale), "{err:?}");
    assert_eq!(
        store.get_record(COLL, &r.id).await.unwrap(),
        Some(r.clone())
    );

    store.delete_record(&r, &keys).await.unwrap();
    assert_eq!(store.get_record(COLL, &r.id).await.unwrap(), None);
    assert_eq!(
        store.find_record_by_unique(COLL, &keys[0]).await.unwrap(),
        None
    );
    // The email is free again.
    let again = record("deletebbbbbbbbb", "D@example.com");
    store.insert_record(&again, &keys).await.unwrap();
}

pub(super) async fn deleting_a_record_removes_its_oauth2_links_and_only_its_own(
    store: Arc<dyn Store>,
) {
    let r = record("unlinkaaaaaaaaa", "u@example.com");
    let other = record("keeplinkaaaaaaa", "k@example.com");
    let keys = [email_key("u@example.com")];
    store.insert_record(&r, &keys).await.unwrap();
    store
        .insert_record(&other, &[email_key("k@example.com")])
        .await
        .unwrap();
    let link = |record_id: &str, provider: &str, provider_id: &str| ExternalAuth {
        collection_id: COLL.to_owned(),
        record_id: record_id.to_owned(),
        provider: provider.to_owned(),
        provider_id: provider_id.to_owned(),
        created: T0,
    };
    let google = link(&r.id, "google", "g-1");
    let github = link(&r.id, "github", "gh-1");
    let others = link(&other.id, "google", "g-2");
    for l in [&google, &github, &others] {
        store.insert_external_auth(l).await.unwrap();
    }

    // A stale delete removes nothing, links included.
    let mut stale = r.clone();
    stale.version = 9;
    let err = store.delete_record(&stale, &keys).await.unwrap_err();
    assert!(matches!(err, StoreError::Stale), "{err:?}");
    assert_eq!(
        store.list_external_auths(COLL, &r.id).await.unwrap().len(),
        2
    );

    store.delete_record(&r, &keys).await.unwrap();
    assert_eq!(store.get_record(COLL, &r.id).await.unwrap(), None);
    assert!(store
        .list_external_auths(COLL, &r.id)
        .await
        .unwrap()
        .is_empty());
    for (provider, id) in [("google", "g-1"), ("github", "gh-1")] {
        assert_eq!(
            store.find_external_auth(COLL, provider, id).await.unwrap(),
            None,
            "{provider}"
        );
    }
    // The other record keeps its record and its link.
    assert_eq!(
        store.list_external_auths(COLL, &other.id).await.unwrap(),
        vec![others.clone()]
    );
    assert_eq!(
        store
            .find_external_auth(COLL, "google", "g-2")
            .await
            .unwrap(),
        Some(others)
    );
    assert!(store.get_record(COLL, &other.id).await.unwrap().is_some());
    // The identity can be linked again, to a new record.
    store
        .insert_external_auth(&link("newlinkaaaaaaaa", "google", "g-1"))
        .await
        .unwrap();
}

pub(super) async fn updating_from_a_stale_version_fails_and_changes_nothing(store: Arc<dyn Store>) {
    let v1 = record("versionaaaaaaaa", "v@example.com");
    store
        .insert_record(&v1, &[email_key("v@example.com")])
        .await
        .unwrap();
    let mut v2 = v1.clone();
    v2.verified = true;
    v2.version = 2;
    let keys = [email_key("v@example.com")];
    store.update_record(&v1, &v2, &keys, &keys).await.unwrap();

    // A second writer that read v1 loses, even when claiming a new value.
    let mut lost = v1.clone();
    lost.email = "lost@example.com".into();
    lost.version = 2;
    let err = store
        .update_record(&v1, &lost, &keys, &[email_key("lost@example.com")])
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Stale), "{err:?}");
    assert_eq!(store.get_record(COLL, &v1.id).await.unwrap(), Some(v2));
    assert_eq!(
        store
            .find_record_by_unique(COLL, &email_key("lost@example.com"))
            .await
            .unwrap(),
        None
    );
    assert!(store
        .find_record_by_unique(COLL, &email_key("v@example.com"))
        .await
        .unwrap()
        .is_some());

    // Updating a record that does not exist is stale too.
    let ghost = record("ghostaaaaaaaaaa", "ghost@example.com");
    let mut ghost2 = ghost.clone();
    ghost2.version = 2;
    let err = store
        .update_record(&ghost, &ghost2, &[], &[])
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Stale), "{err:?}");
}
