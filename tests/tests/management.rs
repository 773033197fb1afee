//! The management surface end to end: agents and their keys, `me()`,
//! impersonation, grant listing, tracing, the scope catalog and spans,
//! against the local vault.

mod common;

use alter_core::{
    Agent, CreateAgent, GrantListItem, ListGrants, RequestOptions, TraceOptions, TraceParent,
    UpdateAgent, UserSpan,
};
use common::{enable_onward_sharing, warning_sink, FakeUser, Vault};
use serde_json::{json, Map, Value};

fn scopes(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => panic!("object"),
    }
}

#[tokio::test]
async fn agent_lifecycle_with_typed_errors() {
    let vault = Vault::start();
    let app = vault.app();
    let agents = app.agents();

    let created = agents
        .create(CreateAgent {
            name: "billing-bot".into(),
            display_name: Some("Billing".into()),
            idempotency_key: Some("idem-1".into()),
            ..Default::default()
        })
        .await
        .expect("create");
    let key = created.api_key.clone().expect("plaintext shown once");
    assert_eq!(created.agent.name, "billing-bot");
    assert_eq!(created.agent.status, "active");

    // Same key, same body: the same agent, no plaintext.
    let replay = agents
        .create(CreateAgent {
            name: "billing-bot".into(),
            display_name: Some("Billing".into()),
            idempotency_key: Some("idem-1".into()),
            ..Default::default()
        })
        .await
        .expect("replay");
    assert_eq!(replay.agent.id, created.agent.id);
    assert_eq!(replay.key_id, created.key_id);
    assert_eq!(replay.api_key, None);

    let mismatch = agents
        .create(CreateAgent {
            name: "other-bot".into(),
            idempotency_key: Some("idem-1".into()),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(mismatch.kind(), "IdempotencyKeyBodyMismatchError");

    let dup = agents
        .create(CreateAgent {
            name: "billing-bot".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(dup.kind(), "AgentNameExistsError");

    let id = created.agent.id.clone();
    assert_eq!(agents.get(&id).await.unwrap().name, "billing-bot");
    let by_name = agents.get_by_name("billing-bot").await.unwrap().unwrap();
    assert_eq!(by_name.id, id);
    assert!(agents.get_by_name("nobody").await.unwrap().is_none());
    let page = agents.list(false, 10, 0).await.unwrap();
    assert!(page.agents.iter().any(|a| a.id == id));

    // Updates bump the version; a stale version is a typed conflict.
    let updated = agents
        .update(
            &id,
            UpdateAgent {
                display_name: Some("Billing v2".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(updated.version, created.agent.version + 1);
    let stale = agents
        .update(
            &id,
            UpdateAgent {
                scopes: Some(scopes(json!({"google": ["openid"]}))),
                expected_version: Some(created.agent.version),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(stale.kind(), "AgentConcurrentUpdateError");
    let local = agents
        .update(
            &id,
            UpdateAgent {
                scopes: Some(scopes(json!({"google": ["openid"]}))),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(local.kind(), "AlterValueError");

    // Keys: mint, list, deprecate (the warning shows once), revoke.
    let minted = agents.mint_key(&id).await.unwrap();
    let second_key = minted.api_key.clone().expect("plaintext");
    let keys = agents.list_keys(&id).await.unwrap();
    assert_eq!(keys.items.len(), 2);
    let dep = agents.deprecate_key(&id, &minted.key.key_id).await.unwrap();
    assert_eq!(dep.status(), "deprecated");
    let (sink, seen) = warning_sink();
    let deprecated_agent = vault.agent_with(&second_key, |o| o.warnings = Some(sink));
    deprecated_agent.me().await.unwrap();
    deprecated_agent.me().await.unwrap();
    assert_eq!(
        seen.lock()
            .unwrap()
            .iter()
            .filter(|m| m.contains("deprecated"))
            .count(),
        1
    );
    let undep = agents
        .undeprecate_key(&id, &minted.key.key_id)
        .await
        .unwrap();
    assert_eq!(undep.status(), "active");
    let revoked = agents
        .revoke_key(&id, &minted.key.key_id, false)
        .await
        .unwrap();
    assert_eq!(revoked.status(), "revoked");
    let again = agents
        .deprecate_key(&id, &minted.key.key_id)
        .await
        .unwrap_err();
    assert_eq!(again.kind(), "KeyAlreadyRevokedError");
    let last = agents
        .revoke_key(&id, &created.key_id, false)
        .await
        .unwrap_err();
    assert_eq!(last.kind(), "LastActiveKeyError");
    let missing = agents
        .deprecate_key(&id, "00000000-0000-4000-8000-000000000000")
        .await
        .unwrap_err();
    assert_eq!(missing.kind(), "KeyNotFoundError");

    // An agent key cannot manage agents.
    let as_app = alter_core::App::new(vault.options(&key)).unwrap();
    let refused = as_app.agents().list(false, 10, 0).await.unwrap_err();
    assert_eq!(refused.kind(), "AgentCannotMintSubagentsError");

    // Delete is terminal and revokes the agent's keys.
    let gone = agents.delete(&id).await.unwrap();
    assert_eq!(gone.status, "revoked");
    let dead = vault.agent(&key).me().await.unwrap_err();
    assert!(
        dead.kind() == "KeyRevokedError" || dead.kind() == "AgentRevokedError",
        "{}",
        dead.kind()
    );
    assert_eq!(
        agents
            .get("00000000-0000-4000-8000-000000000000")
            .await
            .unwrap_err()
            .kind(),
        "AgentNotFoundError"
    );
}

#[tokio::test]
async fn me_works_while_paused_and_nothing_else_does() {
    let vault = Vault::start();
    let (agent_id, key) = vault.new_agent("pausable").await;
    let app = vault.app();
    let agent = vault.agent(&key);
    assert_eq!(agent.me().await.unwrap().id, agent_id);

    let paused = app.agents().suspend(&agent_id).await.unwrap();
    assert_eq!(paused.status, "inactive");
    let me = agent.me().await.expect("me() works for a paused agent");
    assert_eq!(me.status, "inactive");
    let refused = agent.list_grants(&ListGrants::default()).await.unwrap_err();
    assert_eq!(refused.kind(), "AgentInactiveError");
    let refused = agent.scopes().list().await.unwrap_err();
    assert_eq!(refused.kind(), "AgentInactiveError");

    app.agents().resume(&agent_id).await.unwrap();
    agent.list_grants(&ListGrants::default()).await.unwrap();

    // An app key is not an agent.
    let app_as_agent = Agent::new(vault.options(&vault.server.info().app_api_key)).unwrap();
    assert_eq!(
        app_as_agent.me().await.unwrap_err().kind(),
        "MeRequiresAgentKeyError"
    );
}

#[tokio::test]
async fn get_agent_impersonates_by_id_or_name() {
    let vault = Vault::start();
    let (agent_id, _key) = vault.new_agent("billing-bot").await;
    let app = vault.app();

    let by_name = app.get_agent("billing-bot").await.expect("by name");
    assert!(by_name.is_impersonated());
    assert_eq!(by_name.caller(), Some(agent_id.as_str()));
    assert_eq!(by_name.me().await.unwrap().id, agent_id);

    let by_id = app.get_agent_by_id(&agent_id.to_uppercase()).unwrap();
    assert_eq!(by_id.me().await.unwrap().name, "billing-bot");

    let unknown = app.get_agent("nobody").await.unwrap_err();
    assert_eq!(unknown.kind(), "AgentNotFoundError");
    let ghost = app
        .get_agent_by_id("00000000-0000-4000-8000-000000000000")
        .unwrap();
    assert_eq!(ghost.me().await.unwrap_err().kind(), "AgentNotFoundError");

    // The child outlives the App's close; the App cannot mint another.
    app.close().await;
    assert_eq!(by_id.me().await.unwrap().id, agent_id);
    assert_eq!(
        app.get_agent_by_id(&agent_id).unwrap_err().kind(),
        "AlterValueError"
    );
    by_id.close().await;
    by_name.close().await;
}

#[tokio::test]
async fn list_grants_app_sees_oauth_agent_sees_both_kinds() {
    let vault = Vault::start();
    let (agent_id, key) = vault.new_agent("lister").await;
    let ms_grant = vault.bound_secret("stripe", "sk-1", Some(&agent_id)).await;
    let user = vault.admin.create_user("alice@example.com").await.unwrap();
    let oauth = vault
        .admin
        .create_oauth_grant(json!({
            "provider_id": "google",
            "access_token": "ya29.token",
            "scopes": ["openid"],
            "user_id": user.user_id,
            "agent_id": agent_id,
            "account": "alice@example.com",
        }))
        .await
        .unwrap();
    let delegation = oauth.delegation_grant_id.clone().expect("delegation");

    let app = vault.app();
    let listed = app.list_grants(&ListGrants::default()).await.unwrap();
    assert!(listed.grants.iter().all(|g| g.grant_kind() == "oauth"));
    assert!(listed.grants.iter().any(|g| g.grant_id() == oauth.grant_id));
    let filtered = app
        .list_grants(&ListGrants {
            provider_id: Some("slack".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(filtered.total, 0);

    let agent = vault.agent(&key);
    let mine = agent.list_grants(&ListGrants::default()).await.unwrap();
    let kinds: Vec<&str> = mine.grants.iter().map(GrantListItem::grant_kind).collect();
    assert!(kinds.contains(&"oauth") && kinds.contains(&"managed_secret"));
    for g in &mine.grants {
        match g {
            GrantListItem::OAuth(o) => {
                assert_eq!(o.grant_id, delegation);
                assert_eq!(o.access_via, "oauth_delegation");
                assert_eq!(o.parent_grant_id.as_deref(), Some(oauth.grant_id.as_str()));
                assert_eq!(o.depth, 1);
            }
            GrantListItem::ManagedSecret(m) => {
                assert_eq!(m.grant_id, ms_grant);
                assert_eq!(m.managed_secret_slug, "stripe");
                assert_eq!(m.principal_type, "agent");
            }
        }
    }
    let page = agent
        .list_grants(&ListGrants {
            limit: 1,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(page.grants.len(), 1);
    assert!(page.has_more);

    let bad_token = agent
        .list_grants(&ListGrants {
            end_user_token: Some("not-a-jwt".into()),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(bad_token.kind(), "ReAuthRequiredError");
    let local = agent
        .list_grants(&ListGrants {
            limit: 0,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(local.kind(), "AlterValueError");
}

#[tokio::test]
async fn nested_traces_reach_the_audit_rows() {
    let vault = Vault::start();
    let (outer_id, _) = vault.new_agent("planner").await;
    let (inner_id, inner_key) = vault.new_agent("worker").await;
    let grant = vault.bound_secret("acme", "tok-1", Some(&inner_id)).await;
    let app = vault.app();
    let planner = app.get_agent_by_id(&outer_id).unwrap();
    let worker = vault.agent(&inner_key);

    planner
        .trace(
            TraceOptions {
                run_id: Some("run_abc".into()),
                thread_id: Some("th1".into()),
                metadata: vec![("role".into(), "research".into())],
                ..Default::default()
            },
            async {
                worker
                    .trace(
                        TraceOptions {
                            metadata: vec![("team".into(), "x".into())],
                            ..Default::default()
                        },
                        async {
                            worker
                                .request(
                                    "GET",
                                    &vault.echo("/nested"),
                                    RequestOptions {
                                        grant_id: Some(grant.clone()),
                                        ..Default::default()
                                    },
                                )
                                .await
                                .unwrap();
                        },
                    )
                    .await
                    .unwrap();
            },
        )
        .await
        .unwrap();
    // Outside every scope no context is sent.
    worker
        .request(
            "GET",
            &vault.echo("/plain"),
            RequestOptions {
                grant_id: Some(grant.clone()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    // A cleared parent.
    worker
        .trace(
            TraceOptions {
                parent: TraceParent::Clear,
                run_id: Some("solo".into()),
                ..Default::default()
            },
            async {
                worker
                    .request(
                        "GET",
                        &vault.echo("/solo"),
                        RequestOptions {
                            grant_id: Some(grant.clone()),
                            ..Default::default()
                        },
                    )
                    .await
                    .unwrap();
            },
        )
        .await
        .unwrap();
    worker.close().await;

    let audit = vault.audit().await;
    let row = |path: &str| {
        audit
            .iter()
            .find(|e| e["kind"] == "api_call" && e["url"].as_str().unwrap_or("").ends_with(path))
            .unwrap_or_else(|| panic!("audit row for {path}"))
            .clone()
    };
    let nested = row("/nested");
    let ctx = nested["context"].as_object().expect("context");
    let keys: Vec<&str> = ctx.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "role",
            "agent",
            "parent_agent",
            "run_id",
            "thread_id",
            "team"
        ]
    );
    assert_eq!(ctx["agent"], worker.local_id());
    assert_eq!(ctx["parent_agent"], outer_id.as_str());
    assert_eq!(ctx["run_id"], "run_abc");
    assert_eq!(ctx["thread_id"], "th1");
    assert_eq!(ctx["role"], "research");
    assert!(row("/plain")["context"].is_null());
    let solo = row("/solo");
    assert_eq!(solo["context"]["run_id"], "solo");
    assert!(solo["context"].get("parent_agent").is_none());
}

#[tokio::test]
async fn scope_catalog_and_spans() {
    let vault = Vault::start();
    let app = vault.app();
    let cat = app.scopes().list().await.unwrap();
    assert!(cat.scope_version >= 1);
    assert!(cat.all_scopes().iter().any(|s| s == "tokens:retrieve"));
    assert_eq!(app.scopes().get_catalog().await.unwrap(), cat);

    let (agent_id, key) = vault.new_agent("spanner").await;
    let agent = vault.agent(&key);
    let start = alter_core::spans::OffsetDateTime::now_utc();
    let mut span = UserSpan::new("trace-1", "plan", start);
    span.span_id = Some("s1".into());
    span.attributes.push(("step".into(), "1".into()));
    assert_eq!(
        agent.spans().emit(&[span.clone()]).await.unwrap().accepted,
        1
    );
    // A duplicate (trace_id, span_id) is not stored twice.
    assert_eq!(
        agent.spans().emit(&[span.clone()]).await.unwrap().accepted,
        0
    );
    // Spans are still accepted while the agent is paused.
    app.agents().suspend(&agent_id).await.unwrap();
    let mut later = UserSpan::new("trace-1", "act", start);
    later.parent_span_id = Some("s1".into());
    assert_eq!(agent.spans().emit(&[later]).await.unwrap().accepted, 1);
    assert_eq!(
        agent.spans().emit(&[]).await.unwrap_err().kind(),
        "AlterValueError"
    );
}

// ---- flows that need a person: driven through the local consent pages ----

#[tokio::test]
async fn headless_connect_then_revoke() {
    let vault = Vault::start();
    let app = vault.app();
    let user = FakeUser::new("action=approve");
    let results = app
        .connect(
            &alter_core::HeadlessConnectOptions {
                providers: Some(vec!["github".into()]),
                timeout: 10.0,
                poll_interval: 0.05,
                ..Default::default()
            },
            &user,
        )
        .await
        .expect("connect completes");
    assert_eq!(user.opened.lock().unwrap().len(), 1);
    assert_eq!(results.len(), 1);
    let grant = &results[0];
    assert_eq!(grant.provider_id, "github");
    assert_eq!(grant.operation, "creation");

    let listed = app.list_grants(&ListGrants::default()).await.unwrap();
    let row = listed
        .grants
        .iter()
        .find(|g| g.grant_id() == grant.grant_id)
        .expect("listed");
    assert_eq!(row.principal_type(), "system");

    let revoked = app
        .revoke_grant(&grant.grant_id.to_uppercase(), Some("done"))
        .await
        .unwrap();
    assert!(revoked.success);
    assert_eq!(revoked.grant_id, grant.grant_id);
    let again = app.revoke_grant(&grant.grant_id, None).await.unwrap_err();
    assert_eq!(again.kind(), "GrantNotFoundError");
    assert_eq!(
        app.revoke_grant("not-a-uuid", None)
            .await
            .unwrap_err()
            .kind(),
        "AlterValueError"
    );
}

#[tokio::test]
async fn connect_denied_and_expired_sessions() {
    let vault = Vault::start();
    let app = vault.app();
    let denied = app
        .connect(
            &alter_core::HeadlessConnectOptions {
                providers: Some(vec!["github".into()]),
                timeout: 10.0,
                poll_interval: 0.05,
                ..Default::default()
            },
            &FakeUser::new("action=deny"),
        )
        .await
        .unwrap_err();
    assert_eq!(denied.kind(), "ConnectDeniedError");

    // A token the vault never issued reads as expired on the first poll.
    let unknown = app
        .poll_connect_session("no-such-session", 1.0, 0.05, None)
        .await
        .unwrap_err();
    assert_eq!(unknown.kind(), "ConnectFlowError");

    // Nobody answers: the local deadline elapses.
    let session = app
        .create_connect_session(&alter_core::ConnectSessionOptions {
            allowed_providers: Some(vec!["github".into()]),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(session.single_provider);
    let timed_out = app
        .poll_connect_session(&session.session_token, 0.2, 0.05, None)
        .await
        .unwrap_err();
    assert_eq!(timed_out.kind(), "ConnectTimeoutError");
    assert_eq!(timed_out.details()["reason"], "poll_deadline_elapsed");
}

#[tokio::test]
async fn delegation_through_connect_then_onward_and_revoked() {
    let vault = Vault::start();
    enable_onward_sharing(&vault, "google").await;
    let (first_id, first_key) = vault.new_agent("first").await;
    let (second_id, second_key) = vault.new_agent("second").await;
    let user = vault.admin.create_user("alice@example.com").await.unwrap();
    let app = vault.app();

    let session = app
        .create_connect_session(&alter_core::ConnectSessionOptions {
            allowed_providers: Some(vec!["google".into()]),
            agent: Some("first".into()),
            user_token: Some(user.user_token.clone()),
            delegable: Some(true),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(!session.direct);
    let person = FakeUser::new("action=approve&share_onward_offered=1&share_onward=true");
    alter_core::BrowserOpener::open(&person, &session.connect_url);
    let results = app
        .poll_connect_session(&session.session_token, 10.0, 0.05, None)
        .await
        .unwrap();
    let delegation = results[0].delegation.clone().expect("delegated");
    assert_eq!(delegation.agent_id, first_id);
    assert!(delegation.delegable);
    let root = results[0].grant_id.clone();

    // The first agent holds a child grant and passes it on.
    let first = vault.agent(&first_key);
    let held = first.list_grants(&ListGrants::default()).await.unwrap();
    let child = held
        .grants
        .iter()
        .find(|g| g.grant_kind() == "oauth")
        .expect("delegated row")
        .grant_id()
        .to_string();
    let onward = first
        .delegate(
            &child,
            &second_id,
            &alter_core::DelegateOptions {
                ttl_seconds: Some(3600),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(onward.depth, 2);
    assert_eq!(onward.parent_grant_id, child);
    assert!(!onward.delegable);
    // Re-delegating updates in place.
    let again = first
        .delegate(&child, &second_id, &Default::default())
        .await
        .unwrap();
    assert_eq!(again.grant_id, onward.grant_id);
    let leaf = vault.agent(&second_key);
    let not_delegable = leaf
        .delegate(&onward.grant_id, &first_id, &Default::default())
        .await
        .unwrap_err();
    assert_eq!(not_delegable.kind(), "GrantNotDelegableError");
    assert_eq!(
        first
            .delegate(
                &child,
                "00000000-0000-4000-8000-000000000000",
                &Default::default()
            )
            .await
            .unwrap_err()
            .kind(),
        "AgentNotFoundError"
    );

    // The second agent gives its delegation up; the operator revokes the first.
    leaf.revoke_delegation(&child).await.unwrap();
    assert!(leaf
        .list_grants(&ListGrants::default())
        .await
        .unwrap()
        .grants
        .is_empty());
    app.revoke_delegation(&root, &first_id).await.unwrap();
    app.revoke_delegation(&root, &first_id).await.unwrap(); // idempotent
    assert!(first
        .list_grants(&ListGrants::default())
        .await
        .unwrap()
        .grants
        .is_empty());
}

#[tokio::test]
async fn managed_secret_grants_by_principal() {
    let vault = Vault::start();
    let (agent_id, key) = vault.new_agent("holder").await;
    let ms = vault
        .admin
        .managed_secret("stripe", "sk-live-1")
        .await
        .unwrap();
    vault
        .app()
        .agents()
        .update(
            &agent_id,
            UpdateAgent {
                scopes: Some(scopes(json!({"managed_secret_slugs": ["stripe"]}))),
                expected_version: Some(1),
                grace_seconds: Some(0),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let app = vault.app();
    let system = app
        .create_managed_secret_grant(
            &ms,
            &alter_core::GrantPrincipal::System(alter_core::SystemPrincipal {
                label: Some("ops".into()),
            }),
            Some(&alter_core::GrantPolicyInput {
                max_ttl_seconds: Some(3600),
                ..Default::default()
            }),
            None,
        )
        .await
        .unwrap();
    assert_eq!(system.principal_type, "system");
    assert_eq!(system.label.as_deref(), Some("ops"));

    let refused = app
        .create_managed_secret_grant(
            &ms,
            &alter_core::GrantPrincipal::Agent(alter_core::AgentPrincipal::default()),
            None,
            None,
        )
        .await
        .unwrap_err();
    assert_eq!(
        (refused.kind(), refused.status_code()),
        ("BackendError", Some(422))
    );

    let agent = vault.agent(&key);
    let own = agent
        .create_managed_secret_grant(
            &ms,
            &alter_core::AgentPrincipal {
                label: Some("mine".into()),
            },
            None,
            None,
        )
        .await
        .unwrap();
    assert_eq!(own.principal_type, "agent");
    let listed = agent.list_grants(&ListGrants::default()).await.unwrap();
    assert!(listed.grants.iter().any(|g| g.grant_id() == own.grant_id));

    let conflict = app
        .create_managed_secret_grant(
            &ms,
            &alter_core::GrantPrincipal::System(alter_core::SystemPrincipal {
                label: Some("ops".into()),
            }),
            None,
            None,
        )
        .await
        .unwrap_err();
    assert_eq!(conflict.kind(), "SiblingLabelConflictError");
}

#[tokio::test]
async fn mint_grant_creates_a_labelled_sibling() {
    let vault = Vault::start();
    let user = vault.admin.create_user("bob@example.com").await.unwrap();
    let oauth = vault
        .admin
        .create_oauth_grant(json!({
            "provider_id": "github", "access_token": "gho_x", "user_id": user.user_id,
            "account": "bob"
        }))
        .await
        .unwrap();
    let app = vault.app();
    let sibling = app
        .mint_grant(
            &oauth.grant_id,
            "ci",
            Some(&alter_core::MintGrantPolicy::Typed(
                alter_core::GrantPolicyInput {
                    max_ttl_seconds: Some(600),
                    ..Default::default()
                },
            )),
            None,
        )
        .await
        .unwrap();
    assert_ne!(sibling.grant_id, oauth.grant_id);
    assert_eq!(sibling.label.as_deref(), Some("ci"));
    assert_eq!(sibling.provider_id, "github");
    let conflict = app
        .mint_grant(&oauth.grant_id, "ci", None, None)
        .await
        .unwrap_err();
    match conflict {
        alter_core::Error::SiblingLabelConflict { label, .. } => {
            assert_eq!(label.as_deref(), Some("ci"))
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn managed_secret_connect_reports_the_effective_expiry() {
    let vault = Vault::start();
    let (agent_id, key) = vault.new_agent("ms-bot").await;
    vault
        .admin
        .managed_secret("stripe-prod", "sk-1")
        .await
        .unwrap();
    let user = vault.admin.create_user("carol@example.com").await.unwrap();
    let app = vault.app();
    let session = app
        .create_managed_secret_connect_session(
            &alter_core::ManagedSecretConnectOptions {
                provider: Some("stripe-prod".into()),
                user_token: user.user_token.clone(),
                requested_ttl_seconds: Some(3600),
                ..Default::default()
            },
            &alter_core::ManagedSecretConnectTarget {
                agent: Some("ms-bot".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(session.session_token.starts_with("ms_sess_"));
    assert_eq!(session.secret_slug.as_deref(), Some("stripe-prod"));
    assert_eq!(session.agent_id.as_deref(), Some(agent_id.as_str()));
    assert!(session.path.is_some());
    // The delegation expiry is the requested hour, not the session's.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!((unix_seconds(&session.expires_at) - (now + 3600)).abs() < 60);

    // The agent's own key: no path is disclosed.
    let agent = vault.agent(&key);
    let own = agent
        .create_managed_secret_connect_session(&alter_core::ManagedSecretConnectOptions {
            provider: Some("stripe-prod".into()),
            user_token: user.user_token.clone(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(own.path, None);
    assert_eq!(
        app.create_managed_secret_connect_session(
            &alter_core::ManagedSecretConnectOptions {
                provider: Some("nope".into()),
                user_token: user.user_token,
                ..Default::default()
            },
            &Default::default(),
        )
        .await
        .unwrap_err()
        .kind(),
        "ConnectConfigError"
    );
}

/// Seconds since the epoch of an RFC 3339 UTC instant (`…Z`).
fn unix_seconds(s: &str) -> i64 {
    let n = |a: usize, b: usize| s[a..b].parse::<i64>().unwrap();
    let (y, m, d) = (n(0, 4), n(5, 7), n(8, 10));
    let (y, m) = if m <= 2 { (y - 1, m + 9) } else { (y, m - 3) };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * m + 2) / 5 + d - 1;
    let days = era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468;
    days * 86_400 + n(11, 13) * 3600 + n(14, 16) * 60 + n(17, 19)
}

#[tokio::test]
async fn authenticate_installs_the_user_token() {
    let vault = Vault::start();
    let app = vault.app();
    let person = FakeUser::new("email=dana%40example.com");
    let signed_in = app.authenticate(10.0, &person).await.expect("signed in");
    assert_eq!(signed_in.user_info["email"], "dana@example.com");
    let sub = app
        .verify_user_token(&signed_in.user_token)
        .await
        .expect("valid token");
    assert!(!sub.is_empty());
    assert_eq!(app.verify_user_token("garbage").await, None);
    assert_eq!(app.verify_user_token("  ").await, None);

    // The installed token now scopes getter-backed calls.
    let who = app.resolve_identity(None, true).await.unwrap();
    assert_eq!(who.email.as_deref(), Some("dana@example.com"));
    assert!(who.app_user_id.is_some());
    let assertion = app
        .assert_identity("https://mcp.example.com", None, Some(60), false)
        .await
        .unwrap();
    assert_eq!(assertion.token.split('.').count(), 3);
    assert_eq!(assertion.identity.app_user_id, who.app_user_id);
    let listed = app.list_grants(&ListGrants::default()).await.unwrap();
    assert_eq!(listed.total, 0);
}

#[tokio::test]
async fn scoped_keys_and_constraints() {
    let vault = Vault::start();
    let app = vault.app();
    let derived = app
        .keys()
        .derive(&alter_core::DeriveKey {
            scopes: vec!["grants:read".into(), "providers:read".into()],
            expires_in: 600,
            name: Some("reader".into()),
            rate_limit_rpm: Some(30),
            ..Default::default()
        })
        .await
        .expect("derive");
    assert_eq!(derived.info.key_type, "dk");
    assert_eq!(derived.info.rate_limit_rpm, Some(30));
    assert!(alter_core::is_valid_key(&derived.api_key));

    let reader = alter_core::App::new(vault.options(&derived.api_key)).unwrap();
    reader.list_grants(&ListGrants::default()).await.unwrap();
    let cannot = reader
        .keys()
        .derive(&alter_core::DeriveKey {
            scopes: vec!["grants:read".into()],
            expires_in: 60,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(cannot.kind(), "InsufficientScopeError");
    assert_eq!(
        app.keys()
            .rotate(&derived.info.id, 7)
            .await
            .unwrap_err()
            .status_code(),
        Some(400)
    );
    let revoked = app.keys().revoke(&derived.info.id, false).await.unwrap();
    assert_eq!(revoked.status(), "revoked");
    assert_eq!(
        reader
            .list_grants(&ListGrants::default())
            .await
            .unwrap_err()
            .kind(),
        "KeyRevokedError"
    );

    // Attenuation: a sibling narrowed to grants:read cannot derive.
    let narrowed = app
        .with_constraints(Some(&["grants:read".to_string()]), None)
        .unwrap();
    narrowed.list_grants(&ListGrants::default()).await.unwrap();
    let denied = narrowed
        .keys()
        .derive(&alter_core::DeriveKey {
            scopes: vec!["grants:read".into()],
            expires_in: 60,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(denied.kind(), "InsufficientScopeError");
    let rule = alter_core::content_match_rule(&alter_core::ContentMatchRule {
        families: Some(vec!["send".into()]),
        ..Default::default()
    })
    .unwrap();
    let ruled = app.with_constraints(None, Some(&rule)).unwrap();
    ruled.scopes().list().await.unwrap();
    // Closing the parent closes the siblings.
    app.close().await;
    assert_eq!(
        narrowed.scopes().list().await.unwrap_err().kind(),
        "AlterSDKError"
    );
}

#[tokio::test]
async fn catalogs() {
    let vault = Vault::start();
    let app = vault.app();
    let cat = app.oauth_providers().list(false).await.unwrap();
    assert!(cat
        .get_default_scopes("google")
        .iter()
        .any(|s| s == "openid"));
    assert!(cat.get_required_scopes("nobody").is_empty());
    assert_eq!(app.oauth_providers().list(false).await.unwrap(), cat);
    assert_eq!(app.oauth_providers().list(true).await.unwrap(), cat);

    let specs = app.provider_specs().list(None).await.unwrap();
    let first = specs.first().expect("a built-in spec").clone();
    let kind = first.provider_kind.clone();
    let got = app
        .provider_specs()
        .get(&kind, &first.provider_id)
        .await
        .unwrap();
    assert_eq!(got, first);
    let ops = app
        .provider_specs()
        .list_operations(&kind, &first.provider_id, None, 2, 0)
        .await
        .unwrap();
    assert!(ops.items.len() <= 2);
    let op = &ops.items[0];
    let detail = app
        .provider_specs()
        .get_operation(&kind, &first.provider_id, &op.operation_id)
        .await
        .unwrap();
    assert_eq!(detail.operation_id, op.operation_id);
    let missing = app
        .provider_specs()
        .get("oauth", "nobody")
        .await
        .unwrap_err();
    assert_eq!(missing.kind(), "GrantNotFoundError");
    assert_eq!(missing.details()["error"], "provider_spec_not_found");
}

/// An assertion from the local vault verifies offline against the vault's
/// published key set: for an app (a user) and for an agent (the actor), and
/// bound to the expected app and agent.
#[tokio::test]
async fn identity_assertions_verify_offline_against_the_published_keys() {
    use alter_core::assertion::{verify_identity_assertion, AssertionCheck};
    let vault = Vault::start();
    let app = vault.app();
    let user = vault.admin.create_user("olive@example.com").await.unwrap();
    let text = reqwest::get(format!("{}/.well-known/jwks.json", vault.base_url()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let jwks: Value = serde_json::from_str(&text).unwrap();
    let app_id = vault.server.info().app_id.clone();
    let issuer = vault.base_url();
    let check = AssertionCheck {
        issuer: &issuer,
        audience: "https://mcp.example.com",
        jwks: &jwks,
        expected_app_id: &app_id,
        expected_agent_id: None,
    };

    let assertion = app
        .assert_identity(
            "https://mcp.example.com",
            Some(&user.user_token),
            Some(60),
            false,
        )
        .await
        .unwrap();
    let who = verify_identity_assertion(&assertion.token, &check).unwrap();
    assert_eq!(who.app_user_id, assertion.identity.app_user_id);
    assert_eq!(who.agent_id, None);

    let (agent_id, agent_key) = vault.new_agent("asserting").await;
    let agent = vault.agent(&agent_key);
    let headless = agent
        .assert_identity("https://mcp.example.com", None, None, Some(60), false)
        .await
        .unwrap();
    let bound = AssertionCheck {
        expected_agent_id: Some(&agent_id),
        ..check
    };
    let who = verify_identity_assertion(&headless.token, &bound).unwrap();
    assert_eq!(who.agent_id.as_deref(), Some(agent_id.as_str()));
    assert_eq!(who.app_user_id, None);
    let elsewhere = AssertionCheck {
        audience: "https://other.example.com",
        ..check
    };
    let refused = verify_identity_assertion(&assertion.token, &elsewhere).unwrap_err();
    assert_eq!(refused.details()["reason"], "claims");
}
