"""Workspace benchmark: how long each page takes to answer on a generated shop, first and again.

Builds the store with the real CLI (import, compute, predict fit and check, as the service's daily refit
leaves them) in child processes, writes a config
with the demo's campaigns, then serves the workspace in this process (uvicorn in a thread, the clock
pinned at the data's as-of) and asks each page over HTTP: once cold, then `--repeat` times (the median
is shown; pages that scan whole tables keep their figures a while, see ui/workspace.py `memo`).

    python -m bench.ui_bench --contacts 1000000 --dir /tmp/ui-bench          # --reuse to skip the build
"""

from __future__ import annotations

import argparse
import http.client
import json
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
from datetime import UTC, datetime
from pathlib import Path

from segmail.jobs.config import load_config
from segmail.jobs.demo import demo_campaigns
from segmail.sandbox.shopgen import generate_shop
from segmail.store.contacts import example_member
from segmail.store.db import open_store
from segmail.ui.server import Options, prepare

AS_OF = datetime(2026, 11, 1, tzinfo=UTC)


def write_config(workdir: Path, db: Path) -> Path:
    send = {
        "shop_name": "Bench Shop",
        "shop_address": "1 Example Street, 10115 Berlin, Germany",
        "shop_url": "https://shop.example",
        "default_timezone": "Europe/Berlin",
    }
    lines = [f'[store]\npath = "{db}"\n', "[send]"] + [f"{k} = {json.dumps(v)}" for k, v in send.items()]
    for name, table in demo_campaigns(AS_OF.date()).items():
        lines += ["", f"[campaigns.{name}]"] + [f"{k} = {json.dumps(v)}" for k, v in table.items()]
    path = workdir / "bench.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def build(workdir: Path, contacts: int, seed: int, config: Path) -> str:
    shop = generate_shop(workdir / "shop", contacts=contacts, seed=seed, as_of=AS_OF)
    iso = AS_OF.isoformat().replace("+00:00", "Z")
    for argv in (
        ["import", "contacts", str(shop.contacts)],
        ["import", "orders", str(shop.orders)],
        ["import", "events", str(shop.events)],
        ["segments", "compute", "--as-of", iso],
        ["predict", "fit", "--as-of", iso],
        ["predict", "check", "--as-of", iso],  # the service's daily refit fits, then keeps the day's check
    ):
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "segmail.jobs.cli", "--config", str(config), *argv],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        print(f"  {' '.join(argv[:2]):<24} {time.perf_counter() - started:7.1f} s", flush=True)
    c = shop.counts
    return f"{c['contacts']:,} contacts, {c['orders']:,} orders, {c['events']:,} events"


def ask(host: str, port: int, method: str, path: str, cookie: str, form: dict[str, str] | None) -> float:
    conn = http.client.HTTPConnection(host, port, timeout=600)
    headers = {"Cookie": cookie, "Host": f"{host}:{port}"}
    body = None
    if form is not None:
        body = urllib.parse.urlencode(form).encode()
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    started = time.perf_counter()
    conn.request(method, path, body=body, headers=headers)
    response = conn.getresponse()
    response.read()
    elapsed = time.perf_counter() - started
    conn.close()
    if response.status != 200:
        raise SystemExit(f"{method} {path}: HTTP {response.status}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--dir", type=Path, help="work folder (default: a temporary one)")
    parser.add_argument("--reuse", action="store_true", help="the store in --dir is already built")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    workdir = args.dir or Path(tempfile.mkdtemp(prefix="segmail-ui-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    db = workdir / "bench.db"
    config_path = write_config(workdir, db)
    if args.reuse:
        data = "(reused store)"
    else:
        for leftover in (db, Path(f"{db}-wal"), Path(f"{db}-shm")):
            leftover.unlink(missing_ok=True)
        print("building the store:")
        data = build(workdir, args.contacts, args.seed, config_path)
    config = load_config(config_path, env={})
    store = open_store(config.store_url(), cache_mib=config.store.cache_mib)
    with store.engine.connect() as conn:
        member = example_member(conn, prefer_segment="vip") or ""
    served = prepare(config, store, Options(listen="127.0.0.1:0"), env={}, now=lambda: AS_OF).start()
    host, port = served.sock.getsockname()[:2]
    web = http.client.HTTPConnection(host, port)
    web.request("GET", "/rules/vip", headers={"Host": f"{host}:{port}"})
    first = web.getresponse()
    cookie = (first.getheader("set-cookie") or "").split(";", 1)[0]
    page = first.read().decode()
    web.close()
    csrf = page.split('name="csrf" value="', 1)[1].split('"', 1)[0]
    base = page.split('name="base" value="', 1)[1].split('"', 1)[0]
    vip = config.segment_defs["vip"]
    edit = {"csrf": csrf, "base": base, "rule": vip.rule.replace(">= 1", ">= 2"), "params": "top_percent = 10",
            "enabled": "on"}  # fmt: skip
    quoted = urllib.parse.quote(member)
    pages: list[tuple[str, str, dict[str, str] | None]] = [
        ("GET", "/", None),
        ("GET", "/segments", None),
        ("GET", f"/segments/search?q={quoted[:6]}", None),
        ("GET", "/segments/vip/members", None),
        ("GET", f"/segments/explain?email={quoted}", None),
        ("GET", "/rules/vip", None),
        ("POST", "/rules/vip/check", edit),
        ("POST", "/rules/vip/preview", edit),
        ("GET", "/templates", None),
        ("GET", "/templates/welcome", None),
        ("GET", "/templates/welcome/mail", None),
        ("GET", "/sends?campaign=welcome", None),
        ("GET", "/sends?campaign=still_interested", None),
        ("GET", "/reports", None),
        ("GET", "/reports?since=2025-11-01&until=2026-11-01", None),
        ("GET", "/reports/movements.csv?since=2025-11-01&until=2026-11-01", None),
        ("GET", "/predictions", None),
        ("GET", "/predictions/ranked", None),
        ("GET", "/predictions/check", None),
        ("GET", "/predictions/check.png", None),
    ]
    print(f"data: {data}; as of {AS_OF.isoformat()}; SQLite {db}")
    print(f"{'page':<44} {'first ms':>9} {'again ms (median)':>18}")
    for method, path, form in pages:
        cold = ask(host, port, method, path, cookie, form)
        warm = statistics.median(ask(host, port, method, path, cookie, form) for _ in range(args.repeat))
        shown = path.replace(quoted, "EMAIL").replace(quoted[:6], "PREFIX")
        print(f"{method + ' ' + shown:<44} {cold * 1000:>9.0f} {warm * 1000:>18.0f}", flush=True)
    served.stop()
    store.dispose()


if __name__ == "__main__":
    main()
