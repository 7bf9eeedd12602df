"""A plain SVG line plot for the reports: panels side by side, each a few named lines over the
same x positions (a log axis of sizes), no plotting library needed."""

from __future__ import annotations

import math
from dataclasses import dataclass
from xml.sax.saxutils import escape

COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd")


@dataclass
class Line:
    name: str
    points: list[tuple[float, float]]  # (records, value); values that are None are left out
    dashed: bool = False


@dataclass
class Panel:
    title: str
    lines: list[Line]
    limit: float | None = None  # a horizontal target line
    limit_label: str = ""


def _nice_top(value: float) -> float:
    """The smallest 1, 2 or 5 times a power of ten at or above `value`."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if step * power >= value:
            return step * power
    return 10 * power


def svg_plot(panels: list[Panel], ticks: list[tuple[float, str]], caption: str = "") -> str:
    """Panels side by side sharing a logarithmic x axis of records (ticks: (records, label)),
    each with its own linear y axis from 0; lines with round markers and their values."""
    width, height = 320, 260
    left, right, top, bottom = 56, 16, 36, 44
    plot_w, plot_h = width - left - right, height - top - bottom
    xs = [x for x, _ in ticks] + [x for p in panels for line in p.lines for x, _ in line.points]
    low, high = math.log10(min(xs)), math.log10(max(xs))
    if high - low < 1e-9:
        low, high = low - 0.5, high + 0.5
    pad = (high - low) * 0.08
    low, high = low - pad, high + pad

    def x_of(records: float) -> float:
        return left + (math.log10(records) - low) / (high - low) * plot_w

    total_h = height + (24 if caption else 0) + 22
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width * len(panels)}" '
        f'height="{total_h}" viewBox="0 0 {width * len(panels)} {total_h}" '
        'font-family="sans-serif" font-size="11">',
        f'<rect width="{width * len(panels)}" height="{total_h}" fill="white"/>',
    ]
    for n, panel in enumerate(panels):
        values = [y for line in panel.lines for _, y in line.points]
        if panel.limit is not None:
            values.append(panel.limit)
        y_top = _nice_top(max(values) * 1.1 if values else 1.0)

        def y_of(value: float, y_top: float = y_top) -> float:
            return top + plot_h - value / y_top * plot_h

        out.append(f'<g class="panel" transform="translate({n * width},0)">')
        out.append(
            f'<text class="title" x="{left + plot_w / 2}" y="18" text-anchor="middle" '
            f'font-weight="bold">{escape(panel.title)}</text>'
        )
        for i in range(5):
            value = y_top * i / 4
            y = y_of(value)
            out.append(
                f'<line x1="{left}" y1="{y:.1f}" x2="{left + plot_w}" y2="{y:.1f}" stroke="#ddd"/>'
            )
            out.append(f'<text x="{left - 4}" y="{y + 4:.1f}" text-anchor="end">{value:g}</text>')
        for records, label in ticks:
            x = x_of(records)
            out.append(
                f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{top + plot_h}" stroke="#eee"/>'
            )
            out.append(
                f'<text class="tick" x="{x:.1f}" y="{top + plot_h + 14}" '
                f'text-anchor="middle">{escape(label)}</text>'
            )
        out.append(
            f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="none" '
            'stroke="#888"/>'
        )
        out.append(
            f'<text x="{left + plot_w / 2}" y="{top + plot_h + 30}" text-anchor="middle">'
            "records (log scale)</text>"
        )
        if panel.limit is not None:
            y = y_of(panel.limit)
            out.append(
                f'<line class="limit" x1="{left}" y1="{y:.1f}" x2="{left + plot_w}" '
                f'y2="{y:.1f}" stroke="#999" stroke-dasharray="2,3"/>'
            )
            out.append(
                f'<text x="{left + plot_w - 2}" y="{y - 3:.1f}" text-anchor="end" '
                f'fill="#666">{escape(panel.limit_label)}</text>'
            )
        for i, line in enumerate(panel.lines):
            colour = COLOURS[i % len(COLOURS)]
            points = sorted(line.points)
            coords = " ".join(f"{x_of(x):.1f},{y_of(y):.1f}" for x, y in points)
            dash = ' stroke-dasharray="5,3"' if line.dashed else ""
            out.append(
                f'<polyline class="line" data-name="{escape(line.name)}" points="{coords}" '
                f'fill="none" stroke="{colour}" stroke-width="2"{dash}/>'
            )
            for x, y in points:
                out.append(f'<circle cx="{x_of(x):.1f}" cy="{y_of(y):.1f}" r="3" fill="{colour}"/>')
                # each line's values a little higher than the last's, where lines meet
                out.append(
                    f'<text x="{x_of(x) + 4:.1f}" y="{y_of(y) - 5 - 10 * i:.1f}" '
                    f'fill="{colour}" font-size="9">{y:.3g}</text>'
                )
            if len(panel.lines) > 1:  # a legend
                ly = top + 12 + 13 * i
                out.append(
                    f'<line x1="{left + 8}" y1="{ly - 4}" x2="{left + 24}" y2="{ly - 4}" '
                    f'stroke="{colour}" stroke-width="2"{dash}/>'
                )
                out.append(f'<text x="{left + 28}" y="{ly}">{escape(line.name)}</text>')
        out.append("</g>")
    if caption:
        out.append(f'<text x="8" y="{height + 16}" fill="#444">{escape(caption)}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"
