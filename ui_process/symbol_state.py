"""One symbol's market state in a window: ticker, day stats, minute bars, forming bar.

Why it looks like this
----------------------
Sans-I/O and Qt-free: seed dicts in, plain results out, so every rule is a
unit test. ``PolygonDataManager`` owns one of these for its current symbol and
turns the results into Qt signals. The market rules (conditions, what opens a
bar, volume-only minutes, late prints, official AM bars, day stats) are the
market core's (:mod:`shared.market`), the same code the feed and the
simulator run, so the window draws exactly the bars the feed serves.

This class adds what only a window needs:
* ``bars``: the finished bars as seed dicts (what the chart and indicators
  read), built from the core's history when it changed; a bar finished from trades
  (the next minute's first print) is kept as a *provisional* bar, and the
  official AM bar of that minute replaces it (``"replace_last"``).
* :meth:`take_finished`: the ``(kind, bar)`` of bars the trades finished or
  changed since the last call, for the chart and the signals.
* the snapshot: the feed's bars, forming bar and day dict seed the core (the
  day dict becomes the day's base, like an upstream ``av``/``op``).
"""

from __future__ import annotations

from typing import Any

from shared.market import HIST, MINUTE, PROV, DayView, MinuteBars, bar_dict, prev_close_from_bars
from shared.market.day import day_start
from shared.market.history import CT, OT, PV, VW, C, K, N, O, S, V, upstream_bar
from shared.market_hours import ny_time_str
from shared.models import wire
from shared.models.market_data import AggregateData, QuoteData, TickerCalculationData, TradeData

MINUTE_MS = MINUTE


def _f(v: Any) -> float | None:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


class WindowSymbol:
    def __init__(self, symbol: str, max_bars: int = 2000):
        self.symbol = symbol
        self.max_bars = max_bars
        self.market = MinuteBars(max_bars, outbox=True)
        self.day = DayView(self.market)
        self._bars: list[dict] = []      # the core's finished bars as seed dicts (see ``bars``)
        self._bars_version = -1
        self.finished: list[tuple[str, dict]] = []
        self.bid: float | None = None
        self.ask: float | None = None
        self._prev_close: float | None = None
        self._prev_lo: int | None = None  # the trading day the snapshot's prev_close belongs to
        self._last_hint: float | None = None  # the snapshot's last price, until a print sets one
        self.bad_bars = 0  # malformed bars refused from snapshots

    # ------------------------------------------------------------ snapshot

    def load_snapshot(self, snap: dict) -> None:
        """Replace everything with the feed's snapshot (docs/PROTOCOL.md)."""
        self.__init__(self.symbol, self.max_bars)  # type: ignore[misc]
        m = self.market
        raw = snap.get("bars")
        for d in raw if isinstance(raw, list) else []:
            b = self._valid_bar(d)
            if b is not None:
                m.history.put(b)
        fb = self._valid_bar(snap.get("forming")) if snap.get("forming") is not None else None
        if fb is not None and fb[S] > m.history.last_start():
            fb[K] = PROV
            fb[PV] = (fb[VW] if fb[VW] is not None else fb[C]) * fb[V]
            fb[OT] = fb[CT] = fb[S]  # later prints are later in time: they move the close, never the open
            fb[VW] = None
            m.forming = fb
        m.take()  # the snapshot's bars are a full refresh, not changes
        lt, lq = snap.get("last_trade"), snap.get("last_quote")
        if isinstance(lt, dict) and _f(lt.get("price")) is not None and isinstance(lt.get("timestamp"), int):
            self._seen(lt["timestamp"])
        if isinstance(lq, dict):
            self.bid, self.ask = _f(lq.get("bid_price")), _f(lq.get("ask_price"))
            self._seen(lq.get("timestamp"))
        if m.history.bars:
            self._seen(m.history.bars[-1][S])
        day = snap.get("day") if isinstance(snap.get("day"), dict) else {}
        self._last_hint = _f(day.get("last"))
        if self._last_hint is None and isinstance(lt, dict):
            self._last_hint = _f(lt.get("price"))
        if self._last_hint is None and self.bars:
            self._last_hint = self.bars[-1]["close"]
        ref = m.last_ms or (m.forming[S] if m.forming is not None else 0)
        if ref:
            lo = day_start(ref)[1]
            self._prev_close, self._prev_lo = _f(day.get("prev_close")), lo
            f = m.forming
            covered = f[S] if f is not None else (m.history.last_start() + MINUTE if m.history.bars else ref)
            vol = _f(day.get("volume"))
            if vol is not None:  # the feed's day covers every minute before its forming bar
                self.day.base = [covered, int(vol) - (f[V] if f is not None else 0), _f(day.get("high")),
                                 _f(day.get("low")), _f(day.get("open")), _f(day.get("vwap")), lo,
                                 _f(day.get("last"))]

    def _valid_bar(self, b: Any) -> list | None:
        """A snapshot bar checked like a wire event (finite numbers, int time); None (counted) if bad."""
        try:
            d = wire.event_to_dict(self.symbol, ["AM", b["timestamp"], b["open"], b["high"], b["low"],
                                                 b["close"], b["volume"], b.get("vwap"), b.get("transactions")])
        except (KeyError, TypeError, AttributeError, wire.WireError):
            self.bad_bars += 1
            return None
        nb = upstream_bar(d["timestamp"], d["open"], d["high"], d["low"], d["close"], d["volume"], d["vwap"],
                          d["transactions"] or 0, PROV if b.get("provisional") else HIST)
        if nb[K] == PROV:  # a bar the feed built from trades: late prints may still fold into it
            nb[PV] = (nb[VW] if nb[VW] is not None else nb[C]) * nb[V]
            nb[OT], nb[CT] = nb[S], nb[S] + MINUTE - 1  # print times unknown: late prints move neither
        return nb

    def _seen(self, ts: Any) -> None:
        if isinstance(ts, int) and ts > self.market.last_ms:
            self.market.last_ms = ts

    # ------------------------------------------------------------ finished bars

    @property
    def bars(self) -> list[dict]:
        """The finished bars as seed dicts, rebuilt only when the core's history changed (about once a minute)."""
        h = self.market.history
        if self._bars_version != h.version:
            self._bars = [bar_dict(self.symbol, b) for b in h.bars]
            self._bars_version = h.version
        return self._bars

    def _sync(self) -> tuple[str, dict] | None:
        """Queue the core's bar changes for :meth:`take_finished`; return the last one."""
        last = None
        for kind, b in self.market.take():
            last = (kind, bar_dict(self.symbol, b))
            self.finished.append(last)
        return last

    def take_finished(self) -> list[tuple[str, dict]]:
        """``(kind, bar)`` of every finished bar trades closed or changed (late prints) since the last call."""
        out, self.finished = self.finished, []
        return out

    # ------------------------------------------------------------ events

    def on_trade(self, t: TradeData) -> bool:
        """Apply a trade; True when the forming bar changed (finished bars: :meth:`take_finished`)."""
        m = self.market
        f0 = m.forming
        n0 = f0[N] if f0 is not None else -1
        m.fold((("T", t["timestamp"], t["price"], t["size"], None, t["conditions"]),))
        if m.outbox:
            self._sync()
        f = m.forming  # a print that counted changed the bar (its transactions at least)
        return f is not None and f[O] is not None and (f is not f0 or f[N] != n0)

    def on_quote(self, q: QuoteData) -> bool:
        self._seen(q["timestamp"])
        changed = q["bid_price"] != self.bid or q["ask_price"] != self.ask
        self.bid, self.ask = q["bid_price"], q["ask_price"]
        return changed

    def on_aggregate(self, a: AggregateData) -> tuple[str, dict]:
        """Apply an official minute bar: ``("append"|"replace_last"|"replace"|"insert", bar)``.

        A bar the AM's arrival closed first (the forming minute before it) is in :meth:`take_finished`.
        """
        g = a.get
        arr = ("AM", int(a["timestamp"]), float(a["open"]), float(a["high"]), float(a["low"]), float(a["close"]),
               int(a["volume"]), g("vwap"), g("transactions"), g("accumulated_volume"), g("official_open"),
               g("day_vwap"), g("end_timestamp"))
        self.market.fold((arr,))
        last = self._sync()
        if last is None or last[1]["timestamp"] != arr[1]:  # refused: older than every bar kept
            return "insert", bar_dict(self.symbol, upstream_bar(*arr[1:9], HIST))
        self.finished.pop()  # the caller handles the AM's own bar
        return last

    def on_second_aggregate(self, a: dict) -> None:
        """An ``A`` event: day marks (av/op/a) only, never a bar."""
        g = a.get
        self.market.fold((("A", a["timestamp"], None, None, None, None, None, None, None,
                           g("accumulated_volume"), g("official_open"), g("day_vwap"), g("end_timestamp")),))

    # ------------------------------------------------------------ views

    @property
    def forming(self) -> dict | None:
        """The forming bar as a seed dict, once it has a price."""
        f = self.market.forming_open()
        if f is None:
            return None
        return bar_dict(self.symbol, f)

    @property
    def last_event_ms(self) -> int | None:
        return self.market.last_ms or None

    @property
    def prev_close(self) -> float | None:
        ref = self.market.last_ms
        if not ref:
            return self._prev_close
        if self._prev_lo is not None and day_start(ref)[1] == self._prev_lo:
            return self._prev_close
        return prev_close_from_bars(self.market.history, ref)

    def day_stats(self) -> dict:
        return self.day.stats(self.market.last_ms, self.prev_close)

    @property
    def last_price(self) -> float | None:
        last = self.day_stats()["last"]
        return last if last is not None else self._last_hint

    day_open = property(lambda self: self.day_stats()["open"])
    day_high = property(lambda self: self.day_stats()["high"])
    day_low = property(lambda self: self.day_stats()["low"])
    day_volume = property(lambda self: int(self.day_stats()["volume"] or 0))

    def ticker(self, market_state: str) -> TickerCalculationData | None:
        """The seed's TickerCalculationData, or None before any price is known."""
        day = self.day_stats()
        last = day["last"] if day["last"] is not None else self._last_hint
        bid, ask = self.bid, self.ask
        if last is None:
            if bid is None or ask is None:
                return None
            last = (bid + ask) / 2
        if bid is None or ask is None:
            bid = ask = last
        ref = day["prev_close"] if day["prev_close"] else day["open"]
        change = last - ref if ref else None
        ms = self.market.last_ms
        return {
            "last_price": float(last),
            "bid": float(bid),
            "ask": float(ask),
            "spread": round(ask - bid, 10),
            "mid_price": (bid + ask) / 2,
            "volume": int(day["volume"] or 0),
            "change": change,
            "change_percent": (change / ref * 100.0) if change is not None else None,
            "day_high": day["high"],
            "day_low": day["low"],
            "day_open": day["open"],
            "last_update": ny_time_str(ms) if ms else "--:--:--",
            "market_state": market_state,  # type: ignore[typeddict-item]
        }
