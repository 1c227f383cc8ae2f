"""`tenantctl demo`: the whole lifecycle on the bundled fixtures, narrated."""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Annotated

import typer

from tenantctl.cli import output
from tenantctl.cli.state import state
from tenantctl.config import data_dir
from tenantctl.errors import TenantctlError


@dataclass(frozen=True)
class Step:
    title: str
    args: list[str]
    expect: int = 0
    # Run inside this reseller's tenant (--org its client id, as its administrator).
    inside: str | None = None


def lifecycle(fixtures: Path) -> list[Step]:
    """The demo's steps, in order; each later capability adds its own."""
    return [
        Step(
            "Load the distributor's data set (root org, catalogue, price lists, accounts)",
            ["load", str(fixtures / "distributor.yaml")],
        ),
        Step(
            "Load it again: loading is idempotent, nothing changes",
            ["load", str(fixtures / "distributor.yaml")],
        ),
        Step("The price lists", ["pricelist", "list"]),
        Step(
            "Run the preparation checklist for a reseller that is ready",
            ["checklist", "ACME", "--price-list", "Resellers EUR"],
        ),
        Step(
            "...and for one that is not synced with its platforms (exit code 3)",
            ["checklist", "GAMMA", "--price-list", "Resellers EUR"],
            expect=3,
        ),
        Step(
            "Create ACME as a premium tenant reseller: a queued process with a progress "
            "bar per task",
            _tenant_create("ACME", "Resellers EUR", "admin@acme.example", "--edition", "premium"),
        ),
        Step("The process that created it, task by task", ["process", "show", "1"]),
        Step("The tenant: client id, phase, back-ordering state", ["tenant", "show", "ACME"]),
        Step(
            "Import the next version of 'Resellers EUR': only the differences are stored",
            ["pricelist", "import", "Resellers EUR", str(fixtures / "resellers-eur-v2.csv")],
        ),
        Step(
            "Compare its two revisions",
            ["pricelist", "diff", "Resellers EUR", "--from", "1", "--to", "2"],
        ),
        Step(
            "What updating ACME would change (dry run)", ["tenant", "update", "ACME", "--dry-run"]
        ),
        Step("Update ACME: only the differences reach its catalogue", ["tenant", "update", "ACME"]),
        Step("...and again, as the nightly cron would: up to date", ["tenant", "update", "--all"]),
        Step("The update tenant log", ["tenant", "log", "ACME"]),
        Step(
            "Upgrade the lite reseller LITECLOUD: first its tenant (basic edition)",
            _tenant_create("LITECLOUD", "Resellers EUR", "admin@litecloud.example"),
        ),
        Step(
            "...its subscriptions cannot move before its customers (refused)",
            ["upgrade", "subscriptions", "LITECLOUD"],
            expect=1,
        ),
        Step(
            "...copy its customers: in the root they become back-ordering records",
            ["upgrade", "customers", "LITECLOUD"],
        ),
        Step(
            "...the distributor can no longer sell to them directly (refused)",
            _sell("LC-AEGEAN-TRAVEL", "MS-M365-BS", 1),
            expect=1,
        ),
        Step(
            "...copy their subscriptions and assets: back-ordering switches on",
            ["upgrade", "subscriptions", "LITECLOUD"],
        ),
        Step(
            "...and run it again: nothing is copied twice",
            ["upgrade", "subscriptions", "LITECLOUD"],
        ),
        *_inside(
            "LITECLOUD",
            Step(
                "LITECLOUD is live. In its own BSS, its reseller creates a customer...",
                _account_create(
                    "DEMO-BAKERY", "Thessaloniki Bakery", "--email", "accounts@bakery.example"
                ),
            ),
            Step(
                "...prices it from its retail price list...",
                ["account", "set", "DEMO-BAKERY", "--price-list", "Retail EUR"],
            ),
            Step(
                "...and sells it ten Microsoft 365 Business Standard licences",
                _sell("DEMO-BAKERY", "MS-M365-BS", 10),
            ),
        ),
        Step(
            "The sale reached the distributor: the customer copied up, billed to "
            "LITECLOUD, with an order at LITECLOUD's cost",
            ["order", "list", "--account", "DEMO-BAKERY"],
        ),
        Step("Back-ordering of LITECLOUD: nothing pending", ["backorder", "status", "LITECLOUD"]),
        Step(
            "Reconcile LITECLOUD with the distributor: no difference (exit 0)",
            ["reconcile", "LITECLOUD"],
        ),
        Step(
            "ACME was never lite: switch its back-ordering on (it cannot be undone)",
            ["backorder", "enable", "ACME", "--yes"],
        ),
        *_inside(
            "LITECLOUD",
            Step(
                "Every level is a full BSS: LITECLOUD's own reseller, in its BSS...",
                _account_create("LC-PARTNERS", "Patras Cloud Partners", "--kind", "reseller"),
            ),
            Step(
                "...a price list of LITECLOUD's own for it, filled from a CSV",
                ["pricelist", "create", "Partners EUR", "--currency", "EUR"],
            ),
            Step(
                "...(what LITECLOUD charges its reseller, above its own cost)",
                ["pricelist", "import", "Partners EUR", str(fixtures / "partners-eur.csv")],
            ),
            Step(
                "...and LC-PARTNERS becomes LITECLOUD's tenant, as the root made LITECLOUD",
                _tenant_create("LC-PARTNERS", "Partners EUR", "admin@partners.example"),
            ),
            Step(
                "...with back-ordering on: its sales will reach LITECLOUD",
                ["backorder", "enable", "LC-PARTNERS", "--yes"],
            ),
        ),
        *_inside(
            "LC-PARTNERS",
            Step(
                "In LC-PARTNERS's BSS, a customer on its retail price list...",
                _account_create("DEMO-MARINA", "Patras Marina", "--price-list", "Retail EUR"),
            ),
            Step(
                "...buys five Microsoft 365 Business Premium licences",
                _sell("DEMO-MARINA", "MS-M365-BP", 5),
            ),
        ),
        Step(
            "LITECLOUD got the sale, billed to LC-PARTNERS at 'Partners EUR'...",
            ["order", "list", "--account", "DEMO-MARINA"],
            inside="LITECLOUD",
        ),
        Step(
            "...and so did the distributor, billed to LITECLOUD at its cost: one order a level",
            ["order", "list", "--account", "DEMO-MARINA"],
        ),
        Step("The whole tree of tenant resellers", ["tenant", "list", "--tree"]),
        Step(
            "The distributor's invoice to its new tenant reseller LITECLOUD for its last "
            "ended cycle: its mirrors at its price list, separate invoices where asked",
            ["invoice", "run", "LITECLOUD", "--period", _last_cycle()],
        ),
        Step(
            "...run again: issued once, nothing changes",
            ["invoice", "run", "LITECLOUD", "--period", _last_cycle()],
        ),
        Step("The invoices issued", ["invoice", "list"]),
    ]


def _inside(reseller: str, *steps: Step) -> list[Step]:
    """STEPS, each run inside RESELLER's tenant."""
    return [replace(step, inside=reseller) for step in steps]


def _tenant_create(account: str, price_list: str, admin_email: str, *more: str) -> list[str]:
    """`tenant create` of ACCOUNT reselling PRICE_LIST (MORE options after it), administered
    by `admin` at ADMIN_EMAIL."""
    return [
        *("tenant", "create", account, "--price-list", price_list, *more),
        *("--admin-username", "admin", "--admin-email", admin_email),
    ]


def _account_create(code: str, name: str, *more: str) -> list[str]:
    """`account create` of CODE named NAME, with MORE options."""
    return ["account", "create", code, "--name", name, *more]


def _sell(account: str, sku: str, quantity: int) -> list[str]:
    """`subscription create`: QUANTITY monthly licences of SKU to ACCOUNT."""
    sale = ["subscription", "create", account, sku]
    return [*sale, "--unit", "monthly", "--quantity", str(quantity)]


def _last_cycle() -> str:
    """LITECLOUD's last ended cycle (billing day 5 in the fixture; the distributor's time
    zone is Europe/Athens)."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from tenantctl.domain.billing import last_ended_period

    return last_ended_period(datetime.now(ZoneInfo("Europe/Athens")).date(), 5)


def demo(
    ctx: typer.Context,
    keep: Annotated[
        bool, typer.Option("--keep", help="Keep the temporary store and print where it is.")
    ] = False,
):
    """Run the tenant-reseller lifecycle on the bundled fixtures, narrating each step.

    Uses a fresh SQLite store in a temporary directory unless --db on this command line
    names one (TENANTCTL_DB is not used: the demo never writes into your store).
    """
    st = state(ctx)
    st.distributor_only("demo")
    tmp = Path(tempfile.mkdtemp(prefix="tenantctl-demo-"))
    root = ctx.find_root()
    # --db on this command line names the store; TENANTCTL_DB does not (a source's name).
    named = root.get_parameter_source("db").name == "COMMANDLINE"
    db_url = st.db_url if named and st.db_url else f"sqlite:///{tmp / 'demo.db'}"
    output.message(
        f"The demo's store: {db_url}"
        + ("" if named or keep else " (removed at the end; --keep keeps it)")
    )
    command = root.command  # the demo drives the same commands a person types
    steps = lifecycle(data_dir("fixtures"))
    # The demo's tenant administrators get a random password that is never shown.
    import secrets  # here: `tenantctl --help` imports this module

    os.environ.setdefault("TENANTCTL_ADMIN_PASSWORD", secrets.token_urlsafe(18))
    try:
        for number, step in enumerate(steps, 1):
            output.note(f"\nStep {number}/{len(steps)}: {step.title}", "bold cyan")
            args = list(step.args)
            if step.inside is not None:
                args = ["--org", _client_id(db_url, step.inside), *args]
                os.environ["TENANTCTL_USER"] = "admin"
                os.environ["TENANTCTL_PASSWORD"] = os.environ["TENANTCTL_ADMIN_PASSWORD"]
            output.note(f"$ tenantctl {' '.join(_quote(a) for a in args)}", "dim")
            code = command.main(
                ["--db", db_url, *args], standalone_mode=False, prog_name="tenantctl"
            )
            code = code or 0
            if code != step.expect:
                raise TenantctlError(f"demo step {number} exited {code}, expected {step.expect}")
        output.note("\nThe demo ran every step.", "bold green")
        if keep:
            output.message(f"The demo store is kept at {db_url}")
    finally:
        if not keep:
            shutil.rmtree(tmp, ignore_errors=True)


def _client_id(db_url: str, reseller: str) -> str:
    """The client id of RESELLER's tenant, at any level of the tree (made by an earlier
    step: it is random)."""
    from tenantctl.domain.orgs import root_org
    from tenantctl.domain.tenants import tenant_tree
    from tenantctl.store.engine import open_engine, read_session

    engine = open_engine(db_url)
    try:
        with read_session(engine) as session:
            nodes = tenant_tree(session, root_org(session).id)
    finally:
        engine.dispose()
    while nodes:
        found = [n.client_id for n in nodes if n.account == reseller]
        if found:
            return found[0]
        nodes = [child for n in nodes for child in n.tenants]
    raise TenantctlError(f"demo: no tenant {reseller} was made")


def _quote(arg: str) -> str:
    return f"'{arg}'" if " " in arg else arg
