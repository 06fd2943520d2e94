"""The real check: bars built from Polygon's own TSLA trades equal Polygon's own minute aggregates.

``TSLA-2025-06-27.jsonl.gz`` carries Polygon's published 1-minute bars as its
AM events. They are removed; the feed (``FeedSymbol``) and the window
(``WindowSymbol``: its bars and what the chart receives) build bars from the
trades alone, and each field is compared with Polygon's. The differences left
are the capture's, not the rules' (measured 2025 capture, 45 minutes 09:05-09:49):
* high/low: all equal except 09:30 (the file joins two captures there; see
  below) and 09:40 (a print stamped 09:39:59.99x that Polygon, bucketing by
  SIP time, put in 09:40).
* open/close: the rest differ only at a minute's edge - prints with the same
  millisecond in another order than the SIP's, or stamped just before the
  minute (participant time) that Polygon counted in the next minute.
* volume within 0.5 % everywhere; 09:30 is +0.37 %: the two captures overlap
  at the join.
"""

from __future__ import annotations

import gzip
import json

import pytest

from feed_process.state import FeedSymbol
from shared.models import wire
from tests.util import replay_dir
from ui_process.symbol_state import WindowSymbol

D = replay_dir()
FILE = D / "TSLA-2025-06-27.jsonl.gz" if D else None
pytestmark = pytest.mark.skipif(FILE is None or not FILE.exists(), reason="TSLA replay file not available")


def load() -> tuple[list[list], dict[int, dict]]:
    arrays, polygon = [], {}
    with gzip.open(FILE, "rt") as fh:
        for line in fh:
            r = json.loads(line)
            if r["ev"] == "T":
                arrays.append(["T", r["t"], r["p"], r["s"], r.get("x"), r.get("c") or [], r.get("i"), r.get("z"),
                               r.get("q"), None, None])
            elif r["ev"] == "Q":
                arrays.append(["Q", r["t"], r["bp"], r["bs"], r["ap"], r["as"], r.get("bx"), r.get("ax"), None, [],
                               r.get("z"), r.get("q")])
            elif r["ev"] == "AM":
                polygon[r["s"]] = r  # removed from the tape: the reference
    return arrays, polygon


def edge_prices(arrays, start: int, ms: int = 1_000) -> set:
    """Prices printed within ``ms`` of either edge of the minute at ``start`` (where capture order decides)."""
    return {a[2] for a in arrays if a[0] == "T" and (abs(a[1] - start) < ms or abs(a[1] - start - 60_000) < ms)}


def rates(bars: dict[int, dict], polygon: dict[int, dict], arrays) -> dict:
    n = len(polygon)
    out = {"minutes": n, "bars": sum(1 for s in polygon if s in bars)}
    for k in ("open", "high", "low", "close"):
        out[k] = sum(1 for s, p in polygon.items() if s in bars and bars[s][k] == p[k[0]]) / n
    out["volume_0.5%"] = sum(1 for s, p in polygon.items() if s in bars and abs(bars[s]["volume"] - p["v"])
                             <= 0.005 * p["v"]) / n
    out["open_close_edge"] = sum(1 for s, p in polygon.items() if s in bars and all(
        bars[s][k] == p[k[0]] or (bars[s][k] in edge_prices(arrays, s) and p[k[0]] in edge_prices(arrays, s))
        for k in ("open", "close"))) / n
    return out


@pytest.fixture(scope="module")
def tape():
    return load()


def check(bars: dict[int, dict], polygon, arrays) -> dict:
    r = rates(bars, polygon, arrays)
    assert r["bars"] == r["minutes"] == 45
    assert r["volume_0.5%"] == 1.0
    assert r["open_close_edge"] == 1.0  # every open/close equal, or both prints at the minute's edge
    assert r["high"] >= 43 / 45 and r["low"] == 1.0 and r["open"] >= 40 / 45 and r["close"] >= 39 / 45
    return r


def test_feed_bars_from_trades_equal_polygons(tape):
    arrays, polygon = tape
    st = FeedSymbol("TSLA")
    for i in range(0, len(arrays), 250):  # batches as frames arrive
        st.apply_batch(arrays[i:i + 250])
    snap = st.snapshot()
    bars = {b["timestamp"]: b for b in snap["bars"] + [snap["forming"]]}
    print("feed", check(bars, polygon, arrays))


def test_window_bars_and_chart_from_trades_equal_polygons(tape):
    arrays, polygon = tape
    s = WindowSymbol("TSLA")
    chart: dict[int, dict] = {}
    to_dict = wire.event_to_dict
    for a in arrays:
        ev = to_dict("TSLA", a)
        if a[0] == "T":
            s.on_trade(ev)
            if s.finished:
                for _, b in s.take_finished():
                    chart[b["timestamp"]] = b
        else:
            s.on_quote(ev)
    chart[s.forming["timestamp"]] = s.forming
    bars = {b["timestamp"]: b for b in s.bars + [s.forming]}
    assert bars == chart  # the chart received every finished bar, as kept
    print("window", check(bars, polygon, arrays))
