"""Building the clients from the config and the environment: the one place secrets are read.

Every command and the service get their Mailchimp client and their shop's page source here, so a
missing secret is the same one-line `WiringError` everywhere (it names the variable to set) and no
secret value ever reaches a message. Each system gets its own section's settings: the shop clients
use `[shop] timeout_s`, Mailchimp `[mailchimp] timeout_s`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Final

from segmail.connector.http import ConfigurationError
from segmail.connector.mailchimp import MailchimpApi
from segmail.connector.mailchimp_members import MailchimpMembers
from segmail.connector.records import Order
from segmail.connector.source import PageSource
from segmail.jobs.config import AppConfig

ENV_API_KEY: Final = "MAILCHIMP_API_KEY"
ENV_API_KEY_FILE: Final = "MAILCHIMP_API_KEY_FILE"
ENV_SHOPIFY_TOKEN: Final = "SHOPIFY_ACCESS_TOKEN"
ENV_WC_KEY: Final = "WC_CONSUMER_KEY"
ENV_WC_SECRET: Final = "WC_CONSUMER_SECRET"

Sleep = Callable[[float], None]


class WiringError(Exception):
    """A client cannot be built as configured: a secret, URL or id is missing; the message says what to set."""


def mailchimp_key(env: Mapping[str, str]) -> str:
    """The API key from MAILCHIMP_API_KEY, or from the file MAILCHIMP_API_KEY_FILE names."""
    key = env.get(ENV_API_KEY, "").strip()
    if not key and env.get(ENV_API_KEY_FILE):
        path = Path(env[ENV_API_KEY_FILE])
        try:
            key = path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise WiringError(f"{ENV_API_KEY_FILE}: cannot read {path}: {exc.strerror}") from None
    if not key:
        raise WiringError(f"set {ENV_API_KEY} (or {ENV_API_KEY_FILE}) to your Mailchimp API key")
    return key


def open_mailchimp(
    config: AppConfig, env: Mapping[str, str] | None = None, *, sleep: Sleep | None = None
) -> MailchimpApi:
    """The Mailchimp client for syncing an audience: `[mailchimp] list_id` must name it."""
    if not config.mailchimp.list_id:
        raise WiringError("mailchimp.list_id: set the audience id to sync with")
    return _mailchimp(config, os.environ if env is None else env, sleep)


def member_source(config: AppConfig, api: MailchimpApi) -> MailchimpMembers:
    """The audience's members as a page source, with `[mailchimp] lookback_minutes`."""
    mc = config.mailchimp
    return MailchimpMembers(api, mc.list_id, lookback=timedelta(minutes=mc.lookback_minutes))


def open_shop(
    config: AppConfig, env: Mapping[str, str] | None = None, *, sleep: Sleep | None = None
) -> PageSource[Order]:
    """The page source `[shop] kind` names, with its secrets from the environment; its caller closes it."""
    env = os.environ if env is None else env
    kind = config.shop.kind
    if kind == "csv":
        raise WiringError("shop.kind = 'csv': import order files with `segmail import orders FILE`")
    if kind == "mailchimp":
        return _mailchimp_store(config, env, sleep)
    if kind == "woocommerce":
        return _woocommerce(config, env, sleep)
    return _shopify(config, env, sleep)


def _secret(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise WiringError(f"set {name} in the environment")
    return value


def _mailchimp(config: AppConfig, env: Mapping[str, str], sleep: Sleep | None) -> MailchimpApi:
    mc = config.mailchimp
    try:
        return MailchimpApi(
            api_key=mailchimp_key(env), api_url=mc.api_url, timeout_s=mc.timeout_s, attempts=mc.attempts,
            max_connections=mc.max_connections, sleep=sleep,
        )  # fmt: skip
    except ConfigurationError as exc:  # a key without a data-centre suffix
        raise WiringError(str(exc)) from None


def _mailchimp_store(config: AppConfig, env: Mapping[str, str], sleep: Sleep | None) -> PageSource[Order]:
    from segmail.connector.mailchimp_ecommerce import MailchimpStoreOrders

    shop = config.shop
    assert shop.store_id is not None  # the config refuses kind = 'mailchimp' without it
    return MailchimpStoreOrders(
        _mailchimp(config, env, sleep), shop.store_id, statuses=shop.statuses,
        lookback=timedelta(minutes=shop.lookback_minutes),
    )  # fmt: skip


def _woocommerce(config: AppConfig, env: Mapping[str, str], sleep: Sleep | None) -> PageSource[Order]:
    from segmail.connector.woocommerce import WooCommerceClient, WooSettings

    shop = config.shop
    assert shop.url is not None  # the config refuses kind = 'woocommerce' without it
    try:
        settings = WooSettings(
            base_url=shop.url, consumer_key=_secret(env, ENV_WC_KEY), consumer_secret=_secret(env, ENV_WC_SECRET),
            page_size=min(shop.page_size, 100), timeout_s=shop.timeout_s,
            lookback=timedelta(minutes=shop.lookback_minutes),
        )  # fmt: skip
    except ValueError as exc:
        raise WiringError(f"shop: {exc}") from None
    return WooCommerceClient(settings, statuses=shop.statuses, sleep=sleep)


def _shopify(config: AppConfig, env: Mapping[str, str], sleep: Sleep | None) -> PageSource[Order]:
    from segmail.connector.shopify import ShopifyClient, ShopifySettings

    shop = config.shop
    assert shop.kind == "shopify" and shop.url is not None  # the config refuses it without a URL
    try:
        settings = ShopifySettings(
            shop_url=shop.url, access_token=_secret(env, ENV_SHOPIFY_TOKEN), api_version=shop.api_version,
            page_size=shop.page_size, timeout_s=shop.timeout_s, lookback=timedelta(minutes=shop.lookback_minutes),
        )  # fmt: skip
    except ValueError as exc:
        raise WiringError(f"shop: {exc}") from None
    return ShopifyClient(settings, statuses=shop.statuses, sleep=sleep)
