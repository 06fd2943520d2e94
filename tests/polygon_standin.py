"""A stand-in Polygon/Massive ``/stocks`` upstream on loopback, for feed-process tests.

Why a stand-in and not the simulator: these tests send what no honest server
sends (1e30 sizes, 2**64, unknown events, garbage frames) byte for byte, and
the behaviour of the official client's mock server (per-topic trade echoes,
unrequested AMZN trades). It speaks the handshake (status ``connected`` ->
``auth`` -> ``auth_success`` -> ``subscribe`` acknowledged per topic), then,
once every symbol of ``--wait-for`` is subscribed (so none is dropped as
unwanted by accident), sends the raw frames of ``--frames`` (a JSON list of
strings, sent verbatim) and prints ``SENT n``.

``--mock``: per subscribed topic, like the official mock server: one echo of
the same trade of that topic's symbol and a frame of two unrequested AMZN
trades (the feed must deliver one trade per symbol and count the rest).

Run: ``python -m tests.polygon_standin --frames F --wait-for AAPL,MSFT [--mock]``;
prints ``LISTENING <port>`` first, then ``SUBSCRIBE <params>`` per request.
In tests: ``with run_standin(frames, ["AAPL"]) as up: up.url, up.lines``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

_AMZN = [{"ev": "T", "sym": "AMZN", "i": "72815", "x": 12, "p": 161.87, "s": 1, "c": [14, 37, 41],
          "t": 1651684192536, "q": 4009408, "z": 3},
         {"ev": "T", "sym": "AMZN", "i": "799", "x": 4, "p": 161.87, "s": 100, "t": 1651684192717,
          "q": 4009434, "z": 3}]


def echo_trade(sym: str) -> dict:
    """The one trade the mock echoes for every topic of ``sym`` (same id each time)."""
    return {"ev": "T", "sym": sym, "i": "5096", "x": 10, "p": 161.87, "s": 300, "c": [14, 41],
            "t": 1651684192462, "q": 4009402, "z": 3}


async def _serve(frames: list[str], wait_for: set[str], mock: bool) -> None:
    import websockets

    async def handler(ws):
        await ws.send('[{"ev":"status","status":"connected","message":"Connected Successfully"}]')
        subscribed: set[str] = set()
        sent = False
        async for raw in ws:
            try:
                msg = json.loads(raw)
            except ValueError:
                continue
            action = msg.get("action") if isinstance(msg, dict) else None
            if action == "auth":
                await ws.send('[{"ev":"status","status":"auth_success","message":"authenticated"}]')
            elif action in ("subscribe", "unsubscribe"):
                params = str(msg.get("params", ""))
                print(f"{action.upper()} {params}", flush=True)
                for topic in [p for p in params.split(",") if p]:
                    verb = "subscribed to" if action == "subscribe" else "unsubscribed to"
                    await ws.send(json.dumps([{"ev": "status", "status": "success", "message": f"{verb}: {topic}"}]))
                    if action == "subscribe":
                        sym = topic.split(".", 1)[1]
                        subscribed.add(sym)
                        if mock:
                            await ws.send(json.dumps([echo_trade(sym)]))
                            await ws.send(json.dumps(_AMZN))
                if not sent and wait_for <= subscribed:
                    sent = True
                    for f in frames:
                        await ws.send(f)
                    print(f"SENT {len(frames)}", flush=True)

    async with websockets.serve(handler, "127.0.0.1", 0, compression=None, max_size=2**24) as srv:
        print("LISTENING", srv.sockets[0].getsockname()[1], flush=True)
        await asyncio.Future()


@dataclass
class Standin:
    port: int
    proc: subprocess.Popen
    lines: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/stocks"


@contextlib.contextmanager
def run_standin(frames: list[str], wait_for: list[str], mock: bool = False) -> Iterator[Standin]:
    """The stand-in as a real process; always stopped (and its pipe drained) on exit."""
    from tests.util import REPO, stop_process

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "frames.json"
        path.write_text(json.dumps(frames))
        cmd = [sys.executable, "-m", "tests.polygon_standin", "--frames", str(path), "--wait-for", ",".join(wait_for)]
        proc = subprocess.Popen(cmd + (["--mock"] if mock else []), cwd=REPO, stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, text=True)
        try:
            first = proc.stdout.readline().split()
            if first[:1] != ["LISTENING"]:
                raise RuntimeError(f"stand-in upstream did not start: {first}")
            up = Standin(int(first[1]), proc)
            threading.Thread(target=lambda: [up.lines.append(x.rstrip("\n")) for x in proc.stdout],
                             daemon=True).start()
            yield up
        finally:
            stop_process(proc)
            proc.stdout.close()


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--frames", required=True)
    p.add_argument("--wait-for", default="")
    p.add_argument("--mock", action="store_true")
    a = p.parse_args()
    frames = json.loads(Path(a.frames).read_text())
    try:
        asyncio.run(_serve(frames, {s for s in a.wait_for.split(",") if s}, a.mock))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
