//! Item ⇄ model mapping: the attribute names and types of every item (keys
//! aside, see [`super::keys`]). A missing or mistyped attribute is a
//! [`StoreError::Backend`], never a panic: the table may have been edited by
//! hand.

use std::collections::HashMap;

use authgate_core::model::{
    AuthMethod, ExternalAuth, MfaSession, Otp, Record, Timestamp, UniqueKey,
};
use authgate_core::ports::{StoreError, StoreResult};
use aws_sdk_dynamodb::types::AttributeValue;

use super::Item;
use crate::single_use::SingleUseItem;

type Attributes = Vec<(String, AttributeValue)>;

/// Everything of a record item but its key.
pub(super) fn record_attributes(record: &Record, unique: &[UniqueKey]) -> StoreResult<Attributes> {
    // One JSON string rather than a map: the custom fields are opaque to the
    // store and JSON round-trips every value exactly.
    let fields = serde_json::to_string(&record.fields)
        .map_err(|e| StoreError::Backend(format!("cannot encode record fields: {e}")))?;
    Ok(vec![
        ("id".to_owned(), s(&record.id)),
        ("collectionId".to_owned(), s(&record.collection_id)),
        ("email".to_owned(), s(&record.email)),
        (
            "emailVisibility".to_owned(),
            AttributeValue::Bool(record.email_visibility),
        ),
        ("verified".to_owned(), AttributeValue::Bool(record.verified)),
        ("passwordHash".to_owned(), s(&record.password_hash)),
        ("tokenKey".to_owned(), s(&record.token_key)),
        ("created".to_owned(), n(record.created.0)),
        ("updated".to_owned(), n(record.updated.0)),
        ("fields".to_owned(), s(fields)),
        ("version".to_owned(), n(record.version)),
        (
            // Informational (repair, debugging): updates diff the unique keys
            // the service passes in, not these.
            "uniqueKeys".to_owned(),
            AttributeValue::L(
                unique
                    .iter()
                    .map(|k| {
                        AttributeValue::M(HashMap::from([
                            ("field".to_owned(), s(&k.field)),
                            ("value".to_owned(), s(&k.value)),
                        ]))
                    })
                    .collect(),
            ),
        ),
    ])
}

pub(super) fn decode_record(item: &Item) -> StoreResult<Record> {
    let fields = get_s(item, "fields")?;
    let fields = serde_json::from_str(&fields).map_err(|e| {
        StoreError::Backend(format!("stored record fields are not a JSON object: {e}"))
    })?;
    Ok(Record {
        id: get_s(item, "id")?,
        collection_id: get_s(item, "collectionId")?,
        email: get_s(item, "email")?,
        email_visibility: get_bool(item, "emailVisibility")?,
        verified: get_bool(item, "verified")?,
        password_hash: get_s(item, "passwordHash")?,
        token_key: get_s(item, "tokenKey")?,
        created: Timestamp(get_n(item, "created")?),
        updated: Timestamp(get_n(item, "updated")?),
        fields,
        version: get_n(item, "version")?,
    })
}

/// Everything of a unique marker but its key. The full `value` is kept even
/// when the key holds its hash.
pub(super) fn marker_attributes(key: &UniqueKey, record_id: &str) -> [(String, AttributeValue); 3] {
    [
        ("recordId".to_owned(), s(record_id)),
        ("field".to_owned(), s(&key.field)),
        ("value".to_owned(), s(&key.value)),
    ]
}

/// The owner of a unique marker.
pub(super) fn marker_record_id(marker: &Item) -> StoreResult<String> {
    get_s(marker, "recordId")
}

/// Everything of both OAuth2 link items (by identity, by record) but the key.
pub(super) fn external_attributes(link: &ExternalAuth) -> [(String, AttributeValue); 5] {
    [
        ("collectionId".to_owned(), s(&link.collection_id)),
        ("recordId".to_owned(), s(&link.record_id)),
        ("provider".to_owned(), s(&link.provider)),
        ("providerId".to_owned(), s(&link.provider_id)),
        ("created".to_owned(), n(link.created.0)),
    ]
}

pub(super) fn decode_external(item: &Item) -> StoreResult<ExternalAuth> {
    Ok(ExternalAuth {
        collection_id: get_s(item, "collectionId")?,
        record_id: get_s(item, "recordId")?,
        provider: get_s(item, "provider")?,
        provider_id: get_s(item, "providerId")?,
        created: Timestamp(get_n(item, "created")?),
    })
}

/// The exact expiry (epoch milliseconds) that consumption checks. The TTL
/// attribute next to it only garbage-collects, and late: DynamoDB keeps
/// expired items for up to days, the emulators for ever.
pub(super) const EXPIRES_AT_MS: &str = "expiresAtMs";

/// How one kind of single-use item is stored; the codecs live with the
/// others in `codec.rs`.
pub(super) trait SingleUse: SingleUseItem + Sized {
    /// Key prefix and sort key (`OTP`, `MFA`), lower-cased in error messages.
    const KIND: &'static str;
    /// The attribute holding [`crate::single_use::Slot::guard`].
    const GUARD: &'static str;

    /// Every attribute but the key and the TTL; the expiry as
    /// [`EXPIRES_AT_MS`].
    fn attributes(&self) -> Vec<(String, AttributeValue)>;

    fn decode(item: &Item) -> StoreResult<Self>;
}

impl SingleUse for Otp {
    const KIND: &'static str = "OTP";
    const GUARD: &'static str = "codeHash";

    fn attributes(&self) -> Attributes {
        vec![
            ("id".to_owned(), s(&self.id)),
            ("collectionId".to_owned(), s(&self.collection_id)),
            ("recordId".to_owned(), s(&self.record_id)),
            ("codeHash".to_owned(), s(&self.code_hash)),
            ("sentTo".to_owned(), s(&self.sent_to)),
            ("created".to_owned(), n(self.created.0)),
            (EXPIRES_AT_MS.to_owned(), n(self.expires_at.0)),
        ]
    }

    fn decode(item: &Item) -> StoreResult<Self> {
        Ok(Otp {
            id: get_s(item, "id")?,
            collection_id: get_s(item, "collectionId")?,
            record_id: get_s(item, "recordId")?,
            code_hash: get_s(item, "codeHash")?,
            sent_to: get_s(item, "sentTo")?,
            created: Timestamp(get_n(item, "created")?),
            expires_at: Timestamp(get_n(item, EXPIRES_AT_MS)?),
        })
    }
}

impl SingleUse for MfaSession {
    const KIND: &'static str = "MFA";
    const GUARD: &'static str = "recordId";

    fn attributes(&self) -> Attributes {
        vec![
            ("id".to_owned(), s(&self.id)),
            ("collectionId".to_owned(), s(&self.collection_id)),
            ("recordId".to_owned(), s(&self.record_id)),
            (MFA_METHOD.to_owned(), encode_mfa_method(self.method)),
            ("created".to_owned(), n(self.created.0)),
            (EXPIRES_AT_MS.to_owned(), n(self.expires_at.0)),
        ]
    }

    fn decode(item: &Item) -> StoreResult<Self> {
        Ok(MfaSession {
            id: get_s(item, "id")?,
            collection_id: get_s(item, "collectionId")?,
            record_id: get_s(item, "recordId")?,
            method: decode_mfa_method(item)?,
            created: Timestamp(get_n(item, "created")?),
            expires_at: Timestamp(get_n(item, EXPIRES_AT_MS)?),
        })
    }
}

/// The attribute holding an MFA session's first-factor method, stored by name
/// (`password`, `otp`, `oauth2`). These two functions are the only code that
/// knows the method's Rust type.
const MFA_METHOD: &str = "method";

fn encode_mfa_method(method: AuthMethod) -> AttributeValue {
    s(method.as_str())
}

fn decode_mfa_method(item: &Item) -> StoreResult<AuthMethod> {
    AuthMethod::parse(&get_s(item, MFA_METHOD)?).ok_or_else(|| malformed(MFA_METHOD))
}

pub(super) fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

pub(super) fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

/// TTL in whole epoch seconds, rounded up so an item is never collected
/// before it expires.
pub(super) fn ttl_seconds(at: Timestamp) -> i64 {
    at.0.div_euclid(1000) + i64::from(at.0.rem_euclid(1000) != 0)
}

fn malformed(name: &str) -> StoreError {
    StoreError::Backend(format!(
        "malformed item: attribute {name} missing or of the wrong type"
    ))
}

pub(super) fn get_s(item: &Item, name: &str) -> StoreResult<String> {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .cloned()
        .ok_or_else(|| malformed(name))
}

pub(super) fn get_n<T: std::str::FromStr>(item: &Item, name: &str) -> StoreResult<T> {
    item.get(name)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| malformed(name))
}

fn get_bool(item: &Item, name: &str) -> StoreResult<bool> {
    item.get(name)
        .and_then(|v| v.as_bool().ok())
        .copied()
        .ok_or_else(|| malformed(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttl_rounds_up_to_the_next_second() {
        assert_eq!(ttl_seconds(Timestamp(1_000)), 1);
        assert_eq!(ttl_seconds(Timestamp(1_001)), 2);
        assert_eq!(ttl_seconds(Timestamp(0)), 0);
    }
}
