"""The Qt-free core of PolygonDataManager: feed messages in, the seed's emissions out.

Why it looks like this
----------------------
Everything the manager *decides* about the feed lives here, testable without
Qt or sockets: decoding feed messages for the protocol state machine
(:class:`ui_process.feed_link.FeedLink`), carrying out its outputs (events,
snapshots, liveness), the backlog applied in time slices, event routing, the
data-flow diagnosis and the market-state rule. The symbol's own processing
(state, indicators, signals, coalescing) is :mod:`ui_process.symbol_pipeline`.
Two seams keep it Qt-free: ``emit`` (an :class:`Emit` of plain callables: the
facade's signals) and ``io`` (the transport, ``ui_process.feed_transport``, for
the link's socket actions).

Routing is chosen by the facade from its overrides: the *fast* path calls the
pipeline's handlers; an overridden ``_process_*`` hook is called instead; an
overridden ``_on_data_received`` gets every event in the relay's envelope
(slower, but what the seed promised such code). LULD and second aggregates
never touch minute bars: they go to their own emissions (CONTRACTS.md).
"""

from __future__ import annotations

import logging
import time
from collections import deque
from typing import Any, Callable

from shared.market_hours import market_state as market_state_at
from shared.models import wire
from shared.ratelimit import RateLimitedLog

from .feed_link import FEED_GONE_S, FeedLink
from .symbol_pipeline import Emit, SymbolPipeline

__all__ = ["ManagerCore", "Emit", "NullIO"]

logger = logging.getLogger("live_monitor.data.polygon_data_manager")

EVENT_SLICE = 32  # events between two looks at the clock (bounds the overshoot of a drain slice)
UPSTREAM_BAD_STATES = {"auth_failed": "authentication failed", "max_connections": "another connection uses the key",
                       "failed": "gave up reconnecting", "stalled": "stalled (connected but silent)",
                       "reconnecting": "reconnecting", "stopped": "stopped",
                       "subscribe_failed": "the subscription was refused"}
DATA_CLOCK_SOURCES = ("simulated", "replay")


class NullIO:
    """The transport before connect(): socket actions are dropped (the link repeats what matters)."""

    def __getattr__(self, name: str) -> Callable[..., bool]:
        return lambda *a: False


class ManagerCore:
    """One symbol's view of one feed (see module doc)."""

    def __init__(self, symbol: str, *, max_bars: int, no_data_threshold: float, ui_update_hz: float,
                 client: str, clock: Callable[[], float], wall_clock: Callable[[], float], emit: Emit):
        self.no_data_threshold = no_data_threshold
        self.client = client
        self.clock, self.wall = clock, wall_clock
        self.emit = emit
        self.io: Any = NullIO()
        self.address: str | None = None
        self.link = FeedLink(client=client)
        self.stats = {"events": 0, "messages": 0, "bad_messages": 0, "hook_errors": 0,
                      "market_data_emits": 0, "chart_emits": 0, "signals": 0, "luld": 0, "second_aggregates": 0}
        self.pipe = SymbolPipeline(symbol, max_bars=max_bars, ui_update_hz=ui_update_hz, clock=clock,
                                   wall_clock=wall_clock, emit=emit, stats=self.stats)
        self.backlog: deque[list] = deque()  # event structs accepted by the link, not yet applied
        self.backlog_pos = 0
        # routing (set by the facade from its overrides): per-code handlers, or one envelope sink
        self.on_trade: Callable[[dict], Any] = self.pipe.trade
        self.on_quote: Callable[[dict], Any] = self.pipe.quote
        self.on_aggregate: Callable[[dict], Any] = self.pipe.aggregate
        self.on_envelope: Callable[[dict], Any] | None = None
        self.connected = False
        self._was_alive = False
        self._last_upstream_state: str | None = None
        self.last_data_at: float | None = None
        self.connected_at = clock()
        self.flow_warning: str | None = None
        self.ratelog = RateLimitedLog(logger, period=5.0, clock=self.clock)  # the seed's logger name
        self._rate_window: list[tuple[float, int]] = []

    # ------------------------------------------------------------ link lifecycle

    def start(self) -> bool:
        self.connected_at = self.clock()
        self.link.set_symbol(self.symbol, self.clock())
        return self.run(self.link.start(self.clock()))

    def stop(self) -> None:
        self.run(self.link.stop())
        self.backlog.clear()
        self.backlog_pos = 0
        self.link = FeedLink(client=self.client)
        self.set_connected(False)

    def set_symbol(self, sym: str) -> bool:
        self.reset_symbol_state(sym)
        self.last_data_at = None
        self.flow_warning = None
        return self.run(self.link.set_symbol(sym, self.clock()))

    def reset_symbol_state(self, symbol: str | None = None) -> None:
        self.pipe.reset(symbol)
        self.backlog.clear()
        self.backlog_pos = 0

    # The current symbol's pipeline, as the facade and tests see it.
    symbol = property(lambda self: self.pipe.symbol)
    state = property(lambda self: self.pipe.state)
    signal_engine = property(lambda self: self.pipe.signal_engine)

    @property
    def max_bars(self) -> int:
        return self.pipe.max_bars

    @max_bars.setter
    def max_bars(self, n: int) -> None:
        self.pipe.max_bars = self.pipe.state.max_bars = int(n)

    # ------------------------------------------------------------ messages from the transport

    def on_control(self, raw: bytes, now: float) -> bool:
        try:
            msg = wire.decode_reply(raw)  # typed: types and bounds checked here, once
        except wire.WireError as e:
            self.bad_message(f"bad control reply: {e}", now)
            return False
        try:
            return self.run(self.link.on_reply(msg, now))
        except Exception as e:
            logger.exception("control reply handling failed")
            self.bad_message(f"control reply that could not be handled ({type(e).__name__})", now)
            return False

    def on_data(self, frames: list[bytes], now: float) -> bool:
        self.stats["messages"] += 1
        if len(frames) != 2:
            self.bad_message(f"data message with {len(frames)} frames", now)
            return False
        try:
            msg = wire.decode_data(frames[1])  # typed: a batch's events arrive as checked event structs
        except wire.WireError as e:
            self.bad_message(f"bad data message: {e}", now)
            return False
        try:
            return self.run(self.link.on_data(frames[0], msg, now))
        except Exception as e:  # the UI never dies of the feed: count, tell, go on
            logger.exception("data message handling failed")
            self.bad_message(f"data message that could not be handled ({type(e).__name__})", now)
            return False

    def tick(self) -> bool:
        return self.run(self.link.tick(self.clock()))

    def bad_message(self, what: str, now: float) -> None:
        self.link.on_bad_message()  # counted once (info() adds the link's count to stats["bad_messages"])
        if self.ratelog("bad_message", f"dropped a {what}", now=now):
            self.emit.error(f"Dropped a malformed message from the feed ({what})")

    def run(self, outputs: list) -> bool:
        """Carry out the link's outputs in order; True when the transport should drain again."""
        touched = False
        io = self.io
        for out in outputs:
            kind = out[0]
            if kind == "events":
                self.backlog.append(out[1])  # applied in time slices by process_backlog
            elif kind == "send":
                touched |= io.send(out[1])
            elif kind == "subscribe":
                touched |= io.subscribe(out[1])
            elif kind == "unsubscribe":
                touched |= io.unsubscribe(out[1])
            elif kind == "connect_data":
                touched |= io.connect_data(out[1], self.link.epoch)
            elif kind == "reset_control":
                io.reset_control()
            elif kind == "snapshot":
                self.apply_snapshot(out[1])  # supersedes any queued events (their seq <= snapshot's)
            elif kind == "link":
                self.link_changed()
            elif kind == "error":
                logger.warning("%s", out[1])
                self.emit.error(str(out[1]))
        return touched or bool(self.backlog)

    def process_backlog(self, deadline: float) -> bool:
        """Apply queued events in slices until ``deadline`` (perf_counter); True when the backlog is empty.

        One feed batch can hold thousands of events; slicing inside a batch keeps
        every stretch of work on the GUI thread under the drain budget.
        """
        bl = self.backlog
        while bl:
            arrays = bl[0]
            i, n = self.backlog_pos, len(arrays)
            while i < n:
                j = min(n, i + EVENT_SLICE)
                self.apply_events(arrays, i, j)
                i = j
                if time.perf_counter() > deadline:
                    break
            if i < n:
                self.backlog_pos = i
                return False
            bl.popleft()
            self.backlog_pos = 0
            if bl and time.perf_counter() > deadline:
                return False
        return True

    # ------------------------------------------------------------ events

    def apply_events(self, arrays: list, start: int, stop: int) -> None:
        """Events (structs the decoder checked: a bad one made its whole message a WireError) -> seed
        dicts -> the routes."""
        sym = self.symbol
        now = self.clock()
        to_dict = wire.event_to_dict
        code_of = wire.CODE
        on_t, on_q, on_am, envelope = self.on_trade, self.on_quote, self.on_aggregate, self.on_envelope
        for k in range(start, stop):
            a = arrays[k]
            code = code_of[type(a)]
            if code not in ("T", "Q", "AM"):
                if code in ("LULD", "A"):  # passed through by the feed: their own signals
                    self.extra_event(to_dict(sym, a))
                continue  # a kind not shown here (NOI)
            ev = to_dict(sym, a)
            try:
                if envelope is not None:
                    envelope({"type": "market_data", "data": ev})
                elif code == "T":
                    on_t(ev)
                elif code == "Q":
                    on_q(ev)
                else:
                    on_am(ev)
            except Exception:  # a hook (possibly user code) failed: log, keep the feed going
                self.stats["hook_errors"] += 1
                if self.ratelog("hook_error", f"error processing {code} {ev.get('timestamp')}", level=logging.ERROR,
                                now=now):
                    logger.exception("event hook failed")
        n = stop - start
        self.stats["events"] += n
        self._rate_window.append((now, n))
        if len(self._rate_window) > 4096:
            del self._rate_window[:2048]
        self.last_data_at = now

    def extra_event(self, d: dict) -> None:
        """A ``luld`` / ``second_aggregate`` dict to its own signal, never the minute bars; others ignored."""
        if d.get("event_type") == "luld":
            self.stats["luld"] += 1
            self.emit.luld(d)
        elif d.get("event_type") == "second_aggregate":
            self.stats["second_aggregates"] += 1
            self.pipe.second_aggregate(d)
            self.emit.second(d)

    def apply_snapshot(self, snap: Any) -> None:
        """The feed's snapshot (a ``messages.SnapshotReply``, or its map)."""
        if not isinstance(snap, dict):
            snap = wire.as_dict(snap)
        self.backlog.clear()  # queued events are older than the snapshot (their seq <= its seq)
        self.backlog_pos = 0
        if self.pipe.load_snapshot(snap):
            self.last_data_at = self.clock()
        if self.state.bad_bars:
            self.bad_message(f"snapshot with {self.state.bad_bars} malformed bar(s), skipped", self.clock())
        self.display_tick()

    # ------------------------------------------------------------ liveness and diagnosis

    def link_changed(self) -> None:
        link = self.link
        if link.alive != self._was_alive:
            self._was_alive = link.alive
            if link.alive:
                logger.info("feed reachable at %s (pid %s, epoch %s)", self.address, link.pid, link.epoch)
            else:
                msg = f"Feed process gone: no heartbeat for {FEED_GONE_S:g} s; reconnecting"
                logger.warning(msg)
                self.emit.error(msg)
        up = link.upstream or {}
        state = up.get("state")
        if link.alive and state != self._last_upstream_state:
            self._last_upstream_state = state
            if state == "stopped":
                msg = "Feed is shutting down"
                logger.warning(msg)
                self.emit.error(msg)
            elif state in UPSTREAM_BAD_STATES:
                msg = f"Upstream {state}: {up.get('message') or UPSTREAM_BAD_STATES[state]}"
                logger.warning(msg)
                self.emit.error(msg)
            else:
                logger.info("upstream %s (%s)", state, up.get("source"))
        self.set_connected(link.connected)

    def set_connected(self, c: bool) -> None:
        if c != self.connected:
            self.connected = c
            self.emit.connection(c)

    def market_state(self) -> str:
        """Live and delayed data: the wall clock. Replayed and simulated data: the data's own clock
        (its latest event), unless the simulator says it follows the wall clock or no event came yet."""
        up = self.link.upstream or {}
        source = self.link.source or up.get("source")
        last = self.state.last_event_ms
        if source in DATA_CLOCK_SOURCES and last and up.get("session") != "wall":
            return market_state_at(last)
        return market_state_at(int(self.wall() * 1000))

    def display_tick(self) -> None:
        self.pipe.display_tick(self.market_state)

    def check_data_flow(self) -> str:
        now = self.clock()
        self.pipe.dirty_ticker = True  # market_state follows the clock even without events
        since = self.last_data_at if self.last_data_at is not None else self.connected_at
        age = now - since
        if age < self.no_data_threshold:
            if self.flow_warning is not None:
                logger.info("data flowing again for %s", self.symbol)
            self.flow_warning = None
            return "ok"
        reason = self.diagnose()
        if reason != self.flow_warning:
            self.flow_warning = reason
            msg = f"No data for {self.symbol} for {age:.0f} s: {reason}"
            logger.warning(msg)
            self.emit.error(msg)
        return reason

    def diagnose(self) -> str:
        link = self.link
        if not link.alive:
            return "feed process gone" if link.ever_alive else f"feed not reachable at {self.address}"
        up = link.upstream or {}
        state = up.get("state")
        if state != "connected":
            detail = up.get("message") or UPSTREAM_BAD_STATES.get(state or "", "")
            return f"upstream down ({state}{': ' + detail if detail else ''})"
        return f"market closed or quiet (market {self.market_state()})"

    def info(self) -> dict[str, Any]:
        now = self.clock()
        link = self.link
        up = link.upstream or {}
        self._rate_window = [(t, n) for t, n in self._rate_window if now - t <= 5.0]
        rate = sum(n for _, n in self._rate_window) / 5.0 if self._rate_window else 0.0
        return {
            "feed": self.address, "data": link.data_endpoint, "pid": link.pid, "epoch": link.epoch,
            "feed_alive": link.alive, "connected": self.connected, "upstream_state": up.get("state"),
            "upstream_message": up.get("message"), "upstream_url": up.get("url"),
            "source": link.source or up.get("source"), "attempts": up.get("attempts"), "symbol": self.symbol,
            "synced": link.synced,
            "last_event_age_s": None if self.last_data_at is None else now - self.last_data_at,
            "feed_heartbeat_age_s": link.age(now), "messages_per_s": rate, "events": self.stats["events"],
            "bars": len(self.state.bars), "backfill_state": (link.backfill or {}).get("state"),
            "backfill_message": (link.backfill or {}).get("message"),
            "backfill_ahead": (link.backfill or {}).get("ahead"), "resnapshots": link.counters["resnapshots"],
            "gaps": link.counters["gaps"], "bad_messages": self.stats["bad_messages"] + link.counters["bad_messages"],
            "data_flow": self.flow_warning or "ok", "market_state": self.market_state(),
            "session": up.get("session"), "upstream": dict(up),
        }
