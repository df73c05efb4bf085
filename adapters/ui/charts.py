"""Charts drawn on the server as inline SVG: nothing to load, and they print and work offline."""

from __future__ import annotations

import math
from datetime import date, datetime
from typing import Any

from markupsafe import Markup, escape

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2")
WIDTH, HEIGHT = 640, 240
LEFT, RIGHT, TOP, BOTTOM = 44, 110, 14, 30


def _frame(title: str, body: list[str]) -> Markup:
    svg = (f'<svg class="chart" role="img" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" '
           f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>{"".join(body)}</svg>')
    return Markup(svg)  # noqa: S704 - every text inside is escaped above and below


def _y_axis(low: float, high: float, ticks: int, percent: bool) -> tuple[list[str], Any]:
    plot_h = HEIGHT - TOP - BOTTOM

    def y(value: float) -> float:
        return TOP + plot_h * (1 - (value - low) / (high - low))

    parts = []
    for i in range(ticks + 1):
        value = low + (high - low) * i / ticks
        text = f"{value:.0%}" if percent else f"{value:g}"
        parts.append(f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(value):.1f}" y2="{y(value):.1f}"/>'
                     f'<text class="tick" x="{LEFT - 4}" y="{y(value) + 4:.1f}" text-anchor="end">{text}</text>')
    return parts, y


def satisfaction_chart(series: list[dict[str, Any]], title: str, threshold: float) -> Markup:
    """One line per series (a version, an image type): the share of satisfied answers per day served."""
    days = sorted({date.fromisoformat(p["day"]) for s in series for p in s["points"]})
    if not days:
        return _frame(title, [f'<text class="empty" x="{WIDTH / 2}" y="{HEIGHT / 2}" text-anchor="middle">'
                              'no rated predictions yet</text>'])
    first, span = days[0], max((days[-1] - days[0]).days, 1)
    plot_w = WIDTH - LEFT - RIGHT
    parts, y = _y_axis(0.0, 1.0, 4, percent=True)

    def x(day: date) -> float:
        return LEFT + plot_w * (day - first).days / span

    parts.append(f'<line class="threshold" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(threshold):.1f}" '
                 f'y2="{y(threshold):.1f}"/><text class="threshold-label" x="{WIDTH - RIGHT - 2}" '
                 f'y="{y(threshold) - 4:.1f}" text-anchor="end">threshold {threshold:.0%}</text>')
    for day in days if len(days) <= 8 else days[:: math.ceil(len(days) / 8)]:
        parts.append(f'<text class="tick" x="{x(day):.1f}" y="{HEIGHT - 10}" text-anchor="middle">'
                     f'{day:%b %d}</text>')
    for index, one in enumerate(series):
        colour = PALETTE[index % len(PALETTE)]
        points = [(x(date.fromisoformat(p["day"])), y(p["rate"]), p) for p in one["points"]]
        path = " ".join(f"{px:.1f},{py:.1f}" for px, py, _ in points)
        parts.append(f'<polyline class="series" fill="none" stroke="{colour}" points="{path}"/>')
        for px, py, p in points:
            parts.append(f'<circle cx="{px:.1f}" cy="{py:.1f}" r="3" fill="{colour}"><title>{escape(one["name"])} '
                         f'{p["day"]}: {p["rate"]:.1%} of {p["rated"]} rated</title></circle>')
        parts.append(f'<rect x="{WIDTH - RIGHT + 10}" y="{TOP + 16 * index}" width="10" height="10" fill="{colour}"/>'
                     f'<text class="legend" x="{WIDTH - RIGHT + 24}" y="{TOP + 9 + 16 * index}">'
                     f'{escape(one["name"])}</text>')
    return _frame(title, parts)


def accuracy_chart(rows: list[dict[str, Any]], title: str) -> Markup:
    """Side by side per version: accuracy on the validation set and on the test set (the axis starts near the
    lowest figure, so that a point's difference shows)."""
    figures = [r[k] for r in rows for k in ("validation", "test") if r.get(k) is not None]
    if not figures:
        return _frame(title, [f'<text class="empty" x="{WIDTH / 2}" y="{HEIGHT / 2}" text-anchor="middle">'
                              'no accuracy measured yet</text>'])
    low = max(0.0, math.floor((min(figures) - 0.05) * 10) / 10)
    parts, y = _y_axis(low, 1.0, _ticks(1.0 - low), percent=True)
    plot_w = WIDTH - LEFT - RIGHT
    slot = plot_w / len(rows)
    bar = min(36.0, slot / 3)
    for index, row in enumerate(rows):
        centre = LEFT + slot * (index + 0.5)
        for offset, key, colour in ((-bar, "validation", PALETTE[0]), (0.0, "test", PALETTE[2])):
            value = row.get(key)
            if value is None:
                continue
            top = y(value)
            parts.append(f'<rect x="{centre + offset:.1f}" y="{top:.1f}" width="{bar:.1f}" '
                         f'height="{HEIGHT - BOTTOM - top:.1f}" fill="{colour}"><title>{escape(row["version"])} '
                         f'{key} accuracy {value:.2%}</title></rect><text class="value" '
                         f'x="{centre + offset + bar / 2:.1f}" '
                         f'y="{top - 3:.1f}" text-anchor="middle">{value:.1%}</text>')
        parts.append(f'<text class="tick" x="{centre:.1f}" y="{HEIGHT - BOTTOM + 12}" text-anchor="middle">'
                     f'{escape(row["version"])}</text><text class="tick" x="{centre:.1f}" y="{HEIGHT - 4}" '
                     f'text-anchor="middle">{escape(row["state"])}</text>')
    for index, (key, colour) in enumerate((("validation", PALETTE[0]), ("test", PALETTE[2]))):
        parts.append(f'<rect x="{WIDTH - RIGHT + 10}" y="{TOP + 16 * index}" width="10" height="10" fill="{colour}"/>'
                     f'<text class="legend" x="{WIDTH - RIGHT + 24}" y="{TOP + 9 + 16 * index}">{key}</text>')
    return _frame(title, parts)


def _ticks(span: float) -> int:
    """Grid lines at round percentages: every 5 points on a short axis, every 10, else quarters."""
    for step in (0.05, 0.1):
        if round(span / step) <= 5:
            return max(1, round(span / step))
    return 4


def interval_chart(series: dict[str, Any]) -> Markup:
    """One check of a rollout phase over the phase's time: its always-valid interval as a band, its estimate as a
    line, no difference at 0 and the line the check fails beyond (dashed). Differences show in points, latency as
    the candidate's ratio to the stable version, floors as the candidate's own rate."""
    name, boundary = series["name"], float(series["boundary"])
    kind = "ratio" if name == "latency" else "rate" if name.endswith("_floor") else "points"
    title = f"{name} over the phase: always-valid interval"
    known = [p for p in series["points"] if p["low"] is not None and p["high"] is not None]
    if not known:
        return _frame(title, [f'<text class="empty" x="{WIDTH / 2}" y="{HEIGHT / 2}" text-anchor="middle">'
                              'not enough samples yet</text>'])
    clip = {"ratio": (math.log(0.1), math.log(10.0)), "rate": (0.0, 1.0), "points": (-1.0, 1.0)}[kind]
    values = [boundary, *([] if kind == "rate" else [0.0])]
    values += [v for p in known for v in (p["low"], p["high"]) if math.isfinite(v)]
    low, high = max(clip[0], min(values)), min(clip[1], max(values))
    pad = (high - low) * 0.08 or 0.05
    low, high = max(clip[0], low - pad), min(clip[1], high + pad)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def y(value: float) -> float:
        return TOP + plot_h * (1 - (min(max(value, low), high) - low) / (high - low))

    def label(value: float) -> str:
        if kind == "ratio":
            return f"x{math.exp(value):.2f}"
        return f"{value:.0%}" if kind == "rate" else f"{100 * value:+.0f} pts"

    parts = []
    for i in range(5):
        value = low + (high - low) * i / 4
        parts.append(f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(value):.1f}" y2="{y(value):.1f}"/>'
                     f'<text class="tick" x="{LEFT - 4}" y="{y(value) + 4:.1f}" text-anchor="end">{label(value)}'
                     '</text>')
    times = [datetime.fromisoformat(p["time"]) for p in series["points"]]
    first = datetime.fromisoformat(series["since"]) if series.get("since") else times[0]
    span = max((times[-1] - first).total_seconds(), 1.0)

    def x(moment: datetime) -> float:
        return LEFT + plot_w * (moment - first).total_seconds() / span

    for moment in (first, first + (times[-1] - first) / 2, times[-1]):
        parts.append(f'<text class="tick" x="{x(moment):.1f}" y="{HEIGHT - 10}" text-anchor="middle">'
                     f'{moment:%b %d %H:%M}</text>')
    if kind != "rate":
        parts.append(f'<line class="zero" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(0.0):.1f}" y2="{y(0.0):.1f}"/>')
    fails = "fails below" if name.startswith("satisfaction") else "fails above"
    parts.append(f'<line class="threshold" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(boundary):.1f}" '
                 f'y2="{y(boundary):.1f}"/><text class="threshold-label" x="{WIDTH - RIGHT + 4}" '
                 f'y="{y(boundary) + 4:.1f}">{fails} {label(boundary)}</text>')
    at = [(x(datetime.fromisoformat(p["time"])), p) for p in known]
    band = [f"{px:.1f},{y(p['high']):.1f}" for px, p in at] + [f"{px:.1f},{y(p['low']):.1f}" for px, p in at[::-1]]
    parts.append(f'<polygon class="band" points="{" ".join(band)}"/>')
    estimates = [(px, p) for px, p in at if p["estimate"] is not None]
    parts.append('<polyline class="series estimate" fill="none" points="'
                 + " ".join(f"{px:.1f},{y(p['estimate']):.1f}" for px, p in estimates) + '"/>')
    for px, p in at:
        estimate = "" if p["estimate"] is None else f"{label(p['estimate'])}, "
        parts.append(f'<circle class="point {escape(p["state"])}" cx="{px:.1f}" cy="{y(p["estimate"] or 0.0):.1f}" '
                     f'r="3"><title>{escape(p["time"])}: {estimate}interval {label(p["low"])} .. {label(p["high"])}'
                     f' over {p["samples"]} candidate samples ({escape(p["state"])})</title></circle>')
    return _frame(title, parts)
