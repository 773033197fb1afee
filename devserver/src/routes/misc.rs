//! Small SDK routes: the scope catalog and span ingest.

use crate::auth::{Auth, APP_KEY_SCOPES};
use crate::ctx::Ctx;
use crate::error::{json_object, ApiError, ApiResult};
use crate::state::Span;
use crate::util::random_hex;
use axum::extract::State;
use axum::{Extension, Json};
use bytes::Bytes;
use serde_json::{json, Map, Value};
use std::sync::Arc;

/// Spans kept, oldest dropped first (no TTL sweeper in the local vault).
const SPAN_CAP: usize = 10_000;

/// `GET /sdk/scopes`: every scope this vault knows, grouped by resource.
pub async fn scopes(Extension(_auth): Extension<Arc<Auth>>) -> Json<Value> {
    let mut resources: Map<String, Value> = Map::new();
    let mut verbs: Vec<&str> = Vec::new();
    for scope in APP_KEY_SCOPES {
        let (resource, verb) = scope.split_once(':').unwrap_or((scope, ""));
        let entry = resources
            .entry(resource.to_string())
            .or_insert_with(|| json!({"verbs": []}));
        if let Some(list) = entry["verbs"].as_array_mut() {
            list.push(json!(verb));
        }
        if !verbs.contains(&verb) {
            verbs.push(verb);
        }
    }
    Json(json!({
        "scope_version": 1,
        "resources": resources,
        "action_verbs": verbs,
        "deprecated": [],
    }))
}

/// `POST /sdk/spans`: stores 1–50 spans, ignoring duplicate
/// (trace_id, span_id) pairs; answers how many were new.
pub async fn spans(
    State(ctx): State<Arc<Ctx>>,
    Extension(auth): Extension<Arc<Auth>>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    auth.require(&["spans:emit"])?;
    let map = json_object(&body)?;
    let items = map
        .get("spans")
        .and_then(Value::as_array)
        .filter(|a| (1..=50).contains(&a.len()))
        .ok_or_else(|| ApiError::validation("spans", "spans must be a list of 1 to 50 spans"))?;
    let mut parsed = Vec::new();
    for item in items {
        let trace_id = item.get("trace_id").and_then(Value::as_str).unwrap_or("");
        let name = item.get("name").and_then(Value::as_str).unwrap_or("");
        if trace_id.is_empty() || name.is_empty() || item.get("start_time").is_none() {
            return Err(ApiError::validation(
                "spans",
                "each span needs trace_id, name and start_time",
            ));
        }
        let span_id = item
            .get("span_id")
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| random_hex(8));
        parsed.push(Span {
            trace_id: trace_id.to_string(),
            span_id,
            agent_id: auth.agent_id,
            data: item.clone(),
        });
    }
    let accepted = ctx.store.write(|s| {
        let mut n = 0;
        for span in parsed {
            if !s
                .spans
                .iter()
                .any(|x| x.trace_id == span.trace_id && x.span_id == span.span_id)
            {
                s.spans.push(span);
                n += 1;
            }
        }
        if s.spans.len() > SPAN_CAP {
            let excess = s.spans.len() - SPAN_CAP;
            s.spans.drain(..excess);
        }
        n
    });
    Ok(Json(json!({ "accepted": accepted })))
}
