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
