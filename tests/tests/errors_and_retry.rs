//! The errors `/sdk/token` and `/sdk/proxy` map to, the retry policy, the
//! token contract's rejections and lifecycle, against the local vault.

mod common;

use alter_core::{Error, ProxyOptions, ProxyOutcome, RequestOptions, RetryPolicy};
use common::{no_retry, Vault};
use serde_json::json;
use std::time::Duration;

fn by_grant(grant: &str) -> RequestOptions {
    RequestOptions {
        grant_id: Some(grant.to_string()),
        ..Default::default()
    }
}

async fn fail(client: &alter_core::Client, url: &str, o: RequestOptions) -> Error {
    client
        .request("GET", url, o)
        .await
        .expect_err("call must fail")
}

#[tokio::test]
async fn token_path_error_classes() {
    let vault = Vault::start();
    let (agent_id, key) = vault.new_agent("worker").await;
    let (_other_id, _) = vault.new_agent("other").await;
    let agent = vault.agent(&key);
    let url = vault.echo("/x");

    // A grant bound to no agent is invisible to this agent.
    let foreign = vault.bound_secret("acme", "tok", None).await;
    let e = fail(&agent, &url, by_grant(&foreign)).await;
    assert_eq!(e.kind(), "AgentDelegationMissingError");
    assert!(e.is_a("GrantNotFoundError"));
    assert!(e.is_a("BackendError"));
    assert_eq!(e.status_code(), Some(404));

    // The same miss through an App stays a GrantNotFoundError.
    let app = vault.app();
    let e = fail(&app, &url, by_grant("00000000-0000-4000-8000-000000000000")).await;
    assert_eq!(e.kind(), "GrantNotFoundError");

    // Expired, revoked and HITL grants.
    let expired = vault.bound_secret("exp", "tok", Some(&agent_id)).await;
    vault
        .admin
        .update_grant(&expired, json!({"expires_at": "2020-01-01T00:00:00Z"}))
        .await
        .unwrap();
    assert_eq!(
        fail(&agent, &url, by_grant(&expired)).await.kind(),
        "GrantExpiredError"
    );

    let revoked = vault.bound_secret("rev", "tok", Some(&agent_id)).await;
    vault
        .admin
        .update_grant(&revoked, json!({"revoked": true}))
        .await
        .unwrap();
    let e = fail(&agent, &url, by_grant(&revoked)).await;
    assert_eq!(e.kind(), "GrantRevokedError");
    assert!(e.is_a("ReAuthRequiredError"));

    let hitl = vault.bound_secret("hitl", "tok", Some(&agent_id)).await;
    vault
        .admin
        .update_grant(&hitl, json!({"hitl": true}))
        .await
        .unwrap();
    let e = fail(&agent, &url, by_grant(&hitl)).await;
    assert_eq!(e.kind(), "RestrictedGrantRequiresProxyError");
    assert_eq!(e.details()["error"], "hitl_grant_requires_proxy");

    // Provider addressing with nothing delegated.
    let e = fail(
        &agent,
        &url,
        RequestOptions {
            provider: Some("google".into()),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(e.kind(), "NoDelegatedGrantError");
    agent.close().await;
    app.close().await;
}

#[tokio::test]
async fn key_lifecycle_errors() {
    let vault = Vault::start();
    let (agent_id, key) = vault.new_agent("keyed").await;
    let grant = vault.bound_secret("acme", "tok", Some(&agent_id)).await;
    let url = vault.echo("/x");

    // An unknown (well-formed) key.
    let stranger = vault.agent_with(
        &alter_core::keys::generate_key(alter_core::keys::KeyKind::Agent),
        no_retry,
    );
    assert_eq!(
        fail(&stranger, &url, by_grant(&grant)).await.kind(),
        "InvalidKeyError"
    );

    // Paused agent: everything but me() fails with AgentInactiveError.
    let app = vault.app();
    let agent = vault.agent(&key);
    app.agents().suspend(&agent_id).await.unwrap();
    let e = fail(&agent, &url, by_grant(&grant)).await;
    assert_eq!(e.kind(), "AgentInactiveError");
    assert!(e.is_a("AgentError"));
    assert_eq!(e.attributes()["code"], "agent_inactive");
    let me = agent.me().await.expect("me() works while paused");
    assert_eq!(me.status, "inactive");
    assert_eq!(me.name, "keyed");
    app.agents().resume(&agent_id).await.unwrap();
    agent
        .request("GET", &url, by_grant(&grant))
        .await
        .expect("resumed");

    // A revoked key stops authenticating at once.
    let keys = app.agents().list_keys(&agent_id).await.unwrap();
    let key_id = keys.items[0].key_id.clone();
    app.agents()
        .revoke_key(&agent_id, &key_id, true)
        .await
        .unwrap();
    let e = fail(&agent, &url, by_grant(&grant)).await;
    assert_eq!(e.kind(), "KeyRevokedError");
    agent.close().await;
    app.close().await;
}

#[tokio::test]
async fn retries_a_503_then_succeeds() {
    let vault = Vault::start();
    let app = vault.app();
    let grant = vault.bound_secret("acme", "tok", None).await;
    vault
        .admin
        .add_fault(json!({"path_prefix": "/sdk/token", "count": 1, "status": 503}))
        .await
        .unwrap();
    let r = app
        .request("GET", &vault.echo("/x"), by_grant(&grant))
        .await
        .unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.backend_attempts, 2);
    app.close().await;
}

#[tokio::test]
async fn honours_retry_after_on_429() {
    let vault = Vault::start();
    let app = vault.app();
    let grant = vault.bound_secret("acme", "tok", None).await;
    vault
        .admin
        .add_fault(json!({"path_prefix": "/sdk/token", "count": 1, "status": 429, "retry_after": 1,
                          "body": {"detail": {"error": "rate_limit_exceeded", "message": "slow down"}}}))
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let r = app
        .request("GET", &vault.echo("/x"), by_grant(&grant))
        .await
        .unwrap();
    assert_eq!(r.backend_attempts, 2);
    // The wait honoured the server's Retry-After rather than the short backoff.
    assert!(started.elapsed() >= Duration::from_secs(1));
    app.close().await;
}

#[tokio::test]
async fn rate_limit_error_when_retries_are_disabled_or_exhausted() {
    let vault = Vault::start();
    let app = vault.app_with(no_retry);
    let grant = vault.bound_secret("acme", "tok", None).await;
    vault
        .admin
        .add_fault(json!({"path_prefix": "/sdk/token", "count": 1, "status": 429, "retry_after": 7,
                          "body": {"detail": {"error": "rate_limit_exceeded", "message": "slow down", "scope": "api_key", "limit": 60, "window_seconds": 60}}}))
        .await
        .unwrap();
    let e = fail(&app, &vault.echo("/x"), by_grant(&grant)).await;
    assert_eq!(e.kind(), "RateLimitError");
    assert_eq!(e.retry_after(), Some(7));
    assert_eq!(e.attributes()["scope"], "api_key");

    // A Retry-After beyond the policy's cap is returned, not waited for.
    let app2 = vault.app();
    vault
        .admin
        .add_fault(
            json!({"path_prefix": "/sdk/token", "count": 1, "status": 429, "retry_after": 3600,
                          "body": {"detail": {"error": "rate_limit_exceeded"}}}),
        )
        .await
        .unwrap();
    let e = fail(&app2, &vault.echo("/x"), by_grant(&grant)).await;
    assert_eq!(e.kind(), "RateLimitError");
    assert_eq!(e.retry_after(), Some(3600));
    app.close().await;
    app2.close().await;
}

#[tokio::test]
async fn connect_failures_are_retried_then_reported() {
    // A port that was just free: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let app = alter_core::App::new(alter_core::ClientOptions {
        api_key: alter_core::keys::generate_key(alter_core::keys::KeyKind::Runtime),
        base_url: Some(format!("http://127.0.0.1:{port}")),
        retry: Some(RetryPolicy {
            initial_backoff: Duration::from_millis(1),
            ..RetryPolicy::default()
        }),
        warnings: Some(std::sync::Arc::new(|_: &str| {})),
        ..Default::default()
    })
    .unwrap();
    let e = app
        .request(
            "GET",
            "https://api.example.com/x",
            by_grant("00000000-0000-4000-8000-000000000000"),
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind(), "NetworkError");
    assert!(
        e.message()
            .starts_with("Failed to connect to Alter Vault backend"),
        "{}",
        e.message()
    );
    assert_eq!(e.details()["attempts"], 3);
    assert_eq!(e.details()["base_url"], format!("http://127.0.0.1:{port}"));
}

#[tokio::test]
async fn provider_503_is_never_retried_and_proxy_not_repeated_after_502() {
    let vault = Vault::start();
    let app = vault.app();
    let grant = vault.bound_secret("acme", "tok", None).await;
    let e = fail(
        &app,
        &format!("{}/_provider/status/503", vault.base_url()),
        by_grant(&grant),
    )
    .await;
    assert_eq!(e.kind(), "ProviderAPIError");
    app.close().await;
    let calls = vault
        .audit()
        .await
        .into_iter()
        .filter(|e| e["kind"] == "api_call")
        .count();
    assert_eq!(calls, 1, "the provider was called exactly once");

    // /sdk/proxy after a 502: the provider call may have run; not repeated.
    let app = vault.app();
    vault
        .admin
        .add_fault(json!({"path_prefix": "/sdk/proxy", "count": 1, "status": 502}))
        .await
        .unwrap();
    let e = app
        .proxy_request(
            "GET",
            &vault.echo("/p"),
            ProxyOptions {
                grant_id: Some(grant.clone()),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind(), "BackendError");
    assert_eq!(e.status_code(), Some(502));
    // ...while the same 502 on the token fetch (safe to repeat) is retried.
    vault
        .admin
        .add_fault(json!({"path_prefix": "/sdk/token", "count": 1, "status": 502}))
        .await
        .unwrap();
    let r = app
        .request("GET", &vault.echo("/x"), by_grant(&grant))
        .await
        .unwrap();
    assert_eq!(r.backend_attempts, 2);
    app.close().await;
}

#[tokio::test]
async fn token_contract_rejections_never_call_the_provider() {
    let vault = Vault::start();
    let app = vault.app_with(no_retry);
    let grant = vault.bound_secret("acme", "tok", None).await;
    let good =
        json!({"access_token": "secret-token-value", "grant_id": grant, "token_type": "Bearer"});
    let cases = [
        (
            json!({"grant_id": grant}),
            "Backend returned a malformed token response",
        ),
        (
            {
                let mut v = good.clone();
                v["access_token"] = "a\r\nb".into();
                v
            },
            "Backend returned an invalid access_token",
        ),
        (
            {
                let mut v = good.clone();
                v["grant_id"] = grant.to_uppercase().into();
                v
            },
            "Backend returned a non-canonical grant_id",
        ),
        (
            {
                let mut v = good.clone();
                v["injection_header"] = "Host".into();
                v
            },
            "Backend returned an invalid injection_header",
        ),
        (
            {
                let mut v = good.clone();
                v["expires_in"] = json!(1.5);
                v
            },
            "Backend returned an invalid expires_in",
        ),
    ];
    for (body, message) in cases {
        vault
            .admin
            .add_fault(
                json!({"path_prefix": "/sdk/token", "count": 1, "status": 200, "body": body}),
            )
            .await
            .unwrap();
        let e = fail(&app, &vault.echo("/x"), by_grant(&grant)).await;
        assert_eq!(e.kind(), "BackendError");
        assert_eq!(e.message(), message);
        assert!(!format!("{e:?}").contains("secret-token-value"));
    }
    app.close().await;
    assert!(
        vault.audit().await.iter().all(|e| e["kind"] != "api_call"),
        "no provider call, so no audit row"
    );
}

#[tokio::test]
async fn proxy_mode_with_approval() {
    let vault = Vault::start();
    let app = vault.app();
    let grant = vault.bound_secret("acme", "proxy-secret", None).await;

    // A plain grant runs at once and the credential never reaches us.
    let out = app
        .proxy_request(
            "POST",
            &vault.echo("/transfer"),
            ProxyOptions {
                grant_id: Some(grant.clone()),
                json: Some(json!({"amount": 1000})),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let ProxyOutcome::Result(r) = out else {
        panic!("expected a result")
    };
    assert_eq!(r.status_code, 200);
    let echo = r.body_json().unwrap();
    assert_eq!(echo["headers"]["authorization"], "Bearer proxy-secret");

    // A HITL grant waits for a human.
    vault
        .admin
        .update_grant(&grant, json!({"hitl": true}))
        .await
        .unwrap();
    let pending = |reason: &'static str| {
        let app = app.clone();
        let grant = grant.clone();
        let url = vault.echo("/transfer");
        async move {
            match app
                .proxy_request(
                    "POST",
                    &url,
                    ProxyOptions {
                        grant_id: Some(grant),
                        json: Some(json!({"amount": 5})),
                        reason: Some(reason.into()),
                        ..Default::default()
                    },
                )
                .await
                .unwrap()
            {
                ProxyOutcome::Pending(p) => p,
                other => panic!("expected pending, got {other:?}"),
            }
        }
    };
    let p = pending("payout").await;
    assert_eq!(p.status, "pending");
    let status = app.get_approval_status(&p.approval_id, 0.0).await.unwrap();
    assert_eq!(status.status, "pending");
    assert!(!status.is_terminal());

    let waiter = {
        let app = app.clone();
        let id = p.approval_id.clone();
        tokio::spawn(async move { app.await_approval(&id, 30.0, 0.05).await })
    };
    vault
        .admin
        .decide(&p.approval_id, "approve", None)
        .await
        .unwrap();
    let result = waiter.await.unwrap().expect("approved result");
    assert_eq!(result.status_code, 200);
    assert_eq!(result.approval_id.as_deref(), Some(p.approval_id.as_str()));
    assert_eq!(result.body_json().unwrap()["body"], "{\"amount\":5}");

    let p2 = pending("second").await;
    vault
        .admin
        .decide(&p2.approval_id, "deny", Some("not today"))
        .await
        .unwrap();
    let e = app
        .await_approval(&p2.approval_id, 30.0, 0.05)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), "ApprovalDeniedError");
    assert_eq!(e.message(), "not today");
    assert_eq!(e.approval_id(), Some(p2.approval_id.as_str()));

    let p3 = pending("third").await;
    let e = app
        .await_approval(&p3.approval_id, 0.0, 1.0)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), "ApprovalTimeoutError");
    app.close().await;
}

#[tokio::test]
async fn closed_clients_refuse_before_any_io() {
    let vault = Vault::start();
    let app = vault.app();
    app.close().await;
    app.close().await; // idempotent
    let e = fail(
        &app,
        &vault.echo("/x"),
        by_grant("00000000-0000-4000-8000-000000000000"),
    )
    .await;
    assert_eq!(e.kind(), "AlterSDKError");
    assert_eq!(
        e.message(),
        "SDK instance has been closed. Create a new SDK client (App / Agent) to make requests."
    );
}
