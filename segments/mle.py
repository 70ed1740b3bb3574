"""Maximum likelihood over positive parameters: bounded L-BFGS-B on their logarithms, from several starts.

Working on log-parameters keeps every trial point positive without clipping, and the bounds keep a flat
likelihood from walking a parameter to 0 or infinity (where gammaln overflows). The best of several starts
is kept because the BG/NBD likelihood has long flat ridges on which one start can stop early.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.optimize import minimize

FloatArray = npt.NDArray[np.float64]
LOG_BOUND = (-12.0, 12.0)  # parameters between 6e-6 and 1.6e5 (days or weeks, any currency unit)


class FitFailed(RuntimeError):
    """No start converged to a finite likelihood."""


@dataclass(frozen=True, kw_only=True)
class MleResult:
    params: tuple[float, ...]
    log_likelihood: float
    optima: tuple[tuple[float, ...], ...]  # the converged optimum of every start, for stability checks


def fit_positive(
    neg_log_likelihood: Callable[[FloatArray], tuple[float, FloatArray]],
    starts: Sequence[Sequence[float]],
) -> MleResult:
    """Minimise a negative log-likelihood of log-parameters (returning value and gradient) from each start."""
    best: tuple[float, FloatArray] | None = None
    optima: list[tuple[float, ...]] = []
    for start in starts:
        x0 = np.log(np.asarray(start, dtype=np.float64))
        result = minimize(
            neg_log_likelihood,
            x0,
            jac=True,
            method="L-BFGS-B",
            bounds=[LOG_BOUND] * len(x0),
            options={"maxiter": 500, "ftol": 1e-13, "gtol": 1e-8},
        )
        if not np.isfinite(result.fun):
            continue
        optima.append(tuple(float(v) for v in np.exp(result.x)))
        if best is None or result.fun < best[0]:
            best = (float(result.fun), np.asarray(result.x))
    if best is None:
        raise FitFailed("no start reached a finite likelihood")
    return MleResult(
        params=tuple(float(v) for v in np.exp(best[1])), log_likelihood=-best[0], optima=tuple(optima)
    )
