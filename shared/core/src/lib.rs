//! Authgate's domain core.
//!
//! Everything here is pure: no AWS SDK, no HTTP types, no global clock or
//! random source. Adapters implement the [`ports`]; the HTTP layer turns
//! [`error::Error`] into PocketBase's error envelope in exactly one place.

pub mod config;
pub mod email;
pub mod error;
pub mod form;
pub mod mail;
pub mod model;
pub mod oauth2;
pub mod password;
pub mod ports;
pub mod random;
pub mod sealed;
pub mod secret;
pub mod service;
pub mod token;
pub mod validate;

pub use error::{Error, FieldError, FieldErrors};
