//! The SDK's operations by name, JSON in and JSON out: the one table that
//! the bindings speaking JSON (the C ABI's `alter_call`, the Node module)
//! run their calls through, so that argument names, types, defaults and
//! which principal may do what are decided here once.
//!
//! Operation names are canonical snake_case (`agents.create`,
//! `list_grants`, `provider_specs.get_operation`); the arguments are one
//! JSON object with snake_case keys. A binding whose callers spell names
//! otherwise passes a [`Spelling`]: keys are then looked up, and named in
//! errors, the way those callers write them, with no per-operation code.
//!
//! Every argument is read, and an unknown one refused, before anything is
//! sent. Such a refusal is an [`OpError::Arguments`] (an `AlterValueError`
//! naming the argument), kept apart from the failures of the call itself
//! because the C ABI reports the two with different statuses. Results are
//! the serde JSON of the core's result types (snake_case keys), plus the
//! fields those types derive (a key's `status`, an approval's
//! `is_terminal`).
//!
//! The options of a provider call (`request`, `proxy_request`) are read
//! here too, by [`request_options`] and [`proxy_options`], for the
//! bindings that run those calls themselves (they carry raw bodies and
//! responses that are not JSON).

use crate::apikeys::DeriveKey;
use crate::client::Client;
use crate::connect::{
    ConnectEventSink, ConnectForErrorOptions, ConnectSessionOptions, ManagedSecretConnectOptions,
    ManagedSecretConnectTarget,
};
use crate::error::{Details, Error, ErrorIdentity};
use crate::grants::{
    DelegateOptions, GrantPolicyInput, GrantPrincipal, ListGrants, MintGrantPolicy,
};
use crate::principals::{Agent, App};
use crate::spans::UserSpan;
use crate::{CreateAgent, UpdateAgent};
use serde::Serialize;
use serde_json::{Map, Value};
use std::fmt;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

mod options;
pub use options::{proxy_options, request_options};

/// The principal an operation runs as.
#[derive(Clone, Copy, Debug)]
pub enum Target<'a> {
    App(&'a App),
    Agent(&'a Agent),
}

impl<'a> From<&'a App> for Target<'a> {
    fn from(app: &'a App) -> Self {
        Target::App(app)
    }
}

impl<'a> From<&'a Agent> for Target<'a> {
    fn from(agent: &'a Agent) -> Self {
        Target::Agent(agent)
    }
}

impl<'a> Target<'a> {
    /// The calls both principals share.
    pub fn client(self) -> &'a Client {
        match self {
            Target::App(a) => a,
            Target::Agent(a) => a,
        }
    }

    fn app(self, label: &str) -> OpResult<&'a App> {
        match self {
            Target::App(a) => Ok(a),
            Target::Agent(_) => Err(OpError::arguments(format!("{label} needs an App client"))),
        }
    }

    fn agent(self, label: &str) -> OpResult<&'a Agent> {
        match self {
            Target::Agent(a) => Ok(a),
            Target::App(_) => Err(OpError::arguments(format!("{label} needs an Agent client"))),
        }
    }
}

/// Why an operation produced no result.
#[derive(Debug, Clone, PartialEq)]
pub enum OpError {
    /// Refused before anything ran: an unknown operation, an unknown,
    /// missing or mistyped argument, or an operation the principal cannot
    /// perform. Always an `AlterValueError`.
    Arguments(Error),
    /// The operation ran and failed, including the core's own validation
    /// of values whose shape was right.
    Failed(Error),
}

impl OpError {
    fn arguments(message: impl Into<String>) -> OpError {
        OpError::Arguments(Error::value(message))
    }

    /// The error, whichever stage it came from.
    pub fn error(&self) -> &Error {
        match self {
            OpError::Arguments(e) | OpError::Failed(e) => e,
        }
    }

    pub fn into_error(self) -> Error {
        match self {
            OpError::Arguments(e) | OpError::Failed(e) => e,
        }
    }
}

impl From<Error> for OpError {
    fn from(e: Error) -> Self {
        OpError::Failed(e)
    }
}

impl From<OpError> for Error {
    fn from(e: OpError) -> Self {
        e.into_error()
    }
}

impl fmt::Display for OpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.error().fmt(f)
    }
}

pub type OpResult<T> = std::result::Result<T, OpError>;

/// `grant_id` → `grantId`; a leading underscore and camelCase names are
/// kept as they are.
pub fn camel_case(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut upper = false;
    for (i, c) in s.chars().enumerate() {
        if c == '_' && i > 0 {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// `grantId` → `grant_id` (ASCII capitals only: the SDK's names are ASCII).
pub fn snake_case(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 4);
    for c in s.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// How a binding's callers spell operation and argument names. The table
/// is written against the canonical snake_case names; a spelling maps each
/// to the caller's, so lookups and error messages use the caller's names.
#[derive(Clone, Copy, Debug, Default)]
pub struct Spelling<'a> {
    camel: bool,
    /// `(canonical, caller's)` where the caller's name is not the plain
    /// conversion (`wait_seconds` is `wait` in JavaScript). Top level only.
    renames: &'a [(&'a str, &'a str)],
}

impl<'a> Spelling<'a> {
    /// The canonical names (the C ABI's).
    pub const SNAKE: Spelling<'static> = Spelling {
        camel: false,
        renames: &[],
    };
    /// camelCase names (JavaScript).
    pub const CAMEL: Spelling<'static> = Spelling {
        camel: true,
        renames: &[],
    };

    /// This spelling, with some top-level argument names spelt otherwise.
    pub fn with_renames<'b>(self, renames: &'b [(&'b str, &'b str)]) -> Spelling<'b> {
        Spelling {
            camel: self.camel,
            renames,
        }
    }

    pub fn is_camel(&self) -> bool {
        self.camel
    }

    /// The caller's name for a canonical argument name.
    pub fn key(&self, canonical: &str) -> String {
        if let Some((_, theirs)) = self.renames.iter().find(|(c, _)| *c == canonical) {
            return (*theirs).to_string();
        }
        if self.camel {
            camel_case(canonical)
        } else {
            canonical.to_string()
        }
    }

    /// The caller's name for a canonical operation name
    /// (`provider_specs.get_operation` → `providerSpecs.getOperation`).
    pub fn op(&self, canonical: &str) -> String {
        if !self.camel {
            return canonical.to_string();
        }
        canonical
            .split('.')
            .map(camel_case)
            .collect::<Vec<_>>()
            .join(".")
    }

    /// Nested objects have no renames.
    fn nested(&self) -> Spelling<'static> {
        Spelling {
            camel: self.camel,
            renames: &[],
        }
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Reads typed arguments out of one JSON object by their canonical names,
/// remembering which were used: [`Args::finish`] refuses the rest, so a
/// misspelt argument fails loudly instead of being ignored. `null` counts
/// as absent. Every failure is an [`OpError::Arguments`] whose message
/// starts with the reader's label and names the argument as the caller
/// spelt it.
#[derive(Debug)]
pub struct Args<'s> {
    label: String,
    map: Map<String, Value>,
    spelling: Spelling<'s>,
}

impl Args<'static> {
    /// A reader of canonical (snake_case) names.
    pub fn new(label: impl Into<String>, map: Map<String, Value>) -> Args<'static> {
        Args::spelled(label, map, Spelling::SNAKE)
    }
}

impl<'s> Args<'s> {
    pub fn spelled(
        label: impl Into<String>,
        map: Map<String, Value>,
        spelling: Spelling<'s>,
    ) -> Args<'s> {
        Args {
            label: label.into(),
            map,
            spelling,
        }
    }

    /// A reader of an options value: an object, or absent/`null` for none.
    pub fn from_value(
        label: impl Into<String>,
        value: Option<Value>,
        spelling: Spelling<'s>,
    ) -> OpResult<Args<'s>> {
        let label = label.into();
        match value {
            None | Some(Value::Null) => Ok(Args::spelled(label, Map::new(), spelling)),
            Some(Value::Object(map)) => Ok(Args::spelled(label, map, spelling)),
            Some(other) => Err(OpError::arguments(format!(
                "{label}: options must be an object, got {}",
                type_name(&other)
            ))),
        }
    }

    pub fn label(&self) -> &str {
        &self.label
    }

    /// The caller's name of an argument.
    pub fn name(&self, key: &str) -> String {
        self.spelling.key(key)
    }

    /// An argument error under this reader's label.
    pub fn error(&self, message: impl fmt::Display) -> OpError {
        OpError::arguments(format!("{}: {message}", self.label))
    }

    fn wrong(&self, key: &str, want: &str, got: &Value) -> OpError {
        self.error(format_args!(
            "'{}' must be {want}, got {}",
            self.name(key),
            type_name(got)
        ))
    }

    /// Removes an argument; `null` counts as absent.
    pub fn take(&mut self, key: &str) -> Option<Value> {
        self.take_raw(key).filter(|v| !v.is_null())
    }

    /// Removes an argument, keeping an explicit `null`.
    pub fn take_raw(&mut self, key: &str) -> Option<Value> {
        let name = self.name(key);
        self.map.remove(&name)
    }

    /// A required argument of any type.
    pub fn require(&mut self, key: &str) -> OpResult<Value> {
        self.take(key)
            .ok_or_else(|| self.error(format_args!("'{}' is required", self.name(key))))
    }

    pub fn string(&mut self, key: &str) -> OpResult<Option<String>> {
        match self.take(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(other) => Err(self.wrong(key, "a string", &other)),
        }
    }

    pub fn required_string(&mut self, key: &str) -> OpResult<String> {
        match self.require(key)? {
            Value::String(s) => Ok(s),
            other => Err(self.wrong(key, "a string", &other)),
        }
    }

    pub fn boolean(&mut self, key: &str) -> OpResult<Option<bool>> {
        match self.take(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(b)),
            Some(other) => Err(self.wrong(key, "a boolean", &other)),
        }
    }

    pub fn int(&mut self, key: &str) -> OpResult<Option<i64>> {
        match self.take(key) {
            None => Ok(None),
            Some(v) => v
                .as_i64()
                .map(Some)
                .ok_or_else(|| self.wrong(key, "an integer", &v)),
        }
    }

    pub fn number(&mut self, key: &str) -> OpResult<Option<f64>> {
        match self.take(key) {
            None => Ok(None),
            Some(v) => v
                .as_f64()
                .map(Some)
                .ok_or_else(|| self.wrong(key, "a number", &v)),
        }
    }

    /// A free-form object (user data such as metadata): its keys are
    /// passed on as given.
    pub fn object(&mut self, key: &str) -> OpResult<Option<Map<String, Value>>> {
        match self.take(key) {
            None => Ok(None),
            Some(Value::Object(m)) => Ok(Some(m)),
            Some(other) => Err(self.wrong(key, "an object", &other)),
        }
    }

    /// An object whose top-level keys are SDK names (a principal, a grant
    /// policy, a requested grant), returned with canonical keys; nested
    /// values are passed on as given. A camelCase caller's snake_case key
    /// is refused rather than silently accepted under two spellings.
    pub fn wire_object(&mut self, key: &str) -> OpResult<Option<Map<String, Value>>> {
        match self.object(key)? {
            None => Ok(None),
            Some(m) => self.canonical_keys(key, m).map(Some),
        }
    }

    /// Any value; an object has its top-level keys made canonical as in
    /// [`Args::wire_object`]. For values a core parser checks itself (its
    /// own messages name the value's problem better than a type would).
    pub fn wire_value(&mut self, key: &str) -> OpResult<Option<Value>> {
        match self.take(key) {
            Some(Value::Object(m)) => Ok(Some(Value::Object(self.canonical_keys(key, m)?))),
            other => Ok(other),
        }
    }

    fn canonical_keys(&self, key: &str, m: Map<String, Value>) -> OpResult<Map<String, Value>> {
        if !self.spelling.camel {
            return Ok(m);
        }
        let mut out = Map::with_capacity(m.len());
        for (k, v) in m {
            if k.contains('_') {
                return Err(self.error(format_args!(
                    "unknown option '{k}' in '{}' (option names are camelCase)",
                    self.name(key)
                )));
            }
            out.insert(snake_case(&k), v);
        }
        Ok(out)
    }

    /// A required [`Args::wire_value`].
    pub fn require_wire_value(&mut self, key: &str) -> OpResult<Value> {
        self.wire_value(key)?
            .ok_or_else(|| self.error(format_args!("'{}' is required", self.name(key))))
    }

    /// A nested object read with its own reader (same spelling).
    pub fn nested(&mut self, key: &str) -> OpResult<Option<Args<'static>>> {
        let label = format!("{}: {}", self.label, self.name(key));
        match self.object(key)? {
            None => Ok(None),
            Some(m) => Ok(Some(Args::spelled(label, m, self.spelling.nested()))),
        }
    }

    /// A list of strings.
    pub fn strings(&mut self, key: &str) -> OpResult<Option<Vec<String>>> {
        match self.take(key) {
            None => Ok(None),
            Some(Value::Array(items)) => items
                .into_iter()
                .map(|v| match v {
                    Value::String(s) => Ok(s),
                    other => Err(self.wrong(key, "a list of strings", &other)),
                })
                .collect::<OpResult<Vec<_>>>()
                .map(Some),
            Some(other) => Err(self.wrong(key, "a list of strings", &other)),
        }
    }

    /// String pairs: `{"name": "value", ...}` (a `null` value drops the
    /// entry) or `[["name", "value"], ...]` (order kept, repeats allowed).
    pub fn pairs(&mut self, key: &str) -> OpResult<Option<Vec<(String, String)>>> {
        let want = "an object of strings or an array of [name, value] string pairs";
        match self.take(key) {
            None => Ok(None),
            Some(Value::Object(m)) => {
                let mut out = Vec::with_capacity(m.len());
                for (k, v) in m {
                    match v {
                        Value::String(s) => out.push((k, s)),
                        Value::Null => {}
                        other => return Err(self.wrong(key, want, &other)),
                    }
                }
                Ok(Some(out))
            }
            Some(Value::Array(items)) => items
                .into_iter()
                .map(|pair| match pair {
                    Value::Array(p) => match <[Value; 2]>::try_from(p) {
                        Ok([Value::String(k), Value::String(v)]) => Ok((k, v)),
                        _ => Err(self.error(format_args!("'{}' must be {want}", self.name(key)))),
                    },
                    other => Err(self.wrong(key, want, &other)),
                })
                .collect::<OpResult<Vec<_>>>()
                .map(Some),
            Some(other) => Err(self.wrong(key, want, &other)),
        }
    }

    /// A point in time: RFC 3339 text (what `JSON.stringify` makes of a
    /// JavaScript `Date`) or epoch milliseconds.
    pub fn instant(&mut self, key: &str) -> OpResult<Option<OffsetDateTime>> {
        let bad = |a: &Self| {
            a.error(format_args!(
                "'{}' must be an RFC 3339 date-time or epoch milliseconds",
                a.name(key)
            ))
        };
        match self.take(key) {
            None => Ok(None),
            Some(Value::String(s)) => OffsetDateTime::parse(&s, &Rfc3339)
                .map(Some)
                .map_err(|_| bad(self)),
            Some(Value::Number(n)) => {
                let ms = n
                    .as_f64()
                    .filter(|f| f.is_finite())
                    .ok_or_else(|| bad(self))?;
                OffsetDateTime::from_unix_timestamp_nanos((ms * 1_000_000.0).round() as i128)
                    .map(Some)
                    .map_err(|_| bad(self))
            }
            Some(_) => Err(bad(self)),
        }
    }

    /// Fails on the first argument not read.
    pub fn finish(self) -> OpResult<()> {
        self.finish_ref()
    }

    /// As [`Args::finish`], for a borrowed reader.
    pub fn finish_ref(&self) -> OpResult<()> {
        match self.map.keys().next() {
            None => Ok(()),
            Some(k) => Err(self.error(format_args!("unknown option '{k}'"))),
        }
    }

    /// Every argument not read yet, in order.
    pub fn into_rest(self) -> Map<String, Value> {
        self.map
    }
}

/// A result as JSON.
fn json<T: Serialize>(v: &T) -> OpResult<Value> {
    serde_json::to_value(v)
        .map_err(|_| OpError::Failed(Error::sdk("could not render the result as JSON")))
}

/// A result as JSON with one derived field added.
fn json_with<T: Serialize>(v: &T, key: &str, extra: impl Into<Value>) -> OpResult<Value> {
    let mut out = json(v)?;
    if let Value::Object(m) = &mut out {
        m.insert(key.into(), extra.into());
    }
    Ok(out)
}

/// Every operation of [`call`], by canonical name.
pub const OPERATIONS: &[&str] = &[
    "agents.create",
    "agents.list",
    "agents.get",
    "agents.get_by_name",
    "agents.update",
    "agents.suspend",
    "agents.resume",
    "agents.delete",
    "agents.mint_key",
    "agents.list_keys",
    "agents.deprecate_key",
    "agents.undeprecate_key",
    "agents.revoke_key",
    "me",
    "list_grants",
    "revoke_grant",
    "create_managed_secret_grant",
    "mint_grant",
    "revoke_delegation",
    "delegate",
    "get_approval_status",
    "await_approval",
    "create_connect_session",
    "create_connect_session_for_error",
    "poll_connect_session",
    "create_managed_secret_connect_session",
    "create_auth_session",
    "poll_auth_session",
    "verify_user_token",
    "resolve_identity",
    "assert_identity",
    "keys.derive",
    "keys.rotate",
    "keys.revoke",
    "scopes.list",
    "spans.emit",
    "oauth_providers.list",
    "provider_specs.list",
    "provider_specs.get",
    "provider_specs.list_operations",
    "provider_specs.get_operation",
];

/// Runs the operation `op` (a canonical name, see [`OPERATIONS`]) as
/// `target` with canonical (snake_case) argument names.
pub async fn call(target: Target<'_>, op: &str, args: Map<String, Value>) -> OpResult<Value> {
    call_spelled(target, op, args, Spelling::SNAKE).await
}

/// [`call`] for a caller that spells argument names as `spelling` says;
/// `op` is still the canonical name.
pub async fn call_spelled(
    target: Target<'_>,
    op: &str,
    args: Map<String, Value>,
    spelling: Spelling<'_>,
) -> OpResult<Value> {
    call_with_events(target, op, args, spelling, None).await
}

/// [`call_spelled`] with a callback for what an operation reports while it
/// runs: `poll_connect_session` calls it for each provider the user declines
/// (see [`crate::ConnectEvent`]). Any other operation refuses a callback, before
/// anything runs.
pub async fn call_with_events(
    target: Target<'_>,
    op: &str,
    args: Map<String, Value>,
    spelling: Spelling<'_>,
    on_event: Option<ConnectEventSink>,
) -> OpResult<Value> {
    #[cfg(debug_assertions)]
    if op == crate::guard::PANIC_OP {
        return crate::guard::deliberate_panic(op);
    }
    let shown = spelling.op(op);
    if !OPERATIONS.contains(&op) {
        return Err(unknown(op));
    }
    if on_event.is_some() && op != "poll_connect_session" {
        return Err(OpError::arguments(format!(
            "{shown} reports no events: it takes no event callback"
        )));
    }
    let a = Args::spelled(format!("{shown} arguments"), args, spelling);
    match op {
        _ if op.starts_with("agents.") => agents(target, op, &shown, a).await,
        "list_grants"
        | "revoke_grant"
        | "create_managed_secret_grant"
        | "mint_grant"
        | "revoke_delegation"
        | "delegate" => grants(target, op, &shown, a).await,
        "create_connect_session"
        | "create_connect_session_for_error"
        | "poll_connect_session"
        | "create_managed_secret_connect_session" => connect(target, op, a, on_event).await,
        "me"
        | "create_auth_session"
        | "poll_auth_session"
        | "verify_user_token"
        | "resolve_identity"
        | "assert_identity" => identity(target, op, &shown, a).await,
        "get_approval_status" | "await_approval" => approvals(target.client(), op, a).await,
        "keys.derive" | "keys.rotate" | "keys.revoke" | "scopes.list" | "spans.emit" => {
            keys_scopes_spans(target.client(), op, a).await
        }
        _ if op.starts_with("oauth_providers.") || op.starts_with("provider_specs.") => {
            catalogs(target, op, a).await
        }
        _ => Err(unknown(op)),
    }
}

fn unknown(op: &str) -> OpError {
    OpError::arguments(format!("unknown operation \"{op}\""))
}

async fn agents(target: Target<'_>, op: &str, shown: &str, mut a: Args<'_>) -> OpResult<Value> {
    let app = target.app(shown)?;
    let agents = app.agents();
    match op {
        "agents.create" => {
            let c = CreateAgent {
                name: a.required_string("name")?,
                scopes: a.object("scopes")?,
                display_name: a.string("display_name")?,
                agent_type: a.string("type")?,
                metadata: a.object("metadata")?,
                policy: a.object("policy")?,
                idempotency_key: a.string("idempotency_key")?,
            };
            a.finish()?;
            json(&agents.create(c).await?)
        }
        "agents.list" => {
            let include_revoked = a.boolean("include_revoked")?.unwrap_or(false);
            let limit = a.int("limit")?.unwrap_or(100);
            let offset = a.int("offset")?.unwrap_or(0);
            a.finish()?;
            json(&agents.list(include_revoked, limit, offset).await?)
        }
        "agents.get_by_name" => {
            let name = a.required_string("name")?;
            a.finish()?;
            json(&agents.get_by_name(&name).await?)
        }
        "agents.update" => {
            let id = a.required_string("agent_id")?;
            let u = UpdateAgent {
                display_name: a.string("display_name")?,
                metadata: a.object("metadata")?,
                scopes: a.object("scopes")?,
                expected_version: a.int("expected_version")?,
                grace_seconds: a.int("grace_seconds")?,
                policy: a.object("policy")?,
            };
            a.finish()?;
            json(&agents.update(&id, u).await?)
        }
        "agents.get" | "agents.suspend" | "agents.resume" | "agents.delete" => {
            let id = a.required_string("agent_id")?;
            a.finish()?;
            let info = match op {
                "agents.get" => agents.get(&id).await,
                "agents.suspend" => agents.suspend(&id).await,
                "agents.resume" => agents.resume(&id).await,
                _ => agents.delete(&id).await,
            }?;
            json(&info)
        }
        "agents.mint_key" => {
            let id = a.required_string("agent_id")?;
            a.finish()?;
            let minted = agents.mint_key(&id).await?;
            json_with(&minted, "status", minted.key.status())
        }
        "agents.list_keys" => {
            let id = a.required_string("agent_id")?;
            a.finish()?;
            let list = agents.list_keys(&id).await?;
            let items = list
                .items
                .iter()
                .map(|k| json_with(k, "status", k.status()))
                .collect::<OpResult<Vec<_>>>()?;
            Ok(serde_json::json!({ "items": items }))
        }
        "agents.deprecate_key" | "agents.undeprecate_key" | "agents.revoke_key" => {
            let id = a.required_string("agent_id")?;
            let key_id = a.required_string("key_id")?;
            let force = if op == "agents.revoke_key" {
                a.boolean("force")?.unwrap_or(false)
            } else {
                false
            };
            a.finish()?;
            let key = match op {
                "agents.deprecate_key" => agents.deprecate_key(&id, &key_id).await,
                "agents.undeprecate_key" => agents.undeprecate_key(&id, &key_id).await,
                _ => agents.revoke_key(&id, &key_id, force).await,
            }?;
            json_with(&key, "status", key.status())
        }
        _ => Err(unknown(op)),
    }
}

fn grant_policy(a: &mut Args) -> OpResult<Option<GrantPolicyInput>> {
    match a.wire_value("grant_policy")? {
        None => Ok(None),
        Some(v) => Ok(Some(GrantPolicyInput::from_value(&v)?)),
    }
}

async fn grants(target: Target<'_>, op: &str, shown: &str, mut a: Args<'_>) -> OpResult<Value> {
    let client = target.client();
    match op {
        "list_grants" => {
            let d = ListGrants::default();
            let q = ListGrants {
                provider_id: a.string("provider_id")?,
                status: a.string("status")?,
                account: a.string("account")?,
                label: a.string("label")?,
                end_user_token: a.string("end_user_token")?,
                limit: a.int("limit")?.unwrap_or(d.limit),
                offset: a.int("offset")?.unwrap_or(d.offset),
            };
            a.finish()?;
            json(&client.list_grants(&q).await?)
        }
        "revoke_grant" => {
            let app = target.app(shown)?;
            let id = a.required_string("grant_id")?;
            let reason = a.string("reason")?;
            a.finish()?;
            json(&app.revoke_grant(&id, reason.as_deref()).await?)
        }
        "create_managed_secret_grant" => {
            let id = a.required_string("managed_secret_id")?;
            let principal = a.require_wire_value("principal")?;
            let principal = GrantPrincipal::from_value(&principal)?;
            let policy = grant_policy(&mut a)?;
            let credential_id = a.string("credential_id")?;
            a.finish()?;
            let created = match (target, principal) {
                (Target::App(app), p) => {
                    app.create_managed_secret_grant(
                        &id,
                        &p,
                        policy.as_ref(),
                        credential_id.as_deref(),
                    )
                    .await?
                }
                (Target::Agent(agent), GrantPrincipal::Agent(p)) => {
                    agent
                        .create_managed_secret_grant(
                            &id,
                            &p,
                            policy.as_ref(),
                            credential_id.as_deref(),
                        )
                        .await?
                }
                (Target::Agent(_), _) => {
                    return Err(OpError::arguments(format!(
                        "{shown}: an Agent issues grants only to itself: the principal's type must be \"agent\""
                    )))
                }
            };
            json(&created)
        }
        "mint_grant" => {
            let app = target.app(shown)?;
            let source = a.required_string("source_grant_id")?;
            let label = a.required_string("label")?;
            let policy = a.wire_object("grant_policy")?.map(MintGrantPolicy::Raw);
            let tags = a.strings("grant_tags")?;
            a.finish()?;
            json(
                &app.mint_grant(&source, &label, policy.as_ref(), tags.as_deref())
                    .await?,
            )
        }
        "revoke_delegation" => {
            let id = a.required_string("grant_id")?;
            match target {
                Target::App(app) => {
                    let agent_id = a.required_string("agent_id")?;
                    a.finish()?;
                    app.revoke_delegation(&id, &agent_id).await?;
                }
                Target::Agent(agent) => {
                    a.finish()?;
                    agent.revoke_delegation(&id).await?;
                }
            }
            Ok(Value::Null)
        }
        "delegate" => {
            let agent = target.agent(shown)?;
            let id = a.required_string("grant_id")?;
            let to = a.required_string("to_agent_id")?;
            let o = DelegateOptions {
                delegable: a.boolean("delegable")?,
                scope_constraint: a.strings("scope_constraint")?,
                ttl_seconds: a.int("ttl_seconds")?,
            };
            a.finish()?;
            json(&agent.delegate(&id, &to, &o).await?)
        }
        _ => Err(unknown(op)),
    }
}

/// The core error an error object stands for: `{kind, message?, details?,
/// provider_id?, agent_id?, app_user_id?, grant_id?}`, `kind` an official
/// class name. Ids that are numbers are taken as their text; other
/// non-string ids are ignored (a binding hands over whatever its error
/// object held).
fn error_arg(mut e: Args) -> OpResult<Error> {
    fn text(e: &mut Args, key: &str) -> Option<String> {
        match e.take(key) {
            Some(Value::String(s)) => Some(s),
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => None,
        }
    }
    let kind = e.required_string("kind")?;
    let message = e.string("message")?.unwrap_or_default();
    let details: Details = e.object("details")?.unwrap_or_default();
    let ids = ErrorIdentity {
        provider_id: text(&mut e, "provider_id"),
        agent_id: text(&mut e, "agent_id"),
        app_user_id: text(&mut e, "app_user_id"),
        grant_id: e.take("grant_id"),
    };
    e.finish_ref()?;
    Error::from_kind_with_identity(&kind, message, details, ids)
        .ok_or_else(|| e.error(format_args!("unknown error class {kind:?}")))
}

async fn connect(
    target: Target<'_>,
    op: &str,
    mut a: Args<'_>,
    on_event: Option<ConnectEventSink>,
) -> OpResult<Value> {
    let client = target.client();
    match op {
        "create_connect_session" => {
            let d = ConnectSessionOptions::default();
            let o = ConnectSessionOptions {
                allowed_providers: a.strings("allowed_providers")?,
                direct: a.boolean("direct")?.unwrap_or(d.direct),
                return_url: a.string("return_url")?,
                allowed_origin: a.string("allowed_origin")?,
                metadata: a.wire_object("metadata")?,
                grant_policy: grant_policy(&mut a)?,
                required_scopes: a.object("required_scopes")?,
                agent: a.string("agent")?,
                user_token: a.string("user_token")?,
                requested_grant: a.wire_object("requested_grant")?,
                repair_grant_id: a.string("repair_grant_id")?,
                delegable: a.boolean("delegable")?,
                scope_constraint: a.strings("scope_constraint")?,
                switch_account: a.boolean("switch_account")?.unwrap_or(d.switch_account),
                allow_user_policy_rules: a
                    .boolean("allow_user_policy_rules")?
                    .unwrap_or(d.allow_user_policy_rules),
            };
            a.finish()?;
            json(&client.create_connect_session(&o).await?)
        }
        "create_connect_session_for_error" => {
            let error = match a.nested("error")? {
                Some(e) => error_arg(e)?,
                None => {
                    return Err(a.error(format_args!(
                        "'{}' is required: an SDK error (NoDelegatedGrantError, GrantNotFoundError or CredentialRevokedError)",
                        a.name("error")
                    )))
                }
            };
            let o = ConnectForErrorOptions {
                allowed_origin: a.string("allowed_origin")?,
                return_url: a.string("return_url")?,
                metadata: a.wire_object("metadata")?,
                grant_policy: grant_policy(&mut a)?,
                required_scopes: a.object("required_scopes")?,
                user_token: a.string("user_token")?,
            };
            a.finish()?;
            json(&client.create_connect_session_for_error(&error, &o).await?)
        }
        "poll_connect_session" => {
            let token = a.required_string("session_token")?;
            let timeout = a.number("timeout_seconds")?.unwrap_or(300.0);
            let interval = a.number("poll_interval_seconds")?.unwrap_or(2.0);
            a.finish()?;
            json(
                &client
                    .poll_connect_session(&token, timeout, interval, on_event)
                    .await?,
            )
        }
        "create_managed_secret_connect_session" => {
            let d = ManagedSecretConnectOptions::default();
            let o = ManagedSecretConnectOptions {
                provider: a.string("provider")?,
                template_slug: a.string("template_slug")?,
                user_token: a.required_string("user_token")?,
                delegable: a.boolean("delegable")?.unwrap_or(d.delegable),
                requested_grant: a.wire_object("requested_grant")?,
                grant_policy: grant_policy(&mut a)?,
                direct: a.boolean("direct")?.unwrap_or(d.direct),
                allow_user_policy_rules: a
                    .boolean("allow_user_policy_rules")?
                    .unwrap_or(d.allow_user_policy_rules),
                allowed_origin: a.string("allowed_origin")?,
                return_url: a.string("return_url")?,
                requested_ttl_seconds: a.int("requested_ttl_seconds")?,
            };
            let session = match target {
                Target::App(app) => {
                    let t = ManagedSecretConnectTarget {
                        agent: a.string("agent")?,
                        delegated_agent_id: a.string("delegated_agent_id")?,
                        delegated_agent_name: a.string("delegated_agent_name")?,
                        repair_grant_id: a.string("repair_grant_id")?,
                    };
                    a.finish()?;
                    app.create_managed_secret_connect_session(&o, &t).await?
                }
                Target::Agent(agent) => {
                    a.finish()?;
                    agent.create_managed_secret_connect_session(&o).await?
                }
            };
            json(&session)
        }
        _ => Err(unknown(op)),
    }
}

async fn identity(target: Target<'_>, op: &str, shown: &str, mut a: Args<'_>) -> OpResult<Value> {
    match op {
        "me" => {
            let agent = target.agent(shown)?;
            a.finish()?;
            json(&agent.me().await?)
        }
        "create_auth_session" => {
            let app = target.app(shown)?;
            a.finish()?;
            json(&app.create_auth_session().await?)
        }
        "poll_auth_session" => {
            let app = target.app(shown)?;
            let token = a.required_string("session_token")?;
            let timeout = a.number("timeout_seconds")?.unwrap_or(300.0);
            let interval = a.number("poll_interval_seconds")?.unwrap_or(2.0);
            a.finish()?;
            json(&app.poll_auth_session(&token, timeout, interval).await?)
        }
        "verify_user_token" => {
            let app = target.app(shown)?;
            let token = a.required_string("token")?;
            a.finish()?;
            // Any failure means "not a valid token": the answer is null.
            Ok(app
                .verify_user_token(&token)
                .await
                .map_or(Value::Null, Value::String))
        }
        "resolve_identity" | "assert_identity" => {
            let asserting = op == "assert_identity";
            let audience = if asserting {
                Some(a.required_string("audience")?)
            } else {
                None
            };
            let user_token = a.string("user_token")?;
            let ttl = if asserting {
                a.int("ttl_seconds")?
            } else {
                None
            };
            let include_profile = a.boolean("include_profile")?.unwrap_or(false);
            let user_token = user_token.as_deref();
            match target {
                Target::App(app) => {
                    a.finish()?;
                    match audience {
                        None => json(&app.resolve_identity(user_token, include_profile).await?),
                        Some(aud) => json(
                            &app.assert_identity(&aud, user_token, ttl, include_profile)
                                .await?,
                        ),
                    }
                }
                Target::Agent(agent) => {
                    let app_user_id = a.string("app_user_id")?;
                    a.finish()?;
                    let app_user_id = app_user_id.as_deref();
                    match audience {
                        None => json(
                            &agent
                                .resolve_identity(user_token, app_user_id, include_profile)
                                .await?,
                        ),
                        Some(aud) => json(
                            &agent
                                .assert_identity(
                                    &aud,
                                    user_token,
                                    app_user_id,
                                    ttl,
                                    include_profile,
                                )
                                .await?,
                        ),
                    }
                }
            }
        }
        _ => Err(unknown(op)),
    }
}

async fn approvals(client: &Client, op: &str, mut a: Args<'_>) -> OpResult<Value> {
    let id = a.required_string("approval_id")?;
    if op == "get_approval_status" {
        let wait = a.number("wait_seconds")?.unwrap_or(0.0);
        a.finish()?;
        let s = client.get_approval_status(&id, wait).await?;
        json_with(&s, "is_terminal", s.is_terminal())
    } else {
        let timeout = a.number("timeout_seconds")?.unwrap_or(300.0);
        let interval = a.number("poll_interval_seconds")?.unwrap_or(2.0);
        a.finish()?;
        let r = client.await_approval(&id, timeout, interval).await?;
        // What a proxied call yields once approved: its outcome is named
        // like the approval statuses.
        json_with(&r, "status", "executed")
    }
}

/// `spans`: `[{trace_id, name, start_time, span_id?, parent_span_id?,
/// end_time?, attributes?}]`.
fn spans_arg(a: &mut Args) -> OpResult<Vec<UserSpan>> {
    let shown = a.name("spans");
    let items = match a.require("spans")? {
        Value::Array(items) => items,
        other => return Err(a.wrong("spans", "an array of span objects", &other)),
    };
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| {
            let Value::Object(m) = item else {
                return Err(a.wrong("spans", "an array of span objects", &item));
            };
            let label = format!("{}: {shown}[{i}]", a.label);
            let mut s = Args::spelled(label, m, a.spelling.nested());
            let trace_id = s.required_string("trace_id")?;
            let name = s.required_string("name")?;
            let start = match s.instant("start_time")? {
                Some(t) => t,
                None => return Err(s.error(format_args!("'{}' is required", s.name("start_time")))),
            };
            let mut span = UserSpan::new(&trace_id, &name, start);
            span.span_id = s.string("span_id")?;
            span.parent_span_id = s.string("parent_span_id")?;
            span.end_time = s.instant("end_time")?;
            span.attributes = s.pairs("attributes")?.unwrap_or_default();
            s.finish()?;
            Ok(span)
        })
        .collect()
}

async fn keys_scopes_spans(client: &Client, op: &str, mut a: Args<'_>) -> OpResult<Value> {
    match op {
        "keys.derive" => {
            let d = DeriveKey {
                scopes: a.strings("scopes")?.unwrap_or_default(),
                expires_in: match a.int("expires_in")? {
                    Some(n) => n,
                    None => {
                        return Err(a.error(format_args!("'{}' is required", a.name("expires_in"))))
                    }
                },
                cidr_allowlist: a.strings("cidr_allowlist")?,
                name: a.string("name")?,
                metadata: a.object("metadata")?,
                rate_limit_rpm: a.int("rate_limit_rpm")?,
            };
            a.finish()?;
            let k = client.keys().derive(&d).await?;
            json_with(&k, "status", k.info.status())
        }
        "keys.rotate" => {
            let key_id = a.required_string("key_id")?;
            let overlap = a.int("overlap_days")?.unwrap_or(7);
            a.finish()?;
            let k = client.keys().rotate(&key_id, overlap).await?;
            json_with(&k, "status", k.info.status())
        }
        "keys.revoke" => {
            let key_id = a.required_string("key_id")?;
            let force = a.boolean("force")?.unwrap_or(false);
            a.finish()?;
            let k = client.keys().revoke(&key_id, force).await?;
            json_with(&k, "status", k.status())
        }
        "scopes.list" => {
            a.finish()?;
            json(&client.scopes().list().await?)
        }
        "spans.emit" => {
            let spans = spans_arg(&mut a)?;
            a.finish()?;
            json(&client.spans().emit(&spans).await?)
        }
        _ => Err(unknown(op)),
    }
}

async fn catalogs(target: Target<'_>, op: &str, mut a: Args<'_>) -> OpResult<Value> {
    let specs = target.client().provider_specs();
    match op {
        "oauth_providers.list" => {
            let force = a.boolean("force_refresh")?.unwrap_or(false);
            a.finish()?;
            // The catalog cache lives on the principal, not the client.
            let catalog = match target {
                Target::App(app) => app.oauth_providers().list(force).await,
                Target::Agent(agent) => agent.oauth_providers().list(force).await,
            }?;
            json(&catalog)
        }
        "provider_specs.list" => {
            let kind = a.string("kind")?;
            a.finish()?;
            json(&specs.list(kind.as_deref()).await?)
        }
        "provider_specs.get" => {
            let kind = a.required_string("kind")?;
            let provider = a.required_string("provider_id")?;
            a.finish()?;
            json(&specs.get(&kind, &provider).await?)
        }
        "provider_specs.list_operations" => {
            let kind = a.required_string("kind")?;
            let provider = a.required_string("provider_id")?;
            let search = a.string("search")?;
            let limit = a.int("limit")?.unwrap_or(100);
            let offset = a.int("offset")?.unwrap_or(0);
            a.finish()?;
            json(
                &specs
                    .list_operations(&kind, &provider, search.as_deref(), limit, offset)
                    .await?,
            )
        }
        "provider_specs.get_operation" => {
            let kind = a.required_string("kind")?;
            let provider = a.required_string("provider_id")?;
            let operation = a.required_string("operation_id")?;
            a.finish()?;
            json(&specs.get_operation(&kind, &provider, &operation).await?)
        }
        _ => Err(unknown(op)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::ClientOptions;
    use crate::retry::RetryPolicy;
    use serde_json::json;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use tokio::net::TcpListener;

    /// A loopback listener that counts the connections made to it and
    /// drops each at once: any call that reached the network shows up.
    async fn counting_listener() -> (String, Arc<AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let hits = Arc::new(AtomicUsize::new(0));
        let seen = hits.clone();
        tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                seen.fetch_add(1, Ordering::SeqCst);
                drop(sock);
            }
        });
        (url, hits)
    }

    fn options(url: &str) -> ClientOptions {
        ClientOptions {
            api_key: format!("alter_key_{}", "k".repeat(40)),
            base_url: Some(url.to_string()),
            warnings: Some(Arc::new(|_: &str| {})),
            retry: Some(RetryPolicy::disabled()),
            ..Default::default()
        }
    }

    fn obj(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            other => panic!("not an object: {other}"),
        }
    }

    /// Runs `op` and returns the message of the argument error it must
    /// give (an `AlterValueError`).
    async fn refused(t: Target<'_>, op: &str, args: Value, spelling: Spelling<'_>) -> String {
        match call_spelled(t, op, obj(args), spelling).await {
            Err(OpError::Arguments(e)) => {
                assert_eq!(e.kind(), "AlterValueError", "{op}");
                e.message().to_string()
            }
            other => panic!("{op}: expected an argument error, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn argument_errors_name_the_argument_and_send_nothing() {
        let (url, hits) = counting_listener().await;
        let app = App::new(options(&url)).unwrap();
        let agent = Agent::new(options(&url)).unwrap();
        let (app, agent) = (Target::App(&app), Target::Agent(&agent));
        let cases = [
            (
                app,
                "agents.create",
                json!({}),
                "agents.create arguments: 'name' is required",
            ),
            (
                app,
                "agents.create",
                json!({"name": "n", "bogus": 1}),
                "unknown option 'bogus'",
            ),
            (
                app,
                "agents.list",
                json!({"limit": "ten"}),
                "'limit' must be an integer, got a string",
            ),
            (app, "agents.get", json!({}), "'agent_id' is required"),
            (
                app,
                "agents.update",
                json!({"agent_id": "a", "metadata": []}),
                "'metadata' must be an object",
            ),
            (
                app,
                "agents.revoke_key",
                json!({"agent_id": "a", "key_id": "k", "force": 1}),
                "'force' must be a boolean",
            ),
            (
                app,
                "agents.deprecate_key",
                json!({"agent_id": "a", "key_id": "k", "force": true}),
                "unknown option 'force'",
            ),
            (
                app,
                "list_grants",
                json!({"limit": 1.5}),
                "'limit' must be an integer",
            ),
            (
                app,
                "revoke_grant",
                json!({"grant_id": 5}),
                "'grant_id' must be a string, got a number",
            ),
            (
                app,
                "create_managed_secret_grant",
                json!({"managed_secret_id": "m"}),
                "'principal' is required",
            ),
            (
                app,
                "mint_grant",
                json!({"source_grant_id": "s"}),
                "'label' is required",
            ),
            (
                app,
                "mint_grant",
                json!({"source_grant_id": "s", "label": "l", "grant_tags": [1]}),
                "'grant_tags' must be a list of strings",
            ),
            (
                app,
                "revoke_delegation",
                json!({"grant_id": "g"}),
                "'agent_id' is required",
            ),
            (
                agent,
                "revoke_delegation",
                json!({"grant_id": "g", "agent_id": "a"}),
                "unknown option 'agent_id'",
            ),
            (
                agent,
                "delegate",
                json!({"grant_id": "g"}),
                "'to_agent_id' is required",
            ),
            (
                app,
                "get_approval_status",
                json!({}),
                "'approval_id' is required",
            ),
            (
                app,
                "await_approval",
                json!({"approval_id": "x", "timeout_seconds": "soon"}),
                "'timeout_seconds' must be a number",
            ),
            (
                app,
                "create_connect_session",
                json!({"allowed_providers": "google"}),
                "'allowed_providers' must be a list of strings",
            ),
            (
                app,
                "create_connect_session_for_error",
                json!({}),
                "'error' is required",
            ),
            (
                app,
                "create_connect_session_for_error",
                json!({"error": {"kind": "NoSuchError"}}),
                "unknown error class",
            ),
            (
                app,
                "create_connect_session_for_error",
                json!({"error": {"message": "m"}}),
                "error: 'kind' is required",
            ),
            (
                app,
                "poll_connect_session",
                json!({}),
                "'session_token' is required",
            ),
            (
                app,
                "create_managed_secret_connect_session",
                json!({"provider": "p"}),
                "'user_token' is required",
            ),
            (
                agent,
                "create_managed_secret_connect_session",
                json!({"user_token": "u", "agent": "a"}),
                "unknown option 'agent'",
            ),
            (
                app,
                "poll_auth_session",
                json!({}),
                "'session_token' is required",
            ),
            (app, "verify_user_token", json!({}), "'token' is required"),
            (
                app,
                "resolve_identity",
                json!({"app_user_id": "u"}),
                "unknown option 'app_user_id'",
            ),
            (
                agent,
                "assert_identity",
                json!({}),
                "'audience' is required",
            ),
            (
                app,
                "keys.derive",
                json!({"scopes": ["a"]}),
                "'expires_in' is required",
            ),
            (app, "keys.rotate", json!({}), "'key_id' is required"),
            (
                app,
                "keys.revoke",
                json!({"key_id": "k", "force": "yes"}),
                "'force' must be a boolean",
            ),
            (
                app,
                "scopes.list",
                json!({"x": 1}),
                "scopes.list arguments: unknown option 'x'",
            ),
            (agent, "spans.emit", json!({}), "'spans' is required"),
            (
                agent,
                "spans.emit",
                json!({"spans": [{"trace_id": "t", "name": "n"}]}),
                "spans[0]: 'start_time' is required",
            ),
            (
                agent,
                "spans.emit",
                json!({"spans": [{"trace_id": "t", "name": "n", "start_time": "yesterday"}]}),
                "'start_time' must be an RFC 3339",
            ),
            (
                agent,
                "spans.emit",
                json!({"spans": [{"trace_id": "t", "name": "n", "start_time": 0, "attributes": {"a": 1}}]}),
                "'attributes' must be",
            ),
            (
                app,
                "oauth_providers.list",
                json!({"force_refresh": 1}),
                "'force_refresh' must be a boolean",
            ),
            (
                app,
                "provider_specs.list",
                json!({"kind": 1}),
                "'kind' must be a string",
            ),
            (
                app,
                "provider_specs.get",
                json!({"kind": "oauth"}),
                "'provider_id' is required",
            ),
            (
                app,
                "provider_specs.list_operations",
                json!({"kind": "k", "provider_id": "p", "limit": "x"}),
                "'limit' must be an integer",
            ),
            (
                app,
                "provider_specs.get_operation",
                json!({"kind": "k", "provider_id": "p"}),
                "'operation_id' is required",
            ),
            (app, "me", json!({}), "me needs an Agent client"),
            (
                agent,
                "agents.list",
                json!({}),
                "agents.list needs an App client",
            ),
            (
                agent,
                "create_auth_session",
                json!({}),
                "needs an App client",
            ),
            (
                agent,
                "create_managed_secret_grant",
                json!({"managed_secret_id": "m", "principal": {"type": "system"}}),
                "issues grants only to itself",
            ),
            (
                app,
                "agents.frobnicate",
                json!({}),
                "unknown operation \"agents.frobnicate\"",
            ),
            (agent, "agents.frobnicate", json!({}), "unknown operation"),
            (app, "client.info", json!({}), "unknown operation"),
        ];
        for (t, op, args, want) in cases {
            let msg = refused(t, op, args, Spelling::SNAKE).await;
            assert!(msg.contains(want), "{op}: {msg:?} lacks {want:?}");
        }
        assert_eq!(
            hits.load(Ordering::SeqCst),
            0,
            "an argument error sent a request"
        );

        // The count means something: a call whose arguments pass reaches
        // the listener (and fails there, as a call, not as arguments).
        match call(app, "scopes.list", Map::new()).await {
            Err(OpError::Failed(e)) => assert!(e.is_a("NetworkError"), "{e:?}"),
            other => panic!("{other:?}"),
        }
        assert!(hits.load(Ordering::SeqCst) >= 1);
    }

    #[tokio::test]
    async fn a_camel_case_caller_is_answered_in_its_own_names() {
        let (url, hits) = counting_listener().await;
        let app = App::new(options(&url)).unwrap();
        let app = Target::App(&app);
        let camel = Spelling::CAMEL;
        let msg = refused(app, "agents.list", json!({"includeRevoked": 1}), camel).await;
        assert_eq!(
            msg,
            "agents.list arguments: 'includeRevoked' must be a boolean, got a number"
        );
        // The canonical spelling is not a second way in.
        let msg = refused(app, "list_grants", json!({"provider_id": "g"}), camel).await;
        assert_eq!(msg, "listGrants arguments: unknown option 'provider_id'");
        let msg = refused(app, "provider_specs.get", json!({"kind": "oauth"}), camel).await;
        assert_eq!(msg, "providerSpecs.get arguments: 'providerId' is required");
        let polls = camel.with_renames(&[("timeout_seconds", "timeout")]);
        let msg = refused(
            app,
            "poll_connect_session",
            json!({"sessionToken": "t", "timeout": "soon"}),
            polls,
        )
        .await;
        assert!(msg.contains("'timeout' must be a number"), "{msg}");
        // Keys of wire objects are converted, and their snake_case refused.
        let msg = refused(
            app,
            "create_managed_secret_grant",
            json!({"managedSecretId": "m", "principal": {"type": "user", "user_token": "x", "label": "l"}}),
            camel,
        )
        .await;
        assert!(
            msg.contains("unknown option 'user_token' in 'principal'"),
            "{msg}"
        );
        let msg = refused(
            app,
            "create_connect_session_for_error",
            json!({"error": {"kind": "GrantNotFoundError", "provider_id": "google"}}),
            camel,
        )
        .await;
        assert!(msg.contains("unknown option 'provider_id'"), "{msg}");
        assert_eq!(hits.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn the_core_checks_values_whose_shape_was_right() {
        // A grant policy the core refuses is the call's failure (the C ABI
        // reports it as ALTER_ERROR, as before the table moved here).
        let (url, hits) = counting_listener().await;
        let app = App::new(options(&url)).unwrap();
        let r = call(
            Target::App(&app),
            "create_managed_secret_grant",
            obj(json!({"managed_secret_id": "m", "principal": {"type": "system"}, "grant_policy": {"max_ttl_seconds": "long"}})),
        )
        .await;
        match r {
            Err(OpError::Failed(e)) => assert_eq!(e.kind(), "AlterValueError"),
            other => panic!("{other:?}"),
        }
        // The error a caller hands back is rebuilt with its identifiers and
        // judged by the core: a GrantNotFoundError without a provider has
        // no recovery context.
        let r = call(
            Target::App(&app),
            "create_connect_session_for_error",
            obj(json!({"error": {"kind": "GrantNotFoundError", "message": "m", "agent_id": "a"}})),
        )
        .await;
        match r {
            Err(OpError::Failed(e)) => assert!(e.message().contains("provider_id"), "{e:?}"),
            other => panic!("{other:?}"),
        }
        assert_eq!(hits.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn names_convert_both_ways() {
        assert_eq!(camel_case("grant_id"), "grantId");
        assert_eq!(camel_case("body_b64"), "bodyB64");
        assert_eq!(camel_case("apiKey"), "apiKey");
        assert_eq!(snake_case("grantId"), "grant_id");
        assert_eq!(snake_case("type"), "type");
        let camel = Spelling::CAMEL.with_renames(&[("wait_seconds", "wait")]);
        assert_eq!(camel.key("wait_seconds"), "wait");
        assert_eq!(camel.key("approval_id"), "approvalId");
        assert_eq!(
            camel.op("provider_specs.get_operation"),
            "providerSpecs.getOperation"
        );
        assert_eq!(
            Spelling::SNAKE.op("agents.get_by_name"),
            "agents.get_by_name"
        );
        // Every operation has a camelCase name that converts back to it.
        for op in OPERATIONS {
            let shown = Spelling::CAMEL.op(op);
            assert_eq!(snake_case(&shown), *op);
        }
    }

    #[test]
    fn the_reader_reads_what_it_documents() {
        let mut a = Args::new(
            "t",
            obj(json!({
                "s": "x", "n": null, "pairs": {"a": "1", "b": null}, "list": [["a", "1"], ["a", "2"]],
                "when": "2026-01-01T00:00:00Z", "ms": 1000, "extra": true
            })),
        );
        assert_eq!(a.string("s").unwrap().as_deref(), Some("x"));
        assert_eq!(a.string("n").unwrap(), None, "null is absent");
        assert_eq!(
            a.pairs("pairs").unwrap(),
            Some(vec![("a".into(), "1".into())])
        );
        assert_eq!(
            a.pairs("list").unwrap(),
            Some(vec![("a".into(), "1".into()), ("a".into(), "2".into())])
        );
        assert_eq!(
            a.instant("when").unwrap().unwrap().unix_timestamp(),
            1_767_225_600
        );
        assert_eq!(a.instant("ms").unwrap().unwrap().unix_timestamp(), 1);
        let e = a.finish_ref().unwrap_err();
        assert_eq!(e.error().message(), "t: unknown option 'extra'");
        assert_eq!(a.into_rest().len(), 1);

        let bad = Args::from_value("t", Some(json!([1])), Spelling::SNAKE).unwrap_err();
        assert_eq!(
            bad.error().message(),
            "t: options must be an object, got an array"
        );
        assert!(Args::from_value("t", None, Spelling::CAMEL)
            .unwrap()
            .finish()
            .is_ok());

        let mut w = Args::spelled(
            "t",
            obj(json!({"grantPolicy": {"maxTtlSeconds": 5, "nested": {"a_b": 1}}})),
            Spelling::CAMEL,
        );
        assert_eq!(
            w.wire_object("grant_policy").unwrap(),
            Some(obj(json!({"max_ttl_seconds": 5, "nested": {"a_b": 1}})))
        );
    }
}
