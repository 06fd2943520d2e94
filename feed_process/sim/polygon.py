"""Polygon/Massive ``/stocks`` protocol of the simulator, sans-I/O.

Why its own module: it is the protocol the official client and the feed's
Polygon adapter speak, so its rules are kept exactly and tested without a
socket (see :mod:`.sessions` for the shared parts). Status events travel in
JSON arrays; ``auth`` comes first, then ``subscribe``/``unsubscribe`` with
``params`` like ``"T.AAPL,Q.AAPL,AM.AAPL"`` or ``"T.*"`` (one ``success``
status per topic); data frames are JSON arrays of up to 1000 events (``--frame-events``).

The first status carries ``"source"`` (simulated | replay) and ``"session"``
(wall | virtual) - the feed copies both into its upstream status.
"""

from __future__ import annotations

from .sessions import BAD_JSON, CHANNELS, FRAME_EVENTS, Payload, Reply, Subscriptions, dumps, loads, ticker

MAX_CONNECTIONS = ("Maximum number of websocket connections exceeded. "
                   "You have reached the connection limit for your account.")


def _status(status: str, message: str, **extra) -> dict:
    return {"ev": "status", "status": status, "message": message, **extra}


class PolygonSession:
    """One ``/stocks`` connection's protocol state."""

    kind = "polygon"
    prejoined = True

    def __init__(self, source: str, session: str | None = None, key: str | None = None, over_limit: bool = False,
                 frame_events: int = FRAME_EVENTS):
        self.source = source
        self.frame_events = frame_events  # events per data frame (the sim's --frame-events)
        self.session = session
        self.key = key
        self.over_limit = over_limit  # too many connections: the auth is answered with max_connections
        self.authed = False
        self.subs = Subscriptions()

    def greeting(self) -> list[bytes]:
        return [dumps([_status("connected", "Connected Successfully", source=self.source, session=self.session)])]

    def handle(self, text: str | bytes) -> Reply:
        statuses, close = self._answer(loads(text))
        err = next((s["message"] for s in statuses if s["status"] in ("error", "auth_failed")), None)
        return Reply([dumps(statuses)] if statuses else [], err, close)

    def _answer(self, msg) -> tuple[list[dict], tuple[int, str] | None]:
        if msg is BAD_JSON or not isinstance(msg, dict):
            return [_status("error", "invalid message: expected a JSON object with an action")], None
        action = msg.get("action")
        params = msg.get("params")
        if action == "auth":
            if self.key is not None and params != self.key:
                return [_status("auth_failed", "authentication failed")], (1008, "authentication failed")
            if self.over_limit:  # as Polygon: connected, then max_connections in answer to auth, then close
                return [_status("max_connections", MAX_CONNECTIONS)], (1008, "max_connections")
            self.authed = True
            return [_status("auth_success", "authenticated")], None
        if action in ("subscribe", "unsubscribe"):
            if not self.authed:
                return [_status("error", "not authorized: send auth first")], None
            if not isinstance(params, str) or not params.strip():
                return [_status("error", f"{action}: params must be a string like 'T.AAPL,Q.AAPL'")], None
            return [self._topic(action, t.strip()) for t in params.split(",") if t.strip()], None
        return [_status("error", f"unknown action: {action!r}")], None

    def _topic(self, action: str, topic: str) -> dict:
        ch, _, raw = topic.partition(".")
        sym = "*" if raw == "*" else ticker(raw)
        if ch not in CHANNELS or sym is None:
            return _status("error", f"invalid subscription: {topic}")
        target = self.subs.wildcard if sym == "*" else self.subs.pairs
        item = ch if sym == "*" else (ch, sym)
        if action == "subscribe":
            target.add(item)  # type: ignore[arg-type]
            return _status("success", f"subscribed to: {ch}.{sym}")
        target.discard(item)  # type: ignore[arg-type]
        return _status("success", f"unsubscribed to: {ch}.{sym}")

    def frame(self, encoded: list[bytes]) -> list[tuple[Payload, int]]:
        """Data frames: JSON arrays of at most ``frame_events`` events."""
        out: list[tuple[Payload, int]] = []
        n = self.frame_events
        for i in range(0, len(encoded), n):
            part = encoded[i:i + n]
            out.append((b"[" + b",".join(part) + b"]", len(part)))
        return out

    def slow_consumer(self) -> list[bytes]:
        return [dumps([_status("slow_consumer", "client is too slow: disconnecting")])]
