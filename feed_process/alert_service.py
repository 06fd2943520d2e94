"""The feed's alerts: the book and the engine wired to the symbols' states, the control requests, ``alert|``.

Why apart from ``feed.py``: the feed only calls three things - ``start``
(pin the alerts' symbols upstream), ``on_state`` (a symbol's state was
created: watch it if an alert needs it) and ``handle`` (a control request).
Everything an alert does happens here, on the feed's loop, between frames:

* a symbol with an armed alert is subscribed upstream without any window
  (``UpstreamUnion.pin``) and its state calls the engine after each folded
  batch (``FeedSymbol.watch``); other symbols pay nothing;
* what fired is written to the book (the file) *first*, then published on
  ``alert|`` (``{type: alert, entry}``) and logged - a SIGKILL between the two
  loses the publication, never the entry (a window gets it from the log);
* control requests ``{type: alert, id, op, ...}`` (docs/PROTOCOL.md):
  ``add`` (symbol, kind, value?, hysteresis?, rearm_minutes?, note?), ``edit``
  (id + fields), ``arm`` / ``disarm`` (id), ``rm`` (id), ``list``, ``log``
  (alerts + the log of fired alerts, ``since``: entries after that id),
  ``ack`` (upto: the entries a window showed), ``signal`` (symbol, signal: a
  window's entry/exit signal for the ``signal`` alerts). Bad input -> an
  ``error`` reply with a one-line message (code ``bad_alert``).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from shared.models import messages as m
from shared.models import wire

from .alert_book import AlertBook, AlertError
from .alerts import AlertEngine
from .state import FeedSymbol

if TYPE_CHECKING:
    from .feed import Feed

log = logging.getLogger(__name__)


class AlertService:
    def __init__(self, feed: "Feed", path: str | None = None) -> None:
        self.feed = feed
        self.book = AlertBook(path or None, wall_ms=feed.wall_ms)
        self.engine = AlertEngine()
        self._armed: dict[str, list[dict]] = {}
        self._index()

    def _index(self) -> None:
        self._armed = {}
        for a in self.book.alerts.values():
            if a["armed"] and a["kind"] != "signal":
                self._armed.setdefault(a["symbol"], []).append(a)

    def start(self) -> None:
        self._refresh()
        if self.book.alerts:
            log.info("alerts: %d in %s (%d armed)", len(self.book.alerts), self.book.path,
                     sum(len(v) for v in self._armed.values()))

    def on_state(self, st: FeedSymbol) -> None:
        if st.symbol in self._armed:
            self.engine.attach(st)
            st.watch(self._on_batch)

    def _refresh(self) -> None:
        """After any change of the book: who is watched, what is pinned upstream."""
        self._index()
        for sym, st in self.feed.states.items():
            if sym in self._armed and st.watcher is None:
                self.on_state(st)
            elif sym not in self._armed and st.watcher is not None:
                st.watch(None)
                self.engine.detach(sym)
        self.feed.union.pin(set(self._armed))

    # ------------------------------------------------------------ firing
    def _on_batch(self, st: FeedSymbol, lst: list) -> None:
        alerts = self._armed.get(st.symbol)
        if not alerts:
            return
        fired = self.engine.check(st, lst, alerts)
        if fired or self.engine.changed:
            self.engine.changed = False
            self._publish(self.book.fired(fired))

    def _publish(self, entries: list[dict]) -> None:
        for e in entries:
            log.warning("ALERT %s", e["message"])
            self.feed.publisher.publish(wire.ALERT_TOPIC, m.AlertFired(v=1, entry=e))
        if entries:
            self.feed.counters["alerts_fired"] += len(entries)

    # ------------------------------------------------------------ control
    def handle(self, req: m.AlertReq, rid: Any) -> m.AlertReply | m.ErrorReply:
        op = req.op
        try:
            reply = self._op(op, req)
        except AlertError as e:
            self.feed.counters["bad_request"] += 1
            return wire.error_reply(rid, str(e)[:200], "bad_alert")
        return m.AlertReply(v=1, id=rid, op=op, **reply)

    def _op(self, op: Any, req: m.AlertReq) -> dict:
        b = self.book
        # What the request set (None: not given); the book checks the values.
        given = {k: getattr(req, k) for k in m.ALERT_FIELDS if getattr(req, k) is not None}
        if op == "add":
            a = b.add({"symbol": req.symbol, "kind": req.kind, **given})
            self._refresh()
            return {"alert": a}
        if op in ("edit", "arm", "disarm"):
            changes = given if op == "edit" else {"armed": op == "arm"}
            a = b.edit(req.alert, changes)
            self._refresh()
            return {"alert": a}
        if op == "rm":
            a = b.remove(req.alert)
            self._refresh()
            return {"alert": a}
        if op == "list":
            return {"alerts": list(b.alerts.values())}
        if op == "log":
            since = req.since
            since = since if isinstance(since, int) and not isinstance(since, bool) else 0
            return {"alerts": list(b.alerts.values()), "log": [e for e in b.log if e["id"] > since]}
        if op == "ack":
            return {"acked": b.ack(req.upto)}
        if op == "signal":
            return {"fired": self._signal(req)}
        raise AlertError(f"unknown alert op {str(op)[:16]!r} (add, edit, arm, disarm, rm, list, log, ack, signal)")

    def _signal(self, req: m.AlertReq) -> int:
        sig = req.signal
        if not isinstance(sig, dict):
            raise AlertError("signal needs a 'signal' map")
        sym = req.symbol
        fired = []
        for a in self.book.alerts.values():
            if a["kind"] == "signal" and a["armed"] and a["symbol"] == sym:
                info = self.engine.signal(a, sig)
                if info is not None:
                    fired.append((a, info))
        if fired:
            self._publish(self.book.fired(fired))
        return len(fired)
