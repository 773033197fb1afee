//! Operations of the management surface (grants, delegation, Connect,
//! auth, keys, scopes, catalogs, identity, impersonation) as the core
//! provides them. Conversion only: camelCase options in, camelCase models out.

use crate::client::{NativeClient, Principal};
use crate::convert::{model, Args, Opts};
use crate::errors::Failure;
use crate::promise::Out;
use alter_core::apikeys::DeriveKey;
use alter_core::connect::{
    ConnectForErrorOptions, ConnectSessionOptions, HeadlessConnectOptions,
    ManagedSecretConnectOptions, ManagedSecretConnectTarget,
};
use alter_core::error::Details;
use alter_core::grants::{
    AgentPrincipal, DelegateOptions, GrantPolicyInput, GrantPrincipal, ListGrants, MintGrantPolicy,
};
use alter_core::Error;
use alter_core::UserSpan;
use serde_json::{Map, Value};

type CoreResult<T> = std::result::Result<T, Error>;

/// `userToken` → `user_token` for the top-level keys of a wire object (a
/// principal, a grant policy, a requested grant); nested values are sent
/// as given. A snake_case key is refused: the JavaScript names are camelCase.
pub fn snake_top(v: Value) -> CoreResult<Value> {
    match v {
        Value::Object(m) => {
            let mut out = Map::with_capacity(m.len());
            for (k, v) in m {
                if k.contains('_') {
                    return Err(Error::value(format!(
                        "unknown option '{k}' (option names are camelCase)"
                    )));
                }
                out.insert(snake_key(&k), v);
            }
            Ok(Value::Object(out))
        }
        other => Ok(other),
    }
}

fn snake_key(k: &str) -> String {
    let mut s = String::with_capacity(k.len() + 4);
    for c in k.chars() {
        if c.is_ascii_uppercase() {
            s.push('_');
            s.push(c.to_ascii_lowercase());
        } else {
            s.push(c);
        }
    }
    s
}

fn grant_policy(o: &mut Opts) -> CoreResult<Option<GrantPolicyInput>> {
    match o.value("grantPolicy") {
        None => Ok(None),
        Some(v) => GrantPolicyInput::from_value(&snake_top(v)?).map(Some),
    }
}

fn snake_object(o: &mut Opts, key: &str) -> CoreResult<Option<Map<String, Value>>> {
    match o.object(key)? {
        None => Ok(None),
        Some(m) => match snake_top(Value::Object(m))? {
            Value::Object(m) => Ok(Some(m)),
            _ => Ok(None),
        },
    }
}

fn app_of(p: &Principal, op: &str) -> CoreResult<alter_core::App> {
    match p {
        Principal::App(a) => Ok(a.clone()),
        Principal::Agent(_) => Err(Error::sdk(format!("{op} is only available on App"))),
    }
}

fn agent_of(p: &Principal, op: &str) -> CoreResult<alter_core::Agent> {
    match p {
        Principal::Agent(a) => Ok(a.clone()),
        Principal::App(_) => Err(Error::sdk(format!("{op} is only available on Agent"))),
    }
}

fn json(v: Value) -> std::result::Result<Out, Failure> {
    Ok(Out::Json(v))
}

/// `APIKeyInfo`/`MintedKey` with the derived `status`.
fn with_status(mut v: Value, status: &str) -> Value {
    if let Value::Object(m) = &mut v {
        m.insert("status".into(), status.into());
    }
    v
}

pub(crate) async fn dispatch(
    p: Principal,
    op: &str,
    args: Value,
) -> std::result::Result<Out, Failure> {
    let client = p.client().clone();
    match op {
        // ---- grants and delegation -----------------------------------------
        "listGrants" => {
            let mut o = Args::new("listGrants", args).opts(0)?;
            let q = ListGrants {
                provider_id: o.str("providerId")?,
                status: o.str("status")?,
                account: o.str("account")?,
                label: o.str("label")?,
                end_user_token: o.str("endUserToken")?,
                limit: o.i64("limit")?.unwrap_or(100),
                offset: o.i64("offset")?.unwrap_or(0),
            };
            o.finish()?;
            json(model(&client.list_grants(&q).await?))
        }
        "revokeGrant" => {
            let app = app_of(&p, "revokeGrant")?;
            let a = Args::new("revokeGrant", args);
            let id = a.str(0, "grantId")?;
            let mut o = a.opts(1)?;
            let reason = o.str("reason")?;
            o.finish()?;
            json(model(&app.revoke_grant(&id, reason.as_deref()).await?))
        }
        "revokeDelegation" => {
            let a = Args::new("revokeDelegation", args);
            let grant = a.str(0, "grantId")?;
            match &p {
                Principal::App(app) => {
                    let agent = a.str(1, "agentId")?;
                    app.revoke_delegation(&grant, &agent).await?;
                }
                Principal::Agent(agent) => agent.revoke_delegation(&grant).await?,
            }
            Ok(Out::Undefined)
        }
        "createManagedSecretGrant" => {
            let a = Args::new("createManagedSecretGrant", args);
            let ms = a.str(0, "managedSecretId")?;
            let mut o = a.opts(1)?;
            let principal = o
                .value("principal")
                .ok_or_else(|| Error::value("principal is required"))?;
            let principal = GrantPrincipal::from_value(&snake_top(principal)?)?;
            let policy = grant_policy(&mut o)?;
            let credential = o.str("credentialId")?;
            o.finish()?;
            let r = match &p {
                Principal::App(app) => {
                    app.create_managed_secret_grant(
                        &ms,
                        &principal,
                        policy.as_ref(),
                        credential.as_deref(),
                    )
                    .await?
                }
                Principal::Agent(agent) => {
                    let label =
                        match principal {
                            GrantPrincipal::Agent(ap) => ap.label,
                            _ => return Err(Error::value(
                                "an Agent can only issue grants to itself: use { type: \"agent\" }",
                            )
                            .into()),
                        };
                    agent
                        .create_managed_secret_grant(
                            &ms,
                            &AgentPrincipal { label },
                            policy.as_ref(),
                            credential.as_deref(),
                        )
                        .await?
                }
            };
            json(model(&r))
        }
        "mintGrant" => {
            let app = app_of(&p, "mintGrant")?;
            let a = Args::new("mintGrant", args);
            let source = a.str(0, "sourceGrantId")?;
            let mut o = a.opts(1)?;
            let label = o
                .str("label")?
                .ok_or_else(|| Error::value("label is required"))?;
            let policy = match o.object("grantPolicy")? {
                None => None,
                Some(m) => match snake_top(Value::Object(m))? {
                    Value::Object(m) => Some(MintGrantPolicy::Raw(m)),
                    _ => None,
                },
            };
            let tags = o.str_list("grantTags")?;
            o.finish()?;
            let r = app
                .mint_grant(&source, &label, policy.as_ref(), tags.as_deref())
                .await?;
            json(model(&r))
        }
        "delegate" => {
            let agent = agent_of(&p, "delegate")?;
            let a = Args::new("delegate", args);
            let (grant, to) = (a.str(0, "grantId")?, a.str(1, "toAgentId")?);
            let mut o = a.opts(2)?;
            let d = DelegateOptions {
                delegable: o.bool("delegable")?,
                scope_constraint: o.str_list("scopeConstraint")?,
                ttl_seconds: o.i64("ttlSeconds")?,
            };
            o.finish()?;
            json(model(&agent.delegate(&grant, &to, &d).await?))
        }

        // ---- Connect ---------------------------------------------------------
        "createConnectSession" => {
            let mut o = Args::new("createConnectSession", args).opts(0)?;
            let c = ConnectSessionOptions {
                allowed_providers: o.str_list("allowedProviders")?,
                direct: o.bool("direct")?.unwrap_or(false),
                return_url: o.str("returnUrl")?,
                allowed_origin: o.str("allowedOrigin")?,
                metadata: snake_object(&mut o, "metadata")?,
                grant_policy: grant_policy(&mut o)?,
                required_scopes: o.object("requiredScopes")?,
                agent: o.str("agent")?,
                user_token: o.str("userToken")?,
                requested_grant: snake_object(&mut o, "requestedGrant")?,
                repair_grant_id: o.str("repairGrantId")?,
                delegable: o.bool("delegable")?,
                scope_constraint: o.str_list("scopeConstraint")?,
                switch_account: o.bool("switchAccount")?.unwrap_or(false),
                allow_user_policy_rules: o.bool("allowUserPolicyRules")?.unwrap_or(true),
            };
            o.finish()?;
            json(model(&client.create_connect_session(&c).await?))
        }
        "createManagedSecretConnectSession" => {
            let mut o = Args::new("createManagedSecretConnectSession", args).opts(0)?;
            let c = ManagedSecretConnectOptions {
                provider: o.str("provider")?,
                template_slug: o.str("templateSlug")?,
                user_token: o.str("userToken")?.unwrap_or_default(),
                delegable: o.bool("delegable")?.unwrap_or(false),
                requested_grant: snake_object(&mut o, "requestedGrant")?,
                grant_policy: grant_policy(&mut o)?,
                direct: o.bool("direct")?.unwrap_or(false),
                allow_user_policy_rules: o.bool("allowUserPolicyRules")?.unwrap_or(true),
                allowed_origin: o.str("allowedOrigin")?,
                return_url: o.str("returnUrl")?,
                requested_ttl_seconds: o.i64("requestedTtlSeconds")?,
            };
            let r = match &p {
                Principal::App(app) => {
                    let t = ManagedSecretConnectTarget {
                        agent: o.str("agent")?,
                        delegated_agent_id: o.str("delegatedAgentId")?,
                        delegated_agent_name: o.str("delegatedAgentName")?,
                        repair_grant_id: o.str("repairGrantId")?,
                    };
                    o.finish()?;
                    app.create_managed_secret_connect_session(&c, &t).await?
                }
                Principal::Agent(agent) => {
                    o.finish()?;
                    agent.create_managed_secret_connect_session(&c).await?
                }
            };
            json(model(&r))
        }
        "createConnectSessionForError" => {
            let a = Args::new("createConnectSessionForError", args);
            let error = error_from_js(a.value(0))?;
            let mut o = a.opts(1)?;
            let c = ConnectForErrorOptions {
                allowed_origin: o.str("allowedOrigin")?,
                return_url: o.str("returnUrl")?,
                metadata: snake_object(&mut o, "metadata")?,
                grant_policy: grant_policy(&mut o)?,
                required_scopes: o.object("requiredScopes")?,
                user_token: o.str("userToken")?,
            };
            o.finish()?;
            json(model(
                &client.create_connect_session_for_error(&error, &c).await?,
            ))
        }
        "spans.emit" => {
            let a = Args::new("spans.emit", args);
            let spans = match a.value(0) {
                Some(Value::Array(items)) => items
                    .into_iter()
                    .map(user_span)
                    .collect::<CoreResult<Vec<_>>>()?,
                _ => return Err(Error::value("spans.emit: spans must be an array").into()),
            };
            a.opts(1)?.finish()?;
            json(model(&client.spans().emit(&spans).await?))
        }
        "pollConnectSession" => {
            let a = Args::new("pollConnectSession", args);
            let token = a.str(0, "sessionToken")?;
            let mut o = a.opts(1)?;
            let timeout = o.f64("timeout")?.unwrap_or(300.0);
            let poll = o.f64("pollInterval")?.unwrap_or(2.0);
            o.finish()?;
            let r = client
                .poll_connect_session(&token, timeout, poll, None)
                .await?;
            json(model(&r))
        }

        // ---- end-user sign-in and identity ------------------------------------
        "createAuthSession" => {
            let app = app_of(&p, "createAuthSession")?;
            Args::new("createAuthSession", args).opts(0)?.finish()?;
            json(model(&app.create_auth_session().await?))
        }
        "pollAuthSession" => {
            let app = app_of(&p, "pollAuthSession")?;
            let a = Args::new("pollAuthSession", args);
            let token = a.str(0, "sessionToken")?;
            let mut o = a.opts(1)?;
            let timeout = o.f64("timeout")?.unwrap_or(300.0);
            let poll = o.f64("pollInterval")?.unwrap_or(2.0);
            o.finish()?;
            json(model(&app.poll_auth_session(&token, timeout, poll).await?))
        }
        "verifyUserToken" => {
            let app = app_of(&p, "verifyUserToken")?;
            let token = Args::new("verifyUserToken", args).str(0, "token")?;
            json(
                app.verify_user_token(&token)
                    .await
                    .map_or(Value::Null, Value::String),
            )
        }
        "resolveIdentity" => {
            let mut o = Args::new("resolveIdentity", args).opts(0)?;
            let user_token = o.str("userToken")?;
            let include_profile = o.bool("includeProfile")?.unwrap_or(false);
            let r = match &p {
                Principal::App(app) => {
                    o.finish()?;
                    app.resolve_identity(user_token.as_deref(), include_profile)
                        .await?
                }
                Principal::Agent(agent) => {
                    let app_user = o.str("appUserId")?;
                    o.finish()?;
                    agent
                        .resolve_identity(
                            user_token.as_deref(),
                            app_user.as_deref(),
                            include_profile,
                        )
                        .await?
                }
            };
            json(model(&r))
        }
        "assertIdentity" => {
            let mut o = Args::new("assertIdentity", args).opts(0)?;
            let audience = o
                .str("audience")?
                .ok_or_else(|| Error::value("audience is required"))?;
            let user_token = o.str("userToken")?;
            let ttl = o.i64("ttlSeconds")?;
            let include_profile = o.bool("includeProfile")?.unwrap_or(false);
            let r = match &p {
                Principal::App(app) => {
                    o.finish()?;
                    app.assert_identity(&audience, user_token.as_deref(), ttl, include_profile)
                        .await?
                }
                Principal::Agent(agent) => {
                    let app_user = o.str("appUserId")?;
                    o.finish()?;
                    agent
                        .assert_identity(
                            &audience,
                            user_token.as_deref(),
                            app_user.as_deref(),
                            ttl,
                            include_profile,
                        )
                        .await?
                }
            };
            json(model(&r))
        }

        // ---- keys, scopes, catalogs -----------------------------------------------
        "keys.derive" => {
            let mut o = Args::new("keys.derive", args).opts(0)?;
            let d = DeriveKey {
                scopes: o.str_list("scopes")?.unwrap_or_default(),
                expires_in: o
                    .i64("expiresIn")?
                    .ok_or_else(|| Error::value("expiresIn is required"))?,
                cidr_allowlist: o.str_list("cidrAllowlist")?,
                name: o.str("name")?,
                metadata: o.object("metadata")?,
                rate_limit_rpm: o.i64("rateLimitRpm")?,
            };
            o.finish()?;
            let k = client.keys().derive(&d).await?;
            json(with_status(model(&k), k.info.status()))
        }
        "keys.rotate" => {
            let mut o = Args::new("keys.rotate", args).opts(0)?;
            let key_id = o
                .str("keyId")?
                .ok_or_else(|| Error::value("keyId is required"))?;
            let overlap = o.i64("overlapDays")?.unwrap_or(7);
            o.finish()?;
            let k = client.keys().rotate(&key_id, overlap).await?;
            json(with_status(model(&k), k.info.status()))
        }
        "keys.revoke" => {
            let mut o = Args::new("keys.revoke", args).opts(0)?;
            let key_id = o
                .str("keyId")?
                .ok_or_else(|| Error::value("keyId is required"))?;
            let force = o.bool("force")?.unwrap_or(false);
            o.finish()?;
            let k = client.keys().revoke(&key_id, force).await?;
            json(with_status(model(&k), k.status()))
        }
        "scopes.list" => {
            Args::new("scopes.list", args).opts(0)?.finish()?;
            json(model(&client.scopes().list().await?))
        }
        "oauthProviders.list" => {
            let mut o = Args::new("oauthProviders.list", args).opts(0)?;
            let force = o.bool("forceRefresh")?.unwrap_or(false);
            o.finish()?;
            let catalog = match &p {
                Principal::App(app) => app.oauth_providers().list(force).await?,
                Principal::Agent(agent) => agent.oauth_providers().list(force).await?,
            };
            json(model(&catalog))
        }
        "providerSpecs.list" => {
            let a = Args::new("providerSpecs.list", args);
            let kind = a.opt_str(0);
            json(model(&client.provider_specs().list(kind.as_deref()).await?))
        }
        "providerSpecs.get" => {
            let a = Args::new("providerSpecs.get", args);
            let (kind, id) = (a.str(0, "kind")?, a.str(1, "providerId")?);
            json(model(&client.provider_specs().get(&kind, &id).await?))
        }

        "providerSpecs.listOperations" => {
            let a = Args::new("providerSpecs.listOperations", args);
            let (kind, id) = (a.str(0, "kind")?, a.str(1, "providerId")?);
            let mut o = a.opts(2)?;
            let search = o.str("search")?;
            let limit = o.i64("limit")?.unwrap_or(100);
            let offset = o.i64("offset")?.unwrap_or(0);
            o.finish()?;
            let page = client
                .provider_specs()
                .list_operations(&kind, &id, search.as_deref(), limit, offset)
                .await?;
            json(model(&page))
        }
        "providerSpecs.getOperation" => {
            let a = Args::new("providerSpecs.getOperation", args);
            let (kind, id, op_id) = (
                a.str(0, "kind")?,
                a.str(1, "providerId")?,
                a.str(2, "operationId")?,
            );
            json(model(
                &client
                    .provider_specs()
                    .get_operation(&kind, &id, &op_id)
                    .await?,
            ))
        }

        // ---- impersonation -----------------------------------------------------------
        "getAgent" => {
            let app = app_of(&p, "getAgent")?;
            let agent = Args::new("getAgent", args).str(0, "agentId")?;
            let child = app.get_agent(&agent).await?;
            Ok(Out::Client(NativeClient::wrap(Principal::Agent(child))))
        }
        _ => Err(Error::sdk(format!("{op} is not an operation of this SDK")).into()),
    }
}

/// The core error a JavaScript SDK error stands for, rebuilt from what the
/// JavaScript layer sends: `{kind, message, details, providerId, agentId,
/// appUserId, grantId}` (`kind`: the nearest SDK class of the error).
fn error_from_js(v: Option<Value>) -> CoreResult<Error> {
    let mut o = Opts::new("createConnectSessionForError", v)?;
    let kind = o.str("kind")?.ok_or_else(|| {
        Error::value("createConnectSessionForError takes an SDK error (an AlterSDKError)")
    })?;
    let message = o.str("message")?.unwrap_or_default();
    let details: Details = o.object("details")?.unwrap_or_default();
    let text = |o: &mut Opts, key: &str| -> Option<String> {
        match o.take(key) {
            Some(Value::String(s)) => Some(s),
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => None,
        }
    };
    let provider = text(&mut o, "providerId");
    let agent = text(&mut o, "agentId");
    let app_user = text(&mut o, "appUserId");
    let grant = o.take("grantId");
    let mut err = Error::from_kind(&kind, message, details).ok_or_else(|| {
        Error::value(format!(
            "createConnectSessionForError: unknown error class {kind}"
        ))
    })?;
    match &mut err {
        Error::NoDelegatedGrant {
            provider_id,
            agent_id,
            app_user_id,
            ..
        }
        | Error::GrantNotFound {
            provider_id,
            agent_id,
            app_user_id,
            ..
        }
        | Error::AgentDelegationMissing {
            provider_id,
            agent_id,
            app_user_id,
            ..
        } => {
            *provider_id = provider;
            *agent_id = agent;
            *app_user_id = app_user;
        }
        Error::CredentialRevoked {
            grant_id,
            provider_id,
            app_user_id,
            ..
        } => {
            *grant_id = grant;
            *provider_id = provider;
            *app_user_id = app_user;
        }
        _ => {}
    }
    Ok(err)
}

/// A span time: RFC 3339 text (what `JSON.stringify` makes of a `Date`) or
/// epoch milliseconds.
fn span_time(v: Value, key: &str) -> CoreResult<time::OffsetDateTime> {
    let bad = || {
        Error::value(format!(
            "span {key} must be a Date, an RFC 3339 string or epoch milliseconds"
        ))
    };
    match v {
        Value::String(s) => {
            time::OffsetDateTime::parse(&s, &time::format_description::well_known::Rfc3339)
                .map_err(|_| bad())
        }
        Value::Number(n) => {
            let ms = n.as_f64().filter(|f| f.is_finite()).ok_or_else(bad)?;
            time::OffsetDateTime::from_unix_timestamp_nanos((ms * 1_000_000.0).round() as i128)
                .map_err(|_| bad())
        }
        _ => Err(bad()),
    }
}

/// `{traceId, name, startTime, spanId?, parentSpanId?, endTime?, attributes?}`.
fn user_span(v: Value) -> CoreResult<UserSpan> {
    let mut o = Opts::new("spans.emit", Some(v))?;
    let trace_id = o
        .str("traceId")?
        .ok_or_else(|| Error::value("span traceId is required"))?;
    let name = o
        .str("name")?
        .ok_or_else(|| Error::value("span name is required"))?;
    let start = o
        .take("startTime")
        .ok_or_else(|| Error::value("span startTime is required"))?;
    let mut span = UserSpan::new(&trace_id, &name, span_time(start, "startTime")?);
    span.span_id = o.str("spanId")?;
    span.parent_span_id = o.str("parentSpanId")?;
    span.end_time = o
        .take("endTime")
        .map(|t| span_time(t, "endTime"))
        .transpose()?;
    span.attributes = o.string_pairs("attributes")?.unwrap_or_default();
    o.finish()?;
    Ok(span)
}

/// Options of the headless `connect()` (the opener is passed apart).
pub(crate) fn headless_options(v: Option<Value>) -> CoreResult<HeadlessConnectOptions> {
    let mut o = Opts::new("connect", v)?;
    let d = HeadlessConnectOptions::default();
    let h = HeadlessConnectOptions {
        providers: o.str_list("providers")?,
        timeout: o.f64("timeout")?.unwrap_or(d.timeout),
        poll_interval: o.f64("pollInterval")?.unwrap_or(d.poll_interval),
        open_browser: o.bool("openBrowser")?.unwrap_or(d.open_browser),
        grant_policy: grant_policy(&mut o)?,
        allow_user_policy_rules: o
            .bool("allowUserPolicyRules")?
            .unwrap_or(d.allow_user_policy_rules),
        direct: o.bool("direct")?.unwrap_or(d.direct),
    };
    o.finish()?;
    Ok(h)
}
