"""A 50-symbol watchlist on the simulator (bench.watchlist, short, in its own process: it runs its own
Qt event loop to the end): every row equals the feed's summary of that symbol."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.feed_process_util import clean_env
from tests.util import REPO


def test_fifty_rows_equal_the_feeds_summaries():
    env = clean_env(QT_QPA_PLATFORM="offscreen")
    p = subprocess.run([sys.executable, "-m", "bench.watchlist", "4"], cwd=REPO, env=env, capture_output=True,
                       text=True, timeout=120)
    assert p.returncode == 0, p.stderr[-2000:]
    r = json.loads(p.stdout.strip().splitlines()[-1])
    assert r["symbols"] == 50 and r["rows_compared"] == 50 and r["rows_equal"] == 50, r
    assert r["summaries_per_s"] > 0 and r["feed_cpu_pct"] >= 0
