//! Grant resolution, lifecycle checks and the credential contract shared by
//! `/sdk/token`, `/sdk/proxy`, approvals and the audit ingest
//! (requests.md §14.2–§14.3, grants-and-connect.md §8.4).

use crate::auth::Who;
use crate::error::{ApiError, ApiResult};
use crate::state::{Grant, GrantKind, ManagedSecret, Principal, SecretMaterial, State};
use crate::util::rfc3339;
use serde_json::{json, Map, Value};
use uuid::Uuid;

/// What a token or proxy request names.
#[derive(Debug, Default, Clone)]
pub struct Lookup {
    pub grant_id: Option<String>,
    pub provider_id: Option<String>,
    pub account: Option<String>,
    pub label: Option<String>,
    pub app_user_id: Option<String>,
    /// Subject of a verified user token.
    pub user: Option<Uuid>,
}

fn grant_not_found(msg: &str) -> ApiError {
    ApiError::not_found("grant_not_found", msg.to_string())
}

/// Whether an agent holds a grant: an agent-owned root or a delegation child
/// made to it. Both carry the agent as principal.
pub fn agent_holds(g: &Grant, agent: Uuid) -> bool {
    g.principal == (Principal::Agent { agent_id: agent })
}

/// Lifecycle of a grant and every ancestor: revoked, expired, or a revoked
/// connection. Revocation is reported first: it is final whatever the TTL
/// says (inferred order).
pub fn check_live(s: &State, g: &Grant, now: i64) -> ApiResult<()> {
    let mut chain = vec![g];
    let mut cur = g;
    for _ in 0..16 {
        match cur.parent_grant_id.and_then(|p| s.grant(p)) {
            Some(p) => {
                chain.push(p);
                cur = p;
            }
            None => break,
        }
    }
    let provider_id = s.grant_provider_id(g);
    let agent_id = match g.principal {
        Principal::Agent { agent_id } => Some(agent_id.to_string()),
        _ => None,
    };
    let app_user_id = s.root_user(g).map(|u| u.to_string());
    if chain.iter().any(|c| c.revoked_at.is_some()) {
        return Err(ApiError::new(
            403,
            "grant_revoked",
            "Grant has been revoked. User must re-authorize.",
        )
        .with("grant_id", g.grant_id.to_string()));
    }
    if let Some(expired) = chain
        .iter()
        .filter_map(|c| c.expires_at)
        .filter(|e| *e <= now)
        .min()
    {
        return Err(
            ApiError::new(403, "grant_expired", "Grant expired per TTL policy")
                .with("grant_id", g.grant_id.to_string())
                .with("provider_id", provider_id)
                .with("agent_id", agent_id)
                .with("app_user_id", app_user_id)
                .with("details", json!({"grant_expires_at": rfc3339(expired)})),
        );
    }
    if s.grant_account(g).is_some_and(|c| c.revoked) {
        return Err(ApiError::new(
            403,
            "credential_revoked",
            "Underlying OAuth connection has been revoked. User must re-authorize.",
        )
        .with("grant_id", g.grant_id.to_string())
        .with("provider_id", provider_id)
        .with("app_user_id", app_user_id));
    }
    Ok(())
}

fn is_live(s: &State, g: &Grant, now: i64) -> bool {
    check_live(s, g, now).is_ok()
}

/// The grants a caller may address by id (grant mode).
pub fn reach_by_id(s: &State, who: Who, grant_id: &str) -> ApiResult<Uuid> {
    let gid = Uuid::parse_str(grant_id)
        .map_err(|_| grant_not_found("OAuth grant not found for the given grant_id"))?;
    let g = s
        .grant(gid)
        .ok_or_else(|| grant_not_found("OAuth grant not found for the given grant_id"))?;
    match who {
        // Impersonation keeps the operator's reach for explicit ids
        // (agents-and-keys.md §2).
        Who::Operator | Who::Impersonated(_) => Ok(gid),
        Who::Agent(a) if agent_holds(g, a) => Ok(gid),
        Who::Agent(a) => {
            // An agent naming the root it was delegated from reaches its own
            // delegation under it: friendlier than the opaque 404 and it
            // grants nothing the agent does not already hold (inferred).
            s.grants
                .iter()
                .find(|c| {
                    c.parent_grant_id == Some(gid) && agent_holds(c, a) && c.revoked_at.is_none()
                })
                .map(|c| c.grant_id)
                .ok_or_else(|| {
                    grant_not_found("grant not found, or not delegated to this agent")
                        .with("agent_id", a.to_string())
                })
        }
    }
}

/// Resolves a token/proxy lookup to one grant id, then checks lifecycle.
pub fn resolve(s: &State, who: Who, q: &Lookup, now: i64) -> ApiResult<Uuid> {
    let gid = match (&q.grant_id, &q.provider_id) {
        (Some(id), _) => {
            let gid = reach_by_id(s, who, id)?;
            let g = s.grant(gid).expect("reached grant exists");
            if let Some(user) = q.user {
                let root = s.root_of(g);
                match root.principal {
                    Principal::User { user_id } if user_id == user => {}
                    Principal::System => {
                        return Err(ApiError::new(
                            403,
                            "system_grant_user_token_mismatch",
                            "an application-scoped grant cannot be used with a user token",
                        ))
                    }
                    // Agent-owned roots are not user grants; the user token
                    // does not narrow them.
                    Principal::Agent { .. } => {}
                    Principal::Group {
                        ref external_group_id,
                        ..
                    } if s
                        .user(user)
                        .is_some_and(|u| u.groups.contains(external_group_id)) => {}
                    Principal::Group { .. } => {
                        return Err(grant_not_found(
                            "grant not found for the user of this user_token",
                        ))
                    }
                    Principal::User { .. } => {
                        return Err(grant_not_found(
                            "grant not found for the user of this user_token",
                        ))
                    }
                }
            }
            gid
        }
        (None, Some(provider)) => by_provider(s, who, q, provider, now)?,
        (None, None) => {
            return Err(ApiError::validation(
                "grant_id",
                "provide grant_id or provider_id",
            ))
        }
    };
    let g = s.grant(gid).expect("resolved grant exists");
    check_live(s, g, now)?;
    Ok(gid)
}

fn by_provider(s: &State, who: Who, q: &Lookup, provider: &str, now: i64) -> ApiResult<Uuid> {
    let app_user = q.user.or_else(|| {
        q.app_user_id
            .as_deref()
            .and_then(|u| Uuid::parse_str(u).ok())
    });
    if q.app_user_id.is_some() && app_user.is_none() {
        // An app_user_id that is not one of ours matches nothing.
        return Err(no_match(who, provider, q));
    }
    let candidates: Vec<&Grant> = s
        .grants
        .iter()
        .filter(|g| s.grant_matches_provider(g, provider))
        .filter(|g| match who {
            Who::Operator => {
                g.parent_grant_id.is_none()
                    && match (app_user, &g.principal) {
                        (Some(u), Principal::User { user_id }) => *user_id == u,
                        // Group grants reach their members (inferred).
                        (
                            Some(u),
                            Principal::Group {
                                external_group_id, ..
                            },
                        ) => s
                            .user(u)
                            .is_some_and(|u| u.groups.contains(external_group_id)),
                        (None, Principal::System) => true,
                        _ => false,
                    }
            }
            Who::Agent(a) | Who::Impersonated(a) => {
                agent_holds(g, a)
                    && match app_user {
                        // Agent-owned roots are unaffected by a user filter.
                        Some(u) if g.parent_grant_id.is_some() => s.root_user(g) == Some(u),
                        _ => true,
                    }
            }
        })
        .filter(|g| {
            q.account.as_deref().is_none_or(|acct| {
                s.grant_account(g)
                    .and_then(|c| c.account_identifier.as_deref())
                    == Some(acct)
            })
        })
        .filter(|g| {
            q.label
                .as_deref()
                .is_none_or(|l| g.label.as_deref() == Some(l))
        })
        .collect();
    let live: Vec<&Grant> = candidates
        .iter()
        .copied()
        .filter(|g| is_live(s, g, now))
        .collect();
    match (live.len(), candidates.first()) {
        (1, _) => Ok(live[0].grant_id),
        // Only dead matches: return one so its lifecycle error surfaces.
        (0, Some(g)) => Ok(g.grant_id),
        (0, None) => Err(no_match(who, provider, q)),
        _ => Err(ambiguous(s, who, &live, provider, q)),
    }
}

fn no_match(who: Who, provider: &str, q: &Lookup) -> ApiError {
    match who {
        Who::Agent(a) | Who::Impersonated(a) => ApiError::not_found(
            "no_delegated_grant",
            "Agent has no active delegation or managed-secret grant for this provider.",
        )
        .with("provider_id", provider)
        .with("agent_id", a.to_string())
        .with(
            "app_user_id",
            q.app_user_id.clone().or(q.user.map(|u| u.to_string())),
        ),
        Who::Operator => grant_not_found("no grant matches this provider")
            .with("provider_id", provider)
            .with(
                "app_user_id",
                q.app_user_id.clone().or(q.user.map(|u| u.to_string())),
            ),
    }
}

fn ambiguous(s: &State, who: Who, live: &[&Grant], provider: &str, q: &Lookup) -> ApiError {
    let agent_caller = !matches!(who, Who::Operator);
    let candidates: Vec<Value> = live
        .iter()
        .map(|g| {
            let conn = s.grant_account(g);
            let mut c = json!({"grant_id": g.grant_id.to_string(), "label": g.label});
            if !agent_caller {
                c["account_identifier"] = json!(conn.and_then(|c| c.account_identifier.clone()));
                c["account_display_name"] =
                    json!(conn.and_then(|c| c.account_display_name.clone()));
            }
            c
        })
        .collect();
    let mut accounts: Vec<String> = live
        .iter()
        .filter_map(|g| {
            s.grant_account(g)
                .and_then(|c| c.account_identifier.clone())
        })
        .collect();
    accounts.dedup();
    let mut users: Vec<String> = live
        .iter()
        .filter_map(|g| s.root_user(g).map(|u| u.to_string()))
        .collect();
    users.sort();
    users.dedup();
    ApiError::new(
        409,
        "ambiguous_grant",
        "Several grants match; pass 'account' or 'label' to pick one.",
    )
    .with("provider_id", provider)
    .with("candidates", candidates)
    .with(
        "account_identifiers",
        if agent_caller { vec![] } else { accounts },
    )
    .with("app_user_ids", users)
    .with(
        "grant_ids",
        live.iter()
            .map(|g| g.grant_id.to_string())
            .collect::<Vec<_>>(),
    )
    .with("account_was_provided", q.account.is_some())
}

/// The credential and its injection metadata, as `/sdk/token` returns it and
/// as the server itself applies it in proxy mode.
#[derive(Debug, Clone)]
pub struct Contract {
    pub access_token: String,
    pub grant_id: Uuid,
    pub provider_id: String,
    pub scopes: Vec<String>,
    /// Binding expiry: the earliest of token expiry and the grant chain's TTL.
    pub expires_at: Option<i64>,
    pub token_generation: Option<Uuid>,
    pub scope_mismatch: bool,
    pub injection_header: String,
    pub injection_format: String,
    pub additional_credentials: Option<Map<String, Value>>,
    pub additional_injections: Option<Value>,
}

pub fn chain_expiry(s: &State, g: &Grant) -> Option<i64> {
    let mut best = g.expires_at;
    let mut cur = g;
    for _ in 0..16 {
        match cur.parent_grant_id.and_then(|p| s.grant(p)) {
            Some(p) => {
                best = match (best, p.expires_at) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
                cur = p;
            }
            None => break,
        }
    }
    best
}

/// Builds the contract of a (live) grant.
pub fn contract(s: &State, gid: Uuid) -> ApiResult<Contract> {
    let g = s
        .grant(gid)
        .ok_or_else(|| grant_not_found("grant disappeared"))?;
    let grant_exp = chain_expiry(s, g);
    match &g.kind {
        GrantKind::OAuth { connection_id } => {
            let c = s
                .connection(*connection_id)
                .ok_or_else(|| ApiError::internal("grant has no connection"))?;
            let expires_at = match (grant_exp, c.token_expires_at) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            Ok(Contract {
                access_token: c.access_token.clone(),
                grant_id: gid,
                provider_id: c.provider_id.clone(),
                scopes: c.scopes.clone(),
                expires_at,
                token_generation: Some(c.token_generation),
                scope_mismatch: g.scope_mismatch,
                injection_header: "Authorization".into(),
                injection_format: "Bearer {token}".into(),
                additional_credentials: None,
                additional_injections: None,
            })
        }
        GrantKind::ManagedSecret {
            managed_secret_id,
            credential_id,
        } => {
            let m = s
                .managed_secret(*managed_secret_id)
                .ok_or_else(|| ApiError::internal("grant has no managed secret"))?;
            match credential_id {
                None => Ok(managed_contract(m, gid, grant_exp, g.scope_mismatch)),
                Some(cid) => {
                    // A further credential of the provider: same injection,
                    // its own material.
                    let cred = s
                        .credentials
                        .iter()
                        .find(|c| c.credential_id == *cid)
                        .ok_or_else(|| ApiError::internal("grant has no credential"))?;
                    let mut with = m.clone();
                    with.material = cred.material.clone();
                    Ok(managed_contract(&with, gid, grant_exp, g.scope_mismatch))
                }
            }
        }
    }
}

/// The contract of a managed-secret grant (requests.md §14.3).
pub fn managed_contract(
    m: &ManagedSecret,
    grant_id: Uuid,
    expires_at: Option<i64>,
    scope_mismatch: bool,
) -> Contract {
    let (access_token, header, format, creds) = match &m.material {
        SecretMaterial::Token { value } => (
            value.clone(),
            m.injection_header
                .clone()
                .unwrap_or_else(|| "Authorization".into()),
            m.injection_format
                .clone()
                .unwrap_or_else(|| "Bearer {token}".into()),
            m.additional_credentials.clone(),
        ),
        SecretMaterial::Aws {
            access_key_id,
            secret_access_key,
            session_token,
            region,
            service,
        } => {
            // Always sent for AWS: without it the SDK would inject the
            // literal format instead of signing (requests.md §6.1).
            let mut creds = Map::new();
            creds.insert("secret_key".into(), json!(secret_access_key));
            for (k, v) in [
                ("region", region),
                ("service", service),
                ("session_token", session_token),
            ] {
                if let Some(v) = v {
                    creds.insert(k.into(), json!(v));
                }
            }
            (
                access_key_id.clone(),
                "Authorization".to_string(),
                "AWS4-HMAC-SHA256".to_string(),
                Some(creds),
            )
        }
    };
    Contract {
        access_token,
        grant_id,
        provider_id: m.provider_id.clone(),
        scopes: Vec::new(),
        expires_at,
        token_generation: None,
        scope_mismatch,
        injection_header: header,
        injection_format: format,
        additional_credentials: creds,
        // SigV4 ignores injection rules, so none are sent for AWS.
        additional_injections: match m.material {
            SecretMaterial::Token { .. } => m.additional_injections.clone(),
            SecretMaterial::Aws { .. } => None,
        },
    }
}

impl Contract {
    /// The `/sdk/token` response body (requests.md §4.1).
    pub fn to_json(&self, now: i64) -> Value {
        let mut out = Map::new();
        out.insert("access_token".into(), json!(self.access_token));
        out.insert("token_type".into(), json!("Bearer"));
        out.insert(
            "expires_in".into(),
            json!(self.expires_at.map(|e| (e - now).max(0))),
        );
        out.insert("expires_at".into(), json!(self.expires_at.map(rfc3339)));
        out.insert("scopes".into(), json!(self.scopes));
        out.insert("grant_id".into(), json!(self.grant_id.to_string()));
        out.insert("provider_id".into(), json!(self.provider_id));
        if let Some(g) = self.token_generation {
            out.insert("token_generation".into(), json!(g.to_string()));
        }
        out.insert("scope_mismatch".into(), json!(self.scope_mismatch));
        out.insert("injection_header".into(), json!(self.injection_header));
        out.insert("injection_format".into(), json!(self.injection_format));
        if let Some(c) = &self.additional_credentials {
            out.insert("additional_credentials".into(), Value::Object(c.clone()));
        }
        if let Some(i) = &self.additional_injections {
            out.insert("additional_injections".into(), i.clone());
        }
        Value::Object(out)
    }

    /// Every secret string of this credential, for scrubbing audit rows.
    pub fn secrets(&self) -> Vec<String> {
        let mut out = vec![self.access_token.clone()];
        if let Some(c) = &self.additional_credentials {
            for (k, v) in c {
                // Region and service are routing data, not secrets.
                if k != "region" && k != "service" {
                    if let Some(v) = v.as_str() {
                        out.push(v.to_string());
                    }
                }
            }
        }
        out.retain(|s| s.len() >= 4);
        out
    }

    /// Header names whose values carry this credential.
    pub fn credential_headers(&self) -> Vec<String> {
        let mut out = vec![self.injection_header.to_ascii_lowercase()];
        if let Some(rules) = self
            .additional_injections
            .as_ref()
            .and_then(Value::as_array)
        {
            for r in rules {
                if r.get("target").and_then(Value::as_str) == Some("header") {
                    if let Some(k) = r.get("key").and_then(Value::as_str) {
                        out.push(k.to_ascii_lowercase());
                    }
                }
            }
        }
        out
    }
}

/// Checks a would-be credential against the SDK's own token contract (the
/// core's parser), so a misconfigured managed secret is refused when it is
/// created instead of failing every later SDK call.
pub fn validate_contract(c: &Contract) -> Result<(), String> {
    alter_core::token::parse_token_response(c.to_json(0).to_string().as_bytes(), None)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// Whether a host pattern is well formed: lower-case DNS labels or an IP
/// literal (IPv6 in brackets), an optional leading `*.`, an optional
/// `:port`.
pub fn valid_host_pattern(p: &str) -> bool {
    let (host, port) = split_port(p);
    let host = host.strip_prefix("*.").unwrap_or(host);
    let dns = |h: &str| {
        h.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
    };
    let ipv6 = |h: &str| {
        h.strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .is_some_and(|a| a.parse::<std::net::Ipv6Addr>().is_ok())
    };
    port.is_none_or_parses() && !host.is_empty() && host.len() <= 253 && (dns(host) || ipv6(host))
}

/// A pattern's host and the text of its `:port`, if it names one (an IPv6
/// literal keeps its brackets and its colons).
fn split_port(p: &str) -> (&str, PatternPort<'_>) {
    match p.rsplit_once(':') {
        Some((h, port)) if !h.contains(':') || h.ends_with(']') => (h, PatternPort(Some(port))),
        _ => (p, PatternPort(None)),
    }
}

struct PatternPort<'a>(Option<&'a str>);

impl PatternPort<'_> {
    fn is_none_or_parses(&self) -> bool {
        self.0.is_none_or(|p| p.parse::<u16>().is_ok())
    }

    fn admits(&self, port: Option<u16>) -> bool {
        self.0.is_none_or(|p| p.parse::<u16>().ok() == port)
    }
}

/// Whether `host` (lower-case, as the WHATWG parser serialises it; IPv6
/// in brackets) and `port` match one pattern. `*.example.com` matches
/// subdomains of example.com, not example.com itself.
pub fn host_matches(pattern: &str, host: &str, port: Option<u16>) -> bool {
    let (p_host, p_port) = split_port(pattern);
    if !p_port.admits(port) {
        return false;
    }
    match p_host.strip_prefix("*.") {
        Some(domain) => host
            .strip_suffix(domain)
            .is_some_and(|sub| sub.len() > 1 && sub.ends_with('.')),
        None => host == p_host,
    }
}

/// Refuses a destination outside the grant's host patterns with 422
/// `blocked_destination` (requests.md §14.6 for proxy mode; applied to the
/// URL `/sdk/token` declares as well, so a retrieved credential is issued
/// only for an approved host). The host is read by the same WHATWG parser
/// the SDK and this server connect with. No patterns: any host.
pub fn check_destination(s: &State, gid: Uuid, url: Option<&str>) -> ApiResult<()> {
    let Some(g) = s.grant(gid) else {
        return Ok(());
    };
    let patterns = s.grant_host_patterns(g);
    if patterns.is_empty() {
        return Ok(());
    }
    let target = url.and_then(|u| url::Url::parse(u).ok());
    let allowed = target.as_ref().is_some_and(|u| {
        let host = u.host_str().unwrap_or("").to_ascii_lowercase();
        let port = u.port_or_known_default();
        u.username().is_empty()
            && u.password().is_none()
            && patterns.iter().any(|p| host_matches(p, &host, port))
    });
    if allowed {
        Ok(())
    } else {
        Err(ApiError::blocked_destination(
            "the destination host is not among this credential's allowed hosts",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_patterns_match_hosts_and_ports() {
        assert!(host_matches(
            "api.example.com",
            "api.example.com",
            Some(443)
        ));
        assert!(!host_matches(
            "api.example.com",
            "evil-api.example.com",
            Some(443)
        ));
        assert!(host_matches("*.example.com", "a.b.example.com", Some(443)));
        assert!(!host_matches("*.example.com", "example.com", Some(443)));
        assert!(!host_matches("*.example.com", "badexample.com", Some(443)));
        assert!(host_matches("127.0.0.1:8080", "127.0.0.1", Some(8080)));
        assert!(!host_matches("127.0.0.1:8080", "127.0.0.1", Some(8081)));
        assert!(host_matches("127.0.0.1", "127.0.0.1", Some(1)));
        assert!(host_matches("[::1]:9", "[::1]", Some(9)));
        assert!(host_matches("[::1]", "[::1]", Some(9)));
        for ok in [
            "api.example.com",
            "*.example.com",
            "127.0.0.1:80",
            "[::1]",
            "[::1]:8443",
        ] {
            assert!(valid_host_pattern(ok), "{ok}");
        }
        for bad in [
            "",
            "API.example.com",
            "https://h",
            "h/p",
            "h:port",
            "*",
            "a*.b",
            "[zz]",
            "h:99999",
        ] {
            assert!(!valid_host_pattern(bad), "{bad}");
        }
    }
}
