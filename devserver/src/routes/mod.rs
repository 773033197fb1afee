//! The HTTP surface: `/sdk/*` (signed, for the SDK), `/_dev/*` (operator
//! API for tests), `/_provider/*` (a fake third-party API).

pub mod agents;
pub mod approvals;
pub mod authn;
pub mod catalog;
pub mod connect;
pub mod consent;
pub mod dev;
pub mod grants;
pub mod hold;
pub mod keys;
pub mod manage;
pub mod misc;
pub mod provider;
pub mod proxy;
pub mod token;

use crate::auth::Auth;
use crate::ctx::Ctx;
use crate::error::{opt_nonempty, ApiError, ApiResult};
use crate::resolve::Lookup;
use crate::util::now;
use axum::extract::DefaultBodyLimit;
use axum::middleware::from_fn_with_state;
use axum::routing::{delete, get, patch, post};
use axum::Router;
use serde_json::{Map, Value};
use std::sync::Arc;
use uuid::Uuid;

/// Largest request body accepted anywhere.
pub const MAX_BODY: usize = 10 * 1024 * 1024;

pub fn router(ctx: Arc<Ctx>) -> Router {
    let sdk = Router::new()
        .route("/sdk/token", post(token::token))
        .route("/sdk/proxy", post(proxy::proxy))
        .route("/sdk/approvals/{id}", get(approvals::status))
        .route("/sdk/approvals/{id}/result", get(approvals::result))
        .route("/sdk/oauth/audit/api-call", post(grants::audit_api_call))
        .route(
            "/sdk/grants/{id}/report-scope-mismatch",
            post(grants::report_scope_mismatch),
        )
        .route("/sdk/grants/list", post(grants::list))
        .route("/sdk/oauth/grants/{id}/revoke", post(manage::revoke_grant))
        .route("/sdk/grants/{id}/delegate", post(manage::delegate))
        .route(
            "/sdk/grants/{id}/delegations/{agent}",
            delete(manage::revoke_delegation),
        )
        .route("/sdk/grants/{id}/mint", post(manage::mint))
        .route(
            "/sdk/managed-secrets/{id}/grants",
            post(manage::create_secret_grant),
        )
        .route("/sdk/oauth/connect/session", post(connect::create_oauth))
        .route("/sdk/oauth/connect/session/poll", post(connect::poll))
        .route(
            "/sdk/managed-secrets/connect/session",
            post(connect::create_secret),
        )
        .route("/sdk/auth/session", post(authn::create_session))
        .route("/sdk/auth/poll", post(authn::poll))
        .route("/sdk/auth/verify-token", post(authn::verify_token))
        .route("/sdk/identity/resolve", post(authn::resolve_identity))
        .route("/sdk/identity/assert", post(authn::assert_identity))
        .route("/sdk/keys/derive", post(keys::derive))
        .route("/sdk/keys/{key_id}/rotate", post(keys::rotate))
        .route("/sdk/keys/{key_id}", delete(keys::revoke))
        .route(
            "/sdk/oauth/provider-catalog",
            get(catalog::provider_catalog),
        )
        .route("/sdk/provider-specs", get(catalog::list_specs))
        .route(
            "/sdk/provider-specs/{kind}/{provider}",
            get(catalog::get_spec),
        )
        .route(
            "/sdk/provider-specs/{kind}/{provider}/operations",
            get(catalog::list_operations),
        )
        .route(
            "/sdk/provider-specs/{kind}/{provider}/operation",
            get(catalog::get_operation),
        )
        .route("/sdk/agents", post(agents::create).get(agents::list))
        .route("/sdk/agents/me", get(agents::me))
        .route(
            "/sdk/agents/{id}",
            get(agents::get)
                .patch(agents::update)
                .delete(agents::delete),
        )
        .route(
            "/sdk/agents/{id}/keys",
            post(agents::mint_key).get(agents::list_keys),
        )
        .route("/sdk/agents/{id}/keys/{key_id}", delete(agents::revoke_key))
        .route(
            "/sdk/agents/{id}/keys/{key_id}/deprecate",
            patch(agents::deprecate_key),
        )
        .route(
            "/sdk/agents/{id}/keys/{key_id}/undeprecate",
            patch(agents::undeprecate_key),
        )
        .route("/sdk/scopes", get(misc::scopes))
        .route("/sdk/spans", post(misc::spans))
        // route_layer: unknown /sdk paths answer 404 without demanding a
        // signature first.
        .route_layer(from_fn_with_state(ctx.clone(), crate::auth::middleware));
    Router::new()
        .merge(sdk)
        .merge(dev::router(ctx.clone()))
        .merge(provider::router())
        .merge(hold::provider_router())
        .merge(consent::router())
        // One body limit everywhere (axum's default of 2 MB would otherwise
        // cut proxied bodies the SDK is allowed to send).
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(from_fn_with_state(ctx.clone(), crate::faults::middleware))
        .with_state(ctx)
}

/// Verifies an end-user JWT from the local identity provider and returns
/// the user it names.
pub fn verify_user_token(ctx: &Ctx, token: &str) -> ApiResult<Uuid> {
    let bad = |m: &str| ApiError::new(401, "jwt_validation_error", m.to_string());
    let claims = crate::jwt::verify(&ctx.jwt_secret, token, now()).map_err(bad)?;
    let user = claims
        .get("sub")
        .and_then(Value::as_str)
        .and_then(|s| Uuid::parse_str(s).ok())
        .ok_or_else(|| bad("user_token has no valid subject"))?;
    if ctx.store.read(|s| s.user(user).is_none()) {
        return Err(bad("user_token names an unknown user"));
    }
    Ok(user)
}

/// The addressing fields shared by `/sdk/token` and `/sdk/proxy`
/// (requests.md §14.2 step 1), with the user token verified.
pub fn parse_lookup(ctx: &Ctx, map: &Map<String, Value>) -> ApiResult<Lookup> {
    let grant_id = opt_nonempty(map, "grant_id")?;
    let provider_id = opt_nonempty(map, "provider_id")?;
    match (&grant_id, &provider_id) {
        (Some(_), Some(_)) => {
            return Err(ApiError::validation(
                "grant_id",
                "provide exactly one of grant_id and provider_id",
            ))
        }
        (None, None) => {
            return Err(ApiError::validation(
                "grant_id",
                "grant_id or provider_id is required",
            ))
        }
        _ => {}
    }
    let account = opt_nonempty(map, "account")?;
    let label = opt_nonempty(map, "label")?;
    let app_user_id = opt_nonempty(map, "app_user_id")?;
    if provider_id.is_none() {
        for (field, v) in [
            ("account", &account),
            ("label", &label),
            ("app_user_id", &app_user_id),
        ] {
            if v.is_some() {
                return Err(ApiError::validation(
                    field,
                    format!("{field} is only valid with provider_id"),
                ));
            }
        }
    }
    let user = match opt_nonempty(map, "user_token")? {
        Some(t) => Some(verify_user_token(ctx, &t)?),
        None => None,
    };
    Ok(Lookup {
        grant_id,
        provider_id,
        account,
        label,
        app_user_id,
        user,
    })
}

/// Applies the request's `X-Alter-Request-Rule` on a credential-using call
/// (agents-and-keys.md §8). `method` is None on a raw-token retrieval, where
/// method conditions count as satisfied.
pub fn check_rule(auth: &Auth, method: Option<&str>) -> ApiResult<()> {
    let Some(rule) = &auth.rule else {
        return Ok(());
    };
    let body = &rule["rule_body"];
    let deny = |why: &str| ApiError::new(403, "request_rule_denied", why.to_string());
    match rule["rule_type"].as_str() {
        Some("json_match") => {
            let effect = body.get("effect").and_then(Value::as_str).unwrap_or("deny");
            let method_matches = match (body.pointer("/when/method"), method) {
                (None, _) | (_, None) => true,
                (Some(Value::String(m)), Some(actual)) => m.eq_ignore_ascii_case(actual),
                (Some(Value::Array(ms)), Some(actual)) => ms
                    .iter()
                    .filter_map(Value::as_str)
                    .any(|m| m.eq_ignore_ascii_case(actual)),
                (Some(_), Some(_)) => false,
            };
            if method_matches && effect == "deny" {
                return Err(deny("denied by the request rule"));
            }
            Ok(())
        }
        // The local vault has no operation catalogue, so it cannot classify
        // a call against a content rule; unclassifiable calls are denied
        // (the documented fail-closed behaviour).
        _ => Err(deny(
            "content rule loaded but the operation cannot be classified",
        )),
    }
}
