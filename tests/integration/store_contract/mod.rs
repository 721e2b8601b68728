//! The store contract: one suite, written once against `dyn Store`, run
//! against the in-memory store, `SqliteStore` (a fresh file in a temp
//! directory per test) and `DynamoStore` on moto.
//!
//! The DynamoDB half needs moto at `AUTHGATE_TEST_MOTO` (e.g.
//! `http://127.0.0.1:5000`); `make test` starts it. Every test gets its own
//! table, so tests run in parallel without seeing each other.
//!
//! One file per store port: records, counters, OTPs and MFA sessions,
//! external auths, the config document.

mod config;
mod counters;
mod external_auths;
mod otps_and_mfa;
mod records;

use std::future::Future;
use std::sync::Arc;

use authgate_adapters::memory::MemoryStore;
use authgate_core::model::{Record, Timestamp, UniqueKey};
use authgate_core::ports::{Store, StoreError, StoreResult};

use config::*;
use counters::*;
use external_auths::*;
use otps_and_mfa::*;
use records::*;

fn memory_store() -> Arc<dyn Store> {
    Arc::new(MemoryStore::new())
}

fn sqlite_store() -> Arc<dyn Store> {
    authgate_tests::sqlite_store()
}

async fn dynamo_store() -> Arc<dyn Store> {
    authgate_tests::dynamo_store().await
}

/// Defines every contract test three times: `memory::<name>`,
/// `sqlite::<name>` and `dynamodb::<name>`.
macro_rules! contract {
    ($($name:ident),* $(,)?) => {
        mod memory {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::$name(super::memory_store()).await;
                }
            )*
        }
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::$name(super::sqlite_store()).await;
                }
            )*
        }
        mod dynamodb {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::$name(super::dynamo_store().await).await;
                }
            )*
        }
    };
}

contract!(
    an_inserted_record_reads_back_by_id_and_by_each_unique_value,
    inserting_a_taken_unique_value_conflicts_and_writes_nothing,
    inserting_an_existing_record_id_conflicts_on_id,
    concurrent_inserts_of_one_email_have_exactly_one_winner,
    updating_a_unique_value_releases_the_old_one_and_claims_the_new_one,
    updating_to_a_taken_unique_value_conflicts_and_changes_nothing,
    updating_from_a_stale_version_fails_and_changes_nothing,
    deleting_a_record_releases_its_unique_values_unless_it_changed,
    deleting_a_record_removes_its_oauth2_links_and_only_its_own,
    a_counter_allows_limit_hits_per_window_and_starts_a_new_window_after_it,
    concurrent_counter_hits_allow_exactly_the_limit,
    a_hit_given_back_frees_its_slot_only_in_a_live_window,
    an_otp_is_consumed_once_and_only_with_the_right_code_before_expiry,
    concurrent_otp_consumes_have_exactly_one_winner,
    an_mfa_session_is_consumed_once_and_only_by_its_record_before_expiry,
    concurrent_mfa_consumes_have_exactly_one_winner,
    external_auths_are_found_listed_and_deleted_and_unique_per_identity,
    the_config_document_round_trips,
);

const COLL: &str = "_pb_users_auth_";
const T0: Timestamp = Timestamp(1_764_000_000_000);

fn record(id: &str, email: &str) -> Record {
    Record {
        id: id.to_owned(),
        collection_id: COLL.to_owned(),
        email: email.to_owned(),
        email_visibility: false,
        verified: false,
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".to_owned(),
        token_key: format!("tk-{id}"),
        created: T0,
        updated: T0,
        fields: serde_json::Map::new(),
        version: 1,
    }
}

fn email_key(email: &str) -> UniqueKey {
    UniqueKey::new("email", email)
}

fn is_conflict_on(err: &StoreError, expected: &str) -> bool {
    matches!(err, StoreError::Conflict { field } if field == expected)
}

/// Runs `n` copies of `op` at once; how many answered `Ok(true)`.
async fn wins<F, Fut>(n: usize, op: F) -> usize
where
    F: Fn() -> Fut,
    Fut: Future<Output = StoreResult<bool>> + Send + 'static,
{
    let tasks: Vec<_> = (0..n).map(|_| tokio::spawn(op())).collect();
    let mut won = 0;
    for task in tasks {
        if task.await.unwrap().unwrap() {
            won += 1;
        }
    }
    won
}
