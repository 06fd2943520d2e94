"""Upstream market events: the ONE set of validation rules, and the one way to wire arrays.

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
* **One builder, one layout.** :func:`build` turns decoded structs into wire arrays,
  written from the wire structs' fields (``shared/models/messages.py``; see
  "wire arrays" below: generated list displays, inline in the hot loop) for the feed's cores and for
  :func:`normalize`: unit of timestamps, OHLC consistency, trade de-dup, the
  wanted-symbol filter. Rejections are ``(kind, reason)`` pairs the caller counts.

Timestamps: integers; epoch ms in [1990, 2200). The same instant in s, µs or
ns (decided by magnitude, the windows do not overlap) is brought to ms - the
spec's own LULD and NOI examples are in µs and ns although it says "Unix MS".
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Union

import msgspec
from msgspec import Meta, Struct, field

from . import messages as wire_structs
from .layout import compile_into, display
from .market_data import InvalidEvent, valid_symbol
from .spelling import from_standard
from .types import (MAX_INT, MAX_MS, MAX_PRICE, MIN_MS, Codes, Count, Level, Price, Signed,  # noqa: F401
                    Stamp, Text)

DEDUP_WINDOW = 2048           # trade ids remembered per symbol: the last 2048 to 4096 (two generations)


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


# ---------------------------------------------------------------- wire arrays: laid out by the wire structs
# Written from the wire structs' fields (shared.models.layout): a wire field takes the decoded struct's
# field of its name unless _FROM names its source (ms timestamp, [] for an absent list, a checked local).
_WIRE = {"T": wire_structs.TradeEv, "Q": wire_structs.QuoteEv, "AM": wire_structs.MinuteEv,
         "A": wire_structs.SecondEv, "LULD": wire_structs.LuldEv, "NOI": wire_structs.ImbalanceEv}
_UPSTREAM = {"T": Trade, "Q": Quote, "AM": Minute, "A": Second, "LULD": Luld, "NOI": Imbalance}
_BAR_FROM = {"s": "to_ms(e.s)", "o": "o", "h": "h", "l": "lo", "c": "c", "e": "None if end is None else to_ms(end)"}
_FROM = {"T": {"t": "t", "c": "c if c is not None else []", "i": "i", "trft": "trft"},   # build() sets t, c, i, trft
         "Q": {"t": "t", "i": "ind if ind is not None else []"},                         # build() sets t, ind
         "AM": _BAR_FROM, "A": _BAR_FROM,                                                  # _bar() sets o h lo c end
         "LULD": {"t": "to_ms(e.t)", "i": "e.i if e.i is not None else []"},
         "NOI": {"t": "to_ms(e.t)"}}


def _display(code: str) -> str:
    return display(code, _WIRE[code], _UPSTREAM[code], _FROM[code])


_ARRAY = {code: compile_into(globals(), f"def _array_{code}(e, o=None, h=None, lo=None, c=None, end=None):\n"
                         f"    return {_display(code)}\n", f"_array_{code}") for code in ("AM", "A", "LULD", "NOI")}


def _bar(e: Minute, code: str) -> list:
    o, h, lo, c = e.o, e.h, e.l, e.c
    if not (lo <= o <= h and lo <= c <= h):
        raise InvalidEvent("inconsistent_bar", f"{code} {e.sym} OHLC inconsistent (o={o} h={h} l={lo} c={c})")
    return _ARRAY[code](e, o, h, lo, c, e.e)


def _rare(e: Any) -> list:
    """Arrays of the rare kinds (bars, LULD, NOI): a function call per event is fine here."""
    cls = type(e)
    if cls is Minute:
        return _bar(e, "AM")
    if cls is Second:
        return _bar(e, "A")
    return _ARRAY["LULD" if cls is Luld else "NOI"](e)


def _seen_before(cur: dict, old: dict, i: str, x: int | None) -> bool:
    """Is (id, exchange) in the de-dup memory? If not, remember it (values: an exchange id, or a
    tuple of them for an id several exchanges used)."""
    for gen in (cur, old):
        v = gen.get(i, cur)  # cur itself: a sentinel no value can be
        if v is not cur and (x in v if type(v) is tuple else v == x):
            return True
    v = cur.get(i, cur)
    cur[i] = (x,) if v is cur else (v + (x,) if type(v) is tuple else (v, x))
    return False


# The hot loop, per event: TRADE_ARRAY / QUOTE_ARRAY become list displays from the wire structs,
# compiled inline (the bytecode of hand-written lists; a call per event would cost ~10 %).
_BUILD_SRC = '''
def build(evs: list, batches: dict[str, list[list]], wanted: set | None, seen: dict | None,
          errors: list[tuple[str, str]]) -> tuple[int, list[Status]]:
    """Decoded events -> wire arrays appended to ``batches[sym]`` (arrival order per symbol).

    ``wanted``: symbols to keep (None: any valid ticker). ``seen``: the de-dup memory
    ``{sym: [recent {trade id: exchange id}, the generation before]}`` (None: no de-dup). Returns (events added, status
    messages in the frame); every event not added left one ``(kind, reason)`` in ``errors``.
    """
    statuses: list[Status] = []
    n_errors = len(errors)
    lo, hi, cap = MIN_MS, MAX_MS, DEDUP_WINDOW  # locals: this loop runs per event
    last: Any = None  # frames are runs of one symbol: look its list (and de-dup memory) up once a run
    lst: list = []
    pair: list | None = None
    cur: dict = {}
    old: dict = {}
    for e in evs:
        cls = type(e)
        if cls is Status:
            statuses.append(e)
            continue
        sym = e.sym
        if sym != last:
            got = batches.get(sym)
            if got is None:
                if (sym not in wanted) if wanted is not None else not valid_symbol(sym):
                    errors.append(_unwanted(sym, wanted))
                    last = None
                    continue
                got = batches[sym] = []
            lst, last = got, sym
            if seen is not None:
                pair = seen.get(sym)
                if pair is None:
                    pair = seen[sym] = [{}, {}]
                cur, old = pair
        try:
            if cls is Trade:
                t = e.t
                if not lo <= t < hi:
                    t = to_ms(t)
                i = e.i
                if i is not None:
                    if type(i) is not str:
                        i = str(i)
                    if pair is not None:
                        # Polygon trade ids are unique per (ticker, exchange, day): a bounded window
                        # catches a relay's double sends and the per-topic echoes of some servers.
                        # Two generations of id -> exchange: one probe per new trade (a tuple key
                        # cost twice as much on every trade); ids shared by exchanges are rare.
                        if i in cur or i in old:
                            if _seen_before(cur, old, i, e.x):
                                errors.append(("duplicate", f"trade {sym} x={e.x} id {short(i, 24)} seen already"))
                                continue
                        else:
                            cur[i] = e.x
                        if len(cur) >= cap:
                            old = pair[1] = cur
                            cur = pair[0] = {}
                trft = e.trft
                if trft is not None and not lo <= trft < hi:
                    trft = to_ms(trft)
                c = e.c
                lst.append(TRADE_ARRAY)
            elif cls is Quote:
                t = e.t
                if not lo <= t < hi:
                    t = to_ms(t)
                ind = e.i
                lst.append(QUOTE_ARRAY)
            else:
                lst.append(_rare(e))
        except InvalidEvent as x:
            msg = str(x)
            errors.append((x.kind, msg if sym in msg else f"{sym}: {msg}"))
    return len(evs) - len(statuses) - (len(errors) - n_errors), statuses
'''
build = compile_into(globals(), _BUILD_SRC.replace("TRADE_ARRAY", _display("T")).replace("QUOTE_ARRAY", _display("Q")), "build")


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
