"""Confidence intervals for the difference between two groups, and the sample size that would detect it.

Pure arithmetic on counts and sums (what store/experiment_outcomes.py returns), two-sided, 95 % unless
told otherwise:

- a difference of proportions (conversion rate, click rate): the normal-approximation interval with the
  unpooled standard error, p1 - p2 ± z(1-alpha/2) · sqrt(p1(1-p1)/n1 + p2(1-p2)/n2)
  (https://vrcacademy.com/tutorials/confidence-interval-proportions, http://davidmlane.com/hyperstat/B32912.html;
  the matching z test: NIST/SEMATECH e-Handbook 7.3.3, https://itl.nist.gov/div898/handbook/prc/section3/prc33.htm);
- a difference of means (revenue per recipient): Welch's t interval, m1 - m2 ± t(1-alpha/2, df) · sqrt(s1²/n1 + s2²/n2)
  with the Welch-Satterthwaite df = (s1²/n1 + s2²/n2)² / ((s1²/n1)²/(n1-1) + (s2²/n2)²/(n2-1))
  (NIST/SEMATECH e-Handbook 7.3.1, https://www.itl.nist.gov/div898/handbook/prc/section3/prc31.htm); t quantiles
  from scipy.special (stdtrit, the function scipy.stats.t.ppf calls);
- the recipients per group a two-sided test at level alpha needs to detect a difference with the given power:
  proportions n = [z(1-alpha/2)·sqrt(2·p̄(1-p̄)) + z(1-beta)·sqrt(p1(1-p1) + p2(1-p2))]² / (p1-p2)², p̄ = (p1+p2)/2
  (http://www.applied-science.com.ar/Eval_Impact/mde_en.html, without continuity correction); means
  n = (z(1-alpha/2) + z(1-beta))² · (s1² + s2²) / δ² (the two-sample form of NIST 7.2.2.2,
  https://www.itl.nist.gov/div898/handbook/prc/section2/prc222.htm), rounded up.

An interval that contains 0 is "not significant" at its level, and is said so plainly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

LEVEL = 0.95
POWER = 0.80
PROPORTIONS = "two-proportion z-interval"
WELCH = "Welch t-interval"


@dataclass(frozen=True, kw_only=True)
class Interval:
    """`estimate` = group 1 minus group 2, with its two-sided interval at `level`."""

    estimate: float
    low: float
    high: float
    level: float
    method: str
    df: float | None = None  # Welch's degrees of freedom

    @property
    def significant(self) -> bool:
        return self.low > 0 or self.high < 0

    @property
    def verdict(self) -> str:
        return "significant" if self.significant else "not significant"


@dataclass(frozen=True, kw_only=True)
class Sample:
    """A group's size and the sum and sum of squares of its per-recipient values (a 0/1 outcome or money)."""

    n: int
    total: float
    total_sq: float

    @property
    def mean(self) -> float | None:
        return self.total / self.n if self.n else None

    @property
    def variance(self) -> float | None:
        """The sample variance (n - 1 in the denominator); None below two values."""
        if self.n < 2:
            return None
        # sums of squares can come out a hair below total²/n in floating point: never below 0
        return max(0.0, (self.total_sq - self.total * self.total / self.n) / (self.n - 1))


def z_quantile(p: float) -> float:
    from scipy import special  # here, not at import: SciPy costs every command ~0.5 s of start-up

    return float(special.ndtri(p))  # scipy.stats.norm.ppf's own function


def proportion_difference(x1: int, n1: int, x2: int, n2: int, *, level: float = LEVEL) -> Interval | None:
    """p1 - p2 (successes x over n) with the unpooled normal-approximation interval; None if a group is empty."""
    if n1 <= 0 or n2 <= 0:
        return None
    p1, p2 = x1 / n1, x2 / n2
    se = math.sqrt(p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2)
    half = z_quantile(1 - (1 - level) / 2) * se
    d = p1 - p2
    return Interval(estimate=d, low=d - half, high=d + half, level=level, method=PROPORTIONS)


def mean_difference(a: Sample, b: Sample, *, level: float = LEVEL) -> Interval | None:
    """mean(a) - mean(b) with Welch's interval; None when a group has fewer than two values.

    When both groups have no spread at all (e.g. nobody bought on either side) the interval is the
    point itself: there is nothing to be uncertain about in the data, and 0 ± 0 contains 0."""
    va, vb = a.variance, b.variance
    if va is None or vb is None:
        return None
    ma, mb = a.total / a.n, b.total / b.n
    d = ma - mb
    ua, ub = va / a.n, vb / b.n
    se2 = ua + ub
    if se2 == 0:
        return Interval(estimate=d, low=d, high=d, level=level, method=WELCH)
    df = se2 * se2 / (ua * ua / (a.n - 1) + ub * ub / (b.n - 1))
    from scipy import special

    half = float(special.stdtrit(df, 1 - (1 - level) / 2)) * math.sqrt(se2)  # = scipy.stats.t.ppf
    return Interval(estimate=d, low=d - half, high=d + half, level=level, method=WELCH, df=df)


def sample_size_proportions(
    p1: float, p2: float, *, level: float = LEVEL, power: float = POWER
) -> int | None:
    """Recipients per group to detect p1 vs p2; None when they are equal (no size detects no difference)."""
    if p1 == p2:
        return None
    za, zb = z_quantile(1 - (1 - level) / 2), z_quantile(power)
    mid = (p1 + p2) / 2
    root = za * math.sqrt(2 * mid * (1 - mid)) + zb * math.sqrt(p1 * (1 - p1) + p2 * (1 - p2))
    return math.ceil(root * root / ((p1 - p2) ** 2))


def sample_size_means(
    delta: float, var1: float, var2: float, *, level: float = LEVEL, power: float = POWER
) -> int | None:
    """Recipients per group to detect a difference `delta` in means; None when delta is 0."""
    if delta == 0:
        return None
    z = z_quantile(1 - (1 - level) / 2) + z_quantile(power)
    return max(2, math.ceil(z * z * (var1 + var2) / (delta * delta)))
