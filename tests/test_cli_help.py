"""The command line itself (SPEC section 10): every command and sub-command has help and
`--help` works, `--version`, bad usage exits 2, and global options work after the command."""

from __future__ import annotations

import json
import re

import pytest
import typer

from tenantctl import __version__
from tenantctl.cli.app import app
from tenantctl.store.engine import open_engine, write_session
from tenantctl.store.models import Organisation
from tests.conftest import run_app

WIDE = {"COLUMNS": "100"}


def walk(command, path=()):
    yield path, command
    for name, sub in sorted(getattr(command, "commands", {}).items()):
        yield from walk(sub, (*path, name))


COMMANDS = list(walk(typer.main.get_command(app)))


def test_the_walk_finds_the_command_groups():
    paths = {path for path, _ in COMMANDS}
    assert {
        (),
        ("db", "upgrade"),
        ("pricelist", "import"),
        ("product", "show"),
        ("checklist",),
    } <= paths


@pytest.mark.parametrize(
    ("path", "command"), COMMANDS, ids=[" ".join(path) or "tenantctl" for path, _ in COMMANDS]
)
def test_every_command_has_help(path, command):
    assert (command.help or "").strip(), f"tenantctl {' '.join(path)} has no help"
    undocumented = [p.name for p in command.params if not (getattr(p, "help", None) or "").strip()]
    assert undocumented == [], f"tenantctl {' '.join(path)}: options without help"

    result = run_app(*path, "--help", env=WIDE)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("Usage: ")
    first_line = command.help.strip().splitlines()[0]
    assert " ".join(first_line.split()) in " ".join(result.stdout.split())


def test_help_snapshots(snapshot):
    for path in (["pricelist"], ["pricelist", "import"]):
        result = run_app(*path, "--help", env=WIDE)
        assert result.exit_code == 0
        snapshot.assert_match(result.stdout, "_".join(path) + "_help.txt")


def test_version():
    result = run_app("--version")
    assert result.exit_code == 0
    assert result.stdout == f"tenantctl {__version__}\n"


@pytest.mark.parametrize(
    "args",
    [
        ["nope"],
        ["pricelist", "nope"],
        ["pricelist", "list", "--nope"],
        ["pricelist", "diff", "X", "--from", "one", "--to", "2"],
    ],
    ids=["unknown-command", "unknown-sub-command", "unknown-option", "bad-option-value"],
)
def test_bad_usage_exits_2(tmp_path, args):
    result = run_app("--db", f"sqlite:///{tmp_path / 'store.db'}", *args)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert "Usage:" in result.stderr or "Error" in result.stderr


@pytest.fixture
def rooted(db_url) -> str:
    engine = open_engine(db_url)
    with write_session(engine) as session:
        session.add(Organisation(name="Distributor", kind="root", currency="EUR", country="GR"))
    engine.dispose()
    return db_url


def test_global_options_after_the_command(rooted, cli):
    assert cli.json("pricelist", "list") == []  # `--json` goes last here
    for args in (
        ["pricelist", "list", "--db", rooted, "--json"],
        ["pricelist", "list", "--json", f"--db={rooted}"],
        ["pricelist", "list", "-v", "--json", "--db", rooted],
    ):
        result = run_app(*args)
        assert result.exit_code == 0, (args, result.stderr)
        assert json.loads(result.stdout) == []


def test_arguments_after_a_double_dash_are_not_global_options(rooted):
    result = run_app("--db", rooted, "pricelist", "show", "--", "--json")
    assert result.exit_code == 1
    assert "'--json' not found" in result.stderr


def test_verbose_adds_the_traceback(rooted):
    quiet = run_app("--db", rooted, "pricelist", "show", "Nope")
    loud = run_app("--db", rooted, "pricelist", "show", "Nope", "-v")
    assert quiet.exit_code == loud.exit_code == 1
    assert quiet.stderr.splitlines() == ["Error: price list 'Nope' not found in Distributor"]
    assert "Traceback" in loud.stderr
    assert loud.stderr.rstrip().endswith("Error: price list 'Nope' not found in Distributor")


@pytest.mark.parametrize("columns", [80, 120])
def test_every_help_page_snapshot(snapshot, columns):
    """Every command's help, as a person reads it at 80 and 120 columns."""
    pages = []
    for path, _ in COMMANDS:
        result = run_app(*path, "--help", env={"COLUMNS": str(columns)})
        assert result.exit_code == 0, path
        pages.append(f"$ tenantctl {' '.join(path)} --help\n{result.stdout}")
    snapshot.assert_match("\n".join(pages), f"help_{columns}.txt")


def test_help_names_values_plainly_and_lists_choices():
    pages = {" ".join(path): run_app(*path, "--help", env=WIDE).stdout for path, _ in COMMANDS}
    everything = "\n".join(pages.values())
    assert "<str>" not in everything and "<int>" not in everything and "<path>" not in everything
    assert not re.search(r"\{[a-z_]+\}", everything)  # typer's `{account}` usage
    assert "Usage: tenantctl pricelist import [OPTIONS] NAME FILE" in pages["pricelist import"]
    assert "--kind {customer|reseller}" in pages["account list"]
    assert "--edition {basic|premium}" in pages["tenant create"]
    assert "--unit {monthly|annual|quarterly|one-time|hourly}" in pages["subscription create"]
    assert "{microsoft|acronis|oss|panda|other}" in pages["product list"]
    for name in ("TENANTCTL_USER", "TENANTCTL_PASSWORD", "TENANTCTL_ORG", "TENANTCTL_DB"):
        assert name in pages[""], name
    assert "JSON Lines" in pages["process logs"]


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (
            ["subscription", "create", "A", "S", "--unit", "monthly", "--quantity", "abc"],
            "Error: --quantity: must be a quantity from 1 to 1000000000, not the text 'abc'",
        ),
        (
            [
                "subscription",
                "create",
                "A",
                "S",
                "--unit",
                "monthly",
                "--quantity",
                "1",
                "--start",
                "2026-02-30",
            ],
            "Error: --start: '2026-02-30' is not a day of the calendar (day is out of range for "
            "month)",
        ),
        (
            [
                "subscription",
                "create",
                "A",
                "S",
                "--unit",
                "monthly",
                "--quantity",
                "1",
                "--start",
                "30/02/2026",
            ],
            "Error: --start: '30/02/2026' is not a date in the form YYYY-MM-DD",
        ),
        (["process", "show", "abc"], "Error: PROCESS_ID: 'abc' is not a whole number"),
        (
            ["account", "list", "--kind", "customerz"],
            "Error: --kind: 'customerz' is not one of 'customer', 'reseller'",
        ),
        (
            ["product", "list", "--platform", "foo"],
            "Error: --platform: 'foo' is not one of 'microsoft', 'acronis', 'oss', 'panda', "
            "'other'",
        ),
    ],
    ids=["quantity", "impossible-date", "date-format", "process-id", "kind", "platform"],
)
def test_a_bad_value_is_one_error_line_and_a_hint(rooted, args, says):
    result = run_app("--db", rooted, *args)
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert lines[0] == says
    assert len(lines) <= 2 and "Usage:" not in result.stderr
    assert "does not match the format" not in result.stderr


def test_an_unknown_bill_to_code_is_not_found(rooted):
    result = run_app("--db", rooted, "account", "list", "--bill-to", "NOPE")
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: account 'NOPE' not found")
