//! The pages a person sees: the Connect consent page (`/connect/{token}`,
//! the sessions' `connect_url`) and the sign-in page (`/auth/signin`, the
//! auth sessions' `auth_url`). Plain HTML forms posting back to the same
//! path; the session token in the URL is the only credential, as with the
//! hosted pages (a local vault has no browser session to bind to).

use crate::ctx::Ctx;
use crate::error::ApiError;
use crate::routes::authn::{decide_auth, AuthDecision};
use crate::routes::connect::{decide, projected, state_name, Action, Decision};
use crate::state::{SessionState, State as VaultState};
use crate::util::now;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use serde_json::Value;
use std::sync::Arc;

pub fn router() -> Router<Arc<Ctx>> {
    Router::new()
        .route("/connect/{token}", get(connect_page).post(connect_submit))
        .route("/auth/signin", get(signin_page).post(signin_submit))
        .route("/.well-known/jwks.json", get(crate::routes::authn::jwks))
}

/// Minimal HTML escaping for text and attribute values.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{t}</title><style>\
         body{{font-family:system-ui,sans-serif;max-width:36rem;margin:3rem auto;padding:0 1rem;color:#1b1b1f}}\
         h1{{font-size:1.4rem}} .box{{border:1px solid #ccd;border-radius:8px;padding:1rem 1.25rem}}\
         label{{display:block;margin:.6rem 0}} input[type=text],input[type=email],input[type=password],select{{width:100%;padding:.4rem}}\
         .actions{{display:flex;gap:.75rem;margin-top:1rem}} button{{padding:.5rem 1.2rem;font-size:1rem;cursor:pointer}}\
         #approve,#signin{{background:#1f5fd1;color:#fff;border:0;border-radius:6px}}\
         #deny,#cancel{{background:#fff;border:1px solid #999;border-radius:6px}} .muted{{color:#666;font-size:.9rem}}\
         </style></head><body>{body}</body></html>\n",
        t = esc(title)
    );
    let mut resp = (status, Html(html)).into_response();
    // The page carries a bearer session token in its URL: keep it out of
    // caches and referrers.
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, "no-store".parse().expect("static"));
    resp.headers_mut().insert(
        header::REFERRER_POLICY,
        "no-referrer".parse().expect("static"),
    );
    resp
}

fn message_page(status: StatusCode, title: &str, result: &str, text: &str) -> Response {
    page(
        status,
        title,
        &format!(
            "<h1>{}</h1><p id=\"result\" data-status=\"{}\">{}</p>",
            esc(title),
            esc(result),
            esc(text)
        ),
    )
}

fn form_pairs(body: &[u8]) -> Vec<(String, String)> {
    url::form_urlencoded::parse(body).into_owned().collect()
}

fn field<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .filter(|v| !v.is_empty())
}

/// What the consent page shows for a pending session.
fn consent_html(s: &VaultState, token: &str) -> Option<(String, String)> {
    let c = s.connect_sessions.iter().find(|c| c.token == token)?;
    let app = s.app.name.clone();
    let agent = c.agent.and_then(|a| s.agent(a));
    let requester = agent
        .map(|a| a.display_name.clone().unwrap_or_else(|| a.name.clone()))
        .unwrap_or_else(|| app.clone());
    let declined: Vec<&str> = c
        .declined_providers
        .iter()
        .filter_map(|d| d["provider_id"].as_str())
        .collect();
    let remaining: Vec<&String> = c
        .providers
        .iter()
        .filter(|p| !declined.contains(&p.as_str()))
        .collect();
    let names = remaining
        .iter()
        .map(|p| p.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    let title = format!("{requester} is requesting access to {names}");
    let user = c.user.and_then(|u| s.user(u));
    let mut b = String::new();
    b.push_str(&format!("<h1 id=\"title\">{}</h1>", esc(&title)));
    b.push_str("<div class=\"box\">");
    match agent {
        Some(_) => b.push_str(&format!(
            "<p>The agent <strong id=\"agent\">{}</strong> of <strong id=\"app\">{}</strong> asks to use your {} access.</p>",
            esc(&requester),
            esc(&app),
            esc(&names)
        )),
        None => b.push_str(&format!(
            "<p><strong id=\"app\">{}</strong> asks to connect {}.</p>",
            esc(&app),
            esc(&names)
        )),
    }
    match user {
        Some(u) => b.push_str(&format!(
            "<p class=\"muted\">Signed in as <span id=\"user\">{}</span></p>",
            esc(&u.email)
        )),
        None => {
            b.push_str("<p class=\"muted\">The grant will belong to the application (no user).</p>")
        }
    }
    b.push_str("<form method=\"post\" id=\"consent\">");
    if c.kind == "oauth" {
        if remaining.len() > 1 {
            b.push_str("<fieldset><legend>Providers</legend>");
            for p in &remaining {
                b.push_str(&format!(
                    "<label><input type=\"checkbox\" name=\"provider\" value=\"{0}\" checked> {0}</label>",
                    esc(p)
                ));
            }
            b.push_str("</fieldset>");
        }
        let account = user.map(|u| u.email.clone()).unwrap_or_default();
        b.push_str(&format!(
            "<label>Provider account <input type=\"text\" name=\"account\" id=\"account\" value=\"{}\"></label>",
            esc(&account)
        ));
    } else {
        let path = c.path.as_deref().unwrap_or("");
        if path == "key_entry" || path == "repair" {
            b.push_str(&format!(
                "<label>Your {} key <input type=\"password\" name=\"secret\" id=\"secret\" autocomplete=\"off\"></label>",
                esc(&names)
            ));
        } else {
            b.push_str("<p class=\"muted\">You already hold access to this provider; approving shares it.</p>");
        }
    }
    if let Some(gp) = &c.grant_policy {
        let offer = !c.direct && c.allow_user_policy_rules;
        let max = gp.get("max_ttl_seconds").and_then(Value::as_u64);
        let default = gp.get("default_ttl_seconds").and_then(Value::as_u64);
        if offer && (max.is_some() || default.is_some()) {
            b.push_str("<label>Access lasts <select name=\"ttl_seconds\" id=\"ttl\">");
            let mut options: Vec<u64> = [default, max].into_iter().flatten().collect();
            options.dedup();
            for (i, o) in options.iter().enumerate() {
                b.push_str(&format!(
                    "<option value=\"{o}\"{}>{o} seconds</option>",
                    if i == 0 { " selected" } else { "" }
                ));
            }
            b.push_str("</select></label>");
        }
    }
    if agent.is_some() && c.delegable == Some(true) {
        // Default on for an app key, off for the agent's own key (§4.1).
        b.push_str(&format!(
            "<input type=\"hidden\" name=\"share_onward_offered\" value=\"1\">\
             <label><input type=\"checkbox\" name=\"share_onward\" id=\"share_onward\" value=\"true\"{}> \
             Allow {} to share this access with other agents</label>",
            if c.created_by_agent_key { "" } else { " checked" },
            esc(&requester)
        ));
    }
    b.push_str(
        "<div class=\"actions\">\
         <button type=\"submit\" name=\"action\" value=\"approve\" id=\"approve\">Approve</button>\
         <button type=\"submit\" name=\"action\" value=\"deny\" id=\"deny\">Deny</button>\
         </div></form>",
    );
    if c.kind == "oauth" && remaining.len() > 1 {
        for p in &remaining {
            b.push_str(&format!(
                "<form method=\"post\" class=\"decline\"><input type=\"hidden\" name=\"action\" value=\"decline\">\
                 <input type=\"hidden\" name=\"provider_id\" value=\"{0}\">\
                 <button type=\"submit\" id=\"decline-{0}\">Decline {0}</button></form>",
                esc(p)
            ));
        }
    }
    b.push_str("</div>");
    Some((title, b))
}

async fn connect_page(State(ctx): State<Arc<Ctx>>, Path(token): Path<String>) -> Response {
    let t = now();
    let view = ctx.store.read(|s| {
        let st = s
            .connect_sessions
            .iter()
            .find(|c| c.token == token)
            .map(|c| projected(c, t));
        match st {
            Some(SessionState::Pending) => consent_html(s, &token).map(Ok),
            Some(other) => Some(Err(other)),
            None => None,
        }
    });
    match view {
        Some(Ok((title, body))) => page(StatusCode::OK, &title, &body),
        Some(Err(st)) => message_page(
            StatusCode::GONE,
            "This request is closed",
            state_name(st),
            &format!("This connection request is already {}.", state_name(st)),
        ),
        None => message_page(
            StatusCode::NOT_FOUND,
            "Unknown request",
            "unknown",
            "This connection request does not exist or has expired.",
        ),
    }
}

/// `return_url` with the outcome appended (parameter names are not
/// specified by the protocol; inferred).
fn return_to(url: &str, params: &[(&str, String)]) -> Option<String> {
    let mut u = url::Url::parse(url).ok()?;
    if !matches!(u.scheme(), "http" | "https") {
        return None;
    }
    {
        let mut q = u.query_pairs_mut();
        for (k, v) in params {
            q.append_pair(k, v);
        }
    }
    Some(u.into())
}

fn error_page(e: &ApiError) -> Response {
    let msg = e
        .body
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or("The request could not be completed.")
        .to_string();
    message_page(e.status, "Something went wrong", e.code(), &msg)
}

async fn connect_submit(
    State(ctx): State<Arc<Ctx>>,
    Path(token): Path<String>,
    body: Bytes,
) -> Response {
    let pairs = form_pairs(&body);
    let action = match field(&pairs, "action") {
        Some("approve") => Action::Approve,
        Some("deny") => Action::Deny,
        Some("decline") => match field(&pairs, "provider_id") {
            Some(p) => Action::Decline(p.to_string()),
            None => {
                return message_page(
                    StatusCode::BAD_REQUEST,
                    "Bad request",
                    "invalid",
                    "No provider named.",
                )
            }
        },
        _ => {
            return message_page(
                StatusCode::BAD_REQUEST,
                "Bad request",
                "invalid",
                "Unknown action.",
            )
        }
    };
    let mut d = Decision::new(action);
    let kept: Vec<String> = pairs
        .iter()
        .filter(|(k, _)| k == "provider")
        .map(|(_, v)| v.clone())
        .collect();
    if !kept.is_empty() {
        d.providers = Some(kept);
    }
    d.account = field(&pairs, "account").map(str::to_string);
    d.ttl_seconds = field(&pairs, "ttl_seconds").and_then(|v| v.parse().ok());
    if field(&pairs, "share_onward_offered").is_some() {
        d.share_onward = Some(field(&pairs, "share_onward") == Some("true"));
    }
    d.secret = field(&pairs, "secret").map(str::to_string);
    let t = now();
    let outcome = ctx.store.write(|s| {
        decide(s, &token, &d, t)?;
        let c = s
            .connect_sessions
            .iter()
            .find(|c| c.token == token)
            .expect("decided");
        Ok::<_, ApiError>((c.state, c.grants.clone(), c.return_url.clone()))
    });
    ctx.bump_sessions();
    let (state, grants, return_url) = match outcome {
        Ok(o) => o,
        Err(e) => return error_page(&e),
    };
    if let Some(url) = return_url.filter(|_| state != SessionState::Pending) {
        let mut params = vec![("status", state_name(state).to_string())];
        if let Some(g) = grants.first() {
            if let Some(id) = g["grant_id"].as_str() {
                params.push(("grant_id", id.to_string()));
            }
            if let Some(dl) = g.get("delegation") {
                if let Some(id) = dl["grant_id"].as_str() {
                    params.push(("delegation_id", id.to_string()));
                }
                params.push(("updated", dl["updated"].to_string()));
                params.push(("delegable", dl["delegable"].to_string()));
            }
        }
        if let Some(to) = return_to(&url, &params) {
            return (StatusCode::SEE_OTHER, [(header::LOCATION, to)]).into_response();
        }
    }
    match state {
        SessionState::Completed => {
            let names: Vec<&str> = grants
                .iter()
                .filter_map(|g| g["provider_id"].as_str())
                .collect();
            message_page(
                StatusCode::OK,
                "Connected",
                "completed",
                &format!(
                    "Access to {} was granted. You can close this window.",
                    names.join(", ")
                ),
            )
        }
        SessionState::Error => message_page(
            StatusCode::OK,
            "Request denied",
            "error",
            "You denied the request. You can close this window.",
        ),
        // A single provider declined on a multi-provider page: show the rest.
        SessionState::Pending => connect_page(State(ctx), Path(token)).await,
        SessionState::Expired => message_page(
            StatusCode::GONE,
            "Expired",
            "expired",
            "This request has expired.",
        ),
    }
}

async fn signin_page(State(ctx): State<Arc<Ctx>>, RawQuery(q): RawQuery) -> Response {
    let pairs = form_pairs(q.unwrap_or_default().as_bytes());
    let Some(token) = field(&pairs, "state").map(str::to_string) else {
        return message_page(
            StatusCode::BAD_REQUEST,
            "Bad request",
            "invalid",
            "No sign-in session named.",
        );
    };
    let t = now();
    let (app, state) = ctx.store.read(|s| {
        let st = s.auth_sessions.iter().find(|a| a.token == token).map(|a| {
            if a.state == SessionState::Pending && t >= a.expires_at {
                SessionState::Expired
            } else {
                a.state
            }
        });
        (s.app.name.clone(), st)
    });
    match state {
        Some(SessionState::Pending) => {}
        Some(st) => {
            return message_page(
                StatusCode::GONE,
                "This sign-in is closed",
                state_name(st),
                &format!("This sign-in request is already {}.", state_name(st)),
            )
        }
        None => {
            return message_page(
                StatusCode::NOT_FOUND,
                "Unknown request",
                "unknown",
                "This sign-in request does not exist or has expired.",
            )
        }
    }
    let title = format!("Sign in to {app}");
    let body = format!(
        "<h1 id=\"title\">{t}</h1><div class=\"box\"><p class=\"muted\">alter-dev local identity provider: \
         any e-mail signs in (no password).</p>\
         <form method=\"post\" action=\"/auth/signin\" id=\"signin-form\">\
         <input type=\"hidden\" name=\"state\" value=\"{state}\">\
         <label>E-mail <input type=\"email\" name=\"email\" id=\"email\" autocomplete=\"email\"></label>\
         <label>Name <input type=\"text\" name=\"display_name\" id=\"display_name\"></label>\
         <div class=\"actions\">\
         <button type=\"submit\" name=\"action\" value=\"signin\" id=\"signin\">Sign in</button>\
         <button type=\"submit\" name=\"action\" value=\"cancel\" id=\"cancel\">Cancel</button>\
         </div></form></div>",
        t = esc(&title),
        state = esc(&token)
    );
    page(StatusCode::OK, &title, &body)
}

async fn signin_submit(State(ctx): State<Arc<Ctx>>, body: Bytes) -> Response {
    let pairs = form_pairs(&body);
    let Some(token) = field(&pairs, "state").map(str::to_string) else {
        return message_page(
            StatusCode::BAD_REQUEST,
            "Bad request",
            "invalid",
            "No sign-in session named.",
        );
    };
    let decision = match field(&pairs, "action") {
        Some("cancel") => AuthDecision::Fail {
            code: Some("access_denied".into()),
            message: "The user cancelled the sign-in.".into(),
        },
        _ => match field(&pairs, "email").filter(|e| e.contains('@')) {
            Some(email) => AuthDecision::Complete {
                email: email.to_string(),
                display_name: field(&pairs, "display_name").map(str::to_string),
                groups: None,
            },
            None => {
                return message_page(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "Enter an e-mail address",
                    "invalid",
                    "An e-mail address is needed to sign in.",
                )
            }
        },
    };
    let signed_in = matches!(decision, AuthDecision::Complete { .. });
    match decide_auth(&ctx, &token, decision) {
        Ok(()) if signed_in => message_page(
            StatusCode::OK,
            "Signed in",
            "completed",
            "You are signed in. You can close this window.",
        ),
        Ok(()) => message_page(
            StatusCode::OK,
            "Sign-in cancelled",
            "error",
            "Sign-in was cancelled.",
        ),
        Err(e) => error_page(&e),
    }
}
