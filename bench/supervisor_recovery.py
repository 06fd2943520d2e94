"""How long a desk is without data after a crash, under ``live-monitor`` supervision.

One desktop (the real supervisor, simulator and feed; two windows that are the
real PolygonDataManager in a real Qt loop, ``tests/probe_window.py``, so their
state is observable) is started on free ports, then:

* ``startup``: launch -> both windows connected with bars;
* ``feed kill``: SIGKILL of the feed -> a new feed answers ``hello`` (the
  supervisor's part: backoff 0.5 s + interpreter start) and -> both windows
  connected again with full bars (adds the windows' feed-gone detection and the
  new feed's history backfill);
* ``sim kill``: SIGKILL of the simulator -> back on its port, feed reconnected;
* ``window kill``: SIGKILL of one window -> its replacement connected with bars;
* ``shutdown``: SIGTERM to the supervisor -> every child gone.

Run alone: ``python -m bench.supervisor_recovery [--quick]`` (prints JSON).
"""

from __future__ import annotations

import json
import os
import re
import signal
import sys
import time
import urllib.request

import psutil

from bench.common import median_rows, repeat
from shared.feed_probe import request
from shared.models import wire
from tests.supervisor_util import Proc, latest_state
from tests.util import free_port, stop_process, wait_until


def _synced(sup: Proc, name: str, epoch=None, bars: int = 1, not_pid=None):
    s = latest_state(sup, name)
    ok = (s and s["connected"] and s["bars"] >= bars and (epoch is None or s["epoch"] == epoch)
          and (not_pid is None or s["pid"] != not_pid))
    return s if ok else None


def _pid(sup: Proc, name: str) -> int:
    return [int(m.group(1)) for ln in sup.err for m in [re.search(rf"started {name} \(pid (\d+)\)", ln)] if m][-1]


def _sim_conns(sup: Proc) -> int:
    port = re.search(r"sim ready: LISTENING ws://127.0.0.1:(\d+)", "\n".join(sup.err)).group(1)
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/sim/status", timeout=5) as r:
        return json.loads(r.read())["connections"]["polygon"]


def one_run(tmp_env: dict) -> dict:
    feed = f"tcp://127.0.0.1:{free_port()}"
    t0 = time.monotonic()
    sup = Proc([sys.executable, "-m", "tests.desktop_driver", "--feed", feed, "--symbols", "AAPL,MSFT"], tmp_env)
    try:
        wait_until(lambda: _synced(sup, "ui-AAPL") and _synced(sup, "ui-MSFT"), 90, what="startup")
        out = {"startup": time.monotonic() - t0}
        a, b = latest_state(sup, "ui-AAPL"), latest_state(sup, "ui-MSFT")

        old = _pid(sup, "feed")
        os.kill(old, signal.SIGKILL)
        t = time.monotonic()
        new = wait_until(lambda: (h := request(feed, wire.hello_request(), 0.3)) and h["pid"] != old and h, 30)
        out["feed kill -> new feed"] = time.monotonic() - t
        wait_until(lambda: _synced(sup, "ui-AAPL", new["epoch"], a["bars"])
                   and _synced(sup, "ui-MSFT", new["epoch"], b["bars"]), 60)
        out["feed kill -> windows full"] = time.monotonic() - t

        port = re.search(r"sim ready: LISTENING ws://127.0.0.1:(\d+)", "\n".join(sup.err)).group(1)
        os.kill(_pid(sup, "sim"), signal.SIGKILL)
        t = time.monotonic()
        wait_until(lambda: sup.count(f"sim ready: LISTENING ws://127.0.0.1:{port} ") == 2, 30)
        wait_until(lambda: _sim_conns(sup) == 1, 60, interval=0.05)
        out["sim kill -> feed reconnected"] = time.monotonic() - t

        a = latest_state(sup, "ui-AAPL")
        os.kill(a["pid"], signal.SIGKILL)
        t = time.monotonic()
        wait_until(lambda: _synced(sup, "ui-AAPL", not_pid=a["pid"]), 60)
        out["window kill -> window back"] = time.monotonic() - t

        kids = psutil.Process(sup.p.pid).children(recursive=True)
        sup.p.send_signal(signal.SIGTERM)
        t = time.monotonic()
        sup.p.wait(30)
        psutil.wait_procs(kids, timeout=30)
        out["SIGTERM -> all gone"] = time.monotonic() - t
        return out
    finally:
        stop_process(sup.p, timeout=10)


def measure(quick: bool = False) -> dict:
    from tests.supervisor_util import cli_env

    runs = repeat(lambda d: one_run(cli_env(d)), 1 if quick else 3, fresh_dir=False)
    return {"title": "supervisor: recovery after crashes (2 windows on the simulator)", "rows": median_rows(runs),
            "notes": ["windows = real PolygonDataManager in a Qt loop (tests/probe_window.py)",
                      "feed-kill -> windows full includes the windows' 3 s feed-gone detection and the new "
                      "feed's history backfill"]}


if __name__ == "__main__":
    print(json.dumps(measure("--quick" in sys.argv), indent=2))
