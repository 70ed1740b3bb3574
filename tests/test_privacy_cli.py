"""`segmail forget`, `segmail export-person`, `segmail retention` and the privacy line of `segmail status`."""

from __future__ import annotations

import io
import json

import pytest
from sqlalchemy import select

from segmail.jobs.cli import main
from segmail.store import audit
from segmail.store.schema import contacts, orders
from tests.conftest import T
from tests.privacy_data import JANE, JANE_KEY, OTHERS, add_jane, base, mail_history, segments


@pytest.fixture
def cli(store, store_url, tmp_path, monkeypatch, capsys):
    """The CLI on a store holding the privacy test shop; returns (exit code, stdout, stderr)."""
    shop = base(store)
    add_jane(shop)
    shop.flush(T)
    segments(store)
    mail_history(store)
    monkeypatch.setenv("SEGMAIL_STORE_URL", store_url)
    conf = tmp_path / "segmail.toml"
    conf.write_text('[shop]\nkind = "shopify"\nurl = "https://snowdevil.myshopify.com"\n')

    def run(*argv: str, stdin: str | None = None) -> tuple[int, str, str]:
        if stdin is not None:
            monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
        code = main(["--config", str(conf), *argv])
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


def held(store) -> set[str]:
    with store.engine.connect() as conn:
        return set(conn.execute(select(contacts.c.email_key)).scalars()) | set(
            conn.execute(select(orders.c.email_key)).scalars()
        )


def test_export_person_prints_everything_held_about_her(cli, store):
    code, out, _ = cli("export-person", JANE, "--format", "json")
    assert code == 0
    doc = json.loads(out)
    assert doc["email"] == JANE_KEY and doc["held"] is True and doc["suppressed"] is False
    assert doc["contact"]["first_name"] == "Jane" and doc["contact"]["timezone"] == "Europe/Vienna"
    assert [o["total_e4"] for o in doc["orders"]] == ["400.00"] * 4 and doc["orders"][0]["categories"] == [
        "secret-hobby"
    ]
    assert {e["type"] for e in doc["events"]} == {"open", "click"}
    vip = next(s for s in doc["segments"] if s["segment"] == "vip")
    assert vip["tag"] == "segmail:vip" and vip["entered_at"].endswith("Z")
    assert [t["tag"] for t in doc["tags_confirmed"]] == ["segmail:vip"]
    assert doc["mails"][0]["campaign"] == "vip_early" and doc["mails"][0]["status"] == "planned"
    assert doc["unsent"][0]["reason"] == "template_error"
    with store.engine.connect() as conn:
        (entry,) = audit.entries(conn)
    assert (
        entry["kind"] == "access"
        and entry["rows"]["orders"] == 4
        and JANE_KEY not in json.dumps(entry, default=str)
    )


def test_export_person_answers_a_shopify_data_request(cli, tmp_path):
    body = {"shop_id": 954889, "shop_domain": "snowdevil.myshopify.com", "orders_requested": [299938],
            "customer": {"id": 191167, "email": JANE, "phone": "555-625-1199"}, "data_request": {"id": 9999}}  # fmt: skip
    code, out, _ = cli("export-person", "--shopify-request", "-", stdin=json.dumps(body))
    assert code == 0
    doc = json.loads(out)
    assert doc["email"] == JANE_KEY and doc["request"]["data_request_id"] == "9999"
    assert doc["orders_requested"] == []  # no Shopify order 299938 in this store
    code, _, err = cli(
        "export-person",
        "--shopify-request",
        "-",
        stdin=json.dumps({**body, "shop_domain": "x.myshopify.com"}),
    )
    assert code == 2 and "this store pulls from snowdevil.myshopify.com" in err


def test_forget_reads_addresses_from_arguments_and_a_file(cli, store, tmp_path):
    listed = tmp_path / "erase.txt"
    listed.write_text(f"# requests of March\n{OTHERS[0]}\n\n{OTHERS[1].upper()}  # by phone\n")
    code, out, _ = cli("forget", JANE, "--from-file", str(listed), "--no-mailchimp")
    assert code == 0, out
    assert "erased 3 people (3 held here)" in out and "3 newly suppressed" in out
    assert not held(store) & {JANE_KEY, OTHERS[0], OTHERS[1]}
    with store.engine.connect() as conn:
        commands = {e["command"] for e in audit.entries(conn)}
    assert commands == {"segmail forget --from-file --no-mailchimp"}  # options only: no address, no path
    code, _, err = cli("forget", "not-an-address", "--no-mailchimp")
    assert code == 2 and "argument 1: email is not a valid address" in err


def test_forget_handles_shopify_and_wordpress_requests(cli, store, tmp_path):
    redact = {"shop_id": 1, "shop_domain": "snowdevil.myshopify.com", "customer": {"id": 2, "email": JANE},
              "orders_to_redact": [299938]}  # fmt: skip
    code, out, err = cli("forget", "--shopify-redact", "-", stdin=json.dumps(redact))
    assert code == 0, err
    assert "nothing done in Mailchimp" in err and JANE_KEY not in held(store)
    wp = tmp_path / "requests.json"
    wp.write_text(json.dumps([{"ID": 7, "user_email": OTHERS[2], "action_name": "remove_personal_data",
                               "status": "request-completed", "created_timestamp": 1}]))  # fmt: skip
    code, out, _ = cli("forget", "--woocommerce-erasures", str(wp))
    assert code == 0 and "erased 1 people" in out and OTHERS[2] not in held(store)
    code, _, err = cli(
        "forget", "--shopify-redact", "-", stdin=json.dumps({**redact, "shop_domain": "other.myshopify.com"})
    )
    assert code == 2 and "the request is for other.myshopify.com" in err
    with store.engine.connect() as conn:
        requests = [e["request"] for e in audit.entries(conn) if e["kind"] == "erasure"]
    assert requests == ["woocommerce/erasure", "customers/redact from snowdevil.myshopify.com"]


def test_forget_mailchimp_needs_a_confirmation(cli):
    code, _, err = cli("forget", JANE, "--mailchimp")
    assert code == 2 and "set [mailchimp] list_id" in err


def test_status_counts_the_privacy_requests_and_retention_runs(cli):
    cli("forget", JANE, "--no-mailchimp")
    cli("export-person", OTHERS[0])
    code, out, _ = cli("retention", "--once")
    assert code == 0 and out.startswith("retention: deleted")
    _, out, _ = cli("status")
    assert (
        "privacy: access 1 (1 people, last" in out and "erasure 1 (1 people" in out and "suppressed 1" in out
    )
    _, out, _ = cli("status", "--format", "json")
    report = json.loads(out)
    assert report["privacy"]["suppressed"] == 1 and report["privacy"]["audit"]["suppression"]["people"] == 1
