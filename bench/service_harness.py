"""Running the real `segmail run` in a subprocess against the sandbox and a real store.

Used by the service tests (tests/test_service.py) and the fail-over benchmark (bench/failover_bench.py);
it lives here, not in tests/, so that a benchmark never imports the test suite and mypy strict checks it.

Waiting is on conditions (a run row, a log line, an HTTP answer) with a deadline, never a fixed
sleep; the deadlines are generous because CI machines are slow, and a passing test returns as soon
as its condition holds.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests
from sqlalchemy import create_engine, text

KEY = "0123456789abcdef0123456789abcdef-us6"
ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(condition: Callable[[], Any], *, timeout: float = 60.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.05)


def write_config(
    path: Path, *, store_url: str, api_url: str, port: int | None, **sections: dict[str, Any]
) -> Path:
    data: dict[str, dict[str, Any]] = {
        "store": {"url": store_url},
        "mailchimp": {"list_id": "list1", "api_url": api_url, "attempts": 2, "timeout_s": 10},
        "schedule": {"sync_every": "1s", "misfire_grace": "5s"},
        "service": {
            "listen": f"127.0.0.1:{port}" if port else "",
            "standby_poll": "0.2s",
            "failover_after": "3s",
        },
    }
    for name, values in sections.items():
        data.setdefault(name, {}).update(values)
    lines = []

    def emit(prefix: str, table: dict[str, Any]) -> None:
        lines.append(f"[{prefix}]")
        lines.extend(f"{k} = {json.dumps(v)}" for k, v in table.items() if not isinstance(v, dict))
        for k, v in table.items():
            if isinstance(v, dict):
                emit(f"{prefix}.{k}", v)

    for name, values in data.items():
        emit(name, values)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


class ServiceProcess:
    """`python -m segmail.jobs.cli --config C run --log-format json`, its stderr collected line by line."""

    def __init__(self, config: Path, *args: str, env: dict[str, str] | None = None) -> None:
        full_env = {**os.environ, "MAILCHIMP_API_KEY": KEY, "PYTHONUNBUFFERED": "1", **(env or {})}
        full_env.pop("SEGMAIL_CONFIG", None)
        full_env.pop("SEGMAIL_STORE_URL", None)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "segmail.jobs.cli", "--config", str(config), "run", "--log-format", "json", *args],
            cwd=ROOT, env=full_env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line.rstrip("\n"))

    def records(self) -> list[dict[str, Any]]:
        out = []
        for line in list(self.lines):
            try:
                out.append(json.loads(line))
            except ValueError:
                out.append({"msg": line, "level": "raw"})
        return out

    def logged(self, fragment: str) -> bool:
        return any(fragment in r.get("msg", "") for r in self.records())

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise

    def wait(self, timeout: float = 60.0) -> int:
        code = self.proc.wait(timeout=timeout)
        self._reader.join(timeout=5)
        if self.proc.stderr is not None:
            self.proc.stderr.close()
        return code

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.wait(30)

    def text(self) -> str:
        return "\n".join(self.lines)


def runs(store_url: str) -> list[dict[str, Any]]:
    engine = create_engine(store_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text("SELECT id, status, stats, error FROM runs WHERE kind = 'cycle' ORDER BY id")
            ).all()
    except Exception:
        return []
    finally:
        engine.dispose()
    return [{"id": r[0], "status": r[1], "stats": json.loads(r[2]), "error": r[3]} for r in rows]


def scalar(store_url: str, sql: str) -> Any:
    engine = create_engine(store_url)
    try:
        with engine.connect() as conn:
            return conn.execute(text(sql)).scalar()
    finally:
        engine.dispose()


def get(url: str) -> requests.Response | None:
    try:
        return requests.get(url, timeout=5)
    except requests.RequestException:
        return None
