"""Synthetic market: a believable, deterministic tape for any symbol.

Why this shape: every test and benchmark, and a new user's first ``make run``,
talk to this generator, so it must be (a) believable - penny ticks, 1-3 tick
spreads, trades at or inside the quote, lognormal sizes with odd lots and real
condition codes, activity shaped by the US session (busy open and close,
bursts, quiet when closed); (b) exact - its AM bars are built from its own
trades (:mod:`.bars`); (c) deterministic - one ``random.Random`` per
(seed, symbol), drawn in one fixed order, so the tape does not depend on how
the caller slices time; and (d) cheap - no I/O, plain floats and ints, events
materialised as dicts only when someone wants them.

It is sans-I/O: :meth:`SymbolMarket.advance` moves the symbol's own time
forward to a given epoch-ms and appends the events in between to a list (or
drops them but keeps the bars, for catch-up). History for backfill is the
bars it produced on that same path, so history and live agree.

Each symbol's tape starts at 04:00 ET of the session it is created for. The
previous session's daily bar (its close is the open's reference) and older
daily bars are drawn from a second generator, walking back in time.

Scale: the price level, daily volume and volatility come from
:mod:`.reference` (real-looking levels for common tickers). Events per second
follow the U-shaped session profile scaled by liquidity; trade *sizes* are
scaled so that the regular session's expected volume is the ticker's average
daily volume (a pure-Python generator cannot print AAPL's half a million
trades a day, so its prints are larger than the real ones, the volume per
minute is not). Extended hours print smaller. Second aggregates (``A``) are
built (by the same core rules as the minute bars, :mod:`.seconds`) only while
someone wants them (``emit_seconds``); they draw no random numbers and their
day marks come from the minute bars' day state, so subscribing ``A`` never
changes the tape.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import random
from typing import Callable

from shared.market_hours import NY, Session, previous_session

from .bars import BarBuilder
from .days import day_bar as _day_bar, next_session_after, session_on_or_before  # noqa: F401 (re-exported)
from .reference import activity_for, reference
from .seconds import SecondBuilder

# Exchanges that print most US equity volume (ids as in shared.models.market_data).
_QUOTE_EXCHANGES = (4, 7, 8, 10, 11, 12, 15, 17, 19, 21)
_TRADE_EXCHANGES = (4, 4, 4, 8, 10, 11, 12, 12, 15, 19, 21)
_TRADING_SECONDS_PER_YEAR = 252 * 6.5 * 3600
_TRADE_SHARE = 0.4  # after the first quote an event is a trade with this probability (see _event)
_SIZE_SIGMA = 1.25  # lognormal trade sizes: mean = exp(mu + sigma^2 / 2)
_EXTENDED_SIZE = 0.7  # log-size lower in extended hours (prints about half as large)
_BURST_GAIN = 1 + (1 / 600) * 20 * 2.5  # bursts: one per 600 s, ~20 s long, ~3.5x: ~8% more events


def _regular_profile(t: int, open_ms: int, close_ms: int) -> float:
    """Events per sim-second in the regular session at activity 1: a U, heavy first and last half hour
    (a real first minute trades ~5-10x a midday minute; the close ~3-5x)."""
    return 4.0 + 26.0 * math.exp(-(t - open_ms) / 720_000) + 12.0 * math.exp(-(close_ms - t) / 900_000)


def _regular_events_per_day() -> float:
    """Expected events of a standard 6.5 h session at activity 1 (integrated once, per second)."""
    close = int(6.5 * 3_600_000)
    return sum(_regular_profile(s * 1000, 0, close) for s in range(close // 1000)) * _BURST_GAIN


_REGULAR_EVENTS = _regular_events_per_day()


def _rng(seed: int, symbol: str, salt: str) -> random.Random:
    h = hashlib.blake2b(f"{seed}|{symbol}|{salt}".encode(), digest_size=8).digest()
    return random.Random(int.from_bytes(h, "big"))


class SymbolMarket:
    """One symbol's tape from ``session.pre_start`` on.

    ``rate_fn(t_ms)`` may return an events-per-sim-second override (load
    tests, ``--rate``; exact: no bursts on top); ``None`` means the session profile.
    """

    def __init__(self, symbol: str, seed: int, session: Session,
                 rate_fn: Callable[[int], float | None] | None = None):
        self.symbol = symbol
        self.seed = seed
        self.rate_fn = rate_fn
        meta = _rng(seed, symbol, "meta")
        # The level comes from the reference table; the seed moves it a little (a different "day").
        ref = reference(symbol)
        self.reference = ref
        self.prev_close = max(1, int(round(ref.price * math.exp(meta.gauss(0.0, 0.03)) * 100)))
        self.sigma = ref.sigma * meta.uniform(0.9, 1.1)  # annualised
        self.activity = activity_for(ref.adv) * meta.uniform(0.9, 1.1)
        self.adv = int(ref.adv * meta.uniform(0.85, 1.15))
        # Trade sizes: the regular session's expected trades carry the day's volume.
        trades = _REGULAR_EVENTS * self.activity * _TRADE_SHARE
        self.mean_size = max(20.0, self.adv / trades)
        self.size_mu = math.log(self.mean_size) - _SIZE_SIGMA ** 2 / 2
        self.tape = meta.choice((1, 2, 3))
        gap = meta.gauss(0.0, 0.008)
        self.mid = max(1.0, self.prev_close * (1.0 + gap))
        self.rng = _rng(seed, symbol, "tape")
        self.session = session
        self.bars: list[dict] = []  # finished AM bars of the current session (with "n")
        self.prev_bars: list[dict] = []  # the previous session's, so the evening chart still has its day
        self.builder = BarBuilder(symbol, self.prev_close, lambda: self.session)
        self.seconds = SecondBuilder(symbol, self.builder)
        self._emit_seconds = False  # A events are built and go out only while someone subscribes A
        self.bid = self.ask = 0
        self.have_quote = False
        self.trade_id = 0
        self.seq = 0
        self.burst_until = 0
        self.burst_mult = 1.0
        self._prof_sec: int | None = None
        self._prof = 0.0
        self._bursts = True  # False while --rate sets the rate: it asks for exactly that many events
        self.t = session.pre_start  # time up to which the tape is generated
        self.last_event_t = session.pre_start
        self.next_t = session.pre_start + self._gap(session.pre_start)
        self._daily_cache: list[dict] | None = None

    def _set_emit_seconds(self, on: bool) -> None:
        if on != self._emit_seconds:
            self._emit_seconds = on
            self.seconds.resume(self.t) if on else self.seconds.pause()  # from the next whole second

    emit_seconds = property(lambda self: self._emit_seconds, _set_emit_seconds)

    # ---- activity -------------------------------------------------------
    def _profile(self, t: int) -> float:
        """The session's activity shape at ``t`` (events per sim-second before bursts)."""
        s = self.session
        if self.rate_fn is not None:
            r = self.rate_fn(t)
            self._bursts = r is None
            if r is not None:
                return r
        if t < s.open:
            # pre-market: thin, waking up towards the open
            x = (t - s.pre_start) / max(1, s.open - s.pre_start)
            base = 0.25 + 2.0 * x ** 3
        elif t < s.close:
            base = _regular_profile(t, s.open, s.close)
        else:
            x = (t - s.close) / max(1, s.post_end - s.close)
            base = 0.3 + 1.5 * (1 - x) ** 3
        return base * self.activity

    def intensity(self, t: int) -> float:
        """Events per sim-second at ``t`` (0 when the market is closed)."""
        s = self.session
        if t < s.pre_start or t >= s.post_end:
            return 0.0
        sec = t // 1000
        if sec != self._prof_sec:  # the shape is smooth: once per tape second is plenty (and cheap)
            self._prof_sec = sec
            self._prof = self._profile(sec * 1000)
        return self._prof * self.burst_mult if t < self.burst_until and self._bursts else self._prof

    def _gap(self, t: float) -> float:
        """Milliseconds to the next event (float: high rates need sub-ms gaps); inf when closed."""
        lam = self.intensity(int(t))
        if lam <= 0.0:
            return math.inf
        gap = -math.log(1.0 - self.rng.random()) / lam * 1000.0  # expovariate, inlined
        start = getattr(self.rate_fn, "start_ms", None)
        if start is not None and t < start < t + gap:
            # --rate switches the intensity on at its start: a gap drawn at the thin pre-market rate
            # must not run past it (a subscriber saw nothing for 17 s). No event came before the
            # switch, so by memorylessness the next one is drawn afresh from there.
            return (start - t) + self._gap(start)
        return gap

    # ---- generation -----------------------------------------------------
    def _roll_session(self, out: list[dict] | None) -> None:
        """Close the day and jump to the next session's 04:00."""
        self._flush_bar(out)
        nxt = next_session_after(self.session.day)
        self.prev_close = self.builder.last_cents or self.prev_close
        self.session = nxt
        self._prof_sec = None
        self.prev_bars = self.bars
        self.bars = []
        self.builder.new_day()  # the second bars' day marks with it
        self._daily_cache = None
        self.t = self.last_event_t = nxt.pre_start
        self.next_t = nxt.pre_start + self._gap(nxt.pre_start)

    def _flush_bar(self, out: list[dict] | None) -> None:
        if self._emit_seconds and out is not None:  # the last second of the minute ends with it
            self.seconds.close(out)
        closed: list[dict] = []
        self.builder.close(closed)
        self._keep_bars(closed, out)

    def _keep_bars(self, closed: list[dict], out: list[dict] | None) -> None:
        for b in closed:
            self.bars.append(b)
            if out is not None:
                ev = dict(b)
                del ev["n"]  # not on Polygon's AM wire format; kept for history
                out.append(ev)

    def advance(self, until: int, out: list[dict] | None = None) -> None:
        """Generate every event with time < ``until``; append them to ``out`` if given."""
        rng = self.rng
        # A bars only when someone wants them and the events are kept (catch-up drops events)
        sec = self.seconds if self._emit_seconds and out is not None else None
        while True:
            # A closed session ends the day; the tape resumes at the next 04:00.
            if self.next_t >= self.session.post_end:
                if self.session.post_end <= until:
                    if self.builder.due(self.session.post_end):
                        self._flush_bar(out)
                    self._roll_session(out)
                    continue
                break
            ft = self.next_t
            if ft >= until:
                break
            t = int(ft)
            if sec is not None and sec.due(t):
                sec.close(out)
            if self.builder.due(t):
                self._flush_bar(out)
            self._event(t, rng, out)
            self.last_event_t = t
            self.next_t = ft + self._gap(ft)
        if sec is not None and sec.due(until):
            sec.close(out)
        if self.builder.due(until):
            self._flush_bar(out)
        self.t = max(self.t, until)
        if out is None and self._emit_seconds:  # events dropped: A bars start again at a whole second
            self.seconds.resume(self.t)

    def _event(self, t: int, rng: random.Random, out: list[dict] | None) -> None:
        dt_s = (t - self.last_event_t) / 1000.0
        # bursts: news-like flurries, on average one per 10 minutes of tape time
        # (per second, not per event, so busy periods don't feed on themselves)
        if t >= self.burst_until and rng.random() < dt_s / 600.0:
            self.burst_until = t + int(rng.expovariate(1 / 20.0) * 1000)
            self.burst_mult = rng.uniform(2.0, 5.0)
        self.mid += rng.gauss(0.0, self.mid * self.sigma * math.sqrt(dt_s / _TRADING_SECONDS_PER_YEAR))
        if self.mid < 5.0:
            self.mid = 5.0
        self.seq += 1
        regular = self.session.open <= t < self.session.close
        if not self.have_quote or rng.random() < 0.6:
            self._quote(t, rng, regular, out)
        else:
            self._trade(t, rng, regular, out)

    def _quote(self, t: int, rng: random.Random, regular: bool, out: list[dict] | None) -> None:
        u = rng.random()
        if regular:
            spread = 1 if u < 0.6 else 2 if u < 0.9 else 3
        else:
            spread = 1 if u < 0.25 else 2 if u < 0.6 else 3
        bid = int(self.mid - spread / 2.0 + 0.5)
        if bid < 1:
            bid = 1
        self.bid, self.ask, self.have_quote = bid, bid + spread, True
        log = math.log
        bs = 1 + int(-log(1.0 - rng.random()) * 4.0)  # exponential sizes, mean ~4 lots
        as_ = 1 + int(-log(1.0 - rng.random()) * 4.0)
        nq = len(_QUOTE_EXCHANGES)  # random()-indexing: choice() is 3x slower
        bx = _QUOTE_EXCHANGES[int(rng.random() * nq)]
        ax = _QUOTE_EXCHANGES[int(rng.random() * nq)]
        if out is not None:
            out.append({"ev": "Q", "sym": self.symbol, "bx": bx, "bp": bid / 100, "bs": bs,
                        "ax": ax, "ap": self.ask / 100, "as": as_, "c": 1, "t": t,
                        "q": self.seq, "z": self.tape})

    def _trade(self, t: int, rng: random.Random, regular: bool, out: list[dict] | None) -> None:
        u = rng.random()
        bid, ask = self.bid, self.ask
        if u < 0.42:
            cents = bid
        elif u < 0.84 or ask - bid < 2:
            cents = ask
        else:
            cents = rng.randint(bid + 1, ask - 1)
        size = int(math.exp(rng.gauss(self.size_mu if regular else self.size_mu - _EXTENDED_SIZE,
                                      _SIZE_SIGMA))) + 1
        if size >= 80 and rng.random() < 0.55:
            size = max(100, int(round(size / 100.0)) * 100)
        conds: list[int] = []
        if rng.random() < 0.15:
            conds.append(14)  # intermarket sweep
        if not regular:
            conds.append(12)  # Form T: extended hours
        if size < 100:
            conds.append(37)  # odd lot
        v = rng.random()
        if v < 0.04:
            conds.append(41)  # trade-through exempt
        elif v < 0.043:
            conds.append(2)  # average price trade: counts volume only
        x = _TRADE_EXCHANGES[int(rng.random() * len(_TRADE_EXCHANGES))]
        self.trade_id += 1
        if self._emit_seconds and out is not None:  # before the minute builder: a second it closes
            self.seconds.add(t, cents, size, conds, out)  # reads the day marks without this trade
        closed: list[dict] = []
        self.builder.add(t, cents, size, conds, closed)
        if closed:  # defensive: due() normally closes first
            self._keep_bars(closed, out)
        if out is not None:
            ev = {"ev": "T", "sym": self.symbol, "x": x, "i": str(self.trade_id), "z": self.tape,
                  "p": cents / 100, "s": size, "t": t, "q": self.seq}
            if conds:
                ev["c"] = conds
            out.append(ev)

    # ---- history --------------------------------------------------------
    def minute_bars(self) -> list[dict]:
        """Finished bars of the previous and the current session (dicts with ``n``), oldest first."""
        return self.prev_bars + self.bars if self.prev_bars else self.bars

    def daily_bars(self, count: int = 30) -> list[dict]:
        """Previous sessions' daily bars (oldest first); the last one closes at ``prev_close``.

        Drawn from their own generator, walking back from the previous close,
        so they are deterministic and consistent with today's reference.
        """
        if self._daily_cache is not None and len(self._daily_cache) >= count:
            return self._daily_cache[-count:]
        rng = _rng(self.seed, self.symbol, f"daily|{self.session.day.isoformat()}")
        out: list[dict] = []
        day = self.session.day
        close = self.prev_close
        for _ in range(count):
            s = previous_session(day)
            if s is None:
                break
            day = s.day
            o = max(1, int(close * (1 + rng.gauss(0, 0.012))))
            hi = max(o, close) + int(abs(rng.gauss(0, 0.006)) * close) + 1
            lo = max(1, min(o, close) - int(abs(rng.gauss(0, 0.006)) * close) - 1)
            vol = int(self.adv * rng.uniform(0.7, 1.3))
            vw = (hi + lo + close) / 3 / 100
            open_ms = int(dt.datetime.combine(day, dt.time(0, 0), NY).timestamp() * 1000)
            out.append({"t": open_ms, "o": o / 100, "h": hi / 100, "l": lo / 100, "c": close / 100,
                        "v": vol, "vw": round(vw, 4), "n": int(vol / self.mean_size)})
            close = o  # the day before closed near this day's open
        out.reverse()
        if self.prev_bars and out:  # a day this tape generated itself: its real bar
            prev_day = previous_session(self.session.day)
            if prev_day is not None:
                out[-1] = _day_bar(self.prev_bars, prev_day.day) or out[-1]
        self._daily_cache = out
        return out

    def today_daily_bar(self) -> dict | None:
        """The current session's daily bar so far, from its minute bars."""
        return _day_bar(self.bars, self.session.day)


class SyntheticMarket:
    """All symbols' tapes for one seed, created on first use at the clock's session."""

    def __init__(self, seed: int, session_for_time: Callable[[int], Session],
                 rate_fn: Callable[[int], float | None] | None = None):
        self.seed = seed
        self._session_for_time = session_for_time
        self.rate_fn = rate_fn
        self.symbols: dict[str, SymbolMarket] = {}

    def get(self, symbol: str, now: int) -> SymbolMarket:
        m = self.symbols.get(symbol)
        if m is None:
            m = SymbolMarket(symbol, self.seed, self._session_for_time(now), self.rate_fn)
            self.symbols[symbol] = m
        return m

    def advance(self, symbols, until: int, out: list[dict]) -> None:
        """Advance the given symbols to ``until``, appending their events (time-ordered per symbol)."""
        for sym in symbols:
            m = self.get(sym, until)
            if m.t < until:
                m.advance(until, out)
