"""The config file's fingerprint, and taking up a changed file: the service before each cycle, the workspace per request.

A rule saved in the workspace (jobs/config_edit.py) reaches a running `segmail run` at its next
cycle: the cycle reads the file again when its fingerprint (modification time, size, SHA-256)
changed, and applies the `[segments]` it holds. Every other section is read at start only (clients,
the schedule, the templates, campaigns' send jobs are built from them), so a change there is logged
as needing a restart and the running values stay. A file that no longer validates is logged with
every problem and the service keeps the config it runs: a half-typed edit never stops a shop's sync.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path

from segmail.jobs.config import AppConfig, ConfigError, load_config

log = logging.getLogger("segmail.config")

# what a running service takes up from a changed file; the rest needs a restart
RELOADABLE = ("segments", "segment_defs")
_NOT_COMPARED = (*RELOADABLE, "origin", "base_dir", "warnings", "store_url_env")


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """What identifies one version of the file: a save refuses when it no longer matches."""

    mtime_ns: int
    size: int
    sha256: str

    def token(self) -> str:
        """For a form's hidden field: the version the page was built from."""
        return f"{self.mtime_ns}:{self.size}:{self.sha256}"


def fingerprint_of(data: bytes, stat: os.stat_result) -> Fingerprint:
    return Fingerprint(stat.st_mtime_ns, stat.st_size, hashlib.sha256(data).hexdigest())


def fingerprint(path: Path) -> Fingerprint:
    with open(path, "rb") as f:
        stat = os.fstat(f.fileno())
        return fingerprint_of(f.read(), stat)


def config_file(config: AppConfig) -> Path | None:
    """The file the config was loaded from; None for the built-in defaults or an in-memory config."""
    path = Path(config.origin)
    return path if path.is_file() else None


def restart_sections(running: AppConfig, loaded: AppConfig) -> list[str]:
    """Sections that differ between the two configs but are read at start only."""
    names = [f.name for f in fields(AppConfig) if f.name not in _NOT_COMPARED]
    return [name for name in names if getattr(running, name) != getattr(loaded, name)]


def with_segments(running: AppConfig, loaded: AppConfig) -> AppConfig:
    """The running config with the loaded file's segments; ConfigError when a campaign would lose its segment."""
    missing = [
        f"campaigns.{c.name}.segment: {c.segment!r} is no longer a segment of the file"
        for c in running.campaigns.values()
        if c.segment not in loaded.segment_defs
    ]
    if missing:
        raise ConfigError(loaded.origin, missing)
    return replace(
        running, segments=loaded.segments, segment_defs=loaded.segment_defs, warnings=loaded.warnings
    )


class ConfigWatch:
    """Notices a change of the config file and loads it; one per service."""

    def __init__(self, path: Path, env: Mapping[str, str] | None = None) -> None:
        self.path = path
        self.env = env
        self.seen = self._current()

    def _current(self) -> Fingerprint | None:
        try:
            return fingerprint(self.path)
        except OSError:
            return None

    def take_up(self, running: AppConfig) -> AppConfig | None:
        """The config to run the next cycle with, when the file changed and is valid; else None."""
        now = self._current()
        if now is None or now == self.seen:
            return None
        self.seen = now  # reported once per version of the file, not every cycle
        try:
            raw = load_config(self.path, self.env)
            loaded = with_segments(running, raw)
        except ConfigError as exc:
            log.error(
                "config %s changed but is not valid, so the service keeps the config it runs: %s",
                self.path,
                "; ".join(exc.problems),
            )
            return None
        later = restart_sections(running, raw)
        if later:
            log.warning(
                "config %s: [segments] taken up; %s changed too and take effect after a restart",
                self.path,
                ", ".join(f"[{name}]" for name in later),
            )
        else:
            log.info("config %s changed: [segments] taken up for this cycle", self.path)
        return loaded
