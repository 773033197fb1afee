//! A small raw signing client for driving alter-dev the way the SDK does,
//! with knobs to break each part of a request on purpose.

#![allow(dead_code)]

use alter_core::signing::{content_sha256, new_nonce, signing_headers, SignatureInput, SigningKey};
use alter_devserver::{Admin, DevServer, ServerOptions};
use serde_json::{json, Value};
use std::time::{SystemTime, UNIX_EPOCH};

pub fn start() -> (DevServer, Admin) {
    let server = DevServer::start(ServerOptions::default()).expect("server starts");
    let admin = server.admin();
    (server, admin)
}

pub fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// One signed request, with every input that can be tampered with.
#[derive(Clone, Default)]
pub struct Req {
    pub method: String,
    pub target: String,
    pub body: Option<Vec<u8>>,
    /// Seconds added to the real clock for `X-Alter-Timestamp`.
    pub clock_skew: i64,
    pub nonce: Option<String>,
    /// Sent as `X-Alter-Content-SHA256` instead of the true hash (the
    /// signature is then computed over this claimed hash).
    pub claimed_hash: Option<String>,
    /// Bytes actually sent, when they differ from those signed.
    pub sent_body: Option<Vec<u8>>,
    /// Target actually requested, when it differs from the signed one.
    pub sent_target: Option<String>,
    pub caller: Option<(String, String)>,
    pub context: Option<String>,
    pub scope_constraints: Option<String>,
    pub request_rule: Option<String>,
    /// Replaces the signature after signing.
    pub bad_signature: bool,
    pub headers: Vec<(String, String)>,
}

impl Req {
    pub fn new(method: &str, target: &str) -> Req {
        Req {
            method: method.into(),
            target: target.into(),
            ..Req::default()
        }
    }

    pub fn json(mut self, v: &Value) -> Req {
        self.body = Some(v.to_string().into_bytes());
        self
    }
}

#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Resp {
    /// The error code, with or without the `detail` envelope.
    pub fn code(&self) -> &str {
        self.body
            .get("detail")
            .unwrap_or(&self.body)
            .get("error")
            .and_then(Value::as_str)
            .unwrap_or("")
    }

    pub fn detail(&self) -> &Value {
        self.body.get("detail").unwrap_or(&self.body)
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    #[track_caller]
    pub fn expect(&self, status: u16, code: &str) {
        assert_eq!(
            (self.status, self.code()),
            (status, code),
            "unexpected answer: {self:?}"
        );
    }
}

#[derive(Clone)]
pub struct Client {
    pub base_url: String,
    pub api_key: String,
    pub caller: Option<(String, String)>,
    pub http: reqwest::Client,
}

impl Client {
    pub fn new(base_url: &str, api_key: &str) -> Client {
        Client {
            base_url: base_url.to_string(),
            api_key: api_key.to_string(),
            caller: None,
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
        }
    }

    pub fn with_caller(mut self, caller: &str, caller_type: &str) -> Client {
        self.caller = Some((caller.into(), caller_type.into()));
        self
    }

    pub async fn get(&self, target: &str) -> Resp {
        self.send(Req::new("GET", target)).await
    }

    pub async fn post(&self, target: &str, body: &Value) -> Resp {
        self.send(Req::new("POST", target).json(body)).await
    }

    pub async fn patch(&self, target: &str, body: &Value) -> Resp {
        self.send(Req::new("PATCH", target).json(body)).await
    }

    pub async fn delete(&self, target: &str) -> Resp {
        self.send(Req::new("DELETE", target)).await
    }

    pub async fn send(&self, mut r: Req) -> Resp {
        if r.caller.is_none() {
            r.caller = self.caller.clone();
        }
        let key = SigningKey::derive(&self.api_key);
        let body = r.body.clone().unwrap_or_default();
        let hash = r
            .claimed_hash
            .clone()
            .unwrap_or_else(|| content_sha256(&body));
        let ts = (unix_now() + r.clock_skew).to_string();
        let nonce = r.nonce.clone().unwrap_or_else(new_nonce);
        let (caller, caller_type) = r.caller.clone().unwrap_or_default();
        let input = SignatureInput {
            method: &r.method,
            target: &r.target,
            timestamp: &ts,
            nonce: &nonce,
            content_sha256: &hash,
            scope_constraints: r.scope_constraints.as_deref().unwrap_or(""),
            request_rule: r.request_rule.as_deref().unwrap_or(""),
            caller: &caller,
            caller_type: &caller_type,
            actor_id: "",
            context: r.context.as_deref().unwrap_or(""),
        };
        let method = reqwest::Method::from_bytes(r.method.as_bytes()).unwrap();
        let mut rb = self
            .http
            .request(
                method,
                format!(
                    "{}{}",
                    self.base_url,
                    r.sent_target.as_ref().unwrap_or(&r.target)
                ),
            )
            .header("x-api-key", &self.api_key);
        for (name, value) in signing_headers(&key, &input) {
            let value = if r.bad_signature && name.starts_with("X-Alter-Signature") {
                "0".repeat(64)
            } else {
                value
            };
            rb = rb.header(name, value);
        }
        if !caller.is_empty() {
            rb = rb
                .header("X-Alter-Caller", &caller)
                .header("X-Alter-Caller-Type", &caller_type);
        }
        if let Some(c) = &r.context {
            rb = rb.header("X-Alter-Context", c);
        }
        for (k, v) in &r.headers {
            rb = rb.header(k, v);
        }
        let sent = r.sent_body.clone().or(r.body.clone());
        if let Some(b) = sent {
            rb = rb.header("content-type", "application/json").body(b);
        }
        let resp = rb.send().await.expect("request completes");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let bytes = resp.bytes().await.unwrap();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        };
        Resp {
            status,
            headers,
            body,
        }
    }
}

/// Creates an agent through the SDK route; returns (agent id, agent key).
pub async fn create_agent(app: &Client, name: &str) -> (String, String) {
    let r = app.post("/sdk/agents", &json!({"name": name})).await;
    assert_eq!(r.status, 201, "{r:?}");
    (
        r.body["id"].as_str().unwrap().to_string(),
        r.body["api_key"].as_str().unwrap().to_string(),
    )
}

/// The echo provider's URL on this server.
pub fn echo_url(base: &str) -> String {
    format!("{base}/_provider/echo/v1/items")
}
