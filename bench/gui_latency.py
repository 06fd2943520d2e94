"""GUI-thread latency at 1k, 5k and 20k events/s: the paced stand-in -> feed -> ``PolygonDataManager``
applying the events on the GUI thread of a Qt process, matched by trade id.

Why a bench of its own in ``make bench``: issue 17's window goal ("GUI-thread latency p99 at or under
3 ms at 20k events/s") is ``bench.latency``'s ``ui`` consumer, which that bench runs only with
``--variant``; the goals table needs it in every run. Run here on its own, it fails on its own - a
broken Qt variant cannot take the feed-vs-massive latency rows with it. The measurement is
``bench.latency``'s (:func:`bench.latency.run_one`, :func:`bench.latency.table`), so the figures
are the same as ``python -m bench.latency --variant``'s ``ui`` rows.

Why rounds of ``feed`` and ``ui`` in turn: a p99 on a shared machine moves with the load (1.44 ms
in one run, 3.80 in another, 2026-12-02). Each round runs the plain subscriber (``feed``: the
same feed, no Qt) and then the window's manager (``ui``) on fresh stand-ins, so ``ui_minus_feed_*``
- what the GUI thread adds - compares two streams of the same minute; the goal's figure is the
median of the rounds' ``ui`` p99. The goal's rate gets more rounds (:data:`ROUNDS_AT`).
"""

from __future__ import annotations

import os

from bench.latency import RATES, WARM_S, run_one, table

GOAL_RATE = 20_000.0
ROUNDS_AT = {GOAL_RATE: 5}  # rounds per rate (full run); the others get ROUNDS
ROUNDS = 2
SECONDS = 5.0


def rounds_for(rate: float, quick: bool) -> int:
    return 1 if quick else ROUNDS_AT.get(rate, ROUNDS)


def measure(quick: bool) -> dict:
    seconds = 1.2 if quick else SECONDS
    runs = []
    for i in range(max(rounds_for(r, quick) for r in RATES)):
        for rate in RATES:
            if i < rounds_for(rate, quick):
                runs += [run_one("feed", rate, seconds), run_one("ui", rate, seconds)]
    rows = table(runs, ["feed", "ui"])
    for ui in rows:
        feed = next((r for r in rows if r["name"] == ui["name"].replace("ui @", "feed @")), None)
        if ui["name"].startswith("ui @") and feed and ui.get("p50_ms") is not None and feed.get("p50_ms") is not None:
            ui["ui_minus_feed_p50_ms"] = round(ui["p50_ms"] - feed["p50_ms"], 3)
            ui["ui_minus_feed_p99_ms"] = round(ui["p99_ms"] - feed["p99_ms"], 3)
    rounds = ", ".join(f"{rounds_for(r, quick)} at {r / 1000:g}k" for r in RATES)
    return {"title": "GUI-thread latency: paced stand-in (frames of 5 trades) -> feed -> PolygonDataManager "
                     "on a Qt GUI thread",
            "rows": rows,
            "notes": [f"rounds of {seconds:g} s per rate ({rounds}), each 'feed' (subscriber, no Qt) then 'ui'; "
                      f"first {WARM_S} s dropped; medians of the rounds",
                      "ui_minus_feed_*: what the GUI thread adds to the same feed in the same minutes",
                      "goal (issue 17): ui p99 at 20k ev/s <= 3 ms",
                      f"load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"]}


if __name__ == "__main__":  # python -m bench.gui_latency [--quick]
    import sys

    from bench.__main__ import print_table

    res = measure("--quick" in sys.argv)
    print_table(res["title"], res["rows"])
    for n in res["notes"]:
        print("   -", n)
