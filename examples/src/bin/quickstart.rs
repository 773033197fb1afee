//! The guide's agent flow, end to end against the embedded local vault:
//! the operator provisions an agent and binds a managed secret to it, the
//! agent calls a provider with its own key, and the audit row names it.

use alter_core::{
    Agent, App, ClientOptions, CreateAgent, ProxyOptions, ProxyOutcome, RequestOptions,
};
use alter_devserver::{DevServer, ServerOptions};
use serde_json::json;

fn options(base_url: &str, api_key: &str) -> ClientOptions {
    ClientOptions {
        api_key: api_key.to_string(),
        base_url: Some(base_url.to_string()),
        // The local vault speaks plain http on loopback; say nothing about it.
        warnings: Some(std::sync::Arc::new(|_: &str| {})),
        ..Default::default()
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let vault = DevServer::start(ServerOptions::default())?;
    let info = vault.info().clone();
    let admin = vault.admin();
    println!("local vault listening at {}", info.base_url);

    // 1. The operator provisions a managed agent.
    let app = App::new(options(&info.base_url, &info.app_api_key))?;
    let created = app
        .agents()
        .create(CreateAgent {
            name: "research-bot".into(),
            ..Default::default()
        })
        .await?;
    let agent_key = created.api_key.clone().expect("the key is shown once");
    println!(
        "1. operator created agent {} ({})",
        created.agent.name, created.agent.id
    );

    // 2. The operator binds a managed secret to the agent (the portal's job).
    let secret = admin
        .managed_secret("anthropic", "sk-ant-demo-credential")
        .await?;
    let grant_id = admin
        .managed_secret_grant(&secret, Some(&created.agent.id), "research-bot-anthropic")
        .await?;
    println!("2. managed secret bound to the agent as grant {grant_id}");

    // 3. The agent process calls the provider with its own key.
    let agent = Agent::new(options(&info.base_url, &agent_key))?;
    let provider_url = format!("{}/_provider/echo/v1/messages", info.base_url);
    let response = agent
        .request(
            "POST",
            &provider_url,
            RequestOptions {
                grant_id: Some(grant_id.clone()),
                json: Some(json!({
                    "model": "claude-sonnet-4-6",
                    "max_tokens": 1024,
                    "messages": [{"role": "user", "content": "Say hello."}],
                })),
                reason: Some("demo".into()),
                ..Default::default()
            },
        )
        .await?;
    let echoed = response.json()?;
    let auth = echoed["headers"]["authorization"].as_str().unwrap_or("");
    println!(
        "3. agent.request -> HTTP {}; the provider saw Authorization: {}… (injected by the SDK, never in app code)",
        response.status,
        &auth[..auth.len().min(14)]
    );

    // 4. Proxy mode: the credential never leaves the vault.
    let outcome = agent
        .proxy_request(
            "GET",
            &format!("{}/_provider/echo/v1/models", info.base_url),
            ProxyOptions {
                grant_id: Some(grant_id.clone()),
                ..Default::default()
            },
        )
        .await?;
    if let ProxyOutcome::Result(r) = outcome {
        println!(
            "4. agent.proxy_request -> provider HTTP {} executed by the vault",
            r.status_code
        );
    }

    let me = agent.me().await?;
    println!("5. agent.me() -> {} is {}", me.name, me.status);

    agent.close().await; // flushes the background audit post
    app.close().await;
    let audit = admin.audit().await?;
    for row in audit
        .iter()
        .filter(|e| e["kind"] == "api_call" || e["kind"] == "proxy")
    {
        println!(
            "6. audit: {} {} {} -> {} by agent {}",
            row["kind"].as_str().unwrap_or(""),
            row["method"].as_str().unwrap_or(""),
            row["url"].as_str().unwrap_or(""),
            row["status"],
            row["agent_id"].as_str().unwrap_or("-"),
        );
    }
    vault.stop();
    Ok(())
}
