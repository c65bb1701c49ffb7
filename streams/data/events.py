"""The contract shape every event source produces, shared by the real and synthetic sources."""

from __future__ import annotations

from typing import Any

FIELDS: tuple[str, ...] = (
    "event_id", "user_id", "type", "ts", "item_id", "category", "price", "quantity",
    "query", "rating", "text", "session_id",
)  # fmt: skip
CATEGORIES: tuple[str, ...] = (
    "shoes", "bags", "jackets", "dresses", "jewelry", "watches", "phones", "laptops",
    "headphones", "cameras", "games", "consoles", "books", "comics", "toys", "garden",
    "tools", "kitchen", "beauty", "sports",
)  # fmt: skip


def contract_event(**fields: Any) -> dict[str, Any]:
    """Return a contract event: every field of `FIELDS`, ``None`` where not given."""
    return {name: fields.get(name) for name in FIELDS}
