//! OTPs and MFA sessions on DynamoDB: stored with one `PutItem`, read with
//! one consistent `GetItem`, consumed with one conditional `DeleteItem`,
//! written once here for any [`SingleUse`] kind.

use authgate_core::model::Timestamp;
use authgate_core::ports::StoreResult;

use super::codec::{n, s, ttl_seconds, SingleUse, EXPIRES_AT_MS};
use super::{Condition, DynamoStore, Item, TTL_ATTRIBUTE};
use crate::single_use::single_use_ports;

impl DynamoStore {
    async fn insert_single_use<T: SingleUse>(&self, value: &T) -> StoreResult<()> {
        self.put_item(&op::<T>("PutItem"), self.single_use_item(value))
            .await
    }

    /// The whole stored item of `value`: key, attributes, TTL.
    pub(super) fn single_use_item<T: SingleUse>(&self, value: &T) -> Item {
        let slot = value.slot();
        let mut item = self.single_use_key(T::KIND, slot.collection_id, slot.id);
        item.extend(value.attributes());
        item.insert(TTL_ATTRIBUTE.to_owned(), n(ttl_seconds(slot.expires_at)));
        item
    }

    /// Returns the item even when expired: the services check expiry
    /// themselves (and the TTL may not have run yet).
    async fn get_single_use<T: SingleUse>(
        &self,
        collection_id: &str,
        id: &str,
    ) -> StoreResult<Option<T>> {
        let key = self.single_use_key(T::KIND, collection_id, id);
        self.get_item(&op::<T>("GetItem"), key)
            .await?
            .map(|item| T::decode(&item))
            .transpose()
    }

    /// Deletes the item if its guard attribute equals `guard` and it has not
    /// expired at `now`. Single use under concurrency comes from the
    /// condition being checked by the one `DeleteItem`, never from a read
    /// before it; expiry is in the condition because TTL is lazy.
    async fn consume_single_use<T: SingleUse>(
        &self,
        collection_id: &str,
        id: &str,
        guard: &str,
        now: Timestamp,
    ) -> StoreResult<bool> {
        let condition = Condition::new(&format!(
            "attribute_exists(pk) AND {} = :guard AND {EXPIRES_AT_MS} > :now",
            T::GUARD
        ))
        .value(":guard", s(guard))
        .value(":now", n(now.0));
        let key = self.single_use_key(T::KIND, collection_id, id);
        self.conditional_delete(&op::<T>("DeleteItem"), key, condition)
            .await
    }
}

/// `PutItem(otp)` and the like, for error messages.
fn op<T: SingleUse>(call: &str) -> String {
    format!("{call}({})", T::KIND.to_ascii_lowercase())
}

single_use_ports!(DynamoStore);
