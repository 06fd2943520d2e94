"""Which trades update a minute bar: Polygon/Massive's trade-condition rules.

Why: a bar built from every print is wrong - an average-price or
prior-reference print can sit dollars away from the market. Polygon publishes,
per condition id, whether a trade with it updates high/low, open/close (last)
and volume (GET /v3/reference/conditions, "update_rules.consolidated"). A trade
updates a field only if *every* one of its conditions allows it. This table is
the consolidated rule set for US stock trades; the simulator, the feed's
forming bar and the UI's forming bar all use it, so they agree.

Note: the AM bars in ../shared/data/replay/ were built from every print (their
o/h/l/c/v match the unfiltered trades exactly), so against those files the
forming bar can differ from the official AM bar until the AM replaces it.
"""

from __future__ import annotations

from typing import Iterable

# id: (name, updates_high_low, updates_last (open/close), updates_volume)
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
    # SIP rules exclude Form T from high/low/last, but Polygon's extended-hours
    # bars are built from it (pre-market bars have prices), so it counts here.
    12: ("Form T", True, True, True),
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
    38: ("Corrected Consolidated Close", False, True, False),
    41: ("Trade Thru Exempt", True, True, True),
    52: ("Contingent Trade", False, False, True),
    53: ("Qualified Contingent Trade", False, False, True),
}

# Unknown ids are treated as regular: a new code must not blank the chart.
_NO_HL = frozenset(k for k, v in CONDITIONS.items() if not v[1])
_NO_LAST = frozenset(k for k, v in CONDITIONS.items() if not v[2])
_NO_VOL = frozenset(k for k, v in CONDITIONS.items() if not v[3])


def update_rules(conditions: Iterable[int] | None) -> tuple[bool, bool, bool]:
    """(updates_high_low, updates_last, updates_volume) for a trade."""
    if not conditions:
        return True, True, True
    hl = last = vol = True
    for c in conditions:
        if c in _NO_HL:
            hl = False
        if c in _NO_LAST:
            last = False
        if c in _NO_VOL:
            vol = False
    return hl, last, vol


def condition_name(c: int) -> str:
    entry = CONDITIONS.get(c)
    return entry[0] if entry else f"Condition {c}"
