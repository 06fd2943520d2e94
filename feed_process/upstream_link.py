"""One open upstream WebSocket as "the frames already waiting, or the deadline": the feed's transport (picows).

Why picows (``bench/transports.py``, docs/PERFORMANCE.md "Upstream transport"): a
raw receive loop on picows reads several times the events/s of the websockets
loop at 5- and 50-event frames, and as much at 1000; the feed pays per frame, and
real Polygon frames for a few symbols carry 1-20 events. picows parses frames in
C and calls :meth:`_Listener.on_ws_frame` for each one inside ``data_received``,
so every frame that one socket read brought is appended here in a burst, and the
client takes them all in one :meth:`Link.next` - the coalescing the publisher
folds and encodes once per symbol, up to ``BATCH_BYTES`` per batch (the socket is
read only between batches, so the backlog is what the kernel had buffered).

What websockets did for the feed and picows leaves to its user is here, in one place:

* the close handshake: a received CLOSE is answered with the same code, and
  :class:`LinkClosed` carries the code received (``None``: the connection was lost);
* fragmented messages (``fin`` false + continuations) are joined, bounded by ``max_size``;
  a frame or message over it is closed with 1009 and reported as ``oversized``;
* keepalive: picows' auto-ping when idle, closed when no pong comes (``ping_interval``);
* TLS: ``wss://`` uses the default verified context (picows' own);
* errors mapped to what :class:`~feed_process.upstream_session.UpstreamSession` is told:
  :class:`BadURL` (give up), :class:`Refused` (handshake refused), ``OSError`` / ``TimeoutError``.

No permessage-deflate: picows does not offer it. On loopback (sim, seed relay) the
servers never accepted it anyway; to Polygon it trades bandwidth for the CPU that
inflating every frame costs (docs/PERFORMANCE.md).
"""

from __future__ import annotations

import asyncio
import logging

import picows
from picows import WSCloseCode, WSMsgType

log = logging.getLogger(__name__)

_DATA = (WSMsgType.TEXT, WSMsgType.BINARY)
# The most frame bytes handed over per batch (a frame over it goes alone). picows reads into a buffer
# that grows with the backlog, so one read can bring megabytes behind a slow moment; folding tens of
# thousands of events at once cost more per event (cache, GC generations) than ~400-event batches,
# and 64 KiB already spreads the per-batch costs over ~85 five-event frames.
BATCH_BYTES = 64 * 1024
# The bound on frames read but not yet taken: past PAUSE_BYTES the socket is not read (TCP's window
# pushes back on the sender) until the feed has taken them down to RESUME_BYTES. Without it a sender
# faster than the feed (a --max replay, a burst) grew the feed by a gigabyte over 1M events.
PAUSE_BYTES = 4 * 1024 * 1024
RESUME_BYTES = 1024 * 1024
logging.getLogger("picows").setLevel(logging.WARNING)  # one INFO line per connect/disconnect is ours to say


class BadURL(ValueError):
    """Not a WebSocket URL: retrying cannot help."""


class Refused(Exception):
    """The HTTP upgrade was refused (status, headers)."""


class LinkClosed(Exception):
    """The connection ended: ``code`` received in the peer's CLOSE (None: lost), ``oversized`` (1009)."""

    def __init__(self, code: int | None, oversized: bool = False) -> None:
        super().__init__(f"closed ({code})" if code else "connection lost")
        self.code, self.oversized = code, oversized


class _Listener(picows.WSListener):
    """Appends every data message to the link's list and wakes its waiter."""

    def __init__(self, link: Link) -> None:
        self.link = link
        self.parts: list[bytes] | None = None  # a fragmented message being joined
        self.size = 0

    def on_ws_frame(self, transport: picows.WSTransport, frame: picows.WSFrame) -> None:
        link = self.link
        t = frame.msg_type
        if transport.is_close_frame_sent and t is not WSMsgType.CLOSE:
            return  # closing (ours, or picows' after a protocol error: its parser may still hand the bad frame on)
        if t in _DATA and frame.fin and self.parts is None:  # the common case: one frame, one message
            link.add(frame.get_payload_as_bytes())
        elif t is WSMsgType.CLOSE:
            link.recv_code = code = frame.get_close_code()
            if not transport.is_close_frame_sent:  # answer the peer's CLOSE, as the RFC asks
                transport.send_close(code if code != WSCloseCode.NO_INFO else WSCloseCode.OK)
            transport.disconnect()
            return
        elif t in _DATA or t is WSMsgType.CONTINUATION:
            self._fragment(transport, frame)
        else:
            return  # PING (picows answers it), PONG (picows' keepalive)
        w = link.waiter
        if w is not None and not w.done():
            w.set_result(None)

    def _fragment(self, transport: picows.WSTransport, frame: picows.WSFrame) -> None:
        if frame.msg_type is not WSMsgType.CONTINUATION or self.parts is None:
            self.parts, self.size = [], 0
        part = frame.get_payload_as_bytes()
        self.size += len(part)
        if self.size > self.link.max_size:
            self.link.oversized = True
            transport.send_close(WSCloseCode.MESSAGE_TOO_BIG, b"message too big")
            transport.disconnect()
            return
        self.parts.append(part)
        if frame.fin:
            self.link.add(b"".join(self.parts))
            self.parts = None

    def on_ws_disconnected(self, transport: picows.WSTransport) -> None:
        w = self.link.waiter
        if w is not None and not w.done():
            w.set_result(None)


class Link:
    """An open connection: :meth:`next` returns the frames waiting (waits for one or the deadline)."""

    def __init__(self, max_size: int) -> None:
        self.max_size = max_size
        self.pending: list[bytes] = []
        self.pending_bytes = 0
        self.paused = False  # reading paused: PAUSE_BYTES are waiting
        self.waiter: asyncio.Future | None = None
        self.recv_code: int | None = None
        self.oversized = False
        self.transport: picows.WSTransport | None = None
        self._loop = asyncio.get_running_loop()
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None

    @classmethod
    async def open(cls, url: str, *, max_size: int, ping_interval: float | None, timeout: float) -> Link:
        """Connect and upgrade within ``timeout`` s; raises BadURL, Refused, OSError, TimeoutError."""
        link = cls(max_size)
        ping = dict(enable_auto_ping=True, auto_ping_idle_timeout=ping_interval,
                    auto_ping_reply_timeout=ping_interval) if ping_interval else {}
        try:
            transport, _ = await asyncio.wait_for(picows.ws_connect(
                lambda: _Listener(link), url, max_frame_size=max_size, websocket_handshake_timeout=timeout,
                **ping), timeout)
        except picows.WSInvalidURL as e:
            raise BadURL(str(e)) from None
        except picows.WSHandshakeError as e:
            raise Refused(str(e)) from None
        except (ValueError, TypeError) as e:  # a URL picows cannot even parse
            raise BadURL(str(e)) from None
        link.transport = transport
        return link

    def add(self, message: bytes) -> None:
        self.pending.append(message)
        self.pending_bytes += len(message)
        if self.pending_bytes > PAUSE_BYTES and not self.paused and self.transport is not None:
            self.paused = True
            self.transport.underlying_transport.pause_reading()

    def _taken(self, frames: list[bytes]) -> list[bytes]:
        self.pending_bytes -= sum(map(len, frames))
        if self.paused and self.pending_bytes <= RESUME_BYTES:
            self.paused = False
            t = self.transport
            if t is not None and not t.is_disconnected:
                t.underlying_transport.resume_reading()
        return frames

    async def next(self, when: float | None) -> list[bytes]:
        """The frames waiting (at least one), or ``[]`` at ``when`` (loop time; None: no deadline).

        Frames that came while the caller worked are returned after one yield, so the
        loop serves its other readers (control, snapshots) once per batch."""
        if self.pending:
            await asyncio.sleep(0)
        else:
            if self.transport is None or self.transport.is_disconnected:
                raise await self._closed()
            if when != self._timer_at:  # the deadline moved: one timer per deadline, not per wait
                if self._timer is not None:
                    self._timer.cancel()
                self._timer = None if when is None else self._loop.call_at(when, self._timeout)
                self._timer_at = when
            self.waiter = w = self._loop.create_future()
            try:
                await w
            finally:
                self.waiter = None
            if not self.pending:
                if self.transport.is_disconnected:
                    raise await self._closed()
                return []  # the deadline
        pending = self.pending
        take = size = 0
        for f in pending:  # at most BATCH_BYTES (and at least one frame) per batch
            size += len(f)
            take += 1
            if size >= BATCH_BYTES:
                break
        if take == len(pending):
            self.pending = []
            return self._taken(pending)
        frames = pending[:take]
        del pending[:take]
        return self._taken(frames)

    def _timeout(self) -> None:
        self._timer = self._timer_at = None
        w = self.waiter
        if w is not None and not w.done():
            w.set_result(None)

    async def _closed(self) -> LinkClosed:
        if self.transport is not None:
            try:  # done already; retrieves picows' own error (a protocol violation) so none is left unread
                await self.transport.wait_disconnected()
            except Exception:  # noqa: S110 - the close handshake below says what happened
                pass
        if self._timer is not None:
            self._timer.cancel()
            self._timer = self._timer_at = None
        t = self.transport
        hs = t.close_handshake if t is not None else None
        sent = hs.sent.code if hs is not None and hs.sent is not None else None
        code = self.recv_code or (hs.recv.code if hs is not None and hs.recv is not None else None)
        too_big = self.oversized or sent == WSCloseCode.MESSAGE_TOO_BIG or code == WSCloseCode.MESSAGE_TOO_BIG
        return LinkClosed(int(code) if code is not None else None, too_big)

    def send(self, message: str) -> None:
        """Send a text message now (written to the socket at once; dropped once the link is closing)."""
        t = self.transport
        if t is not None and not t.is_disconnected and not t.is_close_frame_sent:
            t.send(WSMsgType.TEXT, message.encode())

    async def close(self, code: int, reason: str) -> None:
        """Send CLOSE and wait (<= 1 s) for the connection to end."""
        t = self.transport
        if t is None or t.is_disconnected:
            return
        if not t.is_close_frame_sent:
            try:
                close_code = WSCloseCode(code)
            except ValueError:
                close_code = WSCloseCode.OK
            t.send_close(close_code, reason.encode())
        try:
            await asyncio.wait_for(t.wait_disconnected(), 1.0)
        except Exception:  # a refused close, a protocol error: the socket goes regardless
            pass
        t.disconnect(graceful=False)

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.disconnect(graceful=False)
