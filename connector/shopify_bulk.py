"""Reading a Shopify bulk operation's JSONL: partitions that keep each order with its children, in bounded memory.

Bulk JSONL does not promise that a child line follows its parent (shops.md §A5), so the file is split
into partitions by the order's id (a grace hash join): each partition holds whole orders with all
their line items, and is read twice, pass 1 for each order's product types, pass 2 for the orders.
"""

from __future__ import annotations

import json
import tempfile
import zlib
from collections.abc import Iterable, Iterator
from typing import IO, Any


def categories(types: Iterable[Any]) -> tuple[str, ...]:
    """Lower-cased, de-duplicated and sorted: bulk children arrive in no particular order."""
    return tuple(sorted({str(t).strip().lower() for t in types if t and str(t).strip()}))


PARTITION_BYTES = 16 << 20


def partitions(raw: IO[bytes], size: int) -> list[IO[bytes]]:
    """The JSONL split into temporary files of about PARTITION_BYTES, each order with all its children."""
    count = max(1, size // PARTITION_BYTES + 1)
    parts: list[IO[bytes]] = [tempfile.TemporaryFile("w+b") for _ in range(count)]  # noqa: SIM115 - closed by the caller
    for line in raw:
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
            key = str(obj.get("__parentId") or obj.get("id") or "")
        except ValueError:
            key = ""  # a broken line goes to partition 0, where the reader reports it
        parts[zlib.crc32(key.encode()) % count].write(line)
    for part in parts:
        part.seek(0)
    return parts


def bulk_children(raw: IO[bytes]) -> dict[str, tuple[str, ...]]:
    """Pass 1 over the JSONL: each parent's product types, wherever its children lines are."""
    found: dict[str, set[str]] = {}
    for obj in jsonl(raw, []):
        parent = obj.get("__parentId")
        if parent is None:
            continue
        kind = (obj.get("product") or {}).get("productType")
        bucket = found.setdefault(str(parent), set())
        if kind:
            bucket.add(str(kind))
    return {parent: categories(kinds) for parent, kinds in found.items()}


def jsonl(raw: IO[bytes], problems: list[str]) -> Iterator[dict[str, Any]]:
    for number, line in enumerate(raw, start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except ValueError:
            problems.append(f"order ?: bulk line {number} is not JSON")
            continue
        if isinstance(obj, dict):
            yield obj


__all__ = ["PARTITION_BYTES", "bulk_children", "categories", "jsonl", "partitions"]
