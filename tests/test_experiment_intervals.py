"""The interval arithmetic of reports/intervals.py against numbers worked by hand (and one published example).

Formulas (cited in reports/intervals.py):
- two-proportion interval, unpooled: https://vrcacademy.com/tutorials/confidence-interval-proportions
  (the z test it belongs to: NIST/SEMATECH e-Handbook 7.3.3, https://itl.nist.gov/div898/handbook/prc/section3/prc33.htm)
- Welch: NIST/SEMATECH e-Handbook 7.3.1, https://www.itl.nist.gov/div898/handbook/prc/section3/prc31.htm; the
  worked example is NAG's G07CAF/g07cac (https://support.nag.com/numeric/cl/nagdoc_cl26.2/examples/baseresults/g07cace.r.html)
- sample sizes: http://www.applied-science.com.ar/Eval_Impact/mde_en.html (proportions),
  https://www.itl.nist.gov/div898/handbook/prc/section2/prc222.htm (means)
z(0.975) = 1.959964, z(0.80) = 0.841621.
"""

from __future__ import annotations

import pytest

from segmail.reports.intervals import (
    PROPORTIONS,
    WELCH,
    Sample,
    mean_difference,
    proportion_difference,
    sample_size_means,
    sample_size_proportions,
)


def sample(n, mean, sd):
    """A group given by its summary: total = n·mean, total_sq = (n-1)·sd² + n·mean²."""
    return Sample(n=n, total=n * mean, total_sq=(n - 1) * sd * sd + n * mean * mean)


def test_two_proportion_interval_by_hand():
    # p1 = 60/500 = 0.12, p2 = 40/500 = 0.08, d = 0.04
    # SE = sqrt(0.12·0.88/500 + 0.08·0.92/500) = sqrt(0.0002112 + 0.0001472) = sqrt(0.0003584) = 0.0189315
    # half = 1.959964 · 0.0189315 = 0.0371050  →  (0.0028950, 0.0771050): clear of 0
    i = proportion_difference(60, 500, 40, 500)
    assert i is not None and i.method == PROPORTIONS
    assert i.estimate == pytest.approx(0.04)
    assert (i.low, i.high) == (pytest.approx(0.0028950, abs=1e-6), pytest.approx(0.0771050, abs=1e-6))
    assert i.significant and i.verdict == "significant"


def test_two_proportion_interval_containing_zero_is_not_significant():
    # p1 = 11/100 = 0.11, p2 = 9/100 = 0.09, d = 0.02
    # SE = sqrt(0.11·0.89/100 + 0.09·0.91/100) = sqrt(0.000979 + 0.000819) = sqrt(0.001798) = 0.0424028
    # half = 1.959964 · 0.0424028 = 0.0831080  →  (-0.0631080, 0.1031080)
    i = proportion_difference(11, 100, 9, 100)
    assert i is not None
    assert (i.low, i.high) == (pytest.approx(-0.0631080, abs=1e-6), pytest.approx(0.1031080, abs=1e-6))
    assert not i.significant and i.verdict == "not significant"
    assert proportion_difference(1, 10, 0, 0) is None  # an empty group has no rate


def test_welch_interval_matches_the_published_example():
    # NAG g07cac: x n=4 mean 25 sd 0.8185; y n=8 mean 21 sd 4.208 (sds as printed, 4 digits).
    # s1²/n1 = 0.669942/4 = 0.167486; s2²/n2 = 17.707264/8 = 2.213408; SE² = 2.380894, SE = 1.543015
    # df = 2.380894² / (0.167486²/3 + 2.213408²/7) = 5.668656 / (0.009351 + 0.699885) = 7.9927
    # t(0.975, 7.9927) = 2.30637; half = 2.30637 · 1.543015 = 3.55877 → (0.44123, 7.55877)
    # NAG prints df 7.9925 and (0.4410, 7.5590) from the unrounded sds.
    i = mean_difference(sample(4, 25.0, 0.8185), sample(8, 21.0, 4.208))
    assert i is not None and i.method == WELCH
    assert i.estimate == pytest.approx(4.0)
    assert i.df == pytest.approx(7.9925, abs=5e-3)
    assert (i.low, i.high) == (pytest.approx(0.4410, abs=5e-4), pytest.approx(7.5590, abs=5e-4))


def test_welch_interval_by_hand_from_sums():
    # a: revenues 0, 0, 10, 20 → n 4, sum 30, sum of squares 500; mean 7.5, s² = (500 - 900/4)/3 = 91.6667
    # b: revenues 0, 0, 0, 10  → n 4, sum 10, sum of squares 100; mean 2.5, s² = (100 - 100/4)/3 = 25
    # d = 5; s²/n: 22.9167 and 6.25; SE² = 29.1667, SE = 5.40062
    # df = 29.1667² / (22.9167²/3 + 6.25²/3) = 850.694 / (175.058 + 13.021) = 4.5231
    # t(0.975, 4.5231) = 2.65429 (between the table's 2.776 at 4 and 2.571 at 5 degrees of freedom)
    # half = 2.65429 · 5.40062 = 14.3348 → (-9.3348, 19.3348): contains 0
    i = mean_difference(Sample(n=4, total=30, total_sq=500), Sample(n=4, total=10, total_sq=100))
    assert i is not None
    assert i.df == pytest.approx(4.5231, abs=1e-4)
    assert (i.low, i.high) == (pytest.approx(-9.3348, abs=1e-3), pytest.approx(19.3348, abs=1e-3))
    assert not i.significant


def test_welch_edges():
    assert mean_difference(Sample(n=1, total=5, total_sq=25), Sample(n=9, total=0, total_sq=0)) is None
    # nobody bought on either side: no spread, the interval is the point 0, which contains 0
    i = mean_difference(Sample(n=50, total=0, total_sq=0), Sample(n=5, total=0, total_sq=0))
    assert i is not None and (i.estimate, i.low, i.high) == (0.0, 0.0, 0.0) and not i.significant


def test_sample_sizes_by_hand():
    # proportions 0.10 vs 0.12: p̄ = 0.11; sqrt(2·0.11·0.89) = sqrt(0.1958) = 0.442493;
    # sqrt(0.10·0.90 + 0.12·0.88) = sqrt(0.1956) = 0.442267;
    # (1.959964·0.442493 + 0.841621·0.442267)² / 0.02² = (0.867274 + 0.372221)² / 0.0004 = 1.536348 / 0.0004
    # = 3840.9 → 3841 per group
    assert sample_size_proportions(0.10, 0.12) == 3841
    # means, delta 1, both variances 4: (1.959964 + 0.841621)² · 8 / 1 = 7.848879 · 8 = 62.79 → 63 per group
    assert sample_size_means(1.0, 4.0, 4.0) == 63
    assert sample_size_means(0.0, 4.0, 4.0) is None and sample_size_proportions(0.1, 0.1) is None
