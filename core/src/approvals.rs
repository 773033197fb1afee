//! Approval (HITL) models, the status poll and `await_approval`.

use crate::client::Client;
use crate::config;
use crate::error::{self, Details, Error, Result};
use crate::transport::{Actor, Call, Site};
use base64::Engine;
use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::fmt;
use std::time::{Duration, Instant};

/// The captured provider response of a proxied call.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct ApprovalResult {
    #[serde(default)]
    pub approval_id: Option<String>,
    pub status_code: u16,
    #[serde(default)]
    pub headers: serde_json::Map<String, Value>,
    pub body_b64: String,
    #[serde(default)]
    pub body_truncated: bool,
    #[serde(default)]
    pub duration_ms: Option<u64>,
    #[serde(default)]
    pub credential_hint: Option<String>,
}

impl fmt::Debug for ApprovalResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApprovalResult")
            .field("approval_id", &self.approval_id)
            .field("status_code", &self.status_code)
            .field("body_len", &self.body_b64.len())
            .field("body_truncated", &self.body_truncated)
            .field("duration_ms", &self.duration_ms)
            .finish_non_exhaustive()
    }
}

impl ApprovalResult {
    pub fn body_bytes(&self) -> Vec<u8> {
        base64::engine::general_purpose::STANDARD
            .decode(&self.body_b64)
            .unwrap_or_default()
    }

    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body_bytes()).into_owned()
    }

    pub fn body_json(&self) -> Result<Value> {
        serde_json::from_slice(&self.body_bytes())
            .map_err(|_| Error::value("result body is not valid JSON"))
    }

    /// Provider headers as string pairs.
    pub fn header_pairs(&self) -> Vec<(String, String)> {
        self.headers
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
            .collect()
    }

    fn validate(mut self) -> std::result::Result<Self, ()> {
        if !is_standard_base64(&self.body_b64) {
            return Err(());
        }
        if !self.headers.values().all(Value::is_string) {
            return Err(());
        }
        if let Some(id) = &self.approval_id {
            if !is_uuid_lenient(id) {
                return Err(());
            }
        }
        if self
            .credential_hint
            .as_deref()
            .is_some_and(|h| h.trim().is_empty())
        {
            self.credential_hint = None;
        }
        Ok(self)
    }
}

/// One approver gate of a pending approval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApprovalGate {
    pub approval_id: String,
    pub expires_at: String,
    pub expires_in: i64,
    pub approval_url: String,
}

/// The 202 answer of `/sdk/proxy` for an approval-gated grant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PendingApproval {
    pub approval_id: String,
    pub approval_group_id: String,
    pub status: String,
    pub expires_at: String,
    pub expires_in: i64,
    pub approval_url: String,
    pub gates: Vec<ApprovalGate>,
}

impl PendingApproval {
    fn validate(self) -> std::result::Result<Self, ()> {
        let gates_ok = self.gates.iter().all(|g| {
            is_uuid_lenient(&g.approval_id)
                && is_datetime(&g.expires_at)
                && !g.approval_url.is_empty()
        });
        let ok = self.status == "pending"
            && is_uuid_lenient(&self.approval_id)
            && is_uuid_lenient(&self.approval_group_id)
            && is_datetime(&self.expires_at)
            && !self.approval_url.is_empty()
            && !self.gates.is_empty()
            && gates_ok;
        if ok {
            Ok(self)
        } else {
            Err(())
        }
    }
}

/// The seven statuses an approval (and a gate) can report.
pub const APPROVAL_STATUSES: [&str; 7] = [
    "pending",
    "approved",
    "executing",
    "denied",
    "expired",
    "executed",
    "failed",
];

/// One gate's decision state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApprovalGateStatus {
    pub approval_id: String,
    pub status: String,
    pub expires_at: String,
    #[serde(default)]
    pub decided_at: Option<String>,
}

/// The body of the status poll.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApprovalStatus {
    pub approval_id: String,
    pub status: String,
    pub approval_group_id: String,
    pub gates: Vec<ApprovalGateStatus>,
    pub expires_at: String,
    #[serde(default)]
    pub decided_at: Option<String>,
    #[serde(default)]
    pub decision_reason: Option<String>,
    #[serde(default)]
    pub executed_at: Option<String>,
    #[serde(default)]
    pub execution_error: Option<String>,
    pub has_result: bool,
}

impl ApprovalStatus {
    /// Denied, expired, executed and failed end an approval.
    pub fn is_terminal(&self) -> bool {
        matches!(
            self.status.as_str(),
            "denied" | "expired" | "executed" | "failed"
        )
    }

    fn validate(self) -> std::result::Result<Self, ()> {
        let status_ok = |s: &str| APPROVAL_STATUSES.contains(&s);
        let gates_ok = self.gates.iter().all(|g| {
            is_uuid_lenient(&g.approval_id)
                && status_ok(&g.status)
                && is_datetime(&g.expires_at)
                && g.decided_at.as_deref().is_none_or(is_datetime)
        });
        let ok = status_ok(&self.status)
            && is_uuid_lenient(&self.approval_id)
            && is_uuid_lenient(&self.approval_group_id)
            && !self.gates.is_empty()
            && gates_ok
            && is_datetime(&self.expires_at)
            && self.decided_at.as_deref().is_none_or(is_datetime)
            && self.executed_at.as_deref().is_none_or(is_datetime);
        if ok {
            Ok(self)
        } else {
            Err(())
        }
    }
}

/// Any standard UUID spelling: hyphenated or not, any case, braces or urn.
fn is_uuid_lenient(s: &str) -> bool {
    let s = s.strip_prefix("urn:uuid:").unwrap_or(s);
    let s = s
        .strip_prefix('{')
        .and_then(|x| x.strip_suffix('}'))
        .unwrap_or(s);
    let hex: String = s.chars().filter(|c| *c != '-').collect();
    hex.len() == 32
        && hex.chars().all(|c| c.is_ascii_hexdigit())
        && (s.len() == 32 || s.len() == 36)
}

/// An ISO 8601 date-time, with or without an offset.
fn is_datetime(s: &str) -> bool {
    use time::format_description::well_known::Rfc3339;
    if time::OffsetDateTime::parse(s, &Rfc3339).is_ok() {
        return true;
    }
    let fmt = time::macros::format_description!(
        version = 2,
        "[year]-[month]-[day]T[hour]:[minute]:[second][optional [.[subsecond]]]"
    );
    time::PrimitiveDateTime::parse(s, &fmt).is_ok()
}

fn is_standard_base64(s: &str) -> bool {
    if !s.len().is_multiple_of(4) {
        return false;
    }
    let body = s.trim_end_matches('=');
    s.len() - body.len() <= 2
        && body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
}

/// Parses a 2xx body into a model, with the documented failure messages.
pub(crate) fn parse_model<T: serde::de::DeserializeOwned>(
    body: &[u8],
    validate: impl FnOnce(T) -> std::result::Result<T, ()>,
    not_json: &str,
    invalid: &str,
    mut details: Details,
    status: u16,
) -> Result<T> {
    let value: Value = serde_json::from_slice(body).map_err(|_| {
        let mut d = details.clone();
        d.insert("status_code".into(), status.into());
        Error::backend(not_json, d, Some(status))
    })?;
    details.insert("status_code".into(), status.into());
    serde_json::from_value::<T>(value)
        .map_err(|_| ())
        .and_then(validate)
        .map_err(|_| Error::backend(invalid, details, Some(status)))
}

pub(crate) fn parse_result(
    body: &[u8],
    status: u16,
    details: Details,
    not_json: &str,
    invalid: &str,
) -> Result<ApprovalResult> {
    parse_model(
        body,
        ApprovalResult::validate,
        not_json,
        invalid,
        details,
        status,
    )
}

pub(crate) fn parse_pending(body: &[u8]) -> Result<PendingApproval> {
    parse_model(
        body,
        PendingApproval::validate,
        "/sdk/proxy 202 response body is not valid JSON",
        "/sdk/proxy 202 response failed validation: ValidationError",
        Details::new(),
        202,
    )
}

/// The longest server-side hold of a status poll.
pub const MAX_LONG_POLL_SECONDS: u64 = 25;

impl Client {
    /// One status poll. `wait` asks the server to hold the request up to that
    /// many seconds for a change (floored; the server caps it at 25).
    pub async fn get_approval_status(
        &self,
        approval_id: &str,
        wait: f64,
    ) -> Result<ApprovalStatus> {
        self.ensure_open()?;
        if !wait.is_finite() {
            return Err(Error::value("wait must be a finite number"));
        }
        let wait = if wait < 0.0 { 0 } else { wait.floor() as u64 };
        // The id goes into the path verbatim in the reference; a canonical
        // UUID check keeps a stray `/` or `?` from changing the route.
        if !crate::transport::is_uuid_any_case(approval_id) {
            return Err(Error::value("approval_id must be a canonical UUID"));
        }
        let mut target = format!("/sdk/approvals/{approval_id}");
        if wait > 0 {
            target.push_str(&format!("?wait={wait}"));
        }
        let mut call =
            Call::new(Method::GET, target.clone(), Site::ApprovalStatus).actor(Actor::none());
        if wait > 0 {
            call = call.timeout(Duration::from_secs(wait.min(MAX_LONG_POLL_SECONDS) + 15));
        }
        let reply = self.shared.send(&self.local, &call).await?;
        if reply.status != 200 {
            return Err(error::map_approval_status_error(&target, &reply.failure()));
        }
        parse_model(
            &reply.body,
            ApprovalStatus::validate,
            "approval status response body is not valid JSON",
            &format!("GET {target} response failed validation: ValidationError"),
            Details::new(),
            200,
        )
    }

    async fn fetch_approval_result(&self, approval_id: &str) -> Result<ApprovalResult> {
        let target = format!("/sdk/approvals/{approval_id}/result");
        let call = Call::new(Method::GET, target, Site::ApprovalResult)
            .actor(Actor::none())
            .carries_provider_body();
        let reply = self.shared.send(&self.local, &call).await?;
        if reply.status != 200 {
            return Err(error::map_proxy_error(&reply.failure()));
        }
        let mut details = Details::new();
        details.insert("approval_id".into(), approval_id.into());
        parse_result(
            &reply.body,
            200,
            details,
            "approval result response body is not valid JSON",
            "approval result response failed validation: ValidationError",
        )
        .map_err(|e| {
            // The documented details of a validation failure carry only the id.
            if e.message().ends_with("ValidationError") {
                let mut d = Details::new();
                d.insert("approval_id".into(), approval_id.into());
                Error::backend(e.message(), d, Some(200))
            } else {
                e
            }
        })
    }

    /// Polls until the approval reaches a terminal status, then returns the
    /// executed call's result or raises the matching approval error.
    /// `timeout` ≤ 0 times out at once; transient failures (transport errors,
    /// 502/503/504) are retried until the deadline.
    pub async fn await_approval(
        &self,
        approval_id: &str,
        timeout: f64,
        poll_interval: f64,
    ) -> Result<ApprovalResult> {
        self.ensure_open()?;
        let budget = config::deadline_seconds("timeout", timeout)?;
        let interval = config::positive_seconds("poll_interval", poll_interval)?;
        let start = Instant::now();
        let remaining = || budget.saturating_sub(start.elapsed());
        let shown_timeout = render_seconds(timeout);
        let timed_out = |last: &Option<Error>| -> Error {
            let msg = match last {
                None => format!("local wait of {shown_timeout}s elapsed; approval still pending"),
                Some(e) if e.is_a("NetworkError") => format!(
                    "local wait of {shown_timeout}s elapsed while polling failed with transport errors ({}); approval still pending",
                    e.kind()
                ),
                Some(e) => format!(
                    "local wait of {shown_timeout}s elapsed while backend was returning transient {}s; approval still pending",
                    e.status_code().map(|s| s.to_string()).unwrap_or_default()
                ),
            };
            Error::approval_timeout(msg, Some(approval_id.to_string()))
        };
        let mut last: Option<Error> = None;
        loop {
            self.ensure_open()?;
            let left = remaining();
            if left.is_zero() {
                return Err(timed_out(&last));
            }
            let server_wait = left.as_secs().min(MAX_LONG_POLL_SECONDS);
            let poll = tokio::time::timeout(
                left,
                self.get_approval_status(approval_id, server_wait as f64),
            )
            .await;
            let status = match poll {
                Err(_) => return Err(timed_out(&last)),
                Ok(Err(e)) => {
                    if !error::is_transient_approval_error(&e) {
                        return Err(e);
                    }
                    self.shared.warn(&format!(
                        "Transient error while polling approval ({})",
                        e.kind()
                    ));
                    last = Some(e);
                    if remaining().is_zero() {
                        return Err(timed_out(&last));
                    }
                    tokio::time::sleep(interval.min(remaining())).await;
                    continue;
                }
                Ok(Ok(s)) => s,
            };
            last = None;
            let id = Some(approval_id.to_string());
            match status.status.as_str() {
                "executed" if status.has_result => {
                    match self.fetch_approval_result(approval_id).await {
                        Ok(r) => return Ok(r),
                        Err(e) if error::is_transient_approval_error(&e) => last = Some(e),
                        Err(e) => return Err(e),
                    }
                }
                "denied" => {
                    return Err(Error::approval_denied(
                        status
                            .decision_reason
                            .filter(|r| !r.is_empty())
                            .unwrap_or_else(|| "approver denied the request".into()),
                        id,
                    ))
                }
                "expired" => {
                    return Err(Error::approval_expired(
                        "approval window elapsed without a decision",
                        id,
                    ))
                }
                "failed" => {
                    return Err(Error::approval_execution_failed(
                        status
                            .execution_error
                            .filter(|r| !r.is_empty())
                            .or(status.decision_reason.filter(|r| !r.is_empty()))
                            .unwrap_or_else(|| "backend proxy execution failed".into()),
                        id,
                    ))
                }
                _ => {}
            }
            if remaining().is_zero() {
                return Err(timed_out(&last));
            }
            tokio::time::sleep(interval.min(remaining())).await;
        }
    }
}

/// `300.0`, `0`, `1.5`: the timeout as the caller wrote it, roughly.
fn render_seconds(t: f64) -> String {
    if t.fract() == 0.0 && t.abs() < 1e15 {
        format!("{t:.1}")
    } else {
        format!("{t}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Huge, infinite and NaN budgets are refused by name before anything is
    /// sent (they used to panic inside `Duration::from_secs_f64`); the
    /// backend here is a closed port, so any poll would fail differently.
    #[tokio::test]
    async fn await_approval_refuses_unusable_seconds_before_polling() {
        let client = crate::testutil::quiet_client("http://127.0.0.1:9");
        let id = "0b6f2d7e-52c4-4c1d-9e55-2a8f3c9d1e00";
        for bad in [1e20, f64::INFINITY, f64::NEG_INFINITY, f64::NAN] {
            let e = client.await_approval(id, bad, 2.0).await.unwrap_err();
            assert_eq!(e.kind(), "AlterValueError", "timeout={bad}");
            assert!(
                e.message().starts_with("timeout must be"),
                "{}",
                e.message()
            );
            let e = client.await_approval(id, 1.0, bad).await.unwrap_err();
            assert_eq!(e.kind(), "AlterValueError", "poll_interval={bad}");
            assert!(
                e.message().starts_with("poll_interval must be"),
                "{}",
                e.message()
            );
        }
        let e = client.await_approval(id, 1.0, -1.0).await.unwrap_err();
        assert!(
            e.message().starts_with("poll_interval must be"),
            "{}",
            e.message()
        );
        // A negative timeout has already passed (requests.md §13.4): it
        // times out at once, without polling.
        let e = client.await_approval(id, -1.0, 2.0).await.unwrap_err();
        assert_eq!(e.kind(), "ApprovalTimeoutError");
        assert!(
            e.message().starts_with("local wait of -1.0s elapsed"),
            "{}",
            e.message()
        );
    }

    #[test]
    fn lenient_shapes() {
        assert!(is_uuid_lenient("0b6f2d7e-52c4-4c1d-9e55-2a8f3c9d1e00"));
        assert!(is_uuid_lenient("0B6F2D7E52C44C1D9E552A8F3C9D1E00"));
        assert!(is_uuid_lenient("{0b6f2d7e-52c4-4c1d-9e55-2a8f3c9d1e00}"));
        assert!(!is_uuid_lenient("nope"));
        assert!(is_datetime("2026-05-01T12:00:00Z"));
        assert!(is_datetime("2026-05-01T12:00:00.123+02:00"));
        assert!(is_datetime("2026-05-01T12:00:00"));
        assert!(!is_datetime("yesterday"));
        assert!(is_standard_base64(""));
        assert!(is_standard_base64("aGk="));
        assert!(!is_standard_base64("aGk"));
        assert!(!is_standard_base64("a-k_"));
    }

    #[test]
    fn status_validation_rejects_unknown_statuses() {
        let good = serde_json::json!({
            "approval_id": "0b6f2d7e-52c4-4c1d-9e55-2a8f3c9d1e00",
            "status": "pending",
            "approval_group_id": "0b6f2d7e-52c4-4c1d-9e55-2a8f3c9d1e01",
            "gates": [{"approval_id": "0b6f2d7e-52c4-4c1d-9e55-2a8f3c9d1e00", "status": "pending", "expires_at": "2026-05-01T12:00:00Z"}],
            "expires_at": "2026-05-01T12:00:00Z",
            "has_result": false
        });
        let parse = |v: &Value| {
            parse_model::<ApprovalStatus>(
                v.to_string().as_bytes(),
                ApprovalStatus::validate,
                "nj",
                "inv",
                Details::new(),
                200,
            )
        };
        assert!(!parse(&good).unwrap().is_terminal());
        let mut bad = good.clone();
        bad["status"] = "weird".into();
        assert_eq!(parse(&bad).unwrap_err().message(), "inv");
        let mut no_result = good.clone();
        no_result.as_object_mut().unwrap().remove("has_result");
        assert!(parse(&no_result).is_err());
    }

    #[test]
    fn timeout_rendering() {
        assert_eq!(render_seconds(300.0), "300.0");
        assert_eq!(render_seconds(1.5), "1.5");
    }
}
