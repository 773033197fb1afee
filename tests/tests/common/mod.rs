//! Shared set-up: a local vault per test, and clients pointed at it.

#![allow(dead_code)]

use alter_core::{Agent, App, ClientOptions, RetryPolicy};
use alter_devserver::{Admin, DevServer, ServerOptions};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};

pub struct Vault {
    pub server: DevServer,
    pub admin: Admin,
}

impl Vault {
    pub fn start() -> Vault {
        let server = DevServer::start(ServerOptions::default()).expect("local vault starts");
        let admin = server.admin();
        Vault { server, admin }
    }

    pub fn base_url(&self) -> String {
        self.server.info().base_url.clone()
    }

    pub fn options(&self, api_key: &str) -> ClientOptions {
        ClientOptions {
            api_key: api_key.to_string(),
            base_url: Some(self.base_url()),
            warnings: Some(Arc::new(|_: &str| {})),
            ..Default::default()
        }
    }

    pub fn app(&self) -> App {
        App::new(self.options(&self.server.info().app_api_key)).expect("app")
    }

    pub fn app_with(&self, f: impl FnOnce(&mut ClientOptions)) -> App {
        let mut o = self.options(&self.server.info().app_api_key);
        f(&mut o);
        App::new(o).expect("app")
    }

    pub fn agent(&self, key: &str) -> Agent {
        Agent::new(self.options(key)).expect("agent")
    }

    pub fn agent_with(&self, key: &str, f: impl FnOnce(&mut ClientOptions)) -> Agent {
        let mut o = self.options(key);
        f(&mut o);
        Agent::new(o).expect("agent")
    }

    /// The echo provider URL for a path.
    pub fn echo(&self, path: &str) -> String {
        format!("{}/_provider/echo{path}", self.base_url())
    }

    /// Creates an agent through the SDK and returns (id, key).
    pub async fn new_agent(&self, name: &str) -> (String, String) {
        let app = self.app();
        let created = app
            .agents()
            .create(alter_core::CreateAgent {
                name: name.into(),
                ..Default::default()
            })
            .await
            .expect("agents.create");
        app.close().await;
        (created.agent.id, created.api_key.expect("plaintext key"))
    }

    /// A managed secret with the given credential, bound to an agent.
    pub async fn bound_secret(
        &self,
        slug: &str,
        credential: &str,
        agent_id: Option<&str>,
    ) -> String {
        let ms = self
            .admin
            .managed_secret(slug, credential)
            .await
            .expect("managed secret");
        self.admin
            .managed_secret_grant(&ms, agent_id, &format!("{slug}-grant"))
            .await
            .expect("grant")
    }

    pub async fn audit(&self) -> Vec<Value> {
        self.admin.audit().await.expect("audit")
    }
}

/// Collects warnings a client emits.
pub fn warning_sink() -> (alter_core::WarningSink, Arc<Mutex<Vec<String>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s2 = seen.clone();
    (
        Arc::new(move |m: &str| s2.lock().unwrap().push(m.to_string())),
        seen,
    )
}

pub fn no_retry(o: &mut ClientOptions) {
    o.retry = Some(RetryPolicy::disabled());
}

/// Plays the user: posts the consent (or sign-in) form of whatever page the
/// SDK opens, shortly after it is opened.
pub struct FakeUser {
    /// Form fields besides the session's own (`state` is added for sign-in).
    form: String,
    pub opened: Mutex<Vec<String>>,
}

impl FakeUser {
    pub fn new(form: &str) -> FakeUser {
        FakeUser {
            form: form.to_string(),
            opened: Default::default(),
        }
    }
}

impl alter_core::BrowserOpener for FakeUser {
    fn open(&self, url: &str) -> bool {
        self.opened.lock().unwrap().push(url.to_string());
        let (target, form) = match url.split_once("?state=") {
            Some((page, token)) => (page.to_string(), format!("state={token}&{}", self.form)),
            None => (
                url.split('#').next().unwrap().to_string(),
                self.form.clone(),
            ),
        };
        tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            reqwest::Client::new()
                .post(target)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(form)
                .send()
                .await
                .expect("consent page answers");
        });
        true
    }

    fn show(&self, line: &str) {
        panic!("the URL should have been opened, not shown: {line}");
    }
}

pub async fn enable_onward_sharing(vault: &Vault, provider: &str) {
    vault
        .admin
        .call(
            reqwest::Method::POST,
            "/_dev/oauth-providers",
            Some(&json!({"provider_id": provider, "onward_sharing": true})),
        )
        .await
        .expect("provider policy");
}
