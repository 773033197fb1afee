//! The consent and sign-in pages in a real browser: headless Chromium driven
//! by chromedriver over the W3C WebDriver protocol, with plain HTTP
//! requests (no browser-automation crate). A person's clicks complete a
//! Connect (approve / deny), a managed-secret Connect with a typed key, and
//! a sign-in; the SDK-side polls see the outcome.
//!
//! Needs Debian's `chromium` and `chromium-driver` (`devserver/install-browser.sh`,
//! which the test command runs). Without them the test fails rather than
//! skips.

mod common;

use common::{create_agent, start, Client};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";
/// The W3C name of an element reference in WebDriver answers.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A chromedriver process with one browser session; both end on drop.
struct Browser {
    driver: Child,
    port: u16,
    session: String,
    /// The browser process chromedriver started, ended by id if the test
    /// fails before `close`.
    browser_pid: Option<u64>,
    profile: PathBuf,
    http: reqwest::Client,
}

impl Browser {
    async fn launch() -> Browser {
        for bin in [CHROMEDRIVER, CHROMIUM] {
            assert!(
                std::path::Path::new(bin).exists(),
                "{bin} is missing: the test command installs it \
                 (devserver/install-browser.sh installs Debian's chromium and chromium-driver)"
            );
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        // Ready once it says so on stdout (a blocking read, no polling);
        // the rest of its output is drained so it never blocks on a pipe.
        let mut out = BufReader::new(driver.stdout.take().unwrap());
        let mut line = String::new();
        loop {
            line.clear();
            let n = out.read_line(&mut line).expect("chromedriver output");
            assert!(n > 0, "chromedriver exited before it was ready");
            if line.contains("started successfully") {
                break;
            }
        }
        std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
        let profile =
            std::env::temp_dir().join(format!("alter-dev-chromium-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&profile).unwrap();
        let http = reqwest::Client::new();
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--no-first-run", "--disable-background-networking", "--disable-component-update",
                    "--disable-sync", format!("--user-data-dir={}", profile.display()),
                ],
            },
        }}});
        let mut b = Browser {
            driver,
            port,
            session: String::new(),
            browser_pid: None,
            profile,
            http,
        };
        let v = b.call("POST", "/session", Some(caps)).await;
        b.session = v["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {v}"))
            .to_string();
        b.browser_pid = v["capabilities"]["goog:processID"].as_u64();
        // Element lookups wait in the browser for the next page to render.
        b.cmd(
            "POST",
            "/timeouts",
            Some(json!({"implicit": 10_000, "pageLoad": 30_000})),
        )
        .await;
        b
    }

    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let url = format!("http://127.0.0.1:{}{path}", self.port);
        let mut rb = self
            .http
            .request(reqwest::Method::from_bytes(method.as_bytes()).unwrap(), url);
        if let Some(b) = body {
            rb = rb
                .header("content-type", "application/json")
                .body(b.to_string());
        }
        let resp = rb.send().await.expect("chromedriver answers");
        let status = resp.status();
        let v: Value = serde_json::from_slice(&resp.bytes().await.unwrap()).unwrap_or(Value::Null);
        assert!(
            status.is_success(),
            "WebDriver {method} {path} → {status}: {v}"
        );
        v["value"].clone()
    }

    async fn cmd(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        self.call(method, &format!("/session/{}{path}", self.session), body)
            .await
    }

    async fn goto(&self, url: &str) {
        self.cmd("POST", "/url", Some(json!({ "url": url }))).await;
    }

    async fn find(&self, css: &str) -> String {
        let v = self
            .cmd(
                "POST",
                "/element",
                Some(json!({"using": "css selector", "value": css})),
            )
            .await;
        v[ELEMENT]
            .as_str()
            .unwrap_or_else(|| panic!("no element {css}: {v}"))
            .to_string()
    }

    async fn text(&self, css: &str) -> String {
        let id = self.find(css).await;
        self.cmd("GET", &format!("/element/{id}/text"), None)
            .await
            .as_str()
            .unwrap()
            .to_string()
    }

    async fn attribute(&self, css: &str, name: &str) -> Option<String> {
        let id = self.find(css).await;
        self.cmd("GET", &format!("/element/{id}/attribute/{name}"), None)
            .await
            .as_str()
            .map(str::to_string)
    }

    async fn click(&self, css: &str) {
        let id = self.find(css).await;
        self.cmd("POST", &format!("/element/{id}/click"), Some(json!({})))
            .await;
    }

    async fn type_into(&self, css: &str, text: &str) {
        let id = self.find(css).await;
        self.cmd(
            "POST",
            &format!("/element/{id}/value"),
            Some(json!({ "text": text })),
        )
        .await;
    }

    /// The outcome a submitted page reports (`#result[data-status]`).
    async fn result(&self) -> String {
        self.attribute("#result", "data-status")
            .await
            .unwrap_or_default()
    }
}

impl Browser {
    /// Ends the browser session (chromedriver quits the browser).
    async fn close(mut self) {
        self.cmd("DELETE", "", None).await;
        self.browser_pid = None;
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // A test that failed before `close`: end the browser by its process
        // id (drop cannot await a WebDriver call), then the driver.
        if let Some(pid) = self.browser_pid.take() {
            let _ = Command::new("kill").arg(pid.to_string()).status();
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

fn connect_body(extra: Value) -> Value {
    let mut b = json!({"allowed_providers": ["google"], "return_url": null, "allowed_origin": null, "metadata": null});
    for (k, v) in extra.as_object().unwrap() {
        b[k] = v.clone();
    }
    b
}

async fn poll(app: &Client, token: &str) -> Value {
    let r = app
        .post(
            "/sdk/oauth/connect/session/poll",
            &json!({ "session_token": token }),
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    r.body
}

#[tokio::test]
async fn approving_in_the_browser_completes_the_connect() {
    let (server, admin) = start();
    let info = server.info().clone();
    let app = Client::new(&info.base_url, &info.app_api_key);
    let (agent_id, agent_key) = create_agent(&app, "research-bot").await;
    let agent = Client::new(&info.base_url, &agent_key);
    let alice = admin.create_user("alice@example.com").await.unwrap();
    let r = app
        .post(
            "/sdk/oauth/connect/session",
            &connect_body(json!({"agent": "research-bot", "user_token": alice.user_token})),
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    let token = r.body["session_token"].as_str().unwrap().to_string();
    let url = r.body["connect_url"].as_str().unwrap().to_string();
    assert_eq!(poll(&app, &token).await["status"], "pending");

    let browser = Browser::launch().await;
    browser.goto(&url).await;
    assert_eq!(
        browser.text("#title").await,
        "research-bot is requesting access to google"
    );
    assert_eq!(browser.text("#user").await, "alice@example.com");
    browser.click("#approve").await;
    assert_eq!(browser.result().await, "completed");

    let done = poll(&app, &token).await;
    assert_eq!(done["status"], "completed", "{done}");
    let g = &done["grants"][0];
    assert_eq!(g["provider_id"], "google");
    assert_eq!(g["operation"], "creation");
    assert_eq!(g["account_identifier"], "alice@example.com");
    assert_eq!(g["delegation"]["agent_id"], json!(agent_id));
    // The delegation row binds the fake provider token to the agent.
    let listed = agent
        .post("/sdk/grants/list", &json!({"limit": 100, "offset": 0}))
        .await;
    let row = &listed.body["grants"][0];
    assert_eq!(row["parent_grant_id"], g["grant_id"]);
    assert_eq!(row["access_via"], "oauth_delegation");
    let t = agent
        .post(
            "/sdk/token",
            &json!({"provider_id": "google", "reason": null,
                    "request": {"method": "GET", "url": "https://www.googleapis.com/"}}),
        )
        .await;
    assert_eq!(t.status, 200, "{t:?}");
    assert!(t.body["access_token"]
        .as_str()
        .unwrap()
        .starts_with("fake-google-"));

    // The page is single-use.
    browser.goto(&url).await;
    assert_eq!(browser.result().await, "completed");
    browser.close().await;
}

#[tokio::test]
async fn denying_in_the_browser_fails_the_connect() {
    let (server, admin) = start();
    let info = server.info().clone();
    let app = Client::new(&info.base_url, &info.app_api_key);
    create_agent(&app, "research-bot").await;
    let alice = admin.create_user("alice@example.com").await.unwrap();
    let r = app
        .post(
            "/sdk/oauth/connect/session",
            &connect_body(json!({"agent": "research-bot", "user_token": alice.user_token})),
        )
        .await;
    let token = r.body["session_token"].as_str().unwrap().to_string();
    let url = r.body["connect_url"].as_str().unwrap().to_string();

    let browser = Browser::launch().await;
    browser.goto(&url).await;
    assert!(browser.text("#title").await.contains("research-bot"));
    browser.click("#deny").await;
    assert_eq!(browser.result().await, "error");

    let e = poll(&app, &token).await;
    assert_eq!(e["status"], "error", "{e}");
    assert_eq!(e["error"]["error_code"], "connect_denied");
    let grants = app
        .post("/sdk/grants/list", &json!({"limit": 100, "offset": 0}))
        .await;
    assert_eq!(grants.body["total"], 0);
    browser.close().await;
}

#[tokio::test]
async fn key_entry_and_sign_in_in_the_browser() {
    let (server, admin) = start();
    let info = server.info().clone();
    let app = Client::new(&info.base_url, &info.app_api_key);
    let (agent_id, agent_key) = create_agent(&app, "billing-bot").await;
    let agent = Client::new(&info.base_url, &agent_key);
    admin.managed_secret("stripe-prod", "sk_dev").await.unwrap();
    let browser = Browser::launch().await;

    // Sign-in: the page yields a user JWT to the poll.
    let r = app.post("/sdk/auth/session", &json!({})).await;
    assert_eq!(r.status, 201, "{r:?}");
    let auth_token = r.body["session_token"].as_str().unwrap().to_string();
    browser.goto(r.body["auth_url"].as_str().unwrap()).await;
    browser.type_into("#email", "dana@example.com").await;
    browser.type_into("#display_name", "Dana").await;
    browser.click("#signin").await;
    assert_eq!(browser.result().await, "completed");
    let p = app
        .post("/sdk/auth/poll", &json!({"session_token": auth_token}))
        .await;
    assert_eq!(p.body["status"], "completed", "{p:?}");
    assert_eq!(p.body["user_info"]["email"], "dana@example.com");
    let jwt = p.body["user_token"].as_str().unwrap().to_string();
    let v = app
        .post("/sdk/auth/verify-token", &json!({"token": jwt}))
        .await;
    assert_eq!(v.status, 200, "{v:?}");

    // Managed-secret Connect for the agent: the user types their own key.
    let r = app
        .post(
            "/sdk/managed-secrets/connect/session",
            &json!({"provider": "stripe-prod", "agent": agent_id, "user_token": jwt}),
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["path"], "key_entry");
    let token = r.body["session_token"].as_str().unwrap().to_string();
    browser.goto(r.body["connect_url"].as_str().unwrap()).await;
    assert_eq!(
        browser.text("#title").await,
        "billing-bot is requesting access to stripe-prod"
    );
    browser.type_into("#secret", "sk_live_dana").await;
    browser.click("#approve").await;
    assert_eq!(browser.result().await, "completed");
    let done = poll(&app, &token).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["grants"][0]["delegation"]["agent_id"], json!(agent_id));
    let t = agent
        .post(
            "/sdk/token",
            &json!({"provider_id": "stripe-prod", "reason": null,
                    "request": {"method": "GET", "url": "https://api.stripe.com/"}}),
        )
        .await;
    assert_eq!(t.body["access_token"], "sk_live_dana", "{t:?}");

    // A cancelled sign-in reaches the poll as an error.
    let r = app.post("/sdk/auth/session", &json!({})).await;
    let t2 = r.body["session_token"].as_str().unwrap().to_string();
    browser.goto(r.body["auth_url"].as_str().unwrap()).await;
    browser.click("#cancel").await;
    assert_eq!(browser.result().await, "error");
    let p = app
        .post("/sdk/auth/poll", &json!({"session_token": t2}))
        .await;
    assert_eq!(p.body["status"], "error");
    browser.close().await;
}
