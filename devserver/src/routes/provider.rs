//! A fake third-party API on the same server, so tests need no network:
//! `/_provider/echo/...` reflects the request, `/_provider/status/{code}`
//! answers a chosen status, `/_provider/redirect` answers 302.

use crate::ctx::Ctx;
use crate::util::header_map;
use axum::extract::{Path, Request};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::{Json, Router};
use serde_json::json;
use std::sync::Arc;

/// Largest body the echo endpoint reads.
const MAX_ECHO_BODY: usize = 10 * 1024 * 1024;

pub fn router() -> Router<Arc<Ctx>> {
    Router::new()
        .route("/_provider/echo", any(echo))
        .route("/_provider/echo/", any(echo))
        .route("/_provider/echo/{*rest}", any(echo))
        .route("/_provider/status/{code}", any(status))
        .route("/_provider/redirect", any(redirect))
}

async fn echo(req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let headers = header_map(&parts.headers);
    let body = match axum::body::to_bytes(body, MAX_ECHO_BODY).await {
        Ok(b) => String::from_utf8_lossy(&b).into_owned(),
        Err(_) => return StatusCode::PAYLOAD_TOO_LARGE.into_response(),
    };
    Json(json!({
        "method": parts.method.as_str(),
        "path": parts.uri.path(),
        "query": parts.uri.query().unwrap_or(""),
        "headers": headers,
        "body": body,
    }))
    .into_response()
}

async fn status(Path(code): Path<u16>, req: Request) -> Response {
    // Informational codes cannot be a final answer.
    let Some(status) = StatusCode::from_u16(code).ok().filter(|_| code >= 200) else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    let challenge = url::form_urlencoded::parse(req.uri().query().unwrap_or("").as_bytes())
        .find(|(k, _)| k == "www_authenticate")
        .map(|(_, v)| v.into_owned());
    let mut resp = if status == StatusCode::NO_CONTENT || status == StatusCode::NOT_MODIFIED {
        status.into_response()
    } else {
        (status, Json(json!({"status": code}))).into_response()
    };
    if let Some(v) = challenge.and_then(|c| HeaderValue::from_str(&c).ok()) {
        resp.headers_mut().insert("www-authenticate", v);
    }
    resp
}

async fn redirect() -> Response {
    (
        StatusCode::FOUND,
        [("location", "/_provider/echo/redirected")],
    )
        .into_response()
}
