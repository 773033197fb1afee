//! Response bodies read under a cap.
//!
//! A peer decides how many bytes it sends, so no body is buffered whole on
//! trust: it is read chunk by chunk and the call stops at the first chunk
//! that would take it over its cap. The response is then dropped, which
//! closes the connection (a connection with an unread body is never reused),
//! so the rest is neither read nor held. A `Content-Length` above the cap is
//! refused before any of the body is read.
//!
//! Caps:
//! - provider responses (retrieve mode) and proxy-mode answers, which carry
//!   a provider's body: the client option `max_response_bytes`, default
//!   [`DEFAULT_MAX_RESPONSE_BYTES`], at most [`MAX_RESPONSE_BYTES_LIMIT`];
//! - every other backend answer: [`BACKEND_MAX_RESPONSE_BYTES`].

use crate::error::{Error, Result};
use bytes::Bytes;

/// Default cap on a provider response body, and on a proxy-mode answer.
pub const DEFAULT_MAX_RESPONSE_BYTES: u64 = 64 * 1024 * 1024;

/// Largest `max_response_bytes` a client accepts (1 GiB). Bodies are held in
/// memory whole, and each binding copies them once more into its own
/// buffer type; beyond this a streaming download is the right tool.
pub const MAX_RESPONSE_BYTES_LIMIT: u64 = 1024 * 1024 * 1024;

/// Cap on every backend answer that does not carry a provider body. The
/// backend answers with JSON documents: tokens (at most ~100 KiB with ten
/// 8 KiB additional credentials), list pages of at most 100 items, the
/// provider catalog and specs. 8 MiB is well over ten times the largest of
/// them, yet keeps a misbehaving backend or an intercepting proxy from
/// making a client hold more than that per call.
pub const BACKEND_MAX_RESPONSE_BYTES: u64 = 8 * 1024 * 1024;

/// Up-front allocation ceiling: a `Content-Length` is a claim, not bytes
/// received, so it only sizes the first allocation up to this much.
const INITIAL_CAPACITY_LIMIT: usize = 64 * 1024;

/// Checks a `max_response_bytes` option: 1 to [`MAX_RESPONSE_BYTES_LIMIT`].
pub fn check_max_response_bytes(n: u64) -> Result<u64> {
    if n == 0 || n > MAX_RESPONSE_BYTES_LIMIT {
        return Err(Error::value(format!(
            "max_response_bytes must be between 1 and {MAX_RESPONSE_BYTES_LIMIT} (1 GiB)"
        )));
    }
    Ok(n)
}

/// Why a body could not be read.
#[derive(Debug)]
pub(crate) enum BodyError {
    /// The body is (or announced itself) longer than the cap.
    TooLarge,
    /// The transport failed while reading (timeout, reset, cut short).
    Transport(reqwest::Error),
}

/// Reads `resp`'s body, at most `cap` bytes of it.
pub(crate) async fn read_capped(
    mut resp: reqwest::Response,
    cap: u64,
) -> std::result::Result<Bytes, BodyError> {
    // For HEAD and 204/304 answers hyper knows the body is empty, so this is
    // the framing length, never a HEAD's advertised size.
    let announced = resp.content_length();
    if announced.is_some_and(|n| n > cap) {
        return Err(BodyError::TooLarge);
    }
    let cap = usize::try_from(cap).unwrap_or(usize::MAX);
    let hint = announced
        .and_then(|n| usize::try_from(n).ok())
        .unwrap_or(0)
        .min(INITIAL_CAPACITY_LIMIT);
    // A body that arrives in one chunk is returned as it came (no copy).
    let mut first: Option<Bytes> = None;
    let mut buf: Vec<u8> = Vec::new();
    let mut len = 0usize;
    while let Some(chunk) = resp.chunk().await.map_err(BodyError::Transport)? {
        if chunk.len() > cap - len {
            return Err(BodyError::TooLarge);
        }
        len += chunk.len();
        if first.is_none() && buf.is_empty() {
            first = Some(chunk);
            continue;
        }
        if let Some(held) = first.take() {
            buf.reserve_exact(hint.max(held.len() + chunk.len()).min(cap));
            buf.extend_from_slice(&held);
        }
        grow_within(&mut buf, chunk.len(), cap);
        buf.extend_from_slice(&chunk);
    }
    Ok(match first {
        Some(only) => only,
        None => Bytes::from(buf),
    })
}

/// Makes room for `extra` more bytes, doubling as a `Vec` does but never
/// past `cap` (the caller has checked that `len + extra <= cap`), so the
/// buffer's allocation stays within the cap too.
fn grow_within(buf: &mut Vec<u8>, extra: usize, cap: usize) {
    let need = buf.len() + extra;
    if need <= buf.capacity() {
        return;
    }
    let target = buf.capacity().saturating_mul(2).max(need).min(cap);
    buf.reserve_exact(target - buf.len());
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    #[test]
    fn the_option_is_bounded() {
        assert!(check_max_response_bytes(0).is_err());
        assert_eq!(check_max_response_bytes(1).unwrap(), 1);
        assert_eq!(
            check_max_response_bytes(MAX_RESPONSE_BYTES_LIMIT).unwrap(),
            MAX_RESPONSE_BYTES_LIMIT
        );
        let e = check_max_response_bytes(MAX_RESPONSE_BYTES_LIMIT + 1).unwrap_err();
        assert_eq!(e.kind(), "AlterValueError");
        assert!(e.message().contains("max_response_bytes"));
    }

    #[test]
    fn growth_never_passes_the_cap() {
        let mut buf = Vec::with_capacity(10);
        buf.extend_from_slice(&[0u8; 10]);
        grow_within(&mut buf, 5, 16);
        assert!(buf.capacity() >= 15 && buf.capacity() <= 16 + 8);
        let mut big: Vec<u8> = Vec::new();
        grow_within(&mut big, 100, 1000);
        assert!(big.capacity() >= 100);
    }

    /// A server that answers one request with `head` and then `total` bytes
    /// of body in 64 KiB chunks (or until the client goes away).
    async fn serve(head: String, total: usize) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let (mut sock, _) = listener.accept().await.unwrap();
            let mut req = [0u8; 4096];
            let _ = sock.read(&mut req).await;
            if sock.write_all(head.as_bytes()).await.is_err() {
                return;
            }
            let chunk = vec![b'a'; 64 * 1024];
            let mut sent = 0;
            while sent < total {
                let n = chunk.len().min(total - sent);
                if sock.write_all(&chunk[..n]).await.is_err() {
                    return;
                }
                sent += n;
            }
        });
        url
    }

    async fn get(url: &str) -> reqwest::Response {
        reqwest::Client::new().get(url).send().await.unwrap()
    }

    #[tokio::test]
    async fn a_body_within_the_cap_is_read_whole() {
        let head = "HTTP/1.1 200 OK\r\ncontent-length: 200000\r\n\r\n".to_string();
        let url = serve(head, 200_000).await;
        let body = read_capped(get(&url).await, 200_000).await.unwrap();
        assert_eq!(body.len(), 200_000);
    }

    #[tokio::test]
    async fn an_announced_length_over_the_cap_is_refused_unread() {
        let head = "HTTP/1.1 200 OK\r\ncontent-length: 8388608\r\n\r\n".to_string();
        let url = serve(head, 8 << 20).await;
        let r = read_capped(get(&url).await, 1 << 20).await;
        assert!(matches!(r, Err(BodyError::TooLarge)));
    }

    #[tokio::test]
    async fn an_unannounced_body_stops_at_the_cap() {
        // No Content-Length: the body runs until the server closes.
        let head = "HTTP/1.1 200 OK\r\nconnection: close\r\n\r\n".to_string();
        let url = serve(head, 8 << 20).await;
        let r = read_capped(get(&url).await, 1 << 20).await;
        assert!(matches!(r, Err(BodyError::TooLarge)));
    }

    #[tokio::test]
    async fn a_body_cut_short_is_a_transport_error() {
        let head = "HTTP/1.1 200 OK\r\ncontent-length: 100000\r\n\r\n".to_string();
        let url = serve(head, 50_000).await;
        let r = read_capped(get(&url).await, 1 << 20).await;
        assert!(matches!(r, Err(BodyError::Transport(_))), "{r:?}");
    }
}
