"""What prediction rules cost a service cycle (issue 13: the compute with predictive features in rules
<= 1.3x the compute without).

A day of 15-minute cycles, in one process as the service runs them: each cycle stores `--orders` new
paid orders of existing buyers placed since the last cycle, then computes at the cycle's time,
first with a config whose two extra segments read no prediction (`at_risk_plain`,
`high_potential_plain`: the same number of segments, similar rules), then with the built-in predictive
`at_risk` and `high_potential` enabled. Each config's first cycle is a full compute (the rules changed;
for the predictive one also the day's first scoring, which ranks everyone afresh,
segments/day_reference.py); the timed ones are incremental computes that rescore the new orders' buyers
only. Then `--full-rounds` full computes of each config, alternating, the same day (scores already
made): what the prediction rules cost when every contact is evaluated. A fit must be stored (`segmail predict fit`, as segments_bench --predictive does). Usage:

    python -m bench.segments_bench --contacts 1000000 --predictive --dir /tmp/b1m   # builds the store
    python -m bench.predict_cycle_bench --store-url sqlite:////tmp/b1m/bench.db [--orders 40] [--cycles 5] [--full-rounds 2]

The new orders are written under source "predict-cycle-bench" with ids unique to the run, so the store
can be benchmarked again; they are real orders as far as the store is concerned.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from sqlalchemy import func, select

from segmail.connector.records import Order
from segmail.jobs.compute import ComputeResult, compute
from segmail.jobs.config import AppConfig, parse_config
from segmail.store.codec import to_us
from segmail.store.db import Store, open_store
from segmail.store.schema import orders
from segmail.store.writer import write_records

PLAIN = {
    "at_risk_plain": {"rule": "orders_count >= 2 and days_since_last_order > 120 and total_spent >= 150"},
    "high_potential_plain": {
        "rule": "orders_count >= 1 and orders_count <= 2 and total_spent >= 120 and days_since_last_order < 60"
    },
}
PREDICTIVE = {"at_risk": {"enabled": True}, "high_potential": {"enabled": True}}


def _config(segments: Mapping[str, Mapping[str, object]], url: str) -> AppConfig:
    return parse_config(
        {"segments": segments}, origin="bench", base_dir=Path("."), env={"SEGMAIL_STORE_URL": url}
    )


class Day:
    """The cycles of one day after the latest stored order: a clock and the new orders of each cycle."""

    def __init__(self, store: Store, per_cycle: int, seed: int) -> None:
        self.store, self.per_cycle = store, per_cycle
        self.rng = random.Random(seed)
        self.run = f"{int(time.time())}-{seed}"
        self.n = 0
        with store.engine.connect() as conn:
            self.buyers = list(conn.execute(select(orders.c.email_key).distinct().limit(200_000)).scalars())
            latest = int(conn.execute(select(func.max(orders.c.created_at))).scalar_one())
        start = datetime.fromtimestamp(latest / 1e6, UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        self.clock = start + timedelta(days=1, minutes=5)

    def cycle(self, config: AppConfig, *, full: bool = False) -> tuple[float, ComputeResult]:
        self.clock += timedelta(minutes=15)
        new = []
        for _ in range(self.per_cycle):
            self.n += 1
            new.append(
                Order(
                    order_id=f"{self.run}-{self.n}",
                    email_key=self.rng.choice(self.buyers),
                    created_at=self.clock - timedelta(minutes=self.rng.randint(1, 14)),
                    total=Decimal("42.00"),
                    currency="EUR",
                    status="paid",
                )
            )
        with self.store.engine.begin() as conn:
            write_records(conn, new, source="predict-cycle-bench", now_us=to_us(self.clock))
        started = time.perf_counter()
        result = compute(self.store, config, as_of=self.clock, now=self.clock, full=full)
        return time.perf_counter() - started, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store-url", required=True, help="a segments_bench store with a stored fit")
    parser.add_argument("--orders", type=int, default=40, help="new paid orders per 15-minute cycle")
    parser.add_argument("--cycles", type=int, default=5, help="timed cycles of each kind")
    parser.add_argument("--full-rounds", type=int, default=2, help="full computes of each config after")
    parser.add_argument("--seed", type=int, default=5)
    args = parser.parse_args()
    import segmail.segments.predictive  # noqa: F401  (loaded in a running service: not a cycle's cost)

    store = open_store(args.store_url)
    plain, predictive = _config(PLAIN, args.store_url), _config(PREDICTIVE, args.store_url)
    day = Day(store, args.orders, args.seed)
    # each config in its own run of cycles: a change of rules makes the next compute a full one
    first: dict[str, float] = {}
    times: dict[str, list[float]] = {"plain": [], "predictive": []}
    results: dict[str, ComputeResult] = {}
    for name, config in (("plain", plain), ("predictive", predictive)):
        first[name] = day.cycle(config)[0]  # the rules changed (and a day's first scoring): in full
        for _ in range(args.cycles):
            took, results[name] = day.cycle(config)
            times[name].append(took)
    # full computes of the same day, the configs alternating (each switch of rules is a full compute):
    # what the prediction rules cost when every contact is evaluated, the scores already made for the day
    fulls: dict[str, list[float]] = {"plain": [], "predictive": []}
    for _ in range(args.full_rounds):
        for name, config in (("plain", plain), ("predictive", predictive)):
            fulls[name].append(day.cycle(config, full=True)[0])
    med = {k: statistics.median(v) for k, v in times.items()}
    scored = results["predictive"].predictions
    buyers, rescored = (scored.buyers, scored.rescored) if scored else (0, 0)
    print(
        f"store: {args.store_url.split('@')[-1]}; {len(day.buyers):,} buyers sampled; {args.orders} orders/cycle"
    )
    print(
        f"first cycle (full compute): plain {first['plain']:.2f} s, predictive (everyone scored) {first['predictive']:.2f} s"
    )
    print(f"median of {args.cycles} cycles: plain {med['plain']:.2f} s, predictive {med['predictive']:.2f} s")
    print(f"paths: plain {results['plain'].path}, predictive {results['predictive'].path}")
    if args.full_rounds:
        full = {k: statistics.median(v) for k, v in fulls.items()}
        print(
            f"full computes later that day (median of {args.full_rounds}, configs alternating): plain "
            f"{full['plain']:.2f} s, predictive {full['predictive']:.2f} s, ratio {full['predictive'] / full['plain']:.2f}x"
        )
    print(
        f"ratio {med['predictive'] / med['plain']:.2f}x; last cycle rescored {rescored:,} of {buyers:,} buyers"
    )
    store.dispose()


if __name__ == "__main__":
    main()
