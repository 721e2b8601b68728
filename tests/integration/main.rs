//! Authgate's one integration-test binary.

mod mail_adapters;
mod store_contract;
