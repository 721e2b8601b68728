//! Test harness shared by the integration-test modules.
//!
//! - [`app`]: spawn the real router on a free port and talk to it.
//! - [`mail`]: read sent mail back (tokens of links, OTP codes).
//! - [`emulators`]: moto, aws-ses-v2-local and the OAuth2 mock: their
//!   addresses, SDK clients and the adapters pointed at them.
//! - [`fakes`]: a movable clock, a failing mailer, a faulty store, forged tokens.
//! - [`names`]: unique names, emails and temp paths.
//! - [`stores`]: a SQLite store on a fresh file.
//! - [`logs`]: capture of everything the process logs.
//! - [`pocketbase`]: the real PocketBase on a free port (the importer's source).
//! - [`workspace`]: the repository root, built binaries, node scripts.

pub mod app;
pub mod emulators;
pub mod fakes;
pub mod logs;
pub mod mail;
pub mod names;
pub mod pocketbase;
pub mod stores;
pub mod workspace;

pub use app::{config_with, merge_keys, Options, TestApp};
pub use emulators::{
    dynamo_store, dynamodb_client, moto_secrets, moto_url, oauth2_mock_url, require_env,
    secrets_client, ses_client, ses_mailer, ses_mails_to, ses_url,
};
pub use fakes::{forged_jwt, jwt_segment, FailingMailer, FaultyStore, ManualClock};
pub use logs::{captured_logs, init_logs};
pub use mail::{otp_code, read_mails, token_after, Mail};
pub use names::{temp_dir, temp_path, unique, unique_email};
pub use stores::sqlite_store;
pub use workspace::{bin_dir, repo_root, run_node, LocalServer};
