"""Decoded upstream events -> wire arrays: the feed's hot loop (:func:`build`), after the decode.

Why it looks like this
----------------------
* **The second half of validation.** The structs of :mod:`.events` check every
  value in C while decoding; what needs the event as a whole is here, in the one
  loop every entry goes through (Polygon frames, the relay's dicts,
  ``events.normalize``, ``wire.event_to_wire``): the unit of timestamps
  (``events.to_ms``), OHLC consistency, trade de-dup, the wanted-symbol filter.
  Rejections are ``(kind, reason)`` pairs the caller counts.
* **One layout.** Each kind's array is written from its wire struct's fields
  (``shared/models/messages.py``, through ``shared/models/layout.py``): a list
  display generated at import and compiled inline into the loop, since a call
  per event would cost ~10 %. A wire field takes the decoded struct's field of
  its name unless ``_FROM`` names its source.
* **Per event, as little as the rules need** (this loop is ~30 % of the feed's
  CPU per event): locals for the bounds, the symbol's list and de-dup memory
  looked up once per run of one symbol (frames are such runs), a countdown
  instead of ``len()`` per remembered trade id; the rare kinds (bars, LULD, NOI)
  take a function call.
"""

from __future__ import annotations

from typing import Any

from . import messages as wire_structs
from .events import (MAX_MS, MIN_MS, Imbalance, InvalidEvent, Luld, Minute, Quote, Second, Status, Trade,
                     _unwanted, short, to_ms)
from .layout import compile_into, display
from .market_data import valid_symbol

DEDUP_WINDOW = 2048           # trade ids remembered per symbol: the last 2048 to 4096 (two generations)

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
    sym: Any = None
    n_errors = len(errors)
    lo, hi, cap = MIN_MS, MAX_MS, DEDUP_WINDOW  # locals: this loop runs per event
    last: Any = None  # frames are runs of one symbol: look its list (and de-dup memory) up once a run
    lst: list = []
    pair: list | None = None
    cur: dict = {}
    old: dict = {}
    room = 0  # ids cur takes before it becomes old: a countdown, not len(cur) per trade
    for e in evs:
        cls = type(e)
        try:
            if cls is Trade:
                sym = e.sym
                SYMBOL_RUN
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
                            room = cap - len(cur)
                        else:
                            cur[i] = e.x
                            room -= 1
                        if room <= 0:
                            old = pair[1] = cur
                            cur = pair[0] = {}
                            room = cap
                trft = e.trft
                if trft is not None and not lo <= trft < hi:
                    trft = to_ms(trft)
                c = e.c
                lst.append(TRADE_ARRAY)
            elif cls is Quote:
                sym = e.sym
                SYMBOL_RUN
                t = e.t
                if not lo <= t < hi:
                    t = to_ms(t)
                ind = e.i
                lst.append(QUOTE_ARRAY)
            elif cls is Status:
                statuses.append(e)
            else:
                sym = e.sym
                SYMBOL_RUN
                lst.append(_rare(e))
        except InvalidEvent as x:
            msg = str(x)
            errors.append((x.kind, msg if sym in msg else f"{sym}: {msg}"))
    return len(evs) - len(statuses) - (len(errors) - n_errors), statuses
'''
# A symbol's run: its list and de-dup memory looked up when the symbol changes. Written once, put in each
# kind's branch: ``e.sym`` read where one struct type only passes keeps the interpreter's attribute
# cache for that type (one shared read, seeing trades and quotes in turn, cost ~4 % more).
_SYMBOL_RUN = """if sym != last:
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
                        room = cap - len(cur)"""
build = compile_into(globals(), _BUILD_SRC.replace("SYMBOL_RUN", _SYMBOL_RUN).replace("TRADE_ARRAY", _display("T"))
                     .replace("QUOTE_ARRAY", _display("Q")), "build")
