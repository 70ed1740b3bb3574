"""Gamma-Gamma: what a customer's orders will be worth on average, from the mean of their repeat orders.

Fader, Hardie & Lee (2005), "RFM and CLV: Using Iso-Value Curves for Customer Base Analysis", Journal of
Marketing Research 42(4):415-430; formulas as in Hardie's note "The Gamma-Gamma Model of Monetary Value"
(http://brucehardie.com/notes/025/). Each transaction value is Gamma(p, nu), each customer's nu is
Gamma(q, gamma) (gamma is called v here, as in lifetimes). Fitted to customers with at least one repeat purchase
and a positive mean: the density has no mass at 0, so a customer whose repeat orders average 0.00 (or
less, after refunds) is left out of the fit but still gets the conditional expectation below.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.special import digamma, gammaln

from segmail.segments.mle import FitFailed, fit_positive

FloatArray = npt.NDArray[np.float64]
STARTS = ((1.0, 1.0, 1.0), (5.0, 3.0, 1.0), (0.5, 5.0, 10.0))  # (p, q, v); v scaled by the mean value


@dataclass(frozen=True, kw_only=True)
class GammaGammaParams:
    p: float
    q: float
    v: float


@dataclass(frozen=True, kw_only=True)
class GammaGammaFit:
    params: GammaGammaParams
    log_likelihood: float
    customers: int  # the customers the fit used (repeat customers with a positive mean)


def usable(x: FloatArray, mean_value: FloatArray) -> npt.NDArray[np.bool_]:
    """The customers the Gamma-Gamma likelihood is defined for."""
    with np.errstate(invalid="ignore"):
        return (x > 0) & (mean_value > 0)


def _neg_ll_and_grad(log_params: FloatArray, x: FloatArray, z: FloatArray) -> tuple[float, FloatArray]:
    """-LL (note 025, eq. 3) and its gradient in log-parameters.

    ln f(z̄ | x) = lnΓ(px+q) - lnΓ(px) - lnΓ(q) + q ln v + (px-1) ln z̄ + px ln x - (px+q) ln(v + x z̄)."""
    p, q, v = np.exp(log_params)
    px = p * x
    log_vxz = np.log(v + x * z)
    ll = (
        gammaln(px + q) - gammaln(px) - gammaln(q) + q * np.log(v)
        + (px - 1) * np.log(z) + px * np.log(x) - (px + q) * log_vxz
    )  # fmt: skip
    common = digamma(px + q)
    d_p = x * (common - digamma(px) + np.log(z) + np.log(x) - log_vxz)
    d_q = common - digamma(q) + np.log(v) - log_vxz
    d_v = q / v - (px + q) / (v + x * z)
    grad = np.array([d_p.sum(), d_q.sum(), d_v.sum()]) * np.array([p, q, v])
    return -float(ll.sum()), -grad


def fit(x: FloatArray, mean_value: FloatArray) -> GammaGammaFit:
    """Maximum-likelihood (p, q, v) over the usable customers, the best of several starts."""
    keep = usable(x, mean_value)
    xs, zs = x[keep], mean_value[keep]
    if len(xs) == 0:
        raise FitFailed("no customer with a repeat purchase of positive value to fit spend to")
    scale = float(zs.mean()) if len(zs) else 1.0
    starts = [(p, q, v * scale) for p, q, v in STARTS]
    result = fit_positive(lambda lp: _neg_ll_and_grad(lp, xs, zs), starts)
    p, q, v = result.params
    return GammaGammaFit(
        params=GammaGammaParams(p=p, q=q, v=v), log_likelihood=result.log_likelihood, customers=len(xs)
    )


def expected_average_value(params: GammaGammaParams, x: FloatArray, mean_value: FloatArray) -> FloatArray:
    """E[M | p, q, v, x, z̄] = p (v + x z̄) / (p x + q - 1) (note 025, eq. 5).

    A weighted mean of the population mean p v/(q-1) and the customer's own mean z̄, the weight on z̄
    growing with x; a customer without a repeat purchase (x = 0) gets the population mean. Defined for
    q > 1 (the population mean is finite)."""
    p, q, v = params.p, params.q, params.v
    z = np.where(x > 0, np.nan_to_num(mean_value), 0.0)
    return p * (v + x * z) / (p * x + q - 1.0)
