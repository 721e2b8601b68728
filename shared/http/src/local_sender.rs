//! The local server's mail sender: what the `mailer` function does in AWS
//! (there the table's stream hands it each new outbox item), done here by
//! polling the store. `authgate serve` and the tests' `TestApp` run it, so
//! requests answer without waiting for mail everywhere, as in AWS.
//!
//! Every [`Options::interval`] it lists the waiting items and delivers each
//! one that is due with `mail_sender::deliver` (the same claim → open →
//! send → delete as the Lambda). An item whose send fails stays in the
//! store; this sender tries it again after 1 s, 2 s, 4 s, … at most every
//! [`MAX_RETRY_DELAY_MS`], logging each failure with the outbox id and the
//! attempt count, never the message (it carries a token or code). The
//! schedule lives in this process only: a restart tries everything again
//! at once, which is harmless (claims keep two senders off one item).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use authgate_core::model::Timestamp;
use authgate_core::service::mail_sender::{self, Delivery};

use crate::AppState;

/// How often the outbox is polled by default.
pub const DEFAULT_INTERVAL: Duration = Duration::from_millis(100);
/// The wait after a first failed send; doubled after each further failure.
pub const FIRST_RETRY_DELAY_MS: i64 = 1_000;
/// The longest wait between two attempts at one item.
pub const MAX_RETRY_DELAY_MS: i64 = 5 * 60 * 1_000;
/// Items looked at per poll. Large, so that items waiting for a retry do
/// not hide newer ones (the list is oldest first).
const BATCH: usize = 1_000;

/// How the sender runs.
#[derive(Clone)]
pub struct Options {
    /// Time between two polls of the outbox.
    pub interval: Duration,
    /// Held for the whole of each poll when set: a caller that takes it too
    /// (the tests' explicit delivery) never runs at the same time as a poll,
    /// so mails leave in the order they were queued.
    pub gate: Option<Arc<tokio::sync::Mutex<()>>>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            interval: DEFAULT_INTERVAL,
            gate: None,
        }
    }
}

/// Starts the sender with the default [`Options`] on the current runtime.
pub fn spawn(state: AppState) -> tokio::task::JoinHandle<()> {
    spawn_with(state, Options::default())
}

/// Starts the sender on the current runtime; it runs until aborted or the
/// runtime shuts down.
pub fn spawn_with(state: AppState, opts: Options) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut backoff = Backoff::default();
        let mut ticker = tokio::time::interval(opts.interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            let _guard = match &opts.gate {
                Some(gate) => Some(gate.lock().await),
                None => None,
            };
            poll(&state, &mut backoff).await;
        }
    })
}

/// One poll: delivers every waiting item that is due.
async fn poll(state: &AppState, backoff: &mut Backoff) {
    let cfg = match state.config().await {
        Ok(cfg) => cfg,
        Err(e) => {
            tracing::warn!(error = %e, "mail sender: no config; nothing sent this round");
            return;
        }
    };
    let ids = match state.ctx.store.pending_mail(BATCH).await {
        Ok(ids) => ids,
        Err(e) => {
            tracing::warn!(error = %e, "mail sender: cannot list the outbox");
            return;
        }
    };
    // Items sent by another sender, or expired, need no schedule any more.
    backoff.keep_only(&ids);
    let now = state.now();
    for id in ids {
        if !backoff.due(&id, now) {
            continue;
        }
        match mail_sender::deliver(&state.ctx, &cfg, &id, now).await {
            Ok(Delivery::Failed(_)) => {
                // `deliver` has logged the reason; this adds the schedule.
                let (attempt, wait_ms) = backoff.failed(&id, now);
                tracing::warn!(
                    outbox_id = %id,
                    attempt,
                    retry_in_ms = wait_ms,
                    "mail sender: delivery failed; will retry"
                );
            }
            Ok(Delivery::Sent | Delivery::Dropped) => backoff.forget(&id),
            // Another sender holds it: it will be listed again if it stays.
            Ok(Delivery::Busy) => {}
            Err(e) => {
                tracing::warn!(outbox_id = %id, error = %e, "mail sender: store error");
                let (attempt, wait_ms) = backoff.failed(&id, now);
                tracing::warn!(
                    outbox_id = %id,
                    attempt,
                    retry_in_ms = wait_ms,
                    "mail sender: delivery failed; will retry"
                );
            }
        }
    }
}

/// The wait before the next attempt after `attempts` failed ones (1 s, 2 s,
/// 4 s, … capped at [`MAX_RETRY_DELAY_MS`]); 0 before any failure.
pub fn retry_delay_ms(attempts: u32) -> i64 {
    if attempts == 0 {
        return 0;
    }
    // 2^19 s is far past the cap already; clamping the shift avoids overflow.
    let doublings = (attempts - 1).min(20);
    FIRST_RETRY_DELAY_MS
        .saturating_mul(1_i64 << doublings)
        .min(MAX_RETRY_DELAY_MS)
}

/// Per item: failed attempts so far and when it may be tried again.
#[derive(Debug, Default)]
struct Backoff {
    retries: HashMap<String, Retry>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Retry {
    attempts: u32,
    next: Timestamp,
}

impl Backoff {
    /// Whether `id` may be tried at `now`: never failed, or its wait is over.
    fn due(&self, id: &str, now: Timestamp) -> bool {
        self.retries.get(id).is_none_or(|r| r.next <= now)
    }

    /// Records a failed attempt at `now`; returns (attempts so far, wait in
    /// ms before the next one).
    fn failed(&mut self, id: &str, now: Timestamp) -> (u32, i64) {
        let retry = self.retries.entry(id.to_owned()).or_insert(Retry {
            attempts: 0,
            next: now,
        });
        retry.attempts = retry.attempts.saturating_add(1);
        let wait = retry_delay_ms(retry.attempts);
        retry.next = Timestamp(now.0.saturating_add(wait));
        (retry.attempts, wait)
    }

    fn forget(&mut self, id: &str) {
        self.retries.remove(id);
    }

    /// Drops the schedules of items no longer waiting.
    fn keep_only(&mut self, pending: &[String]) {
        let pending: HashSet<&str> = pending.iter().map(String::as_str).collect();
        self.retries.retain(|id, _| pending.contains(id.as_str()));
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn retries_wait_one_second_then_double_up_to_five_minutes() {
        let secs: Vec<i64> = (0..=12).map(|a| retry_delay_ms(a) / 1000).collect();
        assert_eq!(
            secs,
            [0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300, 300],
            "delay after n failed attempts"
        );
        assert_eq!(retry_delay_ms(u32::MAX), MAX_RETRY_DELAY_MS, "no overflow");
    }

    #[test]
    fn a_failed_item_waits_its_delay_while_others_stay_due() {
        let mut b = Backoff::default();
        let t0 = Timestamp(1_000_000);
        assert!(b.due("a", t0), "never tried: due");

        assert_eq!(b.failed("a", t0), (1, 1_000));
        assert!(!b.due("a", Timestamp(t0.0 + 999)));
        assert!(b.due("a", Timestamp(t0.0 + 1_000)));
        assert!(b.due("b", t0), "other items are not held back");

        let t1 = Timestamp(t0.0 + 1_000);
        assert_eq!(b.failed("a", t1), (2, 2_000));
        assert!(!b.due("a", Timestamp(t1.0 + 1_999)));
        let t2 = Timestamp(t1.0 + 2_000);
        assert_eq!(b.failed("a", t2), (3, 4_000));

        b.forget("a");
        assert!(b.due("a", t2), "sent: no schedule left");
        assert_eq!(b.failed("a", t2), (1, 1_000), "counting starts again");
    }

    #[test]
    fn schedules_of_items_no_longer_waiting_are_dropped() {
        let mut b = Backoff::default();
        let now = Timestamp(0);
        b.failed("gone", now);
        b.failed("kept", now);
        b.keep_only(&["kept".to_owned(), "new".to_owned()]);
        assert!(b.due("gone", now));
        assert!(!b.due("kept", now));
        assert_eq!(b.retries.len(), 1);
    }

    /// A poll against the memory store with a mailer that is down for its
    /// first two sends and a clock the test moves.
    #[tokio::test]
    async fn a_poll_retries_a_failed_item_on_its_schedule_and_sends_it_once() {
        use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};

        use authgate_adapters::memory::MemoryStore;
        use authgate_adapters::system::OsRandom;
        use authgate_core::config::{fill_secrets, AppConfig};
        use authgate_core::model::{MailFlow, Record};
        use authgate_core::ports::{Clock, MailError, MailMessage, Mailer, OutboxStore, Store};
        use authgate_core::service::{mail_delivery, Ctx};

        struct Flaky {
            calls: AtomicUsize,
        }
        #[async_trait::async_trait]
        impl Mailer for Flaky {
            async fn send(&self, _: &MailMessage) -> Result<(), MailError> {
                match self.calls.fetch_add(1, Ordering::SeqCst) {
                    0 | 1 => Err(MailError("provider down".into())),
                    _ => Ok(()),
                }
            }
        }
        struct At(AtomicI64);
        impl Clock for At {
            fn now(&self) -> Timestamp {
                Timestamp(self.0.load(Ordering::SeqCst))
            }
        }

        let mut doc = AppConfig::default_document();
        fill_secrets(&mut doc, None, &OsRandom);
        let cfg = Arc::new(AppConfig::from_json(&doc).unwrap());
        let store = Arc::new(MemoryStore::new());
        let mailer = Arc::new(Flaky {
            calls: AtomicUsize::new(0),
        });
        let clock = Arc::new(At(AtomicI64::new(1_000_000)));
        let ctx = Ctx::new(
            store.clone() as Arc<dyn Store>,
            mailer.clone(),
            clock.clone(),
            Arc::new(OsRandom),
        )
        .unwrap();
        let state = AppState::new(
            ctx.clone(),
            Arc::new(crate::config_source::StaticConfig(cfg.clone())),
        );

        let users = cfg.collection("users").unwrap();
        let record = Record {
            id: "r1aaaaaaaaaaaaa".into(),
            collection_id: users.id.clone(),
            email: "a@example.com".into(),
            email_visibility: false,
            verified: false,
            password_hash: String::new(),
            token_key: "key".into(),
            created: Timestamp(0),
            updated: Timestamp(0),
            fields: Default::default(),
            version: 1,
        };
        let message = mail_delivery::render(
            &cfg,
            users,
            MailFlow::Verification,
            &record,
            "a@example.com",
            &Default::default(),
        );
        let item = mail_delivery::outbox_item(&ctx, users, &message, clock.now()).unwrap();
        store.enqueue_mail(&item).await.unwrap();

        let mut backoff = Backoff::default();
        let calls = || mailer.calls.load(Ordering::SeqCst);
        let at = |ms: i64| clock.0.store(1_000_000 + ms, Ordering::SeqCst);
        // t = 0: first attempt fails; retried after 1 s.
        at(0);
        poll(&state, &mut backoff).await;
        assert_eq!(calls(), 1);
        at(999);
        poll(&state, &mut backoff).await;
        assert_eq!(calls(), 1, "not due before 1 s");
        // t = 1 s: second attempt fails; retried after 2 s more.
        at(1_000);
        poll(&state, &mut backoff).await;
        assert_eq!(calls(), 2);
        at(2_999);
        poll(&state, &mut backoff).await;
        assert_eq!(calls(), 2, "not due before 1 s + 2 s");
        assert_eq!(store.pending_mail(10).await.unwrap(), vec![item.id.clone()]);
        // t = 3 s: sent and deleted; nothing left to send or schedule.
        at(3_000);
        poll(&state, &mut backoff).await;
        assert_eq!(calls(), 3);
        assert!(store.pending_mail(10).await.unwrap().is_empty());
        assert!(backoff.retries.is_empty());
        at(60_000);
        poll(&state, &mut backoff).await;
        assert_eq!(calls(), 3, "sent once");
    }
}
