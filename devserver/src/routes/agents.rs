//! Managed agents and their keys (agents-and-keys.md §5, §12).

use crate::auth::{key_row, Auth, AGENT_KEY_SCOPES};
use crate::ctx::Ctx;
use crate::error::{json_object, opt_str, ApiError, ApiResult};
use crate::state::{Agent, AgentStatus, ApiKey, IdempotencyRecord, State as VaultState};
use crate::util::{now, parse_uuid, rfc3339, sha256_hex};
use alter_core::keys::{generate_key, KeyKind};
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use bytes::Bytes;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::sync::Arc;
use uuid::Uuid;

/// Cap on non-revoked keys per agent (inferred default).
const KEY_CAP: usize = 5;

/// Renders `AgentInfo`. Approver addresses in the policy are replaced by a
/// count, as the backend does in responses.
pub fn agent_json(a: &Agent) -> Value {
    fn redact(v: &Value) -> Value {
        match v {
            Value::Object(m) => {
                let mut out = Map::new();
                for (k, v) in m {
                    match (k.as_str(), v) {
                        ("approvers", Value::Array(list)) => {
                            out.insert("approvers_count".into(), json!(list.len()));
                        }
                        _ => {
                            out.insert(k.clone(), redact(v));
                        }
                    }
                }
                Value::Object(out)
            }
            Value::Array(a) => Value::Array(a.iter().map(redact).collect()),
            other => other.clone(),
        }
    }
    json!({
        "id": a.id.to_string(),
        "name": a.name,
        "display_name": a.display_name,
        "type": a.kind,
        "status": a.status.as_str(),
        "scopes": a.scopes.clone().unwrap_or_default(),
        "scopes_pending": a.scopes_pending,
        "scopes_applies_at": a.scopes_applies_at.map(rfc3339),
        "policy": redact(&Value::Object(a.policy.clone())),
        "metadata": a.metadata,
        "rate_limit_per_minute": a.rate_limit_per_minute,
        "version": a.version,
        "created_at": rfc3339(a.created_at),
        "last_used_at": a.last_used_at.map(rfc3339),
        "parent_agent_id": null,
        "stored_legacy_managed_secret_names": [],
    })
}

/// Renders `AgentKey`.
fn key_json(k: &ApiKey) -> Value {
    json!({
        "key_id": k.key_id.to_string(),
        "key_prefix": k.key_prefix,
        "name": k.name,
        "created_at": rfc3339(k.created_at),
        "deprecated_at": k.deprecated_at.map(rfc3339),
        "revoked_at": k.revoked_at.map(rfc3339),
        "last_used_at": k.last_used_at.map(rfc3339),
    })
}

/// Control-plane routes are for app keys; an agent's own key is refused.
fn operator(auth: &Auth, scope: &str) -> ApiResult<()> {
    if auth.key_agent.is_some() {
        return Err(ApiError::new(
            403,
            "agent_cannot_mint_subagents",
            "agent keys cannot manage agents",
        ));
    }
    auth.require(&[scope])
}

fn agent_not_found() -> ApiError {
    ApiError::not_found(
        "agent_not_found",
        "No managed agent with this id in this app",
    )
}

fn find_agent(s: &VaultState, id: &str) -> ApiResult<Uuid> {
    let id = parse_uuid(id).ok_or_else(agent_not_found)?;
    s.agent(id).map(|a| a.id).ok_or_else(agent_not_found)
}

/// Agent names: lower-case letters, digits, `-` and `_`, 1–64 characters,
/// starting with a letter or digit (the exact backend regex is inferred).
fn valid_name(n: &str) -> bool {
    let b = n.as_bytes();
    !b.is_empty()
        && b.len() <= 64
        && (b[0].is_ascii_lowercase() || b[0].is_ascii_digit())
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-' || *c == b'_')
}

/// Validates the provider allowlist (`scopes` on create/update).
fn parse_scopes(v: Option<&Value>) -> ApiResult<Option<Map<String, Value>>> {
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    let map = v
        .as_object()
        .ok_or_else(|| ApiError::validation("scopes", "scopes must be an object"))?;
    for (k, list) in map {
        if k == "managed_secrets" {
            return Err(ApiError::new(
                422,
                "legacy_managed_secret_name_rejected",
                "use managed_secret_slugs; managed_secrets accepts no new entries",
            ));
        }
        let items_ok = list.as_array().is_some_and(|a| {
            !a.is_empty()
                && a.iter()
                    .all(|i| i.as_str().is_some_and(|s| !s.is_empty() && s.trim() == s))
        });
        if k.is_empty() || k.trim() != k || !items_ok {
            return Err(ApiError::validation(
                "scopes",
                format!("scopes['{k}'] must be a non-empty list of non-empty strings"),
            ));
        }
    }
    Ok(Some(map.clone()))
}

fn opt_object(map: &Map<String, Value>, field: &str) -> ApiResult<Option<Map<String, Value>>> {
    match map.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(o)) => Ok(Some(o.clone())),
        Some(_) => Err(ApiError::validation(
            field,
            format!("{field} must be an object"),
        )),
    }
}

/// Canonical JSON (keys sorted at every level), so an idempotent replay
/// matches whatever key order the client used.
fn canonical(v: &Value) -> String {
    fn sort(v: &Value) -> Value {
        match v {
            Value::Object(m) => {
                let sorted: BTreeMap<&String, Value> =
                    m.iter().map(|(k, v)| (k, sort(v))).collect();
                let mut out = Map::new();
                for (k, v) in sorted {
                    out.insert(k.clone(), v);
                }
                Value::Object(out)
            }
            Value::Array(a) => Value::Array(a.iter().map(sort).collect()),
            other => other.clone(),
        }
    }
    sort(v).to_string()
}

/// Mints a managed-agent key (legacy format, as the backend does today).
fn mint(s: &mut VaultState, agent_id: Uuid) -> (ApiKey, String) {
    let agent = s.agent_mut(agent_id).expect("caller checked");
    agent.keys_minted += 1;
    let name = format!("{}-{}", agent.name, agent.keys_minted);
    let plaintext = generate_key(KeyKind::Legacy);
    let row = key_row(&plaintext, Some(agent_id), "ak", name, AGENT_KEY_SCOPES);
    s.keys.push(row.clone());
    (row, plaintext)
}

pub async fn create(
    State(ctx): State<Arc<Ctx>>,
    Extension(auth): Extension<Arc<Auth>>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    operator(&auth, "agents:write")?;
    let map = json_object(&body)?;
    let name = match map.get("name") {
        Some(Value::String(n)) if valid_name(n) => n.clone(),
        _ => {
            return Err(ApiError::validation(
                "name",
                "name must be 1-64 characters of a-z, 0-9, '-' and '_'",
            ))
        }
    };
    let kind = opt_str(&map, "type")?.unwrap_or_else(|| "agent".into());
    if kind != "agent" && kind != "service" {
        return Err(ApiError::validation(
            "type",
            "type must be 'agent' or 'service'",
        ));
    }
    let scopes = parse_scopes(map.get("scopes"))?;
    let metadata = opt_object(&map, "metadata")?.unwrap_or_default();
    let policy = opt_object(&map, "policy")?.unwrap_or_default();
    let display_name = opt_str(&map, "display_name")?;
    let idem = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let digest = sha256_hex(canonical(&Value::Object(map.clone())).as_bytes());
    let t = now();

    ctx.store.write(|s| {
        if let Some(key) = &idem {
            if let Some(rec) = s.idempotency.iter().find(|r| &r.key == key) {
                if rec.body_digest != digest {
                    return Err(ApiError::new(
                        409,
                        "idempotency_key_body_mismatch",
                        "this Idempotency-Key was used with a different body",
                    ));
                }
                let a = s.agent(rec.agent_id).ok_or_else(agent_not_found)?;
                match a.status {
                    AgentStatus::Revoked => {
                        return Err(ApiError::new(
                            409,
                            "idempotency_key_agent_revoked",
                            "the agent created with this Idempotency-Key has been revoked",
                        ))
                    }
                    AgentStatus::Inactive => {
                        return Err(ApiError::new(
                            409,
                            "idempotency_key_agent_inactive",
                            "the agent created with this Idempotency-Key is paused",
                        ))
                    }
                    AgentStatus::Active => {}
                }
                let mut out = agent_json(a);
                out["api_key"] = Value::Null;
                out["key_id"] = json!(rec.key_id.to_string());
                return Ok((StatusCode::OK, Json(out)).into_response());
            }
        }
        if s.agents
            .iter()
            .any(|a| a.name == name && a.status != AgentStatus::Revoked)
        {
            return Err(ApiError::new(
                409,
                "agent_name_exists",
                format!("an agent named '{name}' already exists"),
            ));
        }
        let agent = Agent {
            id: Uuid::new_v4(),
            name: name.clone(),
            display_name,
            kind,
            status: AgentStatus::Active,
            scopes,
            policy,
            metadata,
            rate_limit_per_minute: None,
            version: 1,
            created_at: t,
            last_used_at: None,
            keys_minted: 0,
            scopes_pending: None,
            scopes_applies_at: None,
        };
        let id = agent.id;
        s.agents.push(agent);
        let (row, plaintext) = mint(s, id);
        if let Some(key) = idem {
            s.idempotency.push(IdempotencyRecord {
                key,
                body_digest: digest,
                agent_id: id,
                key_id: row.key_id,
            });
        }
        let mut out = agent_json(s.agent(id).expect("just added"));
        out["api_key"] = json!(plaintext);
        out["key_id"] = json!(row.key_id.to_string());
        // 201 for a creation, 200 for an idempotent replay (inferred; the
        // client accepts any 2xx).
        Ok((StatusCode::CREATED, Json(out)).into_response())
    })
}

fn query_pairs(q: Option<&str>) -> Vec<(String, String)> {
    url::form_urlencoded::parse(q.unwrap_or("").as_bytes())
        .into_owned()
        .collect()
}

fn query_int(
    pairs: &[(String, String)],
    name: &str,
    default: i64,
    min: i64,
    max: i64,
) -> ApiResult<i64> {
    match pairs.iter().find(|(k, _)| k == name) {
        None => Ok(default),
        Some((_, v)) => v
            .parse::<i64>()
            .ok()
            .filter(|n| (min..=max).contains(n))
            .ok_or_else(|| {
                ApiError::new(
                    422,
                    "validation_error",
                    format!("{name} must be an integer from {min} to {max}"),
                )
                .with("loc", vec!["query", name])
            }),
    }
}

pub async fn list(
    State(ctx): State<Arc<Ctx>>,
    Extension(auth): Extension<Arc<Auth>>,
    RawQuery(q): RawQuery,
) -> ApiResult<Json<Value>> {
    operator(&auth, "agents:read")?;
    let pairs = query_pairs(q.as_deref());
    let name = pairs
        .iter()
        .find(|(k, _)| k == "name")
        .map(|(_, v)| v.clone());
    let include_revoked = pairs
        .iter()
        .any(|(k, v)| k == "include_revoked" && v == "true");
    let limit = query_int(&pairs, "limit", 100, 1, 1000)?;
    let offset = query_int(&pairs, "offset", 0, 0, i64::MAX)?;
    Ok(Json(ctx.store.read(|s| {
        let matching: Vec<&Agent> = s
            .agents
            .iter()
            .filter(|a| match &name {
                // A name lookup sees paused agents but never revoked ones.
                Some(n) => &a.name == n && a.status != AgentStatus::Revoked,
                None => include_revoked || a.status != AgentStatus::Revoked,
            })
            .collect();
        let total = matching.len();
        let items: Vec<Value> = matching
            .iter()
            .skip(offset as usize)
            .take(limit as usize)
            .map(|a| agent_json(a))
            .collect();
        let has_more = (offset as usize) + items.len() < total;
        json!({"items": items, "total": total, "limit": limit, "offset": offset, "has_more": has_more})
    })))
}

pub async fn get(
    State(ctx): State<Arc<Ctx>>,
    Extension(auth): Extension<Arc<Auth>>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    operator(&auth, "agents:read")?;
    ctx.store.read(|s| {
        let id = find_agent(s, &id)?;
        Ok(Json(agent_json(s.agent(id).expect("found"))))
    })
}

/// `GET /sdk/agents/me`: the agent behind the key (or the one an app key
/// impersonates). A paused agent may call it; the middleware lets it through.
pub async fn me(
    State(ctx): State<Arc<Ctx>>,
    Extension(auth): Extension<Arc<Auth>>,
) -> ApiResult<Json<Value>> {
    let Some(id) = auth.agent_id else {
        return Err(ApiError::new(
            403,
            "me_requires_agent_key",
            "me() needs an agent key (or an app key naming an agent caller)",
        ));
    };
    ctx.store.read(|s| {
        s.agent(id)
            .map(|a| Json(agent_json(a)))
            .ok_or_else(agent_not_found)
    })
}

pub async fn update(
    State(ctx): State<Arc<Ctx>>,
    Extension(auth): Extension<Arc<Auth>>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    operator(&auth, "agents:write")?;
    let map = json_object(&body)?;
    let pairs = query_pairs(q.as_deref());
    let expected_version = match pairs.iter().find(|(k, _)| k == "expected_version") {
        Some(_) => Some(query_int(&pairs, "expected_version", 1, 1, i64::MAX)? as u64),
        None => None,
    };
    // Narrowing is staged for this long; 24 h unless given, 0 = at once.
    let grace = query_int(&pairs, "grace_seconds", 86_400, 0, 604_800)?;
    let t = now();
    let status = match opt_str(&map, "status")?.as_deref() {
        None => None,
        Some("active") => Some(AgentStatus::Active),
        Some("inactive") => Some(AgentStatus::Inactive),
        Some(_) => {
            return Err(ApiError::validation(
                "status",
                "status must be 'active' or 'inactive' (use DELETE to revoke)",
            ))
        }
    };
    let display_name = opt_str(&map, "display_name")?;
    let metadata = opt_object(&map, "metadata")?;
    let policy = opt_object(&map, "policy")?;
    let scopes = parse_scopes(map.get("scopes"))?;
    ctx.store.write(|s| {
        let id = find_agent(s, &id)?;
        let a = s.agent_mut(id).expect("found");
        if a.status == AgentStatus::Revoked {
            return Err(agent_not_found());
        }
        if expected_version.is_some_and(|v| v != a.version) {
            return Err(ApiError::new(
                409,
                "agent_concurrent_update",
                "expected_version does not match the agent's current version",
            )
            .with("current_version", a.version));
        }
        let mut changed = false;
        if let Some(st) = status {
            changed |= a.status != st;
            a.status = st;
        }
        if let Some(d) = display_name {
            changed |= a.display_name.as_deref() != Some(d.as_str());
            a.display_name = Some(d);
        }
        if let Some(m) = metadata {
            changed |= a.metadata != m;
            a.metadata = m;
        }
        if let Some(p) = policy {
            changed |= a.policy != p;
            a.policy = p;
        }
        if let Some(sc) = scopes {
            let (current, pending) = stage_scopes(a.scopes.as_ref(), sc, grace);
            let applies_at = pending.as_ref().map(|_| t + grace);
            changed |= a.scopes.as_ref() != Some(&current)
                || a.scopes_pending != pending
                || a.scopes_applies_at != applies_at;
            a.scopes = Some(current);
            a.scopes_pending = pending;
            a.scopes_applies_at = applies_at;
        }
        if changed {
            a.version += 1;
        }
        Ok(Json(agent_json(a)))
    })
}

/// Splits a new allowlist into what applies now and what is staged
/// (agents-and-keys.md §5.4): broadening applies at once, narrowing waits
/// for the grace. The part in force meanwhile is the union of old and new,
/// so a mixed change broadens now and narrows later. An agent without an
/// allowlist takes the new one at once (there is nothing to narrow from).
fn stage_scopes(
    old: Option<&Map<String, Value>>,
    new: Map<String, Value>,
    grace: i64,
) -> (Map<String, Value>, Option<Map<String, Value>>) {
    let Some(old) = old else {
        return (new, None);
    };
    let mut union = old.clone();
    for (k, v) in &new {
        let list = union.entry(k.clone()).or_insert_with(|| json!([]));
        if let (Some(have), Some(add)) = (list.as_array_mut(), v.as_array()) {
            for item in add {
                if !have.contains(item) {
                    have.push(item.clone());
                }
            }
        }
    }
    if grace == 0 || union == new {
        (new, None)
    } else {
        (union, Some(new))
    }
}

/// Terminal and idempotent: revokes the agent and all its keys.
pub async fn delete(
    State(ctx): State<Arc<Ctx>>,
    Extension(auth): Extension<Arc<Auth>>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    operator(&auth, "agents:write")?;
    let t = now();
    ctx.store.write(|s| {
        let id = find_agent(s, &id)?;
        let a = s.agent_mut(id).expect("found");
        if a.status != AgentStatus::Revoked {
            a.status = AgentStatus::Revoked;
            a.version += 1;
            for k in s.keys.iter_mut().filter(|k| k.agent_id == Some(id)) {
                k.revoked_at.get_or_insert(t);
            }
        }
        Ok(Json(agent_json(s.agent(id).expect("found"))))
    })
}

/// An agent that can take key operations: exists and is not revoked.
fn live_agent(s: &VaultState, id: &str) -> ApiResult<Uuid> {
    let id = find_agent(s, id)?;
    if s.agent(id).expect("found").status == AgentStatus::Revoked {
        return Err(agent_not_found());
    }
    Ok(id)
}

pub async fn mint_key(
    State(ctx): State<Arc<Ctx>>,
    Extension(auth): Extension<Arc<Auth>>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    operator(&auth, "agents:write")?;
    ctx.store.write(|s| {
        let id = live_agent(s, &id)?;
        let live = s
            .keys
            .iter()
            .filter(|k| k.agent_id == Some(id) && k.revoked_at.is_none())
            .count();
        if live >= KEY_CAP {
            return Err(ApiError::new(
                409,
                "agent_key_limit_reached",
                format!("an agent may hold at most {KEY_CAP} non-revoked keys"),
            ));
        }
        let (row, plaintext) = mint(s, id);
        let mut out = key_json(&row);
        out["api_key"] = json!(plaintext);
        Ok((StatusCode::CREATED, Json(out)).into_response())
    })
}

pub async fn list_keys(
    State(ctx): State<Arc<Ctx>>,
    Extension(auth): Extension<Arc<Auth>>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    operator(&auth, "agents:read")?;
    ctx.store.read(|s| {
        let id = find_agent(s, &id)?;
        let items: Vec<Value> = s
            .keys
            .iter()
            .filter(|k| k.agent_id == Some(id))
            .map(key_json)
            .collect();
        Ok(Json(json!({ "items": items })))
    })
}

fn agent_key_mut<'a>(s: &'a mut VaultState, agent: Uuid, key: &str) -> ApiResult<&'a mut ApiKey> {
    let key = parse_uuid(key);
    s.keys
        .iter_mut()
        .find(|k| Some(k.key_id) == key && k.agent_id == Some(agent))
        .ok_or_else(|| ApiError::not_found("key_not_found", "no such key for this agent"))
}

pub async fn revoke_key(
    State(ctx): State<Arc<Ctx>>,
    Extension(auth): Extension<Arc<Auth>>,
    Path((id, key_id)): Path<(String, String)>,
    RawQuery(q): RawQuery,
) -> ApiResult<Json<Value>> {
    operator(&auth, "agents:write")?;
    let force = query_pairs(q.as_deref())
        .iter()
        .any(|(k, v)| k == "force" && v == "true");
    let t = now();
    ctx.store.write(|s| {
        let agent = find_agent(s, &id)?;
        let others_live = {
            let target = parse_uuid(&key_id);
            s.keys
                .iter()
                .filter(|k| {
                    k.agent_id == Some(agent) && k.revoked_at.is_none() && Some(k.key_id) != target
                })
                .count()
        };
        let key = agent_key_mut(s, agent, &key_id)?;
        if key.revoked_at.is_none() {
            if others_live == 0 && !force {
                return Err(ApiError::new(
                    409,
                    "last_active_key",
                    "this is the agent's last active key; pass force=true to revoke it",
                ));
            }
            key.revoked_at = Some(t);
        }
        Ok(Json(key_json(key)))
    })
}

fn set_deprecated(
    ctx: &Ctx,
    auth: &Auth,
    id: &str,
    key_id: &str,
    on: bool,
) -> ApiResult<Json<Value>> {
    operator(auth, "agents:write")?;
    let t = now();
    ctx.store.write(|s| {
        let agent = live_agent(s, id)?;
        let key = agent_key_mut(s, agent, key_id)?;
        if key.revoked_at.is_some() {
            return Err(ApiError::new(409, "key_revoked", "the key is revoked"));
        }
        if on {
            key.deprecated_at.get_or_insert(t);
        } else {
            key.deprecated_at = None;
        }
        Ok(Json(key_json(key)))
    })
}

pub async fn deprecate_key(
    State(ctx): State<Arc<Ctx>>,
    Extension(auth): Extension<Arc<Auth>>,
    Path((id, key_id)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    set_deprecated(&ctx, &auth, &id, &key_id, true)
}

pub async fn undeprecate_key(
    State(ctx): State<Arc<Ctx>>,
    Extension(auth): Extension<Arc<Auth>>,
    Path((id, key_id)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    set_deprecated(&ctx, &auth, &id, &key_id, false)
}
