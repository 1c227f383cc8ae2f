"""Every test gets a private store: a temporary SQLite file, or a fresh PostgreSQL database
when TENANTCTL_TEST_DATABASE_URL names a server (the database is made and dropped here)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest
import typer.main
from sqlalchemy import MetaData
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from tenantctl.cli.app import app
from tenantctl.errors import TenantctlError
from tenantctl.store.engine import open_engine
from tenantctl.store.migrate import upgrade
from tests import pgpool, skipcheck
from tests.skipcheck import DATABASE_VARIABLE, POSTGRES_ONLY, SQLITE_ONLY

pytest_plugins = ["pytester"]

PG_SERVER = os.environ.get(DATABASE_VARIABLE)
ROOT = Path(__file__).resolve().parents[1]  # the checkout
FIXTURES = ROOT / "fixtures"
PG_SKIP_REASON = f"{POSTGRES_ONLY}: set {DATABASE_VARIABLE} to run it"
SQLITE_ONLY_REASON = f"{SQLITE_ONLY}: the suite runs on PostgreSQL ({DATABASE_VARIABLE} is set)"
# Marks for tests of one backend; the skip reasons are the ones tests/skipcheck.py accepts.
postgres_only = pytest.mark.skipif(not PG_SERVER, reason=PG_SKIP_REASON)
sqlite_only = pytest.mark.skipif(bool(PG_SERVER), reason=SQLITE_ONLY_REASON)


def backend() -> str:
    return "postgresql" if PG_SERVER else "sqlite"


def create_pg_database(template: str | None = None) -> str:
    """A new empty (or template-copied) database on the test server; returns its URL. A copy
    of a template may be one that an earlier test used, reset to the template's contents
    (tests/pgpool.py): a template must not change once it has been copied."""
    databases = pgpool.pool(PG_SERVER)
    return databases.url(databases.checkout(template))


def drop_pg_database(db_url: str) -> None:
    """The test is done with DB_URL's database (kept to be reset for the next copy of its
    template, or dropped; tests/pgpool.py)."""
    pgpool.pool(PG_SERVER).release(make_url(db_url).database)


@pytest.fixture(scope="session")
def _template(tmp_path_factory):
    """A migrated store that each test's store is copied from (migrating once is faster)."""
    if PG_SERVER:
        db_url = create_pg_database()
        engine = open_engine(db_url)
        upgrade(engine)
        engine.dispose()
        yield make_url(db_url).database
        drop_pg_database(db_url)
    else:
        path = tmp_path_factory.mktemp("template") / "template.db"
        engine = open_engine(f"sqlite:///{path}")
        upgrade(engine)
        with engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        engine.dispose()
        yield path


@pytest.fixture
def empty_db_url(tmp_path):
    """A store with no schema at all (for migration tests)."""
    if PG_SERVER:
        url = create_pg_database()
        yield url
        drop_pg_database(url)
    else:
        yield f"sqlite:///{tmp_path / 'empty.db'}"


@pytest.fixture
def db_url(_template, tmp_path):
    """A private store at the newest schema."""
    if PG_SERVER:
        url = create_pg_database(template=_template)
        yield url
        drop_pg_database(url)
    else:
        path = tmp_path / "store.db"
        shutil.copyfile(_template, path)
        os.chmod(path, 0o600)
        yield f"sqlite:///{path}"


@pytest.fixture
def engine(db_url):
    eng = open_engine(db_url)
    yield eng
    eng.dispose()


@pytest.fixture
def pg_server():
    if not PG_SERVER:
        pytest.skip(PG_SKIP_REASON)
    return PG_SERVER


def run_app(*args: str, env: dict | None = None):
    """Run tenantctl's typer app as typer builds it (for help pages and completion)."""
    return CliRunner().invoke(app, list(args), env=env)


# tenantctl's click command, built once: typer's CliRunner.invoke builds it again on every
# call (0.3 s each), which would be most of the suite's run time.
COMMAND = typer.main.get_command(app)


@dataclass(frozen=True)
class CliResult:
    """What one in-process run of tenantctl printed and how it ended."""

    exit_code: int
    stdout: str
    stderr: str
    exception: BaseException | None


def invoke(
    runner: CliRunner, args: list[str], input: str | None = None, env: dict | None = None
) -> CliResult:
    """Run COMMAND with ARGS in the runner's isolation (what CliRunner.invoke does, with
    the command built once; public API only)."""
    exit_code, exception = 0, None
    with runner.isolation(input=input, env=env) as streams:
        try:
            COMMAND.main(args=args, prog_name=runner.get_default_prog_name(COMMAND))
        except SystemExit as exc:
            code = 0 if exc.code is None else exc.code
            if not isinstance(code, int):
                sys.stdout.write(f"{code}\n")
                code = 1
            exit_code, exception = code, (exc if code else None)
        except Exception as exc:
            exit_code, exception = 1, exc
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            stdout, stderr = (
                stream.getvalue().decode(runner.charset, "replace").replace("\r\n", "\n")
                for stream in streams[:2]
            )
    return CliResult(exit_code, stdout, stderr, exception)


class Cli:
    """Runs tenantctl in-process against one store."""

    def __init__(self, db_url: str):
        self.db_url = db_url
        self.runner = CliRunner()

    def __call__(
        self, *args: str, input: str | None = None, env: dict | None = None, expect: int | None = 0
    ) -> CliResult:
        result = invoke(self.runner, ["--db", self.db_url, *map(str, args)], input, env)
        if expect is not None and result.exit_code != expect:
            raise AssertionError(
                f"tenantctl {' '.join(map(str, args))} exited {result.exit_code}, "
                f"expected {expect}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}\n"
                f"exception: {result.exception!r}"
            )
        return result

    def json(self, *args: str, expect: int | None = 0, **kw):
        result = self(*args, "--json", expect=expect, **kw)
        return json.loads(result.stdout)


@pytest.fixture
def cli(db_url):
    return Cli(db_url)


def pytest_configure(config):
    # A run fails when a test skips for any reason but the backend (tests/skipcheck.py).
    skipcheck.pytest_configure(config)


def pytest_report_header(config):
    if PG_SERVER:
        return f"store backend: PostgreSQL ({make_url(PG_SERVER).render_as_string()})"
    return f"store backend: SQLite (the PostgreSQL-only tests skip: {PG_SKIP_REASON})"


def pytest_terminal_summary(terminalreporter):
    if not PG_SERVER:
        terminalreporter.write_line(
            f"Ran on SQLite only; the PostgreSQL-only tests were skipped (set "
            f"{DATABASE_VARIABLE} to run them)."
        )


def at_once(db_url: str, call, times: int = 2) -> list:
    """Run CALL(engine) TIMES times at once, each in a thread with an engine of its own (as
    separate commands would be), released together; returns each one's result, or the
    TenantctlError it raised, in the order they ended."""
    barrier, outcomes = threading.Barrier(times), []

    def run() -> None:
        own = open_engine(db_url)
        try:
            barrier.wait(timeout=60)
            outcomes.append(call(own))
        except TenantctlError as exc:
            outcomes.append(exc)
        finally:
            own.dispose()

    threads = [threading.Thread(target=run) for _ in range(times)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert len(outcomes) == times, f"a caller neither returned nor raised: {outcomes}"
    return outcomes


@pytest.fixture
def python_process():
    """START(*ARGV, env=ENV): run `python ARGV...` from the checkout (ENV added to this
    process's environment), its output captured as text; none outlives the test."""
    started: list[subprocess.Popen] = []

    def start(*argv: str, env: dict | None = None) -> subprocess.Popen:
        proc = subprocess.Popen(
            [sys.executable, *map(str, argv)],
            cwd=ROOT,
            env={**os.environ, **(env or {})},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        started.append(proc)
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.kill()  # SIGKILL ends a stopped process too
        proc.communicate()


@pytest.fixture(scope="session")
def world_template(_template, tmp_path_factory):
    """The data set with tenants for ACME and LITECLOUD, built once (tests/world.py)."""
    from tests.world import build_world_template  # it imports this module

    yield from build_world_template(_template, tmp_path_factory)


@pytest.fixture
def world(world_template, tmp_path):
    """A private copy of the world store for one test (a tests.world.World)."""
    from tests.world import private_world

    yield from private_world(world_template, tmp_path)


@pytest.fixture(scope="session")
def live_world_template(_template, tmp_path_factory):
    """The world store with LITECLOUD upgraded and live, built once (tests/backorder_world)."""
    from tests.backorder_world import template

    yield from template(_template, tmp_path_factory)


@pytest.fixture
def live_world(live_world_template, tmp_path):
    """A private copy of the live world store for one test (a tests.world.World)."""
    from tests.world import private_world

    yield from private_world(live_world_template, tmp_path)


def table_counts(url: str) -> dict[str, int]:
    """Rows per table of the store at URL: a refused command leaves every count as it was."""
    from sqlalchemy import func, select

    import tenantctl.jobs.models  # noqa: F401  (the queue's tables)
    from tenantctl.store.models import load_all

    engine = open_engine(url)
    try:
        with engine.connect() as conn:
            return {
                t.name: conn.execute(select(func.count()).select_from(t)).scalar_one()
                for t in load_all().sorted_tables
            }
    finally:
        engine.dispose()


# What `reflected` reads to tell one schema from another: every table's columns, constraints
# and indexes, as the database itself states them.
_PG_SCHEMA = """
SELECT concat_ws(' ', c.relname, a.attnum, a.attname, format_type(a.atttypid, a.atttypmod),
                 a.attnotnull, pg_get_expr(d.adbin, d.adrelid))
  FROM pg_class c
  JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
  LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
 WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind IN ('r', 'p', 'f')
UNION ALL
SELECT concat_ws(' ', co.conrelid::regclass, co.conname, pg_get_constraintdef(co.oid))
  FROM pg_constraint co WHERE co.connamespace = current_schema()::regnamespace
UNION ALL
SELECT indexdef FROM pg_indexes WHERE schemaname = current_schema()
"""
_REFLECTED: dict[tuple, MetaData] = {}


def reflected(engine) -> MetaData:
    """Every table of ENGINE's store, reflected (so that no table is forgotten). Reflecting
    takes hundreds of queries on PostgreSQL: a schema already reflected in this run (the
    same tables, columns, constraints and indexes, read in one query) is not again."""
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            rows = conn.exec_driver_sql(_PG_SCHEMA).scalars()
        else:
            rows = conn.exec_driver_sql("SELECT type, name, sql FROM sqlite_master").all()
        signature = (engine.dialect.name, *sorted(map(repr, rows)))
    if signature not in _REFLECTED:
        meta = MetaData()
        meta.reflect(engine)
        _REFLECTED[signature] = meta
    return _REFLECTED[signature]


@pytest.fixture(scope="module")
def distributor_store(_template, tmp_path_factory):
    """One store per module with fixtures/distributor.yaml loaded, for tests whose commands
    are refused (and so share it); `.folder` is a directory for the files they write."""
    folder = tmp_path_factory.mktemp("distributor")
    if PG_SERVER:
        url = create_pg_database(template=_template)
    else:
        path = folder / "store.db"
        shutil.copyfile(_template, path)
        os.chmod(path, 0o600)
        url = f"sqlite:///{path}"
    cli = Cli(url)
    cli("load", FIXTURES / "distributor.yaml")
    cli.folder = folder
    yield cli
    if PG_SERVER:
        drop_pg_database(url)
