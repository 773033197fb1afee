//! `POST /sdk/token`: retrieve mode (requests.md §14.2).

use crate::audit::{event_for, scrub_event};
use crate::auth::Auth;
use crate::ctx::Ctx;
use crate::error::{json_object, ApiError, ApiResult};
use crate::resolve::{check_destination, contract, resolve};
use crate::routes::{check_rule, parse_lookup};
use crate::state::GrantKind;
use crate::util::now;
use axum::extract::State;
use axum::{Extension, Json};
use bytes::Bytes;
use serde_json::Value;
use std::sync::Arc;
use uuid::Uuid;

pub async fn token(
    State(ctx): State<Arc<Ctx>>,
    Extension(auth): Extension<Arc<Auth>>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    auth.require(&["tokens:retrieve"])?;
    let map = json_object(&body)?;
    let lookup = parse_lookup(&ctx, &map)?;
    match map.get("reason") {
        None | Some(Value::Null) | Some(Value::String(_)) => {}
        Some(_) => {
            return Err(ApiError::validation(
                "reason",
                "reason must be a string or null",
            ))
        }
    }
    // `request` describes the intended call, for policy and the audit row.
    let method = map
        .get("request")
        .and_then(|r| r.get("method"))
        .and_then(Value::as_str)
        .map(str::to_ascii_uppercase);
    let url = map
        .get("request")
        .and_then(|r| r.get("url"))
        .and_then(Value::as_str)
        .map(str::to_string);
    // On a raw-token retrieval the method is only a declaration, so method
    // conditions count as satisfied (agents-and-keys.md §8).
    check_rule(&auth, None)?;

    let t = now();
    let contract = ctx.store.write(|s| {
        let gid = resolve(s, auth.who(), &lookup, t)?;
        let g = s.grant(gid).expect("resolved");
        if g.hitl {
            return Err(ApiError::new(
                400,
                "hitl_grant_requires_proxy",
                "This grant requires human approval for every call; use proxy_request().",
            )
            .with("grant_id", gid.to_string()));
        }
        if g.restricted {
            return Err(ApiError::new(
                400,
                "restricted_grant_requires_proxy",
                "This grant carries method or endpoint restrictions; use proxy_request().",
            )
            .with("grant_id", gid.to_string()));
        }
        // Plain delegations may retrieve; scope-narrowed ones are proxy-only
        // (requests.md §14.2 step 5 note).
        if g.scope_constraint.is_some() {
            return Err(ApiError::new(
                400,
                "delegated_grant_requires_proxy",
                "This delegation is scope-narrowed; use proxy_request().",
            )
            .with("grant_id", gid.to_string()));
        }
        // Policy: a credential is issued only for a host its provider
        // allows, judged on the URL the SDK declares it will request.
        check_destination(s, gid, url.as_deref())?;
        // A provider 401 reported against the current token generation asked
        // for a refresh. The local vault's tokens are static, so the
        // "refresh" always succeeds: a new generation, same token
        // (inferred; a failed refresh is what /_dev credential_revoked models).
        if let GrantKind::OAuth { connection_id } = g.kind {
            if let Some(c) = s.connection_mut(connection_id) {
                if c.needs_reconnect {
                    c.needs_reconnect = false;
                    c.token_generation = Uuid::new_v4();
                }
            }
        }
        // A scope-drift flag is reported as advisory (`scope_mismatch: true`
        // in a 200), not as a pre-flight 403 (inferred default).
        let c = contract(s, gid)?;
        let user_id = lookup
            .user
            .or_else(|| s.root_user(s.grant(gid).expect("resolved")));
        if let Some(g) = s.grant_mut(gid) {
            g.last_used_at = Some(t);
        }
        let mut ev = event_for("token", &auth);
        ev.user_id = user_id;
        ev.grant_id = Some(gid);
        ev.provider_id = Some(c.provider_id.clone());
        ev.method = method.clone();
        ev.url = url.clone();
        ev.status = Some(200);
        ev.reason = map
            .get("reason")
            .and_then(Value::as_str)
            .map(str::to_string);
        ev.token_generation = c.token_generation.map(|g| g.to_string());
        scrub_event(&mut ev, &c.secrets());
        s.push_audit(ev);
        Ok(c)
    })?;
    Ok(Json(contract.to_json(t)))
}
