"""The `segmail` command line end to end on a generated shop: import, compute, export, explain, preview."""

from __future__ import annotations

import csv
import io
import re
import shlex

import pytest

from segmail.jobs.cli import main
from segmail.sandbox.shopgen import generate_shop
from tests.conftest import T

AS_OF = T.isoformat().replace("+00:00", "Z")


@pytest.fixture
def shop_files(tmp_path_factory):
    return generate_shop(tmp_path_factory.mktemp("shop"), contacts=600, seed=3, as_of=T, messy_rows=True)


@pytest.fixture
def env(monkeypatch, store_url, tmp_path):
    monkeypatch.setenv("SEGMAIL_STORE_URL", store_url)
    monkeypatch.delenv("SEGMAIL_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)


def run(capsys, *argv):
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_import_compute_export_explain_preview(env, shop_files, capsys, tmp_path):
    code, out, err = run(capsys, "import", "contacts", str(shop_files.contacts), "--problems-csv", "p.csv")
    assert code == 0
    assert "contacts: 605 rows read, 600 written, 5 skipped" in out.replace("\n", " ")
    assert "error: email is not a valid address" in err
    with open(tmp_path / "p.csv") as f:
        assert len(list(csv.DictReader(f))) == 5
    for kind, path in (("orders", shop_files.orders), ("events", shop_files.events)):
        assert run(capsys, "import", kind, str(path))[0] == 0

    code, out, _ = run(capsys, "segments", "compute", "--as-of", AS_OF)
    assert code == 0
    assert "segmail:vip" in out and "welcome" in out

    code, out, err = run(capsys, "segments", "export", "--format", "csv")
    rows = list(csv.reader(io.StringIO(out)))
    assert code == 0 and rows[0] == ["email", "segment"] and len(rows) > 10
    assert f"{len(rows) - 1} membership row(s) exported" in err
    assert all(r[0] == r[0].strip().lower() for r in rows[1:])
    # evaluating at the same T gives the same rows, and writes nothing
    code, out_again, _ = run(capsys, "segments", "export", "--as-of", AS_OF)
    assert sorted(out_again.splitlines()) == sorted(out.splitlines())

    member = rows[1][0]
    code, out, _ = run(capsys, "segments", "explain", member.upper(), "--as-of", AS_OF)
    assert code == 0 and member in out and "days_since_last_order" in out and "every clause holds" in out

    code, out, err = run(capsys, "segments", "preview", "--as-of", AS_OF)
    assert code == 0 and "would change:" in err and "+0/-0" in err and out.strip() == ""

    later = "2027-03-01T00:00:00Z"
    code, out, err = run(capsys, "segments", "preview", "--as-of", later, "--format", "csv")
    changes = list(csv.DictReader(io.StringIO(out)))
    assert changes and {c["action"] for c in changes} <= {"enter", "leave"}
    leaving_welcome = [c for c in changes if c["segment"] == "welcome" and c["action"] == "leave"]
    assert leaving_welcome and all(
        c["reason"].startswith("no longer: days_since_opt_in <= window_days") for c in leaving_welcome
    )
    # preview wrote nothing: exporting the stored run is unchanged
    assert run(capsys, "segments", "export")[1].splitlines() == rows_to_lines(rows)


def rows_to_lines(rows):
    return [",".join(r) for r in rows]


def test_explain_unknown_and_invalid_email(env, capsys):
    code, out, _ = run(capsys, "segments", "explain", "nobody@example.com", "--as-of", AS_OF)
    assert code == 1 and "no such contact" in out
    code, _, err = run(capsys, "segments", "explain", "nobody", "--as-of", AS_OF)
    assert code == 2 and "email is not a valid address" in err


def test_bad_as_of_and_missing_file_are_usage_errors(env, capsys, tmp_path):
    code, _, err = run(capsys, "segments", "compute", "--as-of", "2026-06-15T12:00:00")
    assert code == 2 and "has no UTC offset" in err
    code, _, err = run(capsys, "import", "orders", str(tmp_path / "none.csv"))
    assert code == 2 and "cannot read" in err


def test_export_before_any_compute_says_what_to_do(env, capsys):
    code, _, err = run(capsys, "segments", "export")
    assert code == 2 and "nothing computed yet" in err


def test_rules_check_reports_every_problem(env, capsys, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[segments.vip]\ntop_percent = 140\n[segments.x]\nrule = "orders_count >> 1"\n')
    code, _, err = run(capsys, "--config", str(bad), "rules", "check")
    assert code == 2
    assert "segments.vip.top_percent" in err and "segments.x.rule: column" in err
    code, out, _ = run(capsys, "rules", "check")
    assert code == 0 and "all valid" in out


@pytest.mark.slow  # sandboxes, a generated shop and a whole service cycle
def test_demo_runs_on_embedded_defaults(capsys, tmp_path, monkeypatch):
    monkeypatch.delenv("SEGMAIL_STORE_URL", raising=False)
    monkeypatch.chdir(tmp_path)  # a relative --dir, as the Quickstart's default "segmail-demo" is
    code, out, _ = run(capsys, "demo", "--contacts", "300", "--dir", "d", "--as-of", AS_OF)
    assert code == 0, out
    flat = " ".join(out.split())
    assert "cycle run 1: ok" in flat
    for step in ("shop pull", "pull members", "pull engagement", "compute", "push tags", "plan sends"):
        assert step in flat
    assert "next scheduled sends" in flat and "vip_early" in flat
    assert "what the Mailchimp sandbox now holds" in flat and "segmail:repeat_buyer" in flat
    assert (tmp_path / "d" / "segmail-demo.db").exists()
    config = tmp_path / "d" / "segmail-demo.toml"
    assert (
        f"the config this demo used: {config} (store.url = sqlite:///{tmp_path / 'd' / 'segmail-demo.db'})"
        in out
    )
    commands = [line.strip() for line in out.splitlines() if line.startswith("  segmail ")]
    assert len(commands) == 4 and all(c.startswith(f"segmail --config {config} ") for c in commands)
    explain = next(c for c in commands if " segments explain " in c)
    for command in commands:  # every printed command works as printed, on the store the demo left
        code, shown, errors = run(capsys, *shlex.split(command)[1:])
        assert code == 0, (command, shown, errors)
        if command == explain:
            assert "status subscribed" in shown and re.search(r"│ vip\s+│ yes\s+│ every clause holds", shown)
    # human output shows counts as key=value, never a Python dict or repr
    code, status, _ = run(capsys, "--config", str(config), "status")  # 1: no service is running
    flat_status = " ".join(status.split())
    assert code == 1 and "steps of the last cycle" in flat_status and "push tags" in flat_status
    for shown in (flat, flat_status):
        assert not re.search(r"\{'|Decimal\(|datetime\.|Variant\(", shown), shown
    assert "campaigns in the sandbox: schedule=" in flat or "campaigns in the sandbox: sent=" in flat
    assert re.search(r"\badded=\d+,", flat_status) and re.search(r"\bentered=\d+,", flat_status)
    # the same run again gives the same figures: every clock stood at --as-of
    code, again, _ = run(capsys, "demo", "--contacts", "300", "--dir", "d", "--as-of", AS_OF)

    def figures(
        text: str,
    ) -> str:  # segments, tags, planned sends and the sandbox's view; no ports or timings
        flat = " ".join(text.split())
        return flat[flat.index("segments and the tags") : flat.index("campaigns in the sandbox")]

    assert code == 0 and figures(again) == figures(out)
