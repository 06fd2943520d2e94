"""``live-monitor feed`` / ``status`` / ``tap`` as a user runs them: real processes, real sockets."""

from __future__ import annotations

import json
import signal
import socket
import time

import pytest

from tests.feed_process_util import Subscriber, clean_env, cli, fast_reconnect, run_feed
from tests.sim_process import run_sim
from tests.util import free_port, wait_until


@pytest.fixture(scope="module")
def synth_sim():
    """One synthetic simulator (x30) for the tests that inject no faults: each test runs its own feed."""
    with run_sim("--speed", "30") as sim:
        yield sim


def test_feed_prints_listening_serves_status_and_stops_cleanly_on_sigterm(synth_sim):
    sim = synth_sim
    with run_feed("--upstream", sim.url_relay.replace("{client_id}", "t1")) as feed:
        assert feed.control.startswith("tcp://127.0.0.1:") and feed.data.startswith("tcp://127.0.0.1:")
        r = cli("status", "--json", "--feed", feed.control)
        assert r.returncode == 0, r.stderr
        st = json.loads(r.stdout)
        assert st["pid"] == feed.pid and st["epoch"] == feed.epoch and st["data"] == feed.data
        assert st["upstream"]["protocol"] == "relay" and st["upstream"]["kind"] == "url"
        # heartbeats on sys|: the feed's identity, upstream state and counters, every second
        import zmq

        from shared.models import wire

        ctx = zmq.Context.instance()
        sub = ctx.socket(zmq.SUB)
        sub.setsockopt(zmq.LINGER, 0)
        sub.connect(feed.data)
        sub.setsockopt(zmq.SUBSCRIBE, b"sys|")
        try:
            beats = []
            while len(beats) < 2:
                assert sub.poll(5000), "no heartbeat within 5 s"
                topic, payload = sub.recv_multipart()
                m = wire.unpack(payload)
                if m["type"] == "heartbeat":
                    beats.append(m)
        finally:
            sub.close()
        hb = beats[-1]
        assert topic == b"sys|" and hb["epoch"] == feed.epoch and hb["pid"] == feed.pid
        assert set(hb["upstream"]) >= {"state", "kind", "protocol", "source", "url", "attempts", "connects",
                                       "message", "since_ms"}
        assert hb["upstream"]["source"] == "simulated" and "counters" in hb and beats[1]["ts"] > beats[0]["ts"]
        human = cli("status", "--feed", feed.control)
        assert human.returncode == 0 and f"pid {feed.pid}" in human.stdout and "upstream" in human.stdout
        t0 = time.monotonic()
        feed.proc.send_signal(signal.SIGTERM)
        assert feed.proc.wait(5) == 0
        assert time.monotonic() - t0 < 2.0


def test_unreachable_feed_is_one_line_and_nonzero():
    port = free_port()
    for cmd in (["status"], ["tap", "AAPL", "--count", "1"]):
        r = cli(*cmd, "--feed", f"tcp://127.0.0.1:{port}", "--timeout", "0.5")
        assert r.returncode == 1
        assert r.stderr.count("\n") == 1 and "no feed answering" in r.stderr and "Traceback" not in r.stderr


def test_taken_port_and_non_loopback_bind_are_refused_in_one_line():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        r = cli("feed", "--feed", f"tcp://127.0.0.1:{port}", "--upstream", "ws://127.0.0.1:9/ws/x", timeout=20)
    assert r.returncode != 0 and "already in use" in r.stderr and "Traceback" not in r.stderr
    r = cli("feed", "--feed", f"tcp://0.0.0.0:{free_port()}", "--upstream", "ws://127.0.0.1:9/ws/x", timeout=20)
    assert r.returncode != 0 and "CURVE" in r.stderr and "--insecure" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_auth_failure_is_shown_without_a_retry_storm_and_the_key_never_leaks():
    key = "SUPERSECRETKEY42"
    with run_sim("--key", "the-right-key", "--speed", "5") as sim:
        env = clean_env(POLYGON_API_KEY=key)
        with run_feed("--upstream", sim.url_polygon, *fast_reconnect(), "--log-level", "DEBUG", env=env) as feed:
            sub = Subscriber(feed.control, "AAPL")
            try:
                wait_until(lambda: (sub.poll(50), sub.upstream.get("state") == "auth_failed")[1], 10,
                           what="auth_failed on sys|")
            finally:
                sub.close()
            r = cli("status", "--json", "--feed", feed.control, env=env)
            st = json.loads(r.stdout)
            assert st["upstream"]["state"] == "auth_failed"
            assert "authentication" in st["upstream"]["message"].lower() or "auth" in st["upstream"]["message"]
            time.sleep(1.5)  # the assertion is about *absence* of retries over a window
            assert sim.status()["accepted"]["polygon"] == 1
            assert key not in r.stdout and key not in r.stderr
        assert key not in feed.stderr()


def test_tap_prints_seed_dicts_and_records_a_replay_file(tmp_path, synth_sim):
    sim = synth_sim
    with run_feed("--upstream", sim.url_polygon, env=clean_env(POLYGON_API_KEY="k")) as feed:
        out = tmp_path / "rec.jsonl.gz"
        r = cli("tap", "AAPL", "--json", "--count", "50", "--record", str(out), "--feed", feed.control,
                env=clean_env(), timeout=30)
        assert r.returncode == 0, r.stderr
        lines = [json.loads(x) for x in r.stdout.splitlines()]
        assert len(lines) == 50
        assert {d["event_type"] for d in lines} <= {"trade", "quote", "aggregate"}
        assert all(d["symbol"] == "AAPL" for d in lines)
        trade = next(d for d in lines if d["event_type"] == "trade")
        # the seed's TradeData keys, with the seed's meaning, plus the keys the contract adds (docs/PROTOCOL.md)
        seed_keys = {"event_type", "symbol", "timestamp", "price", "size", "conditions", "exchange"}
        added_keys = {"id", "tape", "sequence", "trf_id", "trf_timestamp"}
        assert set(trade) == seed_keys | added_keys
        assert isinstance(trade["timestamp"], int) and trade["price"] > 0 and trade["size"] >= 1
        assert isinstance(trade["conditions"], list) and isinstance(trade["exchange"], str)
        # the simulator's trades carry Polygon's i (text), z and q; no TRF fields (no dark-pool prints)
        assert isinstance(trade["id"], str) and trade["id"]
        assert trade["tape"] in (1, 2, 3) and isinstance(trade["sequence"], int)
        assert trade["trf_id"] is None and trade["trf_timestamp"] is None
        ids = [d["id"] for d in lines if d["event_type"] == "trade"]
        assert len(ids) == len(set(ids)), "the feed de-duplicates trades"
        assert "SIMULATED" in r.stderr
        import gzip

        rec = [json.loads(x) for x in gzip.open(out, "rt")]
        assert len(rec) == 50 and rec[0]["sym"] == "AAPL" and rec[0]["ev"] in ("T", "Q", "AM")
        r = cli("tap", "AAPL", "--json", "--count", "5", "--channels", "T", "--feed", feed.control)
        assert r.returncode == 0 and all(json.loads(x)["event_type"] == "trade" for x in r.stdout.splitlines())


@pytest.mark.parametrize("path", ["polygon", "relay"])
def test_bad_upstream_input_is_counted_published_and_survived(path):
    with run_sim("--speed", "5", "--malformed-every", "3") as sim:
        url = sim.url_polygon if path == "polygon" else sim.url_relay.replace("{client_id}", "bad")
        t_start = time.monotonic()
        with run_feed("--upstream", url, env=clean_env(POLYGON_API_KEY="k")) as feed:
            import zmq

            from shared.models import wire

            sub = Subscriber(feed.control, "AAPL")
            sys_sub = zmq.Context.instance().socket(zmq.SUB)
            sys_sub.setsockopt(zmq.LINGER, 0)
            sys_sub.connect(feed.data)
            sys_sub.setsockopt(zmq.SUBSCRIBE, b"sys|")
            published: list[dict] = []

            def read_sys():
                while sys_sub.poll(0):
                    m = wire.unpack(sys_sub.recv_multipart()[1])
                    if m["type"] == "error":
                        published.append(m)
            try:
                # good events keep flowing through the garbage, and the garbage is announced on sys|
                wait_until(lambda: (sub.poll(50), read_sys(), sub.last > 20 and published)[2], 15,
                           what="events despite garbage, and error events")
            finally:
                sub.close()
                sys_sub.close()
            # the simulator's garbage (feed_process/sim/faults.py MALFORMED): truncated JSON and not-JSON are
            # malformed_json; the trade with a text price ("p": "x") is wrong_type (shared/models/events.py:
            # a value of the wrong JSON type, where bad_value is a number out of its range)
            kinds = {m["kind"] for m in published}
            assert kinds and kinds <= {"malformed_json", "wrong_type"}, published
            assert all(isinstance(m["count"], int) and m["count"] >= 1 and m["message"] for m in published)
            st = json.loads(cli("status", "--json", "--feed", feed.control).stdout)
            c = st["counters"]
            assert c.get("malformed_json", 0) >= 1, c
            assert c.get("wrong_type", 0) >= 1, c
            assert c.get("bad_value", 0) + c.get("bad_timestamp", 0) + c.get("missing_field", 0) == 0, c
            assert feed.proc.poll() is None
            # logged at most once per kind per 5 s (kinds seen on sys| are a subset of those logged: 1/s vs 1/5 s)
            all_kinds = {k for k in c if k in ("malformed_json", "bad_value", "bad_timestamp", "missing_field",
                                                "wrong_type", "upstream_error", "unknown_message")}
            lines = sum(1 for line in feed.stderr_lines if "bad input" in line)
            assert lines <= len(all_kinds) * (int((time.monotonic() - t_start) / 5) + 1)


def test_non_loopback_bind_with_curve_keys_serves_only_clients_with_keys(tmp_path):
    import zmq.auth

    keys = tmp_path / "curve"
    keys.mkdir()
    zmq.auth.create_certificates(str(keys), "server")
    zmq.auth.create_certificates(str(keys), "client")
    (keys / "authorized_clients").mkdir()
    (keys / "client.key").rename(keys / "authorized_clients" / "client.key")
    port = free_port("0.0.0.0")
    with run_feed("--upstream", "ws://127.0.0.1:9/ws/x", "--curve-dir", str(keys), "--no-backfill",
                  port=port, host="0.0.0.0") as feed:
        assert feed.data.startswith("tcp://0.0.0.0:")
        # a client without keys gets nothing (the handshake fails): "no feed answering"
        r = cli("status", "--feed", f"tcp://127.0.0.1:{port}", "--timeout", "1")
        assert r.returncode == 1 and "no feed answering" in r.stderr
        # right server key but a client key the feed never authorised: refused
        intruder = tmp_path / "intruder"
        intruder.mkdir()
        zmq.auth.create_certificates(str(intruder), "client")
        (intruder / "server.key").write_bytes((keys / "server.key").read_bytes())
        r = cli("status", "--feed", f"tcp://127.0.0.1:{port}", "--curve-dir", str(intruder), "--timeout", "1")
        assert r.returncode == 1 and "no feed answering" in r.stderr
        # with the server's public key and an authorised client key: served, data address usable
        (keys / "client.key").write_bytes((keys / "authorized_clients" / "client.key").read_bytes())
        r = cli("status", "--json", "--feed", f"tcp://127.0.0.1:{port}", "--curve-dir", str(keys))
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout)["pid"] == feed.pid


def test_max_connections_is_shown_and_backed_off_not_hammered():
    with run_sim("--max-connections", "0", "--speed", "5") as sim:
        with run_feed("--upstream", sim.url_polygon, *fast_reconnect(), env=clean_env(POLYGON_API_KEY="k")) as feed:
            def state():
                r = cli("status", "--json", "--feed", feed.control)
                return json.loads(r.stdout)["upstream"] if r.returncode == 0 else {}
            up = wait_until(lambda: (u := state()).get("state") == "max_connections" and u, 10,
                            what="max_connections state")
            assert "connection" in up["message"].lower() and "next try in 60s" in up["message"]
            accepted = sim.status()["accepted"]["polygon"]
            time.sleep(1.0)  # the assertion is about *absence* of retries over a window
            assert sim.status()["accepted"]["polygon"] == accepted == 1


def test_bad_flags_are_one_line_errors():
    for args in (["feed", "--hwm", "0"], ["tap", "AAPL", "--count", "0"], ["tap", "not a ticker!"],
                 ["tap", "AAPL", "--channels", "T,X", "--feed", f"tcp://127.0.0.1:{free_port()}"],
                 ["feed", "--max-reconnect-attempts", "-1"]):
        r = cli(*args, timeout=20)
        assert r.returncode == 2, (args, r.stderr)
        assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr


def test_tap_follows_a_feed_that_was_killed_and_restarted_on_the_same_address(synth_sim):
    import subprocess
    import threading

    from tests.feed_process_util import CLI
    from tests.util import REPO, stop_process

    port = free_port()
    env = clean_env(POLYGON_API_KEY="k")
    with run_feed("--upstream", synth_sim.url_polygon, "--no-backfill", env=env, port=port) as first:
        tap = subprocess.Popen([*CLI, "tap", "AAPL", "--json", "--feed", first.control], cwd=REPO, env=clean_env(),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
        out: list[str] = []
        err: list[str] = []
        threading.Thread(target=lambda: [out.append(x) for x in tap.stdout], daemon=True).start()
        threading.Thread(target=lambda: [err.append(x) for x in tap.stderr], daemon=True).start()
        try:
            wait_until(lambda: len(out) >= 5, 20, what="tap output from the first feed")
            first.proc.kill()
            first.proc.wait(5)
            with run_feed("--upstream", synth_sim.url_polygon, "--no-backfill", env=env, port=port) as second:
                n = len(out)
                wait_until(lambda: len(out) >= n + 5, 20, what="tap output from the restarted feed")
                assert any("restarted" in line for line in err) and tap.poll() is None
                assert second.epoch != first.epoch
        finally:
            stop_process(tap)


def test_reconnect_command_after_giving_up_connects_to_an_upstream_that_is_back():
    """The window's Reconnect: a feed that gave up (max_reconnect_attempts 1, nobody on the port) is told
    ``reconnect`` over its control socket once an upstream listens there, and connects."""
    from shared.feed_probe import request
    from shared.models import wire

    def upstream(feed) -> dict:
        r = request(feed.control, {"v": wire.PROTOCOL_VERSION, "type": "status"}, timeout=3.0)
        return (r or {}).get("upstream") or {}

    def reconnect(feed) -> dict:
        r = request(feed.control, {"v": wire.PROTOCOL_VERSION, "type": "command", "cmd": "reconnect"}, timeout=3.0)
        assert r is not None and r["type"] == "ok", r
        return r

    port = free_port()  # nothing listens here yet: every attempt is refused at once
    with run_feed("--upstream", f"ws://127.0.0.1:{port}/stocks", "--max-reconnect-attempts", "1",
                  "--no-backfill", *fast_reconnect(), env=clean_env(POLYGON_API_KEY="k")) as feed:
        up = wait_until(lambda: (u := upstream(feed)).get("state") == "failed" and u, 20, what="the feed gives up")
        assert "gave up after 1 attempts" in up["message"]
        with run_sim("--port", str(port), "--speed", "5") as sim:
            assert upstream(feed)["state"] == "failed"  # it stays given up until asked
            r = reconnect(feed)
            assert r["started"] is True and r["state"] == "connecting"
            wait_until(lambda: upstream(feed).get("state") == "connected", 20, what="connected after reconnect")
            assert sim.status()["accepted"]["polygon"] == 1
            r = reconnect(feed)  # an open connection is left alone
            assert r["started"] is False and r["state"] == "connected"
            assert upstream(feed)["attempts"] == 0 and sim.status()["accepted"]["polygon"] == 1
