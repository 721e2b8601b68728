//! OTPs and MFA sessions are one thing to a store: an expiring item, read
//! freely, consumed at most once by a caller who presents the right value
//! before it expires. Each store implements that once, generic over
//! [`SingleUseItem`], and [`single_use_ports!`] turns it into the two ports.

use authgate_core::model::{MfaSession, Otp, Timestamp};

/// Where a single-use item is kept, until when, and what consuming it takes.
pub(crate) struct Slot<'a> {
    pub collection_id: &'a str,
    pub id: &'a str,
    /// Consuming at or after this instant fails. Exact, unlike a TTL.
    pub expires_at: Timestamp,
    /// The value a consumer must present.
    pub guard: &'a str,
}

pub(crate) trait SingleUseItem {
    fn slot(&self) -> Slot<'_>;
}

impl SingleUseItem for Otp {
    fn slot(&self) -> Slot<'_> {
        Slot {
            collection_id: &self.collection_id,
            id: &self.id,
            expires_at: self.expires_at,
            // Proof that the caller received the mailed code.
            guard: &self.code_hash,
        }
    }
}

impl SingleUseItem for MfaSession {
    fn slot(&self) -> Slot<'_> {
        Slot {
            collection_id: &self.collection_id,
            id: &self.id,
            expires_at: self.expires_at,
            // The second factor must be completed by the record that passed
            // the first.
            guard: &self.record_id,
        }
    }
}

/// Implements `OtpStore` and `MfaStore` for a store by delegating to its
/// generic `insert_single_use`, `get_single_use` and `consume_single_use`
/// (async methods whose `guard` is [`Slot::guard`]): the two ports differ only
/// in the item type.
macro_rules! single_use_ports {
    ($store:ty) => {
        $crate::single_use::single_use_ports!(@port $store,
            ::authgate_core::ports::OtpStore, ::authgate_core::model::Otp,
            insert_otp, get_otp, consume_otp);
        $crate::single_use::single_use_ports!(@port $store,
            ::authgate_core::ports::MfaStore, ::authgate_core::model::MfaSession,
            insert_mfa, get_mfa, consume_mfa);
    };
    (@port $store:ty, $port:path, $item:ty, $insert:ident, $get:ident, $consume:ident) => {
        #[::async_trait::async_trait]
        impl $port for $store {
            async fn $insert(&self, item: &$item) -> ::authgate_core::ports::StoreResult<()> {
                self.insert_single_use(item).await
            }

            async fn $get(
                &self,
                collection_id: &str,
                id: &str,
            ) -> ::authgate_core::ports::StoreResult<Option<$item>> {
                self.get_single_use(collection_id, id).await
            }

            async fn $consume(
                &self,
                collection_id: &str,
                id: &str,
                guard: &str,
                now: ::authgate_core::model::Timestamp,
            ) -> ::authgate_core::ports::StoreResult<bool> {
                self.consume_single_use::<$item>(collection_id, id, guard, now)
                    .await
            }
        }
    };
}

pub(crate) use single_use_ports;
