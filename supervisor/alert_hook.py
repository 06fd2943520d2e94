"""The daemon's alert hook: log each fired alert and run ``alert_command`` with the alert as JSON on stdin.

Why in the supervisor and not the feed: a user's command can hang, spin or
fail; the feed's loop must never wait for it. The hook is a SUB to the feed's
``alert|`` topic (its data address from ``hello``, asked again when the feed
is restarted: a heartbeat with a new epoch), in the daemon's own loop. Each
alert is logged, then ``alert_command`` runs through the shell with the log
entry as one JSON document on stdin (and ``LIVE_MONITOR_ALERT_ID``,
``..._SYMBOL``, ``..._MESSAGE`` in its environment): at most
``MAX_CONCURRENT`` at once, each killed after ``alert_command_timeout``
seconds; at most ``MAX_QUEUED`` wait, beyond that the oldest is dropped
(logged). Its output goes to the daemon's log.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections import deque

log = logging.getLogger(__name__)

MAX_CONCURRENT = 4
MAX_QUEUED = 100


class AlertHook:
    def __init__(self, feed: str, command: str = "", timeout: float = 10.0, curve_dir: str = "") -> None:
        self.feed, self.command, self.timeout, self.curve_dir = feed, command, timeout, curve_dir
        self.queue: deque[dict] = deque()
        self.wake = asyncio.Event()
        self.running = 0
        self.done: list[tuple[int, int | None]] = []  # (entry id, exit status or None when killed)

    async def run(self) -> None:
        import zmq
        import zmq.asyncio

        from shared.feed_probe import request
        from shared.models import wire
        from shared.zmq_client import apply_curve, data_endpoint

        workers = [asyncio.create_task(self._worker()) for _ in range(MAX_CONCURRENT)]
        ctx = zmq.asyncio.Context.instance()
        try:
            while True:
                hello = await asyncio.to_thread(request, self.feed, wire.hello_request(0, "alert-hook"), 1.5,
                                                None, curve_dir=self.curve_dir)
                if not hello or not isinstance(hello.get("data"), str):
                    await asyncio.sleep(1.0)
                    continue
                sub = ctx.socket(zmq.SUB)
                sub.setsockopt(zmq.LINGER, 0)
                apply_curve(sub, self.curve_dir)
                sub.connect(data_endpoint(hello["data"], self.feed))
                sub.setsockopt(zmq.SUBSCRIBE, wire.ALERT_TOPIC)
                sub.setsockopt(zmq.SUBSCRIBE, wire.SYS_TOPIC)
                log.info("alert hook on %s%s", self.feed, f" (alert_command: {self.command})" if self.command else "")
                try:
                    await self._listen(sub, hello.get("epoch"), wire)
                finally:
                    sub.close(0)
        finally:
            for w in workers:
                w.cancel()

    async def _listen(self, sub, epoch, wire) -> None:
        while True:
            if not await sub.poll(5000):
                return  # no heartbeat for 5 s: the feed is gone; say hello again
            topic, payload = await sub.recv_multipart()
            try:
                msg = wire.decode_data(payload)  # typed: heartbeats / status / errors on sys|, AlertFired on alert|
            except wire.WireError:
                continue
            if topic == wire.SYS_TOPIC:
                if getattr(msg, "epoch", None) not in (None, epoch):
                    return  # another feed process: reconnect to its data address
                continue
            if topic == wire.ALERT_TOPIC and wire.type_of(msg) == wire.ALERT and not isinstance(msg, dict):
                self.fired(msg.entry)

    def fired(self, e: dict) -> None:
        log.warning("ALERT %s (alert %s, fired at %s)", e.get("message"), e.get("alert"), e.get("t"))
        if not self.command:
            return
        if len(self.queue) >= MAX_QUEUED:
            old = self.queue.popleft()
            log.error("alert_command queue full: dropped alert entry %s", old.get("id"))
        self.queue.append(e)
        self.wake.set()

    async def _worker(self) -> None:
        while True:
            while not self.queue:
                self.wake.clear()
                await self.wake.wait()
            e = self.queue.popleft()
            self.running += 1
            try:
                await self._run_one(e)
            except Exception:
                log.exception("alert_command failed to start")
            finally:
                self.running -= 1

    async def _run_one(self, e: dict) -> None:
        env = dict(os.environ, LIVE_MONITOR_ALERT_ID=str(e.get("alert", "")),
                   LIVE_MONITOR_ALERT_SYMBOL=str(e.get("symbol", "")),
                   LIVE_MONITOR_ALERT_MESSAGE=str(e.get("message", "")))
        p = await asyncio.create_subprocess_shell(self.command, stdin=asyncio.subprocess.PIPE,
                                                  stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
                                                  env=env, start_new_session=True)
        try:
            out, _ = await asyncio.wait_for(p.communicate(json.dumps(e).encode()), self.timeout)
            rc = p.returncode
            (log.info if rc == 0 else log.warning)("alert_command for %s exited %s%s", e.get("id"), rc,
                                                    f": {out.decode(errors='replace')[-300:].strip()}" if out else "")
        except asyncio.TimeoutError:
            try:
                os.killpg(p.pid, 9)
            except ProcessLookupError:
                pass
            await p.wait()
            rc = None
            log.error("alert_command for %s killed after %.0f s", e.get("id"), self.timeout)
        self.done.append((e.get("id"), rc))
