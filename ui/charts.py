"""Small charts as SVG geometry, drawn by the pages' Jinja macros (pages/_charts.html).

Server-side and dependency-free: a page with a chart needs no JavaScript, prints, and every label
goes through the same autoescaping as the rest of the page. matplotlib draws the one statistical
figure (the model check), where its axes and legends are worth the import.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

PALETTE = ("#2563eb", "#db2777", "#059669", "#d97706", "#7c3aed", "#0891b2", "#dc2626", "#4b5563")
LEFT, RIGHT, TOP, BOTTOM = 56, 12, 12, 40  # margins for the axis labels
MAX_BAR = 48.0  # a lone bar stays a bar, not a wall


@dataclass(frozen=True, slots=True)
class Tick:
    y: float
    label: str


@dataclass(frozen=True, slots=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str
    value: int
    show_label: bool  # every label when they fit, else every k-th


@dataclass(frozen=True, slots=True)
class BarChart:
    width: int
    height: int
    bars: tuple[Bar, ...]
    ticks: tuple[Tick, ...]
    baseline: float
    title: str


@dataclass(frozen=True, slots=True)
class Series:
    name: str
    colour: str
    points: str  # "x,y x,y …" for <polyline>
    dots: tuple[tuple[float, float, str], ...]  # each point with its value, for <title>
    last: str


@dataclass(frozen=True, slots=True)
class XLabel:
    x: float
    label: str
    anchor: str  # SVG text-anchor: the first and last labels stay inside the chart


@dataclass(frozen=True, slots=True)
class LineChart:
    width: int
    height: int
    series: tuple[Series, ...]
    ticks: tuple[Tick, ...]
    labels: tuple[XLabel, ...]
    baseline: float
    title: str


def nice_max(value: float) -> float:
    """The axis top at or above `value`, whose quarters (the four grid lines) are whole counts: a multiple
    of 4 up to 12, else 1, 2, 4 or 8 times a power of ten."""
    if value <= 12:
        return float(4 * max(1, math.ceil(value / 4)))
    power = 10.0 ** math.floor(math.log10(value))
    return next(float(step * power) for step in (1, 2, 4, 8, 10) if step * power >= value)


def _ticks(top: float, plot_h: float) -> tuple[Tick, ...]:
    return tuple(Tick(TOP + plot_h - plot_h * i / 4, f"{top * i / 4:,g}") for i in range(5))


def bar_chart(
    items: Sequence[tuple[str, int]], *, title: str, width: int = 720, height: int = 220
) -> BarChart:
    plot_w, plot_h = width - LEFT - RIGHT, height - TOP - BOTTOM
    top = nice_max(max((v for _, v in items), default=0))
    slot = plot_w / max(len(items), 1)
    every = max(1, math.ceil(len(items) * 64 / plot_w))  # a label needs about 64 px
    bar = min(max(slot * 0.8, 1.0), MAX_BAR)
    bars = tuple(
        Bar(
            x=LEFT + i * slot + (slot - bar) / 2,
            y=TOP + plot_h - plot_h * value / top,
            width=bar,
            height=plot_h * value / top,
            label=label,
            value=value,
            show_label=i % every == 0,
        )
        for i, (label, value) in enumerate(items)
    )
    return BarChart(width, height, bars, _ticks(top, plot_h), TOP + plot_h, title)


def line_chart(
    labels: Sequence[str],
    series: Mapping[str, Sequence[float | None]],
    *,
    title: str,
    width: int = 1100,
    height: int = 300,
) -> LineChart:
    plot_w, plot_h = width - LEFT - RIGHT, height - TOP - BOTTOM
    values = [v for vs in series.values() for v in vs if v is not None]
    top = nice_max(max(values, default=0))
    step = plot_w / max(len(labels) - 1, 1)
    drawn = []
    for n, (name, vs) in enumerate(series.items()):
        points = [
            (LEFT + i * step, TOP + plot_h - plot_h * v / top, v) for i, v in enumerate(vs) if v is not None
        ]
        drawn.append(
            Series(
                name=name,
                colour=PALETTE[n % len(PALETTE)],
                points=" ".join(f"{x:.1f},{y:.1f}" for x, y, _ in points),
                dots=tuple((x, y, f"{name}: {v:,.0f}") for x, y, v in points),
                last=f"{points[-1][2]:,.0f}" if points else "-",
            )
        )
    every = max(1, math.ceil(len(labels) * 90 / plot_w))
    last = len(labels) - 1
    shown = tuple(
        XLabel(LEFT + i * step, label, "start" if i == 0 else "end" if i == last else "middle")
        for i, label in enumerate(labels)
        if i == last or (i % every == 0 and last - i >= every)  # none so close to the last that they overlap
    )
    return LineChart(width, height, tuple(drawn), _ticks(top, plot_h), shown, TOP + plot_h, title)


@dataclass(frozen=True, slots=True)
class GroupBar:
    x: float
    y: float
    width: float
    height: float
    colour: str
    text: str  # the bar's group, series and value, for <title>


@dataclass(frozen=True, slots=True)
class Key:
    name: str
    colour: str


@dataclass(frozen=True, slots=True)
class GroupedBarChart:
    width: int
    height: int
    bars: tuple[GroupBar, ...]
    labels: tuple[XLabel, ...]
    ticks: tuple[Tick, ...]
    baseline: float
    title: str
    keys: tuple[Key, ...]


def grouped_bar_chart(
    groups: Sequence[str],
    series: Mapping[str, Sequence[float]],
    *,
    title: str,
    width: int = 720,
    height: int = 240,
) -> GroupedBarChart:
    """A bar per series side by side in each group (e.g. a segment's revenue three ways); values >= 0."""
    plot_w, plot_h = width - LEFT - RIGHT, height - TOP - BOTTOM
    top = nice_max(max((v for vs in series.values() for v in vs), default=0))
    slot = plot_w / max(len(groups), 1)
    bar = min(max(slot * 0.8 / max(len(series), 1), 1.0), MAX_BAR / 2)
    start = (slot - bar * len(series)) / 2
    bars = tuple(
        GroupBar(
            x=LEFT + i * slot + start + n * bar,
            y=TOP + plot_h - plot_h * v / top,
            width=bar,
            height=plot_h * v / top,
            colour=PALETTE[n % len(PALETTE)],
            text=f"{group} · {name}: {v:,.2f}",
        )
        for n, (name, vs) in enumerate(series.items())
        for i, (group, v) in enumerate(zip(groups, vs, strict=True))
    )
    every = max(1, math.ceil(len(groups) * 90 / plot_w))
    labels = tuple(
        XLabel(LEFT + i * slot + slot / 2, group, "middle")
        for i, group in enumerate(groups)
        if i % every == 0
    )
    keys = tuple(Key(name, PALETTE[n % len(PALETTE)]) for n, name in enumerate(series))
    return GroupedBarChart(width, height, bars, labels, _ticks(top, plot_h), TOP + plot_h, title, keys)
