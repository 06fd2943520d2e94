"""``tap`` and ``status`` as a user runs them against a real feed on the simulator (real processes,
real sockets): tap's JSON lines are the feed's events, ``--count`` is exact, a reader that leaves
ends tap quietly, and "no feed" is told at once only when nothing listens - a feed that is there
but busy is waited for, never reported absent. (How fast each answers is in bench/cli.py.)
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess

import psutil
import pytest

from shared.feed_probe import NothingListens, ask_feed, listener
from shared.models import wire
from tests.feed_process_util import CLI, clean_env, cli, run_feed
from tests.feed_tap import Tap
from tests.sim_process import run_sim
from tests.util import REPO, free_port, stop_process, wait_until


def _feed(sim):
    return run_feed("--upstream", sim.url_polygon, "--no-backfill", env=clean_env(POLYGON_API_KEY="k"))


@pytest.fixture(scope="module")
def sim():
    """One synthetic simulator at x30 (events always flowing) for the module."""
    with run_sim("--speed", "30") as s:
        yield s


@pytest.fixture(scope="module")
def feed(sim):
    with _feed(sim) as f:
        yield f


def test_tap_json_lines_are_the_feeds_events_in_order_and_count_is_exact(feed):
    raw = Tap(feed.control, ["AAPL"])  # every batch the feed publishes for AAPL, from before tap starts
    try:
        raw.wait(lambda: len(raw.events["AAPL"]) >= 5, what="the feed's first AAPL events")
        r = cli("tap", "AAPL", "--json", "--count", "300", "--feed", feed.control)
        assert r.returncode == 0, r.stderr
        lines = r.stdout.splitlines()
        assert len(lines) == 300 and r.stdout.endswith("\n")
        got = [json.loads(x) for x in lines]

        def seen() -> list[dict]:
            return [wire.event_to_dict("AAPL", a) for a in raw.events["AAPL"]]

        def start() -> int | None:  # where tap's first line is among the feed's events (+1: 0 is falsy)
            return next((i + 1 for i, d in enumerate(seen()) if d == got[0]), None)

        i = raw.wait(start, what="tap's first event among the feed's") - 1
        raw.wait(lambda: len(raw.events["AAPL"]) >= i + 300, what="the feed's events up to tap's last")
        assert seen()[i:i + 300] == got  # the same events, the same order, nothing between
        assert {d["event_type"] for d in got} <= {"trade", "quote", "aggregate"}
    finally:
        raw.close()


def test_tap_channels_filter_and_human_lines(feed):
    r = cli("tap", "AAPL", "--json", "--count", "20", "--channels", "Q", "--feed", feed.control)
    assert r.returncode == 0, r.stderr
    assert [json.loads(x)["event_type"] for x in r.stdout.splitlines()] == ["quote"] * 20
    r = cli("tap", "AAPL", "--count", "10", "--feed", feed.control)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert len(lines) == 10 and all(" AAPL " in x and x.split()[2] in ("T", "Q", "AM") for x in lines)


@pytest.mark.parametrize("fmt", [["--json"], []])
def test_a_reader_that_leaves_ends_tap_quietly_with_exit_0(feed, fmt):
    tap = subprocess.Popen([*CLI, "tap", "AAPL", *fmt, "--feed", feed.control], cwd=REPO, env=clean_env(),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert tap.stdout.readline()  # type: ignore[union-attr]  # one line, then the reader goes (| head -1)
        tap.stdout.close()  # type: ignore[union-attr]
        assert tap.wait(30) == 0
        err = tap.stderr.read().decode()  # type: ignore[union-attr]
        assert "Traceback" not in err and "BrokenPipe" not in err and "Exception" not in err, err
    finally:
        stop_process(tap)


def test_status_with_no_feed_is_one_line_nonzero_and_says_nothing_listens():
    port = free_port()
    for cmd in (["status"], ["status", "--json"], ["tap", "AAPL"]):
        # a long --timeout: a refused connect is the answer, nothing to wait for
        r = cli(*cmd, "--feed", f"tcp://127.0.0.1:{port}", "--timeout", "600", timeout=60)
        assert r.returncode == 1 and r.stdout == ""
        assert r.stderr.count("\n") == 1 and "no feed answering" in r.stderr and "nothing listens" in r.stderr


def test_a_busy_feed_is_waited_for_and_never_reported_absent(sim):
    with _feed(sim) as feed:  # its own: this one is stopped for a while
        _busy_feed(feed)


def _busy_feed(feed) -> None:
    proc = psutil.Process(feed.pid)
    port = int(feed.control.rsplit(":", 1)[1])
    proc.send_signal(signal.SIGSTOP)  # busy: it accepts connections (the kernel does) but answers nothing
    try:
        r = cli("status", "--feed", feed.control, "--timeout", "1")
        assert r.returncode == 1 and r.stderr.count("\n") == 1
        assert "nothing listens" not in r.stderr and "did not answer" in r.stderr and "--timeout" in r.stderr
        # a status that waits long enough gets its answer once the feed is back
        st = subprocess.Popen([*CLI, "status", "--json", "--feed", feed.control, "--timeout", "60"], cwd=REPO,
                              env=clean_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            wait_until(lambda: any(c.raddr and c.raddr.port == port and c.status == psutil.CONN_ESTABLISHED
                                   for c in psutil.Process(st.pid).net_connections("tcp")), 20,
                       what="status connected to the stopped feed")
            proc.send_signal(signal.SIGCONT)
            out, err = st.communicate(timeout=60)
            assert st.returncode == 0, err
            assert json.loads(out)["pid"] == feed.pid
        finally:
            stop_process(st)
    finally:
        proc.send_signal(signal.SIGCONT)


def test_listener_tells_refused_from_listening_and_from_unknown(tmp_path):
    port = free_port()
    assert listener(f"tcp://127.0.0.1:{port}") is False
    with pytest.raises(NothingListens):
        ask_feed(f"tcp://127.0.0.1:{port}", wire.status_request(), timeout=600)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        assert listener(f"tcp://127.0.0.1:{s.getsockname()[1]}") is True
        # something listens that never answers: no reply within the timeout, not "absent"
        assert ask_feed(f"tcp://127.0.0.1:{s.getsockname()[1]}", wire.status_request(), timeout=0.2) is None
    path = tmp_path / "feed.sock"
    assert listener(f"ipc://{path}") is False  # no such socket file
    with socket.socket(socket.AF_UNIX) as u:
        u.bind(str(path))
        u.listen()
        assert listener(f"ipc://{path}") is True
    assert listener(f"ipc://{path}") is False  # a stale socket file: nobody accepts
    assert listener("inproc://x") is None
