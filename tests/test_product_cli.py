"""`tenantctl product set` and `product delete` through the CLI (SPEC section 6, last
paragraph): inside a tenant (`--org`), what the product policy allows of an inherited
product is done, what it forbids is refused naming the rule (exit 1) with the product left
as it was; the tenant's own products may be changed and deleted; bad input exits 2.

The domain rules themselves are tested in test_policy.py; these tests are the commands'.
"""

from __future__ import annotations

import pytest

from tenantctl.domain.policy import rules
from tests.world import tenant_customer

SKU = "MS-M365-BP"  # inherited by ACME from the "Resellers EUR" price list
OWN = "OWN-CONSULTING"


def one_line(text: str) -> str:
    return " ".join(text.split())


def show(world, sku: str, client_id: str | None = None) -> dict:
    if client_id:
        return world.at_json(client_id, "product", "show", sku)
    return world.cli.json("product", "show", sku)


def skus(world, client_id: str) -> list[str]:
    return [p["sku"] for p in world.at_json(client_id, "product", "list")]


def add_own_product(world, client_id: str) -> None:
    """A product of the tenant's own, sold monthly, made with `product create`."""
    world.at(
        client_id,
        "product",
        "create",
        OWN,
        "--name",
        "Consulting hour",
        "--platform",
        "other",
        "--unit",
        "monthly",
    )


# --- product set -------------------------------------------------------------------------------


def test_set_changes_what_the_policy_allows_on_an_inherited_product(world):
    before = show(world, SKU, world.acme)
    assert before["visible"] is True
    changed = world.at_json(
        world.acme,
        "product",
        "set",
        SKU,
        "--name",
        "Business Premium",
        "--description",
        "Our best seller",
        "--category",
        "Productivity",
        "--hidden",
    )
    expected = {
        **before,
        "name": "Business Premium",
        "description": "Our best seller",
        "category": "Productivity",
        "visible": False,
    }
    assert changed == expected
    assert show(world, SKU, world.acme) == expected
    # The distributor's product is the distributor's: unchanged.
    root = show(world, SKU)
    assert (root["name"], root["description"], root["visible"]) == (before["name"], None, True)

    plain = world.at(world.acme, "product", "set", SKU, "--visible")
    assert (plain.stdout, plain.stderr.strip()) == ("", f"Product {SKU} changed.")
    assert show(world, SKU, world.acme)["visible"] is True


FORBIDDEN = [  # (options, the policy rule that forbids them)
    (["--new-sku", "RENAMED-SKU"], "sku"),
    (["--platform", "other"], "platform"),
    (["--add-on-of", "MS-M365-E3"], "add_on_of"),
    (["--add-unit", "quarterly"], "units"),
    (["--remove-unit", "monthly"], "units"),
    (["--purchase-price", "monthly=0.01"], "purchase_price"),
    (["--name", "Allowed", "--platform", "other"], "platform"),  # all or nothing
]


@pytest.mark.parametrize(("options", "rule"), FORBIDDEN, ids=[" ".join(o) for o, _ in FORBIDDEN])
def test_set_refuses_what_the_policy_forbids_naming_the_rule(world, options, rule):
    before = show(world, SKU, world.acme)
    result = world.at(world.acme, "product", "set", SKU, *options, expect=1)
    assert result.stdout == ""
    action = "changing its " + rule
    assert one_line(result.stderr) == (
        f"Error: product {SKU}: {action} is refused by the product policy (rule '{rule}' in "
        f"config/policy.yaml: {one_line(rules()[rule].reason)})"
    )
    assert show(world, SKU, world.acme) == before


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ([], "name at least one thing to change"),
        (["--purchase-price", "monthly=lots"], "--purchase-price"),
        (["--purchase-price", "monthly=-1"], "--purchase-price"),
    ],
)
def test_set_bad_input_exits_2_and_changes_nothing(world, options, words):
    add_own_product(world, world.acme)
    before = show(world, OWN, world.acme)
    result = world.at(world.acme, "product", "set", OWN, *options, expect=2)
    assert words in result.stderr
    assert show(world, OWN, world.acme) == before


def test_set_an_unknown_product_is_not_found(world):
    result = world.at(world.acme, "product", "set", "NO-SUCH-SKU", "--name", "x", expect=1)
    assert "NO-SUCH-SKU" in result.stderr


def test_the_tenants_own_product_may_be_changed_in_every_way(world):
    add_own_product(world, world.acme)
    changed = world.at_json(
        world.acme,
        "product",
        "set",
        OWN,
        "--new-sku",
        "OWN-CONSULT",
        "--platform",
        "oss",
        "--add-unit",
        "annual",
        "--purchase-price",
        "monthly=12.50",
        "--name",
        "Consulting, per hour",
    )
    assert (changed["sku"], changed["platform"], changed["name"]) == (
        "OWN-CONSULT",
        "oss",
        "Consulting, per hour",
    )
    assert sorted((u["unit"], u["status"], u["cost_price"]) for u in changed["units"]) == [
        ("annual", "active", None),
        ("monthly", "active", "12.50"),
    ]
    assert show(world, "OWN-CONSULT", world.acme) == changed
    assert OWN not in skus(world, world.acme)


# --- product delete ----------------------------------------------------------------------------


def test_delete_refuses_an_inherited_product(world):
    before = show(world, SKU, world.acme)
    result = world.at(world.acme, "product", "delete", SKU, expect=1)
    assert one_line(result.stderr) == (
        f"Error: product {SKU}: deleting it is refused by the product policy (rule 'delete' "
        f"in config/policy.yaml: {one_line(rules()['delete'].reason)})"
    )
    assert show(world, SKU, world.acme) == before


def test_delete_removes_the_tenants_own_product(world):
    add_own_product(world, world.acme)
    assert OWN in skus(world, world.acme)
    assert world.at_json(world.acme, "product", "delete", OWN) == {"sku": OWN, "deleted": True}
    assert OWN not in skus(world, world.acme)
    world.at(world.acme, "product", "show", OWN, expect=1)
    # Gone for good: deleting it again finds nothing.
    result = world.at(world.acme, "product", "delete", OWN, expect=1)
    assert OWN in result.stderr


def test_delete_refuses_an_own_product_in_use(world):
    add_own_product(world, world.acme)
    tenant_customer(world, world.acme, price_list=None)
    world.at(world.acme, "pricelist", "set-price", "Retail EUR", OWN, "--unit", "monthly", "30.00")
    world.at(world.acme, "account", "set", "CUST", "--price-list", "Retail EUR")
    world.at_json(
        world.acme, "subscription", "create", "CUST", OWN, "--unit", "monthly", "--quantity", "2"
    )
    result = world.at(world.acme, "product", "delete", OWN, expect=1)
    assert one_line(result.stderr) == (
        f"Error: product {OWN} is in use by 1 subscription: discontinue it instead"
    )
    assert OWN in skus(world, world.acme)
