"""Start-up stays light (issue 13): `--version` and `--help` import no SQLAlchemy, SQLModel
or Alembic, and opening a store learns the newest schema revision without reading the
migration scripts."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tenantctl.store import migrate

HEAVY = ("sqlalchemy", "sqlmodel", "alembic")

_PROBE = """
import gc, json, sys
sys.argv = ["tenantctl", *json.loads(sys.argv[1])]
from tenantctl.cli.app import main
try:
    main()
except SystemExit:
    pass
sys.stdout.flush()
print("\\nREPORT " + json.dumps({"modules": sorted(sys.modules), "collecting": gc.isenabled()}))
"""


def _probe(*args: str) -> tuple[str, dict]:
    """What `tenantctl ARGS` printed, and what its process held once it was over: the
    modules it imported and whether the cyclic collector was on."""
    run = subprocess.run(
        [sys.executable, "-c", _PROBE, json.dumps(args)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    printed, _, report = run.stdout.rpartition("\nREPORT ")
    return printed, json.loads(report)


def _imported_by(*args: str) -> tuple[str, set[str]]:
    printed, report = _probe(*args)
    return printed, {m.split(".")[0] for m in report["modules"]}


def _modules_of(*args: str) -> set[str]:
    return set(_probe(*args)[1]["modules"])


@pytest.mark.parametrize(
    "args", [("--version",), ("--help",), ("tenant", "--help"), ("account", "create", "--help")]
)
def test_version_and_help_import_no_database_library(args):
    printed, modules = _imported_by(*args)
    assert "tenantctl" in printed.lower() or "usage" in printed.lower()
    assert not modules & set(HEAVY), sorted(modules & set(HEAVY))


def test_a_command_that_opens_the_store_imports_them(tmp_path):
    """The probe sees an import when one happens (so the test above can fail)."""
    url = f"sqlite:///{tmp_path / 'store.db'}"
    printed, modules = _imported_by("--db", url, "--json", "db", "current")
    assert json.loads(printed)["head"] == migrate.HEAD
    assert {"sqlalchemy", "sqlmodel"} <= modules


def test_the_recorded_head_is_the_migration_scripts_head():
    assert migrate.script_head() == migrate.HEAD
    assert migrate.HEAD in migrate.known_revisions()


def test_opening_a_current_store_reads_no_migration_script(cli, monkeypatch):
    """A command on a current store learns the head without Alembic's script reader."""

    def refuse(*_a, **_k):
        raise AssertionError("read the migration scripts")

    monkeypatch.setattr(migrate, "script_head", refuse)
    monkeypatch.setattr(migrate, "known_revisions", refuse)
    monkeypatch.setattr(migrate, "alembic_config", refuse)
    # The store is current and has no root organisation yet: the command gets past
    # opening it and stops at the first rule of the domain.
    result = cli("tenant", "list", expect=1)
    assert "no root organisation" in result.stderr
    assert "migration scripts" not in result.stderr


def test_a_store_that_cannot_be_opened_is_one_error_line(tmp_path):
    """The error path knows SQLAlchemy's errors without importing SQLAlchemy up front."""
    from typer.testing import CliRunner

    from tenantctl.cli.app import app

    folder = tmp_path / "a-folder"
    folder.mkdir()
    result = CliRunner().invoke(app, ["--db", f"sqlite:///{folder}", "tenant", "list"])
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == [
        "Error: the store cannot be used: unable to open database file"
    ]


def test_version_builds_no_command():
    """`--version` imports none of the command modules; a command imports its own only."""
    from tenantctl.cli.app import COMMANDS

    command_modules = {module for module, _ in COMMANDS.values()}
    assert not _modules_of("--version") & command_modules
    assert _modules_of("db", "--help") & command_modules == {"tenantctl.cli.db"}


def test_the_root_help_lists_each_command_as_its_built_command_would():
    """`tenantctl --help` lists the commands from their help alone, without building them:
    the short help of each stand-in is the built command's, at any width."""
    import typer

    from tenantctl.cli.app import COMMANDS, LazyCommands, app

    built = typer.main.get_command(app).commands
    assert list(built) == list(COMMANDS)
    for name in COMMANDS:
        stand_in = LazyCommands({}).listed(name)
        assert stand_in.hidden == built[name].hidden
        for limit in (20, 45, 80, 200):
            assert stand_in.get_short_help_str(limit) == built[name].get_short_help_str(limit)


def test_listing_tenants_loads_no_queue_copy_or_catalogue_code(tmp_path):
    """`tenant list` on the distributor's store reads the tenant table: it imports neither
    the process queue, the creation and its catalogue copy, the catalogue code nor the
    PostgreSQL dialect (0.1-0.2 s of a 0.5 s command); `tenant create` does. Nor does it
    map the tables it does not read (about 10 ms each)."""
    from tests.conftest import FIXTURES

    url = f"sqlite:///{tmp_path / 'store.db'}"
    subprocess.run(  # a fresh process: loading in this one would import what is checked
        [
            sys.executable,
            "-m",
            "tenantctl",
            "--db",
            url,
            "load",
            str(FIXTURES / "distributor.yaml"),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    heavy = {
        "tenantctl.jobs",
        "tenantctl.domain.tenants.creation",
        "tenantctl.domain.tenants.catalogue_copy",
        "tenantctl.domain.catalogue",
        "sqlalchemy.dialects.postgresql",
    }
    listed = _modules_of("--db", url, "--json", "tenant", "list")
    assert "tenantctl.domain.tenants" in listed
    assert not listed & heavy, sorted(listed & heavy)
    # It maps the tables it reads (tenants, their accounts, orgs and price lists) and those
    # their foreign keys name, not the catalogue, the sales, the users or the billing.
    assert {m for m in listed if m.startswith("tenantctl.store.models.")} == {
        f"tenantctl.store.models.{area}" for area in ("accounts", "orgs", "price_lists", "tenants")
    }
    # The probe sees them where they are loaded (so this test can fail): a worker runs
    # every kind of process.
    assert heavy - {"sqlalchemy.dialects.postgresql"} <= _modules_of(
        "--db", url, "worker", "--once"
    )


@pytest.mark.parametrize("opens_the_store", [True, False])
def test_the_collector_is_off_for_start_up_only(tmp_path, opens_the_store):
    """`main` turns the cyclic collector off while the libraries load; a command that opens
    the store turns it back on (a worker runs for days)."""
    url = f"sqlite:///{tmp_path / 'store.db'}"
    args = ["--db", url, "db", "upgrade"] if opens_the_store else ["--version"]
    assert _probe(*args)[1]["collecting"] == opens_the_store


def test_a_command_ends_without_freeing_its_objects_one_by_one(tmp_path):
    """Exiting, the interpreter would free every object still held, one by one (0.3-0.7 s
    with SQLAlchemy, pydantic and the tables loaded): once the command is over, main()
    freezes them for the collector to pass by. The store is closed before that: SQLite has
    folded its write-ahead log back into the file and removed it."""
    probe = (
        "import gc, sys\n"
        "sys.argv = ['tenantctl', *sys.argv[1:]]\n"
        "from tenantctl.cli.app import main\n"
        "try:\n"
        "    main()\n"
        "except SystemExit as exc:\n"
        "    assert not exc.code, exc.code\n"
        "print(gc.get_freeze_count())\n"
    )
    store = tmp_path / "store.db"
    run = subprocess.run(
        [sys.executable, "-c", probe, "--db", f"sqlite:///{store}", "db", "upgrade"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert int(run.stdout.split()[-1]) > 10_000
    assert store.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["store.db"]
