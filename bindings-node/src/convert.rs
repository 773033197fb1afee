//! Type conversion between JavaScript values (as JSON) and the core's types:
//! camelCase option objects in, camelCase result objects out.

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

/// `grant_id` → `grantId`; already camelCase names are unchanged.
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
pub struct Args {
    op: &'static str,
    items: Vec<Value>,
}

impl Args {
    pub fn new(op: &'static str, v: Value) -> Args {
        let items = match v {
            Value::Array(items) => items,
            Value::Null => Vec::new(),
            other => vec![other],
        };
        Args { op, items }
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

    /// The options object at position `i` (absent means empty).
    pub fn opts(&self, i: usize) -> Result<Opts, Error> {
        Opts::new(self.op, self.get(i).cloned())
    }
}

/// One options object. Every key must be consumed: an unknown (for example
/// misspelled) option is an `AlterValueError`, never silently ignored.
pub struct Opts {
    op: &'static str,
    map: Map<String, Value>,
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

impl Opts {
    pub fn new(op: &'static str, v: Option<Value>) -> Result<Opts, Error> {
        match v {
            None | Some(Value::Null) => Ok(Opts {
                op,
                map: Map::new(),
            }),
            Some(Value::Object(map)) => Ok(Opts { op, map }),
            Some(other) => Err(Error::value(format!(
                "{op}: options must be an object, got {}",
                type_name(&other)
            ))),
        }
    }

    fn wrong(&self, key: &str, want: &str, got: &Value) -> Error {
        Error::value(format!(
            "{}: option '{key}' must be {want}, got {}",
            self.op,
            type_name(got)
        ))
    }

    /// Removes a key; `null` counts as absent.
    pub fn take(&mut self, key: &str) -> Option<Value> {
        self.map.remove(key).filter(|v| !v.is_null())
    }

    pub fn str(&mut self, key: &str) -> Result<Option<String>, Error> {
        match self.take(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(other) => Err(self.wrong(key, "a string", &other)),
        }
    }

    pub fn bool(&mut self, key: &str) -> Result<Option<bool>, Error> {
        match self.take(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(b)),
            Some(other) => Err(self.wrong(key, "a boolean", &other)),
        }
    }

    pub fn f64(&mut self, key: &str) -> Result<Option<f64>, Error> {
        match self.take(key) {
            None => Ok(None),
            Some(Value::Number(n)) => Ok(n.as_f64()),
            Some(other) => Err(self.wrong(key, "a number", &other)),
        }
    }

    pub fn i64(&mut self, key: &str) -> Result<Option<i64>, Error> {
        match self.take(key) {
            None => Ok(None),
            Some(Value::Number(n)) => match n.as_i64() {
                Some(i) => Ok(Some(i)),
                None => Err(Error::value(format!(
                    "{}: option '{key}' must be an integer",
                    self.op
                ))),
            },
            Some(other) => Err(self.wrong(key, "an integer", &other)),
        }
    }

    pub fn object(&mut self, key: &str) -> Result<Option<Map<String, Value>>, Error> {
        match self.take(key) {
            None => Ok(None),
            Some(Value::Object(m)) => Ok(Some(m)),
            Some(other) => Err(self.wrong(key, "an object", &other)),
        }
    }

    /// Any JSON value, as given.
    pub fn value(&mut self, key: &str) -> Option<Value> {
        self.take(key)
    }

    pub fn str_list(&mut self, key: &str) -> Result<Option<Vec<String>>, Error> {
        match self.take(key) {
            None => Ok(None),
            Some(Value::Array(items)) => items
                .into_iter()
                .map(|v| match v {
                    Value::String(s) => Ok(s),
                    other => Err(self.wrong(key, "a list of strings", &other)),
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            Some(other) => Err(self.wrong(key, "a list of strings", &other)),
        }
    }

    /// A string → string map, in insertion order.
    pub fn string_pairs(&mut self, key: &str) -> Result<Option<Vec<(String, String)>>, Error> {
        match self.object(key)? {
            None => Ok(None),
            Some(m) => {
                let mut out = Vec::with_capacity(m.len());
                for (k, v) in m {
                    match v {
                        Value::String(s) => out.push((k, s)),
                        Value::Null => {}
                        other => {
                            return Err(Error::value(format!(
                                "{}: option '{key}' must map strings to strings; '{k}' is {}",
                                self.op,
                                type_name(&other)
                            )))
                        }
                    }
                }
                Ok(Some(out))
            }
        }
    }

    /// Removes a key, keeping an explicit `null`.
    pub fn take_raw(&mut self, key: &str) -> Option<Value> {
        self.map.remove(key)
    }

    /// Every key not consumed yet, in order.
    pub fn into_rest(self) -> Map<String, Value> {
        self.map
    }

    /// Fails on any key not consumed.
    pub fn finish(self) -> Result<(), Error> {
        match self.map.keys().next() {
            None => Ok(()),
            Some(k) => Err(Error::value(format!("{}: unknown option '{k}'", self.op))),
        }
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
