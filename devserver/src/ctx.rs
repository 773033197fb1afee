//! Process-wide server context shared by every handler.

use crate::faults::{Fault, Hits};
use crate::state::Store;
use crate::ServerInfo;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};
use tokio::sync::watch;

/// How long a (key, nonce) pair is remembered: twice the timestamp window,
/// so a replay can never slip in after its nonce was forgotten but while its
/// timestamp is still acceptable.
pub const NONCE_TTL_SECS: i64 = 600;
/// Accepted clock skew between a request's timestamp and arrival.
pub const TIMESTAMP_WINDOW_SECS: i64 = 300;

#[derive(Default)]
pub struct NonceCache {
    seen: HashMap<String, i64>,
    last_prune: i64,
}

impl NonceCache {
    /// Records a nonce; false when it was already seen and is still fresh.
    pub fn insert(&mut self, key: String, now: i64) -> bool {
        if now - self.last_prune >= 10 {
            self.seen.retain(|_, exp| *exp > now);
            self.last_prune = now;
        }
        match self.seen.get(&key) {
            Some(exp) if *exp > now => false,
            _ => {
                self.seen.insert(key, now + NONCE_TTL_SECS);
                true
            }
        }
    }
}

/// A fixed one-minute window per limited principal.
#[derive(Default)]
pub struct RateWindow {
    pub window_start: i64,
    pub count: u32,
}

pub struct Ctx {
    pub store: Store,
    pub info: ServerInfo,
    pub jwt_secret: Vec<u8>,
    pub nonces: Mutex<NonceCache>,
    pub rates: Mutex<HashMap<String, RateWindow>>,
    pub faults: Mutex<Vec<Fault>>,
    /// Requests seen per path, outside `/_dev/` (see `faults`).
    pub hits: Mutex<Hits>,
    /// Bumped on every approval change; long polls wait on it.
    pub approvals: watch::Sender<u64>,
    /// Flips to true when the server starts shutting down, so held long
    /// polls and injected delays end at once instead of stalling shutdown.
    pub shutdown: watch::Receiver<bool>,
    /// Outbound client for proxied provider calls: redirects are never
    /// followed (a 3xx is captured and returned as the provider's answer).
    pub http: reqwest::Client,
    /// Long polls currently held, reported by `/_dev/health` so tests can
    /// wait for a poll to be parked before acting.
    pub held_polls: AtomicUsize,
    /// Bumped on every Connect or sign-in session change; the auth poll
    /// waits on it.
    pub sessions: watch::Sender<u64>,
    /// Signs identity assertions.
    pub identity_key: crate::jwt::Es256Key,
    /// Gates of `/_provider/hold/{name}` (held provider answers).
    pub holds: crate::routes::hold::Holds,
}

/// Counts a held long poll for as long as it lives.
pub struct HeldPoll<'a>(&'a AtomicUsize);

impl<'a> HeldPoll<'a> {
    pub fn new(counter: &'a AtomicUsize) -> HeldPoll<'a> {
        counter.fetch_add(1, Ordering::SeqCst);
        HeldPoll(counter)
    }
}

impl Drop for HeldPoll<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Ctx {
    pub fn bump_approvals(&self) {
        self.approvals.send_modify(|v| *v = v.wrapping_add(1));
    }

    pub fn bump_sessions(&self) {
        self.sessions.send_modify(|v| *v = v.wrapping_add(1));
    }

    /// Resolves when shutdown begins.
    pub async fn shutting_down(&self) {
        let mut rx = self.shutdown.clone();
        // An error means the sender is gone, which only happens at shutdown.
        let _ = rx.wait_for(|s| *s).await;
    }
}
