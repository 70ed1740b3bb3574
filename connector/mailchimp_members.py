"""An audience's members as a page source (connector/source.py): the cursor is the newest `last_changed`.

`MailchimpApi.members` reads the pages; this adds what only a reader of every page knows: the
cursor, which is the newest change stored so far and never moves back, and the look-back, which
starts each incremental read a short window before the cursor so that changes Mailchimp committed
out of order are read again rather than missed.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta

from segmail.connector.http import HttpStats
from segmail.connector.mailchimp import MailchimpApi
from segmail.connector.mailchimp_parse import MemberPage
from segmail.connector.source import DEFAULT_LOOKBACK, cursor_time, lookback_start


class MailchimpMembers:
    """The members of one audience, oldest change first, through a client its owner closes."""

    def __init__(self, api: MailchimpApi, list_id: str, *, lookback: timedelta = DEFAULT_LOOKBACK) -> None:
        self.api = api
        self.list_id = list_id
        self.lookback = lookback

    def pages(self, cursor: str | None) -> Iterator[MemberPage]:
        newest = None if cursor is None else cursor_time(cursor, "Mailchimp members")
        since = lookback_start(cursor, self.lookback, "Mailchimp members")
        for page in self.api.members(self.list_id, since=since):
            if page.newest_change is not None and (newest is None or page.newest_change > newest):
                newest = page.newest_change
            yield replace(page, cursor=None if newest is None else newest.isoformat())

    @property
    def stats(self) -> HttpStats:
        return self.api.stats

    def close(self) -> None:
        """Nothing to release: the client is shared with the sync's other steps, whose owner closes it."""
