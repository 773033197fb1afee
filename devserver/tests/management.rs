//! The management surface against an in-process vault with raw signed
//! requests: grants (list, revoke and its cascade, managed-secret grants
//! for the four principals, mint, delegate, revoke-delegation), Connect and
//! sign-in sessions driven through the operator API, identity, scoped keys,
//! catalogs. Each happy path, then its spec'd refusals.

mod common;

use common::{create_agent, start, unix_now, Client, Req, Resp};
use serde_json::{json, Value};

fn s(v: &Value) -> String {
    v.as_str()
        .unwrap_or_else(|| panic!("not a string: {v}"))
        .to_string()
}

fn parse_ts(v: &Value) -> i64 {
    time::OffsetDateTime::parse(
        v.as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap()
    .unix_timestamp()
}

#[track_caller]
fn ok(r: &Resp, status: u16) -> &Value {
    assert_eq!(r.status, status, "{r:?}");
    &r.body
}

/// An agent created with an allowlist.
async fn agent_with_scopes(app: &Client, name: &str, scopes: Value) -> (String, String) {
    let r = app
        .post("/sdk/agents", &json!({"name": name, "scopes": scopes}))
        .await;
    let b = ok(&r, 201);
    (s(&b["id"]), s(&b["api_key"]))
}

/// Connects `provider` for the user and delegates it to `agent` with the
/// onward-sharing choice, through a Connect session the operator API
/// approves. Returns (root grant id, delegation id).
async fn connect_delegated(
    app: &Client,
    admin: &alter_devserver::Admin,
    provider: &str,
    user_token: &str,
    agent: &str,
    share_onward: bool,
) -> (String, String) {
    let r = app
        .post(
            "/sdk/oauth/connect/session",
            &json!({"allowed_providers": [provider], "return_url": null, "allowed_origin": null,
                    "metadata": null, "agent": agent, "delegable": true, "user_token": user_token}),
        )
        .await;
    let token = s(&ok(&r, 200)["session_token"]);
    let done = admin
        .drive_connect(
            &token,
            json!({"action": "approve", "share_onward": share_onward}),
        )
        .await
        .unwrap();
    assert_eq!(done["status"], "completed", "{done}");
    let g = &done["grants"][0];
    (s(&g["grant_id"]), s(&g["delegation"]["grant_id"]))
}

fn token_req(grant_id: &str) -> Value {
    json!({"grant_id": grant_id, "reason": null, "request": {"method": "GET", "url": "https://example.com/"}})
}

#[tokio::test]
async fn revoke_cascades_and_refuses_foreign_or_dead_grants() {
    let (server, admin) = start();
    let info = server.info().clone();
    let app = Client::new(&info.base_url, &info.app_api_key);
    let (agent_id, agent_key) = create_agent(&app, "research-bot").await;
    let (_other_id, other_key) = create_agent(&app, "other-bot").await;
    let agent = Client::new(&info.base_url, &agent_key);
    let other = Client::new(&info.base_url, &other_key);
    let alice = admin.create_user("alice@example.com").await.unwrap();
    let bob = admin.create_user("bob@example.com").await.unwrap();
    let ids = admin
        .create_oauth_grant(json!({"user_id": alice.user_id, "provider_id": "google",
            "access_token": "ya29.tok", "agent_id": agent_id}))
        .await
        .unwrap();
    let child = ids.delegation_grant_id.clone().unwrap();
    ok(&agent.post("/sdk/token", &token_req(&child)).await, 200);

    // Another agent cannot revoke (or even see) this delegation.
    other
        .post(&format!("/sdk/oauth/grants/{child}/revoke"), &json!({}))
        .await
        .expect(404, "grant_not_found");
    // Bob's user token does not reach Alice's grant.
    app.post(
        &format!("/sdk/oauth/grants/{}/revoke", ids.grant_id),
        &json!({"user_token": bob.user_token}),
    )
    .await
    .expect(404, "grant_not_found");

    let r = app
        .post(
            &format!("/sdk/oauth/grants/{}/revoke", ids.grant_id),
            &json!({"reason": "user left", "user_token": alice.user_token}),
        )
        .await;
    let b = ok(&r, 200);
    assert_eq!(b["success"], true);
    assert_eq!(b["grant_id"], json!(ids.grant_id));
    assert!(!s(&b["message"]).is_empty());
    assert!(parse_ts(&b["revoked_at"]) >= unix_now() - 5);

    // The cascade: the delegation is revoked too and hidden from the agent.
    agent
        .post("/sdk/token", &token_req(&child))
        .await
        .expect(403, "grant_revoked");
    let listed = agent
        .post("/sdk/grants/list", &json!({"limit": 100, "offset": 0}))
        .await;
    assert_eq!(ok(&listed, 200)["total"], 0);
    let g = admin.update_grant(&child, json!({})).await.unwrap();
    assert_eq!(g["revoked"], true);
    assert_eq!(g["revoke_reason"], "user left");
    // Revocation is terminal: a second revoke finds no active grant.
    app.post(
        &format!("/sdk/oauth/grants/{}/revoke", ids.grant_id),
        &json!({}),
    )
    .await
    .expect(404, "grant_not_found");
    // Unknown and malformed ids.
    app.post(
        &format!("/sdk/oauth/grants/{}/revoke", uuid::Uuid::new_v4()),
        &json!({}),
    )
    .await
    .expect(404, "grant_not_found");
    let events = admin.audit().await.unwrap();
    assert!(events
        .iter()
        .any(|e| e["kind"] == "grant_revoked" && e["reason"] == "user left"));

    // An agent may revoke its own delegation.
    let ids2 = admin
        .create_oauth_grant(json!({"user_id": alice.user_id, "provider_id": "google",
            "access_token": "ya29.two", "agent_id": agent_id}))
        .await
        .unwrap();
    let child2 = ids2.delegation_grant_id.unwrap();
    ok(
        &agent
            .post(&format!("/sdk/oauth/grants/{child2}/revoke"), &json!({}))
            .await,
        200,
    );
    // The root is untouched by revoking a child.
    ok(
        &app.post("/sdk/token", &token_req(&ids2.grant_id)).await,
        200,
    );
}

#[tokio::test]
async fn ttl_expiry_is_projected_and_cuts_the_chain() {
    let (server, admin) = start();
    let info = server.info().clone();
    let app = Client::new(&info.base_url, &info.app_api_key);
    let (agent_id, agent_key) = create_agent(&app, "research-bot").await;
    let agent = Client::new(&info.base_url, &agent_key);
    let alice = admin.create_user("alice@example.com").await.unwrap();
    let ids = admin
        .create_oauth_grant(json!({"user_id": alice.user_id, "provider_id": "google",
            "access_token": "ya29.tok", "agent_id": agent_id, "ttl_seconds": 3600}))
        .await
        .unwrap();
    let child = ids.delegation_grant_id.unwrap();
    let listed = app
        .post(
            "/sdk/grants/list",
            &json!({"limit": 100, "offset": 0, "status": "active"}),
        )
        .await;
    assert_eq!(ok(&listed, 200)["total"], 2);

    // The root's TTL lapses: the stored row is untouched, the projection
    // says expired, and the delegation beneath it is unusable.
    let past = time::OffsetDateTime::from_unix_timestamp(unix_now() - 10)
        .unwrap()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    admin
        .update_grant(&ids.grant_id, json!({"expires_at": past}))
        .await
        .unwrap();
    let expired = app
        .post(
            "/sdk/grants/list",
            &json!({"limit": 100, "offset": 0, "status": "expired"}),
        )
        .await;
    assert_eq!(ok(&expired, 200)["total"], 2, "{expired:?}");
    let r = agent.post("/sdk/token", &token_req(&child)).await;
    r.expect(403, "grant_expired");
    assert_eq!(r.detail()["agent_id"], json!(agent_id));
    // A lapsed grant cannot be revoked, minted from or delegated.
    app.post(
        &format!("/sdk/oauth/grants/{}/revoke", ids.grant_id),
        &json!({}),
    )
    .await
    .expect(404, "grant_not_found");
    app.post(
        &format!("/sdk/grants/{}/mint", ids.grant_id),
        &json!({"label": "x"}),
    )
    .await
    .expect(404, "grant_not_found");
}

#[tokio::test]
async fn grant_lists_per_branch_and_pagination() {
    let (server, admin) = start();
    let info = server.info().clone();
    let app = Client::new(&info.base_url, &info.app_api_key);
    let (agent_id, agent_key) = create_agent(&app, "research-bot").await;
    let agent = Client::new(&info.base_url, &agent_key);
    let alice = admin.create_user("alice@example.com").await.unwrap();
    let oauth = admin
        .create_oauth_grant(json!({"user_id": alice.user_id, "provider_id": "google",
            "access_token": "ya29.tok", "agent_id": agent_id, "account": "alice@gmail.com"}))
        .await
        .unwrap();
    let ms = admin.managed_secret("stripe", "sk_live_1").await.unwrap();
    let owned = admin
        .managed_secret_grant(&ms, Some(&agent_id), "prod")
        .await
        .unwrap();
    admin
        .managed_secret_grant(&ms, None, "system")
        .await
        .unwrap();

    // The operator branch: OAuth rows only (roots and children), with the
    // delegated agents on the root.
    let r = app
        .post("/sdk/grants/list", &json!({"limit": 100, "offset": 0}))
        .await;
    let b = ok(&r, 200);
    assert_eq!(b["total"], 2);
    let rows = b["grants"].as_array().unwrap();
    assert!(rows.iter().all(|g| g["grant_kind"] == "oauth"));
    let root = rows
        .iter()
        .find(|g| g["grant_id"] == json!(oauth.grant_id))
        .unwrap();
    assert_eq!(root["delegated_agent_ids"], json!([agent_id]));
    assert_eq!(root["principal_type"], "user");
    assert_eq!(root["access_via"], "ownership");

    // The agent branch: both kinds merged, each with its discriminator.
    let r = agent
        .post("/sdk/grants/list", &json!({"limit": 1, "offset": 0}))
        .await;
    let b = ok(&r, 200);
    assert_eq!(
        (b["total"].as_u64(), b["has_more"].as_bool()),
        (Some(2), Some(true))
    );
    let r2 = agent
        .post("/sdk/grants/list", &json!({"limit": 1, "offset": 1}))
        .await;
    let b2 = ok(&r2, 200);
    assert_eq!(b2["has_more"], false);
    let mut kinds: Vec<Value> = [&b["grants"][0], &b2["grants"][0]]
        .iter()
        .map(|g| g["grant_kind"].clone())
        .collect();
    kinds.sort_by_key(|k| k.to_string());
    assert_eq!(kinds, vec![json!("managed_secret"), json!("oauth")]);
    let all = agent
        .post("/sdk/grants/list", &json!({"limit": 100, "offset": 0}))
        .await;
    let rows = ok(&all, 200)["grants"].as_array().unwrap().clone();
    let delegated = rows.iter().find(|g| g["grant_kind"] == "oauth").unwrap();
    assert_eq!(
        delegated["grant_id"],
        json!(oauth.delegation_grant_id.unwrap())
    );
    assert_eq!(delegated["access_via"], "oauth_delegation");
    assert!(delegated["delegated_at"].is_string());
    let secret = rows
        .iter()
        .find(|g| g["grant_kind"] == "managed_secret")
        .unwrap();
    assert_eq!(secret["grant_id"], json!(owned));
    assert_eq!(secret["managed_secret_slug"], "stripe");
    assert_eq!(secret["agent_id"], json!(agent_id));
    // Filters: provider slug, label.
    let by_slug = agent
        .post(
            "/sdk/grants/list",
            &json!({"limit": 100, "offset": 0, "provider_id": "stripe", "label": "prod"}),
        )
        .await;
    assert_eq!(ok(&by_slug, 200)["total"], 1);
    app.post("/sdk/grants/list", &json!({"limit": 1001, "offset": 0}))
        .await
        .expect(422, "validation_error");
}

#[tokio::test]
async fn managed_secret_grants_for_the_four_principals() {
    let (server, admin) = start();
    let info = server.info().clone();
    let app = Client::new(&info.base_url, &info.app_api_key);
    let (agent_id, agent_key) = agent_with_scopes(
        &app,
        "billing-bot",
        json!({"managed_secret_slugs": ["stripe"]}),
    )
    .await;
    let agent = Client::new(&info.base_url, &agent_key);
    let (_, narrow_key) = agent_with_scopes(
        &app,
        "narrow-bot",
        json!({"managed_secret_slugs": ["other"]}),
    )
    .await;
    let narrow = Client::new(&info.base_url, &narrow_key);
    let ms = admin.managed_secret("stripe", "sk_live_1").await.unwrap();
    let path = format!("/sdk/managed-secrets/{ms}/grants");
    let alice = admin
        .create_user_with(json!({"email": "alice@example.com", "groups": ["finance"]}))
        .await
        .unwrap();

    // User principal, with a lifetime policy.
    let r = app
        .post(
            &path,
            &json!({"principal": {"type": "user", "user_token": alice.user_token, "label": "alice-prod"},
                    "grant_policy": {"max_ttl_seconds": 3600}}),
        )
        .await;
    let b = ok(&r, 201).clone();
    assert_eq!(b["principal_type"], "user");
    assert_eq!(b["label"], "alice-prod");
    assert_eq!(b["credential_id"], json!(ms));
    let user_grant = s(&b["grant_id"]);
    let got = admin.update_grant(&user_grant, json!({})).await.unwrap();
    let exp = parse_ts(&got["expires_at"]);
    assert!((exp - (unix_now() + 3600)).abs() <= 5, "{got}");
    // The user's grant resolves by provider with their token.
    let t = app
        .post(
            "/sdk/token",
            &json!({"provider_id": "stripe", "user_token": alice.user_token, "reason": null,
                    "request": {"method": "GET", "url": "https://api.stripe.com/v1/x"}}),
        )
        .await;
    assert_eq!(ok(&t, 200)["grant_id"], json!(user_grant));
    // Same label again: sibling conflict.
    app.post(
        &path,
        &json!({"principal": {"type": "user", "user_token": alice.user_token, "label": "alice-prod"},
                "grant_policy": {}}),
    )
    .await
    .expect(409, "sibling_label_conflict");
    // A bad user token.
    app.post(
        &path,
        &json!({"principal": {"type": "user", "user_token": "not.a.jwt", "label": "x"}, "grant_policy": {}}),
    )
    .await
    .expect(401, "jwt_validation_error");

    // Group principal: members reach it.
    let idp_id = s(&admin.health().await.unwrap()["idp_id"]);
    let r = app
        .post(
            &path,
            &json!({"principal": {"type": "group", "external_group_id": "finance", "idp_id": idp_id,
                    "label": "finance-team"}, "grant_policy": {}}),
        )
        .await;
    assert_eq!(ok(&r, 201)["principal_type"], "group");
    app.post(
        &path,
        &json!({"principal": {"type": "group", "external_group_id": "finance",
                "idp_id": uuid::Uuid::new_v4().to_string(), "label": "x"}, "grant_policy": {}}),
    )
    .await
    .expect(422, "validation_error");

    // System principal: label null allowed.
    let r = app
        .post(
            &path,
            &json!({"principal": {"type": "system", "label": null}, "grant_policy": {}}),
        )
        .await;
    let b = ok(&r, 201);
    assert_eq!(b["principal_type"], "system");
    assert!(b["label"].is_null());

    // Agent principal from an app key: FastAPI's list-shaped 422, no code.
    let r = app
        .post(
            &path,
            &json!({"principal": {"type": "agent", "label": "mine"}, "grant_policy": {}}),
        )
        .await;
    assert_eq!(r.status, 422, "{r:?}");
    assert!(r.body["detail"].is_array(), "{r:?}");
    assert_eq!(r.body["detail"][0]["loc"], json!(["body", "principal"]));
    assert_eq!(r.code(), "");

    // An agent key creates for itself only, within its allowlist.
    let r = agent
        .post(
            &path,
            &json!({"principal": {"type": "agent", "label": "self"}, "grant_policy": {}}),
        )
        .await;
    let b = ok(&r, 201).clone();
    assert_eq!(b["principal_type"], "agent");
    let listed = agent
        .post(
            "/sdk/grants/list",
            &json!({"limit": 100, "offset": 0, "label": "self"}),
        )
        .await;
    let row = &ok(&listed, 200)["grants"][0];
    assert_eq!(row["grant_id"], b["grant_id"]);
    assert_eq!(row["agent_id"], json!(agent_id));
    agent
        .post(
            &path,
            &json!({"principal": {"type": "system", "label": null}, "grant_policy": {}}),
        )
        .await
        .expect(403, "agent_principal_required");
    narrow
        .post(
            &path,
            &json!({"principal": {"type": "agent", "label": "x"}, "grant_policy": {}}),
        )
        .await
        .expect(403, "agent_scope_not_allowed");

    // Policies: unknown keys and inverted bounds are refused.
    for bad in [
        json!({"maxTtlSeconds": 60}),
        json!({"max_ttl_seconds": 60, "default_ttl_seconds": 120}),
        json!({"max_ttl_seconds": 0}),
    ] {
        app.post(
            &path,
            &json!({"principal": {"type": "system", "label": "p"}, "grant_policy": bad}),
        )
        .await
        .expect(422, "invalid_grant_policy");
    }
    // The 5-year ceiling caps a far expiry.
    let far = time::OffsetDateTime::from_unix_timestamp(unix_now() + 20 * 365 * 86_400)
        .unwrap()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let r = app
        .post(
            &path,
            &json!({"principal": {"type": "system", "label": "far"}, "grant_policy": {"expires_at": far}}),
        )
        .await;
    let far_grant = s(&ok(&r, 201)["grant_id"]);
    let got = admin.update_grant(&far_grant, json!({})).await.unwrap();
    let exp = parse_ts(&got["expires_at"]);
    assert!((exp - (unix_now() + 5 * 365 * 86_400)).abs() <= 5, "{got}");

    // Credential selection once a second developer credential exists.
    let second = admin
        .add_secret_credential(&ms, json!({"credential": "sk_live_2", "label": "eu"}))
        .await
        .unwrap();
    let r = app
        .post(
            &path,
            &json!({"principal": {"type": "system", "label": "c"}, "grant_policy": {}}),
        )
        .await;
    r.expect(409, "credential_id_required");
    assert_eq!(
        r.detail()["details"]["credentials"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let r = app
        .post(
            &path,
            &json!({"principal": {"type": "system", "label": "c"}, "grant_policy": {}, "credential_id": second}),
        )
        .await;
    let g = s(&ok(&r, 201)["grant_id"]);
    let t = app.post("/sdk/token", &token_req(&g)).await;
    assert_eq!(ok(&t, 200)["access_token"], "sk_live_2");
    app.post(
        &path,
        &json!({"principal": {"type": "system", "label": "d"}, "grant_policy": {},
                "credential_id": uuid::Uuid::new_v4().to_string()}),
    )
    .await
    .expect(404, "grant_not_found");
    // Unknown provider.
    app.post(
        &format!("/sdk/managed-secrets/{}/grants", uuid::Uuid::new_v4()),
        &json!({"principal": {"type": "system", "label": null}, "grant_policy": {}}),
    )
    .await
    .expect(404, "grant_not_found");
}

#[tokio::test]
async fn mint_makes_tightening_siblings() {
    let (server, admin) = start();
    let info = server.info().clone();
    let app = Client::new(&info.base_url, &info.app_api_key);
    let (_, agent_key) = create_agent(&app, "research-bot").await;
    let agent = Client::new(&info.base_url, &agent_key);
    let alice = admin.create_user("alice@example.com").await.unwrap();
    let ids = admin
        .create_oauth_grant(json!({"user_id": alice.user_id, "provider_id": "google",
            "access_token": "ya29.tok", "scopes": ["email"], "ttl_seconds": 600}))
        .await
        .unwrap();
    let path = format!("/sdk/grants/{}/mint", ids.grant_id);
    let r = app
        .post(
            &path,
            &json!({"label": "read-only", "grant_policy": {"max_ttl_seconds": 86400}, "grant_tags": ["ci"]}),
        )
        .await;
    let b = ok(&r, 201).clone();
    assert_eq!(b["provider_id"], "google");
    assert_eq!(b["principal_type"], "user");
    assert_eq!(b["label"], "read-only");
    assert_eq!(b["scopes"], json!(["email"]));
    assert_eq!(b["credential_id"], json!(ids.credential_id));
    assert_eq!(b["status"], "active");
    // Only tightens: the source's 600 s wins over the asked-for day.
    let exp = parse_ts(&b["grant_policy"]["expires_at"]);
    assert!(exp <= unix_now() + 600, "{b}");
    let t = app.post("/sdk/token", &token_req(&s(&b["grant_id"]))).await;
    assert_eq!(ok(&t, 200)["access_token"], "ya29.tok");

    app.post(&path, &json!({"label": "read-only"}))
        .await
        .expect(409, "sibling_label_conflict");
    agent
        .post(&path, &json!({"label": "x"}))
        .await
        .expect(403, "agents_cannot_mint");
    app.post(
        &path,
        &json!({"label": "y", "grant_policy": {"default_ttl_seconds": 60}}),
    )
    .await
    .expect(422, "invalid_grant_policy");
    // A sibling with restrictions is proxy-only and cannot be minted from.
    let r = app
        .post(
            &path,
            &json!({"label": "get-only", "grant_policy": {"restrictions": {"allowed_methods": ["GET"]}}}),
        )
        .await;
    let restricted = s(&ok(&r, 201)["grant_id"]);
    app.post("/sdk/token", &token_req(&restricted))
        .await
        .expect(400, "restricted_grant_requires_proxy");
    app.post(
        &format!("/sdk/grants/{restricted}/mint"),
        &json!({"label": "z"}),
    )
    .await
    .expect(403, "mint_source_has_grant_rules");
    app.post(
        &format!("/sdk/grants/{}/mint", uuid::Uuid::new_v4()),
        &json!({"label": "z"}),
    )
    .await
    .expect(404, "grant_not_found");
}

#[tokio::test]
async fn delegation_chains_and_their_refusals() {
    let (server, admin) = start();
    let info = server.info().clone();
    let app = Client::new(&info.base_url, &info.app_api_key);
    let (a_id, a_key) = create_agent(&app, "agent-a").await;
    let (b_id, b_key) = create_agent(&app, "agent-b").await;
    let (c_id, _c_key) = create_agent(&app, "agent-c").await;
    let a = Client::new(&info.base_url, &a_key);
    let b = Client::new(&info.base_url, &b_key);
    admin
        .configure_oauth_provider(json!({"provider_id": "google", "onward_sharing": true}))
        .await
        .unwrap();
    let alice = admin.create_user("alice@example.com").await.unwrap();
    let (root, a_child) =
        connect_delegated(&app, &admin, "google", &alice.user_token, &a_id, true).await;
    let g = admin.update_grant(&a_child, json!({})).await.unwrap();
    assert_eq!(
        (g["delegable"].as_bool(), g["depth"].as_u64()),
        (Some(true), Some(1))
    );

    // A delegates onward to B, narrowed and with a lifetime.
    let r = a
        .post(
            &format!("/sdk/grants/{a_child}/delegate"),
            &json!({"to_agent_id": b_id, "scope_constraint": [" email "], "ttl_seconds": 3600}),
        )
        .await;
    let d = ok(&r, 201).clone();
    assert_eq!(d["grant_kind"], "oauth");
    assert_eq!(d["parent_grant_id"], json!(a_child));
    assert_eq!(
        (d["depth"].as_u64(), d["delegable"].as_bool()),
        (Some(2), Some(false))
    );
    assert_eq!(d["status"], "active");
    assert!((parse_ts(&d["expires_at"]) - (unix_now() + 3600)).abs() <= 5);
    let b_child = s(&d["grant_id"]);
    // Renewing is an in-place update (same id).
    let again = a
        .post(
            &format!("/sdk/grants/{a_child}/delegate"),
            &json!({"to_agent_id": b_id, "ttl_seconds": 60}),
        )
        .await;
    assert_eq!(ok(&again, 200)["grant_id"], json!(b_child));
    // B sees its child; the narrowed delegation is proxy-only.
    let listed = b
        .post("/sdk/grants/list", &json!({"limit": 100, "offset": 0}))
        .await;
    let row = &ok(&listed, 200)["grants"][0];
    assert_eq!(row["grant_id"], json!(b_child));
    assert_eq!(row["scope_constraint"], json!(["email"]));
    assert_eq!(row["depth"], 2);
    b.post("/sdk/token", &token_req(&b_child))
        .await
        .expect(400, "delegated_grant_requires_proxy");

    // Refusals.
    app.post(
        &format!("/sdk/grants/{a_child}/delegate"),
        &json!({"to_agent_id": b_id}),
    )
    .await
    .expect(403, "agent_key_required");
    // Not held (the user's root, someone else's child) → opaque 404.
    for not_held in [&root, &b_child] {
        a.post(
            &format!("/sdk/grants/{not_held}/delegate"),
            &json!({"to_agent_id": c_id}),
        )
        .await
        .expect(404, "grant_not_found");
    }
    a.post(
        &format!("/sdk/grants/{a_child}/delegate"),
        &json!({"to_agent_id": uuid::Uuid::new_v4().to_string()}),
    )
    .await
    .expect(404, "agent_not_found");
    // B's child is a leaf.
    let r = b
        .post(
            &format!("/sdk/grants/{b_child}/delegate"),
            &json!({"to_agent_id": c_id}),
        )
        .await;
    r.expect(403, "grant_not_delegable");
    assert_eq!(r.detail()["detail_reason"], "holder_not_delegable");
    // Scopes only narrow.
    a.post(
        &format!("/sdk/grants/{a_child}/delegate"),
        &json!({"to_agent_id": c_id, "scope_constraint": ["https://mail.google.com/"]}),
    )
    .await
    .expect(422, "invalid_scope_constraint");
    // A depth ceiling of 2 leaves no onward hop for a delegable grandchild.
    admin
        .configure_oauth_provider(json!({"provider_id": "google", "depth_ceiling": 2}))
        .await
        .unwrap();
    let r = a
        .post(
            &format!("/sdk/grants/{a_child}/delegate"),
            &json!({"to_agent_id": c_id, "delegable": true}),
        )
        .await;
    r.expect(403, "grant_not_delegable");
    assert_eq!(r.detail()["detail_reason"], "no_onward_hop");
    // With the ceiling off every onward delegation is refused.
    admin
        .configure_oauth_provider(json!({"provider_id": "google", "onward_sharing": false}))
        .await
        .unwrap();
    let r = a
        .post(
            &format!("/sdk/grants/{a_child}/delegate"),
            &json!({"to_agent_id": b_id}),
        )
        .await;
    assert_eq!(r.detail()["detail_reason"], "ceiling_off", "{r:?}");
    // An agent-owned root has no consenting user.
    let ms = admin.managed_secret("stripe", "sk_1").await.unwrap();
    let owned = admin
        .managed_secret_grant(&ms, Some(&a_id), "own")
        .await
        .unwrap();
    let r = a
        .post(
            &format!("/sdk/grants/{owned}/delegate"),
            &json!({"to_agent_id": b_id}),
        )
        .await;
    assert_eq!(r.detail()["detail_reason"], "no_consenting_user", "{r:?}");

    // Revoking A's delegation (operator form) cascades to B's.
    b.delete(&format!("/sdk/grants/{root}/delegations/{a_id}"))
        .await
        .expect(403, "use_self_revoke_path");
    app.delete(&format!("/sdk/grants/{root}/delegations/me"))
        .await
        .expect(403, "agent_key_required");
    let r = app
        .delete(&format!("/sdk/grants/{root}/delegations/{a_id}"))
        .await;
    assert_eq!(r.status, 204, "{r:?}");
    for (client, id) in [(&a, &a_child), (&b, &b_child)] {
        let g = admin.update_grant(id, json!({})).await.unwrap();
        assert_eq!(g["revoked"], true, "{id}");
        let _ = client;
    }
    a.post("/sdk/token", &token_req(&a_child))
        .await
        .expect(403, "grant_revoked");
    // The parent stays active; revoking again is idempotent.
    ok(&app.post("/sdk/token", &token_req(&root)).await, 200);
    let r = app
        .delete(&format!("/sdk/grants/{root}/delegations/{a_id}"))
        .await;
    assert_eq!(r.status, 204);
    let r = b
        .delete(&format!("/sdk/grants/{root}/delegations/me"))
        .await;
    assert_eq!(r.status, 204);
}

#[tokio::test]
async fn agent_self_revokes_its_delegation() {
    let (server, admin) = start();
    let info = server.info().clone();
    let app = Client::new(&info.base_url, &info.app_api_key);
    let (a_id, a_key) = create_agent(&app, "agent-a").await;
    let a = Client::new(&info.base_url, &a_key);
    let alice = admin.create_user("alice@example.com").await.unwrap();
    let ids = admin
        .create_oauth_grant(json!({"user_id": alice.user_id, "provider_id": "google",
            "access_token": "ya29.tok", "agent_id": a_id}))
        .await
        .unwrap();
    let r = a
        .delete(&format!("/sdk/grants/{}/delegations/me", ids.grant_id))
        .await;
    assert_eq!(r.status, 204, "{r:?}");
    a.post(
        "/sdk/token",
        &token_req(&ids.delegation_grant_id.clone().unwrap()),
    )
    .await
    .expect(403, "grant_revoked");
    ok(
        &app.post("/sdk/token", &token_req(&ids.grant_id)).await,
        200,
    );
}

#[tokio::test]
async fn oauth_connect_sessions() {
    let (server, admin) = start();
    let info = server.info().clone();
    let app = Client::new(&info.base_url, &info.app_api_key);
    let (a_id, a_key) = create_agent(&app, "research-bot").await;
    let (b_id, _) = create_agent(&app, "other-bot").await;
    let a = Client::new(&info.base_url, &a_key);
    let alice = admin.create_user("alice@example.com").await.unwrap();
    let base = |extra: Value| {
        let mut b = json!({"allowed_providers": ["google"], "return_url": null, "allowed_origin": null, "metadata": null});
        for (k, v) in extra.as_object().unwrap() {
            b[k] = v.clone();
        }
        b
    };

    // Create (agent by name), poll pending, approve, poll completed.
    let r = app
        .post(
            "/sdk/oauth/connect/session",
            &base(
                json!({"agent": "research-bot", "user_token": alice.user_token,
                         "grant_policy": {"max_ttl_seconds": 7200, "default_ttl_seconds": 3600}}),
            ),
        )
        .await;
    let sess = ok(&r, 200).clone();
    let token = s(&sess["session_token"]);
    assert!(s(&sess["connect_url"]).starts_with(&format!("{}/connect/", info.base_url)));
    assert_eq!(sess["expires_in"], 600);
    assert!(sess["expires_in"].is_u64());
    assert_eq!(
        (sess["single_provider"].as_bool(), sess["direct"].as_bool()),
        (Some(true), Some(false))
    );
    assert_eq!(sess["scope_constraint_warnings"], json!([]));
    let poll = |t: &str| {
        let app = app.clone();
        let t = t.to_string();
        async move {
            app.post(
                "/sdk/oauth/connect/session/poll",
                &json!({"session_token": t}),
            )
            .await
        }
    };
    assert_eq!(ok(&poll(&token).await, 200)["status"], "pending");
    admin
        .drive_connect(
            &token,
            json!({"action": "approve", "account": "alice@gmail.com"}),
        )
        .await
        .unwrap();
    let done = poll(&token).await;
    let b = ok(&done, 200).clone();
    assert_eq!(b["status"], "completed");
    let g = &b["grants"][0];
    assert_eq!(g["provider_id"], "google");
    assert_eq!(g["operation"], "creation");
    assert_eq!(g["account_identifier"], "alice@gmail.com");
    assert_eq!(g["delegation"]["agent_id"], json!(a_id));
    assert_eq!(g["delegation"]["delegable"], false);
    assert_eq!(g["delegation"]["policy_refused"], false);
    assert_eq!(g["grant_policy"]["created_by"], "developer");
    let exp = parse_ts(&g["grant_policy"]["expires_at"]);
    assert!((exp - (unix_now() + 3600)).abs() <= 5, "{g}");
    let root = s(&g["grant_id"]);
    // The completed answer is stable; the agent finds its child in the list
    // and can use it.
    assert_eq!(ok(&poll(&token).await, 200), &b);
    let listed = a
        .post("/sdk/grants/list", &json!({"limit": 100, "offset": 0}))
        .await;
    let row = ok(&listed, 200)["grants"][0].clone();
    assert_eq!(row["parent_grant_id"], json!(root));
    let t = a.post("/sdk/token", &token_req(&s(&row["grant_id"]))).await;
    assert!(s(&ok(&t, 200)["access_token"]).starts_with("fake-google-"));

    // Connecting the same account again reuses the grant (reauth).
    let r = app
        .post(
            "/sdk/oauth/connect/session",
            &base(json!({"user_token": alice.user_token})),
        )
        .await;
    let t2 = s(&ok(&r, 200)["session_token"]);
    let done = admin
        .drive_connect(
            &t2,
            json!({"action": "approve", "account": "alice@gmail.com"}),
        )
        .await
        .unwrap();
    assert_eq!(done["grants"][0]["operation"], "reauth");
    assert_eq!(done["grants"][0]["grant_id"], json!(root));

    // Deny → error connect_denied; unknown token → expired; expire.
    let r = app
        .post("/sdk/oauth/connect/session", &base(json!({})))
        .await;
    let t3 = s(&ok(&r, 200)["session_token"]);
    admin
        .drive_connect(&t3, json!({"action": "deny"}))
        .await
        .unwrap();
    let e = ok(&poll(&t3).await, 200).clone();
    assert_eq!(e["status"], "error");
    assert_eq!(e["error"]["error_code"], "connect_denied");
    assert!(!s(&e["error"]["error_message"]).is_empty());
    assert_eq!(ok(&poll("cs_nope").await, 200)["status"], "expired");
    let r = app
        .post("/sdk/oauth/connect/session", &base(json!({})))
        .await;
    let t4 = s(&ok(&r, 200)["session_token"]);
    admin
        .drive_connect(&t4, json!({"action": "expire"}))
        .await
        .unwrap();
    assert_eq!(ok(&poll(&t4).await, 200)["status"], "expired");

    // Multi-provider: declining one keeps the session pending; unticking
    // the other at Confirm reports it not_selected.
    let r = app
        .post(
            "/sdk/oauth/connect/session",
            &base(json!({"allowed_providers": [" Google ", "github", "slack"]})),
        )
        .await;
    let sess = ok(&r, 200).clone();
    assert_eq!(sess["single_provider"], false);
    let t5 = s(&sess["session_token"]);
    admin
        .drive_connect(&t5, json!({"action": "decline", "provider_id": "github"}))
        .await
        .unwrap();
    let p = ok(&poll(&t5).await, 200).clone();
    assert_eq!(p["status"], "pending");
    assert_eq!(p["declined_providers"][0]["provider_id"], "github");
    assert_eq!(p["declined_providers"][0]["error_code"], "connect_denied");
    let done = admin
        .drive_connect(&t5, json!({"action": "approve", "providers": ["google"]}))
        .await
        .unwrap();
    assert_eq!(done["grants"].as_array().unwrap().len(), 1);
    assert_eq!(done["failed_grants"][0]["provider_id"], "slack");
    assert_eq!(done["failed_grants"][0]["reason"], "not_selected");
    // A system (no user) Connect makes a system grant.
    assert_eq!(
        admin
            .update_grant(&s(&done["grants"][0]["grant_id"]), json!({}))
            .await
            .unwrap()["principal_type"],
        "system"
    );

    // An agent's own key targets itself; naming another agent is refused.
    let r = a
        .post(
            "/sdk/oauth/connect/session",
            &base(json!({"user_token": alice.user_token, "delegable": true})),
        )
        .await;
    let sess = ok(&r, 200).clone();
    let info_ = admin
        .connect_session(&s(&sess["session_token"]))
        .await
        .unwrap();
    assert_eq!(info_["agent_id"], json!(a_id));
    a.post(
        "/sdk/oauth/connect/session",
        &base(json!({"agent": b_id, "user_token": alice.user_token})),
    )
    .await
    .expect(400, "agent_cannot_delegate_to_other_agent");

    // Validation.
    for (body, status, code) in [
        (
            base(json!({"allowed_providers": []})),
            422,
            "validation_error",
        ),
        (
            base(json!({"allowed_providers": ["nope"]})),
            400,
            "provider_not_configured",
        ),
        (
            base(json!({"allowed_providers": ["google", "github"], "direct": true})),
            422,
            "validation_error",
        ),
        (
            base(json!({"agent": "research-bot"})),
            400,
            "agent_requires_user_token",
        ),
        (
            base(json!({"agent": "ghost", "user_token": alice.user_token})),
            404,
            "agent_not_found",
        ),
        (
            base(json!({"scope_constraint": ["email"]})),
            422,
            "invalid_scope_constraint",
        ),
        (
            base(
                json!({"agent": a_id, "user_token": alice.user_token, "scope_constraint": ["nope"]}),
            ),
            422,
            "invalid_scope_constraint",
        ),
        (
            base(json!({"required_scopes": {"google": ["admin"]}})),
            400,
            "scope_not_allowed",
        ),
        (
            base(json!({"grant_policy": {"expires_at": "2030-01-01T00:00:00Z"}})),
            422,
            "invalid_grant_policy",
        ),
        (
            base(json!({"allowed_origin": "http://evil.example"})),
            400,
            "invalid_origin",
        ),
        (
            base(json!({"allowed_origin": "https://app.example/path"})),
            400,
            "invalid_origin",
        ),
        (
            base(json!({"user_token": "x.y.z"})),
            401,
            "jwt_validation_error",
        ),
        (
            base(json!({"repair_grant_id": root, "switch_account": true})),
            422,
            "validation_error",
        ),
        (
            base(json!({"repair_grant_id": uuid::Uuid::new_v4().to_string()})),
            404,
            "grant_not_found",
        ),
        (base(json!({"bogus": 1})), 422, "validation_error"),
    ] {
        app.post("/sdk/oauth/connect/session", &body)
            .await
            .expect(status, code);
    }
    // Partly invalid constraints warn; delegable=true forbids direct.
    let r = app
        .post(
            "/sdk/oauth/connect/session",
            &base(
                json!({"allowed_providers": ["google", "github"], "agent": a_id,
                         "user_token": alice.user_token, "scope_constraint": ["email"],
                         "delegable": true}),
            ),
        )
        .await;
    let b = ok(&r, 200);
    assert_eq!(b["scope_constraint_warnings"].as_array().unwrap().len(), 1);
    assert_eq!(b["direct"], false);
    // A repair keeps the grant id and is always direct.
    let r = app
        .post(
            "/sdk/oauth/connect/session",
            &base(json!({"repair_grant_id": root, "user_token": alice.user_token})),
        )
        .await;
    let b = ok(&r, 200).clone();
    assert_eq!(b["direct"], true);
    let done = admin
        .drive_connect(&s(&b["session_token"]), json!({"action": "approve"}))
        .await
        .unwrap();
    assert_eq!(done["grants"][0]["grant_id"], json!(root));
    assert_eq!(done["grants"][0]["operation"], "reauth");
}

/// Within a few seconds of `now + secs`.
#[track_caller]
fn near(ts: &Value, secs: i64) {
    let got = parse_ts(ts);
    assert!((got - (unix_now() + secs)).abs() <= 5, "{ts} vs now+{secs}");
}

#[tokio::test]
async fn managed_secret_connect_sessions_and_effective_expiry() {
    let (server, admin) = start();
    let info = server.info().clone();
    let app = Client::new(&info.base_url, &info.app_api_key);
    let (a_id, a_key) = create_agent(&app, "billing-bot").await;
    let a = Client::new(&info.base_url, &a_key);
    let alice = admin.create_user("alice@example.com").await.unwrap();
    let ms = admin.managed_secret("stripe-prod", "sk_dev").await.unwrap();
    admin
        .update_managed_secret(&ms, json!({"template_slug": "stripe"}))
        .await
        .unwrap();
    let path = "/sdk/managed-secrets/connect/session";
    let day = 86_400;

    // Key entry for the application's own use (no agent).
    let r = app
        .post(
            path,
            &json!({"provider": "stripe-prod", "user_token": alice.user_token}),
        )
        .await;
    let b = ok(&r, 200).clone();
    assert!(s(&b["session_token"]).starts_with("ms_sess_"));
    assert!(s(&b["connect_url"]).ends_with(&format!("#session={}", s(&b["session_token"]))));
    assert_eq!(b["path"], "key_entry");
    assert!(b["existing_grant_id"].is_null());
    assert_eq!(b["secret_slug"], "stripe-prod");
    assert_eq!(b["template_slug"], "stripe");
    assert_eq!(b["delegable_requested"], false);
    assert!(b["agent_id"].is_null());
    near(&b["expires_at"], 600);
    let done = admin
        .drive_connect(
            &s(&b["session_token"]),
            json!({"action": "approve", "secret": "sk_alice_own"}),
        )
        .await
        .unwrap();
    assert_eq!(done["status"], "completed", "{done}");
    let own = s(&done["grants"][0]["grant_id"]);
    let t = app.post("/sdk/token", &token_req(&own)).await;
    assert_eq!(ok(&t, 200)["access_token"], "sk_alice_own");
    // Her own key's credential cannot be assigned to another principal.
    let listed = app
        .post("/sdk/grants/list", &json!({"limit": 100, "offset": 0}))
        .await;
    assert_eq!(
        ok(&listed, 200)["total"],
        0,
        "the operator branch lists OAuth only"
    );
    let cred = admin.update_grant(&own, json!({})).await.unwrap();
    let _ = cred;

    // Now she holds a grant: fast path, delegated to the agent, with the
    // effective expiry of reading B.
    let cases: [(Value, Option<u32>, i64); 4] = [
        // requested 200 d, no ceiling → 90 d
        (json!({"requested_ttl_seconds": 200 * day}), None, 90 * day),
        // no request, ceiling 365 d → 365 d
        (json!({}), Some(365), 365 * day),
        // ceiling 3650 d → 5 years
        (json!({}), Some(3650), 5 * 365 * day),
        // requested 1 h → 1 h
        (json!({"requested_ttl_seconds": 3600}), Some(3650), 3600),
    ];
    for (extra, ceiling, want) in cases {
        admin
            .update_managed_secret(&ms, json!({"max_delegation_ttl_days": ceiling}))
            .await
            .unwrap();
        let mut body =
            json!({"provider": "stripe-prod", "agent": a_id, "user_token": alice.user_token});
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        let r = app.post(path, &body).await;
        let b = ok(&r, 200).clone();
        assert_eq!(b["path"], "fast_path");
        assert_eq!(b["existing_grant_id"], json!(own));
        assert_eq!(b["agent_id"], json!(a_id));
        near(&b["expires_at"], want);
        assert_eq!(b["expires_in"], 600);
        let session = admin
            .connect_session(&s(&b["session_token"]))
            .await
            .unwrap();
        assert_eq!(session["delegation_expires_at"], b["expires_at"]);
    }
    // The last session (1 h) approved: the agent holds an ms_delegation
    // that expires with it.
    let r = app
        .post(
            path,
            &json!({"template_slug": "STRIPE", "delegated_agent_id": a_id, "user_token": alice.user_token,
                    "requested_ttl_seconds": 3600}),
        )
        .await;
    let b = ok(&r, 200).clone();
    assert_eq!(b["secret_slug"], "stripe-prod");
    let done = admin
        .drive_connect(&s(&b["session_token"]), json!({"action": "approve"}))
        .await
        .unwrap();
    let dl = &done["grants"][0]["delegation"];
    assert_eq!(dl["agent_id"], json!(a_id));
    let child = s(&dl["grant_id"]);
    let listed = a
        .post(
            "/sdk/grants/list",
            &json!({"limit": 100, "offset": 0, "provider_id": "stripe-prod"}),
        )
        .await;
    let row = ok(&listed, 200)["grants"][0].clone();
    assert_eq!(row["grant_id"], json!(child));
    assert_eq!(row["access_via"], "ms_delegation");
    assert_eq!(row["credential_kind"], "end_user");
    near(&row["grant_expires_at"], 3600);
    let t = a
        .post(
            "/sdk/token",
            &json!({"provider_id": "stripe-prod", "reason": null,
                    "request": {"method": "GET", "url": "https://api.stripe.com/"}}),
        )
        .await;
    assert_eq!(ok(&t, 200)["access_token"], "sk_alice_own");
    // A second approval updates the delegation in place.
    let r = app
        .post(
            path,
            &json!({"provider": "stripe-prod", "delegated_agent_name": "billing-bot",
                    "user_token": alice.user_token}),
        )
        .await;
    let b = ok(&r, 200).clone();
    let done = admin
        .drive_connect(&s(&b["session_token"]), json!({"action": "approve"}))
        .await
        .unwrap();
    assert_eq!(done["grants"][0]["delegation"]["grant_id"], json!(child));
    assert_eq!(done["grants"][0]["delegation"]["updated"], true);

    // The agent's own key never learns the path or the grant.
    let r = a
        .post(
            path,
            &json!({"provider": "stripe-prod", "user_token": alice.user_token}),
        )
        .await;
    let b = ok(&r, 200).clone();
    assert!(b.as_object().unwrap().contains_key("path"));
    assert!(b["path"].is_null() && b["existing_grant_id"].is_null());
    assert_eq!(b["agent_id"], json!(a_id));
    // delegable echoes; deny ends in connect_denied.
    let r = app
        .post(
            path,
            &json!({"provider": "stripe-prod", "agent": a_id, "user_token": alice.user_token, "delegable": true}),
        )
        .await;
    let b = ok(&r, 200).clone();
    assert_eq!(b["delegable_requested"], true);
    assert_eq!(b["direct"], false);
    admin
        .drive_connect(&s(&b["session_token"]), json!({"action": "deny"}))
        .await
        .unwrap();
    let p = app
        .post(
            "/sdk/oauth/connect/session/poll",
            &json!({"session_token": b["session_token"]}),
        )
        .await;
    assert_eq!(ok(&p, 200)["error"]["error_code"], "connect_denied");

    // Refusals.
    let other = admin.managed_secret("other", "sk_o").await.unwrap();
    let _ = other;
    for (body, status, code) in [
        (
            json!({"provider": "nope", "user_token": alice.user_token}),
            404,
            "secret_not_found",
        ),
        (
            json!({"provider": "other", "template_slug": "stripe", "user_token": alice.user_token}),
            422,
            "secret_template_mismatch",
        ),
        (
            json!({"provider": "stripe-prod", "user_token": alice.user_token, "requested_ttl_seconds": 60,
                   "grant_policy": {"max_ttl_seconds": 60}}),
            422,
            "validation_error",
        ),
        (json!({"provider": "stripe-prod"}), 422, "validation_error"),
        (
            json!({"provider": "Stripe_Prod", "user_token": alice.user_token}),
            422,
            "validation_error",
        ),
        (
            json!({"provider": "stripe-prod", "user_token": "bad"}),
            401,
            "jwt_validation_error",
        ),
        (
            json!({"provider": "stripe-prod", "agent": "ghost", "user_token": alice.user_token}),
            404,
            "agent_not_found",
        ),
        (
            json!({"provider": "stripe-prod", "repair_grant_id": uuid::Uuid::new_v4().to_string(),
                   "user_token": alice.user_token}),
            404,
            "grant_not_found",
        ),
        (
            json!({"template_slug": "nothing", "user_token": alice.user_token}),
            409,
            "no_eligible_grants",
        ),
        (
            json!({"provider": "stripe-prod", "user_token": alice.user_token, "allowed_origin": "*"}),
            400,
            "invalid_origin",
        ),
    ] {
        app.post(path, &body).await.expect(status, code);
    }
    let (_, other_agent_key) = create_agent(&app, "intruder").await;
    Client::new(&info.base_url, &other_agent_key)
        .post(
            path,
            &json!({"provider": "stripe-prod", "agent": a_id, "user_token": alice.user_token}),
        )
        .await
        .expect(400, "agent_cannot_delegate_to_other_agent");
}

#[tokio::test]
async fn sign_in_sessions_long_poll_and_token_verification() {
    let (server, admin) = start();
    let info = server.info().clone();
    let app = Client::new(&info.base_url, &info.app_api_key);
    let (_, agent_key) = create_agent(&app, "research-bot").await;
    let agent = Client::new(&info.base_url, &agent_key);

    let r = app.post("/sdk/auth/session", &json!({})).await;
    let b = ok(&r, 201).clone();
    let token = s(&b["session_token"]);
    assert!(s(&b["auth_url"]).contains(&format!("state={token}")));
    assert_eq!(b["expires_in"], 600);
    assert!(b["expires_at"].is_string());
    let pending = app
        .post("/sdk/auth/poll", &json!({"session_token": token}))
        .await;
    assert_eq!(ok(&pending, 200)["status"], "pending");

    // A long poll is parked, then woken by the sign-in.
    let held = {
        let app = app.clone();
        let token = token.clone();
        tokio::spawn(async move {
            app.post(
                "/sdk/auth/poll",
                &json!({"session_token": token, "wait_ms": 25000}),
            )
            .await
        })
    };
    loop {
        if admin.health().await.unwrap()["held_long_polls"] == 1 {
            break;
        }
        tokio::task::yield_now().await;
    }
    admin
        .drive_auth(
            &token,
            json!({"action": "complete", "email": "carol@example.com", "display_name": "Carol"}),
        )
        .await
        .unwrap();
    let r = held.await.unwrap();
    let b = ok(&r, 200).clone();
    assert_eq!(b["status"], "completed");
    assert_eq!(b["user_info"]["email"], "carol@example.com");
    let jwt = s(&b["user_token"]);

    // The token verifies to its subject only; garbage is a 401.
    let v = app
        .post("/sdk/auth/verify-token", &json!({"token": jwt}))
        .await;
    let vb = ok(&v, 200);
    assert_eq!(vb.as_object().unwrap().len(), 1);
    assert_eq!(vb["sub"], b["user_info"]["sub"]);
    app.post("/sdk/auth/verify-token", &json!({"token": "a.b.c"}))
        .await
        .expect(401, "jwt_validation_error");
    // The signed-in user's token works for user-scoped calls.
    ok(
        &app.post(
            "/sdk/grants/list",
            &json!({"limit": 100, "offset": 0, "user_token": jwt}),
        )
        .await,
        200,
    );

    // Cancelled sign-in, expired and unknown sessions, bounds, agent keys.
    let r = app.post("/sdk/auth/session", &json!({})).await;
    let t2 = s(&ok(&r, 201)["session_token"]);
    admin
        .drive_auth(&t2, json!({"action": "fail", "error_message": "nope"}))
        .await
        .unwrap();
    let e = app
        .post("/sdk/auth/poll", &json!({"session_token": t2}))
        .await;
    assert_eq!(ok(&e, 200)["status"], "error");
    assert_eq!(e.body["error_message"], "nope");
    let x = app
        .post("/sdk/auth/poll", &json!({"session_token": "as_unknown"}))
        .await;
    assert_eq!(ok(&x, 200)["status"], "expired");
    app.post(
        "/sdk/auth/poll",
        &json!({"session_token": token, "wait_ms": 30001}),
    )
    .await
    .expect(422, "validation_error");
    agent
        .post("/sdk/auth/session", &json!({}))
        .await
        .expect(403, "insufficient_scope");
}

#[tokio::test]
async fn identity_resolution_and_es256_assertions() {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    let (server, admin) = start();
    let info = server.info().clone();
    let app = Client::new(&info.base_url, &info.app_api_key);
    let (a_id, a_key) = create_agent(&app, "research-bot").await;
    let a = Client::new(&info.base_url, &a_key);
    let alice = admin
        .create_user_with(
            json!({"email": "alice@example.com", "display_name": "Alice", "groups": ["eng"]}),
        )
        .await
        .unwrap();

    let headless = app
        .post("/sdk/identity/resolve", &json!({"include_profile": false}))
        .await;
    let h = ok(&headless, 200);
    assert_eq!(h["app_id"], json!(info.app_id));
    assert!(h["app_user_id"].is_null());
    let r = app
        .post(
            "/sdk/identity/resolve",
            &json!({"include_profile": true, "user_token": alice.user_token}),
        )
        .await;
    let b = ok(&r, 200);
    assert_eq!(b["app_user_id"], json!(alice.user_id));
    assert_eq!(b["user_status"], "active");
    assert_eq!(b["group_ids"], json!(["eng"]));
    assert_eq!(b["email"], "alice@example.com");
    assert_eq!(b["display_name"], "Alice");
    // app_user_id: agents only, and only with a delegation from that user.
    app.post(
        "/sdk/identity/resolve",
        &json!({"include_profile": false, "app_user_id": alice.user_id}),
    )
    .await
    .expect(400, "app_user_id_requires_agent");
    a.post(
        "/sdk/identity/resolve",
        &json!({"include_profile": false, "app_user_id": alice.user_id}),
    )
    .await
    .expect(404, "identity_not_found");
    admin
        .create_oauth_grant(json!({"user_id": alice.user_id, "provider_id": "google",
            "access_token": "t", "agent_id": a_id}))
        .await
        .unwrap();
    let mut req = Req::new("POST", "/sdk/identity/resolve")
        .json(&json!({"include_profile": false, "app_user_id": alice.user_id}));
    req.context = Some(r#"{"run_id":"run-1","thread_id":"th-1"}"#.into());
    let r = a.send(req).await;
    let b = ok(&r, 200);
    assert_eq!(b["agent_id"], json!(a_id));
    assert_eq!(b["trace"], json!({"run_id": "run-1", "thread_id": "th-1"}));

    // An assertion verifies against the published JWKS.
    let r = a
        .post(
            "/sdk/identity/assert",
            &json!({"include_profile": false, "app_user_id": alice.user_id,
                    "audience": "https://api.example.com", "ttl_seconds": 60}),
        )
        .await;
    let b = ok(&r, 200).clone();
    let tok = s(&b["token"]);
    let jwks: Value = serde_json::from_slice(
        &reqwest::get(format!("{}/.well-known/jwks.json", info.base_url))
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap(),
    )
    .unwrap();
    let jwk = &jwks["keys"][0];
    let mut point = vec![4u8];
    for c in ["x", "y"] {
        point.extend(URL_SAFE_NO_PAD.decode(s(&jwk[c])).unwrap());
    }
    let (input, sig) = tok.rsplit_once('.').unwrap();
    ring::signature::UnparsedPublicKey::new(&ring::signature::ECDSA_P256_SHA256_FIXED, point)
        .verify(input.as_bytes(), &URL_SAFE_NO_PAD.decode(sig).unwrap())
        .expect("assertion signature verifies");
    let part = |i: usize| -> Value {
        serde_json::from_slice(
            &URL_SAFE_NO_PAD
                .decode(tok.split('.').nth(i).unwrap())
                .unwrap(),
        )
        .unwrap()
    };
    let (header, claims) = (part(0), part(1));
    assert_eq!(header["alg"], "ES256");
    assert_eq!(header["typ"], "alter-identity+jwt");
    assert_eq!(header["kid"], jwk["kid"]);
    assert_eq!(claims["sub"], format!("alter:user:{}", alice.user_id));
    assert_eq!(claims["aud"], "https://api.example.com");
    assert_eq!(claims["azp"], json!(info.app_id));
    assert_eq!(claims["act"]["sub"], format!("alter:agent:{a_id}"));
    assert_eq!(claims["alter"]["app_id"], json!(info.app_id));
    assert_eq!(claims["alter"]["agent_auth"], "api_key");
    let (iat, exp) = (
        claims["iat"].as_i64().unwrap(),
        claims["exp"].as_i64().unwrap(),
    );
    assert!(iat < exp && exp <= iat + 300);
    assert_eq!(parse_ts(&b["expires_at"]), exp);
    // Headless assertion is about the app.
    let r = app
        .post(
            "/sdk/identity/assert",
            &json!({"include_profile": false, "audience": "urn:svc"}),
        )
        .await;
    let t = s(&ok(&r, 200)["token"]);
    let claims: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(t.split('.').nth(1).unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(claims["sub"], format!("alter:app:{}", info.app_id));
    for (body, code) in [
        (
            json!({"include_profile": false, "audience": info.base_url}),
            "invalid_audience",
        ),
        (
            json!({"include_profile": false, "audience": "no-scheme"}),
            "validation_error",
        ),
        (
            json!({"include_profile": false, "audience": "urn:x", "ttl_seconds": 301}),
            "validation_error",
        ),
    ] {
        app.post("/sdk/identity/assert", &body)
            .await
            .expect(422, code);
    }
}

#[tokio::test]
async fn derived_keys_narrow_and_are_enforced() {
    let (server, admin) = start();
    let info = server.info().clone();
    let app = Client::new(&info.base_url, &info.app_api_key);

    let r = app
        .post(
            "/sdk/keys/derive",
            &json!({"scopes": ["grants:read", "spans:emit"], "expires_in": 7 * 86_400,
                    "name": "ci", "metadata": {"team": "x"}}),
        )
        .await;
    let k = ok(&r, 201).clone();
    let dk = s(&k["api_key"]);
    assert!(dk.starts_with("alter_dk_"));
    assert!(alter_core::keys::is_valid_key(&dk));
    assert_eq!(k["key_type"], "dk");
    assert_eq!(k["scopes"], json!(["grants:read", "spans:emit"]));
    assert_eq!(k["name"], "ci");
    assert!(k["parent_key_id"].is_string());
    assert!(k["effective_rate_limit_rpm"].is_null() && k["rate_limit_source"].is_null());
    // Lifetime capped at 24 h.
    near(&k["expires_at"], 86_400);
    let derived = Client::new(&info.base_url, &dk);
    ok(
        &derived
            .post("/sdk/grants/list", &json!({"limit": 1, "offset": 0}))
            .await,
        200,
    );
    // Scopes never broaden; derived keys cannot derive.
    derived
        .post("/sdk/token", &token_req(&uuid::Uuid::new_v4().to_string()))
        .await
        .expect(403, "insufficient_scope");
    derived
        .post(
            "/sdk/keys/derive",
            &json!({"scopes": ["grants:read"], "expires_in": 60}),
        )
        .await
        .expect(403, "insufficient_scope");
    app.post(
        "/sdk/keys/derive",
        &json!({"scopes": ["keys:derive"], "expires_in": 60}),
    )
    .await
    .expect(400, "invalid_scope_for_derived_key");
    // Attenuated caller: the constraint bounds what it may derive.
    let mut narrowed = Req::new("POST", "/sdk/keys/derive")
        .json(&json!({"scopes": ["proxy:execute"], "expires_in": 60}));
    narrowed.scope_constraints = Some("keys:derive,grants:read".into());
    app.send(narrowed)
        .await
        .expect(400, "invalid_scope_for_derived_key");
    app.post(
        "/sdk/keys/derive",
        &json!({"scopes": ["made:up"], "expires_in": 60}),
    )
    .await
    .expect(400, "invalid_scope_for_derived_key");

    // CIDR allowlists are enforced on the source address (loopback here).
    let r = app
        .post(
            "/sdk/keys/derive",
            &json!({"scopes": ["grants:read"], "expires_in": 60, "cidr_allowlist": ["10.0.0.0/8"]}),
        )
        .await;
    let far = s(&ok(&r, 201)["api_key"]);
    Client::new(&info.base_url, &far)
        .post("/sdk/grants/list", &json!({"limit": 1, "offset": 0}))
        .await
        .expect(403, "ip_not_allowed");
    let r = app
        .post(
            "/sdk/keys/derive",
            &json!({"scopes": ["grants:read", "keys:admin"], "expires_in": 60,
                    "cidr_allowlist": ["127.0.0.0/8"], "rate_limit_rpm": 2}),
        )
        .await;
    let near_key = ok(&r, 201).clone();
    assert_eq!(near_key["effective_rate_limit_rpm"], 2);
    assert_eq!(near_key["rate_limit_source"], "key");
    let local = Client::new(&info.base_url, &s(&near_key["api_key"]));
    // Two calls a minute: the third in a window is refused (a window
    // boundary between calls only resets the count, so allow a few).
    let mut limited = None;
    for _ in 0..5 {
        let r = local
            .post("/sdk/grants/list", &json!({"limit": 1, "offset": 0}))
            .await;
        if r.status == 429 {
            limited = Some(r);
            break;
        }
        ok(&r, 200);
    }
    let limited = limited.expect("the limit is enforced");
    limited.expect(429, "rate_limit_exceeded");
    assert!(limited.header("retry-after").is_some());

    // Revoking a key cascades to the keys derived from it.
    let (agent_id, agent_key) = create_agent(&app, "deriving-bot").await;
    let agent = Client::new(&info.base_url, &agent_key);
    let r = agent
        .post(
            "/sdk/keys/derive",
            &json!({"scopes": ["grants:read"], "expires_in": 600}),
        )
        .await;
    let child = ok(&r, 201).clone();
    let child_client = Client::new(&info.base_url, &s(&child["api_key"]));
    ok(
        &child_client
            .post("/sdk/grants/list", &json!({"limit": 1, "offset": 0}))
            .await,
        200,
    );
    let parent_id = s(&child["parent_key_id"]);
    admin
        .update_key(json!({"key_id": parent_id}))
        .await
        .unwrap();
    let r = app
        .delete(&format!("/sdk/keys/{parent_id}?force=true"))
        .await;
    assert!(ok(&r, 200)["revoked_at"].is_string());
    child_client
        .post("/sdk/grants/list", &json!({"limit": 1, "offset": 0}))
        .await
        .expect(401, "key_revoked");
    let _ = agent_id;
    // Revoking a derived key itself.
    let r = app.delete(&format!("/sdk/keys/{}", s(&k["id"]))).await;
    assert!(ok(&r, 200)["revoked_at"].is_string());
    derived
        .post("/sdk/grants/list", &json!({"limit": 1, "offset": 0}))
        .await
        .expect(401, "key_revoked");
}

#[tokio::test]
async fn key_rotation_grace_and_revocation_rules() {
    let (server, admin) = start();
    let info = server.info().clone();
    let app = Client::new(&info.base_url, &info.app_api_key);
    let (agent_id, agent_key) = create_agent(&app, "research-bot").await;
    let agent = Client::new(&info.base_url, &agent_key);
    let me = agent.get("/sdk/agents/me").await;
    ok(&me, 200);
    let keys = app.get(&format!("/sdk/agents/{agent_id}/keys")).await;
    let agent_key_id = s(&ok(&keys, 200)["items"][0]["key_id"]);

    // The agent rotates its own key with an overlap: both keys work, the
    // old one reports itself deprecated.
    let r = agent
        .post(
            &format!("/sdk/keys/{agent_key_id}/rotate"),
            &json!({"overlap_days": 7}),
        )
        .await;
    let succ = ok(&r, 201).clone();
    assert_eq!(succ["key_type"], "ak");
    let new_agent = Client::new(&info.base_url, &s(&succ["api_key"]));
    ok(&new_agent.get("/sdk/agents/me").await, 200);
    let old = agent.get("/sdk/agents/me").await;
    assert_eq!(old.header("x-alter-key-deprecated"), Some("true"));
    // Rotating again, or reaching the app's key, is refused.
    agent
        .post(
            &format!("/sdk/keys/{agent_key_id}/rotate"),
            &json!({"overlap_days": 1}),
        )
        .await
        .expect(409, "key_already_rotated");
    let app_key_id = s(&admin
        .update_key(json!({"api_key": info.app_api_key}))
        .await
        .unwrap()["key_id"]);
    new_agent
        .post(&format!("/sdk/keys/{app_key_id}/rotate"), &json!({}))
        .await
        .expect(404, "key_not_found");

    // Overlap 0: the old key stops at once.
    let succ_id = s(&succ["id"]);
    let r = new_agent
        .post(
            &format!("/sdk/keys/{succ_id}/rotate"),
            &json!({"overlap_days": 0}),
        )
        .await;
    let third = Client::new(&info.base_url, &s(&ok(&r, 201)["api_key"]));
    new_agent
        .get("/sdk/agents/me")
        .await
        .expect(401, "key_rotated_grace_expired");
    ok(&third.get("/sdk/agents/me").await, 200);
    app.post(
        &format!("/sdk/keys/{app_key_id}/rotate"),
        &json!({"overlap_days": 31}),
    )
    .await
    .expect(422, "validation_error");

    // Derived keys cannot be rotated.
    let r = app
        .post(
            "/sdk/keys/derive",
            &json!({"scopes": ["grants:read"], "expires_in": 60}),
        )
        .await;
    let dk_id = s(&ok(&r, 201)["id"]);
    app.post(&format!("/sdk/keys/{dk_id}/rotate"), &json!({}))
        .await
        .expect(400, "derived_key_not_rotatable");

    // The agent's last active key needs force.
    let keys = app.get(&format!("/sdk/agents/{agent_id}/keys")).await;
    let live: Vec<String> = ok(&keys, 200)["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|k| k["revoked_at"].is_null())
        .map(|k| s(&k["key_id"]))
        .collect();
    for k in &live[..live.len() - 1] {
        ok(&app.delete(&format!("/sdk/keys/{k}")).await, 200);
    }
    let last = live.last().unwrap();
    app.delete(&format!("/sdk/keys/{last}"))
        .await
        .expect(409, "last_active_key");
    let r = app.delete(&format!("/sdk/keys/{last}?force=true")).await;
    assert!(ok(&r, 200)["revoked_at"].is_string());
}

#[tokio::test]
async fn keys_are_hashed_at_rest() {
    let dir = std::env::temp_dir().join(format!("alter-dev-keys-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("state.db");
    let server = alter_devserver::DevServer::start(alter_devserver::ServerOptions {
        state_file: Some(file.clone()),
        ..Default::default()
    })
    .unwrap();
    let info = server.info().clone();
    let app = Client::new(&info.base_url, &info.app_api_key);
    let r = app
        .post(
            "/sdk/keys/derive",
            &json!({"scopes": ["grants:read"], "expires_in": 600}),
        )
        .await;
    let dk = s(&ok(&r, 201)["api_key"]);
    let (_, agent_key) = create_agent(&app, "stored-bot").await;
    server.stop();
    let conn = rusqlite::Connection::open(&file).unwrap();
    let state: String = conn
        .query_row("SELECT state FROM alter_dev_state WHERE id = 1", [], |r| {
            r.get(0)
        })
        .unwrap();
    for plaintext in [&dk, &agent_key] {
        assert!(!state.contains(plaintext.as_str()), "plaintext key stored");
        let digest = {
            use sha2::Digest;
            hex::encode(sha2::Sha256::digest(plaintext.as_bytes()))
        };
        assert!(state.contains(&digest), "digest stored");
    }
    // The restarted server still accepts the derived key.
    let server = alter_devserver::DevServer::start(alter_devserver::ServerOptions {
        state_file: Some(file),
        ..Default::default()
    })
    .unwrap();
    ok(
        &Client::new(&server.info().base_url, &dk)
            .post("/sdk/grants/list", &json!({"limit": 1, "offset": 0}))
            .await,
        200,
    );
    server.stop();
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn catalogs_specs_scopes_and_spans() {
    let (server, _admin) = start();
    let info = server.info().clone();
    let app = Client::new(&info.base_url, &info.app_api_key);

    let r = app.get("/sdk/oauth/provider-catalog").await;
    let providers = ok(&r, 200)["providers"].as_array().unwrap().clone();
    let google = providers.iter().find(|p| p["id"] == "google").unwrap();
    assert_eq!(google["status"], "active");
    assert!(google["available_scopes"]["openid"]["required"]
        .as_bool()
        .unwrap());
    assert!(google["default_scopes"]
        .as_array()
        .unwrap()
        .contains(&json!("email")));
    assert_eq!(google["required_scopes"], json!(["openid"]));

    let r = app.get("/sdk/provider-specs").await;
    let b = ok(&r, 200);
    assert_eq!(
        b["total"].as_u64().unwrap() as usize,
        b["items"].as_array().unwrap().len()
    );
    let r = app.get("/sdk/provider-specs?kind=managed").await;
    assert!(ok(&r, 200)["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|s| s["provider_kind"] == "managed"));
    let r = app.get("/sdk/provider-specs/oauth/google").await;
    let spec = ok(&r, 200).clone();
    assert_eq!(spec["operation_count"], 4);
    assert_eq!(s(&spec["content_hash"]).len(), 64);
    app.get("/sdk/provider-specs/oauth/nope")
        .await
        .expect(404, "provider_spec_not_found");
    let r = app
        .get("/sdk/provider-specs/oauth/google/operations?limit=2&offset=0")
        .await;
    let page = ok(&r, 200).clone();
    assert_eq!(
        (page["total"].as_u64(), page["has_more"].as_bool()),
        (Some(4), Some(true))
    );
    assert_eq!(page["items"][0]["operation_id"], "calendar.events.list");
    assert_eq!(page["spec"]["provider_id"], "google");
    let r = app
        .get("/sdk/provider-specs/oauth/google/operations?limit=100&offset=0&search=send")
        .await;
    assert_eq!(ok(&r, 200)["total"], 1);
    let r = app
        .get("/sdk/provider-specs/oauth/google/operation?operation_id=gmail.users.messages.send")
        .await;
    let op = ok(&r, 200);
    assert_eq!(op["method"], "POST");
    assert_eq!(op["params_schema"]["required"], json!(["userId"]));
    app.get("/sdk/provider-specs/oauth/google/operation?operation_id=nope")
        .await
        .expect(404, "operation_not_found");
    app.get("/sdk/provider-specs/other/google")
        .await
        .expect(422, "validation_error");

    let r = app.get("/sdk/scopes").await;
    let cat = ok(&r, 200);
    assert_eq!(cat["scope_version"], 1);
    assert!(cat["resources"]["keys"]["verbs"]
        .as_array()
        .unwrap()
        .contains(&json!("derive")));
    let r = app
        .post(
            "/sdk/spans",
            &json!({"spans": [{"trace_id": "t1", "name": "n", "start_time": "2025-01-01T00:00:00Z",
                               "span_id": "s1", "attributes": {}}]}),
        )
        .await;
    assert_eq!(ok(&r, 200)["accepted"], 1);
}

#[tokio::test]
async fn paused_agents_are_refused_everywhere_here() {
    let (server, admin) = start();
    let info = server.info().clone();
    let app = Client::new(&info.base_url, &info.app_api_key);
    let (agent_id, agent_key) = create_agent(&app, "research-bot").await;
    let agent = Client::new(&info.base_url, &agent_key);
    let alice = admin.create_user("alice@example.com").await.unwrap();
    let ids = admin
        .create_oauth_grant(json!({"user_id": alice.user_id, "provider_id": "google",
            "access_token": "t", "agent_id": agent_id}))
        .await
        .unwrap();
    ok(
        &app.patch(
            &format!("/sdk/agents/{agent_id}"),
            &json!({"status": "inactive"}),
        )
        .await,
        200,
    );
    let child = ids.delegation_grant_id.unwrap();
    for r in [
        agent
            .post("/sdk/grants/list", &json!({"limit": 1, "offset": 0}))
            .await,
        agent
            .post(&format!("/sdk/grants/{child}/delegate"), &json!({"to_agent_id": agent_id}))
            .await,
        agent
            .post(
                "/sdk/oauth/connect/session",
                &json!({"allowed_providers": null, "return_url": null, "allowed_origin": null, "metadata": null}),
            )
            .await,
        agent
            .post("/sdk/keys/derive", &json!({"scopes": ["grants:read"], "expires_in": 60}))
            .await,
        agent.get("/sdk/oauth/provider-catalog").await,
        agent.get("/sdk/scopes").await,
        agent
            .delete(&format!("/sdk/grants/{}/delegations/me", ids.grant_id))
            .await,
    ] {
        r.expect(401, "agent_inactive");
    }
    // Impersonating a paused agent does not resolve; new delegations to it
    // are refused.
    app.clone()
        .with_caller(&agent_id, "agent")
        .post("/sdk/grants/list", &json!({"limit": 1, "offset": 0}))
        .await
        .expect(404, "caller_agent_unresolved");
    app.post(
        "/sdk/oauth/connect/session",
        &json!({"allowed_providers": ["google"], "return_url": null, "allowed_origin": null,
                "metadata": null, "agent": agent_id, "user_token": alice.user_token}),
    )
    .await
    .expect(404, "agent_not_found");
    // Spans still go through.
    let r = agent
        .post(
            "/sdk/spans",
            &json!({"spans": [{"trace_id": "t", "name": "n", "start_time": "2025-01-01T00:00:00Z"}]}),
        )
        .await;
    ok(&r, 200);
}

#[tokio::test]
async fn agent_scope_narrowing_is_staged_with_grace() {
    let (server, _admin) = start();
    let info = server.info().clone();
    let app = Client::new(&info.base_url, &info.app_api_key);
    let (id, _) = agent_with_scopes(
        &app,
        "scoped-bot",
        json!({"google": ["email", "openid"], "managed_secret_slugs": ["stripe"]}),
    )
    .await;
    // Mixed change: github is added at once, the google narrowing waits.
    let r = app
        .patch(
            &format!("/sdk/agents/{id}?grace_seconds=3600&expected_version=1"),
            &json!({"scopes": {"google": ["email"], "github": ["repo"]}}),
        )
        .await;
    let b = ok(&r, 200).clone();
    assert_eq!(b["scopes"]["github"], json!(["repo"]));
    assert_eq!(b["scopes"]["google"], json!(["email", "openid"]));
    assert_eq!(
        b["scopes_pending"],
        json!({"google": ["email"], "github": ["repo"]})
    );
    near(&b["scopes_applies_at"], 3600);
    assert_eq!(b["version"], 2);
    // Grace 0 applies at once and clears the staged change.
    let r = app
        .patch(
            &format!("/sdk/agents/{id}?grace_seconds=0&expected_version=2"),
            &json!({"scopes": {"google": ["email"]}}),
        )
        .await;
    let b = ok(&r, 200);
    assert_eq!(b["scopes"], json!({"google": ["email"]}));
    assert!(b["scopes_pending"].is_null() && b["scopes_applies_at"].is_null());
    // Broadening is immediate even with a grace.
    let r = app
        .patch(
            &format!("/sdk/agents/{id}?grace_seconds=3600"),
            &json!({"scopes": {"google": ["email", "openid"]}}),
        )
        .await;
    let b = ok(&r, 200);
    assert_eq!(b["scopes"], json!({"google": ["email", "openid"]}));
    assert!(b["scopes_pending"].is_null());
}
