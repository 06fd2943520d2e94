"""The feed's REST client (feed_process/rest_client.py) against a real HTTP server on loopback:
JSON bodies, gzip, the size bound, keep-alive reuse, and failures as RestError without the URL."""

from __future__ import annotations

import asyncio
import gzip
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from feed_process.rest_client import RestClient, RestError
from tests.util import free_port


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive
    peers: list = []

    def log_message(self, *a):  # quiet
        pass

    def _send(self, status: int, body: bytes, gz: bool = False) -> None:
        self.send_response(status)
        if gz:
            body = gzip.compress(body)
            self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):  # noqa: N802
        _Handler.peers.append(self.client_address)
        if self.path.startswith("/big"):
            self._send(200, b"x" * 5000)
        elif self.path.startswith("/gz"):
            self._send(200, json.dumps({"q": self.path, "gz": True}).encode(), gz="gzip" in self.headers.get("Accept-Encoding", ""))
        else:
            self._send(403 if "deny" in self.path else 200, json.dumps({"q": self.path}).encode())

    def do_POST(self):  # noqa: N802
        n = int(self.headers.get("Content-Length", 0))
        self._send(200, json.dumps({"got": json.loads(self.rfile.read(n)), "auth": self.headers.get("Authorization")}).encode())


@pytest.fixture
def server():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    _Handler.peers = []
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


def test_json_gzip_post_and_keep_alive(server):
    async def run():
        c = RestClient(timeout=5)
        try:
            a = await c.request("GET", f"{server}/x", params={"limit": "2"}, max_bytes=1 << 20)
            b = await c.request("GET", f"{server}/gz", max_bytes=1 << 20)
            p = await c.request("POST", f"{server}/api", headers={"Authorization": "Bearer k"}, json={"s": 1},
                                max_bytes=1 << 20)
            d = await c.request("GET", f"{server}/deny", max_bytes=1 << 20)
            return a, b, p, d
        finally:
            c.close()

    a, b, p, d = asyncio.run(run())
    assert a == (200, json.dumps({"q": "/x?limit=2"}).encode())
    assert b[0] == 200 and json.loads(b[1]) == {"q": "/gz", "gz": True}  # asked for gzip, decoded
    assert json.loads(p[1]) == {"got": {"s": 1}, "auth": "Bearer k"}
    assert d[0] == 403  # statuses are the caller's (history.py words them)
    assert len({port for _, port in _Handler.peers}) == 1  # one kept-alive connection, reused


def test_too_large_and_unreachable_are_rest_errors_without_the_url(server):
    async def run(url: str, limit: int):
        c = RestClient(timeout=5)
        try:
            return await c.request("GET", url, max_bytes=limit)
        finally:
            c.close()

    with pytest.raises(RestError, match="response too large"):
        asyncio.run(run(f"{server}/big", 1000))
    with pytest.raises(RestError) as e:
        asyncio.run(run(f"http://127.0.0.1:{free_port()}/v2?apiKey=SECRET", 1000))
    assert "SECRET" not in str(e.value) and "127.0.0.1" not in str(e.value)
