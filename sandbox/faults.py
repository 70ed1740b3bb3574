"""Seeded fault injection for the sandboxes: the failures a client's retry policy must survive."""

from __future__ import annotations

import random
from dataclasses import dataclass, fields
from fnmatch import fnmatchcase
from typing import Final

__all__ = ["FAULT_KINDS", "MAILCHIMP_ONLY", "Faults"]

# Drawn in this order from one uniform number, so a seed always picks the same kinds in the same order.
FAULT_KINDS: Final = (
    "429",
    "500",
    "502_html",
    "503",
    "reset",
    "timeout",
    "reset_after_apply",
    "403_empty",  # last, so adding it left every earlier seed's draws unchanged
)
MAILCHIMP_ONLY: Final = frozenset({"403_empty"})
_RATE_FIELDS: Final = tuple(f"rate_{kind}" for kind in FAULT_KINDS)


@dataclass(frozen=True, kw_only=True)
class Faults:
    """What share of requests fails, and how; every rate is a probability per request.

    - `rate_429`: 429 with `Retry-After: 1`; alternately with a problem+json body and with an EMPTY body
      (Mailchimp: "At exceptionally high volumes, you may receive an HTTP 429 or 403 without a JSON body").
    - `rate_500`, `rate_503`: problem+json errors.
    - `rate_502_html`: a CDN-style HTML page with `text/html`.
    - `rate_reset`: the connection is reset without any response.
    - `rate_timeout`: the answer (a 504 problem) comes only after `timeout_s`, longer than a client waits.
    - `rate_reset_after_apply`: the request takes effect, then the connection is reset, so the client cannot
      know whether its write landed. Every other fault is injected before handling and changes nothing.
    - `rate_403_empty`: Mailchimp only, the other half of the sentence above: a 403 with no body, which is a
      throttle and not a refused key.
    - `latency_ms`: added to every request that is not exempt.
    - `exempt_paths`: `fnmatch` patterns on the path after `/3.0` (e.g. `"/lists/*/segments*"`) that are
      never faulted, so a test can seed data through the API while faults are on.
    """

    seed: int = 0
    latency_ms: int = 0
    rate_429: float = 0.0
    rate_500: float = 0.0
    rate_502_html: float = 0.0
    rate_503: float = 0.0
    rate_reset: float = 0.0
    rate_timeout: float = 0.0
    rate_reset_after_apply: float = 0.0
    rate_403_empty: float = 0.0
    timeout_s: float = 3.0
    exempt_paths: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        problems = [f"{name} must be between 0 and 1, got {getattr(self, name)}" for name in _RATE_FIELDS
                    if not 0.0 <= getattr(self, name) <= 1.0]  # fmt: skip
        total = sum(getattr(self, name) for name in _RATE_FIELDS)
        if total > 1.0 + 1e-9:
            problems.append(f"the rates must add up to at most 1, got {total:g}")
        if self.latency_ms < 0:
            problems.append(f"latency_ms must be non-negative, got {self.latency_ms}")
        if self.timeout_s <= 0:
            problems.append(f"timeout_s must be positive, got {self.timeout_s}")
        if isinstance(self.exempt_paths, str):
            problems.append("exempt_paths must be a tuple of patterns, not one string")
        if problems:
            raise ValueError("; ".join(problems))

    @classmethod
    def parse(cls, text: str) -> Faults:
        """From flags like `rate_429=0.1,latency_ms=20,exempt_paths=/ping;/lists/*` (the CLI's `--faults`)."""
        types = {f.name: f.type for f in fields(cls)}
        values: dict[str, object] = {}
        for item in filter(None, (part.strip() for part in text.split(","))):
            name, sep, raw = item.partition("=")
            name = name.strip()
            if not sep or name not in types:
                raise ValueError(f"faults: expected name=value with name in {sorted(types)}, got {item!r}")
            values[name] = _convert(name, str(types[name]), raw.strip())
        return cls(**values)  # type: ignore[arg-type]

    def kinds(self) -> frozenset[str]:
        """The fault kinds this configuration can draw."""
        return frozenset(
            kind for kind, name in zip(FAULT_KINDS, _RATE_FIELDS, strict=True) if getattr(self, name) > 0
        )

    @property
    def active(self) -> bool:
        return self.latency_ms > 0 or any(getattr(self, name) > 0 for name in _RATE_FIELDS)

    def exempt(self, path: str) -> bool:
        return any(fnmatchcase(path, pattern) for pattern in self.exempt_paths)

    def draw(self, rng: random.Random) -> str | None:
        """The fault kind for one request, or None; exactly one draw per call keeps runs reproducible."""
        u = rng.random()
        for kind, name in zip(FAULT_KINDS, _RATE_FIELDS, strict=True):
            rate: float = getattr(self, name)
            if u < rate:
                return kind
            u -= rate
        return None


def _convert(name: str, type_name: str, raw: str) -> object:
    try:
        if "tuple" in type_name:
            return tuple(p for p in raw.split(";") if p)
        if type_name == "int":
            return int(raw)
        return float(raw)
    except ValueError:
        raise ValueError(f"faults: {name} must be a number, got {raw!r}") from None
