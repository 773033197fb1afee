//! Outbound HTTP proxies from the environment, for both connection pools.
//!
//! The variables users expect are honoured, upper case first, then lower
//! case (as curl and reqwest read them):
//!
//! - `HTTPS_PROXY` / `https_proxy` for `https` destinations;
//! - `HTTP_PROXY` / `http_proxy` for `http` destinations;
//! - `ALL_PROXY` / `all_proxy` for either when the specific one is unset;
//! - `NO_PROXY` / `no_proxy`: comma-separated entries; `*` matches every
//!   host; an IP address or CIDR block (`10.0.0.0/8`, `::1`) matches by
//!   address; any other entry is a domain that matches itself and its
//!   subdomains (`example.com` and `.example.com` alike); an entry may end
//!   in `:port` to match that port only.
//!
//! One rule comes first whatever the variables say: **loopback never goes
//! through a proxy** (`localhost`, `*.localhost`, 127.0.0.0/8, `::1`,
//! IPv4-mapped loopback), as Go's net/http decides. A proxy would otherwise
//! see, in clear text, what was meant never to leave the machine: the API
//! key and request signature of a local vault, a credential for a local
//! provider.
//!
//! As in reqwest, when `REQUEST_METHOD` is set (a CGI process, where a
//! client's `Proxy:` header arrives as `HTTP_PROXY`) no proxy variable is
//! read. A proxy URL may carry `user:password@` (sent as
//! `Proxy-Authorization: Basic`); its scheme must be `http` or `https`
//! (none means `http`). Any other scheme (`socks5://`, ...) is refused at
//! construction rather than ignored, so traffic meant for a proxy never
//! silently goes direct.
//!
//! The variables are read through an [`EnvLookup`], once, when a client is
//! built ([`crate::ClientOptions::env`]); tests pass a map instead of
//! changing the process environment.

use crate::error::{Error, Result};
use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;
use url::Url;

/// Reads one environment variable; `None` when unset.
pub type EnvLookup = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// The process environment as an [`EnvLookup`].
pub fn process_env() -> EnvLookup {
    Arc::new(|name: &str| std::env::var(name).ok())
}

/// One `NO_PROXY` entry.
#[derive(Debug, Clone, PartialEq)]
enum NoProxyEntry {
    All,
    Net { addr: IpAddr, prefix: u8 },
    Domain { name: String, port: Option<u16> },
}

/// The proxy settings read from the environment.
#[derive(Clone, Default, PartialEq)]
pub struct ProxyRules {
    http: Option<Url>,
    https: Option<Url>,
    no_proxy: Vec<NoProxyEntry>,
}

impl fmt::Debug for ProxyRules {
    /// Proxy URLs may carry a password: only their origins are shown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let origin = |u: &Option<Url>| u.as_ref().map(|u| u.origin().ascii_serialization());
        f.debug_struct("ProxyRules")
            .field("http", &origin(&self.http))
            .field("https", &origin(&self.https))
            .field("no_proxy", &self.no_proxy)
            .finish()
    }
}

fn first(env: &EnvLookup, names: [&'static str; 2]) -> Option<(&'static str, String)> {
    names
        .into_iter()
        .find_map(|n| env(n).filter(|v| !v.trim().is_empty()).map(|v| (n, v)))
}

/// Parses a proxy variable's value. The value is never quoted in the
/// error: it may hold a password.
fn parse_proxy(var: &str, raw: &str) -> Result<Url> {
    let raw = raw.trim();
    let with_scheme = if raw.contains("://") {
        raw.to_string()
    } else {
        format!("http://{raw}")
    };
    let url = Url::parse(&with_scheme)
        .map_err(|_| Error::sdk(format!("{var} is not a valid proxy URL")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(Error::sdk(format!(
            "{var} names a proxy this SDK cannot use (only http:// and https:// proxies are supported); unset it or add the destination to NO_PROXY"
        )));
    }
    Ok(url)
}

fn parse_no_proxy(raw: &str) -> Vec<NoProxyEntry> {
    raw.split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .map(|e| {
            if e == "*" {
                return NoProxyEntry::All;
            }
            let unbracket =
                |s: &'_ str| s.trim_start_matches('[').trim_end_matches(']').to_string();
            if let Some((addr, bits)) = e.split_once('/') {
                if let (Ok(addr), Ok(prefix)) =
                    (unbracket(addr).parse::<IpAddr>(), bits.parse::<u8>())
                {
                    return NoProxyEntry::Net { addr, prefix };
                }
            }
            if let Ok(addr) = unbracket(e).parse::<IpAddr>() {
                let prefix = if addr.is_ipv4() { 32 } else { 128 };
                return NoProxyEntry::Net { addr, prefix };
            }
            let (name, port) = match e.rsplit_once(':') {
                Some((n, p)) if p.parse::<u16>().is_ok() => (n, p.parse().ok()),
                _ => (e, None),
            };
            let name = name.trim_start_matches("*.").trim_start_matches('.');
            NoProxyEntry::Domain {
                name: name.trim_end_matches('.').to_ascii_lowercase(),
                port,
            }
        })
        .collect()
}

fn in_net(ip: IpAddr, net: IpAddr, prefix: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(b)) => {
            let bits = u32::from(prefix.min(32));
            let mask = u32::MAX.checked_shl(32 - bits).unwrap_or(0);
            u32::from(a) & mask == u32::from(b) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(b)) => {
            let bits = u32::from(prefix.min(128));
            let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
            u128::from(a) & mask == u128::from(b) & mask
        }
        (IpAddr::V6(a), b @ IpAddr::V4(_)) => a
            .to_ipv4_mapped()
            .is_some_and(|a| in_net(IpAddr::V4(a), b, prefix)),
        _ => false,
    }
}

/// Loopback, by name or address: `localhost` and its subdomains,
/// 127.0.0.0/8, `::1`, and IPv4-mapped loopback.
pub fn is_loopback_host(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let name = host.trim_end_matches('.').to_ascii_lowercase();
    if name == "localhost" || name.ends_with(".localhost") {
        return true;
    }
    match host.parse::<IpAddr>() {
        Ok(IpAddr::V4(a)) => a.is_loopback(),
        Ok(IpAddr::V6(a)) => {
            a.is_loopback() || a.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
        Err(_) => false,
    }
}

impl ProxyRules {
    /// No proxy at all.
    pub fn none() -> ProxyRules {
        ProxyRules::default()
    }

    /// Reads the variables through `env` (see the module docs).
    pub fn from_env(env: &EnvLookup) -> Result<ProxyRules> {
        if env("REQUEST_METHOD").is_some_and(|v| !v.is_empty()) {
            return Ok(ProxyRules::none());
        }
        let parse = |found: Option<(&str, String)>| -> Result<Option<Url>> {
            found.map(|(var, raw)| parse_proxy(var, &raw)).transpose()
        };
        let all = parse(first(env, ["ALL_PROXY", "all_proxy"]))?;
        let http = parse(first(env, ["HTTP_PROXY", "http_proxy"]))?.or_else(|| all.clone());
        let https = parse(first(env, ["HTTPS_PROXY", "https_proxy"]))?.or(all);
        let no_proxy = ["NO_PROXY", "no_proxy"]
            .into_iter()
            .find_map(|n| env(n))
            .map(|raw| parse_no_proxy(&raw))
            .unwrap_or_default();
        Ok(ProxyRules {
            http,
            https,
            no_proxy,
        })
    }

    /// Whether any proxy is configured.
    pub fn is_empty(&self) -> bool {
        self.http.is_none() && self.https.is_none()
    }

    fn excluded(&self, host: &str, port: Option<u16>) -> bool {
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let ip = bare.parse::<IpAddr>().ok();
        let name = bare.trim_end_matches('.').to_ascii_lowercase();
        self.no_proxy.iter().any(|e| match e {
            NoProxyEntry::All => true,
            NoProxyEntry::Net { addr, prefix } => ip.is_some_and(|ip| in_net(ip, *addr, *prefix)),
            NoProxyEntry::Domain { name: d, port: p } => {
                ip.is_none()
                    && p.is_none_or(|p| Some(p) == port)
                    && (name == *d || name.ends_with(&format!(".{d}")))
            }
        })
    }

    /// The proxy for a destination, or `None` to connect directly.
    pub fn proxy_for(&self, dest: &Url) -> Option<Url> {
        let host = dest.host_str()?;
        if is_loopback_host(host) || self.excluded(host, dest.port_or_known_default()) {
            return None;
        }
        match dest.scheme() {
            "http" => self.http.clone(),
            "https" => self.https.clone(),
            _ => None,
        }
    }

    /// Applies these rules to a client builder: no system proxy lookup of
    /// reqwest's own, and a per-destination decision by [`Self::proxy_for`].
    pub fn apply(&self, builder: reqwest::ClientBuilder) -> reqwest::ClientBuilder {
        let builder = builder.no_proxy();
        if self.is_empty() {
            return builder;
        }
        let rules = self.clone();
        builder.proxy(reqwest::Proxy::custom(move |dest: &Url| {
            rules.proxy_for(dest)
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> EnvLookup {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Arc::new(move |k: &str| map.get(k).cloned())
    }

    fn rules(pairs: &[(&str, &str)]) -> ProxyRules {
        ProxyRules::from_env(&env(pairs)).unwrap()
    }

    fn via(r: &ProxyRules, dest: &str) -> Option<String> {
        r.proxy_for(&Url::parse(dest).unwrap())
            .map(|u| u.origin().ascii_serialization())
    }

    #[test]
    fn scheme_specific_variables_then_all_proxy() {
        let r = rules(&[
            ("HTTP_PROXY", "http://hp.example:3128"),
            ("ALL_PROXY", "all.example:8080"),
        ]);
        assert_eq!(
            via(&r, "http://api.example/x").as_deref(),
            Some("http://hp.example:3128")
        );
        assert_eq!(
            via(&r, "https://api.example/x").as_deref(),
            Some("http://all.example:8080")
        );
        let r = rules(&[
            ("https_proxy", "http://lower.example:1"),
            ("HTTPS_PROXY", "http://upper.example:2"),
        ]);
        assert_eq!(
            via(&r, "https://a.example/").as_deref(),
            Some("http://upper.example:2")
        );
        assert_eq!(via(&r, "http://a.example/"), None);
        let r = rules(&[("https_proxy", "http://lower.example:1")]);
        assert_eq!(
            via(&r, "https://a.example/").as_deref(),
            Some("http://lower.example:1")
        );
        assert!(rules(&[]).is_empty());
        assert!(rules(&[("HTTP_PROXY", "  ")]).is_empty());
    }

    #[test]
    fn loopback_is_never_proxied_whatever_no_proxy_says() {
        let r = rules(&[("ALL_PROXY", "http://p.example:3128"), ("NO_PROXY", "")]);
        for dest in [
            "http://127.0.0.1:8080/sdk/token",
            "http://127.255.1.2/",
            "https://localhost/",
            "http://LOCALHOST.:9/",
            "http://vault.localhost/",
            "http://[::1]:8080/",
            "http://[::ffff:127.0.0.1]/",
        ] {
            assert_eq!(via(&r, dest), None, "{dest}");
        }
        assert!(via(&r, "http://128.0.0.1/").is_some());
        assert!(via(&r, "http://localhost.example/").is_some());
    }

    #[test]
    fn no_proxy_entries() {
        let r = rules(&[
            ("HTTPS_PROXY", "http://p.example:3128"),
            ("no_proxy", "internal.example, .corp.example,10.0.0.0/8, 192.168.1.7, [2001:db8::]/32, only.example:8443"),
        ]);
        for direct in [
            "https://internal.example/",
            "https://api.internal.example/",
            "https://corp.example/",
            "https://a.b.corp.example/",
            "https://10.1.2.3/",
            "https://192.168.1.7/",
            "https://[2001:db8::5]/",
            "https://only.example:8443/",
        ] {
            assert_eq!(via(&r, direct), None, "{direct}");
        }
        for proxied in [
            "https://notinternal.example/",
            "https://11.0.0.1/",
            "https://192.168.1.8/",
            "https://only.example/",
            "https://[2001:db9::1]/",
        ] {
            assert!(via(&r, proxied).is_some(), "{proxied}");
        }
        let r = rules(&[("HTTPS_PROXY", "http://p.example:3128"), ("NO_PROXY", "*")]);
        assert_eq!(via(&r, "https://anything.example/"), None);
    }

    /// A client whose proxy variables come from `pairs` (the process
    /// environment is never read or changed), with retries off.
    fn client(base_url: &str, pairs: &[(&str, &str)]) -> crate::Client {
        crate::Client::new(
            crate::Principal::App,
            crate::ClientOptions {
                api_key: format!("alter_key_{}", "k".repeat(40)),
                base_url: Some(base_url.to_string()),
                warnings: Some(Arc::new(|_: &str| {})),
                retry: Some(crate::RetryPolicy::disabled()),
                env: Some(env(pairs)),
                ..Default::default()
            },
        )
        .unwrap()
    }

    fn backend_probe() -> crate::transport::Call {
        crate::transport::Call::new(
            reqwest::Method::GET,
            "/sdk/probe",
            crate::transport::Site::Namespace,
        )
    }

    /// With every proxy variable pointing at a recording proxy, loopback
    /// traffic of both pools still goes straight to its server: the proxy
    /// sees nothing (not the API key, not the signature), the origin sees
    /// origin-form requests.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn loopback_bypasses_a_configured_proxy_in_both_pools() {
        use crate::testutil::recording_server;
        let (proxy, proxy_heads) = recording_server("proxy").await;
        let (origin, origin_heads) = recording_server("origin").await;
        let port = origin.rsplit(':').next().unwrap().to_string();
        let c = client(
            &origin,
            &[
                ("HTTP_PROXY", &proxy),
                ("HTTPS_PROXY", &proxy),
                ("ALL_PROXY", &proxy),
                ("http_proxy", &proxy),
            ],
        );
        let reply = c.shared.send(&c.local, &backend_probe()).await.unwrap();
        assert_eq!(reply.status, 200);
        for url in [
            format!("{origin}/p1"),
            format!("http://localhost:{port}/p2"),
        ] {
            let r = c.shared.provider().get(&url).send().await.unwrap();
            assert_eq!(r.text().await.unwrap(), "from origin", "{url}");
        }
        assert_eq!(*proxy_heads.lock().unwrap(), Vec::<String>::new());
        let heads = origin_heads.lock().unwrap().clone();
        assert_eq!(heads.len(), 3, "{heads:?}");
        assert!(
            heads[0].starts_with("GET /sdk/probe HTTP/1.1\r\n"),
            "{}",
            heads[0]
        );
        assert!(heads[0].contains("x-api-key: alter_key_"), "{}", heads[0]);
        assert!(heads[1].starts_with("GET /p1 HTTP/1.1\r\n"), "{}", heads[1]);
        assert!(heads[2].starts_with("GET /p2 HTTP/1.1\r\n"), "{}", heads[2]);
        c.close().await;
    }

    /// A host that is not loopback goes through the proxy, in both pools:
    /// plain http as an absolute-form request (with the proxy's own
    /// credentials), https as a CONNECT tunnel, so the backend's API key
    /// never crosses the proxy in clear text. The names are never resolved:
    /// only the proxy is connected to.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn other_hosts_go_through_the_recording_proxy() {
        use crate::testutil::recording_server;
        let (proxy, heads) = recording_server("proxy").await;
        let with_auth = proxy.replace("http://", "http://proxyuser:proxypw@");
        let c = client(
            "https://alter.example.test",
            &[("HTTP_PROXY", &with_auth), ("HTTPS_PROXY", &proxy)],
        );
        let r = c
            .shared
            .provider()
            .get("http://provider.example.test/x?q=1")
            .send()
            .await
            .unwrap();
        assert_eq!(r.text().await.unwrap(), "from proxy");
        assert!(c
            .shared
            .provider()
            .get("https://provider.example.test/y")
            .send()
            .await
            .is_err());
        assert!(c.shared.send(&c.local, &backend_probe()).await.is_err());
        let heads = heads.lock().unwrap().clone();
        assert_eq!(heads.len(), 3, "{heads:?}");
        assert!(
            heads[0].starts_with("GET http://provider.example.test/x?q=1 HTTP/1.1\r\n"),
            "{}",
            heads[0]
        );
        // base64("proxyuser:proxypw")
        assert!(
            heads[0].contains("proxy-authorization: Basic cHJveHl1c2VyOnByb3h5cHc="),
            "{}",
            heads[0]
        );
        assert!(
            heads[1].starts_with("CONNECT provider.example.test:443 HTTP/1.1\r\n"),
            "{}",
            heads[1]
        );
        assert!(
            heads[2].starts_with("CONNECT alter.example.test:443 HTTP/1.1\r\n"),
            "{}",
            heads[2]
        );
        assert!(!heads[2].contains("alter_key_"), "{}", heads[2]);
        c.close().await;
    }

    #[test]
    fn cgi_and_unusable_proxies() {
        assert!(rules(&[
            ("REQUEST_METHOD", "GET"),
            ("HTTP_PROXY", "http://evil.example:1")
        ])
        .is_empty());
        let e = ProxyRules::from_env(&env(&[("ALL_PROXY", "socks5h://user:pw@s.example:1080")]))
            .unwrap_err();
        assert_eq!(e.kind(), "AlterSDKError");
        assert!(
            e.message().starts_with("ALL_PROXY names a proxy"),
            "{}",
            e.message()
        );
        assert!(!e.message().contains("pw"), "{}", e.message());
        let e = ProxyRules::from_env(&env(&[("https_proxy", "http://[bad")])).unwrap_err();
        assert_eq!(e.message(), "https_proxy is not a valid proxy URL");
        // Credentials in a proxy URL never show in Debug.
        let r = rules(&[("HTTP_PROXY", "http://user:hunter2@p.example:3128")]);
        assert!(!format!("{r:?}").contains("hunter2"));
    }
}
