//! The store contract: one suite, written once against `dyn Store`, run
//! against the in-memory store and against `DynamoStore` on moto.
//!
//! The DynamoDB half needs moto at `AUTHGATE_TEST_MOTO` (e.g.
//! `http://127.0.0.1:5000`); `make test` starts it. Every test gets its own
//! table, so tests run in parallel without seeing each other.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use authgate_adapters::dynamodb::DynamoStore;
use authgate_adapters::memory::MemoryStore;
use authgate_core::model::{ExternalAuth, MfaSession, Otp, Record, Timestamp, UniqueKey};
use authgate_core::ports::{Store, StoreError};
use aws_sdk_dynamodb::config::{Credentials, Region};
use serde_json::json;

static SEQ: AtomicU64 = AtomicU64::new(0);

/// A `DynamoStore` on moto in a table of its own (with a key prefix too, so
/// the prefix code path is exercised). Fails (never skips) when moto is not
/// configured.
///
/// A table per store rather than one shared table: moto deep-copies the whole
/// table for every `TransactWriteItems`, so a shared table makes every
/// transaction slower as the suite writes more items (measured: the contract
/// suite went from 1.6 s to 5.7 s over 20 runs on one table).
pub(crate) async fn dynamo_store() -> Arc<DynamoStore> {
    let endpoint = std::env::var("AUTHGATE_TEST_MOTO").unwrap_or_else(|_| {
        panic!(
            "AUTHGATE_TEST_MOTO is not set: the DynamoDB tests need moto. \
             Run `make test`, which starts moto and sets it."
        )
    });
    let sdk = authgate_adapters::aws::sdk_config().await;
    let mut conf = aws_sdk_dynamodb::config::Builder::from(&sdk)
        .endpoint_url(&endpoint)
        // Never let real credentials near the emulator, and never probe IMDS.
        .credentials_provider(Credentials::new("test", "test", None, None, "test"));
    if sdk.region().is_none() {
        conf = conf.region(Region::new("us-east-1"));
    }
    let client = aws_sdk_dynamodb::Client::from_conf(conf.build());
    let seq = SEQ.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let unique = format!("{}-{nanos}-{seq}", std::process::id());
    let store = DynamoStore::new(client, format!("authgate-test-{unique}"))
        .with_prefix(format!("t{unique}#"));
    if let Err(e) = store.create_table().await {
        panic!("cannot create a table on moto at {endpoint}: {e}");
    }
    Arc::new(store)
}

fn memory_store() -> Arc<dyn Store> {
    Arc::new(MemoryStore::new())
}

/// Defines every contract test twice: `memory::<name>` and `dynamodb::<name>`.
macro_rules! contract {
    ($($name:ident),* $(,)?) => {
        mod memory {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::$name(super::memory_store()).await;
                }
            )*
        }
        mod dynamodb {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::$name(super::dynamo_store().await).await;
                }
            )*
        }
    };
}

contract!(
    an_inserted_record_reads_back_by_id_and_by_each_unique_value,
    inserting_a_taken_unique_value_conflicts_and_writes_nothing,
    inserting_an_existing_record_id_conflicts_on_id,
    concurrent_inserts_of_one_email_have_exactly_one_winner,
    updating_a_unique_value_releases_the_old_one_and_claims_the_new_one,
    updating_to_a_taken_unique_value_conflicts_and_changes_nothing,
    updating_from_a_stale_version_fails_and_changes_nothing,
    deleting_a_record_releases_its_unique_values_unless_it_changed,
    a_counter_allows_limit_hits_per_window_and_starts_a_new_window_after_it,
    concurrent_counter_hits_allow_exactly_the_limit,
    an_otp_is_consumed_once_and_only_with_the_right_code_before_expiry,
    concurrent_otp_consumes_have_exactly_one_winner,
    an_mfa_session_is_consumed_once_and_only_by_its_record_before_expiry,
    concurrent_mfa_consumes_have_exactly_one_winner,
    external_auths_are_found_listed_and_deleted_and_unique_per_identity,
    the_config_document_round_trips,
);

const COLL: &str = "_pb_users_auth_";
const T0: Timestamp = Timestamp(1_764_000_000_000);

fn record(id: &str, email: &str) -> Record {
    Record {
        id: id.to_owned(),
        collection_id: COLL.to_owned(),
        email: email.to_owned(),
        email_visibility: false,
        verified: false,
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".to_owned(),
        token_key: format!("tk-{id}"),
        created: T0,
        updated: T0,
        fields: serde_json::Map::new(),
        version: 1,
    }
}

fn email_key(email: &str) -> UniqueKey {
    UniqueKey::new("email", email)
}

fn is_conflict_on(err: &StoreError, expected: &str) -> bool {
    matches!(err, StoreError::Conflict { field } if field == expected)
}

async fn an_inserted_record_reads_back_by_id_and_by_each_unique_value(store: Arc<dyn Store>) {
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

async fn inserting_a_taken_unique_value_conflicts_and_writes_nothing(store: Arc<dyn Store>) {
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

async fn inserting_an_existing_record_id_conflicts_on_id(store: Arc<dyn Store>) {
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

async fn concurrent_inserts_of_one_email_have_exactly_one_winner(store: Arc<dyn Store>) {
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

async fn updating_a_unique_value_releases_the_old_one_and_claims_the_new_one(
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

async fn updating_to_a_taken_unique_value_conflicts_and_changes_nothing(store: Arc<dyn Store>) {
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

async fn deleting_a_record_releases_its_unique_values_unless_it_changed(store: Arc<dyn Store>) {
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

async fn updating_from_a_stale_version_fails_and_changes_nothing(store: Arc<dyn Store>) {
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

async fn a_counter_allows_limit_hits_per_window_and_starts_a_new_window_after_it(
    store: Arc<dyn Store>,
) {
    let key = "rl:auth-with-password:127.0.0.1";
    for i in 0..3 {
        assert!(
            store.hit(key, 3, 60, T0.plus_secs(i)).await.unwrap(),
            "hit {i}"
        );
    }
    assert!(!store.hit(key, 3, 60, T0.plus_secs(10)).await.unwrap());
    assert!(!store
        .hit(key, 3, 60, Timestamp(T0.0 + 59_999))
        .await
        .unwrap());
    // Other keys have their own windows.
    assert!(store.hit("rl:other", 3, 60, T0).await.unwrap());
    // The window started at the first hit and lasts 60 s.
    let next = T0.plus_secs(60);
    for i in 0..3 {
        assert!(
            store.hit(key, 3, 60, next).await.unwrap(),
            "hit {i} of window 2"
        );
    }
    assert!(!store.hit(key, 3, 60, next).await.unwrap());
    // A limit of 1 allows exactly one hit.
    assert!(store.hit("rl:once", 1, 60, T0).await.unwrap());
    assert!(!store.hit("rl:once", 1, 60, T0).await.unwrap());
}

async fn concurrent_counter_hits_allow_exactly_the_limit(store: Arc<dyn Store>) {
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.hit("rl:burst", 5, 60, T0).await })
        })
        .collect();
    let mut allowed = 0;
    for task in tasks {
        if task.await.unwrap().unwrap() {
            allowed += 1;
        }
    }
    assert_eq!(allowed, 5);
}

fn otp(id: &str) -> Otp {
    Otp {
        id: id.to_owned(),
        collection_id: COLL.to_owned(),
        record_id: "owneraaaaaaaaaa".to_owned(),
        code_hash: "hash-of-123456".to_owned(),
        sent_to: "owner@example.com".to_owned(),
        created: T0,
        expires_at: T0.plus_secs(180),
    }
}

async fn an_otp_is_consumed_once_and_only_with_the_right_code_before_expiry(store: Arc<dyn Store>) {
    let o = otp("otpaaaaaaaaaaaa");
    store.insert_otp(&o).await.unwrap();
    assert_eq!(store.get_otp(COLL, &o.id).await.unwrap(), Some(o.clone()));
    assert_eq!(store.get_otp(COLL, "missing").await.unwrap(), None);

    let now = T0.plus_secs(10);
    assert!(!store.consume_otp(COLL, &o.id, "wrong", now).await.unwrap());
    // Expired: at the expiry instant and after it. The item still reads back
    // (the service checks expiry itself).
    assert!(!store
        .consume_otp(COLL, &o.id, &o.code_hash, o.expires_at)
        .await
        .unwrap());
    assert_eq!(store.get_otp(COLL, &o.id).await.unwrap(), Some(o.clone()));
    assert!(store
        .consume_otp(COLL, &o.id, &o.code_hash, now)
        .await
        .unwrap());
    assert!(!store
        .consume_otp(COLL, &o.id, &o.code_hash, now)
        .await
        .unwrap());
    assert_eq!(store.get_otp(COLL, &o.id).await.unwrap(), None);
    assert!(!store
        .consume_otp(COLL, "missing", &o.code_hash, now)
        .await
        .unwrap());
}

async fn concurrent_otp_consumes_have_exactly_one_winner(store: Arc<dyn Store>) {
    let o = otp("otpraceaaaaaaaa");
    store.insert_otp(&o).await.unwrap();
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let store = store.clone();
            let o = o.clone();
            tokio::spawn(async move {
                store
                    .consume_otp(COLL, &o.id, &o.code_hash, T0.plus_secs(1))
                    .await
            })
        })
        .collect();
    let mut won = 0;
    for task in tasks {
        if task.await.unwrap().unwrap() {
            won += 1;
        }
    }
    assert_eq!(won, 1);
}

fn mfa(id: &str) -> MfaSession {
    MfaSession {
        id: id.to_owned(),
        collection_id: COLL.to_owned(),
        record_id: "owneraaaaaaaaaa".to_owned(),
        method: "password".to_owned(),
        created: T0,
        expires_at: T0.plus_secs(300),
    }
}

async fn an_mfa_session_is_consumed_once_and_only_by_its_record_before_expiry(
    store: Arc<dyn Store>,
) {
    let m = mfa("mfaaaaaaaaaaaaa");
    store.insert_mfa(&m).await.unwrap();
    assert_eq!(store.get_mfa(COLL, &m.id).await.unwrap(), Some(m.clone()));
    assert_eq!(store.get_mfa(COLL, "missing").await.unwrap(), None);

    let now = T0.plus_secs(10);
    assert!(!store
        .consume_mfa(COLL, &m.id, "someoneelseaaaa", now)
        .await
        .unwrap());
    assert!(!store
        .consume_mfa(COLL, &m.id, &m.record_id, m.expires_at)
        .await
        .unwrap());
    assert_eq!(store.get_mfa(COLL, &m.id).await.unwrap(), Some(m.clone()));
    assert!(store
        .consume_mfa(COLL, &m.id, &m.record_id, now)
        .await
        .unwrap());
    assert!(!store
        .consume_mfa(COLL, &m.id, &m.record_id, now)
        .await
        .unwrap());
    assert_eq!(store.get_mfa(COLL, &m.id).await.unwrap(), None);
}

async fn concurrent_mfa_consumes_have_exactly_one_winner(store: Arc<dyn Store>) {
    let m = mfa("mfaraceaaaaaaaa");
    store.insert_mfa(&m).await.unwrap();
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let store = store.clone();
            let m = m.clone();
            tokio::spawn(async move {
                store
                    .consume_mfa(COLL, &m.id, &m.record_id, T0.plus_secs(1))
                    .await
            })
        })
        .collect();
    let mut won = 0;
    for task in tasks {
        if task.await.unwrap().unwrap() {
            won += 1;
        }
    }
    assert_eq!(won, 1);
}

fn link(record_id: &str, provider: &str, provider_id: &str) -> ExternalAuth {
    ExternalAuth {
        collection_id: COLL.to_owned(),
        record_id: record_id.to_owned(),
        provider: provider.to_owned(),
        provider_id: provider_id.to_owned(),
        created: T0,
    }
}

async fn external_auths_are_found_listed_and_deleted_and_unique_per_identity(
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

async fn the_config_document_round_trips(store: Arc<dyn Store>) {
    assert_eq!(store.load_config().await.unwrap(), None);
    let config = json!({
        "collections": [{"id": COLL, "name": "users", "type": "auth", "fields": []}],
        "meta": {"appName": "Acme — “quoted”", "appUrl": "http://127.0.0.1:8090"}
    });
    store.save_config(&config).await.unwrap();
    assert_eq!(store.load_config().await.unwrap(), Some(config));
    let replaced = json!({"collections": []});
    store.save_config(&replaced).await.unwrap();
    assert_eq!(store.load_config().await.unwrap(), Some(replaced));
}
