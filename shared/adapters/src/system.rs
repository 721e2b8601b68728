//! The real clock and randomness, injected at the edge.

use async_trait::async_trait;
use authgate_core::model::Timestamp;
use authgate_core::ports::{Clock, MailError, MailMessage, Mailer, Random};
use rand::RngCore;

/// Wall-clock time.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp(chrono::Utc::now().timestamp_millis())
    }
}

/// The operating system's CSPRNG.
#[derive(Debug, Default, Clone, Copy)]
pub struct OsRandom;

impl Random for OsRandom {
    fn fill(&self, buf: &mut [u8]) {
        rand::rngs::OsRng.fill_bytes(buf);
    }
}

/// The mailer of processes that never send (the request functions: they
/// queue mail in the outbox; only the `mailer` function sends). Keeps the
/// SES client out of their binaries.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoMailer;

#[async_trait]
impl Mailer for NoMailer {
    async fn send(&self, _message: &MailMessage) -> Result<(), MailError> {
        Err(MailError("this process does not send mail".into()))
    }
}
