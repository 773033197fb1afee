//! Retry policy for backend calls.
//!
//! The official package never retries a backend call; we do, because a
//! credential broker sits on every request path and a momentary 503 or a
//! dropped connection should not fail an agent's tool call. Rules:
//! - only backend calls are retried, never the provider call itself;
//! - a connection that could not be established is always safe to retry;
//! - 429 and 503 mean the backend refused before doing the work, so they are
//!   retried for every call; `quota_exceeded` is a policy denial, not a
//!   throttle, and is never retried;
//! - 502 and 504 may arrive after the work was done, so they are retried only
//!   for calls that are safe to repeat (token fetch, reads), never for
//!   `/sdk/proxy`, which executes a provider call;
//! - every attempt is signed anew (fresh timestamp and nonce).

use rand::Rng;
use std::time::Duration;

/// How backend calls are retried. `max_attempts` counts the first try, so
/// `1` disables retrying.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    /// Upper bound of the first backoff; doubles each attempt.
    pub initial_backoff: Duration,
    /// Ceiling of any computed backoff.
    pub max_backoff: Duration,
    /// A `Retry-After` longer than this is not waited for: the error is
    /// returned to the caller instead.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 3,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(5),
            max_retry_after: Duration::from_secs(30),
        }
    }
}

/// What went wrong with one attempt, as far as retrying is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The connection was never established.
    ConnectFailed,
    /// Any other transport failure (timeouts included): the request may have
    /// reached the server, so it is not retried.
    TransportFailed,
    /// An HTTP status, with whether the body said `quota_exceeded`.
    Status { status: u16, quota_exceeded: bool },
}

impl RetryPolicy {
    /// A policy that never retries.
    pub fn disabled() -> Self {
        RetryPolicy {
            max_attempts: 1,
            ..RetryPolicy::default()
        }
    }

    /// Whether an outcome may be retried at all.
    pub fn is_retryable(outcome: Outcome, idempotent: bool) -> bool {
        match outcome {
            Outcome::ConnectFailed => true,
            Outcome::TransportFailed => false,
            Outcome::Status {
                status,
                quota_exceeded,
            } => match status {
                429 => !quota_exceeded,
                503 => true,
                502 | 504 => idempotent,
                _ => false,
            },
        }
    }

    /// The delay before attempt `attempt + 1` (attempts are 1-based), or
    /// `None` when no further attempt should be made.
    pub fn delay(
        &self,
        attempt: u32,
        outcome: Outcome,
        idempotent: bool,
        retry_after: Option<Duration>,
    ) -> Option<Duration> {
        if attempt >= self.max_attempts || !Self::is_retryable(outcome, idempotent) {
            return None;
        }
        if retry_after.is_some_and(|ra| ra > self.max_retry_after) {
            return None;
        }
        let exp = self
            .initial_backoff
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(16))
            .min(self.max_backoff);
        // Full jitter spreads a burst of clients over the whole window.
        let jitter = if exp.is_zero() {
            Duration::ZERO
        } else {
            rand::thread_rng().gen_range(Duration::ZERO..=exp)
        };
        Some(retry_after.map_or(jitter, |ra| ra.max(jitter)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn st(status: u16) -> Outcome {
        Outcome::Status {
            status,
            quota_exceeded: false,
        }
    }

    #[test]
    fn classification() {
        assert!(RetryPolicy::is_retryable(Outcome::ConnectFailed, false));
        assert!(!RetryPolicy::is_retryable(Outcome::TransportFailed, true));
        assert!(RetryPolicy::is_retryable(st(429), false));
        assert!(RetryPolicy::is_retryable(st(503), false));
        assert!(RetryPolicy::is_retryable(st(502), true));
        assert!(!RetryPolicy::is_retryable(st(502), false));
        assert!(!RetryPolicy::is_retryable(st(504), false));
        assert!(!RetryPolicy::is_retryable(st(500), true));
        assert!(!RetryPolicy::is_retryable(st(404), true));
        assert!(!RetryPolicy::is_retryable(
            Outcome::Status {
                status: 429,
                quota_exceeded: true
            },
            true
        ));
    }

    #[test]
    fn delays_are_bounded_and_stop_after_max_attempts() {
        let p = RetryPolicy::default();
        for attempt in 1..3 {
            let d = p.delay(attempt, st(503), true, None).unwrap();
            assert!(d <= p.initial_backoff * (1 << (attempt - 1)));
        }
        assert_eq!(p.delay(3, st(503), true, None), None);
        assert_eq!(RetryPolicy::disabled().delay(1, st(503), true, None), None);
    }

    #[test]
    fn retry_after_is_honoured_up_to_the_cap() {
        let p = RetryPolicy::default();
        let d = p
            .delay(1, st(429), true, Some(Duration::from_secs(2)))
            .unwrap();
        assert_eq!(d, Duration::from_secs(2));
        assert_eq!(
            p.delay(1, st(429), true, Some(Duration::from_secs(31))),
            None
        );
    }
}
