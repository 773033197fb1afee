//! A fake third-party API on the same server, so tests need no network:
//! `/_provider/echo/...` reflects the request, `/_provider/status/{code}`
//! answers a chosen status, `/_provider/redirect` answers 302.
//!
//! The echo is a hostile provider on demand: it returns the request's
//! headers (the injected credential included) in its JSON body, and with
//! `echo_status=<code>` it answers that status, and with `echo_headers=1`
//! it also repeats every request header as an `x-echo-<name>` response
//! header. What the SDK does with that text (errors, audit rows) must
//! never carry the credential on.

use crate::ctx::Ctx;
use crate::util::header_map;
use axum::extract::{Path, Request};
use axum::http::{HeaderName, HeaderValue, StatusCode};
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
    let query = parts.uri.query().unwrap_or("");
    let flag = |name: &str| {
        url::form_urlencoded::parse(query.as_bytes())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    };
    let status = flag("echo_status")
        .and_then(|c| c.parse::<u16>().ok())
        .and_then(|c| StatusCode::from_u16(c).ok())
        .filter(|c| c.as_u16() >= 200)
        .unwrap_or(StatusCode::OK);
    let mut resp = (
        status,
        Json(json!({
            "method": parts.method.as_str(),
            "path": parts.uri.path(),
            "query": query,
            "headers": headers,
            "body": body,
        })),
    )
        .into_response();
    if flag("echo_headers").as_deref() == Some("1") {
        for (name, value) in &parts.headers {
            if let Ok(echoed) = HeaderName::from_bytes(format!("x-echo-{name}").as_bytes()) {
                resp.headers_mut().append(echoed, value.clone());
            }
        }
    }
    resp
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
