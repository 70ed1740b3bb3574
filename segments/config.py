"""Segment definitions from `[segments]` in the config: built-ins with parameters, plus custom rules."""

from __future__ import annotations

import ast
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from segmail.segments.builtin import BUILTINS
from segmail.segments.rules import (
    FEATURES,
    FUNCTIONS,
    Compiler,
    ParamValue,
    RuleError,
    names_in,
    parse,
    unknown_function_message,
    unknown_name_message,
)
from segmail.segments.suggest import did_you_mean
from segmail.store.schema import features

_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")
_RESERVED = ("rule", "tag", "enabled", "description")
TAG_MAX = 100  # Mailchimp's limit on a tag name


class SegmentsSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    paid_statuses: tuple[str, ...] = ("paid", "completed", "processing", "partially_refunded")

    @field_validator("paid_statuses")
    @classmethod
    def _statuses(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        cleaned = tuple(dict.fromkeys(s.strip().lower() for s in value if s.strip()))
        if not cleaned:
            raise ValueError("must list at least one order status")
        return cleaned


@dataclass(frozen=True, kw_only=True)
class SegmentDef:
    name: str
    rule: str
    params: Mapping[str, ParamValue]
    tag: str
    enabled: bool
    description: str
    builtin: bool


class _Placeholder:
    """Statistics stand-in used only to type-check rules before any data is read."""

    def median_repurchase_days(self) -> Fraction | None:
        return Fraction(1)

    def top_spenders_threshold(self, percent: Fraction) -> Fraction | None:
        return Fraction(1)


def check_rule(defn: SegmentDef) -> list[str]:
    """A rule's problems: every unknown name at once, else the first the compiler (against the real
    feature columns) finds, then parameters the rule never reads."""
    key = f"segments.{defn.name}"
    try:
        tree = parse(defn.rule)
        unknown = unknown_names(tree, defn.params)
        if unknown:
            return [f"{key}.rule: {exc}" for exc in unknown]
        Compiler(source=features, as_of_us=0, params=defn.params, stats=_Placeholder()).compile(defn.rule)
    except RuleError as exc:
        return [f"{key}.rule: {exc}"]
    used = names_in(tree)
    unused = sorted(set(defn.params) - used)
    if unused and not defn.builtin:
        hints = "".join(did_you_mean(name, [*_RESERVED, *used]) for name in unused)
        return [f"{key}: parameter(s) {', '.join(unused)} not used by the rule (a typo?){hints}"]
    return []


def unknown_names(tree: ast.Expression, params: Collection[str]) -> list[RuleError]:
    """Every name a rule reads that is no feature or parameter, and every unknown function, in rule order."""
    callees = {id(node.func) for node in ast.walk(tree) if isinstance(node, ast.Call)}
    problems = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Name):
            continue
        if id(node) in callees:
            if node.id not in FUNCTIONS:
                problems.append(RuleError(unknown_function_message(node.id), node.col_offset + 1))
        elif node.id not in FEATURES and node.id not in params:
            problems.append(RuleError(unknown_name_message(node.id, list(params)), node.col_offset + 1))
    return sorted(problems, key=lambda exc: exc.column)


def parse_segments(
    raw: Mapping[str, Any], errors: list[str], *, tag_prefix: str
) -> tuple[SegmentsSettings, dict[str, SegmentDef]]:
    """Validate `[segments]`; problems are appended to `errors` as `key: message`."""
    settings_raw = {k: v for k, v in raw.items() if not isinstance(v, dict)}
    tables = {k: v for k, v in raw.items() if isinstance(v, dict)}
    try:
        settings = SegmentsSettings.model_validate(settings_raw)
    except ValidationError as exc:
        errors.extend(format_errors(exc, "segments", SegmentsSettings.model_fields))
        settings = SegmentsSettings()
    defs: dict[str, SegmentDef] = {}
    for name in [*BUILTINS, *(n for n in tables if n not in BUILTINS)]:
        defn = _segment(name, tables.get(name, {}), tag_prefix, errors)
        if defn is not None:
            defs[name] = defn
    tags: dict[str, str] = {}
    for defn in defs.values():
        if defn.tag in tags:
            errors.append(
                f"segments.{defn.name}.tag: {defn.tag!r} is already the tag of segment {tags[defn.tag]}"
            )
        tags[defn.tag] = defn.name
    return settings, defs


def _segment(name: str, table: Mapping[str, Any], tag_prefix: str, errors: list[str]) -> SegmentDef | None:
    key = f"segments.{name}"
    if _NAME.fullmatch(name) is None:
        errors.append(
            f"{key}: a segment name is lower case letters, digits and _ (at most 64), starting with a letter"
        )
        return None
    builtin = BUILTINS.get(name)
    start = len(errors)
    rule = table.get("rule", builtin.rule if builtin else None)
    if not isinstance(rule, str) or not rule.strip():
        errors.append(f'{key}.rule: expected a rule expression (a string), e.g. rule = "orders_count >= 3"')
    tag = table.get("tag", f"{tag_prefix}{name}")
    if not isinstance(tag, str) or not tag.strip() or len(tag) > TAG_MAX:
        errors.append(f"{key}.tag: expected a tag name of 1 to {TAG_MAX} characters, got {tag!r}")
    enabled = table.get("enabled", builtin.enabled if builtin else True)
    if not isinstance(enabled, bool):
        errors.append(f"{key}.enabled: expected true or false, got {enabled!r}")
    description = table.get("description", builtin.description if builtin else "")
    if not isinstance(description, str):
        errors.append(f"{key}.description: expected a string, got {description!r}")
    raw_params = {k: v for k, v in table.items() if k not in _RESERVED}
    params: dict[str, ParamValue] = {}
    if builtin is not None:
        try:
            params = builtin.params.model_validate(raw_params).model_dump()
        except ValidationError as exc:
            errors.extend(format_errors(exc, key, [*builtin.params.model_fields, *_RESERVED]))
    else:
        for pname, value in raw_params.items():
            if pname in FEATURES:
                errors.append(f"{key}.{pname}: a parameter cannot have the name of a feature")
            elif not _is_param(value):
                errors.append(
                    f"{key}.{pname}: expected a number, string, boolean or a list of them, got {value!r}"
                )
            else:
                params[pname] = value
    if len(errors) > start:
        return None
    defn = SegmentDef(
        name=name,
        rule=str(rule).strip(),
        params=params,
        tag=str(tag).strip(),
        enabled=bool(enabled),
        description=str(description),
        builtin=builtin is not None,
    )
    problems = check_rule(defn)
    if problems:
        errors.extend(problems)
        return None
    return defn


def _is_param(value: Any) -> bool:
    scalar = (int, float, str, bool)
    if isinstance(value, list):
        return all(isinstance(v, scalar) for v in value)
    return isinstance(value, scalar)


def format_errors(exc: ValidationError, prefix: str, known: Collection[str] = ()) -> list[str]:
    """pydantic errors as `dotted.key: message, got value`, naming the TOML key.

    `known` are the keys the table accepts, so an unknown key gets a "did you mean".
    """
    out = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in (prefix, *err["loc"]) if p != "")
        if err["type"] == "extra_forbidden":
            hint = did_you_mean(str(err["loc"][-1]), known) if len(err["loc"]) == 1 else ""
            out.append(f"{loc}: unknown key{hint or ' (check the spelling; see config.example.toml)'}")
            continue
        msg = err["msg"].removeprefix("Value error, ")
        shown = "input" in err and not isinstance(err["input"], dict) and "got" not in msg
        got = f", got {err['input']!r}" if shown else ""
        out.append(f"{loc}: {msg}{got}")
    return out
