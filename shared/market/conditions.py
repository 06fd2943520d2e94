"""Which trades move a minute bar: Polygon/Massive's trade-condition update rules.

Why a table here and nowhere else: a bar built from every print is wrong - an
odd lot, an average-price or a prior-reference print can sit away from the
market. Polygon publishes, per condition id, whether a trade with it updates
high/low, open/close ("last") and volume: ``GET /v3/reference/conditions``,
``update_rules.consolidated`` ("How does Polygon create the OHLCV aggregate
bars?", polygon.io knowledge base; the rules are the CTA/UTP consolidated
matrices, CTA output spec p. 64, UTP output spec p. 43). A trade updates a
field only if *every* one of its conditions allows it. The feed, the window
and the simulator all fold trades with :func:`flags`, so they agree.

Checked against Polygon's published rules (2025/2026 listings):
* 12 Form T: the consolidated rule says volume only, and so it is during
  the regular session; outside it Polygon's minute aggregates use it for
  OHLC ("trades in extended-hours markets can update OHLC for minute bars",
  same article). Hence two tables: ``FLAGS1`` (regular) and ``FLAGS1_EXT``.
  Measured on TSLA 2025-06-27: pre-market bars match Polygon's with Form T
  counted (without: 18/45 opens); the 09:30 bar opens at the first regular
  print (324.51), not at the Form T prints reported at 09:30:00.000-.047.
* 38 Corrected Consolidated Close: high/low *and* last, no volume (this table
  had high/low off; Polygon lists updates_high_low true).
* 15/16 official close/open markers: nothing (they repeat a price already
  printed; the official open reaches day stats as AM/A ``op`` instead).
Unknown ids are treated as regular: a new code must not blank the chart.
For every id, updating last implies updating high/low, so a bar's open and
close always lie within its high/low (tests check it).
"""

from __future__ import annotations

from typing import Iterable

HL, LAST, VOL = 1, 2, 4  # bit flags: update high/low, open/close, volume
ALL = HL | LAST | VOL

# id: (name, updates_high_low, updates_open_close, updates_volume) - consolidated rules
CONDITIONS: dict[int, tuple[str, bool, bool, bool]] = {
    0: ("Regular Sale", True, True, True),
    1: ("Acquisition", True, True, True),
    2: ("Average Price Trade", False, False, True),
    3: ("Automatic Execution", True, True, True),
    4: ("Bunched Trade", True, True, True),
    5: ("Bunched Sold Trade", True, False, True),
    6: ("CAP Election", True, True, True),
    7: ("Cash Sale", False, False, True),
    8: ("Closing Prints", True, True, True),
    9: ("Cross Trade", True, True, True),
    10: ("Derivatively Priced", True, False, True),
    11: ("Distribution", True, True, True),
    12: ("Form T", False, False, True),  # regular session; extended hours: FLAGS1_EXT
    13: ("Extended Trading Hours (Sold Out of Sequence)", False, False, True),
    14: ("Intermarket Sweep", True, True, True),
    15: ("Market Center Official Close", False, False, False),
    16: ("Market Center Official Open", False, False, False),
    17: ("Market Center Opening Trade", True, True, True),
    18: ("Market Center Reopening Trade", True, True, True),
    19: ("Market Center Closing Trade", True, True, True),
    20: ("Next Day", False, False, True),
    21: ("Price Variation Trade", False, False, True),
    22: ("Prior Reference Price", True, False, True),
    23: ("Rule 155 Trade (AMEX)", True, True, True),
    24: ("Rule 127 NYSE", True, True, True),
    25: ("Opening Prints", True, True, True),
    27: ("Stopped Stock (Regular Trade)", True, True, True),
    28: ("Re-Opening Prints", True, True, True),
    29: ("Seller", False, False, True),
    30: ("Sold Last", True, True, True),
    31: ("Sold Last and Stopped Stock", True, True, True),
    32: ("Sold (Out Of Sequence)", True, False, True),
    33: ("Sold (Out of Sequence) and Stopped Stock", True, False, True),
    34: ("Split Trade", True, True, True),
    35: ("Stock Option", True, True, True),
    36: ("Yellow Flag Regular Trade", True, True, True),
    37: ("Odd Lot Trade", False, False, True),
    38: ("Corrected Consolidated Close", True, True, False),
    41: ("Trade Thru Exempt", True, True, True),
    52: ("Contingent Trade", False, False, True),
    53: ("Qualified Contingent Trade", False, False, True),
}

# One condition is the norm: its flags, precomputed (a dict lookup on the hot path).
FLAGS1: dict[int, int] = {k: (HL if v[1] else 0) | (LAST if v[2] else 0) | (VOL if v[3] else 0)
                          for k, v in CONDITIONS.items()}
FLAGS1_EXT = {**FLAGS1, 12: ALL}  # outside the regular session Form T prints make the bars
# Combinations seen so far (a few dozen on a real tape), keyed by tuple, per table.
_COMBO: dict[tuple, int] = {}
_COMBO_EXT: dict[tuple, int] = {}


def flags(conditions: Iterable[int] | None, extended: bool = False) -> int:
    """The HL|LAST|VOL bits a trade with ``conditions`` may update (``extended``: outside 09:30-16:00)."""
    if not conditions:
        return ALL
    key = tuple(conditions)
    cache = _COMBO_EXT if extended else _COMBO
    m = cache.get(key)
    if m is None:
        table = FLAGS1_EXT if extended else FLAGS1
        m = ALL
        for c in key:
            m &= table.get(c, ALL)
        if len(cache) < 4096:  # bounded: garbage condition lists must not grow memory
            cache[key] = m
    return m


def flags_ext(conditions: Iterable[int] | None) -> int:
    return flags(conditions, True)


def update_rules(conditions: Iterable[int] | None, extended: bool = False) -> tuple[bool, bool, bool]:
    """(updates_high_low, updates_open_close, updates_volume) for a trade."""
    m = flags(conditions, extended)
    return bool(m & HL), bool(m & LAST), bool(m & VOL)


def condition_name(c: int) -> str:
    entry = CONDITIONS.get(c)
    return entry[0] if entry else f"Condition {c}"
