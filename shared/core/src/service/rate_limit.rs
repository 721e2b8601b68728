//! Rate limits: PocketBase's rules (`rateLimits.rules`, matched by label
//! the way PocketBase matches them) per client address, and Authgate's
//! per-account cap on password attempts. Every count is one atomic hit on a
//! shared counter, so a limit holds across all Lambda containers and under
//! concurrency: of N simultaneous requests exactly `maxRequests` pass.

use crate::config::{Collection, RateLimitRule, RateLimits};
use crate::error::{Error, Result};
use crate::model::{CounterKey, Timestamp};

use super::Ctx;

/// Whether the request carries a valid auth token, for rules with an
/// `audience` (`@guest`, `@auth`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    Guest,
    Auth,
}

impl Audience {
    fn admits(self, rule: &RateLimitRule) -> bool {
        match rule.audience.as_str() {
            "" => true,
            "@guest" => self == Self::Guest,
            "@auth" => self == Self::Auth,
            _ => false,
        }
    }
}

/// The labels of any request: `METHOD /path` and `/path` (PocketBase's).
pub fn path_labels(method: &str, path: &str) -> Vec<String> {
    vec![format!("{method} {path}"), path.to_owned()]
}

/// The labels of a collection endpoint, most specific first: the
/// collection's own `<name>:<tag>`, then `*:<tag>`, then the path labels.
/// Auth endpoints carry the `auth` tag next to their own
/// (`authWithPassword` and `auth`, …).
pub fn collection_labels(
    collection: &Collection,
    tags: &[&str],
    method: &str,
    path: &str,
) -> Vec<String> {
    let own = tags.iter().map(|t| format!("{}:{t}", collection.name));
    let any = tags.iter().map(|t| format!("*:{t}"));
    own.chain(any).chain(path_labels(method, path)).collect()
}

/// The rule for a request with these `labels` (most specific first), as
/// PocketBase finds it: the first label with a rule of that exact label
/// wins; a rule whose label ends in `/` is a path prefix, tried for each
/// label after its exact matches.
pub fn find_rule<'a>(
    limits: &'a RateLimits,
    labels: &[String],
    audience: Audience,
) -> Option<&'a RateLimitRule> {
    let rules = || limits.rules.iter().filter(|r| audience.admits(r));
    labels.iter().find_map(|label| {
        rules().find(|r| r.label == *label).or_else(|| {
            rules().find(|r| r.label.ends_with('/') && format!("{label}/").starts_with(&r.label))
        })
    })
}

/// Whether any rule depends on the audience (only then is it worth finding
/// out whether the caller is logged in).
pub fn needs_audience(limits: &RateLimits) -> bool {
    limits.enabled && limits.rules.iter().any(|r| !r.audience.is_empty())
}

/// Counts one request of `client` under `rule`; a 429 with `Retry-After`
/// once the window's `maxRequests` are used up. `scope` keeps the counters
/// of different routes under one rule apart where PocketBase does.
pub async fn hit(
    ctx: &Ctx,
    rule: &RateLimitRule,
    scope: &str,
    client: &str,
    now: Timestamp,
) -> Result<()> {
    let scope = format!("{scope}{}", rule.audience);
    let key = CounterKey::RateLimit {
        scope: &scope,
        client,
    };
    if ctx
        .store
        .hit(&key, rule.max_requests, rule.duration, now)
        .await?
    {
        Ok(())
    } else {
        Err(Error::rate_limited(rule.duration))
    }
}

/// Who a password attempt is against: an account, or the identity it named
/// when no account has it.
#[derive(Debug, Clone, Copy)]
pub enum Attempted<'a> {
    Record(&'a str),
    UnknownIdentity(&'a str),
}

impl Attempted<'_> {
    fn subject(self) -> String {
        match self {
            Self::Record(id) => format!("r:{id}"),
            Self::UnknownIdentity(identity) => format!("i:{}", crate::email::fold(identity)),
        }
    }

    fn key<'a>(self, collection: &'a Collection, subject: &'a str) -> CounterKey<'a> {
        CounterKey::PasswordAttempts {
            collection_id: &collection.id,
            subject,
        }
    }
}

/// A successful login gives its attempt back, so the cap counts failures:
/// the owner's own logins never lock the account.
pub async fn password_attempt_succeeded(
    ctx: &Ctx,
    collection: &Collection,
    record_id: &str,
    now: Timestamp,
) -> Result<()> {
    let who = Attempted::Record(record_id);
    let subject = who.subject();
    Ok(ctx
        .store
        .give_back(&who.key(collection, &subject), now)
        .await?)
}

/// A password reset lifts the account's cap: whoever proved the address
/// chose a new password, and their logins must not wait out an attacker's
/// window.
pub async fn password_attempts_cleared(
    ctx: &Ctx,
    collection: &Collection,
    record_id: &str,
) -> Result<()> {
    let who = Attempted::Record(record_id);
    let subject = who.subject();
    Ok(ctx.store.clear(&who.key(collection, &subject)).await?)
}

/// Reserves one password attempt against an account before the password is
/// checked (so concurrent guesses cannot slip past the cap while argon2
/// runs), and refuses it with the rate limit 429 once the account's
/// `failedLoginsPerAccount` attempts of the window are used. The window
/// expires: nobody is locked out for good. An unknown identity is counted by
/// the identity it named, so its answers (and their timing: no argon2 over
/// the cap) match a known account's.
pub async fn password_attempt(
    ctx: &Ctx,
    limits: &RateLimits,
    collection: &Collection,
    who: Attempted<'_>,
    now: Timestamp,
) -> Result<()> {
    let subject = who.subject();
    let key = who.key(collection, &subject);
    let window = limits.failed_logins_window_secs;
    if ctx
        .store
        .hit(&key, limits.failed_logins_per_account, window, now)
        .await?
    {
        Ok(())
    } else {
        Err(Error::rate_limited(window))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(rules: &[(&str, &str)]) -> RateLimits {
        RateLimits {
            enabled: true,
            rules: rules
                .iter()
                .map(|(label, audience)| RateLimitRule {
                    label: (*label).into(),
                    max_requests: 1,
                    duration: 1,
                    audience: (*audience).into(),
                })
                .collect(),
            failed_logins_per_account: 10,
            failed_logins_window_secs: 900,
        }
    }

    fn labels(tags: &[&str]) -> Vec<String> {
        let path = "/api/collections/users/auth-with-password";
        let mut l: Vec<String> = tags.iter().map(|t| format!("users:{t}")).collect();
        l.extend(tags.iter().map(|t| format!("*:{t}")));
        l.extend(path_labels("POST", path));
        l
    }

    #[test]
    fn the_most_specific_label_with_a_rule_wins_as_in_pocketbase() {
        let tags = ["authWithPassword", "auth"];
        let cases = [
            (vec![("/api/", ""), ("*:auth", "")], "*:auth"),
            (vec![("*:auth", ""), ("users:auth", "")], "users:auth"),
            (
                vec![("*:auth", ""), ("*:authWithPassword", "")],
                "*:authWithPassword",
            ),
            (vec![("/api/", ""), ("/api/collections/", "")], "/api/"),
            (
                vec![("POST /api/collections/users/auth-with-password", "")],
                "POST /api/collections/users/auth-with-password",
            ),
            (vec![("*:auth", "@auth"), ("/api/", "")], "/api/"),
        ];
        for (rules, want) in cases {
            let l = limits(&rules);
            let got = find_rule(&l, &labels(&tags), Audience::Guest).map(|r| r.label.as_str());
            assert_eq!(got, Some(want), "{rules:?}");
        }
        let none = limits(&[("*:create", ""), ("/other/", "")]);
        assert!(find_rule(&none, &labels(&tags), Audience::Guest).is_none());
    }

    #[test]
    fn audiences_pick_rules_for_guests_or_logged_in_callers() {
        let l = limits(&[("*:auth", "@auth"), ("*:auth", "@guest")]);
        let tags = ["auth"];
        let guest = find_rule(&l, &labels(&tags), Audience::Guest).map(|r| r.audience.as_str());
        let auth = find_rule(&l, &labels(&tags), Audience::Auth).map(|r| r.audience.as_str());
        assert_eq!((guest, auth), (Some("@guest"), Some("@auth")));
    }
}
