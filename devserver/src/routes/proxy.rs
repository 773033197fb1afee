//! `POST /sdk/proxy`: the server makes the provider call itself
//! (requests.md §14.6), or freezes it behind an approval for HITL grants.

use crate::audit::{event, redact_pairs, scrub_event};
use crate::auth::Auth;
use crate::ctx::Ctx;
use crate::error::{json_object, ApiError, ApiResult};
use crate::resolve::{check_destination, check_live, contract, resolve};
use crate::routes::{check_rule, parse_lookup};
use crate::state::{Approval, ApprovalStatus, CapturedResult, FrozenRequest};
use crate::util::{header_map, now, rfc3339};
use alter_core::audit::safe_response_body;
use alter_core::inject::{build_provider_request, ProviderRequest, RequestBody};
use alter_core::provider_url::{QueryParams, QueryValue};
// Proxy-mode reserved header names (requests.md §12.3): the SDK's one list.
use alter_core::proxy::RESERVED_HEADERS as RESERVED;
use alter_core::token::parse_token_response;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use bytes::Bytes;
use serde_json::{json, Map, Value};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use url::Url;
use uuid::Uuid;

/// Longest outgoing URL (requests.md §14.6 step 3).
const MAX_URL_LEN: usize = 65_536;
/// Provider bodies captured beyond this are cut and flagged `body_truncated`
/// (the cap is the server's choice; inferred).
const CAPTURE_CAP: usize = 5 * 1024 * 1024;
/// Bound on one provider call.
const PROVIDER_TIMEOUT: Duration = Duration::from_secs(30);
/// How long an approval stays open (inferred).
pub const APPROVAL_WINDOW_SECS: i64 = 600;
/// The provider sees this product token unless the caller sent its own.
const USER_AGENT: &str = concat!("alter-dev/", env!("CARGO_PKG_VERSION"));

fn parse_headers(v: Option<&Value>) -> ApiResult<Vec<(String, String)>> {
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return Ok(Vec::new());
    };
    let map = v
        .as_object()
        .ok_or_else(|| ApiError::validation("headers", "headers must be an object"))?;
    let mut out = Vec::new();
    for (k, v) in map {
        let name = k.trim().to_ascii_lowercase();
        if RESERVED.contains(&name.as_str()) {
            return Err(ApiError::new(
                422,
                "reserved_header",
                format!("header '{k}' is reserved for credential injection"),
            ));
        }
        if !alter_core::headers::is_valid_name(k) {
            return Err(ApiError::new(
                422,
                "invalid_header_name",
                format!("header name '{k}' is not a valid HTTP header name"),
            ));
        }
        let value = v
            .as_str()
            .ok_or_else(|| ApiError::validation("headers", "header values must be strings"))?;
        out.push((k.clone(), value.to_string()));
    }
    Ok(out)
}

fn blocked(message: &str) -> ApiError {
    ApiError::blocked_destination(message)
}

/// The outgoing URL: scheme and host checked, `query_params` merged (arrays
/// become repeated keys, scalars are stringified).
fn build_url(raw: &str, query_params: Option<&Value>) -> ApiResult<Url> {
    let mut url = Url::parse(raw).map_err(|_| blocked("url is not an absolute URL"))?;
    let host = url.host_str().unwrap_or("").to_ascii_lowercase();
    match url.scheme() {
        "https" if !host.is_empty() => {}
        // Plain http only to loopback, as the SDK allows it for development
        // (inferred for the local vault, which serves the fake provider on
        // loopback).
        "http" if matches!(host.as_str(), "localhost" | "127.0.0.1" | "[::1]" | "::1") => {}
        _ => return Err(blocked("destination must be https, or http to loopback")),
    }
    match query_params {
        None | Some(Value::Null) => {}
        Some(Value::Object(qp)) => {
            if !qp.is_empty() {
                let mut pairs = url.query_pairs_mut();
                for (k, v) in qp {
                    let items: Vec<&Value> = match v {
                        Value::Array(a) => a.iter().collect(),
                        other => vec![other],
                    };
                    for item in items {
                        match item {
                            Value::Null => {}
                            Value::String(s) => {
                                pairs.append_pair(k, s);
                            }
                            other => {
                                pairs.append_pair(k, &other.to_string());
                            }
                        }
                    }
                }
            }
        }
        Some(_) => {
            return Err(ApiError::validation(
                "query_params",
                "query_params must be an object",
            ))
        }
    }
    if url.as_str().len() > MAX_URL_LEN {
        return Err(ApiError::new(
            422,
            "query_too_long",
            "the outgoing URL is longer than 65,536 characters",
        ));
    }
    Ok(url)
}

pub async fn proxy(
    State(ctx): State<Arc<Ctx>>,
    Extension(auth): Extension<Arc<Auth>>,
    body: Bytes,
) -> ApiResult<Response> {
    auth.require(&["proxy:execute"])?;
    let map = json_object(&body)?;
    let method = match map.get("method") {
        Some(Value::String(m)) if !m.is_empty() => m.to_ascii_uppercase(),
        _ => {
            return Err(ApiError::validation(
                "method",
                "method must be a non-empty string",
            ))
        }
    };
    if reqwest::Method::from_bytes(method.as_bytes()).is_err() {
        return Err(ApiError::validation(
            "method",
            "method is not a valid HTTP method",
        ));
    }
    let raw_url = match map.get("url") {
        Some(Value::String(u)) if !u.is_empty() => u.clone(),
        _ => {
            return Err(ApiError::validation(
                "url",
                "url must be a non-empty string",
            ))
        }
    };
    let lookup = parse_lookup(&ctx, &map)?;
    let headers = parse_headers(map.get("headers"))?;
    let url = build_url(&raw_url, map.get("query_params"))?;
    let reason = match map.get("reason") {
        None | Some(Value::Null) => None,
        Some(Value::String(r)) => Some(r.clone()),
        Some(_) => return Err(ApiError::validation("reason", "reason must be a string")),
    };
    check_rule(&auth, Some(&method))?;

    let t = now();
    let (gid, hitl) = ctx.store.read(|s| {
        let gid = resolve(s, auth.who(), &lookup, t)?;
        check_destination(s, gid, Some(url.as_str()))?;
        Ok::<_, ApiError>((gid, s.grant(gid).expect("resolved").hitl))
    })?;
    let frozen = FrozenRequest {
        method,
        url: url.to_string(),
        headers,
        body: map.get("body").cloned(),
        reason,
        context: auth.context.clone(),
        actor: auth.actor(),
    };

    if hitl {
        let approval = Approval {
            approval_id: Uuid::new_v4(),
            approval_group_id: Uuid::new_v4(),
            grant_id: gid,
            status: ApprovalStatus::Pending,
            created_at: t,
            expires_at: t + APPROVAL_WINDOW_SECS,
            decided_at: None,
            decision_reason: None,
            executed_at: None,
            execution_error: None,
            request: frozen,
            result: None,
        };
        let body = pending_json(&ctx, &approval, t);
        ctx.store.write(|s| {
            let mut ev = event("approval", &approval.request.actor);
            ev.context = approval.request.context.clone();
            ev.grant_id = Some(gid);
            ev.provider_id = s.grant(gid).map(|g| s.grant_provider_id(g));
            ev.approval_id = Some(approval.approval_id);
            ev.method = Some(approval.request.method.clone());
            ev.url = Some(approval.request.url.clone());
            ev.reason = approval.request.reason.clone();
            ev.details = Some(json!({"approval_status": "pending"}));
            s.push_audit(ev);
            s.approvals.push(approval);
        });
        ctx.bump_approvals();
        return Ok((StatusCode::ACCEPTED, Json(body)).into_response());
    }

    let result = execute(&ctx, gid, &frozen, None).await?;
    Ok(Json(result_json(&result, None)).into_response())
}

/// The 202 `PendingApproval` body (requests.md §13.1).
fn pending_json(ctx: &Ctx, a: &Approval, t: i64) -> Value {
    let url = format!("{}/_dev/approvals/{}", ctx.info.base_url, a.approval_id);
    let expires_in = (a.expires_at - t).max(0);
    json!({
        "approval_id": a.approval_id.to_string(),
        "approval_group_id": a.approval_group_id.to_string(),
        "status": "pending",
        "expires_at": rfc3339(a.expires_at),
        "expires_in": expires_in,
        "approval_url": url,
        "gates": [{
            "approval_id": a.approval_id.to_string(),
            "expires_at": rfc3339(a.expires_at),
            "expires_in": expires_in,
            "approval_url": url,
        }],
    })
}

/// An `ApprovalResult` body.
pub fn result_json(r: &CapturedResult, approval_id: Option<Uuid>) -> Value {
    json!({
        "approval_id": approval_id.map(|a| a.to_string()),
        "status_code": r.status_code,
        "headers": r.headers,
        "body_b64": r.body_b64,
        "body_truncated": r.body_truncated,
        "duration_ms": r.duration_ms,
        "credential_hint": null,
    })
}

struct Captured {
    status: u16,
    headers: Map<String, Value>,
    body: Vec<u8>,
    truncated: bool,
}

async fn send(rb: reqwest::RequestBuilder) -> Result<Captured, reqwest::Error> {
    let mut resp = rb.send().await?;
    let status = resp.status().as_u16();
    let headers = header_map(resp.headers());
    let mut body = Vec::new();
    let mut truncated = false;
    while let Some(chunk) = resp.chunk().await? {
        let room = CAPTURE_CAP - body.len();
        if chunk.len() > room {
            body.extend_from_slice(&chunk[..room]);
            truncated = true;
            break;
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Captured {
        status,
        headers,
        body,
        truncated,
    })
}

/// The outgoing request: the grant's credential applied by the core's own
/// retrieve-mode builder (header and query injection, or AWS SigV4), so a
/// proxied call carries the credential exactly as `request()` would.
fn provider_request(
    contract: &crate::resolve::Contract,
    req: &FrozenRequest,
) -> ApiResult<ProviderRequest> {
    let token = parse_token_response(contract.to_json(now()).to_string().as_bytes(), None)
        .map_err(|e| ApiError::internal(format!("stored credential is unusable: {e}")))?;
    // The frozen URL already has query_params merged; hand the builder its
    // query as pairs so a query-credential rule adds to it instead of
    // replacing it.
    let url = Url::parse(&req.url).map_err(|_| blocked("url is not an absolute URL"))?;
    let pairs: QueryParams = url
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), QueryValue::Str(v.into_owned())))
        .collect();
    let (base, query) = if pairs.is_empty() {
        (req.url.clone(), None)
    } else {
        let mut base = url.clone();
        base.set_query(None);
        (base.to_string(), Some(pairs))
    };
    let body = match &req.body {
        None | Some(Value::Null) => RequestBody::None,
        Some(v) => RequestBody::Json(v.clone()),
    };
    build_provider_request(
        &token,
        &req.method,
        &base,
        &req.headers,
        query.as_ref(),
        &body,
        USER_AGENT,
        SystemTime::now(),
    )
    .map_err(|e| ApiError::new(422, "invalid_provider_request", e.to_string()))
}

/// Runs a (possibly frozen) request with the grant's credential injected,
/// records the proxy audit row, and returns the captured response.
pub async fn execute(
    ctx: &Arc<Ctx>,
    gid: Uuid,
    req: &FrozenRequest,
    approval_id: Option<Uuid>,
) -> ApiResult<CapturedResult> {
    let t = now();
    let (contract, user_id, provider_id) = ctx.store.read(|s| {
        let g = s
            .grant(gid)
            .ok_or_else(|| ApiError::not_found("grant_not_found", "grant no longer exists"))?;
        check_live(s, g, t)?;
        Ok::<_, ApiError>((contract(s, gid)?, s.root_user(g), s.grant_provider_id(g)))
    })?;
    let out = provider_request(&contract, req)?;
    let method = reqwest::Method::from_bytes(out.method.as_bytes())
        .map_err(|_| ApiError::validation("method", "invalid method"))?;
    let mut rb = ctx
        .http
        .request(method, out.url.as_str())
        .timeout(PROVIDER_TIMEOUT);
    for (k, v) in &out.headers {
        rb = rb.header(k.as_str(), v.as_str());
    }
    if let Some(p) = out.body.clone() {
        rb = rb.body(p);
    }

    let started = Instant::now();
    let outcome = tokio::select! {
        r = send(rb) => r.map_err(|e| {
            if e.is_timeout() {
                ApiError::new(504, "upstream_timeout", "the provider did not answer in time")
                    .with("timeout_reason", "upstream_timeout")
            } else {
                // The status and code of an unreachable provider are not
                // fixed by the client (inferred).
                ApiError::new(502, "provider_unreachable", "the provider could not be reached")
            }
        }),
        _ = ctx.shutting_down() => Err(ApiError::new(503, "shutting_down", "alter-dev is shutting down")),
    };
    let duration_ms = started.elapsed().as_millis() as u64;

    let mut ev = event("proxy", &req.actor);
    ev.context = req.context.clone();
    ev.user_id = user_id;
    ev.grant_id = Some(gid);
    ev.provider_id = Some(provider_id);
    ev.approval_id = approval_id;
    ev.method = Some(req.method.clone());
    ev.url = Some(req.url.clone());
    ev.reason = req.reason.clone();
    ev.request_headers = Some(redact_pairs(
        &out.audit_headers,
        &contract.credential_headers(),
    ));
    ev.request_body = req.body.clone();
    ev.latency_ms = Some(duration_ms as i64);
    match &outcome {
        Ok(c) => {
            ev.status = Some(i64::from(c.status));
            ev.response_headers = Some(crate::audit::redact_header_map(
                &Value::Object(c.headers.clone()),
                &[],
            ));
            ev.response_body = Some(Value::String(safe_response_body(&c.body)));
        }
        Err(e) => {
            ev.status = Some(0);
            ev.details = Some(json!({"error": e.code()}));
        }
    }
    scrub_event(&mut ev, &contract.secrets());
    ctx.store.write(|s| {
        if let Some(g) = s.grant_mut(gid) {
            g.last_used_at = Some(t);
        }
        s.push_audit(ev);
    });

    let c = outcome?;
    Ok(CapturedResult {
        status_code: c.status,
        headers: c.headers,
        body_b64: STANDARD.encode(&c.body),
        body_truncated: c.truncated,
        duration_ms,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked_and_merged() {
        let u = build_url(
            "https://api.example.com/v1?keep=1",
            Some(&json!({"q": ["1", "2"], "n": 3, "z": null})),
        )
        .unwrap();
        assert_eq!(u.as_str(), "https://api.example.com/v1?keep=1&q=1&q=2&n=3");
        assert!(build_url("http://127.0.0.1:9/x", None).is_ok());
        assert_eq!(
            build_url("http://example.com/x", None).unwrap_err().code(),
            "blocked_destination"
        );
        let long = format!("https://a.example/?q={}", "x".repeat(MAX_URL_LEN));
        assert_eq!(build_url(&long, None).unwrap_err().code(), "query_too_long");
    }

    #[test]
    fn reserved_and_invalid_headers_are_refused() {
        assert_eq!(
            parse_headers(Some(&json!({"Authorization ": "x"})))
                .unwrap_err()
                .code(),
            "reserved_header"
        );
        assert_eq!(
            parse_headers(Some(&json!({"bad name": "x"})))
                .unwrap_err()
                .code(),
            "invalid_header_name"
        );
        assert_eq!(
            parse_headers(Some(&json!({"X-Ok": "1"}))).unwrap(),
            vec![("X-Ok".to_string(), "1".to_string())]
        );
    }
}
