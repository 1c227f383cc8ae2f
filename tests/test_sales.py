"""Sales in every org (SPEC sections 5 and 9): `subscription`, `asset`, `order` and
`pricelist set-price`, in the root and inside a tenant (`--org`), on the distributor's data
set (`fixtures/distributor.yaml`) with two tenant resellers (ACME and LITECLOUD).

Prices are checked exactly against the account's price list; every refusal by its exit
code and by a store left as it was.
"""

from __future__ import annotations

import re
import threading
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import event, select, text, update

from tenantctl.domain import catalogue, sales
from tenantctl.domain.orgs import get_account, get_price_list, root_org
from tenantctl.errors import Refused
from tenantctl.store.engine import open_engine, read_session, write_session
from tenantctl.store.models import (
    Organisation,
    Product,
    ProductUnit,
)
from tests.conftest import PG_SERVER
from tests.jobs_worker_main import wait_until
from tests.world import PL, RETAIL, World, manage, tenant_customer, today

WIDE = {"COLUMNS": "160"}

SUB_KEYS = {
    "id",
    "code",
    "account",
    "bill_to",
    "sku",
    "product",
    "unit",
    "quantity",
    "price",
    "currency",
    "status",
    "start_date",
    "auto_renew",
    "paid",
    "billing_day",
    "add_ons",
    "characteristics",
}
ORDER_KEYS = {
    "id",
    "number",
    "account",
    "bill_to",
    "order_date",
    "order_type",
    "origin",
    "status",
    "currency",
    "total",
    "lines",
}
LINE_KEYS = {"sku", "product", "unit", "quantity", "price", "currency"}
ASSET_KEYS = {
    "id",
    "code",
    "account",
    "bill_to",
    "sku",
    "product",
    "kind",
    "quantity",
    "purchase_date",
    "status",
    "characteristics",
}


def discontinue(world: World, sku: str, unit: str | None = None, org_client_id=None) -> None:
    """Discontinue a product (or one of its units) in the root, or in a tenant."""
    with world.write() as session:
        if org_client_id is None:
            org_id = root_org(session).id
        else:
            org_id = session.execute(
                select(Organisation.id).where(Organisation.client_id == org_client_id)
            ).scalar_one()
        product = session.execute(
            select(Product).where(Product.org_id == org_id, Product.sku == sku)
        ).scalar_one()
        if unit is None:
            product.status = "discontinued"
        else:
            session.execute(
                update(ProductUnit)
                .where(ProductUnit.product_id == product.id, ProductUnit.unit == unit)
                .values(status="discontinued")
            )


def sell(world: World, *args, expect=0):
    return world.cli.json("subscription", "create", *args, expect=expect)


def orders(world: World, client_id: str | None = None) -> list[dict]:
    if client_id:
        return world.at_json(client_id, "order", "list")
    return world.cli.json("order", "list")


def state(world: World, client_id: str | None = None) -> tuple:
    """Everything a sale can change, as the CLI shows it."""

    def get(*args):
        return world.at_json(client_id, *args) if client_id else world.cli.json(*args)

    return (
        get("subscription", "list"),
        get("order", "list"),
        get("asset", "list"),
        get("pricelist", "list"),
    )


def lines(order: dict) -> list[tuple]:
    return [(line["sku"], line["unit"], line["quantity"], line["price"]) for line in order["lines"]]


# --- subscription create ------------------------------------------------------------------


def test_root_subscription_is_priced_from_the_accounts_price_list_with_its_order(world):
    sub = sell(
        world,
        "LC-OLIVE-TRADE",
        "MS-M365-E3",
        "--unit",
        "monthly",
        "--quantity",
        "10",
        "--add-on",
        "MS-TEAMS-PHONE=3",
    )
    assert set(sub) == SUB_KEYS | {"changed", "orders"}
    assert sub["code"] == "SUB-000034"  # the data set has 33
    assert (
        sub["account"],
        sub["bill_to"],
        sub["sku"],
        sub["unit"],
        sub["quantity"],
        sub["price"],
        sub["currency"],
        sub["status"],
        sub["paid"],
        sub["auto_renew"],
        sub["billing_day"],
    ) == (
        "LC-OLIVE-TRADE",
        "LITECLOUD",
        "MS-M365-E3",
        "monthly",
        10,
        "33.60",
        "EUR",
        "active",
        True,
        True,
        5,
    )
    assert sub["start_date"] == today().isoformat()
    assert sub["add_ons"] == [
        {"sku": "MS-TEAMS-PHONE", "product": "Microsoft Teams Phone Standard", "quantity": 3}
    ]
    [order] = sub["orders"]
    assert set(order) == ORDER_KEYS and all(set(li) == LINE_KEYS for li in order["lines"])
    assert (
        order["number"],
        order["order_type"],
        order["order_date"],
        order["account"],
        order["bill_to"],
        order["origin"],
        order["currency"],
        order["total"],
    ) == (
        "ORD-000001",
        "new",
        today().isoformat(),
        "LC-OLIVE-TRADE",
        "LITECLOUD",
        None,
        "EUR",
        "358.44",
    )
    assert lines(order) == [
        ("MS-M365-E3", "monthly", 10, "33.60"),
        ("MS-TEAMS-PHONE", "monthly", 3, "7.48"),
    ]
    assert orders(world) == [order]
    assert world.cli.json("subscription", "show", sub["code"]) == {
        k: v for k, v in sub.items() if k not in ("changed", "orders")
    }


def test_prices_are_exact_decimals(world):
    sub = sell(
        world,
        "LC-ATHENS-DENTAL",
        "ACR-CPC-STD",
        "--unit",
        "monthly",
        "--quantity",
        "3",
        "--add-on",
        "ACR-STORAGE-GB=500",
        "--add-on",
        "ACR-CPC-ADV-BACKUP=3",
    )
    [order] = sub["orders"]
    assert lines(order) == [
        ("ACR-CPC-STD", "monthly", 3, "4.15"),
        ("ACR-STORAGE-GB", "monthly", 500, "0.1"),
        ("ACR-CPC-ADV-BACKUP", "monthly", 3, "1.90"),
    ]
    assert Decimal(order["total"]) == Decimal("12.45") + Decimal("50.0") + Decimal("5.70")
    assert order["total"] == "68.15"


def test_the_premium_price_list_prices_the_same_product_differently(world):
    world.cli("account", "set", "LC-CRETE-HOTELS", "--price-list", "Premium Resellers EUR")
    sub = sell(world, "LC-CRETE-HOTELS", "MS-M365-E3", "--unit", "annual", "--quantity", "2")
    assert (sub["price"], sub["orders"][0]["total"]) == ("351.12", "702.24")


def test_tenant_subscription_is_priced_from_the_tenants_retail_list(world):
    tenant_customer(world, world.acme)
    # retail starts at cost; the tenant's own sell price is a new revision of its list
    change = world.at_json(
        world.acme, "pricelist", "set-price", RETAIL, "MS-M365-BP", "--unit", "monthly", "24.90"
    )
    assert (change["old_price"], change["price"], change["revision"]) == ("20.60", "24.90", 2)
    sub = world.at_json(
        world.acme,
        "subscription",
        "create",
        "CUST",
        "MS-M365-BP",
        "--unit",
        "monthly",
        "--quantity",
        "4",
    )
    assert (sub["code"], sub["price"], sub["currency"], sub["bill_to"]) == (
        "SUB-000001",
        "24.90",
        "EUR",
        None,
    )
    [order] = sub["orders"]
    assert (order["number"], order["order_type"], order["total"], order["bill_to"]) == (
        "ORD-000001",
        "new",
        "99.60",
        "CUST",
    )
    at_cost = world.at_json(
        world.acme,
        "subscription",
        "create",
        "CUST",
        "MS-EXO-P1",
        "--unit",
        "annual",
        "--quantity",
        "1",
    )
    assert at_cost["price"] == "41.14"
    # the root saw none of it
    assert orders(world) == []
    assert [s["code"] for s in world.at_json(world.acme, "subscription", "list")] == [
        "SUB-000001",
        "SUB-000002",
    ]


def test_a_subscription_starting_later_is_inactive_and_its_order_dated_then(world):
    start = today() + timedelta(days=40)
    sub = sell(
        world,
        "LC-THESS-LAW",
        "MS-EXO-P1",
        "--unit",
        "monthly",
        "--quantity",
        "2",
        "--start",
        start.isoformat(),
    )
    assert (sub["status"], sub["start_date"]) == ("inactive", start.isoformat())
    assert sub["orders"][0]["order_date"] == start.isoformat()
    past = sell(
        world,
        "LC-THESS-LAW",
        "MS-EXO-P1",
        "--unit",
        "annual",
        "--quantity",
        "2",
        "--start",
        "2024-01-31",
    )
    assert (past["status"], past["orders"][0]["order_date"]) == ("active", "2024-01-31")


def test_a_trial_makes_no_order_until_it_is_turned_paid(world):
    sub = sell(
        world,
        "LC-ZEUS-FITNESS",
        "MS-M365-E3",
        "--unit",
        "monthly",
        "--quantity",
        "5",
        "--trial",
        "--add-on",
        "MS-TEAMS-PHONE=1",
    )
    assert (sub["paid"], sub["auto_renew"], sub["orders"], sub["price"]) == (
        False,
        False,
        [],
        "33.60",
    )
    assert orders(world) == []
    # trial changes are no sale either
    grown = world.cli.json("subscription", "update", sub["code"], "--quantity", "6")
    assert (grown["quantity"], grown["orders"], grown["changed"]) == (6, [], True)
    # turned paid: one order for what it holds, at the price list's price of that day
    world.cli("pricelist", "set-price", PL, "MS-M365-E3", "--unit", "monthly", "34.00")
    paid = world.cli.json("subscription", "update", sub["code"], "--paid")
    assert (paid["paid"], paid["auto_renew"], paid["price"]) == (True, True, "34.00")
    [order] = paid["orders"]
    assert (order["order_type"], order["order_date"], lines(order)) == (
        "trial-to-paid",
        today().isoformat(),
        [("MS-M365-E3", "monthly", 6, "34.00"), ("MS-TEAMS-PHONE", "monthly", 1, "7.48")],
    )
    again = world.cli.json("subscription", "update", sub["code"], "--paid")
    assert (again["changed"], again["orders"]) == (False, [])
    assert [o["order_type"] for o in orders(world)] == ["trial-to-paid"]


# --- subscription update / cancel ---------------------------------------------------------


def test_each_change_makes_its_own_order(world):
    sub = sell(
        world,
        "LC-AEGEAN-TRAVEL",
        "MS-M365-E3",
        "--unit",
        "monthly",
        "--quantity",
        "10",
        "--add-on",
        "MS-TEAMS-PHONE=2",
    )
    code = sub["code"]
    by_id = world.cli.json("subscription", "update", str(sub["id"]), "--quantity", "12")
    assert by_id["code"] == code
    [change] = by_id["orders"]
    assert (change["order_type"], change["order_date"], lines(change)) == (
        "change",
        today().isoformat(),
        [("MS-M365-E3", "monthly", 12, "33.60")],
    )

    both = world.cli.json(
        "subscription",
        "update",
        code,
        "--add-on",
        "MS-TEAMS-PHONE=5",
        "--add-on",
        "MS-TEAMS-AUDIOCONF=4",
    )
    assert [(o["order_type"], lines(o)) for o in both["orders"]] == [
        ("change", [("MS-TEAMS-PHONE", "monthly", 5, "7.48")]),
        ("add-on", [("MS-TEAMS-AUDIOCONF", "monthly", 4, "3.74")]),
    ]
    assert both["orders"][1]["total"] == "14.96"
    assert {(a["sku"], a["quantity"]) for a in both["add_ons"]} == {
        ("MS-TEAMS-PHONE", 5),
        ("MS-TEAMS-AUDIOCONF", 4),
    }

    removed = world.cli.json("subscription", "update", code, "--add-on", "MS-TEAMS-PHONE=0")
    assert [(o["order_type"], lines(o)) for o in removed["orders"]] == [
        ("change", [("MS-TEAMS-PHONE", "monthly", 0, "7.48")])
    ]
    assert [a["sku"] for a in removed["add_ons"]] == ["MS-TEAMS-AUDIOCONF"]

    same = world.cli.json("subscription", "update", code, "--quantity", "12")
    assert (same["changed"], same["orders"]) == (False, [])
    assert [o["order_type"] for o in orders(world)] == [
        "new",
        "change",
        "change",
        "add-on",
        "change",
    ]


def test_cancel_makes_a_cancel_order_once(world):
    sub = sell(world, "LC-HERMES-COURIER", "MS-M365-BB", "--unit", "annual", "--quantity", "3")
    cancelled = world.cli.json("subscription", "cancel", sub["code"])
    assert (cancelled["status"], cancelled["auto_renew"]) == ("cancelled", False)
    [order] = cancelled["orders"]
    assert (order["order_type"], order["order_date"], lines(order), order["total"]) == (
        "cancel",
        today().isoformat(),
        [("MS-M365-BB", "annual", 3, "61.60")],
        "184.80",
    )
    again = world.cli.json("subscription", "cancel", sub["code"])
    assert (again["changed"], again["orders"]) == (False, [])
    result = world.cli("subscription", "update", sub["code"], "--quantity", "4", expect=1)
    assert "is cancelled" in result.stderr
    # a trial cancelled is no sale
    trial = sell(
        world, "LC-HERMES-COURIER", "MS-M365-BB", "--unit", "annual", "--quantity", "3", "--trial"
    )
    assert world.cli.json("subscription", "cancel", trial["code"])["orders"] == []
    assert [o["order_type"] for o in orders(world)] == ["new", "cancel"]


def test_an_existing_subscription_of_the_data_set_can_be_changed(world):
    changed = world.cli.json("subscription", "update", "SUB-D-0003", "--quantity", "85")
    assert lines(changed["orders"][0]) == [("PANDA-AD360", "monthly", 85, "3.90")]


def test_update_needs_something_to_change(world):
    result = world.cli("subscription", "update", "SUB-D-0003", expect=2)
    assert "nothing to change" in result.stderr


# --- refusals -----------------------------------------------------------------------------

REFUSALS = [
    # (arguments, exit code, words of the message)
    (["NOPE", "MS-M365-E3", "--unit", "monthly", "--quantity", "1"], 1, "account 'NOPE'"),
    (["LC-OLIVE-TRADE", "NOPE", "--unit", "monthly", "--quantity", "1"], 1, "product 'NOPE'"),
    (
        ["LC-OLIVE-TRADE", "MS-M365-E3", "--unit", "quarterly", "--quantity", "1"],
        1,
        "not sold quarterly",
    ),
    (
        ["LC-OLIVE-TRADE", "MS-SQL-STD-2C", "--unit", "monthly", "--quantity", "1"],
        1,
        "its units: annual",
    ),
    (
        ["LC-OLIVE-TRADE", "OTH-SUPPORT-PREM", "--unit", "monthly", "--quantity", "1"],
        1,
        "not sold monthly in price list 'Resellers EUR'",
    ),
    (
        ["LC-OLIVE-TRADE", "MS-TEAMS-PHONE", "--unit", "monthly", "--quantity", "1"],
        1,
        "is an add-on of MS-M365-E3",
    ),
    (
        [
            "LC-OLIVE-TRADE",
            "MS-M365-E3",
            "--unit",
            "monthly",
            "--quantity",
            "1",
            "--add-on",
            "PANDA-PATCH=1",
        ],
        1,
        "PANDA-PATCH is not an add-on of MS-M365-E3",
    ),
    (
        [
            "LC-OLIVE-TRADE",
            "MS-M365-E3",
            "--unit",
            "annual",
            "--quantity",
            "1",
            "--add-on",
            "MS-TEAMS-AUDIOCONF=1",
        ],
        1,
        "MS-TEAMS-AUDIOCONF is not sold annual",
    ),
    (
        ["NORDIC", "MS-M365-E3", "--unit", "monthly", "--quantity", "1"],
        1,
        "not enabled for ordering",
    ),
    (
        ["DIR-ATTICA-RETAIL", "MS-M365-E3", "--unit", "monthly", "--quantity", "1"],
        1,
        "has no price list",
    ),
    (["LC-OLIVE-TRADE", "MS-M365-E3", "--unit", "monthly", "--quantity", "0"], 2, "--quantity: 0"),
    (
        ["LC-OLIVE-TRADE", "MS-M365-E3", "--unit", "monthly", "--quantity", "-3"],
        2,
        "--quantity: -3",
    ),
    (["LC-OLIVE-TRADE", "MS-M365-E3", "--unit", "monthly", "--quantity", "ten"], 2, "ten"),
    (
        [
            "LC-OLIVE-TRADE",
            "MS-M365-E3",
            "--unit",
            "monthly",
            "--quantity",
            "1",
            "--add-on",
            "MS-TEAMS-PHONE",
        ],
        2,
        "SKU=N",
    ),
    (
        [
            "LC-OLIVE-TRADE",
            "MS-M365-E3",
            "--unit",
            "monthly",
            "--quantity",
            "1",
            "--add-on",
            "MS-TEAMS-PHONE=0",
        ],
        2,
        "0 is not a quantity from 1 to 1000000000",
    ),
    # bounds and digits the same as in `load` (issue 11 items 4 and 6)
    (
        ["LC-OLIVE-TRADE", "MS-M365-E3", "--unit", "monthly", "--quantity", "3000000000"],
        2,
        "--quantity: 3000000000 is not a quantity from 1 to 1000000000",
    ),
    (
        [
            "LC-OLIVE-TRADE",
            "MS-M365-E3",
            "--unit",
            "monthly",
            "--quantity",
            "1",
            "--add-on",
            "MS-TEAMS-PHONE=99999999999999999999",
        ],
        2,
        "--add-on: 99999999999999999999 is not a quantity from 1 to 1000000000",
    ),
    (
        [
            "LC-OLIVE-TRADE",
            "MS-M365-E3",
            "--unit",
            "monthly",
            "--quantity",
            "1",
            "--add-on",
            "MS-TEAMS-PHONE=\uff12",
        ],
        2,
        "--add-on: must be a quantity from 1 to 1000000000",
    ),
    (
        [
            "LC-OLIVE-TRADE",
            "MS-M365-E3",
            "--unit",
            "monthly",
            "--quantity",
            "1",
            "--add-on",
            "MS-TEAMS-PHONE=1",
            "--add-on",
            "MS-TEAMS-PHONE=2",
        ],
        2,
        "given twice",
    ),
    (
        [
            "LC-OLIVE-TRADE",
            "MS-M365-E3",
            "--unit",
            "monthly",
            "--quantity",
            "1",
            "--start",
            "2025-02-30",
        ],
        2,
        "--start",
    ),
]


@pytest.mark.parametrize(
    ("args", "code", "words"), REFUSALS, ids=[f"{c}-{w}" for _, c, w in REFUSALS]
)
def test_subscription_create_refusals(world, args, code, words):
    before = state(world)
    result = world.cli("subscription", "create", *args, expect=code)
    assert words in result.stderr
    if code == 1:
        assert result.stderr.startswith("Error: ")
    assert state(world) == before


def test_the_missing_price_list_refusal_names_the_fix(world):
    result = world.cli(
        "subscription",
        "create",
        "DIR-ATTICA-RETAIL",
        "MS-M365-E3",
        "--unit",
        "monthly",
        "--quantity",
        "1",
        expect=1,
    )
    assert "tenantctl account set DIR-ATTICA-RETAIL --price-list NAME" in result.stderr


def test_discontinued_products_and_units_are_not_sold_but_keep_running(world):
    discontinue(world, "MS-EXO-P1")
    discontinue(world, "MS-M365-BB", unit="annual")
    discontinue(world, "MS-TEAMS-PHONE")
    before = state(world)
    for args, words in [
        (["MS-EXO-P1", "--unit", "monthly"], "MS-EXO-P1 is discontinued"),
        (["MS-M365-BB", "--unit", "annual"], "MS-M365-BB annual is discontinued"),
    ]:
        result = world.cli(
            "subscription", "create", "LC-OLIVE-TRADE", *args, "--quantity", "1", expect=1
        )
        assert words in result.stderr
    result = world.cli(
        "subscription",
        "create",
        "LC-OLIVE-TRADE",
        "MS-M365-E3",
        "--unit",
        "monthly",
        "--quantity",
        "1",
        "--add-on",
        "MS-TEAMS-PHONE=1",
        expect=1,
    )
    assert "MS-TEAMS-PHONE is discontinued" in result.stderr
    # SUB-LC-0009 (MS-EXO-P1, 40): no more of it is sold, but less may be
    world.cli("subscription", "update", "SUB-LC-0009", "--quantity", "41", expect=1)
    assert state(world) == before
    fewer = world.cli.json("subscription", "update", "SUB-LC-0009", "--quantity", "30")
    assert lines(fewer["orders"][0]) == [("MS-EXO-P1", "monthly", 30, "3.74")]
    # SUB-LC-0006's add-on MS-TEAMS-PHONE (10) may go down, not up
    world.cli("subscription", "update", "SUB-LC-0006", "--add-on", "MS-TEAMS-PHONE=11", expect=1)
    down = world.cli.json("subscription", "update", "SUB-LC-0006", "--add-on", "MS-TEAMS-PHONE=4")
    assert [(o["order_type"], lines(o)) for o in down["orders"]] == [
        ("change", [("MS-TEAMS-PHONE", "monthly", 4, "7.48")])
    ]


def test_update_refusals_change_nothing(world):
    before = state(world)
    for args, code, words in [
        (["SUB-LC-0006", "--add-on", "PANDA-PATCH=1"], 1, "not an add-on of MS-M365-E3"),
        (["SUB-LC-0006", "--add-on", "MS-VISIO-P2=0"], 1, "has no add-on MS-VISIO-P2"),
        (["SUB-LC-0006", "--quantity", "0"], 2, "--quantity"),
        (
            ["SUB-LC-0006", "--add-on", "MS-TEAMS-PHONE=-1"],
            2,
            "--add-on: -1 is not a quantity from 0 to 1000000000",
        ),
        (["SUB-NOPE", "--quantity", "3"], 1, "subscription SUB-NOPE not found"),
        (["99999", "--quantity", "3"], 1, "subscription 99999 not found"),
        (["SUB-LC-0010", "--quantity", "3"], 1, "is cancelled"),  # cancelled in the data set
    ]:
        result = world.cli("subscription", "update", *args, expect=code)
        assert words in result.stderr, args
    world.cli("account", "set", "LC-AEGEAN-TRAVEL", "--no-ordering")
    before = state(world)
    result = world.cli("subscription", "update", "SUB-LC-0006", "--quantity", "30", expect=1)
    assert "not enabled for ordering" in result.stderr
    # a cancellation is not a new sale: it goes through
    assert world.cli.json("subscription", "cancel", "SUB-LC-0006")["status"] == "cancelled"
    assert state(world)[0] != before[0]


# --- root locks: back-ordering records (SPEC section 5) -------------------------------------


def test_managed_customers_are_sold_to_in_the_tenant_not_in_the_root(world):
    manage(world, ["LC-OLIVE-TRADE", "LC-AEGEAN-TRAVEL"], world.lite)
    before = state(world)
    result = world.cli(
        "subscription",
        "create",
        "LC-OLIVE-TRADE",
        "MS-M365-E3",
        "--unit",
        "monthly",
        "--quantity",
        "1",
        expect=1,
    )
    assert "managed by tenant reseller LITECLOUD" in result.stderr
    assert f"tenantctl --org {world.lite} subscription create" in result.stderr
    assert "--storefront" in result.stderr  # still lite: says how the exception works
    for args in (
        ["subscription", "update", "SUB-LC-0003", "--quantity", "16"],
        ["subscription", "update", "SUB-LC-0006", "--add-on", "MS-TEAMS-PHONE=11"],
        ["subscription", "cancel", "SUB-LC-0003"],
        [
            "asset",
            "create",
            "LC-OLIVE-TRADE",
            "MS-AZURE-RI-D2SV5",
            "--kind",
            "azure-reservation",
            "--quantity",
            "1",
        ],
    ):
        result = world.cli(*args, expect=1)
        assert "managed by tenant reseller LITECLOUD" in result.stderr, args
    assert state(world) == before
    # other customers of the distributor are not affected
    sell(world, "LC-THESS-LAW", "MS-EXO-P1", "--unit", "monthly", "--quantity", "1")


def test_a_lite_resellers_storefront_order_is_accepted_until_back_ordering_is_on(world):
    manage(world, ["LC-OLIVE-TRADE"], world.lite, backorder="off")
    sub = sell(
        world,
        "LC-OLIVE-TRADE",
        "MS-M365-E3",
        "--unit",
        "monthly",
        "--quantity",
        "2",
        "--storefront",
    )
    [order] = sub["orders"]
    assert order["origin"] == (
        "placed by reseller LITECLOUD through the storefront of Cloudway Distribution S.A."
    )
    assert order["bill_to"] == "LITECLOUD"
    for state_ in ("on", "paused"):
        manage(world, ["LC-OLIVE-TRADE"], world.lite, backorder=state_)
        result = world.cli(
            "subscription",
            "create",
            "LC-OLIVE-TRADE",
            "MS-M365-E3",
            "--unit",
            "monthly",
            "--quantity",
            "2",
            "--storefront",
            expect=1,
        )
        assert f"its back-ordering is {state_}" in result.stderr
        world.cli(
            "subscription", "update", sub["code"], "--quantity", "3", "--storefront", expect=1
        )
    assert len(orders(world)) == 1


def test_check_can_sell_is_the_one_rule(world):
    manage(world, ["LC-OLIVE-TRADE"], world.lite)
    engine = open_engine(world.db_url)
    try:
        with read_session(engine) as session:
            root = root_org(session)
            managed = get_account(session, root, "LC-OLIVE-TRADE")
            sales.check_can_sell(session, root, managed, storefront=True)
            with pytest.raises(Refused, match="managed by tenant reseller LITECLOUD"):
                sales.check_can_sell(session, root, managed)
            with pytest.raises(Refused, match="not enabled for ordering"):
                sales.check_can_sell(session, root, get_account(session, root, "NORDIC"))
            sales.check_can_sell(
                session, root, get_account(session, root, "NORDIC"), new_sale=False
            )
    finally:
        engine.dispose()


# --- assets -------------------------------------------------------------------------------


def test_asset_create_and_list(world):
    asset = world.cli.json(
        "asset",
        "create",
        "LC-PIRAEUS-SHIP",
        "MS-AZURE-RI-D2SV5",
        "--kind",
        "azure-reservation",
        "--quantity",
        "2",
        "--purchase-date",
        "2025-06-01",
    )
    assert set(asset) == ASSET_KEYS | {"orders"}
    assert (
        asset["code"],
        asset["kind"],
        asset["quantity"],
        asset["purchase_date"],
        asset["status"],
        asset["bill_to"],
    ) == ("AST-000006", "azure-reservation", 2, "2025-06-01", "active", "LITECLOUD")
    [order] = asset["orders"]
    assert (order["order_type"], order["order_date"], lines(order), order["total"]) == (
        "new",
        "2025-06-01",
        [("MS-AZURE-RI-D2SV5", "annual", 2, "611.04")],
        "1222.08",
    )
    listed = world.cli.json("asset", "list", "--account", "LC-PIRAEUS-SHIP")
    assert [a["code"] for a in listed] == ["AST-000006", "AST-LC-0001"]
    assert all(set(a) == ASSET_KEYS for a in listed)
    assert {a["code"] for a in world.cli.json("asset", "list")} >= {
        "AST-D-0001",
        "AST-LC-0004",
        "AST-000006",
    }
    today_asset = world.cli.json(
        "asset",
        "create",
        "LC-PIRAEUS-SHIP",
        "MS-WINSRV-STD-16C",
        "--kind",
        "software-subscription",
        "--quantity",
        "1",
    )
    assert today_asset["purchase_date"] == today().isoformat()


def test_asset_refusals(world):
    before = state(world)
    for args, code, words in [
        (
            ["LC-PIRAEUS-SHIP", "MS-AZURE-RI-D2SV5", "--kind", "hardware", "--quantity", "1"],
            2,
            "--kind: 'hardware'",
        ),
        (
            [
                "LC-PIRAEUS-SHIP",
                "MS-AZURE-RI-D2SV5",
                "--kind",
                "software-subscription",
                "--quantity",
                "1",
            ],
            1,
            "is of type azure-reservation, not software-subscription",
        ),
        (
            ["LC-PIRAEUS-SHIP", "MS-M365-E3", "--kind", "software-subscription", "--quantity", "1"],
            1,
            "is of type license",
        ),
        (
            [
                "LC-PIRAEUS-SHIP",
                "MS-AZURE-RI-D2SV5",
                "--kind",
                "azure-reservation",
                "--quantity",
                "0",
            ],
            2,
            "--quantity",
        ),
        (
            ["NORDIC", "MS-AZURE-RI-D2SV5", "--kind", "azure-reservation", "--quantity", "1"],
            1,
            "not enabled for ordering",
        ),
        (
            [
                "DIR-ATTICA-RETAIL",
                "MS-AZURE-RI-D2SV5",
                "--kind",
                "azure-reservation",
                "--quantity",
                "1",
            ],
            1,
            "has no price list",
        ),
        (
            [
                "LC-PIRAEUS-SHIP",
                "MS-AZURE-RI-D2SV5",
                "--kind",
                "azure-reservation",
                "--quantity",
                "1",
                "--unit",
                "monthly",
            ],
            1,
            "not sold monthly",
        ),
        (
            [
                "LC-PIRAEUS-SHIP",
                "MS-AZURE-RI-D2SV5",
                "--kind",
                "azure-reservation",
                "--quantity",
                "1",
                "--purchase-date",
                "01/06/2025",
            ],
            2,
            "--purchase-date",
        ),
    ]:
        result = world.cli("asset", "create", *args, expect=code)
        assert words in result.stderr, args
    assert state(world) == before


def test_assets_inside_a_tenant(world):
    tenant_customer(world, world.acme)
    asset = world.at_json(
        world.acme,
        "asset",
        "create",
        "CUST",
        "MS-SQL-STD-2C",
        "--kind",
        "software-subscription",
        "--quantity",
        "4",
    )
    assert (asset["code"], lines(asset["orders"][0])) == (
        "AST-000001",
        [("MS-SQL-STD-2C", "annual", 4, "1420.80")],
    )
    assert [a["code"] for a in world.at_json(world.acme, "asset", "list")] == ["AST-000001"]


# --- orders -------------------------------------------------------------------------------


def test_order_list_filters_by_account(world):
    sell(world, "LC-OLIVE-TRADE", "MS-EXO-P1", "--unit", "monthly", "--quantity", "1")
    sell(world, "LC-THESS-LAW", "MS-EXO-P1", "--unit", "monthly", "--quantity", "2")
    listed = world.cli.json("order", "list", "--account", "LC-THESS-LAW")
    assert [(o["account"], lines(o)) for o in listed] == [
        ("LC-THESS-LAW", [("MS-EXO-P1", "monthly", 2, "3.74")])
    ]
    assert world.cli.json("order", "list", "--account", "BETA-CUST") == []
    assert (
        "account 'NOPE' not found"
        in world.cli("order", "list", "--account", "NOPE", expect=1).stderr
    )
    assert [
        s["code"] for s in world.cli.json("subscription", "list", "--account", "LC-THESS-LAW")
    ] == ["SUB-000035", "SUB-LC-0011", "SUB-LC-0012"]


def test_json_listings_are_arrays_of_objects(world):
    subs = world.cli.json("subscription", "list")
    assert isinstance(subs, list) and len(subs) == 33
    assert all(set(s) == SUB_KEYS for s in subs)
    d1 = next(s for s in subs if s["code"] == "SUB-D-0001")
    assert (d1["price"], d1["add_ons"], d1["characteristics"]) == (
        "432.00",
        [{"sku": "MS-TEAMS-PHONE", "product": "Microsoft Teams Phone Standard", "quantity": 40}],
        {"tenant_domain": "hellenicmarine.onmicrosoft.com"},
    )
    assert world.cli.json("order", "list") == []
    assert world.at_json(world.acme, "subscription", "list") == []


# --- pricelist set-price ------------------------------------------------------------------


def test_set_price_writes_one_item_as_a_new_revision(world):
    change = world.cli.json(
        "pricelist", "set-price", PL, "ACR-STORAGE-GB", "--unit", "monthly", "0.095"
    )
    assert change == {
        "price_list": PL,
        "currency": "EUR",
        "sku": "ACR-STORAGE-GB",
        "unit": "monthly",
        "old_price": "0.1",
        "price": "0.095",
        "previous_revision": 1,
        "revision": 2,
    }
    diff = world.cli.json("pricelist", "diff", PL, "--from", "1", "--to", "2")
    assert diff["counts"] == {"added": 0, "changed": 1, "discontinued": 0}
    v1 = world.cli.json("pricelist", "show", PL, "--revision", "1")
    v2 = world.cli.json("pricelist", "show", PL)
    assert len(v1["items"]) == len(v2["items"]) == 49
    assert [i["price"] for i in v1["items"] if i["sku"] == "ACR-STORAGE-GB"] == ["0.1"]
    assert [i["price"] for i in v2["items"] if i["sku"] == "ACR-STORAGE-GB"] == ["0.095"]
    assert [r["items"] for r in v2["revisions"]] == [49, 49]
    # the same price again: no new revision
    same = world.cli.json(
        "pricelist", "set-price", PL, "ACR-STORAGE-GB", "--unit", "monthly", "0.0950"
    )
    assert (same["revision"], same["previous_revision"]) == (None, 2)
    # a product not listed yet is added
    added = world.cli.json(
        "pricelist", "set-price", PL, "OTH-SUPPORT-PREM", "--unit", "annual", "1450"
    )
    assert (added["old_price"], added["revision"]) == (None, 3)
    assert world.cli.json("pricelist", "show", PL)["revisions"][-1]["items"] == 50
    sub = sell(
        world,
        "LC-OLIVE-TRADE",
        "ACR-CPC-STD",
        "--unit",
        "monthly",
        "--quantity",
        "1",
        "--add-on",
        "ACR-STORAGE-GB=1000",
    )
    assert lines(sub["orders"][0])[1] == ("ACR-STORAGE-GB", "monthly", 1000, "0.095")
    assert sub["orders"][0]["total"] == "99.150"


def test_set_price_inside_a_tenant_changes_only_its_retail_list(world):
    world.at(
        world.acme, "pricelist", "set-price", RETAIL, "MS-M365-E3", "--unit", "monthly", "39.90"
    )
    retail = world.at_json(world.acme, "pricelist", "show", RETAIL)
    assert retail["latest_revision"] == 2
    assert [
        i["price"] for i in retail["items"] if (i["sku"], i["unit"]) == ("MS-M365-E3", "monthly")
    ] == ["39.90"]
    # the distributor's list and the other tenant's retail list are untouched
    assert world.cli.json("pricelist", "show", PL)["latest_revision"] == 1
    assert world.at_json(world.lite, "pricelist", "show", RETAIL)["latest_revision"] == 1
    # a tenant's price lists are its own: the distributor's is not found from inside
    result = world.at(
        world.acme, "pricelist", "set-price", PL, "MS-M365-E3", "--unit", "monthly", "1", expect=1
    )
    assert "price list 'Resellers EUR' not found" in result.stderr


def test_set_price_refusals(world):
    discontinue(world, "MS-EXO-P1")
    discontinue(world, "MS-M365-BB", unit="annual")
    before = state(world)
    for args, code, words in [
        ([PL, "MS-EXO-P1", "--unit", "monthly", "4"], 1, "MS-EXO-P1 is discontinued"),
        ([PL, "MS-M365-BB", "--unit", "annual", "60"], 1, "MS-M365-BB annual is discontinued"),
        ([PL, "MS-M365-BB", "--unit", "quarterly", "60"], 1, "is not sold quarterly"),
        ([PL, "NOPE", "--unit", "monthly", "1"], 1, "product 'NOPE' not found"),
        (["Nope EUR", "MS-M365-BP", "--unit", "monthly", "1"], 1, "price list 'Nope EUR'"),
        ([PL, "MS-M365-BP", "--unit", "monthly", "twenty"], 2, "PRICE: 'twenty'"),
        ([PL, "MS-M365-BP", "--unit", "monthly", "1e400"], 2, "PRICE"),
        ([PL, "MS-M365-BP", "--unit", "monthly", "NaN"], 2, "PRICE"),
    ]:
        result = world.cli("pricelist", "set-price", *args, expect=code)
        assert words in result.stderr, args
    # a negative amount reads as an option: bad usage
    world.cli("pricelist", "set-price", PL, "MS-M365-BP", "--unit", "monthly", "-5", expect=2)
    assert state(world) == before


# --- what a person reads ------------------------------------------------------------------


def test_subscription_list_snapshot(world, snapshot):
    sell(
        world,
        "LC-ATHENS-DENTAL",
        "MS-M365-E3",
        "--unit",
        "monthly",
        "--quantity",
        "3",
        "--add-on",
        "MS-TEAMS-PHONE=2",
        "--add-on",
        "MS-TEAMS-AUDIOCONF=1",
    )
    result = world.cli("subscription", "list", "--account", "LC-ATHENS-DENTAL", env=WIDE)
    text = f"--- stdout\n{result.stdout}--- stderr\n{result.stderr}"
    snapshot.assert_match(text.replace(today().isoformat(), "YYYY-MM-DD"), "subscription_list.txt")
    shown = world.cli("subscription", "show", "SUB-LC-0002", env=WIDE)
    snapshot.assert_match(shown.stdout, "subscription_show.txt")
    listed = world.cli("order", "list", env=WIDE)
    assert re.search(r"ORD-000001 .* new .* LC-ATHENS-DENTAL .* 119\.50 ", listed.stdout)


# --- codes under concurrent sales ---------------------------------------------------------


def waiting_on_a_lock(engine, statement: str) -> bool:
    """PostgreSQL: another session of this test's database waits on a lock in STATEMENT."""
    with engine.connect() as conn:
        return bool(
            conn.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND pid <> pg_backend_pid() AND wait_event_type = 'Lock' AND query ILIKE :q"
                ),
                {"q": f"{statement}%"},
            ).scalar_one()
        )


def test_two_sales_at_once_get_distinct_codes(world):
    """A sale whose transaction is still open holds its code; a second sale made meanwhile
    takes the next one. The second is seen waiting on the first before the first commits:
    on PostgreSQL its INSERT waits on the code's unique key (the store shows the lock wait;
    then it collides and retries); on SQLite it has issued BEGIN IMMEDIATE, which cannot
    return while the first transaction holds the write lock."""
    first_engine, second_engine = open_engine(world.db_url), open_engine(world.db_url)
    begun = threading.Event()

    @event.listens_for(second_engine, "before_cursor_execute")
    def _seen(conn, cursor, statement, *args):
        if statement.startswith("BEGIN IMMEDIATE"):
            begun.set()

    results: dict[str, object] = {}

    def second_sale():
        try:
            with write_session(second_engine) as session:
                root = root_org(session)
                results["second"] = sales.create_subscription(
                    session, root, "LC-THESS-LAW", "MS-EXO-P1", unit="monthly", quantity=2
                )
        except BaseException as exc:  # surfaced by the assertion below
            results["error"] = exc

    thread = threading.Thread(target=second_sale)
    try:
        with write_session(first_engine) as session:
            first = sales.create_subscription(
                session,
                root_org(session),
                "LC-OLIVE-TRADE",
                "MS-EXO-P1",
                unit="monthly",
                quantity=1,
            )
            thread.start()
            if PG_SERVER:
                wait_until(
                    lambda: waiting_on_a_lock(first_engine, "INSERT INTO subscription"),
                    "the second sale to wait on the first one's code",
                )
            else:
                wait_until(begun.is_set, "the second sale to ask for the write lock")
            assert "second" not in results and "error" not in results
        thread.join(timeout=60)  # only a guard: it can go on as soon as the first commits
        assert not thread.is_alive() and "error" not in results, results.get("error")
    finally:
        first_engine.dispose()
        second_engine.dispose()
    second = results["second"]
    assert (first.subscription.code, second.subscription.code) == ("SUB-000034", "SUB-000035")
    assert (first.orders[0].number, second.orders[0].number) == ("ORD-000001", "ORD-000002")
    assert [o["number"] for o in orders(world)] == ["ORD-000001", "ORD-000002"]


def test_a_sale_is_priced_from_the_revision_in_effect_on_its_date(world):
    """A revision scheduled for later (`pricelist import --effective`) prices what starts
    from then on, not what is sold today; and no price is set on top of it meanwhile."""
    later = today() + timedelta(days=30)
    with world.write() as session:
        price_list = get_price_list(session, root_org(session), PL)
        listed = catalogue.listed_items(session, price_list.id)
        items = {
            key: catalogue.PriceRow(i.sku, i.name, i.platform, i.unit, i.price)
            for key, i in listed.items()
        }
        items[("MS-M365-E3", "monthly")] = replace(
            items[("MS-M365-E3", "monthly")], price=Decimal("35.00")
        )
        catalogue.record_revision(
            session,
            price_list,
            items,
            {i.sku: i.product_id for i in listed.values()},
            source="scheduled",
            effective=later,
        )
    now = sell(world, "LC-OLIVE-TRADE", "MS-M365-E3", "--unit", "monthly", "--quantity", "1")
    then = sell(
        world,
        "LC-OLIVE-TRADE",
        "MS-M365-E3",
        "--unit",
        "monthly",
        "--quantity",
        "1",
        "--start",
        later.isoformat(),
    )
    assert (now["price"], then["price"]) == ("33.60", "35.00")
    assert (
        world.cli.json("subscription", "update", now["code"], "--add-on", "MS-TEAMS-PHONE=1")[
            "orders"
        ][0]["lines"][0]["price"]
        == "7.48"
    )
    result = world.cli(
        "pricelist", "set-price", PL, "MS-M365-BP", "--unit", "monthly", "21", expect=1
    )
    assert f"scheduled for {later.isoformat()}" in result.stderr
