//! Every refusal answers with the exact status and error code the SDK maps.

mod common;

use alter_core::signing::new_nonce;
use base64::Engine;
use common::{create_agent, echo_url, start, Client, Req};
use serde_json::json;

fn token_body(grant: &str, url: &str) -> serde_json::Value {
    json!({"grant_id": grant, "reason": null, "request": {"method": "GET", "url": url}})
}

#[tokio::test]
async fn signature_timestamp_nonce_and_hash_failures() {
    let (server, _admin) = start();
    let info = server.info().clone();
    let app = Client::new(&info.base_url, &info.app_api_key);
    let ok = app.get("/sdk/agents?limit=5").await;
    assert_eq!(ok.status, 200, "{ok:?}");

    // Unknown key.
    let stranger = Client::new(
        &info.base_url,
        &alter_core::keys::generate_key(alter_core::keys::KeyKind::Runtime),
    );
    stranger.get("/sdk/agents").await.expect(401, "invalid_key");

    // Bad signature.
    let mut r = Req::new("GET", "/sdk/agents");
    r.bad_signature = true;
    app.send(r).await.expect(401, "invalid_signature");

    // Identity headers that were not signed (stripped V2 / added caller).
    let mut r = Req::new("GET", "/sdk/agents");
    r.headers.push(("X-Alter-Caller".into(), "intruder".into()));
    app.send(r).await.expect(401, "missing_signature_v2");

    // A signed query that was altered on the way; the same query in
    // another order still verifies (canonical form).
    let mut r = Req::new("GET", "/sdk/agents?limit=5&offset=0");
    r.sent_target = Some("/sdk/agents?limit=6&offset=0".into());
    app.send(r).await.expect(401, "invalid_signature");
    let mut r = Req::new("GET", "/sdk/agents?limit=5&offset=0");
    r.sent_target = Some("/sdk/agents?offset=0&limit=5".into());
    assert_eq!(app.send(r).await.status, 200);

    // Replayed nonce.
    let mut r = Req::new("GET", "/sdk/agents");
    r.nonce = Some(new_nonce());
    assert_eq!(app.send(r.clone()).await.status, 200);
    app.send(r).await.expect(401, "replayed_nonce");

    // Stale and future timestamps.
    let mut r = Req::new("GET", "/sdk/agents");
    r.clock_skew = -301;
    app.send(r).await.expect(401, "stale_timestamp");
    let mut r = Req::new("GET", "/sdk/agents");
    r.clock_skew = 400;
    app.send(r).await.expect(401, "stale_timestamp");

    // Body that does not match its hash (signed over the claimed hash).
    let mut r = Req::new("POST", "/sdk/agents").json(&json!({"name": "a"}));
    r.sent_body = Some(br#"{"name":"b"}"#.to_vec());
    app.send(r).await.expect(401, "content_hash_mismatch");

    // Missing signature headers altogether.
    let raw = reqwest::Client::new()
        .get(format!("{}/sdk/agents", info.base_url))
        .header("x-api-key", &info.app_api_key)
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), 401);
    server.stop();
}

#[tokio::test]
async fn scopes_constraints_and_rules() {
    let (server, admin) = start();
    let info = server.info().clone();
    let app = Client::new(&info.base_url, &info.app_api_key);
    let ms = admin.managed_secret("svc", "svc-secret").await.unwrap();
    let grant = admin.managed_secret_grant(&ms, None, "sys").await.unwrap();
    let url = echo_url(&info.base_url);

    // Narrowing to proxy only: the token route then lacks its scope.
    let mut r = Req::new("POST", "/sdk/token").json(&token_body(&grant, &url));
    r.scope_constraints = Some("proxy:execute".into());
    let resp = app.send(r).await;
    resp.expect(403, "insufficient_scope");
    assert_eq!(resp.detail()["required"], json!(["tokens:retrieve"]));
    assert_eq!(resp.detail()["granted"], json!(["proxy:execute"]));
    assert_eq!(resp.detail()["missing"], json!(["tokens:retrieve"]));

    // Broadening is refused.
    let mut r = Req::new("POST", "/sdk/token").json(&token_body(&grant, &url));
    r.scope_constraints = Some("tokens:retrieve,*".into());
    app.send(r).await.expect(400, "constraint_not_narrowing");

    // A key without audit:emit cannot report.
    let (agent_id, agent_key) = create_agent(&app, "narrow").await;
    admin
        .update_key(json!({"api_key": agent_key, "scopes": ["tokens:retrieve"]}))
        .await
        .unwrap();
    let agent = Client::new(&info.base_url, &agent_key);
    let resp = agent
        .post("/sdk/oauth/audit/api-call", &json!({"grant_id": grant}))
        .await;
    resp.expect(403, "insufficient_scope");
    assert_eq!(resp.detail()["missing"], json!(["audit:emit"]));
    // Approvals take either scope: the refusal says so.
    let resp = agent
        .get("/sdk/approvals/00000000-0000-0000-0000-000000000000")
        .await;
    resp.expect(403, "insufficient_scope");
    assert_eq!(resp.detail()["required_any_of"], true);
    let _ = agent_id;

    // A request rule that denies.
    let rule = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(
        r#"{"rule_type":"json_match","rule_body":{"when":{"method":"POST"},"effect":"deny"}}"#,
    );
    let mut r = Req::new("POST", "/sdk/token").json(&token_body(&grant, &url));
    r.request_rule = Some(rule.clone());
    app.send(r).await.expect(403, "request_rule_denied");
    // On the proxy path the method is known, so a GET passes.
    let mut r = Req::new("POST", "/sdk/proxy")
        .json(&json!({"method": "GET", "url": url, "grant_id": grant}));
    r.request_rule = Some(rule);
    assert_eq!(app.send(r).await.status, 200);
    let mut r = Req::new("POST", "/sdk/token").json(&token_body(&grant, &url));
    r.request_rule = Some("!!!".into());
    app.send(r).await.expect(400, "invalid_request_rule");
    server.stop();
}

#[tokio::test]
async fn key_lifecycle_deprecated_and_revoked() {
    let (server, admin) = start();
    let info = server.info().clone();
    let app = Client::new(&info.base_url, &info.app_api_key);
    let (agent_id, agent_key) = create_agent(&app, "keyed").await;
    let agent = Client::new(&info.base_url, &agent_key);
    assert!(agent
        .get("/sdk/agents/me")
        .await
        .header("x-alter-key-deprecated")
        .is_none());

    // A deprecated key works and says so on every answer, errors included.
    let keys = app.get(&format!("/sdk/agents/{agent_id}/keys")).await;
    let key_id = keys.body["items"][0]["key_id"]
        .as_str()
        .unwrap()
        .to_string();
    let dep = app
        .patch(
            &format!("/sdk/agents/{agent_id}/keys/{key_id}/deprecate"),
            &json!({}),
        )
        .await;
    assert!(dep.body["deprecated_at"].is_string(), "{dep:?}");
    let me = agent.get("/sdk/agents/me").await;
    assert_eq!(
        (me.status, me.header("x-alter-key-deprecated")),
        (200, Some("true"))
    );
    let err = agent
        .post(
            "/sdk/token",
            &token_body("00000000-0000-0000-0000-000000000000", "https://x.example/"),
        )
        .await;
    err.expect(404, "grant_not_found");
    assert_eq!(err.header("x-alter-key-deprecated"), Some("true"));

    // A revoked key stops at once.
    let _second = app
        .post(&format!("/sdk/agents/{agent_id}/keys"), &json!({}))
        .await;
    app.delete(&format!("/sdk/agents/{agent_id}/keys/{key_id}"))
        .await;
    agent.get("/sdk/agents/me").await.expect(401, "key_revoked");
    // Revoking a revoked key is idempotent; deprecating it conflicts.
    let again = app
        .delete(&format!("/sdk/agents/{agent_id}/keys/{key_id}"))
        .await;
    assert_eq!(again.status, 200);
    app.patch(
        &format!("/sdk/agents/{agent_id}/keys/{key_id}/deprecate"),
        &json!({}),
    )
    .await
    .expect(409, "key_revoked");

    // A revoked agent whose key somehow survived (a race) → agent_revoked.
    let (other_id, other_key) = create_agent(&app, "raced").await;
    admin
        .update_agent(&other_id, json!({"status": "revoked"}))
        .await
        .unwrap();
    Client::new(&info.base_url, &other_key)
        .get("/sdk/agents/me")
        .await
        .expect(401, "agent_revoked");
    server.stop();
}

#[tokio::test]
async fn paused_agents_and_impersonation() {
    let (server, admin) = start();
    let info = server.info().clone();
    let app = Client::new(&info.base_url, &info.app_api_key);
    let (agent_id, agent_key) = create_agent(&app, "pausable").await;
    let agent = Client::new(&info.base_url, &agent_key);
    let ms = admin.managed_secret("svc", "svc-secret").await.unwrap();
    let grant = admin
        .managed_secret_grant(&ms, Some(&agent_id), "p")
        .await
        .unwrap();
    let url = echo_url(&info.base_url);

    // Impersonation: app key + agent UUID caller reaches the agent's grants,
    // and no actor id comes back for a managed-agent caller.
    let imp = app.clone().with_caller(&agent_id, "agent");
    let r = imp
        .post("/sdk/token", &json!({"provider_id": "svc", "reason": null, "request": {"method": "GET", "url": url}}))
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert!(r.header("x-alter-actor-id").is_none());
    let me = imp.get("/sdk/agents/me").await;
    assert_eq!(me.body["id"], json!(agent_id));
    // A service caller label gets a stable actor id.
    let svc = app.clone().with_caller("billing-svc", "service");
    let a1 = svc
        .get("/sdk/agents")
        .await
        .header("x-alter-actor-id")
        .map(str::to_string);
    let a2 = svc
        .get("/sdk/agents")
        .await
        .header("x-alter-actor-id")
        .map(str::to_string);
    assert!(a1.is_some());
    assert_eq!(a1, a2);

    // Pause the agent.
    app.patch(
        &format!("/sdk/agents/{agent_id}"),
        &json!({"status": "inactive"}),
    )
    .await;
    agent
        .post("/sdk/token", &token_body(&grant, &url))
        .await
        .expect(401, "agent_inactive");
    agent
        .post("/sdk/grants/list", &json!({"limit": 1, "offset": 0}))
        .await
        .expect(401, "agent_inactive");
    // me(), spans and the audit ingest still work.
    let me = agent.get("/sdk/agents/me").await;
    assert_eq!(
        (me.status, me.body["status"].as_str()),
        (200, Some("inactive"))
    );
    let spans = agent
        .post("/sdk/spans", &json!({"spans": [{"trace_id": "t", "name": "n", "start_time": "2026-01-01T00:00:00Z", "attributes": {}}]}))
        .await;
    assert_eq!(spans.body["accepted"], 1, "{spans:?}");
    let audit = agent
        .post(
            "/sdk/oauth/audit/api-call",
            &json!({"grant_id": grant, "provider_id": "svc", "token_generation": null, "method": "GET",
                    "url": url, "request_headers": {}, "request_body": null, "response_status": 200,
                    "response_headers": {}, "response_body": "", "latency_ms": 1, "reason": null, "context": null}),
        )
        .await;
    assert_eq!(audit.status, 204, "{audit:?}");
    // Impersonating a paused agent does not resolve.
    imp.get("/sdk/agents/me")
        .await
        .expect(404, "caller_agent_unresolved");
    // A key bound to one agent cannot claim another.
    let (other_id, _) = create_agent(&app, "someone").await;
    agent
        .clone()
        .with_caller(&other_id, "agent")
        .get("/sdk/agents/me")
        .await
        .expect(400, "caller_agent_mismatch");
    server.stop();
}

#[tokio::test]
async fn grant_reach_and_lifecycle() {
    let (server, admin) = start();
    let info = server.info().clone();
    let app = Client::new(&info.base_url, &info.app_api_key);
    let (a_id, a_key) = create_agent(&app, "alpha").await;
    let (b_id, _b_key) = create_agent(&app, "beta").await;
    let alpha = Client::new(&info.base_url, &a_key);
    let ms = admin.managed_secret("svc", "svc-secret").await.unwrap();
    let mine = admin
        .managed_secret_grant(&ms, Some(&a_id), "a")
        .await
        .unwrap();
    let foreign = admin
        .managed_secret_grant(&ms, Some(&b_id), "b")
        .await
        .unwrap();
    let url = echo_url(&info.base_url);

    // Another agent's grant is invisible.
    alpha
        .post("/sdk/token", &token_body(&foreign, &url))
        .await
        .expect(404, "grant_not_found");
    alpha
        .post("/sdk/token", &token_body("not-a-uuid", &url))
        .await
        .expect(404, "grant_not_found");
    assert_eq!(
        alpha
            .post("/sdk/token", &token_body(&mine, &url))
            .await
            .status,
        200
    );

    // Expired TTL.
    admin
        .update_grant(&mine, json!({"expires_at": "2000-01-01T00:00:00Z"}))
        .await
        .unwrap();
    let r = alpha.post("/sdk/token", &token_body(&mine, &url)).await;
    r.expect(403, "grant_expired");
    assert_eq!(r.detail()["provider_id"], "svc");
    admin
        .update_grant(&mine, json!({"expires_at": null}))
        .await
        .unwrap();

    // A TTL in the future is reported as the binding expiry.
    let ttl = admin
        .create_managed_secret_grant(
            &ms,
            json!({"agent_id": a_id, "label": "ttl", "ttl_seconds": 3600}),
        )
        .await
        .unwrap();
    let r = alpha.post("/sdk/token", &token_body(&ttl, &url)).await;
    let expires_in = r.body["expires_in"].as_i64().unwrap();
    assert!((3590..=3600).contains(&expires_in), "{r:?}");
    assert!(r.body["expires_at"].as_str().unwrap().ends_with('Z'));

    // Two live grants for one provider are ambiguous until a label picks one.
    let by_provider = |label: Option<&str>| {
        let mut b =
            json!({"provider_id": "svc", "reason": null, "request": {"method": "GET", "url": url}});
        if let Some(l) = label {
            b["label"] = json!(l);
        }
        b
    };
    let r = alpha.post("/sdk/token", &by_provider(None)).await;
    r.expect(409, "ambiguous_grant");
    assert_eq!(r.detail()["grant_ids"].as_array().unwrap().len(), 2);
    let r = alpha.post("/sdk/token", &by_provider(Some("ttl"))).await;
    assert_eq!(r.body["grant_id"], json!(ttl));

    // Revoked.
    admin
        .update_grant(&mine, json!({"revoked": true}))
        .await
        .unwrap();
    alpha
        .post("/sdk/token", &token_body(&mine, &url))
        .await
        .expect(403, "grant_revoked");
    // A restricted grant is proxy-only.
    admin
        .update_grant(&ttl, json!({"restricted": true}))
        .await
        .unwrap();
    alpha
        .post("/sdk/token", &token_body(&ttl, &url))
        .await
        .expect(400, "restricted_grant_requires_proxy");

    // Scope drift: reported, then advisory on the next token.
    admin
        .update_grant(&ttl, json!({"restricted": false}))
        .await
        .unwrap();
    let r = alpha
        .post(
            &format!("/sdk/grants/{ttl}/report-scope-mismatch"),
            &json!({"provider_status_code": 403, "provider_error_code": "insufficient_scope",
                    "missing_scopes": ["write"], "raw_www_authenticate": "Bearer error=\"insufficient_scope\"",
                    "api_endpoint": "https://api.example.com/v1/x/y", "detection_source": "www_authenticate_rfc6750",
                    "sdk_correlation_id": "abc"}),
        )
        .await;
    assert_eq!(r.status, 204, "{r:?}");
    assert!(r.header("x-correlation-id").is_some());
    let r = alpha.post("/sdk/token", &token_body(&ttl, &url)).await;
    assert_eq!(r.body["scope_mismatch"], true);
    alpha
        .post(
            &format!("/sdk/grants/{foreign}/report-scope-mismatch"),
            &json!({"provider_status_code": 403, "provider_error_code": "insufficient_scope",
                    "missing_scopes": null, "raw_www_authenticate": "", "api_endpoint": "",
                    "detection_source": "www_authenticate_rfc6750", "sdk_correlation_id": "x"}),
        )
        .await
        .expect(404, "grant_not_found");

    // System grants refuse a user token.
    let sys = admin.managed_secret_grant(&ms, None, "sys").await.unwrap();
    let user = admin.create_user("u@example.com").await.unwrap();
    let mut b = token_body(&sys, &url);
    b["user_token"] = json!(user.user_token);
    app.post("/sdk/token", &b)
        .await
        .expect(403, "system_grant_user_token_mismatch");

    // Body validation.
    app.post(
        "/sdk/token",
        &json!({"grant_id": sys, "provider_id": "svc"}),
    )
    .await
    .expect(422, "validation_error");
    app.post("/sdk/token", &json!({"grant_id": sys, "account": "a"}))
        .await
        .expect(422, "validation_error");
    server.stop();
}

#[tokio::test]
async fn rate_limit_answers_429_with_retry_after() {
    let (server, admin) = start();
    let info = server.info().clone();
    let app = Client::new(&info.base_url, &info.app_api_key);
    admin
        .update_key(json!({"api_key": info.app_api_key, "rate_limit_rpm": 2}))
        .await
        .unwrap();
    let first = app.get("/sdk/agents").await;
    assert_eq!(first.status, 200);
    assert_eq!(first.header("x-ratelimit-limit"), Some("2"));
    assert_eq!(first.header("x-ratelimit-remaining"), Some("1"));
    // The window may roll over between calls; within a few calls of one
    // window the limit must bite.
    let mut limited = None;
    for _ in 0..4 {
        let r = app.get("/sdk/agents").await;
        if r.status == 429 {
            limited = Some(r);
            break;
        }
    }
    let r = limited.expect("rate limit never applied");
    r.expect(429, "rate_limit_exceeded");
    let d = r.detail();
    assert_eq!(
        (
            d["scope"].as_str(),
            d["limit"].as_u64(),
            d["window_seconds"].as_u64()
        ),
        (Some("api_key"), Some(2), Some(60))
    );
    let retry: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry));
    assert_eq!(d["retry_after"].as_u64(), Some(retry));
    server.stop();
}

#[tokio::test]
async fn operator_api_requires_the_admin_token() {
    let (server, _admin) = start();
    let info = server.info().clone();
    let http = reqwest::Client::new();
    let r = http
        .get(format!("{}/_dev/audit", info.base_url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = http
        .get(format!("{}/_dev/audit", info.base_url))
        .bearer_auth("wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = http
        .get(format!("{}/_dev/health", info.base_url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // The info's Debug never shows secrets.
    let dbg = format!("{info:?}");
    assert!(!dbg.contains(&info.admin_token) && !dbg.contains(&info.app_api_key));
    server.stop();
}

/// Lifetimes beyond what a timestamp can hold are refused with a 422, never
/// a panic or a 500, whether they arrive as huge integers or huge floats.
#[tokio::test]
async fn huge_lifetimes_are_refused_not_overflowed() {
    let (server, admin) = start();
    let info = server.info().clone();
    let app = Client::new(&info.base_url, &info.app_api_key);
    for expires_in in [
        json!(u64::MAX),
        json!(1e308),
        json!(-9_223_372_036_854_775_808i64),
    ] {
        app.post(
            "/sdk/keys/derive",
            &json!({"scopes": ["grants:read"], "expires_in": expires_in}),
        )
        .await
        .expect(422, "validation_error");
    }
    let ms = admin.managed_secret("huge", "huge-secret").await.unwrap();
    let user = admin
        .create_user_with(json!({"email": "huge@example.com"}))
        .await
        .unwrap();
    for ttl in [json!(u64::MAX), json!(1e308)] {
        app.post(
            &format!("/sdk/managed-secrets/{ms}/grants"),
            &json!({"principal": {"type": "user", "user_token": user.user_token, "label": "huge"},
                    "grant_policy": {"max_ttl_seconds": ttl}}),
        )
        .await
        .expect(422, "invalid_grant_policy");
    }
    // The largest accepted lifetime (100 years) still works, capped as
    // before.
    let ok = app
        .post(
            "/sdk/keys/derive",
            &json!({"scopes": ["grants:read"], "expires_in": 100u64 * 365 * 86_400}),
        )
        .await;
    assert_eq!(ok.status, 201, "{ok:?}");
}
