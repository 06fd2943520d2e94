"""Qt's own messages go to Python logging (logger ``qt``), not raw to stderr.

Why: a window process logs one way (``shared.logsetup`` format, levels,
redaction). Known-harmless platform chatter (the offscreen plugin's
"does not support propagateSizeHints()" on every top-level window) is
dropped so a ``--screenshot`` run prints only what matters.
"""

from __future__ import annotations

import logging

from PyQt6.QtCore import QtMsgType, qInstallMessageHandler

log = logging.getLogger("qt")

_IGNORED = ("does not support propagateSizeHints",)
_LEVELS = {QtMsgType.QtDebugMsg: logging.DEBUG, QtMsgType.QtInfoMsg: logging.INFO,
           QtMsgType.QtWarningMsg: logging.WARNING, QtMsgType.QtCriticalMsg: logging.ERROR,
           QtMsgType.QtFatalMsg: logging.CRITICAL}


def _handler(kind: QtMsgType, context, message: str) -> None:
    if any(s in message for s in _IGNORED):
        return
    log.log(_LEVELS.get(kind, logging.WARNING), "%s", message)


def install() -> None:
    qInstallMessageHandler(_handler)
