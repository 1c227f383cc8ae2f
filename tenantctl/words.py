"""Sentences a person reads: a count with its noun in the right number."""

from __future__ import annotations

_IRREGULAR = {"entry": "entries", "process": "processes"}


def plural(count: int, noun: str, many: str | None = None) -> str:
    """`1 product`, `2 products`, `0 products` (MANY when the plural is not NOUN + s)."""
    if count == 1:
        return f"{count} {noun}"
    return f"{count} {many or _IRREGULAR.get(noun) or noun + 's'}"
