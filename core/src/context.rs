//! The audit context carried in `X-Alter-Context`, and the ambient context
//! that `trace()` scopes over a task.

use crate::error::{Error, Result};
use futures_util::future::Either;

/// An ordered string → string map (insertion order reaches the wire).
pub type Context = Vec<(String, String)>;

const MAX_KEYS: usize = 20;
const MAX_KEY_CHARS: usize = 64;
const MAX_VALUE_CHARS: usize = 512;
const MAX_ENCODED_CHARS: usize = 4096;

/// Validates a context and renders the header value (compact, ASCII-escaped
/// JSON). `None` when the context is empty: no header is sent.
pub fn encode_context(ctx: &[(String, String)]) -> Result<Option<String>> {
    if ctx.is_empty() {
        return Ok(None);
    }
    if ctx.len() > MAX_KEYS {
        return Err(Error::value(format!(
            "context may have at most {MAX_KEYS} keys, got {}",
            ctx.len()
        )));
    }
    let mut out = String::from("{");
    for (i, (k, v)) in ctx.iter().enumerate() {
        if k.chars().count() > MAX_KEY_CHARS {
            return Err(Error::value(format!(
                "context key exceeds {MAX_KEY_CHARS} characters"
            )));
        }
        if v.chars().count() > MAX_VALUE_CHARS {
            return Err(Error::value(format!(
                "context value for key {k:?} exceeds {MAX_VALUE_CHARS} characters"
            )));
        }
        if i > 0 {
            out.push(',');
        }
        crate::json::write_str(k, true, &mut out);
        out.push(':');
        crate::json::write_str(v, true, &mut out);
    }
    out.push('}');
    if out.len() > MAX_ENCODED_CHARS {
        return Err(Error::value(format!(
            "context exceeds {MAX_ENCODED_CHARS} characters once encoded"
        )));
    }
    Ok(Some(out))
}

/// The effective context header of a call: explicit, else ambient.
pub(crate) fn context_header(
    explicit: &Option<Context>,
) -> Result<(Option<Context>, Option<String>)> {
    let ctx = match explicit {
        Some(c) => Some(c.clone()),
        None => ambient(),
    };
    let header = match &ctx {
        Some(c) => encode_context(c)?,
        None => None,
    };
    let ctx = ctx.filter(|c| !c.is_empty());
    Ok((ctx, header))
}

tokio::task_local! {
    /// The audit context scoped by `trace()` over the current task.
    static AMBIENT: Context;
}

/// Runs `fut` with `ctx` as the ambient audit context. Nested scopes see the
/// merged context (inner keys win) because the caller passes the merge.
pub async fn with_ambient<F: std::future::Future>(ctx: Context, fut: F) -> F::Output {
    AMBIENT.scope(ctx, fut).await
}

/// The ambient context of the current task, if any.
pub fn ambient() -> Option<Context> {
    AMBIENT.try_with(|c| c.clone()).ok()
}

tokio::task_local! {
    /// The W3C `traceparent` of the host's active span, if any.
    static TRACEPARENT: String;
}

/// True for a W3C trace context header we are willing to forward:
/// `vv-<32 hex>-<16 hex>-<2 hex>`, version not `ff`, non-zero ids.
pub fn valid_traceparent(tp: &str) -> bool {
    let parts: Vec<&str> = tp.split('-').collect();
    let hex = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit());
    parts.len() == 4
        && hex(parts[0], 2)
        && hex(parts[1], 32)
        && hex(parts[2], 16)
        && hex(parts[3], 2)
        && !parts[0].eq_ignore_ascii_case("ff")
        && parts[1].bytes().any(|b| b != b'0')
        && parts[2].bytes().any(|b| b != b'0')
}

/// Runs `fut` with `traceparent` forwarded on every backend call it makes
/// (bindings pass the host's active OpenTelemetry span). An invalid value is
/// dropped, never echoed.
///
/// A plain function, not `async`: an async wrapper would hold `fut` twice
/// (as its argument and again while awaiting it).
pub fn with_traceparent<F: std::future::Future>(
    traceparent: String,
    fut: F,
) -> impl std::future::Future<Output = F::Output> {
    if valid_traceparent(&traceparent) {
        Either::Left(TRACEPARENT.scope(traceparent, fut))
    } else {
        Either::Right(fut)
    }
}

/// The `traceparent` in effect for the current task.
pub fn traceparent() -> Option<String> {
    TRACEPARENT.try_with(|t| t.clone()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(pairs: &[(&str, &str)]) -> Context {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn encodes_in_insertion_order_ascii_escaped() {
        assert_eq!(
            encode_context(&ctx(&[("k", "vé"), ("run", "1")])).unwrap(),
            Some(r#"{"k":"v\u00e9","run":"1"}"#.to_string())
        );
        assert_eq!(encode_context(&[]).unwrap(), None);
    }

    #[test]
    fn limits() {
        let many: Context = (0..21).map(|i| (format!("k{i}"), "v".into())).collect();
        assert!(encode_context(&many).is_err());
        assert!(encode_context(&ctx(&[(&"k".repeat(65), "v")])).is_err());
        assert!(encode_context(&ctx(&[("k", &"v".repeat(513))])).is_err());
        let big: Context = (0..20)
            .map(|i| (format!("k{i}"), "v".repeat(300)))
            .collect();
        assert!(encode_context(&big).is_err());
    }

    #[test]
    fn traceparent_grammar() {
        assert!(valid_traceparent(
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        ));
        for bad in [
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "xx-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        ] {
            assert!(!valid_traceparent(bad), "{bad}");
        }
    }

    #[tokio::test]
    async fn ambient_is_scoped_to_the_task() {
        assert!(ambient().is_none());
        let seen = with_ambient(ctx(&[("run_id", "r1")]), async { ambient() }).await;
        assert_eq!(seen, Some(ctx(&[("run_id", "r1")])));
        assert!(ambient().is_none());
    }
}
