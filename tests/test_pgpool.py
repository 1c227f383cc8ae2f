"""tests/pgpool.py: a database handed out again holds exactly what a fresh copy of its
template holds, with no other session on it; one whose schema a test changed is not reused."""

from __future__ import annotations

import psycopg
from sqlalchemy import select
from sqlalchemy.engine import make_url

from tenantctl.store.engine import open_engine
from tests.conftest import (
    FIXTURES,
    PG_SERVER,
    Cli,
    create_pg_database,
    drop_pg_database,
    postgres_only,
    reflected,
)

pytestmark = postgres_only

SEQUENCES = "SELECT relname FROM pg_class WHERE relkind = 'S' ORDER BY relname"


def contents(url: str) -> tuple[dict, dict]:
    """(every row of every table, every sequence's state) of the database at URL."""
    engine = open_engine(url)
    try:
        meta = reflected(engine)
        with engine.connect() as conn:
            rows = {
                name: sorted(map(repr, conn.execute(select(table))))
                for name, table in meta.tables.items()
            }
            sequences = {
                seq: tuple(conn.exec_driver_sql(f'SELECT last_value, is_called FROM "{seq}"').one())
                for seq in conn.exec_driver_sql(SEQUENCES).scalars().all()
            }
        return rows, sequences
    finally:
        engine.dispose()


def connect(url: str) -> psycopg.Connection:
    return psycopg.connect(make_url(url).set(drivername="postgresql").render_as_string(False))


def test_a_database_used_again_holds_what_a_fresh_copy_holds(_template):
    template = create_pg_database(_template)
    try:
        Cli(template)("load", FIXTURES / "distributor.yaml")
        name = make_url(template).database
        first = create_pg_database(name)
        fresh = contents(first)
        assert fresh[0]["account"] and fresh[1]
        cli = Cli(first)
        cli("account", "create", "ZZ-NEW", "--name", "New Ltd")
        with connect(first) as conn:
            conn.execute("UPDATE account SET name = 'changed'")
            conn.execute("SELECT nextval(%s)", (next(iter(fresh[1])),))
        lingering = connect(first)
        # a session left in a transaction, holding row locks that the reset's DELETE needs
        lingering.execute("SELECT * FROM account FOR UPDATE")
        assert contents(first) != fresh
        drop_pg_database(first)

        again = create_pg_database(name)
        assert again == first  # the same database, reset
        assert contents(again) == fresh
        with connect(again) as conn:
            others = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid()"
            ).fetchone()[0]
            assert others == 0
            conn.execute("ALTER TABLE account ADD COLUMN extra integer")
        lingering.close()
        drop_pg_database(again)

        third = create_pg_database(name)  # a changed schema is not reused: a fresh copy
        assert third != again
        assert contents(third) == fresh
        with connect(PG_SERVER) as conn:
            gone = conn.execute(
                "SELECT count(*) FROM pg_database WHERE datname = %s",
                (make_url(again).database,),
            ).fetchone()[0]
            assert gone == 0
        drop_pg_database(third)
    finally:
        drop_pg_database(template)
