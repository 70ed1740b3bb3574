"""`/metrics`, read back with prometheus-client's own parser: every metric keeps its name and labels, and
values (timestamps, large counters) round-trip exactly.

Format: the Prometheus text exposition format 0.0.4,
https://prometheus.io/docs/instrumenting/exposition_formats/#text-based-format
"""

from __future__ import annotations

import urllib.request
from datetime import UTC, datetime

import prometheus_client
from prometheus_client.parser import text_string_to_metric_families

from segmail.jobs.health import METRICS_CONTENT_TYPE, Counters, HealthServer, metrics_registry, metrics_text

FINISHED = datetime.fromtimestamp(1796160000.123, UTC)  # 2026-12-01T21:20:00.123Z; `:g` gave 1.79616e+09
SNAP = {
    "members": {"subscribed": 1_234_567, "unsubscribed": 3},
    "orders": 98_765_432,
    "segments": {"vip": 120, "lapsed": 7},
    "tagged": {"vip": 118},
    "send_ledger": {"sent": 5, "skipped": 1},
    "send_campaigns": {"scheduled": 2},
    "send_unsent": [{"campaign": "vip", "reason": "bucket_failed", "recipients": 3}],
    "last_ok_run": {"finished_at": FINISHED.isoformat()},
}
# every metric name with its label names, as dashboards and alert rules use them
EXPECTED = {
    "segmail_active": (),
    "segmail_members": ("status",),
    "segmail_orders": (),
    "segmail_segment_members": ("segment",),
    "segmail_tag_members_confirmed": ("segment",),
    "segmail_send_recipients": ("status",),
    "segmail_send_campaigns": ("status",),
    "segmail_send_unsent_recipients": ("campaign", "reason"),
    "segmail_tags_added_total": ("tag",),
    "segmail_tags_removed_total": ("tag",),
    "segmail_api_requests_total": ("system",),
    "segmail_api_retries_total": ("system",),
    "segmail_cycles_total": ("status",),
    "segmail_step_duration_seconds": ("step",),
    "segmail_cycle_duration_seconds": (),
    "segmail_last_success_timestamp_seconds": (),
}


def counters():
    c = Counters()
    c.tags_added = {'segmail:vip "gold"\\': 12_345_678_901}  # quotes and backslash must be escaped
    c.tags_removed = {"segmail:vip": 2}
    c.api_requests = {"mailchimp": 1_000_001}
    c.api_retries = {"mailchimp": 4}
    c.cycles = {"ok": 3}
    c.step_seconds = {"compute": 0.123456789}
    c.last_cycle_seconds = 61.000001
    return c


def samples(text):
    """{(sample name, sorted labels): value} of an exposition, parsed by prometheus-client."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def test_metrics_parse_back_with_full_precision_and_every_name_kept():
    text = metrics_text(metrics_registry(lambda: (SNAP, counters(), "active")))
    families = {f.name: f for f in text_string_to_metric_families(text)}
    # the parser reports a counter by its name without `_total`; its samples keep `_total`
    names = {(f"{name}_total" if f.type == "counter" else name): f for name, f in families.items()}
    assert set(names) == set(EXPECTED)
    for name, family in names.items():
        assert family.type == ("counter" if name.endswith("_total") else "gauge"), name
        for sample in family.samples:
            assert tuple(sample.labels) == EXPECTED[name], (name, sample.labels)
    values = samples(text)
    assert values[("segmail_last_success_timestamp_seconds", ())] == 1796160000.123  # exactly
    assert values[("segmail_tags_added_total", (("tag", 'segmail:vip "gold"\\'),))] == 12_345_678_901
    assert values[("segmail_orders", ())] == 98_765_432
    assert values[("segmail_members", (("status", "subscribed"),))] == 1_234_567
    assert values[("segmail_api_requests_total", (("system", "mailchimp"),))] == 1_000_001
    assert values[("segmail_step_duration_seconds", (("step", "compute"),))] == 0.123456789
    assert values[("segmail_cycle_duration_seconds", ())] == 61.000001
    assert values[("segmail_send_unsent_recipients", (("campaign", "vip"), ("reason", "bucket_failed")))] == 3
    assert values[("segmail_active", ())] == 1.0


def test_each_service_has_its_own_registry_read_at_scrape_time():
    state = {"role": "standby", "snap": {**SNAP, "orders": 1}}
    registry = metrics_registry(lambda: (state["snap"], Counters(), state["role"]))
    assert samples(metrics_text(registry))[("segmail_active", ())] == 0.0
    state["role"], state["snap"] = "active", {**SNAP, "orders": 2}
    values = samples(metrics_text(registry))
    assert values[("segmail_active", ())] == 1.0 and values[("segmail_orders", ())] == 2
    # nothing lands in prometheus-client's global registry (no import or start side effects)
    assert "segmail_" not in prometheus_client.generate_latest(prometheus_client.REGISTRY).decode()


def test_the_endpoint_serves_it_with_the_0_0_4_content_type():
    registry = metrics_registry(lambda: (SNAP, counters(), "active"))
    server = HealthServer(
        ("127.0.0.1", 0), {"/metrics": lambda: (200, METRICS_CONTENT_TYPE, metrics_text(registry))}
    )
    server.start()
    try:
        host, port = server.address
        with urllib.request.urlopen(f"http://{host}:{port}/metrics", timeout=10) as response:
            assert response.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
            body = response.read().decode()
    finally:
        server.stop()
    assert samples(body)[("segmail_last_success_timestamp_seconds", ())] == 1796160000.123
