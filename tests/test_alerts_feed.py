"""Alerts and summaries in a real feed process on a scripted tape (stand-in upstream on loopback).

Each alert kind fires exactly once per crossing at its event (tests/alert_tape.py
says which), the book survives a SIGKILL without a second fire when the same
tape comes again, the log waits for a later subscriber; ``sum|`` alone
subscribes the symbol upstream and carries no events.
"""

from __future__ import annotations

import json
import os
import signal

import pytest
import zmq

from shared.models import wire
from tests.alert_tape import EXPECT, SYM, frames
from tests.feed_process_util import clean_env, run_feed
from tests.polygon_standin import run_standin
from tests.util import wait_until

N_TAPE_EVENTS = 37 + 5 + 2 + 5


class Client:
    """A DEALER for control requests and a SUB for the data socket."""

    def __init__(self, control: str, data: str, topics: list[bytes]) -> None:
        ctx = zmq.Context.instance()
        self.d = ctx.socket(zmq.DEALER)
        self.d.setsockopt(zmq.LINGER, 0)
        self.d.connect(control)
        self.s = ctx.socket(zmq.SUB)
        self.s.setsockopt(zmq.LINGER, 0)
        self.s.connect(data)
        for t in topics:
            self.s.setsockopt(zmq.SUBSCRIBE, t)
        self.s.setsockopt(zmq.SUBSCRIBE, wire.SYS_TOPIC)
        self.msgs: list[tuple[bytes, dict]] = []
        self._id = 0
        wait_until(lambda: self.poll() or any(t == wire.SYS_TOPIC for t, _ in self.msgs), what="a heartbeat")

    def request(self, **req) -> dict:
        self._id += 1
        self.d.send(wire.pack({"id": self._id, **req}))
        assert self.d.poll(5000), f"no reply to {req}"
        return wire.unpack(self.d.recv())

    def poll(self) -> bool:
        while self.s.poll(0):
            topic, payload = self.s.recv_multipart()
            self.msgs.append((topic, wire.unpack(payload)))
        return False

    def alerts(self) -> list[dict]:
        self.poll()
        return [m["entry"] for t, m in self.msgs if t == wire.ALERT_TOPIC]

    def close(self) -> None:
        self.d.close(0)
        self.s.close(0)


@pytest.fixture
def alerts_env(tmp_path):
    return clean_env(POLYGON_API_KEY="k", LIVE_MONITOR_ALERTS_FILE=str(tmp_path / "alerts.json"))


def feed_args(up) -> list[str]:
    return ["--upstream", up.url, "--protocol", "polygon", "--no-backfill"]


def expected_fires() -> int:
    return sum(len(ts) for _, ts in EXPECT)


def test_every_kind_fires_once_at_its_event_and_a_sigkill_never_fires_twice(alerts_env, tmp_path):
    with run_standin(frames(), [SYM]) as up:
        with run_feed(*feed_args(up), env=alerts_env) as feed:
            c = Client(feed.control, feed.data, [wire.ALERT_TOPIC])
            try:
                ids = {}
                for spec, times in EXPECT:  # no window, no md| subscriber: the alerts pin the symbol upstream
                    r = c.request(type="alert", op="add", symbol=SYM, **spec)
                    assert r["type"] == "alert", r
                    ids[r["alert"]["id"]] = times
                wait_until(lambda: len(c.alerts()) >= expected_fires(), timeout=15, what="every alert")
                got: dict[str, list[int]] = {}
                for e in c.alerts():
                    got.setdefault(e["alert"], []).append(e["t"])
                assert got == ids
            finally:
                c.close()
            os.kill(feed.pid, signal.SIGKILL)
            feed.proc.wait(5)
        book = json.loads((tmp_path / "alerts.json").read_text())
        assert len(book["log"]) == expected_fires() and not any(e["delivered"] for e in book["log"])
        # The restarted feed gets the same tape again (a new connection to the stand-in) and decides nothing twice.
        with run_feed(*feed_args(up), env=alerts_env) as feed2:
            c = Client(feed2.control, feed2.data, [wire.ALERT_TOPIC])
            try:
                wait_until(lambda: (c.request(type="status")["symbols"].get(SYM) or {}).get("events", 0)
                           >= N_TAPE_EVENTS, timeout=15, what="the tape again")
                c.request(type="ping")  # one more round trip: anything published is queued by now
                wait_until(lambda: any(t == wire.SYS_TOPIC for t, _ in c.msgs[-1:]) or c.poll(), timeout=3,
                           what="a heartbeat after the tape")
                assert c.alerts() == []
                log = c.request(type="alert", op="log")
                assert len(log["log"]) == expected_fires()  # what fired while nobody listened is all there
                assert c.request(type="alert", op="ack", upto=log["log"][-1]["id"])["acked"] == expected_fires()
            finally:
                c.close()


def test_bad_alert_requests_get_one_line_errors(alerts_env):
    with run_standin(frames(), [SYM]) as up, run_feed(*feed_args(up), env=alerts_env) as feed:
        c = Client(feed.control, feed.data, [])
        try:
            for req, words in ((dict(op="add", symbol=SYM, kind="above"), "needs a value"),
                               (dict(op="add", symbol=SYM, kind="above", value=-1), "must be"),
                               (dict(op="add", symbol="not a symbol", kind="high"), "bad symbol"),
                               (dict(op="add", symbol=SYM, kind="sideways"), "unknown alert kind"),
                               (dict(op="rm", alert="a99"), "no alert"),
                               (dict(op="explode"), "unknown alert op")):
                r = c.request(type="alert", **req)
                assert r["type"] == "error" and r["code"] == "bad_alert" and words in r["message"], r
                assert "\n" not in r["message"]
            a = c.request(type="alert", op="add", symbol=SYM, kind="above", value=150)["alert"]
            assert c.request(type="alert", op="disarm", alert=a["id"])["alert"]["armed"] is False
            assert c.request(type="alert", op="edit", alert=a["id"], value=151)["alert"]["value"] == 151
            assert [x["id"] for x in c.request(type="alert", op="list")["alerts"]] == [a["id"]]
            assert c.request(type="alert", op="rm", alert=a["id"])["alert"]["id"] == a["id"]
            assert c.request(type="alert", op="list")["alerts"] == []
        finally:
            c.close()


def test_a_summary_subscriber_gets_summaries_and_no_events(alerts_env):
    with run_standin(frames(), [SYM]) as up, run_feed(*feed_args(up), env=alerts_env) as feed:
        c = Client(feed.control, feed.data, [wire.summary_topic(SYM)])
        try:
            def last_summary():
                c.poll()
                sums = [m for t, m in c.msgs if t == wire.summary_topic(SYM)]
                return sums[-1] if sums and sums[-1]["last"] == 102.05 else None
            s = wait_until(last_summary, timeout=15, what="the summary of the whole tape")
            assert not any(t.startswith(wire.MD_PREFIX) for t, _ in c.msgs)  # no trade stream
            assert set(wire.SUMMARY_KEYS) <= set(s) and s["type"] == wire.SUMMARY
            assert s["prev_close"] == 100.0 and s["change"] == 2.05 and s["change_pct"] == 2.05
            assert s["high"] == 102.3 and s["low"] == 99.5 and s["volume"] == 500 + 1500 + 2000 + 300
            # 10:01's cumulative average over the prior session is 32 bars x 1000 (09:30..10:01)
            assert s["rel_volume"] == round(4300 / 32_000, 3)
            assert s["spark"] == [102.05]  # 10:00 and 10:01 share the 10:00-10:05 bucket: its latest close
            snap = c.request(type="snapshot", symbol=SYM)
            assert snap["day"]["last"] == s["last"] and snap["day"]["volume"] == s["volume"]
            cur = c.request(type="summary", symbols=[SYM])["summaries"][SYM]
            assert {k: cur[k] for k in wire.SUMMARY_KEYS} == {k: s[k] for k in wire.SUMMARY_KEYS}
        finally:
            c.close()
