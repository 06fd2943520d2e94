"""Where the window keeps its layout, geometry and recent symbols (QSettings).

Normally the platform's native store under org ``LiveMonitor``, app
``live-monitor``. The ``ui_state_file`` setting (``LIVE_MONITOR_UI_STATE_FILE``
or the config file) redirects it to one INI file: tests use it so they never
touch a user's real settings, and a user can keep a portable desk layout.
"""

from __future__ import annotations

from PyQt6.QtCore import QSettings

ORG = "LiveMonitor"
APP = "live-monitor"


def open_settings(path: str = "") -> QSettings:
    if path:
        return QSettings(path, QSettings.Format.IniFormat)
    return QSettings(ORG, APP)


def read_list(s: QSettings, key: str) -> list[str]:
    v = s.value(key, [])
    if isinstance(v, str):  # QSettings returns a bare string for a one-item list
        return [v] if v else []
    return [str(x) for x in (v or [])]
