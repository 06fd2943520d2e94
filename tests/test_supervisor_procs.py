"""The supervisor with real processes: the real ``Supervisor`` (tests/supervisor_driver.py)
over stand-in children (tests/standin_child.py), a fake feed ROUTER for the reports, and
the real ``live-monitor`` command line for the one-line errors."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import uuid

import psutil
import pytest
import zmq

from shared.models import wire
from tests.supervisor_util import Proc, cli_env
from tests.util import REPO, free_port, stop_process, wait_until


def tagged(tag: str) -> list[psutil.Process]:
    """Live stand-in processes of this test (found by the unique tag in their command line)."""
    found = []
    for pr in psutil.process_iter(["cmdline", "status"]):
        try:
            cl = pr.info["cmdline"] or []
            if "tests.standin_child" in cl and tag in " ".join(cl) and pr.info["status"] != psutil.STATUS_ZOMBIE:
                found.append(pr)
        except (psutil.Error, TypeError):
            pass
    return found


def pid_of(tag: str, name: str) -> int | None:
    # the command line tagged() read: asking again races a child that exits meanwhile (ZombieProcess)
    ps = [p for p in tagged(tag) if f"{tag}-{name}" in p.info["cmdline"]]
    return ps[0].pid if len(ps) == 1 else None


@pytest.fixture
def driver():
    """Start tests/supervisor_driver.py; afterwards stop it and kill any stand-in it left."""
    started: list[tuple[Proc, str]] = []

    def start(children: list[dict], **cfg) -> tuple[Proc, str]:
        tag = uuid.uuid4().hex[:10]
        for c in children:
            c["args"] = ["--tag", f"{tag}-{c['name']}", *c.get("args", [])]
        proc = Proc([sys.executable, "-m", "tests.supervisor_driver", json.dumps({"children": children, **cfg})])
        started.append((proc, tag))
        return proc, tag

    yield start
    for proc, tag in started:
        stop_process(proc.p)
        for pr in tagged(tag):
            try:
                pr.kill()
            except psutil.Error:
                pass


def backend(ready=True) -> list[dict]:
    r = ["--ready"] if ready else []
    return [{"name": "sim", "role": "sim", "args": r, "ready_prefix": "LISTENING "},
            {"name": "feed", "role": "feed", "args": r, "ready_prefix": "LISTENING "}]


def windows(*names: str) -> list[dict]:
    return [{"name": n, "role": "ui", "restart": "on_crash"} for n in names]


def all_gone(tag: str) -> bool:
    return not tagged(tag)


# ---------------------------------------------------------------- shutdown


def test_sigterm_stops_every_child_and_exits_zero(driver):
    proc, tag = driver(backend() + windows("ui-A", "ui-B"))
    wait_until(lambda: proc.has("SUPERVISING", "out"), 30, what="supervising")
    wait_until(lambda: len(tagged(tag)) == 4, 10, what="four children")
    assert proc.has("sim ready: LISTENING ws://127.0.0.1:") and proc.has("feed ready: LISTENING")
    assert proc.has("supervisor.child[") and proc.has("sim| standin")  # child output is in the log, prefixed
    proc.p.send_signal(signal.SIGTERM)
    assert proc.p.wait(10) == 0
    wait_until(lambda: all_gone(tag), 10, what="children gone")
    wait_until(lambda: proc.has("received SIGTERM: stopping") and proc.has("]: stopped"), 5, what="log lines")


def test_a_child_that_ignores_sigterm_is_killed(driver):
    proc, tag = driver([{"name": "feed", "role": "feed", "args": ["--ignore-term"]}], stop_timeout=0.5)
    # "starting" is printed after the stand-in set SIGTERM to ignored
    wait_until(lambda: proc.has("SUPERVISING", "out") and proc.has("feed| standin"), 30, what="supervising")
    proc.p.send_signal(signal.SIGINT)
    assert proc.p.wait(10) == 0
    wait_until(lambda: proc.has("feed did not stop within 0.5 s: killing it"), 5, what="the kill logged")
    wait_until(lambda: all_gone(tag), 10, what="children gone")


@pytest.mark.parametrize("pdeathsig", [True, False], ids=["pdeathsig", "parent-watch"])
def test_children_die_when_the_supervisor_is_sigkilled(driver, pdeathsig):
    kids = backend() + windows("ui-A")
    if not pdeathsig:  # the portable fallback alone: the parent watch in each child
        for k in kids:
            k["args"] = [*k.get("args", []), "--watch"]
    proc, tag = driver(kids, pdeathsig=pdeathsig)
    wait_until(lambda: proc.has("SUPERVISING", "out") and len(tagged(tag)) == 3, 30, what="three children")
    proc.p.kill()
    proc.p.wait(5)
    wait_until(lambda: all_gone(tag), 10, what="orphans gone")


# ---------------------------------------------------------------- restarts


def test_feed_is_restarted_after_sigkill_and_the_window_stays(driver):
    proc, tag = driver(backend() + windows("ui-A"))
    wait_until(lambda: proc.has("SUPERVISING", "out") and len(tagged(tag)) == 3, 30, what="children")
    feed, ui = pid_of(tag, "feed"), pid_of(tag, "ui-A")
    os.kill(feed, signal.SIGKILL)
    wait_until(lambda: pid_of(tag, "feed") not in (None, feed), 10, what="a new feed")
    wait_until(lambda: proc.count("feed ready: LISTENING") == 2, 10, what="the new feed ready")
    assert proc.has("feed stopped (killed by SIGKILL); restarting in")
    assert pid_of(tag, "ui-A") == ui


def test_crashed_window_restarts_closed_windows_end_the_desktop(driver):
    proc, tag = driver(backend() + windows("ui-A", "ui-B"))
    wait_until(lambda: proc.has("SUPERVISING", "out") and len(tagged(tag)) == 4, 30, what="children")
    a, b = pid_of(tag, "ui-A"), pid_of(tag, "ui-B")
    os.kill(a, signal.SIGKILL)
    a2 = wait_until(lambda: pid_of(tag, "ui-A") not in (None, a) and pid_of(tag, "ui-A"), 10,
                    what="window A restarted")
    # "starting" is printed once the stand-in's SIGTERM handler (exit 0) is in place
    wait_until(lambda: proc.has(f"pid {a2} starting") and proc.has(f"pid {b} starting"), 10, what="handlers set")
    assert pid_of(tag, "ui-B") == b
    os.kill(b, signal.SIGTERM)  # the stand-in exits 0 on SIGTERM: "closed by the user"
    wait_until(lambda: proc.has("ui-B closed (exit 0)"), 10, what="B closed")
    assert pid_of(tag, "ui-B") is None and proc.p.poll() is None
    os.kill(a2, signal.SIGTERM)
    assert proc.p.wait(15) == 0  # last window closed: the app ends, feed and sim with it
    assert proc.has("last window closed: stopping")
    wait_until(lambda: all_gone(tag), 10, what="feed and sim stopped")


def test_crash_loop_gives_up_with_one_clear_line(driver):
    kids = [{"name": "feed", "role": "feed", "args": ["--ready", "--exit-code", "3", "--after", "0"],
             "ready_prefix": "LISTENING "}]
    proc, tag = driver(kids, mode="daemon", policy={"initial_delay": 0.05, "max_delay": 0.2})
    assert proc.p.wait(30) == 1  # a daemon whose feed was given up exits non-zero
    lines = [ln for ln in proc.err if ln.startswith("live-monitor: ")]
    assert lines == ["live-monitor: feed crashed 5 times in 60 s (last: exit 3); giving up on it"]
    assert proc.count("started feed (pid") == 5
    assert not any("Traceback" in ln for ln in proc.err)


def test_a_child_that_cannot_start_is_one_line_and_nonzero(driver, tmp_path):
    flag = tmp_path / "port-taken"
    flag.write_text("x")
    proc, tag = driver([{"name": "sim", "role": "sim", "args": ["--ready", "--fail-if-exists", str(flag)],
                         "ready_prefix": "LISTENING "}] + windows("ui-A"))
    assert proc.p.wait(30) == 1
    msg = [ln for ln in proc.err if ln.startswith("live-monitor: ")]
    assert len(msg) == 1 and msg[0].startswith("live-monitor: sim could not start (exit 2): standin ")
    assert "refusing to start" in msg[0]
    assert all_gone(tag) and not any("Traceback" in ln for ln in proc.err)


def test_new_window_requests_open_supervised_windows(driver):
    from shared.supervisor_client import SUPERVISOR_ENV, request_window

    wtag = uuid.uuid4().hex[:10]
    proc, tag = driver(windows("ui-A"), window_tag=wtag)
    wait_until(lambda: proc.has("SUPERVISING", "out"), 30, what="supervising")
    endpoint = next(ln.split()[1] for ln in proc.out if ln.startswith("WINDOWS "))
    assert endpoint.startswith("ipc://")
    # the children find the endpoint in their environment
    child = wait_until(lambda: tagged(tag), 10, what="window A")[0]
    assert child.environ()[SUPERVISOR_ENV] == endpoint
    assert request_window("msft", endpoint)
    assert not request_window("not a symbol!", endpoint)
    new = wait_until(lambda: tagged(wtag), 10, what="the requested window")
    assert len(new) == 1 and f"{wtag}-ui-MSFT" in new[0].cmdline()
    os.kill(new[0].pid, signal.SIGKILL)  # supervised: a crash reopens it
    wait_until(lambda: (w := tagged(wtag)) and w[0].pid != new[0].pid, 10, what="the window reopened")
    proc.p.send_signal(signal.SIGTERM)
    assert proc.p.wait(10) == 0
    wait_until(lambda: all_gone(tag) and all_gone(wtag), 10, what="all windows gone")
    assert not os.path.exists(endpoint[len("ipc://"):])  # the private socket is cleaned up


def test_a_child_in_a_logging_storm_is_rate_limited_and_never_blocked(driver):
    from supervisor import runner

    n = 50_000
    proc, tag = driver([{"name": "ui-S", "role": "ui", "restart": "on_crash",
                         "args": ["--spam", str(n), "--exit-code", "0", "--after", "0"]}])
    assert proc.p.wait(30) == 0  # the child got all its lines out and exited: the desktop ended
    wait_until(lambda: proc.has("]: stopped"), 5, what="the end of the log")
    logged = proc.count("ui-S| spam line")
    assert runner.LOG_BURST <= logged < n // 2
    dropped = [ln for ln in proc.err if "output lines not logged: over" in ln]
    assert dropped and sum(int(re.search(r"\((\d+) output lines", ln).group(1)) for ln in dropped) == n - logged
    assert proc.has("ui-S closed (exit 0)")


# ---------------------------------------------------------------- reports to the feed


class FakeFeed:
    """A ROUTER at a free port that answers hello like a feed and records commands."""

    def __init__(self):
        self.ctx = zmq.Context()
        self.sock = self.ctx.socket(zmq.ROUTER)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.address = f"tcp://127.0.0.1:{free_port()}"
        self.sock.bind(self.address)
        self.commands: list[dict] = []
        self._stop = threading.Event()
        self.t = threading.Thread(target=self._serve, daemon=True)
        self.t.start()

    def _serve(self):
        while not self._stop.is_set():
            if not self.sock.poll(50):
                continue
            ident, raw = self.sock.recv_multipart()
            msg = wire.unpack(raw)
            if msg["type"] == "hello":
                reply = {"type": "hello", "id": msg["id"], "server": "live-monitor-feed", "protocol": 1,
                         "epoch": 7, "pid": os.getpid(), "data": "tcp://127.0.0.1:1", "upstream": {}}
            else:
                self.commands.append(msg)
                reply = {"type": "ok", "id": msg["id"]}
            self.sock.send_multipart([ident, wire.pack(reply)])

    def close(self):
        self._stop.set()
        self.t.join(2)
        self.sock.close(0)
        self.ctx.term()


@pytest.fixture
def fake_feed():
    f = FakeFeed()
    yield f
    f.close()


def test_reports_children_figures_and_notices_to_the_feed(driver, fake_feed):
    kids = [{"name": "feed", "role": "feed", "args": []},
            {"name": "ui-X", "role": "ui", "restart": "on_crash", "args": ["--exit-code", "3", "--after", "0.2"]}]
    proc, tag = driver(kids, feed=fake_feed.address, report_interval=0.2,
                       policy={"initial_delay": 0.05, "max_delay": 0.1})

    def report_with_feed():
        for c in fake_feed.commands:
            if c.get("cmd") == "supervisor_report":
                ch = {x["name"]: x for x in c["children"]}
                if ch.get("feed", {}).get("alive"):
                    return c
        return None

    rep = wait_until(report_with_feed, 30, what="a supervisor_report")
    ch = {x["name"]: x for x in rep["children"]}
    assert rep["supervisor_pid"] == proc.p.pid and ch["supervisor"]["pid"] == proc.p.pid
    feed = ch["feed"]
    assert feed["pid"] == pid_of(tag, "feed") and feed["state"] == "running"
    assert feed["rss_bytes"] > 1_000_000 and feed["cpu_percent"] >= 0.0
    notice = wait_until(lambda: [c for c in fake_feed.commands if c.get("cmd") == "notice"], 30, what="notice")
    assert notice[0]["message"] == "ui-X crashed 5 times in 60 s (last: exit 3); giving up on it"
    # the desktop's only window was given up: the app ends, non-zero
    assert proc.p.wait(15) == 1


def test_windows_report_their_symbol_and_the_report_carries_it(driver, fake_feed):
    """A window says which symbol it shows (shared.supervisor_client.report_symbol, a
    notification from its GUI thread); the supervisor's report to the feed carries it,
    so ``live-monitor status`` lists the window under that symbol."""
    wtag = uuid.uuid4().hex[:10]
    proc, tag = driver(windows("ui-A", "ui-B"), feed=fake_feed.address, report_interval=0.2, window_tag=wtag)
    wait_until(lambda: proc.has("SUPERVISING", "out") and len(tagged(tag)) == 2, 30, what="two windows")
    endpoint = next(ln.split()[1] for ln in proc.out if ln.startswith("WINDOWS "))
    a = pid_of(tag, "ui-A")
    ctx = zmq.Context()
    s = ctx.socket(zmq.DEALER)
    s.setsockopt(zmq.LINGER, 1000)
    s.connect(endpoint)
    # what report_symbol sends, on behalf of window A (the supervisor maps the pid to its child)
    s.send(wire.pack({"v": 1, "type": "command", "cmd": "window_symbol", "symbol": "nvda", "pid": a}))
    s.send(wire.pack({"v": 1, "type": "command", "cmd": "window_symbol", "symbol": "BAD SYMBOL!", "pid": a}))

    def symbols():
        for c in reversed(fake_feed.commands):
            if c.get("cmd") == "supervisor_report":
                return {x["name"]: x.get("symbol") for x in c["children"] if x["role"] == "ui"}
        return None

    wait_until(lambda: (sy := symbols()) and sy.get("ui-A") == "NVDA", 15, what="window A's symbol in the report")
    assert symbols()["ui-B"] is None  # B never said; A's bad report was ignored
    assert not s.poll(200)  # a notification: never answered
    s.close(0)
    ctx.term()
    from shared.supervisor_client import report_symbol

    assert not report_symbol("AAPL", endpoint="")  # no supervisor: nothing to tell
    proc.p.send_signal(signal.SIGTERM)
    assert proc.p.wait(10) == 0


# ---------------------------------------------------------------- the real command line


def run_cli(tmp_path, *args: str, timeout: float = 30) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "supervisor", *args], cwd=REPO, env=cli_env(tmp_path),
                          capture_output=True, text=True, timeout=timeout)


def test_an_address_held_by_something_else_is_one_line(tmp_path):
    mode = "desktop"  # the daemon makes the same probe before it starts anything
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        r = run_cli(tmp_path, mode, "--feed", f"tcp://127.0.0.1:{port}")
    assert r.returncode == 1
    assert r.stderr.strip().splitlines() == [
        f"live-monitor {mode}: tcp://127.0.0.1:{port} is in use by something that is not a Live Monitor feed; "
        "choose another address with --feed tcp://127.0.0.1:PORT"]


def test_polygon_without_a_key_is_one_line(tmp_path):
    r = run_cli(tmp_path, "daemon", "--upstream", "polygon", "--feed", f"tcp://127.0.0.1:{free_port()}")
    assert r.returncode == 1
    assert r.stderr.strip().splitlines() == [
        "live-monitor daemon: --upstream polygon needs an API key: set POLYGON_API_KEY "
        "(or MASSIVE_API_KEY, or api_key in the config file)"]


def test_daemon_refuses_a_second_feed_on_a_running_one(tmp_path, fake_feed):
    r = run_cli(tmp_path, "daemon", "--feed", fake_feed.address)
    assert r.returncode == 1
    assert r.stderr.strip().splitlines() == [
        f"live-monitor daemon: a feed already runs at {fake_feed.address} (pid {os.getpid()}); "
        "not starting a second one"]
