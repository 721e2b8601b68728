//! Authgate's one integration-test binary: a module per endpoint (a folder
//! where an endpoint family has several concerns), plus the store contract,
//! mail adapters, outbox, SDK compatibility, Lambda and security suites. Shared
//! helpers live in the `authgate_tests` support library (tests/support).

mod auth_alert;
mod auth_methods;
mod auth_refresh;
mod auth_with_password;
mod cli;
mod config_cache;
mod iam_policies;
mod lambda;
mod lambda_rate_limits;
mod local_store;
mod mail_adapters;
mod mail_flows;
mod mailer;
mod mfa;
mod oauth2;
mod otp;
mod outbox;
mod rate_limits;
mod records_create;
mod sdk;
mod secrets;
mod security;
mod self_service;
mod store_contract;
