//! The request-rule builders of the core (`contentMatchRule`,
//! `requestRule`, `timeWindows`) as synchronous functions: camelCase
//! options in, the `{ruleType, ruleBody}` object `withConstraints` takes out
//! (the body keeps its wire names). Validation is the core's; a bad rule
//! throws its `AlterValueError`.

use crate::client::js_options;
use crate::errors;
use alter_core::{ContentMatchRule, ContentParamCondition, Error, TimeWindows};
use napi::bindgen_prelude::*;
use napi_derive::napi;
use serde_json::{Map, Value};

type CoreResult<T> = std::result::Result<T, Error>;

fn parse(text: &str) -> CoreResult<Value> {
    serde_json::from_str(text).map_err(|_| Error::value("options are not valid JSON"))
}

/// `{rule_type, rule_body}` (the core's shape) → `{ruleType, ruleBody}`.
fn to_js_rule(v: Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut out = Map::new();
            for (k, v) in m {
                let k = match k.as_str() {
                    "rule_type" => "ruleType".to_string(),
                    "rule_body" => "ruleBody".to_string(),
                    _ => k,
                };
                out.insert(k, v);
            }
            Value::Object(out)
        }
        other => other,
    }
}

fn content_match(options: &str) -> CoreResult<Value> {
    let mut o = js_options("contentMatchRule", Some(parse(options)?))?;
    let params = match o.take("params") {
        None => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .map(ContentParamCondition::from_value)
            .collect::<CoreResult<Vec<_>>>()?,
        Some(_) => {
            return Err(Error::value(
                "contentMatchRule: params must be an array of {name, op, value}",
            ))
        }
    };
    let rule = ContentMatchRule {
        operations: o.strings("operations")?,
        families: o.strings("families")?,
        params,
        effect: o.string("effect")?.unwrap_or_else(|| "deny".into()),
        redact_fields: o.strings("redact_fields")?,
        max_session_age_seconds: o.int("max_session_age_seconds")?,
    };
    o.finish()?;
    alter_core::content_match_rule(&rule).map(to_js_rule)
}

/// A `content_match` rule for `withConstraints({ rule })`, validated by the
/// core: `{operations?, families?, params?, effect?, redactFields?,
/// maxSessionAgeSeconds?}`.
#[napi(ts_return_type = "{ ruleType: string; ruleBody: Record<string, unknown> }")]
pub fn content_match_rule(env: Env, options: String) -> Result<Value> {
    errors::run_sync(&env, "contentMatchRule", || content_match(&options))
}

/// Any request rule: `{ruleType, ruleBody}` with the body as given.
#[napi(ts_return_type = "{ ruleType: string; ruleBody: Record<string, unknown> }")]
pub fn request_rule(env: Env, rule_type: String, rule_body: String) -> Result<Value> {
    let run = || -> CoreResult<Value> {
        if rule_type.trim().is_empty() {
            return Err(Error::value(
                "requestRule: ruleType must be a non-empty string",
            ));
        }
        match parse(&rule_body)? {
            Value::Object(m) => Ok(to_js_rule(alter_core::rules::request_rule(&rule_type, m))),
            _ => Err(Error::value("requestRule: ruleBody must be an object")),
        }
    };
    errors::run_sync(&env, "requestRule", run)
}

/// Validated weekly windows (`{windows: [{days, start, end}], timezone}`)
/// for an `outside_windows` condition; returns them in wire form.
#[napi(
    ts_return_type = "{ windows: Array<{ days: string[]; start: string; end: string }>; timezone: string }"
)]
pub fn time_windows(env: Env, windows: String) -> Result<Value> {
    let run = || -> CoreResult<Value> { Ok(TimeWindows::from_value(&parse(&windows)?)?.to_json()) };
    errors::run_sync(&env, "timeWindows", run)
}
