"""Parsing the query and body of a sandbox request, and shaping its response: shared by every endpoint."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from segmail.sandbox.mailchimp_json import apply_fields, link
from segmail.sandbox.mailchimp_records import StateError, invalid
from segmail.sandbox.mailchimp_state import SandboxState

__all__ = [
    "EPOCH",
    "MAX_COUNT",
    "NO_CONTENT",
    "ApiRequest",
    "ApiResponse",
    "Handler",
    "body_json",
    "body_object",
    "body_strings",
    "collection",
    "ok",
    "paginate",
    "parse_time",
    "problem",
    "query_bool",
    "query_csv",
    "query_enum",
    "query_int",
    "query_one",
]

MAX_COUNT: Final = 1000  # "The number of records to return. Default value is 10. Maximum value is 1000"
EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)  # sorts a missing time first
ERRORS_DOC: Final = "https://mailchimp.com/developer/marketing/docs/errors/"


@dataclass(frozen=True)
class ApiRequest:
    method: str
    path: str  # after the /3.0 base path, without the query
    query: dict[str, list[str]]
    body: bytes
    now: datetime
    base_url: str
    params: dict[str, str]


@dataclass(frozen=True)
class ApiResponse:
    status: int
    body: dict[str, Any] | None  # None: an empty 204


Handler = Callable[[SandboxState, ApiRequest], ApiResponse]


def problem(
    status: int, title: str, detail: str, instance: str, errors: Sequence[object] | None = None
) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "type": ERRORS_DOC,
        "title": title,
        "status": status,
        "detail": detail,
        "instance": instance,
    }
    if errors is not None:
        doc["errors"] = list(errors)
    return doc


# ---- request parsing ------------------------------------------------------------------------------


def query_one(req: ApiRequest, name: str) -> str | None:
    values = req.query.get(name)
    return values[-1] if values else None


def query_csv(req: ApiRequest, name: str) -> list[str]:
    return [part for value in req.query.get(name, ()) for part in value.split(",") if part.strip()]


def query_int(req: ApiRequest, name: str, default: int, maximum: int | None = None) -> int:
    raw = query_one(req, name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise invalid(name, f"{name} must be an integer, got {raw!r}") from None
    if value < 0:
        raise invalid(name, f"{name} must not be negative, got {value}")
    if maximum is not None and value > maximum:
        raise invalid(name, f"{name} must be at most {maximum}, got {value}")
    return value


def query_bool(req: ApiRequest, name: str) -> bool:
    return (query_one(req, name) or "").lower() in ("true", "1")


def parse_time(raw: object, name: str) -> datetime:
    """ISO 8601 with an offset. Naive times are refused: the sandbox is stricter than guessing a zone."""
    try:
        value = datetime.fromisoformat(str(raw).strip())
    except ValueError:
        raise invalid(
            name, f"{name} must be an ISO 8601 time like 2015-10-21T15:41:36+00:00, got {raw!r}"
        ) from None
    if value.tzinfo is None or value.utcoffset() is None:
        raise invalid(name, f"{name} must include a UTC offset, got {raw!r}")
    return value.astimezone(UTC)


def query_enum(req: ApiRequest, name: str, allowed: Sequence[str]) -> str | None:
    value = query_one(req, name)
    if value is not None and value not in allowed:
        raise invalid(name, f"{name} must be one of {', '.join(allowed)}, got {value!r}")
    return value


def body_object(req: ApiRequest) -> dict[str, Any]:
    body = body_json(req)
    if not isinstance(body, dict):
        raise StateError(400, "Invalid Resource", "The request body must be a JSON object.",
                         [{"field": "", "message": "Expected an object."}])  # fmt: skip
    return body


def body_json(req: ApiRequest) -> Any:
    if not req.body.strip():
        return None
    try:
        return json.loads(req.body)
    except ValueError:
        raise StateError(
            400, "JSON Parse Exception", "We encountered an unspecified JSON parsing error."
        ) from None


def body_strings(body: dict[str, Any], name: str) -> list[str]:
    value = body.get(name, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise invalid(name, f"{name} must be an array of strings.")
    return value


def paginate(req: ApiRequest, items: Sequence[Any]) -> Sequence[Any]:
    count = query_int(req, "count", 10, MAX_COUNT)
    offset = query_int(req, "offset", 0)
    return items[offset : offset + count]


def collection(req: ApiRequest, key: str, items: list[Any], total: int, **extra: Any) -> ApiResponse:
    doc = {key: items, **extra, "total_items": total, "_links": [link(req.base_url, "self", req.path, "")]}
    return ok(req, doc)


def ok(req: ApiRequest, doc: dict[str, Any]) -> ApiResponse:
    return ApiResponse(200, apply_fields(doc, query_csv(req, "fields"), query_csv(req, "exclude_fields")))


NO_CONTENT: Final = ApiResponse(204, None)
