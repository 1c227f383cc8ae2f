"""The command line itself (SPEC section 10): every command and sub-command has help and
`--help` works, `--version`, bad usage exits 2, and global options work after the command."""

from __future__ import annotations

import json

import pytest
import typer
from typer.testing import CliRunner

from tenantctl import __version__
from tenantctl.cli.app import app
from tenantctl.store.engine import open_engine, write_session
from tenantctl.store.models import Organisation

WIDE = {"COLUMNS": "100"}


def walk(command, path=()):
    yield path, command
    for name, sub in sorted(getattr(command, "commands", {}).items()):
        yield from walk(sub, (*path, name))


COMMANDS = list(walk(typer.main.get_command(app)))


def run(*args: str, env: dict | None = None):
    return CliRunner().invoke(app, list(args), env=env)


def test_the_walk_finds_the_command_groups():
    paths = {path for path, _ in COMMANDS}
    assert {(), ("db", "upgrade"), ("pricelist", "import"), ("product", "show"),
            ("checklist",)} <= paths


@pytest.mark.parametrize(("path", "command"), COMMANDS,
                         ids=[" ".join(path) or "tenantctl" for path, _ in COMMANDS])
def test_every_command_has_help(path, command):
    assert (command.help or "").strip(), f"tenantctl {' '.join(path)} has no help"
    undocumented = [p.name for p in command.params if not (getattr(p, "help", None) or "")
                    .strip()]
    assert undocumented == [], f"tenantctl {' '.join(path)}: options without help"

    result = run(*path, "--help", env=WIDE)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("Usage: ")
    first_line = command.help.strip().splitlines()[0]
    assert " ".join(first_line.split()) in " ".join(result.stdout.split())


def test_help_snapshots(snapshot):
    for path in (["pricelist"], ["pricelist", "import"]):
        result = run(*path, "--help", env=WIDE)
        assert result.exit_code == 0
        snapshot.assert_match(result.stdout, "_".join(path) + "_help.txt")


def test_version():
    result = run("--version")
    assert result.exit_code == 0
    assert result.stdout == f"tenantctl {__version__}\n"


@pytest.mark.parametrize("args", [["nope"], ["pricelist", "nope"], ["pricelist", "list",
                                                                     "--nope"],
                                  ["pricelist", "diff", "X", "--from", "one", "--to", "2"]],
                         ids=["unknown-command", "unknown-sub-command", "unknown-option",
                              "bad-option-value"])
def test_bad_usage_exits_2(tmp_path, args):
    result = run("--db", f"sqlite:///{tmp_path / 'store.db'}", *args)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert "Usage:" in result.stderr or "Error" in result.stderr


@pytest.fixture
def rooted(db_url) -> str:
    engine = open_engine(db_url)
    with write_session(engine) as session:
        session.add(Organisation(name="Distributor", kind="root", currency="EUR",
                                 country="GR"))
    engine.dispose()
    return db_url


def test_global_options_after_the_command(rooted, cli):
    assert cli.json("pricelist", "list") == []  # `--json` goes last here
    for args in (["pricelist", "list", "--db", rooted, "--json"],
                 ["pricelist", "list", "--json", f"--db={rooted}"],
                 ["pricelist", "list", "-v", "--json", "--db", rooted]):
        result = run(*args)
        assert result.exit_code == 0, (args, result.stderr)
        assert json.loads(result.stdout) == []


def test_arguments_after_a_double_dash_are_not_global_options(rooted):
    result = run("--db", rooted, "pricelist", "show", "--", "--json")
    assert result.exit_code == 1
    assert "'--json' not found" in result.stderr


def test_verbose_adds_the_traceback(rooted):
    quiet = run("--db", rooted, "pricelist", "show", "Nope")
    loud = run("--db", rooted, "pricelist", "show", "Nope", "-v")
    assert quiet.exit_code == loud.exit_code == 1
    assert quiet.stderr.splitlines() == ["Error: price list 'Nope' not found in Distributor"]
    assert "Traceback" in loud.stderr
    assert loud.stderr.rstrip().endswith("Error: price list 'Nope' not found in Distributor")
