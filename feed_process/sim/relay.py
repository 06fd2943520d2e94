"""The seed relay's ``/ws/{client_id}`` protocol of the simulator, sans-I/O.

Why its own module: the relay is the protocol the seed's UI was written
against (and the feed's relay adapter still speaks), with its own shapes:
``connected`` on open, ``subscribe`` with ``symbols``/``channels`` (default
T, Q, AM) -> ``subscribed``, ``ping`` -> ``pong``, ``{"type": "error",
"message"}`` for anything bad, and one ``{"type": "market_data", "data":
{Polygon fields}}`` message per event. Shared parts live in :mod:`.sessions`.

``connected`` carries ``"source"`` (simulated | replay) and ``"session"``
(wall | virtual), as the feed expects (CONTRACTS "Simulator first message").
"""

from __future__ import annotations

from .sessions import BAD_JSON, CHANNELS, Payload, Reply, Subscriptions, dumps, loads, ticker

DEFAULT_CHANNELS = ["T", "Q", "AM"]


class RelaySession:
    """One relay connection's protocol state."""

    kind = "relay"
    prejoined = False

    def __init__(self, client_id: str, source: str, session: str | None = None):
        self.client_id = client_id
        self.source = source
        self.session = session
        self.subs = Subscriptions()

    def greeting(self) -> list[bytes]:
        return [dumps({"type": "connected", "client_id": self.client_id, "source": self.source,
                       "session": self.session})]

    def handle(self, text: str | bytes) -> Reply:
        answers = self._answer(loads(text))
        err = next((a["message"] for a in answers if a.get("type") == "error"), None)
        return Reply([dumps(a) for a in answers], err)

    def _answer(self, msg) -> list[dict]:
        if msg is BAD_JSON:
            return [{"type": "error", "message": "invalid JSON"}]
        if not isinstance(msg, dict):
            return [{"type": "error", "message": "expected a JSON object with an action"}]
        action = msg.get("action")
        if action == "ping":
            return [{"type": "pong"}]
        if action not in ("subscribe", "unsubscribe"):
            return [{"type": "error", "message": f"unknown action: {action!r}"}]
        symbols = msg.get("symbols")
        channels = msg.get("channels") or DEFAULT_CHANNELS
        if isinstance(symbols, str):
            symbols = [symbols]
        if not isinstance(symbols, list) or not symbols or not isinstance(channels, list):
            return [{"type": "error", "message": f"{action}: 'symbols' must be a non-empty list"}]
        syms = [t for t in (ticker(s) for s in symbols) if t is not None]
        bad = [repr(s) for s in symbols if ticker(s) is None]
        bad_ch = [c for c in channels if c not in CHANNELS]
        if bad or bad_ch:
            return [{"type": "error", "message": f"{action}: invalid symbols {bad} or channels {bad_ch}"}]
        for s in syms:
            for c in channels:
                if action == "subscribe":
                    self.subs.pairs.add((c, s))
                else:
                    self.subs.pairs.discard((c, s))
        return [{"type": "subscribed" if action == "subscribe" else "unsubscribed",
                 "symbols": syms, "channels": list(channels)}]

    def frame(self, encoded: list[bytes]) -> list[tuple[Payload, int]]:
        """One ``market_data`` message per event, queued together (one backlog slot per batch)."""
        return [([b'{"type":"market_data","data":' + e + b"}" for e in encoded], len(encoded))]

    def slow_consumer(self) -> list[bytes]:
        return []  # the relay has no such message: the close frame says it

    def refuse_busy(self) -> Reply:
        """Over the ``max_connections`` limit: an error, then close 1008."""
        return Reply([dumps({"type": "error", "message": "max_connections: too many connections"})],
                     "max_connections", (1008, "max_connections"))
