"""The workspace's Reports page over HTTP (uvicorn in a thread, port 0), on a `segmail demo` store and on a
small store with a holdout and A/B campaign: the tables, the charts, the CSV downloads (byte for byte
what `segmail report … --format csv` writes for the same period), bad dates, an empty period, escaping."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest
from rich.console import Console

from segmail.connector.records import Event
from segmail.jobs import report
from segmail.jobs.cli import main
from segmail.jobs.config import load_config
from segmail.jobs.demo import run_demo
from segmail.reports.periods import period
from segmail.store import ledger
from segmail.store.campaign_results import save_campaign
from segmail.store.codec import to_us
from segmail.store.db import open_store
from segmail.store.ledger import Entry, NewBucket, SlotWrite
from tests.shop import Shop
from tests.ui_harness import Client, served

# the demo's frozen clock: its newsletter went out 20 days before
AS_OF = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
DEFAULT = ("2026-10-22", "2026-11-21")  # the 30 days up to and including AS_OF's day, `until` exclusive
XSS = "<script>alert(1)</script>"
KINDS = ("campaigns", "segments", "movements")


@pytest.fixture(autouse=True)
def _own_config(monkeypatch):
    monkeypatch.delenv("SEGMAIL_STORE_URL", raising=False)
    monkeypatch.delenv("SEGMAIL_CONFIG", raising=False)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("demo")
    code = run_demo(
        contacts=400, seed=7, workdir=workdir, as_of=AS_OF, console=Console(file=io.StringIO()), frozen=True
    )
    assert code == 0
    path = workdir / "segmail-demo.toml"
    store = open_store(load_config(path, env={}).store_url())
    yield path, store
    store.dispose()


@pytest.fixture
def demo_client(demo):
    path, store = demo
    with served(path, store, now=AS_OF) as server:
        yield Client(server.url)


def cli_csv(capsys, path, kind: str, since: str, until: str) -> str:
    capsys.readouterr()
    code = main(
        ["--config", str(path), "report", kind, "--since", since, "--until", until, "--format", "csv"]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return captured.out


def test_the_page_shows_the_demos_campaign_segments_movements_and_charts(demo, demo_client):
    path, store = demo
    config = load_config(path, env={})
    p = period(None, None, today=AS_OF.date())
    campaigns = report.campaign_report(store, config, p)
    segments = report.segment_report(store, config, p)
    (newsletter,) = campaigns.rows  # the demo's one newsletter, sent in the default period
    answer = demo_client.get("/reports")
    assert answer.status == 200
    page = answer.text
    assert 'href="/reports" aria-current="page"' in page
    assert f'name="since" type="date" value="{DEFAULT[0]}"' in page
    assert f'name="until" type="date" value="{DEFAULT[1]}"' in page
    assert f"<strong>{newsletter.campaign_id}</strong>" in page and newsletter.title in page
    assert f">{newsletter.recipients:,}<" in page and f">{newsletter.opens:,}<" in page
    assert f"{100 * newsletter.opens / newsletter.recipients:.1f} %" in page  # its open rate
    assert f">{newsletter.attributed_revenue:,.2f}<" in page
    assert "No campaign was sent" not in page
    for row in segments.rows:
        assert f'<a href="/segments#seg-{row.segment}">{row.segment}</a>' in page
        assert f">{row.revenue:,.2f}<" in page and f">{row.members_end:,}<" in page
    assert "What the three revenues mean" in page and "revenue_while_member" in page
    assert segments.movements and all(f"→ {b}" in page for _, b in segments.movements)
    assert "<polyline" in page  # the sizes over time
    assert page.count('<figure class="chart">') == 2  # and the revenue per segment
    for kind in KINDS:
        assert f'href="/reports/{kind}.csv?since={DEFAULT[0]}&amp;until={DEFAULT[1]}"' in page


def test_each_download_is_the_clis_csv_for_the_same_period(demo, demo_client, capsys):
    path, _ = demo
    for since, until in (DEFAULT, ("2026-10-30", "2026-11-01")):
        for kind in KINDS:
            answer = demo_client.get(f"/reports/{kind}.csv?since={since}&until={until}")
            assert answer.status == 200
            assert answer.headers["content-type"] == "text/csv; charset=utf-8"
            disposition = f'attachment; filename="segmail-{kind}-{since}-to-{until}.csv"'
            assert answer.headers["content-disposition"] == disposition
            assert answer.text == cli_csv(capsys, path, kind, since, until), (kind, since)
    # without dates: the page's default period, as the page links it
    assert demo_client.get("/reports/campaigns.csv").text == cli_csv(capsys, path, "campaigns", *DEFAULT)


@pytest.mark.parametrize(
    ("query", "problem"),
    [
        ("since=2026-13-01", "since &#39;2026-13-01&#39; is not a date such as 2026-11-01 (YYYY-MM-DD, UTC)"),
        ("until=yesterday", "until &#39;yesterday&#39; is not a date such as 2026-11-01"),
        ("since=2026-11-10&until=2026-11-01", "until (2026-11-01) must be after since (2026-11-10)"),
        ("since=2026-11-10&until=2026-11-10", "until (2026-11-10) must be after since (2026-11-10)"),
    ],
)
def test_a_bad_date_is_a_message_on_the_page(demo_client, query, problem):
    answer = demo_client.get(f"/reports?{query}")
    assert answer.status == 400
    assert "That is not a period:" in answer.text and problem in answer.text
    assert "Traceback" not in answer.text and "<h2>Campaigns" not in answer.text
    assert "<h1>Reports</h1>" in answer.text and 'name="since"' in answer.text  # the form, to fix it
    download = demo_client.get(f"/reports/segments.csv?{query}")
    assert download.status == 400 and download.headers["content-type"].startswith("text/plain")
    assert demo_client.get("/reports/contacts.csv").status == 404


def test_a_period_without_campaigns_or_computes_says_so(demo, demo_client, capsys):
    answer = demo_client.get("/reports?since=2026-01-01&until=2026-02-01")
    assert answer.status == 200
    assert "No campaign was sent from 2026-01-01 to 2026-02-01 (exclusive)" in answer.text
    assert "Nobody moved between segments in the period." in answer.text
    assert "No compute before the end of the period" in answer.text
    # before any compute there is no segment to move between: the CLI too answers with an empty table
    assert cli_csv(capsys, demo[0], "movements", "2026-01-01", "2026-02-01") == "from,to,members\n"


def test_read_only_serves_the_reports(demo):
    path, store = demo
    with served(path, store, now=AS_OF, read_only=True) as server:
        c = Client(server.url)
        assert c.get("/reports").status == 200
        assert c.get("/reports/movements.csv").status == 200


# ---- a holdout and A/B campaign whose name would be a script -------------------------------------

T = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)
SLOT = T - timedelta(days=10)
CONFIG = """[mailchimp]
list_id = "list1"
[shop]
currency = "EUR"
[segments.vip]
rule = "orders_count >= 1"
"""


def _entry(email: str, variant: str, reason: str | None = None) -> Entry:
    return Entry(email, SLOT.date().isoformat(), to_us(SLOT), "Europe/Berlin", "mailchimp", reason, variant)


@pytest.fixture
def ab_shop(tmp_path):
    """A segmail campaign named `XSS`, sent at SLOT as variants a and b with three recipients held out."""
    path = tmp_path / "segmail.toml"
    path.write_text(CONFIG + f'[store]\npath = "{tmp_path / "store.db"}"\n', encoding="utf-8")
    config = load_config(path, env={})
    store = open_store(config.store_url())
    shop = Shop(store)
    mailed = {"a": [f"a{i}@x.io" for i in range(4)], "b": [f"b{i}@x.io" for i in range(4)]}
    held = [f"h{i}@x.io" for i in range(3)]
    for email in [*mailed["a"], *mailed["b"], *held]:
        shop.contact(email, opted_in_at=T - timedelta(days=90))
    spent = {"a0@x.io": "40.00", "a1@x.io": "20.00", "b0@x.io": "90.00", "h0@x.io": "30.00"}
    for email, total in spent.items():
        shop.order(email, SLOT + timedelta(days=2), total)
    for email in ("a0@x.io", "a1@x.io", "a2@x.io"):  # opens of variant a's own Mailchimp campaign
        shop.records.append(
            Event(email_key=email, type="open", at=SLOT + timedelta(hours=1), campaign_id="mc_a")
        )
    shop.flush(T)
    buckets = tuple(
        NewBucket(prefix=f"ab-{v}", slot_at=to_us(SLOT), send_at=to_us(SLOT), variant=f'{{"ab_variant": "{v}"}}',
                  title="t", entries=tuple(_entry(e, v) for e in emails))
        for v, emails in mailed.items()
    )  # fmt: skip
    with store.engine.begin() as conn:
        ledger.write_slot(conn, SlotWrite(
            campaign=XSS, created_at=to_us(SLOT), buckets=buckets,
            holdouts=tuple(_entry(e, "a", "holdout") for e in held),
        ))  # fmt: skip
        for v in mailed:
            ledger.update_bucket(conn, f"ab-{v}-0", mc_campaign_id=f"mc_{v}")
            ledger.set_ledger_status(conn, f"ab-{v}-0", "scheduled")
            save_campaign(conn, {
                "mc_campaign_id": f"mc_{v}", "list_id": "list1", "title": f"{XSS} [ab-{v}-0]", "sent_at": to_us(SLOT),
                "recipients": 4, "target": "segmail", "campaign": XSS, "segment": "vip", "opens_total": 0,
                "proxy_opens": 0, "unique_opens": 0, "clicks_total": 0, "unique_clicks": 0, "unsubscribed": 0,
                "bounces": 0, "activity_read_at": to_us(T), "updated_at": to_us(T),
            })  # fmt: skip
    yield path, store
    store.dispose()


def test_a_script_in_a_campaign_name_is_shown_as_text_with_its_variants_and_verdicts(ab_shop, capsys):
    path, store = ab_shop
    with served(path, store, now=T) as server:
        c = Client(server.url)
        page = c.get("/reports").text
        download = c.get("/reports/campaigns.csv?since=2026-05-17&until=2026-06-16")
    assert XSS not in page
    assert "<strong>&lt;script&gt;alert(1)&lt;/script&gt;</strong>" in page
    assert page.count('<tr class="variant">') == 2 and "↳ variant a" in page and "↳ variant b" in page
    # each variant row shows its own Mailchimp figures: a's three opens of 4 mailed, b's none
    rows = page.split('<tr class="variant">')[1:]
    assert '<td class="num" data-label="opens">3<br><span class="small">75.0 %</span>' in rows[0]
    assert '<td class="num" data-label="opens">0<br><span class="small">0.0 %</span>' in rows[1]
    # variant a: 60.00 over 4 mailed against 30.00 over 3 held out: +5.00, an interval that contains 0
    assert ">+5.00<" in page
    verdict = '<span class="verdict-no">not significant</span>: the interval of the lift +5.00 per recipient'
    assert f"{verdict} contains 0" in page
    assert download.headers["content-type"] == "text/csv; charset=utf-8"  # data to save, never a page
    assert download.text == cli_csv(capsys, path, "campaigns", "2026-05-17", "2026-06-16")
    lines = download.text.splitlines()[1:]
    assert [line.split(",")[4] for line in lines] == ["", "a", "b"]  # the campaign's row, then its variants
    assert all(line.startswith(f"{XSS},{XSS},") for line in lines)  # id and title, as they are


def test_no_axis_label_overlaps_the_last_one_and_grouped_bars_stay_in_their_group():
    from segmail.ui.charts import grouped_bar_chart, line_chart

    days = [f"{d:02d}" for d in range(93)]  # a quarter of days: every 8th label fits at 1100 wide
    labels = line_chart(days, {"vip": list(range(93))}, title="t").labels
    shown = [days.index(label.label) for label in labels]
    assert shown[0] == 0 and shown[-1] == 92
    assert min(b - a for a, b in pairwise(shown)) >= shown[1] - shown[0]
    chart = grouped_bar_chart(["vip", "lapsed"], {"one": [10.0, 0.0], "two": [5.0, 2.5]}, title="t")
    assert [b.text for b in chart.bars] == ["vip · one: 10.00", "lapsed · one: 0.00", "vip · two: 5.00",
                                            "lapsed · two: 2.50"]  # fmt: skip
    slot = (chart.width - 56 - 12) / 2
    for i, group in enumerate(("vip", "lapsed")):
        mine = [b for b in chart.bars if b.text.startswith(group)]
        assert all(56 + i * slot <= b.x and b.x + b.width <= 56 + (i + 1) * slot for b in mine)
    assert chart.bars[0].height == 2 * chart.bars[2].height  # to scale


def test_a_long_period_is_drawn_every_few_days_and_one_too_long_is_refused(demo_client):
    page = demo_client.get("/reports?since=2024-11-21&until=2026-11-21").text  # 730 days
    assert "Segment members, every 2 days" in page
    assert 'class="axis">2026-11-20</text>' in page  # the last day is always a point, and labelled
    assert 0 < page.count("<circle") <= 5 * 366  # five segments, at most 366 points each
    too_long = demo_client.get("/reports?since=2000-01-01&until=2026-11-21")
    assert too_long.status == 400
    assert "the period has 9,821 days; the page shows at most 3,660" in too_long.text
