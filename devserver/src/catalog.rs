//! The small built-in provider catalog: the OAuth providers a fresh vault
//! has configured (with their scope allowlists) and the provider specs the
//! `/sdk/provider-specs` routes serve. A local vault talks to no real
//! provider, so these are fixed data (inferred selection).

use crate::state::{OAuthProviderConfig, ProviderScope};
use crate::util::sha256_hex;
use serde_json::{json, Value};

fn scope(name: &str, description: &str, required: bool, is_default: bool) -> ProviderScope {
    ProviderScope {
        name: name.into(),
        description: description.into(),
        required,
        is_default,
    }
}

/// The OAuth providers configured in a fresh vault. Agent sharing (onward
/// delegation) starts off, as for a newly configured provider in the product.
pub fn default_oauth_providers() -> Vec<OAuthProviderConfig> {
    let g = "https://www.googleapis.com/auth/";
    vec![
        OAuthProviderConfig {
            provider_id: "google".into(),
            display_name: "Google".into(),
            category: Some("productivity".into()),
            description: Some("Gmail, Calendar and Drive".into()),
            scopes: vec![
                scope("openid", "Sign-in identity", true, true),
                scope("email", "Email address", false, true),
                scope(&format!("{g}gmail.readonly"), "Read mail", false, false),
                scope(&format!("{g}gmail.send"), "Send mail", false, false),
                scope(
                    &format!("{g}calendar.readonly"),
                    "Read calendars",
                    false,
                    false,
                ),
            ],
            api_base_url: Some("https://www.googleapis.com".into()),
            onward_sharing: false,
            depth_ceiling: None,
        },
        OAuthProviderConfig {
            provider_id: "github".into(),
            display_name: "GitHub".into(),
            category: Some("developer".into()),
            description: Some("Repositories and issues".into()),
            scopes: vec![
                scope("read:user", "Read profile", false, true),
                scope("repo", "Repositories", false, false),
                scope("user:email", "Email addresses", false, false),
            ],
            api_base_url: Some("https://api.github.com".into()),
            onward_sharing: false,
            depth_ceiling: None,
        },
        OAuthProviderConfig {
            provider_id: "slack".into(),
            display_name: "Slack".into(),
            category: Some("communication".into()),
            description: Some("Channels and messages".into()),
            scopes: vec![
                scope("channels:read", "List channels", false, true),
                scope("chat:write", "Post messages", false, true),
                scope("users:read", "List users", false, false),
            ],
            api_base_url: Some("https://slack.com".into()),
            onward_sharing: false,
            depth_ceiling: None,
        },
    ]
}

/// `scope` covers `atom`: equal, or a broader scope the atom extends with
/// `.`, `/` or `:` (`…/gmail` covers `…/gmail.readonly`) (inferred rule).
pub fn covers(scope: &str, atom: &str) -> bool {
    scope == atom
        || atom
            .strip_prefix(scope)
            .is_some_and(|rest| rest.starts_with(['.', '/', ':']))
}

/// One operation of a built-in spec.
pub struct Op {
    pub id: &'static str,
    pub method: &'static str,
    pub path: &'static str,
    pub summary: &'static str,
}

/// One built-in provider spec.
pub struct Spec {
    pub kind: &'static str,
    pub provider_id: &'static str,
    pub title: &'static str,
    pub version: &'static str,
    pub source_url: &'static str,
    pub ops: &'static [Op],
}

const fn op(
    id: &'static str,
    method: &'static str,
    path: &'static str,
    summary: &'static str,
) -> Op {
    Op {
        id,
        method,
        path,
        summary,
    }
}

pub const SPECS: &[Spec] = &[
    Spec {
        kind: "oauth",
        provider_id: "google",
        title: "Google APIs (Gmail, Calendar)",
        version: "v1",
        source_url: "https://www.googleapis.com/discovery/v1/apis",
        ops: &[
            op(
                "calendar.events.list",
                "GET",
                "/calendar/v3/calendars/{calendarId}/events",
                "List events",
            ),
            op(
                "gmail.users.messages.get",
                "GET",
                "/gmail/v1/users/{userId}/messages/{id}",
                "Get a message",
            ),
            op(
                "gmail.users.messages.list",
                "GET",
                "/gmail/v1/users/{userId}/messages",
                "List messages",
            ),
            op(
                "gmail.users.messages.send",
                "POST",
                "/gmail/v1/users/{userId}/messages/send",
                "Send a message",
            ),
        ],
    },
    Spec {
        kind: "oauth",
        provider_id: "github",
        title: "GitHub REST API",
        version: "2022-11-28",
        source_url: "https://api.github.com",
        ops: &[
            op(
                "issues.create",
                "POST",
                "/repos/{owner}/{repo}/issues",
                "Create an issue",
            ),
            op(
                "repos.get",
                "GET",
                "/repos/{owner}/{repo}",
                "Get a repository",
            ),
        ],
    },
    Spec {
        kind: "managed",
        provider_id: "stripe",
        title: "Stripe API",
        version: "2024-06-20",
        source_url: "https://api.stripe.com",
        ops: &[
            op("charges.create", "POST", "/v1/charges", "Create a charge"),
            op("customers.list", "GET", "/v1/customers", "List customers"),
        ],
    },
];

/// When the built-in specs were "fetched" (fixed: they ship with the
/// vault).
const BUILTIN_AT: &str = "2025-01-01T00:00:00Z";

impl Spec {
    pub fn op_json(&self, o: &Op) -> Value {
        json!({
            "operation_id": o.id,
            "method": o.method,
            "path_template": o.path,
            "summary": o.summary,
        })
    }

    pub fn to_json(&self) -> Value {
        let ops: Vec<Value> = self.ops.iter().map(|o| self.op_json(o)).collect();
        json!({
            "provider_kind": self.kind,
            "provider_id": self.provider_id,
            "version": self.version,
            "provenance": "builtin",
            "source_url": self.source_url,
            "content_hash": sha256_hex(Value::Array(ops).to_string().as_bytes()),
            "operation_count": self.ops.len(),
            "fetched_at": BUILTIN_AT,
            "changed_at": BUILTIN_AT,
            "title": self.title,
            "spec_version": "3.0.3",
        })
    }
}

pub fn spec(kind: &str, provider_id: &str) -> Option<&'static Spec> {
    SPECS
        .iter()
        .find(|s| s.kind == kind && s.provider_id == provider_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broader_scopes_cover_narrower_atoms() {
        assert!(covers("repo", "repo"));
        assert!(covers("repo", "repo:status"));
        assert!(covers(
            "https://www.googleapis.com/auth/gmail",
            "https://www.googleapis.com/auth/gmail.readonly"
        ));
        assert!(!covers("repo", "repository"));
        assert!(!covers("chat:write", "chat"));
    }

    #[test]
    fn spec_operations_are_sorted() {
        for s in SPECS {
            let ids: Vec<&str> = s.ops.iter().map(|o| o.id).collect();
            let mut sorted = ids.clone();
            sorted.sort();
            assert_eq!(ids, sorted, "{}", s.provider_id);
        }
    }
}
