"""The two upstream protocols the simulator speaks, as sans-I/O sessions.

Why sans-I/O: the protocol rules (auth before subscribe, one status per topic,
wildcards, what an error looks like) are what the feed's adapters depend on,
so they are tested here message-in / messages-out, with no socket. The server
(:mod:`.server`) only moves text between these objects and aiohttp.

* :class:`PolygonSession` - Polygon/Massive ``/stocks``: status events in JSON
  arrays, ``auth`` then ``subscribe``/``unsubscribe`` with ``params`` like
  ``"T.AAPL,Q.AAPL,AM.AAPL"`` or ``"T.*"``.
* :class:`RelaySession` - the seed's relay ``/ws/{client_id}``: ``connected``,
  ``subscribe`` with ``symbols``/``channels`` -> ``subscribed``, ``ping`` ->
  ``pong``, ``error`` for anything bad.

Both keep a :class:`Subscriptions` (channel x symbol, plus wildcard channels)
that the server filters events with.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from shared.models.market_data import valid_symbol

CHANNELS = ("T", "Q", "A", "AM")
RELAY_DEFAULT_CHANNELS = ["T", "Q", "AM"]


@dataclass
class Subscriptions:
    """What one connection wants: (channel, symbol) pairs and wildcard channels."""

    pairs: set[tuple[str, str]] = field(default_factory=set)
    wildcard: set[str] = field(default_factory=set)

    def wants(self, ev: str, sym: str) -> bool:
        return ev in self.wildcard or (ev, sym) in self.pairs

    def symbols(self) -> set[str]:
        return {s for _, s in self.pairs}

    def topics(self) -> list[str]:
        return sorted([f"{c}.{s}" for c, s in self.pairs] + [f"{c}.*" for c in self.wildcard])

    def __bool__(self) -> bool:
        return bool(self.pairs or self.wildcard)


def _loads(text: str | bytes) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return _BAD_JSON


_BAD_JSON = object()


def _status(status: str, message: str, **extra) -> dict:
    return {"ev": "status", "status": status, "message": message, **extra}


class PolygonSession:
    """Polygon/Massive stocks protocol; replies are lists of status dicts (one frame)."""

    def __init__(self, source: str, key: str | None = None, over_limit: bool = False):
        self.source = source
        self.key = key
        self.over_limit = over_limit  # too many connections: the auth is answered with max_connections
        self.authed = False
        self.subs = Subscriptions()
        self.closing: tuple[int, str] | None = None  # (code, reason) when the server must close

    def greeting(self) -> list[dict]:
        return [_status("connected", "Connected Successfully", source=self.source)]

    def handle(self, text: str | bytes) -> list[dict]:
        msg = _loads(text)
        if msg is _BAD_JSON or not isinstance(msg, dict):
            return [_status("error", "invalid message: expected a JSON object with an action")]
        action = msg.get("action")
        params = msg.get("params")
        if action == "auth":
            if self.key is not None and params != self.key:
                self.closing = (1008, "authentication failed")
                return [_status("auth_failed", "authentication failed")]
            if self.over_limit:  # as Polygon: connected, then max_connections in answer to auth, then close
                self.closing = (1008, "max_connections")
                return [_status("max_connections", "Maximum number of websocket connections exceeded. "
                                "You have reached the connection limit for your account.")]
            self.authed = True
            return [_status("auth_success", "authenticated")]
        if action in ("subscribe", "unsubscribe"):
            if not self.authed:
                return [_status("error", "not authorized: send auth first")]
            if not isinstance(params, str) or not params.strip():
                return [_status("error", f"{action}: params must be a string like 'T.AAPL,Q.AAPL'")]
            return [self._topic(action, t.strip()) for t in params.split(",") if t.strip()]
        return [_status("error", f"unknown action: {action!r}")]

    def _topic(self, action: str, topic: str) -> dict:
        ch, _, sym = topic.partition(".")
        sym = sym.upper()
        if ch not in CHANNELS or not (sym == "*" or valid_symbol(sym)):
            return _status("error", f"invalid subscription: {topic}")
        if action == "subscribe":
            if sym == "*":
                self.subs.wildcard.add(ch)
            else:
                self.subs.pairs.add((ch, sym))
            return _status("success", f"subscribed to: {ch}.{sym}")
        if sym == "*":
            self.subs.wildcard.discard(ch)
        else:
            self.subs.pairs.discard((ch, sym))
        return _status("success", f"unsubscribed to: {ch}.{sym}")


class RelaySession:
    """The seed relay's protocol; replies are dicts, one message each."""

    def __init__(self, client_id: str, source: str):
        self.client_id = client_id
        self.source = source
        self.subs = Subscriptions()

    def greeting(self) -> dict:
        return {"type": "connected", "client_id": self.client_id, "source": self.source}

    def handle(self, text: str | bytes) -> list[dict]:
        msg = _loads(text)
        if msg is _BAD_JSON:
            return [{"type": "error", "message": "invalid JSON"}]
        if not isinstance(msg, dict):
            return [{"type": "error", "message": "expected a JSON object with an action"}]
        action = msg.get("action")
        if action == "ping":
            return [{"type": "pong"}]
        if action in ("subscribe", "unsubscribe"):
            symbols = msg.get("symbols")
            channels = msg.get("channels") or RELAY_DEFAULT_CHANNELS
            if isinstance(symbols, str):
                symbols = [symbols]
            if not isinstance(symbols, list) or not symbols or not isinstance(channels, list):
                return [{"type": "error", "message": f"{action}: 'symbols' must be a non-empty list"}]
            syms = [s.strip().upper() for s in symbols if isinstance(s, str)]
            bad = [s for s in syms if not valid_symbol(s)] + [repr(s) for s in symbols if not isinstance(s, str)]
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
        return [{"type": "error", "message": f"unknown action: {action!r}"}]
