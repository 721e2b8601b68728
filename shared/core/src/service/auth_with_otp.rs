//! `POST auth-with-otp`: logs in with an OTP id and the code mailed for it.

use serde::Deserialize;

use crate::config::Collection;
use crate::error::{Error, FieldError, FieldErrors, Result};
use crate::model::{Otp, Record, Timestamp};
use crate::ports::StoreError;
use crate::random;
use crate::validate::unique_keys;

use super::request_otp::{code_hash, ensure_enabled};
use super::{finish_auth, mail_flows, method, AuthOutcome, Ctx};

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct AuthWithOtpInput {
    pub otp_id: String,
    pub password: String,
    pub mfa_id: String,
}

/// Code checks allowed per record and window, right or wrong (PocketBase:
/// 5 per 180 s). An 8-digit code then takes ~10^7 windows to guess.
pub const MAX_CHECKS: u32 = 5;
pub const CHECK_WINDOW_SECS: i64 = 180;

const VALIDATION_FAILED: &str = "An error occurred while validating the submitted data.";

/// One answer for a wrong, unknown, expired, used or foreign OTP, so OTP ids
/// cannot be probed.
fn invalid_otp() -> Error {
    Error::bad_request("Invalid or expired OTP.")
}

fn length(value: &str, max: usize, errors: &mut FieldErrors, field: &str) {
    if value.is_empty() {
        errors.insert(field.into(), FieldError::required());
    } else if value.chars().count() > max {
        errors.insert(
            field.into(),
            FieldError::new(
                "validation_length_out_of_range",
                format!("The length must be between 1 and {max}."),
            ),
        );
    }
}

pub async fn auth_with_otp(
    ctx: &Ctx,
    collection: &Collection,
    input: AuthWithOtpInput,
    mfa_id: Option<&str>,
    now: Timestamp,
) -> Result<AuthOutcome> {
    ensure_enabled(collection)?;
    let mut errors = FieldErrors::new();
    length(&input.otp_id, 255, &mut errors, "otpId");
    length(&input.password, 71, &mut errors, "password");
    if !errors.is_empty() {
        return Err(Error::validation(VALIDATION_FAILED, errors));
    }

    let otp = ctx
        .store
        .get_otp(&collection.id, &input.otp_id)
        .await?
        .filter(|o| o.collection_id == collection.id && !expired(collection, o, now))
        .ok_or_else(invalid_otp)?;

    // Codes are short digit strings: every check counts against the OTP's
    // record, right or wrong, and is counted before the code is looked at,
    // so the limit also holds for guesses racing each other. It is counted
    // before the record is loaded, keyed by the OTP's `record_id`, so the
    // decoy OTPs of unknown emails (see `request_otp`) run into the same
    // 429 as real ones and cannot be told apart by it.
    let key = format!("otp:check:{}:{}", collection.id, otp.record_id);
    if !ctx
        .store
        .hit(&key, MAX_CHECKS, CHECK_WINDOW_SECS, now)
        .await?
    {
        return Err(Error::TooManyRequests(
            "Too many attempts, please try again later with a new OTP.".into(),
        ));
    }

    // A decoy's record never exists (and its hash never matches). The
    // consume still runs when the record is missing, so a decoy costs the
    // same store calls as a real OTP with a wrong code.
    let record = ctx.store.get_record(&collection.id, &otp.record_id).await?;

    // The conditional delete is the check: of many concurrent uses of one
    // OTP exactly one gets `true`.
    let hash = code_hash(collection, &otp.id, &input.password);
    let consumed = ctx
        .store
        .consume_otp(&collection.id, &otp.id, &hash, now)
        .await?;
    let Some(record) = record.filter(|_| consumed) else {
        return Err(invalid_otp());
    };

    let record = mark_verified(ctx, collection, record, &otp, now).await;
    let mfa_id = mfa_id
        .filter(|s| !s.is_empty())
        .or(Some(input.mfa_id.as_str()).filter(|s| !s.is_empty()));
    finish_auth(ctx, collection, &record, method::OTP, mfa_id, None, now).await
}

/// Expired by the stored expiry or by the collection's current duration,
/// whichever comes first (a shortened duration applies to live OTPs too).
fn expired(collection: &Collection, otp: &Otp, now: Timestamp) -> bool {
    otp.expires_at <= now || otp.created.plus_secs(collection.otp.duration) <= now
}

/// A code that reached the record's own address proves the address: an
/// unverified record becomes verified. Without MFA the OTP alone is now a
/// full login, so the password (and with it every earlier token) is replaced
/// by a random one: whoever signed up with this address before its owner
/// (pre-account-hijacking) loses access. With or without MFA, OAuth2 links
/// made while the record was unverified are dropped and its tokens revoked,
/// so a pre-hijacker's linked identity stops working as well.
///
/// As in PocketBase, a failed update is logged and the login goes on: the
/// OTP was valid and is already used up.
async fn mark_verified(
    ctx: &Ctx,
    collection: &Collection,
    record: Record,
    otp: &Otp,
    now: Timestamp,
) -> Record {
    let mut current = record;
    let mut links_dropped = false;
    for attempt in 0..2 {
        if !needs_verifying(&current, otp) {
            return current;
        }
        match verify_record(ctx, collection, &current, now, &mut links_dropped).await {
            Ok(updated) => return updated,
            Err(UpdateFailure::Stale) if attempt == 0 => {
                match ctx.store.get_record(&collection.id, &current.id).await {
                    Ok(Some(fresh)) => current = fresh,
                    Ok(None) => return current,
                    Err(err) => {
                        log_update_failure(collection, &current, otp, &err.to_string());
                        return current;
                    }
                }
            }
            Err(err) => {
                log_update_failure(collection, &current, otp, &err.to_string());
                return current;
            }
        }
    }
    current
}

fn needs_verifying(record: &Record, otp: &Otp) -> bool {
    !record.verified
        && !otp.sent_to.is_empty()
        && crate::email::fold(&otp.sent_to) == crate::email::fold(&record.email)
}

#[derive(Debug, thiserror::Error)]
enum UpdateFailure {
    #[error("record changed concurrently")]
    Stale,
    #[error("{0}")]
    Other(String),
}

/// Writes `old` as verified. As on every unverified → verified change
/// (PocketBase), its OAuth2 links are dropped first: whoever created the
/// account before the owner of the address could have linked their own
/// OAuth2 identity to it, and that link must not outlive the proof. Dropping
/// links also revokes the record's tokens; `links_dropped` carries that over
/// a retry, where the links are already gone but the token key of the lost
/// write was never stored.
async fn verify_record(
    ctx: &Ctx,
    collection: &Collection,
    old: &Record,
    now: Timestamp,
    links_dropped: &mut bool,
) -> Result<Record, UpdateFailure> {
    let mut new = mail_flows::next_version(collection, old, now);
    new.verified = true;
    if !collection.mfa.enabled {
        let password = random::string(ctx.rng.as_ref(), 40, random::ALNUM);
        new.password_hash = ctx
            .hash_password(&password)
            .await
            .map_err(|e| UpdateFailure::Other(e.to_string()))?;
        mail_flows::rotate_token_key(ctx, &mut new);
    }
    let key_before = new.token_key.clone();
    mail_flows::drop_links_on_verified_upgrade(ctx, old, &mut new)
        .await
        .map_err(|e| UpdateFailure::Other(format!("dropping OAuth2 links: {e}")))?;
    if new.token_key != key_before {
        *links_dropped = true;
    } else if *links_dropped && new.token_key == old.token_key {
        mail_flows::rotate_token_key(ctx, &mut new);
    }
    let keys = unique_keys(collection, old);
    match ctx.store.update_record(old, &new, &keys, &keys).await {
        Ok(()) => Ok(new),
        Err(StoreError::Stale) => Err(UpdateFailure::Stale),
        Err(e) => Err(UpdateFailure::Other(e.to_string())),
    }
}

fn log_update_failure(collection: &Collection, record: &Record, otp: &Otp, error: &str) {
    tracing::error!(
        error,
        collection = %collection.name,
        record_id = %record.id,
        otp_id = %otp.id,
        "failed to mark the record verified after a successful OTP"
    );
}
