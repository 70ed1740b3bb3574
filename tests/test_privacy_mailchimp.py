"""Erasure and Mailchimp, against the spec-checked sandbox on both stores: delete-permanent, segmail's own
tags, suppressed pulls, and members deleted in Mailchimp found and erased by the next cycle."""

from __future__ import annotations

from datetime import timedelta

import pytest
from mailchimp_marketing.api_client import ApiClientError
from sqlalchemy import select

from segmail.connector.mailchimp_parse import subscriber_hash
from segmail.jobs import steps
from segmail.jobs.importer import import_csv
from segmail.jobs.privacy import ErasureRequest, erase
from segmail.jobs.wiring import open_mailchimp
from segmail.sandbox.shopgen import generate_shop
from segmail.store import audit
from segmail.store.schema import contacts, events
from tests.conftest import T
from tests.mailchimp_fixture import checked_sandbox, official_client
from tests.shop import config

KEY = "0123456789abcdef0123456789abcdef-us6"


@pytest.fixture
def sandbox():
    with checked_sandbox(api_key=KEY, clock=lambda: T) as box:
        yield box


def cfg(sandbox, **privacy):
    return config(mailchimp={"list_id": "list1", "api_url": sandbox.base_url}, privacy=privacy)


def api_for(c):
    return open_mailchimp(c, env={"MAILCHIMP_API_KEY": KEY}, sleep=lambda _s: None)


def sync(store, c, now=T):
    """One `sync --once`; the outcome keeps each step's counts as the run log records them."""
    api = api_for(c)
    try:
        inputs = steps.Inputs(store=store, config=c, api=api, now=lambda: now, as_of=now)
        outcome = steps.run_steps(inputs, steps.SYNC)
    finally:
        api.close()
    return {r.name: r.counts for r in outcome.records}


def forget(store, c, *emails, mode):
    api = api_for(c)
    try:
        return erase(
            store, c, ErasureRequest(emails=emails), now=T, command="segmail forget", api=api, mode=mode
        )
    finally:
        api.close()


def shop(sandbox, store, tmp_path, n=120):
    sandbox.load_audience("list1", contacts=n, seed=5, as_of=T)
    files = generate_shop(tmp_path / "shop", contacts=n, seed=5, as_of=T)
    import_csv(store, files.orders, "orders", now=T)


def keys(store):
    with store.engine.connect() as conn:
        return set(conn.execute(select(contacts.c.email_key)).scalars())


def tagged_member(sandbox):
    """A subscribed member with at least one segmail tag (after a sync)."""
    lst = sandbox.state.lists["list1"]
    return next(m for m in lst.members.values() if m.tags and m.status == "subscribed")


# "Delete all personally identifiable information related to a list member, and remove them from a list.
# This will make it impossible to re-import the list member." (the operation's description in Mailchimp's
# spec, shared/specs/mailchimp-marketing.json); re-adding the address is answered 400 "Forgotten Email Not
# Subscribed", "<email> was permanently deleted and cannot be re-imported" (https://pastebin.com/QYm97nCC).
def test_delete_permanent_is_spec_true_and_the_address_cannot_come_back(mailchimp_sandbox):
    client = official_client(mailchimp_sandbox)
    member = mailchimp_sandbox.add_member("list1", "Gone@Example.com", tags=["vip"])
    assert client.lists.delete_list_member_permanent("list1", member["id"]).status_code == 204
    with pytest.raises(ApiClientError) as missing:
        client.lists.get_list_member("list1", member["id"])
    assert missing.value.status_code == 404
    with pytest.raises(ApiClientError) as refused:
        client.lists.add_list_member("list1", {"email_address": "gone@example.com", "status": "subscribed"})
    assert refused.value.status_code == 400 and "Forgotten Email Not Subscribed" in refused.value.text
    assert "permanently deleted and cannot be re-imported" in refused.value.text
    lst = mailchimp_sandbox.state.lists["list1"]
    assert all(member["id"] not in s.members for s in lst.segments.values())
    added = client.lists.add_list_member("list1", {"email_address": "new@example.com", "status": "pending"})
    assert added["status"] == "pending"  # anyone else may still be added


def test_forget_with_mailchimp_deletes_the_member_there(sandbox, store, tmp_path):
    shop(sandbox, store, tmp_path)
    c = cfg(sandbox)
    sync(store, c)
    jane = tagged_member(sandbox)
    result = forget(store, c, jane.email.upper(), mode="delete")
    assert dict(result.mailchimp) == {"deleted": 1}
    assert (
        jane.id not in sandbox.state.lists["list1"].members
        and jane.id in sandbox.state.lists["list1"].forgotten
    )
    counts = sync(store, c)
    assert jane.email.lower() not in keys(store)
    assert "erased" not in counts["pull members"]  # erased here already: nothing is "gone" twice


def test_forget_without_mailchimp_takes_only_segmails_tags_off(sandbox, store, tmp_path):
    shop(sandbox, store, tmp_path)
    c = cfg(sandbox)
    sync(store, c)
    jane = tagged_member(sandbox)
    lst = sandbox.state.lists["list1"]
    sandbox.state.set_tags(lst, jane, [("newsletter-fan", True)], T)
    result = forget(store, c, jane.email, mode="untag")
    assert dict(result.mailchimp) == {"untagged": 1}
    assert [lst.segments[s].name for s in jane.tags] == ["newsletter-fan"]  # hers, not segmail's, stays
    assert jane.id in lst.members and jane.status == "subscribed"
    # she changes her profile in Mailchimp: the next pull reads her again, and drops her
    jane.last_changed = T
    counts = sync(store, c)
    assert counts["pull members"]["suppressed"] == 1
    assert jane.email.lower() not in keys(store)


def test_a_person_forgotten_before_the_first_sync_is_never_stored(sandbox, store, tmp_path):
    shop(sandbox, store, tmp_path)
    sandbox.send_newsletter("list1", at=T - timedelta(days=20), seed=2, open_rate=1.0, click_rate=0.5)
    c = cfg(sandbox)
    jane = next(m for m in sandbox.state.lists["list1"].members.values() if m.status == "subscribed")
    forget(store, c, jane.email, mode="skip")
    counts = sync(store, c)
    assert counts["pull members"]["suppressed"] == 1 and counts["pull engagement"]["suppressed"] >= 1
    with store.engine.connect() as conn:
        owners = set(conn.execute(select(events.c.email_key)).scalars())
    assert jane.email.lower() not in keys(store) | owners and len(owners) > 10


def test_a_member_deleted_in_mailchimp_is_erased_by_the_next_cycle_and_archived_is_not(
    sandbox, store, tmp_path
):
    shop(sandbox, store, tmp_path)
    c = cfg(sandbox)
    sync(store, c)
    lst = sandbox.state.lists["list1"]
    gone, archived = [m for m in lst.members.values() if m.status == "subscribed"][:2]
    sandbox.state.delete_permanently(lst, gone)
    archived.status, archived.last_changed = "archived", T
    counts = sync(store, c)
    assert counts["pull members"]["erased"] == 1
    held = keys(store)
    assert gone.email.lower() not in held and archived.email.lower() in held
    with store.engine.connect() as conn:
        status = conn.execute(
            select(contacts.c.status).where(contacts.c.email_key == archived.email.lower())
        ).scalar()
        log = audit.entries(conn)
    assert status == "archived"
    assert [(e["kind"], e["request"], e["people"]) for e in log][-1] == (
        "erasure",
        "mailchimp: deleted there",
        1,
    )
    again = sync(store, c)
    assert "erased" not in again["pull members"]  # the baseline moved with the erasure: no second pass


def test_the_full_pass_runs_when_due_even_if_the_counts_agree(sandbox, store, tmp_path):
    shop(sandbox, store, tmp_path, n=60)
    c = cfg(sandbox, gone_check_every="1h")
    sync(store, c)

    def id_listings():
        listed = [e for e in sandbox.requests_log if e.path == "/3.0/lists/list1/members"]
        return sum("members.id" in e.query for e in listed)

    sync(store, c, now=T + timedelta(minutes=30))
    assert id_listings() == 0
    sync(store, c, now=T + timedelta(hours=2))
    assert id_listings() == 1
    assert subscriber_hash("x@y.z") == subscriber_hash(" X@Y.z ")


def test_forget_mailchimp_asks_before_deleting_unless_yes(
    sandbox, store, store_url, tmp_path, monkeypatch, capsys
):
    from segmail.jobs.cli import main

    shop(sandbox, store, tmp_path, n=40)
    sync(store, cfg(sandbox))
    members = sandbox.state.lists["list1"].members
    first, second, third = [m for m in members.values() if m.status == "subscribed" and m.tags][:3]
    conf = tmp_path / "segmail.toml"
    conf.write_text(f'[mailchimp]\nlist_id = "list1"\napi_url = "{sandbox.base_url}"\n')
    monkeypatch.setenv("SEGMAIL_STORE_URL", store_url)
    monkeypatch.setenv("MAILCHIMP_API_KEY", KEY)
    assert main(["--config", str(conf), "forget", first.email, "--mailchimp"]) == 2  # stdin is no terminal
    assert "add --yes" in capsys.readouterr().err
    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    monkeypatch.setattr("builtins.input", lambda: "n")
    assert main(["--config", str(conf), "forget", first.email, "--mailchimp"]) == 2
    assert "not confirmed; nothing was erased" in capsys.readouterr().err
    assert first.id in sandbox.state.lists["list1"].members and first.email.lower() in keys(store)
    monkeypatch.setattr("builtins.input", lambda: "y")
    assert main(["--config", str(conf), "forget", first.email, "--mailchimp"]) == 0
    assert main(["--config", str(conf), "forget", second.email, "--mailchimp", "--yes"]) == 0
    assert "Mailchimp: deleted 1" in capsys.readouterr().out
    assert first.id not in members and second.id not in members
    assert third.tags
    assert main(["--config", str(conf), "forget", third.email]) == 0  # the default: only segmail's tags go
    assert third.id in members and not third.tags
