//! Request input: the body (JSON or urlencoded form, 64 KiB at most) read as
//! raw bytes first, so the collection check can answer before a malformed
//! body does; the `Authorization` header; common query parameters.

use authgate_core::Error;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::error::ApiError;

/// Bodies larger than this are refused with 413.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// The request body, not yet parsed.
pub struct RawBody {
    bytes: Bytes,
    form: bool,
}

impl<S: Send + Sync> FromRequest<S> for RawBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, Self::Rejection> {
        let form = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"));
        let bytes = axum::body::to_bytes(req.into_body(), MAX_BODY_BYTES)
            .await
            .map_err(|_| Error::PayloadTooLarge("Request entity too large.".into()))?;
        Ok(Self { bytes, form })
    }
}

impl RawBody {
    /// The body as a JSON object (an empty body is `{}`).
    pub fn object(&self) -> Result<Map<String, Value>, Error> {
        if self.bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Map::new());
        }
        // `curl -d '{…}'` labels JSON as a form; a body that opens with `{`
        // cannot be a meaningful form, so read it as the JSON it is.
        let looks_json = self
            .bytes
            .iter()
            .find(|b| !b.is_ascii_whitespace())
            .is_some_and(|b| *b == b'{');
        if self.form && !looks_json {
            let mut map = Map::new();
            for (k, v) in url::form_urlencoded::parse(&self.bytes) {
                map.insert(k.into_owned(), Value::String(v.into_owned()));
            }
            return Ok(map);
        }
        match serde_json::from_slice::<Value>(&self.bytes) {
            Ok(Value::Object(m)) => Ok(m),
            _ => Err(Error::bad_body()),
        }
    }

    /// The body as a typed form; wrong JSON types are a malformed body.
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T, Error> {
        let obj = self.object()?;
        serde_json::from_value(Value::Object(obj)).map_err(|_| Error::bad_body())
    }
}

/// The raw `Authorization` header, if any.
pub struct Authorization(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for Authorization {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(
            parts
                .headers
                .get(AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
        ))
    }
}

/// Query parameters every auth route understands.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct CommonQuery {
    /// `?fields=token,record.id` projection.
    pub fields: Option<String>,
    /// MFA session id of the first factor (the SDK sends it here).
    pub mfa_id: Option<String>,
}

/// Extracts [`CommonQuery`], ignoring anything malformed.
pub struct Common(pub CommonQuery);

impl<S: Send + Sync> FromRequestParts<S> for Common {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let q = parts
            .uri
            .query()
            .and_then(|q| {
                serde_json::to_value(
                    url::form_urlencoded::parse(q.as_bytes())
                        .into_owned()
                        .collect::<std::collections::HashMap<String, String>>(),
                )
                .ok()
            })
            .and_then(|v| serde_json::from_value(v).ok())
            .unwrap_or_default();
        Ok(Self(q))
    }
}
