"""`segmail render`: refuses what a send refuses, warns on missing translations, fills merge tags for one contact.

Merge tag syntax per Mailchimp: https://mailchimp.com/help/all-the-merge-tags-cheat-sheet/ (tags),
https://mailchimp.com/developer/marketing/docs/merge-fields/ (FNAME, LNAME, ADDRESS, PHONE are the
default audience fields) and the conditional blocks of
https://mandrill.zendesk.com/hc/en-us/articles/360039278713-About-Dynamic-and-Conditional-Merge-Tags
(`*|IF:TAG|*` holds when the recipient has a value; IFNOT, ELSEIF, ELSE, `=` and `!=`, nesting).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from segmail.jobs.cli import main
from segmail.sending.merge_tags import MergeTagError, fill
from segmail.sending.render import Variant
from tests.test_send import VIP
from tests.test_send_cli import write_toml

SHIPPED = Path(__file__).resolve().parents[1] / "templates"
GREETING = "*|IF:FNAME|*Hello *|FNAME|*,*|ELSE:|*Hello,*|END:IF|*"
JANE = {"FNAME": "Jane", "LNAME": "O'Neil & Co", "EMAIL": "jane@x.io"}


# --- merge tags ----------------------------------------------------------------------------------


def test_fill_replaces_known_tags_and_keeps_the_others_for_mailchimp():
    filled = fill(f'<p>{GREETING} *|LNAME|*</p><a href="*|UNSUB|*">*|EMAIL|*</a>', JANE, escape=True)
    assert filled.text == '<p>Hello Jane, O&#x27;Neil &amp; Co</p><a href="*|UNSUB|*">jane@x.io</a>'
    assert filled.left == ("*|UNSUB|*",)
    assert fill("Hi *|fname|* *|LNAME|*", JANE, escape=False).text == "Hi Jane O'Neil & Co"  # text part


def test_conditions_follow_mailchimps_rules():
    no_name = {"FNAME": "", "LNAME": "", "EMAIL": "x@y.z"}
    assert fill(GREETING, no_name, escape=False).text == "Hello,"  # IF: holds only with a value
    assert fill("*|IFNOT:FNAME|*anonymous*|END:IF|*", no_name, escape=False).text == "anonymous"
    chain = "*|IF:FNAME=Tom|*T*|ELSEIF:FNAME=Jane|*J*|ELSE:|*?*|END:IF|*"
    assert fill(chain, JANE, escape=False).text == "J"
    assert fill(chain, no_name, escape=False).text == "?"
    assert fill("*|IF:FNAME!=Jane|*x*|ELSE:|*y*|END:IF|*", JANE, escape=False).text == "y"
    nested = "*|IF:FNAME|*[*|IF:LNAME|*full*|ELSE:|*first only*|END:IF|*]*|END:IF|*"
    assert fill(nested, JANE, escape=False).text == "[full]"
    assert fill(nested, {**JANE, "LNAME": ""}, escape=False).text == "[first only]"


def test_a_condition_on_an_unknown_field_is_kept_whole():
    block = "*|IF:ADDRESS|*ship to *|ADDRESS|* *|FNAME|**|ELSE:|*no address*|END:IF|*"
    filled = fill(block, JANE, escape=False)
    assert filled.text == "*|IF:ADDRESS|*ship to *|ADDRESS|* Jane*|ELSE:|*no address*|END:IF|*"
    assert filled.left == ("*|IF:ADDRESS|*", "*|ADDRESS|*")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("*|IF:FNAME|*x", r"\*\|IF:FNAME\|\* is never closed"),
        ("x*|END:IF|*", r"\*\|END:IF\|\* without an open"),
        ("*|ELSE:|*", r"\*\|ELSE:\|\* without an open"),
        ("*|IF:FNAME|*a*|ELSE:|*b*|ELSEIF:LNAME|*c*|END:IF|*", r"ELSEIF:LNAME\|\* without an open"),
    ],
)
def test_blocks_that_do_not_nest_are_refused(text, message):
    with pytest.raises(MergeTagError, match=message):
        fill(text, JANE, escape=False)


def test_a_variant_prints_as_key_value_pairs():
    assert str(Variant(segment="vip", language="de", country="AU", season="winter")) == (
        "segment=vip language=de country=AU season=winter"
    )
    assert str(Variant(segment="", language="de", country="", season="")) == "language=de"


# --- the command ---------------------------------------------------------------------------------


@pytest.fixture
def folder(tmp_path):
    target = tmp_path / "templates"
    shutil.copytree(SHIPPED, target)
    (target / "no_footer.html").write_text("<p>{{ shop.name }}</p>\n", encoding="utf-8")
    (target / "fresh.html").write_text(
        '{% extends "base.html" %}{% block body %}\n<p>{% trans %}A brand new text{% endtrans %}</p>'
        "{% endblock %}\n",
        encoding="utf-8",
    )
    return target


@pytest.fixture
def toml(tmp_path, folder):
    campaigns = {name: {**VIP, "template": f"{name}.html"} for name in ("no_footer", "fresh")}
    campaigns["vip_early"] = VIP
    return write_toml(tmp_path / "c.toml", f"sqlite:///{tmp_path / 's.db'}", "https://us6.api.mailchimp.com/3.0",
                      campaigns, templates_dir=folder)  # fmt: skip


def render(capsys, toml, tmp_path, *args):
    out = tmp_path / "m.html"
    out.unlink(missing_ok=True)
    code = main(
        ["--config", str(toml), "render", "--as-of", "2026-11-30T06:00:00Z", "--out", str(out), *args]
    )
    err = capsys.readouterr().err
    return code, err, out.read_text(encoding="utf-8") if out.exists() else None


def test_render_refuses_a_mail_without_unsubscribe_link_or_address(toml, tmp_path, capsys):
    code, err, html = render(capsys, toml, tmp_path, "--campaign", "no_footer")
    assert code == 1 and html is None
    lines = err.splitlines()
    assert (
        lines[0]
        == "error: templates/no_footer.html: no unsubscribe link: the mail must contain *|UNSUB|* (CAN-SPAM, GDPR)"
    )
    assert (
        lines[1]
        == "error: templates/no_footer.html: no postal address: the mail must show {{ shop.address }} (CAN-SPAM)"
    )
    assert lines[2] == "not written: a send would refuse this mail (2 problem(s))" and len(lines) == 3


def test_render_warns_about_a_missing_translation_and_prints_the_variant(toml, tmp_path, capsys):
    code, err, html = render(capsys, toml, tmp_path, "--campaign", "fresh", "--language", "de")
    assert code == 0 and "A brand new text" in html  # the English text stands in
    assert "warning: templates/fresh.html:2: missing 'de' translation of 'A brand new text'" in err
    assert "'uz'" not in err  # only the language rendered
    code, err, _ = render(
        capsys, toml, tmp_path, "--campaign", "vip_early", "--language", "de", "--country", "AU"
    )
    assert code == 0 and "warning" not in err
    # vip_early_access.html splits by language and country only: the other dimensions are not shown
    assert "variant: language=de country=AU — wrote" in err and "Variant(" not in err
    code, err, html = render(capsys, toml, tmp_path, "--campaign", "vip_early", "--segment", "vipp")
    assert code == 2 and html is None
    assert err.strip() == f"error: --segment 'vipp': no such segment in {toml} (did you mean 'vip'?)"


def test_render_fills_merge_tags_as_a_stored_contact_sees_them(toml, tmp_path, capsys):
    contacts = tmp_path / "contacts.csv"
    contacts.write_text(
        "email,status,opted_in_at,timezone,country,language,first_name,last_name\n"
        "Jane@X.io,subscribed,2025-01-01T00:00:00Z,Europe/Berlin,DE,de-DE,Jane,Doe\n",
        encoding="utf-8",
    )
    assert main(["--config", str(toml), "import", "contacts", str(contacts)]) == 0
    capsys.readouterr()
    code, err, html = render(capsys, toml, tmp_path, "--campaign", "vip_early")
    assert code == 0 and "*|IF:FNAME|*" in html and "*|FNAME|*" in html  # campaigns keep the tags
    code, err, html = render(capsys, toml, tmp_path, "--campaign", "vip_early", "--contact", "jane@x.io")
    assert code == 0, err
    assert "Hallo Jane," in html and "*|FNAME|*" not in html and "*|IF:" not in html
    assert 'href="*|UNSUB|*"' in html  # Mailchimp's per-recipient links stay
    assert "variant: language=de country=DE" in err  # the contact's language and country
    assert (
        "merge tags filled for Jane@X.io; left for Mailchimp: *|ARCHIVE|*, *|UNSUB|*, *|UPDATE_PROFILE|*"
        in err
    )
    code, err, html = render(capsys, toml, tmp_path, "--campaign", "vip_early", "--contact", "nobody@x.io")
    assert code == 2 and html is None
    assert err.strip() == (
        "error: --contact 'nobody@x.io': no such contact in the store; import contacts or run `segmail sync` first"
    )
