//! Request input, read in PocketBase's order: the route's auth collection
//! (404) and its method switch (403), the caller's auth token where the
//! endpoint needs one (401/403), and only then the body (JSON or urlencoded
//! form, 64 KiB at most; 413, or 400 when malformed). axum runs extractors
//! in argument order, so a handler that lists them in this order answers in
//! this order.

use std::collections::HashMap;
use std::marker::PhantomData;
use std::sync::Arc;

use authgate_core::config::{AppConfig, Collection};
use authgate_core::model::Record;
use authgate_core::service::auth::{self, Session};
use authgate_core::service::guards::{self, Requirement};
use authgate_core::Error;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::error::ApiError;
use crate::state::AppState;

/// What an endpoint needs its collection to allow; the markers below name
/// the [`Requirement`]s of `authgate_core::service::guards`.
pub trait Guard: Send + Sync + 'static {
    const REQUIREMENT: Option<Requirement>;
}

macro_rules! guards {
    ($($(#[$doc:meta])* $name:ident => $req:expr;)*) => {$(
        $(#[$doc])*
        pub struct $name;
        impl Guard for $name {
            const REQUIREMENT: Option<Requirement> = $req;
        }
    )*};
}

guards! {
    /// Any auth collection.
    AnyMethod => None;
    /// Password auth on (403).
    PasswordAuth => Some(Requirement::PasswordAuth);
    /// Password auth on (400, PocketBase's answer for reset requests).
    PasswordReset => Some(Requirement::PasswordReset);
    /// OTP on (403).
    Otp => Some(Requirement::Otp);
    /// OAuth2 on (403).
    OAuth2 => Some(Requirement::OAuth2);
}

/// The route's auth collection (`{collection}` by id or name) in the
/// current config, with `G`'s method switch checked.
pub struct AuthCollection<G: Guard = AnyMethod> {
    config: Arc<AppConfig>,
    index: usize,
    guard: PhantomData<G>,
}

impl<G: Guard> AuthCollection<G> {
    pub fn config(&self) -> &AppConfig {
        &self.config
    }

    pub fn collection(&self) -> &Collection {
        &self.config.collections[self.index]
    }
}

impl<G: Guard> FromRequestParts<AppState> for AuthCollection<G> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, ApiError> {
        let name = path_param(parts, app, "collection")
            .await
            .ok_or_else(Error::missing_collection)?;
        let config = app.config().await?;
        let collection = guards::auth_collection(&config, &name)?;
        if let Some(requirement) = G::REQUIREMENT {
            requirement.check(collection)?;
        }
        let index = config
            .collections
            .iter()
            .position(|c| std::ptr::eq(c, collection))
            .ok_or_else(Error::missing_collection)?;
        Ok(Self {
            config,
            index,
            guard: PhantomData,
        })
    }
}

/// The caller, authenticated by an auth token of the route's collection
/// (401 without a valid one, 403 for another collection's). Lists after
/// [`AuthCollection`] in a handler's arguments.
pub struct Caller(pub Session);

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, ApiError> {
        let route = AuthCollection::<AnyMethod>::from_request_parts(parts, app).await?;
        let Ok(Authorization(header)) = Authorization::from_request_parts(parts, app).await;
        let session = auth::authenticate_in(
            &app.ctx,
            route.config(),
            route.collection(),
            header.as_deref(),
            app.now(),
        )
        .await?;
        Ok(Self(session))
    }
}

/// The path parameter `name` (routes may have more than one).
async fn path_param(parts: &mut Parts, app: &AppState, name: &str) -> Option<String> {
    Path::<HashMap<String, String>>::from_request_parts(parts, app)
        .await
        .ok()
        .and_then(|mut p| p.0.remove(name))
}

/// The `{id}` of a `records/{id}` route (PocketBase's 404 when missing).
pub struct RecordId(pub String);

impl FromRequestParts<AppState> for RecordId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, ApiError> {
        let id = path_param(parts, app, "id")
            .await
            .filter(|id| !id.is_empty())
            .ok_or_else(Error::record_not_found)?;
        Ok(Self(id))
    }
}

/// The caller if the request carries a valid auth token of the route's
/// collection, else `None`: like PocketBase, an invalid or foreign token
/// makes a guest, whom the API rules then judge (a store failure is still
/// a 500). Lists after [`AuthCollection`].
pub struct MaybeCaller(pub Option<Record>);

impl FromRequestParts<AppState> for MaybeCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, ApiError> {
        let route = AuthCollection::<AnyMethod>::from_request_parts(parts, app).await?;
        let Ok(Authorization(header)) = Authorization::from_request_parts(parts, app).await;
        if header.as_deref().is_none_or(|h| h.trim().is_empty()) {
            return Ok(Self(None));
        }
        match auth::authenticate_in(
            &app.ctx,
            route.config(),
            route.collection(),
            header.as_deref(),
            app.now(),
        )
        .await
        {
            Ok(session) => Ok(Self(Some(session.record))),
            Err(e @ Error::Internal(_)) => Err(e.into()),
            Err(_) => Ok(Self(None)),
        }
    }
}

/// The caller of a route outside any one collection (`_externalAuths`):
/// the auth collection and record a valid auth token names, else `None`
/// (a guest, as [`MaybeCaller`]).
pub struct AnyCaller {
    pub config: Arc<AppConfig>,
    pub index: Option<usize>,
    pub record: Option<Record>,
}

impl AnyCaller {
    /// The caller's collection and record, if logged in.
    pub fn get(&self) -> Option<(&Collection, &Record)> {
        let collection = self.config.collections.get(self.index?)?;
        Some((collection, self.record.as_ref()?))
    }
}

impl FromRequestParts<AppState> for AnyCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, ApiError> {
        let config = app.config().await?;
        let Ok(Authorization(header)) = Authorization::from_request_parts(parts, app).await;
        let mut caller = Self {
            config: config.clone(),
            index: None,
            record: None,
        };
        if header.as_deref().is_none_or(|h| h.trim().is_empty()) {
            return Ok(caller);
        }
        match auth::authenticate(&app.ctx, &config, header.as_deref(), app.now()).await {
            Ok(found) => {
                caller.index = config
                    .collections
                    .iter()
                    .position(|c| std::ptr::eq(c, found.collection));
                caller.record = Some(found.record);
                Ok(caller)
            }
            Err(e @ Error::Internal(_)) => Err(e.into()),
            Err(_) => Ok(caller),
        }
    }
}

/// A typed form from the body; a body that is not an object of the right
/// shape is PocketBase's 400 "loading the submitted data".
pub struct Form<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Form<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let body = RawBody::from_request(req, state).await?;
        Ok(Self(body.parse()?))
    }
}

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

/// The client's address as the rate limits count it
/// ([`client_key`](crate::client::client_key): API Gateway's `sourceIp` or
/// the peer, `X-Forwarded-For` only through trusted proxy hops); `None`
/// when there is no usable one. Logins hand it to the new-location alert.
pub struct ClientAddress(pub Option<String>);

impl FromRequestParts<AppState> for ClientAddress {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(Self(crate::client::client_key(
            parts.extensions.get::<crate::client::ClientIp>(),
            &parts.headers,
            state.trusted_proxy_hops,
        )))
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

impl CommonQuery {
    pub fn fields(&self) -> Option<&str> {
        self.fields.as_deref()
    }

    pub fn mfa_id(&self) -> Option<&str> {
        self.mfa_id.as_deref()
    }
}

/// The request's query string read into `T` (every value a string), or
/// `T::default()` when it is missing or does not fit.
fn lenient_query<T: serde::de::DeserializeOwned + Default>(parts: &Parts) -> T {
    parts
        .uri
        .query()
        .and_then(|q| {
            serde_json::to_value(
                url::form_urlencoded::parse(q.as_bytes())
                    .into_owned()
                    .collect::<HashMap<String, String>>(),
            )
            .ok()
        })
        .and_then(|v| serde_json::from_value(v).ok())
        .unwrap_or_default()
}

/// Extracts [`CommonQuery`], ignoring anything malformed.
pub struct Common(pub CommonQuery);

impl<S: Send + Sync> FromRequestParts<S> for Common {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(lenient_query(parts)))
    }
}

/// The query of a list request (`page`, `perPage`, `skipTotal`, `filter`,
/// `sort`; `fields` is read by [`Common`]), ignoring anything malformed.
pub struct ListParams(pub authgate_core::service::self_service::ListQuery);

impl<S: Send + Sync> FromRequestParts<S> for ListParams {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(lenient_query(parts)))
    }
}
