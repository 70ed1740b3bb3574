"""`segmail status`: the service's health read from the store, for a terminal or a script.

It works whether or not the service runs here: instances, runs and the job schedule are all in
the store, so an admin can check a service running on another machine.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from rich.console import Console
from rich.table import Table

from segmail.jobs.config import AppConfig
from segmail.jobs.health import health, snapshot
from segmail.jobs.textfmt import pairs
from segmail.sending.unsent import UNSENT_REASONS
from segmail.store.db import Store
from segmail.store.schedule import next_jobs


def status_report(store: Store, config: AppConfig, *, now: datetime, segments: bool = True) -> dict[str, Any]:
    """The snapshot (jobs.health) with the live instances, the health verdict and the next jobs;
    `segments=False` leaves out the counts per segment (the workspace reads them with more)."""
    snap = snapshot(store, config, segments=segments)
    fresh = now - timedelta(seconds=max(30.0, 3 * config.service.standby_poll.total_seconds()))
    live = [
        i
        for i in snap["instances"]
        if i["role"] in ("active", "standby") and datetime.fromisoformat(i["heartbeat_at"]) >= fresh
    ]
    active = next((i for i in live if i["role"] == "active"), None)
    if active is not None:
        started = datetime.fromisoformat(active["started_at"])
        code, body = health(
            snap, role="active", now=now, sync_every=config.schedule.sync_every, started_at=started
        )
    else:
        code, body = (
            503,
            {"status": "unhealthy", "problems": ["no active instance (is `segmail run` running?)"]},
        )
    return {
        **snap,
        "live_instances": live,
        "health": body,
        "http_status": code,
        "next_jobs": [
            {"id": j.id, "next_run_time": j.next_run_time.isoformat() if j.next_run_time else None}
            for j in next_jobs(store)
        ],
    }


def print_unsent(rows: list[dict[str, Any]], console: Console) -> None:
    """Unsent errors first and in red: they are the one thing here someone must act on."""
    if not rows:
        return
    table = Table(title="unsent errors: planned recipients who did not get the mail", title_style="bold red")
    for col in ("campaign", "reason", "recipients", "last recorded (UTC)", "meaning"):
        table.add_column(col)
    for u in rows:
        meaning = UNSENT_REASONS.get(u["reason"], "")
        table.add_row(u["campaign"], u["reason"], str(u["recipients"]), u["last_recorded_at"] or "", meaning)
    console.print(table)
    console.print("list them with `segmail send unsent`; once dealt with, `segmail send unsent --clear`")


def print_privacy(privacy: dict[str, Any] | None, console: Console) -> None:
    """The privacy audit log's counts: erasures, suppressions, access exports, retention passes."""
    if not privacy or not (privacy["audit"] or privacy["suppressed"]):
        return
    parts = [
        f"{kind} {row['entries']} ({row['people']} people, last {row['last_at']})"
        if kind != "retention"
        else f"retention {row['entries']} (last {row['last_at']})"
        for kind, row in sorted(privacy["audit"].items())
    ]
    console.print(
        f"privacy: {'; '.join(parts) or 'no requests'}; suppressed {privacy['suppressed']}",
        highlight=False, markup=False, soft_wrap=True,
    )  # fmt: skip


def print_status(report: dict[str, Any], console: Console) -> None:
    h = report["health"]
    colour = "green" if h["status"] == "ok" else "red"
    console.print(f"health: [{colour}]{h['status']}[/]" + "".join(f" — {p}" for p in h.get("problems", [])))
    print_unsent(report.get("send_unsent", []), console)
    inst = Table(title="instances")
    for col in ("id", "host", "pid", "role", "heartbeat"):
        inst.add_column(col)
    for i in report["instances"][:10]:
        inst.add_row(i["instance_id"], i["host"], str(i["pid"]), i["role"], i["heartbeat_at"])
    console.print(inst)
    last = report["last_run"]
    if last:
        console.print(
            f"last cycle: run {last['id']} {last['status']} at {last['finished_at'] or last['started_at']}"
            f" ({last['seconds'] or '-'} s)" + (f" — {last['error']}" if last["error"] else ""),
            markup=False, highlight=False, soft_wrap=True,
        )  # fmt: skip
        steps = Table(title="steps of the last cycle")
        for col in ("step", "status", "seconds", "counts"):
            steps.add_column(col)
        for s in last["steps"]:
            steps.add_row(s["name"], s["status"], f"{s['seconds']:.2f}", pairs(s["counts"]))
        console.print(steps)
    else:
        console.print("no cycle has run yet")
    members = ", ".join(f"{k} {v}" for k, v in sorted(report["members"].items())) or "none"
    console.print(f"members: {members}; orders: {report['orders']}", highlight=False)
    seg = Table(title="segments")
    for col in ("segment", "members", "tagged in Mailchimp"):
        seg.add_column(col)
    for name in sorted(set(report["segments"]) | set(report["tagged"])):
        seg.add_row(name, str(report["segments"].get(name, 0)), str(report["tagged"].get(name, 0)))
    console.print(seg)
    if report.get("send_ledger"):
        sends = ", ".join(f"{k} {v}" for k, v in sorted(report["send_ledger"].items()))
        buckets = ", ".join(f"{k} {v}" for k, v in sorted(report["send_campaigns"].items()))
        console.print(f"sends: recipients {sends}; campaigns {buckets}", highlight=False)
    print_privacy(report.get("privacy"), console)
    if report["next_jobs"]:
        jobs = Table(title="next scheduled jobs")
        jobs.add_column("job")
        jobs.add_column("next run (UTC)")
        for j in report["next_jobs"]:
            jobs.add_row(j["id"], j["next_run_time"] or "paused")
        console.print(jobs)
