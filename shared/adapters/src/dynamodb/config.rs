//! The collections config document: one item, read by every Lambda container
//! (which caches it), written by the `authgate` CLI (`authgate apply`).

use async_trait::async_trait;
use authgate_core::ports::{ConfigStore, StoreError, StoreResult};

use super::codec::{get_s, s};
use super::DynamoStore;

/// The attribute holding the document as JSON text.
const DOC: &str = "doc";

#[async_trait]
impl ConfigStore for DynamoStore {
    async fn load_config(&self) -> StoreResult<Option<serde_json::Value>> {
        let Some(item) = self.get_item("GetItem(config)", self.config_key()).await? else {
            return Ok(None);
        };
        let doc = get_s(&item, DOC)?;
        serde_json::from_str(&doc)
            .map(Some)
            .map_err(|e| StoreError::Backend(format!("stored config is not JSON: {e}")))
    }

    async fn save_config(&self, config: &serde_json::Value) -> StoreResult<()> {
        let doc = serde_json::to_string(config)
            .map_err(|e| StoreError::Backend(format!("cannot encode config: {e}")))?;
        let mut item = self.config_key();
        item.insert(DOC.into(), s(doc));
        self.put_item("PutItem(config)", item).await
    }
}
