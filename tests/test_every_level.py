"""Every level is a full BSS (SPEC section 9, "Every level"): a tenant makes tenants of its
own, with the same commands as the root, and reaches nothing above it.

The tree, built only through the CLI: the root -> LITECLOUD (tenant A, live) -> SUBRES
(A's reseller, made A's tenant B from A's own price list "Sub EUR", after selling through
A as a lite reseller). Each level prices what it bills the level below from its own list:
the root sells MS-M365-BS to LITECLOUD at 11.70 ("Resellers EUR"), LITECLOUD sells it to
SUBRES at 13.00 ("Sub EUR").
"""

from __future__ import annotations

import random
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from tenantctl.domain import backorder, reconcile
from tenantctl.store.engine import read_session, write_session
from tenantctl.store.models import Account, BackorderEvent, SalesOrder, Subscription
from tests import backorder_ops
from tests.conftest import at_once
from tests.world import ADMIN, PASSWORD, World

SUB_PL = "Sub EUR"
# A's own price list for SUBRES: Microsoft products only (no platform that needs a sync).
SUB_PRICES = """sku,name,platform,unit,price
MS-EXO-P1,Exchange Online (Plan 1),microsoft,monthly,4.50
MS-M365-BS,Microsoft 365 Business Standard,microsoft,monthly,13.00
MS-M365-BP,Microsoft 365 Business Premium,microsoft,monthly,24.00
"""
ROOT_COST = {"MS-M365-BS": Decimal("11.70"), "MS-M365-BP": Decimal("20.60")}
A_PRICE = {"MS-EXO-P1": Decimal("4.50"), "MS-M365-BS": Decimal("13.00")}


@dataclass
class Tree:
    world: World
    a: str  # LITECLOUD's client id
    b: str  # SUBRES's client id
    b_creation: int  # the process (in A) that created B


@pytest.fixture
def world(live_world):
    return live_world


def build_tree(world: World, tmp_path) -> Tree:
    a = world.lite
    world.at(a, "account", "create", "SUBRES", "--name", "Sub Reseller", "--kind", "reseller")
    csv = tmp_path / "sub-eur.csv"
    csv.write_text(SUB_PRICES, encoding="utf-8")
    world.at(a, "pricelist", "create", SUB_PL, "--currency", "EUR")
    world.at(a, "pricelist", "import", SUB_PL, str(csv))
    # SUBRES sells through A first, as a lite reseller: a customer billed to it.
    world.at(a, "account", "create", "SUBCUST", "--name", "Sub Customer", "--bill-to", "SUBRES")
    world.at(a, "account", "set", "SUBCUST", "--price-list", "Retail EUR")
    world.at(a, "subscription", "create", "SUBCUST", "MS-EXO-P1", "--unit", "monthly",
             "--quantity", "2")  # fmt: skip
    created = world.cli.json(
        "--org", a, "tenant", "create", "SUBRES", "--price-list", SUB_PL, *ADMIN,
        env={"TENANTCTL_USER": "admin", "TENANTCTL_PASSWORD": PASSWORD,
             "TENANTCTL_ADMIN_PASSWORD": PASSWORD},
    )  # fmt: skip
    return Tree(world, a, created["client_id"], created["process_id"])


def cost(world: World, client_id: str, sku: str, unit: str = "monthly") -> Decimal:
    """The cost price of SKU's UNIT in the tenant CLIENT_ID (what its parent charges it)."""
    units = world.at_json(client_id, "product", "show", sku)["units"]
    return Decimal(next(u["cost_price"] for u in units if u["unit"] == unit))


def unit_prices(preview: dict) -> dict[tuple[str, str], Decimal]:
    """(customer, SKU) -> unit price of the lines of an invoice preview."""
    return {
        (line["customer"], line["sku"]): Decimal(line["unit_price"])
        for invoice in preview["invoices"]
        for line in invoice["lines"]
    }


def orders_of(world: World, client_id: str | None, account: str) -> list[dict]:
    args = ("order", "list", "--account", account)
    return world.at_json(client_id, *args) if client_id else world.cli.json(*args)


def subscriptions_of(world: World, client_id: str | None, account: str) -> list[dict]:
    args = ("subscription", "list", "--account", account)
    return world.at_json(client_id, *args) if client_id else world.cli.json(*args)


# --- the tree, from A's checklist to a sale in B reaching the root --------------------------


def test_a_checklist_inside_a_tenant_checks_its_own_reseller_and_price_list(world, tmp_path):
    world.at(world.lite, "account", "create", "SUBRES", "--name", "Sub Reseller",
             "--kind", "reseller")  # fmt: skip
    # A's retail list has Acronis and OSS products: SUBRES is synced with neither.
    failed = world.at(world.lite, "checklist", "SUBRES", "--price-list", "Retail EUR", expect=3)
    assert "FAIL provisioning sync: SUBRES is not synced with acronis, oss" in failed.stdout
    created = world.at(world.lite, "tenant", "create", "SUBRES", "--price-list", "Retail EUR",
                       *ADMIN, env={"TENANTCTL_ADMIN_PASSWORD": PASSWORD}, expect=3)  # fmt: skip
    assert "provisioning sync" in created.stderr
    assert world.at_json(world.lite, "tenant", "list") == []
    # The root's price lists and accounts are not A's: the checklist names A's org.
    missing = world.at(world.lite, "checklist", "ACME", "--price-list", "Resellers EUR", expect=3)
    assert "no account 'ACME' in LiteCloud Services IKE" in missing.stdout
    assert "no price list 'Resellers EUR'" in missing.stdout


def test_a_sale_three_levels_down_is_mirrored_and_ordered_once_at_each_level(world, tmp_path):
    tree = build_tree(world, tmp_path)
    a, b = tree.a, tree.b
    # B's lite upgrade, from A: SUBCUST and its subscription move into B; back-ordering on.
    world.at(a, "upgrade", "customers", "SUBRES")
    status = world.at_json(a, "upgrade", "subscriptions", "SUBRES")
    assert (status["phase"], status["backorder_state"]) == ("live", "on")
    assert [s["sku"] for s in subscriptions_of(world, b, "SUBCUST")] == ["MS-EXO-P1"]
    # B's catalogue is A's own list, at A's prices.
    assert cost(world, b, "MS-M365-BS") == A_PRICE["MS-M365-BS"]
    assert {p["sku"] for p in world.at_json(b, "product", "list")} == {
        "MS-EXO-P1", "MS-M365-BS", "MS-M365-BP"}  # fmt: skip

    # A paid sale in B.
    world.at(b, "account", "create", "BCUST", "--name", "B Customer", "--price-list",
             "Retail EUR")  # fmt: skip
    sale = world.at_json(b, "subscription", "create", "BCUST", "MS-M365-BS", "--unit",
                         "monthly", "--quantity", "3")  # fmt: skip

    # A: one mirror, one order billed to SUBRES at A's price for SUBRES.
    (in_a,) = subscriptions_of(world, a, "BCUST")
    assert (in_a["sku"], in_a["quantity"], in_a["status"]) == ("MS-M365-BS", 3, "active")
    (order_a,) = orders_of(world, a, "BCUST")
    assert order_a["bill_to"] == "SUBRES"
    assert Decimal(order_a["total"]) == 3 * A_PRICE["MS-M365-BS"]
    # The root: one mirror of A's mirror, one order billed to LITECLOUD at the root's price.
    (in_root,) = subscriptions_of(world, None, "BCUST")
    assert (in_root["sku"], in_root["quantity"]) == ("MS-M365-BS", 3)
    (order_root,) = orders_of(world, None, "BCUST")
    assert order_root["bill_to"] == "LITECLOUD"
    assert Decimal(order_root["total"]) == 3 * ROOT_COST["MS-M365-BS"]

    # Each level bills the level below from its own list.
    period = datetime.now(ZoneInfo("Europe/Athens")).strftime("%Y-%m")
    assert unit_prices(world.at_json(a, "invoice", "preview", "SUBRES", "--period", period)) == {
        ("BCUST", "MS-M365-BS"): A_PRICE["MS-M365-BS"],
        ("SUBCUST", "MS-EXO-P1"): A_PRICE["MS-EXO-P1"],
    }
    root_bill = unit_prices(world.cli.json("invoice", "preview", "LITECLOUD", "--period", period))
    assert root_bill[("BCUST", "MS-M365-BS")] == ROOT_COST["MS-M365-BS"]

    # Both levels reconcile clean.
    for client_id in (None, a):
        args = ("--json", "reconcile", "--all")
        result = world.at(client_id, *args) if client_id else world.cli(*args)
        assert '"differences": []' in result.stdout

    # The same sale cancelled in B reaches both mirrors, each with its order.
    world.at(b, "subscription", "cancel", sale["code"])
    assert [s["status"] for s in subscriptions_of(world, a, "BCUST")] == ["cancelled"]
    assert [s["status"] for s in subscriptions_of(world, None, "BCUST")] == ["cancelled"]
    assert len(orders_of(world, a, "BCUST")) == 2
    assert len(orders_of(world, None, "BCUST")) == 2
    world.cli("reconcile", "--all")
    world.at(a, "reconcile", "--all")

    # The whole tree, from the root.
    tree_json = {t["account"]: t for t in world.cli.json("tenant", "list", "--tree")}
    assert [t["account"] for t in tree_json["LITECLOUD"]["tenants"]] == ["SUBRES"]
    (subres,) = tree_json["LITECLOUD"]["tenants"]
    assert (subres["phase"], subres["backorder_state"], subres["tenants"]) == ("live", "on", [])
    assert tree_json["ACME"]["tenants"] == []
    drawn = world.cli("tenant", "list", "--tree").stdout
    assert "LITECLOUD" in drawn and "SUBRES" in drawn and "back-ordering on" in drawn


def test_a_catalogue_change_moves_down_one_level_per_tenant_update(world, tmp_path):
    from tests.conftest import FIXTURES

    tree = build_tree(world, tmp_path)
    a, b = tree.a, tree.b
    bp_root_v2 = Decimal("21.63")  # resellers-eur-v2.csv
    world.cli("pricelist", "import", "Resellers EUR", str(FIXTURES / "resellers-eur-v2.csv"))
    # Nothing moves before the root's update.
    assert cost(world, a, "MS-M365-BP") == ROOT_COST["MS-M365-BP"]
    (outcome,) = world.cli.json("tenant", "update", "LITECLOUD")["tenants"]
    assert cost(world, a, "MS-M365-BP") == bp_root_v2
    # The margin guard warns the root: A's retail list still sells it at the old cost.
    assert {
        "sku": "MS-M365-BP",
        "unit": "monthly",
        "cost": "21.63",
        "price": "20.60",
        "price_list": "Retail EUR",
    } in outcome["below_cost"]
    # A's own list is A's to change: B's cost stays, and A's update finds nothing new.
    assert cost(world, b, "MS-M365-BP") == Decimal("24.00")
    (outcome,) = world.at_json(a, "tenant", "update", "--all")["tenants"]
    assert (outcome["tenant"], outcome["status"]) == ("SUBRES", "up-to-date")
    # A changes its price to SUBRES: B's cost follows on A's next update, not before.
    world.at(a, "pricelist", "set-price", SUB_PL, "MS-M365-BP", "--unit", "monthly", "25.00")
    assert cost(world, b, "MS-M365-BP") == Decimal("24.00")
    (outcome,) = world.at_json(a, "tenant", "update", "--all")["tenants"]
    assert (outcome["tenant"], outcome["status"]) == ("SUBRES", "succeeded")
    assert cost(world, b, "MS-M365-BP") == Decimal("25.00")
    assert cost(world, a, "MS-M365-BP") == bp_root_v2
    log = world.at_json(a, "tenant", "log", "SUBRES")
    # ...and its margin guard: B's retail list still sells it at B's old cost.
    assert [(e["change"], e["sku"], e["old"], e["new"]) for e in log] == [
        ("price-changed", "MS-M365-BP", "24.00", "25.00"),
        ("below-cost", "MS-M365-BP", "24.00 (Retail EUR)", "25.00"),
    ]
    # The root's update log of A knows nothing of A's own tenants.
    assert all(e["sku"] != "SUBRES" for e in world.cli.json("tenant", "log", "LITECLOUD"))


# --- nothing above a tenant is visible or changeable from inside it ------------------------


def test_from_inside_a_tenant_nothing_of_its_parent_or_of_its_siblings_is_reachable(
    world, tmp_path
):
    tree = build_tree(world, tmp_path)
    a, b = tree.a, tree.b
    root_processes = {p["id"] for p in world.cli.json("process", "list")}
    a_processes = {p["id"] for p in world.at_json(a, "process", "list")}
    assert tree.b_creation in a_processes and a_processes <= root_processes
    sibling = next(p for p in root_processes if p not in a_processes)  # e.g. ACME's creation

    # From A: ACME (a tenant of the root), by code and by client id, and the root's processes.
    for ref in ("ACME", world.acme, "LITECLOUD", world.lite):
        for args in (
            ["tenant", "show", ref],
            ["tenant", "log", ref],
            ["tenant", "update", ref, "--dry-run"],
            ["tenant", "set", ref, "--separate-invoices"],
            ["tenant", "discard", ref, "--yes"],
            ["upgrade", "status", ref],
            ["upgrade", "customers", ref],
            ["backorder", "status", ref],
            ["backorder", "pause", ref],
            ["reconcile", ref],
            ["invoice", "preview", ref, "--period", "2026-11"],
        ):
            result = world.at(a, *args, expect=1)
            assert "not found" in result.stderr or "no tenant reseller" in result.stderr, args
    for args in (["show"], ["logs"], ["retry"], ["cancel"]):
        result = world.at(a, "process", *args, str(sibling), expect=1)
        assert f"no process {sibling}" in result.stderr
    assert [t["account"] for t in world.at_json(a, "tenant", "list")] == ["SUBRES"]
    assert [t["account"] for t in world.at_json(a, "tenant", "list", "--tree")] == ["SUBRES"]
    assert world.cli.json("backorder", "status", "ACME")["state"] == "off"

    # From B: nothing of A, not even its own tenant row or the process that made it.
    for args in (["tenant", "show", "SUBRES"], ["tenant", "show", b], ["upgrade", "status", b],
                 ["backorder", "status", "SUBRES"], ["process", "show", str(tree.b_creation)],
                 ["process", "logs", str(tree.b_creation)]):  # fmt: skip
        world.at(b, *args, expect=1)
    assert world.at_json(b, "tenant", "list") == []
    assert world.at_json(b, "tenant", "list", "--tree") == []
    assert world.at_json(b, "process", "list") == []
    assert world.at_json(b, "reconcile", "--all") == {"tenants": [], "differences": []}


# --- the chain under kill -9 and a race ----------------------------------------------------


def live_tree(world: World, tmp_path) -> Tree:
    tree = build_tree(world, tmp_path)
    world.at(tree.a, "upgrade", "customers", "SUBRES")
    world.at(tree.a, "upgrade", "subscriptions", "SUBRES")
    return tree


def _events(engine, tenant_id: int) -> list[BackorderEvent]:
    with read_session(engine) as session:
        return list(
            session.execute(select(BackorderEvent).where(BackorderEvent.tenant_id == tenant_id))
            .scalars()
            .all()
        )


def assert_each_level_once(engine, world: World, tree: Tree) -> None:
    """Every event of B and of A delivered; each level's orders are exactly the orders its
    deliveries made (one per executed sale); no copy made twice; both levels reconcile."""
    b_link, _, _ = world.ids(tree.b)
    a_link, a_org, root = world.ids(tree.a)
    with read_session(engine) as session:
        for link, parent in ((b_link, a_org), (a_link, root)):
            events = _events(engine, link)
            assert all(e.delivered_at is not None for e in events)
            ordered = sorted(e.id for e in events if e.order_id is not None)
            assert ordered, "no sale reached this level"
            orders = session.execute(
                select(SalesOrder.backorder_event_id).where(
                    SalesOrder.org_id == parent,
                    SalesOrder.backorder_event_id.in_([e.id for e in events]),
                )
            ).scalars()
            assert sorted(orders) == ordered
            for model, source in (
                (Account, Account.source_account_id),
                (Subscription, Subscription.source_subscription_id),
            ):
                twice = session.execute(
                    select(source)
                    .where(model.org_id == parent, source.is_not(None))
                    .group_by(source)
                    .having(func.count() > 1)
                ).all()
                assert twice == [], model
        for ref, parent in (("SUBRES", a_org), ("LITECLOUD", root)):
            result = reconcile.reconcile(session, ref, parent)
            assert (result.pending, result.differences) == (0, []), result


@pytest.mark.slow
def test_a_chain_killed_mid_delivery_then_raced_delivers_each_sale_once_per_level(world, tmp_path):
    tree = live_tree(world, tmp_path)
    b_link, b_org, _ = world.ids(tree.b)
    a_org = world.ids(tree.a)[1]
    engine = world.engine()
    try:
        # Sales held in B while its back-ordering is paused, then switched on again
        # without delivering: a backlog that has to travel two levels up.
        world.at(tree.a, "backorder", "pause", "SUBRES")
        rnd, tally = random.Random(7), backorder_ops.Tally()
        while sum(e.delivered_at is None for e in _events(engine, b_link)) < 25:
            backorder_ops.operate(engine, b_org, rnd, tally, deliver=False)
        with write_session(engine) as session:
            backorder.resume(session, "SUBRES", a_org)
        # A worker killed (kill -9) once it has delivered some of B's events.
        victim = subprocess.Popen(
            [sys.executable, "-m", "tenantctl", "--db", world.db_url, "worker", "--until-empty"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 60
            while not any(e.delivered_at for e in _events(engine, b_link)):
                assert time.monotonic() < deadline, "the worker never delivered"
                time.sleep(0.01)
        finally:
            victim.kill()
            victim.wait()
        # Then two deliverers at once: a worker's sweep and a command's own delivery.
        at_once(
            world.db_url,
            lambda own: (
                backorder.deliver_all(own)
                + sum(r.delivered for r in backorder.deliver_tenants(own, [b_link]))
            ),
        )
        backorder.deliver_all(engine)  # what either left for the other (each ran once)
        assert_each_level_once(engine, world, tree)
    finally:
        engine.dispose()
