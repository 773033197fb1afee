//! The happy paths, end to end against an in-process server: an operator
//! sets up an agent and its secrets, the agent retrieves and proxies, the
//! audit names who did what.

mod common;

use alter_core::token::parse_token_response;
use base64::Engine;
use common::{create_agent, echo_url, start, Client, Req};
use serde_json::{json, Value};

fn is_canonical_uuid(s: &str) -> bool {
    uuid::Uuid::parse_str(s).is_ok_and(|u| u.to_string() == s)
}

#[tokio::test]
async fn agent_retrieves_a_managed_secret_and_the_audit_names_it() {
    let (server, admin) = start();
    let info = server.info().clone();
    let app = Client::new(&info.base_url, &info.app_api_key);
    let (agent_id, agent_key) = create_agent(&app, "billing-bot").await;
    let agent = Client::new(&info.base_url, &agent_key);

    let ms = admin
        .create_managed_secret(json!({
            "slug": "echo-api",
            "credential": "sk-live-123456",
            "injection_header": "X-Api-Key",
            "injection_format": "{token}",
        }))
        .await
        .unwrap();
    let grant = admin
        .managed_secret_grant(&ms, Some(&agent_id), "prod")
        .await
        .unwrap();

    let url = echo_url(&info.base_url);
    let context = r#"{"run":"r-1","tool":"sync"}"#;
    let mut req = Req::new("POST", "/sdk/token").json(&json!({
        "grant_id": grant,
        "reason": "nightly sync",
        "request": {"method": "GET", "url": url},
    }));
    req.context = Some(context.into());
    let r = agent.send(req.clone()).await;
    assert_eq!(r.status, 200, "{r:?}");
    // Every field passes the SDK's own token contract.
    let token = parse_token_response(r.body.to_string().as_bytes(), Some(&grant)).unwrap();
    assert_eq!(token.access_token(), "sk-live-123456");
    assert_eq!(token.grant_id, grant);
    assert_eq!(token.provider_id, "echo-api");
    assert_eq!(token.injection_header, "X-Api-Key");
    assert_eq!(token.header_value().as_str(), "sk-live-123456");
    let actor = r.header("x-alter-actor-id").unwrap().to_string();
    assert!(is_canonical_uuid(&actor));
    // The actor id is stable for the agent.
    let again = agent.send(req).await;
    assert_eq!(again.header("x-alter-actor-id"), Some(actor.as_str()));

    // Provider mode finds the same grant by slug.
    let by_provider = agent
        .post(
            "/sdk/token",
            &json!({"provider_id": "echo-api", "reason": null, "request": {"method": "GET", "url": url}}),
        )
        .await;
    assert_eq!(by_provider.body["grant_id"], json!(grant));

    // The credential works against the provider.
    let echoed = reqwest::Client::new()
        .get(&url)
        .header(
            token.injection_header.as_str(),
            token.header_value().as_str(),
        )
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let echoed: Value = serde_json::from_slice(&echoed).unwrap();
    assert_eq!(echoed["headers"]["x-api-key"], "sk-live-123456");

    // The SDK's audit report is accepted...
    let mut report = Req::new("POST", "/sdk/oauth/audit/api-call").json(&json!({
        "grant_id": grant,
        "provider_id": "echo-api",
        "token_generation": null,
        "method": "GET",
        "url": url,
        "request_headers": {"X-Api-Key": "sk-live-123456", "User-Agent": "t", "X-Trace": "sk-live-123456 leaked"},
        "request_body": null,
        "response_status": 200,
        "response_headers": {"content-type": "application/json"},
        "response_body": "{\"ok\":true}",
        "latency_ms": 7,
        "reason": "nightly sync",
        "context": {"run": "r-1", "tool": "sync"},
    }));
    report.context = Some(context.into());
    let r = agent.send(report).await;
    assert_eq!(r.status, 204, "{r:?}");

    // ...and the operator's audit names the agent, with no credential.
    let events = admin.audit().await.unwrap();
    let api_call = events
        .iter()
        .find(|e| e["kind"] == "api_call")
        .expect("api_call row");
    assert_eq!(api_call["agent_id"], json!(agent_id));
    assert_eq!(api_call["actor_id"], json!(actor));
    assert_eq!(api_call["grant_id"], json!(grant));
    assert_eq!(api_call["provider_id"], "echo-api");
    assert_eq!(api_call["status"], 200);
    assert_eq!(api_call["context"]["run"], "r-1");
    assert!(api_call["request_headers"].get("X-Api-Key").is_none());
    let token_rows = events.iter().filter(|e| e["kind"] == "token").count();
    assert_eq!(token_rows, 3);
    let all = serde_json::to_string(&events).unwrap();
    assert!(!all.contains("sk-live-123456"), "credential leaked: {all}");
    server.stop();
}

#[tokio::test]
async fn oauth_grants_for_users_and_delegated_agents() {
    let (server, admin) = start();
    let info = server.info().clone();
    let app = Client::new(&info.base_url, &info.app_api_key);
    let (agent_id, agent_key) = create_agent(&app, "calendar-bot").await;
    let agent = Client::new(&info.base_url, &agent_key);
    let alice = admin.create_user("alice@example.com").await.unwrap();
    let bob = admin.create_user("bob@example.com").await.unwrap();
    let grant = admin
        .create_oauth_grant(json!({
            "user_id": alice.user_id,
            "provider_id": "google",
            "access_token": "ya29.alice",
            "scopes": ["calendar.readonly"],
            "account": "alice@example.com",
            "agent_id": agent_id,
        }))
        .await
        .unwrap();
    let delegation = grant.delegation_grant_id.clone().unwrap();
    let request = json!({"method": "GET", "url": "https://www.googleapis.com/calendar/v3/x"});

    // The user's grant, addressed with the user's token.
    let r = app
        .post(
            "/sdk/token",
            &json!({"grant_id": grant.grant_id, "reason": null, "request": request, "user_token": alice.user_token}),
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    let t = parse_token_response(r.body.to_string().as_bytes(), None).unwrap();
    assert_eq!(t.access_token(), "ya29.alice");
    assert_eq!(t.scopes, vec!["calendar.readonly"]);
    assert!(t.token_generation.is_some());
    assert_eq!(t.injection_format, "Bearer {token}");

    // Another user's token cannot reach it.
    app.post(
        "/sdk/token",
        &json!({"grant_id": grant.grant_id, "reason": null, "request": request, "user_token": bob.user_token}),
    )
    .await
    .expect(404, "grant_not_found");
    // A forged token is refused.
    app.post(
        "/sdk/token",
        &json!({"grant_id": grant.grant_id, "reason": null, "request": request, "user_token": "a.b.c"}),
    )
    .await
    .expect(401, "jwt_validation_error");

    // The agent reaches it through its delegation, by provider.
    let r = agent
        .post(
            "/sdk/token",
            &json!({"provider_id": "google", "reason": null, "request": request}),
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["grant_id"], json!(delegation));
    // An agent with no delegation for a provider.
    agent
        .post(
            "/sdk/token",
            &json!({"provider_id": "slack", "reason": null, "request": request}),
        )
        .await
        .expect(404, "no_delegated_grant");

    // The agent lists what it holds; the operator lists OAuth grants.
    let listed = agent
        .post("/sdk/grants/list", &json!({"limit": 100, "offset": 0}))
        .await;
    assert_eq!(listed.status, 200, "{listed:?}");
    assert_eq!(listed.body["total"], 1);
    assert_eq!(listed.body["grants"][0]["grant_id"], json!(delegation));
    assert_eq!(listed.body["grants"][0]["access_via"], "oauth_delegation");
    let listed = app
        .post("/sdk/grants/list", &json!({"limit": 100, "offset": 0}))
        .await;
    assert_eq!(listed.body["total"], 2);
    server.stop();
}

#[tokio::test]
async fn proxy_injects_server_side_and_never_follows_redirects() {
    let (server, admin) = start();
    let info = server.info().clone();
    let app = Client::new(&info.base_url, &info.app_api_key);
    let ms = admin
        .create_managed_secret(json!({
            "slug": "acme",
            "credential": "acme-secret-999",
            "injection_header": "X-Api-Key",
            "injection_format": "{token}",
            "additional_credentials": {"account_id": "AC123"},
            "additional_injections": [
                {"target": "header", "key": "X-Account-Id", "value_source": "additional_credentials.account_id"},
                {"target": "query_param", "key": "api_key", "value_source": "token"}
            ],
        }))
        .await
        .unwrap();
    let grant = admin
        .managed_secret_grant(&ms, None, "system")
        .await
        .unwrap();
    let url = echo_url(&info.base_url);
    let r = app
        .post(
            "/sdk/proxy",
            &json!({
                "method": "post",
                "url": format!("{url}?keep=1"),
                "grant_id": grant,
                "body": {"a": [1, "é"]},
                "headers": {"X-Custom": "yes"},
                "query_params": {"q": ["1", "2"]},
                "reason": "test",
            }),
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert!(r.body["approval_id"].is_null());
    assert_eq!(r.body["status_code"], 200);
    let body = base64::engine::general_purpose::STANDARD
        .decode(r.body["body_b64"].as_str().unwrap())
        .unwrap();
    let echoed: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(echoed["method"], "POST");
    assert_eq!(echoed["headers"]["x-api-key"], "acme-secret-999");
    assert_eq!(echoed["headers"]["x-account-id"], "AC123");
    assert_eq!(echoed["headers"]["x-custom"], "yes");
    assert_eq!(echoed["query"], "keep=1&q=1&q=2&api_key=acme-secret-999");
    assert_eq!(
        serde_json::from_str::<Value>(echoed["body"].as_str().unwrap()).unwrap(),
        json!({"a": [1, "é"]})
    );

    // Redirects are captured, not followed.
    let r = app
        .post(
            "/sdk/proxy",
            &json!({"method": "GET", "url": format!("{}/_provider/redirect", info.base_url), "grant_id": grant}),
        )
        .await;
    assert_eq!(r.body["status_code"], 302, "{r:?}");
    assert_eq!(r.body["headers"]["location"], "/_provider/echo/redirected");

    // Provider errors are wrapped in a 200 result.
    let r = app
        .post(
            "/sdk/proxy",
            &json!({"method": "GET", "url": format!("{}/_provider/status/503", info.base_url), "grant_id": grant}),
        )
        .await;
    assert_eq!((r.status, r.body["status_code"].as_u64()), (200, Some(503)));

    // Reserved headers and non-loopback http are refused.
    app.post(
        "/sdk/proxy",
        &json!({"method": "GET", "url": url, "grant_id": grant, "headers": {"Authorization": "x"}}),
    )
    .await
    .expect(422, "reserved_header");
    let r = app
        .post(
            "/sdk/proxy",
            &json!({"method": "GET", "url": "http://example.com/", "grant_id": grant}),
        )
        .await;
    r.expect(422, "blocked_destination");
    assert!(r.header("x-request-id").is_some());

    let events = admin.audit().await.unwrap();
    let proxied: Vec<&Value> = events.iter().filter(|e| e["kind"] == "proxy").collect();
    assert_eq!(proxied.len(), 3);
    assert_eq!(
        proxied[0]["request_headers"],
        json!({"X-Custom": "yes", "User-Agent": concat!("alter-dev/", env!("CARGO_PKG_VERSION"))})
    );
    let all = serde_json::to_string(&events).unwrap();
    assert!(!all.contains("acme-secret-999"), "credential leaked: {all}");
    server.stop();
}

#[tokio::test]
async fn hitl_proxy_waits_for_approval_then_executes() {
    let (server, admin) = start();
    let info = server.info().clone();
    let app = Client::new(&info.base_url, &info.app_api_key);
    let (agent_id, agent_key) = create_agent(&app, "payments").await;
    let agent = Client::new(&info.base_url, &agent_key);
    let ms = admin.managed_secret("stripe", "sk-hitl-1").await.unwrap();
    let grant = admin
        .create_managed_secret_grant(
            &ms,
            json!({"agent_id": agent_id, "label": "prod", "hitl": true}),
        )
        .await
        .unwrap();
    let url = echo_url(&info.base_url);

    // Retrieve mode is refused for HITL grants.
    agent
        .post(
            "/sdk/token",
            &json!({"grant_id": grant, "reason": null, "request": {"method": "POST", "url": url}}),
        )
        .await
        .expect(400, "hitl_grant_requires_proxy");

    // Proxy mode answers 202 with a pending approval.
    let r = agent
        .post(
            "/sdk/proxy",
            &json!({"method": "POST", "url": url, "grant_id": grant, "body": {"amount": 5}, "reason": "refund"}),
        )
        .await;
    assert_eq!(r.status, 202, "{r:?}");
    assert_eq!(r.body["status"], "pending");
    let id = r.body["approval_id"].as_str().unwrap().to_string();
    assert_eq!(r.body["gates"][0]["approval_id"], json!(id));
    assert!(r.body["expires_in"].as_i64().unwrap() > 0);

    let status = agent.get(&format!("/sdk/approvals/{id}")).await;
    assert_eq!(
        (status.status, status.body["status"].as_str()),
        (200, Some("pending"))
    );
    assert_eq!(status.body["has_result"], false);
    agent
        .get(&format!("/sdk/approvals/{id}/result"))
        .await
        .expect(409, "approval_result_not_ready");
    agent
        .get(&format!("/sdk/approvals/{id}?wait=26"))
        .await
        .expect(422, "validation_error");

    // A held long poll is woken by the decision.
    let poller = agent.clone();
    let target = format!("/sdk/approvals/{id}?wait=25");
    let started = std::time::Instant::now();
    let poll = tokio::spawn(async move { poller.get(&target).await });
    // Decide only once the poll is parked on the server (a bounded wait on
    // that condition, reported by /_dev/health).
    loop {
        let health = admin.health().await.unwrap();
        if health["held_long_polls"] == 1 {
            break;
        }
        assert!(started.elapsed().as_secs() < 10, "poll never parked");
        tokio::task::yield_now().await;
    }
    let decided = admin.decide(&id, "approve", Some("ok")).await.unwrap();
    assert_eq!(decided["status"], "executed");
    assert_eq!(decided["has_result"], true);
    let woke = poll.await.unwrap();
    assert_eq!(woke.status, 200);
    assert_ne!(woke.body["status"], "pending");
    assert!(started.elapsed().as_secs() < 20, "long poll was not woken");

    let status = agent.get(&format!("/sdk/approvals/{id}")).await;
    assert_eq!(status.body["status"], "executed");
    let result = agent.get(&format!("/sdk/approvals/{id}/result")).await;
    assert_eq!(result.status, 200, "{result:?}");
    assert_eq!(result.body["approval_id"], json!(id));
    assert_eq!(result.body["status_code"], 200);
    let body = base64::engine::general_purpose::STANDARD
        .decode(result.body["body_b64"].as_str().unwrap())
        .unwrap();
    let echoed: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(echoed["headers"]["authorization"], "Bearer sk-hitl-1");
    assert_eq!(echoed["body"], r#"{"amount":5}"#);

    // A denied approval.
    let r = agent
        .post(
            "/sdk/proxy",
            &json!({"method": "DELETE", "url": url, "grant_id": grant}),
        )
        .await;
    let id2 = r.body["approval_id"].as_str().unwrap().to_string();
    admin.decide(&id2, "deny", Some("no")).await.unwrap();
    agent
        .get(&format!("/sdk/approvals/{id2}/result"))
        .await
        .expect(403, "approval_denied");
    let st = agent.get(&format!("/sdk/approvals/{id2}")).await;
    assert_eq!(
        (
            st.body["status"].as_str(),
            st.body["decision_reason"].as_str()
        ),
        (Some("denied"), Some("no"))
    );

    // Another agent cannot see these approvals.
    let (_, other_key) = create_agent(&app, "other").await;
    Client::new(&info.base_url, &other_key)
        .get(&format!("/sdk/approvals/{id}"))
        .await
        .expect(404, "approval_not_found");
    server.stop();
}

#[tokio::test]
async fn agents_management_routes() {
    let (server, _admin) = start();
    let info = server.info().clone();
    let app = Client::new(&info.base_url, &info.app_api_key);

    // Create with an Idempotency-Key; a replay returns the same agent
    // without a key, a different body conflicts.
    let mut req = Req::new("POST", "/sdk/agents")
        .json(&json!({"name": "research-bot", "scopes": {"google": ["calendar.readonly"]}}));
    req.headers.push(("Idempotency-Key".into(), "k-1".into()));
    let created = app.send(req.clone()).await;
    assert_eq!(created.status, 201, "{created:?}");
    let id = created.body["id"].as_str().unwrap().to_string();
    assert!(created.body["api_key"]
        .as_str()
        .unwrap()
        .starts_with("alter_key_"));
    assert!(alter_core::keys::is_valid_key(
        created.body["api_key"].as_str().unwrap()
    ));
    assert_eq!(created.body["status"], "active");
    assert_eq!(created.body["version"], 1);
    let replay = app.send(req.clone()).await;
    assert_eq!(replay.status, 200);
    assert_eq!(replay.body["id"], json!(id));
    assert!(replay.body["api_key"].is_null());
    assert_eq!(replay.body["key_id"], created.body["key_id"]);
    let mut other = Req::new("POST", "/sdk/agents").json(&json!({"name": "research-bot-2"}));
    other.headers.push(("Idempotency-Key".into(), "k-1".into()));
    app.send(other)
        .await
        .expect(409, "idempotency_key_body_mismatch");
    app.post("/sdk/agents", &json!({"name": "research-bot"}))
        .await
        .expect(409, "agent_name_exists");
    app.post("/sdk/agents", &json!({"name": "Bad Name"}))
        .await
        .expect(422, "validation_error");

    // Get, list, by name.
    let got = app.get(&format!("/sdk/agents/{id}")).await;
    assert_eq!(got.body["name"], "research-bot");
    let listed = app
        .get("/sdk/agents?include_revoked=false&limit=10&offset=0")
        .await;
    assert_eq!(
        (
            listed.body["total"].as_u64(),
            listed.body["has_more"].as_bool()
        ),
        (Some(1), Some(false))
    );
    let by_name = app.get("/sdk/agents?name=research-bot").await;
    assert_eq!(by_name.body["items"][0]["id"], json!(id));
    let none = app.get("/sdk/agents?name=nobody").await;
    assert_eq!(none.body["items"], json!([]));
    app.get("/sdk/agents/00000000-0000-0000-0000-000000000000")
        .await
        .expect(404, "agent_not_found");

    // Suspend and resume bump the version; a no-op does not.
    let paused = app
        .patch(&format!("/sdk/agents/{id}"), &json!({"status": "inactive"}))
        .await;
    assert_eq!(
        (
            paused.body["status"].as_str(),
            paused.body["version"].as_u64()
        ),
        (Some("inactive"), Some(2))
    );
    let same = app.patch(&format!("/sdk/agents/{id}"), &json!({})).await;
    assert_eq!(same.body["version"], 2);
    let resumed = app
        .patch(&format!("/sdk/agents/{id}"), &json!({"status": "active"}))
        .await;
    assert_eq!(resumed.body["status"], "active");
    app.patch(
        &format!("/sdk/agents/{id}?expected_version=1"),
        &json!({"display_name": "R"}),
    )
    .await
    .expect(409, "agent_concurrent_update");

    // Keys: mint, list, last-key protection, force.
    let minted = app
        .post(&format!("/sdk/agents/{id}/keys"), &json!({}))
        .await;
    assert_eq!(minted.status, 201, "{minted:?}");
    assert_eq!(minted.body["name"], "research-bot-2");
    let new_key = minted.body["api_key"].as_str().unwrap().to_string();
    let keys = app.get(&format!("/sdk/agents/{id}/keys")).await;
    let items = keys.body["items"].as_array().unwrap().clone();
    assert_eq!(items.len(), 2);
    assert!(items.iter().all(|k| k.get("api_key").is_none()));
    let first = items[0]["key_id"].as_str().unwrap().to_string();
    let second = items[1]["key_id"].as_str().unwrap().to_string();
    let revoked = app.delete(&format!("/sdk/agents/{id}/keys/{first}")).await;
    assert!(revoked.body["revoked_at"].is_string(), "{revoked:?}");
    app.delete(&format!("/sdk/agents/{id}/keys/{second}"))
        .await
        .expect(409, "last_active_key");
    // The remaining key works for its agent.
    let me = Client::new(&info.base_url, &new_key)
        .get("/sdk/agents/me")
        .await;
    assert_eq!(me.body["id"], json!(id));
    let forced = app
        .delete(&format!("/sdk/agents/{id}/keys/{second}?force=true"))
        .await;
    assert!(forced.body["revoked_at"].is_string());
    Client::new(&info.base_url, &new_key)
        .get("/sdk/agents/me")
        .await
        .expect(401, "key_revoked");

    // An agent key cannot manage agents; an app key has no "me".
    let (_, k2) = create_agent(&app, "helper").await;
    Client::new(&info.base_url, &k2)
        .post("/sdk/agents", &json!({"name": "sub"}))
        .await
        .expect(403, "agent_cannot_mint_subagents");
    app.get("/sdk/agents/me")
        .await
        .expect(403, "me_requires_agent_key");

    // Delete is terminal and idempotent and frees the name.
    let deleted = app.delete(&format!("/sdk/agents/{id}")).await;
    assert_eq!(deleted.body["status"], "revoked");
    let again = app.delete(&format!("/sdk/agents/{id}")).await;
    assert_eq!(again.body["version"], deleted.body["version"]);
    let listed = app.get("/sdk/agents").await;
    assert_eq!(listed.body["total"], 1);
    let listed = app.get("/sdk/agents?include_revoked=true").await;
    assert_eq!(listed.body["total"], 2);
    assert_eq!(
        app.post("/sdk/agents", &json!({"name": "research-bot"}))
            .await
            .status,
        201
    );
    server.stop();
}

#[tokio::test]
async fn proxy_signs_aws_credentials_with_sigv4() {
    let (server, admin) = start();
    let info = server.info().clone();
    let app = Client::new(&info.base_url, &info.app_api_key);
    let ms = admin
        .create_managed_secret(json!({
            "slug": "aws-prod",
            "credential": {"access_key_id": "AKIAEXAMPLE", "secret_access_key": "wJalrSECRET",
                           "region": "us-west-2", "service": "execute-api"},
        }))
        .await
        .unwrap();
    let grant = admin.managed_secret_grant(&ms, None, "aws").await.unwrap();

    // Retrieve mode hands the SDK what it needs to sign itself.
    let r = app
        .post(
            "/sdk/token",
            &json!({"grant_id": grant, "reason": null, "request": {"method": "GET", "url": echo_url(&info.base_url)}}),
        )
        .await;
    let t = parse_token_response(r.body.to_string().as_bytes(), None).unwrap();
    assert!(t.uses_sigv4());
    assert_eq!(t.additional_credential("region"), Some("us-west-2"));

    // Proxy mode signs server-side.
    let r = app
        .post(
            "/sdk/proxy",
            &json!({"method": "GET", "url": echo_url(&info.base_url), "grant_id": grant}),
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    let body = base64::engine::general_purpose::STANDARD
        .decode(r.body["body_b64"].as_str().unwrap())
        .unwrap();
    let echoed: Value = serde_json::from_slice(&body).unwrap();
    let auth = echoed["headers"]["authorization"].as_str().unwrap();
    assert!(
        auth.starts_with("AWS4-HMAC-SHA256 Credential=AKIAEXAMPLE/")
            && auth.contains("/us-west-2/execute-api/aws4_request"),
        "{auth}"
    );
    assert!(echoed["headers"]["x-amz-date"].is_string());
    let all = serde_json::to_string(&admin.audit().await.unwrap()).unwrap();
    assert!(
        !all.contains("wJalrSECRET") && !all.contains("AKIAEXAMPLE"),
        "{all}"
    );
    server.stop();
}

#[tokio::test]
async fn concurrent_requests_and_shutdown_with_a_held_poll() {
    let (server, admin) = start();
    let info = server.info().clone();
    let app = Client::new(&info.base_url, &info.app_api_key);
    let (agent_id, agent_key) = create_agent(&app, "busy").await;
    let agent = Client::new(&info.base_url, &agent_key);
    let ms = admin.managed_secret("svc", "svc-secret").await.unwrap();
    let grant = admin
        .managed_secret_grant(&ms, Some(&agent_id), "p")
        .await
        .unwrap();
    let hitl = admin
        .create_managed_secret_grant(
            &ms,
            json!({"agent_id": agent_id, "label": "h", "hitl": true}),
        )
        .await
        .unwrap();

    // Many signed requests at once: every one verifies, none is mistaken
    // for a replay, every row is recorded.
    let url = echo_url(&info.base_url);
    let tasks: Vec<_> = (0..100)
        .map(|_| {
            let agent = agent.clone();
            let body = json!({"grant_id": grant, "reason": null, "request": {"method": "GET", "url": url}});
            tokio::spawn(async move { agent.post("/sdk/token", &body).await.status })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap(), 200);
    }
    let tokens = admin
        .audit()
        .await
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "token")
        .count();
    assert_eq!(tokens, 100);

    // A long poll held at shutdown does not hold the server up.
    let r = agent
        .post(
            "/sdk/proxy",
            &json!({"method": "GET", "url": url, "grant_id": hitl}),
        )
        .await;
    let id = r.body["approval_id"].as_str().unwrap().to_string();
    let poller = agent.clone();
    let poll =
        tokio::spawn(async move { poller.get(&format!("/sdk/approvals/{id}?wait=25")).await });
    let started = std::time::Instant::now();
    while admin.health().await.unwrap()["held_long_polls"] != 1 {
        assert!(started.elapsed().as_secs() < 10, "poll never parked");
        tokio::task::yield_now().await;
    }
    let stopping = std::time::Instant::now();
    tokio::task::spawn_blocking(move || server.stop())
        .await
        .unwrap();
    assert!(
        stopping.elapsed().as_secs() < 5,
        "shutdown waited for the long poll"
    );
    // The held poll got its answer before the server went away.
    let answered = poll.await.unwrap();
    assert_eq!(
        (answered.status, answered.body["status"].as_str()),
        (200, Some("pending"))
    );
}
