"""`segmail run` as a real process: schedule, health, metrics, stop, crash, second instance, fail-over.

The Mailchimp sandbox runs in the test process (its every exchange checked against the spec) and
the service in a subprocess, over HTTP, against a real SQLite file or the PostgreSQL server.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys

import pytest
from sqlalchemy import select

from bench.service_harness import (
    KEY,
    ROOT,
    ServiceProcess,
    free_port,
    get,
    runs,
    scalar,
    wait_for,
    write_config,
)
from segmail.jobs.importer import import_csv
from segmail.sandbox.faults import Faults
from segmail.sandbox.shopgen import generate_shop
from segmail.store.db import open_store
from segmail.store.schema import esp_memberships, memberships
from tests.conftest import T
from tests.mailchimp_fixture import checked_sandbox

pytestmark = pytest.mark.slow  # every test runs `segmail run` (or the CLI) in a subprocess


@pytest.fixture
def sandbox():
    with checked_sandbox(api_key=KEY) as box:  # the service reads the real clock, so does the sandbox
        yield box


def seed(sandbox, store_url, tmp_path, *, contacts=400):
    sandbox.load_audience("list1", contacts=contacts, seed=5, as_of=T)
    files = generate_shop(tmp_path / "shop", contacts=contacts, seed=5, as_of=T)
    store = open_store(store_url)
    try:
        import_csv(store, files.orders, "orders", now=T)
    finally:
        store.dispose()


def ok_runs(store_url):
    return [r for r in runs(store_url) if r["status"] == "ok"]


def tagged(sandbox):
    lst = sandbox.state.lists["list1"]
    return {(seg.name, lst.members[h].email.lower()) for seg in lst.segments.values() for h in seg.members}


def tag_pairs(store_url, table):
    """(tag, email) pairs of a membership table: `memberships` (computed) or `esp_memberships` (confirmed)."""
    store = open_store(store_url)
    try:
        with store.engine.begin() as conn:
            rows = conn.execute(select(table.c.segment, table.c.email_key)).all()
    finally:
        store.dispose()
    return {(f"segmail:{seg}", key) for seg, key in rows}


def desired(store_url):
    return tag_pairs(store_url, memberships)


def test_service_syncs_on_schedule_serves_health_and_stops_cleanly(sandbox, store_url, tmp_path):
    seed(sandbox, store_url, tmp_path)
    port = free_port()
    config = write_config(tmp_path / "segmail.toml", store_url=store_url, api_url=sandbox.base_url, port=port)
    svc = ServiceProcess(config)
    try:
        wait_for(lambda: len(ok_runs(store_url)) >= 2, what="two scheduled cycles", timeout=90)
        health = wait_for(lambda: get(f"http://127.0.0.1:{port}/healthz"), what="/healthz")
        assert health.status_code == 200, health.text
        body = health.json()
        assert body["role"] == "active" and body["status"] == "ok"
        assert body["last_run"]["status"] in ("ok", "running", "failed")
        assert any(j["id"] == "segmail.sync" for j in body["next_jobs"])
        metrics = get(f"http://127.0.0.1:{port}/metrics")
        assert metrics is not None and metrics.status_code == 200
        assert metrics.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = metrics.text
        assert "segmail_active 1" in text
        assert 'segmail_members{status="subscribed"}' in text
        assert 'segmail_segment_members{segment="vip"}' in text
        assert 'segmail_tags_added_total{tag="segmail:vip"}' in text
        assert 'segmail_api_requests_total{system="mailchimp"}' in text
        assert "segmail_cycle_duration_seconds" in text
        assert get(f"http://127.0.0.1:{port}/nope").status_code == 404
    finally:
        code = svc.stop(signal.SIGTERM)
    assert code == 0, svc.text()
    assert tagged(sandbox) == desired(store_url)  # the tags in Mailchimp are the computed segments
    statuses = {r["status"] for r in runs(store_url)}
    assert "running" not in statuses and "crashed" not in statuses, statuses
    assert scalar(store_url, "SELECT role FROM service_instances") == "stopped"
    assert KEY not in svc.text()  # the key never reaches a log line
    steps = [s["name"] for s in ok_runs(store_url)[0]["stats"]["steps"]]
    assert steps == [
        "shop pull",
        "pull members",
        "pull engagement",
        "refit predictions",
        "compute",
        "push tags",
    ]


def status_json(config):
    """`segmail status --format json` as a separate process: its exit code and its report."""
    done = subprocess.run(
        [sys.executable, "-m", "segmail.jobs.cli", "--config", str(config), "status", "--format", "json"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    return done.returncode, json.loads(done.stdout) if done.stdout else done.stderr


def test_status_command_reports_the_service(sandbox, store_url, tmp_path):
    seed(sandbox, store_url, tmp_path, contacts=100)
    config = write_config(tmp_path / "segmail.toml", store_url=store_url, api_url=sandbox.base_url, port=None)
    svc = ServiceProcess(config)
    try:
        wait_for(lambda: ok_runs(store_url), what="a cycle")
        code, report = status_json(config)
    finally:
        svc.stop()
    assert code == 0, report
    assert report["health"]["status"] == "ok"
    assert [i["role"] for i in report["live_instances"]] == ["active"]
    assert report["segments"]["vip"] >= 1
    assert report["next_jobs"][0]["id"] == "segmail.sync"


def test_a_failed_cycle_is_recorded_and_the_next_one_runs(sandbox, store_url, tmp_path):
    seed(sandbox, store_url, tmp_path, contacts=100)
    config = write_config(tmp_path / "segmail.toml", store_url=store_url, api_url=sandbox.base_url, port=None)
    svc = ServiceProcess(config)
    try:
        wait_for(lambda: ok_runs(store_url), what="a first cycle")
        sandbox.faults = Faults(rate_500=1.0)  # Mailchimp fails every request (attempts = 2)
        failed = wait_for(
            lambda: [r for r in runs(store_url) if r["status"] == "failed"], what="a failed cycle"
        )
        sandbox.faults = Faults()
        wait_for(
            lambda: [r for r in ok_runs(store_url) if r["id"] > failed[0]["id"]], what="a later ok cycle"
        )
    finally:
        assert svc.stop() == 0, svc.text()
    assert "pull members" in failed[0]["error"] and "500" in failed[0]["error"]
    assert svc.proc.returncode == 0


def test_broken_config_gives_one_clear_message(tmp_path):
    config = tmp_path / "segmail.toml"
    config.write_text('[schedule]\nsync_evry = "5m"\n[service]\nlisten = "nowhere"\n', encoding="utf-8")
    svc = ServiceProcess(config)
    code = svc.wait()
    assert code == 2
    out = svc.text()
    assert "schedule.sync_evry: unknown key" in out and "service.listen" in out
    assert "Traceback" not in out


def test_unreachable_mailchimp_at_start_exits_non_zero(tmp_path):
    dead = f"http://127.0.0.1:{free_port()}/3.0"
    config = write_config(
        tmp_path / "segmail.toml", store_url=f"sqlite:///{tmp_path / 's.db'}", api_url=dead, port=None
    )
    svc = ServiceProcess(config)
    code = svc.wait(120)
    assert code == 1, svc.text()
    assert "cannot reach Mailchimp at" in svc.text() and "Traceback" not in svc.text()


SLOW_PUSH = Faults(
    latency_ms=400,  # every 500-email segment call takes 0.4 s; everything else is exempt
    exempt_paths=(
        "/ping",
        "/lists/list1",
        "/lists/*/members*",
        "/lists/*/segments",
        "/campaigns*",
        "/reports/*",
    ),
)


def segment_calls(sandbox, since):
    """(tag, email) pairs in every member-changing segment call logged from index `since`."""
    lst = sandbox.state.lists["list1"]
    names = {str(seg.id): seg.name for seg in lst.segments.values()}
    sent = []
    for entry in list(sandbox.requests_log)[since:]:
        parts = entry.path.rstrip("/").split("/")
        if entry.method == "POST" and len(parts) == 6 and parts[4] == "segments":
            body = entry.json or {}
            for email in body.get("members_to_add", []) + body.get("members_to_remove", []):
                sent.append((names.get(parts[5], parts[5]), email.lower()))
    return sent


def confirmed(store_url):
    return tag_pairs(store_url, esp_memberships)


def start_slow_push(sandbox, store_url, tmp_path):
    """A service in the middle of a slow tag push: at least one 500-email chunk confirmed, more to go."""
    seed(sandbox, store_url, tmp_path, contacts=3000)
    sandbox.faults = SLOW_PUSH
    config = write_config(
        tmp_path / "segmail.toml", store_url=store_url, api_url=sandbox.base_url, port=None,
        mailchimp={"max_connections": 1},
    )  # fmt: skip
    svc = ServiceProcess(config)
    try:
        wait_for(
            lambda: scalar(store_url, "SELECT count(*) FROM esp_memberships") >= 500, what="a confirmed chunk"
        )
    except BaseException:
        svc.kill()
        raise
    return config, svc


def test_kill_9_during_a_push_converges_without_resending_confirmed_chunks(sandbox, store_url, tmp_path):
    config, first = start_slow_push(sandbox, store_url, tmp_path)
    first.kill()  # SIGKILL: no handler runs, no checkpoint is written on the way out
    before = confirmed(store_url)
    total = len(desired(store_url))
    assert 500 <= len(before) < total, "the kill must land in the middle of the push"
    assert runs(store_url)[-1]["status"] == "running"  # the killed cycle never finished
    mark = len(sandbox.requests_log)
    second = ServiceProcess(config)
    try:
        wait_for(lambda: ok_runs(store_url), what="a cycle after the restart", timeout=120)
    finally:
        assert second.stop() == 0, second.text()
    assert tagged(sandbox) == desired(store_url)  # converged
    resent = set(segment_calls(sandbox, mark)) & before
    assert not resent, f"{len(resent)} confirmed change(s) were sent again, e.g. {sorted(resent)[:3]}"
    crashed = [r for r in runs(store_url) if r["status"] == "crashed"]
    assert len(crashed) == 1
    resumed = [r for r in runs(store_url) if r["stats"].get("resumed_from")]
    assert resumed and resumed[0]["stats"]["resumed_from"] == [crashed[0]["id"]]


def test_sigterm_during_a_push_stops_at_a_chunk_boundary(sandbox, store_url, tmp_path):
    _, svc = start_slow_push(sandbox, store_url, tmp_path)
    code = svc.stop(signal.SIGTERM)
    assert code == 0, svc.text()
    last = runs(store_url)[-1]
    assert last["status"] == "interrupted", last
    push = next(s for s in last["stats"]["steps"] if s["name"] == "push tags")
    assert push["status"] == "interrupted"
    # every change Mailchimp applied before the stop is confirmed in the store: nothing half-written
    assert tagged(sandbox) == confirmed(store_url)
    assert 500 <= len(confirmed(store_url)) < len(desired(store_url))


def active_instance(store_url):
    return scalar(store_url, "SELECT instance_id FROM service_instances WHERE role = 'active'")


def cycle_instances(store_url):
    """The instances that finished a cycle. A cycle still running, or cut short by a kill -9 (left as
    running, then marked crashed by the next instance), has no stats yet: it names nobody."""
    return {r["stats"]["instance"] for r in runs(store_url) if "instance" in r["stats"]}


def test_a_second_instance_stands_by_and_takes_over_when_the_first_dies(sandbox, store_url, tmp_path):
    seed(sandbox, store_url, tmp_path, contacts=200)
    config = write_config(tmp_path / "segmail.toml", store_url=store_url, api_url=sandbox.base_url, port=None)
    first = ServiceProcess(config)
    second = None
    try:
        wait_for(lambda: ok_runs(store_url), what="the first instance's cycle")
        second = ServiceProcess(config)
        wait_for(lambda: second.logged("standby:"), what="the second instance on standby")
        n = len(ok_runs(store_url))
        wait_for(lambda: len(ok_runs(store_url)) >= n + 2, what="more cycles while both run")
        first_id = active_instance(store_url)
        assert cycle_instances(store_url) == {first_id}  # the standby never acted
        assert scalar(store_url, "SELECT count(*) FROM service_instances WHERE role = 'standby'") == 1
        first.kill()  # the active one dies without a word
        taken = wait_for(
            lambda: [r for r in ok_runs(store_url) if r["stats"]["instance"] != first_id],
            what="the standby taking over", timeout=30,
        )  # fmt: skip
        assert second.logged("active:")
        assert len(cycle_instances(store_url)) == 2
        assert taken[0]["status"] == "ok"
    finally:
        first.kill()
        if second is not None:
            assert second.stop() == 0, second.text()
    assert tagged(sandbox) == desired(store_url)


def test_run_once_refuses_while_a_service_is_active(sandbox, store_url, tmp_path):
    seed(sandbox, store_url, tmp_path, contacts=100)
    config = write_config(tmp_path / "segmail.toml", store_url=store_url, api_url=sandbox.base_url, port=None)
    svc = ServiceProcess(config)
    try:
        wait_for(lambda: ok_runs(store_url), what="a cycle")
        once = ServiceProcess(config, "--once")
        assert once.wait() == 1
        assert once.logged("another instance is active")
    finally:
        assert svc.stop() == 0
    once = ServiceProcess(config, "--once")
    assert once.wait() == 0, once.text()


def test_sends_survive_a_kill_9_and_a_second_instance_without_a_second_mail(sandbox, store_url, tmp_path):
    """Two instances; the active one is killed while it schedules a campaign; the other takes over."""
    from collections import Counter
    from datetime import UTC, datetime, timedelta

    from tests.shop import Shop

    now = datetime.now(UTC)
    slot = (now + timedelta(minutes=75)).replace(second=0, microsecond=0)
    slot -= timedelta(minutes=slot.minute % 15)
    emails = [f"buyer{i}@x.io" for i in range(6)]
    store = open_store(store_url)
    shop = Shop(store)
    for email in emails:
        sandbox.add_member(
            "list1", email, timezone="UTC", country_code="DE", language="de" if "1" in email else "en"
        )
        shop.contact(email)
        shop.order(email, now - timedelta(days=3), "40.00")
    shop.flush(now)
    store.dispose()
    # Mailchimp is slow to answer `actions/schedule`: the kill lands between creating and scheduling
    sandbox.faults = Faults(latency_ms=4000, exempt_paths=(
        "/ping", "/lists*", "/reports*", "/campaigns", "/campaigns/*/content", "/campaigns/??????????",
    ))  # fmt: skip
    config = write_config(
        tmp_path / "segmail.toml", store_url=store_url, api_url=sandbox.base_url, port=None,
        segments={"vip": {"rule": "orders_count >= 1"}},
        send={"shop_name": "Boots", "shop_address": "Boots, 1 Main St, Berlin", "shop_url": "https://boots.example",
              "lead": "2h", "quiet_hours": ""},
        campaigns={"vip_early": {
            "segment": "vip", "template": "vip_early_access.html", "subject": "Early access", "from_name": "Boots",
            "reply_to": "hi@boots.example", "local_time": slot.strftime("%H:%M"), "trigger": "at",
            "date": slot.date().isoformat()}},
    )  # fmt: skip
    first = ServiceProcess(config)
    second = None
    try:
        wait_for(
            lambda: scalar(store_url, "SELECT count(*) FROM service_instances WHERE role = 'active'"),
            what="an active instance",
        )
        second = ServiceProcess(config)
        wait_for(lambda: second.logged("standby:"), what="the second instance on standby")
        wait_for(
            lambda: scalar(store_url, "SELECT count(*) FROM send_buckets WHERE mc_campaign_id IS NOT NULL AND status = 'planned'"),
            what="a campaign created but not yet scheduled",
        )  # fmt: skip
        first.kill()
        wait_for(lambda: second.logged("active:"), what="the standby taking over", timeout=30)
        wait_for(
            lambda: scalar(store_url, "SELECT count(*) FROM send_buckets WHERE status <> 'scheduled'") == 0
            and scalar(store_url, "SELECT count(*) FROM send_buckets") > 0,
            what="every bucket scheduled", timeout=90,
        )  # fmt: skip
    finally:
        first.kill()
        if second is not None:
            assert second.stop() == 0, second.text()
    buckets = scalar(store_url, "SELECT count(*) FROM send_buckets")
    ours = [c for c in sandbox.state.campaigns.values() if c.settings.get("title", "").startswith("segmail ")]
    assert len(ours) == buckets == 2  # one campaign per language variant (en, de), never a second
    assert {c.status for c in ours} == {"schedule"}
    sandbox.state.advance(slot + timedelta(hours=1))
    mails = Counter(email for _, email, _ in sandbox.state.deliveries)
    assert mails == Counter({e: 1 for e in emails})
    assert scalar(store_url, "SELECT count(*) FROM send_ledger WHERE status = 'scheduled'") == len(emails)
    _, report = status_json(config)
    assert report["send_ledger"] == {"scheduled": len(emails)} and report["send_campaigns"] == {
        "scheduled": 2
    }
