"""``live-monitor``: the command a user starts (entry point ``supervisor:main``).

The command-line parser lives in ``shared/cli.py``; the supervisor proper
(desktop and daemon modes) lands here with issue #6.
"""

from __future__ import annotations

import argparse
import sys

from shared.cli import main as _cli_main


def add_desktop_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--symbols", metavar="A,B", help="one window per symbol (default: the last used)")
    p.add_argument("--sim-port", dest="sim_port", type=int, metavar="P", help="simulator port (default: a free port)")


def add_daemon_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--sim-port", dest="sim_port", type=int, metavar="P", help="simulator port (default: a free port)")


def main() -> None:
    sys.exit(_cli_main())


if __name__ == "__main__":
    main()
