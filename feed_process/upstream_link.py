"""One open upstream WebSocket as "the frames already waiting, or the deadline": the interface, two adapters.

Why an interface: the feed's client (``websocket_client.py``) needs five things of
a connection - open it, take every frame already received in one call (the
coalescing the publisher folds and encodes once per symbol), send a text
message at once, close with a code, abort - and what ends it, as the three
exceptions below. Two adapters give them:

* ``link_picows.py`` - the default (``upstream_transport = "picows"``): frames
  parsed in C, handed over per socket read; 2.5-3x websockets' events per
  CPU-second at Polygon's 5-event frames (docs/PERFORMANCE.md "Upstream transport").
* ``link_websockets.py`` - the portable fallback (``"websockets"``, the library the
  design card names): pure Python, so it runs wherever Python does, and it speaks
  permessage-deflate to a remote host (Polygon: ~5x fewer bytes), which picows cannot.

The contract both keep (``tests/test_feed_units.py`` runs the same tests on each):

* :meth:`Link.next` ``(when)``: the data messages received (fragments joined), at
  least one, at most ``BATCH_BYTES`` (a message over it goes alone), after one
  yield when some were waiting; ``[]`` at ``when`` (loop time; None: no deadline);
  :class:`LinkClosed` once the connection ended and every message before it was taken;
* messages received but not taken stay under ``PAUSE_BYTES`` (+ one read): past it the
  adapter stops reading, so TCP pushes back on a sender faster than the feed;
* a peer's CLOSE is answered; :class:`LinkClosed` carries the code received (None:
  the connection was lost) and ``oversized`` when a message over ``max_size`` was
  refused with 1009;
* keepalive: a ping when idle ``ping_interval`` s, closed when no pong follows (None: off);
* ``wss://`` with the default verified TLS context;
* :meth:`Link.open` raises :class:`BadURL` (retrying cannot help), :class:`Refused`
  (the HTTP upgrade was refused), ``OSError`` or ``TimeoutError``;
* :meth:`Link.send` is not a coroutine: the message is on its way in order, dropped once closing.

Which adapter: :func:`resolve_transport` once per client (picows missing - a
platform without its wheel - means websockets, said in one log line), then
:func:`open_link` per connection. Each adapter is imported only when chosen.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
from typing import Protocol

from shared.config import UPSTREAM_TRANSPORTS

log = logging.getLogger(__name__)

# The most frame bytes handed over per batch (a frame over it goes alone). A read can bring megabytes
# behind a slow moment; folding tens of thousands of events at once cost more per event (cache, GC
# generations) than ~400-event batches, and 64 KiB already spreads the per-batch costs over ~85
# five-event frames.
BATCH_BYTES = 64 * 1024
# The bound on messages received but not yet taken: past PAUSE_BYTES the adapter stops reading (TCP's
# window pushes back on the sender) until the feed has taken them down to RESUME_BYTES. Without it a
# sender faster than the feed (a --max replay, a burst) grew the feed by a gigabyte over 1M events.
PAUSE_BYTES = 4 * 1024 * 1024
RESUME_BYTES = 1024 * 1024
_MODULES = {"picows": "link_picows", "websockets": "link_websockets"}
assert set(_MODULES) == set(UPSTREAM_TRANSPORTS)


class BadURL(ValueError):
    """Not a WebSocket URL: retrying cannot help."""


class Refused(Exception):
    """The HTTP upgrade was refused (status, headers)."""


class LinkClosed(Exception):
    """The connection ended: ``code`` received in the peer's CLOSE (None: lost), ``oversized`` (1009)."""

    def __init__(self, code: int | None, oversized: bool = False) -> None:
        super().__init__(f"closed ({code})" if code else "connection lost")
        self.code, self.oversized = code, oversized


class Link(Protocol):
    """An open connection (the contract in the module doc); made by :func:`open_link`."""

    async def next(self, when: float | None) -> list[bytes]: ...
    def send(self, message: str) -> None: ...
    async def close(self, code: int, reason: str) -> None: ...
    def abort(self) -> None: ...


class Inbox:
    """The half of :meth:`Link.next` both adapters share: the messages received (``pending``, put by the
    adapter's receive callback or task with :meth:`add`, which then calls :meth:`wake`), their bound
    (the adapter's :meth:`pause` / :meth:`resume` stop and restart its reading), one waiter, one timer."""

    def __init__(self) -> None:
        self.pending: list[bytes] = []
        self.pending_bytes = 0
        self.paused = False  # reading paused: PAUSE_BYTES are waiting
        self.waiter: asyncio.Future | None = None
        self._loop = asyncio.get_running_loop()
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None

    def add(self, message: bytes) -> None:
        self.pending.append(message)
        self.pending_bytes += len(message)
        if self.pending_bytes > PAUSE_BYTES and not self.paused:
            self.paused = True
            self.pause()

    def pause(self) -> None:
        """Stop reading (the adapter's way); :meth:`resume` restarts it."""

    def resume(self) -> None:
        """Read again."""

    def wake(self) -> None:
        w = self.waiter
        if w is not None and not w.done():
            w.set_result(None)

    async def wait(self, when: float | None) -> bool:
        """True when messages are pending (after one yield, so the loop serves its other readers once
        per batch); else waits for one, :meth:`wake` (the end) or ``when``. The caller checks for an
        ended connection before (nothing would wake this) and after (False)."""
        if self.pending:
            await asyncio.sleep(0)
            return True
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
        return bool(self.pending)

    def take(self) -> list[bytes]:
        """At least one message (when any), at most BATCH_BYTES (a message over it goes alone)."""
        pending = self.pending
        take = size = 0
        for f in pending:
            size += len(f)
            take += 1
            if size >= BATCH_BYTES:
                break
        if take == len(pending):
            self.pending = []
            frames = pending
        else:
            frames = pending[:take]
            del pending[:take]
        self.pending_bytes -= size  # the loop summed exactly the frames taken
        if self.paused and self.pending_bytes <= RESUME_BYTES:
            self.paused = False
            self.resume()
        return frames

    def stop_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self._timer_at = None

    def _timeout(self) -> None:
        self._timer = self._timer_at = None
        self.wake()


def resolve_transport(name: str) -> str:
    """The transport to use for ``name``: picows when it imports, else websockets (one log line)."""
    if name not in _MODULES:
        raise ValueError(f"unknown upstream transport {name!r} (use {' or '.join(UPSTREAM_TRANSPORTS)})")
    if name == "picows":
        try:
            import picows  # noqa: F401 - only whether it imports (its wheel may not exist for this platform)
        except ImportError as e:
            log.warning("upstream transport: picows cannot be imported (%s); using websockets", e)
            return "websockets"
    else:
        log.info("upstream transport: %s", name)
    return name


async def open_link(url: str, *, max_size: int, ping_interval: float | None, timeout: float,
                    transport: str = "picows") -> Link:
    """Connect and upgrade within ``timeout`` s with ``transport`` (resolved: see :func:`resolve_transport`)."""
    module = importlib.import_module(f"{__package__}.{_MODULES[transport]}")
    return await module.connect(url, max_size=max_size, ping_interval=ping_interval, timeout=timeout)
