"""Columns added to an existing database: the additive part of a schema change.

`metadata.create_all` creates missing tables and leaves existing ones as they are, so a column
added to a table in a later version (such as `orders.member_discount_fen`) would be missing
from a database created before it, and every query naming it would fail. On each start,
`add_missing_columns` adds such columns with `ALTER TABLE ... ADD COLUMN`, which both SQLite
and PostgreSQL do in place, when the column can be added to rows that already exist: it is
nullable or has a server default. Anything else (a new NOT NULL column without a default, a
changed type, a new constraint on old rows) needs a written migration and is refused with an
error naming the column, before anything is changed.
"""

from __future__ import annotations

from sqlalchemy import Column, MetaData, inspect
from sqlalchemy.engine import Connection


class SchemaUpgradeError(RuntimeError):
    pass


def missing_columns(conn: Connection, metadata: MetaData,
                    schema: str | None = None) -> list[Column[object]]:
    inspector = inspect(conn)
    present = set(inspector.get_table_names(schema=schema))
    missing: list[Column[object]] = []
    for table in metadata.sorted_tables:
        if table.name not in present:
            continue  # create_all makes it whole
        have = {c["name"] for c in inspector.get_columns(table.name, schema=schema)}
        missing += [c for c in table.columns if c.name not in have]
    return missing


def add_missing_columns(conn: Connection, metadata: MetaData,
                        schema: str | None = None) -> list[str]:
    """Add the columns of `metadata` missing from existing tables; return "table.column"s."""
    missing = missing_columns(conn, metadata, schema)
    refused = [f"{c.table.name}.{c.name}" for c in missing
               if not c.nullable and c.server_default is None]
    if refused:
        raise SchemaUpgradeError(
            f"the database lacks {', '.join(refused)}, which cannot be added to existing rows "
            "(NOT NULL without a default): this upgrade needs a migration")
    prefix = f'"{schema}".' if schema else ""
    for column in missing:
        ddl = f'ALTER TABLE {prefix}"{column.table.name}" ADD COLUMN "{column.name}" ' \
              f"{column.type.compile(dialect=conn.dialect)}"
        default = column.server_default
        if default is not None:
            ddl += f" DEFAULT {default.arg}"  # type: ignore[attr-defined]
        if not column.nullable:
            ddl += " NOT NULL"
        conn.exec_driver_sql(ddl)
    return [f"{c.table.name}.{c.name}" for c in missing]
