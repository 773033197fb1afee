//! The backend client: one signed call with its actor headers, retried by
//! policy, with the response hooks every backend call runs (rate-limit
//! snapshot, deprecated-key warning, actor-id cache).

use crate::body::BodyError;
use crate::client::{Local, Shared, Slot};
use crate::error::{Details, Error, Result};
use crate::retry::{Outcome, RetryPolicy};
use crate::signing::{self, SignatureInput};
use bytes::Bytes;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_TYPE};
use reqwest::Method;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Which public operation a backend call belongs to; decides the wording of
/// transport errors (errors.md §8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Site {
    /// token path, revoke/delegation, grants, connect, auth.
    Token,
    /// namespaces and helpers (agents, keys, scopes, list_grants, ...).
    Namespace,
    Proxy,
    ApprovalStatus,
    ApprovalResult,
}

/// The identity headers a call carries beyond the constructor's caller pair.
#[derive(Debug, Clone, Default)]
pub(crate) struct Actor {
    /// Send the cached `X-Alter-Actor-ID` (skipped anyway under an override).
    pub send_actor_id: bool,
    /// Cache an `X-Alter-Actor-ID` from the response.
    pub cache_actor_id: bool,
    /// Encoded `X-Alter-Context` value.
    pub context: Option<String>,
    /// Per-call caller override (the type stays the constructor's).
    pub caller_override: Option<String>,
}

impl Actor {
    /// The full actor set: cached actor id, context, response caching.
    pub fn full(context: Option<String>) -> Actor {
        Actor {
            send_actor_id: true,
            cache_actor_id: true,
            context,
            caller_override: None,
        }
    }

    /// Actor id only (no context), still caching.
    pub fn id_only() -> Actor {
        Actor::full(None)
    }

    /// No actor headers and no caching (approvals, scope-mismatch report).
    pub fn none() -> Actor {
        Actor::default()
    }
}

/// One backend call.
#[derive(Debug)]
pub(crate) struct Call {
    pub method: Method,
    /// SDK-relative target: `/sdk/...` with its query.
    pub target: String,
    /// The body, serialised once; hashed and sent as these exact bytes.
    pub body: Option<Vec<u8>>,
    pub actor: Actor,
    pub timeout: Option<Duration>,
    /// Safe to repeat after a 502/504 (see `retry`).
    pub idempotent: bool,
    pub site: Site,
    pub extra_headers: Vec<(HeaderName, HeaderValue)>,
    /// A background report (audit, scope mismatch): still sent while
    /// `close()` drains pending tasks.
    pub background: bool,
    /// Which cap the answer's body is read under.
    pub body_cap: BodyCap,
}

/// The cap a backend answer is read under (see [`crate::body`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BodyCap {
    /// [`crate::body::BACKEND_MAX_RESPONSE_BYTES`].
    Backend,
    /// The client's `max_response_bytes`: the answer carries a provider's
    /// body (`/sdk/proxy`, an approval's result).
    Provider,
}

impl Call {
    pub fn new(method: Method, target: impl Into<String>, site: Site) -> Call {
        let idempotent = method == Method::GET;
        Call {
            method,
            target: target.into(),
            body: None,
            actor: Actor::id_only(),
            timeout: None,
            idempotent,
            site,
            extra_headers: Vec::new(),
            background: false,
            body_cap: BodyCap::Backend,
        }
    }

    /// Reads the answer under the provider cap (it carries a provider body).
    pub fn carries_provider_body(mut self) -> Call {
        self.body_cap = BodyCap::Provider;
        self
    }

    pub fn json(mut self, v: &serde_json::Value) -> Call {
        self.body = Some(crate::json::compact_ascii(v).into_bytes());
        self
    }

    pub fn actor(mut self, actor: Actor) -> Call {
        self.actor = actor;
        self
    }

    pub fn idempotent(mut self, yes: bool) -> Call {
        self.idempotent = yes;
        self
    }

    pub fn timeout(mut self, t: Duration) -> Call {
        self.timeout = Some(t);
        self
    }
}

/// A backend response of any status.
#[derive(Debug)]
pub(crate) struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// How many attempts the call took (1 when it was not retried).
    pub attempts: u32,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn failure(&self) -> crate::error::HttpFailure<'_> {
        crate::error::HttpFailure {
            status: self.status,
            body: &self.body,
            retry_after: self.header("retry-after"),
            request_id: self.header("x-request-id"),
        }
    }
}

/// A transport-level failure of one attempt.
#[derive(Debug)]
pub(crate) enum TransportFailure {
    Connect(String),
    Timeout(String),
    Other(String),
    /// The answer's body went over its cap (never retried: the same answer
    /// would come back).
    TooLarge {
        cap: BodyCap,
        max_bytes: u64,
        status: u16,
    },
}

/// Short description of a reqwest error without the URL it carries: the
/// innermost cause ("Connection refused (os error 111)").
pub(crate) fn describe(err: &reqwest::Error) -> String {
    let mut cause: &dyn std::error::Error = err;
    while let Some(next) = cause.source() {
        cause = next;
    }
    let text = cause.to_string();
    if text.contains("http://") || text.contains("https://") {
        // Never echo URLs (a provider URL may carry a query credential).
        return String::new();
    }
    text
}

pub(crate) fn classify(err: &reqwest::Error) -> TransportFailure {
    let text = describe(err);
    if err.is_timeout() {
        TransportFailure::Timeout(text)
    } else if err.is_connect() {
        TransportFailure::Connect(text)
    } else {
        TransportFailure::Other(text)
    }
}

impl TransportFailure {
    /// The typed error for this failure at a call site (errors.md §8).
    pub fn into_error(self, site: Site, base_url: &str) -> Error {
        let mut details = Details::new();
        if matches!(site, Site::Token | Site::Namespace) {
            details.insert("base_url".into(), base_url.into());
        }
        let (connect, timeout, other) = match site {
            Site::Token => (
                "Failed to connect to Alter Vault backend",
                "Request to Alter Vault backend timed out",
                "Failed to reach Alter Vault backend",
            ),
            Site::Namespace => (
                "Failed to reach Alter Vault backend",
                "Request to Alter Vault backend timed out",
                "Failed to reach Alter Vault backend",
            ),
            Site::Proxy => (
                "Failed to connect to Alter Vault backend",
                "Proxy request timed out",
                "Failed to reach Alter Vault backend",
            ),
            Site::ApprovalStatus => (
                "Failed to connect to Alter Vault backend",
                "Approval status poll timed out",
                "Failed to reach Alter Vault backend",
            ),
            Site::ApprovalResult => (
                "Failed to fetch approval result",
                "Approval result fetch timed out",
                "Failed to fetch approval result",
            ),
        };
        match self {
            TransportFailure::Connect(t) => Error::network(format!("{connect}: {t}"), details),
            TransportFailure::Timeout(t) => Error::timeout(format!("{timeout}: {t}"), details),
            TransportFailure::Other(t) => Error::network(format!("{other}: {t}"), details),
            TransportFailure::TooLarge {
                cap,
                max_bytes,
                status,
            } => {
                details.insert("status_code".into(), status.into());
                let source = match cap {
                    BodyCap::Backend => "backend",
                    BodyCap::Provider => "proxy",
                };
                Error::response_too_large(source, max_bytes, details)
            }
        }
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn header_value(v: &str) -> Result<HeaderValue> {
    HeaderValue::from_str(v).map_err(|_| Error::value("header value contains invalid characters"))
}

/// Characters a path segment keeps literal: letters, digits and `-._~`
/// (everything else, `/` included, is percent-encoded).
const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Percent-encodes one path segment.
pub(crate) fn encode_segment(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, SEGMENT).to_string()
}

/// True for a canonical hyphenated UUID, any hex case.
pub(crate) fn is_uuid_any_case(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

impl Shared {
    /// Sends one backend call, retrying per policy. Returns the reply of the
    /// last attempt whatever its status; only transport failures are errors.
    pub(crate) async fn send(&self, local: &Local, call: &Call) -> Result<Reply> {
        let policy: &RetryPolicy = &self.retry;
        let mut attempt = 1u32;
        loop {
            if !call.background && (self.is_closed() || local.is_closed()) {
                return Err(Error::closed());
            }
            let result = self.send_once(local, call).await;
            let outcome = match &result {
                Ok(reply) => Outcome::Status {
                    status: reply.status,
                    quota_exceeded: reply.status == 429 && is_quota_exceeded(&reply.body),
                },
                Err(TransportFailure::Connect(_)) => Outcome::ConnectFailed,
                // Never retried (a cut body included): the request may have
                // been handled.
                Err(_) => Outcome::TransportFailed,
            };
            let retry_after = match &result {
                Ok(reply) if reply.status == 429 || reply.status == 503 => reply
                    .header("retry-after")
                    .and_then(|v| crate::ratelimit::parse_retry_after(v, 3600))
                    .map(Duration::from_secs),
                _ => None,
            };
            let is_error = !matches!(outcome, Outcome::Status { status, .. } if status < 400);
            if is_error {
                if let Some(delay) = policy.delay(attempt, outcome, call.idempotent, retry_after) {
                    tokio::time::sleep(delay).await;
                    attempt += 1;
                    continue;
                }
            }
            return match result {
                Ok(mut reply) => {
                    reply.attempts = attempt;
                    Ok(reply)
                }
                Err(f) => {
                    let mut err = f.into_error(call.site, &self.base_url);
                    if attempt > 1 {
                        // Retries are part of what happened; say how many.
                        err.base_mut()
                            .details
                            .insert("attempts".into(), attempt.into());
                    }
                    Err(err)
                }
            };
        }
    }

    async fn send_once(
        &self,
        local: &Local,
        call: &Call,
    ) -> std::result::Result<Reply, TransportFailure> {
        // Taken before signing, so a wait never ages the signed timestamp.
        let wait = call.timeout.unwrap_or(self.timeout);
        let Some(_slot) = self.slot(Slot::Backend, Some(wait)).await else {
            return Err(TransportFailure::Timeout(
                "no free connection slot in time".into(),
            ));
        };
        // Header building cannot fail for values validated at construction;
        // a failure here is reported as a transport-independent error.
        let headers = match self.build_headers(local, call) {
            Ok(h) => h,
            Err(e) => return Err(TransportFailure::Other(e.message().to_string())),
        };
        let url = format!("{}{}", self.base_url, call.target);
        let mut req = self
            .backend()
            .request(call.method.clone(), url)
            .headers(headers);
        if let Some(body) = &call.body {
            req = req.body(body.clone());
        }
        if let Some(t) = call.timeout {
            req = req.timeout(t);
        }
        let resp = req.send().await.map_err(|e| classify(&e))?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let max_bytes = match call.body_cap {
            BodyCap::Backend => crate::body::BACKEND_MAX_RESPONSE_BYTES,
            BodyCap::Provider => self.max_response_bytes,
        };
        let body = match crate::body::read_capped(resp, max_bytes).await {
            Ok(body) => body,
            Err(BodyError::Transport(e)) => return Err(classify(&e)),
            Err(BodyError::TooLarge) => {
                return Err(TransportFailure::TooLarge {
                    cap: call.body_cap,
                    max_bytes,
                    status,
                })
            }
        };
        let reply = Reply {
            status,
            headers,
            body,
            attempts: 1,
        };
        self.after_response(local, call, &reply);
        Ok(reply)
    }

    fn build_headers(&self, local: &Local, call: &Call) -> Result<HeaderMap> {
        let mut h = HeaderMap::with_capacity(16);
        let caller_type = self.caller_type.as_str();
        let (caller, ctype) = match (&call.actor.caller_override, &self.caller) {
            (Some(c), _) => (c.as_str(), caller_type),
            (None, Some(c)) => (c.as_str(), caller_type),
            (None, None) => ("", ""),
        };
        if !caller.is_empty() {
            h.insert("x-alter-caller", header_value(caller)?);
            h.insert("x-alter-caller-type", HeaderValue::from_static(caller_type));
        }
        let actor_id = if call.actor.send_actor_id && call.actor.caller_override.is_none() {
            local.actor_id()
        } else {
            None
        };
        if let Some(id) = &actor_id {
            h.insert("x-alter-actor-id", header_value(id)?);
        }
        let context = call.actor.context.as_deref().unwrap_or("");
        if !context.is_empty() {
            h.insert("x-alter-context", header_value(context)?);
        }
        // Not signed; rides on every backend call, reports included.
        if let Some(tp) = crate::context::traceparent() {
            h.insert("traceparent", header_value(&tp)?);
        }
        if call.body.is_some() {
            h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        }
        let body = call.body.as_deref().unwrap_or(&[]);
        let hash = signing::content_sha256(body);
        let timestamp = unix_now().to_string();
        let nonce = signing::new_nonce();
        let (scopes, rule) = local
            .constraints
            .as_ref()
            .map(|c| (c.scopes_header.as_str(), c.rule_header.as_str()))
            .unwrap_or(("", ""));
        let input = SignatureInput {
            method: call.method.as_str(),
            target: &call.target,
            timestamp: &timestamp,
            nonce: &nonce,
            content_sha256: &hash,
            scope_constraints: scopes,
            request_rule: rule,
            caller,
            caller_type: ctype,
            actor_id: actor_id.as_deref().unwrap_or(""),
            context,
        };
        for (name, value) in signing::signing_headers(&self.signing_key, &input) {
            h.insert(name, header_value(&value)?);
        }
        for (name, value) in &call.extra_headers {
            h.insert(name.clone(), value.clone());
        }
        Ok(h)
    }

    /// Hooks every backend response runs, success or error.
    fn after_response(&self, local: &Local, call: &Call, reply: &Reply) {
        let now = unix_now() as i64;
        let get = |name: &str| -> Option<String> {
            let mut values = reply
                .headers
                .get_all(name)
                .iter()
                .filter_map(|v| v.to_str().ok());
            let first = values.next()?.to_string();
            Some(values.fold(first, |acc, v| acc + ", " + v))
        };
        if let Some(snap) = crate::ratelimit::snapshot_from_headers(get, now) {
            *crate::guard::lock(&self.rate_limit) = Some(snap);
        }
        if reply.header("x-alter-key-deprecated") == Some("true") {
            self.warn_deprecated_once();
        }
        if call.actor.cache_actor_id && call.actor.caller_override.is_none() {
            if let Some(id) = reply.header("x-alter-actor-id") {
                local.cache_actor_id(id, &self.warnings);
            }
        }
    }
}

fn is_quota_exceeded(body: &[u8]) -> bool {
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) else {
        return false;
    };
    let obj = match v.get("detail") {
        Some(d) if d.is_object() => d,
        _ => &v,
    };
    obj.get("error").and_then(|e| e.as_str()) == Some("quota_exceeded")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_shape() {
        assert!(is_uuid_any_case("0b6f2d7e-52c4-4c1d-9e55-2a8f3c9d1e00"));
        assert!(is_uuid_any_case("0B6F2D7E-52C4-4C1D-9E55-2A8F3C9D1E00"));
        assert!(!is_uuid_any_case("{0b6f2d7e-52c4-4c1d-9e55-2a8f3c9d1e00}"));
        assert!(!is_uuid_any_case("0b6f2d7e52c44c1d9e552a8f3c9d1e00"));
    }

    #[test]
    fn quota_detection_reads_the_envelope() {
        assert!(is_quota_exceeded(
            br#"{"detail":{"error":"quota_exceeded"}}"#
        ));
        assert!(is_quota_exceeded(br#"{"error":"quota_exceeded"}"#));
        assert!(!is_quota_exceeded(br#"{"error":"rate_limit_exceeded"}"#));
        assert!(!is_quota_exceeded(b"<html>"));
    }
}
