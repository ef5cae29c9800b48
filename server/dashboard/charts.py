"""Bar charts as inline SVG, built on the server so that the dashboard needs no script or network.

Every label is XML-escaped. Each chart carries a <title> and an aria-label,
and the page shows the same figures in a table for screen readers.
"""

from __future__ import annotations

from collections.abc import Sequence
from xml.sax.saxutils import escape

from markupsafe import Markup

__all__ = ["horizontal_bars", "column_chart"]

_BAR_COLOUR = "#1f6f8b"
_TEXT_COLOUR = "#1b1b1b"
_FONT = 'font-family="DejaVu Sans, sans-serif" font-size="12"'


def _attr(text: str) -> str:
    return escape(text, {'"': "&quot;"})


def _empty(title: str, message: str, width: int) -> Markup:
    return Markup(
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="40" role="img" '
        f'aria-label="{_attr(title)}"><title>{escape(title)}</title>'
        f'<text x="0" y="24" {_FONT} fill="{_TEXT_COLOUR}">{escape(message)}</text></svg>'
    )


def horizontal_bars(
    title: str, rows: Sequence[tuple[str, int]], empty_message: str, *, width: int = 900, label_width: int = 260
) -> Markup:
    """Draw one bar per (label, value) row, longest value at full width."""
    if not rows:
        return _empty(title, empty_message, width)
    row_height, bar_height = 26, 18
    top = max(value for _, value in rows) or 1
    bar_space = width - label_width - 70
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{row_height * len(rows) + 4}" '
        f'role="img" aria-label="{_attr(title)}"><title>{escape(title)}</title>'
    ]
    for index, (label, value) in enumerate(rows):
        y = index * row_height + 2
        bar = max(1, round(bar_space * value / top)) if value else 0
        parts.append(
            f'<text x="{label_width - 8}" y="{y + 14}" text-anchor="end" {_FONT} fill="{_TEXT_COLOUR}">'
            f"{escape(label[:34])}</text>"
            f'<rect x="{label_width}" y="{y}" width="{bar}" height="{bar_height}" fill="{_BAR_COLOUR}"/>'
            f'<text x="{label_width + bar + 6}" y="{y + 14}" {_FONT} fill="{_TEXT_COLOUR}">{value:,}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def column_chart(
    title: str, columns: Sequence[tuple[str, int]], empty_message: str, *, width: int = 900, height: int = 180
) -> Markup:
    """Draw one column per (label, value), such as redemptions per day; every seventh label and the last are printed."""
    if not columns:
        return _empty(title, empty_message, width)
    axis = 30
    plot_height = height - axis
    top = max(value for _, value in columns) or 1
    step = (width - 50) / len(columns)
    column_width = max(2, step * 0.7)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
        f'aria-label="{_attr(title)}"><title>{escape(title)}</title>',
        f'<text x="0" y="12" {_FONT} fill="{_TEXT_COLOUR}">{top:,}</text>',
        f'<line x1="44" y1="{plot_height}" x2="{width}" y2="{plot_height}" stroke="#888"/>',
    ]
    for index, (label, value) in enumerate(columns):
        x = 48 + index * step
        bar = round((plot_height - 16) * value / top)
        parts.append(
            f'<rect x="{x:.1f}" y="{plot_height - bar}" width="{column_width:.1f}" height="{bar}" '
            f'fill="{_BAR_COLOUR}"><title>{escape(label)}: {value:,}</title></rect>'
        )
        last = index == len(columns) - 1
        if last or (index % 7 == 0 and index < len(columns) - 4):
            anchor = f'x="{x + column_width:.1f}" text-anchor="end"' if last else f'x="{x:.1f}"'
            parts.append(f'<text {anchor} y="{height - 8}" {_FONT} fill="{_TEXT_COLOUR}">{escape(label)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))
