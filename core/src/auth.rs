//! End-user sign-in (App only): auth sessions, the long-polling wait,
//! `authenticate()` and `verify_user_token` (grants-and-connect.md §5).

use crate::backend::{self, lenient, model};
use crate::config;
use crate::connect::{open_or_show, BrowserOpener};
use crate::error::{self, Details, Error, Result};
use crate::principals::App;
use crate::transport::{Actor, Call, Site};
use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::fmt;
use std::time::{Duration, Instant};

/// A sign-in session: send the user to `auth_url`, then poll.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct AuthSession {
    pub session_token: String,
    /// The IdP sign-in URL (the session travels as the OIDC `state`).
    pub auth_url: String,
    #[serde(deserialize_with = "lenient::strict_int")]
    pub expires_in: i64,
    pub expires_at: String,
}

impl fmt::Debug for AuthSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthSession")
            .field("session_token", &"<redacted>")
            .field("auth_url", &"<redacted>")
            .field("expires_in", &self.expires_in)
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// A signed-in user: their JWT and the IdP's claims about them.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct AuthResult {
    pub user_token: String,
    /// Typically `sub`, `email`, `name`.
    pub user_info: Map<String, Value>,
}

impl fmt::Debug for AuthResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthResult")
            .field("sub", &self.user_info.get("sub"))
            .finish_non_exhaustive()
    }
}

/// The longest the server holds one auth poll.
const MAX_WAIT: Duration = Duration::from_secs(25);

/// What one auth poll said (or why it must be repeated).
#[derive(Debug)]
enum AuthPoll {
    Pending,
    Transient,
    Done(AuthResult),
}

fn parse_auth_poll(obj: &Map<String, Value>, status: u16) -> Result<AuthPoll> {
    let state = obj
        .get("status")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| backend::malformed_field("poll_auth_session", status, "status"))?;
    match state {
        "pending" => Ok(AuthPoll::Pending),
        "completed" => {
            let token = obj
                .get("user_token")
                .and_then(Value::as_str)
                .filter(|t| !t.is_empty())
                .ok_or_else(|| Error::sdk("Authentication completed without a user token"))?;
            let user_info = match obj.get("user_info") {
                Some(Value::Object(m)) => m.clone(),
                _ => Map::new(),
            };
            Ok(AuthPoll::Done(AuthResult {
                user_token: token.to_string(),
                user_info,
            }))
        }
        "error" => {
            let code = obj.get("error_code").and_then(Value::as_str);
            let message = obj
                .get("error_message")
                .and_then(Value::as_str)
                .filter(|m| !m.trim().is_empty());
            let status_for = match code {
                Some("service_unavailable") => Some(503),
                Some("identity_provider_inactive" | "identity_group_name_ambiguous") => Some(409),
                _ => None,
            };
            match (status_for, code) {
                (Some(s), Some(c)) => {
                    let mut d = Details::new();
                    d.insert("error_code".into(), c.into());
                    if let Some(n) = obj.get("retry_after_seconds").and_then(Value::as_f64) {
                        if n >= 0.0 && n.fract() == 0.0 {
                            d.insert("retry_after_seconds".into(), (n as u64).into());
                        }
                    }
                    Err(Error::backend(
                        message.unwrap_or("Authentication failed"),
                        d,
                        Some(s),
                    ))
                }
                _ => Err(Error::sdk(format!(
                    "Authentication failed: {}",
                    message.unwrap_or("unknown error")
                ))),
            }
        }
        "expired" => Err(Error::sdk("Authentication session expired")),
        other => Err(Error::sdk(format!(
            "Unexpected authentication session status {other:?}"
        ))),
    }
}

/// The poll body: `session_token`, then `wait_ms` when positive.
fn auth_poll_body(session_token: &str, wait_ms: u64) -> Value {
    let mut m = Map::new();
    m.insert("session_token".into(), session_token.into());
    if wait_ms > 0 {
        m.insert("wait_ms".into(), wait_ms.into());
    }
    Value::Object(m)
}

impl App {
    /// Starts an end-user sign-in through the app's identity provider.
    /// Opens nothing; see [`App::authenticate`] for the whole flow.
    pub async fn create_auth_session(&self) -> Result<AuthSession> {
        self.ensure_open()?;
        let call = Call::new(Method::POST, "/sdk/auth/session", Site::Token)
            .json(&Value::Object(Map::new()))
            .actor(Actor::id_only());
        let reply = self.backend_reply(&call).await?;
        if reply.status != 201 {
            return Err(Error::sdk(format!(
                "Unexpected auth session response (HTTP {})",
                reply.status
            )));
        }
        let obj = backend::json_object(&reply, "create_auth_session")?;
        model(
            obj,
            "create_auth_session",
            reply.status,
            |s: &AuthSession| {
                if s.session_token.is_empty() || s.auth_url.is_empty() || s.expires_at.is_empty() {
                    Err("session_token, auth_url and expires_at must be non-empty".into())
                } else {
                    Ok(())
                }
            },
        )
    }

    /// Waits for the user to finish signing in (long-polling, at most 25 s
    /// per request). Transient failures are retried until `timeout`
    /// seconds have passed.
    pub async fn poll_auth_session(
        &self,
        session_token: &str,
        timeout: f64,
        poll_interval: f64,
    ) -> Result<AuthResult> {
        backend::require_non_blank("session_token", session_token)?;
        let budget = config::positive_seconds("timeout", timeout)?;
        let interval = config::positive_seconds("poll_interval", poll_interval)?;
        self.ensure_open()?;
        let start = Instant::now();
        let remaining = || budget.saturating_sub(start.elapsed());
        let deadline_error = || {
            let mut d = Details::new();
            d.insert("timeout".into(), backend::seconds_value(timeout));
            d.insert("reason".into(), "poll_deadline_elapsed".into());
            Error::connect_timeout("Sign-in did not finish before the timeout", d)
        };
        loop {
            self.ensure_open()?;
            let wait = remaining().min(MAX_WAIT);
            let wait_ms = wait.as_millis() as u64;
            let mut call = Call::new(Method::POST, "/sdk/auth/poll", Site::Token)
                .json(&auth_poll_body(session_token, wait_ms))
                .idempotent(true)
                .actor(Actor::id_only());
            if wait_ms > 0 {
                call = call.timeout(Duration::from_millis(wait_ms) + Duration::from_secs(15));
            }
            let state = match self.shared.send(&self.local, &call).await {
                Err(e) if e.is_a("NetworkError") => AuthPoll::Transient,
                Err(e) => return Err(e),
                Ok(reply) => match reply.status {
                    200 => {
                        let obj = backend::json_object(&reply, "poll_auth_session")?;
                        parse_auth_poll(&obj, 200)?
                    }
                    400 | 401 | 403 | 404 | 422 => {
                        return Err(error::map_backend_error(&reply.failure()).unwrap_or_else(
                            || {
                                Error::sdk(format!(
                                    "Auth session poll failed (status={})",
                                    reply.status
                                ))
                            },
                        ))
                    }
                    _ => AuthPoll::Transient,
                },
            };
            match state {
                AuthPoll::Done(r) => return Ok(r),
                AuthPoll::Pending | AuthPoll::Transient => {
                    if remaining().is_zero() {
                        return Err(deadline_error());
                    }
                    tokio::time::sleep(interval.min(remaining())).await;
                }
            }
        }
    }

    /// The whole sign-in: starts a session, opens `auth_url` through
    /// `opener` (or shows `Open this URL to authenticate: <url>`), waits up
    /// to `timeout` seconds, then makes the obtained JWT this client's user
    /// token for every later call that falls back to the getter (warning if
    /// a getter was configured).
    pub async fn authenticate(
        &self,
        timeout: f64,
        opener: &dyn BrowserOpener,
    ) -> Result<AuthResult> {
        config::positive_seconds("timeout", timeout)?;
        let session = self.create_auth_session().await?;
        open_or_show(
            opener,
            true,
            "Open this URL to authenticate:",
            &session.auth_url,
        );
        let result = self
            .poll_auth_session(&session.session_token, timeout, 2.0)
            .await?;
        let replaced = backend::install_token(&self.shared, result.user_token.clone());
        if replaced || self.shared.user_token_getter.is_some() {
            self.shared
                .warn("authenticate() replaced the user token source configured on this client");
        }
        Ok(result)
    }

    /// Checks an end-user JWT against the app's identity provider and
    /// returns its subject, or `None` for any failure (never an error).
    pub async fn verify_user_token(&self, token: &str) -> Option<String> {
        if token.trim().is_empty() || self.is_closed() {
            if self.is_closed() {
                self.shared
                    .warn("verify_user_token called on a closed client; returning None");
            }
            return None;
        }
        let call = Call::new(Method::POST, "/sdk/auth/verify-token", Site::Token)
            .json(&serde_json::json!({ "token": token }))
            .idempotent(true)
            .actor(Actor::id_only());
        let reply = match self.shared.send(&self.local, &call).await {
            Ok(r) => r,
            Err(e) => {
                self.shared
                    .warn(&format!("verify_user_token failed ({})", e.kind()));
                return None;
            }
        };
        match reply.status {
            200 => {
                let sub = serde_json::from_slice::<Value>(&reply.body)
                    .ok()
                    .and_then(|v| v.get("sub").and_then(Value::as_str).map(str::to_string))
                    .filter(|s| !s.trim().is_empty());
                if sub.is_none() {
                    self.shared
                        .warn("verify_user_token: malformed response (BackendError)");
                }
                sub
            }
            401 => None,
            s => {
                self.shared
                    .warn(&format!("verify_user_token: backend answered HTTP {s}"));
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Unusable seconds are refused by name before anything is sent (a
    /// finite huge value used to panic in `Duration::from_secs_f64`).
    #[tokio::test]
    async fn poll_auth_session_refuses_unusable_seconds_before_polling() {
        let app = App::new(crate::ClientOptions {
            api_key: format!("alter_key_{}", "k".repeat(40)),
            base_url: Some("http://127.0.0.1:9".into()),
            warnings: Some(std::sync::Arc::new(|_: &str| {})),
            ..Default::default()
        })
        .unwrap();
        for bad in [1e20, f64::INFINITY, f64::NAN, -1.0] {
            let e = app.poll_auth_session("tok", bad, 2.0).await.unwrap_err();
            assert_eq!(e.kind(), "AlterValueError", "timeout={bad}");
            assert!(
                e.message().starts_with("timeout must be"),
                "{}",
                e.message()
            );
            let e = app.poll_auth_session("tok", 10.0, bad).await.unwrap_err();
            assert_eq!(e.kind(), "AlterValueError", "poll_interval={bad}");
            assert!(
                e.message().starts_with("poll_interval must be"),
                "{}",
                e.message()
            );
            let e = app
                .authenticate(bad, &crate::SystemBrowser)
                .await
                .unwrap_err();
            assert_eq!(e.kind(), "AlterValueError", "authenticate timeout={bad}");
        }
    }

    fn obj(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => unreachable!(),
        }
    }

    #[test]
    fn poll_body() {
        assert_eq!(
            crate::json::compact_ascii(&auth_poll_body("s", 25000)),
            r#"{"session_token":"s","wait_ms":25000}"#
        );
        assert_eq!(
            crate::json::compact_ascii(&auth_poll_body("s", 0)),
            r#"{"session_token":"s"}"#
        );
    }

    #[test]
    fn poll_states() {
        let p = |v: Value| parse_auth_poll(&obj(v), 200);
        assert!(matches!(
            p(json!({"status": "pending"})).unwrap(),
            AuthPoll::Pending
        ));
        let AuthPoll::Done(r) = p(json!({"status": "completed", "user_token": "jwt",
            "user_info": {"sub": "u1", "email": "a@x"}}))
        .unwrap() else {
            panic!("done")
        };
        assert_eq!(r.user_token, "jwt");
        assert!(!format!("{r:?}").contains("jwt"));
        let AuthPoll::Done(r) =
            p(json!({"status": "completed", "user_token": "jwt", "user_info": 3})).unwrap()
        else {
            panic!("done")
        };
        assert!(r.user_info.is_empty());
        assert_eq!(
            p(json!({"status": "completed", "user_token": ""}))
                .unwrap_err()
                .kind(),
            "AlterSDKError"
        );
        let e = p(json!({"status": "error", "error_message": "nope"})).unwrap_err();
        assert_eq!(e.kind(), "AlterSDKError");
        assert_eq!(e.message(), "Authentication failed: nope");
        assert_eq!(
            p(json!({"status": "error"})).unwrap_err().message(),
            "Authentication failed: unknown error"
        );
        let e = p(
            json!({"status": "error", "error_code": "service_unavailable",
            "error_message": "busy", "retry_after_seconds": 3}),
        )
        .unwrap_err();
        assert_eq!((e.kind(), e.status_code()), ("BackendError", Some(503)));
        assert_eq!(e.details()["retry_after_seconds"], 3);
        assert_eq!(
            p(json!({"status": "error", "error_code": "identity_provider_inactive", "error_message": "x"}))
                .unwrap_err()
                .status_code(),
            Some(409)
        );
        assert_eq!(
            p(json!({"status": "expired"})).unwrap_err().message(),
            "Authentication session expired"
        );
        assert_eq!(
            p(json!({"status": "odd"})).unwrap_err().kind(),
            "AlterSDKError"
        );
        assert_eq!(p(json!({})).unwrap_err().kind(), "BackendError");
    }

    #[test]
    fn session_model() {
        let s: AuthSession = serde_json::from_value(json!({"session_token": "s",
            "auth_url": "https://idp/authorize?state=s", "expires_in": 600, "expires_at": "t"}))
        .unwrap();
        assert!(!format!("{s:?}").contains("idp"));
        assert!(
            serde_json::from_value::<AuthSession>(json!({"session_token": "s",
            "auth_url": "u", "expires_in": 600.0, "expires_at": "t"}))
            .is_err()
        );
    }
}
