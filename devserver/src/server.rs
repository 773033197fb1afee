//! Start-up, serving and shutdown, shared by the binary and [`crate::DevServer`].

use crate::auth::{key_row, APP_KEY_SCOPES};
use crate::ctx::{Ctx, NonceCache};
use crate::persist::{Bootstrap, StateFile};
use crate::state::{AppRow, State, Store};
use crate::util::{now, random_hex};
use crate::{ServerInfo, ServerOptions};
use alter_core::keys::{generate_key, KeyKind};
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use tokio::net::TcpListener;
use tokio::sync::watch;
use uuid::Uuid;

/// A server that is listening but not yet serving.
pub struct Bound {
    listener: TcpListener,
    ctx: Arc<Ctx>,
    shutdown_tx: watch::Sender<bool>,
    persist: Option<(Arc<StateFile>, Bootstrap)>,
}

impl Bound {
    pub fn info(&self) -> &ServerInfo {
        &self.ctx.info
    }
}

fn fresh(app_key: &str) -> State {
    let mut state = State::new(AppRow {
        app_id: Uuid::new_v4(),
        name: "alter-dev".into(),
        created_at: now(),
    });
    state.keys.push(key_row(
        app_key,
        None,
        "rk",
        "alter-dev app key".into(),
        APP_KEY_SCOPES,
    ));
    state
}

fn base_url(addr: SocketAddr) -> String {
    // A wildcard bind is reached through loopback (inferred; the SDK only
    // allows plain http to loopback anyway).
    let ip = match addr.ip() {
        IpAddr::V4(v4) if v4.is_unspecified() => IpAddr::from([127, 0, 0, 1]),
        IpAddr::V6(v6) if v6.is_unspecified() => IpAddr::from(std::net::Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    match ip {
        IpAddr::V4(v4) => format!("http://{v4}:{}", addr.port()),
        IpAddr::V6(v6) => format!("http://[{v6}]:{}", addr.port()),
    }
}

/// Loads or creates the state, binds the listener.
pub async fn bind(opts: &ServerOptions) -> io::Result<Bound> {
    let (persist, bootstrap, state) = match &opts.state_file {
        Some(path) => {
            let (file, loaded) = StateFile::open(path)?;
            let (bootstrap, state) = match loaded {
                Some(pair) => pair,
                None => {
                    let b = Bootstrap {
                        admin_token: format!("adm_{}", random_hex(24)),
                        app_api_key: generate_key(KeyKind::Runtime),
                        jwt_secret: random_hex(32),
                    };
                    let s = fresh(&b.app_api_key);
                    (b, s)
                }
            };
            (Some(Arc::new(file)), bootstrap, state)
        }
        None => {
            let b = Bootstrap {
                admin_token: format!("adm_{}", random_hex(24)),
                app_api_key: generate_key(KeyKind::Runtime),
                jwt_secret: random_hex(32),
            };
            let s = fresh(&b.app_api_key);
            (None, b, s)
        }
    };
    let listener = TcpListener::bind((opts.host.as_str(), opts.port)).await?;
    let addr = listener.local_addr()?;
    let info = ServerInfo {
        base_url: base_url(addr),
        admin_token: bootstrap.admin_token.clone(),
        app_id: state.app.app_id.to_string(),
        app_api_key: bootstrap.app_api_key.clone(),
    };
    let jwt_secret = hex::decode(&bootstrap.jwt_secret)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "state file: bad jwt secret"))?;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(io::Error::other)?;
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let (approvals, _) = watch::channel(0u64);
    let (sessions, _) = watch::channel(0u64);
    let ctx = Arc::new(Ctx {
        store: Store::new(state),
        info,
        jwt_secret,
        nonces: Mutex::new(NonceCache::default()),
        rates: Mutex::new(Default::default()),
        faults: Mutex::new(Vec::new()),
        hits: Mutex::new(Default::default()),
        approvals,
        shutdown: shutdown_rx,
        http,
        held_polls: Default::default(),
        sessions,
        identity_key: crate::jwt::Es256Key::generate(),
        holds: Default::default(),
    });
    let persist = persist.map(|f| (f, bootstrap));
    if let Some((file, b)) = &persist {
        // Written at once so the credentials just printed survive even a
        // crash before the first change.
        let snapshot = ctx.store.snapshot();
        let (file, b) = (file.clone(), b.clone());
        tokio::task::spawn_blocking(move || file.save(&b, &snapshot))
            .await
            .map_err(io::Error::other)??;
    }
    Ok(Bound {
        listener,
        ctx,
        shutdown_tx,
        persist,
    })
}

async fn save(ctx: &Ctx, file: &Arc<StateFile>, bootstrap: &Bootstrap) {
    let snapshot = ctx.store.snapshot();
    let (file, b) = (file.clone(), bootstrap.clone());
    match tokio::task::spawn_blocking(move || file.save(&b, &snapshot)).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => eprintln!("alter-dev: could not save state: {e}"),
        Err(e) => eprintln!("alter-dev: state writer failed: {e}"),
    }
}

/// Serves until `shutdown` resolves, then drains connections, ends held long
/// polls and writes the state one last time.
pub async fn serve(
    bound: Bound,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let Bound {
        listener,
        ctx,
        shutdown_tx,
        persist,
    } = bound;
    let writer = persist.clone().map(|(file, bootstrap)| {
        let ctx = ctx.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = ctx.store.changed() => {}
                    _ = ctx.shutting_down() => break,
                }
                // Changes that land while a save runs leave a permit behind,
                // so they are coalesced into the next save, never lost.
                save(&ctx, &file, &bootstrap).await;
            }
        })
    });
    let app = crate::routes::router(ctx.clone());
    let signal = async move {
        shutdown.await;
        let _ = shutdown_tx.send(true);
    };
    // Peer addresses reach the auth middleware for CIDR allowlists.
    let result = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(signal)
    .await;
    if let Some(w) = writer {
        let _ = w.await;
    }
    if let Some((file, bootstrap)) = &persist {
        save(&ctx, file, bootstrap).await;
    }
    result
}
