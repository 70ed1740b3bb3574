"""`segmail demo`: the whole loop on embedded defaults — generated shop, SQLite, segments."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from rich.table import Table

from jobs.compute import compute
from jobs.config import load_config
from jobs.importer import import_csv
from sandbox.shopgen import generate_shop
from store.db import open_store


def run_demo(*, contacts: int, seed: int, workdir: Path, as_of: datetime, console: Console) -> int:
    workdir.mkdir(parents=True, exist_ok=True)
    db = workdir / "segmail-demo.db"
    for leftover in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")):
        leftover.unlink(missing_ok=True)  # the demo always starts from a fresh store
    console.print(f"[bold]1. generating a sample shop[/] ({contacts} contacts, seed {seed}) in {workdir}/")
    files = generate_shop(workdir, contacts=contacts, seed=seed, as_of=as_of, messy_rows=True)
    config = load_config(None, env={"SEGMAIL_STORE_URL": f"sqlite:///{db}"})
    store = open_store(config.store_url(), cache_mib=config.store.cache_mib)
    console.print(f"[bold]2. importing[/] into {db}")
    table = Table()
    for col in ("file", "rows", "written", "skipped", "warnings"):
        table.add_column(col)
    problems = []
    assert files.contacts is not None
    for kind, path in (("contacts", files.contacts), ("orders", files.orders), ("events", files.events)):
        s = import_csv(store, path, kind, now=datetime.now(UTC))
        problems += s.problems
        table.add_row(path.name, str(s.rows_read), str(s.written), str(s.skipped), str(s.warnings))
    console.print(table)
    for problem in problems[:8]:
        console.print(f"  {problem}", markup=False, highlight=False, soft_wrap=True)
    if len(problems) > 8:
        console.print(
            f"  ... and {len(problems) - 8} more (bad rows are skipped and counted; good rows are kept)"
        )
    console.print(f"[bold]3. computing segments[/] as of {as_of.isoformat()}")
    result = compute(store, config, as_of=as_of, now=datetime.now(UTC))
    seg_table = Table(title="segments (members are tagged in Mailchimp by `segmail sync`, coming next)")
    for col in ("segment", "tag", "members", "entered", "left", "meaning"):
        seg_table.add_column(col)
    for name, change in result.changes.items():
        defn = config.segment_defs[name]
        seg_table.add_row(
            name, defn.tag, str(change.size), f"+{change.entered}", f"-{change.left}", defn.description
        )
    console.print(seg_table)
    console.print(
        f"next: export SEGMAIL_STORE_URL=sqlite:///{db} and try `segmail segments explain EMAIL`, "
        "`segmail segments preview --as-of ...` or `segmail rules check`",
        markup=False,
        highlight=False,
    )
    store.dispose()
    return 0
