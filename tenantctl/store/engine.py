"""Engines and sessions for SQLite and PostgreSQL.

SQLite: WAL, foreign keys, a busy timeout, and writes under BEGIN IMMEDIATE so two
writers queue on the database lock instead of failing half-way; the file is created
owner-only. PostgreSQL: `postgresql+psycopg://...`.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Engine, make_url
from sqlmodel import Session

from tenantctl.errors import BadInput, NotFound
from tenantctl.words import plural

BUSY_TIMEOUT_MS = 60_000
WRITE = "tenantctl_write"
# Execution options for a bulk INSERT ... SELECT, UPDATE or DELETE whose row count is
# read: psycopg reports it only when asked to keep it.
COUNT_ROWS = {"preserve_rowcount": True}


def default_url() -> str:
    """An SQLite file in the user's data directory."""
    import platformdirs  # only when no store is named

    path = Path(platformdirs.user_data_dir("tenantctl")) / "tenantctl.db"
    return f"sqlite:///{path}"


def _create_owner_only(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:
        return
    os.close(fd)
    # SQLite gives the -wal and -shm files the main file's mode.
    os.chmod(path, 0o600)


def _check_sqlite_file(path: Path) -> None:
    """Refuse a file that is not an SQLite database, or is another application's database
    (it has tables but not tenantctl's), before anything is written to it. It is read
    through a read-only connection, so a refused file is left exactly as it was."""
    if not path.is_file() or path.stat().st_size == 0:
        return
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            tables = {
                name
                for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            }
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise BadInput(f"--db: {path} is not an SQLite database ({exc})") from None
    if tables and not {"alembic_version", "organisation"} <= tables:
        raise BadInput(
            f"--db: {path} is not a tenantctl store: it holds "
            f"{plural(len(tables), 'table')} of another application; it was left untouched"
        )


def open_engine(url: str | None = None, *, create: bool = True) -> Engine:
    """An engine for URL (default: the user's SQLite file), set up for this tool.

    Without CREATE, a missing SQLite file is not made: NotFound says there is no store.

    Statement parameters are never shown in errors: they may hold a password hash.
    """
    url = url or default_url()
    try:
        parsed = make_url(url)
    except Exception as exc:
        raise BadInput(f"--db: {url!r} is not a database URL ({exc})") from None
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            path = Path(parsed.database).expanduser()
            if not create and not path.exists():
                raise NotFound(
                    f"there is no store at {path}: `tenantctl load FILE.yaml` or "
                    "`tenantctl db upgrade` makes one (or name one with --db)"
                )
            try:
                _create_owner_only(path)
            except OSError as exc:
                raise BadInput(
                    f"--db: cannot create the SQLite file {path} ({exc.strerror})"
                ) from None
            _check_sqlite_file(path)
        engine = create_engine(
            parsed, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000}, hide_parameters=True
        )
        _configure_sqlite(engine)
        return engine
    if backend == "postgresql":
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        return create_engine(parsed, pool_pre_ping=True, hide_parameters=True)
    raise BadInput(
        f"--db: unsupported database {backend!r} (use sqlite:/// or postgresql+psycopg://)"
    )


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):
        # Let SQLAlchemy's begin event issue BEGIN itself (pysqlite's own is broken).
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        mode = "IMMEDIATE" if conn.get_execution_options().get(WRITE) else "DEFERRED"
        conn.exec_driver_sql(f"BEGIN {mode}")


def _info(org_id: int | None) -> dict:
    if org_id is None:
        return {}
    from tenantctl.store import scoping  # registers the scoping listeners

    return scoping.scoped_info(org_id)


@contextmanager
def write_session(engine: Engine, *, org_id: int | None = None) -> Iterator[Session]:
    """A session whose work commits as one transaction, or not at all.

    On SQLite the transaction takes the write lock at its start (BEGIN IMMEDIATE), so a
    read-then-write can never be overtaken by another writer. With ORG_ID every statement
    is scoped to that organisation (see `tenantctl.store.scoping`).
    """
    with engine.connect() as conn:
        conn.execution_options(**{WRITE: True})
        with (
            Session(bind=conn, expire_on_commit=False, info=_info(org_id)) as session,
            session.begin(),
        ):
            yield session


@contextmanager
def read_session(engine: Engine, *, org_id: int | None = None) -> Iterator[Session]:
    """A session for reading; nothing it does is committed. ORG_ID scopes it."""
    with Session(bind=engine, expire_on_commit=False, info=_info(org_id)) as session:
        yield session


def advisory_lock(session: Session, scope: int, key: int) -> None:
    """Serialise writers of one (SCOPE, KEY) for the rest of the transaction.

    PostgreSQL: a transaction-level advisory lock. SQLite: nothing to do, every write
    transaction already holds the database's write lock (BEGIN IMMEDIATE).
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(
            text("SELECT pg_advisory_xact_lock(:scope, :key)"), {"scope": scope, "key": key}
        )
