"""GUI-thread latency at 1k, 5k and 20k events/s: the paced stand-in -> feed -> ``PolygonDataManager``
applying the events on the GUI thread of a Qt process, matched by trade id.

Why a bench of its own in ``make bench``: issue 17's window goal ("GUI-thread latency p99 at or under
3 ms at 20k events/s") is ``bench.latency``'s ``ui`` consumer, which that bench runs only with
``--variant``; the goals table needs it in every run. Run here on its own, it fails on its own - a
broken Qt variant cannot take the feed-vs-massive latency rows with it. The measurement is
``bench.latency``'s (:func:`bench.latency.run_one`, :func:`bench.latency.table`), so the figures
are the same as ``python -m bench.latency --variant``'s ``ui`` rows.
"""

from __future__ import annotations

import os

from bench.latency import RATES, WARM_S, run_one, table


def measure(quick: bool) -> dict:
    seconds, rounds = (1.2, 1) if quick else (5.0, 3)
    runs = [run_one("ui", rate, seconds) for _ in range(rounds) for rate in RATES]
    return {"title": "GUI-thread latency: paced stand-in (frames of 5 trades) -> feed -> PolygonDataManager "
                     "on a Qt GUI thread",
            "rows": table(runs, ["ui"]),
            "notes": [f"{rounds} round(s) of {seconds:g} s per rate; first {WARM_S} s dropped; medians of the rounds",
                      "goal (issue 17): p99 at 20k ev/s <= 3 ms",
                      f"load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"]}


if __name__ == "__main__":  # python -m bench.gui_latency [--quick]
    import sys

    from bench.__main__ import print_table

    res = measure("--quick" in sys.argv)
    print_table(res["title"], res["rows"])
    for n in res["notes"]:
        print("   -", n)
