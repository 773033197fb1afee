//! Scoped API keys (agents-and-keys.md §6): derive, rotate, revoke. Keys
//! are stored only as a digest plus the derived signing key; the plaintext
//! is answered once.

use crate::auth::{implied, key_row, Auth};
use crate::ctx::Ctx;
use crate::error::{json_object, opt_nonempty, ApiError, ApiResult};
use crate::state::{ApiKey, State as VaultState};
use crate::util::{now, parse_uuid, rfc3339, Cidr};
use alter_core::keys::{generate_key, KeyKind};
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use bytes::Bytes;
use serde_json::{json, Value};
use std::sync::Arc;
use time::OffsetDateTime;
use uuid::Uuid;

/// The org policy `max_derived_key_ttl_hours` (default 24 h).
const MAX_DERIVED_TTL: i64 = 24 * 3600;

/// `APIKeyInfo`.
pub fn key_info_json(s: &VaultState, k: &ApiKey) -> Value {
    let agent_limit = k
        .agent_id
        .and_then(|a| s.agent(a))
        .and_then(|a| a.rate_limit_per_minute);
    // Both present or both null. An agent's limit is reported as the key's
    // (inferred); the local vault has no org or platform default.
    let (effective, source) = match (k.rate_limit_rpm, agent_limit) {
        (Some(r), _) | (None, Some(r)) => (Some(r), Some("key")),
        (None, None) => (None, None),
    };
    json!({
        "id": k.key_id.to_string(),
        "name": k.name,
        "key_prefix": k.key_prefix,
        "key_type": k.key_type,
        "scopes": k.scopes,
        "scope_version": 1,
        "cidr_allowlist": k.cidr_allowlist,
        "rate_limit_rpm": k.rate_limit_rpm,
        "effective_rate_limit_rpm": effective,
        "rate_limit_source": source,
        "expires_at": k.expires_at.map(rfc3339),
        "deprecated_at": k.deprecated_at.map(rfc3339),
        "revoked_at": k.revoked_at.map(rfc3339),
        "parent_key_id": k.parent_key_id.map(|p| p.to_string()),
        "created_at": rfc3339(k.created_at),
        "last_used_at": k.last_used_at.map(rfc3339),
    })
}

fn minted(s: &VaultState, k: &ApiKey, plaintext: &str) -> Response {
    let mut out = key_info_json(s, k);
    out["api_key"] = json!(plaintext);
    (StatusCode::CREATED, Json(out)).into_response()
}

fn invalid_scope(msg: String) -> ApiError {
    ApiError::new(400, "invalid_scope_for_derived_key", msg)
}

fn default_name(t: i64) -> String {
    let d = OffsetDateTime::from_unix_timestamp(t).unwrap_or(OffsetDateTime::UNIX_EPOCH);
    format!(
        "derived-{:04}{:02}{:02}-{:02}{:02}{:02}",
        d.year(),
        u8::from(d.month()),
        d.day(),
        d.hour(),
        d.minute(),
        d.second()
    )
}

/// `POST /sdk/keys/derive`: a `dk` key whose scopes lie within the caller's
/// effective scopes, lifetime capped at 24 h and the caller's own, CIDR
/// list within the caller's. `rate_limit_rpm` (the product docs' argument)
/// is accepted and may not exceed the caller's.
pub async fn derive(
    State(ctx): State<Arc<Ctx>>,
    Extension(auth): Extension<Arc<Auth>>,
    body: Bytes,
) -> ApiResult<Response> {
    auth.require(&["keys:derive"])?;
    let map = json_object(&body)?;
    let scopes: Vec<String> = match map.get("scopes") {
        Some(Value::Array(a))
            if !a.is_empty() && a.iter().all(|s| s.as_str().is_some_and(|s| !s.is_empty())) =>
        {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        }
        _ => {
            return Err(ApiError::validation(
                "scopes",
                "scopes must be a non-empty list of scopes",
            ))
        }
    };
    let expires_in = map
        .get("expires_in")
        .and_then(Value::as_u64)
        .filter(|n| *n > 0)
        .ok_or_else(|| {
            ApiError::validation("expires_in", "expires_in must be a positive integer")
        })?;
    let expires_in = crate::util::bounded_ttl(expires_in).ok_or_else(|| {
        ApiError::validation("expires_in", crate::util::ttl_too_long("expires_in"))
    })?;
    let cidrs: Option<Vec<Cidr>> = match map.get("cidr_allowlist") {
        None | Some(Value::Null) => None,
        Some(Value::Array(a)) => Some(
            a.iter()
                .map(|c| c.as_str().and_then(Cidr::parse))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| {
                    ApiError::new(
                        400,
                        "invalid_cidr_allowlist",
                        "cidr_allowlist entries must be CIDR blocks",
                    )
                })?,
        ),
        Some(_) => {
            return Err(ApiError::validation(
                "cidr_allowlist",
                "cidr_allowlist must be a list",
            ))
        }
    };
    let name = opt_nonempty(&map, "name")?;
    let metadata = match map.get("metadata") {
        None | Some(Value::Null) => None,
        Some(v @ Value::Object(_)) => Some(v.clone()),
        Some(_) => {
            return Err(ApiError::validation(
                "metadata",
                "metadata must be an object",
            ))
        }
    };
    let rpm = match map.get("rate_limit_rpm") {
        None | Some(Value::Null) => None,
        Some(v) => Some(
            v.as_u64()
                .filter(|n| (1..=u64::from(u32::MAX)).contains(n))
                .ok_or_else(|| {
                    ApiError::validation(
                        "rate_limit_rpm",
                        "rate_limit_rpm must be a positive integer",
                    )
                })? as u32,
        ),
    };
    if scopes.iter().any(|s| s == "keys:derive") {
        return Err(invalid_scope(
            "derived keys may not hold keys:derive".into(),
        ));
    }
    let outside: Vec<&String> = scopes
        .iter()
        .filter(|s| !implied(&auth.scopes, s))
        .collect();
    if !outside.is_empty() {
        return Err(invalid_scope(format!(
            "derived scopes must lie within the caller's: {} not held",
            outside
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))
        .with("invalid_scopes", json!(outside)));
    }
    let t = now();
    ctx.store.write(|s| {
        let parent = s
            .keys
            .iter()
            .find(|k| k.key_id == auth.key_id)
            .cloned()
            .ok_or_else(|| ApiError::internal("the calling key vanished"))?;
        let cidr_allowlist = match (cidrs, &parent.cidr_allowlist) {
            (None, inherited) => inherited.clone(),
            (Some(list), None) => Some(list.iter().map(cidr_text).collect()),
            (Some(list), Some(outer)) => {
                let outer: Vec<Cidr> = outer.iter().filter_map(|c| Cidr::parse(c)).collect();
                if !list.iter().all(|c| outer.iter().any(|o| c.within(o))) {
                    return Err(ApiError::new(
                        400,
                        "invalid_cidr_allowlist",
                        "cidr_allowlist must lie within the calling key's allowlist",
                    ));
                }
                Some(list.iter().map(cidr_text).collect())
            }
        };
        let rate_limit_rpm = match (rpm, parent.rate_limit_rpm) {
            (Some(r), Some(p)) if r > p => {
                return Err(ApiError::new(
                    400,
                    "invalid_rate_limit",
                    format!("rate_limit_rpm may not exceed the calling key's {p}"),
                ))
            }
            (Some(r), _) => Some(r),
            (None, p) => p,
        };
        let mut expires_at =
            (t + MAX_DERIVED_TTL).min(crate::routes::connect::after(t, expires_in));
        if let Some(e) = parent.expires_at {
            expires_at = expires_at.min(e);
        }
        if let Some(e) = parent.rotation_grace_until {
            expires_at = expires_at.min(e);
        }
        let plaintext = generate_key(KeyKind::Derived);
        let scope_refs: Vec<&str> = scopes.iter().map(String::as_str).collect();
        let mut row = key_row(
            &plaintext,
            parent.agent_id,
            "dk",
            name.unwrap_or_else(|| default_name(t)),
            &scope_refs,
        );
        row.parent_key_id = Some(parent.key_id);
        row.expires_at = Some(expires_at);
        row.cidr_allowlist = cidr_allowlist;
        row.rate_limit_rpm = rate_limit_rpm;
        row.metadata = metadata;
        s.keys.push(row.clone());
        Ok(minted(s, &row, &plaintext))
    })
}

fn cidr_text(c: &Cidr) -> String {
    format!("{}/{}", c.addr, c.prefix)
}

fn key_not_found() -> ApiError {
    ApiError::not_found("key_not_found", "no such key reachable by this caller")
}

/// A key the caller administers: any key of the app for an app key; an
/// agent key reaches only its own agent's keys (others answer not found).
fn reachable(s: &VaultState, auth: &Auth, key_id: &str) -> ApiResult<Uuid> {
    let id = parse_uuid(key_id).ok_or_else(key_not_found)?;
    let k = s
        .keys
        .iter()
        .find(|k| k.key_id == id)
        .ok_or_else(key_not_found)?;
    match auth.key_agent {
        Some(a) if k.agent_id != Some(a) => Err(key_not_found()),
        _ => Ok(id),
    }
}

/// `POST /sdk/keys/{key_id}/rotate`: a successor with the same scopes and
/// type; the old key is deprecated and keeps working for `overlap_days`.
pub async fn rotate(
    State(ctx): State<Arc<Ctx>>,
    Extension(auth): Extension<Arc<Auth>>,
    Path(key_id): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    auth.require(&["keys:admin"])?;
    let map = if body.is_empty() {
        serde_json::Map::new()
    } else {
        json_object(&body)?
    };
    let overlap_days = match map.get("overlap_days") {
        None | Some(Value::Null) => 7,
        Some(v) => v.as_i64().filter(|d| (0..=30).contains(d)).ok_or_else(|| {
            ApiError::validation(
                "overlap_days",
                "overlap_days must be an integer from 0 to 30",
            )
        })?,
    };
    let t = now();
    ctx.store.write(|s| {
        let id = reachable(s, &auth, &key_id)?;
        let old = s
            .keys
            .iter()
            .find(|k| k.key_id == id)
            .cloned()
            .expect("reachable");
        if old.revoked_at.is_some() {
            return Err(ApiError::new(
                409,
                "key_revoked",
                "a revoked key cannot be rotated",
            ));
        }
        if old.key_type == "dk" {
            return Err(ApiError::new(
                400,
                "derived_key_not_rotatable",
                "derived keys cannot be rotated; derive a new one",
            ));
        }
        if old.rotation_grace_until.is_some() {
            return Err(ApiError::new(
                409,
                "key_already_rotated",
                "this key was already rotated",
            ));
        }
        let kind = match old.key_type.as_str() {
            "ak" => KeyKind::Legacy,
            "pk" => KeyKind::Publishable,
            _ => KeyKind::Runtime,
        };
        let plaintext = generate_key(kind);
        let scope_refs: Vec<&str> = old.scopes.iter().map(String::as_str).collect();
        let mut successor = key_row(
            &plaintext,
            old.agent_id,
            &old.key_type,
            old.name.clone(),
            &scope_refs,
        );
        successor.cidr_allowlist = old.cidr_allowlist.clone();
        successor.rate_limit_rpm = old.rate_limit_rpm;
        successor.expires_at = old.expires_at;
        successor.metadata = old.metadata.clone();
        if let Some(k) = s.key_mut(id) {
            k.deprecated_at.get_or_insert(t);
            k.rotation_grace_until = Some(t + overlap_days * 86_400);
        }
        s.keys.push(successor.clone());
        Ok(minted(s, &successor, &plaintext))
    })
}

/// `DELETE /sdk/keys/{key_id}[?force=true]`: revokes the key and, in the
/// same change, its `dk` descendants (rotation successors survive).
pub async fn revoke(
    State(ctx): State<Arc<Ctx>>,
    Extension(auth): Extension<Arc<Auth>>,
    Path(key_id): Path<String>,
    RawQuery(q): RawQuery,
) -> ApiResult<Json<Value>> {
    auth.require(&["keys:admin"])?;
    let force = url::form_urlencoded::parse(q.unwrap_or_default().as_bytes())
        .any(|(k, v)| k == "force" && v == "true");
    let t = now();
    ctx.store.write(|s| {
        let id = reachable(s, &auth, &key_id)?;
        let mut cascade = vec![id];
        let mut i = 0;
        while i < cascade.len() {
            let p = cascade[i];
            for k in s
                .keys
                .iter()
                .filter(|k| k.parent_key_id == Some(p) && k.key_type == "dk")
            {
                if !cascade.contains(&k.key_id) {
                    cascade.push(k.key_id);
                }
            }
            i += 1;
        }
        let target = s
            .keys
            .iter()
            .find(|k| k.key_id == id)
            .cloned()
            .expect("reachable");
        if let (Some(agent), None, false) = (target.agent_id, target.revoked_at, force) {
            let others = s
                .keys
                .iter()
                .filter(|k| {
                    k.agent_id == Some(agent)
                        && k.revoked_at.is_none()
                        && !cascade.contains(&k.key_id)
                })
                .count();
            if others == 0 {
                return Err(ApiError::new(
                    409,
                    "last_active_key",
                    "this would revoke the agent's last active key; pass force=true",
                ));
            }
        }
        for k in s.keys.iter_mut().filter(|k| cascade.contains(&k.key_id)) {
            k.revoked_at.get_or_insert(t);
        }
        let k = s.keys.iter().find(|k| k.key_id == id).expect("exists");
        Ok(Json(key_info_json(s, k)))
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn default_names_carry_the_time() {
        assert_eq!(
            super::default_name(86_400 + 3_723),
            "derived-19700102-010203"
        );
    }
}
