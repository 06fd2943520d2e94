"""Upstream market events: the ONE set of validation rules (the wire arrays are built in :mod:`.arrays`).

Why it looks like this
----------------------
* **One declaration.** Every number that enters from an upstream is checked
  by the msgspec structs below (the spec's schemas ``StockTradeEvent``,
  ``StockQuoteEvent``, ``Stock{Second,Minute}AggregateEvent``,
  ``StockLULDEvent``, ``StockImbalanceEvent``), through their annotated
  types: prices finite, > 0 (quote sides and LULD bands >= 0: a one-sided
  book) and below :data:`MAX_PRICE`; sizes, volumes, ids, codes integers in
  ``0..2**63-1``; strings bounded. Nothing is coerced: a float where the spec
  says integer (``"s": 100.0`` as much as ``1e30``) is refused - the spec says
  integer, and msgspec refuses it in C, so the clean path and the fallback
  cannot disagree. msgpack can therefore encode everything that gets through
  (the 1e30 / 2**64 trade used to kill the feed with OverflowError).
* **Three entries, same rules.** Clean Polygon frames are decoded whole in C
  (``FRAME``); a frame that fails is re-read element by element with the same
  decoder (``EVENT``), so its good events are kept and each bad one is
  diagnosed (:func:`diagnose`); dicts (the relay's envelope, either spelling)
  go through ``msgspec.convert`` with the same structs; the relay's standard
  spelling (``event_type, symbol, price ...``) is renamed to the Polygon one
  first (:func:`from_standard`).
* **One builder, one layout.** ``build`` (:mod:`.arrays`, re-exported here) turns decoded
  structs into wire arrays, written from the wire structs' fields, for the feed's cores and
  for :func:`normalize`: unit of timestamps (:func:`to_ms`, here), OHLC consistency, trade
  de-dup, the wanted-symbol filter. Rejections are ``(kind, reason)`` pairs the caller counts.

Timestamps: integers; epoch ms in [1990, 2200). The same instant in s, µs or
ns (decided by magnitude, the windows do not overlap) is brought to ms - the
spec's own LULD and NOI examples are in µs and ns although it says "Unix MS".
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Union

import msgspec
from msgspec import Meta, Struct, field

from .market_data import InvalidEvent, valid_symbol
from .spelling import from_standard
from .types import (MAX_INT, MAX_MS, MAX_PRICE, MIN_MS, Codes, Count, Level, Price, Signed,  # noqa: F401
                    Stamp, Text)

# Fields are declared in the order Polygon sends them (the spec's examples, the replay files):
# msgspec looks the next key up from where the last one matched, ~8 % less decode work than
# any other order. ``kw_only`` lets required fields follow optional ones.
class Trade(Struct, tag_field="ev", tag="T", kw_only=True, gc=False):
    sym: str
    x: Count | None = None
    i: Text | Count | None = None   # the spec says string; an int id becomes its decimal string
    z: Count | None = None          # tape
    p: Price
    s: Count
    c: Codes | None = None
    t: Stamp
    q: Count | None = None          # sequence number
    trfi: Count | None = None
    trft: Stamp | None = None


class Quote(Struct, tag_field="ev", tag="Q", kw_only=True, gc=False):
    sym: str
    bx: Count | None = None
    bp: Level
    bs: Count = 0
    ax: Count | None = None
    ap: Level
    as_: Count = field(default=0, name="as")
    c: Count | None = None
    i: Codes | None = None
    t: Stamp
    q: Count | None = None
    z: Count | None = None


class Minute(Struct, tag_field="ev", tag="AM", kw_only=True, gc=False):
    sym: str
    v: Count
    av: Count | None = None
    op: Level | None = None
    vw: Price | None = None
    o: Price
    c: Price
    h: Price
    l: Price  # noqa: E741 - the spec's name
    a: Level | None = None
    z: Count | None = None          # average trade size
    n: Count | None = None          # not in the spec (``z`` is an average size, not a count)
    s: Stamp
    e: Stamp | None = None
    otc: bool | None = None


class Second(Minute, tag="A"):
    pass


class Luld(Struct, tag_field="ev", tag="LULD", kw_only=True, gc=False):
    sym: str = field(name="T")
    h: Level
    l: Level  # noqa: E741
    i: Codes | None = None
    z: Count | None = None
    t: Stamp
    q: Count | None = None


class Imbalance(Struct, tag_field="ev", tag="NOI", kw_only=True, gc=False):
    sym: str = field(name="T")
    t: Stamp
    at: Count | None = None         # auction time, hhmm Eastern
    a: Annotated[str, Meta(max_length=8)] | None = None  # auction type O M H C P R
    i: Count | None = None          # symbol sequence
    x: Count | None = None
    o: Signed | None = None         # imbalance quantity
    p: Count | None = None          # paired quantity
    b: Level | None = None          # book clearing price


class Status(Struct, tag_field="ev", tag="status", kw_only=True, gc=False):
    status: str
    message: str = ""
    source: str | None = None
    session: str | None = None


MARKET = (Trade, Quote, Minute, Second, Luld, Imbalance)
Event = Union[Trade, Quote, Minute, Second, Luld, Imbalance, Status]
FRAME = msgspec.json.Decoder(list[Event])
EVENT = msgspec.json.Decoder(Event)
RAW_LIST = msgspec.json.Decoder(list[msgspec.Raw])
ANY = msgspec.json.Decoder()
CODES = {"T", "Q", "AM", "A", "LULD", "NOI"}
_STAMPS = {"T": ("t", "trft"), "Q": ("t",), "AM": ("s", "e"), "A": ("s", "e"), "LULD": ("t",), "NOI": ("t",)}


def to_ms(v: int) -> int:
    """An epoch integer in s, ms, µs or ns (by magnitude) -> ms; InvalidEvent outside [1990, 2200)."""
    if MIN_MS <= v < MAX_MS:
        return v
    for scale in (1_000, 1_000_000):
        if MIN_MS * scale <= v < MAX_MS * scale:
            return v // scale
    if MIN_MS // 1000 <= v < MAX_MS // 1000:
        return v * 1000
    raise InvalidEvent("bad_timestamp", f"timestamp {v} is not an epoch between 1990 and 2200")


MAX_DEPTH = 16  # Polygon's deepest message is frame > event > list (3); far deeper is hostile
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"')
_NOT_BRACKET = bytes(b for b in range(256) if b not in b"[]{}")


def too_deep(frame: bytes | str, limit: int = MAX_DEPTH) -> bool:
    """JSON nested beyond ``limit``, decided on the bytes. The decoders' own limit is the interpreter's
    remaining stack, so without this the same frame would pass or fail by the caller's call depth."""
    b = frame.encode() if isinstance(frame, str) else bytes(frame)
    if b.count(b"[") + b.count(b"{") <= limit:
        return False
    outside = _STRING.sub(b"", b) if b"\\" in b else b"".join(b.split(b'"')[::2])  # strings out; no escape: split
    depth = 0
    for ch in outside.translate(None, _NOT_BRACKET):
        depth += 1 if ch in (91, 123) else -1
        if depth > limit:
            return True
    return False


def short(v: Any, n: int = 60) -> str:
    s = repr(v)
    return s if len(s) <= n else s[: n - 3] + "..."


def _unwanted(sym: Any, wanted: set | None) -> tuple[str, str]:
    if sym == "" or sym is None:
        return "missing_symbol", "event without a symbol"
    if type(sym) is not str:
        return "wrong_type", f"symbol {short(sym, 24)} is not text"
    if not valid_symbol(sym):
        return "bad_symbol", f"bad symbol {short(sym, 24)}"
    return "unknown_symbol", f"event for {short(sym, 24)} which nobody subscribed"


# ---------------------------------------------------------------- diagnosis of a refused event


def _field(msg: str) -> str:
    """The top-level field a msgspec error names: "... - at `$.c[1]`" -> "c"."""
    at = msg.rfind("`$.")
    if at < 0:
        k = msg.find("field `")
        return msg[k + 7: msg.find("`", k + 7)] if k >= 0 else ""
    name = msg[at + 3:].rstrip("`")
    for sep in "[.":
        name = name.split(sep, 1)[0]
    return name


def diagnose(obj: Any, err: Exception, wanted: set | None) -> tuple[str, str] | None:
    """Why the structs refused ``obj`` (generic JSON value): ``(kind, reason)``, or None for a
    status message the caller handles itself. Symbol problems come first: the event of a
    symbol nobody wants is ``unknown_symbol`` whatever else is wrong with it."""
    if type(obj) is not dict:
        return "wrong_type", f"event is not an object: {short(obj, 40)}"
    ev = obj.get("ev")
    if ev == "status":
        return None
    if type(ev) is not str or ev not in CODES:
        return "unknown_event", f"unknown event type {short(ev, 24)}"
    sym = obj.get("T" if ev in ("LULD", "NOI") else "sym")
    if type(sym) is not str or not valid_symbol(sym) or (wanted is not None and sym not in wanted):
        return _unwanted(sym, wanted)
    msg = str(err)
    name = _field(msg)
    if msg.startswith("Object missing required field") or "got `null`" in msg:
        kind = "missing_field"
    elif name in _STAMPS[ev]:
        kind = "bad_timestamp"
    elif "got `" in msg:
        kind = "wrong_type"
    else:
        kind = "bad_value"
    val = f"={short(obj[name], 40)}" if name in obj else ""
    return kind, f"{ev} {sym} {name}{val}: {msg}"[:200]


def decode_dict(d: Any, wanted: set | None) -> tuple[Any, tuple[str, str] | None]:
    """A parsed event (either spelling) -> (struct, None) or (None, (kind, reason))."""
    if type(d) is dict:
        if "ev" not in d and "event_type" in d:
            d = from_standard(d)
            if type(d) is tuple:
                return None, d
        elif d.get("ev") == "status":
            return None, ("unknown_event", "a status message where a market event belongs")
    try:
        return msgspec.convert(d, Event), None
    except msgspec.ValidationError as err:
        why = diagnose(d, err, wanted)
        return None, why or ("wrong_type", f"malformed status message: {short(d, 60)}")


def normalize(raw: Any) -> dict:
    """One event dict (either spelling) -> its seed dict (``wire.event_to_dict``), or InvalidEvent."""
    from .arrays import build
    from .wire import event_to_dict

    ev, why = decode_dict(raw, None)
    if why is not None:
        raise InvalidEvent(*why)
    batches: dict[str, list[list]] = {}
    errors: list[tuple[str, str]] = []
    build([ev], batches, None, None, errors)
    if errors:
        raise InvalidEvent(*errors[0])
    if not batches:
        raise InvalidEvent("wrong_type", "a status message is not a market event")
    (sym, (arr,)), = batches.items()
    return event_to_dict(sym, arr)


def __getattr__(name: str) -> Any:
    # ``events.build`` / ``events.DEDUP_WINDOW`` live in .arrays (the hot loop), which imports the structs
    # here: resolved lazily, so either module may be imported first.
    if name in ("build", "DEDUP_WINDOW"):
        from . import arrays

        return getattr(arrays, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
