"""Predictions benchmark: summarise, fit (BG/NBD + Gamma-Gamma) and score a million synthetic customers.

The customers are drawn from the models themselves with a fixed seed, so the fit should also recover
the parameters it was drawn with (printed next to the estimates): BG/NBD at the CDNOW estimates in days
(r 0.243, alpha 30.9, a 0.793, b 2.426), Gamma-Gamma at p 6.25, q 3.74, v 15.44. First purchases fall
uniformly over the last --history-days days (140 gives ~1.4 orders a customer). Issue 13's targets on the
2-core machine: fit <= 15 s, scoring every customer <= 5 s, peak RSS <= 1 GB. Usage:

    python -m bench.predict_bench --customers 1000000
"""

from __future__ import annotations

import argparse
import resource
import time
from datetime import date

import numpy as np
import numpy.typing as npt

from segmail.segments import clv
from segmail.segments.clv_data import summarise_days

AS_OF = date(2026, 11, 1)
R, ALPHA, A, B = 0.243, 30.9, 0.793, 2.426
P, Q, V = 6.25, 3.74, 15.44


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def simulate(
    customers: int, history_days: int, seed: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """Orders (customer index, UTC day ordinal, amount) of a BG/NBD purchase process, Gamma-Gamma spend.

    Alive at the first purchase; Poisson(lambda) purchases after it; after each repeat purchase the
    customer drops out with probability p (FHL 2005, assumptions i-v). Vectorised by rounds: each round
    draws every still-active customer's next gap."""
    rng = np.random.default_rng(seed)
    lam = rng.gamma(R, 1 / ALPHA, customers)
    drop = rng.beta(A, B, customers)
    nu = rng.gamma(Q, 1 / V, customers)
    first = AS_OF.toordinal() - rng.integers(0, history_days + 1, customers)
    T = (AS_OF.toordinal() - first).astype(np.float64)
    codes, days = [np.arange(customers)], [first]
    active = np.arange(customers)
    clock = np.zeros(customers)
    while len(active):
        clock[active] += rng.exponential(1 / lam[active])
        active = active[clock[active] <= T[active]]
        codes.append(active)
        days.append(first[active] + np.floor(clock[active]).astype(np.int64))
        active = active[rng.random(len(active)) >= drop[active]]
    all_codes = np.concatenate(codes)
    amounts = np.round(rng.gamma(P, 1 / nu[all_codes]), 2)
    return all_codes, np.concatenate(days), amounts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--history-days", type=int, default=140)
    parser.add_argument("--seed", type=int, default=13)
    args = parser.parse_args()

    start = time.perf_counter()
    codes, days, amounts = simulate(args.customers, args.history_days, args.seed)
    names = tuple(f"c{i:07d}" for i in range(args.customers))
    print(
        f"data: {args.customers:,} customers, {len(codes):,} orders, {args.history_days} days of history"
        f" (generated in {time.perf_counter() - start:.1f} s, peak RSS {peak_rss_mib():.0f} MiB)"
    )

    start = time.perf_counter()
    summary = summarise_days(names, codes, days, amounts, AS_OF)
    summarise_s = time.perf_counter() - start
    del codes, days, amounts
    print(f"summarise: {summarise_s:.2f} s ({summary.repeat_customers:,} repeat customers)")

    start = time.perf_counter()
    models = clv.fit_models(summary)
    fit_s = time.perf_counter() - start
    bg, gg = models.bg_nbd.params, models.gamma_gamma.params
    print(
        f"fit: {fit_s:.2f} s  BG/NBD r {bg.r:.4f} ({R}), alpha {bg.alpha:.3f} ({ALPHA}), a {bg.a:.4f} ({A}),"
        f" b {bg.b:.4f} ({B}); Gamma-Gamma p {gg.p:.3f} ({P}), q {gg.q:.3f} ({Q}), v {gg.v:.3f} ({V})"
    )

    start = time.perf_counter()
    predictions = clv.predict(models, summary)
    score_s = time.perf_counter() - start
    print(
        f"score: {score_s:.2f} s for {len(predictions.customers):,} customers (p_alive, 90-day orders,"
        f" 365-day CLV, next order, RFM); mean CLV {float(np.mean(predictions.predicted_clv_365d)):.2f}"
    )
    print(f"peak RSS: {peak_rss_mib():.0f} MiB")


if __name__ == "__main__":
    main()
