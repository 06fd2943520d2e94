"""Relay client ids: a stable per-installation id plus a per-connection suffix.

Why: ``{client_id}`` in a relay URL template names this client to the relay.
A relay keeps the callbacks of every subscribe a client id ever made, so a
reconnect - or a restarted feed - under an id it used before would get every
event once per old connection: each connection needs an id never used
before. But a relay operator (and our logs) also wants to tell installations
apart and see the same installation again after a restart. So the filled id is

    <configured client_id>-<installation id>-<process token>-<n>

* the installation id: 8 random hex digits made once and kept in the user data
  directory (``platformdirs.user_data_dir("live-monitor")``, or
  ``$LIVE_MONITOR_DATA_DIR`` when set - tests point it at a temporary
  directory); when that directory cannot be written, a token for this process
  stands in (logged once), so a read-only home never stops the feed;
* the per-connection suffix: a token new per process and ``n`` per connection,
  so no two connections - in one process or across restarts - share an id.

Made lazily: only a template with ``{client_id}`` (a relay) touches the disk.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
from pathlib import Path

from shared.paths import data_dir

log = logging.getLogger(__name__)

ID_FILE = "installation-id"
_ID_RE = re.compile(r"^[0-9a-f]{8}$")
_fallback: str | None = None  # this process's stand-in when the data directory is unusable


def _read(path: Path) -> str | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    return text if _ID_RE.match(text) else None


def installation_id(directory: Path | None = None) -> str:
    """The installation's id, made and saved on first use; a per-process token if it cannot be saved."""
    global _fallback
    d = directory or data_dir()
    path = d / ID_FILE
    text = _read(path)
    if text is not None:
        return text
    new = secrets.token_hex(4)
    try:
        d.mkdir(parents=True, exist_ok=True)
        tmp = d / f".{ID_FILE}.{os.getpid()}"
        tmp.write_text(new + "\n")
        os.replace(tmp, path)  # whole or absent, never half written (a garbled file is replaced)
    except OSError as e:
        if _fallback is None:
            _fallback = new
            log.warning("cannot keep an installation id in %s (%s); using one for this process", d, e)
        return _fallback
    # two feeds making it at the same moment: the last write wins, and both read that one
    return _read(path) or new


class ClientIds:
    """Fills ``{client_id}`` in a URL template, a new id for each connection number ``n``."""

    def __init__(self, template: str, configured: str) -> None:
        self.template = template
        self.configured = configured
        self.token = secrets.token_hex(3)  # new per process: ids never repeat across restarts
        self._install: str | None = None

    def url(self, n: int) -> str:
        if "{client_id}" not in self.template:
            return self.template  # not a relay template: nothing to fill, nothing read from disk
        if self._install is None:
            self._install = installation_id()
        return self.template.replace("{client_id}", f"{self.configured}-{self._install}-{self.token}-{n}")
