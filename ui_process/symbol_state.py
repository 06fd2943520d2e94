"""One symbol's market state in a window: ticker, day stats, minute bars, forming bar.

Why it looks like this
----------------------
Sans-I/O and Qt-free: seed dicts in, plain results out, so every rule is a
unit test. ``PolygonDataManager`` owns one of these for its current symbol and
turns the results into Qt signals.

* Trades update last/high/low/volume only as their Polygon conditions allow
  (:mod:`shared.models.conditions`), the same rules the feed and simulator use.
* The **forming bar** (current minute) is built from trades: open/close from
  trades that may set the last price, high/low from those that may set
  high/low, volume from those that count. A volume-only first print (odd lot)
  opens the bar flat at the last known price. The official AM bar for that
  minute replaces it.
* **Finished bars** come from the snapshot and AM events, oldest first, at most
  ``max_bars``. An AM bar for a minute already held replaces that bar
  (``"replace"``); a newer one appends; an older unknown one is inserted in
  order (``"insert"``, rare: the indicators are then recomputed).
* The day resets when a trade's New York date changes; the previous last price
  becomes the previous close (the feed's snapshot gives the real one).
"""

from __future__ import annotations

import bisect
import datetime as dt
from typing import Any

from shared.market_hours import NY, ny_date, ny_time_str, session_for
from shared.models import wire
from shared.models.conditions import update_rules
from shared.models.market_data import AggregateData, QuoteData, TickerCalculationData, TradeData

MINUTE_MS = 60_000
_ALL = (True, True, True)


def _f(v: Any) -> float | None:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


class SymbolState:
    def __init__(self, symbol: str, max_bars: int = 2000):
        self.symbol = symbol
        self.max_bars = max_bars
        self.bars: list[dict] = []
        self.forming: dict | None = None
        self._forming_pv = 0.0
        self.last_price: float | None = None
        self.bid: float | None = None
        self.ask: float | None = None
        self.day_date: dt.date | None = None
        self.day_open: float | None = None
        self.day_high: float | None = None
        self.day_low: float | None = None
        self.day_volume = 0
        self.prev_close: float | None = None
        self.last_event_ms: int | None = None
        self._day_start = self._day_end = self._open_ms = 0
        self.bad_bars = 0  # malformed bars refused from snapshots

    # ------------------------------------------------------------ snapshot

    def load_snapshot(self, snap: dict) -> None:
        """Replace everything with the feed's snapshot (docs/PROTOCOL.md)."""
        raw = snap.get("bars")
        bars = [b for b in map(self._valid_bar, raw if isinstance(raw, list) else []) if b is not None]
        bars.sort(key=lambda b: b["timestamp"])
        self.bars = bars[-self.max_bars:]
        self.forming = self._valid_bar(snap.get("forming")) if snap.get("forming") is not None else None
        if self.forming is not None and self.bars and self.forming["timestamp"] <= self.bars[-1]["timestamp"]:
            self.forming = None
        self._forming_pv = 0.0
        if self.forming is not None:
            self.forming["transactions"] = self.forming["transactions"] or 0
            self._forming_pv = (self.forming.get("vwap") or self.forming["close"]) * self.forming["volume"]
        day = snap.get("day") if isinstance(snap.get("day"), dict) else {}
        self.day_open = _f(day.get("open"))
        self.day_high = _f(day.get("high"))
        self.day_low = _f(day.get("low"))
        self.day_volume = int(_f(day.get("volume")) or 0)
        self.prev_close = _f(day.get("prev_close"))
        self.last_price = _f(day.get("last"))
        self.day_date = None
        self._day_start = self._day_end = self._open_ms = 0
        d = day.get("date")
        if isinstance(d, str):
            try:
                self._set_day(dt.date.fromisoformat(d[:10]))
            except ValueError:
                pass
        lt, lq = snap.get("last_trade"), snap.get("last_quote")
        self.last_event_ms = None
        if isinstance(lt, dict) and _f(lt.get("price")) is not None:
            if self.last_price is None:
                self.last_price = float(lt["price"])
            self._seen(lt.get("timestamp"))
            if self.day_date is None and isinstance(lt.get("timestamp"), int):
                self._set_day(ny_date(lt["timestamp"]))
        if isinstance(lq, dict):
            self.bid, self.ask = _f(lq.get("bid_price")), _f(lq.get("ask_price"))
            self._seen(lq.get("timestamp"))
        else:
            self.bid = self.ask = None
        if self.bars:
            self._seen(self.bars[-1]["timestamp"])
            if self.last_price is None:
                self.last_price = self.bars[-1]["close"]

    def _valid_bar(self, b: Any) -> dict | None:
        """A snapshot bar checked like a wire event (finite numbers, int time); None (counted) if bad."""
        try:
            return wire.event_to_dict(self.symbol, ["AM", b["timestamp"], b["open"], b["high"], b["low"],
                                                    b["close"], b["volume"], b.get("vwap"), b.get("transactions")])
        except (KeyError, TypeError, AttributeError, wire.WireError):
            self.bad_bars += 1
            return None

    def _bar(self, b: dict) -> dict:
        return {"event_type": "aggregate", "symbol": self.symbol, "timestamp": int(b["timestamp"]),
                "open": float(b["open"]), "high": float(b["high"]), "low": float(b["low"]),
                "close": float(b["close"]), "volume": int(b["volume"]), "vwap": b.get("vwap"),
                "transactions": b.get("transactions")}

    def _seen(self, ts: Any) -> None:
        if isinstance(ts, int) and (self.last_event_ms is None or ts > self.last_event_ms):
            self.last_event_ms = ts

    # ------------------------------------------------------------ events

    def on_trade(self, t: TradeData) -> bool:
        """Apply a trade; True when the forming bar changed."""
        ts, price, size = t["timestamp"], t["price"], t["size"]
        if self.last_event_ms is None or ts > self.last_event_ms:
            self.last_event_ms = ts
        if not (self._day_start <= ts < self._day_end) and not self._roll_day(ts):  # hot path: one comparison
            return False  # a late print from an earlier day
        c = t["conditions"]
        hl, last, vol = update_rules(c) if c else _ALL  # most prints carry no condition
        if last:
            self.last_price = price
            if self.day_open is None and ts >= self._open_ms:
                self.day_open = price
        if hl:
            if self.day_high is None or price > self.day_high:
                self.day_high = price
            if self.day_low is None or price < self.day_low:
                self.day_low = price
        if vol:
            self.day_volume += size
        return self._form(ts, price, size, hl, last, vol)

    def _roll_day(self, ts: int) -> bool:
        """A trade outside the current New York day: start a new day; False for a late print of an earlier one."""
        d = ny_date(ts)
        if self.day_date is not None and d < self.day_date:
            return False
        if self.day_date is not None and d > self.day_date:
            self.prev_close = self.last_price
            self.day_open = self.day_high = self.day_low = None
            self.day_volume = 0
        self._set_day(d)
        return True

    def _set_day(self, d: dt.date) -> None:
        self.day_date = d
        start = dt.datetime.combine(d, dt.time(0), NY)
        self._day_start = int(start.timestamp() * 1000)
        self._day_end = int(dt.datetime.combine(d + dt.timedelta(days=1), dt.time(0), NY).timestamp() * 1000)
        s = session_for(d)
        # The day's open is the first regular-session print (as the feed's day stats); no session -> first print.
        self._open_ms = s.open if s is not None else self._day_start

    def _form(self, ts: int, price: float, size: int, hl: bool, last: bool, vol: bool) -> bool:
        minute = ts - ts % MINUTE_MS
        f = self.forming
        if f is not None and minute == f["timestamp"]:  # the common case: one more print in this minute
            changed = False
        else:
            if f is not None and minute < f["timestamp"]:
                return False
            if self.bars and minute <= self.bars[-1]["timestamp"]:
                return False  # a late print for a minute whose official bar is in
            if not (hl or last or vol):
                return False
            p = price if (hl or last) or self.last_price is None else self.last_price
            f = self.forming = {"event_type": "aggregate", "symbol": self.symbol, "timestamp": minute,
                                "open": p, "high": p, "low": p, "close": p, "volume": 0,
                                "vwap": None, "transactions": 0}
            self._forming_pv = 0.0
            changed = True
        if last and f["close"] != price:
            f["close"] = price
            changed = True
        if hl:
            if price > f["high"]:
                f["high"] = price
                changed = True
            if price < f["low"]:
                f["low"] = price
                changed = True
        if vol and size:
            f["volume"] += size
            self._forming_pv += price * size
            f["vwap"] = self._forming_pv / f["volume"]
            changed = True
        f["transactions"] += 1
        return changed

    def on_quote(self, q: QuoteData) -> bool:
        self._seen(q["timestamp"])
        changed = q["bid_price"] != self.bid or q["ask_price"] != self.ask
        self.bid, self.ask = q["bid_price"], q["ask_price"]
        return changed

    def on_aggregate(self, a: AggregateData) -> tuple[str, dict]:
        """Apply an official minute bar: ``("append"|"replace_last"|"replace"|"insert", bar)``."""
        bar = self._bar(a)
        ts = bar["timestamp"]
        self._seen(ts)
        if self.forming is not None and self.forming["timestamp"] <= ts:
            self.forming = None
        if self.last_price is None:
            self.last_price = bar["close"]
        bars = self.bars
        if not bars or ts > bars[-1]["timestamp"]:
            bars.append(bar)
            if len(bars) > self.max_bars:
                del bars[: len(bars) - self.max_bars]
            return "append", bar
        if ts == bars[-1]["timestamp"]:
            bars[-1] = bar
            return "replace_last", bar
        keys = [b["timestamp"] for b in bars]
        i = bisect.bisect_left(keys, ts)
        if i < len(bars) and keys[i] == ts:
            bars[i] = bar
            return "replace", bar
        bars.insert(i, bar)
        if len(bars) > self.max_bars:
            del bars[: len(bars) - self.max_bars]
        return "insert", bar

    # ------------------------------------------------------------ views

    def ticker(self, market_state: str) -> TickerCalculationData | None:
        """The seed's TickerCalculationData, or None before any price is known."""
        last = self.last_price
        bid, ask = self.bid, self.ask
        if last is None:
            if bid is None or ask is None:
                return None
            last = (bid + ask) / 2
        if bid is None or ask is None:
            bid = ask = last
        ref = self.prev_close if self.prev_close else self.day_open
        change = last - ref if ref else None
        return {
            "last_price": float(last),
            "bid": float(bid),
            "ask": float(ask),
            "spread": round(ask - bid, 10),
            "mid_price": (bid + ask) / 2,
            "volume": int(self.day_volume),
            "change": change,
            "change_percent": (change / ref * 100.0) if change is not None else None,
            "day_high": self.day_high,
            "day_low": self.day_low,
            "day_open": self.day_open,
            "last_update": ny_time_str(self.last_event_ms) if self.last_event_ms else "--:--:--",
            "market_state": market_state,  # type: ignore[typeddict-item]
        }
