//! Connect sessions (grants-and-connect.md §4, §8.6): OAuth and
//! managed-secret session creation, the poll, and the completion logic the
//! consent page (`/connect/{token}`) and the operator API
//! (`/_dev/connect/{token}`) drive.

use crate::auth::Auth;
use crate::catalog::covers;
use crate::ctx::Ctx;
use crate::error::{json_object, opt_bool, opt_nonempty, opt_str, ApiError, ApiResult};
use crate::resolve::{chain_expiry, check_live};
use crate::routes::manage::{lifetime, parse_policy, policy_json};
use crate::routes::verify_user_token;
use crate::state::{
    AgentStatus, ConnectSessionRow, Grant, GrantKind, OAuthConnection, Principal, SecretCredential,
    SecretMaterial, SessionState, State as VaultState,
};
use crate::util::{now, parse_uuid, random_hex, rfc3339};
use axum::extract::State;
use axum::{Extension, Json};
use bytes::Bytes;
use serde_json::{json, Map, Value};
use std::sync::Arc;
use uuid::Uuid;

/// Lifetime of Connect and sign-in sessions (the spec's suggested local
/// default).
pub const SESSION_TTL: i64 = 600;
/// The hard ceiling on any delegation lifetime: 5 × 365 days.
pub const FIVE_YEARS: i64 = 5 * 365 * 86_400;
/// The default delegation cap when the provider sets none.
pub const NINETY_DAYS: i64 = 90 * 86_400;
/// Finished sessions are dropped this long after they expire.
const SESSION_KEEP: i64 = 3600;

/// `now + secs`, saturating (TTLs arrive as arbitrary u64).
pub fn after(now: i64, secs: u64) -> i64 {
    now.saturating_add(i64::try_from(secs).unwrap_or(i64::MAX))
}

/// The effective delegation expiry of a managed-secret Connect, reading B
/// of grants-and-connect.md §4.5.1: the policy cap is the provider's
/// ceiling in days when set, else 90 days; the earliest of that cap, the
/// requested lifetime and the source grant's expiry wins; the 5-year
/// ceiling applies last.
pub fn delegation_expiry(
    now: i64,
    requested_ttl: Option<u64>,
    source_expiry: Option<i64>,
    ceiling_days: Option<u32>,
) -> i64 {
    let cap = match ceiling_days {
        Some(d) => now + i64::from(d) * 86_400,
        None => now + NINETY_DAYS,
    };
    let mut e = cap;
    if let Some(r) = requested_ttl {
        e = e.min(after(now, r));
    }
    if let Some(src) = source_expiry {
        e = e.min(src);
    }
    e.min(now + FIVE_YEARS)
}

/// Refuses body keys outside `allowed` (the backend's schemas forbid
/// extras).
pub fn reject_unknown(map: &Map<String, Value>, allowed: &[&str]) -> ApiResult<()> {
    match map.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => Err(ApiError::validation(k, format!("unknown field '{k}'"))),
        None => Ok(()),
    }
}

fn agent_not_found() -> ApiError {
    ApiError::not_found(
        "agent_not_found",
        "No active managed agent matches the requested agent in this app",
    )
}

/// An active agent named by UUID or by name.
pub fn find_active_agent(s: &VaultState, reference: &str) -> Option<Uuid> {
    let active = |id: Uuid| s.agent(id).is_some_and(|a| a.status == AgentStatus::Active);
    if let Some(id) = parse_uuid(reference) {
        return active(id).then_some(id);
    }
    s.agents
        .iter()
        .find(|a| a.name == reference && a.status == AgentStatus::Active)
        .map(|a| a.id)
}

/// The agent a session targets: the caller's own agent (own key or
/// impersonation), or the named one for an app key.
fn target_agent(s: &VaultState, auth: &Auth, named: Option<&str>) -> ApiResult<Option<Uuid>> {
    let named = match named {
        Some(r) => Some(find_active_agent(s, r).ok_or_else(agent_not_found)?),
        None => None,
    };
    match (auth.agent_id, named) {
        (Some(me), Some(other)) if other != me => Err(ApiError::new(
            400,
            "agent_cannot_delegate_to_other_agent",
            "an agent may only start a Connect for itself",
        )),
        (Some(me), _) => Ok(Some(me)),
        (None, named) => Ok(named),
    }
}

/// The client's `scope_constraint` rules (§3.1), with atoms trimmed.
pub fn parse_constraint(v: Option<&Value>) -> ApiResult<Option<Vec<String>>> {
    let bad = |m: &str| ApiError::new(422, "invalid_scope_constraint", m.to_string());
    let list = match v {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Array(a)) if !a.is_empty() && a.len() <= 100 => a,
        Some(_) => return Err(bad("scope_constraint must be a list of 1 to 100 scopes")),
    };
    let mut out = Vec::new();
    for item in list {
        let atom = item
            .as_str()
            .map(str::trim)
            .ok_or_else(|| bad("scope_constraint entries must be strings"))?;
        let valid_chars = atom
            .bytes()
            .all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b));
        if atom.is_empty() || atom == "*" || atom.len() > 512 || !valid_chars {
            return Err(bad(&format!("'{atom}' is not a valid scope")));
        }
        if !out.iter().any(|o| o == atom) {
            out.push(atom.to_string());
        }
    }
    Ok(Some(out))
}

/// `allowed_origin`: a bare `scheme://host[:port]` (§4.1, §4.5).
fn parse_origin(raw: &str) -> ApiResult<String> {
    let bad = || {
        ApiError::new(
            400,
            "invalid_origin",
            "allowed_origin must be a bare http(s) origin (scheme://host[:port])",
        )
    };
    let o = raw.strip_suffix('/').unwrap_or(raw);
    if o.is_empty() || o.contains('*') {
        return Err(bad());
    }
    let (scheme, rest) = o.split_once("://").ok_or_else(bad)?;
    if rest.is_empty() || rest.contains(['/', '?', '#', '@']) {
        return Err(bad());
    }
    let u = url::Url::parse(o).map_err(|_| bad())?;
    let loopback = match u.host() {
        Some(url::Host::Domain(d)) => d == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => return Err(bad()),
    };
    match scheme {
        "https" => Ok(o.to_string()),
        "http" if loopback => Ok(o.to_string()),
        _ => Err(bad()),
    }
}

fn string_list(v: &Value) -> Option<Vec<String>> {
    v.as_array()?
        .iter()
        .map(|s| s.as_str().map(str::to_string))
        .collect()
}

/// `requested_grant`: `{label, restrictions?}`; `allow_restrictions` is
/// false for managed-secret sessions (label only).
fn parse_requested_grant(v: Option<&Value>, allow_restrictions: bool) -> ApiResult<Option<Value>> {
    let bad = |m: &str| ApiError::validation("requested_grant", m.to_string());
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    let m = v
        .as_object()
        .ok_or_else(|| bad("requested_grant must be an object"))?;
    let allowed: &[&str] = if allow_restrictions {
        &["label", "restrictions"]
    } else {
        &["label"]
    };
    if m.keys().any(|k| !allowed.contains(&k.as_str())) {
        return Err(bad("requested_grant has an unknown key"));
    }
    let label = m
        .get("label")
        .and_then(Value::as_str)
        .filter(|l| !l.is_empty() && l.chars().count() <= 255)
        .ok_or_else(|| bad("requested_grant.label must be 1-255 characters"))?;
    let mut out = json!({ "label": label });
    if let Some(r) = m.get("restrictions").filter(|r| !r.is_null()) {
        let r = r
            .as_object()
            .ok_or_else(|| bad("restrictions must be an object"))?;
        for (k, v) in r {
            if !matches!(k.as_str(), "allowed_methods" | "allowed_endpoints") {
                return Err(bad(
                    "restrictions accepts allowed_methods and allowed_endpoints",
                ));
            }
            if !v.is_null() && string_list(v).is_none() {
                return Err(bad("restrictions entries must be lists of strings"));
            }
        }
        out["restrictions"] = Value::Object(r.clone());
    }
    Ok(Some(out))
}

fn prune_sessions(s: &mut VaultState, t: i64) {
    s.connect_sessions
        .retain(|c| c.expires_at + SESSION_KEEP > t);
    s.auth_sessions.retain(|c| c.expires_at + SESSION_KEEP > t);
}

fn new_session(kind: &str, token: String, t: i64) -> ConnectSessionRow {
    ConnectSessionRow {
        token,
        kind: kind.into(),
        created_at: t,
        expires_at: t + SESSION_TTL,
        created_by_agent_key: false,
        user: None,
        providers: Vec::new(),
        direct: false,
        switch_account: false,
        allow_user_policy_rules: true,
        grant_policy: None,
        requested_grant: None,
        repair_grant_id: None,
        agent: None,
        delegable: None,
        scope_constraint: None,
        constraint_invalid_for: Vec::new(),
        return_url: None,
        allowed_origin: None,
        metadata: None,
        managed_secret_id: None,
        template_slug: None,
        path: None,
        existing_grant_id: None,
        requested_ttl_seconds: None,
        delegation_expires_at: None,
        state: SessionState::Pending,
        grants: Vec::new(),
        failed_grants: Vec::new(),
        declined_providers: Vec::new(),
        error: None,
    }
}

/// The consent page of a session.
pub fn connect_url(ctx: &Ctx, token: &str) -> String {
    format!("{}/connect/{token}", ctx.info.base_url)
}

const OAUTH_FIELDS: &[&str] = &[
    "allowed_providers",
    "return_url",
    "allowed_origin",
    "metadata",
    "direct",
    "switch_account",
    "allow_user_policy_rules",
    "grant_policy",
    "required_scopes",
    "requested_grant",
    "repair_grant_id",
    "agent",
    "delegable",
    "scope_constraint",
    "user_token",
];

/// `POST /sdk/oauth/connect/session` (§4.1).
pub async fn create_oauth(
    State(ctx): State<Arc<Ctx>>,
    Extension(auth): Extension<Arc<Auth>>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    auth.require(&["connect:initiate"])?;
    let map = json_object(&body)?;
    reject_unknown(&map, OAUTH_FIELDS)?;
    let invalid = |f: &str, m: &str| ApiError::validation(f, m.to_string());

    // Providers: normalised before the direct/repair validators.
    let requested: Option<Vec<String>> = match map.get("allowed_providers") {
        None | Some(Value::Null) => None,
        Some(Value::Array(a)) => {
            let mut out: Vec<String> = Vec::new();
            for p in a {
                let p = p
                    .as_str()
                    .map(|p| p.trim().to_ascii_lowercase())
                    .filter(|p| !p.is_empty())
                    .ok_or_else(|| {
                        invalid("allowed_providers", "entries must be non-blank strings")
                    })?;
                if !out.contains(&p) {
                    out.push(p);
                }
            }
            if out.is_empty() {
                return Err(invalid(
                    "allowed_providers",
                    "allowed_providers must not be empty",
                ));
            }
            Some(out)
        }
        Some(_) => {
            return Err(invalid(
                "allowed_providers",
                "allowed_providers must be a list",
            ))
        }
    };
    let direct = opt_bool(&map, "direct")?.unwrap_or(false);
    let switch_account = opt_bool(&map, "switch_account")?.unwrap_or(false);
    let allow_rules = opt_bool(&map, "allow_user_policy_rules")?.unwrap_or(true);
    let delegable = opt_bool(&map, "delegable")?;
    let agent_ref = opt_nonempty(&map, "agent")?;
    let requested_grant = parse_requested_grant(map.get("requested_grant"), true)?;
    let constraint = parse_constraint(map.get("scope_constraint"))?;
    let policy = parse_policy(
        map.get("grant_policy"),
        &["max_ttl_seconds", "default_ttl_seconds"],
    )?;
    let repair = match opt_nonempty(&map, "repair_grant_id")? {
        Some(r) => Some(
            parse_uuid(&r)
                .ok_or_else(|| invalid("repair_grant_id", "repair_grant_id must be a UUID"))?,
        ),
        None => None,
    };
    let allowed_origin = match opt_str(&map, "allowed_origin")? {
        Some(o) => Some(parse_origin(&o)?),
        None => None,
    };
    let return_url = opt_str(&map, "return_url")?;
    let metadata = match map.get("metadata") {
        None | Some(Value::Null) => None,
        Some(Value::Object(m))
            if m.iter().all(|(k, v)| {
                matches!(k.as_str(), "ip_address" | "user_agent") && (v.is_string() || v.is_null())
            }) =>
        {
            Some(Value::Object(m.clone()))
        }
        Some(_) => {
            return Err(invalid(
                "metadata",
                "metadata accepts only ip_address and user_agent strings",
            ))
        }
    };
    let required_scopes: Option<Map<String, Value>> = match map.get("required_scopes") {
        None | Some(Value::Null) => None,
        Some(Value::Object(m)) if m.values().all(|v| string_list(v).is_some()) => Some(m.clone()),
        Some(_) => {
            return Err(invalid(
                "required_scopes",
                "required_scopes maps provider ids to lists of scopes",
            ))
        }
    };
    let user = match opt_nonempty(&map, "user_token")? {
        Some(tok) => Some(verify_user_token(&ctx, &tok)?),
        None => None,
    };
    let t = now();
    let token = format!("cs_{}", random_hex(24));
    let url = connect_url(&ctx, &token);

    let out = ctx.store.write(|s| {
        let providers = match requested {
            Some(p) => p,
            None => s.oauth_providers.iter().map(|p| p.provider_id.clone()).collect(),
        };
        if direct && providers.len() != 1 {
            return Err(invalid("direct", "direct requires exactly one provider"));
        }
        if repair.is_some()
            && (providers.len() != 1 || agent_ref.is_some() || requested_grant.is_some() || switch_account)
        {
            return Err(invalid(
                "repair_grant_id",
                "a repair names exactly one provider and no agent, requested_grant or switch_account",
            ));
        }
        if let Some(p) = providers.iter().find(|p| s.oauth_provider(p).is_none()) {
            return Err(ApiError::new(
                400,
                "provider_not_configured",
                format!("OAuth provider '{p}' is not configured for this app"),
            )
            .with("provider_id", p.as_str()));
        }
        let agent = target_agent(s, &auth, agent_ref.as_deref())?;
        if auth.agent_id.is_none() && agent.is_some() && user.is_none() {
            return Err(ApiError::new(
                400,
                "agent_requires_user_token",
                "delegating to an agent needs the consenting user's user_token",
            ));
        }
        // The scope constraint needs a target and at least one provider it
        // is valid for.
        let mut warnings = Vec::new();
        let mut invalid_for = Vec::new();
        if let Some(c) = &constraint {
            if agent.is_none() {
                return Err(ApiError::new(
                    422,
                    "invalid_scope_constraint",
                    "scope_constraint needs a targeted agent",
                ));
            }
            for p in &providers {
                let offered = &s.oauth_provider(p).expect("checked").scopes;
                let bad: Vec<&String> = c
                    .iter()
                    .filter(|a| !offered.iter().any(|o| covers(&o.name, a)))
                    .collect();
                if !bad.is_empty() {
                    let atoms: Vec<&str> = bad.iter().map(|a| a.as_str()).collect();
                    warnings.push(format!(
                        "{p}: scope_constraint atoms not offered by this provider: {}",
                        atoms.join(", ")
                    ));
                    invalid_for.push(p.clone());
                }
            }
            if invalid_for.len() == providers.len() {
                return Err(ApiError::new(
                    422,
                    "invalid_scope_constraint",
                    "scope_constraint is invalid for every allowed provider",
                )
                .with("warnings", warnings));
            }
        }
        if let Some(rs) = &required_scopes {
            for (p, list) in rs {
                let Some(cfg) = s.oauth_provider(p) else { continue };
                for sc in string_list(list).unwrap_or_default() {
                    if !cfg.scopes.iter().any(|o| o.name == sc) {
                        return Err(ApiError::new(
                            400,
                            "scope_not_allowed",
                            format!("scope '{sc}' is not in the allowlist configured for {p}"),
                        )
                        .with("provider_id", p.as_str()));
                    }
                }
            }
        }
        if let Some(rid) = repair {
            repairable_oauth(s, &auth, rid, &providers[0], user, t)?;
        }
        let stored_direct = (direct || repair.is_some()) && !(agent.is_some() && delegable == Some(true));
        prune_sessions(s, t);
        let mut row = new_session("oauth", token.clone(), t);
        row.created_by_agent_key = auth.key_agent.is_some();
        row.user = user;
        row.providers = providers.clone();
        row.direct = stored_direct;
        row.switch_account = switch_account;
        row.allow_user_policy_rules = allow_rules;
        row.grant_policy = policy.raw.clone();
        row.requested_grant = requested_grant;
        row.repair_grant_id = repair;
        row.agent = agent;
        row.delegable = delegable;
        row.scope_constraint = constraint;
        row.constraint_invalid_for = invalid_for;
        row.return_url = return_url;
        row.allowed_origin = allowed_origin;
        row.metadata = metadata;
        if let Some(rs) = required_scopes {
            // Kept with the session so completion grants them.
            row.requested_grant
                .get_or_insert_with(|| json!({}))
                .as_object_mut()
                .expect("object")
                .insert("required_scopes".into(), Value::Object(rs));
        }
        s.connect_sessions.push(row);
        Ok(json!({
            "session_token": token,
            "connect_url": url,
            "expires_in": SESSION_TTL,
            "expires_at": rfc3339(t + SESSION_TTL),
            "scope_constraint_warnings": warnings,
            "single_provider": providers.len() == 1,
            "direct": stored_direct,
        }))
    })?;
    ctx.bump_sessions();
    Ok(Json(out))
}

/// A repair target: an active OAuth root of this provider the caller can
/// address (a user's grant only with that user's token).
fn repairable_oauth(
    s: &VaultState,
    auth: &Auth,
    rid: Uuid,
    provider: &str,
    user: Option<Uuid>,
    t: i64,
) -> ApiResult<()> {
    let nf = || {
        ApiError::not_found(
            "grant_not_found",
            "repair_grant_id names no active grant of yours",
        )
    };
    let g = s.grant(rid).ok_or_else(nf)?;
    let ok = g.parent_grant_id.is_none()
        && matches!(g.kind, GrantKind::OAuth { .. })
        && s.grant_matches_provider(g, provider)
        && g.revoked_at.is_none()
        && g.expires_at.is_none_or(|e| e > t)
        && auth.key_agent.is_none()
        && match g.principal {
            Principal::User { user_id } => user == Some(user_id),
            Principal::System => user.is_none(),
            _ => false,
        };
    if ok {
        Ok(())
    } else {
        Err(nf())
    }
}

const SECRET_FIELDS: &[&str] = &[
    "provider",
    "template_slug",
    "agent",
    "delegated_agent_id",
    "delegated_agent_name",
    "user_token",
    "requested_ttl_seconds",
    "allowed_origin",
    "return_url",
    "allow_user_policy_rules",
    "delegable",
    "requested_grant",
    "grant_policy",
    "direct",
    "repair_grant_id",
];

fn valid_provider_slug(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 50
        && s.bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
}

/// The user's grant is their own key: a user grant on an end-user
/// credential they own.
fn own_key(s: &VaultState, g: &Grant, user: Uuid) -> bool {
    match (&g.principal, &g.kind) {
        (
            Principal::User { user_id },
            GrantKind::ManagedSecret {
                credential_id: Some(c),
                ..
            },
        ) if *user_id == user => s
            .credentials
            .iter()
            .any(|cr| cr.credential_id == *c && cr.kind == "end_user" && cr.owner == Some(user)),
        _ => false,
    }
}

/// The user's non-revoked managed-secret roots on these providers: their
/// own user grants and the grants of their groups.
fn user_secret_roots<'a>(s: &'a VaultState, user: Uuid, providers: &[Uuid]) -> Vec<&'a Grant> {
    let groups = s.user(user).map(|u| u.groups.clone()).unwrap_or_default();
    s.grants
        .iter()
        .filter(|g| g.parent_grant_id.is_none() && g.revoked_at.is_none())
        .filter(|g| match &g.kind {
            GrantKind::ManagedSecret {
                managed_secret_id, ..
            } => providers.contains(managed_secret_id),
            GrantKind::OAuth { .. } => false,
        })
        .filter(|g| match &g.principal {
            Principal::User { user_id } => *user_id == user,
            Principal::Group {
                idp_id,
                external_group_id,
            } => *idp_id == s.idp_id && groups.contains(external_group_id),
            _ => false,
        })
        .collect()
}

fn no_eligible(reason: &str) -> ApiError {
    ApiError::new(
        409,
        "no_eligible_grants",
        "The user has no managed-secret grant this agent can be delegated from.",
    )
    .with("details", json!({ "reason": reason }))
}

/// `POST /sdk/managed-secrets/connect/session` (§4.5), both spellings.
pub async fn create_secret(
    State(ctx): State<Arc<Ctx>>,
    Extension(auth): Extension<Arc<Auth>>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    auth.require(&["connect:initiate", "secrets:write"])?;
    let map = json_object(&body)?;
    reject_unknown(&map, SECRET_FIELDS)?;
    let invalid = |f: &str, m: &str| ApiError::validation(f, m.to_string());
    let provider = opt_nonempty(&map, "provider")?;
    if provider.as_deref().is_some_and(|p| !valid_provider_slug(p)) {
        return Err(invalid("provider", "provider must match [a-z0-9-]{1,50}"));
    }
    let template = opt_nonempty(&map, "template_slug")?.map(|t| t.to_ascii_lowercase());
    if template
        .as_deref()
        .is_some_and(|t| !t.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-'))
    {
        return Err(invalid(
            "template_slug",
            "template_slug must be [A-Za-z0-9-]+",
        ));
    }
    if provider.is_none() && template.is_none() {
        return Err(invalid(
            "provider",
            "provider (or template_slug) is required",
        ));
    }
    let agent_fields: Vec<String> = ["agent", "delegated_agent_id", "delegated_agent_name"]
        .iter()
        .map(|f| opt_nonempty(&map, f))
        .collect::<ApiResult<Vec<_>>>()?
        .into_iter()
        .flatten()
        .collect();
    if agent_fields.len() > 1 {
        return Err(invalid(
            "agent",
            "name the agent once (agent or delegated_agent_id)",
        ));
    }
    let agent_ref = agent_fields.into_iter().next();
    let user_token = opt_nonempty(&map, "user_token")?
        .ok_or_else(|| invalid("user_token", "user_token is required"))?;
    let requested_ttl = match map.get("requested_ttl_seconds") {
        None | Some(Value::Null) => None,
        Some(v) => Some(
            v.as_u64()
                .filter(|n| *n > 0)
                .ok_or_else(|| invalid("requested_ttl_seconds", "must be a positive integer"))
                .and_then(|n| {
                    crate::util::bounded_ttl(n).ok_or_else(|| {
                        invalid(
                            "requested_ttl_seconds",
                            &crate::util::ttl_too_long("requested_ttl_seconds"),
                        )
                    })
                })?,
        ),
    };
    let policy = parse_policy(
        map.get("grant_policy"),
        &["expires_at", "max_ttl_seconds", "default_ttl_seconds"],
    )?;
    if requested_ttl.is_some() && policy.raw.is_some() {
        return Err(invalid(
            "requested_ttl_seconds",
            "requested_ttl_seconds cannot be combined with grant_policy",
        ));
    }
    let allow_rules = opt_bool(&map, "allow_user_policy_rules")?.unwrap_or(true);
    let delegable_requested = opt_bool(&map, "delegable")?.unwrap_or(false);
    let direct = opt_bool(&map, "direct")?.unwrap_or(false);
    let requested_grant = parse_requested_grant(map.get("requested_grant"), false)?;
    let repair = match opt_nonempty(&map, "repair_grant_id")? {
        Some(r) => Some(
            parse_uuid(&r)
                .ok_or_else(|| invalid("repair_grant_id", "repair_grant_id must be a UUID"))?,
        ),
        None => None,
    };
    if repair.is_some() && (agent_ref.is_some() || requested_grant.is_some()) {
        return Err(invalid(
            "repair_grant_id",
            "a repair cannot name an agent or a requested grant",
        ));
    }
    let allowed_origin = match opt_str(&map, "allowed_origin")? {
        Some(o) => Some(parse_origin(&o)?),
        None => None,
    };
    let return_url = opt_str(&map, "return_url")?;
    let user = verify_user_token(&ctx, &user_token)?;
    let t = now();
    let token = format!("ms_sess_{}", random_hex(24));
    let url = format!("{}#session={token}", connect_url(&ctx, &token));

    let out = ctx.store.write(|s| {
        // The provider, or the providers of the template.
        let (ms, candidates): (Option<Uuid>, Vec<Uuid>) = match (&provider, &template) {
            (Some(p), t) => {
                let m = s.managed_secret_by_slug(p).ok_or_else(|| {
                    ApiError::not_found(
                        "secret_not_found",
                        "No active managed-secret provider of this app has the requested slug.",
                    )
                })?;
                if t.as_ref()
                    .is_some_and(|t| m.template_slug.as_ref() != Some(t))
                {
                    return Err(ApiError::new(
                        422,
                        "secret_template_mismatch",
                        "the provider is not of the requested template",
                    ));
                }
                (Some(m.managed_secret_id), vec![m.managed_secret_id])
            }
            (None, Some(t)) => {
                let of: Vec<Uuid> = s
                    .managed_secrets
                    .iter()
                    .filter(|m| m.template_slug.as_ref() == Some(t))
                    .map(|m| m.managed_secret_id)
                    .collect();
                (if of.len() == 1 { Some(of[0]) } else { None }, of)
            }
            (None, None) => unreachable!("checked above"),
        };
        let agent = target_agent(s, &auth, agent_ref.as_deref())?;
        let roots = user_secret_roots(s, user, &candidates);
        let live: Vec<&Grant> = roots
            .iter()
            .copied()
            .filter(|g| check_live(s, g, t).is_ok())
            .collect();
        let (path, existing, ms) = if let Some(rid) = repair {
            let g = roots
                .iter()
                .find(|g| g.grant_id == rid && own_key(s, g, user))
                .ok_or_else(|| {
                    ApiError::not_found(
                        "grant_not_found",
                        "repair_grant_id is not your own key grant on this provider",
                    )
                })?;
            ("repair", Some(g.grant_id), secret_of(g).or(ms))
        } else if !live.is_empty() {
            let label = requested_grant
                .as_ref()
                .and_then(|r| r["label"].as_str().map(str::to_string));
            let pick = live
                .iter()
                .find(|g| label.is_some() && g.label == label)
                .or_else(|| live.iter().max_by_key(|g| (g.created_at, g.grant_id)))
                .expect("non-empty");
            ("fast_path", Some(pick.grant_id), secret_of(pick).or(ms))
        } else if let Some(g) = roots.iter().find(|g| own_key(s, g, user)) {
            // One own key per user and provider; its grant has lapsed.
            ("repair", Some(g.grant_id), secret_of(g).or(ms))
        } else if ms.is_some() {
            ("key_entry", None, ms)
        } else {
            let reason = if roots.is_empty() {
                "no_grant"
            } else {
                "grant_expired"
            };
            return Err(no_eligible(reason));
        };
        let ms = ms.expect("every path names a provider");
        let m = s.managed_secret(ms).expect("exists").clone();
        if let Some(a) = agent {
            if !s.agent(a).is_some_and(|a| a.allows_secret(&m.slug)) {
                return Err(no_eligible("agent_not_allowlisted"));
            }
        }
        let stored_direct = (direct || path == "repair") && !delegable_requested;
        // The delegation's lifetime, resolved now (§4.5.1).
        let delegation_exp = agent.map(|_| {
            let source = existing
                .and_then(|e| s.grant(e))
                .and_then(|g| chain_expiry(s, g));
            let requested = requested_ttl.or(policy.default_ttl).or(policy.max_ttl);
            delegation_expiry(t, requested, source, m.max_delegation_ttl_days)
        });
        prune_sessions(s, t);
        let own_agent_key = auth.key_agent.is_some();
        let mut row = new_session("managed_secret", token.clone(), t);
        row.created_by_agent_key = own_agent_key;
        row.user = Some(user);
        row.providers = vec![m.slug.clone()];
        row.direct = stored_direct;
        row.allow_user_policy_rules = allow_rules;
        row.grant_policy = policy.raw.clone();
        row.requested_grant = requested_grant;
        row.repair_grant_id = repair;
        row.agent = agent;
        row.delegable = delegable_requested.then_some(true);
        row.return_url = return_url;
        row.allowed_origin = allowed_origin;
        row.managed_secret_id = Some(ms);
        row.template_slug = template.clone();
        row.path = Some(path.to_string());
        row.existing_grant_id = existing;
        row.requested_ttl_seconds = requested_ttl;
        row.delegation_expires_at = delegation_exp;
        s.connect_sessions.push(row);
        // An agent's own key never learns what the user holds.
        let (shown_path, shown_existing) = if own_agent_key {
            (Value::Null, Value::Null)
        } else {
            (json!(path), json!(existing.map(|e| e.to_string())))
        };
        Ok(json!({
            "session_token": token,
            "connect_url": url,
            "expires_in": SESSION_TTL,
            "expires_at": rfc3339(delegation_exp.unwrap_or(t + SESSION_TTL)),
            "delegable_requested": delegable_requested,
            "path": shown_path,
            "existing_grant_id": shown_existing,
            "direct": stored_direct,
            "secret_slug": m.slug,
            "template_slug": m.template_slug,
            "agent_id": agent.map(|a| a.to_string()),
        }))
    })?;
    ctx.bump_sessions();
    Ok(Json(out))
}

fn secret_of(g: &Grant) -> Option<Uuid> {
    match g.kind {
        GrantKind::ManagedSecret {
            managed_secret_id, ..
        } => Some(managed_secret_id),
        GrantKind::OAuth { .. } => None,
    }
}

/// The poll answer for a session (OAuth shape; managed-secret sessions
/// answer the same way, a local extension: the reference has no poll for
/// them). Unknown or purged tokens read as `expired`.
pub fn poll_json(s: &VaultState, token: &str, t: i64) -> Value {
    let Some(c) = s.connect_sessions.iter().find(|c| c.token == token) else {
        return json!({"status": "expired"});
    };
    match projected(c, t) {
        SessionState::Pending => {
            json!({"status": "pending", "declined_providers": c.declined_providers})
        }
        SessionState::Completed => {
            let mut out = json!({"status": "completed", "grants": c.grants});
            if !c.failed_grants.is_empty() {
                out["failed_grants"] = json!(c.failed_grants);
            }
            out
        }
        SessionState::Error => json!({"status": "error", "error": c.error}),
        SessionState::Expired => json!({"status": "expired"}),
    }
}

/// A pending session past its window reads as expired.
pub fn projected(c: &ConnectSessionRow, t: i64) -> SessionState {
    if c.state == SessionState::Pending && t >= c.expires_at {
        SessionState::Expired
    } else {
        c.state
    }
}

/// `POST /sdk/oauth/connect/session/poll` (§4.3).
pub async fn poll(
    State(ctx): State<Arc<Ctx>>,
    Extension(auth): Extension<Arc<Auth>>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    auth.require(&["connect:initiate"])?;
    let map = json_object(&body)?;
    let token = opt_str(&map, "session_token")?
        .filter(|t| !t.trim().is_empty())
        .ok_or_else(|| ApiError::validation("session_token", "session_token is required"))?;
    Ok(Json(ctx.store.read(|s| poll_json(s, &token, now()))))
}

/// What the user (or the operator API standing in for them) did.
#[derive(Debug, Clone)]
pub enum Action {
    Approve,
    Deny,
    /// Declines one provider of a multi-provider session.
    Decline(String),
    Fail {
        code: String,
        message: String,
    },
    Expire,
}

/// A decision on a Connect session with the choices the page offers.
#[derive(Debug, Clone)]
pub struct Decision {
    pub action: Action,
    /// Providers kept at Confirm; `None` = all.
    pub providers: Option<Vec<String>>,
    /// The provider account connected; defaults to the user's e-mail.
    pub account: Option<String>,
    /// The lifetime the user picked within the session's policy bounds.
    pub ttl_seconds: Option<u64>,
    /// The user's onward-sharing choice (when the session offers it).
    pub share_onward: Option<bool>,
    /// The key entered on a managed-secret key entry or repair.
    pub secret: Option<String>,
}

impl Decision {
    pub fn new(action: Action) -> Decision {
        Decision {
            action,
            providers: None,
            account: None,
            ttl_seconds: None,
            share_onward: None,
            secret: None,
        }
    }
}

fn failed(provider: &str, reason: &str, message: &str) -> Value {
    json!({"provider_id": provider, "reason": reason, "message": message})
}

fn denied() -> Value {
    json!({
        "error_code": "connect_denied",
        "error_message": "The user denied the connection request.",
    })
}

/// Applies a decision. Errors: unknown session (404 `session_not_found`),
/// one that is no longer pending (409 `session_not_pending`), a key entry
/// without a key (422).
pub fn decide(s: &mut VaultState, token: &str, d: &Decision, t: i64) -> ApiResult<()> {
    let idx = s
        .connect_sessions
        .iter()
        .position(|c| c.token == token)
        .ok_or_else(|| ApiError::not_found("session_not_found", "no such Connect session"))?;
    let state = projected(&s.connect_sessions[idx], t);
    if state != SessionState::Pending {
        if state == SessionState::Expired {
            s.connect_sessions[idx].state = SessionState::Expired;
        }
        return Err(ApiError::new(
            409,
            "session_not_pending",
            format!("the session is already {}", state_name(state)),
        ));
    }
    let kind = s.connect_sessions[idx].kind.clone();
    match &d.action {
        Action::Deny => {
            let c = &mut s.connect_sessions[idx];
            c.state = SessionState::Error;
            c.error = Some(denied());
        }
        Action::Fail { code, message } => {
            let c = &mut s.connect_sessions[idx];
            c.state = SessionState::Error;
            c.error = Some(json!({"error_code": code, "error_message": message}));
        }
        Action::Expire => {
            let c = &mut s.connect_sessions[idx];
            c.state = SessionState::Expired;
            c.expires_at = c.expires_at.min(t);
        }
        Action::Decline(p) => {
            let c = &mut s.connect_sessions[idx];
            if !c.providers.contains(p) {
                return Err(ApiError::validation(
                    "provider_id",
                    "not a provider of this session",
                ));
            }
            if !c
                .declined_providers
                .iter()
                .any(|x| x["provider_id"] == json!(p))
            {
                c.declined_providers.push(json!({
                    "provider_id": p,
                    "error_code": "connect_denied",
                    "declined_at": rfc3339(t),
                }));
            }
            // Declining the last provider ends the session (inferred).
            if c.declined_providers.len() >= c.providers.len() {
                c.state = SessionState::Error;
                c.error = Some(denied());
            }
        }
        Action::Approve if kind == "oauth" => approve_oauth(s, idx, d, t),
        Action::Approve => approve_secret(s, idx, d, t)?,
    }
    Ok(())
}

pub fn state_name(st: SessionState) -> &'static str {
    match st {
        SessionState::Pending => "pending",
        SessionState::Completed => "completed",
        SessionState::Error => "error",
        SessionState::Expired => "expired",
    }
}

/// The TTL the user ends up with under a session's `grant_policy` bounds:
/// their pick (capped at the max), else the default, else the max.
fn picked_ttl(policy: Option<&Map<String, Value>>, pick: Option<u64>) -> Option<u64> {
    let p = policy?;
    let max = p.get("max_ttl_seconds").and_then(Value::as_u64);
    let default = p.get("default_ttl_seconds").and_then(Value::as_u64);
    match (pick, max) {
        (Some(x), Some(m)) => Some(x.min(m)),
        (Some(x), None) => Some(x),
        (None, _) => default.or(max),
    }
}

/// Creates or updates in place the agent's delegation under `parent`;
/// returns the `delegation` report.
#[allow(clippy::too_many_arguments)]
fn upsert_first_hop(
    s: &mut VaultState,
    parent: Uuid,
    agent: Uuid,
    choice: Option<bool>,
    policy_allows: bool,
    constraint: Option<Vec<String>>,
    expires_at: Option<i64>,
    t: i64,
) -> Value {
    let existing = s.grants.iter().position(|c| {
        c.parent_grant_id == Some(parent)
            && c.principal == (Principal::Agent { agent_id: agent })
            && c.revoked_at.is_none()
    });
    let prev = existing.map(|i| s.grants[i].delegable).unwrap_or(false);
    let (delegable, refused) = match choice {
        Some(true) if !policy_allows => (prev, true),
        Some(v) => (v, false),
        None => (prev, false),
    };
    let p = s.grant(parent).expect("parent exists").clone();
    let expires_at = match (expires_at, chain_expiry(s, &p)) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    let child_id = match existing {
        Some(i) => {
            let c = &mut s.grants[i];
            c.delegable = delegable;
            if constraint.is_some() {
                c.scope_constraint = constraint;
            }
            c.expires_at = expires_at;
            c.policy.created_at = Some(t);
            c.grant_id
        }
        None => {
            let mut c = Grant::new(
                p.kind.clone(),
                Principal::Agent { agent_id: agent },
                p.label.clone(),
                t,
            );
            c.parent_grant_id = Some(parent);
            c.depth = p.depth + 1;
            c.hitl = p.hitl;
            c.restricted = p.restricted;
            c.delegable = delegable;
            c.scope_constraint = constraint;
            c.expires_at = expires_at;
            c.policy.created_at = Some(t);
            c.policy.created_by = Some("end_user".into());
            let id = c.grant_id;
            s.grants.push(c);
            id
        }
    };
    json!({
        "agent_id": agent.to_string(),
        "delegable": delegable,
        "policy_refused": refused,
        // Extras the client ignores, for the application's own records.
        "grant_id": child_id.to_string(),
        "updated": existing.is_some(),
    })
}

/// The user's onward-sharing choice: offered when the session asked for
/// `delegable: true` (default on for an app key, off for the agent's own
/// key); otherwise the session's tri-state stands.
fn onward_choice(c: &ConnectSessionRow, d: &Decision) -> Option<bool> {
    match c.delegable {
        Some(true) => Some(d.share_onward.unwrap_or(!c.created_by_agent_key)),
        other => other,
    }
}

fn approve_oauth(s: &mut VaultState, idx: usize, d: &Decision, t: i64) {
    let c = s.connect_sessions[idx].clone();
    let declined: Vec<String> = c
        .declined_providers
        .iter()
        .filter_map(|x| x["provider_id"].as_str().map(str::to_string))
        .collect();
    let email = c.user.and_then(|u| s.user(u)).map(|u| u.email.clone());
    let required = c
        .requested_grant
        .as_ref()
        .and_then(|r| r.get("required_scopes"))
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let label = c
        .requested_grant
        .as_ref()
        .and_then(|r| r["label"].as_str().map(str::to_string));
    let restrictions = c
        .requested_grant
        .as_ref()
        .and_then(|r| r.get("restrictions"))
        .cloned();
    let principal = match c.user {
        Some(user_id) => Principal::User { user_id },
        None => Principal::System,
    };
    let mut grants = Vec::new();
    let mut failures = Vec::new();
    for p in c.providers.iter().filter(|p| !declined.contains(p)) {
        if d.providers.as_ref().is_some_and(|kept| !kept.contains(p)) {
            failures.push(failed(
                p,
                "not_selected",
                "The user did not select this provider.",
            ));
            continue;
        }
        if c.constraint_invalid_for.contains(p) {
            failures.push(failed(
                p,
                "invalid_scope_constraint",
                "The scope constraint is not valid for this provider.",
            ));
            continue;
        }
        let Some(cfg) = s.oauth_provider(p).cloned() else {
            failures.push(failed(
                p,
                "activation_failed",
                "The provider is no longer configured.",
            ));
            continue;
        };
        if c.agent
            .is_some_and(|a| !s.agent(a).is_some_and(|a| a.status == AgentStatus::Active))
        {
            failures.push(failed(
                p,
                "activation_failed",
                "The agent is no longer active.",
            ));
            continue;
        }
        let account = d
            .account
            .clone()
            .or(email.clone())
            .unwrap_or_else(|| format!("app@{p}.example"));
        let scopes: Vec<String> = required
            .get(p.as_str())
            .and_then(string_list)
            .unwrap_or_else(|| {
                cfg.scopes
                    .iter()
                    .filter(|s| s.is_default)
                    .map(|s| s.name.clone())
                    .collect()
            });
        // The fake provider's token for this consent.
        let access_token = format!("fake-{p}-{}", random_hex(16));
        let reuse = if let Some(rid) = c.repair_grant_id {
            Some(rid)
        } else if c.switch_account {
            None
        } else {
            s.grants
                .iter()
                .find(|g| {
                    g.parent_grant_id.is_none()
                        && g.principal == principal
                        && s.grant_account(g).is_some_and(|conn| {
                            conn.provider_id == *p
                                && conn.account_identifier.as_deref() == Some(account.as_str())
                        })
                        && check_live(s, g, t).is_ok()
                })
                .map(|g| g.grant_id)
        };
        let (root_id, operation) = match reuse {
            Some(rid) => {
                // Reauthorisation: same grant, the stored token replaced.
                if let Some(GrantKind::OAuth { connection_id }) =
                    s.grant(rid).map(|g| g.kind.clone())
                {
                    if let Some(conn) = s.connection_mut(connection_id) {
                        conn.access_token = access_token;
                        conn.scopes = scopes.clone();
                        conn.token_generation = Uuid::new_v4();
                        conn.needs_reconnect = false;
                        conn.revoked = false;
                    }
                }
                (rid, "reauth")
            }
            None => {
                let connection_id = Uuid::new_v4();
                s.connections.push(OAuthConnection {
                    connection_id,
                    provider_id: p.clone(),
                    user_id: c.user,
                    access_token,
                    scopes: scopes.clone(),
                    account_identifier: Some(account.clone()),
                    account_display_name: Some(account.clone()),
                    token_generation: Uuid::new_v4(),
                    token_expires_at: Some(t + 3600),
                    needs_reconnect: false,
                    revoked: false,
                    api_base_url: cfg.api_base_url.clone(),
                });
                let mut root = Grant::new(
                    GrantKind::OAuth { connection_id },
                    principal.clone(),
                    label.clone(),
                    t,
                );
                if let Some(r) = &restrictions {
                    root.restricted = true;
                    root.policy.restrictions = Some(r.clone());
                }
                let picked = picked_ttl(c.grant_policy.as_ref(), d.ttl_seconds);
                root.expires_at = lifetime(t, None, picked, None);
                let user_chose = d.ttl_seconds.is_some() && !c.direct && c.allow_user_policy_rules;
                root.policy.created_by =
                    Some(if user_chose { "end_user" } else { "developer" }.into());
                root.policy.created_at = Some(t);
                if let Some(gp) = &c.grant_policy {
                    root.policy.max_ttl_seconds = gp.get("max_ttl_seconds").and_then(Value::as_u64);
                    root.policy.default_ttl_seconds =
                        gp.get("default_ttl_seconds").and_then(Value::as_u64);
                }
                let id = root.grant_id;
                s.grants.push(root);
                (id, "creation")
            }
        };
        let mut entry = json!({
            "grant_id": root_id.to_string(),
            "provider_id": p,
            "account_identifier": account,
            "scopes": scopes,
            "api_base_url": cfg.api_base_url,
            "operation": operation,
        });
        if let Some(g) = s.grant(root_id) {
            entry["grant_policy"] = policy_json(g);
        }
        if let Some(a) = c.agent {
            entry["delegation"] = upsert_first_hop(
                s,
                root_id,
                a,
                onward_choice(&c, d),
                cfg.onward_sharing,
                c.scope_constraint.clone(),
                None,
                t,
            );
        }
        grants.push(entry);
    }
    let row = &mut s.connect_sessions[idx];
    row.state = SessionState::Completed;
    row.grants = grants;
    row.failed_grants = failures;
}

fn approve_secret(s: &mut VaultState, idx: usize, d: &Decision, t: i64) -> ApiResult<()> {
    let c = s.connect_sessions[idx].clone();
    let user = c
        .user
        .ok_or_else(|| ApiError::internal("managed-secret session without a user"))?;
    let ms_id = c
        .managed_secret_id
        .ok_or_else(|| ApiError::internal("managed-secret session without a provider"))?;
    let m = s
        .managed_secret(ms_id)
        .cloned()
        .ok_or_else(|| ApiError::not_found("secret_not_found", "the provider was removed"))?;
    let secret = d
        .secret
        .clone()
        .filter(|k| !k.trim().is_empty() && !k.contains(['\r', '\n', '\0']));
    let need_key = || ApiError::validation("secret", "enter the key to store");
    let label = c
        .requested_grant
        .as_ref()
        .and_then(|r| r["label"].as_str().map(str::to_string));
    let picked = picked_ttl(c.grant_policy.as_ref(), d.ttl_seconds);
    let (source, operation) = match c.path.as_deref() {
        Some("key_entry") => {
            let value = secret.ok_or_else(need_key)?;
            // One live own key per user and provider.
            for cr in s.credentials.iter_mut().filter(|cr| {
                cr.managed_secret_id == ms_id && cr.owner == Some(user) && cr.kind == "end_user"
            }) {
                cr.active = false;
            }
            let credential_id = Uuid::new_v4();
            s.credentials.push(SecretCredential {
                credential_id,
                managed_secret_id: ms_id,
                kind: "end_user".into(),
                label: label.clone(),
                owner: Some(user),
                material: SecretMaterial::Token { value },
                active: true,
                created_at: t,
            });
            let mut root = Grant::new(
                GrantKind::ManagedSecret {
                    managed_secret_id: ms_id,
                    credential_id: Some(credential_id),
                },
                Principal::User { user_id: user },
                label,
                t,
            );
            root.hitl = m.hitl;
            // Usage limits the user sets land on their own grant here.
            if c.agent.is_none() {
                root.expires_at = lifetime(t, None, picked, None);
            }
            root.policy.created_by = Some("end_user".into());
            root.policy.created_at = Some(t);
            let id = root.grant_id;
            s.grants.push(root);
            (id, "creation")
        }
        Some("repair") => {
            let value = secret.ok_or_else(need_key)?;
            let gid = c
                .existing_grant_id
                .ok_or_else(|| ApiError::internal("repair without a grant"))?;
            let cred = match s.grant(gid).map(|g| g.kind.clone()) {
                Some(GrantKind::ManagedSecret {
                    credential_id: Some(cred),
                    ..
                }) => cred,
                _ => {
                    return Err(ApiError::not_found(
                        "grant_not_found",
                        "the grant to repair is gone",
                    ))
                }
            };
            if let Some(cr) = s.credentials.iter_mut().find(|cr| cr.credential_id == cred) {
                cr.material = SecretMaterial::Token { value };
                cr.active = true;
            }
            // The key is replaced in place; a lapsed grant is re-activated
            // (limits and delegations kept).
            if let Some(g) = s.grant_mut(gid) {
                if g.expires_at.is_some_and(|e| e <= t) {
                    g.expires_at = None;
                }
            }
            (gid, "reauth")
        }
        Some("fast_path") => {
            let gid = c
                .existing_grant_id
                .ok_or_else(|| ApiError::internal("fast path without a grant"))?;
            if s.grant(gid).is_none_or(|g| check_live(s, g, t).is_err()) {
                return Err(ApiError::new(
                    409,
                    "no_eligible_grants",
                    "the grant this session would delegate from is no longer usable",
                ));
            }
            (gid, "reauth")
        }
        _ => return Err(ApiError::internal("session has no completion path")),
    };
    let mut entry = json!({
        "grant_id": source.to_string(),
        "provider_id": m.slug,
        "operation": operation,
    });
    if let Some(g) = s.grant(source) {
        entry["grant_policy"] = policy_json(g);
    }
    if let Some(a) = c.agent {
        if !s.agent(a).is_some_and(|a| a.status == AgentStatus::Active) {
            return Err(ApiError::not_found(
                "agent_not_found",
                "the agent is no longer active",
            ));
        }
        // A user-picked lifetime (within the policy bounds) plays the
        // requested role; the stored resolution otherwise.
        let exp = match d.ttl_seconds.and(picked) {
            Some(ttl) => Some(
                c.delegation_expires_at
                    .unwrap_or(i64::MAX)
                    .min(after(t, ttl)),
            ),
            None => c.delegation_expires_at,
        };
        entry["delegation"] = upsert_first_hop(
            s,
            source,
            a,
            onward_choice(&c, d),
            m.onward_delegation,
            None,
            exp,
            t,
        );
    }
    let row = &mut s.connect_sessions[idx];
    row.state = SessionState::Completed;
    row.grants = vec![entry];
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn effective_expiry_follows_reading_b() {
        let now = 1_000_000;
        let day = 86_400;
        // requested 200 d, no ceiling → 90 d
        assert_eq!(
            delegation_expiry(now, Some(200 * day as u64), None, None),
            now + 90 * day
        );
        // no request, ceiling 365 d → 365 d
        assert_eq!(
            delegation_expiry(now, None, None, Some(365)),
            now + 365 * day
        );
        // ceiling 3650 d → the 5-year ceiling
        assert_eq!(
            delegation_expiry(now, None, None, Some(3650)),
            now + FIVE_YEARS
        );
        // requested 1 h → 1 h whatever else
        assert_eq!(
            delegation_expiry(now, Some(3600), Some(now + day), Some(3650)),
            now + 3600
        );
        // the source grant's expiry caps it
        assert_eq!(delegation_expiry(now, None, Some(now + 10), None), now + 10);
        assert_eq!(
            delegation_expiry(now, Some(u64::MAX), None, None),
            now + 90 * day
        );
    }

    #[test]
    fn origins_are_bare_and_safe() {
        assert_eq!(
            parse_origin("https://app.example/").unwrap(),
            "https://app.example"
        );
        assert!(parse_origin("http://localhost:3000").is_ok());
        assert!(parse_origin("http://127.0.0.1:8080").is_ok());
        for bad in [
            "*",
            "",
            "http://app.example",
            "https://a/b",
            "https://u@a",
            "ftp://a",
            "https://*.a",
        ] {
            assert!(parse_origin(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn constraints_are_trimmed_and_checked() {
        assert_eq!(
            parse_constraint(Some(&json!([" a:b ", "a:b"]))).unwrap(),
            Some(vec!["a:b".to_string()])
        );
        for bad in [
            json!([]),
            json!(["*"]),
            json!(["a b"]),
            json!([1]),
            json!("a"),
        ] {
            assert!(parse_constraint(Some(&bad)).is_err(), "{bad}");
        }
    }
}
