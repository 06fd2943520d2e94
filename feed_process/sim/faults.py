"""Fault injection: what goes wrong, decided per frame, without I/O.

Why: the feed's reconnect, stall and bad-input handling can only be trusted
if a real server really drops, stalls, garbles and refuses. Faults come from
flags at start (``--drop-after`` ...) or ``POST /sim/fault`` at run time and
apply to current and future connections. Each fault counts events per
connection from the moment that connection first meets it, and may be limited
to the first ``times`` connections it hits (``times: 1`` = one drop, then the
reconnect stays up).

Kinds and parameters (JSON body of ``POST /sim/fault``, all optional but noted):

* ``drop``: ``after`` N events, or ``every`` T seconds -> the TCP connection is
  aborted without a close frame (a network drop).
* ``close_1011``: ``after`` N events -> close with code 1011 (server error).
* ``stall``: ``after`` N events (default 0) -> the socket stays open, nothing
  more is sent (no data, no replies).
* ``malformed``: ``every`` N WebSocket messages (default 10; a Polygon frame or
  one relay ``market_data`` message) -> an extra garbage message is sent before
  the N-th (real ones are never replaced, nothing is lost). The garbage cycles
  through truncated JSON, valid JSON with bad fields, and not JSON.
* ``max_connections``: ``limit`` N -> beyond N open connections on a path the
  server answers ``max_connections`` and closes (Polygon's status; the relay
  gets an ``error``).
* ``clear``: remove all faults.

``path`` (``"relay"`` | ``"polygon"``) restricts a fault to one protocol.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

KINDS = ("drop", "stall", "malformed", "max_connections", "close_1011")

SEND, STALL, DROP, CLOSE_1011 = "send", "stall", "drop", "close_1011"

_ids = itertools.count(1)

# Garbage of three kinds, per protocol: truncated JSON, valid JSON with one bad field (a text price), not JSON.
# Each holds exactly one bad thing, so a consumer's error counters can be checked against malformed_sent.
MALFORMED = {
    "polygon": (b'[{"ev":"T","sym":"', b'[{"ev":"T","sym":"AAPL","p":"x","s":100,"t":1751029504042}]',
                b"\x00not json at all"),
    "relay": (b'{"type":"market_data","data":{"ev":"T"',
              b'{"type":"market_data","data":{"ev":"T","sym":"AAPL","p":"x","s":100,"t":1751029504042}}',
              b"\x00not json at all"),
}


@dataclass
class Fault:
    kind: str
    after: int | None = None
    every: float | None = None
    limit: int | None = None
    times: int | None = None
    path: str | None = None
    set_at: float = 0.0
    id: int = field(default_factory=lambda: next(_ids))

    def as_dict(self) -> dict:
        return {k: v for k, v in (("kind", self.kind), ("after", self.after), ("every", self.every),
                                  ("limit", self.limit), ("times", self.times), ("path", self.path))
                if v is not None}


def _num(spec: dict, name: str, typ, minimum) -> Any:
    v = spec.get(name)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float)) or v < minimum or (typ is int and v != int(v)):
        raise ValueError(f"'{name}' must be a number >= {minimum}")
    return typ(v)


def parse_fault(spec: Any, now: float) -> Fault | None:
    """A validated :class:`Fault` from a JSON body; ``None`` for ``clear``. Raises ValueError."""
    if not isinstance(spec, dict):
        raise ValueError("expected a JSON object with 'kind'")
    kind = spec.get("kind")
    if kind == "clear":
        return None
    if kind not in KINDS:
        raise ValueError(f"unknown fault kind {kind!r} (one of {', '.join(KINDS)}, clear)")
    path = spec.get("path")
    if path not in (None, "relay", "polygon"):
        raise ValueError("'path' must be 'relay' or 'polygon'")
    f = Fault(kind, after=_num(spec, "after", int, 0), every=_num(spec, "every", float, 0.001),
              limit=_num(spec, "limit", int, 0), times=_num(spec, "times", int, 1), path=path, set_at=now)
    if kind == "malformed":
        f.every = f.every or 10
        if f.every != int(f.every):
            raise ValueError("'every' (frames) must be a whole number")
    if kind == "drop" and f.after is None and f.every is None:
        raise ValueError("drop needs 'after' (events) or 'every' (seconds)")
    if kind == "close_1011" and f.after is None:
        f.after = 0
    if kind == "stall" and f.after is None:
        f.after = 0
    if kind == "max_connections" and f.limit is None:
        raise ValueError("max_connections needs 'limit'")
    return f


@dataclass
class ConnFaults:
    """One connection's counters, as the fault rules see them."""

    path: str
    started: float
    events: int = 0
    frames: int = 0
    base: dict[int, int] = field(default_factory=dict)
    hit: set[int] = field(default_factory=set)
    malformed_sent: int = 0


class FaultState:
    """The active faults (at most one per kind); shared by all connections."""

    def __init__(self) -> None:
        self.faults: dict[str, Fault] = {}

    def set(self, f: Fault | None) -> None:
        if f is None:
            self.faults.clear()
        else:
            self.faults[f.kind] = f

    def as_list(self) -> list[dict]:
        return [f.as_dict() for f in self.faults.values()]

    def _applies(self, f: Fault, c: ConnFaults) -> bool:
        return f.path is None or f.path == c.path

    def _take(self, f: Fault, c: ConnFaults) -> bool:
        """Count a hit on a new connection; once its ``times`` are used, new connections are spared
        (connections already hit keep it: a stalled socket stays stalled until ``clear``)."""
        if f.id in c.hit:
            return True
        if f.times is not None:
            if f.times <= 0:
                return False
            f.times -= 1
        c.hit.add(f.id)
        return True

    def max_connections(self, path: str) -> int | None:
        f = self.faults.get("max_connections")
        return f.limit if f is not None and (f.path is None or f.path == path) else None

    def stalled(self, c: ConnFaults) -> bool:
        f = self.faults.get("stall")
        if f is None or not self._applies(f, c):
            return False
        base = c.base.setdefault(f.id, c.events)
        return c.events - base >= (f.after or 0) and self._take(f, c)

    def on_time(self, c: ConnFaults, now: float) -> str:
        """Time-driven faults (checked even when nothing is sent): DROP or SEND."""
        f = self.faults.get("drop")
        if f is not None and f.every is not None and self._applies(f, c):
            if now - max(c.started, f.set_at) >= f.every and self._take(f, c):
                return DROP
        return SEND

    def before_send(self, c: ConnFaults, now: float) -> str:
        """The fate of the next data send (a frame, or a batch of relay messages): SEND, STALL, DROP, CLOSE_1011."""
        if self.stalled(c):
            return STALL
        for kind, action in (("drop", DROP), ("close_1011", CLOSE_1011)):
            f = self.faults.get(kind)
            if f is not None and f.after is not None and self._applies(f, c):
                base = c.base.setdefault(f.id, c.events)
                if c.events - base >= f.after and self._take(f, c):
                    return action
        return self.on_time(c, now)

    def malformed(self, c: ConnFaults) -> bytes | None:
        """Garbage to send before the next WebSocket message, or None; call once per data message."""
        f = self.faults.get("malformed")
        if f is None or not self._applies(f, c):
            return None
        base = c.base.setdefault(f.id, c.frames)
        if (c.frames - base + 1) % int(f.every or 10):
            return None
        kinds = MALFORMED[c.path]
        c.malformed_sent += 1
        return kinds[(c.malformed_sent - 1) % len(kinds)]
