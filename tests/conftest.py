"""Shared fixtures. Replay data: the AAPL tape is in the repository (data/), so a fresh clone
runs every default test; the big TSLA tapes come from ../shared/data/replay (or
$LIVE_MONITOR_REPLAY_DIR) when present - tests that want "a big real tape" take ``big_replay``
(TSLA there, else the AAPL sample), and only soak runs that need a TSLA file skip without it."""

import atexit
import os
import shutil
import tempfile

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# The user data directory (the relay client ids' installation id, feed_process/client_ids.py): a temporary
# one for this run - tests never write to the real home. Every process a test starts inherits it
# (the env helpers that drop LIVE_MONITOR_* settings keep this one).
_DATA_DIR = tempfile.mkdtemp(prefix="live-monitor-test-data-")
os.environ["LIVE_MONITOR_DATA_DIR"] = _DATA_DIR
atexit.register(shutil.rmtree, _DATA_DIR, True)

from tests.util import ReplayFacts, ReplayFiles, shared_replay_dir  # noqa: E402


class _Files(ReplayFiles):
    def missing(self, name: str):
        pytest.skip(f"{name} is not in data/ and ../shared/data/replay is not beside the repo (soak data)")


@pytest.fixture(scope="session")
def replay_dir() -> ReplayFiles:
    """``replay_dir / NAME``: data/ first, then the shared replay directory."""
    return _Files(shared_replay_dir())


@pytest.fixture(scope="session")
def big_replay(replay_dir) -> ReplayFacts:
    """The biggest real tape at hand: (path, symbol, events, am_bars)."""
    return replay_dir.big()
