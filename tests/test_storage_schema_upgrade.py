"""A database made by an earlier version gets the columns a later one added, on start."""

from __future__ import annotations

import pytest
from sqlalchemy import Column, Connection, Integer, MetaData, String, Table, inspect, text
from storage_fixtures import db  # noqa: F401 - the fixture (SQLite and PostgreSQL)

from broker.storage.database import Database
from broker.storage.schema_upgrade import SchemaUpgradeError, add_missing_columns


def _columns(conn: Connection, schema: str | None) -> list[str]:
    return [c["name"] for c in inspect(conn).get_columns("orders", schema=schema)]


async def test_an_orders_table_without_member_prices_gets_the_column(db: Database) -> None:  # noqa: F811
    p = f'"{db.schema}".' if db.schema else ""
    async with db.write() as conn:  # the orders table of a database from before member prices
        if db.dialect == "postgresql":
            await conn.exec_driver_sql(f"ALTER TABLE {p}orders DROP COLUMN member_discount_fen")
        else:  # SQLite cannot drop a column a CHECK names: copy the table without it
            keep = [c for c in await conn.run_sync(_columns, db.schema)
                    if c != "member_discount_fen"]
            await conn.exec_driver_sql(f"CREATE TABLE orders_old AS SELECT {', '.join(keep)} "
                                       "FROM orders WHERE 1 = 0")
            await conn.exec_driver_sql("DROP TABLE orders")
            await conn.exec_driver_sql("ALTER TABLE orders_old RENAME TO orders")
        assert "member_discount_fen" not in await conn.run_sync(_columns, db.schema)
    await db.create_schema()
    async with db.read() as conn:
        assert "member_discount_fen" in await conn.run_sync(_columns, db.schema)
    await db.create_schema()  # nothing left to add: a second start changes nothing


def test_a_column_that_old_rows_cannot_take_is_refused_before_any_change() -> None:
    from sqlalchemy import create_engine

    engine = create_engine("sqlite://")
    old, new = MetaData(), MetaData()
    Table("t", old, Column("id", Integer, primary_key=True))
    Table("t", new, Column("id", Integer, primary_key=True),
          Column("note", String(10), nullable=True),
          Column("n", Integer, nullable=False, server_default=text("7")),
          Column("must", Integer, nullable=False))
    with engine.begin() as conn:
        old.create_all(conn)
        conn.exec_driver_sql("INSERT INTO t (id) VALUES (1)")
        with pytest.raises(SchemaUpgradeError, match=r"t\.must"):
            add_missing_columns(conn, new)
        assert [r[1] for r in conn.exec_driver_sql("PRAGMA table_info(t)")] == ["id"]
        new.tables["t"].c.must.nullable = True
        assert add_missing_columns(conn, new) == ["t.note", "t.n", "t.must"]
        assert conn.exec_driver_sql("SELECT id, note, n, must FROM t").all() == [
            (1, None, 7, None)]
