"""Acting inside a tenant (SPEC section 9), the security side: a wrong login is refused
with one message; nothing of another org is visible or changeable from inside a tenant,
even by id; distributor-only commands refuse to run there; the tenant's password appears
in no output."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from sqlalchemy import select

from tenantctl.domain import sales
from tenantctl.domain.orgs import root_org
from tenantctl.errors import NotFound, Refused
from tenantctl.store.engine import open_engine, read_session, write_session
from tenantctl.store.models import (
    Account,
    Organisation,
    PriceList,
    Product,
    Subscription,
    SubscriptionAddon,
)
from tests.conftest import FIXTURES
from tests.world import PASSWORD, PL, RETAIL, USER_ENV, tenant_customer

# `world` (conftest.py): the data set and two tenants, ACME and LITECLOUD (tests/world.py).

REFUSED = "Error: login refused: wrong client id, user name or password"


def root_state(world) -> tuple:
    """The root org's sales and accounts, as the distributor sees them."""
    return tuple(
        world.cli.json(*args)
        for args in (
            ["subscription", "list"],
            ["order", "list"],
            ["asset", "list"],
            ["account", "list"],
            ["pricelist", "list"],
            ["product", "list"],
        )
    )


def ids(world) -> dict:
    engine = open_engine(world.db_url)
    try:
        with read_session(engine) as session:
            root = root_org(session)

            def first(model, *where):
                return (
                    session.execute(select(model.id).where(model.org_id == root.id, *where))
                    .scalars()
                    .first()
                )

            return {
                "root": root.id,
                "account": first(Account, Account.code == "BETA-CUST"),
                "subscription": first(Subscription, Subscription.code == "SUB-D-0001"),
                "product": first(Product, Product.sku == "OTH-SUPPORT-PREM"),
                "price_list": first(PriceList, PriceList.name == PL),
                "acme": session.execute(
                    select(Organisation.id).where(Organisation.client_id == world.acme)
                ).scalar_one(),
            }
    finally:
        engine.dispose()


# --- logging in ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("client", "user", "password"),
    [
        ("acme", "admin", "wrong-password-123"),
        ("acme", "nobody", PASSWORD),
        ("acme", "ADMIN", PASSWORD),
        ("unknown", "admin", PASSWORD),
        ("lite-with-acme-user", "admin", PASSWORD + "x"),
        ("empty", "admin", PASSWORD),
    ],
)
def test_a_wrong_login_is_refused_with_one_message(world, client, user, password):
    client_id = {
        "acme": world.acme,
        "unknown": "0" * 32,
        "lite-with-acme-user": world.lite,
        "empty": "",
    }[client]
    result = world.cli(
        "--org",
        client_id,
        "account",
        "list",
        expect=1,
        env={"TENANTCTL_USER": user, "TENANTCTL_PASSWORD": password},
    )
    assert result.stderr.strip() == REFUSED
    assert result.stdout == ""


def test_credentials_come_from_the_environment_without_a_terminal(world):
    result = world.cli(
        "--org",
        world.acme,
        "account",
        "list",
        expect=2,
        env={"TENANTCTL_USER": None, "TENANTCTL_PASSWORD": None},
    )
    assert "set TENANTCTL_USER" in result.stderr
    result = world.cli(
        "--org",
        world.acme,
        "account",
        "list",
        expect=2,
        env={"TENANTCTL_USER": "admin", "TENANTCTL_PASSWORD": None},
    )
    assert "set TENANTCTL_PASSWORD" in result.stderr
    # TENANTCTL_ORG works like --org
    assert world.cli.json("account", "list", env={**USER_ENV, "TENANTCTL_ORG": world.acme}) == []


# --- nothing of another org ----------------------------------------------------------------


def test_a_tenant_sees_only_its_own_rows(world):
    assert world.at_json(world.acme, "account", "list") == []
    assert world.at_json(world.acme, "subscription", "list") == []
    assert world.at_json(world.acme, "order", "list") == []
    assert world.at_json(world.acme, "asset", "list") == []
    assert [p["name"] for p in world.at_json(world.acme, "pricelist", "list")] == [RETAIL]
    products = {p["sku"] for p in world.at_json(world.acme, "product", "list")}
    listed = {i["sku"] for i in world.cli.json("pricelist", "show", PL)["items"]}
    assert products == listed and "OTH-SUPPORT-PREM" not in products
    # what one tenant sells stays in it
    tenant_customer(world, world.lite, "LITE-CUST")
    world.at(
        world.lite,
        "subscription",
        "create",
        "LITE-CUST",
        "MS-EXO-P1",
        "--unit",
        "monthly",
        "--quantity",
        "1",
    )
    assert world.at_json(world.acme, "subscription", "list") == []
    assert world.at_json(world.acme, "account", "list") == []
    assert world.at_json(world.acme, "order", "list") == []
    assert "LITE-CUST" not in [a["code"] for a in world.cli.json("account", "list")]


def test_root_rows_are_not_found_from_a_tenant_even_by_id(world):
    known = ids(world)
    tenant_customer(world, world.acme)
    before = root_state(world)
    for args, words in [
        (["account", "show", "BETA-CUST"], "account 'BETA-CUST' not found"),
        (["account", "set", "BETA-CUST", "--name", "Hijacked"], "account 'BETA-CUST' not found"),
        (["account", "set", "CUST", "--price-list", PL], f"price list '{PL}' not found"),
        (["subscription", "show", "SUB-D-0001"], "subscription SUB-D-0001 not found"),
        (["subscription", "show", str(known["subscription"])], "not found"),
        (["subscription", "update", str(known["subscription"]), "--quantity", "999"], "not found"),
        (["subscription", "update", "SUB-D-0001", "--paid"], "not found"),
        (["subscription", "cancel", str(known["subscription"])], "not found"),
        (["subscription", "cancel", "SUB-D-0001"], "not found"),
        (
            [
                "subscription",
                "create",
                "BETA-CUST",
                "MS-EXO-P1",
                "--unit",
                "monthly",
                "--quantity",
                "1",
            ],
            "account 'BETA-CUST' not found",
        ),
        (
            [
                "subscription",
                "create",
                "CUST",
                "OTH-SUPPORT-PREM",
                "--unit",
                "monthly",
                "--quantity",
                "1",
            ],
            "product 'OTH-SUPPORT-PREM' not found",
        ),
        (["subscription", "list", "--account", "BETA-CUST"], "not found"),
        (["order", "list", "--account", "BETA-CUST"], "not found"),
        (["asset", "list", "--account", "DIR-HELLENIC-MARINE"], "not found"),
        (
            [
                "asset",
                "create",
                "DIR-HELLENIC-MARINE",
                "MS-SQL-STD-2C",
                "--kind",
                "software-subscription",
                "--quantity",
                "1",
            ],
            "not found",
        ),
        (["product", "show", "OTH-SUPPORT-PREM"], "product 'OTH-SUPPORT-PREM' not found"),
        (["pricelist", "show", PL], f"price list '{PL}' not found"),
        (["pricelist", "set-price", PL, "MS-M365-E3", "--unit", "monthly", "0.01"], "not found"),
    ]:
        result = world.at(world.acme, *args, expect=1)
        assert words in result.stderr, args
    result = world.at(
        world.acme, "account", "create", "X1", "--name", "X", "--bill-to", "LITECLOUD", expect=2
    )
    assert "--bill-to: account 'LITECLOUD' not found" in result.stderr
    assert root_state(world) == before


def test_another_tenants_subscription_is_not_found_by_id(world):
    tenant_customer(world, world.lite, "LITE-CUST")
    theirs = world.at_json(
        world.lite,
        "subscription",
        "create",
        "LITE-CUST",
        "MS-EXO-P1",
        "--unit",
        "monthly",
        "--quantity",
        "3",
    )
    assert "id" not in theirs  # a tenant never sees a global row id
    with world.write() as session:
        their_id = session.execute(
            select(Subscription.id)
            .join(Organisation, Organisation.id == Subscription.org_id)
            .where(Subscription.code == theirs["code"], Organisation.client_id == world.lite)
        ).scalar_one()
    for args in (
        ["subscription", "show", str(their_id)],
        ["subscription", "update", str(their_id), "--quantity", "1"],
        ["subscription", "cancel", str(their_id)],
    ):
        assert "not found" in world.at(world.acme, *args, expect=1).stderr
    assert world.at_json(world.lite, "subscription", "show", theirs["code"]) == {
        k: v for k, v in theirs.items() if k not in ("orders", "changed")
    }


def test_a_scoped_session_cannot_reach_another_org(world):
    known = ids(world)
    engine = open_engine(world.db_url)
    try:
        with read_session(engine, org_id=known["acme"]) as session:
            for model in ("account", "subscription", "product", "price_list"):
                cls = {
                    "account": Account,
                    "subscription": Subscription,
                    "product": Product,
                    "price_list": PriceList,
                }[model]
                assert session.get(cls, known[model]) is None, model
            assert session.get(Organisation, known["root"]) is None
            tenant = session.get(Organisation, known["acme"])
            with pytest.raises(NotFound):
                sales.get_subscription(session, tenant, str(known["subscription"]))
            with pytest.raises(Refused, match="bare tables"):
                session.execute(select(Account.__table__.c.code))
        with (
            pytest.raises(Refused, match="another organisation"),
            write_session(engine, org_id=known["acme"]) as session,
        ):
            session.add(
                Account(
                    org_id=known["root"], code="PLANTED", name="x", currency="EUR", country="GR"
                )
            )
        with read_session(engine) as session:
            assert session.execute(select(Account).where(Account.code == "PLANTED")).first() is None
    finally:
        engine.dispose()


def test_a_scoped_session_cannot_attach_a_child_row_to_another_orgs_parent(world):
    known = ids(world)
    engine = open_engine(world.db_url)
    try:
        with pytest.raises(Refused), write_session(engine, org_id=known["acme"]) as session:
            session.add(
                SubscriptionAddon(
                    subscription_id=known["subscription"], product_id=known["product"], quantity=1
                )
            )
    finally:
        engine.dispose()


# A process that has mapped none of the tables (a command maps those it uses, when it first
# names them): the scoping maps every table it scopes when a scoped session opens, so a
# table the command names later is scoped all the same.
_FRESH_PROCESS = """
import json, sys
from sqlalchemy import select
import tenantctl.store.scoping
from tenantctl.errors import Refused
from tenantctl.store import models as m
from tenantctl.store.engine import open_engine, read_session, write_session

known = json.loads(sys.argv[2])
def mapped():
    return sorted(n for n in sys.modules if n.startswith("tenantctl.store.models."))
out = {"at_import": mapped()}
engine = open_engine(sys.argv[1])
with read_session(engine, org_id=known["acme"]) as session:
    out["at_open"] = mapped()
    out["subscription"] = session.get(m.Subscription, known["subscription"]) is not None
    out["accounts"] = session.execute(select(m.Account.code)).scalars().all()
    out["items"] = session.execute(
        select(m.PriceListItem.id).where(m.PriceListItem.product_id == known["product"])
    ).all()
with read_session(engine) as session:  # the distributor's: what the scoping hides
    out["root_items"] = len(session.execute(
        select(m.PriceListItem.id).where(m.PriceListItem.product_id == known["product"])
    ).all())
try:
    with write_session(engine, org_id=known["acme"]) as session:
        session.add(m.Contact(account_id=known["account"], name="Planted"))
    out["planted"] = True
except Refused:
    out["planted"] = False
print(json.dumps(out))
"""


def test_a_fresh_process_scopes_the_tables_it_maps_after_the_session_opened(world):
    known = ids(world)
    run = subprocess.run(
        [sys.executable, "-c", _FRESH_PROCESS, world.db_url, json.dumps(known)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout)
    assert out["at_import"] == []
    assert out["at_open"] == sorted(
        f"tenantctl.store.models.{name}"
        for name in ("account_details", "accounts", "backorder", "billing", "catalogue", "orgs")
        + ("price_lists", "sales", "settings", "tenants", "updates", "users")
    )
    assert out == {**out, "subscription": False, "accounts": [], "items": [], "planted": False}
    assert out["root_items"] > 0


# --- distributor-only commands ------------------------------------------------------------

# The store-wide commands: every other command acts inside a tenant on its own rows and its
# own tenants (tests/test_every_level.py).
DISTRIBUTOR_ONLY = [
    ["worker", "--once"],
    ["db", "current"],
    ["db", "upgrade"],
    ["demo"],
    ["load", str(FIXTURES / "distributor.yaml")],
]


@pytest.mark.parametrize("args", DISTRIBUTOR_ONLY, ids=lambda a: " ".join(a[:2]).split(" /")[0])
@pytest.mark.parametrize("password", ["right", "wrong"])
def test_distributor_commands_refuse_inside_a_tenant(world, args, password):
    before = root_state(world)
    result = world.cli(
        "--org",
        world.acme,
        *args,
        expect=None,
        env={
            "TENANTCTL_ADMIN_PASSWORD": PASSWORD,
            **USER_ENV,
            **({"TENANTCTL_PASSWORD": "wrong-password"} if password == "wrong" else {}),
        },
    )
    assert result.exit_code == 1, result.stderr
    assert "is a distributor command" in result.stderr
    assert result.stdout == ""
    assert root_state(world) == before


# --- the password -------------------------------------------------------------------------


def test_the_tenant_password_appears_in_no_output(world):
    outputs = []

    def run(*args, client=world.acme, env=None, expect=None):
        result = world.cli(
            "-v", "--org", client, *args, expect=expect, env={**USER_ENV, **(env or {})}
        )
        outputs.append(result.stdout + result.stderr)
        return result

    run("account", "create", "CUST", "--name", "Customer")
    run("account", "set", "CUST", "--price-list", RETAIL)
    run(
        "--json",
        "subscription",
        "create",
        "CUST",
        "MS-EXO-P1",
        "--unit",
        "monthly",
        "--quantity",
        "2",
    )
    run("subscription", "list")
    run("--json", "order", "list")
    run("subscription", "show", "SUB-D-0001")  # not found, with a traceback
    run("subscription", "create", "CUST", "NOPE", "--unit", "monthly", "--quantity", "1")
    run("account", "list", env={"TENANTCTL_PASSWORD": PASSWORD + "-typo"})  # refused login
    run("account", "list", client="0" * 32)
    run("tenant", "list")  # its own tenants: none
    run("process", "show", "1")  # the root's process: not found
    for args in (
        ["tenant", "show", "ACME"],
        ["process", "list"],
        ["process", "show", "1"],
        ["process", "logs", "1"],
    ):
        for json_flag in ([], ["--json"]):
            result = world.cli("-v", *json_flag, *args)
            outputs.append(result.stdout + result.stderr)
    assert any("Traceback" in text for text in outputs)  # -v really showed tracebacks
    for text in outputs:
        assert PASSWORD not in text
    assert all(PASSWORD not in json.dumps(p) for p in world.cli.json("process", "list"))
