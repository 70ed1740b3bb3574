"""Templates: every shipped mail in every language and season, the checks marketers rely on, the sandbox."""

from __future__ import annotations

import re
import shutil
import threading
from datetime import date
from pathlib import Path

import pytest

from segmail.sending import i18n
from segmail.sending.i18n import (
    catalog_path,
    extract_messages,
    read_catalog,
    translation_problems,
    update_catalogs,
)
from segmail.sending.plaintext import html_to_text
from segmail.sending.render import (
    DIMENSIONS,
    LANGUAGES,
    Renderer,
    ShopIdentity,
    TemplateError,
    TemplateProblem,
    Variant,
    normalize_language,
)
from segmail.sending.render import main as render_main
from segmail.sending.season import SEASONS, SOUTHERN, TROPICAL, season_for

TEMPLATES = Path(__file__).resolve().parents[1] / "templates"
SHOP = ShopIdentity(
    name="Kiez & Co", address="Torstraße 1, 10119 Berlin, Germany", url="https://kiez.example/"
)
DECEMBER = date(2025, 12, 3)
# the subject lines listed in templates/_subjects.html, as the campaign config would hold them
SUBJECTS = {
    "welcome.html": '{{ _("Welcome to %(shop_name)s", shop_name=shop.name) }}',
    "repeat_buyer.html": '{{ _("Thank you for shopping with us again") }}',
    "vip_early_access.html": '{{ _("Your early access starts today") }}',
    "lapsed_winback.html": '{{ _("We miss you: here is a voucher for your next order") }}',
    "unengaged_still_interested.html": '{{ _("Still interested in news from %(shop_name)s?", shop_name=shop.name) }}',
    "unengaged_last_chance.html": '{{ _("Last chance: should we stay in touch?") }}',
}
OK_FOOTER = '<p><a href="*|UNSUB|*">unsubscribe</a> {{ shop.address }}</p>'
_ENTITY = re.compile(r"&(#\d+|#x[0-9a-f]+|[a-z]+);", re.IGNORECASE)


@pytest.fixture(scope="module")
def renderer() -> Renderer:
    return Renderer(TEMPLATES, shop=SHOP)


def make_dir(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return tmp_path


def render(r: Renderer, template: str, subject: str = "", **dims: str) -> tuple[str, str, str]:
    values = {"segment": "", "language": "en", "country": "", "season": ""} | dims
    mail = r.render(template, subject, Variant(**values), campaign="test", send_date=DECEMBER)
    return mail.subject, mail.html, mail.text


# --- the shipped templates ---------------------------------------------------------------------


def test_shipped_templates_and_languages(renderer: Renderer) -> None:
    assert renderer.campaign_templates() == sorted(SUBJECTS)
    assert LANGUAGES == renderer.languages == ("en", "de", "uz")


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("template", sorted(SUBJECTS))
def test_every_template_renders_in_every_language_and_season(
    renderer: Renderer, template: str, language: str
) -> None:
    for season in SEASONS:
        for segment, country in (("", ""), ("vip", "DE"), ("lapsed", "US")):
            subject, html, text = render(
                renderer,
                template,
                SUBJECTS[template],
                segment=segment,
                language=language,
                country=country,
                season=season,
            )
            assert subject and html and text
            for part in (html, text):
                assert "*|UNSUB|*" in part and "*|UPDATE_PROFILE|*" in part and "*|FNAME|*" in part
                assert SHOP.address in part
            assert f'<html lang="{language}">' in html
            assert not _ENTITY.search(text), _ENTITY.search(text)
            assert "<" not in text


def test_german_and_uzbek_are_translated(renderer: Renderer) -> None:
    mails = {
        lang: render(renderer, "welcome.html", SUBJECTS["welcome.html"], language=lang, season="winter")
        for lang in LANGUAGES
    }
    assert mails["en"][0] == "Welcome to Kiez & Co"
    assert mails["de"][0] == "Willkommen bei Kiez & Co"
    assert mails["uz"][0] == "Kiez & Co do\u02bbkoniga xush kelibsiz"
    for part in range(3):
        assert len({mails[lang][part] for lang in LANGUAGES}) == 3
    assert "Hallo *|FNAME|*," in mails["de"][2] and "Abmelden (*|UNSUB|*)" in mails["de"][2]
    assert "Gefütterte Winterstiefel" in mails["de"][1]
    assert (
        "Assalomu alaykum, *|FNAME|*!" in mails["uz"][2]
        and "Obunani bekor qilish (*|UNSUB|*)" in mails["uz"][2]
    )
    assert "Issiq astarli qishki etiklar" in mails["uz"][1]
    assert "Unsubscribe" not in mails["de"][2] + mails["uz"][2]


def test_babel_formats_dates_and_money_per_language(renderer: Renderer) -> None:
    assert "December 3, 2025" in render(renderer, "vip_early_access.html", language="en")[2]
    assert "3. Dezember 2025" in render(renderer, "vip_early_access.html", language="de")[2]
    assert "€15.00" in render(renderer, "lapsed_winback.html", segment="vip", season="winter")[2]
    assert (
        "15,00 €" in render(renderer, "lapsed_winback.html", segment="vip", language="de", season="winter")[2]
    )


def test_every_shipped_text_is_translated_in_every_catalog() -> None:
    messages = [m for m in extract_messages(TEMPLATES) if m.id]
    assert len(messages) > 50
    for language in LANGUAGES[1:]:
        catalog = read_catalog(TEMPLATES, language)
        for message in messages:
            translated = catalog.get(message.id, message.context)
            where = f"{message.locations[0]} in {catalog_path(TEMPLATES, language)}"
            assert translated is not None and translated.string and not translated.fuzzy, where
    assert translation_problems(TEMPLATES) == []
    assert i18n.main(["check"]) == 0


def test_shipped_catalogs_are_up_to_date(tmp_path: Path) -> None:
    """No obsolete entries, current file:line comments: `python -m segmail.sending.i18n update` changes no message."""
    copy = tmp_path / "templates"
    shutil.copytree(TEMPLATES, copy)
    update_catalogs(copy)

    def messages(templates: Path, language: str) -> list[tuple[object, ...]]:
        return [(m.id, m.string, m.locations, m.fuzzy) for m in read_catalog(templates, language)]

    for language in LANGUAGES[1:]:
        assert messages(copy, language) == messages(TEMPLATES, language)


def test_shipped_templates_pass_the_check(renderer: Renderer, capsys: pytest.CaptureFixture[str]) -> None:
    assert renderer.check() == []
    assert render_main([str(TEMPLATES)]) == 0
    assert capsys.readouterr().out == f"templates ok: {TEMPLATES}\n"
    for subject in SUBJECTS.values():
        assert renderer.check_subject(subject) == []


# --- seasons --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("country", "day", "expected"),
    [
        ("DE", DECEMBER, "winter"),
        ("AU", DECEMBER, "summer"),
        ("SG", DECEMBER, "tropical"),
        ("SG", date(2025, 7, 1), "tropical"),
        ("BR", date(2025, 7, 1), "tropical"),
        ("nz", date(2025, 4, 1), "autumn"),
        ("AR", date(2025, 10, 1), "spring"),
        ("US", date(2025, 3, 1), "spring"),
        ("JP", date(2025, 11, 30), "autumn"),
        ("", date(2025, 8, 31), "summer"),
        (None, date(2026, 2, 28), "winter"),
    ],
)
def test_season_for(country: str | None, day: date, expected: str) -> None:
    assert season_for(country, day) == expected


def test_hemisphere_lists_are_disjoint_codes() -> None:
    assert not SOUTHERN & TROPICAL
    assert all(re.fullmatch(r"[A-Z]{2}", code) for code in SOUTHERN | TROPICAL)


@pytest.mark.parametrize(
    ("country", "season_class", "pick", "absent"),
    [
        ("DE", "season-winter", "Lined winter boots", "summer sandals"),
        ("AU", "season-summer", "Leather summer sandals", "winter boots"),
        ("SG", "season-tropical", "Breathable all-year sandals", "winter boots"),
    ],
)
def test_december_picks_follow_the_recipients_hemisphere(
    renderer: Renderer, country: str, season_class: str, pick: str, absent: str
) -> None:
    season = season_for(country, DECEMBER)
    _, html, text = render(renderer, "welcome.html", country=country, season=season)
    assert season_class in html and pick in text
    assert absent not in text and "summer sandals" not in text.replace(pick, "")


# --- dimensions -----------------------------------------------------------------------------------


def test_dimensions_of_the_shipped_templates(renderer: Renderer) -> None:
    assert renderer.dimensions("welcome.html", SUBJECTS["welcome.html"]) == {"language", "season"}
    assert renderer.dimensions("repeat_buyer.html", "") == {"segment", "language", "season"}
    assert renderer.dimensions("vip_early_access.html", "") == {"language", "country"}
    assert renderer.dimensions("unengaged_last_chance.html", "") == {"language"}
    assert renderer.dimensions("unengaged_last_chance.html", "{{ season }} sale") == {"language", "season"}


def test_dimensions_follow_layouts_includes_and_imports(tmp_path: Path) -> None:
    r = Renderer(
        make_dir(
            tmp_path,
            {
                "only_segment.html": '{% if segment == "vip" %}VIP{% endif %}' + OK_FOOTER,
                "layout.html": "{{ country }}{% block b %}{% endblock %}",
                "child.html": '{% extends "layout.html" %}{% import "_m.html" as m %}{% block b %}{{ m.x() }}{% endblock %}',
                "_m.html": "{% macro x() %}{% include '_deep.html' %}{% endmacro %}",
                "_deep.html": "{% trans %}Hi{% endtrans %}",
                "dynamic.html": "{% include segment ~ '.html' %}",
            },
        ),
        shop=SHOP,
    )
    assert r.dimensions("only_segment.html", "Hello") == {"segment"}
    assert r.dimensions("only_segment.html", "{{ _('Hello') }}") == {"segment", "language"}
    assert r.dimensions("child.html", "") == {"country", "language"}
    assert r.dimensions("dynamic.html", "") == set(DIMENSIONS)
    with pytest.raises(TemplateError, match=r"missing\.html: template not found"):
        r.dimensions("missing.html", "")


# --- check() -------------------------------------------------------------------------------------


def test_check_reports_syntax_errors_and_unknown_variables_with_file_and_line(tmp_path: Path) -> None:
    r = Renderer(
        make_dir(
            tmp_path,
            {
                "broken.html": "<p>\n{% if segment %}\n<b>never closed</b>\n" + OK_FOOTER,
                "typo.html": "<p>\n{{ shop.name }}\n{{ fist_name }}\n</p>" + OK_FOOTER,
                "ok.html": '{% set greeting = "Hi" %}{{ greeting }}{% for s in ["a"] %}{{ s }}{{ loop.index }}{% endfor %}'
                + OK_FOOTER,
            },
        ),
        shop=SHOP,
    )
    problems = r.check()
    folder = tmp_path.name
    syntax = [p for p in problems if p.file == f"{folder}/broken.html"]
    assert len(syntax) == 1 and syntax[0].line == 4 and "syntax error" in syntax[0].message
    assert TemplateProblem(f"{folder}/typo.html", 3, "unknown variable 'fist_name'") in problems
    assert str(TemplateProblem(f"{folder}/typo.html", 3, "unknown variable 'fist_name'")) == (
        f"{folder}/typo.html:3: unknown variable 'fist_name'"
    )
    assert not [p for p in problems if p.file.endswith("ok.html")]
    assert r.check(["ok.html"]) == []


def test_check_requires_the_unsubscribe_link_and_the_postal_address(tmp_path: Path) -> None:
    r = Renderer(
        make_dir(
            tmp_path,
            {
                "no_unsub.html": "<p>{{ shop.address }}</p>",
                "no_address.html": '<a href="*|UNSUB|*">bye</a> {{ shop.name }}',
                "base.html": "{% block body %}{% endblock %}",  # a layout: not checked on its own
                "_partial.html": "not a mail",
                "own_footer.html": '{% extends "base.html" %}{% block body %}hi{% endblock %}',
            },
        ),
        shop=SHOP,
    )
    messages = {(Path(p.file).name, p.message.split(":")[0]) for p in r.check()}
    assert messages == {
        ("no_unsub.html", "no unsubscribe link"),
        ("no_address.html", "no postal address"),
        ("own_footer.html", "no unsubscribe link"),
        ("own_footer.html", "no postal address"),
    }


def test_check_reports_a_failing_layout_at_its_own_line(tmp_path: Path) -> None:
    r = Renderer(
        make_dir(
            tmp_path,
            {
                "base.html": "<html>\n<body>{% block body %}{% endblock %}\n{{ shop.adress }}\n</body></html>",
                "mail.html": '{% extends "base.html" %}{% block body %}' + OK_FOOTER + "{% endblock %}",
            },
        ),
        shop=SHOP,
    )
    (problem,) = r.check()
    assert (problem.file, problem.line) == (f"{tmp_path.name}/base.html", 3)
    assert "no attribute 'adress'" in problem.message


def test_check_subject_reports_unknown_variables_and_untranslated_texts(renderer: Renderer) -> None:
    assert renderer.check_subject("Hi {{ frist_name }}") == [
        TemplateProblem("<subject>", 1, "unknown variable 'frist_name'")
    ]
    problems = renderer.check_subject('{{ _("A text nobody translated") }}')
    assert [p.message.split(" translation")[0] for p in problems] == ["missing 'de'", "missing 'uz'"]
    assert renderer.check_subject("{{ oops")[0].message.startswith("syntax error")


# --- translations ---------------------------------------------------------------------------------

PARTIAL_DE = """msgid ""
msgstr ""
"Content-Type: text/plain; charset=utf-8\\n"

msgid "Hello"
msgstr "Hallo"

msgid "Goodbye"
msgstr ""
"""


def test_a_missing_translation_falls_back_to_english_and_is_reported(tmp_path: Path) -> None:
    files = {
        "mail.html": "<p>{% trans %}Hello{% endtrans %}</p>\n<p>{% trans %}Goodbye{% endtrans %}</p>\n<p>{{ _('Thanks') }}</p>"
        + OK_FOOTER,
        "locale/de/LC_MESSAGES/messages.po": PARTIAL_DE,
    }
    r = Renderer(make_dir(tmp_path, files), shop=SHOP)
    assert r.languages == ("en", "de")
    _, html, _ = render(r, "mail.html", language="de-AT")
    assert "<p>Hallo</p>" in html and "<p>Goodbye</p>" in html and "<p>Thanks</p>" in html
    folder = tmp_path.name
    assert r.check() == [
        TemplateProblem(
            f"{folder}/mail.html",
            2,
            f"missing 'de' translation of 'Goodbye' (in {folder}/locale/de/LC_MESSAGES/messages.po)",
        ),
        TemplateProblem(
            f"{folder}/mail.html",
            3,
            f"missing 'de' translation of 'Thanks' (in {folder}/locale/de/LC_MESSAGES/messages.po)",
        ),
    ]
    # `update` adds the new text to the catalog for the translator and keeps the existing ones
    assert update_catalogs(tmp_path, add=["uz"]) == [
        catalog_path(tmp_path, "de"),
        catalog_path(tmp_path, "uz"),
    ]
    de = read_catalog(tmp_path, "de")
    hello, thanks = de.get("Hello"), de.get("Thanks")
    assert hello is not None and hello.string == "Hallo"
    assert thanks is not None and thanks.string == ""
    assert Renderer(tmp_path, shop=SHOP).languages == ("en", "de", "uz")


def test_translations_must_keep_placeholders_and_merge_tags(tmp_path: Path) -> None:
    po = PARTIAL_DE.replace(
        'msgstr "Hallo"', 'msgstr "Hallo"\n\nmsgid "Hi *|FNAME|* from %(shop)s"\nmsgstr "Hallo von %(laden)s"'
    )
    files = {
        "mail.html": "{% trans shop=shop.name %}Hi *|FNAME|* from {{ shop }}{% endtrans %}" + OK_FOOTER,
        "locale/de/LC_MESSAGES/messages.po": po,
    }
    r = Renderer(make_dir(tmp_path, files), shop=SHOP)
    render_failure, catalog_mistake = r.check()
    assert render_failure == TemplateProblem(f"{tmp_path.name}/mail.html", 1, "KeyError: 'laden'")
    assert catalog_mistake.file.endswith("locale/de/LC_MESSAGES/messages.po") and catalog_mistake.line == 8
    assert "must keep exactly ['%(shop)s', '*|FNAME|*'], has ['%(laden)s']" in catalog_mistake.message


def test_a_broken_catalog_is_reported_with_its_line(tmp_path: Path) -> None:
    files = {
        "mail.html": OK_FOOTER,
        "locale/de/LC_MESSAGES/messages.po": 'msgid "a"\nmsgstr "b"\nbroken line\n',
    }
    with pytest.raises(TemplateError, match=r"locale/de/LC_MESSAGES/messages\.po:3: invalid catalog"):
        Renderer(make_dir(tmp_path, files), shop=SHOP)


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("de-DE", "de"),
        ("de_AT", "de"),
        ("DE", "de"),
        ("uz-Latn-UZ", "uz"),
        ("fr", "en"),
        (None, "en"),
        ("", "en"),
    ],
)
def test_normalize_language(code: str | None, expected: str) -> None:
    assert normalize_language(code, ("en", "de", "uz")) == expected


# --- render errors, sandbox, escaping, CSS ---------------------------------------------------------


def test_render_failures_are_template_errors_with_file_and_line(tmp_path: Path) -> None:
    r = Renderer(
        make_dir(
            tmp_path,
            {
                "typo.html": "<p>\n{{ fist_name }}</p>",
                "syntax.html": "<p>\n\n{% for %}</p>",
                "include.html": "<p>\n{% include '_nope.html' %}</p>",
                "ok.html": OK_FOOTER,
            },
        ),
        shop=SHOP,
    )
    folder = tmp_path.name
    with pytest.raises(
        TemplateError, match=rf"^{folder}/typo\.html:2: unknown variable 'fist_name'$"
    ) as caught:
        render(r, "typo.html")
    assert caught.value.problem == TemplateProblem(f"{folder}/typo.html", 2, "unknown variable 'fist_name'")
    with pytest.raises(TemplateError, match=rf"^{folder}/syntax\.html:3: syntax error"):
        render(r, "syntax.html")
    with pytest.raises(TemplateError, match=rf"^{folder}/include\.html:2: template not found: _nope\.html"):
        render(r, "include.html")
    with pytest.raises(TemplateError, match=rf"^{folder}/missing\.html: template not found"):
        render(r, "missing.html")
    with pytest.raises(TemplateError, match=r"^<subject>:1: unknown variable 'nme'"):
        render(r, "ok.html", "Hi {{ nme }}")
    with pytest.raises(TemplateError, match=r"^<subject>:1: syntax error"):
        render(r, "ok.html", "Hi {{ shop.name ")


@pytest.mark.parametrize(
    "expression",
    ["''.__class__.__mro__", "shop.__class__.__subclasses__()", "send_date.__class__.__init__.__globals__"],
)
def test_the_sandbox_refuses_python_internals(tmp_path: Path, expression: str) -> None:
    r = Renderer(
        make_dir(tmp_path, {"evil.html": "<p>\n{{ " + expression + " }}</p>", "ok.html": OK_FOOTER}),
        shop=SHOP,
    )
    with pytest.raises(
        TemplateError, match=rf"^{tmp_path.name}/evil\.html:2: not allowed in templates: access to attribute"
    ):
        render(r, "evil.html")
    with pytest.raises(TemplateError, match=r"^<subject>:1: not allowed in templates"):
        render(r, "ok.html", "{{ " + expression + " }}")


def test_autoescape_escapes_values_but_not_merge_tags() -> None:
    shop = ShopIdentity(
        name="<script>alert(1)</script> & Co", address="Torstraße 1", url="https://kiez.example/?a=1&b=2"
    )
    r = Renderer(TEMPLATES, shop=shop)
    subject, html, text = render(r, "welcome.html", SUBJECTS["welcome.html"], season="winter")
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt; &amp; Co" in html
    assert 'href="https://kiez.example/?a=1&amp;b=2"' in html
    assert "*|IF:FNAME|*Hello *|FNAME|*,*|ELSE:|*Hello,*|END:IF|*" in html
    assert 'href="*|UNSUB|*"' in html and 'href="*|UPDATE_PROFILE|*"' in html and 'href="*|ARCHIVE|*"' in html
    # the subject and the text part are plain text: no escaping there
    assert subject == "Welcome to <script>alert(1)</script> & Co"
    assert "Start shopping (https://kiez.example/?a=1&b=2)" in text


def test_css_is_inlined_and_media_queries_are_kept(renderer: Renderer, tmp_path: Path) -> None:
    _, html, _ = render(renderer, "welcome.html", season="summer")
    assert '<h1 style="margin: 0 0 12px 0;' in html
    assert re.search(r'<a class="button" href="https://kiez\.example/" style="display: inline-block;', html)
    head = html.split("</head>")[0]
    assert "@media only screen and (max-width: 620px)" in head and ".button" not in head
    r = Renderer(
        make_dir(
            tmp_path,
            {
                "m.html": "<html><head><style>p.x { color: red }</style></head><body><p class='x'>hi</p>"
                + OK_FOOTER
            },
        ),
        shop=SHOP,
    )
    assert '<p class="x" style="color: red;">hi</p>' in render(r, "m.html")[1]


def test_renders_from_many_threads_agree(renderer: Renderer) -> None:
    expected = {
        lang: render(renderer, "lapsed_winback.html", language=lang, season="autumn") for lang in LANGUAGES
    }
    results: list[bool] = []

    def work(language: str) -> None:
        for _ in range(5):
            results.append(
                render(renderer, "lapsed_winback.html", language=language, season="autumn")
                == expected[language]
            )

    threads = [threading.Thread(target=work, args=(lang,)) for lang in LANGUAGES * 2]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [True] * 30


# --- values and the text part ---------------------------------------------------------------------


def test_value_objects_name_the_bad_field() -> None:
    with pytest.raises(
        ValueError, match=r"^country must be an ISO 3166 alpha-2 code like 'DE' or '', got: 'de'$"
    ):
        Variant(segment="", language="de", country="de", season="")
    with pytest.raises(
        ValueError,
        match=r"^season must be one of spring, summer, autumn, winter, tropical or '', got: 'fall'$",
    ):
        Variant(segment="", language="en", country="", season="fall")
    with pytest.raises(ValueError, match=r"^address must not be empty"):
        ShopIdentity(name="Kiez", address=" ", url="https://kiez.example")
    with pytest.raises(ValueError, match=r"^url must start with https:// or http://, got: 'kiez\.example'$"):
        ShopIdentity(name="Kiez", address="Torstraße 1", url="kiez.example")
    with pytest.raises(ValueError, match=r"^currency must be an ISO 4217 code"):
        ShopIdentity(name="Kiez", address="Torstraße 1", url="https://kiez.example", currency="euro")


def test_html_to_text() -> None:
    html = (
        "<html><head><title>T</title><style>p { color: red }</style></head><body>"
        '<div style="display: none">preheader <span>text</span></div>'
        "<h1>Hello *|FNAME|*,</h1><p>Fish &amp; chips\n   for&nbsp;you &lt;3 <a href='https://x.example/?a=1&amp;b=2'>Shop</a></p>"
        "<ul><li>one</li><li>two <b>bold</b></li></ul><ol><li>first</li><li>second</li></ol>"
        "<h2>More</h2><p><a href='*|UNSUB|*'>Unsubscribe</a> | <a href='mailto:hi@x.example'>hi@x.example</a><br>"
        "Street 1</p><a href='https://x.example/boots'><img alt='Boots' src='b.png'></a><a href='#top'>Top</a></body></html>"
    )
    assert html_to_text(html) == (
        "Hello *|FNAME|*,\n================\n\n"
        "Fish & chips for you <3 Shop (https://x.example/?a=1&b=2)\n\n"
        "- one\n- two bold\n\n1. first\n2. second\n\n"
        "More\n----\n\n"
        "Unsubscribe (*|UNSUB|*) | hi@x.example\nStreet 1\n\n"
        "Boots (https://x.example/boots)Top\n"
    )
