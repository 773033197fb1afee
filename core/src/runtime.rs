//! The one tokio runtime the bindings run the core on.
//!
//! Started lazily on first use and shared by every client. A forked child
//! inherits the parent's memory but none of its threads, so a runtime built
//! before `fork()` is dead in the child: the runtime is keyed by process id
//! and rebuilt when it changes (the stale one is leaked on purpose, because
//! dropping it would wait for worker threads that do not exist).

use std::future::Future;
use std::sync::atomic::{AtomicPtr, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use tokio::runtime::{Builder, Handle, Runtime};

/// The runtime of one process. Slots are leaked on purpose: a slot
/// inherited across `fork()` holds a runtime whose threads are gone (and
/// dropping it would wait for them); there is one per process generation.
struct Slot {
    pid: u32,
    rt: Arc<Runtime>,
}

/// The current slot: null, or a leaked (never freed) [`Slot`]. Read
/// without a lock, so that starting a call never waits on a lock that a
/// thread of the parent may have held when the process forked (it would
/// stay locked forever in the child).
static CURRENT: AtomicPtr<Slot> = AtomicPtr::new(std::ptr::null_mut());

/// Serialises building a runtime (first use, first use after a fork).
static BUILD: Mutex<()> = Mutex::new(());

/// Environment variable that sets the number of runtime worker threads.
pub const WORKERS_ENV: &str = "ALTER_RUNTIME_WORKERS";

/// Worker threads: one unless `ALTER_RUNTIME_WORKERS` says otherwise (1 to
/// 64). The work done here is waiting on sockets plus a little hashing and
/// JSON per call; one thread keeps up with thousands of calls a second,
/// more than an interpreter on the other side of a binding can issue, and
/// every extra worker costs its stack and its own malloc arena. Programs
/// that drive the C ABI from many threads can raise it.
fn worker_threads() -> usize {
    parse_workers(std::env::var(WORKERS_ENV).ok().as_deref())
}

fn parse_workers(value: Option<&str>) -> usize {
    value
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|n| (1..=64).contains(n))
        .unwrap_or(1)
}

fn build() -> Runtime {
    Builder::new_multi_thread()
        .worker_threads(worker_threads())
        .thread_name("alter-core")
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// The shared runtime of this process, built on first use.
pub fn runtime() -> Arc<Runtime> {
    let pid = std::process::id();
    if let Some(rt) = current(pid) {
        return rt;
    }
    let _building = BUILD.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(rt) = current(pid) {
        return rt; // another thread built it meanwhile
    }
    let slot: &'static Slot = Box::leak(Box::new(Slot {
        pid,
        rt: Arc::new(build()),
    }));
    CURRENT.store(std::ptr::from_ref(slot).cast_mut(), Ordering::Release);
    slot.rt.clone()
}

/// The runtime of the current slot, when it belongs to this process.
fn current(pid: u32) -> Option<Arc<Runtime>> {
    let p = CURRENT.load(Ordering::Acquire);
    // SAFETY: CURRENT only ever holds null or a pointer from `Box::leak`,
    // which is never freed, so a non-null pointer is valid forever.
    let slot = unsafe { p.as_ref() }?;
    (slot.pid == pid).then(|| slot.rt.clone())
}

/// A handle to the shared runtime.
pub fn handle() -> Handle {
    runtime().handle().clone()
}

/// Spawns a future on the shared runtime.
pub fn spawn<F>(fut: F) -> tokio::task::JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    runtime().spawn(fut)
}

/// Runs a future to completion from synchronous code (the C ABI). Must not
/// be called from inside the runtime itself.
pub fn block_on<F: Future>(fut: F) -> F::Output {
    runtime().block_on(fut)
}

#[cfg(test)]
mod tests {
    #[test]
    fn worker_count_comes_from_the_environment_within_bounds() {
        assert_eq!(super::parse_workers(None), 1);
        assert_eq!(super::parse_workers(Some("4")), 4);
        assert_eq!(super::parse_workers(Some(" 2 ")), 2);
        // Nonsense falls back to the default rather than failing a call.
        assert_eq!(super::parse_workers(Some("0")), 1);
        assert_eq!(super::parse_workers(Some("65")), 1);
        assert_eq!(super::parse_workers(Some("many")), 1);
    }

    #[test]
    fn threads_racing_for_the_first_runtime_share_one() {
        let all: Vec<_> = (0..8)
            .map(|_| std::thread::spawn(super::runtime))
            .collect::<Vec<_>>()
            .into_iter()
            .map(|t| t.join().unwrap())
            .collect();
        assert!(all.iter().all(|rt| std::sync::Arc::ptr_eq(rt, &all[0])));
    }

    #[test]
    fn one_runtime_per_process() {
        let a = super::runtime();
        let b = super::runtime();
        assert!(std::sync::Arc::ptr_eq(&a, &b));
        assert_eq!(super::block_on(async { 1 + 1 }), 2);
    }
}
