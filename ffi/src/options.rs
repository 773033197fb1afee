//! The JSON option objects the C functions accept, parsed into the core's
//! option structs with the core's argument reader (`alter_core::ops::Args`);
//! the keys a provider call shares with the other bindings are read by the
//! core (`alter_core::ops::request_options` / `proxy_options`).
//! Unknown keys are refused so that a misspelt option fails loudly instead
//! of being ignored.

use crate::guard::{Fail, FfiResult};
use alter_core::ops::{self, Args};
use alter_core::{CallerType, ClientOptions, ProxyOptions, RequestOptions, RetryPolicy};
use serde_json::{Map, Value};
use std::sync::Arc;
use std::time::Duration;

/// Parses an optional options text into an object (NULL or `""` → empty).
pub(crate) fn object(text: Option<&str>, what: &str) -> FfiResult<Map<String, Value>> {
    let text = match text {
        None => return Ok(Map::new()),
        Some(t) if t.trim().is_empty() => return Ok(Map::new()),
        Some(t) => t,
    };
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(Fail::invalid(format!("{what} must be a JSON object"))),
        Err(e) => Err(Fail::invalid(format!("{what} is not valid JSON: {e}"))),
    }
}

/// The core's rule for seconds; a refusal is the caller's mistake.
fn seconds(what: &str, s: f64) -> FfiResult<Duration> {
    alter_core::config::positive_seconds(what, s).map_err(|e| Fail::invalid(e.message()))
}

/// Client options: see `alter_app_new` in the header for the schema.
pub(crate) fn client_options(api_key: &str, text: Option<&str>) -> FfiResult<ClientOptions> {
    let mut f = Args::new("client options", object(text, "client options")?);
    let mut o = ClientOptions {
        api_key: api_key.to_string(),
        user_agent: Some(concat!("alter-sdk-c/", env!("CARGO_PKG_VERSION")).to_string()),
        ..Default::default()
    };
    o.base_url = f.string("base_url")?;
    if let Some(t) = f.number("timeout_seconds")? {
        o.timeout = Some(seconds("timeout_seconds", t)?);
    }
    o.caller = f.string("caller")?;
    if let Some(ct) = f.string("caller_type")? {
        o.caller_type = Some(CallerType::parse(&ct)?);
    }
    if let Some(ua) = f.string("user_agent")? {
        o.user_agent = Some(ua);
    }
    match f.take("retry") {
        None => {}
        Some(Value::Bool(false)) => o.retry = Some(RetryPolicy::disabled()),
        Some(Value::Bool(true)) => o.retry = Some(RetryPolicy::default()),
        Some(Value::Object(m)) => {
            let mut r = Args::new("client options: retry", m);
            let mut p = RetryPolicy::default();
            if let Some(n) = r.int("max_attempts")? {
                p.max_attempts = u32::try_from(n)
                    .ok()
                    .filter(|n| *n >= 1)
                    .ok_or_else(|| Fail::invalid("retry.max_attempts must be at least 1"))?;
            }
            if let Some(s) = r.number("initial_backoff_seconds")? {
                p.initial_backoff = seconds("retry.initial_backoff_seconds", s)?;
            }
            if let Some(s) = r.number("max_backoff_seconds")? {
                p.max_backoff = seconds("retry.max_backoff_seconds", s)?;
            }
            if let Some(s) = r.number("max_retry_after_seconds")? {
                p.max_retry_after = seconds("retry.max_retry_after_seconds", s)?;
            }
            r.finish()?;
            o.retry = Some(p);
        }
        Some(_) => {
            return Err(Fail::invalid(
                "client options: \"retry\" must be a boolean or an object",
            ))
        }
    }
    if let Some(n) = f.int("max_response_bytes")? {
        // A negative count becomes 0, which the core refuses by name.
        let n = alter_core::body::check_max_response_bytes(u64::try_from(n).unwrap_or(0))
            .map_err(|e| Fail::invalid(e.message()))?;
        o.max_response_bytes = Some(n);
    }
    match f.string("warnings")?.as_deref() {
        None | Some("stderr") => {}
        Some("silent") => o.warnings = Some(Arc::new(|_: &str| {})),
        Some(_) => {
            return Err(Fail::invalid(
                "client options: \"warnings\" must be \"stderr\" or \"silent\"",
            ))
        }
    }
    f.finish()?;
    Ok(o)
}

/// Retrieve-mode options: see `alter_request` in the header for the schema.
/// `raw_body` is the body passed by pointer, if any.
pub(crate) fn request_options(
    text: Option<&str>,
    raw_body: Option<&[u8]>,
) -> FfiResult<RequestOptions> {
    let mut f = Args::new("request options", object(text, "request options")?);
    let mut opts = ops::request_options(&mut f, None)?;
    let text_body = f.string("body")?;
    let b64_body = f.string("body_base64")?;
    f.finish()?;
    let mut given = 0;
    given += usize::from(raw_body.is_some());
    given += usize::from(text_body.is_some());
    given += usize::from(b64_body.is_some());
    if given > 1 {
        return Err(Fail::invalid(
            "request options: give at most one of the body argument, \"body\" and \"body_base64\"",
        ));
    }
    let body = match (raw_body, text_body, b64_body) {
        (Some(b), _, _) => Some(b.to_vec()),
        (_, Some(t), _) => Some(t.into_bytes()),
        (_, _, Some(b)) => {
            use base64::Engine;
            Some(
                base64::engine::general_purpose::STANDARD
                    .decode(b.as_bytes())
                    .map_err(|_| Fail::invalid("request options: \"body_base64\" is not base64"))?,
            )
        }
        _ => None,
    };
    opts.body = body;
    Ok(opts)
}

/// Proxy-mode options: see `alter_proxy_request` in the header.
pub(crate) fn proxy_options(text: Option<&str>) -> FfiResult<ProxyOptions> {
    let mut f = Args::new("proxy options", object(text, "proxy options")?);
    let opts = ops::proxy_options(&mut f)?;
    f.finish()?;
    Ok(opts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::AlterStatus;
    use alter_core::QueryValue;

    fn status<T: std::fmt::Debug>(r: FfiResult<T>) -> AlterStatus {
        r.expect_err("must fail").status
    }

    #[test]
    fn request_options_cover_the_documented_keys() {
        let o = request_options(
            Some(
                r#"{"grant_id": "g", "headers": [["A", "1"], ["A", "2"]],
                    "query": {"q": "x", "n": 5, "f": 1.5, "b": true, "z": null, "t": ["a", 2]},
                    "path_params": {"id": "42"}, "json": {"k": [1]}, "reason": "r",
                    "context": {"run_id": "r1"}, "caller": "c", "user_token": "u"}"#,
            ),
            None,
        )
        .unwrap();
        assert_eq!(o.grant_id.as_deref(), Some("g"));
        assert_eq!(
            o.headers,
            vec![("A".into(), "1".into()), ("A".into(), "2".into())]
        );
        let q = o.query_params.unwrap();
        assert_eq!(q[0], ("q".into(), QueryValue::Str("x".into())));
        assert_eq!(q[1], ("n".into(), QueryValue::Int(5)));
        assert_eq!(q[2], ("f".into(), QueryValue::Float(1.5)));
        assert_eq!(q[3], ("b".into(), QueryValue::Bool(true)));
        assert_eq!(q[4], ("z".into(), QueryValue::Null));
        assert_eq!(
            q[5],
            (
                "t".into(),
                QueryValue::List(vec![QueryValue::Str("a".into()), QueryValue::Int(2)])
            )
        );
        assert_eq!(o.path_params, vec![("id".into(), "42".into())]);
        assert_eq!(o.json, Some(serde_json::json!({"k": [1]})));
        assert_eq!(o.context, Some(vec![("run_id".into(), "r1".into())]));
        assert_eq!(o.caller.as_deref(), Some("c"));
        assert_eq!(o.user_token.as_deref(), Some("u"));
    }

    #[test]
    fn bodies_come_from_one_place_only() {
        let raw = request_options(Some(r#"{"grant_id": "g"}"#), Some(b"\x00\xff")).unwrap();
        assert_eq!(raw.body.as_deref(), Some(&b"\x00\xff"[..]));
        let text = request_options(Some(r#"{"body": "hi"}"#), None).unwrap();
        assert_eq!(text.body.as_deref(), Some(&b"hi"[..]));
        let b64 = request_options(Some(r#"{"body_base64": "aGk="}"#), None).unwrap();
        assert_eq!(b64.body.as_deref(), Some(&b"hi"[..]));
        assert_eq!(
            status(request_options(Some(r#"{"body": "a"}"#), Some(b"b"))),
            AlterStatus::ALTER_INVALID_ARGUMENT
        );
        assert_eq!(
            status(request_options(Some(r#"{"body_base64": "%%"}"#), None)),
            AlterStatus::ALTER_INVALID_ARGUMENT
        );
    }

    #[test]
    fn malformed_options_are_refused() {
        for bad in [
            "{",
            "[]",
            r#"{"grantid": "g"}"#,
            r#"{"grant_id": 1}"#,
            r#"{"headers": {"a": 1}}"#,
            r#"{"headers": [["a"]]}"#,
            r#"{"query": {"a": {"b": 1}}}"#,
            r#"{"query": {"a": [{"b": 1}]}}"#,
            r#"{"query": {}, "query_params": {}}"#,
            r#"{"context": ["x"]}"#,
        ] {
            assert_eq!(
                status(request_options(Some(bad), None)),
                AlterStatus::ALTER_INVALID_ARGUMENT,
                "{bad}"
            );
        }
        assert!(request_options(None, None).is_ok());
        assert!(request_options(Some("  "), None).is_ok());
        assert_eq!(
            status(proxy_options(Some(r#"{"body": "x"}"#))),
            AlterStatus::ALTER_INVALID_ARGUMENT
        );
    }

    #[test]
    fn client_options_map_to_the_core() {
        let key = "alter_key_0000000000000000000000000000000000000000";
        let o = client_options(
            key,
            Some(
                r#"{"base_url": "http://127.0.0.1:1", "timeout_seconds": 2.5, "caller": "w",
                    "caller_type": "agent", "retry": {"max_attempts": 1}, "warnings": "silent",
                    "user_agent": "ua/1", "max_response_bytes": 1024}"#,
            ),
        )
        .unwrap();
        assert_eq!(o.api_key, key);
        assert_eq!(o.timeout, Some(Duration::from_millis(2500)));
        assert_eq!(o.caller_type, Some(CallerType::Agent));
        assert_eq!(o.retry.unwrap().max_attempts, 1);
        assert!(o.warnings.is_some());
        assert_eq!(o.user_agent.as_deref(), Some("ua/1"));
        assert_eq!(o.max_response_bytes, Some(1024));
        let d = client_options(key, None).unwrap();
        assert!(d.user_agent.unwrap().starts_with("alter-sdk-c/"));
        assert_eq!(
            client_options(key, Some(r#"{"retry": false}"#))
                .unwrap()
                .retry,
            Some(RetryPolicy::disabled())
        );
        for bad in [
            r#"{"timeout_seconds": 0}"#,
            r#"{"timeout_seconds": 1e20}"#,
            r#"{"timeout_seconds": 1000000001}"#,
            r#"{"retry": {"max_backoff_seconds": 1e300}}"#,
            r#"{"retry": 3}"#,
            r#"{"retry": {"max_attempts": 0}}"#,
            r#"{"warnings": "loud"}"#,
            r#"{"api_key": "x"}"#,
            r#"{"max_response_bytes": 0}"#,
            r#"{"max_response_bytes": -5}"#,
            r#"{"max_response_bytes": 1073741825}"#,
        ] {
            assert_eq!(
                status(client_options(key, Some(bad))),
                AlterStatus::ALTER_INVALID_ARGUMENT,
                "{bad}"
            );
        }
    }
}
