"""Static reading of templates: the variables they use (with lines), the files they pull in, gettext use."""

from __future__ import annotations

from collections.abc import Iterator

from jinja2 import meta, nodes
from jinja2.sandbox import SandboxedEnvironment

from segmail.sending.template_env import GETTEXT_NAMES
from segmail.sending.template_errors import unknown_name_message

# The render context the planner provides; anything else a template reads is a typo or a wish.
CONTEXT_NAMES = frozenset({"segment", "language", "country", "season", "campaign", "send_date", "shop"})


class DynamicReference(Exception):
    """`{% include some_variable %}`: which files a template depends on is unknowable before rendering."""


def parse(env: SandboxedEnvironment, name: str) -> nodes.Template:
    assert env.loader is not None
    source, filename, _ = env.loader.get_source(env, name)
    return env.parse(source, name, filename)


def with_references(env: SandboxedEnvironment, name: str) -> Iterator[tuple[str, nodes.Template]]:
    """The template and every layout, include and import it reaches, each once."""
    pending, seen = [name], set()
    while pending:
        current = pending.pop()
        if current in seen:
            continue
        seen.add(current)
        tree = parse(env, current)
        yield current, tree
        for ref in meta.find_referenced_templates(tree):
            if ref is None:
                raise DynamicReference(current)
            pending.append(ref)


def used_names(tree: nodes.Template) -> frozenset[str]:
    """Names read but not set in the template (Jinja's globals such as `range` and `_` excluded)."""
    return frozenset(meta.find_undeclared_variables(tree))


def uses_gettext(tree: nodes.Template) -> bool:
    # `{% trans %}` compiles to a call of the `gettext` name, so one search finds both spellings
    return any(node.name in GETTEXT_NAMES for node in tree.find_all(nodes.Name))


def unknown_filters_and_tests(env: SandboxedEnvironment, tree: nodes.Template) -> list[tuple[str, int]]:
    """Every filter and test the environment lacks, each with its line and message.

    Jinja stops at the first unknown filter, and an unknown test inside `{% if %}` fails only when
    that branch runs (perhaps only for one country); reading the tree finds them all before a send.
    Jinja's own static analysis (`used_names`) cannot run on a tree with an unknown filter.
    """
    found: list[tuple[str, int]] = []
    for node in tree.find_all((nodes.Filter, nodes.Test)):
        kind, known = ("filter", env.filters) if isinstance(node, nodes.Filter) else ("test", env.tests)
        if node.name not in known:
            found.append((unknown_name_message(kind, node.name, known), node.lineno))
    return sorted(set(found), key=lambda item: (item[1], item[0]))


def unknown_variables(tree: nodes.Template) -> list[tuple[str, int]]:
    """Names outside the render context, each with the line it is first read on."""
    unknown = used_names(tree) - CONTEXT_NAMES - _top_level_names(tree)
    lines: dict[str, int] = {}
    for node in tree.find_all(nodes.Name):
        if node.name in unknown and node.ctx == "load":
            lines[node.name] = min(lines.get(node.name, node.lineno), node.lineno)
    return sorted(lines.items(), key=lambda item: (item[1], item[0]))


def _top_level_names(tree: nodes.Template) -> set[str]:
    # Jinja's meta analysis treats each block on its own, so a top-level `{% import %}` or
    # `{% set %}` of a child template looks undeclared inside its blocks; at render time it is not.
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, nodes.Import):
            names.add(node.target)
        elif isinstance(node, nodes.FromImport):
            names.update(item if isinstance(item, str) else item[1] for item in node.names)
        elif isinstance(node, nodes.Assign | nodes.AssignBlock):
            names.update(name.name for name in node.target.find_all(nodes.Name) if name.ctx == "store")
            if isinstance(node.target, nodes.Name):
                names.add(node.target.name)
    return names
