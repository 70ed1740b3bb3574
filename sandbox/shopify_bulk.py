"""Shopify's bulk query operations in the sandbox: one at a time, built on a thread, polled, downloaded as JSONL."""

from __future__ import annotations

import json
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from graphql import DocumentNode, GraphQLError, GraphQLSchema, execute_sync, parse, validate

from segmail.sandbox.shopify_orders import iso


@dataclass
class BulkOperation:
    number: int
    query: str
    lines: bytes = b""
    object_count: int = 0
    polls: int = 0
    status: str = "CREATED"
    done: threading.Event = field(default_factory=threading.Event)  # set by the worker building the file


class BulkQueries:
    """The app's bulk query: `bulkOperationRunQuery` starts it, `currentBulkOperation` polls it, GET fetches it.

    The caller holds its lock around every call, as it does around GraphQL execution.
    """

    def __init__(
        self,
        *,
        schema: Callable[[], GraphQLSchema],
        root: Callable[[], dict[str, Any]],
        rng: random.Random,
        now: Callable[[], datetime],
        base_url: Callable[[], str],
    ) -> None:
        self._schema = schema
        self._root = root
        self._rng = rng
        self._now = now
        self._base_url = base_url
        self._current: BulkOperation | None = None
        self._count = 0

    def run(self, query: str, require_scope: Callable[[], None]) -> dict[str, Any]:
        """The `bulkOperationRunQuery` mutation's payload; the file is built after it has answered."""
        if self._current is not None and self._current.status in ("CREATED", "RUNNING"):
            msg = (
                f"A bulk query operation for this app and shop is already in progress: {_gid(self._current)}."
            )
            return {"bulkOperation": None, "userErrors": [{"field": ["query"], "message": msg}]}
        try:
            document = parse(query)
        except GraphQLError as err:
            return {"bulkOperation": None, "userErrors": [{"field": ["query"], "message": err.message}]}
        errors = validate(self._schema(), document)
        if errors:
            return {"bulkOperation": None, "userErrors": [{"field": ["query"], "message": errors[0].message}]}
        require_scope()
        self._count += 1
        op = self._current = BulkOperation(self._count, query)

        def build() -> None:  # like Shopify, the file is produced after the mutation has answered
            lines = self._lines(document)
            op.lines, op.object_count = b"".join(lines), len(lines)
            op.done.set()

        threading.Thread(target=build, name="shopify-sandbox-bulk", daemon=True).start()
        return {"bulkOperation": self._json(op), "userErrors": []}

    def poll(self, type: str = "QUERY") -> dict[str, Any] | None:
        """`currentBulkOperation`: CREATED → RUNNING → COMPLETED once the file is built."""
        op = self._current
        if op is None or type != "QUERY":
            return None
        op.polls += 1
        if op.status in ("CREATED", "RUNNING"):
            # a short bounded wait keeps small test shops deterministic and big ones answering promptly
            finished = op.polls > 1 and op.done.wait(timeout=0.5)
            op.status = "COMPLETED" if finished else "RUNNING"
        return self._json(op)

    def completed_file(self, path: str) -> bytes | None:
        """The JSONL at `path` if it is the current operation's and that has completed, else None."""
        op = self._current
        if op is None or op.status != "COMPLETED" or path != _path(op):
            return None
        return op.lines

    def _json(self, op: BulkOperation) -> dict[str, Any]:
        done = op.status == "COMPLETED"
        return {"id": _gid(op), "status": op.status, "errorCode": None, "type": "QUERY",
                "query": op.query, "createdAt": iso(self._now()), "completedAt": iso(self._now()) if done else None,
                "objectCount": str(op.object_count), "rootObjectCount": str(op.object_count),
                "fileSize": str(len(op.lines)) if done else None, "partialDataUrl": None,
                "url": f"{self._base_url()}{_path(op)}" if done and op.object_count else None}  # fmt: skip

    def _lines(self, document: DocumentNode) -> list[bytes]:
        """The result as Shopify's JSONL: nested connection nodes become lines with `__parentId`, shuffled."""
        result = execute_sync(self._schema(), document, root_value=self._root(), context_value={"bulk": True})
        if result.errors:
            raise result.errors[0]
        lines: list[dict[str, Any]] = []
        for edge in ((result.data or {}).get("orders") or {}).get("edges") or []:
            _flatten(dict(edge["node"]), None, lines)
        self._rng.shuffle(lines)  # children may come before their parent: clients must not assume order
        return [json.dumps(line, separators=(",", ":")).encode() + b"\n" for line in lines]


def _flatten(node: dict[str, Any], parent: str | None, out: list[dict[str, Any]]) -> None:
    for key, value in list(node.items()):
        if isinstance(value, dict) and "edges" in value:
            del node[key]
            for edge in value["edges"] or []:
                _flatten(dict(edge["node"]), str(node.get("id")), out)
    if parent is not None:
        node["__parentId"] = parent
    out.append(node)


def _gid(op: BulkOperation) -> str:
    return f"gid://shopify/BulkOperation/{op.number}"


def _path(op: BulkOperation) -> str:
    return f"/bulk-results/{op.number}.jsonl"
