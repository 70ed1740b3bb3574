"""The sandbox's endpoints, declared as a table of (method, path template) -> handler, without any HTTP."""

from __future__ import annotations

import re
from typing import Final
from urllib.parse import unquote

from segmail.sandbox.mailchimp_api_audience import AUDIENCE_ROUTES, MAX_SEGMENT_BATCH
from segmail.sandbox.mailchimp_api_campaigns import CAMPAIGN_ROUTES
from segmail.sandbox.mailchimp_api_members import MEMBER_ROUTES
from segmail.sandbox.mailchimp_api_reports import REPORT_ROUTES
from segmail.sandbox.mailchimp_records import StateError, not_found
from segmail.sandbox.mailchimp_request import ApiRequest, ApiResponse, Handler
from segmail.sandbox.mailchimp_state import SandboxState

__all__ = ["MAX_SEGMENT_BATCH", "ROUTES", "dispatch"]

# the audience endpoints (lists, members, segments), adding and deleting members, then campaigns, reports
# and e-commerce orders
ROUTES: Final[tuple[tuple[str, str, Handler], ...]] = (
    AUDIENCE_ROUTES + MEMBER_ROUTES + CAMPAIGN_ROUTES + REPORT_ROUTES
)


def _compile(template: str) -> re.Pattern[str]:
    return re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", template) + "$")


_COMPILED: Final = tuple((method, _compile(template), handler) for method, template, handler in ROUTES)


def dispatch(state: SandboxState, req: ApiRequest) -> ApiResponse:
    """Find the route and run it; StateError (a Mailchimp problem) propagates to the caller."""
    path_matched = False
    for method, pattern, handler in _COMPILED:
        match = pattern.match(req.path)
        if match is None:
            continue
        path_matched = True
        if method == req.method:
            params = {k: unquote(v) for k, v in match.groupdict().items()}
            return handler(
                state, ApiRequest(req.method, req.path, req.query, req.body, req.now, req.base_url, params)
            )
    if path_matched:
        raise StateError(
            405,
            "Method Not Allowed",
            "The requested method and resource are not compatible. See the Allow header for this resource's available methods.",
        )
    raise not_found()
