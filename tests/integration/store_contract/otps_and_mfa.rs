//! OTPs and MFA sessions: consumed once, only by the right code or
//! record, before expiry; one winner under concurrency.

use std::sync::Arc;

use authgate_core::model::{MfaSession, Otp};
use authgate_core::ports::Store;

use super::{wins, COLL, T0};

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

pub(super) async fn an_otp_is_consumed_once_and_only_with_the_right_code_before_expiry(
    store: Arc<dyn Store>,
) {
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

pub(super) async fn concurrent_otp_consumes_have_exactly_one_winner(store: Arc<dyn Store>) {
    let o = otp("otpraceaaaaaaaa");
    store.insert_otp(&o).await.unwrap();
    let won = wins(10, || {
        let store = store.clone();
        let o = o.clone();
        async move {
            store
                .consume_otp(COLL, &o.id, &o.code_hash, T0.plus_secs(1))
                .await
        }
    })
    .await;
    assert_eq!(won, 1);
}

fn mfa(id: &str) -> MfaSession {
    MfaSession {
        id: id.to_owned(),
        collection_id: COLL.to_owned(),
        record_id: "owneraaaaaaaaaa".to_owned(),
        method: authgate_core::model::AuthMethod::Password,
        created: T0,
        expires_at: T0.plus_secs(300),
    }
}

pub(super) async fn an_mfa_session_is_consumed_once_and_only_by_its_record_before_expiry(
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

pub(super) async fn concurrent_mfa_consumes_have_exactly_one_winner(store: Arc<dyn Store>) {
    let m = mfa("mfaraceaaaaaaaa");
    store.insert_mfa(&m).await.unwrap();
    let won = wins(10, || {
        let store = store.clone();
        let m = m.clone();
        async move {
            store
                .consume_mfa(COLL, &m.id, &m.record_id, T0.plus_secs(1))
                .await
        }
    })
    .await;
    assert_eq!(won, 1);
}
