//! Fault injection: failing statuses with Retry-After, custom bodies,
//! delays and dropped connections; the operator API is never faulted.

mod common;

use common::{echo_url, start, Client};
use serde_json::json;
use std::time::Instant;

#[tokio::test]
async fn faults_fail_delay_and_drop_the_next_requests() {
    let (server, admin) = start();
    let info = server.info().clone();
    let app = Client::new(&info.base_url, &info.app_api_key);

    // Status + Retry-After for the next two matching requests only.
    admin
        .add_fault(
            json!({"path_prefix": "/sdk/agents", "count": 2, "status": 503, "retry_after": 7}),
        )
        .await
        .unwrap();
    for _ in 0..2 {
        let r = app.get("/sdk/agents").await;
        r.expect(503, "injected_fault");
        assert_eq!(r.header("retry-after"), Some("7"));
    }
    assert_eq!(app.get("/sdk/agents").await.status, 200);

    // A custom body, verbatim.
    admin
        .add_fault(json!({"path_prefix": "/sdk/token", "count": 1, "status": 429,
                          "body": {"error": "rate_limit_exceeded", "retry_after": 3}, "retry_after": "3"}))
        .await
        .unwrap();
    let r = app.post("/sdk/token", &json!({})).await;
    assert_eq!(
        (r.status, r.body["error"].as_str()),
        (429, Some("rate_limit_exceeded"))
    );

    // A dropped connection: no response at all.
    let url = echo_url(&info.base_url);
    admin
        .add_fault(json!({"path_prefix": "/_provider/echo", "count": 1, "drop": true}))
        .await
        .unwrap();
    let http = reqwest::Client::new();
    let dropped = http.get(&url).send().await;
    assert!(
        dropped.is_err(),
        "expected a dropped connection, got {dropped:?}"
    );
    assert_eq!(http.get(&url).send().await.unwrap().status(), 200);

    // A delay, then the request runs normally.
    admin
        .add_fault(json!({"path_prefix": "/_provider/echo", "count": 1, "delay_ms": 300}))
        .await
        .unwrap();
    let started = Instant::now();
    let r = http.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(started.elapsed().as_millis() >= 300);

    // The operator API stays reachable whatever the prefix.
    admin
        .add_fault(json!({"path_prefix": "/", "count": 5, "status": 500}))
        .await
        .unwrap();
    assert_eq!(admin.health().await.unwrap()["status"], "ok");
    let listed = admin
        .call(reqwest::Method::GET, "/_dev/faults", None)
        .await
        .unwrap();
    assert_eq!(listed["faults"][0]["remaining"], 5);
    admin.clear_faults().await.unwrap();
    assert_eq!(app.get("/sdk/agents").await.status, 200);

    // Bad fault definitions are refused.
    assert!(admin
        .add_fault(json!({"path_prefix": "sdk", "status": 500}))
        .await
        .is_err());
    assert!(admin
        .add_fault(json!({"path_prefix": "/sdk"}))
        .await
        .is_err());
    server.stop();
}

/// `/_provider/hold/{name}` answers only once its gate is released; the
/// operator API counts who waits (and a given-up request stops counting).
#[tokio::test]
async fn held_provider_answers_wait_for_their_gate() {
    use reqwest::Method;
    let (server, admin) = start();
    let base = server.info().base_url.clone();
    let url = format!("{base}/_provider/hold/g1");
    let http = reqwest::Client::new();
    let waiting = || async {
        admin
            .call(Method::GET, "/_dev/holds/g1", None)
            .await
            .unwrap()["waiting"]
            .as_u64()
            .unwrap()
    };
    let held: Vec<_> = (0..3)
        .map(|_| tokio::spawn(http.get(&url).send()))
        .collect();
    // Poll the count until all three arrived (bounded by the test's own
    // deadline below).
    let deadline = Instant::now() + std::time::Duration::from_secs(30);
    while waiting().await < 3 {
        assert!(Instant::now() < deadline, "the held requests never arrived");
        tokio::task::yield_now().await;
    }
    // A request its client gives up on is no longer counted.
    let quitter = tokio::spawn(http.get(&url).send());
    while waiting().await < 4 {
        assert!(
            Instant::now() < deadline,
            "the fourth request never arrived"
        );
        tokio::task::yield_now().await;
    }
    quitter.abort();
    while waiting().await != 3 {
        assert!(
            Instant::now() < deadline,
            "an abandoned request stayed counted"
        );
        tokio::task::yield_now().await;
    }
    let released = admin
        .call(Method::POST, "/_dev/holds/g1", None)
        .await
        .unwrap();
    assert_eq!(released["released"], "g1");
    for h in held {
        let r = h.await.unwrap().unwrap();
        assert_eq!(r.status(), 200);
    }
    // A released gate stays open; the operator API needs the admin token.
    assert_eq!(http.get(&url).send().await.unwrap().status(), 200);
    let anonymous = http
        .get(format!("{base}/_dev/holds/g1"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    assert_eq!(waiting().await, 0);
}

/// Generated bodies: their length announced exactly, not at all, or larger
/// than what is sent (cut mid-way); chunks that trickle; extra headers; and
/// the per-path request counts.
#[tokio::test]
async fn generated_bodies_headers_and_request_counts() {
    let (server, admin) = start();
    let url = echo_url(&server.info().base_url);
    let http = reqwest::Client::new();
    let fault = |extra: serde_json::Value| {
        let mut f = json!({"path_prefix": "/_provider/echo", "count": 1, "status": 200});
        f.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        f
    };

    admin
        .add_fault(fault(json!({"body_bytes": 300_000})))
        .await
        .unwrap();
    let r = http.get(&url).send().await.unwrap();
    assert_eq!(r.content_length(), Some(300_000));
    assert_eq!(r.bytes().await.unwrap().len(), 300_000);

    admin
        .add_fault(fault(
            json!({"body_bytes": 300_000, "content_length": "none"}),
        ))
        .await
        .unwrap();
    let r = http.get(&url).send().await.unwrap();
    assert_eq!(r.content_length(), None);
    assert_eq!(r.bytes().await.unwrap().len(), 300_000);

    admin
        .add_fault(fault(json!({"body_bytes": 1000, "content_length": 5000})))
        .await
        .unwrap();
    let r = http.get(&url).send().await.unwrap();
    assert_eq!(r.content_length(), Some(5000));
    assert!(r.bytes().await.is_err(), "a body cut short is an error");

    // Trickling: one 10-byte chunk every 200 ms; a client that gives up
    // after 300 ms sees a timeout while reading the body.
    admin
        .add_fault(fault(
            json!({"body_bytes": 100, "chunk_bytes": 10, "trickle_ms": 200}),
        ))
        .await
        .unwrap();
    let impatient = reqwest::Client::builder()
        .timeout(std::time::Duration::from_millis(300))
        .build()
        .unwrap();
    let r = impatient.get(&url).send().await.unwrap();
    let e = r.bytes().await.unwrap_err();
    assert!(e.is_timeout(), "{e:?}");

    // Headers, repeats kept, replacing the default content type.
    admin
        .add_fault(
            json!({"path_prefix": "/_provider/echo", "count": 1, "status": 302,
            "body": "<html>moved</html>",
            "headers": [["location", "http://127.0.0.1:9/elsewhere"], ["content-type", "text/html"],
                        ["x-ratelimit-limit", "a"], ["x-ratelimit-limit", "b"]]}),
        )
        .await
        .unwrap();
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = no_redirects.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 302);
    assert_eq!(r.headers()["location"], "http://127.0.0.1:9/elsewhere");
    assert_eq!(r.headers()["content-type"], "text/html");
    assert_eq!(r.headers().get_all("x-ratelimit-limit").iter().count(), 2);
    assert_eq!(r.text().await.unwrap(), "<html>moved</html>");

    // Every request above reached the echo path, and only those.
    let path = "/_provider/echo";
    assert_eq!(admin.requests_to(path).await.unwrap(), 5);
    admin.clear_request_counts().await.unwrap();
    assert_eq!(admin.requests_to(path).await.unwrap(), 0);

    // Inconsistent definitions are refused.
    for bad in [
        json!({"path_prefix": "/x", "body_bytes": 10}),
        json!({"path_prefix": "/x", "status": 200, "body_bytes": 10, "body": "b"}),
        json!({"path_prefix": "/x", "status": 200, "body_bytes": 10, "content_length": 5}),
        json!({"path_prefix": "/x", "status": 200, "trickle_ms": 5}),
        json!({"path_prefix": "/x", "status": 200, "headers": {"a": 1}}),
    ] {
        assert!(admin.add_fault(bad.clone()).await.is_err(), "{bad}");
    }
    server.stop();
}
