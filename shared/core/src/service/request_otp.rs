//! `POST request-otp`: mails a one-time password and answers with its id.
//!
//! Unknown emails get the same answer (200 with a fresh-looking id) and no
//! mail, after comparable work, so the endpoint cannot tell which addresses
//! have accounts.

use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::config::{Collection, Meta};
use crate::error::{Error, FieldError, FieldErrors, Result};
use crate::mail::{self, Placeholders};
use crate::model::{Otp, Record, Timestamp};
use crate::random;
use crate::validate::identity_key;

use super::Ctx;

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RequestOtpInput {
    pub email: String,
}

/// Live OTPs a record may have at once (PocketBase: 9). Further requests in
/// the window answer like any other request but issue nothing.
pub const MAX_LIVE_OTPS: u32 = 9;

const VALIDATION_FAILED: &str = "An error occurred while validating the submitted data.";

/// 403 unless the collection allows OTP logins. Both OTP endpoints check
/// this before reading the body, as PocketBase does.
pub fn ensure_enabled(collection: &Collection) -> Result<()> {
    if collection.otp.enabled {
        Ok(())
    } else {
        Err(Error::Forbidden(
            "The collection is not configured to allow OTP authentication.".into(),
        ))
    }
}

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

/// Issues an OTP for the record owning `input.email` and mails it; returns
/// the OTP id (a fake one when nothing was issued).
pub async fn request_otp(
    ctx: &Ctx,
    meta: &Meta,
    collection: &Collection,
    input: RequestOtpInput,
    now: Timestamp,
) -> Result<String> {
    ensure_enabled(collection)?;
    let email = input.email.trim();
    let mut errors = FieldErrors::new();
    if email.is_empty() {
        errors.insert("email".into(), FieldError::required());
    } else if email.chars().count() > 255 {
        errors.insert(
            "email".into(),
            FieldError::new(
                "validation_length_out_of_range",
                "The length must be between 1 and 255.",
            ),
        );
    } else if !crate::email::is_valid(email) {
        errors.insert("email".into(), FieldError::is_email());
    }
    if !errors.is_empty() {
        return Err(Error::validation(VALIDATION_FAILED, errors));
    }

    let record = ctx
        .store
        .find_record_by_unique(&collection.id, &identity_key(collection, "email", email))
        .await?;

    // Id, code and hash are made before we know whether they will be used,
    // so every branch below starts from the same work.
    let otp_id = random::record_id(ctx.rng.as_ref());
    let code = ctx.random_string(collection.otp.length, random::DIGITS);
    let hash = code_hash(collection, &otp_id, &code);

    let Some(record) = record else {
        stand_in_work(ctx, &code).await?;
        return Ok(otp_id);
    };

    // A counter, not a scan of live OTPs: the store has no per-record OTP
    // index. Over the limit we answer exactly as usual (a fresh id, 200) but
    // store and mail nothing; answering differently would tell an attacker
    // the address has an account.
    let key = format!("otp:issue:{}:{}", collection.id, record.id);
    if !ctx
        .store
        .hit(&key, MAX_LIVE_OTPS, collection.otp.duration, now)
        .await?
    {
        tracing::warn!(
            collection = %collection.name,
            record_id = %record.id,
            "too many OTP requests for one record; nothing issued"
        );
        stand_in_work(ctx, &code).await?;
        return Ok(otp_id);
    }

    let otp = Otp {
        id: otp_id,
        collection_id: collection.id.clone(),
        record_id: record.id.clone(),
        code_hash: hash,
        sent_to: record.email.clone(),
        created: now,
        expires_at: now.plus_secs(collection.otp.duration),
    };
    ctx.store.insert_otp(&otp).await?;
    send_mail(ctx, meta, collection, &record, &otp, &code, now).await?;
    Ok(otp.id)
}

/// Mails the code. A failed delivery is logged and the OTP withdrawn, but
/// the answer stays 200: a 500 here would only ever happen for existing
/// accounts (PocketBase likewise sends in the background and never reports).
async fn send_mail(
    ctx: &Ctx,
    meta: &Meta,
    collection: &Collection,
    record: &Record,
    otp: &Otp,
    code: &str,
    now: Timestamp,
) -> Result<()> {
    let placeholders = Placeholders {
        otp: Some(code),
        otp_id: Some(&otp.id),
        ..Default::default()
    };
    let message = mail::render(
        meta,
        collection,
        &collection.otp.email_template,
        record,
        &record.email,
        &placeholders,
        "otp",
    );
    if let Err(err) = ctx.mailer.send(&message).await {
        tracing::error!(
            error = %err,
            collection = %collection.name,
            record_id = %record.id,
            otp_id = %otp.id,
            "failed to send the OTP mail; OTP withdrawn"
        );
        ctx.store
            .consume_otp(&otp.collection_id, &otp.id, &otp.code_hash, now)
            .await?;
    }
    Ok(())
}

/// What an unknown email (or an over-limit request) does instead of two
/// store writes and a mail: one argon2 verification against the dummy hash,
/// in the same order of magnitude, so the answer does not come back
/// measurably faster than a real one.
async fn stand_in_work(ctx: &Ctx, code: &str) -> Result<()> {
    ctx.verify_password(None, code).await.map(drop)
}
