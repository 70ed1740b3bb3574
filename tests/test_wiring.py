"""jobs/wiring.py: clients from the config and the environment; one clear error per missing secret."""

from __future__ import annotations

import pytest

from segmail.jobs.config import ConfigError
from segmail.jobs.wiring import WiringError, mailchimp_key, member_source, open_mailchimp, open_shop
from tests.shop import config

KEY = "0123456789abcdef0123456789abcdef-us6"


def mailchimp(**kw):
    return config(mailchimp={"list_id": "list1", **kw})


def test_the_key_comes_from_the_environment_or_from_the_file_it_names(tmp_path):
    key_file = tmp_path / "key"
    key_file.write_text(f"{KEY}\n", encoding="utf-8")  # as `echo` or a secrets manager writes it
    assert mailchimp_key({"MAILCHIMP_API_KEY_FILE": str(key_file)}) == KEY
    other = "fedcba9876543210fedcba9876543210-us2"
    assert mailchimp_key({"MAILCHIMP_API_KEY": other, "MAILCHIMP_API_KEY_FILE": str(key_file)}) == other
    api = open_mailchimp(mailchimp(), {"MAILCHIMP_API_KEY_FILE": str(key_file)})
    try:
        assert api.client.api_client.host == "https://us6.api.mailchimp.com/3.0"  # the key's data centre
    finally:
        api.close()


def test_an_unreadable_key_file_names_the_variable_and_the_file(tmp_path):
    missing = tmp_path / "no-such-key"
    with pytest.raises(
        WiringError, match=r"^MAILCHIMP_API_KEY_FILE: cannot read .*no-such-key: No such file"
    ):
        open_mailchimp(mailchimp(), {"MAILCHIMP_API_KEY_FILE": str(missing)})


@pytest.mark.parametrize(
    ("cfg", "env", "says"),
    [
        (mailchimp(), {}, "set MAILCHIMP_API_KEY (or MAILCHIMP_API_KEY_FILE) to your Mailchimp API key"),
        (mailchimp(), {"MAILCHIMP_API_KEY": "  "}, "set MAILCHIMP_API_KEY (or MAILCHIMP_API_KEY_FILE)"),
        (config(), {"MAILCHIMP_API_KEY": KEY}, "mailchimp.list_id: set the audience id to sync with"),
    ],
)
def test_a_missing_mailchimp_setting_is_one_error_naming_it(cfg, env, says):
    with pytest.raises(WiringError) as info:
        open_mailchimp(cfg, env)
    assert str(info.value).startswith(says) and "\n" not in str(info.value)


def test_a_key_without_a_data_centre_is_refused_without_showing_it():
    with pytest.raises(WiringError, match="data centre suffix") as info:
        open_mailchimp(mailchimp(), {"MAILCHIMP_API_KEY": "secretvalue1234"})
    assert "secretvalue1234" not in str(info.value)


SHOPIFY = {"kind": "shopify", "url": "https://example.myshopify.com"}
WOO = {"kind": "woocommerce", "url": "https://shop.example.com"}
STORE = {"kind": "mailchimp", "store_id": "store1"}


@pytest.mark.parametrize(
    ("shop", "env", "names"),
    [
        (SHOPIFY, {}, "SHOPIFY_ACCESS_TOKEN"),
        (WOO, {}, "WC_CONSUMER_KEY"),
        (WOO, {"WC_CONSUMER_KEY": "ck_1"}, "WC_CONSUMER_SECRET"),
        (STORE, {}, "MAILCHIMP_API_KEY"),
    ],
)
def test_a_missing_shop_secret_is_one_error_naming_the_variable(shop, env, names):
    with pytest.raises(WiringError) as info:
        open_shop(config(shop=shop), env)
    assert names in str(info.value) and "\n" not in str(info.value)
    assert "ck_1" not in str(info.value)


def test_csv_orders_have_no_source_to_open():
    with pytest.raises(WiringError, match="segmail import orders FILE"):
        open_shop(config(), {})


def test_shop_clients_take_the_shops_timeout_not_mailchimps():
    slow_mailchimp = {"timeout_s": 90}
    shopify = open_shop(config(mailchimp=slow_mailchimp, shop=SHOPIFY | {"timeout_s": 7}),
                        {"SHOPIFY_ACCESS_TOKEN": "shpat_x"})  # fmt: skip
    woo = open_shop(config(mailchimp=slow_mailchimp, shop=WOO | {"timeout_s": 8}),
                    {"WC_CONSUMER_KEY": "ck_1", "WC_CONSUMER_SECRET": "cs_1"})  # fmt: skip
    default = open_shop(
        config(mailchimp=slow_mailchimp, shop=WOO), {"WC_CONSUMER_KEY": "k", "WC_CONSUMER_SECRET": "s"}
    )
    try:
        assert shopify.settings.timeout_s == 7  # type: ignore[attr-defined]
        assert woo.settings.timeout_s == 8  # type: ignore[attr-defined]
        assert default.settings.timeout_s == 30  # type: ignore[attr-defined]
    finally:
        for source in (shopify, woo, default):
            source.close()


def test_a_bad_shop_timeout_names_its_key():
    with pytest.raises(ConfigError) as info:
        config(shop=SHOPIFY | {"timeout_s": 0})
    assert any(p.startswith("shop.timeout_s:") for p in info.value.problems), info.value.problems


def test_sources_take_their_look_back_from_their_own_section():
    api = open_mailchimp(mailchimp(lookback_minutes=3), {"MAILCHIMP_API_KEY": KEY})
    shop = open_shop(config(shop=SHOPIFY | {"lookback_minutes": 25}), {"SHOPIFY_ACCESS_TOKEN": "shpat_x"})
    try:
        assert member_source(mailchimp(lookback_minutes=3), api).lookback.total_seconds() == 180
        assert shop.settings.lookback.total_seconds() == 1500  # type: ignore[attr-defined]
    finally:
        api.close()
        shop.close()
