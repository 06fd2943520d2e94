"""The feed's ZeroMQ messages, declared once: msgspec Structs over msgpack (protocol v1).

Why it looks like this
----------------------
* **One declaration per message, one rule set.** The feed encodes these
  structs with ``msgspec.msgpack.Encoder`` and a subscriber decodes them with a
  typed ``msgspec.msgpack.Decoder``: type checks and bounds (finite prices in
  range, sizes in ``0..2**63-1``, ms timestamps in [1990, 2200), list lengths)
  happen in C while decoding, in one pass, with the constrained types of
  ``shared.models.events`` (the rules the feed applied to the upstream). A
  field is added in one place, here, and docs/PROTOCOL.md.
* **Events stay positional arrays.** ``array_like=True`` with ``tag="T"``
  etc. encodes ``TradeEv`` as ``["T", t, p, s, ...]``: the protocol's
  APPEND-ONLY arrays, byte for byte. msgspec ignores extra trailing elements
  (a newer feed's added fields) and fills missing trailing ones that have a
  default with it (None: an older feed's shorter array); the fields without a
  default are the ones every v1 feed sent.
* **Messages stay maps.** ``tag_field="type"`` puts the message type under
  ``"type"``; every declared key is sent (a ``sys|`` error and ``ok`` leave
  out what they do not carry, as before), so a subscriber that reads maps
  (``examples/subscriber.py``, msgpack-python) reads the same keys as before. ``v`` is required: a message without the
  protocol version, or with another one, is refused.
* The control requests and replies (two unions: what a feed accepts, what a
  client accepts) and their builders are in :mod:`.control_msgs`, built on
  ``Msg`` here; ``messages.HelloReq`` etc. resolve to them.

The feed builds the events themselves as lists: ``shared.models.arrays.build``
writes its arrays from these structs' ``__struct_fields__`` (the one layout; a
field added here with the upstream struct's name needs nothing there). A list
per event is what the feed's state folds, and the encoder writes a list and an
``array_like`` struct identically.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from msgspec import NODEFAULT, Meta, Struct, structs

from .types import MAX_MS, MIN_MS, Codes, Count, Level, Price, Text

MAX_ARRAY_LEN = 200_000        # events per batch, bars per snapshot list

Ms = Annotated[int, Meta(ge=MIN_MS, lt=MAX_MS)]              # epoch ms, as the feed sends every time
Sym = Annotated[str, Meta(min_length=1, max_length=32)]
Word = Annotated[str, Meta(max_length=64)]
Id = Union[int, str, None]                                   # a request id, echoed as sent


# ---------------------------------------------------------------- events (positional arrays)

class TradeEv(Struct, array_like=True, tag="T", gc=False):
    t: Ms
    p: Price
    s: Count
    x: Count | None                 # exchange id
    c: Codes                        # conditions
    i: Text | None = None           # trade id (text)
    z: Count | None = None          # tape
    q: Count | None = None          # sequence number
    trfi: Count | None = None
    trft: Ms | None = None


class QuoteEv(Struct, array_like=True, tag="Q", gc=False):
    t: Ms
    bp: Level
    bs: Count
    ap: Level
    as_: Count
    bx: Count | None
    ax: Count | None = None
    c: Count | None = None          # the one condition
    i: Codes | None = None          # indicators
    z: Count | None = None
    q: Count | None = None


class MinuteEv(Struct, array_like=True, tag="AM", gc=False):
    s: Ms                           # start
    o: Price
    h: Price
    l: Price  # noqa: E741 - the spec's name
    c: Price
    v: Count
    vw: Price | None
    n: Count | None                 # transactions (None for streamed bars)
    av: Count | None = None         # day volume
    op: Level | None = None         # official open
    a: Level | None = None          # day VWAP
    e: Ms | None = None             # end
    z: Count | None = None          # average trade size
    otc: bool | None = None


class SecondEv(MinuteEv, tag="A"):
    pass


class LuldEv(Struct, array_like=True, tag="LULD", gc=False):
    t: Ms
    h: Level                        # limit up
    l: Level  # noqa: E741 - limit down
    i: Codes | None = None
    z: Count | None = None
    q: Count | None = None


class ImbalanceEv(Struct, array_like=True, tag="NOI", gc=False):
    t: Ms
    a: Annotated[str, Meta(max_length=8)] | None = None  # auction type
    o: Annotated[int, Meta(ge=-(2**63 - 1), le=2**63 - 1)] | None = None  # imbalance quantity
    x: Count | None = None
    p: Count | None = None          # paired quantity
    b: Level | None = None          # book clearing price
    at: Count | None = None         # auction time, hhmm Eastern
    i: Count | None = None          # sequence


Event = Union[TradeEv, QuoteEv, MinuteEv, SecondEv, LuldEv, ImbalanceEv]
EVENT_TYPES = (TradeEv, QuoteEv, MinuteEv, SecondEv, LuldEv, ImbalanceEv)


# ---------------------------------------------------------------- messages (maps)

class Msg(Struct, tag_field="type", kw_only=True):
    v: Literal[1]


class Batch(Msg, tag="batch"):
    """``md|SYM|``: events of one symbol; ``seq`` numbers the first, the next are ``seq + 1 ...``."""
    sym: Sym
    epoch: Count
    seq: Count
    ev: Annotated[list[Event], Meta(max_length=MAX_ARRAY_LEN)]


class Resync(Msg, tag="resync"):
    sym: Sym
    epoch: Count
    reason: Word = ""


class Heartbeat(Msg, tag="heartbeat"):
    """``sys|`` every second; ``symbols``: ``{SYM: {seq, last_ms, backfill}}``."""
    epoch: Count
    pid: Count
    ts: Count
    upstream: dict[str, Any]
    symbols: dict[str, dict[str, Any]]
    counters: dict[str, Any]


class Status(Heartbeat, tag="status"):
    """``sys|`` at once when the upstream state changes: the heartbeat's body."""


class ErrorEvent(Msg, tag="error", omit_defaults=True):
    """``sys|``: an input error the feed counted (at most one per kind per second), or kind ``notice``: a
    supervisor message (with ``source``)."""
    kind: str
    message: str = ""
    count: Count = 0
    source: str | None = None


class Summary(Msg, tag="summary"):
    """``sum|SYM|``: every figure may be None (docs/PROTOCOL.md); also the summary reply's bodies."""
    sym: Sym
    ts: int | None = None
    seq: int | None = None
    last: float | None = None
    change: float | None = None
    change_pct: float | None = None
    volume: int | None = None
    rel_volume: float | None = None
    bid: float | None = None
    ask: float | None = None
    spread: float | None = None
    high: float | None = None
    low: float | None = None
    prev_close: float | None = None
    spark: list[float | None] = []


class AlertFired(Msg, tag="alert"):
    """``alert|``: one fired alert, the alert file's log entry."""
    entry: dict[str, Any]


DataMessage = Union[Batch, Resync, Heartbeat, Status, ErrorEvent, Summary, AlertFired]


# ---------------------------------------------------------------- constructors (wire.batch ... re-exports them)

def batch(symbol: str, epoch: int, seq: int, events: list) -> Batch:
    """A data message: ``events`` (wire arrays, or event structs) of ``symbol`` numbered from ``seq``."""
    return Batch(v=1, sym=symbol, epoch=epoch, seq=seq, ev=events)


def heartbeat(epoch: int, pid: int, upstream: dict, symbols: dict, counters: dict, ts_ms: int,
              kind: str = "heartbeat") -> Heartbeat:
    """The ``sys|`` body every second (``kind`` heartbeat) and on an upstream change (``kind`` status)."""
    cls = Status if kind == "status" else Heartbeat
    return cls(v=1, epoch=epoch, pid=pid, upstream=upstream, symbols=symbols, counters=counters, ts=ts_ms)


def resync(symbol: str, epoch: int, reason: str) -> Resync:
    return Resync(v=1, sym=symbol, epoch=epoch, reason=reason)


def error_event(kind: str, message: str, count: int, source: str | None = None) -> ErrorEvent:
    """A ``sys|`` error: an input error the feed counted, or (kind ``notice``) a supervisor message."""
    return ErrorEvent(v=1, kind=kind, message=message, count=count, source=source)


def as_map(msg: Msg) -> dict:
    """A message struct -> the map a map reader decodes from it (values as they are, not copied)."""
    d = {"type": msg.__struct_config__.tag, **structs.asdict(msg)}
    if msg.__struct_config__.omit_defaults:
        for f in structs.fields(msg):
            if f.default is not NODEFAULT and d[f.name] == f.default:
                del d[f.name]
    return d


def __getattr__(name: str) -> Any:
    # The control requests and replies are declared in .control_msgs (which builds on the base
    # above); ``messages.HelloReq`` etc. still resolve, lazily, so neither import order cycles.
    from . import control_msgs

    try:
        return getattr(control_msgs, name)
    except AttributeError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
