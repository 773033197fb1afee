//! The operations of the core's table (`alter_core::ops`) as JavaScript
//! calls them: positional arguments and a camelCase options object in,
//! camelCase models out. Conversion only; what each operation reads and
//! checks is the core's. Plus `getAgent`, which hands back a new client.

use crate::client::{js_options, NativeClient, Principal};
use crate::convert::{camel_keys, Positional};
use crate::errors::Failure;
use crate::promise::Out;
use alter_core::connect::HeadlessConnectOptions;
use alter_core::grants::GrantPolicyInput;
use alter_core::ops::{self, Spelling};
use alter_core::{ConnectEventSink, Error};
use serde_json::{Map, Value};

type CoreResult<T> = std::result::Result<T, Error>;

/// How a JavaScript method hands an operation its arguments. The names are
/// the core's canonical ones (the spelling makes them camelCase).
struct JsSignature {
    /// Positional parameters, in order.
    positional: &'static [&'static str],
    /// Whether the trailing options object is read. For methods whose only
    /// option is `signal` (taken out by the JavaScript layer) anything else
    /// in it is refused as an unknown option.
    options: bool,
    /// `(canonical, JavaScript)` names that are not the plain conversion.
    renames: &'static [(&'static str, &'static str)],
    /// The method resolves with `undefined`, not the core's `null`.
    undefined: bool,
}

const fn sig(positional: &'static [&'static str], options: bool) -> JsSignature {
    JsSignature {
        positional,
        options,
        renames: &[],
        undefined: false,
    }
}

/// The JavaScript options of the polling calls are in seconds without
/// saying so.
const POLL: &[(&str, &str)] = &[
    ("timeout_seconds", "timeout"),
    ("poll_interval_seconds", "pollInterval"),
];

/// The JavaScript signature of each operation of the core's table.
fn signature(op: &str) -> Option<JsSignature> {
    Some(match op {
        "agents.create" | "agents.list" => sig(&[], true),
        "agents.get" | "agents.suspend" | "agents.resume" | "agents.delete" | "agents.mint_key"
        | "agents.list_keys" => sig(&["agent_id"], false),
        "agents.get_by_name" => sig(&["name"], false),
        "agents.update" => sig(&["agent_id"], true),
        "agents.deprecate_key" | "agents.undeprecate_key" => sig(&["agent_id", "key_id"], false),
        "agents.revoke_key" => sig(&["agent_id", "key_id"], true),
        "me" => sig(&[], false),
        "list_grants" => sig(&[], true),
        "revoke_grant" => sig(&["grant_id"], true),
        "create_managed_secret_grant" => sig(&["managed_secret_id"], true),
        "mint_grant" => sig(&["source_grant_id"], true),
        // An Agent passes only the grant; the agent is its own.
        "revoke_delegation" => JsSignature {
            undefined: true,
            ..sig(&["grant_id", "agent_id"], false)
        },
        "delegate" => sig(&["grant_id", "to_agent_id"], true),
        "get_approval_status" => JsSignature {
            renames: &[("wait_seconds", "wait")],
            ..sig(&["approval_id"], true)
        },
        "await_approval" => JsSignature {
            renames: POLL,
            ..sig(&["approval_id"], true)
        },
        "create_connect_session" | "create_managed_secret_connect_session" => sig(&[], true),
        "create_connect_session_for_error" => sig(&["error"], true),
        "poll_connect_session" | "poll_auth_session" => JsSignature {
            renames: POLL,
            ..sig(&["session_token"], true)
        },
        "create_auth_session" | "resolve_identity" | "assert_identity" => sig(&[], true),
        "verify_user_token" => sig(&["token"], false),
        "keys.derive" | "keys.rotate" | "keys.revoke" | "scopes.list" => sig(&[], true),
        "spans.emit" => sig(&["spans"], true),
        "oauth_providers.list" => sig(&[], true),
        "provider_specs.list" => sig(&["kind"], false),
        "provider_specs.get" => sig(&["kind", "provider_id"], false),
        "provider_specs.list_operations" => sig(&["kind", "provider_id"], true),
        "provider_specs.get_operation" => sig(&["kind", "provider_id", "operation_id"], false),
        _ => return None,
    })
}

/// The core's name of a JavaScript operation name, when it is one.
fn canonical(js: &str) -> Option<String> {
    let op = ops::snake_case(js);
    // Only the camelCase spelling counts: `list_grants` is not a method.
    (ops::Spelling::CAMEL.op(&op) == js && ops::OPERATIONS.contains(&op.as_str())).then_some(op)
}

/// The positional arguments and the options object as one argument object
/// in the JavaScript spelling. The JavaScript layer always appends the
/// options (or `null`) after the positional arguments.
fn named_args(
    label: &str,
    s: &JsSignature,
    spelling: Spelling,
    args: Value,
) -> CoreResult<Map<String, Value>> {
    let mut items = Positional::new("", args).into_items();
    let options = items.pop();
    let mut map = js_options(label, options)?.into_rest();
    if !s.options {
        if let Some(key) = map.keys().next() {
            return Err(Error::value(format!("{label}: unknown option '{key}'")));
        }
    }
    for (name, v) in s.positional.iter().zip(items) {
        if v.is_null() {
            continue;
        }
        let key = spelling.key(name);
        // A positional parameter is never also an option.
        if map.contains_key(&key) {
            return Err(Error::value(format!("{label}: unknown option '{key}'")));
        }
        map.insert(key, v);
    }
    Ok(map)
}

pub(crate) async fn dispatch(
    p: Principal,
    op: &str,
    args: Value,
    on_event: Option<ConnectEventSink>,
) -> std::result::Result<Out, Failure> {
    // Test hook of the promise's panic boundary; debug builds only.
    #[cfg(debug_assertions)]
    if op == alter_core::guard::PANIC_OP {
        return alter_core::guard::deliberate_panic(op);
    }
    if op == "getAgent" {
        let Principal::App(app) = &p else {
            return Err(Error::sdk("getAgent is only available on App").into());
        };
        let agent = Positional::new("getAgent", args).str(0, "agentId")?;
        let child = app.get_agent(&agent).await?;
        return Ok(Out::Client(NativeClient::wrap(Principal::Agent(child))));
    }
    let (core_op, s) = match canonical(op).and_then(|c| signature(&c).map(|s| (c, s))) {
        Some(found) => found,
        None => return Err(Error::sdk(format!("{op} is not an operation of this SDK")).into()),
    };
    let spelling = Spelling::CAMEL.with_renames(s.renames);
    let map = named_args(&format!("{op} arguments"), &s, spelling, args)?;
    let v = ops::call_with_events(p.target(), &core_op, map, spelling, on_event).await?;
    Ok(if s.undefined {
        Out::Undefined
    } else {
        Out::Json(camel_keys(v))
    })
}

/// Options of the headless `connect()` (the opener is passed apart).
pub(crate) fn headless_options(v: Option<Value>) -> CoreResult<HeadlessConnectOptions> {
    let mut o = js_options("connect", v)?;
    let d = HeadlessConnectOptions::default();
    let h = HeadlessConnectOptions {
        providers: o.strings("providers")?,
        timeout: o.number("timeout")?.unwrap_or(d.timeout),
        poll_interval: o.number("poll_interval")?.unwrap_or(d.poll_interval),
        open_browser: o.boolean("open_browser")?.unwrap_or(d.open_browser),
        grant_policy: match o.wire_value("grant_policy")? {
            None => None,
            Some(v) => Some(GrantPolicyInput::from_value(&v)?),
        },
        allow_user_policy_rules: o
            .boolean("allow_user_policy_rules")?
            .unwrap_or(d.allow_user_policy_rules),
        direct: o.boolean("direct")?.unwrap_or(d.direct),
    };
    o.finish()?;
    Ok(h)
}
