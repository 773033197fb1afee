//! `alter_call`, the generic JSON-in/JSON-out entry point, and the typed
//! functions built on it. The operations themselves are the core's table
//! (`alter_core::ops`); this file only converts C strings and statuses and
//! adds the operation that is about the C library itself (`client.info`).
//! In debug builds the core's `internal.panic` test hook panics inside the
//! operation, for the panic boundary's test (tests/c/errors.c).

use crate::client::{AlterAgent, AlterApp, AlterClient, Principal};
use crate::error::AlterError;
use crate::guard::{block, entry, give, handle, opt_str, out_ptr, req_str, Fail, FfiResult};
use crate::json::AlterJson;
use crate::options::object;
use crate::AlterStatus;
use alter_core::ops::{self, Args, Spelling, Target};
use alter_core::{ConnectEvent, ConnectEventSink};
use serde_json::{json, Map, Value};
use std::ffi::{c_char, c_void, CString};
use std::sync::Arc;

fn target(c: &AlterClient) -> Target<'_> {
    match &c.principal {
        Principal::App(a) => Target::App(a),
        Principal::Agent(a) => Target::Agent(a),
    }
}

/// Runs one named operation. Every argument is read (and unknown ones are
/// refused) before anything is sent.
fn dispatch(c: &AlterClient, op: &str, args: Map<String, Value>) -> FfiResult<Value> {
    dispatch_with(c, op, args, None)
}

/// [`dispatch`] with an event callback for the operation (refused by every
/// operation that reports no events).
fn dispatch_with(
    c: &AlterClient,
    op: &str,
    args: Map<String, Value>,
    on_event: Option<ConnectEventSink>,
) -> FfiResult<Value> {
    match op {
        "client.info" => {
            if on_event.is_some() {
                return Err(Fail::invalid(
                    "client.info reports no events: it takes no event callback",
                ));
            }
            Args::new("client.info arguments", args).finish()?;
            Ok(client_info(c))
        }
        _ => Ok(block(ops::call_with_events(
            target(c),
            op,
            args,
            Spelling::SNAKE,
            on_event,
        ))?),
    }
}

/// What the C caller may want to know about its handle.
fn client_info(c: &AlterClient) -> Value {
    let cl = c.client();
    let rate = cl.last_rate_limit().map(|r| {
        json!({
            "limit": r.limit,
            "remaining": r.remaining,
            "reset_at_unix": r.reset_at.unix_timestamp(),
        })
    });
    json!({
        "principal": match c.principal {
            Principal::App(_) => "app",
            Principal::Agent(_) => "agent",
        },
        "base_url": cl.base_url(),
        "caller": cl.caller(),
        "caller_type": cl.caller_type().as_str(),
        "timeout_seconds": cl.timeout().as_secs_f64(),
        "actor_id": cl.actor_id(),
        "closed": cl.is_closed(),
        "last_rate_limit": rate,
        "last_retry_info": cl.last_retry_info(),
    })
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
///   get_approval_status {approval_id, wait_seconds?} → approval status +
///                                                  is_terminal
///   await_approval     {approval_id, timeout_seconds? (300),
///                       poll_interval_seconds? (2)} → {approval_id, status_code,
///                                                  headers, body_b64,
///                                                  body_truncated, duration_ms,
///                                                  credential_hint, status:
///                                                  "executed"}
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
///   create_connect_session_for_error {error: {kind, message?, details?,
///                       provider_id?, agent_id?, app_user_id?, grant_id?},
///                       allowed_origin?, return_url?, metadata?, grant_policy?,
///                       required_scopes?, user_token?} → as create_connect_session
///                       (kind: "NoDelegatedGrantError", "GrantNotFoundError" or
///                       "CredentialRevokedError", with the error's fields)
///   poll_connect_session {session_token, timeout_seconds? (300),
///                       poll_interval_seconds? (2)} → [connect result, ...]
///                       (declined providers: `alter_call_with_events`)
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
///                                                  + status
///   keys.rotate        {key_id, overlap_days? (7)} → minted key (the successor)
///                                                  + status
///   keys.revoke        {key_id, force?}          → key record + status
///   scopes.list        {}                        → the scope catalog
///   spans.emit         {spans: [{trace_id, name, start_time (RFC 3339 or epoch
///                       ms), span_id?, parent_span_id?, end_time?, attributes?
///                       {name: "value"} | [[name, value], ...]}]} → emit result
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
/// last_used_at, status}`. An operation the
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
        generic_call(client, operation, args_json, None, result_out)
    })
}

/// The body of `alter_call` and `alter_call_with_events`.
unsafe fn generic_call(
    client: *const AlterClient,
    operation: *const c_char,
    args_json: *const c_char,
    on_event: Option<ConnectEventSink>,
    result_out: *mut *mut AlterJson,
) -> FfiResult<()> {
    let out = out_ptr(result_out, "result_out")?;
    let client = handle(client, "client")?;
    let op = req_str(operation, "operation")?;
    let args = object(opt_str(args_json, "args_json")?, "args_json")?;
    give(
        out,
        AlterJson::new(dispatch_with(client, op, args, on_event)?),
    );
    Ok(())
}

/// Receives what an operation of `alter_call_with_events` reports while it
/// runs: `event_json` is a NUL-terminated JSON object, valid only during the
/// call. Runs on the thread that called `alter_call_with_events`, before that
/// returns; it must not unwind. It may call library functions.
pub type AlterEventCallback =
    Option<unsafe extern "C" fn(user_data: *mut c_void, event_json: *const c_char)>;

/// `user_data` is the host's; it is only used on the calling thread, but
/// the core's callback type is `Send + Sync`.
struct EventTarget(AlterEventCallback, *mut c_void);
unsafe impl Send for EventTarget {}
unsafe impl Sync for EventTarget {}

/// `alter_call` with an event callback: `poll_connect_session` calls
/// `on_event(user_data, event_json)` once for each provider the user
/// declines while the session stays open, with
/// `{"type": "provider_declined", "provider_id", "error_code",
/// "declined_at" (RFC 3339 or null)}`. Any other operation, given a
/// callback, fails with `ALTER_INVALID_ARGUMENT` before it runs. A NULL
/// `on_event` makes this `alter_call`. No call of `on_event` happens after
/// this function has returned.
#[no_mangle]
pub unsafe extern "C" fn alter_call_with_events(
    client: *const AlterClient,
    operation: *const c_char,
    args_json: *const c_char,
    on_event: AlterEventCallback,
    user_data: *mut c_void,
    result_out: *mut *mut AlterJson,
    error_out: *mut *mut AlterError,
) -> AlterStatus {
    entry("alter_call_with_events", error_out, || {
        let sink = on_event.map(|_| {
            let to = EventTarget(on_event, user_data);
            let sink: ConnectEventSink = Arc::new(move |event: &ConnectEvent| {
                // JSON escapes control characters: the text has no NUL.
                let Ok(text) = CString::new(event.to_value().to_string()) else {
                    return;
                };
                if let EventTarget(Some(f), data) = &to {
                    // The host's function: a C callback cannot unwind into us.
                    unsafe { f(*data, text.as_ptr()) };
                }
            });
            sink
        });
        generic_call(client, operation, args_json, sink, result_out)
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
        let mut args = Map::new();
        args.insert("include_revoked".into(), include_revoked.into());
        args.insert("limit".into(), limit.into());
        args.insert("offset".into(), offset.into());
        give(
            out,
            AlterJson::new(dispatch(&app.view, "agents.list", args)?),
        );
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
        give(
            out,
            AlterJson::new(dispatch(&agent.view, "me", Map::new())?),
        );
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
