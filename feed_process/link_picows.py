"""The picows adapter of :mod:`.upstream_link` (its contract there): the feed's default upstream transport.

Why picows (``bench/transports.py``, docs/PERFORMANCE.md "Upstream transport"): a
raw receive loop on picows reads several times the events/s of the websockets
loop at 5- and 50-event frames, and as much at 1000; the feed pays per frame, and
real Polygon frames for a few symbols carry 1-20 events. picows parses frames in
C and calls :meth:`_Listener.on_ws_frame` for each one inside ``data_received``,
so every frame that one socket read brought is appended here in a burst, and the
client takes them all in one :meth:`PicowsLink.next` (up to ``BATCH_BYTES`` per
batch; the socket is read only between batches, so the backlog is what the kernel
had buffered).

What websockets does on its own and picows leaves to its user is here:

* the close handshake: a received CLOSE is answered with the same code, and
  :class:`LinkClosed` carries the code received (``None``: the connection was lost);
* fragmented messages (``fin`` false + continuations) are joined, bounded by ``max_size``;
  a frame or message over it is closed with 1009 and reported as ``oversized``;
* keepalive: picows' auto-ping when idle, closed when no pong comes (``ping_interval``);
* TLS: ``wss://`` uses the default verified context (picows' own);
* errors mapped to the interface's: :class:`BadURL`, :class:`Refused`, ``OSError`` / ``TimeoutError``.

No permessage-deflate: picows does not offer it. On loopback (sim, seed relay) the
servers never accepted it anyway; to Polygon it trades bandwidth for the CPU that
inflating every frame costs (``upstream_transport = "websockets"`` deflates there).
"""

from __future__ import annotations

import asyncio
import logging

import picows
from picows import WSCloseCode, WSMsgType

from .upstream_link import BadURL, Inbox, LinkClosed, Refused

_DATA = (WSMsgType.TEXT, WSMsgType.BINARY)
logging.getLogger("picows").setLevel(logging.WARNING)  # one INFO line per connect/disconnect is ours to say


class _Listener(picows.WSListener):
    """Appends every data message to the link's list and wakes its waiter."""

    def __init__(self, link: PicowsLink) -> None:
        self.link = link
        self.parts: list[bytes] | None = None  # a fragmented message being joined
        self.size = 0

    def on_ws_frame(self, transport: picows.WSTransport, frame: picows.WSFrame) -> None:
        link = self.link
        t = frame.msg_type
        if transport.is_close_frame_sent and t is not WSMsgType.CLOSE and (
                t not in _DATA or frame.payload_size > link.max_size or frame.rsv1):
            # Closing: ours, or picows' after a protocol error found in a read, whose frames its parser
            # still hands on - the good ones before the bad one are kept (the contract), the bad one not.
            return
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
        if w is not None and not w.done():  # link.wake(), inlined: once per frame
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
        self.link.wake()


class PicowsLink(Inbox):
    """An open connection: :meth:`next` returns the frames waiting (waits for one or the deadline)."""

    def __init__(self, max_size: int) -> None:
        super().__init__()
        self.max_size = max_size
        self.recv_code: int | None = None
        self.oversized = False
        self.transport: picows.WSTransport | None = None

    def pause(self) -> None:  # the Inbox's bound: the kernel's buffer fills, TCP's window closes
        if self.transport is not None:
            self.transport.underlying_transport.pause_reading()

    def resume(self) -> None:
        t = self.transport
        if t is not None and not t.is_disconnected:
            t.underlying_transport.resume_reading()

    @classmethod
    async def open(cls, url: str, *, max_size: int, ping_interval: float | None, timeout: float) -> PicowsLink:
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

    async def next(self, when: float | None) -> list[bytes]:
        """The frames waiting (at least one), or ``[]`` at ``when`` (loop time; None: no deadline)."""
        if not self.pending and (self.transport is None or self.transport.is_disconnected):
            raise await self._closed()
        if not await self.wait(when):
            if self.transport.is_disconnected:
                raise await self._closed()
            return []  # the deadline
        return self.take()

    async def _closed(self) -> LinkClosed:
        if self.transport is not None:
            try:  # done already; retrieves picows' own error (a protocol violation) so none is left unread
                await self.transport.wait_disconnected()
            except Exception:  # noqa: S110 - the close handshake below says what happened
                pass
        self.stop_timer()
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


connect = PicowsLink.open  # the adapter's entry point (upstream_link.open_link)
