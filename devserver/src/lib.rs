//! alter-dev: a local Alter-compatible vault.
//!
//! It speaks the backend side of the SDK protocol (`/sdk/*`: signed requests,
//! tokens, proxy, approvals, agents, audit), offers an operator API for tests
//! (`/_dev/*`) and a fake provider (`/_provider/*`), so the SDK can be tested
//! and demonstrated with no network and no account.
//!
//! Run it as a process (`alter-dev serve`) or embed it:
//!
//! ```no_run
//! let server = alter_devserver::DevServer::start(Default::default()).unwrap();
//! println!("{}", server.info().base_url);
//! server.stop();
//! ```

mod admin;
mod audit;
mod auth;
mod catalog;
mod ctx;
mod error;
mod faults;
mod jwt;
mod persist;
mod resolve;
mod routes;
mod server;
mod state;
mod util;

pub use admin::{Admin, AdminError, OAuthGrantIds, UserCreds};

use serde::Serialize;
use std::fmt;
use std::io;
use std::path::PathBuf;
use std::thread::JoinHandle;

/// Where and how to run the server.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    pub host: String,
    /// 0 picks a free port.
    pub port: u16,
    /// Keep the state in this SQLite file across restarts; in memory when
    /// `None`.
    pub state_file: Option<PathBuf>,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            host: "127.0.0.1".into(),
            port: 0,
            state_file: None,
        }
    }
}

/// What a started server tells its user (the JSON line `serve` prints).
#[derive(Clone, Serialize)]
pub struct ServerInfo {
    pub base_url: String,
    pub admin_token: String,
    pub app_id: String,
    pub app_api_key: String,
}

impl fmt::Debug for ServerInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerInfo")
            .field("base_url", &self.base_url)
            .field("admin_token", &"<redacted>")
            .field("app_id", &self.app_id)
            .field("app_api_key", &"<redacted>")
            .finish()
    }
}

/// A server running on its own thread with its own runtime, so callers need
/// no async runtime. Stopped gracefully by [`DevServer::stop`] or on drop.
pub struct DevServer {
    info: ServerInfo,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<io::Result<()>>>,
}

impl DevServer {
    /// Binds and starts serving; returns once requests are accepted.
    pub fn start(opts: ServerOptions) -> io::Result<DevServer> {
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<io::Result<ServerInfo>>();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new().name("alter-dev".into()).spawn(
            move || -> io::Result<()> {
                let rt = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .thread_name("alter-dev-worker")
                    .enable_all()
                    .build()?;
                rt.block_on(async move {
                    let bound = match server::bind(&opts).await {
                        Ok(b) => b,
                        Err(e) => {
                            let _ = ready_tx.send(Err(e));
                            return Ok(());
                        }
                    };
                    let _ = ready_tx.send(Ok(bound.info().clone()));
                    // A dropped sender (the DevServer dropped) also stops.
                    server::serve(bound, async move {
                        let _ = stop_rx.await;
                    })
                    .await
                })
            },
        )?;
        let info = ready_rx
            .recv()
            .map_err(|_| io::Error::other("alter-dev thread exited during start-up"))??;
        Ok(DevServer {
            info,
            stop: Some(stop_tx),
            thread: Some(thread),
        })
    }

    pub fn info(&self) -> &ServerInfo {
        &self.info
    }

    /// An operator client for this server.
    pub fn admin(&self) -> Admin {
        Admin::new(&self.info.base_url, &self.info.admin_token)
    }

    /// Stops gracefully and waits for the server thread.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            match t.join() {
                Ok(Ok(())) => {}
                Ok(Err(e)) => eprintln!("alter-dev: server ended with an error: {e}"),
                Err(_) => eprintln!("alter-dev: server thread panicked"),
            }
        }
    }
}

impl Drop for DevServer {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Runs a server in the current runtime until `shutdown` resolves; calls
/// `on_ready` with the server's info once it accepts requests. This is what
/// the `alter-dev serve` binary uses.
pub async fn run(
    opts: ServerOptions,
    on_ready: impl FnOnce(&ServerInfo),
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let bound = server::bind(&opts).await?;
    on_ready(bound.info());
    server::serve(bound, shutdown).await
}
