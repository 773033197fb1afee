"""Proxy variables are honoured, but loopback never goes through a proxy.

A child Python process runs with every proxy variable pointing at a
recording proxy this test runs on 127.0.0.1. Its calls to the local vault
(loopback) go straight there, so the proxy never sees the API key or the
signature; its call to a non-loopback provider goes through the proxy (a
CONNECT it refuses), which shows the variables were read.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator

import pytest
from alter_sdk.testing import LocalVault


class RecordingProxy:
    """Records the request head of every connection, answers 502."""

    def __init__(self) -> None:
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen()
        self.heads: list[str] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self._sock.getsockname()
        return f"http://{host}:{port}"

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            with conn:
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(4096)
                    if not chunk:
                        break
                    data += chunk
                self.heads.append(data.split(b"\r\n\r\n")[0].decode("latin-1"))
                conn.sendall(b"HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\n\r\n")

    def close(self) -> None:
        self._sock.close()


@pytest.fixture
def proxy() -> Iterator[RecordingProxy]:
    p = RecordingProxy()
    yield p
    p.close()


CHILD = r"""
import asyncio, json, sys
from alter_sdk import App

base_url, grant_id = sys.argv[1], sys.argv[2]

async def main() -> None:
    out = {}
    async with App(api_key=sys.argv[3], _base_url=base_url) as app:
        r = await app.request("GET", base_url + "/_provider/echo/direct", grant_id=grant_id)
        out["loopback_status"] = r.status_code
        try:
            await app.request("GET", "https://provider.example.test/x", grant_id=grant_id)
        except Exception as e:
            out["remote_error"] = type(e).__name__
    print(json.dumps(out))

asyncio.run(main())
"""


def test_loopback_bypasses_the_proxy_and_other_hosts_use_it(
    local_vault: LocalVault, proxy: RecordingProxy
) -> None:
    grant_id = local_vault.create_managed_secret_grant(
        local_vault.create_managed_secret("proxied", "tok-proxy-test")
    )
    env = dict(os.environ)
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        env[name] = proxy.url
    env.pop("NO_PROXY", None)
    env.pop("no_proxy", None)
    env.pop("REQUEST_METHOD", None)
    done = subprocess.run(
        [sys.executable, "-c", CHILD, local_vault.base_url, grant_id, local_vault.app_api_key],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["loopback_status"] == 200
    assert out["remote_error"] == "NetworkError"
    # The proxy saw only the tunnel to the remote provider: nothing of the
    # vault, its API key or its signatures.
    assert len(proxy.heads) == 1, proxy.heads
    assert proxy.heads[0].startswith("CONNECT provider.example.test:443 HTTP/1.1\r\n")
    assert local_vault.app_api_key not in proxy.heads[0]
    # Both token fetches went to the vault directly.
    assert len(local_vault.audit("token")) == 2
