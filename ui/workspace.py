"""What every page reads: the config (taken up again when its file changes), the store, the clock and the mode.

Pages never cache business results of their own beyond `memo`: a short-lived cache for figures that
scan whole tables (the overview's counts, a send plan, the model check), keyed by what they depend on.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Hashable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from segmail.jobs.config import AppConfig, ConfigError, load_config
from segmail.jobs.config_watch import Fingerprint, config_file, fingerprint
from segmail.jobs.send import make_renderer
from segmail.sending.render import Renderer
from segmail.store.db import Store

T = TypeVar("T")
MEMO_ENTRIES = 64


def utc_now() -> datetime:
    return datetime.now(UTC)


class Workspace:
    def __init__(
        self,
        config: AppConfig,
        store: Store,
        *,
        read_only: bool = False,
        now: Callable[[], datetime] = utc_now,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.store = store
        self.read_only = read_only
        self.now = now
        self.env = os.environ if env is None else env
        self.path: Path | None = config_file(config)
        self._config = config
        self._seen: Fingerprint | None = fingerprint(self.path) if self.path else None
        self.problems: list[str] = []  # the file on disk does not validate: pages show the last valid config
        self._lock = threading.Lock()
        self._renderer: tuple[AppConfig, Renderer] | None = None
        self._memo: dict[Hashable, tuple[float, Any]] = {}

    def config(self) -> AppConfig:
        """The config file as it is now; the last valid version while it does not validate."""
        if self.path is None:
            return self._config
        with self._lock:
            try:
                now = fingerprint(self.path)
            except OSError as exc:
                self.problems = [f"{self.path}: cannot read the file: {exc.strerror or exc}"]
                return self._config
            if now != self._seen:
                self._seen = now
                try:
                    self._config = load_config(self.path, self.env)
                    self.problems = []
                except ConfigError as exc:
                    self.problems = list(exc.problems)
            return self._config

    def version(self) -> Fingerprint | None:
        """The fingerprint of the file the current config was read from (None without a file)."""
        self.config()
        return self._seen

    def renderer(self) -> Renderer:
        """The templates of the current config, loaded once per version of it."""
        config = self.config()
        with self._lock:
            if self._renderer is None or self._renderer[0] is not config:
                self._renderer = (config, make_renderer(config))
            return self._renderer[1]

    def memo(self, key: Hashable, compute: Callable[[], T], *, seconds: float) -> T:
        """`compute()` at most once per `seconds` for the same key (and the same config version)."""
        full = (key, self._seen)
        at = time.monotonic()
        with self._lock:
            hit = self._memo.get(full)
        if hit is not None and at - hit[0] < seconds:
            value: T = hit[1]
            return value
        value = compute()
        with self._lock:
            if len(self._memo) >= MEMO_ENTRIES:
                self._memo.pop(next(iter(self._memo)))
            self._memo[full] = (at, value)
        return value
