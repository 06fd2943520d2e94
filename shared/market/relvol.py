"""Volume by minute of day: the average of the prior sessions the history holds, for relative volume.

Why here: the feed's summary (relative volume) and the volume-spike alert
compare today with "the average for this minute of day"; one rule, one place.

Rules:
* A minute's *offset* is minutes since its session's pre-market start (04:00 NY),
  so half days and DST line up by clock time.
* The prior sessions are the up to ``DAYS`` sessions before today's that have at
  least one bar in the history (the feed keeps 2000 minute bars, a few days of
  extended hours); a session without bars is unknown, not zero.
* ``minute_avg(offset)``: the mean volume of that minute over those sessions
  (a session without a bar in that minute counts 0).
* ``cumulative_avg(offset)``: the mean volume from the session start up to and
  including that minute. Relative volume = today's day volume / this.
* No prior session in the history -> None (unknown), never a guess.

The profile is cached per (day, bars before today, oldest bar): it changes when
backfill adds older bars, not with today's minutes.
"""

from __future__ import annotations

from bisect import bisect_right

from shared import market_hours

from .day import day_start
from .history import MINUTE, BarHistory, S, V

DAYS = 10


class VolumeProfile:
    __slots__ = ("days", "_key")

    def __init__(self) -> None:
        self.days: list[tuple[list[int], list[int], dict[int, int]]] = []  # (offsets, cumulative, by offset)
        self._key: tuple | None = None

    def _build(self, history: BarHistory, ref_ms: int) -> int:
        """Refresh for the day of ``ref_ms``; return today's session start (ms)."""
        d, lo, _ = day_start(ref_ms)
        i_lo = history.index_from(lo)
        key = (d, i_lo, history.starts[0] if history.starts else None)
        if key == self._key:
            return lo
        self._key = key
        days = []
        day = d
        oldest = history.starts[0] if history.starts else lo
        for _ in range(DAYS * 3):
            if len(days) >= DAYS:
                break
            prev = market_hours.previous_session(day)
            if prev is None or prev.pre_start + 86_400_000 <= oldest:
                break
            day = prev.day
            a, b = history.index_from(prev.pre_start), history.index_from(min(prev.pre_start + 86_400_000, lo))
            if a == b:
                continue
            by: dict[int, int] = {}
            for bar in history.bars[a:b]:
                off = (bar[S] - prev.pre_start) // MINUTE
                by[off] = by.get(off, 0) + (bar[V] or 0)
            offs = sorted(by)
            cum, run = [], 0
            for o in offs:
                run += by[o]
                cum.append(run)
            days.append((offs, cum, by))
        self.days = days
        return lo

    def offset(self, history: BarHistory, t_ms: int) -> int:
        lo = self._build(history, t_ms)
        return (t_ms - lo) // MINUTE

    def minute_avg(self, history: BarHistory, t_ms: int) -> float | None:
        """Mean volume of the minute of day of ``t_ms`` over the prior sessions (None: none known)."""
        off = self.offset(history, t_ms)
        if not self.days:
            return None
        return sum(by.get(off, 0) for _, _, by in self.days) / len(self.days)

    def cumulative_avg(self, history: BarHistory, t_ms: int) -> float | None:
        """Mean volume from the session start through the minute of ``t_ms`` (None: none known)."""
        off = self.offset(history, t_ms)
        if not self.days:
            return None
        total = 0
        for offs, cum, _ in self.days:
            i = bisect_right(offs, off)
            total += cum[i - 1] if i else 0
        return total / len(self.days)

    def relative(self, history: BarHistory, t_ms: int, day_volume) -> float | None:
        avg = self.cumulative_avg(history, t_ms)
        if not avg or day_volume is None:
            return None
        return round(day_volume / avg, 3)
