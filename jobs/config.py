"""The one typed config, loaded from TOML (`--config`, `SEGMAIL_CONFIG`, or built-in defaults).

Every problem is collected and reported at once, each naming its TOML key; unknown keys are
errors so a typo never silently falls back to a default.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

from babel.numbers import list_currencies
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from segmail.connector.http import DEFAULTS
from segmail.connector.shop_status import CANONICAL
from segmail.connector.source import DEFAULT_LOOKBACK
from segmail.reports.config import ReportSettings
from segmail.segments.config import SegmentDef, SegmentsSettings, format_errors, parse_segments
from segmail.segments.suggest import did_you_mean
from segmail.sending.campaigns import CampaignDef, SendSettings, duration, parse_campaigns, parse_send
from segmail.sending.timezones import parse_duration

ENV_CONFIG = "SEGMAIL_CONFIG"
ENV_STORE_URL = "SEGMAIL_STORE_URL"  # keeps a database password out of the config file


class ConfigError(Exception):
    """The config cannot be used; `problems` lists every error found, each naming its key."""

    def __init__(self, origin: str, problems: list[str]) -> None:
        super().__init__(f"{origin}: {len(problems)} problem(s)")
        self.origin = origin
        self.problems = problems

    def __str__(self) -> str:
        lines = [f"invalid config {self.origin}:"]
        lines += [f"  - {p}" for p in self.problems]
        return "\n".join(lines)


LOOKBACK_MINUTES = DEFAULT_LOOKBACK.total_seconds() / 60


class MailchimpConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    list_id: str = ""  # the audience; required by `segmail sync`
    api_url: str | None = None  # default: https://<dc>.api.mailchimp.com/3.0 from the API key
    tag_prefix: str = Field("segmail:", max_length=50)
    timeout_s: float = Field(DEFAULTS.timeout_s, gt=0, le=120)  # Mailchimp itself gives up at 120 s
    max_connections: int = Field(10, ge=1, le=10)  # Mailchimp's limit per API key
    attempts: int = Field(DEFAULTS.attempts, ge=1, le=20)
    lookback_minutes: float = Field(LOOKBACK_MINUTES, ge=0)
    engagement_window_days: float | None = Field(None, gt=0)  # default: the longest any rule uses
    engagement_margin_days: float = Field(7.0, ge=0)

    @field_validator("api_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("expected an http(s) URL such as https://us6.api.mailchimp.com/3.0")
        if value is not None and "server" in value:
            # the official client rewrites every "server" in a URL (contract §11.3)
            raise ValueError('must not contain the word "server"')
        return value


class ShopConfig(BaseModel):
    """Where orders come from. Secrets come from the environment (see README), never from here."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["csv", "shopify", "woocommerce", "mailchimp"] = "csv"
    url: str | None = None  # shopify: https://NAME.myshopify.com; woocommerce: the shop's https:// root
    api_version: str = "2025-01"  # shopify Admin GraphQL version
    store_id: str | None = None  # mailchimp: the e-commerce store connected to the audience
    page_size: int = Field(100, ge=1, le=250)
    lookback_minutes: float = Field(LOOKBACK_MINUTES, ge=0)
    # seconds per request to the shop (not Mailchimp's); neither shop documents a limit, so the
    # bound only catches milliseconds typed as seconds
    timeout_s: float = Field(DEFAULTS.timeout_s, gt=0, le=600)
    statuses: dict[str, str] = Field(default_factory=dict)  # the shop's status -> a canonical status
    # the one currency money features count in (store.currency); unset: the shop API's, else the orders'
    currency: str | None = None

    @field_validator("currency")
    @classmethod
    def _iso4217(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if value.strip().upper() not in list_currencies():
            raise ValueError(f"{value!r} is not an ISO 4217 currency code (e.g. EUR, USD, GBP)")
        return value.strip().upper()

    @field_validator("statuses")
    @classmethod
    def _canonical(cls, value: dict[str, str]) -> dict[str, str]:
        bad = {k: v for k, v in value.items() if v not in CANONICAL}
        if bad:
            raise ValueError(f"values must be one of {', '.join(sorted(CANONICAL))}, got {bad}")
        return value

    @model_validator(mode="after")
    def _needs(self) -> ShopConfig:
        if self.kind in ("shopify", "woocommerce") and not self.url:
            raise ValueError(f"shop.url is required for kind = {self.kind!r}")
        if self.kind == "mailchimp" and not self.store_id:
            raise ValueError("shop.store_id is required for kind = 'mailchimp'")
        return self


Duration = Annotated[timedelta, duration(timedelta(seconds=1))]


class ScheduleConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    sync_every: Duration = timedelta(minutes=15)  # shop pull → Mailchimp pull → compute → push tags
    # a cycle that could not start on time (the service was down or busy) still runs if it is at
    # most this late; later ones are merged into one (coalesce)
    misfire_grace: Duration = timedelta(minutes=10)


_LISTEN = re.compile(r"[\w.\-]+:\d{1,5}|\[[0-9a-fA-F:]+\]:\d{1,5}")


def check_listen(value: str, example: str) -> str:
    """A `HOST:PORT` (IPv6 in brackets) or "" (off)."""
    if value and not _LISTEN.fullmatch(value):
        raise ValueError(f'expected "HOST:PORT" such as "{example}", or "" to disable')
    return value


def split_listen(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    return host.strip("[]"), int(port)


class ServiceConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    listen: str = "127.0.0.1:9464"  # /healthz and /metrics; "" turns the endpoint off
    standby_poll: Annotated[timedelta, duration(timedelta(seconds=0.1))] = timedelta(
        seconds=5
    )  # how often a standby instance tries to take over
    # PostgreSQL: the database drops a silent active instance's session (and its lock) after about
    # this long, so a standby takes over even when the active machine vanished without closing
    failover_after: Annotated[timedelta, duration(timedelta(seconds=3))] = timedelta(seconds=30)

    @field_validator("listen")
    @classmethod
    def _listen(cls, value: str) -> str:
        return check_listen(value, "127.0.0.1:9464")

    def address(self) -> tuple[str, int] | None:
        return split_listen(self.listen) if self.listen else None


class UiConfig(BaseModel):
    """`[ui]`: the web workspace (segmail/ui) served by `segmail run` beside the service. The password
    or token is never read from here: SEGMAIL_UI_TOKEN (or SEGMAIL_UI_TOKEN_FILE) in the environment."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    listen: str = ""  # off by default; "127.0.0.1:8765" serves it on this machine only
    read_only: bool = False  # pages only: no rule can be saved from the browser
    # HTTPS: required with any address other than the loopback (the token and the session cookie
    # must not cross a network in clear); paths relative to this file's folder
    tls_cert: str | None = None
    tls_key: str | None = None

    @field_validator("listen")
    @classmethod
    def _listen(cls, value: str) -> str:
        return check_listen(value, "127.0.0.1:8765")

    @model_validator(mode="after")
    def _pair(self) -> UiConfig:
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("set both tls_cert and tls_key, or neither")
        return self


class PredictConfig(BaseModel):
    """`[predict]`: the predictive models (segments/clv.py, jobs/predict.py)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # predicted_clv_365d discounts each future order to today at this yearly rate (0 = undiscounted);
    # below 1 because a rate of 100 % or more a year would value every later order at half or less
    annual_discount_rate: float = Field(0.0, ge=0, lt=1)
    # the service refits BG/NBD and Gamma-Gamma this often; each compute uses the latest stored fit
    refit_every: Annotated[timedelta, duration(timedelta(minutes=1))] = timedelta(days=1)


def keep_for(minimum: timedelta) -> Any:
    """A retention duration: what `duration` takes, and also years ("2y", 365 days each) and weeks ("26w")."""

    def check(value: Any) -> timedelta:
        if isinstance(value, timedelta):
            parsed = value
        elif isinstance(value, str) and (m := re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([yw])\s*", value)):
            parsed = timedelta(days=float(m.group(1)) * (365 if m.group(2) == "y" else 7))
        elif isinstance(value, str):
            try:
                parsed = parse_duration(value)
            except ValueError:
                raise ValueError(f"expected a duration such as 2y, 26w, 90d or 12h, got: {value!r}") from None
        else:
            raise ValueError(f"expected a duration such as 2y, 26w, 90d or 12h, got: {value!r}")
        if parsed < minimum:
            least = f"{minimum.days}d" if minimum >= timedelta(days=1) else f"{minimum.total_seconds():g}s"
            raise ValueError(f"must be at least {least}, got {value}")
        return parsed

    return BeforeValidator(check)


class PrivacyConfig(BaseModel):
    """`[privacy]`: how long segmail keeps engagement, send history and run logs (jobs/retention.py), and
    how often the whole audience is checked for members deleted in Mailchimp (jobs/gone.py)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # opens and clicks; the default is far beyond every built-in rule's window (unengaged: 180 days) and the
    # 365 days a rule about engagement without a number of days is assumed to need (segments/windows.py)
    keep_events: Annotated[timedelta, keep_for(timedelta(days=1))] = timedelta(days=730)
    # the send ledger, its buckets and unsent errors; at least 30 days, since the frequency cap and a
    # broadcast's exactly-once record read it (an on_enter mail's row stays while its entry stands)
    keep_ledger: Annotated[timedelta, keep_for(timedelta(days=30))] = timedelta(days=730)
    keep_runs: Annotated[timedelta, keep_for(timedelta(days=1))] = timedelta(days=90)  # the run log
    # the pass over every member id that finds members deleted in Mailchimp (a cheap count runs every cycle)
    gone_check_every: Annotated[timedelta, keep_for(timedelta(minutes=1))] = timedelta(days=1)


class StoreConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    path: str = "segmail.db"
    url: str | None = None
    cache_mib: int = Field(256, ge=2, le=65536)  # SQLite page cache per connection


@dataclass(frozen=True, kw_only=True)
class AppConfig:
    store: StoreConfig
    mailchimp: MailchimpConfig
    shop: ShopConfig
    segments: SegmentsSettings
    segment_defs: dict[str, SegmentDef]
    origin: str
    base_dir: Path
    store_url_env: str | None = None
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    service: ServiceConfig = field(default_factory=ServiceConfig)
    send: SendSettings = field(default_factory=SendSettings)
    campaigns: dict[str, CampaignDef] = field(default_factory=dict)
    predict: PredictConfig = field(default_factory=PredictConfig)
    report: ReportSettings = field(default_factory=ReportSettings)
    privacy: PrivacyConfig = field(default_factory=PrivacyConfig)
    ui: UiConfig = field(default_factory=UiConfig)
    warnings: tuple[str, ...] = ()  # problems that do not stop segmail, each naming its key

    @property
    def enabled_campaigns(self) -> list[CampaignDef]:
        return [c for c in self.campaigns.values() if c.enabled]

    def templates_dir(self) -> Path:
        return self.relative(self.send.templates_dir)

    def relative(self, name: str) -> Path:
        """A path from the config: relative ones are read against the config file's folder."""
        path = Path(name)
        return path if path.is_absolute() else self.base_dir / path

    @property
    def enabled_segments(self) -> list[SegmentDef]:
        return [d for d in self.segment_defs.values() if d.enabled]

    def store_url(self) -> str:
        if self.store_url_env:
            return self.store_url_env
        if self.store.url:
            return self.store.url
        path = Path(self.store.path)
        if not path.is_absolute():
            path = self.base_dir / path
        return f"sqlite:///{path}"


SECTIONS = (
    "store", "mailchimp", "shop", "segments", "schedule", "service", "send", "campaigns", "predict", "report",
    "privacy", "ui",
)  # fmt: skip


def parse_config(
    data: Mapping[str, Any], *, origin: str, base_dir: Path, env: Mapping[str, str]
) -> AppConfig:
    errors: list[str] = []
    for key in data:
        if key not in SECTIONS:
            hint = did_you_mean(key, SECTIONS) or f" (known: {', '.join(SECTIONS)})"
            errors.append(f"{key}: unknown section{hint}")
    for key in SECTIONS:
        if key in data and not isinstance(data[key], dict):
            errors.append(f"{key}: expected a table [{key}]")
    section: dict[str, dict[str, Any]] = {
        k: v if isinstance(v := data.get(k), dict) else {} for k in SECTIONS
    }
    store = _section(StoreConfig, section, "store", errors)
    if store.url and not store.url.split(":", 1)[0].startswith(("sqlite", "postgresql", "postgres")):
        errors.append("store.url: expected a sqlite:/// or postgresql:// URL")
    mailchimp = _section(MailchimpConfig, section, "mailchimp", errors)
    shop = _section(ShopConfig, section, "shop", errors)
    schedule = _section(ScheduleConfig, section, "schedule", errors)
    service = _section(ServiceConfig, section, "service", errors)
    predict = _section(PredictConfig, section, "predict", errors)
    report = _section(ReportSettings, section, "report", errors)
    privacy = _section(PrivacyConfig, section, "privacy", errors)
    ui = _section(UiConfig, section, "ui", errors)
    settings, defs = parse_segments(section["segments"], errors, tag_prefix=mailchimp.tag_prefix)
    send = _send_currency(parse_send(section["send"], errors), shop, errors)
    warnings: list[str] = []
    campaigns = parse_campaigns(
        section["campaigns"], errors, segments=set(defs), send=send, warnings=warnings
    )
    if errors:
        raise ConfigError(origin, errors)
    return AppConfig(
        store=store,
        mailchimp=mailchimp,
        shop=shop,
        segments=settings,
        segment_defs=defs,
        origin=origin,
        base_dir=base_dir,
        store_url_env=env.get(ENV_STORE_URL) or None,
        schedule=schedule,
        service=service,
        send=send,
        campaigns=campaigns,
        predict=predict,
        report=report,
        privacy=privacy,
        ui=ui,
        warnings=tuple(warnings),
    )


def _send_currency(send: SendSettings, shop: ShopConfig, errors: list[str]) -> SendSettings:
    """`[send] currency` formats amounts in mails, which come from features in the shop's currency.

    So it follows `[shop] currency` when not set itself, and may not differ from it.
    """
    if shop.currency is None:
        return send
    if "currency" not in send.model_fields_set:
        return send.model_copy(update={"currency": shop.currency})
    if send.currency != shop.currency:
        errors.append(
            f"send.currency: {send.currency!r} differs from shop.currency {shop.currency!r}; amounts in "
            "mails are in the shop's currency, so remove send.currency or make the two equal"
        )
    return send


M = TypeVar("M", bound=BaseModel)


def _section(model: type[M], sections: dict[str, dict[str, Any]], name: str, errors: list[str]) -> M:
    try:
        return model.model_validate(sections[name])
    except ValidationError as exc:
        errors.extend(format_errors(exc, name, model.model_fields))
        return model()


def load_config(path: Path | None = None, env: Mapping[str, str] | None = None) -> AppConfig:
    env = os.environ if env is None else env
    if path is None and env.get(ENV_CONFIG):
        path = Path(env[ENV_CONFIG])
    if path is None:
        return parse_config({}, origin="(built-in defaults)", base_dir=Path.cwd(), env=env)
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except OSError as exc:
        raise ConfigError(str(path), [f"cannot read the file: {exc.strerror or exc}"]) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(path), [f"not valid TOML: {exc}"]) from None
    return parse_config(data, origin=str(path), base_dir=path.resolve().parent, env=env)
