"""Members deleted permanently in Mailchimp are erased here as well, in the cycle whose pull sees them gone.

An incremental member pull (`since_last_changed`) never sees a deletion: a deleted member simply stops
being listed. Mailchimp's `archived` is no deletion (the member keeps its data there and can come
back), so a member is taken as gone only when Mailchimp answers 404 for its id. How a gone member
is found, after every member pull:

1. A cheap count, every pull: the audience's `total_items` (one request, `count=1`) against how many
   members segmail has seen. New members are pulled into both sides, so the difference stays put
   while nobody leaves. It grows when a member is deleted (or archived, if Mailchimp's total leaves
   archived members out: its docs do not say, so the difference a full pass explained is the
   baseline, whichever way it counts). When it grows past the baseline, step 2 runs at once.
2. A full pass, then and at least every `[privacy] gone_check_every` (1 day, for what the count
   cannot see, e.g. a deletion and a sign-up between two pulls): every member id of the audience
   (`fields=members.id`, 1,000 a request). A member segmail has seen whose id is not listed is asked
   for by id; only a 404 erases it (a member missed because the listing shifted while it was read
   answers, and stays).
The erasure is the same as `segmail forget` (store/erasure.py) and is recorded in the privacy audit
log as "mailchimp: deleted there". The first check of a store only records the baseline.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from segmail.connector import mailchimp_privacy as mc
from segmail.connector.mailchimp import MailchimpApi
from segmail.jobs.config import AppConfig
from segmail.jobs.stopping import StopCheck, bounded_map, never
from segmail.store import audience, audit
from segmail.store.codec import to_us
from segmail.store.db import Store, get_meta, set_meta
from segmail.store.erasure import erase_people

log = logging.getLogger("segmail.sync")
REQUEST = "mailchimp: deleted there"


@dataclass(frozen=True)
class GoneCheck:
    passed: bool  # a full pass over the audience's ids ran
    erased: int  # members found deleted in Mailchimp and erased here


def check(
    store: Store,
    config: AppConfig,
    api: MailchimpApi,
    *,
    now: datetime,
    command: str,
    stop: StopCheck = never,
) -> GoneCheck:
    list_id = config.mailchimp.list_id
    key = f"mailchimp_gone:{list_id}"
    total = mc.member_total(api, list_id)
    with store.engine.begin() as conn:
        seen = audience.seen_count(conn)
        state = get_meta(conn, key)
        if state is None:  # the first check: what it sees now is the baseline
            set_meta(conn, key, {"baseline": seen - total, "passed_at": to_us(now)})
            return GoneCheck(False, 0)
    due = to_us(now) - int(state["passed_at"]) >= config.privacy.gone_check_every.total_seconds() * 1e6
    if seen - total <= int(state["baseline"]) and not due:
        return GoneCheck(False, 0)
    gone = _gone(store, api, list_id, workers=config.mailchimp.max_connections, stop=stop)
    erased = 0
    with store.engine.begin() as conn:
        if gone:
            done = erase_people(conn, gone, now_us=to_us(now))
            erased = done.people
            entry = audit.Entry(
                kind="erasure", request=REQUEST, command=command, people=erased, rows=done.rows
            )
            audit.record(conn, entry, now_us=to_us(now))
        set_meta(conn, key, {"baseline": audience.seen_count(conn) - total, "passed_at": to_us(now)})
    if erased:
        log.warning("%d member(s) were deleted permanently in Mailchimp; erased here too", erased)
    return GoneCheck(True, erased)


def _gone(store: Store, api: MailchimpApi, list_id: str, *, workers: int, stop: StopCheck) -> list[str]:
    """Seen members the audience no longer lists and Mailchimp answers 404 for."""
    listed = set(mc.member_ids(api, list_id))
    with store.engine.begin() as conn:
        missing = {
            mc.subscriber_hash(k): k for k in audience.seen_keys(conn) if mc.subscriber_hash(k) not in listed
        }
    if not missing:
        return []

    def status(member_id: str) -> str | None:
        return mc.member_status(api, list_id, member_id)

    return sorted(
        missing[h] for h, found in bounded_map(status, missing, workers=workers, stop=stop) if found is None
    )
