"""The feed's REST client for history backfill: stdlib ``http.client`` in worker threads.

Why not aiohttp: the feed made a few JSON requests per symbol (minute and day
history) and paid for aiohttp's client with ~10 MiB of RSS and ~0.2 s of
import in every feed start (``bench/memory.py``, ``bench/startup.py``).
``http.client`` (+ ``ssl`` for https) is in the interpreter already; a request
runs in the default executor, so the loop never blocks, and the one rate
limiter (:class:`shared.rest_limit.RestLimiter`) bounds how many run at once.
Connections are kept alive per (scheme, host, port) and reused by the next
request (a pool of idle ones, each used by one thread at a time); a failed
connection is dropped, never reused. ``gzip`` responses are accepted (Polygon's
2000-bar answers shrink ~5x). Proxies from the environment are not used (as
aiohttp's default); redirects are not followed (the APIs do not redirect).

Every failure is a :class:`RestError` with the exception's type name only:
the URL carries the API key on some providers, so it never goes into a message.
"""

from __future__ import annotations

import asyncio
import http.client
import threading
from typing import Any
from urllib.parse import urlencode, urlsplit

import orjson

DEFAULT_TIMEOUT = 30.0
MAX_IDLE_PER_HOST = 4


class RestError(Exception):
    """The request failed below HTTP (connect, TLS, timeout, a broken response)."""


class RestClient:
    def __init__(self, timeout: float = DEFAULT_TIMEOUT, user_agent: str = "live-monitor-feed"):
        self.timeout = timeout
        self.user_agent = user_agent
        self._idle: dict[tuple[str, str, int], list[http.client.HTTPConnection]] = {}
        self._lock = threading.Lock()
        self._closed = False

    async def request(self, method: str, url: str, *, headers: dict | None = None, params: dict | None = None,
                      json: Any = None, max_bytes: int) -> tuple[int, bytes]:
        """``(status, body)``; the body is at most ``max_bytes`` (a longer one raises :class:`RestError`)."""
        return await asyncio.to_thread(self._request, method, url, headers or {}, params, json, max_bytes)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            conns = [c for lst in self._idle.values() for c in lst]
            self._idle.clear()
        for c in conns:
            c.close()

    # ---- in a worker thread
    def _conn(self, key: tuple[str, str, int]) -> http.client.HTTPConnection:
        with self._lock:
            idle = self._idle.get(key)
            if idle:
                return idle.pop()
        scheme, host, port = key
        if scheme == "https":
            return http.client.HTTPSConnection(host, port, timeout=self.timeout)
        return http.client.HTTPConnection(host, port, timeout=self.timeout)

    def _release(self, key: tuple[str, str, int], conn: http.client.HTTPConnection) -> None:
        with self._lock:
            idle = self._idle.setdefault(key, [])
            if not self._closed and len(idle) < MAX_IDLE_PER_HOST:
                idle.append(conn)
                return
        conn.close()

    def _request(self, method: str, url: str, headers: dict, params: dict | None, body: Any,
                 max_bytes: int) -> tuple[int, bytes]:
        u = urlsplit(url)
        if u.scheme not in ("http", "https") or not u.hostname:
            raise RestError("unsupported URL")
        key = (u.scheme, u.hostname, u.port or (443 if u.scheme == "https" else 80))
        path = u.path or "/"
        query = "&".join(q for q in (u.query, urlencode(params) if params else "") if q)
        if query:
            path += "?" + query
        hdrs = {"User-Agent": self.user_agent, "Accept": "application/json", "Accept-Encoding": "gzip", **headers}
        data = None
        if body is not None:
            data = orjson.dumps(body)
            hdrs["Content-Type"] = "application/json"
        conn = self._conn(key)
        try:
            conn.request(method, path, body=data, headers=hdrs)
            r = conn.getresponse()
            raw = r.read(max_bytes + 1)
            if len(raw) > max_bytes:
                conn.close()  # unread rest: this connection cannot carry another request
                raise RestError("response too large")
            if r.getheader("Content-Encoding", "").lower() == "gzip":
                raw = _gunzip(raw, max_bytes)
        except RestError:
            conn.close()
            raise
        except (OSError, http.client.HTTPException, EOFError) as e:  # timeouts are OSErrors
            conn.close()
            raise RestError(type(e).__name__) from None
        if r.will_close:
            conn.close()
        else:
            self._release(key, conn)
        return r.status, raw


def _gunzip(raw: bytes, max_bytes: int) -> bytes:
    import zlib

    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = d.decompress(raw, max_bytes + 1)
    except zlib.error:
        raise RestError("BadGzipFile") from None
    if len(out) > max_bytes:
        raise RestError("response too large")
    return out

