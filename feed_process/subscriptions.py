"""The upstream subscription follows the union of what subscribers watch, debounced.

Why it looks like this: without ``XPUB_VERBOSE`` libzmq ref-counts topics, so
the XPUB tells the feed the first subscribe and the last unsubscribe of each
``md|SYM|`` - including the unsubscribes of a subscriber whose TCP connection
died (SIGKILL). The upstream follows that union after ``delay`` seconds of
calm, so a window switching symbols costs one upstream exchange, not two.
``sys|`` and anything that is not a valid symbol topic never reaches the
upstream. A symbol is wanted while any of its topics has a subscriber -
``md|SYM|`` (events) or ``sum|SYM|`` (the summary of watchlists) - or while
an armed alert needs it (``pinned``): one upstream subscription per symbol,
shared by every window, list and alert. The feed decides what a change means (state, backfill, upstream
messages) in ``on_change(added, removed)``.
"""

from __future__ import annotations

import asyncio
from typing import Callable

import zmq

from shared.models import wire


class UpstreamUnion:
    def __init__(self, on_change: Callable[[list[str], list[str]], None], delay: float = 0.2) -> None:
        self.on_change = on_change
        self.delay = delay
        self.topics: set[str] = set()     # symbols with at least one SUB on md| or sum|
        self.subs: set[tuple[bytes, str]] = set()  # (prefix, symbol) topics with a SUB (libzmq's ref-count)
        self.summaries: set[str] = set()  # symbols whose sum| topic has a subscriber
        self.pinned: set[str] = set()     # symbols armed alerts watch
        self.upstream: set[str] = set()   # symbols subscribed upstream
        self._handle: asyncio.TimerHandle | None = None

    def drain(self, xpub: zmq.Socket) -> None:
        """Read the XPUB's subscription messages (edge-triggered FD: drain while POLLIN)."""
        changed = False
        while not xpub.closed and xpub.getsockopt(zmq.EVENTS) & zmq.POLLIN:
            try:
                msg = xpub.recv(zmq.NOBLOCK)
            except zmq.Again:
                break
            if not msg:
                continue
            topic = msg[1:]
            sym = wire.watched_symbol(topic)
            if sym is None:
                continue  # sys|, alert| and anything else: not an upstream symbol
            key = (wire.SUM_PREFIX if topic.startswith(wire.SUM_PREFIX) else wire.MD_PREFIX, sym)
            if msg[0] == 1:
                self.subs.add(key)
            elif msg[0] == 0:
                self.subs.discard(key)
            changed = True
        if changed:
            self.topics = {s for _, s in self.subs}
            self.summaries = {s for p, s in self.subs if p == wire.SUM_PREFIX}
            self._schedule()

    def pin(self, symbols: set[str]) -> None:
        """The symbols armed alerts need (subscribed upstream with or without a subscriber)."""
        if symbols != self.pinned:
            self.pinned = set(symbols)
            self._schedule()

    def _schedule(self) -> None:
        if self._handle is None:
            self._handle = asyncio.get_running_loop().call_later(self.delay, self.sync)

    def sync(self) -> None:
        self._handle = None
        want = self.topics | self.pinned
        added, removed = sorted(want - self.upstream), sorted(self.upstream - want)
        self.upstream = want
        if added or removed:
            self.on_change(added, removed)

    def cancel(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
