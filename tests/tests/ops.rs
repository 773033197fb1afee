//! The core's operation table (`alter_core::ops`), the JSON entry point of
//! the C ABI and the Node module, against the local vault: one happy path
//! per family, in the canonical and in the camelCase spelling.

mod common;

use alter_core::ops::{self, OpError, Spelling, Target};
use common::{enable_onward_sharing, FakeUser, Vault};
use serde_json::{json, Map, Value};

fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        other => panic!("not an object: {other}"),
    }
}

async fn run(t: Target<'_>, op: &str, args: Value) -> Value {
    match ops::call(t, op, obj(args)).await {
        Ok(v) => v,
        Err(e) => panic!("{op}: {e:?}"),
    }
}

#[tokio::test]
async fn agents_and_their_keys() {
    let vault = Vault::start();
    let app = vault.app();
    let t = Target::App(&app);
    let created = run(
        t,
        "agents.create",
        json!({"name": "ops-bot", "display_name": "Ops", "metadata": {"team_id": "t1"}}),
    )
    .await;
    let id = created["id"].as_str().unwrap().to_string();
    assert_eq!(created["name"], "ops-bot");
    assert!(created["api_key"].is_string(), "the plaintext, shown once");
    assert_eq!(
        created["metadata"],
        json!({"team_id": "t1"}),
        "kept as given"
    );

    let page = run(t, "agents.list", json!({"limit": 10})).await;
    assert_eq!(page["limit"], 10);
    assert!(page["agents"]
        .as_array()
        .unwrap()
        .iter()
        .any(|a| a["id"] == id.as_str()));
    assert_eq!(
        run(t, "agents.get", json!({"agent_id": id})).await["id"],
        id.as_str()
    );
    assert_eq!(
        run(t, "agents.get_by_name", json!({"name": "ops-bot"})).await["id"],
        id.as_str()
    );
    assert_eq!(
        run(t, "agents.get_by_name", json!({"name": "nobody"})).await,
        Value::Null
    );
    let updated = run(
        t,
        "agents.update",
        json!({"agent_id": id, "display_name": "Ops 2"}),
    )
    .await;
    assert_eq!(updated["display_name"], "Ops 2");

    // Key results carry the status the core derives.
    let minted = run(t, "agents.mint_key", json!({"agent_id": id})).await;
    assert_eq!(minted["status"], "active");
    let key_id = minted["key_id"].as_str().unwrap().to_string();
    let keys = run(t, "agents.list_keys", json!({"agent_id": id})).await;
    assert!(keys["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|k| k["status"].is_string()));
    let deprecated = run(
        t,
        "agents.deprecate_key",
        json!({"agent_id": id, "key_id": key_id}),
    )
    .await;
    assert_eq!(deprecated["status"], "deprecated");

    assert_eq!(
        run(t, "agents.suspend", json!({"agent_id": id})).await["status"],
        "inactive"
    );
    assert_eq!(
        run(t, "agents.resume", json!({"agent_id": id})).await["status"],
        "active"
    );

    // A failure of the call itself is not an argument error.
    match ops::call(
        t,
        "agents.get",
        obj(json!({"agent_id": "00000000-0000-4000-8000-000000000000"})),
    )
    .await
    {
        Err(OpError::Failed(e)) => assert_eq!(e.kind(), "AgentNotFoundError"),
        other => panic!("{other:?}"),
    }
    app.close().await;
}

#[tokio::test]
async fn grants_identity_and_the_agent_itself() {
    let vault = Vault::start();
    let (agent_id, key) = vault.new_agent("grantee").await;
    let user = vault.admin.create_user("dana@example.com").await.unwrap();
    let oauth = vault
        .admin
        .create_oauth_grant(json!({
            "provider_id": "github", "access_token": "gho_x", "user_id": user.user_id,
            "account": "dana"
        }))
        .await
        .unwrap();
    let ms = vault.admin.managed_secret("acme", "tok").await.unwrap();
    let app = vault.app();
    let t = Target::App(&app);

    let issued = run(
        t,
        "create_managed_secret_grant",
        json!({"managed_secret_id": ms, "principal": {"type": "system", "label": "cron"},
               "grant_policy": {"max_ttl_seconds": 3600}}),
    )
    .await;
    assert_eq!(issued["principal_type"], "system");
    let sibling = run(
        t,
        "mint_grant",
        json!({"source_grant_id": oauth.grant_id, "label": "ci"}),
    )
    .await;
    assert_eq!(sibling["provider_id"], "github");
    let listed = run(t, "list_grants", json!({"provider_id": "github"})).await;
    assert!(listed["total"].as_u64().unwrap() >= 2);
    let revoked = run(
        t,
        "revoke_grant",
        json!({"grant_id": sibling["grant_id"], "reason": "done"}),
    )
    .await;
    assert_eq!(revoked["success"], true);

    let who = run(
        t,
        "resolve_identity",
        json!({"user_token": user.user_token}),
    )
    .await;
    assert_eq!(who["app_user_id"], user.user_id.as_str());
    assert_eq!(
        run(t, "verify_user_token", json!({"token": user.user_token})).await,
        Value::String(user.user_id.clone())
    );
    assert_eq!(
        run(t, "verify_user_token", json!({"token": "not-a-token"})).await,
        Value::Null
    );

    let agent = vault.agent(&key);
    let me = run(Target::Agent(&agent), "me", json!({})).await;
    assert_eq!(me["id"], agent_id.as_str());
    app.close().await;
    agent.close().await;
}

#[tokio::test]
async fn connect_sessions_including_one_for_an_error() {
    let vault = Vault::start();
    let user = vault.admin.create_user("erin@example.com").await.unwrap();
    let app = vault.app();
    let t = Target::App(&app);
    let session = run(
        t,
        "create_connect_session",
        json!({"allowed_providers": ["google"], "user_token": user.user_token}),
    )
    .await;
    let token = session["session_token"].as_str().unwrap();
    assert!(session["connect_url"]
        .as_str()
        .unwrap()
        .contains("/connect/"));
    let stored = vault.admin.connect_session(token).await.unwrap();
    assert_eq!(stored["providers"], json!(["google"]));

    // The error comes back as an object and is rebuilt with its fields.
    let repair = run(
        t,
        "create_connect_session_for_error",
        json!({"error": {"kind": "GrantNotFoundError", "message": "no grant", "provider_id": "google"},
               "user_token": user.user_token}),
    )
    .await;
    let stored = vault
        .admin
        .connect_session(repair["session_token"].as_str().unwrap())
        .await
        .unwrap();
    assert_eq!(stored["providers"], json!(["google"]));

    // The camelCase spelling reaches the same operation, wire objects included.
    let camel = ops::call_spelled(
        t,
        "create_connect_session",
        obj(
            json!({"allowedProviders": ["google"], "userToken": user.user_token,
                   "metadata": {"ipAddress": "10.0.0.1"}}),
        ),
        Spelling::CAMEL,
    )
    .await
    .unwrap();
    assert!(camel["session_token"].is_string());
    app.close().await;
}

#[tokio::test]
async fn keys_scopes_spans_catalogs_and_approvals() {
    let vault = Vault::start();
    let (_, key) = vault.new_agent("spanner").await;
    let app = vault.app();
    let t = Target::App(&app);
    let derived = run(
        t,
        "keys.derive",
        json!({"scopes": ["grants:read"], "expires_in": 600, "name": "ops-derived"}),
    )
    .await;
    assert_eq!(derived["name"], "ops-derived");
    assert_eq!(derived["status"], "active");
    let revoked = run(t, "keys.revoke", json!({"key_id": derived["id"]})).await;
    assert_eq!(revoked["status"], "revoked");
    assert!(!run(t, "scopes.list", json!({})).await["resources"].is_null());
    assert!(run(t, "oauth_providers.list", json!({})).await["providers"]
        .as_array()
        .is_some_and(|p| !p.is_empty()));

    let agent = vault.agent(&key);
    let a = Target::Agent(&agent);
    assert!(run(a, "provider_specs.list", json!({}))
        .await
        .as_array()
        .is_some_and(|s| !s.is_empty()));
    let emitted = run(
        a,
        "spans.emit",
        json!({"spans": [{"trace_id": "run_ops", "name": "plan", "start_time": "2026-01-01T00:00:00Z",
                          "attributes": [["step", "1"]]}]}),
    )
    .await;
    assert_eq!(emitted["accepted"], 1);

    // An approval id the core refuses before asking: the call's failure.
    match ops::call(
        t,
        "get_approval_status",
        obj(json!({"approval_id": "not-a-uuid"})),
    )
    .await
    {
        Err(OpError::Failed(e)) => assert_eq!(e.kind(), "AlterValueError"),
        other => panic!("{other:?}"),
    }
    app.close().await;
    agent.close().await;
}

/// `await_approval` through the table, in the camelCase spelling: it waits
/// for the human's decision and yields the executed call; a denial is the
/// call's failure with the approval's kind.
#[tokio::test]
async fn await_approval_waits_for_the_decision() {
    use alter_core::{ProxyOptions, ProxyOutcome};
    let vault = Vault::start();
    let app = vault.app();
    let grant = vault.bound_secret("ops-hitl", "hitl-secret", None).await;
    vault
        .admin
        .update_grant(&grant, json!({"hitl": true}))
        .await
        .unwrap();
    let pending = || async {
        match app
            .proxy_request(
                "POST",
                &vault.echo("/pay"),
                ProxyOptions {
                    grant_id: Some(grant.clone()),
                    json: Some(json!({"amount": 7})),
                    ..Default::default()
                },
            )
            .await
            .unwrap()
        {
            ProxyOutcome::Pending(p) => p.approval_id,
            other => panic!("expected pending, got {other:?}"),
        }
    };
    let camel = Spelling::CAMEL;

    let id = pending().await;
    let waiter = {
        let app = app.clone();
        let args =
            obj(json!({"approvalId": id, "timeoutSeconds": 30, "pollIntervalSeconds": 0.05}));
        tokio::spawn(async move {
            ops::call_spelled(Target::App(&app), "await_approval", args, camel).await
        })
    };
    vault.admin.decide(&id, "approve", None).await.unwrap();
    let done = waiter.await.unwrap().expect("approved");
    // Results keep the canonical keys (the Node binding renames them).
    assert_eq!(done["status"], "executed");
    assert_eq!(done["status_code"], 200);
    assert_eq!(done["approval_id"], id.as_str());
    assert!(done["body_b64"].is_string());

    let denied = pending().await;
    vault
        .admin
        .decide(&denied, "deny", Some("not today"))
        .await
        .unwrap();
    let args =
        obj(json!({"approvalId": denied, "timeoutSeconds": 30, "pollIntervalSeconds": 0.05}));
    match ops::call_spelled(Target::App(&app), "await_approval", args, camel).await {
        Err(OpError::Failed(e)) => assert_eq!(e.kind(), "ApprovalDeniedError"),
        other => panic!("expected the denial, got {other:?}"),
    }
}

/// The flows that wait for a person, through the table: a connect session
/// approved on the local consent page and polled to its delegated grant
/// (canonical spelling), the delegated agent passing the grant on with
/// `delegate` (camelCase), and a sign-in polled to its user token.
#[tokio::test]
async fn delegation_and_session_polls_through_the_table() {
    let vault = Vault::start();
    enable_onward_sharing(&vault, "google").await;
    let (first_id, first_key) = vault.new_agent("first").await;
    let (second_id, _) = vault.new_agent("second").await;
    let user = vault.admin.create_user("fay@example.com").await.unwrap();
    let app = vault.app();
    let t = Target::App(&app);

    let session = run(
        t,
        "create_connect_session",
        json!({"allowed_providers": ["google"], "agent": "first",
               "user_token": user.user_token, "delegable": true}),
    )
    .await;
    let person = FakeUser::new("action=approve&share_onward_offered=1&share_onward=true");
    alter_core::BrowserOpener::open(&person, session["connect_url"].as_str().unwrap());
    let results = run(
        t,
        "poll_connect_session",
        json!({"session_token": session["session_token"], "timeout_seconds": 10,
               "poll_interval_seconds": 0.05}),
    )
    .await;
    let result = &results.as_array().expect("one result per provider")[0];
    assert_eq!(result["provider_id"], "google");
    assert_eq!(result["delegation"]["agent_id"], first_id.as_str());
    assert_eq!(result["delegation"]["delegable"], true);

    // The first agent holds a child of that grant and hands it on.
    let first = vault.agent(&first_key);
    let held = run(Target::Agent(&first), "list_grants", json!({})).await;
    let child = held["grants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["grant_kind"] == "oauth")
        .expect("the delegated row")["grant_id"]
        .as_str()
        .unwrap()
        .to_string();
    let onward = ops::call_spelled(
        Target::Agent(&first),
        "delegate",
        obj(json!({"grantId": child, "toAgentId": second_id, "ttlSeconds": 3600})),
        Spelling::CAMEL,
    )
    .await
    .expect("delegated onward");
    assert_eq!(onward["depth"], 2);
    assert_eq!(onward["parent_grant_id"], child.as_str());
    assert_eq!(onward["delegable"], false);
    // An app cannot delegate: the operation names the client it needs.
    match ops::call(
        t,
        "delegate",
        obj(json!({"grant_id": child, "to_agent_id": second_id})),
    )
    .await
    {
        Err(OpError::Arguments(e)) => {
            assert!(e.to_string().contains("needs an Agent client"), "{e}")
        }
        other => panic!("expected an argument error, got {other:?}"),
    }

    let signin = run(t, "create_auth_session", json!({})).await;
    let dana = FakeUser::new("email=dana%40example.com");
    alter_core::BrowserOpener::open(&dana, signin["auth_url"].as_str().unwrap());
    let signed_in = run(
        t,
        "poll_auth_session",
        json!({"session_token": signin["session_token"], "timeout_seconds": 10,
               "poll_interval_seconds": 0.05}),
    )
    .await;
    assert_eq!(signed_in["user_info"]["email"], "dana@example.com");
    assert!(signed_in["user_token"].is_string());
    app.close().await;
    first.close().await;
}

/// An event callback goes to the one operation that reports events; any
/// other refuses it before it runs.
#[tokio::test]
async fn only_poll_connect_session_takes_an_event_callback() {
    let vault = Vault::start();
    let app = vault.app();
    let sink: alter_core::ConnectEventSink = std::sync::Arc::new(|_: &alter_core::ConnectEvent| {});
    let refused = ops::call_with_events(
        Target::App(&app),
        "create_auth_session",
        Map::new(),
        Spelling::CAMEL,
        Some(sink),
    )
    .await;
    match refused {
        Err(OpError::Arguments(e)) => {
            assert_eq!(e.kind(), "AlterValueError");
            assert!(
                e.to_string()
                    .contains("createAuthSession reports no events"),
                "{e}"
            );
        }
        other => panic!("expected an argument error, got {other:?}"),
    }
    app.close().await;
}
