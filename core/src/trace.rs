//! `Agent::trace`: scopes the audit identity (agent, parent agent, run,
//! thread, metadata) of every backend call made inside it, by any client,
//! as the ambient `X-Alter-Context` (agents-and-keys.md §4). Nested traces
//! compose: the inner map starts from the enclosing one.

use crate::context::{self, Context};
use crate::error::{Error, Result};
use crate::principals::Agent;
use std::future::Future;

/// Keys `trace()` owns (or the framework decorators do); metadata may not
/// use them.
pub const RESERVED_TRACE_KEYS: [&str; 7] = [
    "agent",
    "parent_agent",
    "run_id",
    "thread_id",
    "tool",
    "tool_call_id",
    "framework",
];

const MAX_METADATA_KEYS: usize = 20;
const MAX_KEY_BYTES: usize = 64;
const MAX_VALUE_BYTES: usize = 512;
const MAX_TOTAL_BYTES: usize = 4096;

/// What `parent=` does to `parent_agent`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum TraceParent {
    /// Left unset: keep what the enclosing scope implies.
    #[default]
    Inherit,
    /// Name the parent agent explicitly (an empty string clears it).
    Set(String),
    /// `parent=None`: no parent agent.
    Clear,
}

/// Arguments of `trace()`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TraceOptions {
    /// Inherited from the enclosing trace when `None`.
    pub run_id: Option<String>,
    /// Inherited from the enclosing trace when `None`.
    pub thread_id: Option<String>,
    pub parent: TraceParent,
    /// Free-form audit labels (`role="research"`), in order.
    pub metadata: Vec<(String, String)>,
}

/// Checks `**metadata`: at most 20 keys, none reserved or repeated, keys ≤ 64
/// and values ≤ 512 UTF-8 bytes, ≤ 4096 bytes in all.
pub fn validate_trace_metadata(metadata: &[(String, String)]) -> Result<()> {
    if metadata.len() > MAX_METADATA_KEYS {
        return Err(Error::value(format!(
            "trace metadata may have at most {MAX_METADATA_KEYS} keys, got {}",
            metadata.len()
        )));
    }
    let mut total = 0usize;
    for (i, (k, v)) in metadata.iter().enumerate() {
        if RESERVED_TRACE_KEYS.contains(&k.as_str()) {
            return Err(Error::value(format!(
                "trace metadata key {k:?} is reserved (reserved: {})",
                RESERVED_TRACE_KEYS.join(", ")
            )));
        }
        if metadata[..i].iter().any(|(prev, _)| prev == k) {
            return Err(Error::value(format!(
                "trace metadata key {k:?} is given twice"
            )));
        }
        if k.len() > MAX_KEY_BYTES {
            return Err(Error::value(format!(
                "trace metadata key {k:?} exceeds {MAX_KEY_BYTES} bytes"
            )));
        }
        if v.len() > MAX_VALUE_BYTES {
            return Err(Error::value(format!(
                "trace metadata value for {k:?} exceeds {MAX_VALUE_BYTES} bytes"
            )));
        }
        total += k.len() + v.len();
    }
    if total > MAX_TOTAL_BYTES {
        return Err(Error::value(format!(
            "trace metadata exceeds {MAX_TOTAL_BYTES} bytes in total"
        )));
    }
    Ok(())
}

fn get<'a>(ctx: &'a [(String, String)], key: &str) -> Option<&'a str> {
    ctx.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

fn set(ctx: &mut Context, key: &str, value: String) {
    match ctx.iter_mut().find(|(k, _)| k == key) {
        Some(slot) => slot.1 = value,
        None => ctx.push((key.to_string(), value)),
    }
}

/// The context a `trace()` scope sets, from the enclosing one (if any) and
/// the tracing agent's identity (its pinned caller, else its local id).
///
/// Order: inherited non-reserved keys, then `agent`, `parent_agent`,
/// `run_id`, `thread_id`, then the metadata (a metadata key that was
/// inherited keeps its place and takes the new value).
pub fn build_trace_context(
    enclosing: Option<&[(String, String)]>,
    identity: &str,
    opts: &TraceOptions,
) -> Result<Context> {
    validate_trace_metadata(&opts.metadata)?;
    let outer: &[(String, String)] = enclosing.unwrap_or(&[]);
    let mut ctx: Context = outer
        .iter()
        .filter(|(k, _)| !RESERVED_TRACE_KEYS.contains(&k.as_str()))
        .cloned()
        .collect();

    let outer_agent = get(outer, "agent");
    let mut parent = match outer_agent {
        Some(a) if a != identity => Some(a.to_string()),
        _ => get(outer, "parent_agent").map(str::to_string),
    };
    match &opts.parent {
        TraceParent::Inherit => {}
        TraceParent::Set(p) if !p.is_empty() => parent = Some(p.clone()),
        TraceParent::Set(_) | TraceParent::Clear => parent = None,
    }
    let run_id = opts
        .run_id
        .clone()
        .or_else(|| get(outer, "run_id").map(str::to_string));
    let thread_id = opts
        .thread_id
        .clone()
        .or_else(|| get(outer, "thread_id").map(str::to_string));

    ctx.push(("agent".into(), identity.to_string()));
    if let Some(p) = parent {
        ctx.push(("parent_agent".into(), p));
    }
    if let Some(r) = run_id {
        ctx.push(("run_id".into(), r));
    }
    if let Some(t) = thread_id {
        ctx.push(("thread_id".into(), t));
    }
    for (k, v) in &opts.metadata {
        set(&mut ctx, k, v.clone());
    }
    Ok(ctx)
}

impl Agent {
    /// The identity `trace()` stamps as `agent`: the pinned caller, else
    /// this instance's `agent-local-<uuid4>`.
    pub fn trace_identity(&self) -> String {
        self.caller()
            .map(str::to_string)
            .unwrap_or_else(|| self.local_id().to_string())
    }

    /// The context `trace(opts)` would set here, given the current task's
    /// ambient context (for bindings that keep their own context variable).
    pub fn trace_context(&self, opts: &TraceOptions) -> Result<Context> {
        build_trace_context(context::ambient().as_deref(), &self.trace_identity(), opts)
    }

    /// Runs `fut` with this agent's trace scope: every backend call made
    /// inside it, by any client, carries the scope as `X-Alter-Context`.
    /// Validation happens here, before `fut` starts.
    pub async fn trace<F: Future>(&self, opts: TraceOptions, fut: F) -> Result<F::Output> {
        let ctx = self.trace_context(&opts)?;
        Ok(context::with_ambient(ctx, fut).await)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::ClientOptions;
    use std::sync::Arc;

    fn kv(pairs: &[(&str, &str)]) -> Context {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn encoded(ctx: &Context) -> String {
        context::encode_context(ctx).unwrap().unwrap()
    }

    #[test]
    fn nested_example_from_the_spec() {
        let outer = build_trace_context(
            None,
            "11111111-1111-1111-1111-111111111111",
            &TraceOptions {
                run_id: Some("run_abc".into()),
                thread_id: Some("th1".into()),
                metadata: kv(&[("role", "research")]),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(
            encoded(&outer),
            r#"{"agent":"11111111-1111-1111-1111-111111111111","run_id":"run_abc","thread_id":"th1","role":"research"}"#
        );
        let inner = build_trace_context(
            Some(&outer),
            "agent-local-x",
            &TraceOptions {
                metadata: kv(&[("team", "x")]),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(
            encoded(&inner),
            r#"{"role":"research","agent":"agent-local-x","parent_agent":"11111111-1111-1111-1111-111111111111","run_id":"run_abc","thread_id":"th1","team":"x"}"#
        );
    }

    #[test]
    fn parent_rules() {
        let outer = kv(&[("agent", "a"), ("parent_agent", "root"), ("tool", "t")]);
        let build = |id: &str, parent: TraceParent| {
            build_trace_context(
                Some(&outer),
                id,
                &TraceOptions {
                    parent,
                    ..Default::default()
                },
            )
            .unwrap()
        };
        // Same agent re-entering keeps the existing parent; reserved
        // framework keys are not inherited.
        assert_eq!(
            build("a", TraceParent::Inherit),
            kv(&[("agent", "a"), ("parent_agent", "root")])
        );
        // A different agent makes the enclosing one its parent.
        assert_eq!(
            build("b", TraceParent::Inherit),
            kv(&[("agent", "b"), ("parent_agent", "a")])
        );
        assert_eq!(
            build("b", TraceParent::Set("boss".into())),
            kv(&[("agent", "b"), ("parent_agent", "boss")])
        );
        assert_eq!(build("b", TraceParent::Clear), kv(&[("agent", "b")]));
        assert_eq!(
            build("b", TraceParent::Set(String::new())),
            kv(&[("agent", "b")])
        );
        // No enclosing scope: no parent unless given.
        let top = build_trace_context(None, "a", &TraceOptions::default()).unwrap();
        assert_eq!(top, kv(&[("agent", "a")]));
    }

    #[test]
    fn explicit_ids_win_and_metadata_overrides_in_place() {
        let outer = kv(&[
            ("role", "r1"),
            ("agent", "a"),
            ("run_id", "r"),
            ("thread_id", "t"),
        ]);
        let ctx = build_trace_context(
            Some(&outer),
            "a",
            &TraceOptions {
                run_id: Some("r2".into()),
                metadata: kv(&[("role", "r2"), ("k", "v")]),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(
            ctx,
            kv(&[
                ("role", "r2"),
                ("agent", "a"),
                ("run_id", "r2"),
                ("thread_id", "t"),
                ("k", "v")
            ])
        );
    }

    #[test]
    fn metadata_limits() {
        let check = |m: Context| validate_trace_metadata(&m);
        for key in RESERVED_TRACE_KEYS {
            assert_eq!(
                check(kv(&[(key, "x")])).unwrap_err().kind(),
                "AlterValueError"
            );
        }
        assert!(check(kv(&[("k", "v"), ("k", "w")])).is_err());
        let twenty: Context = (0..20).map(|i| (format!("k{i}"), "v".into())).collect();
        assert!(check(twenty.clone()).is_ok());
        let mut twenty_one = twenty;
        twenty_one.push(("k20".into(), "v".into()));
        assert!(check(twenty_one).is_err());
        // Byte limits, not characters: 32 two-byte characters is 64 bytes.
        assert!(check(vec![("é".repeat(32), "v".into())]).is_ok());
        assert!(check(vec![("é".repeat(33), "v".into())]).is_err());
        assert!(check(vec![("k".into(), "é".repeat(256))]).is_ok());
        assert!(check(vec![("k".into(), "é".repeat(257))]).is_err());
        let big: Context = (0..9).map(|i| (format!("k{i}"), "v".repeat(500))).collect();
        assert!(check(big).is_err());
    }

    fn agent(caller: Option<&str>) -> Agent {
        Agent::new(ClientOptions {
            api_key: format!("alter_key_{}", "k".repeat(40)),
            base_url: Some("http://127.0.0.1:9".into()),
            caller: caller.map(str::to_string),
            warnings: Some(Arc::new(|_: &str| {})),
            ..Default::default()
        })
        .unwrap()
    }

    #[tokio::test]
    async fn scopes_nest_and_end() {
        let outer_agent = agent(Some("11111111-1111-1111-1111-111111111111"));
        let inner_agent = agent(None);
        let seen = outer_agent
            .trace(
                TraceOptions {
                    run_id: Some("run_abc".into()),
                    ..Default::default()
                },
                async {
                    let inner = inner_agent
                        .trace(TraceOptions::default(), async { context::ambient() })
                        .await
                        .unwrap();
                    (context::ambient(), inner)
                },
            )
            .await
            .unwrap();
        assert_eq!(
            seen.0,
            Some(kv(&[
                ("agent", "11111111-1111-1111-1111-111111111111"),
                ("run_id", "run_abc")
            ]))
        );
        assert_eq!(
            seen.1,
            Some(kv(&[
                ("agent", inner_agent.local_id()),
                ("parent_agent", "11111111-1111-1111-1111-111111111111"),
                ("run_id", "run_abc")
            ]))
        );
        assert!(context::ambient().is_none());
        let bad = outer_agent
            .trace(
                TraceOptions {
                    metadata: kv(&[("tool", "x")]),
                    ..Default::default()
                },
                async {},
            )
            .await;
        assert_eq!(bad.unwrap_err().kind(), "AlterValueError");
    }
}
