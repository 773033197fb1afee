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
