//! Counters: fixed windows of `limit` hits, exact under concurrency.

use std::sync::Arc;

use authgate_core::model::{CounterKey, Timestamp};
use authgate_core::ports::Store;

use super::{wins, T0};

/// A counter of its own for each name (the store treats keys as opaque).
fn counter(name: &str) -> CounterKey<'_> {
    CounterKey::OtpCheck {
        collection_id: "contract",
        record_id: name,
    }
}

pub(super) async fn a_counter_allows_limit_hits_per_window_and_starts_a_new_window_after_it(
    store: Arc<dyn Store>,
) {
    let key = &counter("auth-with-password:127.0.0.1");
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
    assert!(store.hit(&counter("other"), 3, 60, T0).await.unwrap());
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
    assert!(store.hit(&counter("once"), 1, 60, T0).await.unwrap());
    assert!(!store.hit(&counter("once"), 1, 60, T0).await.unwrap());
}

pub(super) async fn concurrent_counter_hits_allow_exactly_the_limit(store: Arc<dyn Store>) {
    let allowed = wins(20, || {
        let store = store.clone();
        async move { store.hit(&counter("burst"), 5, 60, T0).await }
    })
    .await;
    assert_eq!(allowed, 5);
}

pub(super) async fn a_hit_given_back_frees_its_slot_only_in_a_live_window(store: Arc<dyn Store>) {
    let key = &counter("give-back");
    assert!(store.hit(key, 2, 60, T0).await.unwrap());
    assert!(store.hit(key, 2, 60, T0).await.unwrap());
    assert!(!store.hit(key, 2, 60, T0).await.unwrap());
    store.give_back(key, T0).await.unwrap();
    assert!(
        store.hit(key, 2, 60, T0).await.unwrap(),
        "the slot given back"
    );
    // Never below zero: giving back more than was counted frees nothing extra.
    let other = &counter("give-back-2");
    store.give_back(other, T0).await.unwrap();
    assert!(store.hit(other, 1, 60, T0).await.unwrap());
    store.give_back(other, T0).await.unwrap();
    store.give_back(other, T0).await.unwrap();
    assert!(store.hit(other, 1, 60, T0).await.unwrap());
    assert!(!store.hit(other, 1, 60, T0).await.unwrap());
    // After the window nothing is given back into the next one.
    let late = T0.plus_secs(61);
    store.give_back(key, late).await.unwrap();
    assert!(store.hit(key, 1, 60, late).await.unwrap());
    assert!(!store.hit(key, 1, 60, late).await.unwrap());
}
