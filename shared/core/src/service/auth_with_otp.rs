//! `POST auth-with-otp`: logs in with an OTP id and the code mailed for it.

use serde::Deserialize;

use crate::config::{AppConfig, Collection};
use crate::error::{Error, FieldErrors, Result};
use crate::form::{self, Errors};
use crate::model::{AuthMethod, CounterKey, Otp, Record, Timestamp};
use crate::secret::Secret;

use super::auth::{self, Factor};
use super::records::{self, Hardening, HardeningSteps};
use super::request_otp::code_hash;
use super::{finish_auth, AuthOutcome, Ctx, LoginRequest};

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct AuthWithOtpInput {
    pub otp_id: String,
    /// The code (PocketBase calls it `password`).
    pub password: Secret,
    pub mfa_id: String,
}

impl AuthWithOtpInput {
    pub fn validate(&self) -> FieldErrors {
        let mut errors = Errors::new();
        errors
            .add("otpId", form::required_length(&self.otp_id, 1, 255))
            .add(
                "password",
                form::required_length(self.password.expose(), 1, 71),
            );
        errors.into_inner()
    }
}

/// Code checks allowed per record and window, right or wrong (PocketBase:
/// 5 per 180 s). An 8-digit code then takes ~10^7 windows to guess.
pub const MAX_CHECKS: u32 = 5;
pub const CHECK_WINDOW_SECS: i64 = 180;

/// One answer for a wrong, unknown, expired, used or foreign OTP, so OTP ids
/// cannot be probed.
fn invalid_otp() -> Error {
    Error::bad_request("Invalid or expired OTP.")
}

/// Checks the code (the collection must allow OTP: `guards`) and logs the
/// OTP's record in, or starts or finishes MFA. `request` carries the
/// query's `mfaId` and the client's address.
pub async fn auth_with_otp(
    ctx: &Ctx,
    cfg: &AppConfig,
    collection: &Collection,
    input: AuthWithOtpInput,
    request: LoginRequest<'_>,
    now: Timestamp,
) -> Result<AuthOutcome> {
    form::check(input.validate())?;

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
    let key = CounterKey::OtpCheck {
        collection_id: &collection.id,
        record_id: &otp.record_id,
    };
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
    if let Some(r) = &record {
        // The request log names the account by its id (see auth_with_password).
        tracing::Span::current().record("record", r.id.as_str());
    }

    // The conditional delete is the check: of many concurrent uses of one
    // OTP exactly one gets `true`.
    let hash = code_hash(collection, &otp.id, input.password.expose());
    let consumed = ctx
        .store
        .consume_otp(&collection.id, &otp.id, &hash, now)
        .await?;
    let Some(record) = record.filter(|_| consumed) else {
        return Err(invalid_otp());
    };

    let record = mark_verified(ctx, collection, record, &otp, now).await;
    let factor = Factor {
        method: AuthMethod::Otp,
        mfa_id: auth::mfa_id(request.mfa_id, &input.mfa_id),
        meta: None,
        client: request.client,
    };
    finish_auth(ctx, cfg, collection, &record, factor, now).await
}

/// Expired by the stored expiry or by the collection's current duration,
/// whichever comes first (a shortened duration applies to live OTPs too).
fn expired(collection: &Collection, otp: &Otp, now: Timestamp) -> bool {
    otp.expires_at <= now || otp.created.plus_secs(collection.otp.duration) <= now
}

/// A code that reached the record's own address proves the address: an
/// unverified record becomes verified, with the shared hardening (OAuth2
/// links made while it was unverified are dropped, its tokens revoked).
/// Without MFA the OTP alone is now a full login, so the password (and with
/// it every earlier token) is replaced by a random one too: whoever signed
/// up with this address before its owner (pre-account-hijacking) loses
/// access.
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
    let steps = HardeningSteps {
        reset_password: !collection.mfa.enabled,
        drop_links: true,
    };
    let mut hardening = Hardening::new();
    let mut current = record;
    for attempt in records::attempts() {
        if attempt > 0 {
            // Lost a race: start again from what is stored now.
            match ctx.store.get_record(&collection.id, &current.id).await {
                Ok(Some(fresh)) => current = fresh,
                Ok(None) => return current,
                Err(e) => return log_failure(collection, current, otp, &e),
            }
        }
        if !needs_verifying(&current, otp) {
            return current;
        }
        let mut new = records::next_version(collection, &current, now);
        new.verified = true;
        if let Err(e) = hardening.apply(ctx, &current, &mut new, steps).await {
            return log_failure(collection, current, otp, &e);
        }
        match records::write(ctx, collection, &current, &new, None).await {
            Ok(true) => return new,
            Ok(false) => continue,
            Err(e) => return log_failure(collection, current, otp, &Error::from(e)),
        }
    }
    log_failure(collection, current, otp, &"the record kept changing")
}

/// Logs why the record could not be marked verified; the login goes on
/// with the record as it was read.
fn log_failure(
    collection: &Collection,
    record: Record,
    otp: &Otp,
    error: &dyn std::fmt::Display,
) -> Record {
    tracing::error!(
        error = %error,
        collection = %collection.name,
        record_id = %record.id,
        otp_id = %otp.id,
        "failed to mark the record verified after a successful OTP"
    );
    record
}

fn needs_verifying(record: &Record, otp: &Otp) -> bool {
    !record.verified
        && !otp.sent_to.is_empty()
        && crate::email::fold(&otp.sent_to) == crate::email::fold(&record.email)
}
