//! The `alter-dev serve` binary as a real process: the ready line, clean
//! exit on SIGTERM and SIGINT, and `--state` across a restart.

mod common;

use common::{create_agent, echo_url, Client};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

struct Proc {
    child: Child,
    info: Value,
}

fn spawn(state: Option<&Path>) -> Proc {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_alter-dev"));
    cmd.args(["serve", "--host", "127.0.0.1", "--port", "0"]);
    if let Some(s) = state {
        cmd.arg("--state").arg(s);
    }
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("alter-dev starts");
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .expect("ready line");
    let info: Value = serde_json::from_str(&line).expect("the ready line is JSON");
    Proc { child, info }
}

impl Proc {
    fn field(&self, name: &str) -> String {
        self.info[name].as_str().unwrap().to_string()
    }

    fn stop(mut self, signal: &str) {
        let killed = Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(killed.success());
        let status = self.child.wait().unwrap();
        assert_eq!(status.code(), Some(0), "alter-dev exit status: {status:?}");
    }
}

#[tokio::test]
async fn serve_prints_one_ready_line_and_exits_zero_on_sigterm() {
    let p = spawn(None);
    let obj = p.info.as_object().unwrap();
    let keys: Vec<&str> = obj.keys().map(String::as_str).collect();
    assert_eq!(keys, ["base_url", "admin_token", "app_id", "app_api_key"]);
    assert!(p.field("base_url").starts_with("http://127.0.0.1:"));
    assert!(alter_core::keys::is_valid_key(&p.field("app_api_key")));
    let app = Client::new(&p.field("base_url"), &p.field("app_api_key"));
    assert_eq!(app.get("/sdk/agents").await.status, 200);
    p.stop("-TERM");

    let p = spawn(None);
    p.stop("-INT");
}

#[tokio::test]
async fn state_file_survives_a_restart() {
    let dir = std::env::temp_dir().join(format!("alter-dev-test-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let state = dir.join("vault.db");

    let first = spawn(Some(&state));
    let base = first.field("base_url");
    let app = Client::new(&base, &first.field("app_api_key"));
    let admin = alter_devserver::Admin::new(&base, &first.field("admin_token"));
    let (agent_id, agent_key) = create_agent(&app, "persistent").await;
    let ms = admin.managed_secret("kept", "kept-secret").await.unwrap();
    let grant = admin
        .managed_secret_grant(&ms, Some(&agent_id), "p")
        .await
        .unwrap();
    let url = echo_url(&base);
    let body = json!({"grant_id": grant, "reason": null, "request": {"method": "GET", "url": url}});
    assert_eq!(
        Client::new(&base, &agent_key)
            .post("/sdk/token", &body)
            .await
            .status,
        200
    );
    let (app_id, app_key, admin_token) = (
        first.field("app_id"),
        first.field("app_api_key"),
        first.field("admin_token"),
    );
    first.stop("-TERM");

    let second = spawn(Some(&state));
    assert_eq!(second.field("app_id"), app_id);
    assert_eq!(second.field("app_api_key"), app_key);
    assert_eq!(second.field("admin_token"), admin_token);
    let base = second.field("base_url");
    let agent = Client::new(&base, &agent_key);
    let r = agent
        .post("/sdk/token", &json!({"grant_id": grant, "reason": null, "request": {"method": "GET", "url": echo_url(&base)}}))
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["access_token"], "kept-secret");
    let me = agent.get("/sdk/agents/me").await;
    assert_eq!(me.body["name"], "persistent");
    let admin = alter_devserver::Admin::new(&base, &admin_token);
    let events = admin.audit().await.unwrap();
    assert_eq!(events.iter().filter(|e| e["kind"] == "token").count(), 2);
    second.stop("-TERM");

    // The state (database and any journal) never holds an agent key in
    // plaintext.
    for entry in std::fs::read_dir(&dir).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        assert!(!String::from_utf8_lossy(&bytes).contains(&agent_key));
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[cfg(unix)]
#[tokio::test]
async fn the_state_file_is_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let dir = std::env::temp_dir().join(format!("alter-dev-mode-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    // A new file, and one that existed with a wider mode.
    let fresh = dir.join("fresh.db");
    let wide = dir.join("wide.db");
    std::fs::write(&wide, b"").unwrap();
    std::fs::set_permissions(&wide, std::fs::Permissions::from_mode(0o644)).unwrap();
    for state in [&fresh, &wide] {
        let p = spawn(Some(state));
        let app = Client::new(&p.field("base_url"), &p.field("app_api_key"));
        create_agent(&app, "mode").await;
        assert_eq!(mode(state), 0o600, "{}", state.display());
        let wal = state.with_extension("db-wal");
        if wal.exists() {
            assert_eq!(mode(&wal), 0o600);
        }
        p.stop("-TERM");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `--host` beyond loopback warns on stderr before binding. The address is
/// from TEST-NET-1 (RFC 5737), assigned to no interface here: binding it
/// fails, so nothing ever listens beyond loopback.
#[test]
fn a_non_loopback_host_is_warned_about() {
    let out = Command::new(env!("CARGO_BIN_EXE_alter-dev"))
        .args(["serve", "--host", "192.0.2.1", "--port", "0"])
        .stdin(Stdio::null())
        .output()
        .expect("alter-dev runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let first = stderr.lines().next().unwrap_or_default();
    assert!(
        first.starts_with("alter-dev: warning: --host 192.0.2.1 is not a loopback address"),
        "{stderr}"
    );
    assert!(
        !out.status.success(),
        "binding a foreign address must fail here"
    );
    // Loopback stays quiet.
    let mut child = Command::new(env!("CARGO_BIN_EXE_alter-dev"))
        .args(["serve", "--host", "127.0.0.1", "--port", "0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
}
