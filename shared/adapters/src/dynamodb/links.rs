//! OAuth2 identity links. Each link is two items written in one transaction:
//! one by provider identity (`EXT#…`, whose `attribute_not_exists` claim
//! makes an identity linkable to one record only) and one in the record's
//! partition (`RECEXT#…`), so a record's links are one `Query`, not a scan.

use async_trait::async_trait;
use authgate_core::model::ExternalAuth;
use authgate_core::ports::{ExternalAuthStore, StoreError, StoreResult};

use super::codec::{decode_external, external_attributes, s};
use super::{free_or_owned_by, not_exists, sdk_error, DynamoStore, Item};

#[async_trait]
impl ExternalAuthStore for DynamoStore {
    async fn find_external_auth(
        &self,
        collection_id: &str,
        provider: &str,
        provider_id: &str,
    ) -> StoreResult<Option<ExternalAuth>> {
        self.get_item(
            "GetItem(external auth)",
            self.external_key(collection_id, provider, provider_id),
        )
        .await?
        .map(|item| decode_external(&item))
        .transpose()
    }

    async fn insert_external_auth(&self, link: &ExternalAuth) -> StoreResult<()> {
        let mut by_identity =
            self.external_key(&link.collection_id, &link.provider, &link.provider_id);
        by_identity.extend(external_attributes(link));
        let mut by_record = self.record_external_key(link);
        by_record.extend(external_attributes(link));
        let items = vec![
            self.put(by_identity, Some(not_exists()))?,
            self.put(by_record, None)?,
        ];
        match self
            .transact("TransactWriteItems(insert external auth)", items)
            .await?
        {
            None => Ok(()),
            Some(_) => Err(StoreError::Conflict {
                field: "provider".into(),
            }),
        }
    }

    async fn list_external_auths(
        &self,
        collection_id: &str,
        record_id: &str,
    ) -> StoreResult<Vec<ExternalAuth>> {
        let mut links = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk")
                .expression_attribute_values(
                    ":pk",
                    s(self.record_external_pk(collection_id, record_id)),
                )
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| sdk_error("Query(external auths of record)", &e))?;
            for item in out.items() {
                links.push(decode_external(item)?);
            }
            start = out.last_evaluated_key;
            if start.is_none() {
                return Ok(links);
            }
        }
    }

    async fn delete_external_auth(&self, link: &ExternalAuth) -> StoreResult<()> {
        // The identity item is only deleted if it still belongs to this record,
        // so a stale `link` can't unlink someone else; this record's index item
        // goes either way.
        let identity = self.delete(
            self.external_key(&link.collection_id, &link.provider, &link.provider_id),
            Some(free_or_owned_by(&link.record_id)),
        )?;
        let index = self.delete(self.record_external_key(link), None)?;
        let op = "TransactWriteItems(delete external auth)";
        if self
            .transact(op, vec![identity, index.clone()])
            .await?
            .is_some()
        {
            self.transact(op, vec![index]).await?;
        }
        Ok(())
    }
}
