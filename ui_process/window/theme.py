"""Colours and the application style for the dashboard.

Why one module: every panel (chart items, tape rows, badges, tables) takes its
colours from :data:`DARK` / :data:`LIGHT` here, so a theme switch is one call
and no widget hard-codes a colour. The dark palette follows what trading
terminals use (near-black panels, green up / red down, muted grid) so a
trader's eye finds the usual cues.
"""

from __future__ import annotations

from dataclasses import dataclass

from PyQt6.QtGui import QColor, QPalette
from PyQt6.QtWidgets import QApplication


@dataclass(frozen=True)
class Theme:
    name: str
    bg: str
    panel: str
    panel_alt: str
    border: str
    text: str
    text_dim: str
    grid: str
    up: str
    down: str
    up_soft: str
    down_soft: str
    neutral: str
    accent: str
    warn: str
    vwap: str
    ema9: str
    ema21: str
    rsi: str
    last_line: str
    crosshair: str

    def q(self, attr: str) -> QColor:
        return QColor(getattr(self, attr))


DARK = Theme(
    name="dark", bg="#0e1117", panel="#141923", panel_alt="#1a2030", border="#262d3d", text="#d7dce5",
    text_dim="#8a93a6", grid="#1f2634", up="#26a69a", down="#ef5350", up_soft="#7fd1c8", down_soft="#f3a19f",
    neutral="#b0b8c8", accent="#4c8dff", warn="#ffb74d", vwap="#f5c542", ema9="#42a5f5", ema21="#ab47bc",
    rsi="#c7a4ff", last_line="#4c8dff", crosshair="#6b7489",
)

LIGHT = Theme(
    name="light", bg="#fafbfc", panel="#ffffff", panel_alt="#f1f3f6", border="#d5dae2", text="#1d2330",
    text_dim="#5d6678", grid="#e8ebf0", up="#089981", down="#e53935", up_soft="#4db6ac", down_soft="#e57373",
    neutral="#4a5263", accent="#2962ff", warn="#ef6c00", vwap="#d4a106", ema9="#1e88e5", ema21="#8e24aa",
    rsi="#7e57c2", last_line="#2962ff", crosshair="#9aa3b5",
)

# Badge colours: data sources (always visible) and market states.
SOURCE_COLOURS = {"LIVE": "#2e7d32", "DELAYED": "#ef6c00", "SIMULATED": "#6a1b9a", "REPLAY": "#1565c0",
                  "UNKNOWN": "#455a64"}
MARKET_STATE_COLOURS = {"OPEN": "#2e7d32", "PRE": "#1565c0", "POST": "#6a1b9a", "CLOSED": "#455a64"}
URGENCY_COLOURS = {"Urgent": "#ef5350", "Warning": "#ffb74d", "Normal": "#26a69a"}
STRENGTH_COLOURS = {"Strong": "#d7dce5", "Medium": "#b0b8c8", "Weak": "#8a93a6"}

_current: Theme = DARK


def current() -> Theme:
    return _current


def badge_css(bg: str) -> str:
    return (f"QLabel {{ background: {bg}; color: white; border-radius: 3px; padding: 1px 7px;"
            f" font-weight: 600; letter-spacing: 0.5px; }}")


def apply(app: QApplication, theme: Theme = DARK) -> Theme:
    """Install ``theme`` as the application palette and style sheet."""
    global _current
    _current = theme
    import pyqtgraph as pg

    pg.setConfigOptions(background=theme.bg, foreground=theme.text_dim, antialias=False)
    app.setStyle("Fusion")
    pal = QPalette()
    roles = {
        QPalette.ColorRole.Window: theme.bg, QPalette.ColorRole.WindowText: theme.text,
        QPalette.ColorRole.Base: theme.panel, QPalette.ColorRole.AlternateBase: theme.panel_alt,
        QPalette.ColorRole.Text: theme.text, QPalette.ColorRole.Button: theme.panel_alt,
        QPalette.ColorRole.ButtonText: theme.text, QPalette.ColorRole.Highlight: theme.accent,
        QPalette.ColorRole.HighlightedText: "#ffffff", QPalette.ColorRole.ToolTipBase: theme.panel_alt,
        QPalette.ColorRole.ToolTipText: theme.text, QPalette.ColorRole.PlaceholderText: theme.text_dim,
    }
    for role, colour in roles.items():
        pal.setColor(role, QColor(colour))
    app.setPalette(pal)
    app.setStyleSheet(f"""
        QMainWindow, QDockWidget {{ background: {theme.bg}; color: {theme.text}; }}
        QDockWidget::title {{ background: {theme.panel_alt}; padding: 4px 8px; color: {theme.text_dim};
                              font-weight: 600; }}
        QToolBar {{ background: {theme.panel}; border-bottom: 1px solid {theme.border}; spacing: 6px; padding: 3px; }}
        QStatusBar {{ background: {theme.panel}; border-top: 1px solid {theme.border}; color: {theme.text_dim}; }}
        QStatusBar::item {{ border: none; }}
        QTableView, QListWidget, QPlainTextEdit {{ background: {theme.panel}; gridline-color: {theme.grid};
                              border: 1px solid {theme.border}; selection-background-color: {theme.panel_alt}; }}
        QHeaderView::section {{ background: {theme.panel_alt}; color: {theme.text_dim}; border: none;
                              border-right: 1px solid {theme.border}; padding: 3px 6px; }}
        QLineEdit, QSpinBox, QComboBox {{ background: {theme.panel_alt}; color: {theme.text};
                              border: 1px solid {theme.border}; border-radius: 3px; padding: 2px 6px; }}
        QLineEdit:focus {{ border: 1px solid {theme.accent}; }}
        QTabWidget::pane {{ border: 1px solid {theme.border}; }}
        QTabBar::tab {{ background: {theme.panel}; color: {theme.text_dim}; padding: 4px 12px; }}
        QTabBar::tab:selected {{ background: {theme.panel_alt}; color: {theme.text}; }}
    """)
    return theme
