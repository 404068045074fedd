"""Small helpers shared by the repository modules (private)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Insert, Table
from sqlalchemy.dialects import postgresql, sqlite


def dialect_insert(dialect: str, table: Table) -> Any:
    """`INSERT` with the dialect's `on_conflict_do_*` methods (SQLite or PostgreSQL)."""
    if dialect == "postgresql":
        return postgresql.insert(table)
    if dialect == "sqlite":
        return sqlite.insert(table)
    raise ValueError(f"unsupported dialect {dialect!r}")


def upsert(dialect: str, table: Table, values: dict[str, Any], keep: tuple[str, ...]) -> Insert:
    """Insert `values`, or update every non-key column except `keep` on a key conflict."""
    stmt = dialect_insert(dialect, table).values(values)
    keys = [c.name for c in table.primary_key.columns]
    update = {
        name: getattr(stmt.excluded, name) for name in values if name not in keys + list(keep)
    }
    result: Insert = stmt.on_conflict_do_update(index_elements=keys, set_=update)
    return result
