"""What a person reads in a terminal (issue 11 items 1-2, issue 14): data printed as literal
text with control characters escaped, tables that never cut a code or an amount at 80 and
120 columns, one-line errors and honest messages."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import update

from tenantctl.cli import output
from tenantctl.store.models import Account, Product
from tests.conftest import run_app
from tests.world import PL, World, today

MARKUP = "Acme [/bold] Ltd [link=https://evil.example/]Click[/link] [red]x"
ESCAPES = "Evil \x1b[31mred\x1b[0m \x1b]0;title\x07 \x9b2J end"


def wide(columns: int = 200) -> dict:
    return {"COLUMNS": str(columns)}


def flat(text: str) -> str:
    """The text of a table without its borders and line breaks (to find a wrapped value)."""
    return " ".join(re.sub(r"[│┃┏┓┗┛┡┩└┘━─┳┻╇┴╋┼]", " ", text).split())


# --- issue 11.1: markup in data is text ---------------------------------------------------


def test_markup_in_an_account_name_is_printed_as_it_is(world):
    world.cli("account", "set", "BETA-CUST", "--name", MARKUP)
    for args in (["account", "list"], ["account", "show", "BETA-CUST"]):
        result = world.cli(*args, env=wide(250))
        assert MARKUP in result.stdout, args
        assert "\x1b]8;" not in result.stdout  # no hyperlink escape


def test_markup_in_an_imported_product_name_never_fails_after_the_commit(world, tmp_path):
    csv = tmp_path / "prices.csv"
    csv.write_text(
        "sku,name,platform,unit,price\n"
        "WIDGET-PRO,Widget [/] pro [link=https://evil.example/]Click[/link],"
        "other,monthly,1.00\n",
        encoding="utf-8",
    )
    imported = world.cli(
        "pricelist", "import", "Markup EUR", csv, "--currency", "EUR", env=wide(250)
    )
    assert "Widget [/] pro [link=https://evil.example/]Click[/link]" in imported.stdout
    assert "revision 1" in imported.stderr
    for args in (
        ["product", "list"],
        ["product", "show", "WIDGET-PRO"],
        ["pricelist", "show", "Markup EUR"],
        ["pricelist", "list"],
    ):
        result = world.cli(*args, env=wide(250))
        assert "Widget [/] pro" in result.stdout or "Markup EUR" in result.stdout, args
    with world.write() as session:
        session.execute(
            update(Account).where(Account.code == "ACME").values(name="Acme [/] [bold]Cloud")
        )
    for args in (["tenant", "list"], ["tenant", "show", "ACME"]):
        assert "Acme [/] [bold]Cloud" in world.cli(*args, env=wide(250)).stdout, args


def test_markup_in_messages_and_progress_labels_is_text(capsys):
    output.message("Imported [/] [bold]x[/bold]")
    output.note("Step [/red] one", "bold")
    with output.progress() as add:
        add("copy [link=https://evil.example/]Click[/link] [/]", 2)(2)
    output.error(ValueError("bad [/] value"), verbose=False)
    err = capsys.readouterr().err
    assert "Imported [/] [bold]x[/bold]" in err
    assert "Step [/red] one" in err
    assert "copy [link=https://evil.example/]Click[/link] [/]" in err
    assert "Error: bad [/] value" in err


# --- issue 11.2: control characters are shown escaped --------------------------------------


def test_escape_sequences_in_data_never_reach_the_terminal(world):
    with world.write() as session:
        session.execute(update(Account).where(Account.code == "BETA-CUST").values(name=ESCAPES))
        session.execute(update(Product).where(Product.sku == "MS-M365-E3").values(name=ESCAPES))
    shown = r"Evil \x1b[31mred\x1b[0m \x1b]0;title\x07 \x9b2J end"
    for args in (
        ["account", "list"],
        ["account", "show", "BETA-CUST"],
        ["product", "list"],
        ["product", "show", "MS-M365-E3"],
        ["pricelist", "show", PL],
    ):
        result = world.cli(*args, env=wide(300))
        assert "\x1b" not in result.stdout and "\x9b" not in result.stdout, args
        assert "\x07" not in result.stdout, args
        assert shown in result.stdout, args
    listed = world.cli("account", "list", "--json")
    assert "\x1b" not in listed.stdout and "\x9b" not in listed.stdout
    assert ESCAPES in listed.stdout.encode().decode("unicode_escape") or "\\u009b" in listed.stdout


def test_escapes_in_messages_errors_and_progress_are_shown_escaped(capsys):
    output.message("name: \x1b[2J\u202eevil")
    output.error(ValueError("bad \x1b]0;title\x07 value\nsecond line"), verbose=False)
    with output.progress() as add:
        add("copy \x1b[31mred", 1)(1)
    err = capsys.readouterr().err
    assert "\x1b" not in err and "\u202e" not in err and "\x07" not in err
    assert r"name: \x1b[2J\u202eevil" in err
    assert "Error: bad \\x1b]0;title\\x07 value\nsecond line" in err
    assert r"copy \x1b[31mred" in err


def test_no_color_means_no_escape_code_at_all(world, monkeypatch):
    monkeypatch.setenv("TERM", "xterm-256color")
    forced = {"FORCE_COLOR": "1", **wide(120)}
    coloured = world.cli("account", "list", env=forced)
    assert "\x1b[" in coloured.stdout  # the header is bold when colours are on
    plain = world.cli("account", "list", env={**forced, "NO_COLOR": "1"})
    assert "\x1b" not in plain.stdout
    assert (
        "\x1b"
        not in world.cli(
            "checklist", "GAMMA", "--price-list", PL, expect=3, env={**forced, "NO_COLOR": "1"}
        ).stdout
    )


# --- issue 14.1: tables at 80 and 120 columns -----------------------------------------------

TABLES = [
    ["tenant", "list"],
    ["tenant", "show", "ACME"],
    ["tenant", "log", "ACME"],
    ["account", "list"],
    ["account", "show", "LC-ATHENS-DENTAL"],
    ["product", "list"],
    ["product", "show", "MS-M365-E3"],
    ["pricelist", "list"],
    ["pricelist", "show", PL],
    ["pricelist", "diff", PL, "--from", "1", "--to", "2"],
    ["subscription", "list"],
    ["subscription", "show", "SUB-LC-0002"],
    ["asset", "list"],
    ["order", "list"],
    ["process", "list"],
    ["process", "show", "1"],
    ["upgrade", "status", "LITECLOUD"],
    ["db", "current"],
    ["tenant", "update", "--all"],
    ["checklist", "GAMMA", "--price-list", PL],
]
EXPECT = {"checklist": 3}
_VOLATILE = [
    (re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d"), "YYYY-MM-DD hh:mm:ss"),
    (re.compile(r"[0-9a-f]{32}"), "<client id>"),
    (re.compile(r"\S+:\d+:[0-9a-f]{6}"), "<worker>"),
]


def steady(text: str, world: World) -> str:
    for pattern, stand_in in _VOLATILE:
        text = pattern.sub(stand_in, text)
    text = text.replace(today().isoformat(), "YYYY-MM-DD")
    return "\n".join(line.rstrip() for line in text.splitlines()) + "\n"


@pytest.fixture
def busy_world(world, tmp_path):
    from tests.conftest import FIXTURES

    world.cli("pricelist", "import", PL, FIXTURES / "resellers-eur-v2.csv")
    world.cli("tenant", "update", "ACME")
    world.cli(
        "subscription",
        "create",
        "LC-ATHENS-DENTAL",
        "MS-M365-BS",
        "--unit",
        "monthly",
        "--quantity",
        "2",
    )
    return world


@pytest.mark.parametrize("columns", [80, 120])
def test_tables_snapshot(busy_world, snapshot, columns):
    shots = []
    for args in TABLES:
        result = busy_world.cli(*args, env=wide(columns), expect=EXPECT.get(args[0], 0))
        shots.append(f"$ tenantctl {' '.join(args)}\n{result.stdout}")
        for line in result.stdout.splitlines():
            assert len(line) <= columns, (args, line)
    snapshot.assert_match(steady("\n".join(shots), busy_world), f"tables_{columns}.txt")


def cut_values(text: str) -> list[str]:
    return re.findall(r"\S*…", text)


@pytest.mark.parametrize("columns", [80, 120])
def test_codes_ids_and_amounts_are_never_cut(busy_world, columns):
    codes = busy_world.cli.json("subscription", "list")
    listed = busy_world.cli("subscription", "list", env=wide(columns)).stdout
    assert cut_values(listed) == []
    for sub in codes:
        for value in (sub["code"], sub["sku"], sub["account"], sub["price"]):
            assert re.search(rf"(^|\s){re.escape(value)}(\s|$)", listed, re.M), value
    tenants = busy_world.cli("tenant", "list", env=wide(columns)).stdout
    for t in busy_world.cli.json("tenant", "list"):
        assert t["client_id"] in tenants and t["account"] in tenants
    for args in TABLES:
        shown = busy_world.cli(*args, env=wide(columns), expect=EXPECT.get(args[0], 0))
        assert cut_values(shown.stdout) == [], args


# --- issue 14 items 2, 3, 9, 22 --------------------------------------------------------------


def test_a_tenants_retail_list_counts_its_items_after_an_update(busy_world):
    listed = busy_world.at_json(busy_world.acme, "pricelist", "list")
    retail = next(pl for pl in listed if pl["name"] == "Retail EUR")
    shown = busy_world.at_json(busy_world.acme, "pricelist", "show", "Retail EUR")
    assert retail["revision"] == 2
    assert retail["item_count"] == len(shown["items"]) > 0
    assert [r["items"] for r in shown["revisions"]][-1] == len(shown["items"])
    first = busy_world.at_json(
        busy_world.acme, "pricelist", "show", "Retail EUR", "--revision", "1"
    )
    assert shown["revisions"][0]["items"] == len(first["items"]) > 0


def test_a_dry_run_says_how_many_changes_it_does_not_show(world):
    from tests.conftest import FIXTURES

    world.cli("pricelist", "import", PL, FIXTURES / "resellers-eur-v2.csv")
    total = len(world.cli.json("tenant", "update", "ACME", "--dry-run")["tenants"][0]["changes"])
    result = world.cli("tenant", "update", "ACME", "--dry-run", "--show", "3", env=wide(120))
    assert (
        f"{total} changes; {total - 3} more not shown: use --show {total} or --json"
        in result.stdout
    )
    every = world.cli("tenant", "update", "ACME", "--dry-run", "--show", str(total), env=wide(120))
    assert "more not shown" not in every.stdout


def test_a_price_list_without_revisions_says_so(world):
    result = world.cli("pricelist", "show", "Draft EUR", env=wide(120))
    assert "None" not in result.stdout
    assert "Draft EUR (EUR), no revision yet" in result.stdout
    assert "Draft EUR has no revision yet" in result.stderr


def test_a_price_change_is_named_the_same_in_every_table(busy_world):
    diff = busy_world.cli("pricelist", "diff", PL, "--from", "1", "--to", "2", env=wide(160)).stdout
    log = busy_world.cli("tenant", "log", "ACME", env=wide(160)).stdout
    assert "price changed" not in diff + log
    assert "price-changed" in diff and "price-changed" in log


# --- issue 14 item 18 --------------------------------------------------------------------------


def test_cancelling_a_cancelled_process_is_harmless(world):
    from tests.conftest import FIXTURES

    world.cli("pricelist", "import", PL, FIXTURES / "resellers-eur-v2.csv")
    queued = world.cli.json("tenant", "update", "ACME", "--detach")
    pid = queued["tenants"][0]["process_id"]
    assert world.cli("process", "cancel", pid).stderr == f"Process {pid} is cancelled.\n"
    again = world.cli("process", "cancel", pid)
    assert again.stderr == f"Process {pid} was already cancelled.\n"
    assert world.cli.json("process", "cancel", pid)["status"] == "cancelled"


# --- issue 14 item 11: sentences ---------------------------------------------------------------


def test_plural():
    from tenantctl.words import plural

    assert [plural(n, "product") for n in (0, 1, 2)] == ["0 products", "1 product", "2 products"]
    assert plural(1, "sync record") == "1 sync record"
    assert plural(3, "sync record") == "3 sync records"
    assert (
        plural(2, "price list of its own", "price lists of its own") == "2 price lists of its own"
    )


def test_messages_are_sentences(world, tmp_path):
    from tests.world import manage

    csv = tmp_path / "one.csv"
    csv.write_text(
        "sku,name,platform,unit,price\nONE-THING,One thing,other,monthly,1.00\n", encoding="utf-8"
    )
    made = world.cli("pricelist", "import", "One EUR", csv, "--currency", "EUR")
    assert "1 item; 1 product and 1 unit created, 0 renamed." in made.stderr

    manage(world, ["LC-ATHENS-DENTAL"], world.lite)
    refused = world.cli("account", "set", "LC-ATHENS-DENTAL", "--email", "x@y.example", expect=1)
    assert "its email is changed in the tenant's BSS" in refused.stderr
    both = world.cli(
        "account", "set", "LC-ATHENS-DENTAL", "--email", "x@y.example", "--name", "New", expect=1
    )
    assert (
        "its name and email are changed" in both.stderr
        or "its email and name are changed" in both.stderr
    )

    same = world.cli("account", "set", "BETA-CUST", "--ordering")
    assert same.stderr == "Account BETA-CUST already has these values: nothing changed.\n"


def test_one_problem_is_one_problem(world, tmp_path):
    csv = tmp_path / "bad.csv"
    csv.write_text("sku,name,platform,unit,price\nONE,One,other,monthly,-1\n", encoding="utf-8")
    refused = world.cli("pricelist", "import", "One EUR", csv, "--currency", "EUR", expect=2)
    assert "bad.csv: 1 problem; nothing was imported" in refused.stderr
    header = tmp_path / "header.csv"
    header.write_text("sku,name,platform,unit\n", encoding="utf-8")
    refused = world.cli("pricelist", "import", "One EUR", header, "--currency", "EUR", expect=2)
    assert "missing column price " in refused.stderr
    data = tmp_path / "bad.yaml"
    data.write_text("accounts: []\n", encoding="utf-8")  # no organisation
    refused = world.cli("load", data, expect=2)
    assert "bad.yaml: 1 problem; nothing was loaded" in refused.stderr


def test_no_message_counts_with_a_parenthesised_plural():
    """`(s)` reads as a form left unfilled: every count goes through `words.plural`."""
    root = Path(__file__).resolve().parents[1] / "tenantctl"
    found = [
        f"{path.relative_to(root)}:{number}"
        for path in root.rglob("*.py")
        if "migrations" not in path.parts
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if re.search(r"[\"'][^\"']*[a-z]\(s\)[^\"']*[\"']", line)  # inside a string
    ]
    assert found == []


# --- issue 14 item 4 -----------------------------------------------------------------------------


def test_update_all_reports_a_busy_tenant_as_busy_and_exits_4(world):
    from tests.conftest import FIXTURES

    world.cli("pricelist", "import", PL, FIXTURES / "resellers-eur-v2.csv")
    pid = world.cli.json("tenant", "update", "ACME", "--detach")["tenants"][0]["process_id"]
    result = world.cli("tenant", "update", "--all", env=wide(200), expect=4)
    assert "tenant-update:" not in result.stdout + result.stderr
    assert re.search(
        rf"ACME +│ busy: process {pid} \(Update tenant reseller ACME to revision "
        r"2\) is already queued",
        result.stdout,
    )
    assert result.stderr.splitlines()[-1] == (
        "Error: 1 tenant busy with an update already queued or running; run again when it "
        "has finished"
    )
    outcome = world.cli.json("tenant", "update", "--all", expect=4)
    assert [t["status"] for t in outcome["tenants"] if t["tenant"] == "ACME"] == ["busy"]
    alone = world.cli("tenant", "update", "ACME", expect=4)
    assert "tenant-update:" not in alone.stderr


# --- issue 14 item 19: a worker that talks ----------------------------------------------------


def test_worker_once_on_an_empty_queue_says_so_and_returns(world):
    result = world.cli("worker", "--once")
    lines = result.stderr.splitlines()
    assert re.fullmatch(r"worker \S+ started on \S+ \(lease \d+ s; at most one process\)", lines[0])
    assert lines[1:] == ["nothing queued"]


def test_worker_prints_a_line_per_process_started_and_finished(world):
    from tests.conftest import FIXTURES

    world.cli("pricelist", "import", PL, FIXTURES / "resellers-eur-v2.csv")
    pid = world.cli.json("tenant", "update", "ACME", "--detach")["tenants"][0]["process_id"]
    result = world.cli("worker", "--until-empty")
    title = f"process {pid} (Update tenant reseller ACME to revision 2)"
    assert result.stderr.splitlines()[1:] == [f"{title}: started", f"{title}: succeeded"]


def test_an_interrupted_worker_stops_after_the_batch_and_exits_130(world):
    import os
    import signal
    import threading

    threading.Timer(1.5, os.kill, (os.getpid(), signal.SIGINT)).start()
    result = world.cli("worker", expect=130)
    assert "stopping after the current batch" in result.stderr
    assert result.stderr.splitlines()[-1] == "worker stopped"


# --- issue 14 item 15 ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["account", "list"],
        ["tenant", "list"],
        ["process", "list"],
        ["pricelist", "show", "X"],
        ["checklist", "ACME", "--price-list", PL],
        ["subscription", "list"],
    ],
)
def test_a_read_only_command_on_a_missing_store_says_so_and_writes_nothing(tmp_path, args):
    from tests.conftest import Cli

    path = tmp_path / "nothing-here.db"
    result = Cli(f"sqlite:///{path}")(*args, expect=1)
    assert result.stderr == (
        f"Error: there is no store at {path}: `tenantctl load "
        "FILE.yaml` or `tenantctl db upgrade` makes one (or name one "
        "with --db)\n"
    )
    assert list(tmp_path.iterdir()) == []
    current = Cli(f"sqlite:///{path}")("db", "current")
    assert "There is no store at" in current.stderr and list(tmp_path.iterdir()) == []


def test_a_read_only_command_on_an_empty_store_writes_nothing(empty_db_url):
    from tenantctl.store import migrate
    from tenantctl.store.engine import open_engine
    from tests.conftest import Cli

    cli = Cli(empty_db_url)
    if empty_db_url.startswith("sqlite"):
        open_engine(empty_db_url).dispose()  # an empty file
    result = cli("account", "list", expect=1)
    assert (
        "is empty: `tenantctl load FILE.yaml` or `tenantctl db upgrade` fills it" in result.stderr
    )
    engine = open_engine(empty_db_url)
    assert migrate.current(engine) is None
    engine.dispose()


# --- issue 14 item 16 ----------------------------------------------------------------------------


def test_account_show_says_which_tenant_manages_an_account(world):
    from tests.world import manage

    plain = world.cli.json("account", "show", "LC-ATHENS-DENTAL")
    assert (plain["managed_by"], plain["backorder_state"]) == (None, None)
    manage(world, ["LC-ATHENS-DENTAL"], world.lite, backorder="on")
    shown = world.cli.json("account", "show", "LC-ATHENS-DENTAL")
    assert (shown["managed_by"], shown["backorder_state"]) == ("LITECLOUD", "on")
    table = world.cli("account", "show", "LC-ATHENS-DENTAL", env=wide(120)).stdout
    assert re.search(
        r"managed by +tenant reseller LITECLOUD \(back-ordering on\): change "
        r"it in its BSS",
        table,
    )


# --- issue 14 item 22: the same fields in list and show -------------------------------------------


def test_product_show_has_the_fields_of_product_list(world):
    for org in (None, world.acme):
        run = (
            (lambda *a: world.cli.json(*a))
            if org is None
            else (lambda *a, o=org: world.at_json(o, *a))
        )
        listed = {p["sku"]: p for p in run("product", "list")}
        shown = run("product", "show", "MS-M365-E3")
        assert set(listed["MS-M365-E3"]) - {"units"} <= set(shown)
        assert shown["source_sku"] == listed["MS-M365-E3"]["source_sku"]


# --- issue 14 item 12 ----------------------------------------------------------------------------


def test_a_short_administrator_password_is_asked_again_at_a_terminal(capsys):
    from tenantctl.cli.tenant import ask_password
    from tenantctl.errors import BadInput

    answers = iter(["short", "Long-enough-password-1"])
    assert ask_password(lambda: next(answers)) == "Long-enough-password-1"
    assert "password: must be at least 10 characters; try again." in capsys.readouterr().err
    with pytest.raises(BadInput, match="at least 10 characters"):
        ask_password(lambda: "short", attempts=2)


def test_the_password_rule_is_in_the_help():
    page = run_app("tenant", "create", "--help", env=wide(100)).stdout
    assert "at least `min_password_length` characters: 10 unless config/tenants.yaml" in " ".join(
        page.split()
    )


# --- issue 14 item 21: shell completion --------------------------------------------------


def _tenantctl(*args: str, env: dict) -> str:
    import os
    import subprocess
    import sys
    from pathlib import Path

    script = Path(sys.executable).parent / "tenantctl"
    done = subprocess.run(
        [str(script), *args], env={**os.environ, **env}, capture_output=True, text=True, timeout=120
    )
    return done.stdout


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        ("tenantctl acc", {"account"}),
        ("tenantctl account list --k", {"--kind"}),
        ("tenantctl account list --kind ", {"customer", "reseller"}),
        ("tenantctl tenant create ACME --edition ", {"basic", "premium"}),
    ],
)
def test_bash_completes_commands_options_and_choices(words, expected):
    out = _tenantctl(
        env={
            "_TENANTCTL_COMPLETE": "complete_bash",
            "COMP_WORDS": words,
            "COMP_CWORD": str(len(words.split(" ")) - 1),
        }
    )
    assert set(out.split()) == expected


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_the_completion_script_of_each_shell(shell):
    out = _tenantctl(
        "--show-completion", shell, env={"_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION": "1"}
    )
    assert "_TENANTCTL_COMPLETE" in out and f"complete_{shell}" in out


# --- issue 14 item 14 ----------------------------------------------------------------------------


def test_load_never_rolls_back_an_imported_price_list_unless_told(world):
    from tests.conftest import FIXTURES

    world.cli("pricelist", "import", PL, FIXTURES / "resellers-eur-v2.csv")
    before = world.cli.json("pricelist", "show", PL)
    refused = world.cli("load", FIXTURES / "distributor.yaml", expect=1)
    assert refused.stderr.splitlines() == [
        f"Error: {FIXTURES / 'distributor.yaml'}: loading it would revise back "
        f"'{PL}' (its current revision came from resellers-eur-v2.csv); nothing was loaded "
        "(--replace-price-lists replaces them with the file's)"
    ]
    assert world.cli.json("pricelist", "show", PL) == before
    world.cli("load", FIXTURES / "distributor.yaml", "--replace-price-lists")
    after = world.cli.json("pricelist", "show", PL)
    assert after["revision"] == 3 and after["revisions"][-1]["source"].endswith("distributor.yaml")


# --- issue 14 item 6 -----------------------------------------------------------------------------


def test_update_all_names_the_tenant_on_each_bar(world):
    from tests.conftest import FIXTURES

    world.cli("pricelist", "import", PL, FIXTURES / "resellers-eur-v2.csv")
    result = world.cli("tenant", "update", "--all", env=wide(120))
    bars = [line for line in result.stderr.splitlines() if "━" in line]
    assert len(bars) == 2
    assert bars[0].startswith("ACME: ") and bars[1].startswith("LITECLOUD: ")


def test_an_error_after_a_commit_says_the_change_was_saved(world, monkeypatch, tmp_path):
    def broken(*args, **kw):
        raise RuntimeError("the terminal went away")

    monkeypatch.setattr(output, "table", broken)
    csv = tmp_path / "one.csv"
    csv.write_text(
        "sku,name,platform,unit,price\nONE-THING,One,other,monthly,1.00\n", encoding="utf-8"
    )
    result = world.cli("pricelist", "import", "One EUR", csv, "--currency", "EUR", expect=1)
    assert result.stderr.splitlines()[-1] == (
        "The change was saved before this error: the store has it."
    )
    monkeypatch.undo()
    assert world.cli.json("pricelist", "show", "One EUR")["revision"] == 1


# --- issue 14 item 17 ----------------------------------------------------------------------------


def test_inside_a_tenant_rows_are_named_by_code_never_by_global_id(world):
    from tests.world import USER_ENV, tenant_customer

    tenant_customer(world, world.acme, "ACME-CUST")
    sold = world.at_json(
        world.acme,
        "subscription",
        "create",
        "ACME-CUST",
        "MS-EXO-P1",
        "--unit",
        "monthly",
        "--quantity",
        "1",
    )
    assert "id" not in sold and all("id" not in o for o in sold["orders"])
    for args in (["subscription", "list"], ["order", "list"], ["asset", "list"]):
        listed = world.at_json(world.acme, *args)
        assert all("id" not in row for row in listed), args
    shown = world.at(world.acme, "subscription", "show", sold["code"], env=wide(120))
    assert not re.search(r"^id ", shown.stdout, re.M)
    from sqlalchemy import select

    from tenantctl.store.models import Subscription

    with world.write() as session:
        global_id = (
            session.execute(select(Subscription.id).where(Subscription.code == sold["code"]))
            .scalars()
            .all()
        )
    assert len(global_id) == 1
    by_id = world.cli(
        "--org", world.acme, "subscription", "show", str(global_id[0]), env=USER_ENV, expect=1
    )
    assert "not found" in by_id.stderr
    root = world.cli.json("subscription", "show", "SUB-D-0001")
    assert "id" in root  # the distributor keeps its ids


# --- issue 11 items 1-2, by generated values ----------------------------------------------------

_HOSTILE = "[]/=\\\x1b\x07\x9b\u202e\x00\n\t;link bold red ]0"


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(text=st.text(alphabet=st.sampled_from(_HOSTILE) | st.characters(), max_size=40))
def test_any_text_is_printed_as_it_is_escaped_where_unsafe(capsys, monkeypatch, text):
    monkeypatch.setenv("COLUMNS", "100")
    output.table(text, ["Code", "Name"], [["C-1", text]], caption=text)
    output.record(text, {"name": text})
    output.message(text)
    with output.progress() as add:
        add(text, 1)(1)
    out = capsys.readouterr()
    for stream in (out.out, out.err):
        assert not re.search("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202e]", stream)
    shown = output.literal(text)
    assert shown in " ".join(out.err.split("\n")) or len(shown) > 60  # wrapped in a table
    flat_out = "".join(out.out.split())
    assert "".join(shown.split()) in flat_out or len(shown) > 40
