//! Grant management (grants-and-connect.md §2.3–§2.5, §3): revoke with its
//! cascade, managed-secret grants for the four principals, mint, delegate
//! and revoke-delegation.

use crate::audit::event_for;
use crate::auth::{Auth, Who};
use crate::catalog::covers;
use crate::ctx::Ctx;
use crate::error::{json_object, opt_bool, opt_nonempty, opt_str, ApiError, ApiResult};
use crate::resolve::{agent_holds, chain_expiry, check_live};
use crate::routes::connect::{after, parse_constraint, reject_unknown, FIVE_YEARS};
use crate::routes::verify_user_token;
use crate::state::{AgentStatus, Grant, GrantKind, Principal, State as VaultState};
use crate::util::{now, parse_rfc3339, parse_uuid, rfc3339};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use bytes::Bytes;
use serde_json::{json, Map, Value};
use std::sync::Arc;
use uuid::Uuid;

/// The global cap on delegation depth.
const MAX_DEPTH: u32 = 8;

fn grant_not_found(msg: &str) -> ApiError {
    ApiError::not_found("grant_not_found", msg.to_string())
}

/// A parsed `grant_policy`.
#[derive(Debug, Default, Clone)]
pub struct PolicyInput {
    /// The validated policy as given (for storing with a session).
    pub raw: Option<Map<String, Value>>,
    pub expires_at: Option<i64>,
    pub max_ttl: Option<u64>,
    pub default_ttl: Option<u64>,
    pub restrictions: Option<Value>,
    pub requires_approval: Option<bool>,
}

/// Validates a `grant_policy` object against the keys this route accepts
/// (422 `invalid_grant_policy` otherwise): TTLs are integers > 0 (integral
/// floats accepted), `expires_at` RFC 3339 in the future, default ≤ max.
pub fn parse_policy(v: Option<&Value>, allowed: &[&str]) -> ApiResult<PolicyInput> {
    let bad = |m: &str| {
        ApiError::new(422, "invalid_grant_policy", m.to_string())
            .with("loc", vec!["body", "grant_policy"])
    };
    let m = match v {
        None | Some(Value::Null) => return Ok(PolicyInput::default()),
        Some(Value::Object(m)) => m,
        Some(_) => return Err(bad("grant_policy must be an object")),
    };
    if let Some(k) = m.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(bad(&format!(
            "grant_policy does not accept '{k}' here (allowed: {})",
            allowed.join(", ")
        )));
    }
    let ttl = |f: &str| -> ApiResult<Option<u64>> {
        match m.get(f) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => {
                let int = n.as_u64().or_else(|| {
                    n.as_f64()
                        .filter(|x| x.fract() == 0.0 && *x >= 1.0)
                        .map(|x| x as u64)
                });
                let n = int
                    .filter(|n| *n > 0)
                    .ok_or_else(|| bad(&format!("{f} must be a positive integer")))?;
                crate::util::bounded_ttl(n)
                    .map(Some)
                    .ok_or_else(|| bad(&crate::util::ttl_too_long(f)))
            }
            Some(_) => Err(bad(&format!("{f} must be a positive integer"))),
        }
    };
    let max_ttl = ttl("max_ttl_seconds")?;
    let default_ttl = ttl("default_ttl_seconds")?;
    if let (Some(d), Some(mx)) = (default_ttl, max_ttl) {
        if d > mx {
            return Err(bad("default_ttl_seconds must not exceed max_ttl_seconds"));
        }
    }
    let expires_at = match m.get("expires_at") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => {
            let e =
                parse_rfc3339(s).ok_or_else(|| bad("expires_at must be an ISO-8601 timestamp"))?;
            if e <= now() {
                return Err(bad("expires_at is in the past"));
            }
            Some(e)
        }
        Some(_) => return Err(bad("expires_at must be a string")),
    };
    let restrictions = match m.get("restrictions") {
        None | Some(Value::Null) => None,
        Some(Value::Object(r)) => Some(Value::Object(r.clone())),
        Some(_) => return Err(bad("restrictions must be an object")),
    };
    let requires_approval = match m.get("requires_approval") {
        None | Some(Value::Null) => None,
        Some(Value::Bool(b)) => Some(*b),
        Some(_) => return Err(bad("requires_approval must be a boolean")),
    };
    Ok(PolicyInput {
        raw: Some(m.clone()),
        expires_at,
        max_ttl,
        default_ttl,
        restrictions,
        requires_approval,
    })
}

/// The permission expiry from policy candidates: the earliest of an
/// absolute instant and lifetimes from `now`, capped at 5 years (the hard
/// ceiling, applied wherever a lifetime is computed; inferred beyond
/// delegations). `None` when nothing bounds it.
pub fn lifetime(now: i64, at: Option<i64>, ttl: Option<u64>, ttl2: Option<u64>) -> Option<i64> {
    let candidates = [at, ttl.map(|s| after(now, s)), ttl2.map(|s| after(now, s))];
    candidates
        .into_iter()
        .flatten()
        .min()
        .map(|e| e.min(now + FIVE_YEARS))
}

/// A grant's policy as list items and Connect results report it; `null`
/// when nothing was ever set.
pub fn policy_json(g: &Grant) -> Value {
    let p = &g.policy;
    if g.expires_at.is_none()
        && p.created_by.is_none()
        && p.max_ttl_seconds.is_none()
        && p.restrictions.is_none()
    {
        return Value::Null;
    }
    let mut m = Map::new();
    m.insert("expires_at".into(), json!(g.expires_at.map(rfc3339)));
    m.insert("created_by".into(), json!(p.created_by));
    m.insert("created_at".into(), json!(p.created_at.map(rfc3339)));
    if let Some(mx) = p.max_ttl_seconds {
        m.insert("max_ttl_seconds".into(), json!(mx));
    }
    if let Some(d) = p.default_ttl_seconds {
        m.insert("default_ttl_seconds".into(), json!(d));
    }
    if let Some(r) = &p.restrictions {
        m.insert("restrictions".into(), r.clone());
    }
    if g.hitl {
        m.insert("requires_approval".into(), json!(true));
    }
    Value::Object(m)
}

/// Projected status: revoked, expired (self or an ancestor), active.
pub fn projected_status(s: &VaultState, g: &Grant, t: i64) -> &'static str {
    let mut cur = Some(g);
    let mut expired = false;
    for _ in 0..16 {
        let Some(c) = cur else { break };
        if c.revoked_at.is_some() {
            return "revoked";
        }
        expired |= c.expires_at.is_some_and(|e| e <= t);
        cur = c.parent_grant_id.and_then(|p| s.grant(p));
    }
    if expired {
        "expired"
    } else {
        "active"
    }
}

/// The credential id a grant reports: the OAuth connection, or the managed
/// secret's credential (its provider id for the built-in one).
fn credential_id(g: &Grant) -> Uuid {
    match &g.kind {
        GrantKind::OAuth { connection_id } => *connection_id,
        GrantKind::ManagedSecret {
            managed_secret_id,
            credential_id,
        } => credential_id.unwrap_or(*managed_secret_id),
    }
}

/// `GrantInfo` (§2.5 response).
fn grant_info_json(s: &VaultState, g: &Grant, t: i64) -> Value {
    let conn = s.grant_account(g);
    let provider_id = match &g.kind {
        GrantKind::OAuth { .. } => s.grant_provider_id(g),
        GrantKind::ManagedSecret {
            managed_secret_id, ..
        } => s
            .managed_secret(*managed_secret_id)
            .map(|m| m.slug.clone())
            .unwrap_or_default(),
    };
    json!({
        "grant_id": g.grant_id.to_string(),
        "provider_id": provider_id,
        "scopes": conn.map(|c| c.scopes.clone()).unwrap_or_default(),
        "account_identifier": conn.and_then(|c| c.account_identifier.clone()),
        "account_display_name": conn.and_then(|c| c.account_display_name.clone()),
        "api_base_url": conn.and_then(|c| c.api_base_url.clone()),
        "status": projected_status(s, g, t),
        "scope_mismatch": g.scope_mismatch,
        "expires_at": conn.and_then(|c| c.token_expires_at).map(rfc3339),
        "created_at": rfc3339(g.created_at),
        "last_used_at": g.last_used_at.map(rfc3339),
        "principal_type": g.principal.type_name(),
        "label": g.label,
        "credential_id": credential_id(g).to_string(),
        "grant_policy": policy_json(g),
    })
}

/// Whether a user is the owner of (or a member behind) a root principal.
fn user_owns(s: &VaultState, root: &Grant, user: Uuid) -> bool {
    match &root.principal {
        Principal::User { user_id } => *user_id == user,
        Principal::Group {
            idp_id,
            external_group_id,
        } => {
            *idp_id == s.idp_id
                && s.user(user)
                    .is_some_and(|u| u.groups.contains(external_group_id))
        }
        _ => false,
    }
}

/// `POST /sdk/oauth/grants/{id}/revoke` (§2.3): revokes the grant and every
/// delegation beneath it; an OAuth connection no other live grant uses has
/// its token destroyed. Managed-secret grant ids are accepted too.
pub async fn revoke_grant(
    State(ctx): State<Arc<Ctx>>,
    Extension(auth): Extension<Arc<Auth>>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    // The catalog names no grant-write scope; reading access to the grant
    // is the least a revocation needs (inferred).
    auth.require(&["grants:read"])?;
    let map = if body.is_empty() {
        Map::new()
    } else {
        json_object(&body)?
    };
    let reason = opt_str(&map, "reason")?;
    let user = match opt_nonempty(&map, "user_token")? {
        Some(tok) => Some(verify_user_token(&ctx, &tok)?),
        None => None,
    };
    let t = now();
    ctx.store.write(|s| {
        let nf = || grant_not_found("grant not found, not active, or not yours to revoke");
        let gid = parse_uuid(&id).ok_or_else(nf)?;
        let g = s.grant(gid).ok_or_else(nf)?;
        if let Who::Agent(a) = auth.who() {
            if !agent_holds(g, a) {
                return Err(nf());
            }
        }
        if check_live(s, g, t).is_err() {
            return Err(nf());
        }
        if let Some(u) = user {
            if !user_owns(s, s.root_of(g), u) {
                return Err(nf());
            }
        }
        let provider_id = s.grant_provider_id(g);
        let connection = match g.kind {
            GrantKind::OAuth { connection_id } => Some(connection_id),
            GrantKind::ManagedSecret { .. } => None,
        };
        s.revoke_tree(gid, t, reason.as_deref());
        if let Some(cid) = connection {
            let still_used = s.grants.iter().any(|o| {
                matches!(o.kind, GrantKind::OAuth { connection_id } if connection_id == cid)
                    && o.revoked_at.is_none()
            });
            if !still_used {
                if let Some(conn) = s.connection_mut(cid) {
                    conn.access_token.clear();
                    conn.revoked = true;
                }
            }
        }
        let mut ev = event_for("grant_revoked", &auth);
        ev.grant_id = Some(gid);
        ev.provider_id = Some(provider_id);
        ev.user_id = user;
        ev.reason = reason.clone();
        s.push_audit(ev);
        Ok(Json(json!({
            "success": true,
            "message": "Grant revoked",
            "grant_id": gid.to_string(),
            "revoked_at": rfc3339(t),
        })))
    })
}

/// The delegation ceiling of a grant's credential family: (onward
/// delegation allowed, depth ceiling).
fn ceiling(s: &VaultState, g: &Grant) -> (bool, u32) {
    match &g.kind {
        GrantKind::OAuth { .. } => {
            let p = s.oauth_provider(&s.grant_provider_id(g));
            (
                p.is_some_and(|p| p.onward_sharing),
                p.and_then(|p| p.depth_ceiling)
                    .unwrap_or(MAX_DEPTH)
                    .min(MAX_DEPTH),
            )
        }
        GrantKind::ManagedSecret {
            managed_secret_id, ..
        } => {
            let m = s.managed_secret(*managed_secret_id);
            (
                m.is_some_and(|m| m.onward_delegation),
                m.and_then(|m| m.depth_ceiling)
                    .unwrap_or(MAX_DEPTH)
                    .min(MAX_DEPTH),
            )
        }
    }
}

/// A grant's effective provider scopes: the nearest scope constraint up the
/// chain (each was checked against its parent), else the credential's.
fn effective_scopes(s: &VaultState, g: &Grant) -> Vec<String> {
    let mut cur = Some(g);
    for _ in 0..16 {
        let Some(c) = cur else { break };
        if let Some(sc) = &c.scope_constraint {
            return sc.clone();
        }
        cur = c.parent_grant_id.and_then(|p| s.grant(p));
    }
    s.grant_account(g)
        .map(|c| c.scopes.clone())
        .unwrap_or_default()
}

fn not_delegable(reason: &str, message: &str) -> ApiError {
    ApiError::new(403, "grant_not_delegable", message.to_string()).with("detail_reason", reason)
}

/// `POST /sdk/grants/{id}/delegate` (§3.2, agent only).
pub async fn delegate(
    State(ctx): State<Arc<Ctx>>,
    Extension(auth): Extension<Arc<Auth>>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    let Some(me) = auth.agent_id else {
        return Err(ApiError::new(
            403,
            "agent_key_required",
            "delegate is an agent operation; call it with an agent identity",
        ));
    };
    auth.require(&["grants:read"])?;
    let map = json_object(&body)?;
    reject_unknown(
        &map,
        &[
            "to_agent_id",
            "delegable",
            "scope_constraint",
            "ttl_seconds",
        ],
    )?;
    let to = opt_nonempty(&map, "to_agent_id")?
        .ok_or_else(|| ApiError::validation("to_agent_id", "to_agent_id is required"))?;
    let delegable = opt_bool(&map, "delegable")?;
    let constraint = parse_constraint(map.get("scope_constraint"))?;
    let ttl = match map.get("ttl_seconds") {
        None | Some(Value::Null) => None,
        Some(v) => Some(v.as_u64().filter(|n| *n > 0).ok_or_else(|| {
            ApiError::validation("ttl_seconds", "ttl_seconds must be a positive integer")
        })?),
    };
    if ttl.is_some_and(|t| crate::util::bounded_ttl(t).is_none()) {
        return Err(ApiError::validation(
            "ttl_seconds",
            crate::util::ttl_too_long("ttl_seconds"),
        ));
    }
    let t = now();
    ctx.store.write(|s| {
        // The parent is what the caller holds, live; anything else is an
        // opaque 404.
        let nf = || grant_not_found("grant not found among the grants this agent holds");
        let gid = parse_uuid(&id).ok_or_else(nf)?;
        let held = s.grant(gid).filter(|g| agent_holds(g, me)).ok_or_else(nf)?;
        if check_live(s, held, t).is_err() {
            return Err(nf());
        }
        let target = parse_uuid(&to)
            .filter(|a| s.agent(*a).is_some_and(|a| a.status == AgentStatus::Active))
            .ok_or_else(|| {
                ApiError::not_found("agent_not_found", "to_agent_id is not an active agent of this app")
            })?;
        if target == me {
            return Err(ApiError::validation("to_agent_id", "an agent cannot delegate to itself"));
        }
        let root = s.root_of(held);
        if !matches!(root.principal, Principal::User { .. } | Principal::Group { .. }) {
            return Err(not_delegable(
                "no_consenting_user",
                "a grant made directly to an agent has no consenting user and cannot be delegated onward",
            ));
        }
        if !held.delegable {
            return Err(not_delegable(
                "holder_not_delegable",
                "the user did not allow onward sharing of this grant",
            ));
        }
        let (onward, max_depth) = ceiling(s, held);
        if !onward {
            return Err(not_delegable(
                "ceiling_off",
                "onward delegation is turned off for this provider",
            ));
        }
        let depth = held.depth + 1;
        if depth > max_depth {
            return Err(ApiError::new(
                422,
                "delegation_depth_exceeded",
                format!("a delegation at depth {depth} exceeds the ceiling of {max_depth}"),
            ));
        }
        if delegable == Some(true) && held.depth + 2 > max_depth {
            return Err(not_delegable(
                "no_onward_hop",
                "the new delegation could not delegate again within the depth ceiling",
            ));
        }
        let is_secret = matches!(held.kind, GrantKind::ManagedSecret { .. });
        if let Some(c) = &constraint {
            if is_secret {
                return Err(ApiError::new(
                    422,
                    "invalid_scope_constraint",
                    "managed-secret grants have no provider scopes to constrain",
                ));
            }
            let parent_scopes = effective_scopes(s, held);
            let outside: Vec<&String> = c
                .iter()
                .filter(|a| !parent_scopes.iter().any(|p| covers(p, a)))
                .collect();
            if !outside.is_empty() {
                return Err(ApiError::new(
                    422,
                    "invalid_scope_constraint",
                    "scope_constraint must lie within the delegating grant's scopes",
                )
                .with("invalid_scopes", json!(outside)));
            }
        }
        // Lifetimes only shrink down a chain.
        let cap = match &held.kind {
            GrantKind::ManagedSecret {
                managed_secret_id, ..
            } => s
                .managed_secret(*managed_secret_id)
                .and_then(|m| m.max_delegation_ttl_days)
                .map(|d| t + i64::from(d) * 86_400),
            GrantKind::OAuth { .. } => None,
        };
        let expires_at = [ttl.map(|x| after(t, x)), chain_expiry(s, held), cap]
            .into_iter()
            .flatten()
            .min()
            .map(|e| e.min(t + FIVE_YEARS));
        let held = held.clone();
        let existing = s.grants.iter().position(|c| {
            c.parent_grant_id == Some(gid)
                && c.principal == (Principal::Agent { agent_id: target })
                && c.revoked_at.is_none()
        });
        let (child_id, created) = match existing {
            Some(i) => {
                let c = &mut s.grants[i];
                if let Some(d) = delegable {
                    c.delegable = d;
                }
                if constraint.is_some() {
                    c.scope_constraint = constraint;
                }
                c.expires_at = expires_at;
                (c.grant_id, false)
            }
            None => {
                let mut c = Grant::new(held.kind.clone(), Principal::Agent { agent_id: target }, held.label.clone(), t);
                c.parent_grant_id = Some(gid);
                c.depth = depth;
                c.hitl = held.hitl;
                c.restricted = held.restricted;
                c.delegable = delegable.unwrap_or(false);
                c.scope_constraint = constraint;
                c.expires_at = expires_at;
                c.policy.created_at = Some(t);
                let id = c.grant_id;
                s.grants.push(c);
                (id, true)
            }
        };
        let c = s.grant(child_id).expect("just written");
        let body = json!({
            "grant_id": child_id.to_string(),
            "grant_kind": if is_secret { "managed_secret" } else { "oauth" },
            "parent_grant_id": gid.to_string(),
            "depth": c.depth,
            "delegable": c.delegable,
            "status": projected_status(s, c, t),
            "expires_at": c.expires_at.map(rfc3339),
        });
        let status = if created { StatusCode::CREATED } else { StatusCode::OK };
        Ok((status, Json(body)).into_response())
    })
}

/// `DELETE /sdk/grants/{id}/delegations/{agent_id|me}` (§3.3): revokes the
/// agent's delegation under the grant and everything beneath it.
/// Idempotent: nothing to revoke is a 204 too.
pub async fn revoke_delegation(
    State(ctx): State<Arc<Ctx>>,
    Extension(auth): Extension<Arc<Auth>>,
    Path((id, agent)): Path<(String, String)>,
) -> ApiResult<Response> {
    let self_path = agent == "me";
    let target = if self_path {
        auth.agent_id.ok_or_else(|| {
            ApiError::new(
                403,
                "agent_key_required",
                "the /me form needs an agent identity; the operator names the agent",
            )
        })?
    } else {
        if auth.agent_id.is_some() {
            return Err(ApiError::new(
                403,
                "use_self_revoke_path",
                "agents revoke their own delegation with /delegations/me",
            ));
        }
        match parse_uuid(&agent) {
            Some(a) => a,
            None => return Ok(StatusCode::NO_CONTENT.into_response()),
        }
    };
    auth.require(&["grants:read"])?;
    let t = now();
    let Some(gid) = parse_uuid(&id) else {
        return Ok(StatusCode::NO_CONTENT.into_response());
    };
    ctx.store.write(|s| {
        let mut children: Vec<Uuid> = s
            .grants
            .iter()
            .filter(|c| {
                c.parent_grant_id == Some(gid)
                    && c.principal == (Principal::Agent { agent_id: target })
                    && c.revoked_at.is_none()
            })
            .map(|c| c.grant_id)
            .collect();
        // An agent naming its own delegation (the id list_grants shows it)
        // rather than the grant it came from revokes that (inferred).
        if children.is_empty() && self_path {
            if let Some(g) = s.grant(gid) {
                if g.parent_grant_id.is_some() && agent_holds(g, target) && g.revoked_at.is_none() {
                    children.push(gid);
                }
            }
        }
        for c in children {
            s.revoke_tree(c, t, Some("delegation revoked"));
            let mut ev = event_for("delegation_revoked", &auth);
            ev.grant_id = Some(c);
            ev.agent_id = Some(target);
            s.push_audit(ev);
        }
    });
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// A principal object from the wire (§2.4).
enum PrincipalIn {
    User {
        user: Uuid,
        label: String,
    },
    Group {
        idp_id: String,
        group: String,
        label: String,
    },
    System {
        label: Option<String>,
    },
    Agent {
        label: Option<String>,
    },
}

fn parse_principal(ctx: &Ctx, v: Option<&Value>) -> ApiResult<PrincipalIn> {
    let bad = |m: &str| ApiError::validation("principal", m.to_string());
    let m = v
        .and_then(Value::as_object)
        .ok_or_else(|| bad("principal must be an object"))?;
    let kind = m.get("type").and_then(Value::as_str).unwrap_or("");
    let allowed: &[&str] = match kind {
        "user" => &["type", "user_token", "label"],
        "group" => &["type", "external_group_id", "idp_id", "label"],
        "system" | "agent" => &["type", "label"],
        _ => return Err(bad("principal.type must be user, group, system or agent")),
    };
    if let Some(k) = m.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(bad(&format!("principal does not accept '{k}'")));
    }
    let text = |f: &str, max: usize| -> ApiResult<Option<String>> {
        match m.get(f) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if !s.is_empty() && s.chars().count() <= max => {
                Ok(Some(s.clone()))
            }
            Some(_) => Err(bad(&format!("principal.{f} must be 1-{max} characters"))),
        }
    };
    let required = |f: &str, max: usize| -> ApiResult<String> {
        text(f, max)?.ok_or_else(|| bad(&format!("principal.{f} is required")))
    };
    Ok(match kind {
        "user" => {
            let token = required("user_token", 8192)?;
            let label = required("label", 255)?;
            PrincipalIn::User {
                user: verify_user_token(ctx, &token)?,
                label,
            }
        }
        "group" => PrincipalIn::Group {
            idp_id: required("idp_id", 255)?,
            group: required("external_group_id", 255)?,
            label: required("label", 255)?,
        },
        "system" => PrincipalIn::System {
            label: text("label", 255)?,
        },
        _ => PrincipalIn::Agent {
            label: text("label", 255)?,
        },
    })
}

/// `POST /sdk/managed-secrets/{id}/grants` (§2.4) with the local rule set:
/// app + user/group/system creates; app + agent is FastAPI's 422; an agent
/// identity creates for itself only.
pub async fn create_secret_grant(
    State(ctx): State<Arc<Ctx>>,
    Extension(auth): Extension<Arc<Auth>>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    auth.require(&["secrets:write"])?;
    let map = json_object(&body)?;
    reject_unknown(&map, &["principal", "grant_policy", "credential_id"])?;
    let principal_raw = map.get("principal").cloned().unwrap_or(Value::Null);
    let principal = parse_principal(&ctx, map.get("principal"))?;
    let policy = parse_policy(
        map.get("grant_policy"),
        &["expires_at", "max_ttl_seconds", "default_ttl_seconds"],
    )?;
    let credential = opt_nonempty(&map, "credential_id")?;
    match (auth.agent_id, &principal) {
        (None, PrincipalIn::Agent { .. }) => {
            return Err(ApiError::fastapi_422(
                &["body", "principal"],
                "union_tag_invalid",
                "AgentPrincipal is not accepted from an application key: agent-bound grants are an operator action",
                principal_raw,
            ))
        }
        (Some(_), PrincipalIn::Agent { .. }) | (None, _) => {}
        (Some(_), _) => {
            return Err(ApiError::new(
                403,
                "agent_principal_required",
                "an agent may only create a managed-secret grant for itself (AgentPrincipal)",
            ))
        }
    }
    let t = now();
    ctx.store.write(|s| {
        let m = parse_uuid(&id)
            .and_then(|i| s.managed_secret(i))
            .cloned()
            .ok_or_else(|| grant_not_found("no managed-secret provider with this id"))?;
        let (principal, label) = match principal {
            PrincipalIn::User { user, label } => (Principal::User { user_id: user }, Some(label)),
            PrincipalIn::Group { idp_id, group, label } => {
                if parse_uuid(&idp_id) != Some(s.idp_id) {
                    return Err(ApiError::validation(
                        "principal",
                        "principal.idp_id is not this app's identity provider",
                    ));
                }
                (
                    Principal::Group {
                        idp_id: s.idp_id,
                        external_group_id: group,
                    },
                    Some(label),
                )
            }
            PrincipalIn::System { label } => (Principal::System, label),
            PrincipalIn::Agent { label } => {
                let me = auth.agent_id.expect("matched above");
                if !s.agent(me).is_some_and(|a| a.allows_secret(&m.slug)) {
                    return Err(ApiError::new(
                        403,
                        "agent_scope_not_allowed",
                        "this agent's allowlist does not include the managed secret",
                    )
                    .with("managed_secret_slug", m.slug.as_str()));
                }
                (Principal::Agent { agent_id: me }, label)
            }
        };
        // Credential selection among the provider's developer credentials.
        let developer: Vec<(Uuid, Option<String>)> = std::iter::once((m.managed_secret_id, Some(m.name.clone())))
            .chain(
                s.credentials
                    .iter()
                    .filter(|c| c.managed_secret_id == m.managed_secret_id && c.kind == "developer" && c.active)
                    .map(|c| (c.credential_id, c.label.clone())),
            )
            .collect();
        let chosen: Option<Uuid> = match &credential {
            None if developer.len() > 1 => {
                let list: Vec<Value> = developer
                    .iter()
                    .map(|(id, label)| json!({"id": id.to_string(), "label": label}))
                    .collect();
                return Err(ApiError::new(
                    409,
                    "credential_id_required",
                    "this provider has several developer credentials; pass credential_id",
                )
                .with("details", json!({ "credentials": list })));
            }
            None => None,
            Some(raw) => {
                let cid = parse_uuid(raw).ok_or_else(|| grant_not_found("no such credential"))?;
                if cid == m.managed_secret_id {
                    None
                } else {
                    match s.credentials.iter().find(|c| c.credential_id == cid && c.managed_secret_id == m.managed_secret_id) {
                        Some(c) if c.kind == "end_user" => {
                            return Err(ApiError::new(
                                409,
                                "end_user_credential_not_assignable",
                                "this credential is an end user's own key",
                            ))
                        }
                        Some(c) if c.active => Some(cid),
                        _ => return Err(grant_not_found("credential_id is not an active credential of this provider")),
                    }
                }
            }
        };
        let conflict = label.is_some()
            && s.grants.iter().any(|g| {
                g.revoked_at.is_none()
                    && g.principal == principal
                    && g.label == label
                    && matches!(g.kind, GrantKind::ManagedSecret { managed_secret_id, .. } if managed_secret_id == m.managed_secret_id)
            });
        if conflict {
            return Err(ApiError::new(
                409,
                "sibling_label_conflict",
                "the principal already holds a grant with this label on the provider",
            )
            .with("label", label.clone()));
        }
        let mut g = Grant::new(
            GrantKind::ManagedSecret {
                managed_secret_id: m.managed_secret_id,
                credential_id: chosen,
            },
            principal,
            label,
            t,
        );
        g.hitl = m.hitl;
        g.expires_at = lifetime(t, policy.expires_at, policy.max_ttl, policy.default_ttl);
        g.policy.created_by = Some("developer".into());
        g.policy.created_at = Some(t);
        g.policy.max_ttl_seconds = policy.max_ttl;
        g.policy.default_ttl_seconds = policy.default_ttl;
        let out = json!({
            "grant_id": g.grant_id.to_string(),
            "principal_type": g.principal.type_name(),
            "label": g.label,
            "created_at": rfc3339(t),
            "credential_id": chosen.unwrap_or(m.managed_secret_id).to_string(),
        });
        s.grants.push(g);
        Ok((StatusCode::CREATED, Json(out)).into_response())
    })
}

/// `POST /sdk/grants/{id}/mint` (§2.5, App only): a sibling on the source
/// grant's credential, same principal, a policy that only tightens.
pub async fn mint(
    State(ctx): State<Arc<Ctx>>,
    Extension(auth): Extension<Arc<Auth>>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    if auth.agent_id.is_some() {
        return Err(ApiError::new(
            403,
            "agents_cannot_mint",
            "agents cannot mint grants",
        ));
    }
    auth.require(&["grants:read"])?;
    let map = json_object(&body)?;
    reject_unknown(&map, &["label", "grant_policy", "grant_tags"])?;
    let label = opt_nonempty(&map, "label")?
        .filter(|l| l.chars().count() <= 255)
        .ok_or_else(|| ApiError::validation("label", "label must be 1-255 characters"))?;
    let policy = parse_policy(
        map.get("grant_policy"),
        &[
            "expires_at",
            "max_ttl_seconds",
            "restrictions",
            "requires_approval",
        ],
    )?;
    let tags: Vec<String> = match map.get("grant_tags") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) if a.iter().all(|x| x.as_str().is_some_and(|x| !x.is_empty())) => a
            .iter()
            .filter_map(|x| x.as_str().map(str::to_string))
            .collect(),
        Some(_) => {
            return Err(ApiError::validation(
                "grant_tags",
                "grant_tags must be non-empty strings",
            ))
        }
    };
    let t = now();
    ctx.store.write(|s| {
        let nf = || grant_not_found("source grant not found or not active");
        let src = parse_uuid(&id)
            .and_then(|g| s.grant(g))
            .filter(|g| g.parent_grant_id.is_none() && check_live(s, g, t).is_ok())
            .cloned()
            .ok_or_else(nf)?;
        if src.restricted {
            return Err(ApiError::new(
                403,
                "mint_source_has_grant_rules",
                "the source grant carries grant-level rules; mint from an unrestricted grant",
            ));
        }
        let same_credential = |g: &Grant| match (&g.kind, &src.kind) {
            (GrantKind::OAuth { connection_id: a }, GrantKind::OAuth { connection_id: b }) => {
                a == b
            }
            (
                GrantKind::ManagedSecret {
                    managed_secret_id: a,
                    credential_id: ca,
                },
                GrantKind::ManagedSecret {
                    managed_secret_id: b,
                    credential_id: cb,
                },
            ) => a == b && ca == cb,
            _ => false,
        };
        if s.grants.iter().any(|g| {
            g.revoked_at.is_none()
                && same_credential(g)
                && g.label.as_deref() == Some(label.as_str())
        }) {
            return Err(ApiError::new(
                409,
                "sibling_label_conflict",
                "an active sibling already uses this label",
            )
            .with("label", label.as_str()));
        }
        let mut g = Grant::new(
            src.kind.clone(),
            src.principal.clone(),
            Some(label.clone()),
            t,
        );
        let own = lifetime(t, policy.expires_at, policy.max_ttl, None);
        g.expires_at = match (own, src.expires_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        g.hitl = src.hitl || policy.requires_approval == Some(true);
        g.restricted = policy.restrictions.is_some();
        g.policy.restrictions = policy.restrictions.clone();
        g.policy.max_ttl_seconds = policy.max_ttl;
        g.policy.created_by = Some("developer".into());
        g.policy.created_at = Some(t);
        g.tags = tags;
        let out = grant_info_json(s, &g, t);
        s.grants.push(g);
        Ok((StatusCode::CREATED, Json(out)).into_response())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_are_validated() {
        let ok = parse_policy(
            Some(&json!({"max_ttl_seconds": 60.0, "default_ttl_seconds": 30})),
            &["max_ttl_seconds", "default_ttl_seconds"],
        )
        .unwrap();
        assert_eq!((ok.max_ttl, ok.default_ttl), (Some(60), Some(30)));
        for bad in [
            json!({"maxTtlSeconds": 1}),
            json!({"max_ttl_seconds": 60.5}),
            json!({"max_ttl_seconds": 0}),
            json!({"max_ttl_seconds": true}),
            json!({"max_ttl_seconds": 10, "default_ttl_seconds": 20}),
            json!({"expires_at": "2000-01-01T00:00:00Z"}),
            json!({"expires_at": "soon"}),
            json!([1]),
        ] {
            let e = parse_policy(
                Some(&bad),
                &["expires_at", "max_ttl_seconds", "default_ttl_seconds"],
            )
            .unwrap_err();
            assert_eq!(e.code(), "invalid_grant_policy", "{bad}");
        }
    }

    #[test]
    fn lifetimes_take_the_earliest_and_the_ceiling() {
        assert_eq!(lifetime(0, None, None, None), None);
        assert_eq!(lifetime(0, Some(500), Some(100), None), Some(100));
        assert_eq!(lifetime(0, None, Some(u64::MAX), None), Some(FIVE_YEARS));
    }
}
