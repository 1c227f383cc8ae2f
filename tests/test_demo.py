"""The demo runs the whole lifecycle on the bundled fixtures (the README's first command)."""

from __future__ import annotations

from tenantctl.cli.demo import lifecycle
from tenantctl.config import data_dir


def test_the_demo_runs_every_step(cli):
    result = cli("demo")
    steps = lifecycle(data_dir("fixtures"))
    for number, step in enumerate(steps, 1):
        assert f"Step {number}/{len(steps)}: {step.title}" in result.stderr
    assert "The demo ran every step." in result.stderr
    tenants = cli.json("tenant", "list")
    assert {(t["account"], t["phase"], t["backorder_state"]) for t in tenants} == {
        ("ACME", "live", "on"),
        ("LITECLOUD", "live", "on"),
    }
    assert [t["price_list_revision"] for t in tenants] == [2, 2]
    # The sale made in LITECLOUD's tenant reached the distributor, reconciled.
    (order,) = cli.json("order", "list", "--account", "DEMO-BAKERY")
    assert (order["bill_to"], order["lines"][0]["quantity"]) == ("LITECLOUD", 10)
    assert cli.json("reconcile", "--all")["differences"] == []
    invoices = cli.json("invoice", "list", "--reseller", "LITECLOUD")
    assert invoices and all(i["number"].startswith("INV-") for i in invoices)


def test_the_demo_never_writes_into_the_store_of_tenantctl_db(db_url):
    import re
    import shutil
    from pathlib import Path

    from typer.testing import CliRunner

    from tenantctl.cli.app import app
    from tests.conftest import Cli

    result = CliRunner().invoke(app, ["demo", "--keep"], env={"TENANTCTL_DB": db_url})
    assert result.exit_code == 0, result.stderr
    kept = re.search(r"The demo store is kept at sqlite:///(\S+)", result.stderr)
    assert kept and Path(kept.group(1)).exists() and kept.group(1) not in db_url
    untouched = Cli(db_url)("tenant", "list", expect=1)  # the user's store: still empty
    assert "has no root organisation yet" in untouched.stderr
    assert Cli(f"sqlite:///{kept.group(1)}").json("tenant", "list") != []
    shutil.rmtree(Path(kept.group(1)).parent)
