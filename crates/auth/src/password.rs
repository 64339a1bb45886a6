//! Password hashing (argon2id, OWASP parameters) off the async threads, and the password policy.

use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};
use std::sync::Arc;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// OWASP's argon2id recommendation: 19 MiB, 2 iterations, 1 lane.
fn hasher() -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, Params::default())
}

/// Why a password could not be hashed or checked.
#[derive(Debug, thiserror::Error)]
pub enum HashError {
    /// Every hashing slot is taken and the queue is full: come back in a moment.
    #[error("too many passwords are being hashed at once")]
    Busy,
    #[error("password hashing failed: {0}")]
    Failed(String),
}

/// Bounds the argon2 work of the process. Each hash takes ~19 MiB and tens of milliseconds of
/// a core, so at most `concurrency` run at once (on the blocking pool) and at most `queue`
/// more requests wait for a slot; a request beyond that gets [`HashError::Busy`] at once
/// instead of queueing behind hundreds of hashes. Clones share the same bounds.
#[derive(Clone)]
pub struct Hasher {
    /// Running plus waiting.
    admitted: Arc<Semaphore>,
    running: Arc<Semaphore>,
}

impl Hasher {
    pub fn new(concurrency: usize, queue: usize) -> Self {
        let concurrency = concurrency.max(1);
        Self {
            admitted: Arc::new(Semaphore::new(concurrency.saturating_add(queue))),
            running: Arc::new(Semaphore::new(concurrency)),
        }
    }

    /// A place among the running and waiting hashes, or `Busy` at once. Taken before any
    /// other work of the request (a database lookup), so a refused request costs nothing.
    pub fn admit(&self) -> Result<Admission, HashError> {
        let admitted = self
            .admitted
            .clone()
            .try_acquire_owned()
            .map_err(|_| HashError::Busy)?;
        Ok(Admission {
            _admitted: admitted,
            running: self.running.clone(),
        })
    }

    /// Hash a new password.
    pub async fn hash(&self, password: String) -> Result<String, HashError> {
        self.admit()?.hash(password).await
    }

    /// Check a password (see [`Admission::verify`]).
    #[cfg(test)]
    pub async fn verify(
        &self,
        password: String,
        stored: Option<String>,
    ) -> Result<bool, HashError> {
        self.admit()?.verify(password, stored).await
    }
}

/// The same bounded hasher for the other domains (share-link passwords).
#[async_trait::async_trait]
impl mdz_core::ports::PasswordHashing for Hasher {
    async fn hash(&self, password: String) -> Result<String, mdz_core::ports::HashRefusal> {
        Hasher::hash(self, password).await.map_err(Into::into)
    }

    async fn verify(
        &self,
        password: String,
        stored: String,
    ) -> Result<bool, mdz_core::ports::HashRefusal> {
        self.admit()?
            .verify(password, Some(stored))
            .await
            .map_err(Into::into)
    }
}

impl From<HashError> for mdz_core::ports::HashRefusal {
    fn from(e: HashError) -> Self {
        match e {
            HashError::Busy => Self::Busy,
            HashError::Failed(cause) => Self::Failed(cause),
        }
    }
}

/// A request's place in the hashing queue; hashes run one at a time through it.
pub struct Admission {
    _admitted: OwnedSemaphorePermit,
    running: Arc<Semaphore>,
}

impl Admission {
    /// Run `work` on the blocking pool once a slot is free.
    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> Result<T, HashError> + Send + 'static,
    ) -> Result<T, HashError> {
        let running = self
            .running
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| HashError::Busy)?;
        // The slot moves into the task: a request that goes away does not free it while its
        // hash still runs.
        tokio::task::spawn_blocking(move || {
            let _slot = running;
            work()
        })
        .await
        .map_err(|e| HashError::Failed(e.to_string()))?
    }

    /// Hash a new password.
    pub async fn hash(&self, password: String) -> Result<String, HashError> {
        self.run(move || {
            hasher()
                .hash_password(password.as_bytes())
                .map(|h| h.to_string())
                .map_err(|e| HashError::Failed(e.to_string()))
        })
        .await
    }

    /// Check a password. With `stored == None` (unknown user) a dummy hash is checked, so an
    /// unknown email costs the same time as a wrong password.
    pub async fn verify(
        &self,
        password: String,
        stored: Option<String>,
    ) -> Result<bool, HashError> {
        self.run(move || {
            let known = stored.is_some();
            let phc = match stored {
                Some(phc) => phc,
                None => dummy_hash()?,
            };
            let ok = hasher()
                .verify_password(password.as_bytes(), phc.as_str())
                .is_ok();
            Ok(ok && known)
        })
        .await
    }
}

/// An argon2id hash with the same parameters, made once, checked for unknown users.
fn dummy_hash() -> Result<String, HashError> {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    if let Some(h) = DUMMY.get() {
        return Ok(h.clone());
    }
    let h = hasher()
        .hash_password(b"mdz-dummy-password-for-unknown-users")
        .map(|h| h.to_string())
        .map_err(|e| HashError::Failed(e.to_string()))?;
    Ok(DUMMY.get_or_init(|| h).clone())
}

pub const MIN_LEN: usize = 10;
pub const MAX_LEN: usize = 256;

/// Why a new password is refused, or `None` when it is acceptable.
pub fn policy_violation(password: &str, email: Option<&str>) -> Option<String> {
    let chars = password.chars().count();
    if chars < MIN_LEN {
        return Some(format!("must be at least {MIN_LEN} characters"));
    }
    if chars > MAX_LEN {
        return Some(format!("must be at most {MAX_LEN} characters"));
    }
    let lower = password.to_lowercase();
    if COMMON.iter().any(|c| *c == lower) {
        return Some("is one of the most common passwords; choose another".into());
    }
    if lower
        .chars()
        .all(|c| c == lower.chars().next().unwrap_or(' '))
    {
        return Some("must not be one character repeated".into());
    }
    if let Some(email) = email
        && (lower == email || email.split('@').next().is_some_and(|local| lower == local))
    {
        return Some("must not be your email address".into());
    }
    None
}

/// Common passwords of 10+ characters (from public breach frequency lists).
const COMMON: &[&str] = &[
    "1234567890",
    "12345678910",
    "123456789a",
    "0123456789",
    "9876543210",
    "1111111111",
    "0000000000",
    "1q2w3e4r5t",
    "1q2w3e4r5t6y",
    "qwertyuiop",
    "qwerty1234",
    "qwerty12345",
    "qwerty123456",
    "password12",
    "password123",
    "password1234",
    "password!",
    "passw0rd123",
    "p@ssw0rd123",
    "iloveyou12",
    "iloveyou123",
    "princess12",
    "football12",
    "football123",
    "baseball12",
    "superman12",
    "abc1234567",
    "abcd123456",
    "abcdefghij",
    "a123456789",
    "zaq12wsxcde",
    "zaq1zaq1zaq1",
    "1qaz2wsx3edc",
    "qazwsxedcrfv",
    "asdfghjkl1",
    "asdfghjkl;",
    "letmein123",
    "welcome123",
    "welcome1234",
    "changeme123",
    "administrator",
    "admin12345",
    "admin123456",
    "trustno1trustno1",
    "monkey1234",
    "dragon1234",
    "master1234",
    "sunshine12",
    "starwars12",
    "whatever12",
    "computer12",
    "michael123",
    "jennifer12",
    "1234qwerty",
    "q1w2e3r4t5",
    "q1w2e3r4t5y6",
    "1a2b3c4d5e",
    "aaaaaaaaaa",
    "password1!",
    "mypassword",
    "mypassword1",
    "secret1234",
    "passwordpassword",
    "letmeinnow",
    "qwertyqwerty",
    "1234512345",
    "1122334455",
    "0987654321",
    "123123123123",
    "abc123abc123",
    "iloveyou!!",
    "football!!",
    "correcthorsebatterystaple",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy() {
        assert!(policy_violation("short", None).is_some());
        assert!(policy_violation("Password123", None).is_some());
        assert!(policy_violation("zzzzzzzzzzzz", None).is_some());
        assert!(policy_violation("alice@example.com", Some("alice@example.com")).is_some());
        assert!(policy_violation("violet-harbour-42", None).is_none());
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn hash_then_verify() {
        let hasher = Hasher::new(2, 0);
        let h = hasher.hash("violet-harbour-42".into()).await.unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(
            hasher
                .verify("violet-harbour-42".into(), Some(h.clone()))
                .await
                .unwrap()
        );
        assert!(
            !hasher
                .verify("violet-harbour-43".into(), Some(h))
                .await
                .unwrap()
        );
        assert!(!hasher.verify("anything-at-all".into(), None).await.unwrap());
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn callers_beyond_the_slots_and_the_queue_are_turned_away() {
        let hasher = Hasher::new(1, 1);
        // One hash running and one waiting: the slot and the queue place are taken.
        let held = hasher.admitted.clone().try_acquire_many_owned(2).unwrap();
        assert!(matches!(
            hasher.hash("violet-harbour-42".into()).await,
            Err(HashError::Busy)
        ));
        assert!(matches!(
            hasher.verify("violet-harbour-42".into(), None).await,
            Err(HashError::Busy)
        ));
        drop(held);
        assert!(hasher.hash("violet-harbour-42".into()).await.is_ok());
    }
}
