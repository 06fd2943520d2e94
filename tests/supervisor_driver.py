"""Runs the real ``supervisor.core.Supervisor`` over stand-in children given as JSON
(a real supervisor process for the process tests, without sim/feed/ui).

    python -m tests.supervisor_driver '{"mode": "desktop", "children": [...], "policy": {...}}'
"""

from __future__ import annotations

import asyncio
import json
import sys

from shared.logsetup import configure_logging
from shared.procs import ChildSpec, Restart, RestartPolicy
from supervisor.core import Supervisor
from supervisor.runner import StartFailed, Stopping
from tests.util import REPO


async def run(cfg: dict) -> int:
    sup = Supervisor(cfg.get("feed"), mode=cfg.get("mode", "desktop"), policy=RestartPolicy(**cfg.get("policy", {})),
                     report_interval=cfg.get("report_interval", 3.0), stop_timeout=cfg.get("stop_timeout", 3.0),
                     pdeathsig=cfg.get("pdeathsig", True))
    sup.install_signal_handlers()

    def spec(c: dict) -> ChildSpec:
        return ChildSpec(c["name"], c["role"], [sys.executable, "-m", "tests.standin_child", *c["args"]],
                         Restart(c.get("restart", "always")), ready_prefix=c.get("ready_prefix"),
                         ready_timeout=c.get("ready_timeout", 20.0),
                         env={"PYTHONPATH": str(REPO)})  # children get no cwd on sys.path: find tests/ here

    if cfg.get("window_tag"):  # "New window" requests open stand-in windows tagged TAG-ui-SYM
        async def open_window(symbol: str) -> None:
            await sup.start(spec({"name": f"ui-{symbol}", "role": "ui", "restart": "on_crash",
                                  "args": ["--tag", f"{cfg['window_tag']}-ui-{symbol}"]}))

        print(f"WINDOWS {sup.serve_windows(open_window)}", flush=True)
    try:
        for c in cfg["children"]:
            await sup.start(spec(c))
    except Stopping:
        await sup.shutdown()
        return 0
    except StartFailed as e:
        await sup.shutdown()
        print(f"live-monitor: {e}", file=sys.stderr)
        return 1
    print("SUPERVISING", flush=True)
    return await sup.run()


if __name__ == "__main__":
    configure_logging("DEBUG")
    sys.exit(asyncio.run(run(json.loads(sys.argv[1]))))
