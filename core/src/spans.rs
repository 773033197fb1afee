//! `spans.emit`: the caller's own trace spans, stored beside the audit log
//! (agents-and-keys.md §10). Accepted while an agent is paused.

use crate::backend::{self, model};
use crate::client::Client;
use crate::error::{Error, Result};
use crate::transport::{Call, Site};
use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
/// The timestamp type of span times (re-exported for callers without `time`).
pub use time::OffsetDateTime;

/// The most spans one `emit` may carry.
pub const MAX_SPANS_PER_BATCH: usize = 50;

/// One span to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserSpan {
    /// 1–255 characters.
    pub trace_id: String,
    /// 1–255 characters.
    pub name: String,
    pub start_time: OffsetDateTime,
    /// 1–32 characters; the server assigns one when absent.
    pub span_id: Option<String>,
    /// 1–32 characters.
    pub parent_span_id: Option<String>,
    pub end_time: Option<OffsetDateTime>,
    /// Always sent (`{}` when empty), in this order.
    pub attributes: Vec<(String, String)>,
}

impl UserSpan {
    pub fn new(trace_id: &str, name: &str, start_time: OffsetDateTime) -> UserSpan {
        UserSpan {
            trace_id: trace_id.to_string(),
            name: name.to_string(),
            start_time,
            span_id: None,
            parent_span_id: None,
            end_time: None,
            attributes: Vec::new(),
        }
    }

    fn validate(&self) -> Result<()> {
        let len = |name: &str, v: &str, max: usize| {
            let n = v.chars().count();
            if n == 0 || n > max {
                Err(Error::value(format!(
                    "span {name} must be 1 to {max} characters"
                )))
            } else {
                Ok(())
            }
        };
        len("trace_id", &self.trace_id, 255)?;
        len("name", &self.name, 255)?;
        if let Some(s) = &self.span_id {
            len("span_id", s, 32)?;
        }
        if let Some(s) = &self.parent_span_id {
            len("parent_span_id", s, 32)?;
        }
        Ok(())
    }

    /// The wire object: unset fields left out, attributes always present.
    pub(crate) fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("trace_id".into(), self.trace_id.as_str().into());
        m.insert("name".into(), self.name.as_str().into());
        m.insert("start_time".into(), format_time(self.start_time).into());
        if let Some(s) = &self.span_id {
            m.insert("span_id".into(), s.as_str().into());
        }
        if let Some(s) = &self.parent_span_id {
            m.insert("parent_span_id".into(), s.as_str().into());
        }
        if let Some(t) = self.end_time {
            m.insert("end_time".into(), format_time(t).into());
        }
        let attrs: Map<String, Value> = self
            .attributes
            .iter()
            .map(|(k, v)| (k.clone(), Value::from(v.as_str())))
            .collect();
        m.insert("attributes".into(), Value::Object(attrs));
        Value::Object(m)
    }
}

/// `YYYY-MM-DDTHH:MM:SS[.ffffff]` then `Z` for UTC, else `±HH:MM`.
fn format_time(t: OffsetDateTime) -> String {
    let mut s = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    );
    if t.microsecond() != 0 {
        s.push_str(&format!(".{:06}", t.microsecond()));
    }
    let off = t.offset();
    if off.is_utc() {
        s.push('Z');
    } else {
        let secs = off.whole_seconds();
        let sign = if secs < 0 { '-' } else { '+' };
        let a = secs.unsigned_abs();
        s.push_str(&format!("{sign}{:02}:{:02}", a / 3600, (a % 3600) / 60));
    }
    s
}

/// How many spans the server stored (duplicates of stored
/// `(trace_id, span_id)` pairs are not counted).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmitSpansResult {
    pub accepted: i64,
}

/// The `spans` namespace.
#[derive(Debug, Clone, Copy)]
pub struct Spans<'a> {
    client: &'a Client,
}

impl Client {
    /// User spans.
    pub fn spans(&self) -> Spans<'_> {
        Spans { client: self }
    }
}

pub(crate) fn emit_body(spans: &[UserSpan]) -> Result<Value> {
    if spans.is_empty() || spans.len() > MAX_SPANS_PER_BATCH {
        return Err(Error::value(format!(
            "spans must hold 1 to {MAX_SPANS_PER_BATCH} spans"
        )));
    }
    spans.iter().try_for_each(UserSpan::validate)?;
    let mut m = Map::new();
    m.insert(
        "spans".into(),
        Value::Array(spans.iter().map(UserSpan::to_json).collect()),
    );
    Ok(Value::Object(m))
}

impl Spans<'_> {
    /// Stores 1–50 spans (needs `spans:emit`).
    pub async fn emit(&self, spans: &[UserSpan]) -> Result<EmitSpansResult> {
        let body = emit_body(spans)?;
        self.client.ensure_open()?;
        let call = Call::new(Method::POST, "/sdk/spans", Site::Namespace)
            .json(&body)
            .idempotent(true)
            .actor(backend::ambient_actor()?);
        let reply = self.client.backend_reply(&call).await?;
        let obj = backend::json_object(&reply, "spans.emit")?;
        model(
            obj,
            "spans.emit",
            reply.status,
            |_: &EmitSpansResult| Ok(()),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn body_shape() {
        let mut s = UserSpan::new("t1", "plan", datetime!(2026-05-01 12:00:00 UTC));
        s.attributes.push(("step".into(), "1".into()));
        let mut child = UserSpan::new("t1", "call", datetime!(2026-05-01 12:00:01.25 UTC));
        child.span_id = Some("s2".into());
        child.parent_span_id = Some("s1".into());
        child.end_time = Some(datetime!(2026-05-01 14:00:02 +02:00));
        assert_eq!(
            crate::json::compact_ascii(&emit_body(&[s, child]).unwrap()),
            concat!(
                r#"{"spans":[{"trace_id":"t1","name":"plan","start_time":"2026-05-01T12:00:00Z","attributes":{"step":"1"}},"#,
                r#"{"trace_id":"t1","name":"call","start_time":"2026-05-01T12:00:01.250000Z","span_id":"s2","#,
                r#""parent_span_id":"s1","end_time":"2026-05-01T14:00:02+02:00","attributes":{}}]}"#
            )
        );
    }

    #[test]
    fn limits() {
        let s = UserSpan::new("t", "n", datetime!(2026-05-01 12:00:00 UTC));
        assert!(emit_body(&[]).is_err());
        assert!(emit_body(&vec![s.clone(); 51]).is_err());
        assert!(emit_body(&vec![s.clone(); 50]).is_ok());
        for bad in [
            UserSpan {
                trace_id: String::new(),
                ..s.clone()
            },
            UserSpan {
                name: "n".repeat(256),
                ..s.clone()
            },
            UserSpan {
                span_id: Some("s".repeat(33)),
                ..s.clone()
            },
            UserSpan {
                parent_span_id: Some(String::new()),
                ..s.clone()
            },
        ] {
            assert_eq!(emit_body(&[bad]).unwrap_err().kind(), "AlterValueError");
        }
    }
}
