//! Private memory partitions derived from a verified identity
//! (surface.md §7, "Memory").
//!
//! An application that keeps long-term memory for its agents must never
//! let one user's items be read under another's identity. The partition is
//! therefore derived only from the identifiers Alter vouched for (app,
//! agent, end user) and never from labels a caller can choose (actor,
//! groups, trace, profile). Whatever path a developer adds only subdivides
//! that partition: each segment is base64url-encoded, so no segment can
//! contain a separator, look like a prefix of another partition, or be
//! empty.
//!
//! Whether an identity object really came from Alter is a property of the
//! object in the binding's process (a Python object, a JS object), so the
//! bindings track that provenance; everything computed from the identity's
//! values lives here.

use crate::error::{Error, Result};
use crate::identity::IdentityContext;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};

/// At most this many developer path segments below a partition: paths are
/// hierarchical labels, and no store partitions on more levels than this.
pub const MAX_PATH_SEGMENTS: usize = 16;

/// At most this many UTF-8 bytes in one path segment (one filesystem name).
pub const MAX_SEGMENT_BYTES: usize = 255;

/// At most this many characters in an item key: keys are identifiers, and
/// this stays well below every common backing store's key limit.
pub const MAX_KEY_CHARS: usize = 512;

/// Version tag of the partition layout; changing the layout means a new tag,
/// so items written under an old one are never read under a new meaning.
const LAYOUT: &str = "v2";

/// One verified identity's private partition.
///
/// `namespace` and `partition_key` describe the whole isolation boundary;
/// the `*_key` fields are correlation labels, not partitions of their own.
/// None of it is a credential.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemoryScope {
    pub user_key: Option<String>,
    pub agent_key: String,
    pub app_key: String,
    pub namespace: Vec<String>,
    pub partition_key: String,
}

/// The partition of `identity`: app + agent + end user, or with
/// `agent_only` app + agent for a headless identity (no end user).
///
/// Refusals are `MemoryIsolationError`s: `memory_agent_required` (no
/// agent), `memory_user_cannot_be_dropped` (agent-only asked for an
/// identity that has an end user: dropping the user would merge every
/// user's items), `memory_user_required`, `memory_user_not_active`.
pub fn memory_scope(identity: &IdentityContext, agent_only: bool) -> Result<MemoryScope> {
    let agent = match identity.agent_id.as_deref() {
        Some(a) if !a.is_empty() => a,
        _ => {
            return Err(Error::memory_isolation(
                "memory_agent_required",
                "memory is partitioned per agent, and this identity names none",
            ))
        }
    };
    let mut namespace = vec!["alter".to_string(), LAYOUT.to_string()];
    if agent_only {
        if identity.app_user_id.is_some() {
            return Err(Error::memory_isolation(
                "memory_user_cannot_be_dropped",
                "agent-only memory is for identities without an end user",
            ));
        }
        namespace.extend([
            "agent".to_string(),
            segment(&identity.app_id),
            segment(agent),
        ]);
    } else {
        let user = match identity.app_user_id.as_deref() {
            Some(u) if !u.is_empty() => u,
            _ => {
                return Err(Error::memory_isolation(
                    "memory_user_required",
                    "this identity names no verified end user (agent-only memory is opt-in)",
                ))
            }
        };
        if identity.user_status.as_deref() != Some("active") {
            return Err(Error::memory_isolation(
                "memory_user_not_active",
                "the end user is not active",
            ));
        }
        namespace.extend([
            "agent-user".to_string(),
            segment(&identity.app_id),
            segment(agent),
            segment(user),
        ]);
    }
    let partition_key = format!("{}/", namespace.join("/"));
    Ok(MemoryScope {
        user_key: identity
            .app_user_id
            .as_ref()
            .map(|u| format!("alter:user:{u}")),
        agent_key: format!("alter:agent:{agent}"),
        app_key: format!("alter:app:{}", identity.app_id),
        namespace,
        partition_key,
    })
}

impl MemoryScope {
    /// The store namespace for `path` inside this partition: the partition
    /// followed by the encoded path segments. `AlterValueError` naming
    /// `path` for too many segments, an empty one or an oversized one.
    pub fn namespace_for<S: AsRef<str>>(&self, path: &[S]) -> Result<Vec<String>> {
        let mut out = self.namespace.clone();
        out.extend(encode_path(path)?);
        Ok(out)
    }
}

/// Encodes developer path segments (see [`MemoryScope::namespace_for`]).
pub fn encode_path<S: AsRef<str>>(path: &[S]) -> Result<Vec<String>> {
    if path.len() > MAX_PATH_SEGMENTS {
        return Err(Error::value(format!(
            "path: a memory path has at most {MAX_PATH_SEGMENTS} segments, got {}",
            path.len()
        )));
    }
    path.iter()
        .map(|s| {
            let s = s.as_ref();
            if s.is_empty() {
                Err(Error::value("path: memory path segments must be non-empty"))
            } else if s.len() > MAX_SEGMENT_BYTES {
                Err(Error::value(format!(
                    "path: memory path segments are at most {MAX_SEGMENT_BYTES} UTF-8 bytes"
                )))
            } else {
                Ok(segment(s))
            }
        })
        .collect()
}

/// Unpadded base64url of the UTF-8 bytes: injective, never empty for a
/// non-empty input, and free of `/` and other separators.
fn segment(s: &str) -> String {
    URL_SAFE_NO_PAD.encode(s.as_bytes())
}

/// An item key: non-empty, at most [`MAX_KEY_CHARS`] characters.
pub fn check_key(key: &str) -> Result<()> {
    if key.is_empty() {
        return Err(Error::value("key must be a non-empty string"));
    }
    if key.chars().count() > MAX_KEY_CHARS {
        return Err(Error::value(format!(
            "key must be at most {MAX_KEY_CHARS} characters"
        )));
    }
    Ok(())
}

/// Paging of a search or listing: `limit` ≥ 1, `offset` ≥ 0.
pub fn check_page(limit: i64, offset: i64) -> Result<()> {
    if limit < 1 {
        return Err(Error::value(format!(
            "limit must be a positive integer, got {limit}"
        )));
    }
    if offset < 0 {
        return Err(Error::value(format!(
            "offset must be a non-negative integer, got {offset}"
        )));
    }
    Ok(())
}

/// A store's answer to a read of `key` at `asked`: it must be that very
/// item. `namespace` / `returned_key` are `None` when the answer did not
/// carry them in a readable form, which is as much a violation as a
/// foreign partition.
pub fn check_item(
    namespace: Option<&[String]>,
    returned_key: Option<&str>,
    asked: &[String],
    key: &str,
) -> Result<()> {
    if namespace != Some(asked) {
        return Err(escaped("the store returned an item from another namespace"));
    }
    if returned_key != Some(key) {
        return Err(escaped("the store returned another key"));
    }
    Ok(())
}

/// A store's answer to a search or a listing under `asked`: every
/// namespace in it must be `asked` or below it (`None`: unreadable).
pub fn check_under<'a>(
    namespaces: impl IntoIterator<Item = Option<&'a [String]>>,
    asked: &[String],
) -> Result<()> {
    for namespace in namespaces {
        if !namespace.is_some_and(|n| n.starts_with(asked)) {
            return Err(escaped(
                "the store returned a result outside the requested partition",
            ));
        }
    }
    Ok(())
}

fn escaped(text: &str) -> Error {
    Error::memory_isolation("memory_store_scope_violation", text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity(user: Option<&str>, status: Option<&str>, agent: Option<&str>) -> IdentityContext {
        serde_json::from_value(serde_json::json!({
            "app_id": "app-1",
            "app_user_id": user,
            "user_status": status,
            "agent_id": agent,
            "actor_id": "label-that-must-not-matter",
            "group_ids": ["g1"],
        }))
        .unwrap()
    }

    fn code(e: Error) -> String {
        match e {
            Error::MemoryIsolation { code, .. } => code,
            other => panic!("not a memory isolation error: {other:?}"),
        }
    }

    #[test]
    fn a_user_partition_names_app_agent_and_user_encoded() {
        let s = memory_scope(&identity(Some("u/1"), Some("active"), Some("ag")), false).unwrap();
        assert_eq!(
            s.namespace,
            ["alter", "v2", "agent-user", "YXBwLTE", "YWc", "dS8x"]
        );
        assert_eq!(s.partition_key, "alter/v2/agent-user/YXBwLTE/YWc/dS8x/");
        assert_eq!(s.user_key.as_deref(), Some("alter:user:u/1"));
        assert_eq!(s.agent_key, "alter:agent:ag");
        assert_eq!(s.app_key, "alter:app:app-1");
        // Labels the caller controls do not move the partition.
        let mut other = identity(Some("u/1"), Some("active"), Some("ag"));
        other.actor_id = Some("someone else".into());
        other.group_ids = vec!["g2".into()];
        assert_eq!(memory_scope(&other, false).unwrap(), s);
    }

    #[test]
    fn agent_only_is_for_headless_identities() {
        let s = memory_scope(&identity(None, None, Some("ag")), true).unwrap();
        assert_eq!(s.namespace, ["alter", "v2", "agent", "YXBwLTE", "YWc"]);
        assert_eq!(s.user_key, None);
        let with_user = identity(Some("u"), Some("active"), Some("ag"));
        assert_eq!(
            code(memory_scope(&with_user, true).unwrap_err()),
            "memory_user_cannot_be_dropped"
        );
    }

    #[test]
    fn refusals_name_what_is_missing() {
        let cases = [
            (
                identity(Some("u"), Some("active"), None),
                false,
                "memory_agent_required",
            ),
            (
                identity(None, None, Some("ag")),
                false,
                "memory_user_required",
            ),
            (
                identity(Some("u"), Some("suspended"), Some("ag")),
                false,
                "memory_user_not_active",
            ),
            (
                identity(Some("u"), None, Some("ag")),
                false,
                "memory_user_not_active",
            ),
        ];
        for (who, agent_only, want) in cases {
            assert_eq!(code(memory_scope(&who, agent_only).unwrap_err()), want);
        }
    }

    #[test]
    fn paths_subdivide_and_cannot_escape() {
        let s = memory_scope(&identity(Some("u"), Some("active"), Some("ag")), false).unwrap();
        let ns = s.namespace_for(&["notes", "../../x"]).unwrap();
        assert_eq!(&ns[..s.namespace.len()], &s.namespace[..]);
        assert_eq!(&ns[s.namespace.len()..], ["bm90ZXM", "Li4vLi4veA"]);
        assert!(ns.iter().all(|seg| !seg.contains('/') && !seg.is_empty()));
        // Two different paths never meet: ["a/b"] is not ["a", "b"].
        assert_ne!(
            s.namespace_for(&["a/b"]).unwrap(),
            s.namespace_for(&["a", "b"]).unwrap()
        );

        let too_many: Vec<String> = (0..=MAX_PATH_SEGMENTS).map(|i| i.to_string()).collect();
        for bad in [vec![String::new()], too_many, vec!["é".repeat(128)]] {
            let e = s.namespace_for(&bad).unwrap_err();
            assert_eq!(e.kind(), "AlterValueError");
            assert!(e.to_string().starts_with("path:"), "{e}");
        }
        assert!(s.namespace_for(&["x".repeat(MAX_SEGMENT_BYTES)]).is_ok());
    }

    #[test]
    fn keys_pages_and_results_are_checked() {
        assert!(check_key("k").is_ok());
        assert!(check_key(&"é".repeat(MAX_KEY_CHARS)).is_ok());
        assert!(check_key("").is_err());
        assert!(check_key(&"k".repeat(MAX_KEY_CHARS + 1)).is_err());
        assert!(check_page(1, 0).is_ok());
        assert!(check_page(0, 0).unwrap_err().to_string().contains("limit"));
        assert!(check_page(10, -1)
            .unwrap_err()
            .to_string()
            .contains("offset"));

        let asked: Vec<String> = vec!["a".into(), "b".into()];
        let below: Vec<String> = vec!["a".into(), "b".into(), "c".into()];
        let beside: Vec<String> = vec!["a".into(), "bb".into()];
        assert!(check_item(Some(&asked), Some("k"), &asked, "k").is_ok());
        for (namespace, key) in [
            (Some(&below[..]), Some("k")),
            (Some(&asked[..]), Some("other")),
            (None, Some("k")),
            (Some(&asked[..]), None),
        ] {
            let e = check_item(namespace, key, &asked, "k").unwrap_err();
            assert_eq!(code(e), "memory_store_scope_violation");
        }
        assert!(check_under([Some(&asked[..]), Some(&below[..])], &asked).is_ok());
        assert!(check_under([], &asked).is_ok());
        for bad in [Some(&beside[..]), Some(&asked[..1]), None] {
            let e = check_under([Some(&below[..]), bad], &asked).unwrap_err();
            assert_eq!(code(e), "memory_store_scope_violation");
        }
    }
}
