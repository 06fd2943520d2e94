"""A scripted tape for the alert tests: a prior session's bars, then today's prints at chosen times.

Why scripted: each alert kind must fire exactly once at a known event, so the
tape is written by hand (sent verbatim by the stand-in upstream,
``tests.polygon_standin``; on every new connection it is sent again, which is
what a restarted feed must not fire twice on). Times are New York, on
2025-06-26 (a Thursday; the prior session 2025-06-25).

What happens (``EXPECT`` maps an alert spec to the event time it fires at):
* prior session: AM bars 09:30..10:05 of 1000 shares, 15:59 closes at 100.00
  (the prior close: ``move`` is against it; the minute-of-day average is 1000);
* 10:00:00 100.50 (the day's first print: sets high/low), 10:00:01 101.00 (new
  high), 10:00:02 99.50 (new low; below 100), 10:00:03 102.10 (above 102; +2.1 %),
  10:00:04 102.30 (above again: no second fire; high re-arms only after 5 min),
  10:00:05 LULD halt, 10:00:06 LULD resume, 10:01:00 1500 shares, 10:01:01 2000
  shares (3500 >= 3 x 1000 in the 10:01 minute: volume; 101.5 re-arms "above 102",
  below 101.898 = 102 less 0.1 %), 10:01:02 101.9, 10:01:03 101.0 (+1 %: re-arms
  "move 2", below 2 - 0.5 points), 10:01:04 102.05 (above 102 and +2.05 %: both
  fire a second time, new crossings).
"""

from __future__ import annotations

import datetime as dt
import json

from shared.market_hours import NY

SYM = "AAPL"


def ms(day: int, hh: int, mm: int, ss: int = 0) -> int:
    return int(dt.datetime(2025, 6, day, hh, mm, ss, tzinfo=NY).timestamp() * 1000)


def _trade(i: int, t: int, p: float, s: int = 100) -> dict:
    return {"ev": "T", "sym": SYM, "i": str(i), "x": 4, "p": p, "s": s, "t": t, "q": i, "z": 3}


def _bar(t: int, c: float, v: int = 1000) -> dict:
    return {"ev": "AM", "sym": SYM, "v": v, "o": c, "c": c, "h": c, "l": c, "vw": c, "s": t, "e": t + 60_000,
            "z": 10}


def prior_bars() -> list[dict]:
    bars = [_bar(ms(25, 9, 30) + k * 60_000, 100.0) for k in range(36)]
    return bars + [_bar(ms(25, 15, 59), 100.0)]


TODAY = [(ms(26, 10, 0, 0), 100.50, 100), (ms(26, 10, 0, 1), 101.00, 100), (ms(26, 10, 0, 2), 99.50, 100),
         (ms(26, 10, 0, 3), 102.10, 100), (ms(26, 10, 0, 4), 102.30, 100)]
HALT_T, RESUME_T = ms(26, 10, 0, 5), ms(26, 10, 0, 6)
LATER = [(ms(26, 10, 1, 0), 101.5, 1500), (ms(26, 10, 1, 1), 101.5, 2000), (ms(26, 10, 1, 2), 101.9, 100),
         (ms(26, 10, 1, 3), 101.0, 100), (ms(26, 10, 1, 4), 102.05, 100)]

# alert spec -> the event times it fires at, in order
EXPECT: list[tuple[dict, list[int]]] = [
    ({"kind": "above", "value": 102}, [ms(26, 10, 0, 3), ms(26, 10, 1, 4)]),
    ({"kind": "below", "value": 100}, [ms(26, 10, 0, 2)]),
    ({"kind": "move", "value": 2}, [ms(26, 10, 0, 3), ms(26, 10, 1, 4)]),
    ({"kind": "volume", "value": 3}, [ms(26, 10, 1, 1)]),
    ({"kind": "high"}, [ms(26, 10, 0, 1)]),
    ({"kind": "low"}, [ms(26, 10, 0, 2)]),
    ({"kind": "halt"}, [HALT_T]),
    ({"kind": "resume"}, [RESUME_T]),
]


def frames() -> list[str]:
    """The tape as raw frames: prior bars, today's first prints, LULD, the later minute."""
    i = 1
    out = [json.dumps(prior_bars())]
    first = []
    for t, p, s in TODAY:
        first.append(_trade(i, t, p, s))
        i += 1
    out.append(json.dumps(first))
    out.append(json.dumps([{"ev": "LULD", "T": SYM, "h": 110.0, "l": 90.0, "i": [15], "z": 3, "t": HALT_T, "q": 1}]))
    out.append(json.dumps([{"ev": "LULD", "T": SYM, "h": 110.0, "l": 90.0, "i": [16], "z": 3, "t": RESUME_T, "q": 2}]))
    for t, p, s in LATER:
        out.append(json.dumps([_trade(i, t, p, s)]))
        i += 1
    return out
