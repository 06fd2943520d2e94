"""Second aggregates (Polygon ``A`` events) built from the synthetic trades.

Why a thin adapter over the market core: ``A`` is a different product from
``AM`` (one bar per second, never a minute bar), but its bar rules are the
minute bars' rules - which conditions move high/low, open/close and volume,
Form T making a bar only outside regular hours, no bar for a second with only
volume-only prints (its volume reaches the next ``av``). So the bar is
:class:`shared.market.MinuteBars` with ``bucket=1000`` (one rule, one place),
and the day's marks ``av``/``a``/``op`` are read from the minute builder's day
state (:meth:`.bars.BarBuilder.day_marks`): an ``A`` and the ``AM`` closing at
the same instant carry the same ``av``, ``a`` and ``op``.

Cost: the builder folds trades only while someone subscribes ``A``
(:meth:`resume` starts it at the next whole second, so no partial second is
ever published); the day totals never depended on it.

Fields as the spec's StockSecondAggregateEvent: ``v av op vw o c h l a z s e``.
"""

from __future__ import annotations

from shared.market import MinuteBars
from shared.market.history import C, H, L, N, O, PV, S, V

from .bars import BarBuilder

SECOND_MS = 1000


class SecondBuilder:
    """Feed trades in time order (after :meth:`resume`); closed seconds come back as ``A`` dicts."""

    __slots__ = ("symbol", "day", "bars", "since")

    def __init__(self, symbol: str, day: BarBuilder):
        self.symbol = symbol
        self.day = day  # the minute builder: the day's av / a / op
        self.bars = MinuteBars(max_bars=2, outbox=True, extended=day.extended, bucket=SECOND_MS)
        self.since: int | None = None  # first ms folded; None while nobody wants A

    @property
    def start(self) -> int | None:
        f = self.bars.forming
        return None if f is None else f[S]

    def resume(self, t: int) -> None:
        """Start building at the first whole second at or after ``t`` (the tape is generated up to ``t``)."""
        self.bars.forming = None
        self.since = t + (-t % SECOND_MS)

    def pause(self) -> None:
        self.bars.forming = None
        self.since = None

    def due(self, t: int) -> bool:
        f = self.bars.forming
        return f is not None and f[S] + SECOND_MS <= t

    def add(self, t: int, cents: int, size: int, conds: list[int] | None, out: list[dict]) -> None:
        """Fold one trade (call :meth:`close` first when :meth:`due`: the day marks are read at the close)."""
        if self.since is None or t < self.since:
            return
        self.bars.fold((("T", t, cents, size, None, conds),))
        self._drain(out)

    def close(self, out: list[dict]) -> None:
        """Finish the open second; its bar (if it had an open/close print) is appended to ``out``."""
        self.bars.close_forming()
        self._drain(out)

    def _drain(self, out: list[dict]) -> None:
        m = self.bars
        m.vol_only.clear()  # a second of odd lots only: no bar; the day state counted its volume already
        for _, b in m.take():
            v = b[V]
            day_v, day_pv, op = self.day.day_marks()
            vw = b[PV] / v / 100 if v else b[C] / 100
            a = day_pv / day_v / 100 if day_v else vw
            start = b[S]
            out.append({"ev": "A", "sym": self.symbol, "v": v, "av": day_v, "op": op / 100,
                        "vw": round(vw, 4), "o": b[O] / 100, "c": b[C] / 100, "h": b[H] / 100, "l": b[L] / 100,
                        "a": round(a, 4), "z": v // b[N] if b[N] else 0,
                        "s": start, "e": start + SECOND_MS})
