"""Checks sandbox exchanges against the vendored Mailchimp OpenAPI spec, with three documented overlay patches.

The patches (see `sandbox/specs/README.md`) fix flaws of the spec file, not of the API:
1. `merge_fields` values may be strings, numbers or objects (the file says objects only, so every real
   member with `"FNAME": "Urist"` would fail);
2. 204 responses declared as `content: {}` lose that empty map (else an empty 204 is "missing data");
3. a relative server `/3.0` is added, so the sandbox's `http://127.0.0.1:PORT/3.0` matches.
`application/problem+json`, the media type of every Mailchimp error, is registered as JSON.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from functools import cache
from pathlib import Path
from typing import Any, Final, Protocol
from urllib.parse import parse_qsl

from openapi_core import Config, OpenAPI
from openapi_core.datatypes import RequestParameters

__all__ = ["SPEC_PATH", "Exchange", "load_openapi", "patched_spec", "validate"]

SPEC_PATH: Final = Path(__file__).parent / "specs" / "mailchimp-marketing.json"
SANDBOX_SERVER: Final = "/3.0"
# Faults whose bodies are off-spec on purpose (an empty 429, a CDN's HTML 502): their responses are not checked.
OFF_SPEC_FAULTS: Final = frozenset({"429_empty", "502_html"})
_MERGE_VALUE: Final = {"anyOf": [{"type": "string"}, {"type": "number"}, {"type": "object"}]}


class Exchange(Protocol):
    """What validate() needs from a log entry (segmail.sandbox.mailchimp.LoggedRequest has it)."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes
    status: int | None
    response_headers: dict[str, str]
    response_body: bytes | None
    fault: str | None


def patched_spec() -> dict[str, Any]:
    """The vendored spec with the three overlay patches applied; each must change something."""
    spec: dict[str, Any] = json.loads(SPEC_PATH.read_bytes())
    merge_fields = sum(_patch_merge_fields(schema) for schema in _walk(spec["components"]["schemas"]))
    empty_204 = _drop_empty_204_content(spec)
    spec["servers"] = [*spec["servers"], {"url": SANDBOX_SERVER, "description": "segmail sandbox, any host"}]
    if not merge_fields or not empty_204:
        raise RuntimeError(
            f"spec overlay no longer applies: merge_fields={merge_fields}, empty 204s={empty_204}"
        )
    return spec


def _walk(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def _patch_merge_fields(schema: dict[str, Any]) -> int:
    prop = (
        schema.get("properties", {}).get("merge_fields")
        if isinstance(schema.get("properties"), dict)
        else None
    )
    value = prop.get("additionalProperties") if isinstance(prop, dict) else None
    if not isinstance(value, dict) or value.get("type") != "object":
        return 0
    del value["type"]  # keeps the description
    value.update(_MERGE_VALUE)
    return 1


def _drop_empty_204_content(spec: dict[str, Any]) -> int:
    dropped = 0
    for item in spec["paths"].values():
        for operation in item.values():
            response = operation.get("responses", {}).get("204") if isinstance(operation, dict) else None
            if isinstance(response, dict) and response.get("content") == {}:
                del response["content"]
                dropped += 1
    return dropped


def _problem_json(value: bytes | str, **_: Any) -> Any:
    # openapi-core passes media-type parameters (charset=utf-8) as keywords; plain json.loads would choke
    return json.loads(value)


@cache
def load_openapi() -> OpenAPI:
    """Parsing and checking the 2 MB spec takes seconds, so it happens once per process."""
    config = Config(extra_media_type_deserializers={"application/problem+json": _problem_json})
    return OpenAPI.from_dict(patched_spec(), config=config)


class _Headers(Mapping[str, str]):
    """Case-insensitive, as HTTP headers are."""

    def __init__(self, headers: Mapping[str, str]) -> None:
        self._items = {k.lower(): v for k, v in headers.items()}

    def __getitem__(self, key: str) -> str:
        return self._items[key.lower()]

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key.lower() in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)


class _Query(Mapping[str, str]):
    """A multi-dict as openapi-core reads query strings: `[name]` is the first value, `getlist` all of them."""

    def __init__(self, query: str) -> None:
        self._pairs = parse_qsl(query, keep_blank_values=True)

    def __getitem__(self, key: str) -> str:
        for name, value in self._pairs:
            if name == key:
                return value
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        return iter(dict.fromkeys(name for name, _ in self._pairs))

    def __len__(self) -> int:
        return len(dict.fromkeys(name for name, _ in self._pairs))

    def getlist(self, key: str) -> list[str]:
        return [value for name, value in self._pairs if name == key]


class RawRequest:
    """openapi-core's Request protocol over a logged exchange, without werkzeug."""

    def __init__(self, exchange: Exchange) -> None:
        headers = _Headers(exchange.headers)
        self.host_url = "http://" + headers.get("host", "127.0.0.1")
        self.parameters = RequestParameters(query=_Query(exchange.query), header=headers, cookie={}, path={})
        self.method = exchange.method.lower()
        self.path = exchange.path
        self.body: bytes | None = exchange.body or None
        self.content_type = headers.get("content-type", "application/json").lower()


class RawResponse:
    """openapi-core's Response protocol over a logged exchange."""

    def __init__(self, exchange: Exchange) -> None:
        assert exchange.status is not None
        self.status_code = exchange.status
        self.headers = _Headers(exchange.response_headers)
        self.content_type = self.headers.get("content-type", "").lower()
        self.data: bytes | None = exchange.response_body


def validate(exchange: Exchange) -> list[str]:
    """Spec violations of one exchange, as readable lines; empty when it conforms.

    The response is always checked (unless it is an off-spec fault or a reset). The request is required to
    conform only when the sandbox accepted it: a request the sandbox refused with 4xx may break the spec on
    purpose (that is what a test of `count=1001` does); one it accepted must not.
    """
    app = load_openapi()
    request = RawRequest(exchange)
    where = f"{exchange.method} {exchange.path}{'?' + exchange.query if exchange.query else ''} -> {exchange.status}"
    problems = []
    if exchange.status is None or exchange.status < 400:
        problems += [f"{where}: request: {_describe(err)}" for err in app.iter_request_errors(request)]
    if exchange.status is not None and exchange.fault not in OFF_SPEC_FAULTS:
        response = RawResponse(exchange)
        problems += [
            f"{where}: response: {_describe(err)}" for err in app.iter_response_errors(request, response)
        ]
    return problems


def _describe(err: BaseException) -> str:
    """openapi-core nests the useful part (which field, which rule) in the exception chain; values are cut short."""
    chain: list[BaseException] = []
    link: BaseException | None = err
    while link is not None:
        chain.append(link)
        link = link.__cause__
    details = [f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {_short(e.message)}"
               for link in chain for e in getattr(link, "schema_errors", None) or ()]  # fmt: skip
    if details:
        return f"{type(err).__name__}: " + "; ".join(details)
    return " <- ".join(f"{type(link).__name__}: {_short(str(link))}" for link in chain)


def _short(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
