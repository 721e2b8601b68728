//! The Lambdas' config source: the stored document, cached per container.

use std::sync::Arc;

use authgate_adapters::memory::MemoryStore;
use authgate_adapters::secrets::MemorySecrets;
use authgate_core::config::{fill_secrets, AppConfig};
use authgate_core::ports::{ConfigStore, Store};
use authgate_http::config_source::{CachedStoreConfig, ConfigSource};
use authgate_tests::ManualClock;
use serde_json::json;

fn doc(app_name: &str) -> serde_json::Value {
    let mut d = AppConfig::default_document();
    d["meta"]["appName"] = json!(app_name);
    fill_secrets(&mut d, None, &authgate_adapters::system::OsRandom);
    d
}

#[tokio::test]
async fn the_config_is_reread_only_after_its_ttl_and_a_bad_refresh_keeps_the_last_good_one() {
    let store = Arc::new(MemoryStore::new());
    let clock = Arc::new(ManualClock::new());
    let source = CachedStoreConfig::new(
        store.clone() as Arc<dyn Store>,
        Arc::new(MemorySecrets::new()),
        clock.clone(),
        30,
    );

    assert!(
        source.current().await.is_err(),
        "no document yet: a clear error"
    );
    store.save_config(&doc("A")).await.unwrap();
    assert_eq!(source.current().await.unwrap().meta.app_name, "A");

    store.save_config(&doc("B")).await.unwrap();
    clock.advance_secs(29);
    assert_eq!(
        source.current().await.unwrap().meta.app_name,
        "A",
        "cached within the TTL"
    );
    clock.advance_secs(2);
    assert_eq!(
        source.current().await.unwrap().meta.app_name,
        "B",
        "re-read after it"
    );

    store
        .save_config(
            &json!({"collections": [{"name": "x", "type": "auth", "otp": {"duration": 1}}]}),
        )
        .await
        .unwrap();
    clock.advance_secs(31);
    assert_eq!(
        source.current().await.unwrap().meta.app_name,
        "B",
        "an invalid document is not served"
    );
}
