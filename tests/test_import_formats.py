"""`segmail import` on the files people really have, end to end through the CLI into the store.

The sample files in tests/data/ are shaped like the vendors' exports (see each connector module's
docstring for the sources): a Mailchimp audience export zip and its CSVs (with a nonsubscribed
file and an old-style `members_export` name), a Shopify orders export with multi-line orders and
every financial status, a WooCommerce order export (WebToffee), a semicolon-separated Windows-1252
file with decimal commas, and a tab-separated file.
"""

from __future__ import annotations

import shutil
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from segmail.connector.shop_status import canonical, status_map
from segmail.jobs.cli import main
from segmail.jobs.importer import import_csv
from segmail.store.codec import to_us
from segmail.store.db import open_store
from segmail.store.schema import contacts, orders

DATA = Path(__file__).parent / "data"
NOW = datetime(2026, 6, 15, tzinfo=UTC)
MC = DATA / "mailchimp_export"
ZIP = DATA / "mailchimp_audience_export.zip"
SHOPIFY = DATA / "shopify_orders_export.csv"
WOO = DATA / "woocommerce_order_export.csv"


@pytest.fixture
def env(monkeypatch, store_url, tmp_path):
    monkeypatch.setenv("SEGMAIL_STORE_URL", store_url)
    monkeypatch.delenv("SEGMAIL_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    return store_url


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out.replace("\n", " "), captured.err


def stored(url, table, key):
    s = open_store(url)
    try:
        with s.engine.connect() as conn:
            return {getattr(r, key): r for r in conn.execute(select(table))}
    finally:
        s.dispose()


def us(text):
    return to_us(datetime.fromisoformat(text).astimezone(UTC))


def with_config(tmp_path, text):
    path = tmp_path / "segmail.toml"
    path.write_text(text)
    return ("--config", path)


# ---- Mailchimp -------------------------------------------------------------------------------------


def test_the_zip_holds_exactly_the_sample_csvs():
    with zipfile.ZipFile(ZIP) as archive:
        members = {i.filename: archive.read(i) for i in archive.infolist()}
    assert members == {p.name: p.read_bytes() for p in MC.glob("*_email_audience_export_*.csv")}


def test_mailchimp_export_zip(env, capsys):
    code, out, err = run(capsys, "import", "contacts", ZIP)
    assert code == 0
    for status, prefix in [
        ("subscribed", "subscribed"),
        ("unsubscribed", "unsubscribed"),
        ("cleaned", "cleaned"),
        ("transactional", "nonsubscribed"),
    ]:
        assert (
            f"{ZIP}:{prefix}_email_audience_export_a1b2c3d4e5.csv: Mailchimp audience export "
            f"(--format mailchimp, detected from the header); status {status} (from the file name)"
        ) in out
    assert "contacts: 8 rows read, 7 written, 1 skipped, 1 warning(s)" in out
    assert (
        f"{ZIP}:subscribed_email_audience_export_a1b2c3d4e5.csv:5: error: email is not a valid address" in err
    )
    assert "csv:6: warning: timezone 'Paris/Nowhere' is not an IANA time zone" in err
    got = stored(env, contacts, "email_key")
    assert {k: r.status for k, r in got.items()} == {
        "anna.schmidt@example.de": "subscribed",
        "john.miller@example.com": "subscribed",
        "li.wei@example.cn": "subscribed",
        "marie.dupont@example.fr": "subscribed",
        "peter.jones@example.co.uk": "unsubscribed",
        "bounced.user@example.net": "cleaned",
        "guest.buyer@example.com": "transactional",
    }
    john = got["john.miller@example.com"]
    # no CONFIRM_TIME: the opt-in time; naive Mailchimp times are UTC
    assert john.email == "John.Miller@Example.com" and john.opted_in_at == us("2024-03-05T14:22:10+00:00")
    # TIMEZONE and CC are Mailchimp's guesses: stored as its view, apart from the contact's own
    assert (john.mc_timezone, john.mc_country, john.timezone, john.country) == (
        "America/New_York",
        "US",
        None,
        None,
    )
    anna = got["anna.schmidt@example.de"]
    assert anna.opted_in_at == us("2023-11-02T08:15:40+00:00") and anna.source == "mailchimp"
    assert got["marie.dupont@example.fr"].mc_timezone is None  # the bad zone dropped, the row kept


def test_mailchimp_single_csvs_and_the_old_style_name(env, capsys):
    code, out, _ = run(
        capsys, "import", "contacts", MC / "nonsubscribed_email_audience_export_a1b2c3d4e5.csv"
    )
    assert code == 0 and "status transactional (from the file name)" in out
    code, out, _ = run(capsys, "import", "contacts", MC / "subscribed_members_export_15d17415eb.csv")
    assert code == 0 and "status subscribed (from the file name)" in out
    assert "contacts: 2 rows read, 2 written, 0 skipped" in out
    got = stored(env, contacts, "email_key")
    assert got["guest.buyer@example.com"].status == "transactional"
    assert got["b.mwangi@example.edu"].mc_timezone == "Africa/Nairobi"
    assert got["m.white@example.edu"].opted_in_at == us("2016-04-18T13:51:14+00:00")


def test_a_renamed_mailchimp_file_takes_its_status_from_a_column_or_is_refused(env, capsys, tmp_path):
    renamed = tmp_path / "audience.csv"
    shutil.copy(MC / "unsubscribed_email_audience_export_a1b2c3d4e5.csv", renamed)
    code, out, _ = run(capsys, "import", "contacts", renamed)
    assert code == 0 and "status unsubscribed (from its UNSUB_TIME column)" in out
    anonymous = tmp_path / "members.csv"
    shutil.copy(MC / "subscribed_email_audience_export_a1b2c3d4e5.csv", anonymous)
    code, out, err = run(capsys, "import", "contacts", anonymous)
    assert code == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert "its status cannot be told" in err and "subscribed_" in err


def test_an_import_leaves_columns_the_file_does_not_have(env, capsys, tmp_path):
    plain = tmp_path / "c.csv"
    plain.write_text(
        "email,status,opted_in_at,language\nanna.schmidt@example.de,subscribed,2020-01-01T00:00:00Z,de\n"
    )
    assert run(capsys, "import", "contacts", plain)[0] == 0
    assert run(capsys, "import", "contacts", ZIP)[0] == 0  # the export has no language column
    assert run(capsys, "import", "contacts", DATA / "contacts_tab.tsv")[0] == 0  # no opted_in_at column
    anna = stored(env, contacts, "email_key")["anna.schmidt@example.de"]
    assert anna.language == "de" and anna.opted_in_at == us("2023-11-02T08:15:40+00:00")
    assert anna.timezone == "Europe/Berlin" and anna.mc_timezone == "Europe/Berlin"


# ---- Shopify ---------------------------------------------------------------------------------------


def test_shopify_orders_export(env, capsys):
    code, out, err = run(capsys, "import", "orders", SHOPIFY)
    assert code == 0
    assert "Shopify orders export (--format shopify, detected from the header)" in out
    assert "orders: 12 rows read, 10 written, 2 skipped, 0 warning(s)" in out
    assert f"{SHOPIFY}:17: error: order #1010: email is empty" in err
    assert f"{SHOPIFY}:18: error: order #1011: Financial Status 'chargeback_pending' is not mapped" in err
    got = stored(env, orders, "order_id")
    assert {r.source for r in got.values()} == {"shopify"}  # the key a `shop pull` writes too
    # one order per order, however many line items; keyed by Id (the API's numeric id)
    first = got["5604339630284"]
    assert (first.email_key, first.total_e4, first.currency) == ("anna.schmidt@example.de", 1_848_000, "EUR")
    assert first.created_at == us("2025-01-10T09:15:02+01:00") and first.country == "DE"
    assert len(got) == 10
    # every financial status through the API connector's own table; Cancelled at wins
    table = status_map("shopify", {})
    expected = {
        "5604339630284": "paid",
        "5604339630285": "pending",
        "5604339630286": "authorized",
        "5604339630287": "partially_paid",
        "5604339630288": "partially_refunded",
        "5604339630289": "refunded",
        "5604339630290": "voided",
        "5604339630291": "expired",
        "5604339630292": "paid",
    }
    assert {k: got[k].status for k in expected} == {k: canonical(v, table) for k, v in expected.items()}
    assert got["5604339630295"].status == "cancelled"  # refunded, then cancelled
    assert (got["5604339630288"].refunded_e4, got["5604339630285"].province) == (250_000, "NY")
    # a re-import changes nothing
    assert run(capsys, "import", "orders", SHOPIFY)[0] == 0
    assert stored(env, orders, "order_id") == got


def test_shopify_status_overrides_and_the_shop_currency(env, capsys, tmp_path):
    config = with_config(
        tmp_path, '[shop]\ncurrency = "eur"\n[shop.statuses]\nchargeback_pending = "pending"\n'
    )
    code, out, err = run(capsys, *config, "import", "orders", SHOPIFY)
    assert code == 0 and "orders: 12 rows read, 11 written, 1 skipped, 1 warning(s)" in out
    assert (
        f"{SHOPIFY}:15: warning: order 5604339630292 is in USD, not the shop's EUR (shop.currency), and the "
        "file gives no EUR amount: kept, but left out of total_spent"
    ) in err
    assert "orders by currency: EUR 10, USD 1; the shop reports in EUR: 1 order(s) in other currencies" in out
    assert stored(env, orders, "order_id")["5604339630294"].status == "pending"


# ---- WooCommerce -----------------------------------------------------------------------------------


def test_woocommerce_needs_the_site_time_zone(env, capsys):
    code, _, err = run(capsys, "import", "orders", WOO)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert "order_date is the WordPress site's local time without a UTC offset; pass --timezone" in err


def test_woocommerce_order_export(env, capsys):
    code, out, err = run(capsys, "import", "orders", WOO, "--timezone", "Europe/Berlin")
    assert code == 0 and "WooCommerce orders export" in out and "times read in Europe/Berlin" in out
    assert "orders: 9 rows read, 7 written, 2 skipped, 1 warning(s)" in out
    assert f"{WOO}:8: warning: billing_country: country 'Germany' is not an ISO 3166 alpha-2 code" in err
    assert f"{WOO}:9: error: order 2208: order_date '9/6/2025 6:29:00' is not an ISO 8601 date-time" in err
    assert f"{WOO}:10: error: order 2209: status 'lost-in-space' is unknown" in err
    got = stored(env, orders, "order_id")
    table = status_map("woocommerce", {})
    assert {k: r.status for k, r in got.items()} == {
        "2201": canonical("completed", table),
        "2202": canonical("processing", table),
        "2203": canonical("on-hold", table),
        "2204": canonical("refunded", table),
        "2205": canonical("completed", table),
        "2206": canonical("cancelled", table),
        "2207": canonical("failed", table),
    }
    assert got["2201"].created_at == us("2025-01-10T10:15:02+01:00")  # site-local → UTC
    # 02:30 on 2025-03-30 does not exist in Berlin (clocks jump 02:00 → 03:00): read with the offset before
    assert got["2202"].created_at == us("2025-03-30T02:30:00+01:00")
    assert got["2203"].email_key == "marie.dupont@example.fr"  # no billing_email: customer_email
    assert (got["2204"].refunded_e4, got["2205"].refunded_e4) == (1_548_000, 1_500_000)  # refund_items summed
    assert (got["2201"].country, got["2201"].province, got["2207"].country) == ("DE", "BE", None)
    assert {r.source for r in got.values()} == {"woocommerce"}


# ---- delimiters, encodings, amounts ----------------------------------------------------------------


def test_semicolon_windows_1252_file_with_decimal_commas(env, capsys):
    path = DATA / "orders_semicolon_de.csv"
    code, out, err = run(capsys, "import", "orders", path, "--source", "excel")
    assert code == 0
    assert (
        "segmail orders (--format segmail, detected from the header); semicolon-separated; not UTF-8" in out
    )
    assert f"{path}:5: error: total '1.250' is ambiguous: '.' may separate thousands or decimals" in err
    got = stored(env, orders, "order_id")
    assert {k: (r.total_e4, r.refunded_e4) for k, r in got.items()} == {
        "A-1": (12_500_000, 0),  # 1.250,00
        "A-2": (599_000, 99_000),  # 59,90 and 9,90
        "A-3": (123_455_000, 0),  # 12.345,5
        "A-5": (12_500_000, 0),  # 1,250.00
    }
    assert got["A-1"].categories == "|zelte|gürtel|" and got["A-1"].source == "excel"


def test_tab_separated_contacts_without_opted_in_at(env, capsys):
    path = DATA / "contacts_tab.tsv"
    code, out, err = run(capsys, "import", "contacts", path)
    assert code == 0 and "tab-separated" in out and "contacts: 3 rows read, 2 written, 1 skipped" in out
    assert f"{path}:4: error: email is not a valid address" in err
    got = stored(env, contacts, "email_key")
    kenji = got["kenji.sato@example.jp"]
    assert (kenji.last_name, kenji.timezone, kenji.opted_in_at, kenji.language) == (
        "Sato, Jr.",
        "Asia/Tokyo",
        None,
        "ja",
    )


def test_utf16_excel_unicode_text_is_read(env, capsys, tmp_path):
    path = tmp_path / "excel.txt"
    path.write_bytes("email\tstatus\tlast_name\nzoe@example.com\tsubscribed\tBrontë\n".encode("utf-16"))
    code, out, _ = run(capsys, "import", "contacts", path)
    assert code == 0 and "tab-separated" in out
    assert stored(env, contacts, "email_key")["zoe@example.com"].last_name == "Brontë"


def test_the_child_process_reads_exports_exactly_as_the_in_process_reader(tmp_path):
    results = []
    for parallel in (False, True):
        url = f"sqlite:///{tmp_path / f'p{parallel}.db'}"
        s = open_store(url)
        summaries = [
            import_csv(s, ZIP, "contacts", now=NOW, parallel=parallel),
            import_csv(
                s, WOO, "orders", now=NOW, timezone="Europe/Berlin", shop_currency="EUR", parallel=parallel
            ),
        ]
        s.dispose()
        rows = (stored(url, contacts, "email_key"), stored(url, orders, "order_id"))
        results.append(([(x.rows_read, x.written, [str(p) for p in x.problems]) for x in summaries], rows))
    assert results[0] == results[1]


# ---- every bad input: one line, no traceback -------------------------------------------------------


def test_no_accepted_row_exits_non_zero_and_says_how_many_were_skipped(env, capsys, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("email,status\nnot-an-email,subscribed\nalso bad,subscribed\n")
    code, out, err = run(capsys, "import", "contacts", bad)
    assert code == 1 and "contacts: 2 rows read, 0 written, 2 skipped" in out
    assert f"error: no row of {bad} was accepted (2 skipped); nothing was imported" in err
    header_only = tmp_path / "empty_rows.csv"
    header_only.write_text("email,status\n")
    code, out, err = run(capsys, "import", "contacts", header_only)
    assert code == 1 and "0 rows read, 0 written, 0 skipped" in out and "(0 skipped)" in err


@pytest.mark.parametrize(
    ("name", "content", "argv", "message"),
    [
        ("broken.zip", b"PK\x03\x04 not really a zip", [], "not a readable zip archive"),
        ("notes.zip", None, [], "the zip archive holds no .csv file (it holds notes.txt)"),
        (
            "unknown.csv",
            b"foo,bar\n1,2\n",
            [],
            "unknown.csv:1: missing required column(s) email, status for segmail contacts (--format segmail); "
            "the header has bar, foo; other formats tried: Mailchimp audience export (--format mailchimp) "
            "needs Email Address, MEMBER_RATING, LAST_CHANGED",
        ),
        (
            "shopify.csv",
            SHOPIFY.read_bytes(),
            ["--format", "segmail"],
            "missing required column(s) order_id, created_at, status for segmail orders",
        ),
        (
            "contacts.csv",
            b"email,status\n",
            ["--format", "shopify"],
            "--format shopify is not a format for contacts",
        ),
        (
            "c.csv",
            b"email,status\na@example.com,subscribed\n",
            ["--timezone", "Mars/Base"],
            "is not an IANA time zone",
        ),
        ("absent.csv", None, [], "cannot read"),
        ("orders.xlsx", b"PK\x03\x04", [], "orders.xlsx: a spreadsheet, not CSV; save it as CSV"),
        ("empty.csv", b"", [], "empty.csv: the file is empty; expected a header row"),
    ],
)
def test_bad_inputs_are_one_line_without_a_traceback(env, capsys, tmp_path, name, content, argv, message):
    path = tmp_path / name
    if name == "notes.zip":
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("notes.txt", "hello")
    elif content is not None:
        path.write_bytes(content)
    kind = "orders" if name == "shopify.csv" else "contacts"
    code, _, err = run(capsys, "import", kind, path, *argv)
    assert code == 2 and "Traceback" not in err
    (line,) = err.strip().splitlines()
    assert line.startswith("error: ") and message in line


def test_a_file_for_another_kind_is_named(env, capsys):
    code, _, err = run(capsys, "import", "orders", ZIP)
    assert code == 2
    assert "did you mean `segmail import contacts`?" in err and "tried:" in err
    assert "Shopify orders export (--format shopify) needs Name, Email, Financial Status" in err
