"""The bar history: at most ``max_bars`` finished minute bars, ordered by start, one per minute.

Why lists, not dicts or objects: the feed keeps one history per watched symbol
and the hot path touches its bars by index; a bar is one flat list (layout
below) that the forming state, the history and every view share, so nothing is
copied per event. Starts live in a parallel sorted list for bisect.

Merge rule (:meth:`BarHistory.put`): a bar replaces the bar of the same minute
unless that one is *more* official. Levels: ``PROV`` (built here from trades),
``HIST`` (REST backfill), ``LIVE`` (the upstream's AM). So an AM replaces
everything (also a corrected AM of the same minute: Polygon re-sends bars when
late trades arrive), backfill replaces provisional bars and older backfill,
and a bar built from trades never replaces one the upstream published.
"""

from __future__ import annotations

from bisect import bisect_left

MINUTE = 60_000

# Bar layout. OT/CT: times of the prints that set the open and the close, so a
# late print can only move them by its own time; None on upstream bars.
S, O, H, L, C, V, VW, N, PV, OT, CT, K = range(12)
PROV, HIST, LIVE = 0, 1, 2  # K: how official the bar is


def new_bar(start: int) -> list:
    """An empty bar for the minute at ``start``: no price until an open/close print."""
    return [start, None, None, None, None, 0, None, 0, 0, None, None, PROV]


def upstream_bar(start: int, o, h, lo, c, v, vw, n, level: int) -> list:
    return [start, o, h, lo, c, v, vw, n, None, None, None, level]


def vwap(b: list):
    """The bar's VWAP: the upstream's, else from the running price x size sum."""
    if b[K] != PROV:
        return b[VW]
    return b[PV] / b[V] if b[V] else None


def bar_dict(symbol: str, b: list, mark_provisional: bool = False) -> dict:
    """The seed's aggregate dict for a bar: exactly the seed's keys, so every bar a seed user sees
    (history, live, forming) has one shape. ``mark_provisional`` (the feed's snapshot only) adds
    ``provisional: True`` to a bar built from trades, so a window knows late prints may still move it."""
    d = {"event_type": "aggregate", "symbol": symbol, "timestamp": b[S], "open": b[O], "high": b[H],
         "low": b[L], "close": b[C], "volume": b[V], "vwap": vwap(b), "transactions": b[N]}
    if mark_provisional and b[K] == PROV:
        d["provisional"] = True
    return d


class BarHistory:
    __slots__ = ("bars", "starts", "max_bars", "version")

    def __init__(self, max_bars: int = 2000) -> None:
        self.bars: list[list] = []
        self.starts: list[int] = []
        self.max_bars = max_bars
        self.version = 0  # bumped on every change: views cache on it

    def last_start(self) -> int:
        return self.starts[-1] if self.starts else -1

    def find(self, start: int) -> list | None:
        starts = self.starts
        if starts and start == starts[-1]:
            return self.bars[-1]
        i = bisect_left(starts, start)
        return self.bars[i] if i < len(starts) and starts[i] == start else None

    def index_from(self, start: int) -> int:
        """Index of the first bar starting at or after ``start``."""
        return bisect_left(self.starts, start)

    def put(self, b: list) -> str | None:
        """Insert or replace ``b`` by its start; return ``append|replace_last|replace|insert``, None if refused."""
        start = b[S]
        starts, bars = self.starts, self.bars
        if not starts or start > starts[-1]:
            starts.append(start)
            bars.append(b)
            kind = "append"
        else:
            i = bisect_left(starts, start)
            if i < len(starts) and starts[i] == start:
                if b[K] < bars[i][K]:
                    return None  # never replace a more official bar
                bars[i] = b
                kind = "replace_last" if i == len(starts) - 1 else "replace"
            else:
                if i == 0 and len(starts) >= self.max_bars:
                    return None  # older than everything kept: it would be trimmed at once
                starts.insert(i, start)
                bars.insert(i, b)
                kind = "insert"
        self.version += 1
        excess = len(starts) - self.max_bars
        if excess > 0:
            del starts[:excess]
            del bars[:excess]
        return kind

    def merge(self, rows: list[list], before: int | None) -> int:
        """Merge REST rows ``[start, o, h, l, c, v, vwap, n]`` (minutes before ``before`` only); count what changed.

        A row with a ninth item keeps that level (the history store's rows): a stored
        provisional bar comes back provisional, so the upstream's bar still replaces it.
        """
        n = 0
        for r in sorted(rows, key=lambda r: r[0]):
            if before is not None and r[0] >= before:
                continue  # the forming minute (and later) belong to the live stream
            level = r[8] if len(r) > 8 else HIST
            b = upstream_bar(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], level)
            if level == PROV:  # its prints are gone: late prints may not move its open/close
                b[PV] = (r[6] if r[6] is not None else (r[2] + r[3] + r[4]) / 3) * r[5]
                b[OT], b[CT], b[N] = r[0] - 1, r[0] + MINUTE, r[7] or 0  # outside the minute: never moved
            if self.put(b) is not None:
                n += 1
        return n
