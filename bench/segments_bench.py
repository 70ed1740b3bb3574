"""Segment engine benchmark: import, full compute + export, and the 1 % cycle, with peak RSS.

Each phase runs in its own child process (the real `segmail` CLI entry point), so its wall time
and peak RSS are its own. Usage:

    python -m bench.segments_bench --contacts 1000000                 # SQLite in a temp folder
    python -m bench.segments_bench --contacts 1000000 --store-url postgresql://postgres@127.0.0.1/bench
    python -m bench.segments_bench --contacts 1000000 --predictive   # + the predictive segments

The last phase exports at the last compute's own T (issue 16): nothing changed since, so the stored
memberships are served instead of evaluating again.

--predictive (issue 13) adds, after the full compute: `predict fit`, a recompute of the five
lifecycle segments, and the same recompute with the two predictive segments (at_risk,
high_potential) enabled, both on the warm feature cache, so their difference is what scoring every
buyer with the stored fit costs; the compute after the increment then runs with them enabled too.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from segmail.sandbox.shopgen import generate_increment, generate_shop

AS_OF = datetime(2026, 11, 1, tzinfo=UTC)


def run_phase(label: str, argv_list: list[list[str]], env: dict[str, str]) -> tuple[float, float]:
    """Run CLI invocations one after another in child processes; wall seconds and max peak RSS (MiB)."""
    start = time.perf_counter()
    peak = 0.0
    for argv in argv_list:
        proc = subprocess.Popen(
            [sys.executable, "-m", "segmail.jobs.cli", *argv],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        assert proc.stderr is not None
        stderr = proc.stderr.read()
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            raise SystemExit(
                f"{label}: {' '.join(argv)} failed ({proc.returncode}):\n{stderr.decode()[-2000:]}"
            )
        peak = max(peak, usage.ru_maxrss / 1024)  # Linux reports KiB
    return time.perf_counter() - start, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--store-url", help="default: a fresh SQLite file in the work folder")
    parser.add_argument("--dir", type=Path, help="work folder (default: a temporary one)")
    parser.add_argument("--predictive", action="store_true", help="also time the predictive segments")
    parser.add_argument(
        "--full",
        action="store_true",
        help="compute after the increment with `--full` (every contact evaluated: the cost before issue 16)",
    )
    args = parser.parse_args()
    workdir = args.dir or Path(tempfile.mkdtemp(prefix="segmail-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    url = args.store_url or f"sqlite:///{workdir / 'bench.db'}"
    if url.startswith("sqlite:///"):
        db = Path(url.removeprefix("sqlite:///"))
        for leftover in (db, Path(f"{db}-wal"), Path(f"{db}-shm")):
            leftover.unlink(missing_ok=True)
    env = {**os.environ, "SEGMAIL_STORE_URL": url}
    env.pop("SEGMAIL_CONFIG", None)
    predictive = workdir / "predictive.toml"
    predictive.write_text("[segments.at_risk]\nenabled = true\n[segments.high_potential]\nenabled = true\n")
    with_predictions = ["--config", str(predictive)]

    t0 = time.perf_counter()
    shop = generate_shop(workdir / "shop", contacts=args.contacts, seed=args.seed, as_of=AS_OF)
    inc_as_of = AS_OF + timedelta(days=1)
    inc = generate_increment(workdir / "inc", contacts=args.contacts, seed=args.seed, as_of=inc_as_of)
    generated = time.perf_counter() - t0
    assert shop.contacts is not None
    iso = AS_OF.isoformat().replace("+00:00", "Z")
    inc_iso = inc_as_of.isoformat().replace("+00:00", "Z")
    export = str(workdir / "export.csv")
    phases = [
        (
            "import (contacts + orders + events)",
            [
                ["import", "contacts", str(shop.contacts)],
                ["import", "orders", str(shop.orders)],
                ["import", "events", str(shop.events)],
            ],
        ),
        (
            "full compute + export",
            [["segments", "compute", "--as-of", iso], ["segments", "export", "--out", export]],
        ),
    ]
    if args.predictive:
        phases += [
            ("predict fit", [["predict", "fit", "--as-of", iso]]),
            ("recompute, 5 lifecycle segments", [["segments", "compute", "--as-of", iso]]),
            (
                "recompute, + 2 predictive segments",
                [[*with_predictions, "segments", "compute", "--as-of", iso]],
            ),
            (
                "again, scores kept (no order changed)",
                [[*with_predictions, "segments", "compute", "--as-of", iso]],
            ),
        ]
    phases += [
        (
            "import 1 % new orders + events",
            [["import", "orders", str(inc.orders)], ["import", "events", str(inc.events)]],
        ),
        (
            "compute after the 1 % increment"
            + (" (+ predictive)" if args.predictive else "")
            + (" --full" if args.full else ""),
            [
                [
                    *(with_predictions if args.predictive else []),
                    *["segments", "compute", "--as-of", inc_iso],
                    *(["--full"] if args.full else []),
                ]
            ],
        ),
        (
            "export --as-of the computed T (stored rows)",
            [
                [
                    *(with_predictions if args.predictive else []),
                    "segments",
                    "export",
                    "--as-of",
                    inc_iso,
                    "--out",
                    export,
                ]
            ],
        ),
    ]
    c = shop.counts
    print(f"store: {url.split('@')[-1]}")
    print(
        f"data: {c['contacts']:,} contacts, {c['orders']:,} orders, {c['events']:,} events "
        f"(+{inc.counts['orders']:,} orders, +{inc.counts['events']:,} events); generated in {generated:.1f} s"
    )
    print(f"{'phase':<48} {'wall s':>8} {'peak RSS MiB':>13}")
    for label, argv_list in phases:
        wall, peak = run_phase(label, argv_list, env)
        print(f"{label:<48} {wall:>8.2f} {peak:>13.0f}", flush=True)
    with open(export) as f:
        rows = sum(1 for _ in f) - 1
    print(f"exported membership rows: {rows:,}")


if __name__ == "__main__":
    main()
