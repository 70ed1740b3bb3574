"""`segmail sandbox serve`: a Mailchimp sandbox with a generated audience and, on request, a fake shop
serving the same generated orders, so a trial's orders match its members; runs until Ctrl-C."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from contextlib import ExitStack
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # each is imported when served: the Shopify one loads a GraphQL schema
    from segmail.sandbox.shopify import ShopifySandbox
    from segmail.sandbox.woocommerce import WooCommerceSandbox


def serve(
    *,
    port: int,
    seed: int,
    contacts: int,
    as_of: datetime,
    faults: str | None,
    api_key: str,
    shop: str,
    note: Callable[[str], None],
) -> int:
    """Serve until Ctrl-C; `note` gets what a user must set to point segmail at the sandboxes."""
    from segmail.sandbox.mailchimp import main as serve_mailchimp
    from segmail.sandbox.shopgen import generate_shop

    argv = ["--port", str(port), "--seed", str(seed), "--contacts", str(contacts)]
    argv += ["--api-key", api_key, "--as-of", as_of.isoformat()]
    if faults:
        argv += ["--faults", faults]
    with ExitStack() as stack:
        if shop != "none":  # the same generated shop as the audience, so orders match members
            folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="segmail-shop-")))
            files = generate_shop(folder, contacts=contacts, seed=seed, as_of=as_of)
            box, env = _shop_sandbox(shop)
            box.load_orders(files.orders, contacts_csv=files.contacts)
            stack.enter_context(box)
            note(f"{shop} sandbox: [shop] kind = {shop!r}, url = {box.base_url!r}; {env}")
        note(
            f"Mailchimp sandbox (key {api_key}) starting; its base URL is printed below "
            "(set [mailchimp] api_url to it). Ctrl-C stops it."
        )
        return serve_mailchimp(argv)


def _shop_sandbox(kind: str) -> tuple[WooCommerceSandbox | ShopifySandbox, str]:
    """The shop sandbox of `kind`, and the environment segmail needs to reach it."""
    if kind == "woocommerce":
        from segmail.sandbox.woocommerce import WooCommerceSandbox

        woo = WooCommerceSandbox()
        return woo, f"WC_CONSUMER_KEY={woo.consumer_key} WC_CONSUMER_SECRET={woo.consumer_secret}"
    from segmail.sandbox.shopify import ShopifySandbox

    shopify = ShopifySandbox()
    return shopify, f"SHOPIFY_ACCESS_TOKEN={shopify.access_token}"
