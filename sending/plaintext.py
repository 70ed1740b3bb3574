"""The plain-text part of a mail, derived from its HTML so marketers write every mail once.

Mail clients that show text (and spam filters that compare both parts) get headings, paragraphs,
lists and links as `text (url)`; Mailchimp merge tags pass through as text.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

_VOID = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
)
_SKIPPED = frozenset({"head", "style", "script", "title", "template", "noscript"})
_PARAGRAPH = frozenset(
    {"p", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "table", "blockquote", "pre", "hr"}
)
_LINE = frozenset({"br", "div", "tr", "li", "section", "header", "footer", "article", "center", "dd", "dt"})
_UNDERLINE = {"h1": "=", "h2": "-"}
_HIDDEN = re.compile(r"display\s*:\s*none", re.IGNORECASE)
# markers no HTML text contains, for "end of line" and "end of paragraph"; a run of them becomes
# one line break, or a blank line if any of them ends a paragraph
_LINE_END, _PARAGRAPH_END = "\x00", "\x01"
_AS_SPACE = str.maketrans({_LINE_END: " ", _PARAGRAPH_END: " "})
_BREAKS = re.compile(r"[ \x00\x01]*[\x00\x01][ \x00\x01]*")


def html_to_text(html: str) -> str:
    parser = _TextParser()
    parser.feed(html)
    parser.close()
    return parser.text()


class _TextParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)  # entities arrive decoded: no `&amp;` in the text part
        self._out: list[str] = []
        self._skip: tuple[str, int] | None = None  # tag being skipped and how deeply it is nested
        self._links: list[tuple[str, int]] = []  # href and where the link's text starts in _out
        self._headings: list[tuple[str, int]] = []
        self._lists: list[list[int]] = []  # one counter per open list; -1 for bullets

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self._skip is not None:
            if tag == self._skip[0]:
                self._skip = (tag, self._skip[1] + 1)
            return
        attributes = dict(attrs)
        if tag in _SKIPPED or _HIDDEN.search(attributes.get("style") or ""):
            # preheaders are hidden HTML text that would only repeat the mail's first lines
            if tag not in _VOID:
                self._skip = (tag, 1)
            return
        self._break(tag)
        if tag == "a":
            self._links.append((attributes.get("href") or "", len(self._out)))
        elif tag in _UNDERLINE:
            self._headings.append((tag, len(self._out)))
        elif tag in ("ul", "ol"):
            self._lists.append([0 if tag == "ol" else -1])
        elif tag == "li":
            self._list_item()
        elif tag == "img" and self._links:
            self._out.append(attributes.get("alt") or "")  # a linked image still needs words
        elif tag == "td" or tag == "th":
            self._out.append(" ")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in _VOID:
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if self._skip is not None:
            if tag == self._skip[0]:
                depth = self._skip[1] - 1
                self._skip = (tag, depth) if depth else None
            return
        if tag == "a" and self._links:
            self._end_link(*self._links.pop())
        elif tag in _UNDERLINE and self._headings:
            self._end_heading(*self._headings.pop())
        elif tag in ("ul", "ol") and self._lists:
            self._lists.pop()
        self._break(tag)

    def handle_data(self, data: str) -> None:
        if self._skip is None:
            self._out.append(data)

    def text(self) -> str:
        # source line breaks are layout, not content: only block elements end a line
        text = " ".join("".join(self._out).split())
        text = _BREAKS.sub(lambda m: "\n\n" if _PARAGRAPH_END in m[0] else "\n", text)
        return text.strip() + "\n"

    def _break(self, tag: str) -> None:
        if tag in _PARAGRAPH:
            self._out.append(_PARAGRAPH_END)
        elif tag in _LINE:
            self._out.append(_LINE_END)

    def _list_item(self) -> None:
        if not self._lists:
            self._out.append("- ")
            return
        counter = self._lists[-1]
        if counter[0] < 0:
            self._out.append("- ")
        else:
            counter[0] += 1
            self._out.append(f"{counter[0]}. ")

    def _end_link(self, href: str, start: int) -> None:
        label = " ".join("".join(self._out[start:]).translate(_AS_SPACE).split())
        target = href.removeprefix("mailto:")
        if not href or href.startswith("#") or target == label:
            return
        self._out.append(f" ({target})" if label else target)

    def _end_heading(self, tag: str, start: int) -> None:
        title = " ".join("".join(self._out[start:]).translate(_AS_SPACE).split())
        if title:
            self._out[start:] = [title, _LINE_END, _UNDERLINE[tag] * len(title)]
