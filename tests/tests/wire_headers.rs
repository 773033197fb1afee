//! Wire-level behaviour checked against a small recording backend: every
//! attempt signed anew, the actor-id cache rules, caller overrides,
//! `traceparent`, the deprecated-key warning and the rate-limit snapshot.

mod common;

use alter_core::{App, ClientOptions, RequestOptions, RetryPolicy};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, post};
use axum::Router;
use serde_json::json;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const GRANT: &str = "0b7e3f1a-5c2d-4e8f-9a10-1b2c3d4e5f60";
const ACTOR: &str = "11111111-2222-4333-8444-555555555555";

#[derive(Default)]
struct Recorder {
    token_calls: Vec<HeaderMap>,
    audit_calls: Vec<HeaderMap>,
    /// Status codes to answer the next token calls with (then 200).
    script: Vec<u16>,
    actor_ids: Vec<&'static str>,
}

type Shared = Arc<Mutex<Recorder>>;

async fn start(rec: Shared) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let base = format!("http://{addr}");
    let r1 = rec.clone();
    let r2 = rec.clone();
    let app = Router::new()
        .route(
            "/sdk/token",
            post(move |headers: HeaderMap| {
                let rec = r1.clone();
                async move {
                    let mut r = rec.lock().unwrap();
                    r.token_calls.push(headers);
                    let status = if r.script.is_empty() { 200 } else { r.script.remove(0) };
                    let actor = if r.actor_ids.is_empty() { ACTOR } else { r.actor_ids.remove(0) };
                    let mut resp: Response = if status == 200 {
                        axum::Json(json!({"access_token": "t", "grant_id": GRANT,
                            "retry_info": {"total_attempts": 2, "successful_attempt": 2,
                                "errors": [{"attempt": 1, "error": "upstream blip", "error_type": "transient_refresh", "delay_s": 0.5}]}}))
                        .into_response()
                    } else {
                        (StatusCode::from_u16(status).unwrap(), "{}").into_response()
                    };
                    let h = resp.headers_mut();
                    h.insert("x-alter-actor-id", actor.parse().unwrap());
                    h.insert("x-alter-key-deprecated", "true".parse().unwrap());
                    h.insert("x-ratelimit-limit", "600".parse().unwrap());
                    h.insert("x-ratelimit-remaining", "599".parse().unwrap());
                    h.insert("x-ratelimit-reset", "1900000000".parse().unwrap());
                    resp
                }
            }),
        )
        .route(
            "/sdk/oauth/audit/api-call",
            post(move |headers: HeaderMap| {
                let rec = r2.clone();
                async move {
                    rec.lock().unwrap().audit_calls.push(headers);
                    StatusCode::NO_CONTENT
                }
            }),
        )
        .route("/provider", any(|| async { "ok" }));
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    base
}

fn client(base: &str, caller: Option<&str>, warnings: alter_core::WarningSink) -> App {
    App::new(ClientOptions {
        api_key: "alter_rk_pycdybk377oxtzq6svizx3_a5u5gr".into(),
        base_url: Some(base.into()),
        caller: caller.map(str::to_string),
        retry: Some(RetryPolicy {
            initial_backoff: Duration::from_millis(1),
            ..RetryPolicy::default()
        }),
        warnings: Some(warnings),
        ..Default::default()
    })
    .unwrap()
}

fn opts() -> RequestOptions {
    RequestOptions {
        grant_id: Some(GRANT.into()),
        ..Default::default()
    }
}

fn h<'a>(m: &'a HeaderMap, name: &str) -> Option<&'a str> {
    m.get(name).and_then(|v| v.to_str().ok())
}

#[tokio::test]
async fn each_attempt_is_signed_anew() {
    let rec: Shared = Arc::default();
    rec.lock().unwrap().script = vec![503, 502];
    let base = start(rec.clone()).await;
    let (sink, _) = common::warning_sink();
    let app = client(&base, None, sink);
    let r = app
        .request("GET", &format!("{base}/provider"), opts())
        .await
        .unwrap();
    assert_eq!(r.backend_attempts, 3);
    app.close().await;
    let calls = rec.lock().unwrap().token_calls.clone();
    assert_eq!(calls.len(), 3);
    let nonces: std::collections::HashSet<_> = calls
        .iter()
        .map(|c| h(c, "x-alter-nonce").unwrap())
        .collect();
    let sigs: std::collections::HashSet<_> = calls
        .iter()
        .map(|c| h(c, "x-alter-signature").unwrap())
        .collect();
    assert_eq!(nonces.len(), 3, "a fresh nonce per attempt");
    assert_eq!(sigs.len(), 3, "a fresh signature per attempt");
    // The backend's own refresh retries come back as retry_info.
    let info = r.retry_info.expect("retry_info parsed");
    assert_eq!(info.total_attempts, 2);
    assert_eq!(
        app.last_retry_info().unwrap().errors[0].error_type,
        "transient_refresh"
    );
    app.close().await;
}

#[tokio::test]
async fn actor_id_is_cached_then_replayed_but_not_under_an_override() {
    let rec: Shared = Arc::default();
    rec.lock().unwrap().actor_ids =
        vec!["not-a-uuid", ACTOR, "99999999-2222-4333-8444-555555555555"];
    let base = start(rec.clone()).await;
    let (sink, warnings) = common::warning_sink();
    let app = client(&base, Some("billing-svc"), sink);
    let url = format!("{base}/provider");
    app.request("GET", &url, opts()).await.unwrap(); // non-canonical: ignored
    assert_eq!(app.actor_id(), None);
    app.request("GET", &url, opts()).await.unwrap(); // cached
    assert_eq!(app.actor_id().as_deref(), Some(ACTOR));
    app.request("GET", &url, opts()).await.unwrap(); // a different id: ignored
    assert_eq!(app.actor_id().as_deref(), Some(ACTOR));
    // A per-call caller override sends no actor id and caches nothing.
    app.request(
        "GET",
        &url,
        RequestOptions {
            caller: Some("override-svc".into()),
            ..opts()
        },
    )
    .await
    .unwrap();
    app.close().await;
    let r = rec.lock().unwrap();
    let calls = &r.token_calls;
    assert_eq!(h(&calls[0], "x-alter-actor-id"), None);
    assert_eq!(h(&calls[2], "x-alter-actor-id"), Some(ACTOR));
    assert_eq!(h(&calls[3], "x-alter-actor-id"), None);
    assert_eq!(h(&calls[3], "x-alter-caller"), Some("override-svc"));
    assert_eq!(h(&calls[3], "x-alter-caller-type"), Some("service"));
    assert_eq!(h(&calls[0], "x-alter-caller"), Some("billing-svc"));
    // Identity headers are signed: V2 present with the same value.
    assert_eq!(
        h(&calls[0], "x-alter-signature-v2"),
        h(&calls[0], "x-alter-signature")
    );
    // The audit post uses the constructor caller even after an override.
    assert!(r
        .audit_calls
        .iter()
        .all(|a| h(a, "x-alter-caller") == Some("billing-svc")));
    drop(r);
    // The deprecated-key warning appears once per client, however many calls.
    let deprecated = warnings
        .lock()
        .unwrap()
        .iter()
        .filter(|w| w.contains("deprecated"))
        .count();
    assert_eq!(deprecated, 1);
}

#[tokio::test]
async fn traceparent_rides_on_backend_calls_only() {
    let rec: Shared = Arc::default();
    let base = start(rec.clone()).await;
    let (sink, _) = common::warning_sink();
    let app = client(&base, None, sink);
    let tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".to_string();
    let url = format!("{base}/provider");
    alter_core::context::with_traceparent(tp.clone(), app.request("GET", &url, opts()))
        .await
        .unwrap();
    // An invalid one is dropped, not forwarded.
    alter_core::context::with_traceparent("ff-bad".into(), app.request("GET", &url, opts()))
        .await
        .unwrap();
    app.close().await;
    let r = rec.lock().unwrap();
    assert_eq!(h(&r.token_calls[0], "traceparent"), Some(tp.as_str()));
    assert_eq!(h(&r.token_calls[1], "traceparent"), None);
    // The background audit post keeps the caller's trace.
    assert!(r
        .audit_calls
        .iter()
        .any(|a| h(a, "traceparent") == Some(tp.as_str())));
    // The rate-limit snapshot was captured from the headers.
    drop(r);
    let snap = app.last_rate_limit().expect("snapshot");
    assert_eq!((snap.limit, snap.remaining), (600, 599));
}
