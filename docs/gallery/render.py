#!/usr/bin/env python3
"""Renders the scheduler gallery: the CSV printed by bench/lr_gallery
(plot,series,step,lr) becomes one SVG line chart per plot, with the Python
standard library only.

    build/bench/lr_gallery > /tmp/lr.csv
    python3 docs/gallery/render.py /tmp/lr.csv docs/gallery
"""
import csv
import math
import os
import sys
from collections import OrderedDict
from xml.sax.saxutils import escape

WIDTH, PLOT_HEIGHT = 640, 240
LEFT, RIGHT, TITLE, BOTTOM = 64, 16, 30, 44
COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e"]


def nice_step(span, count):
    """A round tick spacing (1, 2 or 5 times a power of ten) giving about `count` ticks."""
    raw = span / count
    power = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 5, 10):
        if m * power >= raw:
            return m * power
    return 10 * power


def label(v):
    return f"{v:.4g}"


def legend_rows(names):
    """Legend entries laid out left to right under the title, wrapped to the width."""
    rows, row, used = [], [], 0
    for name in names:
        width = 34 + 7 * len(name)
        if row and used + width > WIDTH - LEFT - RIGHT:
            rows.append(row)
            row, used = [], 0
        row.append((name, used))
        used += width
    rows.append(row)
    return rows


def render(title, series):
    rows = legend_rows(list(series))
    top_margin = TITLE + 18 * len(rows) + 10
    height = top_margin + PLOT_HEIGHT + BOTTOM
    steps = max(s for points in series.values() for s, _ in points)
    top = max(lr for points in series.values() for _, lr in points)
    y_step = nice_step(top, 5)
    y_max = math.ceil(top / y_step - 1e-9) * y_step
    x_step = nice_step(steps, 5)
    w, h = WIDTH - LEFT - RIGHT, PLOT_HEIGHT

    def x(s):
        return LEFT + w * s / steps

    def y(v):
        return top_margin + h * (1 - v / y_max)

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
           f'viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" font-size="12">',
           f'<rect width="{WIDTH}" height="{height}" fill="white"/>',
           f'<text x="{WIDTH / 2}" y="20" text-anchor="middle" font-size="15" font-weight="bold">'
           f'{escape(title)}</text>']
    tick = 0.0
    while tick <= y_max + 1e-12:
        out.append(f'<line x1="{LEFT}" x2="{LEFT + w}" y1="{y(tick):.1f}" y2="{y(tick):.1f}" stroke="#e0e0e0"/>')
        out.append(f'<text x="{LEFT - 6}" y="{y(tick) + 4:.1f}" text-anchor="end">{label(tick)}</text>')
        tick += y_step
    tick = 0
    base = top_margin + h
    while tick <= steps:
        out.append(f'<line x1="{x(tick):.1f}" x2="{x(tick):.1f}" y1="{base}" y2="{base + 5}" stroke="black"/>')
        out.append(f'<text x="{x(tick):.1f}" y="{base + 18}" text-anchor="middle">{label(tick)}</text>')
        tick += x_step
    out.append(f'<polyline points="{LEFT},{top_margin} {LEFT},{base} {LEFT + w},{base}" fill="none" stroke="black"/>')
    out.append(f'<text x="{LEFT + w / 2}" y="{height - 8}" text-anchor="middle">step</text>')
    out.append(f'<text x="14" y="{top_margin + h / 2}" text-anchor="middle" '
               f'transform="rotate(-90 14 {top_margin + h / 2})">lr</text>')
    colors = {name: COLORS[i % len(COLORS)] for i, name in enumerate(series)}
    for name, points in series.items():
        path = " ".join(f"{x(s):.1f},{y(v):.1f}" for s, v in points)
        out.append(f'<polyline points="{path}" fill="none" stroke="{colors[name]}" stroke-width="2"/>')
    for r, row in enumerate(rows):
        ly = TITLE + 10 + 18 * r
        for name, offset in row:
            lx = LEFT + offset
            out.append(f'<line x1="{lx}" x2="{lx + 20}" y1="{ly}" y2="{ly}" stroke="{colors[name]}" stroke-width="2"/>')
            out.append(f'<text x="{lx + 26}" y="{ly + 4}">{escape(name)}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def main(csv_path, out_dir):
    plots = OrderedDict()
    with open(csv_path) as f:
        for row in csv.DictReader(f):
            series = plots.setdefault(row["plot"], OrderedDict()).setdefault(row["series"], [])
            series.append((int(row["step"]), float(row["lr"])))
    os.makedirs(out_dir, exist_ok=True)
    for title, series in plots.items():
        with open(os.path.join(out_dir, title + ".svg"), "w") as f:
            f.write(render(title, series))
    print(f"wrote {len(plots)} plots to {out_dir}", file=sys.stderr)


if __name__ == "__main__":
    main(*sys.argv[1:3])
