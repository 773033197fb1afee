//! Grant-scoped SDK routes: the audit ingest, the scope-mismatch report and
//! `POST /sdk/grants/list`.

use crate::audit::{event_for, redact_header_map, scrub_event};
use crate::auth::{Auth, Who};
use crate::ctx::Ctx;
use crate::error::{json_object, opt_nonempty, ApiError, ApiResult};
use crate::resolve::{contract, reach_by_id};
use crate::routes::verify_user_token;
use crate::state::{Grant, GrantKind, Principal, State as VaultState};
use crate::util::{is_canonical_uuid, now, rfc3339};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use bytes::Bytes;
use serde_json::{json, Map, Value};
use std::sync::Arc;
use uuid::Uuid;

/// `POST /sdk/oauth/audit/api-call` (requests.md §14.4): stores the SDK's
/// report of a provider call made in retrieve mode; 204.
pub async fn audit_api_call(
    State(ctx): State<Arc<Ctx>>,
    Extension(auth): Extension<Arc<Auth>>,
    body: Bytes,
) -> ApiResult<Response> {
    auth.require(&["audit:emit"])?;
    let map = json_object(&body)?;
    let grant_id = match map.get("grant_id") {
        Some(Value::String(g)) if is_canonical_uuid(g) => g.clone(),
        _ => {
            return Err(ApiError::validation(
                "grant_id",
                "grant_id must be a canonical UUID",
            ))
        }
    };
    let method = match map.get("method") {
        Some(Value::String(m)) if !m.is_empty() => m.clone(),
        _ => {
            return Err(ApiError::validation(
                "method",
                "method must be a non-empty string",
            ))
        }
    };
    let url = match map.get("url") {
        Some(Value::String(u)) => u.clone(),
        _ => return Err(ApiError::validation("url", "url must be a string")),
    };
    let status = map
        .get("response_status")
        .and_then(Value::as_i64)
        .ok_or_else(|| {
            ApiError::validation("response_status", "response_status must be an integer")
        })?;
    let token_generation = map
        .get("token_generation")
        .and_then(Value::as_str)
        .map(str::to_string);

    ctx.store.write(|s| {
        let gid = reach_by_id(s, auth.who(), &grant_id)?;
        let g = s.grant(gid).expect("reached");
        // The grant is authoritative for the provider; the body's value is
        // only a hint.
        let provider_id = s.grant_provider_id(g);
        let user_id = s.root_user(g);
        let connection = match g.kind {
            GrantKind::OAuth { connection_id } => Some(connection_id),
            GrantKind::ManagedSecret { .. } => None,
        };
        let c = contract(s, gid)?;
        let mut ev = event_for("api_call", &auth);
        if let Some(body_ctx) = map.get("context").filter(|c| !c.is_null()) {
            ev.context = Some(body_ctx.clone());
        }
        ev.user_id = user_id;
        ev.grant_id = Some(gid);
        ev.provider_id = Some(provider_id);
        ev.method = Some(method);
        ev.url = Some(url);
        ev.status = Some(status);
        ev.reason = map
            .get("reason")
            .and_then(Value::as_str)
            .map(str::to_string);
        ev.request_headers = map
            .get("request_headers")
            .map(|h| redact_header_map(h, &c.credential_headers()));
        ev.request_body = map.get("request_body").cloned();
        ev.response_headers = map
            .get("response_headers")
            .map(|h| redact_header_map(h, &[]));
        ev.response_body = map.get("response_body").cloned();
        ev.latency_ms = map.get("latency_ms").and_then(Value::as_i64);
        ev.token_generation = token_generation.clone();
        // The row is scrubbed here as well, but a client that sends the
        // credential back at all is at fault: say so in the stored row, so
        // tests can tell the SDK's own scrubbing from this one.
        let posted = String::from_utf8_lossy(&body);
        if c.secrets()
            .iter()
            .any(|secret| posted.contains(secret.as_str()))
        {
            ev.details = Some(serde_json::json!({"arrived_with_credential": true}));
        }
        scrub_event(&mut ev, &c.secrets());
        s.push_audit(ev);
        // A provider 401 on the current token generation marks the
        // connection for a refresh at the next /sdk/token.
        if status == 401 {
            if let Some(conn) = connection.and_then(|c| s.connection_mut(c)) {
                if token_generation.as_deref() == Some(conn.token_generation.to_string().as_str()) {
                    conn.needs_reconnect = true;
                }
            }
        }
        Ok(StatusCode::NO_CONTENT.into_response())
    })
}

/// Keeps only scheme, host and the first path segment of an endpoint URL,
/// as the backend does before storing it.
fn coarse_endpoint(u: &str) -> String {
    match url::Url::parse(u) {
        Ok(p) => {
            let first = p.path_segments().and_then(|mut s| s.next()).unwrap_or("");
            format!("{}://{}/{}", p.scheme(), p.host_str().unwrap_or(""), first)
        }
        Err(_) => String::new(),
    }
}

/// `POST /sdk/grants/{id}/report-scope-mismatch` (requests.md §14.5).
pub async fn report_scope_mismatch(
    State(ctx): State<Arc<Ctx>>,
    Extension(auth): Extension<Arc<Auth>>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    auth.require(&["tokens:retrieve"])?;
    let map = json_object(&body)?;
    let invalid = |f: &str, m: &str| Err(ApiError::validation(f, m.to_string()));
    if !map.get("provider_status_code").is_some_and(Value::is_i64) {
        return invalid(
            "provider_status_code",
            "provider_status_code must be an integer",
        );
    }
    for f in ["provider_error_code", "sdk_correlation_id"] {
        if !map.get(f).is_some_and(Value::is_string) {
            return invalid(f, "must be a string");
        }
    }
    if map.get("detection_source").and_then(Value::as_str) != Some("www_authenticate_rfc6750") {
        return invalid(
            "detection_source",
            "detection_source must be www_authenticate_rfc6750",
        );
    }
    let missing: Option<Vec<String>> = match map.get("missing_scopes") {
        None | Some(Value::Null) => None,
        Some(Value::Array(a))
            if a.len() <= 50
                && a.iter()
                    .all(|s| s.as_str().is_some_and(|s| s.chars().count() <= 256)) =>
        {
            Some(
                a.iter()
                    .filter_map(|s| s.as_str().map(str::to_string))
                    .collect(),
            )
        }
        Some(_) => {
            return invalid(
                "missing_scopes",
                "at most 50 strings of at most 256 characters",
            )
        }
    };
    let text_limit = |f: &str, max: usize| -> ApiResult<Option<String>> {
        match map.get(f) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.chars().count() <= max => Ok(Some(s.clone())),
            Some(_) => Err(ApiError::validation(
                f,
                format!("{f} must be a string of at most {max} characters"),
            )),
        }
    };
    let www = text_limit("raw_www_authenticate", 4096)?;
    let endpoint = text_limit("api_endpoint", 2048)?;
    let correlation = Uuid::new_v4().to_string();

    ctx.store.write(|s| {
        let gid = reach_by_id(s, auth.who(), &id)?;
        let provider_id = s.grant(gid).map(|g| s.grant_provider_id(g));
        let user_id = s.grant(gid).and_then(|g| s.root_user(g));
        if let Some(g) = s.grant_mut(gid) {
            g.scope_mismatch = true;
        }
        let mut ev = event_for("scope_mismatch_report", &auth);
        ev.user_id = user_id;
        ev.grant_id = Some(gid);
        ev.provider_id = provider_id;
        ev.status = map.get("provider_status_code").and_then(Value::as_i64);
        ev.url = endpoint.as_deref().map(coarse_endpoint);
        ev.details = Some(json!({
            "missing_scopes": missing,
            "provider_error_code": map.get("provider_error_code"),
            "raw_www_authenticate": www,
            "sdk_correlation_id": map.get("sdk_correlation_id"),
            "correlation_id": correlation,
        }));
        s.push_audit(ev);
        Ok::<_, ApiError>(())
    })?;
    let mut resp = StatusCode::NO_CONTENT.into_response();
    resp.headers_mut().insert(
        "x-correlation-id",
        correlation.parse().expect("uuid is a valid header"),
    );
    Ok(resp)
}

use crate::routes::manage::{policy_json, projected_status as projected};

fn item_json(s: &VaultState, g: &Grant, who: Who, t: i64) -> Value {
    let status = projected(s, g, t);
    let delegated = g.parent_grant_id.is_some();
    let agent_branch = who != Who::Operator;
    let delegated_at = (agent_branch && delegated).then(|| rfc3339(g.created_at));
    let children: Vec<String> = s
        .grants
        .iter()
        .filter(|c| c.parent_grant_id == Some(g.grant_id) && c.revoked_at.is_none())
        .filter_map(|c| match c.principal {
            Principal::Agent { agent_id } => Some(agent_id.to_string()),
            _ => None,
        })
        .collect();
    let principal_type = g.principal.type_name();
    let common = |m: &mut Map<String, Value>| {
        m.insert("grant_id".into(), json!(g.grant_id.to_string()));
        m.insert("status".into(), json!(status));
        m.insert("grant_expires_at".into(), json!(g.expires_at.map(rfc3339)));
        m.insert("created_at".into(), json!(rfc3339(g.created_at)));
        m.insert("last_used_at".into(), json!(g.last_used_at.map(rfc3339)));
        m.insert("principal_type".into(), json!(principal_type));
        m.insert("delegated_at".into(), json!(delegated_at));
        m.insert("label".into(), json!(g.label));
        m.insert("grant_policy".into(), policy_json(g));
        m.insert(
            "parent_grant_id".into(),
            json!(g.parent_grant_id.map(|p| p.to_string())),
        );
        m.insert("depth".into(), json!(g.depth));
        m.insert("delegable".into(), json!(g.delegable));
        m.insert("scope_constraint".into(), json!(g.scope_constraint));
    };
    let mut m = Map::new();
    match &g.kind {
        GrantKind::OAuth { connection_id } => {
            let c = s.connection(*connection_id);
            m.insert("grant_kind".into(), json!("oauth"));
            m.insert(
                "provider_id".into(),
                json!(c.map(|c| c.provider_id.clone())),
            );
            m.insert(
                "scopes".into(),
                json!(c.map(|c| c.scopes.clone()).unwrap_or_default()),
            );
            m.insert(
                "account_identifier".into(),
                json!(c.and_then(|c| c.account_identifier.clone())),
            );
            m.insert(
                "account_display_name".into(),
                json!(c.and_then(|c| c.account_display_name.clone())),
            );
            m.insert("api_base_url".into(), Value::Null);
            m.insert("scope_mismatch".into(), json!(g.scope_mismatch));
            m.insert(
                "needs_reconnect".into(),
                json!(c.is_some_and(|c| c.needs_reconnect || c.revoked)),
            );
            m.insert(
                "expires_at".into(),
                json!(c.and_then(|c| c.token_expires_at).map(rfc3339)),
            );
            m.insert(
                "access_via".into(),
                json!(if delegated {
                    "oauth_delegation"
                } else {
                    "ownership"
                }),
            );
            m.insert(
                "delegated_agent_ids".into(),
                json!(if agent_branch { vec![] } else { children }),
            );
            m.insert("credential_id".into(), json!(connection_id.to_string()));
        }
        GrantKind::ManagedSecret {
            managed_secret_id,
            credential_id,
        } => {
            let ms = s.managed_secret(*managed_secret_id);
            let cred =
                credential_id.and_then(|c| s.credentials.iter().find(|x| x.credential_id == c));
            m.insert("grant_kind".into(), json!("managed_secret"));
            m.insert(
                "managed_secret_id".into(),
                json!(managed_secret_id.to_string()),
            );
            m.insert(
                "managed_secret_slug".into(),
                json!(ms.map(|m| m.slug.clone())),
            );
            m.insert(
                "managed_secret_name".into(),
                json!(ms.map(|m| m.name.clone())),
            );
            m.insert(
                "agent_id".into(),
                json!(match g.principal {
                    Principal::Agent { agent_id } => Some(agent_id.to_string()),
                    _ => None,
                }),
            );
            m.insert("account_identifier".into(), Value::Null);
            m.insert("expires_at".into(), Value::Null);
            m.insert(
                "access_via".into(),
                json!(if delegated {
                    "ms_delegation"
                } else {
                    "ownership"
                }),
            );
            m.insert(
                "credential_id".into(),
                json!(credential_id.unwrap_or(*managed_secret_id).to_string()),
            );
            m.insert(
                "credential_kind".into(),
                json!(cred.map(|c| c.kind.as_str()).unwrap_or("developer")),
            );
            m.insert(
                "credential_label".into(),
                json!(cred.and_then(|c| c.label.clone())),
            );
        }
    }
    common(&mut m);
    Value::Object(m)
}

/// `POST /sdk/grants/list` (grants-and-connect.md §2.2). The operator branch
/// returns OAuth grants only (the documented behaviour, protocol decision 9);
/// the agent branch returns what the agent holds, both kinds.
pub async fn list(
    State(ctx): State<Arc<Ctx>>,
    Extension(auth): Extension<Arc<Auth>>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    auth.require(&["grants:read"])?;
    let map = json_object(&body)?;
    let int = |f: &str, default: i64, min: i64, max: i64| -> ApiResult<i64> {
        match map.get(f) {
            None | Some(Value::Null) => Ok(default),
            Some(v) => v
                .as_i64()
                .filter(|n| (min..=max).contains(n))
                .ok_or_else(|| {
                    ApiError::validation(f, format!("{f} must be an integer from {min} to {max}"))
                }),
        }
    };
    let limit = int("limit", 100, 1, 1000)?;
    let offset = int("offset", 0, 0, i64::MAX)?;
    let provider = opt_nonempty(&map, "provider_id")?;
    let status = opt_nonempty(&map, "status")?;
    let account = opt_nonempty(&map, "account")?;
    let label = opt_nonempty(&map, "label")?;
    let user = match opt_nonempty(&map, "user_token")? {
        Some(t) => Some(verify_user_token(&ctx, &t)?),
        None => None,
    };
    let who = auth.who();
    let t = now();
    Ok(Json(ctx.store.read(|s| {
        let mut rows: Vec<&Grant> = s
            .grants
            .iter()
            .filter(|g| match who {
                Who::Operator => matches!(g.kind, GrantKind::OAuth { .. }),
                Who::Agent(a) | Who::Impersonated(a) => {
                    g.principal == (Principal::Agent { agent_id: a })
                        // Revoked delegations are hidden from the agent.
                        && !(g.parent_grant_id.is_some() && g.revoked_at.is_some())
                }
            })
            .filter(|g| match (user, who) {
                (None, _) => true,
                (Some(u), Who::Operator) => s.root_user(g) == Some(u),
                (Some(u), _) => g.parent_grant_id.is_none() || s.root_user(g) == Some(u),
            })
            .filter(|g| provider.as_deref().is_none_or(|p| s.grant_matches_provider(g, p)))
            .filter(|g| status.as_deref().is_none_or(|st| projected(s, g, t) == st))
            .filter(|g| {
                account.as_deref().is_none_or(|a| {
                    s.grant_account(g).and_then(|c| c.account_identifier.as_deref()) == Some(a)
                })
            })
            .filter(|g| label.as_deref().is_none_or(|l| g.label.as_deref() == Some(l)))
            .collect();
        // Newest first; creation order breaks ties within a second
        // (inferred).
        rows.reverse();
        let total = rows.len();
        let page: Vec<Value> = rows
            .iter()
            .skip(offset as usize)
            .take(limit as usize)
            .map(|g| item_json(s, g, who, t))
            .collect();
        let has_more = offset as usize + page.len() < total;
        json!({"grants": page, "total": total, "limit": limit, "offset": offset, "has_more": has_more})
    })))
}
