//! Password hashing with argon2id (OWASP parameters: m=19456 KiB, t=2, p=1)
//! on a bounded pool of worker threads.
//!
//! One hash costs ~25 ms of CPU and 19 MiB of memory. Run on tokio's
//! blocking pool, N concurrent logins meant N threads each allocating (and
//! the allocator keeping) 19 MiB: memory grew with load, unbounded. Here a
//! fixed number of workers (one per core by default) each own one reusable
//! 19 MiB block buffer (allocated on its first job); requests wait in a bounded FIFO queue, and past its
//! bound are refused at once ([`Error::Unavailable`], 503) instead of piling
//! up.
//!
//! Records imported from PocketBase keep their bcrypt hashes (`$2a$`, `$2b$`,
//! `$2y$`): [`Hasher::verify`] checks those with bcrypt on the same pool, and
//! [`is_legacy`] tells the login to rehash them to argon2id once the password
//! is known (`service::records::upgrade_legacy_hash`).

use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, OnceLock};

use argon2::password_hash::{PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use base64::Engine as _;
use subtle::ConstantTimeEq;
use tokio::sync::oneshot;

use crate::error::{Error, Result};

/// OWASP's argon2id recommendation: m=19456 KiB, t=2, p=1.
const M_KIB: u32 = 19_456;
const T_COST: u32 = 2;
const P_COST: u32 = 1;
const OUTPUT_LEN: usize = 32;

/// A real argon2id hash (our parameters) of a random password that was
/// thrown away: verifying against it costs exactly what verifying a real
/// record's hash costs, so an unknown identity answers as slowly as a wrong
/// password. It is a constant so that no hash is computed at start-up.
pub const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$Ne8sTBPFzU1o0dC4hG9s0w$D7bdqcOoXn8Gu8zJmHAobobvuXjQ6qV27GGWzlHlwzU";

/// The highest bcrypt cost verified. PocketBase hashes with cost 10 unless
/// a collection's password field sets another (4 to 31); each step doubles
/// the work, so a stored hash above this bound (a cost of 31 takes hours)
/// is treated as malformed rather than letting one login occupy a worker.
/// The importer reports such hashes.
pub const BCRYPT_MAX_COST: u32 = 16;

/// The longest password a bcrypt hash can have come from: PocketBase
/// refuses passwords over 71 bytes because bcrypt reads only the first 72.
/// A longer password never matches a bcrypt hash (bcrypt alone would
/// accept any continuation of the first 72 bytes).
pub const BCRYPT_MAX_PASSWORD_BYTES: usize = 72;

/// Whether `phc` is a hash Authgate only verifies and replaces with argon2id
/// on the next successful login: a bcrypt hash imported from PocketBase.
pub fn is_legacy(phc: &str) -> bool {
    bcrypt_cost(phc).is_some()
}

/// The cost of a bcrypt hash (`$2a$`, `$2b$` or `$2y$`, as PocketBase's Go
/// library writes them) when it is well-formed and within
/// [`BCRYPT_MAX_COST`]; `None` for anything else.
pub fn bcrypt_cost(phc: &str) -> Option<u32> {
    let rest = ["$2a$", "$2b$", "$2y$"]
        .iter()
        .find_map(|p| phc.strip_prefix(p))?;
    let (cost, tail) = rest.split_once('$')?;
    let cost: u32 = cost.parse().ok().filter(|_| cost.len() == 2)?;
    let well_formed = tail.len() == 53
        && tail
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'/');
    ((4..=BCRYPT_MAX_COST).contains(&cost) && well_formed).then_some(cost)
}

fn params(m: u32, t: u32, p: u32) -> Result<Params> {
    Params::new(m, t, p, Some(OUTPUT_LEN)).map_err(Error::internal)
}

enum Job {
    Hash {
        password: String,
        salt: [u8; 16],
        reply: oneshot::Sender<Result<String>>,
    },
    Verify {
        password: String,
        phc: String,
        reply: oneshot::Sender<bool>,
    },
}

/// The hashing pool. Cheap to clone (a handle to the queue). Its threads
/// start with the first job: a process that never hashes (most Lambda
/// functions) starts none and does not even count its cores.
#[derive(Clone)]
pub struct Hasher {
    pool: Arc<Pool>,
}

struct Pool {
    /// Workers and waiting jobs; `None`: one worker per core and 32
    /// waiting jobs per worker.
    size: Option<(usize, usize)>,
    queue: OnceLock<SyncSender<Job>>,
}

impl Pool {
    fn queue(&self) -> &SyncSender<Job> {
        self.queue.get_or_init(|| {
            let (workers, queue) = self.size.unwrap_or_else(|| {
                let cores = std::thread::available_parallelism().map_or(1, usize::from);
                (cores, cores * 32)
            });
            let (tx, rx) = mpsc::sync_channel(queue);
            let rx = Arc::new(Mutex::new(rx));
            for i in 0..workers {
                let rx = rx.clone();
                let spawned = std::thread::Builder::new()
                    .name(format!("argon2-{i}"))
                    .spawn(move || worker(&rx));
                if let Err(e) = spawned {
                    tracing::error!(error = %e, "cannot start a password hashing worker");
                }
            }
            tx
        })
    }
}

impl Hasher {
    /// `workers` threads (at least one) behind a queue of `queue` waiting
    /// jobs.
    pub fn new(workers: usize, queue: usize) -> Self {
        Self::with(Some((workers.max(1), queue)))
    }

    /// One worker per core, and up to 32 waiting jobs per worker.
    pub fn per_core() -> Self {
        Self::with(None)
    }

    fn with(size: Option<(usize, usize)>) -> Self {
        Self {
            pool: Arc::new(Pool {
                size,
                queue: OnceLock::new(),
            }),
        }
    }

    fn submit(&self, job: Job) -> Result<()> {
        self.pool.queue().try_send(job).map_err(|e| match e {
            TrySendError::Full(_) => Error::Unavailable,
            TrySendError::Disconnected(_) => Error::internal("password hashing workers are gone"),
        })
    }

    /// Hashes `password` with `salt` (16 random bytes, injected so hashing
    /// stays deterministic under test) into a PHC string.
    pub async fn hash(&self, password: &str, salt: [u8; 16]) -> Result<String> {
        let (reply, answer) = oneshot::channel();
        self.submit(Job::Hash {
            password: password.to_owned(),
            salt,
            reply,
        })?;
        answer.await.map_err(Error::internal)?
    }

    /// Whether `password` matches the PHC string `phc`. A malformed hash
    /// verifies as false rather than erroring, after the same work as a real
    /// verify (against [`DUMMY_HASH`]), so a corrupt record cannot be told
    /// apart from a wrong password, neither by the answer nor by its time.
    pub async fn verify(&self, password: &str, phc: &str) -> Result<bool> {
        let (reply, answer) = oneshot::channel();
        self.submit(Job::Verify {
            password: password.to_owned(),
            phc: phc.to_owned(),
            reply,
        })?;
        answer.await.map_err(Error::internal)
    }
}

/// A worker: takes jobs in arrival order and computes them in its own
/// block buffer, allocated once.
fn worker(queue: &Mutex<Receiver<Job>>) {
    // Allocated on the first job, not at start: an idle pool (a function
    // that never hashes) holds no memory.
    let mut memory: Vec<Block> = Vec::new();
    loop {
        let job = match queue.lock() {
            Ok(rx) => rx.recv(),
            Err(_) => return,
        };
        let Ok(job) = job else {
            return; // every Hasher handle is gone
        };
        if memory.is_empty() {
            memory.resize(M_KIB as usize, Block::default());
        }
        match job {
            Job::Hash {
                password,
                salt,
                reply,
            } => {
                let _ = reply.send(hash_with(&mut memory, &password, &salt));
            }
            Job::Verify {
                password,
                phc,
                reply,
            } => {
                let _ = reply.send(verify_with(&mut memory, &password, &phc));
            }
        }
    }
}

fn hash_with(memory: &mut [Block], password: &str, salt: &[u8; 16]) -> Result<String> {
    let argon = Argon2::new(
        Algorithm::Argon2id,
        Version::V0x13,
        params(M_KIB, T_COST, P_COST)?,
    );
    let mut out = [0u8; OUTPUT_LEN];
    argon
        .hash_password_into_with_memory(password.as_bytes(), salt, &mut out, memory)
        .map_err(Error::internal)?;
    let salt = SaltString::encode_b64(salt).map_err(Error::internal)?;
    let hash = base64::engine::general_purpose::STANDARD_NO_PAD.encode(out);
    Ok(format!(
        "$argon2id$v=19$m={M_KIB},t={T_COST},p={P_COST}${}${hash}",
        salt.as_str()
    ))
}

/// Whether `password` matches `phc`: an argon2id PHC string, or a bcrypt
/// hash imported from PocketBase ([`bcrypt_cost`]; compared in constant time
/// by the `bcrypt` crate). A malformed or unsupported stored hash (corrupt,
/// another algorithm, parameters argon2 refuses, a bcrypt cost over
/// [`BCRYPT_MAX_COST`]) is verified against [`DUMMY_HASH`] instead and
/// answers false: it costs what a real verify costs, so it cannot be told
/// apart from a wrong password by time.
fn verify_with(memory: &mut [Block], password: &str, phc: &str) -> bool {
    if is_legacy(phc) {
        #[cfg(test)]
        probe::record_bcrypt();
        // Always the full bcrypt work, whatever the length.
        let matched = bcrypt::verify(password, phc).unwrap_or(false);
        return matched && password.len() <= BCRYPT_MAX_PASSWORD_BYTES;
    }
    match Stored::parse(phc) {
        Some(stored) => stored.matches(memory, password),
        None => {
            if let Some(dummy) = Stored::parse(DUMMY_HASH) {
                let _ = dummy.matches(memory, password);
            }
            false
        }
    }
}

/// A stored argon2id hash, parsed: what a verify recomputes and compares.
struct Stored {
    params: Params,
    salt: Vec<u8>,
    expected: Vec<u8>,
}

impl Stored {
    /// `None` for anything but a well-formed argon2id PHC string with
    /// parameters argon2 accepts.
    fn parse(phc: &str) -> Option<Self> {
        let parsed = PasswordHash::new(phc).ok()?;
        if parsed.algorithm.as_str() != "argon2id" {
            return None;
        }
        let value = |name: &str| parsed.params.get_decimal(name).unwrap_or(0);
        let (m, t, p) = (value("m"), value("t"), value("p"));
        let (salt, expected) = (parsed.salt?, parsed.hash?);
        let mut salt_bytes = [0u8; 64];
        let salt = salt.decode_b64(&mut salt_bytes).ok()?.to_vec();
        let params = Params::new(m, t, p, Some(expected.len())).ok()?;
        Some(Self {
            params,
            salt,
            expected: expected.as_bytes().to_vec(),
        })
    }

    /// Recomputes the hash of `password` and compares in constant time.
    fn matches(&self, memory: &mut [Block], password: &str) -> bool {
        let (m, p) = (self.params.m_cost(), self.params.p_cost());
        #[cfg(test)]
        probe::record(m, self.params.t_cost(), p);
        let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, self.params.clone());
        let mut out = vec![0u8; self.expected.len()];
        // Our own parameters use the worker's buffer; others (imported
        // hashes) get one of their own for this call.
        let computed = if m == M_KIB && p == P_COST {
            argon.hash_password_into_with_memory(password.as_bytes(), &self.salt, &mut out, memory)
        } else {
            argon.hash_password_into(password.as_bytes(), &self.salt, &mut out)
        };
        computed.is_ok() && bool::from(out.as_slice().ct_eq(&self.expected))
    }
}

/// The argon2 runs of this thread, for tests that check work was done
/// without timing it.
#[cfg(test)]
mod probe {
    use std::cell::RefCell;

    thread_local! {
        static RUNS: RefCell<Vec<(u32, u32, u32)>> = const { RefCell::new(Vec::new()) };
    }

    pub(super) fn record(m: u32, t: u32, p: u32) {
        RUNS.with(|r| r.borrow_mut().push((m, t, p)));
    }

    /// A bcrypt run, recorded as `(0, 0, 0)`.
    pub(super) fn record_bcrypt() {
        record(0, 0, 0);
    }

    /// The `(m, t, p)` of each argon2 run since the last call.
    pub(super) fn take() -> Vec<(u32, u32, u32)> {
        RUNS.with(|r| std::mem::take(&mut *r.borrow_mut()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_pool_starts_its_workers_with_the_first_job() {
        let hasher = Hasher::per_core();
        assert!(hasher.pool.queue.get().is_none(), "no worker before a job");
        let h = hasher.hash("pw", [1; 16]).await.unwrap();
        assert!(hasher.pool.queue.get().is_some());
        assert!(hasher.clone().verify("pw", &h).await.unwrap());
    }

    #[tokio::test]
    async fn a_hash_verifies_only_its_own_password_and_uses_owasp_argon2id() {
        let hasher = Hasher::new(1, 4);
        let h = hasher.hash("correct horse", [7; 16]).await.unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(hasher.verify("correct horse", &h).await.unwrap());
        assert!(!hasher.verify("wrong horse", &h).await.unwrap());
        assert!(!hasher.verify("x", "not a phc string").await.unwrap());
    }

    #[tokio::test]
    async fn hashes_made_by_the_argon2_crate_itself_verify_and_vice_versa() {
        use argon2::password_hash::{PasswordHasher, PasswordVerifier};
        let argon = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            params(M_KIB, T_COST, P_COST).unwrap(),
        );
        let salt = SaltString::encode_b64(&[9; 16]).unwrap();
        let theirs = argon.hash_password(b"pw", &salt).unwrap().to_string();
        let hasher = Hasher::new(1, 4);
        assert!(hasher.verify("pw", &theirs).await.unwrap());
        let ours = hasher.hash("pw", [9; 16]).await.unwrap();
        assert_eq!(ours, theirs, "the same PHC string for the same input");
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(argon.verify_password(b"pw", &parsed).is_ok());
    }

    #[tokio::test]
    async fn the_dummy_hash_is_a_real_hash_of_our_parameters() {
        assert!(DUMMY_HASH.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        let hasher = Hasher::new(1, 4);
        assert!(!hasher.verify("", DUMMY_HASH).await.unwrap());
        assert!(PasswordHash::new(DUMMY_HASH).is_ok());
    }

    #[test]
    fn a_malformed_or_unsupported_stored_hash_costs_a_full_verify() {
        // Timing-free: the probe records each argon2 run on this thread.
        let mut memory = vec![Block::default(); M_KIB as usize];
        let (head, tail) = DUMMY_HASH.split_at(DUMMY_HASH.rfind('$').unwrap());
        let cases = [
            String::new(),
            "not a phc string".into(),
            // bcrypt, malformed or too costly to verify
            "$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhW".into(),
            "$2a$31$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy".into(),
            "$2x$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy".into(),
            DUMMY_HASH.replace("argon2id", "argon2i"),
            DUMMY_HASH.replace("m=19456", "m=1"),
            head.to_owned(),
            format!("{head}$!!!{}", &tail[1..]),
        ];
        probe::take();
        for phc in cases {
            assert!(!verify_with(&mut memory, "pw", &phc), "{phc:?}");
            assert_eq!(
                probe::take(),
                [(M_KIB, T_COST, P_COST)],
                "{phc:?} must cost one verify with our parameters"
            );
        }
        // A real hash: one run too, and the answer is the real one.
        assert!(!verify_with(&mut memory, "pw", DUMMY_HASH));
        assert_eq!(probe::take(), [(M_KIB, T_COST, P_COST)]);
    }

    /// `"password123"` hashed by PocketBase v0.40.6 (Go's bcrypt, cost 10).
    const PB_HASH: &str = "$2a$10$7T/QEIfawAlNdLU7mV1Jf.QC98vgbbHQC9jokv9bXnzsnE9SjCBce";

    #[tokio::test]
    async fn bcrypt_hashes_from_pocketbase_verify_with_bcrypt_and_are_legacy() {
        let hasher = Hasher::new(1, 4);
        assert!(hasher.verify("password123", PB_HASH).await.unwrap());
        assert!(!hasher.verify("password124", PB_HASH).await.unwrap());
        assert!(!hasher.verify("", PB_HASH).await.unwrap());
        for prefix in ["$2b$", "$2y$"] {
            let other = PB_HASH.replacen("$2a$", prefix, 1);
            assert!(
                hasher.verify("password123", &other).await.unwrap(),
                "{prefix}"
            );
        }
        assert!(is_legacy(PB_HASH));
        assert_eq!(bcrypt_cost(PB_HASH), Some(10));
        assert!(!is_legacy(DUMMY_HASH));
        let ours = hasher.hash("password", [3; 16]).await.unwrap();
        assert!(!is_legacy(&ours));
    }

    #[test]
    fn a_bcrypt_hash_never_matches_a_password_longer_than_bcrypt_reads() {
        let long = "a".repeat(BCRYPT_MAX_PASSWORD_BYTES);
        let hash = bcrypt::hash(&long, 4).unwrap();
        let mut memory = vec![Block::default(); M_KIB as usize];
        assert!(verify_with(&mut memory, &long, &hash));
        // bcrypt alone accepts any continuation of the first 72 bytes.
        let longer = format!("{long}b");
        assert!(bcrypt::verify(&longer, &hash).unwrap());
        probe::take();
        assert!(!verify_with(&mut memory, &longer, &hash));
        assert_eq!(probe::take(), [(0, 0, 0)], "still one full bcrypt run");
    }

    #[test]
    fn a_wrong_password_against_bcrypt_costs_one_bcrypt_run() {
        let mut memory = vec![Block::default(); M_KIB as usize];
        probe::take();
        assert!(!verify_with(&mut memory, "wrong", PB_HASH));
        assert_eq!(probe::take(), [(0, 0, 0)]);
    }

    #[tokio::test]
    async fn past_the_queue_bound_jobs_are_refused_not_queued() {
        // One worker, a queue of one: of many simultaneous jobs some must be
        // refused with `Unavailable` while the rest complete.
        let hasher = Hasher::new(1, 1);
        let jobs: Vec<_> = (0..6)
            .map(|i| {
                let h = hasher.clone();
                tokio::spawn(async move { h.hash(&format!("pw{i}"), [1; 16]).await })
            })
            .collect();
        let mut refused = 0;
        let mut done = 0;
        for j in jobs {
            match j.await.unwrap() {
                Ok(_) => done += 1,
                Err(Error::Unavailable) => refused += 1,
                Err(e) => panic!("{e}"),
            }
        }
        assert!(refused > 0 && done > 0, "refused {refused}, done {done}");
    }
}
