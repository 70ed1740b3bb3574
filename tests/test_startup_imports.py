"""Every `segmail` command starts without loading the scientific stack, nor the service.

NumPy and SciPy (with matplotlib) cost about a second of start-up on a small machine; only the
commands that fit, score or plot need them (predict, a compute whose rules read prediction features,
report intervals, plots), and those import them where they use them. The service with its sender and
scheduler (jobs/start.py) cost another 0.3 s; only `run`, `demo` and the sending commands load them.
"""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("numpy", "scipy", "matplotlib", "segmail.jobs.start", "segmail.jobs.service", "apscheduler")


def _loaded_after(statement: str) -> list[str]:
    code = f"import sys\n{statement}\nprint(' '.join(m for m in {HEAVY!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return out.stdout.split()


def test_the_command_line_loads_no_scientific_stack():
    assert _loaded_after("import segmail.jobs.cli; segmail.jobs.cli.app.build_parser()") == []


def test_a_compute_without_prediction_rules_loads_no_scientific_stack(tmp_path):
    statement = f"""
from datetime import UTC, datetime
from pathlib import Path
from segmail.jobs.compute import compute
from segmail.jobs.config import parse_config
from segmail.store.db import open_store
store = open_store("sqlite:///{tmp_path / "s.db"}")
config = parse_config({{}}, origin="test", base_dir=Path("."), env={{}})
at = datetime(2026, 6, 1, tzinfo=UTC)
compute(store, config, as_of=at, now=at)
"""
    assert _loaded_after(statement) == []
