"""Schema migrations: Alembic, shipped inside the package, one history for every database."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection, Engine

from tenantctl.errors import BadInput, Refused

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
# Serialises concurrent upgrades of one PostgreSQL store (any constant will do).
_PG_LOCK_KEY = 7_412_095_331


def alembic_config(connection: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def head() -> str:
    """The newest schema revision this tenantctl knows."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def known_revisions() -> set[str]:
    return {rev.revision for rev in ScriptDirectory.from_config(alembic_config()).walk_revisions()}


def current(engine: Engine) -> str | None:
    """The store's schema revision (None for an empty store)."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine, target: str = "head") -> tuple[str | None, str]:
    """Upgrade the store to TARGET; returns (before, after). Refuses a newer store."""
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


def _refuse_foreign(conn: Connection) -> None:
    """A database with tables but no schema revision is another application's: refused
    before anything is written to it."""
    tables = inspect(conn).get_table_names()
    if tables:
        raise BadInput(f"--db: the database is not a tenantctl store: it holds {len(tables)} "
                       "table(s) of another application; it was left untouched")


def _refuse_newer(rev: str | None) -> None:
    if rev is not None and rev not in known_revisions():
        raise Refused(
            f"the store's schema is at revision {rev}, newer than this tenantctl knows "
            f"(its newest is {head()}): upgrade tenantctl instead"
        )
