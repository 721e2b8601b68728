//! The built-in providers as data, in two tables: per provider name its
//! [`Builtin`] defaults (endpoints, scopes, PKCE, client authentication,
//! kind), and per [`Kind`] its [`Quirks`] (where the user comes from, how
//! the user JSON reads). Kinds are a table of their own because the
//! `oidc`, `oidc2` and `oidc3` slots share one. The code that builds URLs,
//! checks configs and reads users asks these tables instead of matching on
//! providers itself.

use super::client::ClientAuth;
use super::quirks::{Avatar, Name, Quirks, Trust, UserShape, UserSource};

/// Where a provider's user data comes from, and how to read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Google,
    Github,
    Facebook,
    Microsoft,
    Gitlab,
    Discord,
    /// User claims from the `id_token` (Apple has no user-info endpoint).
    Apple,
    /// Generic OpenID Connect: the user-info endpoint, or the `id_token`
    /// claims when no `userInfoURL` is configured.
    Oidc,
}

/// A built-in provider's defaults.
#[derive(Debug)]
pub struct Builtin {
    pub name: &'static str,
    pub kind: Kind,
    pub display_name: &'static str,
    pub auth_url: &'static str,
    pub token_url: &'static str,
    pub user_info_url: &'static str,
    pub scopes: &'static [&'static str],
    pub pkce: bool,
    pub client_auth: ClientAuth,
}

const OIDC_SCOPES: &[&str] = &["openid", "email", "profile"];

/// A generic OpenID Connect slot. Its endpoints are left empty on purpose:
/// config validation requires every endpoint a provider has no default for.
const fn oidc(name: &'static str) -> Builtin {
    Builtin {
        name,
        kind: Kind::Oidc,
        display_name: "OIDC",
        auth_url: "",
        token_url: "",
        user_info_url: "",
        scopes: OIDC_SCOPES,
        pkce: true,
        client_auth: ClientAuth::Basic,
    }
}

/// The providers Authgate knows, with PocketBase's defaults.
pub const BUILTINS: &[Builtin] = &[
    Builtin {
        name: "apple",
        kind: Kind::Apple,
        display_name: "Apple",
        auth_url: "https://appleid.apple.com/auth/authorize",
        token_url: "https://appleid.apple.com/auth/token",
        user_info_url: "",
        scopes: &["name", "email"],
        pkce: true,
        client_auth: ClientAuth::RequestBody,
    },
    Builtin {
        name: "google",
        kind: Kind::Google,
        display_name: "Google",
        auth_url: "https://accounts.google.com/o/oauth2/v2/auth",
        token_url: "https://oauth2.googleapis.com/token",
        user_info_url: "https://www.googleapis.com/oauth2/v3/userinfo",
        scopes: &[
            "https://www.googleapis.com/auth/userinfo.profile",
            "https://www.googleapis.com/auth/userinfo.email",
        ],
        pkce: true,
        client_auth: ClientAuth::Basic,
    },
    Builtin {
        name: "microsoft",
        kind: Kind::Microsoft,
        display_name: "Microsoft",
        auth_url: "https://login.microsoftonline.com/common/oauth2/v2.0/authorize",
        token_url: "https://login.microsoftonline.com/common/oauth2/v2.0/token",
        user_info_url: "https://graph.microsoft.com/v1.0/me",
        scopes: &["User.Read"],
        pkce: true,
        client_auth: ClientAuth::Basic,
    },
    Builtin {
        name: "facebook",
        kind: Kind::Facebook,
        display_name: "Facebook",
        auth_url: "https://www.facebook.com/v3.2/dialog/oauth",
        token_url: "https://graph.facebook.com/v3.2/oauth/access_token",
        user_info_url: "https://graph.facebook.com/me?fields=name,email,picture.type(large)",
        scopes: &["email"],
        pkce: true,
        client_auth: ClientAuth::RequestBody,
    },
    Builtin {
        name: "github",
        kind: Kind::Github,
        display_name: "GitHub",
        auth_url: "https://github.com/login/oauth/authorize",
        token_url: "https://github.com/login/oauth/access_token",
        user_info_url: "https://api.github.com/user",
        scopes: &["read:user", "user:email"],
        // GitHub ignores the PKCE parameters where unsupported; sending them is safe.
        pkce: true,
        client_auth: ClientAuth::Basic,
    },
    Builtin {
        name: "gitlab",
        kind: Kind::Gitlab,
        display_name: "GitLab",
        auth_url: "https://gitlab.com/oauth/authorize",
        token_url: "https://gitlab.com/oauth/token",
        user_info_url: "https://gitlab.com/api/v4/user",
        scopes: &["read_user"],
        pkce: true,
        client_auth: ClientAuth::Basic,
    },
    Builtin {
        name: "discord",
        kind: Kind::Discord,
        display_name: "Discord",
        auth_url: "https://discord.com/api/oauth2/authorize",
        token_url: "https://discord.com/api/oauth2/token",
        user_info_url: "https://discord.com/api/users/@me",
        scopes: &["identify", "email"],
        pkce: true,
        client_auth: ClientAuth::Basic,
    },
    oidc("oidc"),
    oidc("oidc2"),
    oidc("oidc3"),
];

/// The built-in provider called `name`.
pub fn builtin(name: &str) -> Option<&'static Builtin> {
    BUILTINS.iter().find(|b| b.name == name)
}

/// Apple's `id_token` issuer.
pub const APPLE_ISSUER: &str = "https://appleid.apple.com";

impl Kind {
    /// What this kind of provider does its own way.
    pub(super) fn quirks(self) -> &'static Quirks {
        match self {
            Kind::Apple => &Quirks {
                source: UserSource::IdToken {
                    issuer: APPLE_ISSUER,
                },
                user: UserShape {
                    id: "sub",
                    // Apple sends the name only in the first form_post redirect, never here.
                    name: Name::Key("name"),
                    username: None,
                    avatar: Avatar::None,
                    email: Some("email"),
                    email_verified: Trust::Claim("email_verified"),
                },
                // Apple requires form_post when name or email scopes are requested.
                form_post: true,
            },
            Kind::Google => &Quirks {
                source: UserSource::UserInfo,
                user: UserShape {
                    id: "sub",
                    name: Name::Key("name"),
                    username: None,
                    avatar: Avatar::Key("picture"),
                    email: Some("email"),
                    email_verified: Trust::Claim("email_verified"),
                },
                form_post: false,
            },
            Kind::Microsoft => &Quirks {
                source: UserSource::UserInfoAndIdTokenEmail,
                user: UserShape {
                    id: "id",
                    name: Name::Key("displayName"),
                    username: None,
                    avatar: Avatar::None,
                    email: Some("mail"),
                    // **Authgate:** Graph's `mail` is not verified (any tenant admin can
                    // set it), so it never links accounts unless an `idTokenEmailClaim`
                    // is configured. PocketBase trusts it by default.
                    email_verified: Trust::Never,
                },
                form_post: false,
            },
            Kind::Facebook => &Quirks {
                source: UserSource::UserInfo,
                user: UserShape {
                    id: "id",
                    name: Name::Key("name"),
                    username: None,
                    avatar: Avatar::Pointer("/picture/data/url"),
                    email: Some("email"),
                    // The Graph API only returns confirmed emails (PocketBase trusts it too).
                    email_verified: Trust::Reported,
                },
                form_post: false,
            },
            Kind::Github => &Quirks {
                source: UserSource::UserInfoAndGithubEmails,
                user: UserShape {
                    id: "id",
                    name: Name::Key("name"),
                    username: Some("login"),
                    avatar: Avatar::Key("avatar_url"),
                    // The email comes from `/user/emails` instead.
                    email: None,
                    email_verified: Trust::Never,
                },
                form_post: false,
            },
            Kind::Gitlab => &Quirks {
                source: UserSource::UserInfo,
                user: UserShape {
                    id: "id",
                    name: Name::Key("name"),
                    username: Some("username"),
                    avatar: Avatar::Key("avatar_url"),
                    email: Some("email"),
                    // GitLab confirms the primary email before `confirmed_at` is set.
                    email_verified: Trust::Timestamp("confirmed_at"),
                },
                form_post: false,
            },
            Kind::Discord => &Quirks {
                source: UserSource::UserInfo,
                user: UserShape {
                    id: "id",
                    name: Name::OrTaggedUsername {
                        key: "global_name",
                        tag: "discriminator",
                    },
                    username: Some("username"),
                    avatar: Avatar::Hash {
                        key: "avatar",
                        base: "https://cdn.discordapp.com/avatars",
                    },
                    email: Some("email"),
                    email_verified: Trust::Claim("verified"),
                },
                form_post: false,
            },
            Kind::Oidc => &Quirks {
                source: UserSource::UserInfoOrIdToken,
                user: UserShape {
                    id: "sub",
                    name: Name::Key("name"),
                    username: Some("preferred_username"),
                    avatar: Avatar::Key("picture"),
                    email: Some("email"),
                    email_verified: Trust::Claim("email_verified"),
                },
                form_post: false,
            },
        }
    }
}
