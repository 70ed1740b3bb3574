"""The `predict check --plot` figure: predicted against actual holdout repeat purchases, two panels.

Left, the tracking plot: cumulative repeat purchases over the holdout weeks. Right, the conditional
expectations: mean holdout purchases per customer by calibration frequency class (FHL 2005 Figs. 3-4).
matplotlib is imported here, on use, with the file-only Agg backend: `segmail --help` and the service
never pay for it, and no display is needed.
"""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO, Literal

from segmail.segments.clv_check import CheckResult


def write_plot(result: CheckResult, path: Path | BinaryIO, *, fmt: Literal["png", "svg"] = "png") -> None:
    """Draw both panels to a file, or to a binary stream (the workspace serves it as PNG or SVG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.8), dpi=100)
    try:
        weeks = [0.0, *(result.cumulative_days / 7.0)]  # both curves start at 0 on the calibration end
        left.plot(weeks, [0, *result.cumulative_actual], color="black", label="actual")
        left.plot(
            weeks, [0.0, *result.cumulative_predicted], color="tab:blue", linestyle="--", label="BG/NBD"
        )
        left.set_xlabel(f"weeks after {result.calibration_end.isoformat()}")
        left.set_ylabel("cumulative repeat purchases")
        left.set_title(f"Holdout: {result.actual} actual, {result.predicted:.0f} predicted")
        left.set_xlim(0, weeks[-1])
        left.set_ylim(bottom=0)
        left.legend()
        left.grid(alpha=0.3)

        labels = [c.label for c in result.classes]
        positions = range(len(labels))
        right.plot(positions, [c.actual_mean for c in result.classes], "o-", color="black", label="actual")
        right.plot(
            positions,
            [c.predicted_mean for c in result.classes],
            "s--",
            color="tab:blue",
            label="BG/NBD",
        )
        right.set_xticks(list(positions), labels)
        right.set_xlabel("repeat purchases in calibration")
        right.set_ylabel(f"mean purchases in the {result.holdout_days} holdout days")
        right.set_title("Conditional expectations by frequency")
        right.set_ylim(bottom=0)
        right.legend()
        right.grid(alpha=0.3)
        fig.tight_layout()
        fig.savefig(path, format=fmt)
    finally:
        plt.close(fig)
