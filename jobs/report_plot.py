"""The `report --plot` figures: what a person would rather look at than the table.

- campaigns: attributed revenue per campaign, and its open and click rates, in send order;
- segments: segment sizes over the period, revenue per segment (the three ways), and the movement flow;
- movements: the movement flow alone (left: the segments contacts left, right: those they joined).

matplotlib is imported here, on use, with the file-only Agg backend (as jobs/predict_plot.py): the
format follows the file's suffix, .png or .svg.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from segmail.jobs.report import CampaignReport, MovementReport, SegmentReport, SizeSeries
from segmail.reports.segments import NONE
from segmail.reports.targets import OTHER

FORMATS = (".png", ".svg")


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _colors(names: Sequence[str]) -> dict[str, Any]:
    plt = _pyplot()
    palette = plt.get_cmap("tab10").colors
    ordered = sorted(n for n in set(names) if n not in (NONE, OTHER))
    out: dict[str, Any] = {n: palette[i % len(palette)] for i, n in enumerate(ordered)}
    out[NONE] = out[OTHER] = (0.65, 0.65, 0.65)  # no segment
    return out


def _save(fig: Any, path: Path) -> None:
    plt = _pyplot()
    try:
        fig.tight_layout()
        fig.savefig(path, format=path.suffix.lstrip(".").lower(), dpi=100)
    finally:
        plt.close(fig)


def _period(report: CampaignReport | SegmentReport | MovementReport) -> str:
    p = report.period
    return f"{p.since:%Y-%m-%d} to {p.until:%Y-%m-%d} (exclusive)"


def write_campaigns(report: CampaignReport, path: Path) -> None:
    plt = _pyplot()
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(12, 7.5), sharex=True)
    rows = report.rows
    x = list(range(len(rows)))
    colors = _colors([r.segment for r in rows])
    top.bar(x, [float(r.attributed_revenue) for r in rows], color=[colors[r.segment] for r in rows])
    top.set_ylabel(f"attributed revenue ({report.currency or 'no currency'})")
    top.set_title(f"Campaigns sent {_period(report)}: attributed revenue, coloured by segment")
    from matplotlib.patches import Patch

    if rows:
        handles = [Patch(color=colors[name], label=name) for name in sorted({r.segment for r in rows})]
        top.legend(handles=handles, fontsize="small", ncols=2)
    rate = [(100.0 * r.opens / r.recipients if r.recipients else 0.0) for r in rows]
    clicks = [(100.0 * r.clicks / r.recipients if r.recipients else 0.0) for r in rows]
    bottom.plot(x, rate, "o-", color="tab:blue", label="opened (machine opens apart)")
    bottom.plot(x, clicks, "s-", color="tab:orange", label="clicked")
    bottom.set_ylabel("% of recipients")
    bottom.set_ylim(bottom=0)
    bottom.set_xticks(x, [f"{r.sent_at:%m-%d} {r.campaign_id[:18]}" for r in rows], rotation=60, ha="right",
                      fontsize="x-small")  # fmt: skip
    bottom.legend(fontsize="small")
    for ax in (top, bottom):
        ax.grid(alpha=0.3, axis="y")
    _save(fig, path)


def _sizes(ax: Any, series: SizeSeries, colors: dict[str, Any]) -> None:
    for name, sizes in sorted(series.sizes.items()):
        ax.plot(series.days, sizes, color=colors.get(name), label=name)
    ax.set_title("Segment sizes (after the last compute of each day)")
    ax.set_ylabel("members")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    if series.sizes:
        ax.legend(fontsize="small")
    for label in ax.get_xticklabels():
        label.set_rotation(30)


def _revenue(ax: Any, report: SegmentReport, colors: dict[str, Any]) -> None:
    rows = report.rows
    x = list(range(len(rows)))
    width = 0.27
    ways = (("revenue", "by members at the end", 1.0), ("revenue_while_member", "while a member", 0.6),
            ("attributed_revenue", "attributed to its campaigns", 0.3))  # fmt: skip
    from matplotlib.patches import Patch

    for i, (key, _, alpha) in enumerate(ways):
        ax.bar([v + (i - 1) * width for v in x], [float(getattr(r, key)) for r in rows], width,
               color=[colors.get(r.segment) for r in rows], alpha=alpha, edgecolor="black", linewidth=0.4)  # fmt: skip
    ax.set_xticks(x, [r.segment for r in rows], rotation=20)
    ax.set_ylabel(f"revenue ({report.currency or 'no currency'})")
    ax.set_title("Revenue per segment, three ways")
    handles = [Patch(facecolor="dimgray", alpha=alpha, edgecolor="black", linewidth=0.4, label=label)
               for _, label, alpha in ways]  # fmt: skip
    ax.legend(handles=handles, fontsize="small")
    ax.grid(alpha=0.3, axis="y")


def _flow(ax: Any, moves: dict[tuple[str, str], int], colors: dict[str, Any]) -> None:
    """Left: segments left; right: segments joined; each band as wide as the contacts who moved so."""
    from matplotlib.patches import PathPatch, Rectangle
    from matplotlib.path import Path as MplPath

    ax.set_title("Movements: segments left (left) to segments joined (right)")
    ax.axis("off")
    total = sum(moves.values())
    if not total:
        ax.text(0.5, 0.5, "no movements in this period", ha="center", va="center")
        return
    gap = 0.03 * total

    def slots(side: int) -> dict[str, list[float]]:
        totals: dict[str, int] = {}
        for pair, n in moves.items():
            totals[pair[side]] = totals.get(pair[side], 0) + n
        y, out = 0.0, {}
        for name, n in sorted(totals.items(), key=lambda kv: (kv[0] == NONE, -kv[1], kv[0])):
            out[name] = [y, y + n, y]  # top, bottom, next free
            y += n + gap
        return out

    left, right = slots(0), slots(1)
    for (a, b), n in sorted(moves.items(), key=lambda kv: (kv[0][0] == NONE, kv[0])):
        y0, y1 = left[a][2], right[b][2]
        left[a][2] += n
        right[b][2] += n
        verts = [(0.06, y0), (0.5, y0), (0.5, y1), (0.94, y1), (0.94, y1 + n), (0.5, y1 + n), (0.5, y0 + n),
                 (0.06, y0 + n), (0.06, y0)]  # fmt: skip
        codes = [
            MplPath.MOVETO,
            *[MplPath.CURVE4] * 3,
            MplPath.LINETO,
            *[MplPath.CURVE4] * 3,
            MplPath.CLOSEPOLY,
        ]
        ax.add_patch(PathPatch(MplPath(verts, codes), facecolor=colors.get(a), alpha=0.45, edgecolor="none"))
    for slots_, x, align in ((left, 0.0, "right"), (right, 0.94, "left")):
        for name, (top, bottom, _) in slots_.items():
            ax.add_patch(Rectangle((x, top), 0.06, bottom - top, color=colors.get(name)))
            tx = x - 0.01 if align == "right" else x + 0.07
            ax.text(tx, (top + bottom) / 2, f"{name} ({int(bottom - top):,})", ha=align, va="center",
                    fontsize="small")  # fmt: skip
    height = max(max(s[1] for s in left.values()), max(s[1] for s in right.values()))
    ax.set_xlim(-0.45, 1.45)
    ax.set_ylim(height, 0)


def write_segments(report: SegmentReport, series: SizeSeries, path: Path) -> None:
    if report.movements is None:
        raise ValueError("the segment plot draws the movements: make the report with movements=True")
    plt = _pyplot()
    names = [r.segment for r in report.rows] + [n for pair in report.movements for n in pair]
    colors = _colors(names + list(series.sizes))
    fig = plt.figure(figsize=(13, 10))
    grid = fig.add_gridspec(2, 2)
    _sizes(fig.add_subplot(grid[0, :]), series, colors)
    _revenue(fig.add_subplot(grid[1, 0]), report, colors)
    _flow(fig.add_subplot(grid[1, 1]), report.movements, colors)
    fig.suptitle(f"Segments {_period(report)}")
    _save(fig, path)


def write_movements(report: MovementReport, path: Path) -> None:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(9, 6))
    _flow(ax, report.movements, _colors([n for pair in report.movements for n in pair]))
    ax.set_title(
        f"Movements between segments, {_period(report)}\nleft: segments left; right: segments joined"
    )
    _save(fig, path)
