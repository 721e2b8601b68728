//! Table creation, for the tests and `authgate serve --dynamodb`; in AWS the
//! SAM template creates the table.

use std::time::Duration;

use authgate_core::ports::{StoreError, StoreResult};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType, TableStatus,
    TimeToLiveSpecification, TimeToLiveStatus,
};

use super::{build_error, sdk_error, DynamoStore, TTL_ATTRIBUTE};

impl DynamoStore {
    /// Creates the table (on-demand billing, `pk`/`sk` string keys) and
    /// enables TTL on `expiresAt`. Idempotent: an existing table or an already
    /// enabled TTL is fine. Waits until the table is active.
    pub async fn create_table(&self) -> StoreResult<()> {
        self.create_table_if_missing().await?;
        // Real DynamoDB takes a few seconds to create a table; TTL can only be
        // set on an active one.
        self.wait_until_active().await?;
        self.enable_ttl().await
    }

    async fn create_table_if_missing(&self) -> StoreResult<()> {
        let attr = |name: &str| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .map_err(build_error)
        };
        let key = |name: &str, key_type: KeyType| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(key_type)
                .build()
                .map_err(build_error)
        };
        let created = self
            .client
            .create_table()
            .table_name(&self.table)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(attr("pk")?)
            .attribute_definitions(attr("sk")?)
            .key_schema(key("pk", KeyType::Hash)?)
            .key_schema(key("sk", KeyType::Range)?)
            .send()
            .await;
        if let Err(err) = created {
            let in_use = err
                .as_service_error()
                .is_some_and(|e| e.is_resource_in_use_exception());
            if !in_use {
                return Err(sdk_error("CreateTable", &err));
            }
        }
        Ok(())
    }

    async fn wait_until_active(&self) -> StoreResult<()> {
        for _ in 0..120 {
            let described = self
                .client
                .describe_table()
                .table_name(&self.table)
                .send()
                .await
                .map_err(|e| sdk_error("DescribeTable", &e))?;
            if described.table().and_then(|t| t.table_status()) == Some(&TableStatus::Active) {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        Err(StoreError::Backend(format!(
            "table {} did not become active within 60 s",
            self.table
        )))
    }

    async fn enable_ttl(&self) -> StoreResult<()> {
        // UpdateTimeToLive fails when TTL is already enabled, so look first.
        let ttl = self
            .client
            .describe_time_to_live()
            .table_name(&self.table)
            .send()
            .await
            .map_err(|e| sdk_error("DescribeTimeToLive", &e))?;
        let status = ttl
            .time_to_live_description()
            .and_then(|d| d.time_to_live_status());
        if matches!(
            status,
            Some(TimeToLiveStatus::Enabled | TimeToLiveStatus::Enabling)
        ) {
            return Ok(());
        }
        let spec = TimeToLiveSpecification::builder()
            .enabled(true)
            .attribute_name(TTL_ATTRIBUTE)
            .build()
            .map_err(build_error)?;
        self.client
            .update_time_to_live()
            .table_name(&self.table)
            .time_to_live_specification(spec)
            .send()
            .await
            .map_err(|e| sdk_error("UpdateTimeToLive", &e))?;
        Ok(())
    }
}
