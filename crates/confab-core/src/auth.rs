//! Tokens and passwords.
//!
//! A token is `cf1.<claims>.<mac>`: base64url JSON claims and an HMAC-SHA256
//! over them with the app's signing key. Tokens are self-contained, so any
//! node of a cluster can check one without a database round trip; what they
//! cannot express (a user deactivated or re-registered since) is checked
//! against the user record by the caller.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::error::{AuthFailure, Error, Result};
use crate::model::{App, User, Username};

const PREFIX: &str = "cf1.";

/// Who a token speaks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// The app's server (Easemob's app token): may do anything in the app.
    App,
    /// One user (Easemob's user token): may log in to the gateway.
    User { username: Username, uuid: String, generation: i64 },
}

#[derive(Serialize, Deserialize)]
struct Claims {
    /// App UUID.
    a: String,
    /// Username, for user tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    u: Option<String>,
    /// User UUID, so a deleted and re-registered user's old tokens fail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    id: Option<String>,
    /// Credential generation of the user.
    #[serde(default)]
    g: i64,
    /// Expiry, Unix milliseconds; 0 never expires.
    e: i64,
}

/// A token that passed its signature and expiry checks.
#[derive(Debug, Clone)]
pub struct VerifiedToken {
    pub app_uuid: String,
    pub principal: Principal,
}

pub fn issue_app_token(app: &App, expires_at_ms: i64) -> String {
    sign(app, &Claims { a: app.uuid.clone(), u: None, id: None, g: 0, e: expires_at_ms })
}

pub fn issue_user_token(app: &App, user: &User, expires_at_ms: i64) -> String {
    sign(
        app,
        &Claims {
            a: app.uuid.clone(),
            u: Some(user.username.as_str().to_owned()),
            id: Some(user.uuid.clone()),
            g: user.credential_generation,
            e: expires_at_ms,
        },
    )
}

fn sign(app: &App, claims: &Claims) -> String {
    let payload = B64.encode(serde_json::to_vec(claims).expect("claims serialize"));
    let mut mac = mac_for(app);
    mac.update(PREFIX.as_bytes());
    mac.update(payload.as_bytes());
    let tag = B64.encode(mac.finalize().into_bytes());
    format!("{PREFIX}{payload}.{tag}")
}

/// A signature that lets anyone holding a link fetch `resource` of `app`
/// until `expires_s` (Unix seconds), with no other credential.
pub fn sign_link(app: &App, resource: &str, expires_s: i64) -> String {
    let mut mac = mac_for(app);
    mac.update(b"link|");
    mac.update(resource.as_bytes());
    mac.update(format!("|{expires_s}").as_bytes());
    B64.encode(mac.finalize().into_bytes())
}

/// Checks a [`sign_link`] signature (in constant time) and its expiry.
pub fn verify_link(app: &App, resource: &str, expires_s: i64, signature: &str, now_ms: i64) -> bool {
    let valid = secrets_equal(&sign_link(app, resource, expires_s), signature);
    valid && now_ms < expires_s.saturating_mul(1000)
}

fn mac_for(app: &App) -> Hmac<Sha256> {
    Hmac::<Sha256>::new_from_slice(&app.signing_key).expect("HMAC takes keys of any length")
}

/// Reads the app UUID a token claims to belong to, without trusting it yet:
/// the gateway needs it to find the key to verify with.
pub fn claimed_app(token: &str) -> Result<String> {
    let (payload, _) = split(token)?;
    Ok(decode_claims(payload)?.a)
}

/// Checks the signature (in constant time) and the expiry.
pub fn verify(app: &App, token: &str, now_ms: i64) -> Result<VerifiedToken> {
    let (payload, tag) = split(token)?;
    let tag = B64.decode(tag).map_err(|_| bad())?;
    let mut mac = mac_for(app);
    mac.update(PREFIX.as_bytes());
    mac.update(payload.as_bytes());
    mac.verify_slice(&tag).map_err(|_| bad())?;
    let claims = decode_claims(payload)?;
    if claims.a != app.uuid {
        return Err(bad());
    }
    if claims.e != 0 && claims.e <= now_ms {
        return Err(Error::Unauthenticated(AuthFailure::ExpiredToken));
    }
    let principal = match (claims.u, claims.id) {
        (Some(name), Some(uuid)) => {
            Principal::User { username: Username::parse(&name).map_err(|_| bad())?, uuid, generation: claims.g }
        }
        (None, None) => Principal::App,
        _ => return Err(bad()),
    };
    Ok(VerifiedToken { app_uuid: claims.a, principal })
}

fn split(token: &str) -> Result<(&str, &str)> {
    let rest = token.strip_prefix(PREFIX).ok_or_else(bad)?;
    rest.split_once('.').ok_or_else(bad)
}

fn decode_claims(payload: &str) -> Result<Claims> {
    let raw = B64.decode(payload).map_err(|_| bad())?;
    serde_json::from_slice(&raw).map_err(|_| bad())
}

fn bad() -> Error {
    Error::Unauthenticated(AuthFailure::BadToken)
}

/// Compares two secrets in time that does not depend on where they differ.
pub fn secrets_equal(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// Longest password accepted, as the vendor documents.
pub const MAX_PASSWORD_LEN: usize = 64;

/// Hashes a password with Argon2id. CPU-heavy: call it off the async runtime.
pub fn hash_password(password: &str) -> Result<String> {
    use argon2::password_hash::{rand_core::OsRng, Output, ParamsString, PasswordHash, SaltString};
    use argon2::{Algorithm, Version};
    let failed = |e: &dyn std::fmt::Display| Error::Storage(format!("password hashing failed: {e}"));
    let salt = SaltString::generate(&mut OsRng);
    let mut salt_bytes = [0u8; 64];
    let raw_salt = salt.decode_b64(&mut salt_bytes).map_err(|e| failed(&e))?;
    let params = argon2_params();
    let mut out = [0u8; argon2::Params::DEFAULT_OUTPUT_LEN];
    argon2_output(&params, Algorithm::Argon2id, Version::V0x13, password.as_bytes(), raw_salt, &mut out)
        .map_err(|e| failed(&e))?;
    let hash = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params).map_err(|e| failed(&e))?,
        salt: Some(salt.as_salt()),
        hash: Some(Output::new(&out).map_err(|e| failed(&e))?),
    };
    Ok(hash.to_string())
}

/// Checks a password against its stored hash, with the parameters the hash
/// carries (so hashes made with earlier ones still verify). CPU-heavy, like
/// `hash_password`.
pub fn verify_password(password: &str, stored_hash: &str) -> bool {
    use argon2::password_hash::{Output, PasswordHash};
    use argon2::{Algorithm, Params, Version};
    let Ok(parsed) = PasswordHash::new(stored_hash) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        return false;
    };
    let version = parsed.version.map_or(Ok(Version::default()), Version::try_from);
    let (Ok(algorithm), Ok(version), Ok(params)) =
        (Algorithm::try_from(parsed.algorithm), version, Params::try_from(&parsed))
    else {
        return false;
    };
    let mut salt_bytes = [0u8; 64];
    let Ok(raw_salt) = salt.decode_b64(&mut salt_bytes) else {
        return false;
    };
    let mut out = vec![0u8; expected.len()];
    if argon2_output(&params, algorithm, version, password.as_bytes(), raw_salt, &mut out).is_err() {
        return false;
    }
    // `Output` compares in constant time.
    Output::new(&out).is_ok_and(|computed| computed == expected)
}

/// Most Argon2 memory a stored hash may ask for (64 MiB), so that a hash
/// written by hand into the database cannot make a login take gigabytes.
const MAX_ARGON2_BLOCKS: usize = 64 * 1024;

thread_local! {
    /// Argon2's working memory, kept by each hashing thread between hashes
    /// (see [`Hashing`]): a fresh 12 MiB per hash cost thousands of page
    /// faults each time.
    static ARGON2_MEMORY: std::cell::RefCell<Vec<argon2::Block>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Argon2's output for `password` and `salt` into `out`, in this thread's
/// working memory.
fn argon2_output(
    params: &argon2::Params,
    algorithm: argon2::Algorithm,
    version: argon2::Version,
    password: &[u8],
    salt: &[u8],
    out: &mut [u8],
) -> std::result::Result<(), argon2::Error> {
    let blocks = params.block_count();
    if blocks > MAX_ARGON2_BLOCKS {
        return Err(argon2::Error::MemoryTooMuch);
    }
    let argon = argon2::Argon2::new(algorithm, version, params.clone());
    ARGON2_MEMORY.with_borrow_mut(|memory| {
        if memory.len() < blocks {
            memory.resize(blocks, argon2::Block::new());
        }
        argon.hash_password_into_with_memory(password, salt, out, &mut memory[..blocks])
    })
}

/// Gives this thread's Argon2 working memory back.
fn release_argon2_memory() {
    ARGON2_MEMORY.with_borrow_mut(|memory| *memory = Vec::new());
}

/// Argon2id's memory per hash, in KiB: 12 MiB.
const ARGON2_MEMORY_KIB: u32 = 12 * 1024;
/// Passes over that memory.
const ARGON2_PASSES: u32 = 3;

/// New hashes use OWASP's Argon2id profile m=12 MiB, t=3, p=1 (see
/// ARCHITECTURE.md, Passwords). OWASP rates its five profiles as equally
/// strong; measured here they are not equally costly (more memory costs
/// more CPU: page faults and cache misses), so this one is chosen for 1.7
/// times the memory an attacker's every guess needs compared with the
/// cheapest (7 MiB, t=5), at about 21 ms of CPU instead of 17, where m=19
/// MiB costs 31 ms (figures in docs/benchmarks.md). p=1 because hashing
/// already runs one per core. Checking a stored hash uses the parameters
/// it carries, so hashes made with earlier ones still verify.
fn argon2_params() -> argon2::Params {
    argon2::Params::new(ARGON2_MEMORY_KIB, ARGON2_PASSES, 1, None).expect("valid argon2 params")
}

/// Random URL-safe text of `bytes` bytes of entropy, for secrets and IDs.
pub fn random_token(bytes: usize) -> String {
    use rand::RngCore;
    let mut buf = vec![0u8; bytes];
    rand::thread_rng().fill_bytes(&mut buf);
    B64.encode(buf)
}

/// A random key of letters and digits only, for credentials that end up in
/// headers, URLs and signed strings (where `-` and `_` could be mistaken).
pub fn random_key(bytes: usize) -> String {
    random_token(bytes).replace(['-', '_'], "x")
}

/// Bytes (a digest, a MAC) in lower-case hex, as every vendor's signatures write them.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A random version-4 UUID in its usual text form.
pub fn random_uuid() -> String {
    use rand::RngCore;
    let mut b = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex(&b);
    format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
}

/// Runs password hashing off the async runtime, on threads of its own, one
/// per core, for the whole process. Hashing is deliberately expensive in CPU
/// and memory (12 MiB each); a storm of logins or console sign-ins waits here
/// for a free thread instead of taking a thread and 12 MiB per waiting
/// request.
///
/// The threads are its own, not tokio's blocking pool: that pool ran each
/// hash on whichever of its threads was free, starting more as reads and
/// hashes overlapped, and each kept the 12 MiB it had freed in its own
/// allocator heap. Here each thread keeps one working memory while logins
/// come, and gives it back after [`KEEP_MEMORY`] without any; the last
/// thread to finish is the first to be given work, so light traffic keeps
/// one thread's memory warm and the others give theirs back.
pub(crate) struct Hashing {
    permits: tokio::sync::Semaphore,
    /// The threads not hashing now, each by its queue; last in, first out.
    idle: std::sync::Mutex<Vec<std::sync::mpsc::Sender<HashJob>>>,
}

type HashJob = Box<dyn FnOnce() + Send>;

/// How long a hashing thread keeps its working memory without work.
const KEEP_MEMORY: std::time::Duration = std::time::Duration::from_secs(30);

impl Hashing {
    pub(crate) fn new() -> Hashing {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let mut idle = Vec::with_capacity(cores);
        for n in 0..cores {
            let (queue, jobs) = std::sync::mpsc::channel::<HashJob>();
            let spawned =
                std::thread::Builder::new().name(format!("confab-hashing-{n}")).spawn(move || hash_jobs(&jobs));
            match spawned {
                Ok(_) => idle.push(queue),
                Err(e) => tracing::error!("cannot start a password hashing thread: {e}"),
            }
        }
        Hashing { permits: tokio::sync::Semaphore::new(idle.len()), idle: std::sync::Mutex::new(idle) }
    }

    pub(crate) async fn run<T: Send + 'static>(&self, work: impl FnOnce() -> T + Send + 'static) -> Result<T> {
        let _permit = self.permits.acquire().await.map_err(|_| Error::Unavailable)?;
        // A permit means a thread is idle. It goes back to the idle ones when
        // this ends, even if the caller gives up waiting: its queue then
        // holds the next job until this one is done.
        let thread = Lent::take(&self.idle).ok_or(Error::Unavailable)?;
        let (reply, answer) = tokio::sync::oneshot::channel();
        let job: HashJob = Box::new(move || {
            let _ = reply.send(work());
        });
        thread.queue().send(job).map_err(|_| Error::Unavailable)?;
        // A job that panicked dropped its reply unanswered.
        answer.await.map_err(|_| Error::Storage("password hashing failed".into()))
    }
}

/// A hashing thread taken from the idle ones, put back on drop.
struct Lent<'a> {
    idle: &'a std::sync::Mutex<Vec<std::sync::mpsc::Sender<HashJob>>>,
    queue: Option<std::sync::mpsc::Sender<HashJob>>,
}

impl<'a> Lent<'a> {
    fn take(idle: &'a std::sync::Mutex<Vec<std::sync::mpsc::Sender<HashJob>>>) -> Option<Lent<'a>> {
        let queue = idle.lock().unwrap_or_else(|e| e.into_inner()).pop()?;
        Some(Lent { idle, queue: Some(queue) })
    }

    fn queue(&self) -> &std::sync::mpsc::Sender<HashJob> {
        self.queue.as_ref().expect("held until drop")
    }
}

impl Drop for Lent<'_> {
    fn drop(&mut self) {
        if let Some(queue) = self.queue.take() {
            self.idle.lock().unwrap_or_else(|e| e.into_inner()).push(queue);
        }
    }
}

/// One hashing thread: runs its jobs, and gives its working memory back
/// after [`KEEP_MEMORY`] without one.
fn hash_jobs(jobs: &std::sync::mpsc::Receiver<HashJob>) {
    use std::sync::mpsc::RecvTimeoutError;
    loop {
        let job = match jobs.recv_timeout(KEEP_MEMORY) {
            Ok(job) => job,
            Err(RecvTimeoutError::Timeout) => {
                release_argon2_memory();
                match jobs.recv() {
                    Ok(job) => job,
                    Err(_) => return,
                }
            }
            Err(RecvTimeoutError::Disconnected) => return,
        };
        if std::panic::catch_unwind(std::panic::AssertUnwindSafe(job)).is_err() {
            tracing::error!("password hashing panicked");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::AppId;

    fn app(key: &[u8]) -> App {
        App {
            id: AppId(1),
            uuid: "u-1".into(),
            org: "o".into(),
            name: "a".into(),
            client_id: "id".into(),
            client_secret: "secret".into(),
            signing_key: key.to_vec(),
            created_ms: 0,
            rate_limits: Default::default(),
            credentials: Default::default(),
        }
    }

    #[test]
    fn tokens_verify_only_with_their_key_and_before_expiry() {
        let a = app(b"key-a");
        let t = issue_app_token(&a, 1_000);
        assert_eq!(verify(&a, &t, 999).unwrap().principal, Principal::App);
        assert_eq!(verify(&a, &t, 1_000).unwrap_err(), Error::Unauthenticated(AuthFailure::ExpiredToken));
        assert!(verify(&app(b"key-b"), &t, 0).is_err());
        let mut tampered = t.clone();
        tampered.insert(6, 'x');
        assert!(verify(&a, &tampered, 0).is_err());
        assert!(verify(&a, "garbage", 0).is_err());
    }

    #[test]
    fn passwords_round_trip() {
        let h = hash_password("pw").unwrap();
        assert!(verify_password("pw", &h));
        assert!(!verify_password("pW", &h));
        assert!(!verify_password("pw", "not-a-hash"));
    }

    #[test]
    fn hashes_use_the_chosen_parameters_and_older_ones_still_verify() {
        let h = hash_password("pw").unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=12288,t=3,p=1$"), "{h}");
        // Made with the parameters confab used before (m=7 MiB, t=5).
        use argon2::password_hash::{PasswordHasher, SaltString};
        let old_params = argon2::Params::new(7 * 1024, 5, 1, None).unwrap();
        let old = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, old_params)
            .hash_password(b"pw", &SaltString::from_b64("c2FsdHNhbHRzYWx0").unwrap())
            .unwrap()
            .to_string();
        assert!(old.contains("m=7168,t=5,p=1"), "{old}");
        assert!(verify_password("pw", &old));
        assert!(!verify_password("pW", &old));
    }

    /// What OWASP's five equivalent Argon2id profiles cost here, per hash
    /// (`cargo test -p confab-core --lib argon2_profiles -- --ignored --nocapture`);
    /// the figures are in docs/benchmarks.md.
    #[test]
    #[ignore]
    fn argon2_profiles() {
        use argon2::password_hash::{PasswordHasher, SaltString};
        let salt = SaltString::from_b64("c2FsdHNhbHRzYWx0").unwrap();
        // This thread's CPU time (ns), which a busy machine does not inflate as it does wall time.
        let cpu_ns = || -> f64 {
            let stat = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap_or_default();
            stat.split_whitespace().next().and_then(|n| n.parse().ok()).unwrap_or(0.0)
        };
        for (mib, passes) in [(46, 1), (19, 2), (12, 3), (9, 4), (7, 5)] {
            let params = argon2::Params::new(mib * 1024, passes, 1, None).unwrap();
            let argon = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
            let (started, cpu) = (std::time::Instant::now(), cpu_ns());
            for _ in 0..20 {
                argon.hash_password(b"password", &salt).unwrap();
            }
            let cpu_ms = (cpu_ns() - cpu) / 1e6 / 20.0;
            let wall_ms = started.elapsed().as_secs_f64() * 1e3 / 20.0;
            println!("m={mib} MiB t={passes}: {cpu_ms:.1} ms CPU per hash ({wall_ms:.1} ms wall)");
        }
        // The chosen profile as the server runs it: one working memory reused.
        let (started, cpu) = (std::time::Instant::now(), cpu_ns());
        for _ in 0..20 {
            hash_password("password").unwrap();
        }
        let cpu_ms = (cpu_ns() - cpu) / 1e6 / 20.0;
        let wall_ms = started.elapsed().as_secs_f64() * 1e3 / 20.0;
        println!("m=12 MiB t=3, memory reused: {cpu_ms:.1} ms CPU per hash ({wall_ms:.1} ms wall)");
    }

    #[test]
    fn hashes_are_standard_phc_strings() {
        use argon2::password_hash::{PasswordHash, PasswordVerifier};
        let h = hash_password("pw").unwrap();
        let parsed = PasswordHash::new(&h).unwrap();
        assert!(argon2::Argon2::default().verify_password(b"pw", &parsed).is_ok());
        assert!(argon2::Argon2::default().verify_password(b"pW", &parsed).is_err());
    }

    #[test]
    fn a_stored_hash_asking_for_too_much_memory_is_refused() {
        let h = hash_password("pw").unwrap().replace("m=12288", "m=1048576");
        let started = std::time::Instant::now();
        assert!(!verify_password("pw", &h));
        assert!(started.elapsed() < std::time::Duration::from_millis(100), "refused before hashing");
    }

    #[tokio::test]
    async fn hashing_runs_on_its_own_threads_one_per_core() {
        let hashing = Hashing::new();
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let runs = (0..cores * 3).map(|_| {
            hashing.run(|| {
                std::thread::sleep(std::time::Duration::from_millis(20));
                std::thread::current().name().unwrap_or_default().to_owned()
            })
        });
        let names: std::collections::HashSet<String> =
            futures_util::future::join_all(runs).await.into_iter().map(|n| n.unwrap()).collect();
        assert!(names.iter().all(|n| n.starts_with("confab-hashing-")), "{names:?}");
        assert!(names.len() <= cores, "{names:?}");
    }

    #[tokio::test]
    async fn a_caller_that_stops_waiting_does_not_lose_a_hashing_thread() {
        let hashing = Hashing::new();
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        for _ in 0..cores {
            let slow = hashing.run(|| std::thread::sleep(std::time::Duration::from_millis(200)));
            assert!(tokio::time::timeout(std::time::Duration::from_millis(10), slow).await.is_err());
        }
        let runs = (0..cores * 2).map(|n| hashing.run(move || n));
        let done = tokio::time::timeout(std::time::Duration::from_secs(5), futures_util::future::join_all(runs))
            .await
            .expect("every thread came back");
        assert_eq!(done.into_iter().map(Result::unwrap).sum::<usize>(), (0..cores * 2).sum::<usize>());
    }

    #[test]
    fn secrets_compare() {
        assert!(secrets_equal("abc", "abc"));
        assert!(!secrets_equal("abc", "abd"));
        assert!(!secrets_equal("abc", "abcd"));
    }
}
