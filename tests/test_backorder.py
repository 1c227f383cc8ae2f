"""Back-ordering (SPEC section 7) through the CLI: every paid sale of a parent product in a
live tenant reaches the parent once, as a copied customer, a mirror and an order; pause,
resume, status, enable and reconcile.

LITECLOUD is live (upgraded); ACME was never lite (back-ordering off until enabled). The
expected prices are the fixture's "Resellers EUR" prices (LITECLOUD's and ACME's cost).
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select, update

from tenantctl.domain import sales
from tenantctl.store.engine import read_session, write_session
from tenantctl.store.models import (
    Account,
    BackorderEvent,
    Organisation,
    PriceListItem,
    Product,
    ProductUnit,
    Subscription,
)

ATHENS = ZoneInfo("Europe/Athens")
ORIGIN = "originated from LiteCloud Services IKE tenant reseller purchases"
COST = {
    ("MS-EXO-P1", "monthly"): Decimal("3.74"),
    ("MS-M365-BS", "monthly"): Decimal("11.70"),
    ("MS-DEFENDER-O365-P1", "monthly"): Decimal("1.87"),
    ("MS-WINSRV-STD-16C", "annual"): Decimal("183.50"),
}


@pytest.fixture
def world(live_world):
    """The live world store (LITECLOUD upgraded and live, ACME never lite)."""
    return live_world


def today() -> date:
    return datetime.now(ATHENS).date()


def new_customer(world, client_id: str, code: str = "NEWCO", **fields) -> None:
    """A customer of the tenant, priced from its retail price list."""
    extra = [a for k, v in fields.items() for a in (f"--{k.replace('_', '-')}", v)]
    world.at(client_id, "account", "create", code, "--name", f"{code.title()} Ltd", *extra)
    world.at(client_id, "account", "set", code, "--price-list", "Retail EUR")


def sell(world, client_id: str, account: str, sku: str, *args) -> dict:
    return world.at_json(client_id, "subscription", "create", account, sku, *args)


def root_orders(world, account: str | None = None) -> list[dict]:
    args = ["--account", account] if account else []
    return world.cli.json("order", "list", *args)


def root_sub(world, code: str) -> dict:
    return world.cli.json("subscription", "show", code)


def mirror_of(world, sub: dict, client_id: str | None = None) -> dict:
    """The root's mirror of a tenant subscription (SUB, as the tenant's JSON shows it) of
    the tenant CLIENT_ID (LITECLOUD's by default)."""
    _, org_id, _ = world.ids(client_id or world.lite)
    engine = world.engine()
    try:
        with read_session(engine) as session:
            original = select(Subscription.id).where(
                Subscription.org_id == org_id, Subscription.code == sub["code"]
            )
            code = session.execute(
                select(Subscription.code).where(
                    Subscription.source_subscription_id == original.scalar_subquery()
                )
            ).scalar_one()
    finally:
        engine.dispose()
    return root_sub(world, code)


# --- before go-live, and switching it on ---------------------------------------------------


def test_nothing_is_mirrored_while_back_ordering_is_off(world):
    before = root_orders(world)
    new_customer(world, world.acme)
    sell(world, world.acme, "NEWCO", "MS-EXO-P1", "--unit", "monthly", "--quantity", "3")
    assert root_orders(world) == before
    assert world.root_account("NEWCO") is None
    tenant_id, _, _ = world.ids(world.acme)
    engine = world.engine()
    with read_session(engine) as session:
        assert (
            session.execute(
                select(func.count())
                .select_from(BackorderEvent)
                .where(BackorderEvent.tenant_id == tenant_id)
            ).scalar_one()
            == 0
        )
    engine.dispose()
    assert world.cli.json("backorder", "status", "ACME")["state"] == "off"


def test_enable_needs_yes_without_a_terminal(world):
    result = world.cli("backorder", "enable", "ACME", expect=2)
    assert "--yes" in result.stderr
    assert world.cli.json("backorder", "status", "ACME")["state"] == "off"


def test_enable_is_refused_while_a_root_subscription_is_not_copied_down(world):
    world.cli("account", "create", "ACME-CUST", "--name", "Acme's customer", "--bill-to", "ACME")
    world.cli("account", "set", "ACME-CUST", "--price-list", "Resellers EUR")
    sub = world.cli.json(
        "subscription", "create", "ACME-CUST", "MS-EXO-P1", "--unit", "monthly", "--quantity", "2"
    )
    result = world.cli("backorder", "enable", "ACME", "--yes", expect=3)
    assert sub["code"] in result.stderr and "upgrade subscriptions" in result.stderr
    assert world.cli.json("backorder", "status", "ACME")["state"] == "off"


def test_pause_and_resume_are_refused_while_off(world):
    for verb in ("pause", "resume"):
        result = world.cli("backorder", verb, "ACME", expect=1)
        assert "off" in result.stderr and "backorder enable" in result.stderr


def test_enable_copies_missing_customers_mirrors_earlier_sales_and_is_one_way(world):
    world.cli("account", "create", "ACME-NEW", "--name", "Acme's new customer", "--bill-to", "ACME")
    new_customer(world, world.acme, "EARLY")
    early = sell(world, world.acme, "EARLY", "MS-EXO-P1", "--unit", "monthly", "--quantity", "4")
    result = world.cli.json("backorder", "enable", "ACME", "--yes")
    assert result["state"] == "on" and result["changed"] is True
    assert result["customers_copied"] == 1 and result["adopted"] == 1
    codes = [a["code"] for a in world.at_json(world.acme, "account", "list")]
    assert "ACME-NEW" in codes
    tenant = world.cli.json("tenant", "show", "ACME")
    assert (tenant["phase"], tenant["backorder_state"]) == ("live", "on")
    # The sale made before is mirrored, without an order (it was not sold through here).
    mirror = mirror_of(world, early, world.acme)
    assert (mirror["quantity"], mirror["status"]) == (4, "active")
    assert root_orders(world, mirror["account"]) == []
    again = world.cli.json("backorder", "enable", "ACME", "--yes")
    assert again["changed"] is False and again["state"] == "on"
    world.cli("reconcile", "ACME")


# --- what a sale in a live tenant does in the parent ---------------------------------------


def test_a_paid_sale_copies_the_customer_up_mirrors_it_and_orders_it(world):
    new_customer(
        world,
        world.lite,
        email="it@newco.example",
        accounting_number="EL123",
        billing_address="Odos 1, Athens",
    )
    sub = sell(
        world,
        world.lite,
        "NEWCO",
        "MS-M365-BS",
        "--unit",
        "monthly",
        "--quantity",
        "5",
        "--add-on",
        "MS-DEFENDER-O365-P1=3",
    )
    customer = world.cli.json("account", "show", "NEWCO")
    assert customer["bill_to"] == "LITECLOUD" and customer["kind"] == "customer"
    assert customer["ordering_enabled"] is True and customer["currency"] == "EUR"
    assert customer["separate_invoices"] is False
    assert (
        customer["name"],
        customer["email"],
        customer["accounting_number"],
        customer["billing_address"],
    ) == ("Newco Ltd", "it@newco.example", "EL123", "Odos 1, Athens")
    mirror = mirror_of(world, sub)
    assert mirror["account"] == "NEWCO" and mirror["bill_to"] == "LITECLOUD"
    assert (mirror["sku"], mirror["unit"], mirror["quantity"]) == ("MS-M365-BS", "monthly", 5)
    assert Decimal(mirror["price"]) == COST["MS-M365-BS", "monthly"]
    assert [(a["sku"], a["quantity"]) for a in mirror["add_ons"]] == [("MS-DEFENDER-O365-P1", 3)]
    assert (mirror["status"], mirror["start_date"], mirror["auto_renew"]) == (
        "active",
        sub["start_date"],
        True,
    )
    _, _, root_id = world.ids(world.lite)
    engine = world.engine()
    with read_session(engine) as session:
        name = session.execute(
            select(Subscription.name).where(
                Subscription.code == mirror["code"], Subscription.org_id == root_id
            )
        ).scalar_one()
    engine.dispose()
    assert name == "Newco Ltd - Microsoft 365 Business Standard"
    (order,) = root_orders(world, "NEWCO")
    assert (order["order_type"], order["bill_to"], order["origin"]) == ("new", "LITECLOUD", ORIGIN)
    assert order["order_date"] == sub["start_date"]
    assert {(ln["sku"], ln["quantity"], Decimal(ln["price"])) for ln in order["lines"]} == {
        ("MS-M365-BS", 5, COST["MS-M365-BS", "monthly"]),
        ("MS-DEFENDER-O365-P1", 3, COST["MS-DEFENDER-O365-P1", "monthly"]),
    }
    world.cli("reconcile", "LITECLOUD")


def test_separate_invoices_come_from_the_tenant_setting_when_the_customer_is_copied(world):
    new_customer(world, world.lite, "FIRST")
    sell(world, world.lite, "FIRST", "MS-EXO-P1", "--unit", "monthly", "--quantity", "1")
    world.set_tenant(world.lite, separate_invoices=True)
    new_customer(world, world.lite, "SECOND")
    sell(world, world.lite, "SECOND", "MS-EXO-P1", "--unit", "monthly", "--quantity", "1")
    sell(world, world.lite, "FIRST", "MS-EXO-P1", "--unit", "monthly", "--quantity", "1")
    assert world.cli.json("account", "show", "FIRST")["separate_invoices"] is False
    assert world.cli.json("account", "show", "SECOND")["separate_invoices"] is True


def test_a_root_code_in_use_gives_the_copy_the_resellers_prefix(world):
    new_customer(world, world.lite, "ACME")  # the root has a reseller ACME already
    sell(world, world.lite, "ACME", "MS-EXO-P1", "--unit", "monthly", "--quantity", "1")
    copy = world.cli.json("account", "show", "LITECLOUD-ACME")
    assert copy["bill_to"] == "LITECLOUD" and copy["name"] == "Acme Ltd"
    assert world.cli.json("account", "show", "ACME")["kind"] == "reseller"


def test_a_subscription_starting_later_is_inactive_in_the_parent_and_ordered_on_its_date(world):
    new_customer(world, world.lite)
    start = (today() + timedelta(days=10)).isoformat()
    sub = sell(
        world,
        world.lite,
        "NEWCO",
        "MS-EXO-P1",
        "--unit",
        "monthly",
        "--quantity",
        "2",
        "--start",
        start,
    )
    mirror = mirror_of(world, sub)
    assert (mirror["status"], mirror["start_date"]) == ("inactive", start)
    assert root_orders(world, "NEWCO")[0]["order_date"] == start


def test_trials_and_own_products_are_not_mirrored_a_trial_turned_paid_is(world):
    new_customer(world, world.lite)
    _own_product(world, world.lite, "LC-OWN-SUPPORT", Decimal("30.00"))
    trial = sell(
        world, world.lite, "NEWCO", "MS-EXO-P1", "--unit", "monthly", "--quantity", "2", "--trial"
    )
    sell(world, world.lite, "NEWCO", "LC-OWN-SUPPORT", "--unit", "monthly", "--quantity", "1")
    assert world.root_account("NEWCO") is None
    world.at_json(world.lite, "subscription", "update", trial["code"], "--quantity", "3")
    assert world.root_account("NEWCO") is None
    world.at_json(world.lite, "subscription", "update", trial["code"], "--paid")
    mirror = mirror_of(world, trial)
    assert (mirror["quantity"], mirror["paid"]) == (3, True)
    (order,) = root_orders(world, "NEWCO")
    assert order["order_type"] == "trial-to-paid" and order["order_date"] == today().isoformat()
    world.cli("reconcile", "LITECLOUD")


def _own_product(world, client_id: str, sku: str, price: Decimal) -> None:
    """A product of the reseller's own (no source in the parent), on its retail list."""
    _, org_id, _ = world.ids(client_id)
    engine = world.engine()
    with write_session(engine) as session:
        product = Product(
            org_id=org_id,
            sku=sku,
            name="LiteCloud support",
            platform="other",
            product_type="service",
        )
        session.add(product)
        session.flush()
        session.add(
            ProductUnit(org_id=org_id, product_id=product.id, unit="monthly", cost_price=None)
        )
    engine.dispose()
    world.at(
        client_id, "pricelist", "set-price", "Retail EUR", sku, "--unit", "monthly", str(price)
    )


def test_quantity_add_on_and_cancellation_reach_the_mirror_each_with_an_order(world):
    new_customer(world, world.lite)
    sub = sell(world, world.lite, "NEWCO", "MS-M365-BS", "--unit", "monthly", "--quantity", "5")
    world.at_json(world.lite, "subscription", "update", sub["code"], "--quantity", "7")
    mirror = mirror_of(world, sub)
    assert mirror["quantity"] == 7
    world.at_json(
        world.lite, "subscription", "update", sub["code"], "--add-on", "MS-DEFENDER-O365-P1=2"
    )
    assert [(a["sku"], a["quantity"]) for a in mirror_of(world, sub)["add_ons"]] == [
        ("MS-DEFENDER-O365-P1", 2)
    ]
    world.at_json(
        world.lite, "subscription", "update", sub["code"], "--add-on", "MS-DEFENDER-O365-P1=0"
    )
    assert mirror_of(world, sub)["add_ons"] == []
    world.at_json(world.lite, "subscription", "cancel", sub["code"])
    mirror = mirror_of(world, sub)
    assert (mirror["status"], mirror["auto_renew"]) == ("cancelled", False)
    orders = root_orders(world, "NEWCO")
    assert [o["order_type"] for o in orders] == ["new", "change", "add-on", "change", "cancel"]
    assert [[(ln["sku"], ln["quantity"]) for ln in o["lines"]] for o in orders] == [
        [("MS-M365-BS", 5)],
        [("MS-M365-BS", 7)],
        [("MS-DEFENDER-O365-P1", 2)],
        [("MS-DEFENDER-O365-P1", 0)],
        [("MS-M365-BS", 7)],
    ]
    assert all(o["origin"] == ORIGIN and o["bill_to"] == "LITECLOUD" for o in orders)
    world.cli("reconcile", "LITECLOUD")


def test_a_subscription_copied_at_the_upgrade_follows_its_tenant_copy(world):
    tenant_sub = world.at_json(world.lite, "subscription", "show", "SUB-LC-0001")
    root_before = root_sub(world, "SUB-LC-0001")
    world.at_json(
        world.lite,
        "subscription",
        "update",
        tenant_sub["code"],
        "--quantity",
        str(tenant_sub["quantity"] + 2),
    )
    after = root_sub(world, "SUB-LC-0001")
    assert after["quantity"] == root_before["quantity"] + 2
    orders = root_orders(world, "LC-ATHENS-DENTAL")
    assert orders[-1]["order_type"] == "change" and orders[-1]["origin"] == ORIGIN
    world.cli("reconcile", "LITECLOUD")


def test_assets_are_mirrored_with_an_order(world):
    new_customer(world, world.lite)
    asset = world.at_json(
        world.lite,
        "asset",
        "create",
        "NEWCO",
        "MS-WINSRV-STD-16C",
        "--kind",
        "software-subscription",
        "--quantity",
        "2",
    )
    (mirror,) = [a for a in world.cli.json("asset", "list", "--account", "NEWCO")]
    assert (mirror["sku"], mirror["quantity"], mirror["kind"]) == (
        "MS-WINSRV-STD-16C",
        2,
        "software-subscription",
    )
    assert mirror["purchase_date"] == asset["purchase_date"]
    (order,) = root_orders(world, "NEWCO")
    assert [(ln["sku"], ln["quantity"], Decimal(ln["price"])) for ln in order["lines"]] == [
        ("MS-WINSRV-STD-16C", 2, COST["MS-WINSRV-STD-16C", "annual"])
    ]
    world.cli("reconcile", "LITECLOUD")


# --- the customer's kept fields, and what the parent may still change ----------------------


def test_account_set_in_the_tenant_reaches_the_parent_which_may_not_change_it(world):
    new_customer(world, world.lite)
    sell(world, world.lite, "NEWCO", "MS-EXO-P1", "--unit", "monthly", "--quantity", "1")
    world.at(
        world.lite,
        "account",
        "set",
        "NEWCO",
        "--name",
        "Newco Holdings",
        "--email",
        "billing@newco.example",
        "--billing-address",
        "Street 2",
        "--accounting-number",
        "EL999",
    )
    copy = world.cli.json("account", "show", "NEWCO")
    assert (copy["name"], copy["email"], copy["billing_address"], copy["accounting_number"]) == (
        "Newco Holdings",
        "billing@newco.example",
        "Street 2",
        "EL999",
    )
    refused = world.cli("account", "set", "NEWCO", "--name", "Renamed by the parent", expect=1)
    assert "managed by tenant reseller LITECLOUD" in refused.stderr
    # A lite customer (copied down at the upgrade) follows the same way.
    world.at(world.lite, "account", "set", "LC-ATHENS-DENTAL", "--email", "new@dental.gr")
    assert world.cli.json("account", "show", "LC-ATHENS-DENTAL")["email"] == "new@dental.gr"
    world.cli("reconcile", "LITECLOUD")


def test_the_parent_may_change_only_a_mirrors_billing_options(world):
    new_customer(world, world.lite)
    sub = sell(world, world.lite, "NEWCO", "MS-EXO-P1", "--unit", "monthly", "--quantity", "1")
    code = mirror_of(world, sub)["code"]
    for args in (
        ["update", code, "--quantity", "9"],
        ["cancel", code],
        ["update", code, "--add-on", "MS-DEFENDER-O365-P1=1"],
    ):
        result = world.cli("subscription", *args, expect=1)
        assert "managed by tenant reseller LITECLOUD" in result.stderr
    refused = world.cli("subscription", "set", code, "--price", "1.00", expect=1)
    assert "only its billing day" in refused.stderr
    changed = world.cli.json("subscription", "set", code, "--billing-day", "12")
    assert changed["billing_day"] == 12 and changed["orders"] == []
    world.cli("account", "set", "NEWCO", "--separate-invoices")
    assert world.cli.json("account", "show", "NEWCO")["separate_invoices"] is True
    # In the tenant, the reseller may amend what its customer pays; the mirror keeps the cost.
    amended = world.at_json(world.lite, "subscription", "set", sub["code"], "--price", "9.99")
    assert Decimal(amended["price"]) == Decimal("9.99")
    assert Decimal(mirror_of(world, sub)["price"]) == COST["MS-EXO-P1", "monthly"]
    world.cli("reconcile", "LITECLOUD")


# --- pause, resume, status -----------------------------------------------------------------


def test_paused_nothing_reaches_the_parent_and_resume_delivers_it_in_order(world):
    new_customer(world, world.lite)
    world.cli.json("backorder", "pause", "LITECLOUD")
    sub = sell(world, world.lite, "NEWCO", "MS-EXO-P1", "--unit", "monthly", "--quantity", "1")
    world.at_json(world.lite, "subscription", "update", sub["code"], "--quantity", "4")
    world.at_json(world.lite, "subscription", "update", sub["code"], "--quantity", "2")
    world.at(world.lite, "account", "set", "NEWCO", "--name", "Held Name")
    assert world.root_account("NEWCO") is None
    status = world.cli.json("backorder", "status", "LITECLOUD")
    assert (status["state"], status["pending"]) == ("paused", 4)
    assert status["oldest_pending"]["action"] == "new"
    pending = world.cli.json("reconcile", "LITECLOUD")
    assert pending["tenants"][0]["pending"] == 4 and pending["differences"] == []
    assert world.cli.json("backorder", "pause", "LITECLOUD")["changed"] is False

    resumed = world.cli.json("backorder", "resume", "LITECLOUD")
    assert resumed["state"] == "on" and resumed["delivered"] == 4
    orders = root_orders(world, "NEWCO")
    assert [(o["order_type"], o["lines"][0]["quantity"]) for o in orders] == [
        ("new", 1),
        ("change", 4),
        ("change", 2),
    ]
    assert [o["number"] for o in orders] == sorted(o["number"] for o in orders)
    assert mirror_of(world, sub)["quantity"] == 2
    assert world.cli.json("account", "show", "NEWCO")["name"] == "Held Name"
    status = world.cli.json("backorder", "status", "LITECLOUD")
    assert status["pending"] == 0 and status["last_delivered"]["subject"] == "customer"
    world.cli("reconcile", "LITECLOUD")


def test_status_in_human_form_names_the_state_and_the_pending(world):
    world.cli.json("backorder", "pause", "LITECLOUD")
    new_customer(world, world.lite)
    sell(world, world.lite, "NEWCO", "MS-EXO-P1", "--unit", "monthly", "--quantity", "1")
    out = world.cli("backorder", "status", "LITECLOUD", env={"COLUMNS": "120"}).stdout
    assert "paused" in out and "subscription new" in out


# --- delivery after a crash, and failures ----------------------------------------------------


def test_a_worker_delivers_what_a_command_left_behind(world):
    """A sale whose command ended between its commit and its delivery (as a kill -9 there
    would leave it): the worker's sweep delivers it."""
    new_customer(world, world.lite)
    _, org_id, _ = world.ids(world.lite)
    engine = world.engine()
    with write_session(engine, org_id=org_id) as session:
        org = session.get(Organisation, org_id)
        sales.create_subscription(session, org, "NEWCO", "MS-EXO-P1", unit="monthly", quantity=6)
    engine.dispose()
    assert world.cli.json("backorder", "status", "LITECLOUD")["pending"] == 1
    assert world.cli.json("reconcile", "LITECLOUD")["tenants"][0]["pending"] == 1
    report = world.cli.json("worker", "--until-empty")
    assert report["delivered"] == 1
    (order,) = root_orders(world, "NEWCO")
    assert order["lines"][0]["quantity"] == 6
    world.cli("reconcile", "LITECLOUD")


def test_an_event_that_cannot_be_priced_waits_with_its_error_and_the_sale_stands(world):
    new_customer(world, world.lite)
    _, org_id, root_id = world.ids(world.lite)
    engine = world.engine()
    with write_session(engine) as session:
        # The item left the reseller's price list and the tenant has no cost for it.
        exo = select(Product.id).where(Product.org_id == root_id, Product.sku == "MS-EXO-P1")
        session.execute(
            update(PriceListItem)
            .where(PriceListItem.product_id.in_(exo))
            .values(to_revision=PriceListItem.from_revision)
        )
        session.execute(
            update(ProductUnit).where(ProductUnit.org_id == org_id).values(cost_price=None)
        )
    engine.dispose()
    result = world.at(
        world.lite,
        "subscription",
        "create",
        "NEWCO",
        "MS-EXO-P1",
        "--unit",
        "monthly",
        "--quantity",
        "1",
    )
    assert "back-order waits" in result.stderr and "MS-EXO-P1" in result.stderr
    # Inside the tenant the waiting sale is named by its code, never by a global row id.
    (sold,) = world.at_json(world.lite, "subscription", "list", "--account", "NEWCO")
    assert f"subscription {sold['code']} (new)" in result.stderr
    assert not re.search(r"\bevent \d", result.stderr)
    status = world.cli.json("backorder", "status", "LITECLOUD")
    assert status["pending"] == 1 and "no price" in status["oldest_pending"]["last_error"]
    assert len(world.at_json(world.lite, "subscription", "list", "--account", "NEWCO")) == 1


# --- reconcile -----------------------------------------------------------------------------


def test_reconcile_lists_each_difference_and_exits_6(world):
    new_customer(world, world.lite)
    sub = sell(world, world.lite, "NEWCO", "MS-EXO-P1", "--unit", "monthly", "--quantity", "3")
    code = mirror_of(world, sub)["code"]
    engine = world.engine()
    with write_session(engine) as session:
        _, _, root_id = world.ids(world.lite)
        session.execute(
            update(Subscription)
            .where(Subscription.org_id == root_id, Subscription.code == code)
            .values(quantity=30)
        )
        session.execute(
            update(Account)
            .where(Account.org_id == root_id, Account.code == "NEWCO")
            .values(email="x@y.example")
        )
    engine.dispose()
    report = world.cli.json("reconcile", "LITECLOUD", expect=6)
    found = {
        (d["kind"], d["code"], d["problem"], d["tenant_value"], d["parent_value"])
        for d in report["differences"]
    }
    assert found == {
        ("subscription", sub["code"], "quantity differs", "3", "30"),
        ("customer", "NEWCO", "email differs", None, "x@y.example"),
    }
    assert world.cli("reconcile", "--all", expect=6).exit_code == 6


def test_reconcile_all_is_clean_on_the_world_and_needs_a_target(world):
    assert world.cli.json("reconcile", "--all")["differences"] == []
    assert world.cli("reconcile", expect=2).exit_code == 2


def test_reconcile_finds_a_mirror_without_its_original(world):
    new_customer(world, world.lite)
    sub = sell(world, world.lite, "NEWCO", "MS-EXO-P1", "--unit", "monthly", "--quantity", "3")
    code = mirror_of(world, sub)["code"]
    _, _, root_id = world.ids(world.lite)
    with world.write() as session:  # the link lost, as a manual edit of the parent would
        session.execute(
            update(Subscription)
            .where(Subscription.org_id == root_id, Subscription.code == code)
            .values(source_subscription_id=None)
        )
    report = world.cli.json("reconcile", "LITECLOUD", expect=6)
    assert {(d["kind"], d["code"], d["problem"]) for d in report["differences"]} == {
        ("subscription", sub["code"], "no mirror in the parent"),
        ("subscription", code, "a mirror in the parent without its original in the tenant"),
    }
