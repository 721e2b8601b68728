//! PocketBase-compatible JWTs: HS256 only, keyed by the record's `tokenKey`
//! plus the collection's secret for that token type, so rotating either
//! revokes every token of that kind.

use base64::Engine as _;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::config::{Collection, TokenConfig};
use crate::error::{Error, Result};
use crate::model::{Record, Timestamp};

/// The token types Authgate issues, with PocketBase's `type` claim values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum TokenKind {
    #[serde(rename = "auth")]
    Auth,
    #[serde(rename = "verification")]
    Verification,
    #[serde(rename = "passwordReset")]
    PasswordReset,
    #[serde(rename = "emailChange")]
    EmailChange,
}

impl TokenKind {
    const ALL: [Self; 4] = [
        Self::Auth,
        Self::Verification,
        Self::PasswordReset,
        Self::EmailChange,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Auth => "auth",
            Self::Verification => "verification",
            Self::PasswordReset => "passwordReset",
            Self::EmailChange => "emailChange",
        }
    }

    fn config(self, c: &Collection) -> &TokenConfig {
        match self {
            Self::Auth => &c.auth_token,
            Self::Verification => &c.verification_token,
            Self::PasswordReset => &c.password_reset_token,
            Self::EmailChange => &c.email_change_token,
        }
    }
}

/// Reads the `type` claim: a type Authgate does not issue (PocketBase's
/// `file` tokens, anything forged) is `None`, so it never matches a kind
/// but the other claims can still be read.
fn lenient_kind<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<TokenKind>, D::Error> {
    let name = String::deserialize(d)?;
    Ok(TokenKind::ALL.into_iter().find(|k| k.as_str() == name))
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    #[serde(rename = "collectionId")]
    pub collection_id: String,
    pub exp: i64,
    pub id: String,
    #[serde(rename = "type", deserialize_with = "lenient_kind")]
    pub kind: Option<TokenKind>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refreshable: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(rename = "newEmail", default, skip_serializing_if = "Option::is_none")]
    pub new_email: Option<String>,
}

/// Extra claims of the mail-flow tokens.
#[derive(Debug, Clone, Default)]
pub struct Extra {
    pub email: Option<String>,
    pub new_email: Option<String>,
}

fn key(collection: &Collection, record: &Record, kind: TokenKind) -> Vec<u8> {
    let mut k = record.token_key.as_bytes().to_vec();
    k.extend_from_slice(kind.config(collection).secret.expose().as_bytes());
    k
}

/// Signs a token of `kind` for `record`, valid for the collection's duration.
pub fn issue(
    collection: &Collection,
    record: &Record,
    kind: TokenKind,
    now: Timestamp,
    extra: Extra,
) -> Result<String> {
    let claims = Claims {
        collection_id: collection.id.clone(),
        exp: now.seconds() + kind.config(collection).duration,
        id: record.id.clone(),
        kind: Some(kind),
        refreshable: (kind == TokenKind::Auth).then_some(true),
        email: extra.email,
        new_email: extra.new_email,
    };
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(&key(collection, record, kind)),
    )
    .map_err(Error::internal)
}

/// Reads the claims *without* checking the signature, only to find which
/// collection and record would hold the key. Never trust the result before
/// [`verify`] succeeded.
pub fn peek(token: &str) -> Option<Claims> {
    let mut parts = token.split('.');
    let (_, payload, _, rest) = (parts.next()?, parts.next()?, parts.next()?, parts.next());
    if rest.is_some() {
        return None;
    }
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Checks signature (HS256 only: `none` and every other algorithm are
/// rejected), type, subject and expiry at `now`.
pub fn verify(
    collection: &Collection,
    record: &Record,
    token: &str,
    kind: TokenKind,
    now: Timestamp,
) -> Option<Claims> {
    let mut validation = Validation::new(Algorithm::HS256);
    // Expiry is checked against the injected clock below.
    validation.validate_exp = false;
    validation.required_spec_claims.clear();
    let data = jsonwebtoken::decode::<Claims>(
        token,
        &DecodingKey::from_secret(&key(collection, record, kind)),
        &validation,
    )
    .ok()?;
    let c = data.claims;
    let ok = c.kind == Some(kind)
        && c.collection_id == collection.id
        && c.id == record.id
        && c.exp > now.seconds();
    ok.then_some(c)
}
