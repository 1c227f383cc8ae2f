"""Schema migrations: Alembic, shipped inside the package, one history for every database.

Opening a store only compares its revision with HEAD, recorded here, so that a command that
finds its store current neither imports Alembic nor reads the migration scripts; a test
checks HEAD against the scripts.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection, Engine

from tenantctl.errors import BadInput, Refused
from tenantctl.words import plural

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
# The newest revision of migrations/versions (a new migration changes it; the test suite
# fails while it names another).
HEAD = "0008"
VERSION_TABLE = "alembic_version"
# Serialises concurrent upgrades of one PostgreSQL store (any constant will do).
_PG_LOCK_KEY = 7_412_095_331


def alembic_config(connection: Connection | None = None) -> Config:
    from alembic.config import Config

    # Alembic's default stdout is the one at its import; name the current one.
    cfg = Config(stdout=sys.stdout)
    cfg.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def head() -> str:
    """The newest schema revision this tenantctl knows."""
    return HEAD


def script_head() -> str:
    """The newest revision as the migration scripts tell it (what HEAD must be)."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def known_revisions() -> set[str]:
    from alembic.script import ScriptDirectory

    return {rev.revision for rev in ScriptDirectory.from_config(alembic_config()).walk_revisions()}


def current(engine: Engine) -> str | None:
    """The store's schema revision (None for an empty store)."""
    with engine.connect() as conn:
        if not inspect(conn).has_table(VERSION_TABLE):
            return None
        revisions = conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalars().all()
    if len(revisions) > 1:
        raise Refused(
            f"the store's schema has several revisions ({', '.join(revisions)}): "
            "it was not made by tenantctl"
        )
    return revisions[0] if revisions else None


def upgrade(engine: Engine, target: str = "head") -> tuple[str | None, str]:
    """Upgrade the store to TARGET; returns (before, after). Refuses a newer store."""
    from alembic import command
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        conn.execution_options(tenantctl_write=True)
        with conn.begin():
            if conn.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY})
            before = MigrationContext.configure(conn).get_current_revision()
            if before is None:
                _refuse_foreign(conn)
            _refuse_newer(before)
            command.upgrade(alembic_config(conn), target)
            after = MigrationContext.configure(conn).get_current_revision()
    return before, after


def ensure_current(engine: Engine) -> None:
    """Make an empty store current; refuse an older or a newer one with what to do."""
    rev = current(engine)
    if rev == head():
        return
    if rev is None:
        upgrade(engine)
        return
    _refuse_newer(rev)
    raise Refused(
        f"the store's schema is at revision {rev}, older than this tenantctl's {head()}: "
        "run `tenantctl db upgrade` first"
    )


def refuse_foreign(engine: Engine) -> None:
    """Refuse (untouched) a database that holds another application's tables."""
    with engine.connect() as conn:
        _refuse_foreign(conn)


def _refuse_foreign(conn: Connection) -> None:
    """A database with tables but no schema revision is another application's: refused
    before anything is written to it."""
    tables = inspect(conn).get_table_names()
    if tables:
        raise BadInput(
            f"--db: the database is not a tenantctl store: it holds "
            f"{plural(len(tables), 'table')} of another application; it was left untouched"
        )


def _refuse_newer(rev: str | None) -> None:
    if rev is not None and rev not in known_revisions():
        raise Refused(
            f"the store's schema is at revision {rev}, newer than this tenantctl knows "
            f"(its newest is {head()}): upgrade tenantctl instead"
        )
