//! Building audit rows without credentials in them.
//!
//! Two independent defences: header redaction by name (requests.md §9.4),
//! and a scrub that replaces any occurrence of the grant's secret values
//! anywhere in the row, so a credential that slipped into a URL, body or
//! unusual header still never reaches storage.

use crate::auth::Auth;
use crate::state::{Actor, AuditEvent};
use crate::util::{now_ms, rfc3339_ms};
use alter_core::headers::is_sensitive_header;
use serde_json::{Map, Value};
use uuid::Uuid;

/// The SDK's one list of credential headers (every name proxy mode
/// reserves, `Proxy-Authorization` included, and the common API-key
/// headers).
fn sensitive(lower: &str) -> bool {
    is_sensitive_header(lower)
}

const REDACTED: &str = "[REDACTED]";

/// Redacts a header map given as JSON (`{name: value}`), dropping sensitive
/// names and `extra` (credential headers of the grant), case-insensitively.
pub fn redact_header_map(headers: &Value, extra: &[String]) -> Value {
    let Some(map) = headers.as_object() else {
        return Value::Null;
    };
    let mut out = Map::new();
    for (k, v) in map {
        let lower = k.to_ascii_lowercase();
        if sensitive(&lower) || extra.contains(&lower) {
            continue;
        }
        out.insert(k.clone(), v.clone());
    }
    Value::Object(out)
}

/// Same, for ordered pairs.
pub fn redact_pairs(headers: &[(String, String)], extra: &[String]) -> Value {
    let map: Map<String, Value> = headers
        .iter()
        .map(|(k, v)| (k.clone(), Value::from(v.as_str())))
        .collect();
    redact_header_map(&Value::Object(map), extra)
}

/// Replaces every occurrence of each secret in every string of `v`.
pub fn scrub(v: &mut Value, secrets: &[String]) {
    match v {
        Value::String(s) => {
            for secret in secrets {
                if !secret.is_empty() && s.contains(secret.as_str()) {
                    *s = s.replace(secret.as_str(), REDACTED);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|i| scrub(i, secrets)),
        Value::Object(map) => map.values_mut().for_each(|i| scrub(i, secrets)),
        _ => {}
    }
}

/// Scrubs every free-text field of an audit row.
pub fn scrub_event(ev: &mut AuditEvent, secrets: &[String]) {
    if secrets.is_empty() {
        return;
    }
    for s in [&mut ev.url, &mut ev.reason, &mut ev.method, &mut ev.caller]
        .into_iter()
        .flatten()
    {
        let mut v = Value::String(std::mem::take(s));
        scrub(&mut v, secrets);
        *s = v.as_str().unwrap_or_default().to_string();
    }
    for field in [
        &mut ev.context,
        &mut ev.request_headers,
        &mut ev.request_body,
        &mut ev.response_headers,
        &mut ev.response_body,
        &mut ev.details,
    ]
    .into_iter()
    .flatten()
    {
        scrub(field, secrets);
    }
}

/// A fresh row stamped with time and the acting identity.
pub fn event(kind: &str, actor: &Actor) -> AuditEvent {
    AuditEvent {
        id: Uuid::new_v4(),
        kind: kind.to_string(),
        timestamp: rfc3339_ms(now_ms()),
        app_id: actor.app_id,
        agent_id: actor.agent_id,
        caller: actor.caller.clone(),
        caller_type: actor.caller_type.clone(),
        actor_id: actor.actor_id,
        ..AuditEvent::default()
    }
}

/// A fresh row for the caller of an SDK request, with its header context.
pub fn event_for(kind: &str, auth: &Auth) -> AuditEvent {
    let mut ev = event(kind, &auth.actor());
    ev.context = auth.context.clone();
    ev
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn redaction_and_scrub() {
        let h = json!({"Authorization": "Bearer s3cr3t", "X-Key": "s3cr3t", "Accept": "a"});
        let r = redact_header_map(&h, &["x-key".to_string()]);
        assert_eq!(r, json!({"Accept": "a"}));
        let mut v = json!({"u": "https://x/?k=s3cr3t", "n": [1, "s3cr3t!"]});
        scrub(&mut v, &["s3cr3t".to_string()]);
        assert_eq!(
            v,
            json!({"u": "https://x/?k=[REDACTED]", "n": [1, "[REDACTED]!"]})
        );
    }
}
