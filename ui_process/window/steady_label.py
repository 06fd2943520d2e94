"""Labels whose changing text repaints them without re-laying out the window.

Why: ``QLabel.setText`` calls ``updateGeometry``, and unless the label's
minimum and maximum sizes are equal that invalidates every layout up to the
main window: one ``LayoutRequest`` relayout of the whole dock area per loop
turn in which any ticker, status or chart-header text changed (0.5-3.6 ms
each at full feed rate, ~30 times a second; ``bench.ui_window``, 2026-12-02).
A :class:`SteadyLabel` keeps a fixed size that only grows: a text that fits
costs a repaint of the label; one that needs more room grows it once (one
relayout), so a value's width settles within its first few updates and
neighbours stop shifting as digits come and go. :class:`TextLine` is for a
full-width line (the chart's header): fixed height, width from its layout,
and ``setText`` is only a repaint (rich text drawn as a ``QStaticText``).
"""

from __future__ import annotations

from PyQt6.QtCore import QEvent, QPointF, QSize, Qt
from PyQt6.QtGui import QColor, QFont, QPainter, QStaticText
from PyQt6.QtWidgets import QLabel, QSizePolicy, QWidget


_RESIZING = (QEvent.Type.Polish, QEvent.Type.FontChange, QEvent.Type.StyleChange)


class SteadyLabel(QLabel):
    """A QLabel of a fixed size that grows to fit its text and never shrinks (a new font or style may)."""

    def __init__(self, text: str = "", parent: QWidget | None = None):
        super().__init__(text, parent)
        self._floor_w = 0
        self._settle(shrink=True)

    def setText(self, text: str) -> None:  # noqa: N802 (Qt API)
        if text == self.text():
            return
        super().setText(text)  # fixed size: its updateGeometry leaves the parent layouts alone
        self._settle()

    def setFont(self, font: QFont) -> None:  # noqa: N802 (Qt API)
        super().setFont(font)
        self._settle(shrink=True)

    def setStyleSheet(self, css: str) -> None:  # noqa: N802 (Qt API)
        if css == self.styleSheet():
            return  # a re-set style re-polishes the label for nothing
        super().setStyleSheet(css)
        self._settle(shrink=True)

    def setMinimumWidth(self, w: int) -> None:  # noqa: N802 (Qt API)
        self._floor_w = w
        self._settle()

    def event(self, ev: QEvent) -> bool:
        done = super().event(ev)
        if ev.type() in _RESIZING:  # polished in its window, or a font/style from a parent: re-measure
            self._settle(shrink=True)
        return done

    def _settle(self, shrink: bool = False) -> None:
        hint = self.sizeHint()
        w, h = max(hint.width(), self._floor_w), hint.height()
        cur = self.minimumSize()
        if not shrink and cur == self.maximumSize():
            w, h = max(w, cur.width()), max(h, cur.height())
        if cur != QSize(w, h) or self.maximumSize() != QSize(w, h):
            self.setFixedSize(w, h)  # the one relayout: the text outgrew the label


class TextLine(QWidget):
    """One line of rich text across its parent's width; a new text is a repaint, never a relayout."""

    def __init__(self, text: str = "", *, background: str, colour: str, padding: tuple[int, int] = (4, 8),
                 font: QFont | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        if font is not None:
            self.setFont(font)
        self._bg, self._fg = QColor(background), QColor(colour)
        self._pad_v, self._pad_h = padding
        self._text = ""
        self._static = QStaticText()
        self._static.setTextFormat(Qt.TextFormat.RichText)
        self._static.setPerformanceHint(QStaticText.PerformanceHint.AggressiveCaching)
        self._static.setTextWidth(100_000)  # one line: rich static text wraps at its own guess otherwise
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self.setFixedHeight(self.fontMetrics().height() + 2 * self._pad_v + 2)
        self.setText(text)

    def text(self) -> str:
        return self._text

    def setText(self, text: str) -> None:  # noqa: N802 (Qt API)
        if text == self._text:
            return
        self._text = text
        self._static.setText(text)
        self.update()

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt API)
        return QSize(self.fontMetrics().averageCharWidth() * 60, self.height())

    def paintEvent(self, ev) -> None:  # noqa: N802 (Qt API)
        p = QPainter(self)
        p.fillRect(self.rect(), self._bg)
        p.setPen(self._fg)
        p.setFont(self.font())
        y = (self.height() - self._static.size().height()) / 2
        p.drawStaticText(QPointF(self._pad_h, y), self._static)
        p.end()
