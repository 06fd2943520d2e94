"""WebSocket transports side by side: raw receive loops, each with each JSON decoder, at 5/50/1000-event frames.

Why this shape (issue #17, "choose the transport on figures"): the feed's ceiling is
what a receive loop on a given transport can read, so every candidate gets the same
loop - receive a text frame, decode it, count its events - in its own process, on
the same stream, one after the other in the same minute. The server is not a
WebSocket library: it takes the replay's events, frames them once (unmasked server
frames, no extension negotiated, so no permessage-deflate), then writes the whole
byte stream with blocking ``sendall`` - so the server is never the bottleneck and
every transport pays only its own cost.

Transports: ``websockets`` (asyncio, the feed's until this issue), ``aiohttp``
(the simulator's), ``picows`` (Cython, callback per frame), ``tornado``, and the
threaded ``websocket-client`` (blocking recv; no asyncio at all, for reference).
``picows+uvloop`` shows what a faster loop adds. Decoders: ``orjson.loads``,
``msgspec.json.decode`` (untyped) and the feed's typed ``FRAME`` decoder
(``shared.models.events``: validation included, what the feed really does).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

from bench.common import REPO, bench_env, replay_dir, start, stop

PY = sys.executable
SIZES = (5, 50, 1000)

# argv: replay path, events per frame, total events. Serves each connection the whole stream.
_SERVER = textwrap.dedent("""
    import base64, gzip, hashlib, socket, struct, sys, threading
    path, per, total = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    raw = open(path, "rb").read()
    lines = [l for l in (gzip.decompress(raw) if raw[:2] == b"\\x1f\\x8b" else raw).splitlines() if l.strip()]
    evs = (lines * (total // len(lines) + 1))[:total]
    def frame(p):
        n = len(p)
        h = b"\\x81" + (bytes([n]) if n < 126 else b"\\x7e" + struct.pack("!H", n) if n < 65536
                        else b"\\x7f" + struct.pack("!Q", n))
        return h + p
    stream = b"".join(frame(b"[" + b",".join(evs[i:i + per]) + b"]") for i in range(0, total, per))
    GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
    def serve(c):
        try:
            req = b""
            while b"\\r\\n\\r\\n" not in req:
                d = c.recv(4096)
                if not d:
                    return
                req += d
            key = [l.split(b":", 1)[1].strip() for l in req.split(b"\\r\\n") if l.lower().startswith(b"sec-websocket-key:")][0]
            acc = base64.b64encode(hashlib.sha1(key + GUID).digest())
            c.sendall(b"HTTP/1.1 101 Switching Protocols\\r\\nUpgrade: websocket\\r\\nConnection: Upgrade\\r\\n"
                      b"Sec-WebSocket-Accept: " + acc + b"\\r\\n\\r\\n")
            c.sendall(stream)
            while True:  # any client frame after the stream is its close: answer it, then hang up
                d = c.recv(65536)
                if not d:
                    break
                c.sendall(b"\\x88\\x02\\x03\\xe8")
                break
        except OSError:
            pass
        finally:
            c.close()
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", 0)); s.listen(8)
    print("LISTENING", s.getsockname()[1], flush=True)
    while True:
        c, _ = s.accept()
        c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        threading.Thread(target=serve, args=(c,), daemon=True).start()
""")

# argv: transport decoder url expected budget_s (a slow transport stops early: rate = events / time). Prints {"events", "seconds", "cpu_s", "frames"}.
_CLIENT = textwrap.dedent("""
    import asyncio, json, sys, time
    transport, decoder, url, expected, budget = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5])
    clock = time.perf_counter
    if decoder == "orjson":
        import orjson; decode = orjson.loads
    elif decoder == "msgspec":
        import msgspec; decode = msgspec.json.Decoder().decode
    else:
        from shared.models.events import FRAME; decode = FRAME.decode
    st = {"n": 0, "frames": 0, "first": None}
    def got(raw):
        if st["first"] is None:
            st["first"] = clock(); st["cpu0"] = time.process_time(); st["end"] = st["first"] + budget
        st["n"] += len(decode(raw)); st["frames"] += 1
        if st["n"] >= expected or clock() > st["end"]:  # the clock stops here: the close is not in the figure
            st["seconds"] = clock() - st["first"]; st["cpu_s"] = time.process_time() - st["cpu0"]
            return True
        return False
    def report():
        print(json.dumps({"events": st["n"], "seconds": st["seconds"], "cpu_s": st["cpu_s"], "frames": st["frames"]}))

    async def run_websockets():
        import websockets
        async with websockets.connect(url, max_size=2**26, compression=None) as ws:
            recv = ws.recv
            while not got(await recv(decode=False)):
                pass

    async def run_aiohttp():
        import aiohttp
        async with aiohttp.ClientSession() as s:
            async with s.ws_connect(url, max_msg_size=2**26, compress=0, autoping=True) as ws:
                receive = ws.receive
                while True:
                    m = await receive()
                    if got(m.data):
                        return

    async def run_picows():
        import picows
        done = asyncio.get_running_loop().create_future()
        class L(picows.WSListener):
            def on_ws_frame(self, t, frame):
                if frame.msg_type == picows.WSMsgType.TEXT and got(frame.get_payload_as_memoryview()) \\
                        and not done.done():
                    done.set_result(None)
        t, _ = await picows.ws_connect(L, url, max_frame_size=2**26)
        await done
        t.disconnect()

    async def run_tornado():
        from tornado.websocket import websocket_connect
        ws = await websocket_connect(url, max_message_size=2**26)
        while not got(await ws.read_message()):
            pass
        ws.close()

    def run_websocket_client():
        import websocket
        ws = websocket.create_connection(url, enable_multithread=False)
        recv = ws.recv_data
        while not got(recv()[1]):
            pass
        ws.close()

    if transport == "websocket-client":
        run_websocket_client()
    else:
        name = transport.split("+")[0]
        if transport.endswith("+uvloop"):
            import uvloop; uvloop.install()
        asyncio.run(globals()["run_" + name.replace("-", "_")]())
    report()
""")

TRANSPORTS = ("websockets", "aiohttp", "picows", "picows+uvloop", "tornado", "websocket-client")
DECODERS = ("orjson", "msgspec", "typed")


def _one(transport: str, decoder: str, port: int, expected: int, budget: float) -> dict | None:
    cmd = [PY, "-c", _CLIENT, transport, decoder, f"ws://127.0.0.1:{port}/", str(expected), str(budget)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=180, cwd=REPO, env=bench_env())
    if out.returncode != 0:
        return {"error": (out.stderr.strip().splitlines() or ["?"])[-1][:120]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def measure(quick: bool) -> dict:
    d = replay_dir()
    if d is None:
        return {"title": "transports", "rows": [], "notes": ["replay data not found: skipped"]}
    path = d / "TSLA-2025-06-27.jsonl.gz"
    if not path.exists():
        path = d / "AAPL-2025-06-27-open.jsonl.gz"
    total = 500_000 if quick else 1_500_000  # or 1.5 s / 3 s of receiving, whichever ends first
    repeats = 1 if quick else 3
    decoders = ("orjson", "msgspec") if quick else DECODERS
    rows = []
    for size in SIZES:
        srv, line = start([PY, "-c", _SERVER, str(path), str(size), str(total)], "LISTENING", timeout=120)
        port = int(line.split()[1])
        try:
            base = None
            for transport in TRANSPORTS:
                for decoder in decoders:
                    best = None
                    for _ in range(repeats):  # the best of the repeats: load from other work only slows a run
                        r = _one(transport, decoder, port, total, 1.5 if quick else 3.0)
                        if r and "error" not in r and (best is None or r["seconds"] < best["seconds"]):
                            best = r
                    if best is None:
                        rows.append({"name": f"{transport} + {decoder}", "frame_events": size,
                                     "error": (r or {}).get("error", "?")})
                        continue
                    rate = best["events"] / best["seconds"]
                    base = rate if (transport, decoder) == ("websockets", "orjson") else base
                    rows.append({"name": f"{transport} + {decoder}", "frame_events": size, "events_per_s": rate,
                                 "frames_per_s": best["frames"] / best["seconds"],
                                 "events_per_cpu_s": best["events"] / best["cpu_s"] if best["cpu_s"] else 0.0,
                                 "x_websockets_orjson": round(rate / base, 2) if base else None})
        finally:
            stop(srv)
    return {"title": f"WebSocket transports: raw receive loop + decode, {path.name} in frames of 5/50/1000 events, "
                     "each client its own process",
            "rows": rows,
            "notes": ["server: pre-framed stream written with blocking sendall (never the bottleneck); "
                      "no permessage-deflate",
                      "x_websockets_orjson: against the bare websockets+orjson loop at the same frame size, same run",
                      f"best of {repeats} run(s) per cell; the machine is shared: compare within a frame size"]}


if __name__ == "__main__":  # python -m bench.transports [--quick]
    from bench.__main__ import print_table

    res = measure("--quick" in sys.argv)
    print_table(res["title"], res["rows"])
    for n in res["notes"]:
        print("   -", n)
