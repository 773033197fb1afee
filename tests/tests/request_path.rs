//! Retrieve mode end to end: the core against the local vault, over real
//! HTTP on loopback.

mod common;

use alter_core::{RequestOptions, Response};
use common::Vault;
use serde_json::{json, Value};

fn echo_of(r: &Response) -> Value {
    r.json().expect("echo JSON")
}

#[tokio::test]
async fn guide_flow_agent_calls_provider_with_injected_credential() {
    let vault = Vault::start();
    let (agent_id, agent_key) = vault.new_agent("research-bot").await;
    let secret = "sk-ant-local-test-credential-123";
    let grant = vault
        .bound_secret("anthropic", secret, Some(&agent_id))
        .await;

    let agent = vault.agent(&agent_key);
    let resp = agent
        .request(
            "POST",
            &vault.echo("/v1/messages"),
            RequestOptions {
                grant_id: Some(grant.clone()),
                json: Some(json!({"model": "claude", "max_tokens": 1024, "messages": [{"role": "user", "content": "Say hello."}]})),
                reason: Some("guide".into()),
                ..Default::default()
            },
        )
        .await
        .expect("request succeeds");
    assert_eq!(resp.status, 200);
    let echo = echo_of(&resp);
    assert_eq!(echo["method"], "POST");
    assert_eq!(echo["path"], "/_provider/echo/v1/messages");
    assert_eq!(echo["headers"]["authorization"], format!("Bearer {secret}"));
    let sent: Value = serde_json::from_str(echo["body"].as_str().unwrap()).unwrap();
    assert_eq!(sent["max_tokens"], 1024);
    // The provider call carries no Alter header and no API key.
    for name in echo["headers"].as_object().unwrap().keys() {
        assert!(!name.starts_with("x-alter"), "leaked {name}");
        assert_ne!(name, "x-api-key");
    }
    assert_eq!(resp.backend_attempts, 1);

    agent.close().await; // waits for the background audit post
    let audit = vault.audit().await;
    let row = audit
        .iter()
        .find(|e| e["kind"] == "api_call")
        .expect("an api_call audit row");
    assert_eq!(row["agent_id"], agent_id.as_str());
    assert_eq!(row["grant_id"], grant.as_str());
    assert_eq!(row["status"], 200);
    assert_eq!(row["reason"], "guide");
    let whole = serde_json::to_string(&audit).unwrap();
    assert!(!whole.contains(secret), "credential reached the audit log");
    assert!(!whole.contains(&agent_key), "API key reached the audit log");
}

#[tokio::test]
async fn path_params_query_and_custom_headers_reach_the_provider() {
    let vault = Vault::start();
    let app = vault.app();
    let grant = vault.bound_secret("acme", "tok-1", None).await;
    let resp = app
        .request(
            "get",
            &vault.echo("/items/{id}"),
            RequestOptions {
                grant_id: Some(grant),
                path_params: vec![("id".into(), "a/b c".into())],
                query_params: Some(vec![
                    ("q".into(), alter_core::QueryValue::Str("x y".into())),
                    ("n".into(), alter_core::QueryValue::Int(3)),
                ]),
                headers: vec![("X-Custom".into(), "v".into())],
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let echo = echo_of(&resp);
    assert_eq!(echo["method"], "GET");
    assert_eq!(echo["path"], "/_provider/echo/items/a%2Fb%20c");
    assert_eq!(echo["query"], "q=x+y&n=3");
    assert_eq!(echo["headers"]["x-custom"], "v");
    assert_eq!(echo["headers"]["authorization"], "Bearer tok-1");
    assert!(resp.url.ends_with("/items/a%2Fb%20c"));
    app.close().await;
}

#[tokio::test]
async fn redirects_from_the_provider_are_not_followed() {
    let vault = Vault::start();
    let app = vault.app();
    let grant = vault.bound_secret("acme", "tok-1", None).await;
    let resp = app
        .request(
            "GET",
            &format!("{}/_provider/redirect", vault.base_url()),
            RequestOptions {
                grant_id: Some(grant),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(resp.status, 302);
    assert_eq!(resp.header("location"), Some("/_provider/echo/redirected"));
    app.close().await;
}

#[tokio::test]
async fn provider_errors_map_to_typed_errors_and_are_still_audited() {
    let vault = Vault::start();
    let app = vault.app();
    let grant = vault.bound_secret("acme", "tok-1", None).await;
    let call = |path: &str| {
        let url = format!("{}/_provider/status/{path}", vault.base_url());
        let app = app.clone();
        let grant = grant.clone();
        async move {
            app.request(
                "GET",
                &url,
                RequestOptions {
                    grant_id: Some(grant),
                    ..Default::default()
                },
            )
            .await
            .unwrap_err()
        }
    };
    let e = call("503").await;
    assert_eq!(e.kind(), "ProviderAPIError");
    assert_eq!(e.status_code(), Some(503));
    assert_eq!(e.message(), "Provider API returned error 503");

    let e = call("401").await;
    assert_eq!(e.kind(), "ProviderUnauthorizedError");
    assert!(e.is_a("ProviderAPIError"));

    let e = call(
        "403?www_authenticate=Bearer%20error%3D%22insufficient_scope%22%2C%20scope%3D%22a%20b%22",
    )
    .await;
    assert_eq!(e.kind(), "ScopeReauthRequiredError");
    assert_eq!(e.attributes()["missing_scopes"], json!(["a", "b"]));
    assert_eq!(e.details()["source"], "provider_insufficient_scope");

    app.close().await;
    let audit = vault.audit().await;
    let statuses: Vec<i64> = audit
        .iter()
        .filter(|e| e["kind"] == "api_call")
        .filter_map(|e| e["status"].as_i64())
        .collect();
    assert_eq!(
        statuses.len(),
        3,
        "every provider exchange is audited: {audit:?}"
    );
    for s in [503, 401, 403] {
        assert!(statuses.contains(&s));
    }
}

#[tokio::test]
async fn context_and_trace_reach_the_audit_row() {
    let vault = Vault::start();
    let (agent_id, key) = vault.new_agent("tracer").await;
    let grant = vault.bound_secret("acme", "tok-1", Some(&agent_id)).await;
    let agent = vault.agent(&key);
    let ctx = vec![
        ("run_id".to_string(), "run_abc".to_string()),
        ("role".to_string(), "research".to_string()),
    ];
    alter_core::context::with_ambient(ctx, async {
        agent
            .request(
                "GET",
                &vault.echo("/x"),
                RequestOptions {
                    grant_id: Some(grant.clone()),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
    })
    .await;
    agent.close().await;
    let audit = vault.audit().await;
    let row = audit.iter().find(|e| e["kind"] == "api_call").unwrap();
    assert_eq!(row["context"]["run_id"], "run_abc");
    assert_eq!(row["context"]["role"], "research");
}

#[tokio::test]
async fn a_provider_transport_failure_after_injection_leaks_nothing() {
    // The credential is in the provider request when the connection fails:
    // neither the error nor the audit row of the failed call may carry it.
    let vault = Vault::start();
    let secret = "sk-local-secret-that-must-not-leak-42";
    let grant = vault.bound_secret("acme", secret, None).await;
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    }; // dropped: nothing listens there now
    let app = vault.app();
    let e = app
        .request(
            "GET",
            &format!("http://127.0.0.1:{closed}/v1/items"),
            RequestOptions {
                grant_id: Some(grant.clone()),
                ..Default::default()
            },
        )
        .await
        .expect_err("nothing listens on the provider port");
    for text in [
        format!("{e:?}"),
        e.to_string(),
        format!("{:?}", e.attributes()),
    ] {
        assert!(!text.contains(secret), "credential in the error: {text}");
    }
    app.close().await; // flushes the audit row of the failed call
    let audit = vault.audit().await;
    let row = audit
        .iter()
        .find(|r| r["kind"] == "api_call" && r["grant_id"] == grant.as_str())
        .expect("the failed call is audited");
    assert_eq!(row["status"], 0, "no provider status: transport failure");
    let whole = serde_json::to_string(&audit).unwrap();
    assert!(!whole.contains(secret), "credential reached the audit log");
}
