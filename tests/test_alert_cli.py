"""``live-monitor alert`` against a real feed: add / list / edit / disarm / rm, one-line errors, exit codes."""

from __future__ import annotations

from tests.feed_process_util import clean_env, cli, run_feed
from tests.util import free_port


def test_alert_command_line(tmp_path):
    env = clean_env(POLYGON_API_KEY="k", LIVE_MONITOR_ALERTS_FILE=str(tmp_path / "alerts.json"))
    # an upstream nobody answers: the feed serves control requests all the same
    with run_feed("--upstream", f"ws://127.0.0.1:{free_port()}/stocks", "--protocol", "polygon", "--no-backfill",
                  env=env) as feed:
        def run(*a):
            return cli("alert", *a, "--feed", feed.control, env=env)
        r = run("add", "AAPL", "above", "200", "--note", "breakout")
        assert r.returncode == 0 and r.stdout.startswith("add: a1") and "above 200" in r.stdout, r.stderr
        assert run("add", "TSLA", "move", "-3").returncode == 0
        r = run("list")
        assert r.returncode == 0 and r.stdout.splitlines()[0].split()[:4] == ["a1", "AAPL", "above", "200"]
        assert "# breakout" in r.stdout and "a2" in r.stdout
        assert run("edit", "a1", "--value", "201").stdout.split()[:5] == ["edit:", "a1", "AAPL", "above", "201"]
        assert "off" in run("disarm", "a1").stdout
        assert run("rm", "a2").returncode == 0
        assert "a2" not in run("list").stdout
        assert run("log").stdout.strip() == "nothing fired"
        for bad, words in ((("add", "AAPL", "above", "-1"), "must be"), (("add", "AAPL", "above"), "needs a value"),
                           (("add", "AAPL"), "usage: alert add"), (("rm", "a9"), "no alert"),
                           (("add", "AAPL", "above", "abc"), "not a number"),
                           (("add", "AAPL", "above", "1", "--hysteresis", "500"), "must be between"),
                           (("add", "AAPL", "sideways", "1"), "unknown alert kind")):
            r = run(*bad)
            assert r.returncode == 2 and words in r.stderr and len(r.stderr.strip().splitlines()) == 1, (bad, r.stderr)
    r = cli("alert", "list", "--feed", f"tcp://127.0.0.1:{free_port()}", "--timeout", "0.3", env=env)
    assert r.returncode == 1 and "no feed answering" in r.stderr
