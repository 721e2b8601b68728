//! Key formats. Every `pk`/`sk` the store reads or writes is built here, so
//! the item table in `docs/dynamodb.md` can be checked against one file.
//!
//! Every `pk` is the store's prefix, then the item kind (`REC#`, `UNQ#`, …).
//! Collection ids, field names and provider names contain no `#` and the
//! free-form value comes last, so a value containing `#` cannot make one key
//! look like another.

use std::collections::HashMap;

use authgate_core::model::{ExternalAuth, UniqueKey};
use sha2::{Digest, Sha256};

use super::codec::s;
use super::{DynamoStore, Item};

/// Unique values longer than this are replaced by their SHA-256 in marker keys,
/// because a DynamoDB partition key may not exceed 2048 bytes.
const MAX_INLINE_UNIQUE_VALUE: usize = 1024;

/// The partition key prefix of outbox items (after the table prefix): the
/// mailer's stream filter matches on it.
pub const OUTBOX: &str = "OUTBOX#";

/// DynamoDB's limit on partition key values.
const MAX_PARTITION_KEY_BYTES: usize = 2048;

impl DynamoStore {
    fn pk(&self, rest: &str) -> String {
        format!("{}{}", self.prefix, rest)
    }

    fn key(&self, pk_rest: &str, sk: &str) -> Item {
        HashMap::from([
            ("pk".to_owned(), s(self.pk(pk_rest))),
            ("sk".to_owned(), s(sk)),
        ])
    }

    pub(super) fn record_key(&self, collection_id: &str, id: &str) -> Item {
        self.key(&format!("REC#{collection_id}#{id}"), "REC")
    }

    pub(super) fn unique_key(&self, collection_id: &str, key: &UniqueKey) -> Item {
        let value = if key.value.len() > MAX_INLINE_UNIQUE_VALUE {
            format!("sha256:{}", hex(&Sha256::digest(key.value.as_bytes())))
        } else {
            key.value.clone()
        };
        self.key(&format!("UNQ#{collection_id}#{}#{value}", key.field), "UNQ")
    }

    pub(super) fn counter_key(&self, key: &str) -> Item {
        self.key(&format!("CNT#{key}"), "CNT")
    }

    /// `{kind}#{collection}#{id}` / `{kind}`, where `kind` is `OTP` or `MFA`.
    pub(super) fn single_use_key(&self, kind: &str, collection_id: &str, id: &str) -> Item {
        self.key(&format!("{kind}#{collection_id}#{id}"), kind)
    }

    pub(super) fn external_key(
        &self,
        collection_id: &str,
        provider: &str,
        provider_id: &str,
    ) -> Item {
        self.key(
            &format!("EXT#{collection_id}#{provider}#{provider_id}"),
            "EXT",
        )
    }

    /// The partition holding one item per OAuth2 link of a record, so that
    /// listing them is one `Query` instead of a scan.
    pub(super) fn record_external_pk(&self, collection_id: &str, record_id: &str) -> String {
        self.pk(&format!("RECEXT#{collection_id}#{record_id}"))
    }

    pub(super) fn record_external_key(&self, link: &ExternalAuth) -> Item {
        HashMap::from([
            (
                "pk".to_owned(),
                s(self.record_external_pk(&link.collection_id, &link.record_id)),
            ),
            (
                "sk".to_owned(),
                s(format!("{}#{}", link.provider, link.provider_id)),
            ),
        ])
    }

    pub(super) fn outbox_key(&self, id: &str) -> Item {
        self.key(&format!("{OUTBOX}{id}"), "OUTBOX")
    }

    pub(super) fn config_key(&self) -> Item {
        self.key("CONFIG", "CONFIG")
    }
}

/// Whether `key`'s partition key is longer than DynamoDB accepts (so it cannot
/// name a stored item).
pub(super) fn exceeds_partition_key_limit(key: &Item) -> bool {
    key.get("pk")
        .and_then(|v| v.as_s().ok())
        .is_some_and(|pk| pk.len() > MAX_PARTITION_KEY_BYTES)
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut out, b| {
            let _ = write!(out, "{b:02x}");
            out
        })
}
