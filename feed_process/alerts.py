"""Alert rules: what each kind watches, when it fires, when it re-arms (sans-I/O: no sockets, no files, no clock).

Why it looks like this: alerts run in the feed, on the same folded events the
subscribers get, so they fire with no window open; this module only decides.
:class:`AlertEngine` is called with one symbol's batch *after* the market core
folded it (``FeedSymbol.watch``) and returns the alerts that fired; the book
(:mod:`.alert_book`) persists them and the service publishes them.

Which prints count is the market core's rule (``shared.market.conditions``:
a print that may set the last price moves price alerts; one that may set
high/low moves high/low alerts; one that counts volume adds to the minute's
volume), the day (high/low, previous close) is ``shared.market.day``'s, the
minute-of-day average is ``shared.market.relvol``'s, halts are
``shared.market.luld``'s codes.

Kinds (``value`` is the alert's number):

=========  =====================================================  ===============================
kind       fires on                                               re-arms
=========  =====================================================  ===============================
above      a print at or above ``value``                          a print below ``value`` less the
below      a print at or below ``value``                          hysteresis (% of value, 0.1) /
                                                                  above it plus the hysteresis
move       the change from the prior close reaches ``value`` %    the move falls back by the
           (signed: 5 = up 5 %, -3 = down 3 %)                    hysteresis (points, 0.5), or a
                                                                  new session day
volume     the minute's volume reaches ``value`` x the average    the next minute after
           volume of that minute of day (prior sessions)          ``rearm_minutes`` (default 1)
high/low   a print above the day's high / below its low so far    after ``rearm_minutes`` (5)
           (the day's first print sets them: never fires)
halt       a LULD event with a halt indicator (15)                each new event fires once
resume     a LULD event with a re-opening indicator (16)          each new event fires once
signal     an entry/exit signal a window reported for the symbol  each new signal fires once
=========  =====================================================  ===============================

Once per crossing, also across a restart: an alert ignores every event at or
before its last state change (``t``: the event time it fired or re-armed at,
persisted). A feed SIGKILLed and restarted that is sent the same tape again
(a replay, a stand-in) decides nothing twice; state only changes at events
that are new to it. A disarmed alert (``armed`` false) watches nothing.
"""

from __future__ import annotations

from shared.market.conditions import HL, LAST, VOL, flags
from shared.market.day import DAY_MS, day_start
from shared.market.history import MINUTE
from shared.market.luld import halt_state

PRICE_KINDS = ("above", "below")
KINDS = ("above", "below", "move", "volume", "high", "low", "halt", "resume", "signal")
NEEDS_VALUE = frozenset({"above", "below", "move", "volume"})
DEFAULT_HYSTERESIS = {"above": 0.1, "below": 0.1, "move": 0.5}
DEFAULT_REARM_MINUTES = {"volume": 1, "high": 5, "low": 5}


class _Watch:
    """What one symbol's alerts need between batches (the pre-batch day, the minute's volume)."""

    __slots__ = ("lo", "hi_day", "lo_day", "minute", "minute_vol", "ext_minute", "ext")

    def __init__(self, st) -> None:
        day = st.day_stats() if st.last_ms else {"high": None, "low": None}
        self.lo = day_start(st.last_ms)[1] if st.last_ms else None
        self.hi_day, self.lo_day = day["high"], day["low"]
        f = st.market.forming
        self.minute, self.minute_vol = (f[0], f[5]) if f is not None else (None, 0)
        self.ext_minute, self.ext = None, True


REARMED: dict = {}  # _trade's answer for "no fire, but the alert re-armed" (the book must save it)


class AlertEngine:
    def __init__(self) -> None:
        self.watch: dict[str, _Watch] = {}
        self.changed = False  # an alert re-armed since the owner last saved

    def attach(self, st) -> None:
        self.watch[st.symbol] = _Watch(st)

    def detach(self, symbol: str) -> None:
        self.watch.pop(symbol, None)

    def check(self, st, lst: list, alerts: list[dict]) -> list[tuple[dict, dict]]:
        """``alerts`` (armed, of ``st.symbol``) against the folded batch ``lst``: [(alert, fire info)].

        Mutates the alerts' ``fired`` / ``t`` (the caller persists before it publishes)."""
        w = self.watch.get(st.symbol)
        if w is None:
            w = self.watch[st.symbol] = _Watch(st)
        fired: list[tuple[dict, dict]] = []
        kinds = {a["kind"] for a in alerts}
        prev = st.prior_close() if "move" in kinds else None
        avg_cache: dict[int, float | None] = {}
        for ev in lst:
            code, t = ev[0], ev[1]
            if code == "T":
                if w.lo is None or not w.lo <= t < w.lo + DAY_MS:
                    w.lo = day_start(t)[1]
                    w.hi_day = w.lo_day = None
                start = t - t % MINUTE
                if start != w.ext_minute:
                    w.ext_minute, w.ext = start, st.market.extended(start)
                m = flags(ev[5], w.ext)
                p = ev[2]
                new_hi = new_lo = False
                if m & HL:
                    new_hi = w.hi_day is not None and p > w.hi_day
                    new_lo = w.lo_day is not None and p < w.lo_day
                    if w.hi_day is None or p > w.hi_day:
                        w.hi_day = p
                    if w.lo_day is None or p < w.lo_day:
                        w.lo_day = p
                if m & VOL:
                    if start != w.minute:
                        w.minute, w.minute_vol = start, 0
                    w.minute_vol += ev[3]
                for a in alerts:
                    if t <= a.get("t", 0):
                        continue
                    info = self._trade(a, t, p, m, new_hi, new_lo, prev, w, st, avg_cache)
                    if info is REARMED:
                        self.changed = True
                    elif info is not None:
                        fired.append((a, info))
            elif code == "LULD":
                state = halt_state(ev[4] if len(ev) > 4 else ())
                if state is None:
                    continue
                for a in alerts:
                    if a["kind"] == state and t > a.get("t", 0):
                        a["t"] = t
                        fired.append((a, {"t": t, "event": state, "limit_up": ev[2], "limit_down": ev[3]}))
        hl = kinds & {"high", "low"}
        if hl and lst:  # the day's figures (bars included) are the next batch's "so far"
            day = st.day_stats()
            if day["high"] is not None and w.lo == day_start(st.last_ms)[1]:
                w.hi_day = max(w.hi_day, day["high"]) if w.hi_day is not None else day["high"]
                w.lo_day = min(w.lo_day, day["low"]) if w.lo_day is not None else day["low"]
        return fired

    @staticmethod
    def _trade(a: dict, t: int, p: float, m: int, new_hi: bool, new_lo: bool, prev, w: _Watch, st,
               avg_cache: dict) -> dict | None:
        kind, v = a["kind"], a.get("value")
        if kind in PRICE_KINDS or kind == "move":
            if not m & LAST:
                return None
            if kind == "move":
                if not prev:
                    return None
                x = (p / prev - 1) * 100
                day = w.lo
                if a.get("fired") and a.get("fired_day") != day:
                    a["fired"], a["t"] = False, t  # a new session day: a new prior close
                    return REARMED
                hit = x >= v if v >= 0 else x <= v
                back = x < v - a.get("hysteresis", DEFAULT_HYSTERESIS["move"]) if v >= 0 else \
                    x > v + a.get("hysteresis", DEFAULT_HYSTERESIS["move"])
            else:
                x = p
                h = v * a.get("hysteresis", DEFAULT_HYSTERESIS[kind]) / 100
                hit = p >= v if kind == "above" else p <= v
                back = p < v - h if kind == "above" else p > v + h
            if a.get("fired"):
                if back:
                    a["fired"], a["t"] = False, t  # re-armed: the next crossing fires
                    return REARMED
                return None
            if not hit:
                return None
            a["fired"], a["t"], a["fired_day"] = True, t, w.lo
            info = {"t": t, "price": p}
            if kind == "move":
                info.update(prev_close=prev, change_pct=round(x, 3))
            return info
        if kind in ("high", "low"):
            if not (new_hi if kind == "high" else new_lo):
                return None
            if a.get("fired") and t < a.get("t", 0) + a.get("rearm_minutes", DEFAULT_REARM_MINUTES[kind]) * MINUTE:
                return None
            a["fired"], a["t"] = True, t
            return {"t": t, "price": p, "event": f"new {kind} of day"}
        if kind == "volume":
            if not m & VOL:
                return None
            if a.get("fired") and t < a.get("t", 0) + a.get("rearm_minutes", DEFAULT_REARM_MINUTES["volume"]) * MINUTE:
                return None
            if a.get("fired") and w.minute == a.get("t", 0) - a.get("t", 0) % MINUTE:
                return None  # at most once per minute
            avg = avg_cache.get(w.minute, -1.0)
            if avg == -1.0:
                avg = avg_cache[w.minute] = st.profile.minute_avg(st.market.history, w.minute)
            if not avg or w.minute_vol < v * avg:
                return None
            a["fired"], a["t"] = True, t
            return {"t": t, "price": p, "minute_volume": w.minute_vol, "average": round(avg, 1),
                    "ratio": round(w.minute_vol / avg, 2)}
        return None

    @staticmethod
    def signal(a: dict, sig: dict) -> dict | None:
        """A window reported an entry/exit signal; fires once per signal (by its bar time)."""
        t = sig.get("timestamp")
        if not isinstance(t, int) or t <= a.get("t", 0):
            return None
        a["fired"], a["t"] = True, t
        return {"t": t, "event": str(sig.get("kind") or sig.get("signal_type") or "signal")[:40],
                "price": sig.get("price"), "reason": str(sig.get("reason", ""))[:120]}
