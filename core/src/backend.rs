//! Plumbing shared by the management surface (grants, connect, auth, keys,
//! catalogs, identity): one backend call through the main error mapper, the
//! ambient actor set, argument checks the protocol repeats, and the lenient
//! field coercions its response models use.

use crate::client::{Client, Shared};
use crate::error::{self, Details, Error, Result};
use crate::transport::{Actor, Call, Reply};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

/// The actor set of a namespace call: cached actor id plus the ambient
/// `trace()` context (wire.md §3.2).
pub(crate) fn ambient_actor() -> Result<Actor> {
    let header = match crate::context::ambient() {
        Some(ctx) => crate::context::encode_context(&ctx)?,
        None => None,
    };
    Ok(Actor::full(header))
}

impl Client {
    /// Sends a call; a status ≥ 400 becomes the main mapper's error.
    pub(crate) async fn backend_reply(&self, call: &Call) -> Result<Reply> {
        self.ensure_open()?;
        let reply = self.shared.send(&self.local, call).await?;
        if let Some(err) = error::map_backend_error(&reply.failure()) {
            return Err(err);
        }
        Ok(reply)
    }

    /// The user token of a call that falls back to the getter: the explicit
    /// one, else a token installed by `authenticate()`, else the configured
    /// getter (whose failure aborts the call).
    pub(crate) async fn user_token_or_getter(
        &self,
        explicit: Option<&str>,
    ) -> Result<Option<String>> {
        self.resolve_user_token(explicit).await
    }
}

// ---- tokens installed by `authenticate()` -----------------------------------

/// Installs a user token on a client's shared state (siblings share it).
/// Returns whether it replaced an earlier one.
pub(crate) fn install_token(shared: &Shared, token: String) -> bool {
    crate::guard::lock(&shared.installed_user_token)
        .replace(token)
        .is_some()
}

#[cfg(test)]
pub(crate) fn installed_token(shared: &Shared) -> Option<String> {
    crate::guard::lock(&shared.installed_user_token).clone()
}

// ---- response parsing ---------------------------------------------------------

fn status_details(status: u16) -> Details {
    let mut d = Details::new();
    d.insert("status_code".into(), status.into());
    d
}

/// `BackendError` naming the offending field (`details.field`).
pub(crate) fn malformed_field(what: &str, status: u16, field: &str) -> Error {
    let mut d = status_details(status);
    d.insert("field".into(), field.into());
    Error::backend(
        format!("{what}: malformed backend response (field {field})"),
        d,
        Some(status),
    )
}

/// The reply body as a JSON object.
pub(crate) fn json_object(reply: &Reply, what: &str) -> Result<Map<String, Value>> {
    match serde_json::from_slice::<Value>(&reply.body) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(other) => {
            let mut d = status_details(reply.status);
            d.insert("received_type".into(), json_type(&other).into());
            Err(Error::backend(
                format!("{what}: backend response is not a JSON object"),
                d,
                Some(reply.status),
            ))
        }
        Err(_) => Err(Error::backend(
            format!("{what}: backend returned a non-JSON body"),
            status_details(reply.status),
            Some(reply.status),
        )),
    }
}

pub(crate) fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Deserialises a model, then runs its own checks; either failure is a
/// `BackendError` carrying the validation message.
pub(crate) fn model<T: DeserializeOwned>(
    obj: Map<String, Value>,
    what: &str,
    status: u16,
    check: impl FnOnce(&T) -> std::result::Result<(), String>,
) -> Result<T> {
    let fail = |msg: String| {
        let mut d = status_details(status);
        d.insert("validation_errors".into(), vec![Value::from(msg)].into());
        Error::backend(
            format!("{what}: backend response failed validation"),
            d,
            Some(status),
        )
    };
    let parsed: T = serde_json::from_value(Value::Object(obj)).map_err(|e| fail(e.to_string()))?;
    check(&parsed).map_err(fail)?;
    Ok(parsed)
}

// ---- argument checks ------------------------------------------------------------

pub(crate) fn require_non_empty(name: &str, v: &str) -> Result<()> {
    if v.is_empty() {
        Err(Error::value(format!("{name} must be a non-empty string")))
    } else {
        Ok(())
    }
}

pub(crate) fn require_non_blank(name: &str, v: &str) -> Result<()> {
    if v.trim().is_empty() {
        Err(Error::value(format!("{name} must be a non-empty string")))
    } else {
        Ok(())
    }
}

pub(crate) fn opt_non_empty(name: &str, v: Option<&str>) -> Result<()> {
    match v {
        Some("") => Err(Error::value(format!(
            "{name} must be a non-empty string when provided"
        ))),
        _ => Ok(()),
    }
}

/// A canonical hyphenated UUID (any hex case), returned lowercased.
pub(crate) fn canonical_uuid(name: &str, v: &str) -> Result<String> {
    if crate::transport::is_uuid_any_case(v) {
        Ok(v.to_ascii_lowercase())
    } else {
        Err(Error::value(format!(
            "{name} must be a canonical hyphenated UUID"
        )))
    }
}

/// A path parameter the protocol interpolates verbatim: never re-encoded,
/// but refused when it would change the route (`/`, `?`, `#`, `%`,
/// whitespace or control characters).
pub(crate) fn raw_segment(name: &str, v: &str) -> Result<()> {
    require_non_empty(name, v)?;
    if v.chars()
        .any(|c| matches!(c, '/' | '?' | '#' | '%' | '\\') || c.is_whitespace() || c.is_control())
    {
        return Err(Error::value(format!(
            "{name} contains characters that cannot appear in a path segment"
        )));
    }
    Ok(())
}

/// An ISO 8601 date-time as the reference accepts it: RFC 3339 (`Z` or an
/// offset), or a naive date-time, with `T` or a space, optional fraction.
pub(crate) fn is_iso_datetime(s: &str) -> bool {
    use time::format_description::well_known::Rfc3339;
    if time::OffsetDateTime::parse(s, &Rfc3339).is_ok() {
        return true;
    }
    let normalised = s.replacen(' ', "T", 1);
    if time::OffsetDateTime::parse(&normalised, &Rfc3339).is_ok() {
        return true;
    }
    let naive = time::macros::format_description!(
        version = 2,
        "[year]-[month]-[day]T[hour]:[minute][optional [:[second][optional [.[subsecond]]]]]"
    );
    time::PrimitiveDateTime::parse(&normalised, &naive).is_ok()
}

/// `https://` + lowercase DNS labels, no port or path, ≤ 270 characters:
/// the only `api_base_url` the models keep.
pub(crate) fn is_https_origin(s: &str) -> bool {
    let Some(host) = s.strip_prefix("https://") else {
        return false;
    };
    if s.len() > 270 || host.is_empty() {
        return false;
    }
    host.split('.').all(|label| {
        let b = label.as_bytes();
        !b.is_empty()
            && b.len() <= 63
            && b.iter()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
            && b[0] != b'-'
            && b[b.len() - 1] != b'-'
    })
}

/// A caller's seconds as JSON: an integer when whole, else the float.
pub(crate) fn seconds_value(v: f64) -> Value {
    if v.fract() == 0.0 && v.abs() < 9.0e15 {
        Value::from(v as i64)
    } else {
        Value::from(v)
    }
}

// ---- lenient field coercions (serde `deserialize_with`) ---------------------------

/// Coercions for optional fields the reference models repair instead of
/// rejecting: a value of the wrong type becomes `None` / the default.
pub(crate) mod lenient {
    use serde::{Deserialize, Deserializer};
    use serde_json::{Map, Value};

    /// A string, else `None`.
    pub fn opt_str<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
        Ok(match Value::deserialize(d)? {
            Value::String(s) => Some(s),
            _ => None,
        })
    }

    /// A non-empty string, else `None`.
    pub fn opt_non_empty_str<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
        Ok(match Value::deserialize(d)? {
            Value::String(s) if !s.is_empty() => Some(s),
            _ => None,
        })
    }

    /// An object, else `None`.
    pub fn opt_object<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Map<String, Value>>, D::Error> {
        Ok(match Value::deserialize(d)? {
            Value::Object(m) => Some(m),
            _ => None,
        })
    }

    /// `true` only for JSON `true`.
    pub fn true_only<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
        Ok(matches!(Value::deserialize(d)?, Value::Bool(true)))
    }

    /// An integer (not a boolean, not a float), else `0`.
    pub fn int_or_zero<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
        Ok(match Value::deserialize(d)? {
            Value::Number(n) => n.as_i64().unwrap_or(0),
            _ => 0,
        })
    }

    /// A list (string entries kept), else `None`.
    pub fn opt_str_list<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
        Ok(match Value::deserialize(d)? {
            Value::Array(items) => Some(
                items
                    .into_iter()
                    .filter_map(|v| match v {
                        Value::String(s) => Some(s),
                        _ => None,
                    })
                    .collect(),
            ),
            _ => None,
        })
    }

    /// A list whose string entries are kept, else `[]`.
    pub fn str_list_or_empty<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
        Ok(opt_str_list(d)?.unwrap_or_default())
    }

    /// An `https://host` origin (see `is_https_origin`), else `None`.
    pub fn https_origin<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
        Ok(match Value::deserialize(d)? {
            Value::String(s) if super::is_https_origin(&s) => Some(s),
            _ => None,
        })
    }

    /// A field that must be present and may be `null` (no `default`, so a
    /// missing key fails the model).
    pub fn nullable<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
        d: D,
    ) -> Result<Option<T>, D::Error> {
        Option::<T>::deserialize(d)
    }

    /// A JSON integer ≥ 0 (a float such as `600.0` is refused).
    pub fn strict_non_negative_int<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
        match Value::deserialize(d)? {
            Value::Number(n) if n.is_i64() || n.is_u64() => n
                .as_i64()
                .filter(|v| *v >= 0)
                .ok_or_else(|| serde::de::Error::custom("expected a non-negative integer")),
            _ => Err(serde::de::Error::custom("expected a JSON integer")),
        }
    }

    /// A JSON integer (a float is refused).
    pub fn strict_int<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
        match Value::deserialize(d)? {
            Value::Number(n) if n.is_i64() || n.is_u64() => n
                .as_i64()
                .ok_or_else(|| serde::de::Error::custom("integer out of range")),
            _ => Err(serde::de::Error::custom("expected a JSON integer")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins() {
        assert!(is_https_origin("https://api.example.com"));
        assert!(is_https_origin("https://a-b.c0"));
        assert!(!is_https_origin("http://api.example.com"));
        assert!(!is_https_origin("https://API.example.com"));
        assert!(!is_https_origin("https://api.example.com:443"));
        assert!(!is_https_origin("https://api.example.com/v1"));
        assert!(!is_https_origin("https://-bad.com"));
        assert!(!is_https_origin("https://a..b"));
        assert!(!is_https_origin(&format!("https://{}.com", "a".repeat(64))));
        let long = format!("https://{}", vec!["a".repeat(60); 5].join("."));
        assert!(long.len() > 270);
        assert!(!is_https_origin(&long));
    }

    #[test]
    fn datetimes() {
        assert!(is_iso_datetime("2026-05-01T12:00:00Z"));
        assert!(is_iso_datetime("2026-05-01T12:00:00+02:00"));
        assert!(is_iso_datetime("2026-05-01T12:00:00.5"));
        assert!(is_iso_datetime("2026-05-01 12:00:00Z"));
        assert!(is_iso_datetime("2026-05-01T12:00"));
        assert!(!is_iso_datetime("tomorrow"));
        assert!(!is_iso_datetime(""));
    }

    #[test]
    fn uuids_and_segments() {
        assert_eq!(
            canonical_uuid("id", "0B6F2D7E-52C4-4C1D-9E55-2A8F3C9D1E00").unwrap(),
            "0b6f2d7e-52c4-4c1d-9e55-2a8f3c9d1e00"
        );
        assert!(canonical_uuid("id", "0b6f2d7e52c44c1d9e552a8f3c9d1e00").is_err());
        assert!(canonical_uuid("id", "urn:uuid:0b6f2d7e-52c4-4c1d-9e55-2a8f3c9d1e00").is_err());
        assert!(raw_segment("id", "ms_abc123").is_ok());
        assert!(raw_segment("id", "a/b").is_err());
        assert!(raw_segment("id", "").is_err());
    }

    #[test]
    fn installed_tokens_follow_the_client() {
        let c = Client::new(
            crate::client::Principal::App,
            crate::client::ClientOptions {
                api_key: format!("alter_key_{}", "a".repeat(40)),
                base_url: Some("http://127.0.0.1:9".into()),
                warnings: Some(std::sync::Arc::new(|_: &str| {})),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(installed_token(&c.shared), None);
        assert!(!install_token(&c.shared, "t1".into()));
        assert!(install_token(&c.shared, "t2".into()));
        assert_eq!(installed_token(&c.shared).as_deref(), Some("t2"));
        let sibling = c
            .with_constraints(Some(&["grants:read".to_string()]), None)
            .unwrap();
        assert_eq!(installed_token(&sibling.shared).as_deref(), Some("t2"));
    }
}
