"""The simulator's minute bars (Polygon ``AM`` events), built by the market core from its own trades.

Why a thin adapter: the simulator plays the exchange, so its AM bars must be
exactly what the feed and the window build from the same trades (tests
re-aggregate the trades and compare). Every bar rule - conditions, what opens
a minute, volume-only minutes - is :class:`shared.market.MinuteBars`; this
adds what only an upstream publishes: the AM fields ``av``/``a`` (the day's
volume and VWAP so far), ``op`` and ``z``.

Prices are integer cents inside (the core's sums are then exact), dollars on
the wire: ``vw = sum(p*s)/sum(s)`` over volume-counting trades, rounded to 4
places, as Polygon does; ``op`` is the open of the day's first bar (the replay
files' AM bars do the same); ``z`` is the average trade size (integer), ``n``
the number of trades that counted in the minute. A late print re-sends its
minute's AM (as Polygon does), ``av`` growing by the change only. A minute with only
volume-only prints (odd lots) publishes no AM, as Polygon's stream does; its
volume is in the next AM's ``av``.
"""

from __future__ import annotations

from shared.market import MINUTE, MinuteBars
from shared.market.history import C, H, L, N, O, PV, S, V


def extended_hours(session):
    """start ms -> outside the tape's regular hours? (``session``: a callable returning the current
    Session; None: the core's NYSE calendar). Decides whether Form T prints make a bar."""
    if session is None:
        return None
    return lambda start: not session().open <= start < session().close


class BarBuilder:
    """Feed trades in time order; closed minutes come back as AM dicts."""

    def __init__(self, symbol: str, prev_close_cents: int | None = None, session=None):
        """``session``: a callable returning the tape's current Session (its regular hours decide
        whether Form T prints make the bar); default: the NYSE calendar."""
        self.symbol = symbol
        self.extended = extended_hours(session)
        self.market = MinuteBars(max_bars=2, outbox=True, extended=self.extended)  # the simulator keeps its own bars
        self.last_cents = prev_close_cents
        self._sent: dict[int, tuple[int, int]] = {}  # start -> (v, pv) already in av: a re-sent bar adds its change
        self.new_day()

    def new_day(self) -> None:
        self.day_v = 0
        self.day_pv = 0
        self.day_open: int | None = None

    def add(self, t: int, cents: int, size: int, conds: list[int] | None, out: list[dict]) -> None:
        """Add one trade at ``t`` (ms); a bar that this trade closes is appended to ``out``."""
        self.market.fold((("T", t, cents, size, None, conds),))
        self._drain(out)

    def due(self, t: int) -> bool:
        """True when the open bar ends at or before ``t``."""
        f = self.market.forming
        return f is not None and f[S] + MINUTE <= t

    def close(self, out: list[dict]) -> None:
        """Finish the open minute (if it has anything to show) into ``out``."""
        self.market.close_forming()
        self._drain(out)

    def day_marks(self) -> tuple[int, int, int | None]:
        """(day volume, day price x volume in cents, official open in cents or None) up to the latest trade:
        the closed minutes as their AM bars count them plus the forming minute so far (add/close drain
        the core's outbox and volume-only minutes every time, so nothing is pending here)."""
        v, pv, op = self.day_v, self.day_pv, self.day_open
        f = self.market.forming
        if f is not None:
            v += f[V]
            pv += f[PV]
            if op is None:
                op = f[O]  # the forming minute will be the day's first bar: its open is the day's
        return v, pv, op

    def _drain(self, out: list[dict]) -> None:
        m = self.market
        if m.vol_only:  # volume-only minutes: no bar, but the day's volume has them
            for _, v, pv in m.vol_only:
                self.day_v += v
                self.day_pv += pv
            m.vol_only.clear()
        for _, b in m.take():
            self._emit(b, out)

    def _emit(self, b: list, out: list[dict]) -> None:
        o, c, v = b[O], b[C], b[V]
        if self.day_open is None:
            self.day_open = o
        self.last_cents = c
        start = b[S]
        v0, pv0 = self._sent.pop(start, (0, 0))
        self._sent[start] = (v, b[PV])
        if len(self._sent) > 4:
            del self._sent[min(self._sent)]
        self.day_v += v - v0
        self.day_pv += b[PV] - pv0
        vw = b[PV] / v / 100 if v else c / 100
        a = self.day_pv / self.day_v / 100 if self.day_v else vw
        out.append({
            "ev": "AM", "sym": self.symbol,
            "v": v, "av": self.day_v,
            "op": self.day_open / 100,
            "vw": round(vw, 4),
            "o": o / 100, "c": c / 100, "h": b[H] / 100, "l": b[L] / 100,
            "a": round(a, 4),
            "z": v // b[N] if b[N] else 0,
            "n": b[N],
            "s": start, "e": start + MINUTE,
        })
