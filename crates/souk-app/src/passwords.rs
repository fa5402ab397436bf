//! Password hashing and checking (argon2id), bounded in CPU and memory whatever the load.
//!
//! Each check costs ~19 MiB and tens of milliseconds of a core by design. They run on a
//! fixed set of threads, one per core, each reusing one memory buffer for every check, in
//! front of a short queue: a burst of sign-ins beyond what the threads can take is told
//! "busy" at once (the page answers 429) instead of piling up threads and allocations.
//! Before this, every check ran on its own blocking thread with a fresh 19 MiB buffer,
//! and six bursts of 32 wrong sign-ins took a node from 16 MB to 3.66 GB resident.

use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};

use argon2::password_hash::rand_core::{OsRng, RngCore};
use argon2::password_hash::{Output, ParamsString, PasswordHash, Salt, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use tokio::sync::oneshot;

/// Checks waiting per thread before more are refused.
const QUEUE_PER_THREAD: usize = 16;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PasswordError {
    /// Every thread is busy and the queue is full: try again later (HTTP 429).
    #[error("too many password checks at once")]
    Busy,
    #[error("password hashing failed: {0}")]
    Failed(String),
}

enum Job {
    Hash {
        password: String,
        reply: oneshot::Sender<Result<String, PasswordError>>,
    },
    Verify {
        password: String,
        hash: Option<String>,
        reply: oneshot::Sender<bool>,
    },
}

/// The handle request handlers share; the threads end when the last handle is dropped.
#[derive(Clone)]
pub struct Passwords {
    jobs: SyncSender<Job>,
}

impl std::fmt::Debug for Passwords {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Passwords")
    }
}

impl Default for Passwords {
    fn default() -> Self {
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
        Self::new(threads, threads * QUEUE_PER_THREAD)
    }
}

impl Passwords {
    /// `threads` workers behind a queue of `queue` checks.
    pub fn new(threads: usize, queue: usize) -> Self {
        let (jobs, receiver) = mpsc::sync_channel(queue);
        let receiver = Arc::new(Mutex::new(receiver));
        for n in 0..threads.max(1) {
            let receiver = Arc::clone(&receiver);
            let spawned = std::thread::Builder::new()
                .name(format!("souk-passwords-{n}"))
                .spawn(move || work(&receiver));
            if let Err(e) = spawned {
                tracing::error!(error = %e, "cannot start a password thread");
            }
        }
        Passwords { jobs }
    }

    /// An argon2id hash of `password` in PHC form.
    pub async fn hash(&self, password: String) -> Result<String, PasswordError> {
        let (reply, answer) = oneshot::channel();
        self.submit(Job::Hash { password, reply })?;
        answer
            .await
            .map_err(|_| PasswordError::Failed("the hashing thread stopped".into()))?
    }

    /// Whether `password` matches `hash`. Without a hash (no such account) a check of the
    /// same cost still runs, so timing does not tell which emails have accounts.
    pub async fn verify(
        &self,
        password: String,
        hash: Option<String>,
    ) -> Result<bool, PasswordError> {
        let (reply, answer) = oneshot::channel();
        self.submit(Job::Verify {
            password,
            hash,
            reply,
        })?;
        Ok(answer.await.unwrap_or(false))
    }

    fn submit(&self, job: Job) -> Result<(), PasswordError> {
        self.jobs.try_send(job).map_err(|e| match e {
            TrySendError::Full(_) => PasswordError::Busy,
            TrySendError::Disconnected(_) => PasswordError::Failed("no password thread".into()),
        })
    }
}

fn work(receiver: &Mutex<Receiver<Job>>) {
    let mut memory: Vec<Block> = Vec::new();
    loop {
        let job = {
            let Ok(guard) = receiver.lock() else { return };
            match guard.recv() {
                Ok(job) => job,
                Err(_) => return,
            }
        };
        match job {
            Job::Hash { password, reply } => {
                let _ = reply.send(hash_with(&mut memory, &password));
            }
            Job::Verify {
                password,
                hash,
                reply,
            } => {
                let _ = reply.send(verify_with(&mut memory, &password, hash.as_deref()));
            }
        }
    }
}

/// An argon2id hash of `password`, on the calling thread (the CLI's and the demo's; the
/// pages go through the bounded password threads).
pub fn hash_password(password: &str) -> Result<String, PasswordError> {
    hash_with(&mut Vec::new(), password)
}

/// An argon2id hash with the crate's default cost, computed in `memory`.
pub fn hash_with(memory: &mut Vec<Block>, password: &str) -> Result<String, PasswordError> {
    let failed = |e: &dyn std::fmt::Display| PasswordError::Failed(e.to_string());
    let params = Params::default();
    let mut salt_bytes = [0u8; 16];
    OsRng.fill_bytes(&mut salt_bytes);
    let salt = SaltString::encode_b64(&salt_bytes).map_err(|e| failed(&e))?;
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    run(
        memory,
        Algorithm::Argon2id,
        Version::V0x13,
        params.clone(),
        password,
        &salt_bytes,
        &mut out,
    )
    .map_err(|e| failed(&e))?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params).map_err(|e| failed(&e))?,
        salt: Some(Salt::from(&salt)),
        hash: Some(Output::new(&out).map_err(|e| failed(&e))?),
    };
    Ok(phc.to_string())
}

/// Whether `password` matches the PHC `hash`, computed in `memory`; a missing or
/// unreadable hash never matches, after the same work.
pub fn verify_with(memory: &mut Vec<Block>, password: &str, hash: Option<&str>) -> bool {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let dummy = DUMMY.get_or_init(|| {
        let mut scratch = Vec::new();
        hash_with(&mut scratch, "not a password").unwrap_or_default()
    });
    let real = hash.is_some();
    let matched = matches(memory, password, hash.unwrap_or(dummy)).unwrap_or(false);
    matched && real
}

fn matches(memory: &mut Vec<Block>, password: &str, hash: &str) -> Option<bool> {
    let phc = PasswordHash::new(hash).ok()?;
    let algorithm = Algorithm::try_from(phc.algorithm).ok()?;
    let version = match phc.version {
        Some(v) => Version::try_from(v).ok()?,
        None => Version::default(),
    };
    let params = Params::try_from(&phc).ok()?;
    let expected = phc.hash?;
    let mut salt = [0u8; 64];
    let salt = phc.salt?.decode_b64(&mut salt).ok()?;
    let mut out = vec![0u8; expected.len()];
    run(memory, algorithm, version, params, password, salt, &mut out).ok()?;
    // Output's equality is constant-time.
    Some(Output::new(&out).ok()? == expected)
}

fn run(
    memory: &mut Vec<Block>,
    algorithm: Algorithm,
    version: Version,
    params: Params,
    password: &str,
    salt: &[u8],
    out: &mut [u8],
) -> Result<(), argon2::Error> {
    let blocks = params.block_count();
    if memory.len() < blocks {
        memory.resize(blocks, Block::default());
    }
    Argon2::new(algorithm, version, params).hash_password_into_with_memory(
        password.as_bytes(),
        salt,
        out,
        &mut memory[..blocks],
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use argon2::PasswordVerifier;

    #[test]
    fn hashes_and_verifies_like_the_crate() {
        let mut memory = Vec::new();
        let hash = hash_with(&mut memory, "correct horse battery").expect("hash");
        assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(verify_with(
            &mut memory,
            "correct horse battery",
            Some(&hash)
        ));
        assert!(!verify_with(
            &mut memory,
            "wrong horse battery",
            Some(&hash)
        ));
        assert!(!verify_with(&mut memory, "anything", None));
        assert!(!verify_with(&mut memory, "anything", Some("not a hash")));
        // Our hashes are the crate's, and the crate's are ours.
        let parsed = PasswordHash::new(&hash).expect("phc");
        assert!(Argon2::default()
            .verify_password(b"correct horse battery", &parsed)
            .is_ok());
        let theirs = {
            use argon2::PasswordHasher;
            let salt = SaltString::generate(&mut OsRng);
            Argon2::default()
                .hash_password(b"pw from before", &salt)
                .expect("hash")
                .to_string()
        };
        assert!(verify_with(&mut memory, "pw from before", Some(&theirs)));
    }

    #[tokio::test]
    async fn a_full_queue_is_busy_at_once() {
        // No threads to take jobs (a queue of one, one worker stuck on a long check is
        // hard to arrange), so the second submission finds the queue full.
        let (jobs, _receiver) = mpsc::sync_channel(1);
        let passwords = Passwords { jobs };
        let first = passwords.submit(Job::Verify {
            password: "a".into(),
            hash: None,
            reply: oneshot::channel().0,
        });
        assert_eq!(first, Ok(()));
        assert_eq!(
            passwords.verify("b".into(), None).await,
            Err(PasswordError::Busy)
        );
        let pool = Passwords::new(1, 4);
        assert_eq!(pool.verify("x".into(), None).await, Ok(false));
        let hash = pool.hash("pw".into()).await.expect("hash");
        assert_eq!(pool.verify("pw".into(), Some(hash)).await, Ok(true));
    }
}
