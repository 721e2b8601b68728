//! The new-location alert (PocketBase's `authAlert`): after a successful
//! login, a mail to the record's address when the client's network is not
//! one the record logged in from lately.
//!
//! **A location** is the client's network: the IPv4 /24 or IPv6 /64 of the
//! address the HTTP layer counts rate limits by (API Gateway's `sourceIp`,
//! never a header the client wrote). PocketBase fingerprints the full
//! address plus the `User-Agent`; Authgate leaves the `User-Agent` out (the
//! client chooses it, so it tells nothing about who is asking, and it
//! changes with every browser update, which would alert for nothing) and
//! takes the network rather than the address (addresses churn inside one
//! network).
//!
//! **Memory without addresses.** A sighting is a counter window (the
//! `CounterKey::AuthOrigin` key) named by a keyed digest: HMAC-SHA256, under
//! a key derived from the collection's auth-token secret, of the record's
//! `tokenKey`, the network and a 30-day period. The store never holds an
//! address, and a digest cannot be tested against guessed addresses without
//! the secret. Each window lasts two periods, and a login looks in this
//! period's and the previous one's, so a network is known while it is used
//! at least every 30 days and forgotten 30 to 60 days after its last use
//! (DynamoDB's TTL removes the items). One counter hit per login; about
//! four on the first login of a period.
//!
//! **PocketBase's rules kept:** the record's first remembered login alerts
//! nobody (there is nothing to compare with; a record-wide marker, digest of
//! "any network", tells it); a new `tokenKey` (password change or reset,
//! email change, `auth-revoke`, the pre-hijack hardening) forgets every
//! network, as PocketBase deletes a record's auth origins on a password
//! change; auth-refresh and an MFA first factor never alert (only a login
//! that ends with a token); a record without an email gets none.
//! **Authgate:** at most [`MAILS_PER_TARGET`](super::mail_delivery::MAILS_PER_TARGET)
//! alerts per address and hour; the mail goes through the outbox, so the
//! login never waits for the mail service.
//!
//! Nothing here fails or changes the login: errors are logged and dropped.

use std::net::IpAddr;

use base64::Engine as _;
use ring::hmac;
use sha2::{Digest, Sha256};

use crate::config::{AppConfig, Collection};
use crate::error::Result;
use crate::mail::Placeholders;
use crate::model::{CounterKey, MailFlow, Record, Timestamp};

use super::mail_delivery;
use super::Ctx;

/// How long one sighting counts: a login looks back one period before the
/// current one.
pub const PERIOD_SECS: i64 = 30 * 24 * 3600;

/// The digest standing for "any network": the record-wide marker.
const ANY_NETWORK: &str = "*";

/// Notes a successful login of `record` from `client` (the HTTP layer's
/// client key) and queues the alert when its network is new. Never fails:
/// errors are logged.
pub async fn note_login(
    ctx: &Ctx,
    cfg: &AppConfig,
    collection: &Collection,
    record: &Record,
    client: Option<&str>,
    now: Timestamp,
) {
    if !collection.auth_alert.enabled {
        return;
    }
    let Some(network) = client.and_then(network) else {
        tracing::debug!(record = %record.id, "login without a usable client address: no location check");
        return;
    };
    if let Err(e) = check(ctx, cfg, collection, record, &network, now).await {
        tracing::warn!(error = %e, record = %record.id, "new-location check failed; login goes on");
    }
}

async fn check(
    ctx: &Ctx,
    cfg: &AppConfig,
    collection: &Collection,
    record: &Record,
    network: &str,
    now: Timestamp,
) -> Result<()> {
    let sightings = Sightings::new(ctx, collection, record, now);
    if !sightings.first_this_period(network).await? {
        return Ok(()); // seen this period: nothing else to do
    }
    let known_network = sightings.seen_last_period(network).await?;
    // The marker is refreshed on each network's first login of a period,
    // so it lives as long as any network does.
    let known_record = !sightings.first_this_period(ANY_NETWORK).await?
        || sightings.seen_last_period(ANY_NETWORK).await?;
    if known_network || !known_record || record.email.is_empty() {
        return Ok(());
    }
    if !mail_delivery::target_allowed(ctx, MailFlow::AuthAlert, &record.email, now).await? {
        tracing::info!(record = %record.id, "new-location alert throttled");
        return Ok(());
    }
    let message = mail_delivery::render(
        cfg,
        collection,
        MailFlow::AuthAlert,
        record,
        &record.email,
        &Placeholders::default(),
    );
    let item = mail_delivery::outbox_item(ctx, collection, &message, now)?;
    ctx.store.enqueue_mail(&item).await?;
    tracing::info!(record = %record.id, "login from a new location: alert queued");
    Ok(())
}

/// The sightings of one record's networks.
struct Sightings<'a> {
    ctx: &'a Ctx,
    collection: &'a Collection,
    record: &'a Record,
    key: hmac::Key,
    period: i64,
    now: Timestamp,
}

impl<'a> Sightings<'a> {
    fn new(ctx: &'a Ctx, collection: &'a Collection, record: &'a Record, now: Timestamp) -> Self {
        Self {
            ctx,
            collection,
            record,
            key: digest_key(collection.auth_token.secret.expose()),
            period: now.seconds().div_euclid(PERIOD_SECS),
            now,
        }
    }

    fn digest(&self, network: &str, period: i64) -> String {
        digest(&self.key, &self.record.token_key, network, period)
    }

    async fn hit(&self, digest: &str, window_secs: i64) -> Result<bool> {
        let key = CounterKey::AuthOrigin {
            collection_id: &self.collection.id,
            record_id: &self.record.id,
            digest,
        };
        Ok(self.ctx.store.hit(&key, 1, window_secs, self.now).await?)
    }

    /// Records a sighting in this period; `true` when it is the first.
    async fn first_this_period(&self, network: &str) -> Result<bool> {
        self.hit(&self.digest(network, self.period), 2 * PERIOD_SECS)
            .await
    }

    /// Whether `network` was seen in the previous period. The probe is a
    /// hit too (the port has no read): on a live window it only adds a
    /// count; where there is none, it opens one of a second, which is over
    /// before anyone could read it as a sighting.
    async fn seen_last_period(&self, network: &str) -> Result<bool> {
        Ok(!self.hit(&self.digest(network, self.period - 1), 1).await?)
    }
}

/// The digest key: derived for this purpose from the collection's
/// auth-token secret (rotating that secret forgets every network).
fn digest_key(secret: &str) -> hmac::Key {
    let mut h = Sha256::new();
    h.update(b"authgate-auth-origin-v1\0");
    h.update(secret.as_bytes());
    hmac::Key::new(hmac::HMAC_SHA256, &h.finalize())
}

/// HMAC of the record's token key, the network and the period; 128 bits,
/// base64url.
fn digest(key: &hmac::Key, token_key: &str, network: &str, period: i64) -> String {
    let mut ctx = hmac::Context::with_key(key);
    for part in [token_key, network, &period.to_string()] {
        ctx.update(part.as_bytes());
        ctx.update(b"\0");
    }
    let tag = ctx.sign();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&tag.as_ref()[..16])
}

/// The network of a client address: its IPv4 /24 or IPv6 /64 (an
/// IPv4-mapped IPv6 address counts as IPv4). Takes the HTTP layer's client
/// key as is (`192.0.2.7`, `2001:db8::/64`); `None` for anything else.
pub fn network(client: &str) -> Option<String> {
    let address = client.trim();
    let address = address.strip_suffix("/64").unwrap_or(address);
    let ip: IpAddr = address.parse().ok()?;
    let v4 = match ip {
        IpAddr::V4(v4) => v4,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4,
            None => {
                let s = v6.segments();
                return Some(format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3]));
            }
        },
    };
    let [a, b, c, _] = v4.octets();
    Some(format!("{a}.{b}.{c}.0/24"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_location_is_the_clients_ipv4_slash_24_or_ipv6_slash_64() {
        let cases = [
            ("203.0.113.5", Some("203.0.113.0/24")),
            ("203.0.113.250", Some("203.0.113.0/24")),
            ("2001:db8:1:2::/64", Some("2001:db8:1:2::/64")),
            ("2001:db8:1:2:aaaa::7", Some("2001:db8:1:2::/64")),
            ("::ffff:198.51.100.9", Some("198.51.100.0/24")),
            ("", None),
            ("unknown", None),
            ("203.0.113.5/24", None),
        ];
        for (client, want) in cases {
            assert_eq!(network(client).as_deref(), want, "{client:?}");
        }
    }

    #[test]
    fn digests_differ_by_secret_token_key_network_and_period_and_hide_the_network() {
        let key = digest_key("secret");
        let base = digest(&key, "tk", "203.0.113.0/24", 7);
        assert_eq!(base.len(), 22);
        assert!(!base.contains("203"), "{base}");
        assert_eq!(
            base,
            digest(&digest_key("secret"), "tk", "203.0.113.0/24", 7)
        );
        for other in [
            digest(&digest_key("other"), "tk", "203.0.113.0/24", 7),
            digest(&key, "tk2", "203.0.113.0/24", 7),
            digest(&key, "tk", "203.0.114.0/24", 7),
            digest(&key, "tk", "203.0.113.0/24", 8),
            digest(&key, "tk", ANY_NETWORK, 7),
        ] {
            assert_ne!(base, other);
        }
    }
}
