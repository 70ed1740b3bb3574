"""The workspace's pages, in the order the navigation shows them: the one place a page is registered.

A page is a module with a `PAGE = Page(key, title, path, routes)` (ui/views.py); adding one to PAGES
puts it in the navigation and serves its routes, nothing else to change.
"""

from __future__ import annotations

from segmail.ui import (
    overview,
    predictions_page,
    reports_page,
    rule_editor,
    segments_page,
    sends_page,
    templates_page,
)
from segmail.ui.views import Page

PAGES: tuple[Page, ...] = (
    overview.PAGE,
    segments_page.PAGE,
    rule_editor.PAGE,
    templates_page.PAGE,
    sends_page.PAGE,
    reports_page.PAGE,
    predictions_page.PAGE,
)
