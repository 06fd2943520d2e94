"""What both simulator protocols share: subscriptions, replies, data framing rules.

Why sans-I/O: the protocol rules (auth before subscribe, one status per topic,
wildcards, what an error looks like, how events are framed) are what the
feed's adapters depend on, so they are tested message-in / bytes-out with no
socket. Each session object (:mod:`.polygon`, :mod:`.relay`) answers a client
message with a :class:`Reply` (the encoded messages to send, whether the
message was bad, whether to close) and frames data events for its protocol
(:meth:`frame`); the server (:mod:`.server`) only moves those bytes between
the sessions and aiohttp.

Events arrive here already encoded (one JSON object each, encoded once per
event and shared by every connection); framing only joins bytes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson

from shared.models.market_data import normalize_symbol

# Channels a client may subscribe; the synthetic tape generates the first four,
# LULD / NOI reach subscribers through ``POST /sim/inject`` (and replay files).
CHANNELS = ("T", "Q", "A", "AM", "LULD", "NOI")
GENERATED = frozenset(("T", "Q", "A", "AM"))
# Events per Polygon frame by default (the most the real service batches). ``--frame-events N``
# (SimConfig.frame_events) sets it per launch: real frames for a few symbols carry 1-20 events,
# so the benchmarks measure 5, 50 and 1000 (per-frame cost is what a small frame pays).
FRAME_EVENTS = 1000

Payload = bytes | list[bytes]  # one WebSocket message, or several sent back to back (relay)


@dataclass
class Subscriptions:
    """What one connection wants: (channel, symbol) pairs and wildcard channels."""

    pairs: set[tuple[str, str]] = field(default_factory=set)
    wildcard: set[str] = field(default_factory=set)

    def wants(self, ev: str, sym: str) -> bool:
        return ev in self.wildcard or (ev, sym) in self.pairs

    def symbols(self, channels: frozenset[str] | None = None) -> set[str]:
        return {s for c, s in self.pairs if channels is None or c in channels}

    def topics(self) -> list[str]:
        return sorted([f"{c}.{s}" for c, s in self.pairs] + [f"{c}.*" for c in self.wildcard])

    def __bool__(self) -> bool:
        return bool(self.pairs or self.wildcard)


@dataclass
class Reply:
    """The server's answer to one client message."""

    messages: list[bytes] = field(default_factory=list)  # WebSocket text messages, in order
    error: str | None = None  # the client's message was bad (counted, logged at most once a second)
    close: tuple[int, str] | None = None  # close the connection after sending (code, reason)


class Session(Protocol):
    """What the server needs of a protocol session."""

    kind: str  # "relay" | "polygon": the path, for faults and status
    subs: Subscriptions
    prejoined: bool  # a pre-joined Polygon frame (b"[e1,...]") may be sent as it is

    def greeting(self) -> list[bytes]: ...
    def handle(self, text: str | bytes) -> Reply: ...
    def frame(self, encoded: list[bytes]) -> list[tuple[Payload, int]]: ...
    def slow_consumer(self) -> list[bytes]: ...


def ticker(v: Any) -> str | None:
    """A client's ticker as the tape names it, or None: the project's one rule
    (``normalize_symbol``): all lower case is upper-cased (``aapl``), anything else is kept as
    typed when valid (the spec allows lowercase class letters such as ``BACpL``)."""
    try:
        return normalize_symbol(v)
    except ValueError:
        return None


def dumps(obj: Any) -> bytes:
    return orjson.dumps(obj)


BAD_JSON = object()


def loads(text: str | bytes) -> Any:
    """The client's message, or :data:`BAD_JSON`."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return BAD_JSON
