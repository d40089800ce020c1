//! Passwords and their argon2id hashes.

use std::sync::Arc;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString, rand_core::OsRng};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::Semaphore;

use crate::{AuthSettings, Error, Result};

/// A password within the configured length limits (in characters).
#[derive(Clone)]
pub struct Password(String);

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(***)")
    }
}

impl Password {
    /// Parses a password.
    pub fn parse(s: &str, limits: &AuthSettings) -> Result<Self> {
        let n = s.chars().count();
        if n < limits.password_min || n > limits.password_max {
            return Err(Error::Invalid(format!(
                "password must be {}–{} characters",
                limits.password_min, limits.password_max
            )));
        }
        Ok(Self(s.to_owned()))
    }
}

/// A place in the hasher's bounds, held until its hash is done.
#[derive(Debug)]
pub struct Admission(tokio::sync::OwnedSemaphorePermit);

/// Hashes and verifies passwords with argon2id at the configured cost. Work runs on
/// `hash_concurrency` threads of the hasher's own (each hash holds `argon2_memory_kib`), with at
/// most `hash_queue_max` more waiting; beyond that a request is refused at once with
/// [`Error::Overloaded`] instead of queueing without end.
#[derive(Clone)]
pub struct Hasher {
    argon: Argon2<'static>,
    /// Permits to run a hash.
    running: Arc<Semaphore>,
    /// Permits to be running or waiting.
    admitted: Arc<Semaphore>,
    /// Where hashes run.
    threads: Arc<Threads>,
}

/// A hash to run, with where its answer goes.
type Job = Box<dyn FnOnce() + Send>;

/// The hasher's threads. Not tokio's blocking pool: with its threads coming and going, the
/// memory of the hashes they ran (19 MiB each by default) stayed with the process, and an auth
/// service that had served a hundred sign-ups held 690-820 MiB; with a few threads that live as
/// long as the hasher, 410 MiB, and no more after another hundred (README, load test).
struct Threads {
    jobs: std::sync::mpsc::Sender<Job>,
}

impl Threads {
    fn start(count: usize) -> Result<Self> {
        let (tx, rx) = std::sync::mpsc::channel::<Job>();
        let rx = Arc::new(std::sync::Mutex::new(rx));
        for i in 0..count {
            let rx = rx.clone();
            std::thread::Builder::new()
                .name(format!("password-hash-{i}"))
                .spawn(move || {
                    loop {
                        // The lock is held only while waiting for the next job.
                        let job = rx.lock().map_err(|_| ()).and_then(|rx| rx.recv().map_err(|_| ()));
                        let Ok(job) = job else { return }; // the hasher is gone
                        // A hash that panics loses its answer (its caller gets an error), not the thread.
                        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
                    }
                })
                .map_err(|e| Error::Hash(format!("starting a hashing thread: {e}")))?;
        }
        Ok(Self { jobs: tx })
    }

    /// Runs `job` on the first free thread.
    fn run(&self, job: Job) -> bool {
        self.jobs.send(job).is_ok()
    }
}

impl Hasher {
    /// A hasher with the configured cost and bounds.
    pub fn new(s: &AuthSettings) -> Result<Self> {
        let params = Params::new(s.argon2_memory_kib, s.argon2_iterations, s.argon2_parallelism, None)
            .map_err(|e| Error::Hash(e.to_string()))?;
        let running = s.hash_concurrency.max(1);
        Ok(Self {
            argon: Argon2::new(Algorithm::Argon2id, Version::V0x13, params),
            running: Arc::new(Semaphore::new(running)),
            admitted: Arc::new(Semaphore::new(running.saturating_add(s.hash_queue_max))),
            threads: Arc::new(Threads::start(running)?),
        })
    }

    /// A place among those running or waiting, or [`Error::Overloaded`] at once: taken before
    /// anything else is counted against the caller (a shed login is not a failed one).
    pub fn admit(&self) -> Result<Admission> {
        self.admitted.clone().try_acquire_owned().map(Admission).map_err(|_| Error::Overloaded)
    }

    /// Runs `work` on one of the hasher's threads in the place `admission` holds, once one of
    /// the running places is free. The permits move into the job: a caller that gives up (a
    /// deadline) does not free its place while its hash still runs.
    async fn bounded<T: Send + 'static>(
        &self,
        Admission(admitted): Admission,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T> {
        let running = self.running.clone().acquire_owned().await.map_err(|_| Error::Overloaded)?;
        let (tx, rx) = tokio::sync::oneshot::channel();
        let started = self.threads.run(Box::new(move || {
            let done = work();
            drop((running, admitted));
            let _ = tx.send(done);
        }));
        if !started {
            return Err(Error::Hash("the hashing threads have stopped".into()));
        }
        rx.await.map_err(|_| Error::Hash("a hash failed on its thread".into()))
    }

    /// The PHC string of `password` with a fresh salt.
    pub async fn hash(&self, password: Password) -> Result<String> {
        let argon = self.argon.clone();
        self.bounded(self.admit()?, move || {
            let salt = SaltString::generate(&mut OsRng);
            argon.hash_password(password.0.as_bytes(), &salt).map(|h| h.to_string())
        })
        .await?
        .map_err(|e| Error::Hash(e.to_string()))
    }

    /// Whether `password` matches `phc`. With no stored hash (unknown account) it still spends
    /// the time of one verification, so timing does not reveal which accounts exist.
    pub async fn verify(&self, password: &str, phc: Option<String>) -> Result<bool> {
        self.verify_admitted(self.admit()?, password, phc).await
    }

    /// [`Hasher::verify`] in a place taken with [`Hasher::admit`].
    pub async fn verify_admitted(&self, admission: Admission, password: &str, phc: Option<String>) -> Result<bool> {
        let argon = self.argon.clone();
        let password = password.to_owned();
        self.bounded(admission, move || match phc {
            Some(phc) => {
                let parsed = PasswordHash::new(&phc).map_err(|e| Error::Hash(e.to_string()))?;
                Ok(argon.verify_password(password.as_bytes(), &parsed).is_ok())
            }
            None => {
                let salt = SaltString::generate(&mut OsRng);
                let _ = argon.hash_password(password.as_bytes(), &salt);
                Ok(false)
            }
        })
        .await?
    }
}
