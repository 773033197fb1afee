//! The operator API under `/_dev/`: what a test (or a demo) uses to set the
//! vault up and to drive what a human would do in the real product (approve
//! a request, revoke a grant, break the network). Authorised by
//! `Authorization: Bearer <admin_token>`; never called by the SDK.

use crate::ctx::{lock, Ctx};
use crate::error::{json_object, opt_bool, opt_nonempty, opt_str, opt_u64, ApiError, ApiResult};
use crate::faults::{self, Announce, Fault, Generated};
use crate::resolve::{managed_contract, validate_contract};
use crate::routes::agents::agent_json;
use crate::routes::approvals::{decide, status_json};
use crate::routes::authn::{auth_poll_json, decide_auth, AuthDecision};
use crate::routes::connect::{self as connect, Action, Decision};
use crate::state::{
    AgentStatus, ApiKey, Grant, GrantKind, ManagedSecret, OAuthConnection, Principal,
    SecretCredential, SecretMaterial, User,
};
use crate::state::{OAuthProviderConfig, ProviderScope};
use crate::util::{now, parse_rfc3339, parse_uuid, rfc3339, sha256_hex};
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::StatusCode;
use axum::middleware::{from_fn_with_state, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use bytes::Bytes;
use serde_json::{json, Map, Value};
use std::sync::Arc;
use uuid::Uuid;

pub fn router(ctx: Arc<Ctx>) -> Router<Arc<Ctx>> {
    Router::new()
        .route("/_dev/managed-secrets", post(create_managed_secret))
        .route(
            "/_dev/managed-secrets/{id}/grants",
            post(create_managed_secret_grant),
        )
        .route("/_dev/managed-secrets/{id}", post(update_managed_secret))
        .route(
            "/_dev/managed-secrets/{id}/credentials",
            post(add_secret_credential),
        )
        .route("/_dev/oauth-providers", post(upsert_oauth_provider))
        .route(
            "/_dev/connect/{token}",
            get(get_connect_session).post(drive_connect_session),
        )
        .route(
            "/_dev/auth-sessions/{token}",
            get(get_auth_session).post(drive_auth_session),
        )
        .route("/_dev/users", post(create_user))
        .route("/_dev/oauth-grants", post(create_oauth_grant))
        .route("/_dev/grants/{id}", post(update_grant).get(get_grant))
        .route("/_dev/approvals/{id}", get(get_approval))
        .route("/_dev/approvals/{id}/decision", post(decide_approval))
        .route("/_dev/audit", get(audit))
        .route(
            "/_dev/faults",
            post(add_fault).get(list_faults).delete(clear_faults),
        )
        .route(
            "/_dev/requests",
            get(request_counts).delete(clear_request_counts),
        )
        .route("/_dev/keys", post(update_key))
        .route("/_dev/agents/{id}", post(update_agent))
        .merge(crate::routes::hold::admin_router())
        .route_layer(from_fn_with_state(ctx, admin_auth))
        // Health answers without the token so a supervisor can probe it
        // (inferred; it reveals nothing).
        .route("/_dev/health", get(health))
}

/// Constant-time equality (the `subtle` crate, whose comparison the
/// optimiser cannot turn into an early exit), so the admin token cannot be
/// guessed byte by byte from response timing. Only the length may show.
fn same(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.ct_eq(b).into()
}

async fn admin_auth(State(ctx): State<Arc<Ctx>>, req: Request, next: Next) -> Response {
    let presented = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if !same(presented.as_bytes(), ctx.info.admin_token.as_bytes()) {
        return ApiError::new(
            401,
            "invalid_admin_token",
            "Authorization: Bearer <admin_token> is required",
        )
        .into_response();
    }
    next.run(req).await
}

async fn health(State(ctx): State<Arc<Ctx>>) -> Json<Value> {
    Json(json!({
        "status": "ok",
        "app_id": ctx.info.app_id,
        "held_long_polls": ctx.held_polls.load(std::sync::atomic::Ordering::SeqCst),
        "idp_id": ctx.store.read(|s| s.idp_id.to_string()),
    }))
}

fn created(v: Value) -> Response {
    (StatusCode::CREATED, Json(v)).into_response()
}

/// Slugs as the product allows them: `[a-z0-9-]{1,50}`.
fn valid_slug(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 50
        && s.bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
}

fn string_map(v: Option<&Value>, field: &str) -> ApiResult<Option<Map<String, Value>>> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(m)) if m.values().all(Value::is_string) => Ok(Some(m.clone())),
        Some(_) => Err(ApiError::validation(
            field,
            format!("{field} must map names to strings"),
        )),
    }
}

async fn create_managed_secret(State(ctx): State<Arc<Ctx>>, body: Bytes) -> ApiResult<Response> {
    let map = json_object(&body)?;
    let slug = opt_nonempty(&map, "slug")?
        .filter(|s| valid_slug(s))
        .ok_or_else(|| ApiError::validation("slug", "slug must match [a-z0-9-]{1,50}"))?;
    let provider_id = opt_nonempty(&map, "provider_id")?.unwrap_or_else(|| slug.clone());
    let name = opt_nonempty(&map, "name")?.unwrap_or_else(|| slug.clone());
    let material = match map.get("credential") {
        Some(Value::String(s)) if !s.is_empty() => SecretMaterial::Token { value: s.clone() },
        Some(Value::Object(aws)) => {
            let field = |f: &str| opt_nonempty(aws, f);
            SecretMaterial::Aws {
                access_key_id: field("access_key_id")?.ok_or_else(|| {
                    ApiError::validation("credential", "access_key_id is required")
                })?,
                secret_access_key: field("secret_access_key")?.ok_or_else(|| {
                    ApiError::validation("credential", "secret_access_key is required")
                })?,
                session_token: field("session_token")?,
                region: field("region")?,
                service: field("service")?,
            }
        }
        _ => {
            return Err(ApiError::validation(
                "credential",
                "credential must be a non-empty string or an AWS credential object",
            ))
        }
    };
    let injection_header = opt_nonempty(&map, "injection_header")?;
    let injection_format = opt_nonempty(&map, "injection_format")?;
    let additional_credentials =
        string_map(map.get("additional_credentials"), "additional_credentials")?;
    let additional_injections = map
        .get("additional_injections")
        .filter(|v| !v.is_null())
        .cloned();
    let hitl = opt_bool(&map, "hitl")?.unwrap_or(false);
    let policy = secret_policy_args(&map)?;
    let id = Uuid::new_v4();
    let mut secret = ManagedSecret {
        managed_secret_id: id,
        slug: slug.clone(),
        provider_id,
        name,
        material,
        injection_header,
        injection_format,
        additional_injections,
        additional_credentials,
        hitl,
        created_at: now(),
        template_slug: None,
        max_delegation_ttl_days: None,
        onward_delegation: false,
        depth_ceiling: None,
        host_patterns: Vec::new(),
    };
    policy.apply(&mut secret);
    // Refuse now what the SDK's token contract would refuse on every call.
    validate_contract(&managed_contract(&secret, Uuid::nil(), None, false)).map_err(|m| {
        ApiError::validation(
            "injection",
            format!("the SDK would refuse this credential: {m}"),
        )
    })?;
    ctx.store.write(|s| {
        if s.managed_secrets.iter().any(|m| m.slug == slug) {
            return Err(ApiError::new(
                409,
                "slug_exists",
                format!("a managed secret with slug '{slug}' already exists"),
            ));
        }
        s.managed_secrets.push(secret);
        Ok(created(json!({"managed_secret_id": id.to_string()})))
    })
}

/// Resolves an optional agent id to a non-revoked agent.
fn agent_arg(ctx: &Ctx, map: &Map<String, Value>) -> ApiResult<Option<Uuid>> {
    let Some(raw) = opt_nonempty(map, "agent_id")? else {
        return Ok(None);
    };
    let found = parse_uuid(&raw).filter(|id| {
        ctx.store.read(|s| {
            s.agent(*id)
                .is_some_and(|a| a.status != AgentStatus::Revoked)
        })
    });
    found
        .map(Some)
        .ok_or_else(|| ApiError::not_found("agent_not_found", "no such (non-revoked) agent"))
}

fn new_grant(kind: GrantKind, principal: Principal, label: Option<String>, t: i64) -> Grant {
    Grant::new(kind, principal, label, t)
}

/// The delegation-policy fields of a managed-secret provider, as the
/// create and update bodies carry them (`null` clears a nullable one).
#[derive(Default)]
struct SecretPolicyArgs {
    template_slug: Option<Option<String>>,
    max_delegation_ttl_days: Option<Option<u32>>,
    onward_delegation: Option<bool>,
    depth_ceiling: Option<Option<u32>>,
    hitl: Option<bool>,
    /// Replaces the allowed hosts; `[]` or `null` allows any host.
    host_patterns: Option<Vec<String>>,
}

impl SecretPolicyArgs {
    fn apply(self, m: &mut ManagedSecret) {
        if let Some(t) = self.template_slug {
            m.template_slug = t;
        }
        if let Some(d) = self.max_delegation_ttl_days {
            m.max_delegation_ttl_days = d;
        }
        if let Some(o) = self.onward_delegation {
            m.onward_delegation = o;
        }
        if let Some(d) = self.depth_ceiling {
            m.depth_ceiling = d;
        }
        if let Some(h) = self.hitl {
            m.hitl = h;
        }
        if let Some(p) = self.host_patterns {
            m.host_patterns = p;
        }
    }
}

/// A nullable positive integer no larger than `max`: absent → None,
/// null → Some(None).
fn nullable_u32(map: &Map<String, Value>, field: &str, max: u64) -> ApiResult<Option<Option<u32>>> {
    match map.get(field) {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(v) => v
            .as_u64()
            .filter(|n| (1..=max).contains(n))
            .map(|n| Some(Some(n as u32)))
            .ok_or_else(|| {
                ApiError::validation(field, format!("{field} must be an integer from 1 to {max}"))
            }),
    }
}

fn secret_policy_args(map: &Map<String, Value>) -> ApiResult<SecretPolicyArgs> {
    let template_slug = match map.get("template_slug") {
        None => None,
        Some(Value::Null) => Some(None),
        Some(Value::String(t)) if valid_slug(&t.to_ascii_lowercase()) => {
            Some(Some(t.to_ascii_lowercase()))
        }
        Some(_) => {
            return Err(ApiError::validation(
                "template_slug",
                "template_slug must match [a-z0-9-]{1,50}",
            ))
        }
    };
    Ok(SecretPolicyArgs {
        template_slug,
        // Up to about 30 years: enough to exercise the 5-year ceiling.
        max_delegation_ttl_days: nullable_u32(map, "max_delegation_ttl_days", 10_950)?,
        onward_delegation: opt_bool(map, "onward_delegation")?,
        depth_ceiling: nullable_u32(map, "depth_ceiling", 8)?,
        hitl: None,
        host_patterns: host_patterns(map)?,
    })
}

/// `host_patterns`: a list of host patterns
/// ([`crate::resolve::valid_host_pattern`]); `null` clears them.
fn host_patterns(map: &Map<String, Value>) -> ApiResult<Option<Vec<String>>> {
    let bad = || {
        ApiError::validation(
            "host_patterns",
            "host_patterns must be a list of hosts such as api.example.com, *.example.com or 127.0.0.1:8080",
        )
    };
    match map.get("host_patterns") {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(Vec::new())),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| {
                v.as_str()
                    .filter(|p| crate::resolve::valid_host_pattern(p))
                    .map(str::to_string)
                    .ok_or_else(bad)
            })
            .collect::<ApiResult<Vec<_>>>()
            .map(Some),
        Some(_) => Err(bad()),
    }
}

/// `POST /_dev/managed-secrets/{id}`: changes a provider's template and
/// delegation policy.
async fn update_managed_secret(
    State(ctx): State<Arc<Ctx>>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let map = json_object(&body)?;
    let mut args = secret_policy_args(&map)?;
    args.hitl = opt_bool(&map, "hitl")?;
    ctx.store.write(|s| {
        let m = parse_uuid(&id)
            .and_then(|i| {
                s.managed_secrets
                    .iter_mut()
                    .find(|m| m.managed_secret_id == i)
            })
            .ok_or_else(|| ApiError::not_found("secret_not_found", "no such managed secret"))?;
        args.apply(m);
        Ok(Json(json!({
            "managed_secret_id": m.managed_secret_id.to_string(),
            "slug": m.slug,
            "template_slug": m.template_slug,
            "max_delegation_ttl_days": m.max_delegation_ttl_days,
            "onward_delegation": m.onward_delegation,
            "depth_ceiling": m.depth_ceiling,
            "hitl": m.hitl,
            "host_patterns": m.host_patterns,
        })))
    })
}

/// `POST /_dev/managed-secrets/{id}/credentials`: one more developer
/// credential of a provider (`{credential, label?}` → `{credential_id}`).
async fn add_secret_credential(
    State(ctx): State<Arc<Ctx>>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    let map = json_object(&body)?;
    let value = opt_nonempty(&map, "credential")?
        .filter(|v| !v.contains(['\r', '\n', '\0']))
        .ok_or_else(|| {
            ApiError::validation("credential", "credential must be a non-empty string")
        })?;
    let label = opt_str(&map, "label")?;
    let t = now();
    ctx.store.write(|s| {
        let ms = parse_uuid(&id)
            .and_then(|i| s.managed_secret(i))
            .map(|m| m.managed_secret_id)
            .ok_or_else(|| ApiError::not_found("secret_not_found", "no such managed secret"))?;
        let credential_id = Uuid::new_v4();
        s.credentials.push(SecretCredential {
            credential_id,
            managed_secret_id: ms,
            kind: "developer".into(),
            label,
            owner: None,
            material: SecretMaterial::Token { value },
            active: true,
            created_at: t,
        });
        Ok(created(json!({"credential_id": credential_id.to_string()})))
    })
}

async fn create_managed_secret_grant(
    State(ctx): State<Arc<Ctx>>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    let map = json_object(&body)?;
    let agent = agent_arg(&ctx, &map)?;
    let label = opt_str(&map, "label")?;
    let ttl = opt_u64(&map, "ttl_seconds")?;
    let hitl = opt_bool(&map, "hitl")?;
    let restricted = opt_bool(&map, "restricted")?.unwrap_or(false);
    let t = now();
    ctx.store.write(|s| {
        let ms = parse_uuid(&id)
            .and_then(|i| s.managed_secret(i))
            .ok_or_else(|| ApiError::not_found("secret_not_found", "no such managed secret"))?;
        let principal = match agent {
            Some(agent_id) => Principal::Agent { agent_id },
            None => Principal::System,
        };
        let mut g = new_grant(
            GrantKind::ManagedSecret {
                managed_secret_id: ms.managed_secret_id,
                credential_id: None,
            },
            principal,
            label,
            t,
        );
        g.hitl = hitl.unwrap_or(ms.hitl);
        g.restricted = restricted;
        g.expires_at = ttl.map(|ttl| t + ttl as i64);
        let gid = g.grant_id;
        s.grants.push(g);
        Ok(created(json!({"grant_id": gid.to_string()})))
    })
}

async fn create_user(State(ctx): State<Arc<Ctx>>, body: Bytes) -> ApiResult<Response> {
    let map = json_object(&body)?;
    let email = opt_nonempty(&map, "email")?
        .filter(|e| e.contains('@'))
        .ok_or_else(|| ApiError::validation("email", "email is required"))?;
    let ttl = opt_u64(&map, "ttl_seconds")?.unwrap_or(86_400) as i64;
    let display_name = opt_str(&map, "display_name")?;
    let groups = match map.get("groups") {
        None | Some(Value::Null) => None,
        Some(Value::Array(a)) if a.iter().all(|g| g.as_str().is_some_and(|g| !g.is_empty())) => {
            Some(
                a.iter()
                    .filter_map(|g| g.as_str().map(str::to_string))
                    .collect::<Vec<_>>(),
            )
        }
        Some(_) => {
            return Err(ApiError::validation(
                "groups",
                "groups must be a list of group ids",
            ))
        }
    };
    let (user_id, token) = sign_in(&ctx, &email, display_name, groups, ttl);
    Ok(created(
        json!({"user_id": user_id.to_string(), "user_token": token}),
    ))
}

/// Upserts a user of the local identity provider and mints their JWT. The
/// same e-mail is the same user (a second sign-in), with a new token; given
/// `display_name`/`groups` replace the stored ones (inferred).
pub fn sign_in(
    ctx: &Ctx,
    email: &str,
    display_name: Option<String>,
    groups: Option<Vec<String>>,
    ttl: i64,
) -> (Uuid, String) {
    let t = now();
    let user_id = ctx.store.write(|s| {
        if let Some(u) = s.users.iter_mut().find(|u| u.email == email) {
            if display_name.is_some() {
                u.display_name = display_name;
            }
            if let Some(g) = groups {
                u.groups = g;
            }
            return u.user_id;
        }
        let user_id = Uuid::new_v4();
        s.users.push(User {
            user_id,
            email: email.to_string(),
            created_at: t,
            display_name,
            groups: groups.unwrap_or_default(),
        });
        user_id
    });
    let token = crate::jwt::sign(
        &ctx.jwt_secret,
        &json!({
            "iss": crate::jwt::ISSUER,
            "sub": user_id.to_string(),
            "email": email,
            "iat": t,
            "exp": t + ttl,
        }),
    );
    (user_id, token)
}

async fn create_oauth_grant(State(ctx): State<Arc<Ctx>>, body: Bytes) -> ApiResult<Response> {
    let map = json_object(&body)?;
    let provider_id = opt_nonempty(&map, "provider_id")?
        .filter(|p| p.trim() == p && p.len() <= 255 && !p.chars().any(char::is_control))
        .ok_or_else(|| ApiError::validation("provider_id", "provider_id is required"))?;
    let access_token = opt_nonempty(&map, "access_token")?
        .filter(|t| !t.contains(['\r', '\n', '\0']))
        .ok_or_else(|| ApiError::validation("access_token", "access_token is required"))?;
    let scopes: Vec<String> = match map.get("scopes") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a))
            if a.iter()
                .all(|s| s.as_str().is_some_and(|s| !s.is_empty() && s.trim() == s)) =>
        {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        }
        Some(_) => {
            return Err(ApiError::validation(
                "scopes",
                "scopes must be a list of scope strings",
            ))
        }
    };
    // Without a user the Connect was app-scoped: a system grant.
    let user = match opt_nonempty(&map, "user_id")? {
        Some(u) => Some(
            parse_uuid(&u)
                .filter(|u| ctx.store.read(|s| s.user(*u).is_some()))
                .ok_or_else(|| ApiError::not_found("user_not_found", "no such user"))?,
        ),
        None => None,
    };
    let agent = agent_arg(&ctx, &map)?;
    let account = opt_nonempty(&map, "account")?;
    let account_display_name = opt_str(&map, "account_display_name")?;
    let label = opt_str(&map, "label")?;
    let hitl = opt_bool(&map, "hitl")?.unwrap_or(false);
    let ttl = opt_u64(&map, "ttl_seconds")?;
    let token_ttl = opt_u64(&map, "token_expires_in")?;
    let api_base_url = opt_nonempty(&map, "api_base_url")?;
    let t = now();
    let out = ctx.store.write(|s| {
        let connection_id = Uuid::new_v4();
        s.connections.push(OAuthConnection {
            connection_id,
            provider_id,
            user_id: user,
            access_token,
            scopes,
            account_identifier: account,
            account_display_name,
            token_generation: Uuid::new_v4(),
            token_expires_at: token_ttl.map(|s| t + s as i64),
            needs_reconnect: false,
            revoked: false,
            api_base_url,
        });
        let principal = match user {
            Some(user_id) => Principal::User { user_id },
            None => Principal::System,
        };
        let mut root = new_grant(
            GrantKind::OAuth { connection_id },
            principal,
            label.clone(),
            t,
        );
        root.hitl = hitl;
        root.expires_at = ttl.map(|ttl| t + ttl as i64);
        let root_id = root.grant_id;
        s.grants.push(root.clone());
        let mut out = json!({
            "grant_id": root_id.to_string(),
            "credential_id": connection_id.to_string(),
        });
        if let Some(agent_id) = agent {
            let mut child = new_grant(
                GrantKind::OAuth { connection_id },
                Principal::Agent { agent_id },
                label,
                t,
            );
            child.parent_grant_id = Some(root_id);
            child.depth = 1;
            child.hitl = hitl;
            child.expires_at = root.expires_at;
            out["delegation_grant_id"] = json!(child.grant_id.to_string());
            s.grants.push(child);
        }
        out
    });
    Ok(created(out))
}

fn grant_admin_json(s: &crate::state::State, g: &Grant) -> Value {
    json!({
        "grant_id": g.grant_id.to_string(),
        "principal_type": g.principal.type_name(),
        "depth": g.depth,
        "delegable": g.delegable,
        "scope_constraint": g.scope_constraint,
        "revoked_at": g.revoked_at.map(rfc3339),
        "revoke_reason": g.revoke_reason,
        "provider_id": s.grant_provider_id(g),
        "parent_grant_id": g.parent_grant_id.map(|p| p.to_string()),
        "label": g.label,
        "expires_at": g.expires_at.map(rfc3339),
        "revoked": g.revoked_at.is_some(),
        "hitl": g.hitl,
        "restricted": g.restricted,
        "scope_mismatch": g.scope_mismatch,
        "credential_revoked": s.grant_account(g).is_some_and(|c| c.revoked),
        "last_used_at": g.last_used_at.map(rfc3339),
    })
}

fn grant_id_arg(s: &crate::state::State, id: &str) -> ApiResult<Uuid> {
    parse_uuid(id)
        .filter(|g| s.grant(*g).is_some())
        .ok_or_else(|| ApiError::not_found("grant_not_found", "no such grant"))
}

async fn get_grant(State(ctx): State<Arc<Ctx>>, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    ctx.store.read(|s| {
        let gid = grant_id_arg(s, &id)?;
        Ok(Json(grant_admin_json(s, s.grant(gid).expect("found"))))
    })
}

async fn update_grant(
    State(ctx): State<Arc<Ctx>>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let map = json_object(&body)?;
    // `expires_at` present and null clears the TTL; absent leaves it alone.
    let expires_at =
        match map.get("expires_at") {
            None => None,
            Some(Value::Null) => Some(None),
            Some(Value::String(s)) => Some(Some(parse_rfc3339(s).ok_or_else(|| {
                ApiError::validation("expires_at", "expires_at must be RFC 3339")
            })?)),
            Some(_) => {
                return Err(ApiError::validation(
                    "expires_at",
                    "expires_at must be RFC 3339 or null",
                ))
            }
        };
    let revoked = opt_bool(&map, "revoked")?;
    let hitl = opt_bool(&map, "hitl")?;
    let restricted = opt_bool(&map, "restricted")?;
    let scope_mismatch = opt_bool(&map, "scope_mismatch")?;
    let credential_revoked = opt_bool(&map, "credential_revoked")?;
    let t = now();
    ctx.store.write(|s| {
        let gid = grant_id_arg(s, &id)?;
        let g = s.grant_mut(gid).expect("found");
        if let Some(e) = expires_at {
            g.expires_at = e;
        }
        if let Some(r) = revoked {
            g.revoked_at = if r { g.revoked_at.or(Some(t)) } else { None };
        }
        if let Some(h) = hitl {
            g.hitl = h;
        }
        if let Some(r) = restricted {
            g.restricted = r;
        }
        if let Some(m) = scope_mismatch {
            g.scope_mismatch = m;
        }
        let connection = match g.kind {
            GrantKind::OAuth { connection_id } => Some(connection_id),
            GrantKind::ManagedSecret { .. } => None,
        };
        if let (Some(r), Some(c)) = (
            credential_revoked,
            connection.and_then(|c| s.connection_mut(c)),
        ) {
            c.revoked = r;
        }
        Ok(Json(grant_admin_json(s, s.grant(gid).expect("found"))))
    })
}

async fn get_approval(
    State(ctx): State<Arc<Ctx>>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    ctx.store.read(|s| {
        let a = parse_uuid(&id)
            .and_then(|i| s.approval(i))
            .ok_or_else(|| ApiError::not_found("approval_not_found", "approval not found"))?;
        let mut out = status_json(a, now());
        out["grant_id"] = json!(a.grant_id.to_string());
        out["request"] = json!({
            "method": a.request.method,
            "url": a.request.url,
            "reason": a.request.reason,
            "context": a.request.context,
        });
        Ok(Json(out))
    })
}

async fn decide_approval(
    State(ctx): State<Arc<Ctx>>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let map = json_object(&body)?;
    let decision = opt_nonempty(&map, "decision")?
        .ok_or_else(|| ApiError::validation("decision", "decision is required"))?;
    let reason = opt_str(&map, "reason")?;
    let id = parse_uuid(&id)
        .ok_or_else(|| ApiError::not_found("approval_not_found", "approval not found"))?;
    Ok(Json(decide(&ctx, id, &decision, reason).await?))
}

async fn audit(State(ctx): State<Arc<Ctx>>, RawQuery(q): RawQuery) -> Json<Value> {
    let filters: Vec<(String, String)> =
        url::form_urlencoded::parse(q.unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
    let events = ctx.store.read(|s| {
        s.audit
            .iter()
            .filter_map(|e| serde_json::to_value(e).ok())
            .filter(|e| {
                filters
                    .iter()
                    .all(|(k, v)| e.get(k).and_then(Value::as_str) == Some(v.as_str()))
            })
            .collect::<Vec<_>>()
    });
    Json(json!({ "events": events }))
}

async fn add_fault(State(ctx): State<Arc<Ctx>>, body: Bytes) -> ApiResult<Json<Value>> {
    let map = json_object(&body)?;
    let path_prefix = opt_nonempty(&map, "path_prefix")?
        .filter(|p| p.starts_with('/'))
        .ok_or_else(|| ApiError::validation("path_prefix", "path_prefix must start with '/'"))?;
    let count = opt_u64(&map, "count")?.unwrap_or(1);
    let status = match opt_u64(&map, "status")? {
        Some(s) if (200..=599).contains(&s) => Some(s as u16),
        Some(_) => return Err(ApiError::validation("status", "status must be 200-599")),
        None => None,
    };
    let retry_after = match map.get("retry_after") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(_) => {
            return Err(ApiError::validation(
                "retry_after",
                "retry_after must be a number or string",
            ))
        }
    };
    let fault = Fault {
        path_prefix,
        remaining: count.min(u64::from(u32::MAX)) as u32,
        status,
        delay_ms: opt_u64(&map, "delay_ms")?.unwrap_or(0),
        drop: opt_bool(&map, "drop")?.unwrap_or(false),
        retry_after,
        body: map.get("body").filter(|b| !b.is_null()).cloned(),
        headers: fault_headers(map.get("headers"))?,
        generated: generated_body(&map)?,
    };
    if fault.status.is_none() && !fault.drop && fault.delay_ms == 0 {
        return Err(ApiError::validation(
            "status",
            "a fault needs a status, drop or delay_ms",
        ));
    }
    if fault.status.is_none() && (fault.generated.is_some() || !fault.headers.is_empty()) {
        return Err(ApiError::validation(
            "status",
            "body_bytes and headers need a status",
        ));
    }
    if fault.generated.is_some() && fault.body.is_some() {
        return Err(ApiError::validation(
            "body",
            "give body or body_bytes, not both",
        ));
    }
    let pending = {
        let mut faults = lock(&ctx.faults);
        if fault.remaining > 0 {
            faults.push(fault);
        }
        faults.len()
    };
    Ok(Json(json!({"ok": true, "pending_faults": pending})))
}

/// `headers`: an object of strings, or `[name, value]` pairs (repeats kept).
fn fault_headers(v: Option<&Value>) -> ApiResult<Vec<(String, String)>> {
    let bad = || {
        ApiError::validation(
            "headers",
            "headers must be an object of strings or a list of [name, value] pairs",
        )
    };
    let pairs: Vec<(String, String)> = match v {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Object(m)) => m
            .iter()
            .map(|(k, v)| Ok((k.clone(), v.as_str().ok_or_else(bad)?.to_string())))
            .collect::<ApiResult<_>>()?,
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| match item.as_array().map(Vec::as_slice) {
                Some([Value::String(k), Value::String(v)]) => Ok((k.clone(), v.clone())),
                _ => Err(bad()),
            })
            .collect::<ApiResult<_>>()?,
        Some(_) => return Err(bad()),
    };
    if pairs.len() > 256 {
        return Err(ApiError::validation("headers", "at most 256 headers"));
    }
    Ok(pairs)
}

/// `body_bytes` (with `chunk_bytes`, `trickle_ms` and `content_length`:
/// `"exact"` (default), `"none"` or a number of bytes to announce).
fn generated_body(map: &Map<String, Value>) -> ApiResult<Option<Generated>> {
    let Some(bytes) = opt_u64(map, "body_bytes")? else {
        for field in ["chunk_bytes", "trickle_ms", "content_length"] {
            if map.get(field).is_some_and(|v| !v.is_null()) {
                return Err(ApiError::validation(
                    field,
                    format!("{field} needs body_bytes"),
                ));
            }
        }
        return Ok(None);
    };
    if bytes > faults::MAX_GENERATED_BODY {
        return Err(ApiError::validation(
            "body_bytes",
            "body_bytes is at most 4 GiB",
        ));
    }
    let chunk = match opt_u64(map, "chunk_bytes")? {
        None => faults::DEFAULT_CHUNK_BYTES,
        Some(n) if n >= 1 && n <= faults::MAX_CHUNK_BYTES as u64 => n as usize,
        Some(_) => {
            return Err(ApiError::validation(
                "chunk_bytes",
                "chunk_bytes must be 1 to 1048576",
            ))
        }
    };
    let announce = match map.get("content_length") {
        None | Some(Value::Null) => Announce::Exact,
        Some(Value::String(s)) if s == "exact" => Announce::Exact,
        Some(Value::String(s)) if s == "none" => Announce::None,
        Some(Value::Number(n)) if n.as_u64().is_some_and(|n| n >= bytes) => {
            Announce::Claim(n.as_u64().unwrap_or(bytes))
        }
        Some(_) => {
            return Err(ApiError::validation(
                "content_length",
                "content_length must be \"exact\", \"none\" or a number not below body_bytes",
            ))
        }
    };
    Ok(Some(Generated {
        bytes,
        chunk,
        trickle_ms: opt_u64(map, "trickle_ms")?.unwrap_or(0),
        announce,
    }))
}

fn fault_json(f: &Fault) -> Value {
    json!({
        "path_prefix": f.path_prefix,
        "remaining": f.remaining,
        "status": f.status,
        "delay_ms": f.delay_ms,
        "drop": f.drop,
        "retry_after": f.retry_after,
        "headers": f.headers,
        "body_bytes": f.generated.as_ref().map(|g| g.bytes),
    })
}

/// `GET /_dev/requests`: requests seen per path outside `/_dev/`.
async fn request_counts(State(ctx): State<Arc<Ctx>>) -> Json<Value> {
    Json(json!({ "requests": lock(&ctx.hits).to_json() }))
}

/// `DELETE /_dev/requests`: forgets the counts.
async fn clear_request_counts(State(ctx): State<Arc<Ctx>>) -> Json<Value> {
    lock(&ctx.hits).clear();
    Json(json!({"ok": true}))
}

async fn list_faults(State(ctx): State<Arc<Ctx>>) -> Json<Value> {
    let faults: Vec<Value> = lock(&ctx.faults).iter().map(fault_json).collect();
    Json(json!({ "faults": faults }))
}

async fn clear_faults(State(ctx): State<Arc<Ctx>>) -> Json<Value> {
    lock(&ctx.faults).clear();
    Json(json!({"ok": true}))
}

fn key_admin_json(k: &ApiKey) -> Value {
    json!({
        "key_id": k.key_id.to_string(),
        "agent_id": k.agent_id.map(|a| a.to_string()),
        "key_type": k.key_type,
        "name": k.name,
        "key_prefix": k.key_prefix,
        "scopes": k.scopes,
        "rate_limit_rpm": k.rate_limit_rpm,
        "cidr_allowlist": k.cidr_allowlist,
        "parent_key_id": k.parent_key_id.map(|p| p.to_string()),
        "expires_at": k.expires_at.map(rfc3339),
        "deprecated_at": k.deprecated_at.map(rfc3339),
        "revoked_at": k.revoked_at.map(rfc3339),
    })
}

/// Adjusts one key, named by its plaintext (what a test holds) or its id.
async fn update_key(State(ctx): State<Arc<Ctx>>, body: Bytes) -> ApiResult<Json<Value>> {
    let map = json_object(&body)?;
    let by_hash = opt_nonempty(&map, "api_key")?.map(|k| sha256_hex(k.as_bytes()));
    let by_id = opt_nonempty(&map, "key_id")?.and_then(|k| parse_uuid(&k));
    let rate = match map.get("rate_limit_rpm") {
        None => None,
        Some(Value::Null) => Some(None),
        Some(v) => Some(Some(
            v.as_u64()
                .filter(|n| (1..=u64::from(u32::MAX)).contains(n))
                .ok_or_else(|| {
                    ApiError::validation(
                        "rate_limit_rpm",
                        "rate_limit_rpm must be a positive integer or null",
                    )
                })? as u32,
        )),
    };
    let scopes: Option<Vec<String>> = match map.get("scopes") {
        None | Some(Value::Null) => None,
        Some(Value::Array(a)) if a.iter().all(Value::is_string) => Some(
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect(),
        ),
        Some(_) => {
            return Err(ApiError::validation(
                "scopes",
                "scopes must be a list of strings",
            ))
        }
    };
    let deprecated = opt_bool(&map, "deprecated")?;
    let revoked = opt_bool(&map, "revoked")?;
    let expires_at =
        match map.get("expires_at") {
            None => None,
            Some(Value::Null) => Some(None),
            Some(Value::String(s)) => Some(Some(parse_rfc3339(s).ok_or_else(|| {
                ApiError::validation("expires_at", "expires_at must be RFC 3339")
            })?)),
            Some(_) => {
                return Err(ApiError::validation(
                    "expires_at",
                    "expires_at must be RFC 3339 or null",
                ))
            }
        };
    let t = now();
    ctx.store.write(|s| {
        let key = s
            .keys
            .iter_mut()
            .find(|k| Some(&k.key_hash) == by_hash.as_ref() || Some(k.key_id) == by_id)
            .ok_or_else(|| ApiError::not_found("key_not_found", "no such key"))?;
        if let Some(r) = rate {
            key.rate_limit_rpm = r;
        }
        if let Some(sc) = scopes {
            key.scopes = sc;
        }
        if let Some(d) = deprecated {
            key.deprecated_at = if d {
                key.deprecated_at.or(Some(t))
            } else {
                None
            };
        }
        if let Some(r) = revoked {
            key.revoked_at = if r { key.revoked_at.or(Some(t)) } else { None };
        }
        if let Some(e) = expires_at {
            key.expires_at = e;
        }
        Ok(Json(key_admin_json(key)))
    })
}

/// Sets what the SDK cannot: the per-agent rate limit, or a status (to
/// reproduce races such as a revoked agent whose key is still live).
async fn update_agent(
    State(ctx): State<Arc<Ctx>>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let map = json_object(&body)?;
    let rate = match map.get("rate_limit_per_minute") {
        None => None,
        Some(Value::Null) => Some(None),
        Some(v) => Some(Some(
            v.as_u64()
                .filter(|n| (1..=u64::from(u32::MAX)).contains(n))
                .ok_or_else(|| {
                    ApiError::validation(
                        "rate_limit_per_minute",
                        "must be a positive integer or null",
                    )
                })? as u32,
        )),
    };
    let status = match opt_str(&map, "status")?.as_deref() {
        None => None,
        Some("active") => Some(AgentStatus::Active),
        Some("inactive") => Some(AgentStatus::Inactive),
        Some("revoked") => Some(AgentStatus::Revoked),
        Some(_) => {
            return Err(ApiError::validation(
                "status",
                "status must be active, inactive or revoked",
            ))
        }
    };
    ctx.store.write(|s| {
        let a = parse_uuid(&id)
            .and_then(|i| s.agent_mut(i))
            .ok_or_else(|| ApiError::not_found("agent_not_found", "no such agent"))?;
        if let Some(r) = rate {
            a.rate_limit_per_minute = r;
        }
        if let Some(st) = status {
            if st != a.status {
                a.status = st;
                a.version += 1;
            }
        }
        Ok(Json(agent_json(a)))
    })
}

/// `POST /_dev/oauth-providers`: configures (or reconfigures) an OAuth
/// provider: `{provider_id, display_name?, scopes?: [name | {name,
/// description?, required?, is_default?}], api_base_url?, onward_sharing?,
/// depth_ceiling?}`. Absent fields keep their value.
async fn upsert_oauth_provider(State(ctx): State<Arc<Ctx>>, body: Bytes) -> ApiResult<Json<Value>> {
    let map = json_object(&body)?;
    let id = opt_nonempty(&map, "provider_id")?
        .map(|p| p.trim().to_ascii_lowercase())
        .filter(|p| !p.is_empty() && p.len() <= 255)
        .ok_or_else(|| ApiError::validation("provider_id", "provider_id is required"))?;
    let scopes: Option<Vec<ProviderScope>> = match map.get("scopes") {
        None | Some(Value::Null) => None,
        Some(Value::Array(a)) => Some(
            a.iter()
                .map(|v| match v {
                    Value::String(n) if !n.is_empty() => Some(ProviderScope {
                        name: n.clone(),
                        description: String::new(),
                        required: false,
                        is_default: true,
                    }),
                    Value::Object(o) => Some(ProviderScope {
                        name: o
                            .get("name")?
                            .as_str()
                            .filter(|n| !n.is_empty())?
                            .to_string(),
                        description: o
                            .get("description")
                            .and_then(Value::as_str)
                            .unwrap_or("")
                            .to_string(),
                        required: o.get("required").and_then(Value::as_bool).unwrap_or(false),
                        is_default: o
                            .get("is_default")
                            .and_then(Value::as_bool)
                            .unwrap_or(false),
                    }),
                    _ => None,
                })
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| {
                    ApiError::validation("scopes", "scopes must be names or {name, …} objects")
                })?,
        ),
        Some(_) => return Err(ApiError::validation("scopes", "scopes must be a list")),
    };
    let display_name = opt_nonempty(&map, "display_name")?;
    let api_base_url = match map.get("api_base_url") {
        None => None,
        Some(Value::Null) => Some(None),
        Some(Value::String(u)) => Some(Some(u.clone())),
        Some(_) => {
            return Err(ApiError::validation(
                "api_base_url",
                "api_base_url must be a string",
            ))
        }
    };
    let onward = opt_bool(&map, "onward_sharing")?;
    let depth = nullable_u32(&map, "depth_ceiling", 8)?;
    ctx.store.write(|s| {
        let idx = match s.oauth_providers.iter().position(|p| p.provider_id == id) {
            Some(i) => i,
            None => {
                s.oauth_providers.push(OAuthProviderConfig {
                    provider_id: id.clone(),
                    display_name: id.clone(),
                    category: None,
                    description: None,
                    scopes: Vec::new(),
                    api_base_url: None,
                    onward_sharing: false,
                    depth_ceiling: None,
                });
                s.oauth_providers.len() - 1
            }
        };
        let p = &mut s.oauth_providers[idx];
        if let Some(d) = display_name {
            p.display_name = d;
        }
        if let Some(sc) = scopes {
            p.scopes = sc;
        }
        if let Some(u) = api_base_url {
            p.api_base_url = u;
        }
        if let Some(o) = onward {
            p.onward_sharing = o;
        }
        if let Some(d) = depth {
            p.depth_ceiling = d;
        }
        Ok(Json(json!({
            "provider_id": p.provider_id,
            "display_name": p.display_name,
            "scopes": p.scopes.iter().map(|s| s.name.clone()).collect::<Vec<_>>(),
            "api_base_url": p.api_base_url,
            "onward_sharing": p.onward_sharing,
            "depth_ceiling": p.depth_ceiling,
        })))
    })
}

/// `GET /_dev/connect/{token}`: the stored session (what the consent page
/// shows) plus its poll answer.
async fn get_connect_session(
    State(ctx): State<Arc<Ctx>>,
    Path(token): Path<String>,
) -> ApiResult<Json<Value>> {
    ctx.store.read(|s| {
        let c = s
            .connect_sessions
            .iter()
            .find(|c| c.token == token)
            .ok_or_else(|| ApiError::not_found("session_not_found", "no such Connect session"))?;
        Ok(Json(json!({
            "session_token": c.token,
            "kind": c.kind,
            "state": connect::state_name(connect::projected(c, now())),
            "providers": c.providers,
            "user_id": c.user.map(|u| u.to_string()),
            "agent_id": c.agent.map(|a| a.to_string()),
            "delegable": c.delegable,
            "direct": c.direct,
            "path": c.path,
            "existing_grant_id": c.existing_grant_id.map(|g| g.to_string()),
            "delegation_expires_at": c.delegation_expires_at.map(rfc3339),
            "expires_at": rfc3339(c.expires_at),
            "poll": connect::poll_json(s, &c.token, now()),
        })))
    })
}

/// `POST /_dev/connect/{token}`: does what the consent page does, without a
/// browser: `{action: approve|deny|decline|fail|expire, providers?,
/// provider_id? (decline), account?, ttl_seconds?, share_onward?, secret?,
/// error_code?, error_message? (fail)}` → the session's poll answer.
async fn drive_connect_session(
    State(ctx): State<Arc<Ctx>>,
    Path(token): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let map = json_object(&body)?;
    let action = match opt_nonempty(&map, "action")?.as_deref() {
        Some("approve") => Action::Approve,
        Some("deny") => Action::Deny,
        Some("decline") => {
            Action::Decline(opt_nonempty(&map, "provider_id")?.ok_or_else(|| {
                ApiError::validation("provider_id", "decline names a provider_id")
            })?)
        }
        Some("fail") => Action::Fail {
            code: opt_nonempty(&map, "error_code")?
                .unwrap_or_else(|| "connect_config_error".into()),
            message: opt_nonempty(&map, "error_message")?
                .unwrap_or_else(|| "The provider refused the connection.".into()),
        },
        Some("expire") => Action::Expire,
        _ => {
            return Err(ApiError::validation(
                "action",
                "action must be approve, deny, decline, fail or expire",
            ))
        }
    };
    let mut d = Decision::new(action);
    d.providers = match map.get("providers") {
        None | Some(Value::Null) => None,
        Some(Value::Array(a)) => Some(
            a.iter()
                .filter_map(|p| p.as_str().map(str::to_string))
                .collect(),
        ),
        Some(_) => {
            return Err(ApiError::validation(
                "providers",
                "providers must be a list",
            ))
        }
    };
    d.account = opt_nonempty(&map, "account")?;
    d.ttl_seconds = opt_u64(&map, "ttl_seconds")?;
    d.share_onward = opt_bool(&map, "share_onward")?;
    d.secret = opt_nonempty(&map, "secret")?;
    let t = now();
    let out = ctx.store.write(|s| {
        connect::decide(s, &token, &d, t)?;
        Ok::<_, ApiError>(connect::poll_json(s, &token, t))
    })?;
    ctx.bump_sessions();
    Ok(Json(out))
}

/// `GET /_dev/auth-sessions/{token}`: the sign-in session's poll answer.
async fn get_auth_session(State(ctx): State<Arc<Ctx>>, Path(token): Path<String>) -> Json<Value> {
    Json(ctx.store.read(|s| auth_poll_json(s, &token, now())))
}

/// `POST /_dev/auth-sessions/{token}`: signs in without a browser:
/// `{action: complete|fail|expire, email?, display_name?, groups?,
/// error_code?, error_message?}` → the poll answer.
async fn drive_auth_session(
    State(ctx): State<Arc<Ctx>>,
    Path(token): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let map = json_object(&body)?;
    let decision = match opt_nonempty(&map, "action")?.as_deref() {
        Some("complete") => AuthDecision::Complete {
            email: opt_nonempty(&map, "email")?
                .filter(|e| e.contains('@'))
                .ok_or_else(|| ApiError::validation("email", "email is required"))?,
            display_name: opt_str(&map, "display_name")?,
            groups: match map.get("groups") {
                None | Some(Value::Null) => None,
                Some(Value::Array(a)) => Some(
                    a.iter()
                        .filter_map(|g| g.as_str().map(str::to_string))
                        .collect(),
                ),
                Some(_) => return Err(ApiError::validation("groups", "groups must be a list")),
            },
        },
        Some("fail") => AuthDecision::Fail {
            code: opt_nonempty(&map, "error_code")?,
            message: opt_nonempty(&map, "error_message")?
                .unwrap_or_else(|| "Authentication failed.".into()),
        },
        Some("expire") => AuthDecision::Expire,
        _ => {
            return Err(ApiError::validation(
                "action",
                "action must be complete, fail or expire",
            ))
        }
    };
    decide_auth(&ctx, &token, decision)?;
    Ok(Json(ctx.store.read(|s| auth_poll_json(s, &token, now()))))
}
