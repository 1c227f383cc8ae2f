"""The store's schema (SPEC section 10): migrations from empty to head on the test backend,
no drift between the models and the migrations, older stores upgraded only by
`tenantctl db upgrade`, newer stores refused, and the default SQLite file owner-only."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import insert, inspect, text
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from tenantctl.cli.app import app
from tenantctl.store import migrate
from tenantctl.store.engine import open_engine
from tenantctl.store.models import Organisation
from tests.conftest import (
    PG_SERVER,
    Cli,
    create_pg_database,
    drop_pg_database,
    postgres_only,
    sqlite_only,
)


@contextmanager
def engine_for(url: str):
    engine = open_engine(url)
    try:
        yield engine
    finally:
        engine.dispose()


def assert_no_drift(url: str) -> None:
    """`alembic check`: the migrations make exactly the tables the models describe."""
    with engine_for(url) as engine, engine.connect() as conn:
        command.check(migrate.alembic_config(conn))


def add_root(url: str) -> None:
    """A root organisation, written with the columns revision 0001 has (Core, not the ORM,
    so that columns a later revision adds are not named)."""
    with engine_for(url) as engine, engine.begin() as conn:
        conn.execute(
            insert(Organisation.__table__).values(
                name="Distributor",
                kind="root",
                edition="premium",
                language="en",
                timezone="UTC",
                date_format="YYYY-MM-DD",
                currency="EUR",
                country="GR",
                status="active",
                created_at=datetime.now(UTC),
            )
        )


def test_empty_store_to_head_without_drift(empty_db_url):
    cli = Cli(empty_db_url)
    head = migrate.head()
    assert cli.json("db", "current") == {"current": None, "head": head, "up_to_date": False}
    if empty_db_url.startswith("sqlite"):  # a read-only command makes no store file
        assert not Path(make_url(empty_db_url).database).exists()

    assert cli.json("db", "upgrade") == {"before": None, "after": head, "head": head}
    assert_no_drift(empty_db_url)
    assert cli.json("db", "current") == {"current": head, "head": head, "up_to_date": True}
    # Running it again changes nothing.
    assert cli.json("db", "upgrade") == {"before": head, "after": head, "head": head}


def test_db_commands_say_what_they_did(empty_db_url):
    cli = Cli(empty_db_url)
    head = migrate.head()
    assert f"from empty to {head}" in cli("db", "upgrade").stderr
    assert f"already at revision {head}" in cli("db", "upgrade").stderr
    shown = cli("db", "current").stdout
    assert "current" in shown and head in shown


def test_a_normal_command_creates_an_empty_store_at_head(empty_db_url):
    cli = Cli(empty_db_url)
    # A command that writes (one that only reads never creates a store); the new store
    # has no root organisation yet.
    result = cli("account", "create", "X1", "--name", "x", expect=1)
    assert "root organisation" in result.stderr
    with engine_for(empty_db_url) as engine:
        assert migrate.current(engine) == migrate.head()
    assert_no_drift(empty_db_url)


def test_older_store_is_refused_then_upgraded_by_db_upgrade(empty_db_url):
    head = migrate.head()
    assert head != "0001"
    with engine_for(empty_db_url) as engine:
        assert migrate.upgrade(engine, "0001") == (None, "0001")
    add_root(empty_db_url)
    cli = Cli(empty_db_url)

    refused = cli("pricelist", "list", "--json", expect=1)
    assert refused.stdout == ""
    assert "0001" in refused.stderr and head in refused.stderr
    assert "tenantctl db upgrade" in refused.stderr
    with engine_for(empty_db_url) as engine:
        assert migrate.current(engine) == "0001"  # refusing changed nothing
    assert cli.json("db", "current") == {"current": "0001", "head": head, "up_to_date": False}

    assert cli.json("db", "upgrade") == {"before": "0001", "after": head, "head": head}
    assert_no_drift(empty_db_url)
    assert cli.json("pricelist", "list") == []  # the data written at 0001 is still there


def test_0004_and_0005r_add_take_overs_and_find_each_tenants_creation_process(empty_db_url):
    """Processes and tenants of a store at 0003: no take-overs yet, each tenant is given
    the newest creation process of its account (none when there is none), and the
    organisation of a tenant still being created is closed to login."""
    with engine_for(empty_db_url) as engine:
        migrate.upgrade(engine, "0003")
    add_root(empty_db_url)
    now = {"now": datetime.now(UTC)}
    with engine_for(empty_db_url) as engine:
        with engine.begin() as conn:
            run = conn.execute
            run(
                text(
                    "INSERT INTO price_list (org_id, name, currency, created_at) "
                    "VALUES (1, 'Resellers EUR', 'EUR', :now)"
                ),
                now,
            )
            for n, code in enumerate(["ACME", "BETA", "GAMMA"], start=1):
                run(
                    text(
                        "INSERT INTO account (org_id, code, name, kind, ordering_enabled, "
                        "currency, country, billing_day, payment_method, separate_invoices, "
                        "created_at) VALUES (1, :code, :code, 'reseller', true, 'EUR', 'GR', "
                        "1, 'invoice', false, :now)"
                    ),
                    {"code": code, **now},
                )
                run(
                    text(
                        "INSERT INTO tenant_reseller (account_id, parent_org_id, "
                        "price_list_id, edition, separate_invoices, phase, backorder_state, "
                        "status, created_at) VALUES (:n, 1, 1, 'basic', false, 'setup', "
                        "'off', 'in-progress', :now)"
                    ),
                    {"n": n, **now},
                )
            # ACME's creation had made its organisation when it was cancelled.
            run(
                text(
                    "INSERT INTO organisation (name, kind, parent_id, edition, language, "
                    "timezone, date_format, currency, country, client_id, status, "
                    "created_at) VALUES ('ACME', 'tenant', 1, 'basic', 'en', 'UTC', "
                    "'YYYY-MM-DD', 'EUR', 'GR', 'c1', 'active', :now)"
                ),
                now,
            )
            run(text("UPDATE tenant_reseller SET org_id = 2 WHERE account_id = 1"))
            # ACME: a cancelled creation, then the one that is queued now; BETA: an update
            # of another kind under a look-alike key; GAMMA: no process at all.
            for kind, key, status in [
                ("tenant.create", "tenant-create:1", "cancelled"),
                ("tenant.create", "tenant-create:1", "queued"),
                ("tenant.update", "tenant-create:2", "queued"),
            ]:
                run(
                    text(
                        "INSERT INTO process (kind, title, params, status, attempt, "
                        "max_attempts, fence, lock_key, not_before, created_at) VALUES "
                        "(:kind, 'at 0003', '{}', :status, 1, 3, 4, :key, :now, :now)"
                    ),
                    {"kind": kind, "key": key, "status": status, **now},
                )
        assert migrate.upgrade(engine, "0005r") == ("0003", "0005r")
        with engine.connect() as conn:
            assert conn.execute(text("SELECT DISTINCT fence, takeovers FROM process")).all() == [
                (4, 0)
            ]
            assert conn.execute(
                text("SELECT account_id, creation_process_id FROM tenant_reseller ORDER BY 1")
            ).all() == [(1, 2), (2, None), (3, None)]
            assert conn.execute(text("SELECT id, status FROM organisation ORDER BY 1")).all() == [
                (1, "active"),
                (2, "setup"),
            ]


# --- every past release's store upgrades (issue 11 item 8) ------------------------------------

REPO = Path(__file__).resolve().parents[1]
VERSIONS = "tenantctl/store/migrations/versions"


def _git(*args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(REPO), *args], check=True, capture_output=True, text=True
    ).stdout


# The newest commit that landed (passed CI on main). Every commit up to it that changed the
# migrations is a schema some store may be at; commits after it are this release's work in
# progress, whose revisions may still change until it lands. Move it forward when a
# release lands.
LAST_RELEASE = "d5f4203"


# The releases that landed since, as they landed: the commits between two releases are work
# in progress whose migrations changed before they landed, so no store was made by them.
LATER_RELEASES = ["f3220b3", "8c27962"]


def _past_migrations() -> list[str]:
    """Every released commit that changed the migrations, oldest first."""
    if not (REPO / ".git").exists():
        pytest.skip("not a git checkout: the past releases' migrations are in its history")
    history = _git("log", "--reverse", "--format=%H", LAST_RELEASE, "--", VERSIONS).split()
    return history + LATER_RELEASES


def _migrate_with(commit: str, url: str, folder: Path) -> str:
    """Build a store at URL with the migrations as they were at COMMIT; its head."""
    scripts = folder / commit[:12]
    (scripts / "versions").mkdir(parents=True)
    for name in ("env.py", "script.py.mako"):
        shutil.copy(migrate.MIGRATIONS / name, scripts / name)
    for path in _git("ls-tree", "--name-only", commit, VERSIONS + "/").split():
        (scripts / "versions" / Path(path).name).write_text(
            _git("show", f"{commit}:{path}"), encoding="utf-8"
        )
    with engine_for(url) as engine, engine.begin() as conn:
        cfg = migrate.alembic_config(conn)
        cfg.set_main_option("script_location", str(scripts))
        command.upgrade(cfg, "head")
        return conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one()


def test_a_store_made_by_each_past_release_upgrades_to_the_models(tmp_path):
    """A shipped migration never changes: a store built by any past commit's migrations is
    brought by `db upgrade` to exactly the tables and columns the models describe."""
    commits = _past_migrations()
    assert len(commits) >= 2
    for commit in commits:
        url = create_pg_database() if PG_SERVER else f"sqlite:///{tmp_path / commit}.db"
        try:
            was = _migrate_with(commit, url, tmp_path)
            result = Cli(url).json("db", "upgrade")
            assert result["before"] == was and result["after"] == migrate.head(), commit
            assert_no_drift(url)
        finally:
            if PG_SERVER:
                drop_pg_database(url)


def test_a_store_left_at_the_first_0004_is_repaired_by_db_upgrade(empty_db_url, tmp_path):
    """0004 as first released had no creation_process_id; code that said "up to date" to
    such a store then failed every tenant command on the missing column."""
    first_0004 = _git(
        "log",
        "--reverse",
        "--format=%H",
        "--diff-filter=A",
        "--",
        f"{VERSIONS}/0004_process_takeovers.py",
    ).split()[0]
    assert _migrate_with(first_0004, empty_db_url, tmp_path) == "0004"
    with engine_for(empty_db_url) as engine:
        columns = {c["name"] for c in inspect(engine).get_columns("tenant_reseller")}
    assert "creation_process_id" not in columns
    add_root(empty_db_url)
    cli = Cli(empty_db_url)
    refused = cli("tenant", "list", expect=1)
    assert "tenantctl db upgrade" in refused.stderr
    assert cli.json("db", "upgrade")["after"] == migrate.head()
    assert_no_drift(empty_db_url)
    assert cli.json("tenant", "list") == []


FUTURE = "9999_future"


def test_newer_store_is_refused_by_every_command(empty_db_url):
    cli = Cli(empty_db_url)
    cli("db", "upgrade")
    add_root(empty_db_url)
    with engine_for(empty_db_url) as engine, engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": FUTURE})

    for args in (["pricelist", "list"], ["db", "upgrade"]):
        result = cli(*args, "--json", expect=1)
        assert result.stdout == ""
        assert FUTURE in result.stderr
        assert "newer than this tenantctl knows" in result.stderr
        assert "upgrade tenantctl" in result.stderr
    assert cli.json("db", "current") == {
        "current": FUTURE,
        "head": migrate.head(),
        "up_to_date": False,
    }
    with engine_for(empty_db_url) as engine:
        assert migrate.current(engine) == FUTURE


@pytest.mark.parametrize("url", ["mysql://user@localhost/tenantctl", "not a url at all"])
def test_an_unusable_store_url_is_bad_usage(url):
    result = CliRunner().invoke(app, ["--db", url, "pricelist", "list"])
    assert result.exit_code == 2
    assert "--db" in result.stderr


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@sqlite_only
def test_default_sqlite_store_is_owner_only(tmp_path):
    data_home = tmp_path / "xdg-data"
    env = {"TENANTCTL_DB": None, "XDG_DATA_HOME": str(data_home)}
    old_umask = os.umask(0)  # the most permissive umask: the tool alone must restrict
    try:
        result = CliRunner().invoke(app, ["db", "upgrade", "--json"], env=env)
        listed = CliRunner().invoke(app, ["pricelist", "list"], env=env)
    finally:
        os.umask(old_umask)
    assert result.exit_code == 0, result.stderr
    assert listed.exit_code == 1  # the store works; it only has no root org yet
    data_dir = data_home / "tenantctl"
    store = data_dir / "tenantctl.db"
    assert store.is_file()
    assert mode(data_dir) == 0o700
    assert mode(store) == 0o600
    for side in ("tenantctl.db-wal", "tenantctl.db-shm"):
        if (data_dir / side).exists():
            assert mode(data_dir / side) == 0o600, side


@sqlite_only
def test_a_new_sqlite_store_named_by_db_is_owner_only(tmp_path):
    path = tmp_path / "new" / "store.db"
    old_umask = os.umask(0)
    try:
        result = CliRunner().invoke(app, ["--db", f"sqlite:///{path}", "db", "upgrade"])
    finally:
        os.umask(old_umask)
    assert result.exit_code == 0, result.stderr
    assert mode(path) == 0o600


@sqlite_only
def test_sqlite_money_columns_hold_text(db_url):
    """SQLite's NUMERIC affinity would turn 0.1 into a binary float: money is TEXT there."""
    with engine_for(db_url) as engine:
        columns = {c["name"]: c["type"] for c in inspect(engine).get_columns("price_list_item")}
    assert type(columns["price"]).__name__ in ("VARCHAR", "TEXT")


@postgres_only
def test_postgres_money_columns_are_unconstrained_numeric(db_url):
    with engine_for(db_url) as engine:
        for table, column in (
            ("price_list_item", "price"),
            ("product_unit", "cost_price"),
            ("subscription", "unit_price"),
            ("order_line", "unit_price"),
            ("account", "credit_limit"),
        ):
            [found] = [c for c in inspect(engine).get_columns(table) if c["name"] == column]
            assert type(found["type"]).__name__ == "NUMERIC", (table, column)
            assert (found["type"].precision, found["type"].scale) == (None, None), (table, column)


@postgres_only
def test_postgres_url_without_a_driver_uses_psycopg(empty_db_url):
    url = make_url(empty_db_url).set(drivername="postgresql").render_as_string(hide_password=False)
    cli = Cli(url)
    assert cli.json("db", "upgrade")["after"] == migrate.head()
    assert cli.json("db", "current")["up_to_date"] is True


# --- odd stores (issue 11 items 9 and 10) ------------------------------------------------------


def _one_error_line(result, code: int) -> str:
    assert result.exit_code == code, result.stderr
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    assert "unexpected" not in lines[0] and "sqlalche.me" not in lines[0]
    return lines[0]


def _foreign_sqlite(path) -> bytes:
    import sqlite3

    conn = sqlite3.connect(path)
    conn.executescript(
        "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT);"
        "CREATE TABLE tags (name TEXT); INSERT INTO notes VALUES (1, 'mine');"
    )
    conn.commit()
    conn.close()
    return path.read_bytes()


@pytest.mark.parametrize("args", [["pricelist", "list"], ["db", "upgrade"], ["db", "current"]])
def test_another_applications_sqlite_file_is_refused_untouched(tmp_path, args):
    path = tmp_path / "notes.db"
    before = _foreign_sqlite(path)
    result = CliRunner().invoke(app, ["--db", f"sqlite:///{path}", *args])
    line = _one_error_line(result, 2)
    assert f"--db: {path} is not a tenantctl store" in line
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.db"]  # no -wal, no -shm


@postgres_only
def test_another_applications_postgresql_database_is_refused_untouched():
    url = create_pg_database()
    try:
        with engine_for(url) as engine, engine.begin() as conn:
            conn.execute(text("CREATE TABLE notes (id integer PRIMARY KEY, body text)"))
        for args in (["db", "upgrade"], ["pricelist", "list"]):
            result = CliRunner().invoke(app, ["--db", url, *args])
            assert "is not a tenantctl store" in _one_error_line(result, 2)
        with engine_for(url) as engine:
            assert inspect(engine).get_table_names() == ["notes"]
    finally:
        drop_pg_database(url)


def test_a_file_that_is_not_a_database_is_refused(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("these are not the tables you are looking for\n" * 200)
    result = CliRunner().invoke(app, ["--db", f"sqlite:///{path}", "pricelist", "list"])
    assert f"--db: {path} is not an SQLite database" in _one_error_line(result, 2)


def test_an_sqlite_file_that_cannot_be_created_is_bad_usage():
    # a command that writes creates its store; a read-only one only says there is none
    result = CliRunner().invoke(app, ["--db", "sqlite:////proc/x/y.db", "db", "upgrade"])
    assert "--db: cannot create the SQLite file /proc/x/y.db" in _one_error_line(result, 2)
    result = CliRunner().invoke(app, ["--db", "sqlite:////proc/x/y.db", "pricelist", "list"])
    assert "there is no store at /proc/x/y.db" in _one_error_line(result, 1)


@pytest.mark.parametrize("command", ["show", "logs", "retry", "cancel"])
def test_a_process_id_beyond_any_integer_is_not_found(db_url, command):
    result = CliRunner().invoke(app, ["--db", db_url, "process", command, "99999999999999999999"])
    assert _one_error_line(result, 1) == "Error: no process 99999999999999999999"
