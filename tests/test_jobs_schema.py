"""The queue's migration (0002) builds exactly the tables the models describe."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

import tenantctl.jobs.models  # noqa: F401  (the queue's tables)
from tenantctl.store.engine import open_engine
from tenantctl.store.migrate import alembic_config, current, upgrade
from tenantctl.store.models import load_all

QUEUE_TABLES = {"process", "process_task", "process_log"}


def _tables_named(diff) -> set[str]:
    """The table names an Alembic diff entry (or group of entries) touches."""
    if isinstance(diff, list):
        return set().union(*(_tables_named(d) for d in diff))
    names = set()
    for part in diff:
        for attr in ("name", "table"):
            obj = getattr(part, attr, None)
            if isinstance(obj, str):
                names.add(obj)
            elif getattr(obj, "name", None):
                names.add(obj.name)
        if isinstance(part, str):
            names.add(part)
    return names


def test_the_migrated_queue_tables_match_the_models(engine):
    with engine.connect() as conn:
        diffs = compare_metadata(
            MigrationContext.configure(conn, opts={"compare_type": True}), load_all()
        )
        indexes = {i["name"]: i for i in inspect(conn).get_indexes("process")}
    assert [d for d in diffs if _tables_named(d) & QUEUE_TABLES] == []
    lock = indexes["uq_process_active_lock_key"]
    assert lock["unique"] and lock["column_names"] == ["lock_key"]
    # Partial: only queued and running processes hold their lock key.
    assert lock["dialect_options"][f"{engine.dialect.name}_where"] is not None


def test_the_queue_migration_goes_down_and_up_again(empty_db_url):
    engine = open_engine(empty_db_url)
    try:
        upgrade(engine)
        assert set(inspect(engine).get_table_names()) >= QUEUE_TABLES
        with engine.connect() as conn:
            conn.execution_options(tenantctl_write=True)
            with conn.begin():
                command.downgrade(alembic_config(conn), "0001")
        assert current(engine) == "0001"
        assert not QUEUE_TABLES & set(inspect(engine).get_table_names())
        upgrade(engine)
        assert set(inspect(engine).get_table_names()) >= QUEUE_TABLES
    finally:
        engine.dispose()
