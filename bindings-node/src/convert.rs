//! Type conversion between JavaScript values (as JSON) and the core's types:
//! positional arguments in, camelCase result objects out. Option objects
//! are read with the core's reader (`alter_core::ops::Args`) in its camelCase
//! spelling.

use alter_core::error::Details;
use alter_core::Error;
use serde_json::{Map, Value};

/// Keys whose values are free-form data (wire payloads, user maps): their
/// own keys are never renamed.
const OPAQUE: &[&str] = &[
    "metadata",
    "scopes",
    "scopes_pending",
    "policy",
    "headers",
    "details",
    "scope_constraint",
    "context",
    "user_info",
    "attributes",
    "params_schema",
    "request_schema",
    "response_schema",
    "rule_body",
    "body",
    "json",
    "additional_credentials",
    "resources",
];

/// `grant_id` → `grantId` (the core's conversion, so that the names of
/// results and of arguments always agree).
pub use alter_core::ops::camel_case;

/// `NoDelegatedGrantError` → `no_delegated_grant`; `ProviderAPIError` →
/// `provider_api`.
pub fn snake_case_class(name: &str) -> String {
    let stem = name.strip_suffix("Error").unwrap_or(name);
    let chars: Vec<char> = stem.chars().collect();
    let mut out = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if c.is_ascii_uppercase() {
            let prev_lower = i > 0 && !chars[i - 1].is_ascii_uppercase();
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_ascii_lowercase());
            let prev_upper = i > 0 && chars[i - 1].is_ascii_uppercase();
            if i > 0 && (prev_lower || (prev_upper && next_lower)) {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// Renames the keys of a result object (recursively, through nested models
/// and lists) to camelCase, leaving free-form maps as they are.
pub fn camel_keys(v: Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut out = Map::with_capacity(m.len());
            for (k, v) in m {
                let v = if OPAQUE.contains(&k.as_str()) {
                    v
                } else {
                    camel_keys(v)
                };
                out.insert(camel_case(&k), v);
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.into_iter().map(camel_keys).collect()),
        other => other,
    }
}

/// A serialisable core model as a camelCase JavaScript object.
pub fn model<T: serde::Serialize>(m: &T) -> Value {
    camel_keys(serde_json::to_value(m).unwrap_or(Value::Null))
}

/// Positional arguments of a call (a JSON array).
pub struct Positional {
    op: &'static str,
    items: Vec<Value>,
}

impl Positional {
    pub fn new(op: &'static str, v: Value) -> Positional {
        let items = match v {
            Value::Array(items) => items,
            Value::Null => Vec::new(),
            other => vec![other],
        };
        Positional { op, items }
    }

    fn get(&self, i: usize) -> Option<&Value> {
        self.items.get(i).filter(|v| !v.is_null())
    }

    /// A required string argument.
    pub fn str(&self, i: usize, name: &str) -> Result<String, Error> {
        match self.get(i) {
            Some(Value::String(s)) => Ok(s.clone()),
            None => Err(Error::value(format!("{}: {name} is required", self.op))),
            Some(_) => Err(Error::value(format!(
                "{}: {name} must be a string",
                self.op
            ))),
        }
    }

    /// An optional string argument.
    pub fn opt_str(&self, i: usize) -> Option<String> {
        self.get(i).and_then(Value::as_str).map(str::to_string)
    }

    /// Any argument, as given.
    pub fn value(&self, i: usize) -> Option<Value> {
        self.get(i).cloned()
    }

    /// The arguments, in order (`null` for `undefined`).
    pub fn into_items(self) -> Vec<Value> {
        self.items
    }
}

/// A map of details with the class's attributes renamed to camelCase.
pub fn camel_details(d: &Details) -> Value {
    camel_keys(Value::Object(d.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(camel_case("grant_id"), "grantId");
        assert_eq!(camel_case("body_b64"), "bodyB64");
        assert_eq!(camel_case("apiKey"), "apiKey");
        assert_eq!(
            snake_case_class("NoDelegatedGrantError"),
            "no_delegated_grant"
        );
        assert_eq!(snake_case_class("ProviderAPIError"), "provider_api");
        assert_eq!(snake_case_class("AlterSDKError"), "alter_sdk");
        assert_eq!(snake_case_class("TimeoutError"), "timeout");
        assert_eq!(snake_case_class("ReAuthRequiredError"), "re_auth_required");
    }

    #[test]
    fn opaque_maps_keep_their_keys() {
        let v = serde_json::json!({"grant_id": "g", "metadata": {"a_b": 1}, "items": [{"key_id": "k"}]});
        assert_eq!(
            camel_keys(v),
            serde_json::json!({"grantId": "g", "metadata": {"a_b": 1}, "items": [{"keyId": "k"}]})
        );
    }
}
