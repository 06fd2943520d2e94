"""``live-monitor sim`` as a process: the LISTENING line, sources, signals, one-line errors."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys

from tests.sim_process import run_sim
from tests.util import REPO, stop_process, wait_until


def test_listening_line_status_and_sigterm_exits_zero():
    with run_sim("--seed", "3", "--clock", "virtual") as sim:
        assert sim.source == "simulated"
        st = sim.status()
        assert st["source"] == "simulated" and st["connections"] == {"relay": 0, "polygon": 0}
        assert st["seed"] == 3 and st["session"] == "virtual"
        sim.proc.send_signal(signal.SIGTERM)
        assert sim.proc.wait(10) == 0


def test_the_ready_line_carries_the_seed_the_supervisor_pins_for_restarts():
    import json
    import os
    import urllib.request

    from supervisor.plans import parse_sim_ready
    from tests.util import listening_process

    cmd = [sys.executable, "-m", "feed_process.sim", "--port", "0", "--clock", "virtual"]
    with listening_process(cmd, env=dict(os.environ), timeout=45, what="simulator") as (_proc, line, _err):
        port, seed = parse_sim_ready(line)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/sim/status", timeout=5) as r:
            drawn = json.loads(r.read())["seed"]
        assert isinstance(seed, int) and seed == drawn  # a restart with --seed {seed} replays the same tape


def test_without_seed_each_launch_draws_one_and_logs_how_to_reproduce_it():
    seeds = []
    for _ in range(2):
        with run_sim("--clock", "wall") as sim:
            st = sim.status()
            assert st["session"] == "wall" and isinstance(st["seed"], int)
            seeds.append(st["seed"])
            wait_until(lambda: any(f"--seed {st['seed']}" in line for line in sim.stderr_lines), timeout=10,
                       what="the seed in the log")
    assert seeds[0] != seeds[1]


def test_replay_source_is_announced(replay_dir):
    with run_sim("--replay", str(replay_dir / "AAPL-2025-06-27-open.jsonl.gz"), "--max") as sim:
        assert sim.source == "replay"
        st = sim.status()
        assert (st["source"], st["session"], st["seed"]) == ("replay", "virtual", None)


def test_taken_port_is_one_line_on_stderr_and_nonzero_exit():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        proc = subprocess.Popen([sys.executable, "-m", "feed_process.sim", "--port", str(port)], cwd=REPO,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            out, err = proc.communicate(timeout=60)
        finally:
            stop_process(proc)
    assert proc.returncode != 0 and "LISTENING" not in out
    lines = [line for line in err.splitlines() if line.strip() and " INFO " not in line]
    assert len(lines) == 1 and str(port) in lines[0] and "Traceback" not in err


def test_bad_flags_and_missing_replay_file_are_one_line_errors(tmp_path):
    for args in (["--speed", "-2"], ["--replay", str(tmp_path / "nope.jsonl")], ["--start", "25:00"]):
        r = subprocess.run([sys.executable, "-m", "feed_process.sim", "--port", "0", *args], cwd=REPO,
                           capture_output=True, text=True, timeout=60)
        assert r.returncode != 0 and "Traceback" not in r.stderr, r.stderr
        assert len([ln for ln in r.stderr.splitlines() if ln.strip() and " INFO " not in ln]) == 1, r.stderr
