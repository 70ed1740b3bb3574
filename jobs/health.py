"""What the service reports: `/healthz`, Prometheus `/metrics`, and `segmail status`.

Store-derived figures (members, orders, segment sizes) are read once per cycle into a snapshot,
so a scrape never runs a million-row count; counters (tags pushed, API calls) live in the process.
`/metrics` is written by prometheus-client, the reference implementation of the exposition format,
from a collector that reads that snapshot: values keep their full precision (a timestamp is exact
to the millisecond), and names and label values are escaped as Prometheus parses them.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from segmail.jobs import report
from segmail.jobs.config import AppConfig
from segmail.store import audit, suppression, unsent
from segmail.store import instances as instance_rows
from segmail.store import snapshot as store_snapshot
from segmail.store.codec import from_us
from segmail.store.db import Store
from segmail.store.runs import recent_runs

log = logging.getLogger("segmail.service")


def snapshot(store: Store, config: AppConfig | None = None, *, segments: bool = True) -> dict[str, Any]:
    """Counts from the store and the latest cycles, for health, metrics and `segmail status`; with the
    config, also the audience's last campaign (jobs/report.py). `segments=False`: without the counts
    per segment (store.snapshot.counts)."""
    last_campaign = None if config is None else report.last_campaign(store, config)
    with store.engine.begin() as conn:
        counts = store_snapshot.counts(conn, segments=segments)
        unsent_errors = unsent.summary(conn)
        runs = recent_runs(conn, "cycle", limit=20)
        known = instance_rows.listing(conn)
        privacy = {
            kind: {**row, "last_at": _iso(row["last_at"])} for kind, row in audit.summary(conn).items()
        }
        suppressed = suppression.count(conn)
    last = runs[0] if runs else None
    last_ok = next((r for r in runs if r["status"] == "ok"), None)
    return {
        "members": counts.members,
        "orders": counts.orders,
        "segments": counts.segments,
        "tagged": counts.tagged,
        "send_ledger": counts.send_ledger,
        "send_campaigns": counts.send_campaigns,
        "send_unsent": [{**u, "last_recorded_at": _iso(u["last_recorded_at"])} for u in unsent_errors],
        "last_campaign": last_campaign,
        "last_run": _run(last),
        "last_ok_run": _run(last_ok),
        "privacy": {"audit": privacy, "suppressed": suppressed},  # jobs/privacy.py: counts, never an email
        "instances": [
            {
                **i,
                "started_at": _iso(i["started_at"]),
                "heartbeat_at": _iso(i["heartbeat_at"]),
            }
            for i in known
        ],
    }


def _iso(us: int | None) -> str | None:
    value = from_us(us)
    return value.isoformat() if value is not None else None


def _run(row: dict[str, Any] | None) -> dict[str, Any] | None:
    if row is None:
        return None
    return {
        "id": row["id"],
        "status": row["status"],
        "started_at": _iso(row["started_at"]),
        "finished_at": _iso(row["finished_at"]),
        "seconds": row["stats"].get("seconds"),
        "error": row["error"],
        "instance": row["stats"].get("instance"),
        "steps": row["stats"].get("steps", []),
    }


@dataclass
class Counters:
    """Process-lifetime counters, as Prometheus expects (they restart at zero with the process)."""

    tags_added: dict[str, int] = field(default_factory=dict)
    tags_removed: dict[str, int] = field(default_factory=dict)
    cycles: dict[str, int] = field(default_factory=dict)
    api_requests: dict[str, int] = field(default_factory=dict)
    api_retries: dict[str, int] = field(default_factory=dict)
    step_seconds: dict[str, float] = field(default_factory=dict)
    last_cycle_seconds: float | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)


def health(
    snap: dict[str, Any], *, role: str, now: datetime, sync_every: timedelta, started_at: datetime
) -> tuple[int, dict[str, Any]]:
    """200 when the active instance synced recently (or is standing by); 503 otherwise, saying why.

    Unsent errors (sending/unsent.py) make it `degraded` but keep 200: a restart cannot deliver the
    mail, so a probe must not restart the service over them; the body lists them for a human."""
    body: dict[str, Any] = {"role": role, "last_run": snap.get("last_run")}
    limit = 3 * sync_every + timedelta(minutes=1)
    problems: list[str] = []
    last_ok = snap.get("last_ok_run")
    if last_ok and last_ok["finished_at"]:
        age = now - datetime.fromisoformat(last_ok["finished_at"])
        body["last_ok_age_s"] = round(age.total_seconds(), 1)
        if role == "active" and age > limit:
            problems.append(f"no successful cycle for {int(age.total_seconds())} s")
    elif role == "active" and now - started_at > limit:
        problems.append("no successful cycle since the service started")
    last = snap.get("last_run")
    if last and last["status"] == "failed":
        body["errors"] = last["error"]
    unsent_errors = snap.get("send_unsent") or []
    if unsent_errors:
        body["unsent"] = unsent_errors
    body["status"] = "unhealthy" if problems else "degraded" if unsent_errors else "ok"
    if problems:
        body["problems"] = problems
    return (200 if not problems else 503), body


METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
Samples = list[tuple[dict[str, str], float]]  # (labels, value) per sample of one metric
MetricsSource = Callable[[], tuple[dict[str, Any], Counters, str]]  # the snapshot, counters and role now


def metric_family(name: str, kind: str, help_: str, samples: Samples) -> Metric:
    """One metric; a counter's name ends in `_total`, as the exposition format writes it."""
    labels = list(samples[0][0]) if samples else []
    family = (CounterMetricFamily if kind == "counter" else GaugeMetricFamily)(name, help_, labels=labels)
    for values, value in samples:
        family.add_metric([values[label] for label in labels], value)
    return family


def metric_families(snap: dict[str, Any], counters: Counters, *, role: str) -> list[Metric]:
    """Every metric the service exports: a new one is one `family(...)` call below."""
    out: list[Metric] = []

    def family(name: str, kind: str, help_: str, samples: Samples) -> None:
        out.append(metric_family(name, kind, help_, samples))

    family(
        "segmail_active",
        "gauge",
        "1 on the instance that schedules, 0 on a standby",
        [({}, 1.0 if role == "active" else 0.0)],
    )
    family("segmail_members", "gauge", "Contacts in the store by status",
           [({"status": k}, v) for k, v in sorted(snap["members"].items())])  # fmt: skip
    family("segmail_orders", "gauge", "Orders in the store", [({}, snap["orders"])])
    family("segmail_segment_members", "gauge", "Members of each segment at the last compute",
           [({"segment": k}, v) for k, v in sorted(snap["segments"].items())])  # fmt: skip
    family("segmail_tag_members_confirmed", "gauge", "Members Mailchimp confirmed tagged, per segment",
           [({"segment": k}, v) for k, v in sorted(snap["tagged"].items())])  # fmt: skip
    family("segmail_send_recipients", "gauge", "Send ledger rows by status (planned, scheduled, sent, skipped)",
           [({"status": k}, v) for k, v in sorted(snap.get("send_ledger", {}).items())])  # fmt: skip
    family("segmail_send_campaigns", "gauge", "Mailchimp campaigns (send buckets) by status",
           [({"status": k}, v) for k, v in sorted(snap.get("send_campaigns", {}).items())])  # fmt: skip
    family("segmail_send_unsent_recipients", "gauge", "Planned recipients not sent for a reason no documented rule gives",
           [({"campaign": u["campaign"], "reason": u["reason"]}, u["recipients"]) for u in snap.get("send_unsent", [])])  # fmt: skip
    with counters.lock:
        family("segmail_tags_added_total", "counter", "Tag additions Mailchimp confirmed",
               [({"tag": k}, v) for k, v in sorted(counters.tags_added.items())])  # fmt: skip
        family("segmail_tags_removed_total", "counter", "Tag removals Mailchimp confirmed",
               [({"tag": k}, v) for k, v in sorted(counters.tags_removed.items())])  # fmt: skip
        family("segmail_api_requests_total", "counter", "HTTP requests to external APIs",
               [({"system": k}, v) for k, v in sorted(counters.api_requests.items())])  # fmt: skip
        family("segmail_api_retries_total", "counter", "Retried API calls (429, 5xx, timeouts)",
               [({"system": k}, v) for k, v in sorted(counters.api_retries.items())])  # fmt: skip
        family("segmail_cycles_total", "counter", "Sync cycles by outcome",
               [({"status": k}, v) for k, v in sorted(counters.cycles.items())])  # fmt: skip
        family("segmail_step_duration_seconds", "gauge", "Duration of each step in the last cycle",
               [({"step": k}, v) for k, v in counters.step_seconds.items()])  # fmt: skip
        if counters.last_cycle_seconds is not None:
            family(
                "segmail_cycle_duration_seconds",
                "gauge",
                "Duration of the last cycle",
                [({}, counters.last_cycle_seconds)],
            )
    out += _last_campaign(snap.get("last_campaign"))
    last_ok = snap.get("last_ok_run")
    if last_ok and last_ok["finished_at"]:
        ts = datetime.fromisoformat(last_ok["finished_at"]).timestamp()
        family(
            "segmail_last_success_timestamp_seconds",
            "gauge",
            "When the last successful cycle ended",
            [({}, ts)],
        )
    return out


LAST_CAMPAIGN_GAUGES = (
    ("recipients", "Recipients of the audience's last campaign (Mailchimp's emails_sent)"),
    ("opens", "Recipients who opened the last campaign (Mailchimp's unique opens, machine opens included)"),
    ("proxy_opens", "Opens of the last campaign Mailchimp flags as machine (proxy) opens"),
    ("clicks", "Recipients who clicked in the last campaign"),
    ("unsubscribes", "Unsubscribes from the last campaign"),
    ("bounces", "Bounces of the last campaign"),
    ("attributed_orders", "Paid orders attributed to the last campaign so far ([report] rules)"),
)


def _last_campaign(last: dict[str, Any] | None) -> list[Metric]:
    """The audience's last campaign (labels: campaign, segment); none before the first campaign results."""
    if not last:
        return []
    labels = {"campaign": str(last["campaign"]), "segment": str(last["segment"])}
    sent = datetime.fromisoformat(last["sent_at"]).timestamp()
    out = [metric_family("segmail_last_campaign_sent_timestamp_seconds", "gauge",
                         "When the audience's last campaign was sent", [(labels, sent)])]  # fmt: skip
    out += [
        metric_family(f"segmail_last_campaign_{key}", "gauge", help_, [(labels, float(last[key]))])
        for key, help_ in LAST_CAMPAIGN_GAUGES
    ]
    money = {**labels, "currency": str(last.get("currency") or "")}
    out.append(metric_family("segmail_last_campaign_attributed_revenue", "gauge",
                             "Revenue attributed to the last campaign so far, in the reporting currency",
                             [(money, float(last["attributed_revenue"]))]))  # fmt: skip
    return out


class SnapshotCollector(Collector):
    """Builds the metrics at each scrape from what `source` returns; it never queries the store."""

    def __init__(self, source: MetricsSource) -> None:
        self._source = source

    def collect(self) -> Iterable[Metric]:
        snap, counters, role = self._source()
        return metric_families(snap, counters, role=role)


def metrics_registry(source: MetricsSource) -> CollectorRegistry:
    """A registry of its own per service, never prometheus-client's global one: importing or starting
    twice (tests, a second service in one process) must not register anything twice."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SnapshotCollector(source))
    return registry


def metrics_text(registry: CollectorRegistry) -> str:
    """Prometheus text exposition format 0.0.4 (METRICS_CONTENT_TYPE)."""
    return generate_latest(registry).decode()


Provider = Callable[[], tuple[int, str, str]]  # status, content type, body


class HealthServer:
    """A tiny threaded HTTP server for /healthz and /metrics; anything else is 404."""

    def __init__(self, address: tuple[str, int], routes: dict[str, Provider]) -> None:
        routes_ = routes

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                provider = routes_.get(self.path.split("?", 1)[0])
                if provider is None:
                    status, ctype, body = (
                        404,
                        "text/plain; charset=utf-8",
                        "not found: try /healthz or /metrics\n",
                    )
                else:
                    try:
                        status, ctype, body = provider()
                    except Exception as exc:  # a broken probe must not kill the endpoint
                        log.exception("health endpoint failed")
                        status, ctype, body = 500, "text/plain; charset=utf-8", f"{type(exc).__name__}\n"
                data = body.encode()
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self._server = ThreadingHTTPServer(address, Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="segmail-health", daemon=True)

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def json_body(data: dict[str, Any]) -> str:
    return json.dumps(data, indent=2, sort_keys=True, default=str) + "\n"
