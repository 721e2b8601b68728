//! Request forms: the rule helpers every endpoint's `validate()` is built
//! from, with PocketBase's (ozzo-validation's) codes and messages, and the
//! newtypes client input arrives in.

use serde::Deserialize;
use serde_json::json;

use crate::error::{Error, FieldError, FieldErrors, Result};

/// PocketBase's message for a form that failed validation.
pub const VALIDATION_FAILED: &str = "An error occurred while validating the submitted data.";

/// A whole form's validation failures; `Ok` when there are none.
pub fn check(errors: FieldErrors) -> Result<()> {
    if errors.is_empty() {
        Ok(())
    } else {
        Err(Error::validation(VALIDATION_FAILED, errors))
    }
}

/// A single-field validation failure with PocketBase's form message.
pub fn invalid(field: &str, error: FieldError) -> Error {
    Error::field(VALIDATION_FAILED, field, error)
}

/// ozzo-validation's `Length(min, max)` failure as PocketBase renders it.
pub fn length_out_of_range(min: usize, max: usize) -> FieldError {
    FieldError::new(
        "validation_length_out_of_range",
        format!("The length must be between {min} and {max}."),
    )
    .with_params(json!({ "min": min, "max": max }))
}

/// `Required, Length(min, max)` on a text value (`min` ≥ 1).
pub fn required_length(value: &str, min: usize, max: usize) -> Option<FieldError> {
    let len = value.chars().count();
    if value.is_empty() {
        Some(FieldError::required())
    } else if len < min || len > max {
        Some(length_out_of_range(min, max))
    } else {
        None
    }
}

/// `Required` alone.
pub fn required(value: &str) -> Option<FieldError> {
    value.is_empty().then(FieldError::required)
}

/// Collects field errors in PocketBase's shape, one rule result at a time.
#[derive(Debug, Default)]
pub struct Errors(FieldErrors);

impl Errors {
    pub fn new() -> Self {
        Self::default()
    }

    /// Records `error` for `field`, if there is one.
    pub fn add(&mut self, field: &str, error: Option<FieldError>) -> &mut Self {
        if let Some(e) = error {
            self.0.insert(field.to_owned(), e);
        }
        self
    }

    pub fn into_inner(self) -> FieldErrors {
        self.0
    }
}

/// The body of the endpoints that take just an address (`request-otp`,
/// `request-verification`, `request-password-reset`).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct EmailInput {
    pub email: String,
}

impl EmailInput {
    /// The address, or the `email` field error under PocketBase's message.
    pub fn parse(&self) -> Result<Email> {
        Email::parse(&self.email).map_err(|e| invalid("email", e))
    }
}

/// An email address from a form: trimmed, then PocketBase's
/// `Required, Length(1, 255), is.EmailFormat`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let value = raw.trim();
        if let Some(e) = required_length(value, 1, 255) {
            return Err(e);
        }
        if !crate::email::is_valid(value) {
            return Err(FieldError::is_email());
        }
        Ok(Self(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_trimmed_then_checked_for_presence_length_and_format() {
        let cases = [
            ("  a@example.com ", Ok("a@example.com")),
            ("", Err("validation_required")),
            ("   ", Err("validation_required")),
            ("not-an-email", Err("validation_is_email")),
        ];
        for (raw, want) in cases {
            let got = Email::parse(raw);
            match want {
                Ok(v) => assert_eq!(got.as_ref().map(Email::as_str), Ok(v), "{raw:?}"),
                Err(code) => assert_eq!(got.err().map(|e| e.code), Some(code.into()), "{raw:?}"),
            }
        }
        let long = format!("{}@example.com", "a".repeat(250));
        let err = Email::parse(&long).err();
        assert_eq!(
            err.map(|e| e.code),
            Some("validation_length_out_of_range".into())
        );
    }

    #[test]
    fn required_length_reports_the_bounds_as_params() {
        let e = required_length("abc", 5, 10).map(|e| e.params);
        assert_eq!(e, Some(Some(json!({"min": 5, "max": 10}))));
        assert_eq!(
            required_length("", 1, 10).map(|e| e.code),
            Some("validation_required".into())
        );
        assert_eq!(required_length("abcde", 1, 5), None);
    }
}
