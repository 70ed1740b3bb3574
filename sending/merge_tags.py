"""Fills Mailchimp merge tags for one sample recipient, so `segmail render --contact` shows what a person sees.

Campaigns keep their merge tags: Mailchimp fills them per recipient at send time. This is only for
previews. The syntax follows Mailchimp's documents:
- merge tags and the audience fields behind them (`*|FNAME|*`, `*|LNAME|*`, `*|EMAIL|*`; FNAME, LNAME,
  ADDRESS and PHONE are the default fields): https://mailchimp.com/developer/marketing/docs/merge-fields/
  and the cheat sheet https://mailchimp.com/help/all-the-merge-tags-cheat-sheet/
- conditional blocks `*|IF:TAG|*`, `*|IF:TAG=x|*`, `*|IF:TAG!=x|*`, `*|IFNOT:TAG|*`, `*|ELSEIF:…|*`,
  `*|ELSE:|*`, `*|END:IF|*`, nested; `IF:TAG` is true when the recipient has a value:
  https://mandrill.zendesk.com/hc/en-us/articles/360039278713-About-Dynamic-and-Conditional-Merge-Tags

Tags this preview has no value for (`*|UNSUB|*`, `*|UPDATE_PROFILE|*`, `*|ARCHIVE|*`, an ADDRESS the
store does not hold, custom fields) stay as they are, and so does a condition on one of them; they
are listed so the preview says what Mailchimp will still fill.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

_TAG = re.compile(r"\*\|([^|*]*)\|\*")
# Mailchimp documents =, != and the orderings for numbers; the ordering forms are read as numbers here
_CONDITION = re.compile(r"^\s*([A-Za-z0-9_:]+)\s*(?:(=|!=|>=|<=|>|<)\s*(.*?))?\s*$")


class MergeTagError(ValueError):
    """Conditional blocks that do not nest (an `*|END:IF|*` too many or missing): Mailchimp refuses these too."""


@dataclass(frozen=True, slots=True)
class Filled:
    text: str
    left: tuple[str, ...]  # tags left for Mailchimp, e.g. ("*|UNSUB|*",), each once, in order


@dataclass(frozen=True, slots=True)
class _Tag:
    text: str  # as written, e.g. *|fname|*
    name: str  # upper case, e.g. FNAME


@dataclass
class _Block:
    """One `*|IF|*` … `*|END:IF|*`: its branches as (opening tag, condition or None for ELSE, parts)."""

    branches: list[tuple[str, str | None, list[_Part]]] = field(default_factory=list)
    end: str = ""


_Part = str | _Tag | _Block


def fill(text: str, values: Mapping[str, str], *, escape: bool) -> Filled:
    """`values` maps tag names (FNAME) to the recipient's value ("" for a known empty field).

    `escape` HTML-escapes values for an HTML part; a name like `Tom & Jerry` must not break markup.
    Tag names are matched without regard to case (Mailchimp's own tags are upper case; the
    documents do not say whether `*|fname|*` works, so a preview does not insist).
    """
    upper = {k.upper(): v for k, v in values.items()}
    left: dict[str, None] = {}
    out = "".join(_emit(_parse(text), upper, escape, left))
    return Filled(out, tuple(left))


def _parse(text: str) -> list[_Part]:
    root: list[_Part] = []
    stack: list[tuple[_Block, list[_Part]]] = []
    current = root
    pos = 0
    for match in _TAG.finditer(text):
        current.append(text[pos : match.start()])
        pos = match.end()
        tag, name = match[0], match[1].strip().upper()
        condition = match[1].split(":", 1)[-1]
        if name.startswith(("IF:", "IFNOT:")):
            block = _Block()
            current.append(block)
            parts: list[_Part] = []
            block.branches.append((tag, ("!" if name.startswith("IFNOT:") else "") + condition, parts))
            stack.append((block, current))
            current = parts
        elif name.startswith("ELSEIF:") or name == "ELSE:":
            if not stack or stack[-1][0].branches[-1][1] is None:
                raise MergeTagError(f"{tag} without an open *|IF:…|* block")
            parts = []
            stack[-1][0].branches.append((tag, None if name == "ELSE:" else condition, parts))
            current = parts
        elif name == "END:IF":
            if not stack:
                raise MergeTagError(f"{tag} without an open *|IF:…|* block")
            block, current = stack.pop()
            block.end = tag
        else:
            current.append(_Tag(tag, name))
    current.append(text[pos:])
    if stack:
        raise MergeTagError(f"{stack[-1][0].branches[0][0]} is never closed with *|END:IF|*")
    return root


def _emit(
    parts: list[_Part], values: Mapping[str, str], escape: bool, left: dict[str, None]
) -> Iterator[str]:
    for part in parts:
        if isinstance(part, _Block):
            yield from _emit_block(part, values, escape, left)
        elif isinstance(part, _Tag) and part.name in values:
            yield html.escape(values[part.name], quote=True) if escape else values[part.name]
        elif isinstance(part, _Tag):
            left[part.text] = None
            yield part.text
        else:
            yield part


def _emit_block(
    block: _Block, values: Mapping[str, str], escape: bool, left: dict[str, None]
) -> Iterator[str]:
    decided: list[bool | None] = [None if c is None else _holds(c, values) for _, c, _ in block.branches]
    if any(d is None and c is not None for d, (_, c, _) in zip(decided, block.branches, strict=True)):
        # a condition on a field this preview does not know: keep the block for Mailchimp
        left[block.branches[0][0]] = None
        for tag, _, parts in block.branches:
            yield tag
            yield from _emit(parts, values, escape, left)
        yield block.end
        return
    for (_, condition, parts), holds in zip(block.branches, decided, strict=True):
        if condition is None or holds:
            yield from _emit(parts, values, escape, left)
            return


def _holds(condition: str, values: Mapping[str, str]) -> bool | None:
    """True or False for the recipient, None when the tag has no known value here."""
    negate = condition.startswith("!")
    match = _CONDITION.match(condition.removeprefix("!"))
    if match is None:
        raise MergeTagError(f"cannot read the merge tag condition {condition!r}")
    name, op, expected = match[1].upper(), match[2], match[3]
    if name not in values:
        return None
    value = values[name]
    if op is None:
        result = value != ""
    elif op in ("=", "!="):
        result = (value == expected) == (op == "=")
    else:
        result = _ordered(value, op, expected or "")
    return result != negate


def _ordered(value: str, op: str, expected: str) -> bool:
    try:
        a, b = float(value), float(expected)
    except ValueError:
        return False  # an empty or non-numeric value compares as not matching
    return {">": a > b, "<": a < b, ">=": a >= b, "<=": a <= b}[op]
