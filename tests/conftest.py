"""Shared fixtures. Replay data: the AAPL tape is in the repository (data/), so a fresh clone
runs every default test; the big TSLA tapes come from ../shared/data/replay (or
$LIVE_MONITOR_REPLAY_DIR) when present - tests that want "a big real tape" take ``big_replay``
(TSLA there, else the AAPL sample), and only soak runs that need a TSLA file skip without it."""

import atexit
import itertools
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

_TEST_NO = itertools.count()


@pytest.fixture(autouse=True)
def _own_user_dirs(monkeypatch):
    """Each test its own per-user directories (shared/paths.py): the data dir (history store, relay
    installation id, alert book) and the XDG config/data homes (the config file, the window's
    shared-state.json and QSettings). Tests run in parallel (pytest-xdist) and a window or feed of
    one test must never see another's recent symbols, alerts or ids - nor the developer's home.
    Kept until the run ends (under the run's temporary dir): a module-scoped process may outlive
    the test that started it. Qt caches its QSettings paths per process, so in-process windows
    share one such dir per worker; the processes a test starts get the test's own."""
    d = os.path.join(_DATA_DIR, f"t{next(_TEST_NO)}")
    for var, sub in (("LIVE_MONITOR_DATA_DIR", "data"), ("XDG_CONFIG_HOME", "config"), ("XDG_DATA_HOME", "share")):
        os.makedirs(os.path.join(d, sub))
        monkeypatch.setenv(var, os.path.join(d, sub))


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


# Parallel runs (`make test` runs pytest-xdist, --dist loadgroup): the files whose tests start
# processes and wait on them for many seconds go out first, so the workers end together instead
# of one finishing a 30 s supervisor test alone; the others keep their order. Only under xdist,
# which collects the same list on every worker.
SLOW_FIRST = ("test_supervisor_stack", "test_reliability", "test_feed_serving", "test_history_feed",
              "test_window_live", "test_watch_bench", "test_spec_examples", "test_feed_cli", "test_window_xcb",
              "test_manager_private_feed", "test_feed_relay", "test_upstream_channels", "test_manager_live",
              "test_supervisor_procs", "test_sim_cli", "test_spec_messages")
# Tests that push a stream as fast as two cores allow (tens of thousands of events per second,
# or a store written at 10 sim-minutes a second) and assert that nothing is lost or late: one
# at a time (one xdist group, so one worker), never two of them sharing the cores.
SATURATING = ("test_feed_serving.py::test_slow_subscriber_never_slows_others_and_resnapshots_after_a_gap",
              "test_feed_serving.py::test_tap_receives_the_replay_exactly_in_order_with_nothing_lost",
              "test_history_feed.py::test_kill_9_during_a_burst_of_store_writes_leaves_a_readable_store",
              "test_reliability.py::test_feed_sigkilled_under_load_windows_recover_with_continuous_bars",
              "test_reliability.py::test_blocked_window_recovers_and_others_are_unaffected",
              "test_reliability.py::test_malformed_frames_from_the_simulator_are_counted_and_no_valid_event_is_lost",
              "test_watch_bench.py::test_fifty_rows_equal_the_feeds_summaries")


def pytest_collection_modifyitems(config, items):
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        return
    for item in items:
        if item.nodeid.split("/")[-1].split("[")[0] in SATURATING:
            item.add_marker(pytest.mark.xdist_group("saturating"))
    rank = {name: i for i, name in enumerate(SLOW_FIRST)}
    items.sort(key=lambda it: rank.get(it.path.stem, len(rank)))
