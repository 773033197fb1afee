//! Hostile and broken peers, injected by the local vault (`/_dev/faults`):
//! oversized, trickling and truncated bodies, HTML or broken JSON where
//! JSON belongs, redirects, malformed retry and rate-limit headers, and
//! every malformed field of a `/sdk/token` answer. Each case asserts the
//! typed error and how many requests went out (`/_dev/requests`): once,
//! unless the retry policy's rules say otherwise, and then exactly as often
//! as they say.

mod common;

use alter_core::{Error, ProxyOptions, RequestOptions, Response, RetryPolicy};
use common::Vault;
use serde_json::{json, Value};
use std::time::Duration;

const MIB: u64 = 1024 * 1024;
const TOKEN: &str = "/sdk/token";
const PROXY: &str = "/sdk/proxy";
const AUDIT: &str = "/sdk/oauth/audit/api-call";
const PROVIDER: &str = "/_provider/echo/fault";

/// Retries with tiny backoffs, so a retried case stays fast; the number of
/// attempts is the default policy's.
fn quick_retry() -> RetryPolicy {
    RetryPolicy {
        initial_backoff: Duration::from_millis(1),
        max_backoff: Duration::from_millis(2),
        ..RetryPolicy::default()
    }
}

/// A vault, an App on it and a grant whose credential goes to the echo
/// provider.
struct Rig {
    vault: Vault,
    app: alter_core::App,
    grant: String,
}

impl Rig {
    async fn new(configure: impl FnOnce(&mut alter_core::ClientOptions)) -> Rig {
        let vault = Vault::start();
        let grant = vault.bound_secret("acme", "tok-fault-1", None).await;
        let app = vault.app_with(|o| {
            o.retry = Some(quick_retry());
            configure(o);
        });
        vault.admin.clear_request_counts().await.unwrap();
        Rig { vault, app, grant }
    }

    async fn fault(&self, mut f: Value) {
        if f.get("count").is_none() {
            f["count"] = json!(1);
        }
        self.vault.admin.add_fault(f).await.expect("fault accepted");
    }

    async fn count(&self, prefix: &str) -> u64 {
        self.vault.admin.requests_to(prefix).await.unwrap()
    }

    fn provider_url(&self) -> String {
        format!("{}{PROVIDER}", self.vault.base_url())
    }

    async fn request(&self) -> alter_core::Result<Response> {
        self.app
            .request(
                "GET",
                &self.provider_url(),
                RequestOptions {
                    grant_id: Some(self.grant.clone()),
                    ..Default::default()
                },
            )
            .await
    }

    async fn proxy(&self) -> alter_core::Result<alter_core::ProxyOutcome> {
        self.app
            .proxy_request(
                "GET",
                &self.provider_url(),
                ProxyOptions {
                    grant_id: Some(self.grant.clone()),
                    ..Default::default()
                },
            )
            .await
    }

    /// The audit rows of provider calls, once every post has been sent.
    async fn api_call_rows(&self) -> Vec<Value> {
        assert_eq!(self.app.close().await, 0, "no report abandoned");
        self.vault
            .audit()
            .await
            .into_iter()
            .filter(|r| r["kind"] == "api_call")
            .collect()
    }
}

fn expect_too_large(e: &Error, source: &str, max: u64) {
    assert_eq!(e.kind(), "ResponseTooLargeError", "{e:?}");
    assert!(e.is_a("AlterSDKError"));
    assert_eq!(e.attributes()["max_bytes"], max);
    assert_eq!(e.details()["source"], source);
    assert!(e.message().contains(&max.to_string()), "{}", e.message());
}

// ---- bodies over their cap ------------------------------------------------

#[tokio::test]
async fn a_provider_body_over_the_cap_fails_typed_and_is_audited_as_cut() {
    let rig = Rig::new(|o| o.max_response_bytes = Some(MIB)).await;
    // 8 MiB announced (refused before reading), then 8 MiB unannounced
    // (read up to the cap, then the connection is dropped).
    for framing in [json!("exact"), json!("none")] {
        rig.fault(json!({"path_prefix": PROVIDER, "status": 200,
            "body_bytes": 8 * MIB, "content_length": framing}))
            .await;
        let e = rig.request().await.unwrap_err();
        expect_too_large(&e, "provider", MIB);
        assert_eq!(e.details()["status_code"], 200);
    }
    assert_eq!(rig.count(TOKEN).await, 2);
    assert_eq!(
        rig.count(PROVIDER).await,
        2,
        "each call reached the provider once"
    );
    let rows = rig.api_call_rows().await;
    assert_eq!(rows.len(), 2);
    for row in rows {
        assert_eq!(row["status"], 200);
        assert_eq!(
            row["response_body"],
            format!("<response body exceeded max_response_bytes ({MIB} bytes); not read>")
        );
    }
    assert_eq!(rig.count(AUDIT).await, 2);
}

#[tokio::test]
async fn a_proxied_body_over_the_cap_fails_typed() {
    // The vault captures up to 5 MiB of the provider's body and returns it
    // base64-encoded: 2 MiB of body is a ~2.7 MiB answer, over a 1 MiB cap.
    let rig = Rig::new(|o| o.max_response_bytes = Some(MIB)).await;
    rig.fault(json!({"path_prefix": PROVIDER, "status": 200, "body_bytes": 2 * MIB}))
        .await;
    let e = rig.proxy().await.unwrap_err();
    expect_too_large(&e, "proxy", MIB);
    assert_eq!(rig.count(PROXY).await, 1, "/sdk/proxy is never repeated");
    assert_eq!(rig.count(PROVIDER).await, 1);
}

#[tokio::test]
async fn a_backend_answer_over_its_cap_fails_typed_and_is_not_retried() {
    let rig = Rig::new(|_| {}).await;
    let cap = alter_core::body::BACKEND_MAX_RESPONSE_BYTES;
    for framing in [json!("exact"), json!("none")] {
        rig.fault(json!({"path_prefix": TOKEN, "status": 200,
            "body_bytes": cap + MIB, "content_length": framing}))
            .await;
        let e = rig.request().await.unwrap_err();
        expect_too_large(&e, "backend", cap);
    }
    assert_eq!(rig.count(TOKEN).await, 2);
    assert_eq!(rig.count(PROVIDER).await, 0);
}

// ---- slow and truncated bodies ------------------------------------------------

#[tokio::test]
async fn a_trickling_provider_body_times_out_once() {
    // One 16-byte chunk every 10 s; the client gives up after 1 s.
    let rig = Rig::new(|o| o.timeout = Some(Duration::from_secs(1))).await;
    rig.fault(
        json!({"path_prefix": PROVIDER, "status": 200, "body_bytes": 64,
        "chunk_bytes": 16, "trickle_ms": 10_000}),
    )
    .await;
    let e = rig.request().await.unwrap_err();
    assert_eq!(e.kind(), "TimeoutError", "{e:?}");
    assert_eq!(rig.count(PROVIDER).await, 1);
    let rows = rig.api_call_rows().await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["status"], 0);
    assert!(rows[0]["response_body"]
        .as_str()
        .unwrap()
        .starts_with("<transport error: timeout after"));
}

#[tokio::test]
async fn a_trickling_backend_answer_times_out_and_is_not_retried() {
    let rig = Rig::new(|o| o.timeout = Some(Duration::from_secs(1))).await;
    rig.fault(
        json!({"path_prefix": TOKEN, "status": 200, "body_bytes": 64,
        "chunk_bytes": 16, "trickle_ms": 10_000}),
    )
    .await;
    let e = rig.request().await.unwrap_err();
    assert_eq!(e.kind(), "TimeoutError", "{e:?}");
    assert_eq!(rig.count(TOKEN).await, 1, "a timeout may have been served");
    assert_eq!(rig.count(PROVIDER).await, 0);
}

#[tokio::test]
async fn bodies_cut_mid_way_are_network_errors_sent_once() {
    let rig = Rig::new(|_| {}).await;
    rig.fault(
        json!({"path_prefix": PROVIDER, "status": 200, "body_bytes": 1000,
        "content_length": 5000}),
    )
    .await;
    let e = rig.request().await.unwrap_err();
    assert_eq!(e.kind(), "NetworkError", "{e:?}");
    assert_eq!(e.message(), "Failed to call provider API");
    assert_eq!(rig.count(PROVIDER).await, 1);

    rig.fault(
        json!({"path_prefix": TOKEN, "status": 200, "body_bytes": 1000,
        "content_length": 5000}),
    )
    .await;
    let e = rig.request().await.unwrap_err();
    assert_eq!(e.kind(), "NetworkError", "{e:?}");
    assert_eq!(rig.count(TOKEN).await, 2, "one per call, none repeated");
    assert_eq!(rig.count(PROVIDER).await, 1);

    let rows = rig.api_call_rows().await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["response_body"], "<transport error: network>");
}

// ---- HTML and broken JSON where JSON belongs --------------------------------

#[tokio::test]
async fn html_and_broken_json_answers_are_typed_errors() {
    let rig = Rig::new(|_| {}).await;
    let html = json!({"content-type": "text/html"});
    let cases = [
        (json!("<html><body>Bad gateway</body></html>"), html.clone()),
        (
            json!("{\"access_token\": \"tok\", \"grant_id\": "),
            json!({}),
        ),
    ];
    for (i, (body, headers)) in cases.iter().enumerate() {
        rig.fault(json!({"path_prefix": TOKEN, "status": 200, "body": body, "headers": headers}))
            .await;
        let e = rig.request().await.unwrap_err();
        assert_eq!(e.kind(), "BackendError", "{e:?}");
        assert!(e.message().contains("malformed"), "{}", e.message());
        assert_eq!(rig.count(TOKEN).await, i as u64 + 1);
    }
    for (i, (body, headers)) in cases.iter().enumerate() {
        rig.fault(json!({"path_prefix": PROXY, "status": 200, "body": body, "headers": headers}))
            .await;
        let e = rig.proxy().await.unwrap_err();
        assert_eq!(e.kind(), "BackendError", "{e:?}");
        assert_eq!(
            e.message(),
            "/sdk/proxy 200 response body is not valid JSON"
        );
        assert_eq!(rig.count(PROXY).await, i as u64 + 1);
    }
    assert_eq!(rig.count(PROVIDER).await, 0);

    // From the provider, HTML is a successful answer whose JSON view fails.
    rig.fault(
        json!({"path_prefix": PROVIDER, "status": 200, "body": "<html>hi</html>",
        "headers": html}),
    )
    .await;
    let r = rig.request().await.unwrap();
    assert_eq!(r.header("content-type"), Some("text/html"));
    assert_eq!(r.json().unwrap_err().kind(), "AlterValueError");
    assert_eq!(rig.count(PROVIDER).await, 1);
}

// ---- redirects ------------------------------------------------------------------

#[tokio::test]
async fn redirects_are_never_followed() {
    let rig = Rig::new(|_| {}).await;
    let trap = format!("{}/_provider/echo/trap", rig.vault.base_url());
    let location = json!({"location": trap});

    rig.fault(json!({"path_prefix": PROVIDER, "status": 302, "headers": location}))
        .await;
    let r = rig.request().await.unwrap();
    assert_eq!(r.status, 302);
    assert_eq!(r.header("location"), Some(trap.as_str()));

    // A backend redirect: the signed request (API key included) must not
    // follow it; the 3xx is an answer the token path cannot use.
    rig.fault(json!({"path_prefix": TOKEN, "status": 307, "headers": location}))
        .await;
    let e = rig.request().await.unwrap_err();
    assert_eq!(e.kind(), "BackendError", "{e:?}");

    rig.fault(json!({"path_prefix": PROXY, "status": 308, "headers": location}))
        .await;
    let e = rig.proxy().await.unwrap_err();
    assert_eq!(e.kind(), "BackendError", "{e:?}");

    assert_eq!(rig.count("/_provider/echo/trap").await, 0);
    assert_eq!(rig.count(PROVIDER).await, 1);
    assert_eq!(rig.count(TOKEN).await, 2);
    assert_eq!(rig.count(PROXY).await, 1);
}

// ---- malformed Retry-After and rate-limit headers ---------------------------------

#[tokio::test]
async fn malformed_retry_after_falls_back_to_backoff_and_retries_as_the_policy_says() {
    let rig = Rig::new(|_| {}).await;
    let attempts = u64::from(quick_retry().max_attempts);
    let mut expected = 0;
    // Unparseable values are ignored: the policy's own backoff applies and
    // a 503 is attempted max_attempts times.
    for bad in ["soon", "-1", "1.5", "Wed, 99 Foo 2015", "", "\u{7f}"] {
        rig.fault(
            json!({"path_prefix": TOKEN, "count": attempts, "status": 503,
            "headers": {"retry-after": bad}}),
        )
        .await;
        let e = rig.request().await.unwrap_err();
        assert_eq!(e.kind(), "BackendError", "{bad:?}: {e:?}");
        assert_eq!(e.status_code(), Some(503));
        expected += attempts;
        assert_eq!(rig.count(TOKEN).await, expected, "{bad:?}");
    }
    // A delay too long to honour (huge values clamp to an hour) ends the
    // call at once: one attempt.
    for long in ["99999999999999999999999999", "3600"] {
        rig.fault(
            json!({"path_prefix": TOKEN, "count": attempts, "status": 503,
            "headers": {"retry-after": long}}),
        )
        .await;
        let e = rig.request().await.unwrap_err();
        assert_eq!(e.status_code(), Some(503));
        expected += 1;
        assert_eq!(rig.count(TOKEN).await, expected, "{long}");
        rig.vault.admin.clear_faults().await.unwrap();
    }
    // A rate-limit answer with a malformed Retry-After: typed, no delay.
    rig.fault(
        json!({"path_prefix": TOKEN, "count": attempts, "status": 429,
        "body": {"error": "rate_limit_exceeded", "retry_after": "later"},
        "headers": {"retry-after": "later"}}),
    )
    .await;
    let e = rig.request().await.unwrap_err();
    assert_eq!(e.kind(), "RateLimitError", "{e:?}");
    assert_eq!(e.retry_after(), None);
    expected += attempts;
    assert_eq!(rig.count(TOKEN).await, expected);
    assert_eq!(rig.count(PROVIDER).await, 0);
}

#[tokio::test]
async fn malformed_rate_limit_headers_are_ignored() {
    let rig = Rig::new(|_| {}).await;
    let cases = [
        json!([
            ["x-ratelimit-limit", "abc"],
            ["x-ratelimit-remaining", "1"],
            ["x-ratelimit-reset", "1700000000"]
        ]),
        json!([
            ["x-ratelimit-limit", "10"],
            ["x-ratelimit-remaining", "-1"],
            ["x-ratelimit-reset", "1700000000"]
        ]),
        json!([
            ["x-ratelimit-limit", "10"],
            ["x-ratelimit-remaining", "1"],
            ["x-ratelimit-reset", "99999999999999"]
        ]),
        json!([
            ["ratelimit-policy", "\"d\";q=x"],
            ["ratelimit", "\"d\";r=1;t=1"]
        ]),
        json!([
            ["ratelimit-policy", "\"d\";q=10"],
            ["ratelimit", "\"d\";r=1;t=99999999999999"]
        ]),
        json!([
            ["x-ratelimit-limit", &"9".repeat(4000)],
            ["x-ratelimit-remaining", "1"],
            ["x-ratelimit-reset", "1"]
        ]),
    ];
    for (i, headers) in cases.iter().enumerate() {
        // A scoped agents page is the simplest backend call with a 200
        // answer the fault can stand in for.
        rig.fault(json!({"path_prefix": "/sdk/agents", "status": 200,
            "body": {"agents": [], "total": 0, "limit": 50, "offset": 0, "has_more": false},
            "headers": headers}))
            .await;
        rig.app
            .agents()
            .list(false, 50, 0)
            .await
            .unwrap_or_else(|e| panic!("case {i}: {e:?}"));
        assert_eq!(rig.app.last_rate_limit(), None, "case {i}: {headers}");
        assert_eq!(rig.count("/sdk/agents").await, i as u64 + 1);
    }
    // The same answer with well-formed headers is read.
    rig.fault(json!({"path_prefix": "/sdk/agents", "status": 200,
        "body": {"agents": [], "total": 0, "limit": 50, "offset": 0, "has_more": false},
        "headers": [["x-ratelimit-limit", "10"], ["x-ratelimit-remaining", "7"],
                    ["x-ratelimit-reset", "1700000000"]]}))
        .await;
    rig.app.agents().list(false, 50, 0).await.unwrap();
    let snap = rig.app.last_rate_limit().expect("a snapshot");
    assert_eq!((snap.limit, snap.remaining), (10, 7));
}

// ---- malformed /sdk/token answers -----------------------------------------------------

/// A valid token answer for `grant` with `field` replaced (or removed, for
/// `None`).
fn token_body(grant: &str, field: &str, value: Option<Value>) -> Value {
    let mut body = json!({
        "access_token": "tok-from-fault",
        "grant_id": grant,
        "token_type": "Bearer",
        "provider_id": "acme",
        "injection_header": "Authorization",
        "injection_format": "Bearer {token}",
    });
    match value {
        Some(v) => body[field] = v,
        None => {
            body.as_object_mut().unwrap().remove(field);
        }
    }
    body
}

#[tokio::test]
async fn every_malformed_token_field_is_refused_before_the_provider_is_called() {
    let rig = Rig::new(|_| {}).await;
    let header_rule = |target: &str, key: &str, source: &str| json!([{"target": target, "key": key, "value_source": source}]);
    let cases: Vec<(&str, Option<Value>, &str)> = vec![
        ("access_token", None, "malformed"),
        ("access_token", Some(json!(12345)), "access_token"),
        ("access_token", Some(json!("")), "access_token"),
        (
            "access_token",
            Some(json!("tok\r\nX-Evil: 1")),
            "access_token",
        ),
        ("grant_id", None, "malformed"),
        ("grant_id", Some(json!("not-a-uuid")), "grant_id"),
        ("grant_id", Some(json!(7)), "grant_id"),
        ("token_type", Some(json!(1)), "token_type"),
        ("token_type", Some(json!("Bearer\n")), "token_type"),
        ("expires_in", Some(json!(-1)), "expires_in"),
        ("expires_in", Some(json!("3600")), "expires_in"),
        ("expires_in", Some(json!(1.5e300)), "expires_in"),
        ("expires_at", Some(json!("tomorrow")), "expires_at"),
        ("scopes", Some(json!("read write")), "scopes"),
        ("scopes", Some(json!(["read", 7])), "scopes"),
        ("provider_id", Some(json!("acme\u{0}")), "provider_id"),
        ("scope_mismatch", Some(json!("yes")), "scope_mismatch"),
        (
            "injection_header",
            Some(json!("X-Key\r\nX-Evil")),
            "injection_header",
        ),
        ("injection_header", Some(json!("Host")), "injection_header"),
        (
            "injection_header",
            Some(json!(["Authorization"])),
            "injection_header",
        ),
        (
            "injection_format",
            Some(json!("Bearer")),
            "injection_format",
        ),
        (
            "injection_format",
            Some(json!("Bearer {token}\r\nX: 1")),
            "injection_format",
        ),
        (
            "additional_credentials",
            Some(json!(["a"])),
            "additional_credentials",
        ),
        (
            "additional_credentials",
            Some(json!({"k": "v\r\n"})),
            "additional_credentials",
        ),
        (
            "additional_injections",
            Some(header_rule("body", "k", "token")),
            "additional_injections",
        ),
        (
            "additional_injections",
            Some(header_rule("header", "Bad Key", "token")),
            "additional_injections",
        ),
        (
            "additional_injections",
            Some(header_rule("header", "X-K", "env.HOME")),
            "additional_injections",
        ),
        (
            "additional_injections",
            Some(json!({"target": "header"})),
            "additional_injections",
        ),
        (
            "additional_injections",
            Some(json!([{"target": "header", "key": "X-K", "value_source": "token", "extra": 1}])),
            "malformed",
        ),
        ("token_generation", Some(json!("generation-1")), "malformed"),
    ];
    for (i, (field, value, says)) in cases.iter().enumerate() {
        let body = token_body(&rig.grant, field, value.clone());
        rig.fault(json!({"path_prefix": TOKEN, "status": 200, "body": body}))
            .await;
        let e = rig.request().await.unwrap_err();
        let case = format!("{field} = {value:?}");
        assert_eq!(e.kind(), "BackendError", "{case}: {e:?}");
        assert!(
            e.message().to_lowercase().contains(says),
            "{case}: {}",
            e.message()
        );
        assert!(!e.to_string().contains("tok-from-fault"), "{case}");
        assert_eq!(rig.count(TOKEN).await, i as u64 + 1, "{case}: sent once");
    }
    assert_eq!(rig.count(PROVIDER).await, 0, "no credential left the SDK");
    assert!(rig.api_call_rows().await.is_empty());

    // The same answer with every field valid goes through.
    let body = token_body(&rig.grant, "expires_in", Some(json!(u64::MAX)));
    rig.fault(json!({"path_prefix": TOKEN, "status": 200, "body": body}))
        .await;
    let app = rig.vault.app();
    let r = app
        .request(
            "GET",
            &rig.provider_url(),
            RequestOptions {
                grant_id: Some(rig.grant.clone()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let echo: Value = r.json().unwrap();
    assert_eq!(echo["headers"]["authorization"], "Bearer tok-from-fault");
    app.close().await;
}
