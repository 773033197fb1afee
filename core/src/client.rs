//! Clients: the shared state behind an `App` or `Agent`, its siblings made by
//! `with_constraints`, construction, lifecycle and the response hooks' state.

use crate::config::{self, CallerType};
use crate::env_proxy::{EnvLookup, ProxyRules};
use crate::error::{Error, Result};
use crate::ratelimit::RateLimitSnapshot;
use crate::retry::RetryPolicy;
use crate::signing::SigningKey;
use crate::token::RetryInfo;
use futures_util::future::BoxFuture;
use reqwest::header::{HeaderMap, HeaderValue};
use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use zeroize::{Zeroize, Zeroizing};

/// Largest HTTP/2 header list accepted in a response (hyper's default,
/// stated here so the bound is ours; see `Pools::build`).
pub(crate) const MAX_H2_HEADER_LIST_BYTES: u32 = 16 * 1024;

/// Exchanges one pool keeps in flight at once; more wait for a free slot.
/// The official package caps each of its two pools at 100 connections; so
/// do we, which also bounds this process's sockets (and their buffers) at
/// any concurrency instead of running into the file-descriptor limit.
pub(crate) const MAX_IN_FLIGHT_PER_POOL: usize = 100;

/// Background posts (audit rows, scope-mismatch reports) sending at once.
/// They never delay the caller; bounding them keeps a burst of calls from
/// opening a second backend connection per call just to report it.
pub(crate) const MAX_BACKGROUND_POSTS: usize = 8;

/// Background posts that may wait for a sending slot. One more is dropped,
/// counted ([`Client::dropped_reports`]) and warned about once: a backend
/// that stops answering must not make the queue, and the rows it holds,
/// grow with every call. A waiting row holds at most 10 KB of provider
/// body (the audit cap) plus the caller's own request, so 1024 of them stay
/// in the low tens of MiB, while a burst far larger than the 100 calls a
/// pool keeps in flight still queues without loss.
pub const MAX_QUEUED_BACKGROUND_POSTS: usize = 1024;

/// How long `close()` waits for pending background posts when the caller
/// gives no timeout; the rest are abandoned and counted. A healthy backend
/// drains a full queue in well under this (8 posts in flight, a few ms
/// each); a hung one cannot hold a shutdown longer.
pub const DEFAULT_CLOSE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long the bindings' exit hooks (Python `atexit`, Node `beforeExit`)
/// wait for pending background posts of clients that were never closed.
pub const EXIT_FLUSH_TIMEOUT: Duration = Duration::from_secs(5);

/// Every root client of the process, so an exit hook can flush the
/// background posts of clients nobody closed. Weak: a client that is gone
/// (and has nothing pending, since a pending post holds it) is pruned.
static LIVE_CLIENTS: Mutex<Vec<Weak<Shared>>> = Mutex::new(Vec::new());

/// Returns the end user's JWT for a call. May be backed by a Python or JS
/// callable; an `Err` carries nothing because the callback's own error text
/// might contain a token.
pub type UserTokenGetter =
    Arc<dyn Fn() -> BoxFuture<'static, std::result::Result<String, ()>> + Send + Sync>;

/// Receives the SDK's warnings (deprecated key, plain-http base URL, refused
/// audit rows). Bindings route them to their language's warning channel.
pub type WarningSink = Arc<dyn Fn(&str) + Send + Sync>;

/// Everything a client is built from.
#[derive(Clone, Default)]
pub struct ClientOptions {
    pub api_key: String,
    /// Overrides `ALTER_BASE_URL` and the default.
    pub base_url: Option<String>,
    /// Defaults to 30 s.
    pub timeout: Option<Duration>,
    pub caller: Option<String>,
    /// Defaults to `service` for an App; always `agent` for an Agent.
    pub caller_type: Option<CallerType>,
    pub user_token_getter: Option<UserTokenGetter>,
    /// Defaults to [`RetryPolicy::default`].
    pub retry: Option<RetryPolicy>,
    /// Defaults to printing on stderr.
    pub warnings: Option<WarningSink>,
    /// Overrides the `User-Agent` product token (bindings name themselves).
    pub user_agent: Option<String>,
    /// Where the proxy variables (`HTTPS_PROXY`, `NO_PROXY`, ...) are read,
    /// once, at construction; `None` reads the process environment. See
    /// [`crate::env_proxy`].
    pub env: Option<EnvLookup>,
    /// Cap on a provider response body (and a proxy-mode answer), in bytes;
    /// defaults to [`crate::body::DEFAULT_MAX_RESPONSE_BYTES`].
    pub max_response_bytes: Option<u64>,
}

impl fmt::Debug for ClientOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientOptions")
            .field("api_key", &"<redacted>")
            .field("base_url", &self.base_url)
            .field("timeout", &self.timeout)
            .field("caller", &self.caller)
            .field("caller_type", &self.caller_type)
            .field("user_token_getter", &self.user_token_getter.is_some())
            .field("retry", &self.retry)
            .field("env", &self.env.is_some())
            .field("max_response_bytes", &self.max_response_bytes)
            .finish()
    }
}

/// The principal a client acts as. Decides defaults and the error re-mapping
/// agents get (a missing grant means a missing delegation for an agent).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Principal {
    App,
    Agent,
}

/// State shared by a client, its clones and its `with_constraints` siblings:
/// the two HTTP pools, the signing key and the holders the hooks update.
pub(crate) struct Shared {
    pub principal: Principal,
    /// The two pools, rebuilt in a forked child (see [`Pools`]).
    pools: Mutex<Pools>,
    /// Backed by a buffer that is wiped once the last copy (the pools'
    /// default headers included) is dropped; see [`api_key_header`].
    api_key_header: HeaderValue,
    /// The proxy rules read at construction, reused when a forked child
    /// rebuilds its pools.
    proxy: ProxyRules,
    /// Where `proxy` was read, handed on to `App::get_agent`'s child.
    pub env: Option<EnvLookup>,
    pub base_url: String,
    pub signing_key: SigningKey,
    /// Kept for `App::get_agent`, which builds a child with the same key;
    /// cleared (and wiped) on close.
    pub api_key: Mutex<Option<Zeroizing<String>>>,
    pub timeout: Duration,
    pub caller: Option<String>,
    pub caller_type: CallerType,
    pub user_token_getter: Option<UserTokenGetter>,
    pub retry: RetryPolicy,
    pub warnings: WarningSink,
    pub user_agent: String,
    /// Cap on provider bodies and proxy-mode answers (see [`crate::body`]).
    pub max_response_bytes: u64,
    /// Background posts dropped (queue full) or abandoned (close or exit
    /// ran out of time). Shared with the posts themselves, which count
    /// their own abandonment.
    dropped_reports: Arc<AtomicU64>,
    queue_full_warned: AtomicBool,
    pub rate_limit: Mutex<Option<RateLimitSnapshot>>,
    /// A user token installed by `App::authenticate`; stands in for the
    /// getter on every later call of this client and its siblings.
    pub installed_user_token: Mutex<Option<String>>,
    pub last_retry_info: Mutex<Option<RetryInfo>>,
    deprecated_warned: AtomicBool,
    closed: AtomicBool,
}

/// The backend and provider connection pools of one process. Connections
/// inherited across `fork()` belong to the parent's runtime, so a child
/// builds fresh pools on first use.
struct Pools {
    pid: u32,
    backend: reqwest::Client,
    provider: reqwest::Client,
    /// Background audit posts and reports of this process; `close()` waits
    /// for them. Per process: tasks in flight in the parent at `fork()`
    /// never finish in the child, so an inherited tracker would never drain.
    tasks: TaskTracker,
    /// Slots per pool (see [`MAX_IN_FLIGHT_PER_POOL`]) and for background
    /// posts ([`MAX_BACKGROUND_POSTS`]).
    backend_slots: Arc<Semaphore>,
    provider_slots: Arc<Semaphore>,
    background_slots: Arc<Semaphore>,
    /// Places in the background queue, sending or waiting
    /// ([`MAX_BACKGROUND_POSTS`] + [`MAX_QUEUED_BACKGROUND_POSTS`]).
    queue_places: Arc<Semaphore>,
    /// Cancelled to abandon the pending posts (close or exit out of time);
    /// replaced by a fresh token afterwards.
    abandon: CancellationToken,
}

/// Which slot a caller waits for (see [`Shared::slot`]).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Slot {
    Backend,
    Provider,
    Background,
}

/// Attenuation bound into every request of a `with_constraints` sibling.
#[derive(Debug, Clone)]
pub(crate) struct Constraints {
    pub scopes_header: String,
    pub rule_header: String,
}

/// State private to one client object (a sibling has its own).
pub(crate) struct Local {
    pub constraints: Option<Constraints>,
    actor_id: Mutex<Option<String>>,
    closed: AtomicBool,
}

/// The `x-api-key` header value over a buffer of our own: `HeaderValue`
/// clones share it, and it is wiped when the last one is dropped. (Copies
/// the HTTP stack makes while writing a request are transient and beyond
/// reach.)
fn api_key_header(api_key: &str) -> Result<HeaderValue> {
    let owned = Zeroizing::new(api_key.as_bytes().to_vec());
    let mut value = HeaderValue::from_maybe_shared(bytes::Bytes::from_owner(owned))
        .map_err(|_| Error::sdk("api_key contains invalid characters"))?;
    value.set_sensitive(true);
    Ok(value)
}

impl Pools {
    fn build(
        api_key: &HeaderValue,
        user_agent: &str,
        timeout: Duration,
        proxy: &ProxyRules,
    ) -> Result<Pools> {
        // Response heads are bounded by hyper: over HTTP/1.1 at most 100
        // header fields in a head of at most 8 KiB + 100 × 4 KiB (its read
        // buffer ceiling; reqwest 0.12 exposes neither), over HTTP/2 the
        // header list limit set here. A head over either fails the call as
        // a NetworkError before any of it is kept.
        let mut default_headers = HeaderMap::new();
        default_headers.insert("x-api-key", api_key.clone());
        // Both pools: the proxy variables, but never for loopback.
        let backend = proxy
            .apply(reqwest::Client::builder())
            .default_headers(default_headers)
            .user_agent(user_agent)
            .redirect(reqwest::redirect::Policy::none())
            .timeout(timeout)
            .connect_timeout(timeout)
            .pool_idle_timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(20)
            .tcp_nodelay(true)
            .http2_max_header_list_size(MAX_H2_HEADER_LIST_BYTES)
            .build()
            .map_err(|_| Error::sdk("could not initialise the backend HTTP client"))?;
        // The provider pool never carries the API key or any Alter header.
        let provider = proxy
            .apply(reqwest::Client::builder())
            .redirect(reqwest::redirect::Policy::none())
            .timeout(timeout)
            .connect_timeout(timeout)
            .pool_idle_timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(20)
            .tcp_nodelay(true)
            .http2_max_header_list_size(MAX_H2_HEADER_LIST_BYTES)
            .build()
            .map_err(|_| Error::sdk("could not initialise the provider HTTP client"))?;
        Ok(Pools {
            pid: std::process::id(),
            backend,
            provider,
            tasks: TaskTracker::new(),
            backend_slots: Arc::new(Semaphore::new(MAX_IN_FLIGHT_PER_POOL)),
            provider_slots: Arc::new(Semaphore::new(MAX_IN_FLIGHT_PER_POOL)),
            background_slots: Arc::new(Semaphore::new(MAX_BACKGROUND_POSTS)),
            queue_places: Arc::new(Semaphore::new(
                MAX_BACKGROUND_POSTS + MAX_QUEUED_BACKGROUND_POSTS,
            )),
            abandon: CancellationToken::new(),
        })
    }
}

impl Pools {
    fn slots(&self, kind: Slot) -> &Arc<Semaphore> {
        match kind {
            Slot::Backend => &self.backend_slots,
            Slot::Provider => &self.provider_slots,
            Slot::Background => &self.background_slots,
        }
    }
}

impl Shared {
    /// The pools of this process (rebuilt after a fork).
    fn pools<T>(&self, pick: impl FnOnce(&mut Pools) -> T) -> T {
        let mut p = crate::guard::lock(&self.pools);
        if p.pid != std::process::id() {
            if let Ok(fresh) = Pools::build(
                &self.api_key_header,
                &self.user_agent,
                self.timeout,
                &self.proxy,
            ) {
                let stale = std::mem::replace(&mut *p, fresh);
                // Its connections live on the parent's (dead) runtime.
                std::mem::forget(stale);
            }
        }
        pick(&mut p)
    }

    pub fn backend(&self) -> reqwest::Client {
        self.pools(|p| p.backend.clone())
    }

    pub fn provider(&self) -> reqwest::Client {
        self.pools(|p| p.provider.clone())
    }

    /// Waits for a free slot of the given kind; the exchange holds it until
    /// its response body has been read. `None` when `limit` passed first
    /// (the caller reports a timeout, as for a slow server); background
    /// posts wait without a limit (`close()` waits for them anyway).
    pub async fn slot(&self, kind: Slot, limit: Option<Duration>) -> Option<OwnedSemaphorePermit> {
        let sem = self.pools(|p| p.slots(kind).clone());
        // The semaphores are never closed, so acquiring only fails by time.
        match limit {
            Some(limit) => tokio::time::timeout(limit, sem.acquire_owned())
                .await
                .ok()
                .and_then(Result::ok),
            None => sem.acquire_owned().await.ok(),
        }
    }

    /// Slots of the given kind free right now.
    #[cfg(test)]
    pub fn free_slots(&self, kind: Slot) -> usize {
        self.pools(|p| p.slots(kind).available_permits())
    }

    /// The background tasks of this process (see [`Pools`]).
    pub fn tasks(&self) -> TaskTracker {
        self.pools(|p| p.tasks.clone())
    }

    /// Queues a background post (audit row, scope-mismatch report). When
    /// the queue is full the post is dropped and counted instead; a post
    /// abandoned later (close or exit out of time) counts itself.
    pub fn spawn_background(&self, post: impl Future<Output = ()> + Send + 'static) {
        let (tasks, places, abandon) =
            self.pools(|p| (p.tasks.clone(), p.queue_places.clone(), p.abandon.clone()));
        let Ok(place) = places.try_acquire_owned() else {
            self.dropped_reports.fetch_add(1, Ordering::Relaxed);
            if !self.queue_full_warned.swap(true, Ordering::AcqRel) {
                self.warn(&format!(
                    "The background audit queue is full ({MAX_QUEUED_BACKGROUND_POSTS} reports \
                     waiting for the backend); further reports are dropped and counted in \
                     dropped_reports. This warning is shown once per client."
                ));
            }
            return;
        };
        let dropped = self.dropped_reports.clone();
        tasks.spawn(async move {
            let _place = place;
            tokio::select! {
                biased;
                () = abandon.cancelled() => {
                    dropped.fetch_add(1, Ordering::Relaxed);
                }
                () = post => {}
            }
        });
    }

    /// Background posts of this process not finished yet.
    pub fn pending_background(&self) -> usize {
        self.pools(|p| p.tasks.len())
    }

    /// Waits up to `timeout` for the pending background posts, then
    /// abandons the rest. Returns how many were abandoned. New posts can
    /// still be queued afterwards (an exit hook may run more than once).
    async fn drain_background(&self, timeout: Duration) -> u64 {
        let tasks = self.tasks();
        tasks.close();
        let finished = tokio::time::timeout(timeout, tasks.wait()).await.is_ok();
        let mut abandoned = 0;
        if !finished {
            let before = self.dropped_reports.load(Ordering::Relaxed);
            let stale = self.pools(|p| std::mem::replace(&mut p.abandon, CancellationToken::new()));
            stale.cancel();
            // Each abandoned post ends at its next poll.
            tasks.wait().await;
            abandoned = self.dropped_reports.load(Ordering::Relaxed) - before;
        }
        tasks.reopen();
        abandoned
    }

    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    pub fn warn(&self, msg: &str) {
        (self.warnings)(msg);
    }

    pub fn warn_deprecated_once(&self) {
        if !self.deprecated_warned.swap(true, Ordering::AcqRel) {
            self.warn(
                "The API key used by this client is deprecated. Calls keep working until it is \
                 revoked; roll to a replacement key. This warning is shown once per client.",
            );
        }
    }
}

impl Local {
    fn new(constraints: Option<Constraints>, actor_id: Option<String>) -> Local {
        Local {
            constraints,
            actor_id: Mutex::new(actor_id),
            closed: AtomicBool::new(false),
        }
    }

    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    pub fn actor_id(&self) -> Option<String> {
        crate::guard::lock(&self.actor_id).clone()
    }

    /// Caches the first canonical actor id; later different values are
    /// ignored so one client keeps one identity for its life.
    pub fn cache_actor_id(&self, id: &str, warnings: &WarningSink) {
        if !crate::transport::is_uuid_any_case(id) {
            warnings("Ignoring a non-canonical X-Alter-Actor-ID from the backend");
            return;
        }
        // The lock is released before the sink runs: a user callback never
        // runs under an SDK lock (it could call back into this client).
        let differs = {
            let mut slot = crate::guard::lock(&self.actor_id);
            match slot.as_deref() {
                None => {
                    *slot = Some(id.to_string());
                    false
                }
                Some(cur) => !cur.eq_ignore_ascii_case(id),
            }
        };
        if differs {
            warnings("Ignoring a different X-Alter-Actor-ID; keeping the first one");
        }
    }
}

/// A client: cheap to clone (clones are the same client) and safe to share
/// across tasks. `App` and `Agent` wrap it to decide what each may call.
#[derive(Clone)]
pub struct Client {
    pub(crate) shared: Arc<Shared>,
    pub(crate) local: Arc<Local>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("principal", &self.shared.principal)
            .field("base_url", &self.shared.base_url)
            .field("caller", &self.shared.caller)
            .field("caller_type", &self.shared.caller_type)
            .field("constrained", &self.local.constraints.is_some())
            .field("closed", &self.is_closed())
            .finish_non_exhaustive()
    }
}

fn default_warnings() -> WarningSink {
    Arc::new(|msg: &str| eprintln!("alter-sdk warning: {msg}"))
}

impl Client {
    /// Builds a client. Purely local: validates everything, derives the
    /// signing key and sets up the two connection pools.
    /// The caller's copy of the API key in `opts` is wiped before this
    /// returns; the client keeps its own (wiped on close and drop).
    pub fn new(principal: Principal, mut opts: ClientOptions) -> Result<Client> {
        let built = Client::build(principal, &opts);
        opts.api_key.zeroize();
        built
    }

    fn build(principal: Principal, opts: &ClientOptions) -> Result<Client> {
        if opts.api_key.is_empty() {
            return Err(Error::sdk("api_key is required"));
        }
        if !crate::keys::is_valid_key(&opts.api_key) {
            return Err(Error::sdk(
                "api_key is not a valid Alter API key (expected alter_key_… or alter_<type>_…)",
            ));
        }
        if let Some(c) = &opts.caller {
            config::validate_caller(c)?;
        }
        let caller_type = match principal {
            Principal::Agent => CallerType::Agent,
            Principal::App => opts.caller_type.unwrap_or_default(),
        };
        let base_url = config::resolve_base_url(opts.base_url.as_deref())?;
        let warnings = opts.warnings.clone().unwrap_or_else(default_warnings);
        if base_url.to_ascii_lowercase().starts_with("http://") {
            let host = url::Url::parse(&base_url)
                .ok()
                .and_then(|u| u.host_str().map(str::to_string))
                .unwrap_or_default();
            warnings(&format!("Using plain http to the Alter backend at {host}"));
        }
        let timeout = opts.timeout.unwrap_or(config::DEFAULT_TIMEOUT);
        let max_response_bytes = crate::body::check_max_response_bytes(
            opts.max_response_bytes
                .unwrap_or(crate::body::DEFAULT_MAX_RESPONSE_BYTES),
        )?;
        let user_agent = opts
            .user_agent
            .clone()
            .unwrap_or_else(|| config::USER_AGENT.to_string());

        let key_value = api_key_header(&opts.api_key)?;
        let env = opts.env.clone();
        let proxy = ProxyRules::from_env(env.as_ref().unwrap_or(&crate::env_proxy::process_env()))?;
        let pools = Pools::build(&key_value, &user_agent, timeout, &proxy)?;

        let shared = Shared {
            principal,
            pools: Mutex::new(pools),
            api_key_header: key_value,
            proxy,
            env,
            base_url,
            signing_key: SigningKey::derive(&opts.api_key),
            api_key: Mutex::new(Some(Zeroizing::new(opts.api_key.clone()))),
            timeout,
            caller: opts.caller.clone(),
            caller_type,
            user_token_getter: opts.user_token_getter.clone(),
            retry: opts.retry.clone().unwrap_or_default(),
            warnings,
            user_agent,
            max_response_bytes,
            dropped_reports: Arc::new(AtomicU64::new(0)),
            queue_full_warned: AtomicBool::new(false),
            rate_limit: Mutex::new(None),
            installed_user_token: Mutex::new(None),
            last_retry_info: Mutex::new(None),
            deprecated_warned: AtomicBool::new(false),
            closed: AtomicBool::new(false),
        };
        let shared = Arc::new(shared);
        register_live(&shared);
        Ok(Client {
            shared,
            local: Arc::new(Local::new(None, None)),
        })
    }

    pub fn principal(&self) -> Principal {
        self.shared.principal
    }

    pub fn base_url(&self) -> &str {
        &self.shared.base_url
    }

    pub fn timeout(&self) -> Duration {
        self.shared.timeout
    }

    pub fn caller(&self) -> Option<&str> {
        self.shared.caller.as_deref()
    }

    pub fn caller_type(&self) -> CallerType {
        self.shared.caller_type
    }

    /// The actor id the backend assigned this client, once known.
    pub fn actor_id(&self) -> Option<String> {
        self.local.actor_id()
    }

    /// The latest rate-limit headers seen on any backend response.
    pub fn last_rate_limit(&self) -> Option<RateLimitSnapshot> {
        *crate::guard::lock(&self.shared.rate_limit)
    }

    /// The backend's retry metadata of the latest `request()`.
    pub fn last_retry_info(&self) -> Option<RetryInfo> {
        crate::guard::lock(&self.shared.last_retry_info).clone()
    }

    /// True once this client (or, for a sibling, its parent) is closed.
    pub fn is_closed(&self) -> bool {
        self.shared.is_closed() || self.local.is_closed()
    }

    pub(crate) fn ensure_open(&self) -> Result<()> {
        if self.is_closed() {
            Err(Error::closed())
        } else {
            Ok(())
        }
    }

    /// The cap on provider response bodies and proxy-mode answers.
    pub fn max_response_bytes(&self) -> u64 {
        self.shared.max_response_bytes
    }

    /// Background reports (audit rows, scope-mismatch reports) this client
    /// and its siblings did not deliver: dropped because the queue was full
    /// ([`MAX_QUEUED_BACKGROUND_POSTS`]) or abandoned when `close()` or the
    /// exit hook ran out of time.
    pub fn dropped_reports(&self) -> u64 {
        self.shared.dropped_reports.load(Ordering::Relaxed)
    }

    /// [`Client::close_within`] with [`DEFAULT_CLOSE_TIMEOUT`].
    pub async fn close(&self) -> u64 {
        self.close_within(DEFAULT_CLOSE_TIMEOUT).await
    }

    /// Closes the client. A root client waits up to `timeout` for its
    /// background audit posts and reports, abandons (and counts) the ones
    /// still pending, then releases its pools; a sibling only marks itself
    /// closed. Returns how many reports were abandoned (0 for a sibling or
    /// a second close). Idempotent.
    pub async fn close_within(&self, timeout: Duration) -> u64 {
        self.local.closed.store(true, Ordering::Release);
        if self.local.constraints.is_some() {
            return 0;
        }
        if self.shared.closed.swap(true, Ordering::AcqRel) {
            return 0;
        }
        let abandoned = self.shared.drain_background(timeout).await;
        crate::guard::lock(&self.shared.api_key).take();
        abandoned
    }

    /// A sibling whose every backend request carries (and signs) the given
    /// scope constraints and/or request rule. Shares pools, key and holders.
    pub fn with_constraints(
        &self,
        scopes: Option<&[String]>,
        rule: Option<&serde_json::Value>,
    ) -> Result<Client> {
        self.ensure_open()?;
        if self.local.constraints.is_some() {
            return Err(Error::value(
                "with_constraints() cannot be applied to an already constrained client",
            ));
        }
        if scopes.is_none() && rule.is_none() {
            return Err(Error::value(
                "with_constraints() requires scopes, rule, or both",
            ));
        }
        let scopes_header = match scopes {
            None => String::new(),
            Some(list) => {
                if list.is_empty() {
                    return Err(Error::value(
                        "scopes must be a non-empty list of scope strings",
                    ));
                }
                for s in list {
                    if s.is_empty() || s == "*" {
                        return Err(Error::value("scopes must be non-empty and never '*'"));
                    }
                    if s.chars()
                        .any(|c| c == ',' || c.is_whitespace() || c.is_control())
                    {
                        return Err(Error::value(
                            "a scope may not contain commas, whitespace or control characters",
                        ));
                    }
                }
                list.join(",")
            }
        };
        let rule_header = match rule {
            None => String::new(),
            Some(r) => encode_rule(r)?,
        };
        Ok(Client {
            shared: self.shared.clone(),
            local: Arc::new(Local::new(
                Some(Constraints {
                    scopes_header,
                    rule_header,
                }),
                self.local.actor_id(),
            )),
        })
    }

    /// Resolves the user token of a call: the explicit one, else a token
    /// installed by `authenticate()`, else the getter.
    pub(crate) async fn resolve_user_token(
        &self,
        explicit: Option<&str>,
    ) -> Result<Option<String>> {
        if let Some(t) = explicit {
            return Ok(Some(t.to_string()));
        }
        if let Some(t) = crate::guard::lock(&self.shared.installed_user_token).clone() {
            return Ok(Some(t));
        }
        let Some(getter) = &self.shared.user_token_getter else {
            return Ok(None);
        };
        match getter().await {
            Err(()) => Err(Error::sdk("user_token_getter failed")),
            Ok(t) if t.is_empty() => Err(Error::sdk(
                "user_token_getter must return a non-empty string",
            )),
            Ok(t) => Ok(Some(t)),
        }
    }
}

/// A `close()` timeout given in seconds: the core's seconds rule
/// ([`config::deadline_seconds`]: finite, at most 10^9 s), where 0 abandons
/// the pending reports at once. A negative value is refused rather than
/// read as 0: it is never what a caller closing a client meant.
pub fn close_timeout(seconds: f64) -> Result<Duration> {
    if seconds < 0.0 {
        return Err(Error::value("timeout must not be negative"));
    }
    config::deadline_seconds("timeout", seconds)
}

fn register_live(shared: &Arc<Shared>) {
    let mut live = crate::guard::lock(&LIVE_CLIENTS);
    live.retain(|w| w.strong_count() > 0);
    live.push(Arc::downgrade(shared));
}

fn live_clients() -> Vec<Arc<Shared>> {
    let live = crate::guard::lock(&LIVE_CLIENTS);
    live.iter().filter_map(Weak::upgrade).collect()
}

/// Background posts pending in this process, over every client.
pub fn pending_background_posts() -> usize {
    live_clients().iter().map(|s| s.pending_background()).sum()
}

/// Waits up to `timeout` for the pending background posts of every client
/// of the process (closed or not), then abandons the rest; returns how
/// many were abandoned. What the bindings' exit hooks run, so an audit row
/// of a client nobody closed still reaches the backend.
pub async fn flush_background_posts(timeout: Duration) -> u64 {
    let drains = live_clients()
        .into_iter()
        .map(|s| async move { s.drain_background(timeout).await });
    futures_util::future::join_all(drains)
        .await
        .into_iter()
        .sum()
}

/// `X-Alter-Request-Rule`: unpadded base64url of the compact raw-UTF-8 JSON
/// `{"rule_type":…,"rule_body":…}`; at most 4096 characters.
fn encode_rule(rule: &serde_json::Value) -> Result<String> {
    use base64::Engine;
    let obj = rule
        .as_object()
        .ok_or_else(|| Error::value("rule must be an object with rule_type and rule_body"))?;
    let rule_type = obj
        .get("rule_type")
        .and_then(|v| v.as_str())
        .filter(|s| !s.is_empty())
        .ok_or_else(|| Error::value("rule.rule_type must be a non-empty string"))?;
    let rule_body = obj
        .get("rule_body")
        .filter(|v| v.is_object())
        .ok_or_else(|| Error::value("rule.rule_body must be an object"))?;
    let mut canon = serde_json::Map::new();
    canon.insert("rule_type".into(), rule_type.into());
    canon.insert("rule_body".into(), rule_body.clone());
    let json = crate::json::compact_utf8(&serde_json::Value::Object(canon));
    let encoded = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json.as_bytes());
    if encoded.len() > 4096 {
        return Err(Error::value(
            "the encoded request rule exceeds 4096 characters",
        ));
    }
    Ok(encoded)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_timeouts_follow_the_seconds_rule_and_refuse_negatives() {
        assert_eq!(close_timeout(0.0).unwrap(), Duration::ZERO);
        assert_eq!(close_timeout(2.5).unwrap(), Duration::from_millis(2500));
        for bad in [-1.0, -0.5, f64::NAN, f64::INFINITY, 1e20] {
            let e = close_timeout(bad).unwrap_err();
            assert_eq!(e.kind(), "AlterValueError", "{bad}");
            assert!(e.message().starts_with("timeout"), "{bad}: {}", e.message());
        }
    }
    use crate::testutil::holding_server;
    use crate::transport::{Call, Site};
    use reqwest::Method;

    #[test]
    fn the_warning_sink_never_runs_under_the_actor_lock() {
        let local = Arc::new(Local::new(None, None));
        let free = Arc::new(Mutex::new(Vec::new()));
        let (l, f) = (local.clone(), free.clone());
        // A sink that looks at the same client, as a user's logger may.
        let sink: WarningSink = Arc::new(move |_: &str| {
            f.lock().unwrap().push(l.actor_id.try_lock().is_ok());
        });
        local.cache_actor_id("0b6f2d7e-52c4-4c1d-9e55-2a8f3c9d1e00", &sink);
        local.cache_actor_id("0b6f2d7e-52c4-4c1d-9e55-2a8f3c9d1e01", &sink);
        local.cache_actor_id("not-a-uuid", &sink);
        assert_eq!(*free.lock().unwrap(), vec![true, true]);
    }

    /// Poisons every lock of a client's state (a thread panics while
    /// holding each), then uses the client: nothing panics and a backend
    /// call succeeds.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_client_works_after_its_locks_are_poisoned() {
        fn poison<T: Send + 'static>(m: &'static Mutex<T>) {
            let r = std::thread::spawn(move || {
                let _held = m.lock();
                panic!("poisoning on purpose");
            })
            .join();
            assert!(r.is_err() && m.is_poisoned());
        }
        let (url, _held, release) = holding_server().await;
        release.send(true).unwrap();
        let client = crate::testutil::quiet_client(&url);
        // Leaked so the poisoning threads may borrow them for 'static.
        let c: &'static Client = Box::leak(Box::new(client.clone()));
        poison(&c.shared.pools);
        poison(&c.shared.rate_limit);
        poison(&c.shared.last_retry_info);
        poison(&c.shared.installed_user_token);
        poison(&c.shared.api_key);
        poison(&c.local.actor_id);
        assert_eq!(client.last_rate_limit(), None);
        assert_eq!(client.last_retry_info(), None);
        assert_eq!(client.actor_id(), None);
        let call = Call::new(Method::GET, "/after-poison", Site::Namespace);
        let status = client
            .shared
            .send(&client.local, &call)
            .await
            .map(|r| r.status);
        assert_eq!(status.unwrap(), 200);
        client.close().await;
        assert!(client.is_closed());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn backend_exchanges_in_flight_are_capped_per_pool() {
        let (url, mut held, release) = holding_server().await;
        let client = crate::testutil::quiet_client(&url);
        let total = MAX_IN_FLIGHT_PER_POOL + 20;
        let calls: Vec<_> = (0..total)
            .map(|_| {
                let c = client.clone();
                tokio::spawn(async move {
                    let call = Call::new(Method::GET, "/held", Site::Namespace);
                    c.shared.send(&c.local, &call).await.map(|r| r.status)
                })
            })
            .collect();
        // The server holds every request it gets: with the cap, exactly
        // MAX_IN_FLIGHT_PER_POOL reach it and every slot is taken.
        held.wait_for(|n| *n >= MAX_IN_FLIGHT_PER_POOL)
            .await
            .unwrap();
        let free = client.shared.free_slots(Slot::Backend);
        assert_eq!(free, 0, "every in-flight exchange holds a slot");
        assert_eq!(*held.borrow(), MAX_IN_FLIGHT_PER_POOL);
        release.send(true).unwrap();
        for call in calls {
            assert_eq!(call.await.unwrap().unwrap(), 200);
        }
        assert_eq!(
            *held.borrow(),
            total,
            "the waiting calls went out afterwards"
        );
        let free = client.shared.free_slots(Slot::Backend);
        assert_eq!(free, MAX_IN_FLIGHT_PER_POOL, "slots are given back");
    }
}
