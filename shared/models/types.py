"""The constrained number types of the feed's data, shared by the upstream structs (``.events``) and the
wire structs (``.messages``): one definition of what a price, a size, a timestamp is.

Why a module of its own: ``.events`` builds its wire arrays from the wire structs'
layouts (``.messages``), and ``.messages`` uses these types; here, neither imports
the other to get them.
"""

from __future__ import annotations

from typing import Annotated

from msgspec import Meta

MAX_PRICE = 1e9               # no stock trades near this; bigger is garbage (and breaks averages)
MAX_INT = 2**63 - 1           # msgpack's signed range: every int that passes can be packed
MIN_MS = 631_152_000_000      # 1990-01-01 UTC
MAX_MS = 7_258_118_400_000    # 2200-01-01 UTC (datetime and the day calendars go no further)

Price = Annotated[float, Meta(gt=0, lt=MAX_PRICE)]
Level = Annotated[float, Meta(ge=0, lt=MAX_PRICE)]      # 0 = that side / band is absent
Count = Annotated[int, Meta(ge=0, le=MAX_INT)]          # sizes, volumes, ids, codes, sequences
Signed = Annotated[int, Meta(ge=-MAX_INT, le=MAX_INT)]  # NOI imbalance quantity (its sign may be the side)
Stamp = Annotated[int, Meta(ge=MIN_MS // 1000, le=MAX_MS * 1_000_000)]  # any unit; to_ms() decides
Codes = Annotated[list[Count], Meta(max_length=64)]
Text = Annotated[str, Meta(max_length=64)]
