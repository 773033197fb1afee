//! End-user sign-in and identity (grants-and-connect.md §5, §6): the auth
//! session and its long poll, token verification, identity resolution and
//! ES256 identity assertions.

use crate::auth::Auth;
use crate::ctx::{Ctx, HeldPoll};
use crate::error::{json_object, opt_bool, opt_nonempty, opt_str, ApiError, ApiResult};
use crate::routes::connect::{reject_unknown, state_name, SESSION_TTL};
use crate::state::{AuthSessionRow, SessionState, State as VaultState};
use crate::util::{now, parse_uuid, random_hex, rfc3339};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use bytes::Bytes;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;
use uuid::Uuid;

/// Longest an auth poll is held (`wait_ms` cap).
const MAX_WAIT_MS: u64 = 30_000;
/// Lifetime of the user JWT a sign-in yields.
const SIGNIN_TOKEN_TTL: i64 = 86_400;
/// Identity assertions: default and ceiling lifetimes.
const ASSERTION_TTL: u64 = 120;
const ASSERTION_TTL_MAX: u64 = 300;

/// `POST /sdk/auth/session` → **201** (§5.1).
pub async fn create_session(
    State(ctx): State<Arc<Ctx>>,
    Extension(auth): Extension<Arc<Auth>>,
    body: Bytes,
) -> ApiResult<Response> {
    auth.require(&["idp_users:write"])?;
    if !body.is_empty() {
        json_object(&body)?;
    }
    let t = now();
    let token = format!("as_{}", random_hex(24));
    ctx.store.write(|s| {
        s.auth_sessions.retain(|a| a.expires_at + 3600 > t);
        s.auth_sessions.push(AuthSessionRow {
            token: token.clone(),
            created_at: t,
            expires_at: t + SESSION_TTL,
            state: SessionState::Pending,
            user_token: None,
            user_info: None,
            error: None,
        });
    });
    ctx.bump_sessions();
    let out = json!({
        "session_token": token,
        // The session travels as the OIDC `state`.
        "auth_url": format!("{}/auth/signin?state={token}", ctx.info.base_url),
        "expires_in": SESSION_TTL,
        "expires_at": rfc3339(t + SESSION_TTL),
    });
    Ok((StatusCode::CREATED, Json(out)).into_response())
}

fn auth_projected(a: &AuthSessionRow, t: i64) -> SessionState {
    if a.state == SessionState::Pending && t >= a.expires_at {
        SessionState::Expired
    } else {
        a.state
    }
}

/// The poll body for a sign-in session; unknown tokens read as expired.
pub fn auth_poll_json(s: &VaultState, token: &str, t: i64) -> Value {
    let Some(a) = s.auth_sessions.iter().find(|a| a.token == token) else {
        return json!({"status": "expired"});
    };
    match auth_projected(a, t) {
        SessionState::Pending => json!({"status": "pending"}),
        SessionState::Completed => json!({
            "status": "completed",
            "user_token": a.user_token,
            "user_info": a.user_info.clone().unwrap_or_else(|| json!({})),
        }),
        SessionState::Error => {
            let mut out = json!({"status": "error"});
            if let Some(Value::Object(e)) = &a.error {
                for (k, v) in e {
                    out[k] = v.clone();
                }
            }
            out
        }
        SessionState::Expired => json!({"status": "expired"}),
    }
}

/// `POST /sdk/auth/poll` (§5.2): held up to `wait_ms` (≤ 30 000) until the
/// session leaves `pending`.
pub async fn poll(
    State(ctx): State<Arc<Ctx>>,
    Extension(auth): Extension<Arc<Auth>>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    auth.require(&["idp_users:read"])?;
    let map = json_object(&body)?;
    let token = opt_str(&map, "session_token")?
        .filter(|t| !t.trim().is_empty())
        .ok_or_else(|| ApiError::validation("session_token", "session_token is required"))?;
    let wait_ms = match map.get("wait_ms") {
        None | Some(Value::Null) => 0,
        Some(v) => v.as_u64().filter(|w| *w <= MAX_WAIT_MS).ok_or_else(|| {
            ApiError::validation("wait_ms", "wait_ms must be an integer from 0 to 30000")
        })?,
    };
    let read = |ctx: &Ctx| ctx.store.read(|s| auth_poll_json(s, &token, now()));
    if wait_ms > 0 {
        let _held = HeldPoll::new(&ctx.held_polls);
        let deadline = Instant::now() + Duration::from_millis(wait_ms);
        let mut changes = ctx.sessions.subscribe();
        loop {
            // Mark the version seen before reading so a change landing in
            // between still wakes the wait.
            changes.borrow_and_update();
            let current = read(&ctx);
            if current["status"] != "pending" || Instant::now() >= deadline {
                return Ok(Json(current));
            }
            // The session window closing is a change nothing writes.
            let expires_at = ctx.store.read(|s| {
                s.auth_sessions
                    .iter()
                    .find(|a| a.token == token)
                    .map(|a| a.expires_at)
                    .unwrap_or(0)
            });
            // Checked: a far-off expiry cannot overflow the clock.
            let secs = u64::try_from(expires_at.saturating_sub(now())).unwrap_or(0);
            let wake = Instant::now()
                .checked_add(Duration::from_secs(secs.max(1)))
                .map_or(deadline, |at| deadline.min(at));
            tokio::select! {
                r = changes.changed() => if r.is_err() { break },
                _ = tokio::time::sleep_until(wake) => {}
                _ = ctx.shutting_down() => break,
            }
        }
    }
    Ok(Json(read(&ctx)))
}

/// What a sign-in page (or the operator API) did with an auth session.
pub enum AuthDecision {
    /// Signed in as this user.
    Complete {
        email: String,
        display_name: Option<String>,
        groups: Option<Vec<String>>,
    },
    Fail {
        code: Option<String>,
        message: String,
    },
    Expire,
}

/// Applies a sign-in decision: `Complete` upserts the user and mints their
/// JWT into the session.
pub fn decide_auth(ctx: &Ctx, token: &str, d: AuthDecision) -> ApiResult<()> {
    let t = now();
    let state = ctx.store.read(|s| {
        s.auth_sessions
            .iter()
            .find(|a| a.token == token)
            .map(|a| auth_projected(a, t))
    });
    match state {
        None => {
            return Err(ApiError::not_found(
                "session_not_found",
                "no such sign-in session",
            ))
        }
        Some(SessionState::Pending) => {}
        Some(st) => {
            return Err(ApiError::new(
                409,
                "session_not_pending",
                format!("the session is already {}", state_name(st)),
            ))
        }
    }
    let outcome = match d {
        AuthDecision::Complete {
            email,
            display_name,
            groups,
        } => {
            let name = display_name.clone();
            let (user_id, jwt) =
                crate::routes::dev::sign_in(ctx, &email, display_name, groups, SIGNIN_TOKEN_TTL);
            let info = json!({"sub": user_id.to_string(), "email": email, "name": name});
            (SessionState::Completed, Some(jwt), Some(info), None)
        }
        AuthDecision::Fail { code, message } => {
            let mut e = json!({"error_message": message});
            if let Some(c) = code {
                e["error_code"] = json!(c);
            }
            (SessionState::Error, None, None, Some(e))
        }
        AuthDecision::Expire => (SessionState::Expired, None, None, None),
    };
    ctx.store.write(|s| {
        if let Some(a) = s.auth_session_mut(token) {
            a.state = outcome.0;
            a.user_token = outcome.1;
            a.user_info = outcome.2;
            a.error = outcome.3;
            if outcome.0 == SessionState::Expired {
                a.expires_at = a.expires_at.min(t);
            }
        }
    });
    ctx.bump_sessions();
    Ok(())
}

/// `POST /sdk/auth/verify-token` (§5.4): 200 `{sub}` or 401.
pub async fn verify_token(
    State(ctx): State<Arc<Ctx>>,
    Extension(auth): Extension<Arc<Auth>>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    auth.require(&["idp_users:read"])?;
    let map = json_object(&body)?;
    let token = opt_str(&map, "token")?.unwrap_or_default();
    let claims = crate::jwt::verify(&ctx.jwt_secret, &token, now())
        .map_err(|m| ApiError::new(401, "jwt_validation_error", m))?;
    let sub = claims
        .get("sub")
        .and_then(Value::as_str)
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| ApiError::new(401, "jwt_validation_error", "user_token has no subject"))?;
    // Only the subject, never other claims.
    Ok(Json(json!({ "sub": sub })))
}

/// Whom an identity call is about.
struct Subject {
    user: Option<Uuid>,
    /// The JWT subject (the IdP's id for the user).
    external_subject: Option<String>,
}

fn subject(ctx: &Ctx, auth: &Auth, map: &serde_json::Map<String, Value>) -> ApiResult<Subject> {
    let token = opt_nonempty(map, "user_token")?;
    if token.as_ref().is_some_and(|t| t.len() > 8192) {
        return Err(ApiError::validation(
            "user_token",
            "user_token is at most 8192 characters",
        ));
    }
    let app_user = opt_nonempty(map, "app_user_id")?;
    if app_user.is_some() && auth.agent_id.is_none() {
        return Err(ApiError::new(
            400,
            "app_user_id_requires_agent",
            "app_user_id is accepted from agent callers only",
        ));
    }
    if let Some(tok) = token {
        let user = crate::routes::verify_user_token(ctx, &tok)?;
        return Ok(Subject {
            user: Some(user),
            external_subject: Some(user.to_string()),
        });
    }
    if let Some(raw) = app_user {
        // Authorised only by a live delegation from that user to this agent.
        let agent = auth.agent_id.expect("checked");
        let t = now();
        let user = parse_uuid(&raw).filter(|u| {
            ctx.store.read(|s| {
                s.grants.iter().any(|g| {
                    g.parent_grant_id.is_some()
                        && crate::resolve::agent_holds(g, agent)
                        && s.root_user(g) == Some(*u)
                        && crate::resolve::check_live(s, g, t).is_ok()
                })
            })
        });
        return match user {
            Some(u) => Ok(Subject {
                user: Some(u),
                external_subject: Some(u.to_string()),
            }),
            None => Err(ApiError::not_found(
                "identity_not_found",
                "no delegation from this user to this agent",
            )),
        };
    }
    Ok(Subject {
        user: None,
        external_subject: None,
    })
}

fn identity_json(ctx: &Ctx, auth: &Auth, sub: &Subject, include_profile: bool) -> Value {
    let (idp_id, user) = ctx
        .store
        .read(|s| (s.idp_id, sub.user.and_then(|u| s.user(u).cloned())));
    let ctx_field = |k: &str| {
        auth.context
            .as_ref()
            .and_then(|c| c.get(k))
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let (run_id, thread_id) = (ctx_field("run_id"), ctx_field("thread_id"));
    let mut out = json!({
        "app_id": ctx.info.app_id,
        "app_user_id": sub.user.map(|u| u.to_string()),
        "external_subject_id": sub.external_subject,
        "idp_id": sub.user.map(|_| idp_id.to_string()),
        "user_status": sub.user.map(|_| "active"),
        "group_ids": user.as_ref().map(|u| u.groups.clone()).unwrap_or_default(),
        "agent_id": auth.agent_id.map(|a| a.to_string()),
        "actor_id": auth.actor_id.map(|a| a.to_string()),
        "trace": if run_id.is_some() || thread_id.is_some() {
            json!({"run_id": run_id, "thread_id": thread_id})
        } else {
            Value::Null
        },
    });
    if include_profile {
        out["email"] = json!(user.as_ref().map(|u| u.email.clone()));
        out["display_name"] = json!(user.as_ref().and_then(|u| u.display_name.clone()));
    }
    out
}

/// `POST /sdk/identity/resolve` (§6).
pub async fn resolve_identity(
    State(ctx): State<Arc<Ctx>>,
    Extension(auth): Extension<Arc<Auth>>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let map = json_object(&body)?;
    reject_unknown(&map, &["include_profile", "user_token", "app_user_id"])?;
    let include_profile = opt_bool(&map, "include_profile")?.unwrap_or(false);
    let sub = subject(&ctx, &auth, &map)?;
    Ok(Json(identity_json(&ctx, &auth, &sub, include_profile)))
}

/// `POST /sdk/identity/assert` (§6): a compact ES256 JWS the SDK's offline
/// verifier accepts, signed with the key `/.well-known/jwks.json` serves.
pub async fn assert_identity(
    State(ctx): State<Arc<Ctx>>,
    Extension(auth): Extension<Arc<Auth>>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let map = json_object(&body)?;
    reject_unknown(
        &map,
        &[
            "include_profile",
            "user_token",
            "app_user_id",
            "audience",
            "ttl_seconds",
        ],
    )?;
    let include_profile = opt_bool(&map, "include_profile")?.unwrap_or(false);
    let audience = opt_nonempty(&map, "audience")?
        .filter(|a| a.len() <= 512 && has_scheme(a))
        .ok_or_else(|| {
            ApiError::validation(
                "audience",
                "audience must be a URI of at most 512 characters",
            )
        })?;
    let issuer = ctx.info.base_url.clone();
    if audience.trim_end_matches('/') == issuer {
        return Err(ApiError::new(
            422,
            "invalid_audience",
            "the audience cannot be the issuer itself",
        ));
    }
    let ttl = match map.get("ttl_seconds") {
        None | Some(Value::Null) => ASSERTION_TTL,
        Some(v) => v
            .as_u64()
            .filter(|n| (10..=ASSERTION_TTL_MAX).contains(n))
            .ok_or_else(|| {
                ApiError::validation(
                    "ttl_seconds",
                    "ttl_seconds must be an integer from 10 to 300",
                )
            })?,
    };
    let sub = subject(&ctx, &auth, &map)?;
    let identity = identity_json(&ctx, &auth, &sub, include_profile);
    let t = now();
    let exp = t + ttl as i64;
    let mut alter = json!({"app_id": ctx.info.app_id});
    if auth.agent_id.is_some() || auth.actor_id.is_some() {
        // How Alter authenticated the actor: a string, which the SDK's
        // offline verifier requires with any actor; an open set upstream,
        // here always the agent's API key (inferred value).
        alter["agent_auth"] = json!("api_key");
    }
    let mut claims = json!({
        "iss": issuer,
        "aud": audience,
        "sub": match sub.user {
            Some(u) => format!("alter:user:{u}"),
            None => format!("alter:app:{}", ctx.info.app_id),
        },
        "iat": t,
        "exp": exp,
        "jti": Uuid::new_v4().to_string(),
        "azp": ctx.info.app_id,
        "alter": alter,
    });
    if let Some(a) = auth.agent_id {
        claims["act"] = json!({"sub": format!("alter:agent:{a}")});
    }
    let token = ctx.identity_key.sign("alter-identity+jwt", &claims);
    Ok(Json(json!({
        "token": token,
        "expires_at": rfc3339(exp),
        "identity": identity,
    })))
}

fn has_scheme(s: &str) -> bool {
    let Some((scheme, _)) = s.split_once(':') else {
        return false;
    };
    let b = scheme.as_bytes();
    !b.is_empty()
        && b[0].is_ascii_alphabetic()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'.' | b'-'))
}

/// `GET /.well-known/jwks.json`: the identity-assertion public key.
pub async fn jwks(State(ctx): State<Arc<Ctx>>) -> Json<Value> {
    Json(json!({ "keys": [ctx.identity_key.jwk()] }))
}

#[cfg(test)]
mod tests {
    #[test]
    fn audiences_need_a_scheme() {
        assert!(super::has_scheme("https://api.example.com"));
        assert!(super::has_scheme("urn:x"));
        assert!(!super::has_scheme("api.example.com"));
        assert!(!super::has_scheme("1http://x"));
    }
}
