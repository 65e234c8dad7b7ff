"""Inline SVG charts for the HTML report, written as plain strings: grouped bars with error bars, a
confusion-matrix heat map, line charts and stacked horizontal bars. No plotting library, no scripts."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from html import escape

PALETTE = ("#2b6cb0", "#dd6b20", "#38a169", "#e53e3e", "#805ad5", "#975a16", "#d53f8c", "#718096")
FONT = 'font-family="system-ui, sans-serif"'


def color(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


def _svg(width: float, height: float, body: list[str], title: str, kind: str) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" class="plot plot-{kind}" width="{width:.0f}" '
            f'height="{height:.0f}" viewBox="0 0 {width:.0f} {height:.0f}" role="img" aria-label="{escape(title)}">'
            f'<title>{escape(title)}</title>'
            f'<text x="{width / 2:.1f}" y="18" text-anchor="middle" font-size="14" font-weight="600" {FONT}>'
            f'{escape(title)}</text>{"".join(body)}</svg>')


def _text(x, y, s, size=11, anchor="middle", extra="") -> str:
    return f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}" {FONT} {extra}>{escape(str(s))}</text>'


def nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """About `n` round tick values covering [lo, hi]."""
    if hi <= lo:
        hi = lo + 1.0
    raw = (hi - lo) / n
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    start = math.floor(lo / step) * step
    return [round(start + i * step, 10) for i in range(int(math.ceil((hi - start) / step)) + 1)]


def _legend(names: Sequence[str], x: float, y: float) -> list[str]:
    out = []
    for i, name in enumerate(names):
        out.append(f'<rect x="{x:.1f}" y="{y + 16 * i - 9:.1f}" width="10" height="10" fill="{color(i)}"/>')
        out.append(_text(x + 14, y + 16 * i, name, anchor="start"))
    return out


def grouped_bars(groups: Sequence[str], series: Mapping[str, Sequence[tuple[float | None, Sequence[float] | None]]],
                 *, title: str, y_label: str, y_max: float = 1.0,
                 reference: Sequence[float | None] | None = None, reference_label: str = "chance") -> str:
    """Bars per group, one per series, with CI error bars; `reference` draws a dashed line per group."""
    names = list(series)
    bar, gap, left, top, bottom = 16, 22, 52, 34, 70
    group_w = max(1, len(names)) * bar + gap
    plot_w, plot_h = max(260, len(groups) * group_w), 220
    legend_w = 20 + 7 * max([len(n) for n in [*names, reference_label]] or [8])
    width, height = left + plot_w + legend_w + 20, top + plot_h + bottom

    def y(v: float) -> float:
        return top + plot_h * (1 - min(max(v, 0.0), y_max) / y_max)

    body = [f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" stroke="#333"/>',
            f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_h}" stroke="#333"/>',
            _text(14, top + plot_h / 2, y_label, extra=f'transform="rotate(-90 14 {top + plot_h / 2:.1f})"')]
    for t in nice_ticks(0, y_max):
        if t <= y_max:
            body += [f'<line x1="{left}" y1="{y(t):.1f}" x2="{left + plot_w}" y2="{y(t):.1f}" stroke="#e2e8f0"/>',
                     _text(left - 6, y(t) + 4, f"{t:g}", anchor="end")]
    for g, group in enumerate(groups):
        x0 = left + g * group_w + gap / 2
        for s, name in enumerate(names):
            value, ci = series[name][g]
            x = x0 + s * bar
            if value is None:
                body.append(_text(x + bar / 2, top + plot_h - 4, "–", size=10))
                continue
            body.append(f'<rect class="bar" x="{x:.1f}" y="{y(value):.1f}" width="{bar - 2}" '
                        f'height="{top + plot_h - y(value):.1f}" fill="{color(s)}"><title>{escape(name)} · '
                        f'{escape(group)}: {value:.3f}</title></rect>')
            if ci:
                cx = x + (bar - 2) / 2
                body.append(f'<path class="errorbar" d="M{cx:.1f},{y(ci[0]):.1f}V{y(ci[1]):.1f}M{cx - 3:.1f},'
                            f'{y(ci[0]):.1f}h6M{cx - 3:.1f},{y(ci[1]):.1f}h6" stroke="#111" fill="none"/>')
        if reference and reference[g] is not None:
            body.append(f'<line class="reference" x1="{x0 - 4:.1f}" x2="{x0 + len(names) * bar + 2:.1f}" '
                        f'y1="{y(reference[g]):.1f}" y2="{y(reference[g]):.1f}" stroke="#111" stroke-dasharray="4 3"/>')
        cx = x0 + len(names) * bar / 2
        if len(group) > 10:  # long labels slant down to the left, ending under their group
            body.append(_text(cx + 4, top + plot_h + 14, group, anchor="end",
                              extra=f'transform="rotate(-30 {cx + 4:.1f} {top + plot_h + 14})"'))
        else:
            body.append(_text(cx, top + plot_h + 14, group))
    body += _legend(names, left + plot_w + 16, top + 10)
    if reference:
        ly = top + 10 + 16 * len(names)
        body += [f'<line x1="{left + plot_w + 16}" x2="{left + plot_w + 26}" y1="{ly - 4}" y2="{ly - 4}" '
                 f'stroke="#111" stroke-dasharray="4 3"/>', _text(left + plot_w + 30, ly, reference_label, anchor="start")]
    return _svg(width, height, body, title, "bars")


def heatmap(matrix: Sequence[Sequence[int]], labels: Sequence[str], *, title: str) -> str:
    """A confusion matrix: rows are true classes, columns predictions; shade is the row's fraction."""
    k = len(labels)
    cell = max(14, min(40, 360 // max(k, 1)))
    short = [lab if len(lab) <= 18 else lab[:17] + "…" for lab in labels]
    left, top = 12 + 6.5 * max(len(s) for s in short), 40
    width = max(left + k * cell + 20, 7.5 * len(title) + 20)
    height = top + k * cell + 20 + 6 * max(len(s) for s in short)
    body = []
    for i, row in enumerate(matrix):
        total = sum(row) or 1
        for j, n in enumerate(row):
            frac = n / total
            shade = f"rgb({int(255 - 212 * frac)},{int(255 - 147 * frac)},{int(255 - 79 * frac)})"
            x, y = left + j * cell, top + i * cell
            body.append(f'<rect class="cell" x="{x:.1f}" y="{y}" width="{cell}" height="{cell}" fill="{shade}" '
                        f'stroke="#fff"><title>true {escape(labels[i])}, predicted {escape(labels[j])}: {n}</title></rect>')
            if cell >= 22:
                body.append(_text(x + cell / 2, y + cell / 2 + 4, n, size=10,
                                  extra='fill="#fff"' if frac > 0.6 else ""))
        body.append(_text(left - 4, top + i * cell + cell / 2 + 4, short[i], size=10, anchor="end"))
    for j, lab in enumerate(short):
        x, y = left + j * cell + cell / 2, top + k * cell + 8
        body.append(_text(x, y, lab, size=10, anchor="end", extra=f'transform="rotate(-45 {x:.1f} {y:.1f})"'))
    return _svg(width, height, body, title, "confusion")


def line_chart(series: Mapping[str, Sequence[tuple[float, float]]], *, title: str, x_label: str, y_label: str) -> str:
    """One polyline per series on shared axes."""
    points = [p for s in series.values() for p in s]
    left, top, plot_w, plot_h = 60, 34, 480, 220
    width, height = left + plot_w + 150, top + plot_h + 50
    if not points:
        return _svg(width, height, [_text(width / 2, height / 2, "no data")], title, "line")
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    x_ticks, y_ticks = nice_ticks(min(xs), max(xs)), nice_ticks(min(ys), max(ys))
    x0, x1, y0, y1 = x_ticks[0], x_ticks[-1], y_ticks[0], y_ticks[-1]

    def px(x):
        return left + plot_w * (x - x0) / ((x1 - x0) or 1)

    def py(v):
        return top + plot_h * (1 - (v - y0) / ((y1 - y0) or 1))

    body = [f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#333"/>',
            _text(left + plot_w / 2, top + plot_h + 36, x_label),
            _text(16, top + plot_h / 2, y_label, extra=f'transform="rotate(-90 16 {top + plot_h / 2:.1f})"')]
    body += [_text(px(t), top + plot_h + 16, f"{t:g}") for t in x_ticks]
    body += [_text(left - 6, py(t) + 4, f"{t:g}", anchor="end") for t in y_ticks]
    for i, (name, pts) in enumerate(series.items()):
        path = " ".join(f"{px(x):.1f},{py(v):.1f}" for x, v in pts)
        body.append(f'<polyline class="series" points="{path}" fill="none" stroke="{color(i)}" stroke-width="2">'
                    f'<title>{escape(name)}</title></polyline>')
    body += _legend(list(series), left + plot_w + 14, top + 10)
    return _svg(width, height, body, title, "line")


def stacked_hbars(categories: Sequence[str], stacks: Mapping[str, Sequence[float]], *, title: str) -> str:
    """One horizontal bar per category, split into the stacks (e.g. train and test counts)."""
    names = list(stacks)
    totals = [sum(stacks[n][i] for n in names) for i in range(len(categories))]
    label_w = 12 + 6.5 * max([len(c) for c in categories] or [4])
    row, top, plot_w = 20, 34, 360
    width = label_w + plot_w + 70 + 16 + 7 * max([len(n) for n in names] or [4])
    height = top + row * max(len(categories), len(names)) + 16
    peak = max(totals or [1]) or 1
    body = []
    for i, cat in enumerate(categories):
        y, x = top + i * row, label_w
        body.append(_text(label_w - 6, y + 13, cat, anchor="end"))
        for s, name in enumerate(names):
            w = plot_w * stacks[name][i] / peak
            if w > 0:
                body.append(f'<rect class="bar" x="{x:.1f}" y="{y + 2}" width="{w:.1f}" height="{row - 5}" '
                            f'fill="{color(s)}"><title>{escape(cat)} · {escape(name)}: {stacks[name][i]:g}</title></rect>')
            x += w
        body.append(_text(x + 4, y + 13, f"{totals[i]:g}", anchor="start"))
    if len(names) > 1:
        body += _legend(names, label_w + plot_w + 60, top + 10)
    return _svg(width, height, body, title, "hbars")
