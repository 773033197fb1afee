//! Test support shared by the unit tests of several modules.

use crate::client::{Client, ClientOptions, Principal};
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::watch;

/// An App client for `url` with a well-formed key and warnings dropped.
pub(crate) fn quiet_client(url: &str) -> Client {
    Client::new(
        Principal::App,
        ClientOptions {
            api_key: format!("alter_key_{}", "k".repeat(40)),
            base_url: Some(url.to_string()),
            warnings: Some(Arc::new(|_: &str| {})),
            ..Default::default()
        },
    )
    .unwrap()
}

/// The length announced by a request head, 0 when absent.
fn content_length(head: &[u8]) -> usize {
    String::from_utf8_lossy(head)
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().ok())
                .flatten()
        })
        .unwrap_or(0)
}

/// An HTTP/1.1 server on loopback that holds every request until `release`
/// turns true, then answers each `200 {}`. `held` counts the requests that
/// have reached it, so a test can see how many are in flight at once.
pub(crate) async fn holding_server() -> (String, watch::Receiver<usize>, watch::Sender<bool>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (held_tx, held_rx) = watch::channel(0usize);
    let (release_tx, release_rx) = watch::channel(false);
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let held = held_tx.clone();
            let mut release = release_rx.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    // Read one request: its head, then the body it announces.
                    let head_end = loop {
                        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            break i + 4;
                        }
                        match sock.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    };
                    let end = head_end + content_length(&buf[..head_end]);
                    while buf.len() < end {
                        match sock.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    buf.drain(..end);
                    held.send_modify(|n| *n += 1);
                    if release.wait_for(|open| *open).await.is_err() {
                        return;
                    }
                    let reply: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}";
                    if sock.write_all(reply).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (url, held_rx, release_tx)
}

/// The request heads a [`recording_server`] received, in arrival order.
pub(crate) type Heads = std::sync::Arc<std::sync::Mutex<Vec<String>>>;

/// An HTTP/1.1 server on loopback that records the head (request line and
/// headers) of every request before answering it, then closes the
/// connection. A plain request gets `200` with body `from <name>`; a
/// `CONNECT` gets `502`, so a tunnel is never opened and the test only
/// sees that it was asked for. Used as an origin and as a forward proxy.
pub(crate) async fn recording_server(name: &'static str) -> (String, Heads) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let heads: Heads = Default::default();
    let seen = heads.clone();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let seen = seen.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                let head_end = loop {
                    if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        break i;
                    }
                    match sock.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                };
                let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
                let connect = head.starts_with("CONNECT ");
                seen.lock().unwrap().push(head);
                let reply = if connect {
                    "HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                        .to_string()
                } else {
                    let body = format!("from {name}");
                    format!(
                        "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    )
                };
                let _ = sock.write_all(reply.as_bytes()).await;
                let _ = sock.shutdown().await;
            });
        }
    });
    (url, heads)
}

/// One request a [`scripted_server`] received: its head (request line and
/// headers) and body.
#[derive(Debug, Clone)]
pub(crate) struct Seen {
    pub head: String,
    pub body: Vec<u8>,
}

impl Seen {
    /// The request line's target (`/path?query`).
    pub fn target(&self) -> &str {
        self.head.split(' ').nth(1).unwrap_or("")
    }
}

/// What a [`scripted_server`] answers: status, headers, body.
pub(crate) type Answer = (u16, Vec<(String, String)>, Vec<u8>);

/// An HTTP/1.1 server on loopback that records every request and answers
/// it with `script(&request)`. Connections are kept alive; bodies are
/// read by `content-length`.
pub(crate) async fn scripted_server(
    script: impl Fn(&Seen) -> Answer + Send + Sync + 'static,
) -> (String, Arc<std::sync::Mutex<Vec<Seen>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen: Arc<std::sync::Mutex<Vec<Seen>>> = Default::default();
    let script = Arc::new(script);
    let log = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let (log, script) = (log.clone(), script.clone());
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 8192];
                loop {
                    let head_end = loop {
                        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            break i + 4;
                        }
                        match sock.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    };
                    let end = head_end + content_length(&buf[..head_end]);
                    while buf.len() < end {
                        match sock.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    let req = Seen {
                        head: String::from_utf8_lossy(&buf[..head_end - 4]).into_owned(),
                        body: buf[head_end..end].to_vec(),
                    };
                    buf.drain(..end);
                    let (status, headers, body) = script(&req);
                    log.lock().unwrap().push(req);
                    let mut out =
                        format!("HTTP/1.1 {status} X\r\ncontent-length: {}\r\n", body.len());
                    for (k, v) in headers {
                        out.push_str(&format!("{k}: {v}\r\n"));
                    }
                    out.push_str("\r\n");
                    let mut bytes = out.into_bytes();
                    bytes.extend_from_slice(&body);
                    if sock.write_all(&bytes).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (url, seen)
}
