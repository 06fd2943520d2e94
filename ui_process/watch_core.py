"""The manager's many-symbol side: watchlist summaries and alerts, beside the one-symbol core (Qt-free).

Why a subclass of :class:`ManagerCore` and not a second connection: a
watchlist row costs one ``sum|SYM|`` subscription on the window's own SUB
socket (the feed subscribes the symbol upstream once, shared with every other
window and list) and no trade stream; alerts are ``alert|`` on the same socket
and ``{type: alert}`` requests on the same DEALER. The one-symbol protocol
(:class:`ui_process.feed_link.FeedLink`) never sees these messages: ``sum|``
and ``alert|`` frames and replies to this side's requests (string ids
``w<n>``) are taken off before it.

When the link (re)connects to a feed - the first hello, a new epoch after a
feed restart - this side subscribes again, asks for the current summaries of
the watched symbols and for the alert log, so what fired while no window was
connected is shown now; the entries it has handed to the app are acknowledged
(``op: ack``) so the next window does not notify them again.
"""

from __future__ import annotations

import logging
from collections import deque
from typing import Any, Callable

from shared.models import messages as m
from shared.models import wire
from shared.models.market_data import normalize_symbol

from .manager_core import ManagerCore

logger = logging.getLogger("live_monitor.data.polygon_data_manager")

MAX_WATCHED = 500
# Fired-alert ids remembered to drop the log's replays (on every (re)connect): twice the feed's log
# (``feed_process.alert_book.LOG_LIMIT``, 500 entries), so a replay never holds an id forgotten here;
# a set of every id ever seen would grow for as long as the window is open.
LOG_IDS_KEEP = 1000


class WatchCore(ManagerCore):
    def __init__(self, *a: Any, on_summary: Callable[[dict], None], on_alert: Callable[[dict], None],
                 on_alerts: Callable[[dict], None], **kw: Any) -> None:
        super().__init__(*a, **kw)
        self.on_summary, self.on_alert, self.on_alerts = on_summary, on_alert, on_alerts
        self.watched: list[str] = []
        self.summaries: dict[str, dict] = {}
        self.alerts: list[dict] = []
        self.log_ids: set[int] = set()
        self._log_order: deque[int] = deque()  # log_ids in arrival order, the oldest forgotten first
        self._wid = 0
        self._ops: dict[str, str] = {}
        self._epoch_seen: int | None = None
        self.alert_stats = {"summaries": 0, "alerts": 0}

    # ------------------------------------------------------------ requests
    def request(self, msg: dict) -> str:
        """Send a request map (built by ``wire.alert_request`` / ``wire.summary_request``) under this side's id."""
        self._wid += 1
        rid = f"w{self._wid}"
        self._ops[rid] = msg.get("op", msg["type"])
        if len(self._ops) > 1000:
            self._ops.pop(next(iter(self._ops)))
        self.run([("send", {**msg, "id": rid})])
        return rid

    def alert_op(self, op: str, **kw: Any) -> str:
        try:
            msg = wire.alert_request(op, **kw)
        except TypeError as e:  # a field the request does not declare: a caller's bug, not the window's end
            logger.error("alert %s not sent: %s", op, e)
            self.emit.error(f"Alert {op}: not sent ({e})")
            return ""
        return self.request(msg)

    def _resume(self) -> None:
        """Subscriptions, current summaries, the alert log: at start and whenever a (new) feed answers."""
        # (the SUB keeps its subscriptions across endpoints and feed restarts: subscribing again would double them)
        if self.watched:
            self.request(wire.summary_request(list(self.watched)))
        self.alert_op("log")

    # ------------------------------------------------------------ lifecycle
    def start(self) -> bool:
        touched = super().start()
        self._epoch_seen = None
        self.io.subscribe(wire.ALERT_TOPIC)
        for s in self.watched:
            self.io.subscribe(wire.summary_topic(s))
        return touched

    def link_changed(self) -> None:
        super().link_changed()
        link = self.link
        if link.alive and link.epoch is not None and link.epoch != self._epoch_seen:
            self._epoch_seen = link.epoch
            self._resume()

    def watch(self, symbols: list[str]) -> list[str]:
        """Watch exactly ``symbols`` (order kept, duplicates and bad names dropped); returns the list."""
        want: list[str] = []
        for s in symbols:
            try:
                sym = normalize_symbol(s)
            except (ValueError, TypeError, AttributeError):
                continue
            if sym not in want:
                want.append(sym)
        want = want[:MAX_WATCHED]
        old = set(self.watched)
        added = [s for s in want if s not in old]
        for s in old - set(want):
            self.io.unsubscribe(wire.summary_topic(s))
            self.summaries.pop(s, None)
        for s in added:
            self.io.subscribe(wire.summary_topic(s))
        self.watched = want
        if added and self.link.alive:
            self.request(wire.summary_request(added))
        return want

    # ------------------------------------------------------------ messages
    def on_data(self, frames: list[bytes], now: float) -> bool:
        topic = frames[0] if frames else b""
        if len(frames) == 2 and (topic.startswith(wire.SUM_PREFIX) or topic == wire.ALERT_TOPIC):
            try:
                msg = wire.decode_data(frames[1])  # typed: a Summary or an AlertFired, checked here
            except wire.WireError as e:
                self.bad_message(f"bad watch message: {e}", now)
                return False
            if self.link.alive:
                self.link.last_feed_at = now
            if isinstance(msg, m.Summary):
                self._summary(wire.as_dict(msg))
            elif isinstance(msg, m.AlertFired):
                self._entries([msg.entry], live=True)
            return False
        return super().on_data(frames, now)

    def on_control(self, raw: bytes, now: float) -> bool:
        try:
            msg = wire.decode_reply(raw)
        except wire.WireError:
            return super().on_control(raw, now)
        rid = wire.reply_id(msg)
        if not (isinstance(rid, str) and rid in self._ops):
            return super().on_control(raw, now)
        op = self._ops.pop(rid)
        if isinstance(msg, m.ErrorReply):
            self.emit.error(f"Alert {op}: {msg.message}")
        elif isinstance(msg, m.SummaryReply):
            for body in msg.summaries.values():
                if body is not None:
                    self._summary(wire.as_dict(body))
        elif isinstance(msg, m.AlertReply):
            if msg.alerts is not None:
                self.alerts = msg.alerts
            if msg.log is not None:
                self._entries(msg.log, live=False)
            if op in ("add", "edit", "arm", "disarm", "rm"):
                self.alert_op("list")
            elif op in ("list", "log"):
                self.on_alerts({"alerts": list(self.alerts)})
        return False

    def _summary(self, body: dict) -> None:
        sym = body.get("sym")
        if sym not in self.watched:
            return  # a row removed a moment ago
        self.summaries[sym] = body
        self.alert_stats["summaries"] += 1
        self.on_summary(body)

    def _remember(self, log_id: int) -> None:
        self.log_ids.add(log_id)
        self._log_order.append(log_id)
        while len(self._log_order) > LOG_IDS_KEEP:
            self.log_ids.discard(self._log_order.popleft())

    def _entries(self, entries: list[dict], live: bool) -> None:
        new = []
        for e in entries:
            if isinstance(e.get("id"), int) and e["id"] not in self.log_ids:
                self._remember(e["id"])  # at once: an id twice in one list is shown once
                new.append(e)
        if not new:
            return
        for e in new:
            self.alert_stats["alerts"] += 1
            self.on_alert(dict(e, live=live, notify=live or not e.get("delivered")))
        self.alert_op("ack", upto=max(e["id"] for e in new))
