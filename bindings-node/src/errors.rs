//! Core errors as JavaScript values. The native layer throws (or rejects
//! with) a plain `Error` carrying the core's class name in `alterKind`, its
//! `details` and its class attributes (camelCase); the JavaScript layer
//! rebuilds the typed subclass from those (`errors.js`).

use crate::convert::{camel_details, snake_case_class};
use alter_core::error::{agent_code_of, Details, ERROR_KINDS};
use alter_core::Error;
use napi::bindgen_prelude::*;
use serde_json::{json, Value};

/// Why a native call failed.
pub enum Failure {
    /// A core error: mapped to its class.
    Core(Error),
    /// Cancelled through its `AbortSignal` (the JavaScript layer has already
    /// rejected with the signal's reason).
    Aborted,
    /// Not an SDK error (the test helper's operator calls): a plain `Error`.
    Other(String),
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Failure::Core(e)
    }
}

/// JavaScript has one class for a refused argument, whichever stage
/// refused it: both stages map to the core error's class.
impl From<alter_core::ops::OpError> for Failure {
    fn from(e: alter_core::ops::OpError) -> Self {
        Failure::Core(e.into_error())
    }
}

/// The stable `code` of a class: the wire code for the `AgentError` family
/// (as the Python classes define it), else the class name in snake case
/// without the `Error` suffix.
pub fn class_code(kind: &str) -> String {
    agent_code_of(kind)
        .map(str::to_string)
        .unwrap_or_else(|| snake_case_class(kind))
}

/// The error class table: name, parent, code and attribute names.
pub fn kinds_table() -> Value {
    let rows: Vec<Value> = ERROR_KINDS
        .iter()
        .map(|(name, parent)| {
            let attrs: Vec<String> = Error::from_kind(name, "", Details::new())
                .map(|e| {
                    e.attributes()
                        .keys()
                        .filter(|k| k.as_str() != "code")
                        .map(|k| crate::convert::camel_case(k))
                        .collect()
                })
                .unwrap_or_default();
            json!({
                "name": name,
                "parent": parent,
                "code": class_code(name),
                "attributes": attrs,
            })
        })
        .collect();
    Value::Array(rows)
}

/// The payload the JavaScript layer rebuilds an error from.
pub fn payload(e: &Error) -> Value {
    let mut attributes = camel_details(&e.attributes());
    let code = match attributes.as_object_mut().and_then(|m| m.remove("code")) {
        Some(Value::String(c)) => c,
        _ => class_code(e.kind()),
    };
    json!({
        "kind": e.kind(),
        "message": e.message(),
        "code": code,
        "details": Value::Object(e.details().clone()),
        "attributes": attributes,
    })
}

/// Builds the JavaScript error value for a failure.
pub fn to_js(env: &Env, f: &Failure) -> napi::Error {
    let (message, data) = match f {
        Failure::Other(m) => (m.clone(), Value::Null),
        Failure::Core(e) => (e.message().to_string(), payload(e)),
        Failure::Aborted => (
            "The operation was aborted".to_string(),
            json!({"kind": "AbortError", "message": "The operation was aborted", "code": "aborted", "details": {}, "attributes": {}}),
        ),
    };
    let build = || -> napi::Result<napi::Error> {
        let mut obj =
            env.create_error(napi::Error::new(Status::GenericFailure, message.clone()))?;
        if !data.is_null() {
            obj.set_named_property("alter", data.clone())?;
        }
        Ok(napi::Error::from(obj.to_unknown()))
    };
    build().unwrap_or_else(|e| e)
}

/// For synchronous calls: a core error thrown as the JavaScript error.
pub fn throw(env: &Env, e: Error) -> napi::Error {
    to_js(env, &Failure::Core(e))
}

/// Runs the body of a synchronous entry point: a core error is thrown as
/// its JavaScript error, and a panic as an `AlterSDKError` (unwinding out
/// of a napi callback would abort the whole process).
pub fn run_sync<T>(
    env: &Env,
    entry: &str,
    body: impl FnOnce() -> std::result::Result<T, Error>,
) -> napi::Result<T> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(body)) {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(throw(env, e)),
        Err(payload) => Err(throw(
            env,
            alter_core::guard::panic_error(entry, payload.as_ref()),
        )),
    }
}
