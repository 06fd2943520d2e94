"""``live-monitor``: the command a user starts (console script ``supervisor:main``,
also ``python -m supervisor``).

Desktop (the default) starts the simulator (when the upstream is ``sim``), one
feed and one window per symbol, and keeps them alive; ``daemon`` does the same
without windows and never imports Qt.

Why a package with this layout
------------------------------
The design card keeps the name ``supervisor``; the code grew past one module,
so ``supervisor`` is a package (a ``supervisor.py`` beside it would be shadowed
by the package anyway, so there is none). Each module has one job:

* ``cli_args`` - the desktop/daemon flags (import-light, for ``--help``);
* ``commands`` - the two plans end to end (probe, attach or start, refuse a
  mismatching feed, take over when the other desk's feed is gone);
* ``plans``    - pure: settings -> child specs (argv, restart mode, env);
* ``core``     - :class:`Supervisor`: start, supervise, report, stop in order;
* ``runner``   - :class:`ChildRunner`: one child's spawn / output / readiness /
  restart loop, behind a narrow :class:`RunContext`;
* ``control``  - the private ROUTER where windows ask for windows and report
  their symbol; ``reporter`` - the DEALER that reports to the feed;
* ``status_text`` - the text of ``live-monitor status`` (times in ET, windows
  under their symbols).

This module stays tiny: ``shared.cli`` imports it for every command line, and
the children (``python -P -m supervisor SUB``) import it before their own part.
"""

from __future__ import annotations

import sys


def main() -> None:
    from shared.cli import main as cli_main

    sys.exit(cli_main())


def __getattr__(name: str):
    # Old entry points of the one-module supervisor (supervisor.run_desktop, ...), loaded on use
    # so that importing the package stays free of asyncio / zmq.
    if name in ("run_desktop", "run_daemon"):
        from . import commands

        return getattr(commands, name)
    raise AttributeError(f"module 'supervisor' has no attribute {name!r}")
