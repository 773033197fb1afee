//! Benchmark contenders driven by `bench/run.py`, each printing one JSON line:
//!
//! - `core`: retrieve-mode `request()` through the Rust core;
//! - `floor`: the same three HTTP exchanges (token fetch, provider call,
//!   audit post) made with a bare reqwest client whose signed headers were
//!   all computed before the clock started: the fastest any SDK could go
//!   against this server.
//!
//! Usage: alter-bench <core|floor> --base-url U --api-key K --grant-id G
//!        --url PROVIDER_URL --calls N --concurrency C [--warmup W]

use alter_core::signing::{content_sha256, signing_headers, SignatureInput, SigningKey};
use alter_core::{App, ClientOptions, RequestOptions};
use futures_util::stream::{self, StreamExt};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

struct Args {
    mode: String,
    base_url: String,
    api_key: String,
    grant_id: String,
    url: String,
    calls: usize,
    concurrency: usize,
    warmup: usize,
}

fn parse_args() -> Args {
    let mut it = std::env::args().skip(1);
    let mode = it.next().unwrap_or_default();
    let mut kv = HashMap::new();
    while let Some(k) = it.next() {
        let v = it.next().unwrap_or_default();
        kv.insert(k.trim_start_matches("--").to_string(), v);
    }
    let get = |k: &str| kv.get(k).cloned().unwrap_or_default();
    let num = |k: &str, d: usize| kv.get(k).and_then(|v| v.parse().ok()).unwrap_or(d);
    Args {
        mode,
        base_url: get("base-url"),
        api_key: get("api-key"),
        grant_id: get("grant-id"),
        url: get("url"),
        calls: num("calls", 200),
        concurrency: num("concurrency", 1),
        warmup: num("warmup", 20),
    }
}

/// CPU seconds this process has run so far: the sum of every thread's
/// on-CPU nanoseconds from `/proc/self/task/*/schedstat` (clock ticks in
/// `/proc/self/stat` are too coarse for per-call figures).
fn cpu_seconds() -> f64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0.0;
    };
    let ns: u64 = tasks
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum();
    ns as f64 / 1e9
}

/// Peak resident set size in KiB.
fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx].as_secs_f64() * 1000.0
}

/// One signed backend request, precomputed.
struct Signed {
    target: &'static str,
    body: Vec<u8>,
    headers: Vec<(&'static str, String)>,
}

fn presign(key: &SigningKey, target: &'static str, body: Vec<u8>) -> Signed {
    let ts = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .to_string();
    let nonce = alter_core::signing::new_nonce();
    let hash = content_sha256(&body);
    let headers = signing_headers(
        key,
        &SignatureInput {
            method: "POST",
            target,
            timestamp: &ts,
            nonce: &nonce,
            content_sha256: &hash,
            ..Default::default()
        },
    );
    Signed {
        target,
        body,
        headers,
    }
}

async fn run_floor(a: &Args, total: usize) -> Vec<Duration> {
    let key = SigningKey::derive(&a.api_key);
    let token_body = serde_json::to_vec(&json!({
        "grant_id": a.grant_id, "reason": null,
        "request": {"method": "GET", "url": a.url}
    }))
    .unwrap();
    let audit_body = serde_json::to_vec(&json!({
        "grant_id": a.grant_id, "provider_id": "", "token_generation": null,
        "method": "GET", "url": a.url, "request_headers": {}, "request_body": null,
        "response_status": 200, "response_headers": {}, "response_body": "",
        "latency_ms": 0, "reason": null, "context": null
    }))
    .unwrap();
    // Every signature is computed before the clock starts.
    let jobs: Vec<(Signed, Signed)> = (0..total)
        .map(|_| {
            (
                presign(&key, "/sdk/token", token_body.clone()),
                presign(&key, "/sdk/oauth/audit/api-call", audit_body.clone()),
            )
        })
        .collect();
    let backend = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .tcp_nodelay(true)
        .build()
        .unwrap();
    let provider = backend.clone();
    let base = Arc::new(a.base_url.clone());
    let api_key = Arc::new(a.api_key.clone());
    let url = Arc::new(a.url.clone());
    // The audit posts, awaited before the run ends as `close()` awaits the
    // SDK's: a run is over when all of its work is.
    let audits = Arc::new(std::sync::Mutex::new(Vec::new()));
    let tasks = stream::iter(jobs.into_iter().map(|(tok, audit)| {
        let audits = audits.clone();
        let (backend, provider, base, api_key, url) = (
            backend.clone(),
            provider.clone(),
            base.clone(),
            api_key.clone(),
            url.clone(),
        );
        async move {
            let started = Instant::now();
            let send = move |s: Signed| {
                let mut req = backend
                    .post(format!("{base}{}", s.target))
                    .header("x-api-key", api_key.as_str())
                    .header("content-type", "application/json")
                    .body(s.body);
                for (k, v) in s.headers {
                    req = req.header(k, v);
                }
                req.send()
            };
            let resp = send(tok).await.expect("token");
            let raw = resp.bytes().await.expect("token body");
            let v: Value = serde_json::from_slice(&raw).expect("token json");
            let token = v["access_token"].as_str().unwrap_or_default().to_string();
            let r = provider
                .get(url.as_str())
                .header("authorization", format!("Bearer {token}"))
                .send()
                .await
                .expect("provider");
            let _ = r.bytes().await;
            let elapsed = started.elapsed();
            // The audit post runs off the caller's path, as in the SDK.
            let post = tokio::spawn(async move {
                let _ = send(audit).await;
            });
            audits.lock().unwrap().push(post);
            elapsed
        }
    }));
    let lat = tasks.buffer_unordered(a.concurrency).collect().await;
    let posts = std::mem::take(&mut *audits.lock().unwrap());
    for post in posts {
        let _ = post.await;
    }
    lat
}

async fn run_core(app: &App, a: &Args, total: usize) -> Vec<Duration> {
    let tasks = stream::iter((0..total).map(|_| async {
        let started = Instant::now();
        let r = app
            .request(
                "GET",
                &a.url,
                RequestOptions {
                    grant_id: Some(a.grant_id.clone()),
                    ..Default::default()
                },
            )
            .await
            .expect("request");
        assert_eq!(r.status, 200);
        started.elapsed()
    }));
    tasks.buffer_unordered(a.concurrency).collect().await
}

#[tokio::main]
async fn main() {
    let a = parse_args();
    let app = App::new(ClientOptions {
        api_key: a.api_key.clone(),
        base_url: Some(a.base_url.clone()),
        warnings: Some(Arc::new(|_: &str| {})),
        ..Default::default()
    })
    .expect("client");
    let run = |n: usize| {
        let a = &a;
        let app = &app;
        async move {
            match a.mode.as_str() {
                "core" => run_core(app, a, n).await,
                "floor" => run_floor(a, n).await,
                m => panic!("unknown mode {m:?}"),
            }
        }
    };
    run(a.warmup).await;
    let cpu0 = cpu_seconds();
    let t0 = Instant::now();
    let mut lat = run(a.calls).await;
    // Background audit posts are part of the work: `close()` flushes them.
    app.close().await;
    let wall = t0.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu0;
    lat.sort();
    println!(
        "{}",
        json!({
            "contender": format!("rust-{}", a.mode),
            "calls": a.calls,
            "concurrency": a.concurrency,
            "throughput": a.calls as f64 / wall,
            "p50_ms": percentile(&lat, 0.50),
            "p99_ms": percentile(&lat, 0.99),
            "cpu_s_per_call": cpu / a.calls as f64,
            "peak_rss_kib": peak_rss_kib(),
        })
    );
}
