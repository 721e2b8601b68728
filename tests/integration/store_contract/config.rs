//! The config document.

use std::sync::Arc;

use authgate_core::ports::Store;
use serde_json::json;

use super::COLL;

pub(super) async fn the_config_document_round_trips(store: Arc<dyn Store>) {
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
