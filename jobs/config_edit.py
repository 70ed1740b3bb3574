"""One segment's rule, parameters and `enabled`, edited in the config file: checked as a whole config
first, saved with a timestamped backup, never over a file that changed since the editor read it.

The file is edited with tomlkit, a round-trip TOML library: comments, key order, quoting and blank
lines of everything else stay as the marketer or the admin wrote them (Python's tomllib only reads,
and re-serialising a dict would drop every comment). After the edit, tomllib reads the new text and
everything but `[segments.NAME]` must equal what it read before: the edit cannot touch another key.

Saving: the backup is the old file, byte for byte, beside it (`NAME.toml.20261201T101500123456Z.bak`);
the new text goes to a temporary file in the same folder, is flushed to disk and replaces the old one
in one rename, so a reader (the service's next cycle) sees either version, never half of one. Both
files are the process user's, with the old file's permissions less any group or other write bit:
only segmail's own user can write the config it edits, and nobody can read more than before.
"""

from __future__ import annotations

import os
import stat
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import tomlkit
from tomlkit.items import InlineTable
from tomlkit.items import Table as TomlTable

from segmail.jobs.config import AppConfig, ConfigError, parse_config
from segmail.jobs.config_watch import Fingerprint, fingerprint, fingerprint_of
from segmail.segments.rules import ParamValue

RESERVED = ("rule", "tag", "enabled", "description")  # keys of a segment table that are no parameters


class EditRefused(Exception):
    """The edit is not saved; the message says why and what to do."""


class FileChanged(EditRefused):
    """The file is not the version the editor started from."""


@dataclass(frozen=True, kw_only=True)
class SegmentEdit:
    segment: str
    rule: str
    params_text: str  # TOML `name = value` lines, as the editor shows them
    enabled: bool

    def normalised_rule(self) -> str:
        """A rule is one expression: line breaks typed in the editor are spaces."""
        return " ".join(self.rule.replace("\r", "\n").split("\n")).strip()


@dataclass(frozen=True, kw_only=True)
class Edited:
    """The file as it would be after the edit, and what checking it found."""

    base: Fingerprint  # the version of the file the edit applies to
    text: str
    config: AppConfig | None  # None when `problems`
    problems: list[str] = field(default_factory=list)


@dataclass(frozen=True, kw_only=True)
class Saved:
    path: Path
    backup: Path
    fingerprint: Fingerprint
    config: AppConfig


def params_text(params: Mapping[str, ParamValue]) -> str:
    """A segment's parameters as the TOML lines the editor shows."""
    return "".join(tomlkit.dumps({name: value}) for name, value in params.items())


def parse_params(segment: str, text: str) -> tuple[dict[str, ParamValue], list[str]]:
    """The editor's parameter lines; problems name the segment's key as the config's own errors do."""
    key = f"segments.{segment}"
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        return {}, [f"{key} (parameters): not valid TOML: {exc}"]
    problems = [
        f"{key}.{name}: {'edit it in the file' if name in ('tag', 'description') else 'has its own field'},"
        " not among the parameters"
        for name in raw
        if name in RESERVED
    ]
    problems += [
        f"{key}.{name}: expected a number, string, boolean or a list of them, not a table"
        for name, value in raw.items()
        if isinstance(value, dict)
    ]
    return {k: v for k, v in raw.items() if k not in RESERVED and not isinstance(v, dict)}, problems


def _segment_table(doc: tomlkit.TOMLDocument, segment: str) -> Any:
    segments = doc.get("segments")
    if segments is None:
        segments = tomlkit.table(is_super_table=True)
        doc["segments"] = segments
    table = segments.get(segment)
    if table is None:
        table = tomlkit.table()
        table.add(tomlkit.nl())
        segments[segment] = table
        table = segments[segment]
    return table


def _set(table: Any, key: str, value: Any, *, current: Any) -> None:
    """Write a key only when it is in the table already or its value changes: a built-in's defaults stay implicit."""
    if key in table:
        if table[key] != value:
            table[key] = value
    elif value != current:
        table[key] = value


def _edit_text(original: str, edit: SegmentEdit, current: AppConfig | None) -> tuple[str, list[str]]:
    doc = tomlkit.parse(original)
    params, problems = parse_params(edit.segment, edit.params_text)
    now = current.segment_defs.get(edit.segment) if current is not None else None
    table = _segment_table(doc, edit.segment)
    if isinstance(table, TomlTable | InlineTable):
        _set(table, "rule", edit.normalised_rule(), current=now.rule if now else None)
        _set(table, "enabled", edit.enabled, current=now.enabled if now else True)
        for name in [k for k in table if k not in RESERVED and k not in params]:
            del table[name]
        for name, value in params.items():
            _set(table, name, value, current=now.params.get(name) if now else None)
    else:
        problems.append(f"segments.{edit.segment}: expected a table [segments.{edit.segment}]")
    return tomlkit.dumps(doc), problems


def _without_segment(data: dict[str, Any], segment: str) -> dict[str, Any]:
    rest = dict(data)
    segments = dict(rest.get("segments") or {})
    segments.pop(segment, None)
    rest["segments"] = segments
    return rest


def prepare(path: Path, edit: SegmentEdit, env: Mapping[str, str]) -> Edited:
    """The file with the edit applied, checked as `rules check` checks a config; nothing written."""
    with open(path, "rb") as f:
        raw = f.read()
        base = fingerprint_of(raw, os.fstat(f.fileno()))
    try:
        original = raw.decode("utf-8")
        before = tomllib.loads(original)
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        return Edited(base=base, text="", config=None, problems=[f"{path}: not valid TOML: {exc}"])

    def config_of(data: dict[str, Any]) -> AppConfig:
        return parse_config(data, origin=str(path), base_dir=path.resolve().parent, env=env)

    try:
        current: AppConfig | None = config_of(before)
    except ConfigError:
        current = None  # a file broken elsewhere: every key of the edit is written out
    text, problems = _edit_text(original, edit, current)
    after = tomllib.loads(text)
    if _without_segment(after, edit.segment) != _without_segment(before, edit.segment):
        problems.append(
            f"segments.{edit.segment}: the edit would change other keys of the file; edit it by hand"
        )
    if problems:
        return Edited(base=base, text=text, config=None, problems=problems)
    try:
        config = config_of(after)
    except ConfigError as exc:
        return Edited(base=base, text=text, config=None, problems=exc.problems)
    return Edited(base=base, text=text, config=config)


def _mode(path: Path) -> int:
    """The file's permission bits less group and other write: never wider than before."""
    return stat.S_IMODE(os.stat(path).st_mode) & ~(stat.S_IWGRP | stat.S_IWOTH)


def _write_new(path: Path, data: bytes, mode: int) -> None:
    """Create `path` (it must not exist) with `mode`, whatever the umask, and flush it to disk."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.fchmod(fd, mode)
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


def save(path: Path, edit: SegmentEdit, *, expected: str, env: Mapping[str, str], now: datetime) -> Saved:
    """Check the edit and write it over `path`, keeping a backup; EditRefused (FileChanged) says why not.

    `expected` is the fingerprint token of the version the editor showed (Fingerprint.token)."""
    edited = prepare(path, edit, env)
    if edited.base.token() != expected:
        raise FileChanged(
            f"{path} changed on disk since the editor opened it (someone else saved, or it was edited by "
            "hand); nothing was written: reload the editor, then make the change again"
        )
    if edited.problems or edited.config is None:
        raise EditRefused("not saved: " + "; ".join(edited.problems))
    folder = path.resolve().parent
    if not os.access(folder, os.W_OK):
        raise EditRefused(
            f"not saved: {folder} is not writable by this user, and the backup and the new file are written "
            "beside the config; give segmail a folder of its own for the config, or edit the file by hand"
        )
    mode = _mode(path)
    stamp = now.strftime("%Y%m%dT%H%M%S%fZ")
    backup = path.with_name(f"{path.name}.{stamp}.bak")
    temporary = path.with_name(f".{path.name}.{stamp}.tmp")
    with open(path, "rb") as f:
        old = f.read()
    _write_new(backup, old, mode)
    try:
        _write_new(temporary, edited.text.encode("utf-8"), mode)
        if fingerprint(path) != edited.base:  # changed while we wrote: the other writer wins
            raise FileChanged(f"{path} changed on disk while saving; nothing was written, reload the editor")
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        backup.unlink(missing_ok=True)
        raise
    return Saved(path=path, backup=backup, fingerprint=fingerprint(path), config=edited.config)
