"""`segmail rules check` beyond loading the config: each campaign's template and subject, against the templates folder.

Loading the config already checks every key, rule and segment reference; whether a template file
exists and a subject compiles needs the templates, so it is checked here, where the command can say
which folder it read. A disabled campaign sends nothing, so its problems are warnings: a campaign
switched off after its template was renamed must not stop the service.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from segmail.jobs.config import AppConfig
from segmail.segments import windows
from segmail.segments.suggest import did_you_mean
from segmail.sending.campaigns import CampaignDef
from segmail.sending.render import Renderer


@dataclass(frozen=True, slots=True)
class CampaignCheck:
    templates_dir: Path | None  # None when no campaign is configured (nothing to read)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def check_campaigns(
    config: AppConfig, renderer: Renderer | None, *, templates_named: Collection[str] = ()
) -> CampaignCheck:
    """Every campaign's problems, each naming its TOML key; `renderer` may be None without campaigns.

    `templates_named` limits the check to the campaigns using those templates (`templates check X`).
    """
    if renderer is None or not config.campaigns:
        return CampaignCheck(None)
    result = CampaignCheck(renderer.templates_dir)
    templates = renderer.campaign_templates()
    for campaign in config.campaigns.values():
        mails = campaign.mails()
        if templates_named and not any(template in templates_named for _, template, _ in mails):
            continue
        found: list[str] = []
        for variant, template, subject in mails:
            if template not in templates:
                hint = (
                    did_you_mean(template, templates, key=_stem)
                    or f" (it has: {', '.join(templates) or 'none'})"
                )
                found.append(
                    f"{_key(campaign, variant, 'template')}: no template {template!r} in {renderer.templates_dir}{hint}"
                )
            found += [
                f"{_key(campaign, variant, 'subject')}: {problem}"
                for problem in renderer.subject_problems(subject)
            ]
        found = list(dict.fromkeys(found))  # variants that keep the campaign's own mail repeat its problems
        if campaign.enabled:
            result.errors.extend(found)
        else:
            result.warnings.extend(
                f"{message}; the campaign is disabled, so nothing is sent" for message in found
            )
    return result


@dataclass(frozen=True, slots=True)
class TemplateCheck:
    checked: int  # how many templates were checked, each in every language
    problems: list[str]  # the templates' own, then the campaigns' using them
    warnings: list[str]


def check_templates(config: AppConfig, renderer: Renderer, names: Sequence[str] = ()) -> TemplateCheck:
    """`templates check`: the templates `names` (default: every campaign template) and the campaigns using them."""
    campaigns = check_campaigns(config, renderer, templates_named=names)
    problems = [str(p) for p in renderer.check(names or None)] + campaigns.errors
    checked = len(names) if names else len(renderer.campaign_templates())
    return TemplateCheck(checked, problems, campaigns.warnings)


def _key(campaign: CampaignDef, variant: str, name: str) -> str:
    """The TOML key of a mail's template or subject: the variant's when it sets it, else the campaign's."""
    key = f"campaigns.{campaign.name}"
    own = next((v for v in campaign.variants if v.name == variant), None)
    if own is not None and getattr(own, name, None) is not None:
        return f"{key}.variants.{campaign.variants.index(own)}.{name}"
    return f"{key}.{name}"


def _stem(template: str) -> str:
    return template.removesuffix(".html")


def retention_warnings(config: AppConfig) -> list[str]:
    """Rules that look further back at opens and clicks than `[privacy] keep_events` keeps them.

    Such a rule still runs, but on less history than it asks for: a contact whose last open was before
    the cut-off counts as never having opened. The window is the rule's largest day parameter, as the
    engagement pull reads it (segments/windows.py; 365 days for a rule that names no number).
    """
    kept = config.privacy.keep_events.total_seconds() / 86_400
    found = []
    for defn in config.enabled_segments:
        if not windows.uses_engagement(defn):
            continue
        days = windows.engagement_window_days([defn])
        if days > kept:
            found.append(
                f"segments.{defn.name}: its rule looks {days:g} days back at opens and clicks, but "
                f"privacy.keep_events keeps {kept:g} days; older ones are deleted, so raise keep_events "
                "or shorten the rule's window"
            )
    mc = config.mailchimp.engagement_window_days
    if mc is not None and mc > kept:
        found.append(
            f"mailchimp.engagement_window_days: {mc:g} days, but privacy.keep_events keeps {kept:g} days"
        )
    return found
