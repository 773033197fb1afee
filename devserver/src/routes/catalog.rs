//! Provider catalog and specs (agents-and-keys.md §11): the OAuth providers
//! this app has configured and the built-in provider specs.

use crate::auth::Auth;
use crate::catalog::{spec, SPECS};
use crate::ctx::Ctx;
use crate::error::{ApiError, ApiResult};
use axum::extract::{Path, RawQuery, State};
use axum::{Extension, Json};
use serde_json::{json, Map, Value};
use std::sync::Arc;

fn query(q: Option<&str>) -> Vec<(String, String)> {
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

/// `GET /sdk/oauth/provider-catalog`: the configured OAuth providers.
pub async fn provider_catalog(
    State(ctx): State<Arc<Ctx>>,
    Extension(auth): Extension<Arc<Auth>>,
) -> ApiResult<Json<Value>> {
    auth.require(&["providers:read"])?;
    Ok(Json(ctx.store.read(|s| {
        let providers: Vec<Value> = s
            .oauth_providers
            .iter()
            .map(|p| {
                let mut available = Map::new();
                for sc in &p.scopes {
                    available.insert(
                        sc.name.clone(),
                        json!({
                            "description": sc.description,
                            "required": sc.required,
                            "is_default": sc.is_default,
                            "requires": [],
                        }),
                    );
                }
                let pick = |f: fn(&crate::state::ProviderScope) -> bool| -> Vec<String> {
                    p.scopes
                        .iter()
                        .filter(|s| f(s))
                        .map(|s| s.name.clone())
                        .collect()
                };
                json!({
                    "id": p.provider_id,
                    "name": p.provider_id,
                    "display_name": p.display_name,
                    "category": p.category,
                    "description": p.description,
                    "logo_url": null,
                    "supports_refresh": true,
                    "supports_pkce": true,
                    "available_scopes": available,
                    "default_scopes": pick(|s| s.is_default),
                    "required_scopes": pick(|s| s.required),
                    "status": "active",
                })
            })
            .collect();
        json!({ "providers": providers })
    })))
}

fn check_kind(kind: &str) -> ApiResult<()> {
    if kind == "oauth" || kind == "managed" {
        Ok(())
    } else {
        Err(ApiError::new(
            422,
            "validation_error",
            "kind must be 'oauth' or 'managed'",
        ))
    }
}

fn spec_not_found() -> ApiError {
    ApiError::not_found("provider_spec_not_found", "no spec for this provider")
}

/// `GET /sdk/provider-specs[?kind=]`.
pub async fn list_specs(
    Extension(auth): Extension<Arc<Auth>>,
    RawQuery(q): RawQuery,
) -> ApiResult<Json<Value>> {
    auth.require(&["providers:read"])?;
    let pairs = query(q.as_deref());
    let kind = pairs
        .iter()
        .find(|(k, _)| k == "kind")
        .map(|(_, v)| v.clone());
    if let Some(k) = &kind {
        check_kind(k)?;
    }
    let items: Vec<Value> = SPECS
        .iter()
        .filter(|s| kind.as_deref().is_none_or(|k| s.kind == k))
        .map(|s| s.to_json())
        .collect();
    Ok(Json(json!({"total": items.len(), "items": items})))
}

/// `GET /sdk/provider-specs/{kind}/{provider_id}`.
pub async fn get_spec(
    Extension(auth): Extension<Arc<Auth>>,
    Path((kind, provider)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    auth.require(&["providers:read"])?;
    check_kind(&kind)?;
    spec(&kind, &provider)
        .map(|s| Json(s.to_json()))
        .ok_or_else(spec_not_found)
}

/// `GET /sdk/provider-specs/{kind}/{provider_id}/operations`: sorted by
/// operation id, `search` matching id or summary case-insensitively.
pub async fn list_operations(
    Extension(auth): Extension<Arc<Auth>>,
    Path((kind, provider)): Path<(String, String)>,
    RawQuery(q): RawQuery,
) -> ApiResult<Json<Value>> {
    auth.require(&["providers:read"])?;
    check_kind(&kind)?;
    let sp = spec(&kind, &provider).ok_or_else(spec_not_found)?;
    let pairs = query(q.as_deref());
    let limit = query_int(&pairs, "limit", 100, 1, 500)?;
    let offset = query_int(&pairs, "offset", 0, 0, i64::MAX)?;
    let search = pairs
        .iter()
        .find(|(k, _)| k == "search")
        .map(|(_, v)| v.to_lowercase());
    let matching: Vec<Value> = sp
        .ops
        .iter()
        .filter(|o| {
            search.as_deref().is_none_or(|q| {
                o.id.to_lowercase().contains(q) || o.summary.to_lowercase().contains(q)
            })
        })
        .map(|o| sp.op_json(o))
        .collect();
    let total = matching.len();
    let items: Vec<Value> = matching
        .into_iter()
        .skip(offset as usize)
        .take(limit as usize)
        .collect();
    let has_more = offset as usize + items.len() < total;
    Ok(Json(json!({
        "items": items,
        "total": total,
        "limit": limit,
        "offset": offset,
        "has_more": has_more,
        "spec": sp.to_json(),
    })))
}

/// `GET /sdk/provider-specs/{kind}/{provider_id}/operation?operation_id=`.
pub async fn get_operation(
    Extension(auth): Extension<Arc<Auth>>,
    Path((kind, provider)): Path<(String, String)>,
    RawQuery(q): RawQuery,
) -> ApiResult<Json<Value>> {
    auth.require(&["providers:read"])?;
    check_kind(&kind)?;
    let sp = spec(&kind, &provider).ok_or_else(spec_not_found)?;
    let pairs = query(q.as_deref());
    let id = pairs
        .iter()
        .find(|(k, _)| k == "operation_id")
        .map(|(_, v)| v.clone())
        .filter(|v| !v.trim().is_empty())
        .ok_or_else(|| ApiError::validation("operation_id", "operation_id is required"))?;
    let op = sp.ops.iter().find(|o| o.id == id).ok_or_else(|| {
        ApiError::not_found("operation_not_found", "no such operation in this spec")
    })?;
    let mut out = sp.op_json(op);
    let params: Vec<&str> = op
        .path
        .split('/')
        .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .collect();
    let mut props = Map::new();
    for p in &params {
        props.insert(p.to_string(), json!({"type": "string", "in": "path"}));
    }
    out["params_schema"] = json!({"type": "object", "properties": props, "required": params});
    out["request_schema"] = if op.method == "GET" {
        Value::Null
    } else {
        json!({"type": "object"})
    };
    out["response_schema"] = json!({"type": "object"});
    out["spec"] = sp.to_json();
    Ok(Json(out))
}
