//! The shape of what a kind of provider does its own way. The values, one
//! per `Kind`, stand in `providers.rs`; `user.rs`, `fetch.rs`
//! and `provider.rs` read them.

/// What one kind of provider does its own way.
#[derive(Debug)]
pub(super) struct Quirks {
    /// Where the user comes from once the code is exchanged.
    pub source: UserSource,
    /// How the user JSON reads.
    pub user: UserShape,
    /// The authorization URL asks for `response_mode=form_post`.
    pub form_post: bool,
}

/// Where a provider's user comes from once the code is exchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum UserSource {
    /// The user-info endpoint.
    UserInfo,
    /// The user-info endpoint, then GitHub's `/emails` list for the
    /// verified primary address: the profile's `email` may be private,
    /// absent or (on Enterprise) unverified.
    UserInfoAndGithubEmails,
    /// The user-info endpoint; with `extra.idTokenEmailClaim` set, the
    /// verified email comes from that `id_token` claim, so the `openid`
    /// scope is requested too (Microsoft).
    UserInfoAndIdTokenEmail,
    /// Only the `id_token`, which must come from `issuer` and carry an
    /// `exp` (Apple has no user-info endpoint).
    IdToken { issuer: &'static str },
    /// The user-info endpoint when one is configured, else the `id_token`,
    /// from one of `extra.issuers` when any are listed (generic OIDC).
    UserInfoOrIdToken,
}

/// Which keys of the user JSON hold what. A missing key reads as empty.
#[derive(Debug)]
pub(super) struct UserShape {
    pub id: &'static str,
    pub name: Name,
    pub username: Option<&'static str>,
    pub avatar: Avatar,
    pub email: Option<&'static str>,
    /// Whether the provider vouches for `email`.
    pub email_verified: Trust,
}

#[derive(Debug)]
pub(super) enum Name {
    Key(&'static str),
    /// `key` when set, else the username, tagged `#<tag>` when the legacy
    /// tag is set and not `0` (Discord's discriminator).
    OrTaggedUsername {
        key: &'static str,
        tag: &'static str,
    },
}

#[derive(Debug)]
pub(super) enum Avatar {
    None,
    Key(&'static str),
    /// A JSON pointer to a string.
    Pointer(&'static str),
    /// An image hash under `key`, served at `{base}/{id}/{hash}.png`.
    Hash {
        key: &'static str,
        base: &'static str,
    },
}

#[derive(Debug)]
pub(super) enum Trust {
    Never,
    /// A claim sent as bool or string.
    Claim(&'static str),
    /// Set to an RFC 3339 time once the email was confirmed.
    Timestamp(&'static str),
    /// Every email the provider reports is confirmed.
    Reported,
}
