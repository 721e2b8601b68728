//! `POST request-otp`: queues a one-time password's mail and answers with
//! its id.
//!
//! Unknown emails get the same answer (200 with a fresh id) after the same
//! store work (a decoy OTP and a decoy mail), so the endpoint cannot tell
//! which addresses have accounts. Their id is not a bare fake either: a decoy OTP is stored under
//! it, so `auth-with-otp` counts checks against it and answers it exactly as
//! it answers a real OTP with a wrong code (400, then 429 on the 6th check).

use sha2::{Digest, Sha256};

use crate::config::{AppConfig, Collection};
use crate::error::Result;
use crate::form::EmailInput;
use crate::mail::Placeholders;
use crate::model::{CounterKey, MailFlow, Otp, Timestamp};
use crate::random;

use super::{mail_delivery, records, Ctx};

/// The request body.
pub type RequestOtpInput = EmailInput;

/// Live OTPs a record may have at once (PocketBase: 9). Further requests in
/// the window answer like any other request but issue nothing.
pub const MAX_LIVE_OTPS: u32 = 9;

/// The stored form of an OTP code: SHA-256 over the collection's auth-token
/// secret, the OTP id and the code. The secret makes a leaked table useless
/// for brute-forcing the (short, numeric) codes offline; the id binds the
/// hash to one OTP.
pub fn code_hash(collection: &Collection, otp_id: &str, code: &str) -> String {
    let mut h = Sha256::new();
    h.update(collection.auth_token.secret.expose().as_bytes());
    h.update(b"\0");
    h.update(otp_id.as_bytes());
    h.update(b"\0");
    h.update(code.as_bytes());
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

pub use super::records::decoy_record_id;

/// The `code_hash` of a decoy OTP: `~` and 63 random hex digits. Stored
/// hashes are compared by equality with [`code_hash`], whose output is always
/// 64 lowercase hex digits; a value containing `~` is outside that set, so
/// no code, right or wrong, can ever consume a decoy. (Its record is missing
/// too, so even a match could not log anyone in.)
fn decoy_code_hash(ctx: &Ctx) -> String {
    format!("~{}", ctx.random_string(63, b"0123456789abcdef"))
}

/// Issues an OTP for the record owning `input.email` and queues its mail;
/// returns the OTP id. For an unknown email a decoy OTP and a decoy mail
/// are stored instead; over the live-OTP limit only a decoy mail, and the id
/// is a fake.
pub async fn request_otp(
    ctx: &Ctx,
    cfg: &AppConfig,
    collection: &Collection,
    input: RequestOtpInput,
    now: Timestamp,
) -> Result<String> {
    let email = input.parse()?;
    let email = email.as_str();
    let (record, subject) = records::find_addressee(ctx, collection, email).await?;

    // Id, code and hash are made before we know whether they will be used,
    // so every branch below starts from the same work.
    let otp_id = random::record_id(ctx.rng.as_ref());
    let code = ctx.random_string(collection.otp.length, random::DIGITS);
    let hash = code_hash(collection, &otp_id, &code);

    // Known and unknown emails take the same steps: count the issue, then
    // store an OTP and its mail in one write. Only what is stored differs:
    // an unknown email gets a decoy OTP bound to a record id that cannot
    // exist and a hash that cannot match, and a decoy mail the sender drops.
    let (record_id, stored_hash) = match &record {
        Some(_) => (subject, hash),
        None => (subject, decoy_code_hash(ctx)),
    };

    // A counter, not a scan of live OTPs: the store has no per-record OTP
    // index. Over the limit we answer exactly as usual (a fresh id, 200) but
    // store no OTP and queue only a decoy mail; answering differently would
    // tell an attacker the address has an account. Decoys have the same
    // limit, so the 10th id is a bare fake for unknown addresses too.
    let key = CounterKey::OtpIssue {
        collection_id: &collection.id,
        record_id: &record_id,
    };
    if !ctx
        .store
        .hit(&key, MAX_LIVE_OTPS, collection.otp.duration, now)
        .await?
    {
        if record.is_some() {
            tracing::warn!(
                collection = %collection.name,
                record_id = %record_id,
                "too many OTP requests for one record; nothing issued"
            );
        }
        mail_delivery::queue_decoy(ctx, collection, MailFlow::Otp, now).await?;
        return Ok(otp_id);
    }

    let otp = Otp {
        id: otp_id,
        collection_id: collection.id.clone(),
        record_id,
        code_hash: stored_hash,
        sent_to: record.as_ref().map(|r| r.email.clone()).unwrap_or_default(),
        created: now,
        expires_at: now.plus_secs(collection.otp.duration),
    };
    let mail = match &record {
        Some(record) => {
            let placeholders = Placeholders {
                otp: Some(&code),
                otp_id: Some(&otp.id),
                ..Default::default()
            };
            let to = &record.email;
            let message =
                mail_delivery::render(cfg, collection, MailFlow::Otp, record, to, &placeholders);
            mail_delivery::outbox_item(ctx, collection, &message, now)?
        }
        None => mail_delivery::decoy_item(ctx, collection, MailFlow::Otp, now)?,
    };
    // The OTP and its mail are one write: a code is never live without the
    // mail that carries it, nor mailed without being live.
    ctx.store.insert_otp_with_mail(&otp, &mail).await?;
    Ok(otp.id)
}
