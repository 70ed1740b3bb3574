"""`segmail render`: one campaign's mail for one variant, held to the send's rules, optionally as one contact sees it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from segmail.connector.fields import email_key
from segmail.sending.campaigns import CampaignDef
from segmail.sending.merge_tags import MergeTagError, fill
from segmail.sending.plan import make_variant
from segmail.sending.render import (
    RenderedMail,
    Renderer,
    TemplateError,
    TemplateProblem,
    Variant,
    normalize_language,
)
from segmail.sending.template_errors import display_name
from segmail.sending.timezones import local_date_of
from segmail.store import contacts
from segmail.store.db import Store


@dataclass(frozen=True, slots=True)
class SampleContact:
    """What the store knows of one contact that Mailchimp would merge into a mail."""

    email: str
    first_name: str
    last_name: str
    language: str
    country: str

    def merge_values(self) -> dict[str, str]:
        # the audience fields behind *|FNAME|*, *|LNAME|*, *|EMAIL|*; the store holds no postal
        # address, so *|ADDRESS|* stays for Mailchimp
        return {"FNAME": self.first_name, "LNAME": self.last_name, "EMAIL": self.email}


@dataclass(frozen=True, slots=True)
class Preview:
    mail: RenderedMail
    problems: list[TemplateProblem]  # a send would refuse this mail
    warnings: list[TemplateProblem]  # texts that fall back to English
    left: tuple[str, ...]  # merge tags Mailchimp still fills (all of them without a contact)


def sample_contact(store: Store, email: str) -> SampleContact | None:
    """The contact with this address (compared as the store keys it), or None. Raises FieldError if invalid."""
    key = email_key(email)
    with store.engine.begin() as conn:
        row = contacts.find(conn, key)
    if row is None:
        return None
    return SampleContact(
        email=row.email,
        first_name=row.first_name or "",
        last_name=row.last_name or "",
        language=row.language or "",
        country=row.country or row.mc_country or "",
    )


def chosen_variant(
    renderer: Renderer,
    campaign: CampaignDef,
    *,
    segment: str | None,
    language: str | None,
    country: str,
    as_of: datetime,
    zone: str,
) -> tuple[Variant, date]:
    """The variant a recipient with these traits gets on the local date of `as_of` in `zone`, and that date.

    `segment` defaults to the campaign's, `language` to the source language; a dimension the mail does
    not use is blanked, exactly as the send plans it (`render` and `send test` show what a send sends).
    """
    local = local_date_of(as_of, zone)
    dims = renderer.dimensions(campaign.template, campaign.subject)
    variant = make_variant(
        dims, segment=segment or campaign.segment, language=normalize_language(language, renderer.languages),
        country=country, local_date=local,
    )  # fmt: skip
    return variant, local


def preview(
    renderer: Renderer,
    campaign: CampaignDef,
    variant: Variant,
    send_date: date,
    contact: SampleContact | None = None,
) -> Preview:
    """Raises TemplateError when the mail cannot be rendered; footer problems are returned, not raised,
    so every one is shown. Without a contact the merge tags stay, exactly as a campaign gets them."""
    mail = renderer.render(
        campaign.template, campaign.subject, variant, campaign=campaign.name, send_date=send_date
    )
    problems = renderer.footer_problems(
        campaign.template, variant, campaign=campaign.name, send_date=send_date
    )
    warnings = renderer.translation_warnings(campaign.template, campaign.subject, variant.language)
    if contact is None:
        return Preview(mail, problems, warnings, ())
    values = {**contact.merge_values(), "CURRENT_YEAR": str(send_date.year)}
    try:
        subject = fill(mail.subject, values, escape=False)
        html = fill(mail.html, values, escape=True)
        text = fill(mail.text, values, escape=False)
    except MergeTagError as exc:
        shown = display_name(renderer.templates_dir, campaign.template)
        raise TemplateError(TemplateProblem(shown, None, f"merge tags: {exc}")) from exc
    left = tuple(dict.fromkeys(subject.left + html.left + text.left))
    return Preview(RenderedMail(subject.text, html.text, text.text), problems, warnings, left)
