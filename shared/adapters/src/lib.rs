//! Adapters for the ports of `authgate-core`.
//!
//! - [`memory`]: the throwaway store (`authgate serve --memory`, tests).
//! - [`dynamodb`]: the production store (single table, transactional unique markers).
//! - `sqlite` (feature `sqlite`): the local store of `authgate serve`, one
//!   SQLite file with the DynamoDB store's semantics.
//! - [`ses`]: the production mailer (SES v2 `SendEmail`).
//! - [`mailbox`]: the local mailer writing `.eml` files.
//! - [`secrets_manager`]: the production secret store (AWS Secrets Manager).
//! - [`secrets`]: the local (0600 file) and in-memory secret stores.
//! - [`system`]: the real clock and CSPRNG.
//! - [`oauth2`]: the OAuth2 HTTP client (code exchange, user info).

pub mod aws;
pub mod dynamodb;
pub mod mailbox;
pub mod memory;
pub mod oauth2;
pub mod secrets;
pub mod secrets_manager;
pub mod ses;
mod single_use;
#[cfg(feature = "sqlite")]
pub mod sqlite;
pub mod system;
