//! Management calls that answer with JSON: the `agents` namespace, `me`,
//! grants, and `alter_call`, the generic JSON-in/JSON-out entry point that
//! reaches every one of them by name.

use crate::client::{AlterAgent, AlterApp, AlterClient};
use crate::error::AlterError;
use crate::guard::{block, entry, give, handle, opt_str, out_ptr, req_str, Fail, FfiResult};
use crate::json::AlterJson;
use crate::options::{object, Fields};
use crate::surface::string_list;
use crate::AlterStatus;
use alter_core::grants::{
    DelegateOptions, GrantPolicyInput, GrantPrincipal, ListGrants, MintGrantPolicy,
};
use alter_core::{CreateAgent, Error, Principal, UpdateAgent};
use serde::Serialize;
use serde_json::{json, Map, Value};
use std::ffi::c_char;

fn to_json<T: Serialize>(v: &T) -> FfiResult<Value> {
    serde_json::to_value(v)
        .map_err(|_| Fail::from(Error::sdk("could not render the result as JSON")))
}

fn required(f: &mut Fields, key: &str) -> FfiResult<String> {
    f.string(key)?
        .ok_or_else(|| Fail::invalid(format!("\"{key}\" is required")))
}

/// The App behind a client, or the error for an App-only operation.
fn app_of<'a>(c: &'a AlterClient, op: &str) -> FfiResult<&'a alter_core::App> {
    c.app()
        .ok_or_else(|| Fail::invalid(format!("{op} needs an App client")))
}

fn agent_of<'a>(c: &'a AlterClient, op: &str) -> FfiResult<&'a alter_core::Agent> {
    c.agent()
        .ok_or_else(|| Fail::invalid(format!("{op} needs an Agent client")))
}

/// The arguments of `list_grants` (see `alter_list_grants`).
fn list_grants_args(f: &mut Fields) -> FfiResult<ListGrants> {
    let d = ListGrants::default();
    Ok(ListGrants {
        provider_id: f.string("provider_id")?,
        status: f.string("status")?,
        account: f.string("account")?,
        label: f.string("label")?,
        end_user_token: f.string("end_user_token")?,
        limit: f.int("limit")?.unwrap_or(d.limit),
        offset: f.int("offset")?.unwrap_or(d.offset),
    })
}

/// Runs one named operation. Every argument is read (and unknown ones are
/// refused) before anything is sent.
fn dispatch(c: &AlterClient, op: &str, args: Map<String, Value>) -> FfiResult<Value> {
    let what = format!("{op} arguments");
    let mut f = Fields::new(&what, args);
    match op {
        "agents.create" => {
            let app = app_of(c, op)?;
            let a = CreateAgent {
                name: required(&mut f, "name")?,
                scopes: f.object("scopes")?,
                display_name: f.string("display_name")?,
                agent_type: f.string("type")?,
                metadata: f.object("metadata")?,
                policy: f.object("policy")?,
                idempotency_key: f.string("idempotency_key")?,
            };
            f.finish()?;
            to_json(&block(app.agents().create(a))?)
        }
        "agents.list" => {
            let app = app_of(c, op)?;
            let include_revoked = f.boolean("include_revoked")?.unwrap_or(false);
            let limit = f.int("limit")?.unwrap_or(100);
            let offset = f.int("offset")?.unwrap_or(0);
            f.finish()?;
            to_json(&block(app.agents().list(include_revoked, limit, offset))?)
        }
        "agents.get" | "agents.suspend" | "agents.resume" | "agents.delete" => {
            let app = app_of(c, op)?;
            let id = required(&mut f, "agent_id")?;
            f.finish()?;
            let agents = app.agents();
            let info = match op {
                "agents.get" => block(agents.get(&id)),
                "agents.suspend" => block(agents.suspend(&id)),
                "agents.resume" => block(agents.resume(&id)),
                _ => block(agents.delete(&id)),
            }?;
            to_json(&info)
        }
        "agents.get_by_name" => {
            let app = app_of(c, op)?;
            let name = required(&mut f, "name")?;
            f.finish()?;
            to_json(&block(app.agents().get_by_name(&name))?)
        }
        "agents.update" => {
            let app = app_of(c, op)?;
            let id = required(&mut f, "agent_id")?;
            let u = UpdateAgent {
                display_name: f.string("display_name")?,
                metadata: f.object("metadata")?,
                scopes: f.object("scopes")?,
                expected_version: f.int("expected_version")?,
                grace_seconds: f.int("grace_seconds")?,
                policy: f.object("policy")?,
            };
            f.finish()?;
            to_json(&block(app.agents().update(&id, u))?)
        }
        "agents.mint_key" | "agents.list_keys" => {
            let app = app_of(c, op)?;
            let id = required(&mut f, "agent_id")?;
            f.finish()?;
            if op == "agents.mint_key" {
                to_json(&block(app.agents().mint_key(&id))?)
            } else {
                to_json(&block(app.agents().list_keys(&id))?)
            }
        }
        "agents.deprecate_key" | "agents.undeprecate_key" | "agents.revoke_key" => {
            let app = app_of(c, op)?;
            let id = required(&mut f, "agent_id")?;
            let key_id = required(&mut f, "key_id")?;
            let force = if op == "agents.revoke_key" {
                f.boolean("force")?.unwrap_or(false)
            } else {
                false
            };
            f.finish()?;
            let agents = app.agents();
            let key = match op {
                "agents.deprecate_key" => block(agents.deprecate_key(&id, &key_id)),
                "agents.undeprecate_key" => block(agents.undeprecate_key(&id, &key_id)),
                _ => block(agents.revoke_key(&id, &key_id, force)),
            }?;
            let mut v = to_json(&key)?;
            if let Value::Object(m) = &mut v {
                m.insert("status".into(), key.status().into());
            }
            Ok(v)
        }
        "list_grants" => {
            let q = list_grants_args(&mut f)?;
            f.finish()?;
            to_json(&block(c.client().list_grants(&q))?)
        }
        "revoke_grant" => {
            let app = app_of(c, op)?;
            let id = required(&mut f, "grant_id")?;
            let reason = f.string("reason")?;
            f.finish()?;
            to_json(&block(app.revoke_grant(&id, reason.as_deref()))?)
        }
        "create_managed_secret_grant" => {
            let id = required(&mut f, "managed_secret_id")?;
            let principal = f
                .take("principal")
                .ok_or_else(|| Fail::invalid("\"principal\" is required"))?;
            let principal = GrantPrincipal::from_value(&principal)?;
            let policy = match f.take("grant_policy") {
                Some(v) => Some(GrantPolicyInput::from_value(&v)?),
                None => None,
            };
            let credential_id = f.string("credential_id")?;
            f.finish()?;
            let created = match (c.client().principal(), principal) {
                (Principal::App, p) => block(c.app().expect("app").create_managed_secret_grant(
                    &id,
                    &p,
                    policy.as_ref(),
                    credential_id.as_deref(),
                ))?,
                (Principal::Agent, GrantPrincipal::Agent(p)) => {
                    block(c.agent().expect("agent").create_managed_secret_grant(
                        &id,
                        &p,
                        policy.as_ref(),
                        credential_id.as_deref(),
                    ))?
                }
                (Principal::Agent, _) => {
                    return Err(Fail::invalid(
                        "an Agent issues grants only to itself: principal must be {\"type\": \"agent\"}",
                    ))
                }
            };
            to_json(&created)
        }
        "mint_grant" => {
            let app = app_of(c, op)?;
            let source = required(&mut f, "source_grant_id")?;
            let label = required(&mut f, "label")?;
            let policy = f.object("grant_policy")?.map(MintGrantPolicy::Raw);
            let tags = string_list(&mut f, "grant_tags")?;
            f.finish()?;
            to_json(&block(app.mint_grant(
                &source,
                &label,
                policy.as_ref(),
                tags.as_deref(),
            ))?)
        }
        "revoke_delegation" => {
            let id = required(&mut f, "grant_id")?;
            match &c.principal {
                crate::client::Principal::App(app) => {
                    let agent_id = required(&mut f, "agent_id")?;
                    f.finish()?;
                    block(app.revoke_delegation(&id, &agent_id))?;
                }
                crate::client::Principal::Agent(agent) => {
                    f.finish()?;
                    block(agent.revoke_delegation(&id))?;
                }
            }
            Ok(Value::Null)
        }
        "delegate" => {
            let agent = agent_of(c, op)?;
            let id = required(&mut f, "grant_id")?;
            let to = required(&mut f, "to_agent_id")?;
            let o = DelegateOptions {
                delegable: f.boolean("delegable")?,
                scope_constraint: string_list(&mut f, "scope_constraint")?,
                ttl_seconds: f.int("ttl_seconds")?,
            };
            f.finish()?;
            to_json(&block(agent.delegate(&id, &to, &o))?)
        }
        "oauth_providers.list" => {
            let force = f.boolean("force_refresh")?.unwrap_or(false);
            f.finish()?;
            let catalog = match &c.principal {
                crate::client::Principal::App(a) => block(a.oauth_providers().list(force)),
                crate::client::Principal::Agent(a) => block(a.oauth_providers().list(force)),
            }?;
            to_json(&catalog)
        }
        "provider_specs.list" => {
            let kind = f.string("kind")?;
            f.finish()?;
            to_json(&block(c.client().provider_specs().list(kind.as_deref()))?)
        }
        "provider_specs.get" => {
            let kind = required(&mut f, "kind")?;
            let provider = required(&mut f, "provider_id")?;
            f.finish()?;
            to_json(&block(c.client().provider_specs().get(&kind, &provider))?)
        }
        "provider_specs.list_operations" => {
            let kind = required(&mut f, "kind")?;
            let provider = required(&mut f, "provider_id")?;
            let search = f.string("search")?;
            let limit = f.int("limit")?.unwrap_or(100);
            let offset = f.int("offset")?.unwrap_or(0);
            f.finish()?;
            to_json(&block(c.client().provider_specs().list_operations(
                &kind,
                &provider,
                search.as_deref(),
                limit,
                offset,
            ))?)
        }
        "provider_specs.get_operation" => {
            let kind = required(&mut f, "kind")?;
            let provider = required(&mut f, "provider_id")?;
            let operation = required(&mut f, "operation_id")?;
            f.finish()?;
            to_json(&block(
                c.client()
                    .provider_specs()
                    .get_operation(&kind, &provider, &operation),
            )?)
        }
        "me" => {
            let agent = agent_of(c, op)?;
            f.finish()?;
            to_json(&block(agent.me())?)
        }
        "get_approval_status" => {
            let id = required(&mut f, "approval_id")?;
            let wait = f.number("wait_seconds")?.unwrap_or(0.0);
            f.finish()?;
            to_json(&block(c.client().get_approval_status(&id, wait))?)
        }
        "client.info" => {
            f.finish()?;
            let cl = c.client();
            let rate = cl.last_rate_limit().map(|r| {
                json!({
                    "limit": r.limit,
                    "remaining": r.remaining,
                    "reset_at_unix": r.reset_at.unix_timestamp(),
                })
            });
            Ok(json!({
                "principal": match cl.principal() {
                    Principal::App => "app",
                    Principal::Agent => "agent",
                },
                "base_url": cl.base_url(),
                "caller": cl.caller(),
                "caller_type": cl.caller_type().as_str(),
                "timeout_seconds": cl.timeout().as_secs_f64(),
                "actor_id": cl.actor_id(),
                "closed": cl.is_closed(),
                "last_rate_limit": rate,
                "last_retry_info": cl.last_retry_info(),
            }))
        }
        // Test hook of the panic boundary (tests/c/errors.c); debug builds only.
        #[cfg(debug_assertions)]
        "internal.panic" => panic!("deliberate panic (test hook)"),
        _ => crate::surface::dispatch(c, op, &mut f)
            .unwrap_or_else(|| Err(Fail::invalid(format!("unknown operation \"{op}\"")))),
    }
}

/// The generic JSON-in/JSON-out call: runs the operation named `operation`
/// (NUL-terminated) with the arguments in `args_json` (NUL-terminated JSON
/// object, or NULL for none; unknown keys are refused) and returns its
/// result as JSON in `*result_out`. Blocks; safe from several threads.
///
/// Operations (arguments → result); "?" marks an optional argument:
///
/// ```text
/// App only:
///   agents.create      {name, scopes?, display_name?, type?, metadata?, policy?,
///                       idempotency_key?}        → agent record + api_key (shown
///                                                  once) + key_id
///   agents.list        {include_revoked? (false), limit? (100), offset? (0)}
///                                                → {agents: [...], total, limit,
///                                                  offset, has_more}
///   agents.get         {agent_id}                → agent record
///   agents.get_by_name {name}                    → agent record or null
///   agents.update      {agent_id, display_name?, metadata?, scopes?,
///                       expected_version?, grace_seconds?, policy?} → agent record
///   agents.suspend | agents.resume | agents.delete {agent_id} → agent record
///   agents.mint_key    {agent_id}                → key record + api_key (shown once)
///   agents.list_keys   {agent_id}                → {items: [key record, ...]}
///   agents.deprecate_key | agents.undeprecate_key {agent_id, key_id} → key record
///   agents.revoke_key  {agent_id, key_id, force?} → key record
///   revoke_grant       {grant_id, reason?}       → {success, message, grant_id,
///                                                  revoked_at}
///   mint_grant         {source_grant_id, label, grant_policy?, grant_tags?}
///                                                → grant record
///   revoke_delegation  {grant_id, agent_id}      → null
///   create_auth_session {}                       → {session_token, auth_url, ...}
///   poll_auth_session  {session_token, timeout_seconds? (300),
///                       poll_interval_seconds? (2)} → auth result
///   verify_user_token  {token}                   → the user's id, or null
/// Agent only:
///   me                 {}                        → the agent's own record
///   delegate           {grant_id, to_agent_id, delegable?, scope_constraint?,
///                       ttl_seconds?}            → {grant_id, grant_kind,
///                                                  parent_grant_id, depth,
///                                                  delegable, status, expires_at}
///   revoke_delegation  {grant_id}                → null (the agent's own)
/// Both:
///   list_grants        {provider_id?, status?, account?, label?, end_user_token?,
///                       limit? (100), offset? (0)} → see alter_list_grants
///   get_approval_status {approval_id, wait_seconds?} → approval status
///   create_managed_secret_grant {managed_secret_id, principal, grant_policy?,
///                       credential_id?}          → {grant_id, principal_type,
///                                                  label, created_at, credential_id}
///                       principal: {"type": "user", "user_token", "label"} |
///                       {"type": "group", "external_group_id", "idp_id", "label"} |
///                       {"type": "system", "label"?} | {"type": "agent", "label"?}
///                       (an Agent may only name {"type": "agent"});
///                       grant_policy: {expires_at?, max_ttl_seconds?,
///                       default_ttl_seconds?}
///   oauth_providers.list {force_refresh? (false)} → the OAuth provider catalog
///   provider_specs.list {kind?}                  → [provider spec, ...]
///   provider_specs.get {kind, provider_id}       → provider spec
///   provider_specs.list_operations {kind, provider_id, search?, limit? (100),
///                       offset? (0)}             → a page of operations
///   provider_specs.get_operation {kind, provider_id, operation_id} → operation
///   create_connect_session {allowed_providers?, direct?, return_url?,
///                       allowed_origin?, metadata?, grant_policy?, required_scopes?,
///                       agent?, user_token?, requested_grant?, repair_grant_id?,
///                       delegable?, scope_constraint?, switch_account?,
///                       allow_user_policy_rules? (true)} → {session_token,
///                                                  connect_url, expires_in, expires_at}
///   poll_connect_session {session_token, timeout_seconds? (300),
///                       poll_interval_seconds? (2)} → [connect result, ...]
///   create_managed_secret_connect_session {user_token, provider? | template_slug?,
///                       delegable?, requested_grant?, grant_policy?, direct?,
///                       allow_user_policy_rules?, allowed_origin?, return_url?,
///                       requested_ttl_seconds?; App only: agent?,
///                       delegated_agent_id?, delegated_agent_name?,
///                       repair_grant_id?}        → session
///   resolve_identity   {user_token?, include_profile?; Agent: app_user_id?}
///                                                → identity context
///   assert_identity    {audience, user_token?, ttl_seconds?, include_profile?;
///                       Agent: app_user_id?}     → identity assertion
///   keys.derive        {scopes, expires_in, cidr_allowlist?, name?, metadata?,
///                       rate_limit_rpm?}         → minted key (api_key shown once)
///   keys.rotate        {key_id, overlap_days? (7)} → minted key (the successor)
///   keys.revoke        {key_id, force?}          → key record
///   scopes.list        {}                        → the scope catalog
///   spans.emit         {spans: [{trace_id, name, start_time (RFC 3339),
///                       span_id?, parent_span_id?, end_time?, attributes?
///                       {name: "value"}}]}       → emit result
///   client.info        {}                        → {principal, base_url, caller,
///                                                  caller_type, timeout_seconds,
///                                                  actor_id, closed,
///                                                  last_rate_limit, last_retry_info}
/// ```
///
/// Agent record: `{id, name, display_name, type, status, scopes,
/// scopes_pending, scopes_applies_at, policy, metadata,
/// rate_limit_per_minute, version, created_at, last_used_at,
/// parent_agent_id, stored_legacy_managed_secret_names}`. Key record:
/// `{key_id, key_prefix, name, created_at, deprecated_at, revoked_at,
/// last_used_at}` (+ `status` for the key actions). An operation the
/// client's principal cannot perform, or an unknown one, fails with
/// `ALTER_INVALID_ARGUMENT`.
#[no_mangle]
pub unsafe extern "C" fn alter_call(
    client: *const AlterClient,
    operation: *const c_char,
    args_json: *const c_char,
    result_out: *mut *mut AlterJson,
    error_out: *mut *mut AlterError,
) -> AlterStatus {
    entry("alter_call", error_out, || {
        let out = out_ptr(result_out, "result_out")?;
        let client = handle(client, "client")?;
        let op = req_str(operation, "operation")?;
        let args = object(opt_str(args_json, "args_json")?, "args_json")?;
        give(out, AlterJson::new(dispatch(client, op, args)?));
        Ok(())
    })
}

/// `app.agents.create`: provisions a managed agent named `name`
/// (NUL-terminated). `options_json` (NUL-terminated JSON object or NULL)
/// takes the other `agents.create` arguments of `alter_call` (`scopes`,
/// `display_name`, `type`, `metadata`, `policy`, `idempotency_key`).
/// `*result_out` receives the agent record plus `api_key` (the plaintext
/// key, shown once: read it with `alter_json_get_string(result, "/api_key")`)
/// and `key_id`; the agent's id is at `"/id"`.
#[no_mangle]
pub unsafe extern "C" fn alter_agents_create(
    app: *const AlterApp,
    name: *const c_char,
    options_json: *const c_char,
    result_out: *mut *mut AlterJson,
    error_out: *mut *mut AlterError,
) -> AlterStatus {
    entry("alter_agents_create", error_out, || {
        let out = out_ptr(result_out, "result_out")?;
        let app = handle(app, "app")?;
        let name = req_str(name, "name")?;
        let mut args = object(opt_str(options_json, "options_json")?, "options_json")?;
        if args.contains_key("name") {
            return Err(Fail::invalid("options_json: pass the name as the argument"));
        }
        args.insert("name".into(), name.into());
        give(
            out,
            AlterJson::new(dispatch(&app.view, "agents.create", args)?),
        );
        Ok(())
    })
}

/// `app.agents.mint_key`: a new key for the agent `agent_id`
/// (NUL-terminated). `*result_out` receives the key record plus `api_key`
/// (the plaintext, shown once).
#[no_mangle]
pub unsafe extern "C" fn alter_agents_mint_key(
    app: *const AlterApp,
    agent_id: *const c_char,
    result_out: *mut *mut AlterJson,
    error_out: *mut *mut AlterError,
) -> AlterStatus {
    entry("alter_agents_mint_key", error_out, || {
        let out = out_ptr(result_out, "result_out")?;
        let app = handle(app, "app")?;
        let id = req_str(agent_id, "agent_id")?;
        let mut args = Map::new();
        args.insert("agent_id".into(), id.into());
        give(
            out,
            AlterJson::new(dispatch(&app.view, "agents.mint_key", args)?),
        );
        Ok(())
    })
}

/// `app.agents.list`: one page of agents. `limit` is 1..=1000 and `offset`
/// >= 0 (`AlterValueError` otherwise). `*result_out` receives `{"agents":
/// [agent record, ...], "total", "limit", "offset", "has_more"}`.
#[no_mangle]
pub unsafe extern "C" fn alter_agents_list(
    app: *const AlterApp,
    include_revoked: bool,
    limit: i64,
    offset: i64,
    result_out: *mut *mut AlterJson,
    error_out: *mut *mut AlterError,
) -> AlterStatus {
    entry("alter_agents_list", error_out, || {
        let out = out_ptr(result_out, "result_out")?;
        let app = handle(app, "app")?;
        let list = block(app.app().agents().list(include_revoked, limit, offset))?;
        give(out, AlterJson::new(to_json(&list)?));
        Ok(())
    })
}

/// `agent.me`: the calling agent's own record (works while the agent is
/// paused). `*result_out` receives the agent record (`"/name"`,
/// `"/status"`, `"/scopes"`, ...).
#[no_mangle]
pub unsafe extern "C" fn alter_agent_me(
    agent: *const AlterAgent,
    result_out: *mut *mut AlterJson,
    error_out: *mut *mut AlterError,
) -> AlterStatus {
    entry("alter_agent_me", error_out, || {
        let out = out_ptr(result_out, "result_out")?;
        let agent = handle(agent, "agent")?;
        let me = block(agent.agent().me())?;
        give(out, AlterJson::new(to_json(&me)?));
        Ok(())
    })
}

/// `list_grants`: the grants this client can see, one page at a time (an
/// App: the app's grants; an Agent: its own and delegated grants), OAuth and
/// managed-secret rows merged. `options_json` (NUL-terminated JSON object or
/// NULL), every key optional:
///
/// ```text
/// {"provider_id": "google" | "<managed-secret slug>", "status": "active",
///  "account": "<account_identifier>", "label": "...",
///  "end_user_token": "<end-user JWT>", "limit": 100, "offset": 0}
/// ```
///
/// `*result_out` receives `{"grants": [...], "total", "limit", "offset",
/// "has_more"}`; each grant has `grant_kind` (`"oauth"` or
/// `"managed_secret"`), `grant_id`, `status`, `label`, `principal_type`,
/// `access_via`, `created_at`, ..., plus `provider_id` and `scopes` for
/// OAuth rows or `managed_secret_id`, `managed_secret_slug` and
/// `managed_secret_name` for managed-secret rows.
#[no_mangle]
pub unsafe extern "C" fn alter_list_grants(
    client: *const AlterClient,
    options_json: *const c_char,
    result_out: *mut *mut AlterJson,
    error_out: *mut *mut AlterError,
) -> AlterStatus {
    entry("alter_list_grants", error_out, || {
        let out = out_ptr(result_out, "result_out")?;
        let client = handle(client, "client")?;
        let args = object(opt_str(options_json, "options_json")?, "options_json")?;
        give(out, AlterJson::new(dispatch(client, "list_grants", args)?));
        Ok(())
    })
}
