"""The websockets adapter of :mod:`.upstream_link` (its contract there): the portable upstream transport.

Why it exists: picows is a C extension; where its wheel is missing the feed still
has to run, and websockets (the design card's library, pure Python) runs wherever
Python does. It is also the one that speaks permessage-deflate: to a remote host
(Polygon) that cuts the bytes ~5x; on loopback (sim, seed relay) deflate cost the
feed 20-25 % of its CPU for nothing, so it is offered only to remote hosts.

How it keeps "every message already received, in one call": websockets hands out
one message per ``recv()``. One reader task per connection moves them into the
shared :class:`~.upstream_link.Inbox`: ``recv()`` returns at once while websockets
has messages queued, so the reader empties that queue in one step and wakes the
client once; the client then takes them all in one :meth:`WebsocketsLink.next`.
The reader ends with the connection (``recv`` raises ``ConnectionClosed``, kept for
:meth:`WebsocketsLink.next` to raise as :class:`LinkClosed` after the last message); it is
never cancelled, ``abort`` ends it through the transport. The inbox is bounded by bytes (``PAUSE_BYTES``, the Inbox's rule): past it the reader
stops calling ``recv``, websockets' own queue fills (``max_queue``) and it stops reading
the socket - TCP's flow control, as with picows, instead of unbounded memory.

What websockets does itself: joining fragments, answering a CLOSE, ``max_size``
(closed with 1009: :class:`LinkClosed` ``oversized``), keepalive (``ping_interval``;
a missing pong closes), the default verified TLS context for ``wss://``. Sends go
through one writer task, in order (``send`` is a coroutine in websockets; the
client's is not). ``close_timeout`` 1 s as with picows, and no proxy (websockets 15
reads the environment's; picows never did).
"""

from __future__ import annotations

import asyncio
import inspect
import ipaddress
from collections import deque
from urllib.parse import urlsplit

from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI
from websockets.frames import CloseCode
from websockets.protocol import State

from .upstream_link import BadURL, Inbox, LinkClosed, Refused

_NO_PROXY = {"proxy": None} if "proxy" in inspect.signature(ws_connect.__init__).parameters else {}


def _loopback(host: str | None) -> bool:
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _valid_close_code(code: int) -> bool:
    return 1000 <= code <= 1003 or 1007 <= code <= 1014 or 3000 <= code < 5000  # RFC 6455 7.4, sendable ones


class WebsocketsLink(Inbox):
    """An open connection: :meth:`next` returns the messages waiting (waits for one or the deadline)."""

    def __init__(self, ws) -> None:
        super().__init__()
        self.ws = ws
        self.room = asyncio.Event()  # set while not paused (the Inbox's bound)
        self.room.set()
        self.ended: BaseException | None = None  # what ended the reader
        self._out: deque[str] = deque()
        self._writer: asyncio.Task | None = None
        self._reader = self._loop.create_task(self._read(), name="upstream-reader")

    async def _read(self) -> None:
        ws = self.ws
        try:
            while True:
                if self.paused:
                    await self.room.wait()
                self.add(await ws.recv(decode=False))  # bytes, text frames too: the decoders take bytes
                self.wake()
        except Exception as e:  # ConnectionClosed (the end), or a bug that next() raises
            self.ended = e
        finally:
            self.wake()

    async def next(self, when: float | None) -> list[bytes]:
        """The messages waiting (at least one), or ``[]`` at ``when`` (loop time; None: no deadline)."""
        if not self.pending and self.ended is not None:
            raise self._closed()
        if not await self.wait(when):
            if self.ended is not None:
                raise self._closed()
            return []  # the deadline
        return self.take()

    def pause(self) -> None:
        self.room.clear()

    def resume(self) -> None:
        self.room.set()

    def _closed(self) -> Exception:
        self.stop_timer()
        e = self.ended
        if not isinstance(e, ConnectionClosed):
            return e  # not the connection's end: the client's supervisor logs it and restarts
        code = e.rcvd.code if e.rcvd is not None else None
        too_big = (e.sent is not None and e.sent.code == CloseCode.MESSAGE_TOO_BIG) or code == CloseCode.MESSAGE_TOO_BIG
        return LinkClosed(int(code) if code is not None else None, too_big)

    def send(self, message: str) -> None:
        """Queue a text message for the writer (in order; dropped once the link is closing)."""
        if self.ws.state is not State.OPEN:
            return
        self._out.append(message)
        if self._writer is None or self._writer.done():
            self._writer = self._loop.create_task(self._write(), name="upstream-writer")

    async def _write(self) -> None:
        out = self._out
        while out:
            try:
                await self.ws.send(out.popleft())
            except ConnectionClosed:  # the reader says why
                out.clear()

    async def close(self, code: int, reason: str) -> None:
        """Send what is queued, then CLOSE, and wait (<= 1 s each) for the connection to end."""
        if self.ws.state is State.CLOSED:
            return
        if self._writer is not None and not self._writer.done():
            try:
                await asyncio.wait_for(asyncio.shield(self._writer), 1.0)
            except Exception:  # noqa: S110 - a stuck send: the close below ends it
                pass
        try:
            await asyncio.wait_for(self.ws.close(code if _valid_close_code(code) else 1000, reason), 2.0)
        except Exception:  # a refused close, a protocol error: the socket goes regardless
            self.abort()

    def abort(self) -> None:
        transport = self.ws.transport
        if transport is not None:
            transport.abort()
        if self._writer is not None and not self._writer.done():
            self._writer.cancel()  # the reader ends by itself: recv raises ConnectionClosed


async def connect(url: str, *, max_size: int, ping_interval: float | None, timeout: float) -> WebsocketsLink:
    """Connect and upgrade within ``timeout`` s; raises BadURL, Refused, OSError, TimeoutError."""
    try:
        host = urlsplit(url).hostname
    except ValueError as e:  # e.g. a bad IPv6 literal
        raise BadURL(str(e)) from None
    try:
        ws = await asyncio.wait_for(_open(url, max_size, ping_interval, timeout, host), timeout)
    except InvalidURI as e:
        raise BadURL(str(e)) from None
    except InvalidHandshake as e:  # InvalidStatus (a refused upgrade), a bad header, a failed negotiation
        raise Refused(str(e)) from None
    return WebsocketsLink(ws)


async def _open(url: str, max_size: int, ping_interval: float | None, timeout: float, host: str | None):
    return await ws_connect(
        url, max_size=max_size, ping_interval=ping_interval, ping_timeout=ping_interval, open_timeout=timeout,
        close_timeout=1.0, compression=None if _loopback(host) else "deflate", **_NO_PROXY)
