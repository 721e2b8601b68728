//! The provider's user, normalised: each kind's user JSON read through its
//! [`UserShape`](super::quirks::UserShape).
//!
//! Email trust: an [`AuthUser`] carries the email the provider reported plus
//! whether the provider vouches for it (`email_verified`). Only a verified
//! email may link to an existing account or mark a record verified.

use std::fmt;

use serde_json::Value;

use super::client::HttpError;
use super::providers::Kind;
use super::quirks::{Avatar, Name, Trust, UserShape};

/// Longest provider user id accepted, in bytes.
pub const MAX_USER_ID_BYTES: usize = 255;

/// The provider's user, normalised.
#[derive(Clone, PartialEq)]
pub struct AuthUser {
    /// The provider's stable user id (never empty).
    pub id: String,
    pub name: String,
    pub username: String,
    /// The email the provider reported (possibly unverified; may be empty).
    pub email: String,
    /// Whether the provider vouches that the user owns `email`.
    pub email_verified: bool,
    pub avatar_url: String,
    /// The provider's user JSON as received.
    pub raw: Value,
}

impl fmt::Debug for AuthUser {
    // Personal data stays out of logs: the id and flags are enough to debug.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthUser")
            .field("id", &self.id)
            .field("email_verified", &self.email_verified)
            .finish_non_exhaustive()
    }
}

impl AuthUser {
    /// The email only when the provider verified it (PocketBase's `email`).
    pub fn verified_email(&self) -> &str {
        if self.email_verified {
            &self.email
        } else {
            ""
        }
    }
}

/// Why a user could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UserError {
    #[error("user-info request failed: {0}")]
    Http(#[from] HttpError),
    #[error("invalid user data: {0}")]
    Invalid(String),
}

pub(super) fn invalid(msg: impl Into<String>) -> UserError {
    UserError::Invalid(msg.into())
}

fn text(v: &Value, key: &str) -> String {
    match v.get(key) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    }
}

/// PocketBase's `cast.ToBool` for claims sent as bool or string (Apple sends "true").
fn truthy(v: &Value, key: &str) -> bool {
    match v.get(key) {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => matches!(s.trim(), "true" | "1" | "TRUE" | "True" | "t" | "T"),
        Some(Value::Number(n)) => n.as_f64().is_some_and(|f| f != 0.0),
        _ => false,
    }
}

/// Maps a provider's raw user JSON (user-info answer or `id_token` claims).
/// GitHub's email comes separately (see [`github_verified_primary_email`]);
/// Microsoft's optional `id_token` email claims are applied by
/// [`fetch_user`](super::fetch_user).
pub fn map_user(kind: Kind, raw: &Value) -> Result<AuthUser, UserError> {
    if !raw.is_object() {
        return Err(invalid("user data is not a JSON object"));
    }
    let mut user = read_shape(&kind.quirks().user, raw);
    if user.id.is_empty() {
        return Err(invalid("the provider sent no user id"));
    }
    // The id keys the identity link in the store: bounded, so no provider
    // answer can make a store key too long (OpenID Connect Core §2 caps
    // `sub` at 255 ASCII characters; every built-in provider's ids fit).
    if user.id.len() > MAX_USER_ID_BYTES {
        return Err(invalid("the provider's user id is too long"));
    }
    if user.email.is_empty() {
        user.email_verified = false;
    }
    Ok(user)
}

fn read_shape(shape: &UserShape, raw: &Value) -> AuthUser {
    let key = |k: Option<&str>| k.map(|k| text(raw, k)).unwrap_or_default();
    let id = text(raw, shape.id);
    let username = key(shape.username);
    let name = match shape.name {
        Name::Key(k) => text(raw, k),
        Name::OrTaggedUsername { key, tag } => {
            let own = text(raw, key);
            if own.is_empty() {
                let tag = text(raw, tag);
                if tag.is_empty() || tag == "0" {
                    username.clone()
                } else {
                    format!("{username}#{tag}")
                }
            } else {
                own
            }
        }
    };
    let avatar_url = match shape.avatar {
        Avatar::None => String::new(),
        Avatar::Key(k) => text(raw, k),
        Avatar::Pointer(p) => raw
            .pointer(p)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        Avatar::Hash { key, base } => {
            let hash = text(raw, key);
            if hash.is_empty() {
                String::new()
            } else {
                format!("{base}/{id}/{hash}.png")
            }
        }
    };
    let email = key(shape.email);
    let email_verified = match shape.email_verified {
        Trust::Never => false,
        Trust::Claim(k) => truthy(raw, k),
        Trust::Timestamp(k) => chrono::DateTime::parse_from_rfc3339(&text(raw, k)).is_ok(),
        Trust::Reported => !email.is_empty(),
    };
    AuthUser {
        id,
        name,
        username,
        email,
        email_verified,
        avatar_url,
        raw: raw.clone(),
    }
}

/// The verified primary address from GitHub's `GET /user/emails`.
pub fn github_verified_primary_email(emails: &Value) -> Option<String> {
    emails.as_array()?.iter().find_map(|e| {
        (truthy(e, "verified") && truthy(e, "primary"))
            .then(|| text(e, "email"))
            .filter(|s| !s.is_empty())
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn fixture(name: &str) -> Value {
        let path = format!(
            "{}/../../tests/fixtures/oauth2/{name}.json",
            env!("CARGO_MANIFEST_DIR")
        );
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    struct Case {
        kind: Kind,
        fixture: &'static str,
        id: &'static str,
        name: &'static str,
        username: &'static str,
        email: &'static str,
        verified: bool,
        avatar: &'static str,
    }

    #[test]
    fn each_builtin_provider_maps_its_recorded_user_json() {
        let cases = [
            Case {
                kind: Kind::Google,
                fixture: "google",
                id: "109876543210987654321",
                name: "Jane Doe",
                username: "",
                email: "jane.doe@gmail.com",
                verified: true,
                avatar: "https://lh3.googleusercontent.com/a/ACg8ocJ-example=s96-c",
            },
            Case {
                kind: Kind::Github,
                fixture: "github",
                id: "1234567",
                name: "Monalisa Octocat",
                username: "octocat",
                email: "",
                verified: false,
                avatar: "https://avatars.githubusercontent.com/u/1234567?v=4",
            },
            Case {
                kind: Kind::Facebook,
                fixture: "facebook",
                id: "10160000000000001",
                name: "Jane Doe",
                username: "",
                email: "jane@example.com",
                verified: true,
                avatar: "https://platform-lookaside.fbsbx.com/platform/profilepic/?asid=10160000000000001&height=200&width=200",
            },
            Case {
                kind: Kind::Microsoft,
                fixture: "microsoft",
                id: "87d349ed-44d7-43e1-9a83-5f2406dee5bd",
                name: "Megan Bowen",
                username: "",
                email: "MeganB@contoso.example",
                verified: false,
                avatar: "",
            },
            Case {
                kind: Kind::Gitlab,
                fixture: "gitlab",
                id: "4242",
                name: "John Smith",
                username: "john_smith",
                email: "john@example.com",
                verified: true,
                avatar: "https://gitlab.example/uploads/-/system/user/avatar/4242/avatar.png",
            },
            Case {
                kind: Kind::Discord,
                fixture: "discord",
                id: "80351110224678912",
                name: "Nelly",
                username: "nelly",
                email: "nelly@discord.example",
                verified: true,
                avatar: "https://cdn.discordapp.com/avatars/80351110224678912/8342729096ea3675442027381ff50dfe.png",
            },
            Case {
                kind: Kind::Apple,
                fixture: "apple",
                id: "001234.0a1b2c3d4e5f60718293a4b5c6d7e8f9.1234",
                name: "",
                username: "",
                email: "abc123xyz@privaterelay.appleid.com",
                verified: true,
                avatar: "",
            },
            Case {
                kind: Kind::Oidc,
                fixture: "oidc",
                id: "248289761001",
                name: "Jane Doe",
                username: "j.doe",
                email: "janedoe@example.com",
                verified: true,
                avatar: "http://example.com/janedoe/me.jpg",
            },
        ];
        for c in cases {
            let raw = fixture(c.fixture);
            let u = map_user(c.kind, &raw).unwrap_or_else(|e| panic!("{}: {e}", c.fixture));
            let got = (
                u.id.as_str(),
                u.name.as_str(),
                u.username.as_str(),
                u.email.as_str(),
                u.email_verified,
                u.avatar_url.as_str(),
            );
            let want = (c.id, c.name, c.username, c.email, c.verified, c.avatar);
            assert_eq!(got, want, "mapping of the {} fixture", c.fixture);
            assert_eq!(u.raw, raw, "{}: raw user kept as received", c.fixture);
        }
    }

    #[test]
    fn unverified_or_unconfirmed_emails_are_never_reported_verified() {
        let cases = [
            (
                Kind::Google,
                json!({"sub":"1","email":"a@x.test","email_verified":false}),
            ),
            (
                Kind::Oidc,
                json!({"sub":"1","email":"a@x.test","email_verified":"false"}),
            ),
            (Kind::Apple, json!({"sub":"1","email":"a@x.test"})),
            (
                Kind::Gitlab,
                json!({"id":1,"email":"a@x.test","confirmed_at":null}),
            ),
            (
                Kind::Discord,
                json!({"id":"1","email":"a@x.test","verified":false}),
            ),
            (Kind::Microsoft, json!({"id":"1","mail":"a@x.test"})),
        ];
        for (kind, raw) in cases {
            let u = map_user(kind, &raw).expect("maps");
            assert_eq!(u.email, "a@x.test", "{kind:?} keeps the reported email");
            assert!(!u.email_verified, "{kind:?} must not vouch for {raw}");
            assert_eq!(u.verified_email(), "", "{kind:?}");
        }
    }

    #[test]
    fn a_user_without_an_id_is_rejected() {
        for kind in [Kind::Google, Kind::Github, Kind::Oidc, Kind::Discord] {
            assert!(
                map_user(kind, &json!({"email":"a@x.test"})).is_err(),
                "{kind:?}"
            );
        }
        assert!(map_user(Kind::Google, &json!([1, 2])).is_err());
    }

    #[test]
    fn discord_falls_back_to_username_and_legacy_discriminator() {
        let u = map_user(
            Kind::Discord,
            &json!({"id":"1","username":"old","discriminator":"1234"}),
        )
        .expect("maps");
        assert_eq!((u.name.as_str(), u.avatar_url.as_str()), ("old#1234", ""));
    }

    #[test]
    fn github_uses_only_the_verified_primary_email() {
        let emails = fixture("github_emails");
        assert_eq!(
            github_verified_primary_email(&emails).as_deref(),
            Some("octocat@github.example")
        );
        let none = json!([{"email":"a@x.test","verified":false,"primary":true},{"email":"b@x.test","verified":true,"primary":false}]);
        assert_eq!(github_verified_primary_email(&none), None);
    }

    #[test]
    fn an_overlong_provider_user_id_is_rejected() {
        let ok = "1".repeat(MAX_USER_ID_BYTES);
        assert!(map_user(Kind::Oidc, &json!({"sub": ok})).is_ok());
        let long = "1".repeat(MAX_USER_ID_BYTES + 1);
        assert!(map_user(Kind::Oidc, &json!({"sub": long})).is_err());
        assert!(map_user(Kind::Github, &json!({"id": long})).is_err());
    }
}
