//! Identity: who a call acts for (`resolve_identity`) and a short-lived
//! signed statement of it for a third party (`assert_identity`)
//! (grants-and-connect.md §6).

use crate::backend::{self, model};
use crate::client::Client;
use crate::error::{Error, Result};
use crate::principals::{Agent, App};
use crate::transport::{Call, Site};
use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::fmt;

/// The run a call belongs to, from the trace context.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdentityTrace {
    #[serde(default)]
    pub run_id: Option<String>,
    #[serde(default)]
    pub thread_id: Option<String>,
}

/// Who a call acts for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IdentityContext {
    pub app_id: String,
    /// Alter's id of the end user (not the IdP subject).
    #[serde(default)]
    pub app_user_id: Option<String>,
    /// The IdP subject.
    #[serde(default)]
    pub external_subject_id: Option<String>,
    #[serde(default)]
    pub idp_id: Option<String>,
    /// `active` or `suspended`.
    #[serde(default)]
    pub user_status: Option<String>,
    #[serde(default)]
    pub group_ids: Vec<String>,
    #[serde(default)]
    pub agent_id: Option<String>,
    /// An audit label only.
    #[serde(default)]
    pub actor_id: Option<String>,
    #[serde(default)]
    pub trace: Option<IdentityTrace>,
    /// Only with `include_profile`.
    #[serde(default)]
    pub email: Option<String>,
    /// Only with `include_profile`.
    #[serde(default)]
    pub display_name: Option<String>,
}

/// A compact ES256 JWS stating an identity, and when it stops being valid.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct IdentityAssertion {
    pub token: String,
    pub expires_at: String,
    pub identity: IdentityContext,
}

impl fmt::Debug for IdentityAssertion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IdentityAssertion")
            .field("token", &"<redacted>")
            .field("expires_at", &self.expires_at)
            .field("identity", &self.identity)
            .finish()
    }
}

fn check_user_token(t: &str) -> Result<()> {
    if t.is_empty() || t.chars().count() > 8192 {
        return Err(Error::value(
            "user_token must be a non-empty string of at most 8192 characters",
        ));
    }
    Ok(())
}

fn check_audience(a: &str) -> Result<()> {
    let scheme_ok = {
        let mut chars = a.chars();
        chars.next().is_some_and(|c| c.is_ascii_alphabetic())
            && a.find(':').is_some_and(|i| {
                a[1..i]
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '.' | '-'))
            })
    };
    if a.is_empty() || a.chars().count() > 512 || !scheme_ok {
        return Err(Error::value(
            "audience must be a URI (scheme first) of at most 512 characters",
        ));
    }
    Ok(())
}

/// The identity request body: `include_profile`, `user_token`,
/// `app_user_id`, then for an assertion `audience` and `ttl_seconds`.
pub(crate) fn identity_body(
    include_profile: bool,
    user_token: Option<&str>,
    app_user_id: Option<&str>,
    assertion: Option<(&str, Option<i64>)>,
) -> Result<Value> {
    if let Some(t) = user_token {
        check_user_token(t)?;
    }
    backend::opt_non_empty("app_user_id", app_user_id)?;
    let mut m = Map::new();
    m.insert("include_profile".into(), include_profile.into());
    if let Some(t) = user_token {
        m.insert("user_token".into(), t.into());
    }
    if let Some(a) = app_user_id {
        m.insert("app_user_id".into(), a.into());
    }
    if let Some((audience, ttl)) = assertion {
        check_audience(audience)?;
        if ttl.is_some_and(|t| !(10..=300).contains(&t)) {
            return Err(Error::value(
                "ttl_seconds must be an integer from 10 to 300",
            ));
        }
        m.insert("audience".into(), audience.into());
        if let Some(t) = ttl {
            m.insert("ttl_seconds".into(), t.into());
        }
    }
    Ok(Value::Object(m))
}

impl Client {
    async fn identity_call<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        body: Value,
        what: &str,
        check: impl FnOnce(&T) -> std::result::Result<(), String>,
    ) -> Result<T> {
        self.ensure_open()?;
        let call = Call::new(Method::POST, path, Site::Namespace)
            .json(&body)
            .idempotent(true)
            .actor(backend::ambient_actor()?);
        let reply = self.backend_reply(&call).await?;
        let obj = backend::json_object(&reply, what)?;
        model(obj, what, reply.status, check)
    }

    async fn resolve_identity_with(
        &self,
        user_token: Option<String>,
        app_user_id: Option<&str>,
        include_profile: bool,
    ) -> Result<IdentityContext> {
        let body = identity_body(include_profile, user_token.as_deref(), app_user_id, None)?;
        self.identity_call(
            "/sdk/identity/resolve",
            body,
            "resolve_identity",
            check_context,
        )
        .await
    }

    async fn assert_identity_with(
        &self,
        audience: &str,
        user_token: Option<String>,
        app_user_id: Option<&str>,
        ttl_seconds: Option<i64>,
        include_profile: bool,
    ) -> Result<IdentityAssertion> {
        let body = identity_body(
            include_profile,
            user_token.as_deref(),
            app_user_id,
            Some((audience, ttl_seconds)),
        )?;
        self.identity_call(
            "/sdk/identity/assert",
            body,
            "assert_identity",
            |a: &IdentityAssertion| {
                if a.token.is_empty() || !backend::is_iso_datetime(&a.expires_at) {
                    return Err("token must be non-empty and expires_at a date-time".into());
                }
                check_context(&a.identity)
            },
        )
        .await
    }
}

fn check_context(c: &IdentityContext) -> std::result::Result<(), String> {
    if c.app_id.is_empty() {
        Err("app_id must be non-empty".into())
    } else {
        Ok(())
    }
}

impl App {
    /// Who a call with this user token acts for (the token falls back to
    /// the getter; with none, the app itself).
    pub async fn resolve_identity(
        &self,
        user_token: Option<&str>,
        include_profile: bool,
    ) -> Result<IdentityContext> {
        if let Some(t) = user_token {
            check_user_token(t)?;
        }
        let token = self.user_token_or_getter(user_token).await?;
        self.resolve_identity_with(token, None, include_profile)
            .await
    }

    /// A signed identity assertion for `audience` (a URI), valid
    /// `ttl_seconds` (10–300; server default 120).
    pub async fn assert_identity(
        &self,
        audience: &str,
        user_token: Option<&str>,
        ttl_seconds: Option<i64>,
        include_profile: bool,
    ) -> Result<IdentityAssertion> {
        identity_body(
            include_profile,
            user_token,
            None,
            Some((audience, ttl_seconds)),
        )?;
        let token = self.user_token_or_getter(user_token).await?;
        self.assert_identity_with(audience, token, None, ttl_seconds, include_profile)
            .await
    }
}

impl Agent {
    /// Who this agent acts for: for the user of `user_token`, or of
    /// `app_user_id` (only when that user delegated to this agent), or
    /// itself. The getter is never consulted.
    pub async fn resolve_identity(
        &self,
        user_token: Option<&str>,
        app_user_id: Option<&str>,
        include_profile: bool,
    ) -> Result<IdentityContext> {
        self.resolve_identity_with(user_token.map(str::to_string), app_user_id, include_profile)
            .await
    }

    /// A signed identity assertion for `audience`, as
    /// [`Agent::resolve_identity`] resolves it.
    pub async fn assert_identity(
        &self,
        audience: &str,
        user_token: Option<&str>,
        app_user_id: Option<&str>,
        ttl_seconds: Option<i64>,
        include_profile: bool,
    ) -> Result<IdentityAssertion> {
        self.assert_identity_with(
            audience,
            user_token.map(str::to_string),
            app_user_id,
            ttl_seconds,
            include_profile,
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn bytes(v: Value) -> String {
        crate::json::compact_ascii(&v)
    }

    #[test]
    fn bodies() {
        assert_eq!(
            bytes(identity_body(false, None, None, None).unwrap()),
            r#"{"include_profile":false}"#
        );
        assert_eq!(
            bytes(identity_body(true, Some("jwt"), Some("u1"), None).unwrap()),
            r#"{"include_profile":true,"user_token":"jwt","app_user_id":"u1"}"#
        );
        assert_eq!(
            bytes(
                identity_body(
                    false,
                    None,
                    None,
                    Some(("https://mcp.example.com", Some(60)))
                )
                .unwrap()
            ),
            r#"{"include_profile":false,"audience":"https://mcp.example.com","ttl_seconds":60}"#
        );
        assert_eq!(
            bytes(identity_body(false, Some("t"), None, Some(("urn:svc", None))).unwrap()),
            r#"{"include_profile":false,"user_token":"t","audience":"urn:svc"}"#
        );
    }

    #[test]
    fn checks() {
        let bad = |r: Result<Value>| r.unwrap_err().kind() == "AlterValueError";
        assert!(bad(identity_body(false, Some(""), None, None)));
        assert!(bad(identity_body(
            false,
            Some(&"t".repeat(8193)),
            None,
            None
        )));
        assert!(bad(identity_body(false, None, Some(""), None)));
        for aud in [
            "",
            "no-scheme",
            "1http://x",
            "://x",
            &format!("https://{}", "a".repeat(510)),
        ] {
            assert!(
                bad(identity_body(false, None, None, Some((aud, None)))),
                "{aud}"
            );
        }
        assert!(bad(identity_body(
            false,
            None,
            None,
            Some(("https://x", Some(9)))
        )));
        assert!(bad(identity_body(
            false,
            None,
            None,
            Some(("https://x", Some(301)))
        )));
        assert!(identity_body(false, None, None, Some(("a+b.c-d:x", Some(10)))).is_ok());
    }

    #[test]
    fn models() {
        let c: IdentityContext = serde_json::from_value(json!({
            "app_id": "app", "trace": {"run_id": "r"}, "group_ids": ["g"]
        }))
        .unwrap();
        assert_eq!(c.trace.unwrap().run_id.as_deref(), Some("r"));
        let a: IdentityAssertion = serde_json::from_value(json!({
            "token": "eyJ.x.y", "expires_at": "2026-01-01T00:02:00Z", "identity": {"app_id": "app"}
        }))
        .unwrap();
        assert!(!format!("{a:?}").contains("eyJ"));
    }
}
