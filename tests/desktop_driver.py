"""``live-monitor`` desktop with probe windows (tests/probe_window.py) instead of dashboards:
the real supervisor, simulator and feed; windows whose manager state is visible in the log.

    python -m tests.desktop_driver [live-monitor desktop flags] [--crash-symbol SYM]
"""

from __future__ import annotations

import sys

from shared.cli import UserError, build_parser, settings_from_args
from shared.logsetup import configure_logging
from shared.procs import ChildSpec, Restart
from tests.util import REPO


def main() -> int:
    argv = sys.argv[1:]
    crash = None
    if "--crash-symbol" in argv:
        i = argv.index("--crash-symbol")
        crash = argv[i + 1]
        del argv[i:i + 2]
    args = build_parser().parse_args(["desktop", *argv])
    settings = settings_from_args(args)
    configure_logging(settings.log_level)

    def probe_ui(settings, args, symbol: str, index: int) -> ChildSpec:
        symbol = symbol or "AAPL"
        argv = [sys.executable, "-m", "tests.probe_window", "--feed", settings.feed, "--symbol", symbol]
        if symbol == crash:
            argv.append("--crash")
        # children get no cwd on sys.path (PYTHONSAFEPATH): tell them where tests/ is
        return ChildSpec(f"ui-{symbol}", "ui", argv, Restart.ON_CRASH, env={"PYTHONPATH": str(REPO)}, symbol=symbol)

    from supervisor.commands import run_desktop

    try:
        return run_desktop(args, settings, ui_factory=probe_ui)
    except UserError as e:
        print(f"live-monitor desktop: {e}", file=sys.stderr)
        return e.code


if __name__ == "__main__":
    sys.exit(main())
