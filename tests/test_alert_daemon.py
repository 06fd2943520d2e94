"""``live-monitor daemon`` runs ``alert_command`` for a fired alert with the alert's JSON on stdin."""

from __future__ import annotations

import json

from tests.alert_tape import HALT_T, SYM, frames
from tests.feed_process_util import CLI, cli
from tests.polygon_standin import run_standin
from tests.supervisor_util import Proc, cli_env
from tests.util import free_port, stop_process, wait_until


def test_daemon_runs_alert_command_with_the_alert_on_stdin(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    env = cli_env(tmp_path)
    env.update(POLYGON_API_KEY="k", PYTHONUNBUFFERED="1", LIVE_MONITOR_ALERTS_FILE=str(tmp_path / "alerts.json"),
               LIVE_MONITOR_ALERT_COMMAND=f'cat > "{out}/alert-$LIVE_MONITOR_ALERT_ID.json"')
    feed = f"tcp://127.0.0.1:{free_port()}"
    with run_standin(frames(), [SYM]) as up:
        d = Proc([*CLI, "daemon", "--feed", feed, "--upstream", up.url, "--protocol", "polygon"], env=env)
        try:
            wait_until(lambda: cli("status", "--feed", feed, "--timeout", "0.5", env=env).returncode == 0,
                       timeout=30, what="the daemon's feed")
            r = cli("alert", "add", SYM, "halt", "--feed", feed, env=env)
            assert r.returncode == 0, r.stderr
            path = out / "alert-a1.json"
            wait_until(lambda: path.exists() and path.read_text().endswith("}"), timeout=20,
                       what="alert_command's file")
            entry = json.loads(path.read_text())
            assert entry["alert"] == "a1" and entry["symbol"] == SYM and entry["kind"] == "halt"
            assert entry["t"] == HALT_T and entry["message"] == "AAPL halted (LULD)"
            wait_until(lambda: d.has("ALERT AAPL halted (LULD)") and d.has("alert_command for"), timeout=10,
                       what="the daemon's log lines")
        finally:
            stop_process(d.p, timeout=15)
