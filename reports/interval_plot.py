"""The `report campaigns --plot` figure of experiments: each holdout's lift and each A/B difference with its interval.

One horizontal bar per row, the point estimate marked, a line at 0: a bar that crosses it is "not
significant" (grey), one clear of it is (blue above 0, red below). Two panels, since lift is money per
recipient and A/B differences may be too but belong apart. matplotlib is imported on use with the
file-only Agg backend (as jobs/predict_plot.py), so nothing else pays for it; the format follows the
file's suffix (.png or .svg).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from segmail.reports.causal import AbRow, LiftRow


@dataclass(frozen=True, kw_only=True)
class Bar:
    label: str
    estimate: float
    low: float
    high: float


def lift_bars(rows: Sequence[LiftRow]) -> list[Bar]:
    return [
        Bar(label=_label(r.campaign, r.occurrence, r.ab_phase, r.variant), estimate=r.lift, low=r.lift_low,
            high=r.lift_high)
        for r in rows
        if r.lift is not None and r.lift_low is not None and r.lift_high is not None
    ]  # fmt: skip


def ab_bars(rows: Sequence[AbRow]) -> list[Bar]:
    return [
        Bar(label=f"{_label(r.campaign, r.occurrence, r.ab_phase, r.variant)} - {r.reference}",
            estimate=r.revenue_diff.estimate, low=r.revenue_diff.low, high=r.revenue_diff.high)
        for r in rows
        if r.revenue_diff is not None
    ]  # fmt: skip


def _label(campaign: str, occurrence: str, phase: str, variant: str) -> str:
    return " ".join(p for p in (campaign, occurrence, phase, variant) if p)


def write_interval_plot(
    lifts: Sequence[LiftRow], tests: Sequence[AbRow], path: Path, *, currency: str = ""
) -> None:
    """Both panels into `path`; a panel without rows says so instead of staying blank."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    unit = f" ({currency})" if currency else ""
    panels = [
        (lift_bars(lifts), f"Lift: revenue per recipient{unit}, mailed - held out"),
        (ab_bars(tests), f"A/B: revenue per recipient{unit}, variant - first variant"),
    ]
    height = max(3.0, 0.45 * sum(max(1, len(bars)) for bars, _ in panels) + 2.0)
    fig, axes = plt.subplots(2, 1, figsize=(10, height), dpi=100)
    try:
        for ax, (bars, title) in zip(axes, panels, strict=True):
            _panel(ax, bars, title)
        fig.tight_layout()
        fig.savefig(path, format=path.suffix.lstrip(".").lower() or "png")
    finally:
        plt.close(fig)


def _panel(ax: object, bars: Sequence[Bar], title: str) -> None:
    from matplotlib.axes import Axes

    assert isinstance(ax, Axes)
    ax.set_title(f"{title}, 95 % intervals")
    if not bars:
        ax.text(0.5, 0.5, "nothing to show", transform=ax.transAxes, ha="center", va="center", color="grey")
        ax.set_xticks([])
        ax.set_yticks([])
        return
    ax.set_xlabel(
        "blue: above 0, red: below 0 (significant); grey: contains 0 (not significant)", color="dimgrey"
    )
    ax.axvline(0, color="black", linewidth=1)
    ys = list(range(len(bars)))[::-1]
    for y, b in zip(ys, bars, strict=True):
        color = "tab:blue" if b.low > 0 else "tab:red" if b.high < 0 else "grey"
        ax.plot([b.low, b.high], [y, y], color=color, linewidth=3, solid_capstyle="butt")
        ax.plot([b.estimate], [y], "o", color="black")
    ax.set_yticks(ys, [b.label for b in bars])
    ax.set_ylim(-0.7, len(bars) - 0.3)
    ax.grid(axis="x", alpha=0.3)
