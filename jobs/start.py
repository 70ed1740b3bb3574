"""Starting the service: every check that can fail at start runs here, with one clear message each.

A broken config, a missing key or an unreachable Mailchimp must stop `segmail run` at once with a
non-zero exit, not surface later as a failing cycle in a log nobody reads.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from datetime import datetime

from segmail.connector.http import ApiError, ConfigurationError
from segmail.jobs.config import AppConfig
from segmail.jobs.config_watch import ConfigWatch, config_file
from segmail.jobs.send import Sender, make_renderer
from segmail.jobs.service import Service, utc_now
from segmail.jobs.start_error import StartError
from segmail.jobs.wiring import ENV_API_KEY, ENV_API_KEY_FILE, WiringError, open_mailchimp, open_shop
from segmail.store.db import Store

log = logging.getLogger("segmail.service")
ENV_HINT = f"{ENV_API_KEY} or {ENV_API_KEY_FILE}"


def open_service(
    config: AppConfig,
    store: Store,
    env: Mapping[str, str] | None = None,
    *,
    now: Callable[[], datetime] = utc_now,
) -> Service:
    env = os.environ if env is None else env
    for warning in config.warnings:  # `rules check` prints the same; a service log is where operators look
        log.warning("config: %s", warning)
    try:
        api = open_mailchimp(config, env)
    except WiringError as exc:
        raise StartError(str(exc), 2) from None
    try:
        api.ping()
    except ConfigurationError as exc:
        api.close()
        raise StartError(f"Mailchimp refused the API key ({ENV_HINT}): {exc}", 2) from None
    except ApiError as exc:
        api.close()
        raise StartError(f"cannot reach Mailchimp at {api.client.api_client.host}: {exc}", 1) from None
    source = None
    if config.shop.kind != "csv":
        try:
            source = open_shop(config, env)
        except WiringError as exc:
            api.close()
            raise StartError(str(exc), 2) from None
    sender = None
    if config.enabled_campaigns:
        try:
            renderer = make_renderer(config)
        except (OSError, ValueError) as exc:
            raise StartError(f"send.templates_dir: cannot load the templates: {exc}", 2) from None
        for campaign in config.enabled_campaigns:  # reported now; a broken one fails alone at send time
            for _, template, subject in campaign.mails():
                for problem in renderer.check([template]) + renderer.check_subject(subject):
                    log.error("campaign %s: %s", campaign.name, problem)
        sender = Sender(store, config, api, renderer, now=now)
    path = config_file(config)
    watch = None if path is None else ConfigWatch(path, env)
    return Service(config, store, api, source, sender=sender, now=now, watch=watch)
