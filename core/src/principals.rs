//! `App` and `Agent`: the two principals. Both dereference to [`Client`] for
//! the runtime calls they share; operations only one of them may perform are
//! methods on that type alone, so misuse fails to compile instead of failing
//! on the server.

use crate::catalogs::CatalogCache;
use crate::client::{Client, ClientOptions, Principal};
use crate::config::CallerType;
use crate::error::{Details, Error, Result};

use crate::request::{RequestOptions, Response};
use std::ops::Deref;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// The operator client (app keys): everything.
#[derive(Clone, Debug)]
pub struct App {
    client: Client,
    catalog: CatalogCache,
}

/// The workload client (agent keys): a strict subset of `App`, plus its own
/// introspection, tracing and onward delegation.
#[derive(Clone, Debug)]
pub struct Agent {
    client: Client,
    ident: Arc<AgentIdentity>,
    catalog: CatalogCache,
}

/// What an Agent instance knows about itself; shared with its
/// `with_constraints` siblings.
#[derive(Debug)]
struct AgentIdentity {
    /// `agent-local-<uuid4>`: the `trace()` identity when no caller is pinned.
    local_id: String,
    /// Built by `App::get_agent`: the app key plus a pinned agent caller.
    impersonated: bool,
    /// The one-time warning about `request(grant_id=…)` under impersonation.
    grant_warning_sent: AtomicBool,
}

/// A random version-4 UUID, canonical lowercase.
pub(crate) fn uuid_v4() -> String {
    let mut b: [u8; 16] = rand::random();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// Any standard UUID spelling (hyphenated, bare hex, braces, `urn:uuid:`),
/// as canonical lowercase; `None` for anything else.
pub(crate) fn normalize_uuid(s: &str) -> Option<String> {
    let t = s.trim();
    let t = t
        .strip_prefix("urn:uuid:")
        .or_else(|| t.strip_prefix("URN:UUID:"))
        .unwrap_or(t);
    let t = t
        .strip_prefix('{')
        .and_then(|x| x.strip_suffix('}'))
        .unwrap_or(t);
    let hex: String = if t.len() == 36 {
        if !crate::transport::is_uuid_any_case(t) {
            return None;
        }
        t.chars().filter(|c| *c != '-').collect()
    } else if t.len() == 32 {
        t.to_string()
    } else {
        return None;
    };
    if !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    let h = hex.to_ascii_lowercase();
    Some(format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    ))
}

const IMPERSONATION_GRANT_WARNING: &str =
    "This Agent acts under the app key (App.get_agent): request(grant_id=...) is authorised by \
     the app key, not by the agent's delegations. Pass provider=... to resolve through the \
     agent's delegations instead. Shown once per Agent.";

impl App {
    /// Builds an App; purely local. The caller type defaults to `service`.
    pub fn new(opts: ClientOptions) -> Result<App> {
        Ok(App {
            client: Client::new(Principal::App, opts)?,
            catalog: CatalogCache::default(),
        })
    }

    /// A sibling bound to scope constraints and/or a request rule.
    pub fn with_constraints(
        &self,
        scopes: Option<&[String]>,
        rule: Option<&serde_json::Value>,
    ) -> Result<App> {
        Ok(App {
            client: self.client.with_constraints(scopes, rule)?,
            catalog: CatalogCache::default(),
        })
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub(crate) fn catalog_cache(&self) -> &CatalogCache {
        &self.catalog
    }

    /// An Agent acting as the managed agent `agent_id` under this App's key
    /// (impersonation for audit, not delegation-scoped access). Purely
    /// local: any UUID spelling is accepted and sent canonical; an unknown
    /// agent fails on the first call with `AgentNotFoundError`. The child
    /// has its own connections, pins this App's base URL, and does not
    /// inherit the `user_token_getter`; close it separately.
    pub fn get_agent_by_id(&self, agent_id: &str) -> Result<Agent> {
        if self.is_closed() {
            return Err(Error::value(
                "App has been closed; cannot mint an impersonating agent.",
            ));
        }
        if agent_id.trim().is_empty() {
            return Err(Error::value("agent_id must be a non-empty agent UUID"));
        }
        let id = normalize_uuid(agent_id).ok_or_else(|| {
            Error::value(
                "agent_id must be a UUID; look a name up with get_agent() or agents().get_by_name()",
            )
        })?;
        let shared = &self.client.shared;
        let api_key = crate::guard::lock(&shared.api_key).clone().ok_or_else(|| {
            Error::value("App has been closed; cannot mint an impersonating agent.")
        })?;
        let opts = ClientOptions {
            api_key: api_key.to_string(),
            base_url: Some(shared.base_url.clone()),
            timeout: Some(shared.timeout),
            caller: Some(id),
            caller_type: Some(CallerType::Agent),
            user_token_getter: None,
            retry: Some(shared.retry.clone()),
            warnings: Some(shared.warnings.clone()),
            user_agent: Some(shared.user_agent.clone()),
            env: shared.env.clone(),
            max_response_bytes: Some(shared.max_response_bytes),
        };
        let mut agent = Agent::new(opts)?;
        agent.ident = Arc::new(AgentIdentity {
            local_id: agent.ident.local_id.clone(),
            impersonated: true,
            grant_warning_sent: AtomicBool::new(false),
        });
        Ok(agent)
    }

    /// Like [`App::get_agent_by_id`], but also accepts a managed agent's
    /// name, looked up first (`AgentNotFoundError` when no non-revoked agent
    /// has it).
    pub async fn get_agent(&self, agent: &str) -> Result<Agent> {
        if self.is_closed() {
            return Err(Error::value(
                "App has been closed; cannot mint an impersonating agent.",
            ));
        }
        if agent.trim().is_empty() {
            return Err(Error::value("agent must be a non-empty agent UUID or name"));
        }
        if normalize_uuid(agent).is_some() {
            return self.get_agent_by_id(agent);
        }
        match self.agents().get_by_name(agent).await? {
            Some(info) => self.get_agent_by_id(&info.id),
            None => {
                let mut d = Details::new();
                d.insert("error".into(), "agent_not_found".into());
                d.insert("name".into(), agent.into());
                Err(Error::agent(
                    "AgentNotFoundError",
                    format!("No managed agent named {agent:?} in this app"),
                    d,
                    None,
                )
                .expect("AgentNotFoundError is an agent error"))
            }
        }
    }
}

impl Agent {
    /// Builds an Agent; purely local. The caller type is always `agent`.
    pub fn new(opts: ClientOptions) -> Result<Agent> {
        Ok(Agent {
            client: Client::new(Principal::Agent, opts)?,
            ident: Arc::new(AgentIdentity {
                local_id: format!("agent-local-{}", uuid_v4()),
                impersonated: false,
                grant_warning_sent: AtomicBool::new(false),
            }),
            catalog: CatalogCache::default(),
        })
    }

    /// A sibling bound to scope constraints and/or a request rule. It keeps
    /// this Agent's local id, impersonation flag and one-time warning.
    pub fn with_constraints(
        &self,
        scopes: Option<&[String]>,
        rule: Option<&serde_json::Value>,
    ) -> Result<Agent> {
        Ok(Agent {
            client: self.client.with_constraints(scopes, rule)?,
            ident: self.ident.clone(),
            catalog: CatalogCache::default(),
        })
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub(crate) fn catalog_cache(&self) -> &CatalogCache {
        &self.catalog
    }

    /// This instance's process-local id, `agent-local-<uuid4>`.
    pub fn local_id(&self) -> &str {
        &self.ident.local_id
    }

    /// True for an Agent built by `App::get_agent` (app key + agent caller).
    pub fn is_impersonated(&self) -> bool {
        self.ident.impersonated
    }

    /// Retrieve mode (see [`Client::request`]). Under impersonation, the
    /// first call by `grant_id` warns once that the app key, not the
    /// agent's delegations, authorises it.
    pub async fn request(&self, method: &str, url: &str, opts: RequestOptions) -> Result<Response> {
        if self.ident.impersonated
            && opts.grant_id.is_some()
            && opts.provider.is_none()
            && !self.ident.grant_warning_sent.swap(true, Ordering::AcqRel)
        {
            self.client.shared.warn(IMPERSONATION_GRANT_WARNING);
        }
        self.client.request(method, url, opts).await
    }
}

impl Deref for App {
    type Target = Client;
    fn deref(&self) -> &Client {
        &self.client
    }
}

impl Deref for Agent {
    type Target = Client;
    fn deref(&self) -> &Client {
        &self.client
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    fn opts() -> ClientOptions {
        ClientOptions {
            api_key: format!("alter_key_{}", "k".repeat(40)),
            base_url: Some("http://127.0.0.1:9".into()),
            warnings: Some(Arc::new(|_: &str| {})),
            ..Default::default()
        }
    }

    #[test]
    fn uuid_helpers() {
        let v4 = uuid_v4();
        assert!(crate::transport::is_uuid_any_case(&v4));
        assert_eq!(&v4[14..15], "4");
        assert_ne!(uuid_v4(), v4);
        let canon = "0b6f2d7e-52c4-4c1d-9e55-2a8f3c9d1e00";
        for spelling in [
            canon,
            "0B6F2D7E-52C4-4C1D-9E55-2A8F3C9D1E00",
            "0b6f2d7e52c44c1d9e552a8f3c9d1e00",
            "{0b6f2d7e-52c4-4c1d-9e55-2a8f3c9d1e00}",
            "urn:uuid:0b6f2d7e-52c4-4c1d-9e55-2a8f3c9d1e00",
        ] {
            assert_eq!(
                normalize_uuid(spelling).as_deref(),
                Some(canon),
                "{spelling}"
            );
        }
        assert_eq!(normalize_uuid("billing-bot"), None);
        assert_eq!(normalize_uuid(""), None);
        assert_eq!(normalize_uuid("0b6f2d7e-52c4-4c1d-9e55-2a8f3c9d1e0g"), None);
    }

    #[tokio::test]
    async fn get_agent_pins_the_caller_and_not_the_getter() {
        let getter: crate::client::UserTokenGetter =
            Arc::new(|| Box::pin(async { Ok("jwt".to_string()) }));
        let app = App::new(ClientOptions {
            user_token_getter: Some(getter),
            ..opts()
        })
        .unwrap();
        let agent = app
            .get_agent_by_id("0B6F2D7E-52C4-4C1D-9E55-2A8F3C9D1E00")
            .unwrap();
        assert_eq!(agent.caller(), Some("0b6f2d7e-52c4-4c1d-9e55-2a8f3c9d1e00"));
        assert_eq!(agent.caller_type(), CallerType::Agent);
        assert_eq!(agent.base_url(), app.base_url());
        assert!(agent.is_impersonated());
        assert!(agent.shared.user_token_getter.is_none());
        assert!(agent.local_id().starts_with("agent-local-"));
        // Separate pools and lifecycle.
        assert!(!Arc::ptr_eq(&agent.shared, &app.shared));
        assert_eq!(
            app.get_agent_by_id("billing-bot").unwrap_err().kind(),
            "AlterValueError"
        );
        assert_eq!(
            app.get_agent_by_id("").unwrap_err().kind(),
            "AlterValueError"
        );
        // A constrained App still mints with the parent's key.
        let narrowed = app
            .with_constraints(Some(&["grants:read".to_string()]), None)
            .unwrap();
        assert!(narrowed
            .get_agent_by_id("0b6f2d7e-52c4-4c1d-9e55-2a8f3c9d1e00")
            .is_ok());
        app.close().await;
        let err = app
            .get_agent_by_id("0b6f2d7e-52c4-4c1d-9e55-2a8f3c9d1e00")
            .unwrap_err();
        assert_eq!(err.kind(), "AlterValueError");
        assert_eq!(
            err.message(),
            "App has been closed; cannot mint an impersonating agent."
        );
        assert_eq!(
            app.get_agent("billing-bot").await.unwrap_err().kind(),
            "AlterValueError"
        );
        // The child is not closed by the parent.
        assert!(!agent.is_closed());
        agent.close().await;
    }

    #[test]
    fn siblings_keep_the_agent_identity() {
        let agent = Agent::new(opts()).unwrap();
        let sib = agent
            .with_constraints(Some(&["tokens:retrieve".to_string()]), None)
            .unwrap();
        assert_eq!(sib.local_id(), agent.local_id());
        assert!(!sib.is_impersonated());
        let other = Agent::new(opts()).unwrap();
        assert_ne!(other.local_id(), agent.local_id());
    }

    #[tokio::test]
    async fn impersonation_warning_is_latched_once() {
        let seen = Arc::new(Mutex::new(Vec::<String>::new()));
        let s2 = seen.clone();
        let app = App::new(ClientOptions {
            warnings: Some(Arc::new(move |m: &str| s2.lock().unwrap().push(m.into()))),
            retry: Some(crate::RetryPolicy::disabled()),
            ..opts()
        })
        .unwrap();
        let agent = app
            .get_agent_by_id("0b6f2d7e-52c4-4c1d-9e55-2a8f3c9d1e00")
            .unwrap();
        let sib = agent
            .with_constraints(Some(&["tokens:retrieve".to_string()]), None)
            .unwrap();
        let by_grant = || RequestOptions {
            grant_id: Some("0b6f2d7e-52c4-4c1d-9e55-2a8f3c9d1e01".into()),
            ..Default::default()
        };
        // The calls fail (nothing listens), but the warning comes first.
        let _ = agent
            .request("GET", "https://api.example.com/x", by_grant())
            .await;
        let _ = sib
            .request("GET", "https://api.example.com/x", by_grant())
            .await;
        let n = seen
            .lock()
            .unwrap()
            .iter()
            .filter(|m| m.contains("App.get_agent"))
            .count();
        assert_eq!(n, 1);
    }
}
