//! The generic call's remaining operations: Connect and auth sessions,
//! identity, scoped keys, the scope catalog and spans. Each reads its
//! arguments from a JSON object (schemas in `alter_call`'s documentation).

use crate::client::{AlterClient, Principal};
use crate::guard::{block, Fail, FfiResult};
use crate::options::Fields;
use alter_core::apikeys::DeriveKey;
use alter_core::connect::{
    ConnectSessionOptions, ManagedSecretConnectOptions, ManagedSecretConnectTarget,
};
use alter_core::grants::GrantPolicyInput;
use alter_core::spans::UserSpan;
use serde::Serialize;
use serde_json::Value;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

fn to_json<T: Serialize>(v: &T) -> FfiResult<Value> {
    serde_json::to_value(v).map_err(|_| {
        Fail::from(alter_core::Error::sdk(
            "could not render the result as JSON",
        ))
    })
}

fn required(f: &mut Fields, key: &str) -> FfiResult<String> {
    f.string(key)?
        .ok_or_else(|| Fail::invalid(format!("\"{key}\" is required")))
}

pub(crate) fn string_list(f: &mut Fields, key: &str) -> FfiResult<Option<Vec<String>>> {
    match f.take(key) {
        None => Ok(None),
        Some(Value::Array(a)) => a
            .into_iter()
            .map(|v| match v {
                Value::String(s) => Ok(s),
                _ => Err(Fail::invalid(format!(
                    "\"{key}\" must be an array of strings"
                ))),
            })
            .collect::<FfiResult<Vec<_>>>()
            .map(Some),
        Some(_) => Err(Fail::invalid(format!(
            "\"{key}\" must be an array of strings"
        ))),
    }
}

fn grant_policy(f: &mut Fields) -> FfiResult<Option<GrantPolicyInput>> {
    match f.take("grant_policy") {
        None => Ok(None),
        Some(v) => Ok(Some(GrantPolicyInput::from_value(&v)?)),
    }
}

fn when(f: &mut Fields, key: &str) -> FfiResult<Option<OffsetDateTime>> {
    match f.string(key)? {
        None => Ok(None),
        Some(s) => OffsetDateTime::parse(&s, &Rfc3339)
            .map(Some)
            .map_err(|_| Fail::invalid(format!("\"{key}\" must be an RFC 3339 date-time"))),
    }
}

fn spans(list: Value) -> FfiResult<Vec<UserSpan>> {
    let Value::Array(items) = list else {
        return Err(Fail::invalid("\"spans\" must be an array of span objects"));
    };
    items
        .into_iter()
        .map(|item| {
            let Value::Object(m) = item else {
                return Err(Fail::invalid("\"spans\" must be an array of span objects"));
            };
            let mut f = Fields::new("span", m);
            let start = when(&mut f, "start_time")?
                .ok_or_else(|| Fail::invalid("span: \"start_time\" is required"))?;
            let mut span = UserSpan::new(
                &required(&mut f, "trace_id")?,
                &required(&mut f, "name")?,
                start,
            );
            span.span_id = f.string("span_id")?;
            span.parent_span_id = f.string("parent_span_id")?;
            span.end_time = when(&mut f, "end_time")?;
            span.attributes = f.pairs("attributes")?.unwrap_or_default();
            f.finish()?;
            Ok(span)
        })
        .collect()
}

fn app_only<'a>(c: &'a AlterClient, op: &str) -> FfiResult<&'a alter_core::App> {
    c.app()
        .ok_or_else(|| Fail::invalid(format!("{op} needs an App client")))
}

/// Runs `op` when it is one of this module's; `None` for an unknown name.
pub(crate) fn dispatch(c: &AlterClient, op: &str, f: &mut Fields) -> Option<FfiResult<Value>> {
    let mut run = || -> FfiResult<Value> {
        match op {
            "create_connect_session" => {
                let d = ConnectSessionOptions::default();
                let o = ConnectSessionOptions {
                    allowed_providers: string_list(f, "allowed_providers")?,
                    direct: f.boolean("direct")?.unwrap_or(d.direct),
                    return_url: f.string("return_url")?,
                    allowed_origin: f.string("allowed_origin")?,
                    metadata: f.object("metadata")?,
                    grant_policy: grant_policy(f)?,
                    required_scopes: f.object("required_scopes")?,
                    agent: f.string("agent")?,
                    user_token: f.string("user_token")?,
                    requested_grant: f.object("requested_grant")?,
                    repair_grant_id: f.string("repair_grant_id")?,
                    delegable: f.boolean("delegable")?,
                    scope_constraint: string_list(f, "scope_constraint")?,
                    switch_account: f.boolean("switch_account")?.unwrap_or(d.switch_account),
                    allow_user_policy_rules: f
                        .boolean("allow_user_policy_rules")?
                        .unwrap_or(d.allow_user_policy_rules),
                };
                f.finish_ref()?;
                to_json(&block(c.client().create_connect_session(&o))?)
            }
            "poll_connect_session" => {
                let token = required(f, "session_token")?;
                let timeout = f.number("timeout_seconds")?.unwrap_or(300.0);
                let interval = f.number("poll_interval_seconds")?.unwrap_or(2.0);
                f.finish_ref()?;
                to_json(&block(
                    c.client()
                        .poll_connect_session(&token, timeout, interval, None),
                )?)
            }
            "create_managed_secret_connect_session" => {
                let d = ManagedSecretConnectOptions::default();
                let o = ManagedSecretConnectOptions {
                    provider: f.string("provider")?,
                    template_slug: f.string("template_slug")?,
                    user_token: required(f, "user_token")?,
                    delegable: f.boolean("delegable")?.unwrap_or(d.delegable),
                    requested_grant: f.object("requested_grant")?,
                    grant_policy: grant_policy(f)?,
                    direct: f.boolean("direct")?.unwrap_or(d.direct),
                    allow_user_policy_rules: f
                        .boolean("allow_user_policy_rules")?
                        .unwrap_or(d.allow_user_policy_rules),
                    allowed_origin: f.string("allowed_origin")?,
                    return_url: f.string("return_url")?,
                    requested_ttl_seconds: f.int("requested_ttl_seconds")?,
                };
                let session = match &c.principal {
                    Principal::App(app) => {
                        let target = ManagedSecretConnectTarget {
                            agent: f.string("agent")?,
                            delegated_agent_id: f.string("delegated_agent_id")?,
                            delegated_agent_name: f.string("delegated_agent_name")?,
                            repair_grant_id: f.string("repair_grant_id")?,
                        };
                        f.finish_ref()?;
                        block(app.create_managed_secret_connect_session(&o, &target))?
                    }
                    Principal::Agent(agent) => {
                        f.finish_ref()?;
                        block(agent.create_managed_secret_connect_session(&o))?
                    }
                };
                to_json(&session)
            }
            "create_auth_session" => {
                let app = app_only(c, op)?;
                f.finish_ref()?;
                to_json(&block(app.create_auth_session())?)
            }
            "poll_auth_session" => {
                let app = app_only(c, op)?;
                let token = required(f, "session_token")?;
                let timeout = f.number("timeout_seconds")?.unwrap_or(300.0);
                let interval = f.number("poll_interval_seconds")?.unwrap_or(2.0);
                f.finish_ref()?;
                to_json(&block(app.poll_auth_session(&token, timeout, interval))?)
            }
            "verify_user_token" => {
                let app = app_only(c, op)?;
                let token = required(f, "token")?;
                f.finish_ref()?;
                Ok(block(app.verify_user_token(&token)).map_or(Value::Null, Value::String))
            }
            "resolve_identity" | "assert_identity" => {
                let audience = if op == "assert_identity" {
                    Some(required(f, "audience")?)
                } else {
                    None
                };
                let user_token = f.string("user_token")?;
                let include_profile = f.boolean("include_profile")?.unwrap_or(false);
                let ttl = if op == "assert_identity" {
                    f.int("ttl_seconds")?
                } else {
                    None
                };
                match &c.principal {
                    Principal::App(app) => {
                        f.finish_ref()?;
                        match audience {
                            None => to_json(&block(
                                app.resolve_identity(user_token.as_deref(), include_profile),
                            )?),
                            Some(aud) => to_json(&block(app.assert_identity(
                                &aud,
                                user_token.as_deref(),
                                ttl,
                                include_profile,
                            ))?),
                        }
                    }
                    Principal::Agent(agent) => {
                        let app_user_id = f.string("app_user_id")?;
                        f.finish_ref()?;
                        match audience {
                            None => to_json(&block(agent.resolve_identity(
                                user_token.as_deref(),
                                app_user_id.as_deref(),
                                include_profile,
                            ))?),
                            Some(aud) => to_json(&block(agent.assert_identity(
                                &aud,
                                user_token.as_deref(),
                                app_user_id.as_deref(),
                                ttl,
                                include_profile,
                            ))?),
                        }
                    }
                }
            }
            "keys.derive" => {
                let args = DeriveKey {
                    scopes: string_list(f, "scopes")?.unwrap_or_default(),
                    expires_in: f
                        .int("expires_in")?
                        .ok_or_else(|| Fail::invalid("\"expires_in\" is required"))?,
                    cidr_allowlist: string_list(f, "cidr_allowlist")?,
                    name: f.string("name")?,
                    metadata: f.object("metadata")?,
                    rate_limit_rpm: f.int("rate_limit_rpm")?,
                };
                f.finish_ref()?;
                to_json(&block(c.client().keys().derive(&args))?)
            }
            "keys.rotate" => {
                let key_id = required(f, "key_id")?;
                let overlap = f.int("overlap_days")?.unwrap_or(7);
                f.finish_ref()?;
                to_json(&block(c.client().keys().rotate(&key_id, overlap))?)
            }
            "keys.revoke" => {
                let key_id = required(f, "key_id")?;
                let force = f.boolean("force")?.unwrap_or(false);
                f.finish_ref()?;
                to_json(&block(c.client().keys().revoke(&key_id, force))?)
            }
            "scopes.list" => {
                f.finish_ref()?;
                to_json(&block(c.client().scopes().list())?)
            }
            "spans.emit" => {
                let list = spans(
                    f.take("spans")
                        .ok_or_else(|| Fail::invalid("\"spans\" is required"))?,
                )?;
                f.finish_ref()?;
                to_json(&block(c.client().spans().emit(&list))?)
            }
            _ => unreachable!("filtered below"),
        }
    };
    const OPS: [&str; 13] = [
        "create_connect_session",
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
    ];
    if !OPS.contains(&op) {
        return None;
    }
    Some(run())
}
