//! Authentication of every `/sdk/...` request (wire.md §4.9,
//! agents-and-keys.md §12.3), as one middleware.
//!
//! The middleware reads the whole body (the signature covers its hash),
//! authenticates, hands the handler an [`Auth`] in the request extensions,
//! and stamps the response headers every backend response carries
//! (`X-Alter-Key-Deprecated`, `X-Alter-Actor-ID`, rate-limit headers) on
//! successes and errors alike.

use crate::ctx::{lock, Ctx, RateWindow, TIMESTAMP_WINDOW_SECS};
use crate::error::{ApiError, ApiResult};
use crate::state::{Actor, AgentStatus, ApiKey};
use crate::util::{now, sha256_hex};
use alter_core::signing::{content_sha256, strings_to_sign, SignatureInput};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;
use std::sync::Arc;
use uuid::Uuid;

/// Largest `X-Alter-Request-Rule` value (checked before decoding).
const MAX_RULE_LEN: usize = 4096;

/// Every scope an app (runtime) key holds. `agents:read`/`agents:write` gate
/// the managed-agent routes (the client names no scope for them; inferred).
pub const APP_KEY_SCOPES: &[&str] = &[
    "tokens:retrieve",
    "proxy:execute",
    "grants:read",
    "keys:derive",
    "keys:admin",
    "connect:initiate",
    "secrets:write",
    "providers:read",
    "spans:emit",
    "audit:emit",
    "approvals:read",
    "idp_users:read",
    "idp_users:write",
    "agents:read",
    "agents:write",
];

/// Scopes of a managed agent's key: the runtime scopes, without the
/// control-plane ones (agent and identity-provider administration, keys:admin
/// outside its own agent) (inferred; the spec names `connect:initiate` and
/// `secrets:write` as agent defaults).
/// `keys:admin` on an agent key reaches only its own agent's keys
/// (agents-and-keys.md §6).
pub const AGENT_KEY_SCOPES: &[&str] = &[
    "tokens:retrieve",
    "proxy:execute",
    "grants:read",
    "keys:derive",
    "keys:admin",
    "connect:initiate",
    "secrets:write",
    "providers:read",
    "spans:emit",
    "audit:emit",
    "approvals:read",
];

/// The routes a paused agent may still call.
const PAUSED_AGENT_EXEMPT: &[&str] = &["/sdk/agents/me", "/sdk/spans", "/sdk/oauth/audit/api-call"];

/// The authenticated caller of one request.
#[derive(Debug, Clone)]
pub struct Auth {
    pub app_id: Uuid,
    pub key_id: Uuid,
    /// The agent the key itself belongs to.
    pub key_agent: Option<Uuid>,
    /// The effective agent: the key's, or the one an app key names in
    /// `X-Alter-Caller` (impersonation).
    pub agent_id: Option<Uuid>,
    pub impersonated: bool,
    pub caller: Option<String>,
    pub caller_type: Option<String>,
    pub actor_id: Option<Uuid>,
    /// Parsed `X-Alter-Context` (an object; the raw string if unparsable).
    pub context: Option<Value>,
    /// Effective scopes (key scopes narrowed by `X-Alter-Scope-Constraints`).
    pub scopes: Vec<String>,
    /// Decoded `X-Alter-Request-Rule`.
    pub rule: Option<Value>,
}

/// Who the grant routes see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Who {
    /// An app key without an agent caller.
    Operator,
    /// A managed agent's own key.
    Agent(Uuid),
    /// An app key naming an agent in `X-Alter-Caller`: agent reach for
    /// provider resolution, operator reach for explicit grant ids
    /// (agents-and-keys.md §2, "impersonation for audit").
    Impersonated(Uuid),
}

impl Auth {
    pub fn who(&self) -> Who {
        match (self.agent_id, self.impersonated) {
            (None, _) => Who::Operator,
            (Some(a), false) => Who::Agent(a),
            (Some(a), true) => Who::Impersonated(a),
        }
    }

    pub fn actor(&self) -> Actor {
        Actor {
            app_id: Some(self.app_id),
            agent_id: self.agent_id,
            key_id: Some(self.key_id),
            caller: self.caller.clone(),
            caller_type: self.caller_type.clone(),
            actor_id: self.actor_id,
        }
    }

    fn has(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }

    /// Requires every scope in `required`.
    pub fn require(&self, required: &[&str]) -> ApiResult<()> {
        let missing: Vec<&str> = required.iter().copied().filter(|s| !self.has(s)).collect();
        if missing.is_empty() {
            return Ok(());
        }
        Err(self.scope_error(required, missing, false))
    }

    /// Requires at least one scope in `any_of`.
    pub fn require_any(&self, any_of: &[&str]) -> ApiResult<()> {
        if any_of.iter().any(|s| self.has(s)) {
            return Ok(());
        }
        Err(self.scope_error(any_of, any_of.to_vec(), true))
    }

    fn scope_error(&self, required: &[&str], missing: Vec<&str>, any_of: bool) -> ApiError {
        ApiError::new(
            403,
            "insufficient_scope",
            format!("This key lacks the scope(s): {}", missing.join(", ")),
        )
        .with("required", required.to_vec())
        .with("granted", self.scopes.clone())
        .with("missing", missing)
        .with("scope_version", 1)
        .with("current_scope_version", 1)
        .with("scope_version_mismatch", false)
        .with("required_any_of", any_of)
    }
}

/// A key row for a freshly minted plaintext key. Only the digest and the
/// derived signing key are kept; the plaintext goes back to the caller once.
pub fn key_row(
    plaintext: &str,
    agent_id: Option<Uuid>,
    key_type: &str,
    name: String,
    scopes: &[&str],
) -> ApiKey {
    let mut mac = Hmac::<Sha256>::new_from_slice(plaintext.as_bytes()).expect("any key length");
    mac.update(b"alter-signing-v1");
    ApiKey {
        key_id: Uuid::new_v4(),
        agent_id,
        key_type: key_type.to_string(),
        name,
        key_prefix: plaintext.chars().take(16).collect(),
        key_hash: sha256_hex(plaintext.as_bytes()),
        signing_key: hex::encode(mac.finalize().into_bytes()),
        scopes: scopes.iter().map(|s| s.to_string()).collect(),
        rate_limit_rpm: None,
        expires_at: None,
        deprecated_at: None,
        revoked_at: None,
        created_at: now(),
        last_used_at: None,
        parent_key_id: None,
        cidr_allowlist: None,
        metadata: None,
        rotation_grace_until: None,
    }
}

/// Response headers decided during authentication.
#[derive(Default)]
struct ResponseStamp {
    deprecated: bool,
    actor_id: Option<Uuid>,
    rate: Option<(u32, u32, i64)>,
}

impl ResponseStamp {
    fn apply(&self, headers: &mut HeaderMap) {
        if self.deprecated {
            headers.insert("x-alter-key-deprecated", HeaderValue::from_static("true"));
        }
        if let Some(id) = self.actor_id {
            if let Ok(v) = HeaderValue::from_str(&id.to_string()) {
                headers.insert("x-alter-actor-id", v);
            }
        }
        if let Some((limit, remaining, reset)) = self.rate {
            headers.insert("x-ratelimit-limit", HeaderValue::from(limit));
            headers.insert("x-ratelimit-remaining", HeaderValue::from(remaining));
            headers.insert("x-ratelimit-reset", HeaderValue::from(reset));
        }
    }
}

pub async fn middleware(State(ctx): State<Arc<Ctx>>, req: Request, next: Next) -> Response {
    let (parts, body) = req.into_parts();
    let bytes = match axum::body::to_bytes(body, crate::routes::MAX_BODY).await {
        Ok(b) => b,
        Err(_) => {
            return ApiError::new(413, "payload_too_large", "request body is too large")
                .into_response()
        }
    };
    let mut stamp = ResponseStamp::default();
    let mut resp = match authenticate(&ctx, &parts, &bytes, &mut stamp) {
        Err(e) => e.into_response(),
        Ok(auth) => {
            let mut req = Request::from_parts(parts, Body::from(bytes));
            req.extensions_mut().insert(Arc::new(auth));
            next.run(req).await
        }
    };
    stamp.apply(resp.headers_mut());
    resp
}

fn header<'a>(parts: &'a Parts, name: &str) -> Option<&'a str> {
    parts.headers.get(name).and_then(|v| v.to_str().ok())
}

fn unauthorized(code: &str, message: &str) -> ApiError {
    ApiError::new(401, code, message)
}

/// Verifies a signature with the stored signing-key bytes. `alter-core`'s
/// `verify` needs a `SigningKey`, which can only be derived from the
/// plaintext the server does not keep, so the same rule (both headers carry
/// the V2 digest whenever an identity line applies) is applied here over the
/// core's own strings-to-sign.
fn verify_signature(
    key_hex: &str,
    input: &SignatureInput<'_>,
    sig: &str,
    sig_v2: Option<&str>,
) -> Result<(), ApiError> {
    let key = hex::decode(key_hex).map_err(|_| ApiError::internal("corrupt signing key"))?;
    let check = |message: &str, candidate: &str| -> bool {
        let Ok(raw) = hex::decode(candidate) else {
            return false;
        };
        let mut mac = Hmac::<Sha256>::new_from_slice(&key).expect("any key length");
        mac.update(message.as_bytes());
        mac.verify_slice(&raw).is_ok()
    };
    let (legacy, v2) = strings_to_sign(input);
    let ok = match (v2, sig_v2) {
        (Some(_), None) => {
            return Err(unauthorized(
                "missing_signature_v2",
                "identity headers are present but X-Alter-Signature-V2 is missing",
            ))
        }
        (None, Some(_)) => {
            return Err(unauthorized(
                "unexpected_signature_v2",
                "X-Alter-Signature-V2 sent without any identity header",
            ))
        }
        (Some(v2), Some(s2)) => check(&v2, sig) && check(&v2, s2),
        (None, None) => check(&legacy, sig),
    };
    if ok {
        Ok(())
    } else {
        Err(unauthorized(
            "invalid_signature",
            "request signature does not match",
        ))
    }
}

fn valid_caller(s: &str) -> bool {
    !s.is_empty() && s.len() <= 255 && s.bytes().all(|b| (0x20..=0x7e).contains(&b))
}

/// Scope `want` is implied by a held scope equal to it or by its
/// resource:verb prefix (`grants:read` implies `grants:read:<id>`).
pub fn implied(held: &[String], want: &str) -> bool {
    held.iter().any(|h| {
        h == want
            || want
                .strip_prefix(h.as_str())
                .is_some_and(|rest| rest.starts_with(':'))
    })
}

fn parse_constraints(raw: &str, key_scopes: &[String]) -> ApiResult<Vec<String>> {
    let mut out = Vec::new();
    for s in raw.split(',') {
        if s.is_empty() || s == "*" || !implied(key_scopes, s) {
            return Err(ApiError::new(
                400,
                "constraint_not_narrowing",
                format!("scope constraint '{s}' is not within the key's scopes"),
            ));
        }
        if !out.iter().any(|o| o == s) {
            out.push(s.to_string());
        }
    }
    Ok(out)
}

fn parse_rule(raw: &str) -> ApiResult<Value> {
    let bad = |why: &str| ApiError::new(400, "invalid_request_rule", why.to_string());
    if raw.len() > MAX_RULE_LEN {
        return Err(bad("X-Alter-Request-Rule is longer than 4096 bytes"));
    }
    let bytes = URL_SAFE_NO_PAD
        .decode(raw.trim_end_matches('='))
        .map_err(|_| bad("X-Alter-Request-Rule is not base64url"))?;
    let rule: Value =
        serde_json::from_slice(&bytes).map_err(|_| bad("X-Alter-Request-Rule is not JSON"))?;
    let kind = rule.get("rule_type").and_then(Value::as_str).unwrap_or("");
    if !matches!(kind, "content_match" | "json_match") {
        return Err(bad("unknown rule_type"));
    }
    if !rule.get("rule_body").is_some_and(Value::is_object) {
        return Err(bad("rule_body must be an object"));
    }
    Ok(rule)
}

fn authenticate(
    ctx: &Ctx,
    parts: &Parts,
    body: &[u8],
    stamp: &mut ResponseStamp,
) -> ApiResult<Auth> {
    let t = now();
    let path = parts.uri.path();

    // 1. The key.
    let api_key = header(parts, "x-api-key")
        .ok_or_else(|| unauthorized("invalid_key", "x-api-key header is required"))?;
    let key: ApiKey = ctx
        .store
        .read(|s| s.key_by_hash(&sha256_hex(api_key.as_bytes())).cloned())
        .ok_or_else(|| {
            unauthorized("invalid_key", "Invalid API key").with(
                "hint",
                "Check the key; alter-dev prints its app key at start-up.",
            )
        })?;
    // From here on every answer, errors included, tells a deprecated key.
    stamp.deprecated = key.deprecated_at.is_some() && key.revoked_at.is_none();

    // 2. Key liveness.
    if key.revoked_at.is_some() {
        return Err(unauthorized("key_revoked", "API key has been revoked")
            .with("hint", "Mint a new key for this workload."));
    }
    if key.expires_at.is_some_and(|e| e <= t) {
        return Err(unauthorized("key_expired", "API key has expired"));
    }
    if key.rotation_grace_until.is_some_and(|e| e <= t) {
        return Err(unauthorized(
            "key_rotated_grace_expired",
            "API key rotation grace period has expired",
        )
        .with("hint", "Use the successor key minted by the rotation."));
    }

    // 3. The signature.
    let get = |name: &str| header(parts, name).unwrap_or("");
    let (ts, nonce, claimed_hash, sig) = (
        get("x-alter-timestamp"),
        get("x-alter-nonce"),
        get("x-alter-content-sha256"),
        get("x-alter-signature"),
    );
    if ts.is_empty() || nonce.is_empty() || claimed_hash.is_empty() || sig.is_empty() {
        return Err(unauthorized(
            "missing_signature",
            "X-Alter-Timestamp, X-Alter-Nonce, X-Alter-Content-SHA256 and X-Alter-Signature are required",
        ));
    }
    let ts_num: i64 = ts.parse().map_err(|_| {
        unauthorized(
            "invalid_timestamp",
            "X-Alter-Timestamp must be Unix seconds",
        )
    })?;
    if (t - ts_num).abs() > TIMESTAMP_WINDOW_SECS {
        return Err(unauthorized(
            "stale_timestamp",
            "X-Alter-Timestamp is outside the accepted window of 300 seconds",
        ));
    }
    let computed = content_sha256(body);
    if !claimed_hash.eq_ignore_ascii_case(&computed) {
        return Err(unauthorized(
            "content_hash_mismatch",
            "X-Alter-Content-SHA256 does not match the request body",
        ));
    }
    let target = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or(path);
    let caller_hdr = get("x-alter-caller");
    let caller_type_hdr = get("x-alter-caller-type");
    let context_hdr = get("x-alter-context");
    let input = SignatureInput {
        method: parts.method.as_str(),
        target,
        timestamp: ts,
        nonce,
        content_sha256: &computed,
        scope_constraints: get("x-alter-scope-constraints"),
        request_rule: get("x-alter-request-rule"),
        caller: caller_hdr,
        caller_type: caller_type_hdr,
        actor_id: get("x-alter-actor-id"),
        context: context_hdr,
    };
    verify_signature(
        &key.signing_key,
        &input,
        sig,
        header(parts, "x-alter-signature-v2"),
    )?;
    // Only a verified request may consume a nonce, so forged requests cannot
    // burn nonces a real client is about to use.
    if !lock(&ctx.nonces).insert(format!("{}:{nonce}", key.key_id), t) {
        return Err(unauthorized(
            "replayed_nonce",
            "this nonce was already used with this key",
        ));
    }

    // 4. Caller identity.
    let caller = (!caller_hdr.is_empty()).then(|| caller_hdr.to_string());
    let caller_type = (!caller_type_hdr.is_empty()).then(|| caller_type_hdr.to_string());
    if let Some(c) = &caller {
        if !valid_caller(c) {
            return Err(ApiError::new(
                400,
                "invalid_caller",
                "X-Alter-Caller is malformed",
            ));
        }
    }
    if let Some(ct) = &caller_type {
        if ct != "agent" && ct != "service" {
            return Err(ApiError::new(
                400,
                "invalid_caller_type",
                "X-Alter-Caller-Type must be 'agent' or 'service'",
            ));
        }
    }
    // A UUID-shaped caller asserts a managed-agent identity; anything else
    // is an audit label only.
    let caller_agent = caller.as_deref().and_then(|c| Uuid::parse_str(c).ok());
    let (agent_id, impersonated) = match (key.agent_id, caller_agent) {
        (Some(own), Some(named)) if own != named => {
            return Err(ApiError::new(
                400,
                "caller_agent_mismatch",
                "X-Alter-Caller names another agent than the key's",
            ))
        }
        (Some(own), _) => (Some(own), false),
        (None, Some(named)) => {
            let active = ctx.store.read(|s| {
                s.agent(named)
                    .is_some_and(|a| a.status == AgentStatus::Active)
            });
            if !active {
                return Err(ApiError::not_found(
                    "caller_agent_unresolved",
                    "caller does not name an active managed agent of this app",
                ));
            }
            (Some(named), true)
        }
        (None, None) => (None, false),
    };

    // 5. Key controls: source address, rate limit, then the principal's
    // state.
    if let Some(list) = &key.cidr_allowlist {
        let peer = parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|c| c.0.ip());
        let allowed = peer.is_some_and(|ip| {
            list.iter()
                .filter_map(|c| crate::util::Cidr::parse(c))
                .any(|c| c.contains(ip))
        });
        if !allowed {
            // Code inferred: the client maps any unrecognised 403 to a
            // policy violation.
            return Err(ApiError::new(
                403,
                "ip_not_allowed",
                "the request's source address is outside this key's CIDR allowlist",
            ));
        }
    }
    // A staged narrowing of an agent's allowlist that has come due is
    // applied here (agents-and-keys.md §12.3 step 5), for every agent, so
    // operator reads see it too.
    if ctx.store.read(|s| {
        s.agents
            .iter()
            .any(|a| a.scopes_pending.is_some() && a.scopes_applies_at.is_some_and(|at| at <= t))
    }) {
        ctx.store.write(|s| {
            for a in s.agents.iter_mut() {
                a.apply_due_scopes(t);
            }
        });
    }
    let agent = key
        .agent_id
        .and_then(|a| ctx.store.read(|s| s.agent(a).cloned()));
    let limit = key
        .rate_limit_rpm
        .map(|l| (format!("key:{}", key.key_id), l))
        .or_else(|| {
            agent.as_ref().and_then(|a| {
                a.rate_limit_per_minute
                    .map(|l| (format!("agent:{}", a.id), l))
            })
        });
    if let Some((bucket, limit)) = limit {
        let window_start = t - t.rem_euclid(60);
        let reset = window_start + 60;
        let mut rates = lock(&ctx.rates);
        let w = rates.entry(bucket).or_default();
        if w.window_start != window_start {
            *w = RateWindow {
                window_start,
                count: 0,
            };
        }
        if w.count >= limit {
            let retry_after = (reset - t).max(1);
            stamp.rate = Some((limit, 0, reset));
            return Err(ApiError::new(
                429,
                "rate_limit_exceeded",
                "Rate limit exceeded for this API key; retry after the window resets.",
            )
            .with("scope", "api_key")
            .with("limit", limit)
            .with("window_seconds", 60)
            .with("retry_after", retry_after)
            .header("retry-after", retry_after.to_string())
            .header("x-alter-rate-limited-scope", "api_key"));
        }
        w.count += 1;
        stamp.rate = Some((limit, limit - w.count, reset));
    }
    if let Some(a) = &agent {
        match a.status {
            AgentStatus::Revoked => return Err(unauthorized("agent_revoked", "Agent is revoked")),
            AgentStatus::Inactive if !PAUSED_AGENT_EXEMPT.contains(&path) => {
                return Err(unauthorized("agent_inactive", "Agent is inactive")
                    .with("hint", "The agent is paused; resume it to call this route."))
            }
            _ => {}
        }
    }

    // 6. Scopes and attenuation.
    let constraints = get("x-alter-scope-constraints");
    let scopes = if constraints.is_empty() {
        key.scopes.clone()
    } else {
        parse_constraints(constraints, &key.scopes)?
    };
    let rule_hdr = get("x-alter-request-rule");
    let rule = if rule_hdr.is_empty() {
        None
    } else {
        Some(parse_rule(rule_hdr)?)
    };

    // Actor registration. No actor id comes back when the caller header is
    // a managed-agent UUID (the agent itself is the actor).
    let actor_key = match (caller_agent, key.agent_id, &caller) {
        (Some(_), _, _) => None,
        (None, Some(a), _) => Some(format!("agent:{a}")),
        (None, None, Some(c)) => Some(format!(
            "caller:{}:{c}",
            caller_type.as_deref().unwrap_or("service")
        )),
        // An app key with no caller is the app itself, not a registered
        // actor (inferred).
        (None, None, None) => None,
    };
    let actor_id = actor_key.map(|k| {
        let (id, new) = ctx.store.touch(|s| s.actor_for(k));
        if new {
            ctx.store.mark_dirty();
        }
        id
    });
    stamp.actor_id = actor_id;

    let app_id = ctx.store.touch(|s| {
        if let Some(k) = s.key_mut(key.key_id) {
            k.last_used_at = Some(t);
        }
        if let Some(a) = key.agent_id.and_then(|a| s.agent_mut(a)) {
            a.last_used_at = Some(t);
        }
        s.app.app_id
    });

    let context = (!context_hdr.is_empty()).then(|| {
        serde_json::from_str::<Value>(context_hdr)
            .unwrap_or_else(|_| Value::String(context_hdr.to_string()))
    });

    Ok(Auth {
        app_id,
        key_id: key.key_id,
        key_agent: key.agent_id,
        agent_id,
        impersonated,
        caller,
        caller_type,
        actor_id,
        context,
        scopes,
        rule,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_rows_derive_the_spec_signing_key() {
        let row = key_row(
            "alter_rk_pycdybk377oxtzq6svizx3_a5u5gr",
            None,
            "rk",
            "k".into(),
            &[],
        );
        assert_eq!(
            row.signing_key,
            "47413b5c3ca9afdd23a78c7d5d11cdf7a5f22415c13ba14e29a3abc5b243f4b7"
        );
        assert_eq!(row.key_prefix, "alter_rk_pycdybk");
    }

    #[test]
    fn constraints_must_narrow() {
        let held: Vec<String> = vec!["tokens:retrieve".into(), "grants:read".into()];
        assert_eq!(
            parse_constraints("tokens:retrieve", &held).unwrap(),
            vec!["tokens:retrieve"]
        );
        assert!(parse_constraints("grants:read:abc", &held).is_ok());
        for bad in ["*", "proxy:execute", "tokens:retrieve,", "grants:readx"] {
            assert_eq!(
                parse_constraints(bad, &held).unwrap_err().code(),
                "constraint_not_narrowing",
                "{bad}"
            );
        }
    }

    #[test]
    fn rules_are_decoded_and_checked() {
        let ok = URL_SAFE_NO_PAD.encode(r#"{"rule_type":"json_match","rule_body":{}}"#);
        assert!(parse_rule(&ok).is_ok());
        let unknown = URL_SAFE_NO_PAD.encode(r#"{"rule_type":"x","rule_body":{}}"#);
        assert_eq!(
            parse_rule(&unknown).unwrap_err().code(),
            "invalid_request_rule"
        );
        assert!(parse_rule("!!").is_err());
        assert!(parse_rule(&"a".repeat(4097)).is_err());
    }
}
