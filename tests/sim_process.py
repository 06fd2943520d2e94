"""Run the simulator in a subprocess for tests (stable API; other parts import it).

    from tests.sim_process import run_sim
    with run_sim("--speed", "60") as sim:
        sim.url_polygon   # ws://127.0.0.1:PORT/stocks
        sim.url_relay     # ws://127.0.0.1:PORT/ws/{client_id}   (format it with a client id)
        sim.http          # http://127.0.0.1:PORT  (history, /sim/status, /sim/fault)
        sim.status()      # GET /sim/status as a dict
        sim.fault(kind="drop", after=100)   # POST /sim/fault

The process is started with ``--port 0``; the port comes from its
``LISTENING`` line (waited for with a timeout). It is always stopped on exit
(SIGTERM, wait, SIGKILL), also when the test fails.

The clock is ``--clock virtual`` unless the test names one: ``auto`` (the
simulator's default) follows the wall clock during NYSE hours, so a test would
see a different session at 11:00 New York than at 03:00. The virtual session
is 10:00 (or ``--start``) on the latest session day on or before New York's
date - not UTC's, so the hours around midnight UTC change nothing.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import urllib.request
from dataclasses import dataclass, field
from typing import Iterator

from tests.util import listening_process


@dataclass
class SimProc:
    port: int
    url_relay: str  # with a literal "{client_id}" placeholder, as the seed's relay URL
    url_polygon: str
    proc: subprocess.Popen
    source: str = "simulated"
    stderr_lines: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def status(self, timeout: float = 5.0) -> dict:
        with urllib.request.urlopen(f"{self.http}/sim/status", timeout=timeout) as r:
            return json.loads(r.read())

    def fault(self, timeout: float = 5.0, **spec) -> dict:
        req = urllib.request.Request(f"{self.http}/sim/fault", data=json.dumps(spec).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return json.loads(r.read())


@contextlib.contextmanager
def run_sim(*extra_args: str, timeout: float = 45.0, env: dict | None = None) -> Iterator[SimProc]:
    """Start ``python -m feed_process.sim --port 0 *extra_args``; yield a :class:`SimProc`."""
    clock = [] if "--clock" in extra_args else ["--clock", "virtual"]  # a fixed session at any hour
    cmd = [sys.executable, "-m", "feed_process.sim", "--port", "0", *clock, *extra_args]
    penv = dict(os.environ, PYTHONUNBUFFERED="1")
    if env:
        penv.update(env)
    with listening_process(cmd, env=penv, timeout=timeout, what="simulator", keep_stderr=2000,
                           stderr_tail=5) as (proc, line, err):
        port = int(line.split()[1].rsplit(":", 1)[1])
        fields = dict(p.split("=", 1) for p in line.split()[2:] if "=" in p)
        src = fields.get("source", "simulated")
        yield SimProc(port=port, url_relay=f"ws://127.0.0.1:{port}/ws/{{client_id}}",
                      url_polygon=f"ws://127.0.0.1:{port}/stocks", proc=proc, source=src, stderr_lines=err)
