//! Fault injection for reliability tests: the next `count` requests whose
//! path starts with a prefix are delayed, answered with a chosen status and
//! body, or have their connection dropped without an answer.
//!
//! The operator API itself (`/_dev/...`) is never faulted, so a test can
//! always clean up after itself (inferred).

use crate::ctx::{lock, Ctx};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Fault {
    pub path_prefix: String,
    pub remaining: u32,
    pub status: Option<u16>,
    pub delay_ms: u64,
    pub drop: bool,
    pub retry_after: Option<String>,
    pub body: Option<Value>,
}

fn take(ctx: &Ctx, path: &str) -> Option<Fault> {
    let mut faults = lock(&ctx.faults);
    let i = faults
        .iter()
        .position(|f| f.remaining > 0 && path.starts_with(&f.path_prefix))?;
    faults[i].remaining -= 1;
    let fault = faults[i].clone();
    if faults[i].remaining == 0 {
        faults.remove(i);
    }
    Some(fault)
}

/// A response whose body fails before its first byte. hyper then abandons
/// the connection before the queued status line is flushed, so the client
/// sees the connection close with no response at all.
fn dropped() -> Response {
    let stream = futures_util::stream::once(async {
        Err::<Bytes, std::io::Error>(std::io::Error::other("connection dropped by fault"))
    });
    Response::new(Body::from_stream(stream))
}

pub async fn middleware(State(ctx): State<Arc<Ctx>>, req: Request, next: Next) -> Response {
    let path = req.uri().path();
    if path == "/_dev" || path.starts_with("/_dev/") {
        return next.run(req).await;
    }
    let Some(fault) = take(&ctx, path) else {
        return next.run(req).await;
    };
    if fault.delay_ms > 0 {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(fault.delay_ms)) => {}
            _ = ctx.shutting_down() => {}
        }
    }
    if fault.drop {
        return dropped();
    }
    let Some(status) = fault.status else {
        // A pure delay: the request then runs normally.
        return next.run(req).await;
    };
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut resp = match fault.body {
        Some(Value::String(text)) => (status, text).into_response(),
        Some(v) => (status, axum::Json(v)).into_response(),
        None => (
            status,
            axum::Json(json!({"detail": {
                "error": "injected_fault",
                "message": format!("fault injected by alter-dev (HTTP {})", status.as_u16()),
            }})),
        )
            .into_response(),
    };
    if let Some(ra) = fault
        .retry_after
        .and_then(|r| HeaderValue::from_str(&r).ok())
    {
        resp.headers_mut().insert("retry-after", ra);
    }
    resp
}
