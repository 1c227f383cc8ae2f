"""`tenantctl account create` and `account set` (SPEC sections 1, 5 and 9), in the root and
inside a tenant: every option, and every validation error with its exit code and a store
left as it was."""

from __future__ import annotations

import re

import pytest

from tests.world import PL, RETAIL

# `world` (conftest.py): the data set and two tenants, ACME and LITECLOUD (tests/world.py).

DETAIL_KEYS = {
    "code",
    "name",
    "kind",
    "bill_to",
    "ordering_enabled",
    "currency",
    "country",
    "accounting_number",
    "email",
    "billing_address",
    "price_list",
    "billing_day",
    "payment_method",
    "credit_limit",
    "invoicing_options",
    "separate_invoices",
    "contacts",
    "sync",
    "managed_by",
    "backorder_state",
}


def show(world, code: str, client_id: str | None = None) -> dict:
    if client_id:
        return world.at_json(client_id, "account", "show", code)
    return world.cli.json("account", "show", code)


def codes(world, client_id: str | None = None) -> list[str]:
    rows = (
        world.at_json(client_id, "account", "list")
        if client_id
        else world.cli.json("account", "list")
    )
    return [a["code"] for a in rows]


# --- account create -----------------------------------------------------------------------


def test_create_with_every_option(world):
    created = world.cli.json(
        "account",
        "create",
        "LC-NEW-CLINIC",
        "--name",
        "New Clinic",
        "--kind",
        "customer",
        "--bill-to",
        "LITECLOUD",
        "--currency",
        "eur",
        "--country",
        "cy",
        "--email",
        "it@newclinic.example",
        "--accounting-number",
        "CY123",
        "--billing-address",
        "1 Main St, Nicosia",
        "--no-ordering",
    )
    assert set(created) == DETAIL_KEYS
    assert created == {
        "code": "LC-NEW-CLINIC",
        "name": "New Clinic",
        "kind": "customer",
        "bill_to": "LITECLOUD",
        "ordering_enabled": False,
        "currency": "EUR",
        "country": "CY",
        "accounting_number": "CY123",
        "email": "it@newclinic.example",
        "billing_address": "1 Main St, Nicosia",
        "price_list": None,
        "billing_day": 1,
        "payment_method": "invoice",
        "credit_limit": None,
        "invoicing_options": None,
        "separate_invoices": False,
        "contacts": [],
        "sync": [],
        "managed_by": None,
        "backorder_state": None,
    }
    assert show(world, "LC-NEW-CLINIC") == created
    assert "LC-NEW-CLINIC" in [
        a["code"] for a in world.cli.json("account", "list", "--bill-to", "LITECLOUD")
    ]


def test_create_takes_the_orgs_currency_and_country_by_default(world):
    plain = world.cli.json("account", "create", "NEWCO", "--name", "NewCo")
    assert (
        plain["kind"],
        plain["currency"],
        plain["country"],
        plain["ordering_enabled"],
        plain["bill_to"],
    ) == ("customer", "EUR", "GR", True, None)
    reseller = world.cli.json(
        "account", "create", "NEWRES", "--name", "New Reseller", "--kind", "reseller"
    )
    assert reseller["kind"] == "reseller"
    # a sub-customer is billed in its reseller's currency
    sub = world.cli.json("account", "create", "UK-SUB", "--name", "UK Sub", "--bill-to", "UKSERVE")
    assert (sub["currency"], sub["bill_to"]) == ("GBP", "UKSERVE")
    # and may be sold to once it has a price list of its currency
    world.cli("account", "set", "NEWCO", "--price-list", PL)
    world.cli(
        "subscription", "create", "NEWCO", "MS-EXO-P1", "--unit", "monthly", "--quantity", "1"
    )


def test_create_inside_a_tenant(world):
    created = world.at_json(
        world.acme,
        "account",
        "create",
        "BETA-CUST",
        "--name",
        "The tenant's own Beta",
        "--email",
        "beta@tenant.example",
    )
    assert (created["currency"], created["country"]) == ("EUR", "GR")  # the tenant's
    assert codes(world, world.acme) == ["BETA-CUST"]
    # codes are unique per org: the root's BETA-CUST is another account, untouched
    assert show(world, "BETA-CUST")["name"] == "Beta Logistics Ltd"
    assert codes(world, world.lite) == []
    world.at(
        world.acme, "account", "create", "ACME-RES", "--name", "Sub-reseller", "--kind", "reseller"
    )
    sub = world.at_json(
        world.acme, "account", "create", "ACME-SUB", "--name", "Sub", "--bill-to", "ACME-RES"
    )
    assert sub["bill_to"] == "ACME-RES"
    # a root account is no bill-to inside the tenant
    result = world.at(
        world.acme, "account", "create", "X1", "--name", "X", "--bill-to", "LITECLOUD", expect=2
    )
    assert "--bill-to: account 'LITECLOUD' not found" in result.stderr


CREATE_ERRORS = [
    (["A B", "--name", "x"], "CODE: 'A B'"),
    (["ÄB", "--name", "x"], "CODE: 'ÄB'"),
    (["X" * 65, "--name", "x"], "CODE:"),
    (["NEW1", "--name", "   "], "--name: is empty"),
    (["NEW1", "--name", "n" * 201], "--name: is longer than 200"),
    (["NEW1", "--name", "x", "--kind", "partner"], "--kind: 'partner' is not one of"),
    (["NEW1", "--name", "x", "--bill-to", "NOPE"], "--bill-to: account 'NOPE' not found"),
    (["NEW1", "--name", "x", "--bill-to", "BETA-CUST"], "BETA-CUST is a customer, not a reseller"),
    (["NEW1", "--name", "x", "--bill-to", "NEW1"], "cannot be billed to itself"),
    (
        ["NEW1", "--name", "x", "--bill-to", "UKSERVE", "--currency", "EUR"],
        "billed in GBP, not EUR",
    ),
    (["NEW1", "--name", "x", "--currency", "EURO"], "--currency: 'EURO'"),
    (["NEW1", "--name", "x", "--currency", "XYZ"], "--currency: 'XYZ'"),
    (["NEW1", "--name", "x", "--country", "GRC"], "--country: 'GRC'"),
    (["NEW1", "--name", "x", "--country", "ZZ"], "--country: 'ZZ'"),
    (["NEW1", "--name", "x", "--email", "not-an-email"], "--email: 'not-an-email'"),
    (["NEW1", "--name", "x", "--billing-address", "a" * 501], "--billing-address: is longer"),
    (["NEW1", "--name", "x", "--accounting-number", "1" * 65], "--accounting-number: is longer"),
]


@pytest.mark.parametrize(
    ("args", "words"),
    CREATE_ERRORS,
    ids=[w.split(":")[0] + str(i) for i, (_, w) in enumerate(CREATE_ERRORS)],
)
def test_create_validation_errors_exit_2(world, args, words):
    before = codes(world)
    result = world.cli("account", "create", *args, expect=2)
    assert words in result.stderr
    assert "nothing was created" in result.stderr
    assert codes(world) == before


def test_create_lists_every_problem_at_once(world):
    result = world.cli(
        "account",
        "create",
        "NEW1",
        "--name",
        "x",
        "--kind",
        "partner",
        "--currency",
        "EURO",
        "--email",
        "nope",
        expect=2,
    )
    for words in ("--kind", "--currency", "--email"):
        assert words in result.stderr


def test_create_an_existing_code_is_a_conflict(world):
    result = world.cli("account", "create", "ACME", "--name", "Again", expect=1)
    assert "account ACME already exists" in result.stderr
    assert "tenantctl account set ACME" in result.stderr
    assert show(world, "ACME")["name"] == "Acme Cloud Solutions S.A."


# --- account set --------------------------------------------------------------------------


def test_set_every_option(world):
    result = world.cli.json(
        "account",
        "set",
        "DIR-ATTICA-RETAIL",
        "--name",
        "Attica Retail Group S.A.",
        "--email",
        "ap@atticaretail.gr",
        "--billing-address",
        "Ermou 58, Athens",
        "--accounting-number",
        "EL12345",
        "--price-list",
        "Premium Resellers EUR",
        "--billing-day",
        "28",
        "--payment-method",
        "credit-card",
        "--credit-limit",
        "1234.50",
        "--invoicing-options",
        "quarterly",
        "--separate-invoices",
        "--no-ordering",
        "--add-contact",
        "Maria Papa <maria@atticaretail.gr>",
    )
    assert set(result) == DETAIL_KEYS | {"changed"}
    assert sorted(result["changed"]) == sorted(
        [
            "name",
            "email",
            "billing_address",
            "accounting_number",
            "ordering_enabled",
            "separate_invoices",
            "billing_day",
            "payment_method",
            "credit_limit",
            "price_list",
            "invoicing_options",
            "contacts",
        ]
    )
    detail = show(world, "DIR-ATTICA-RETAIL")
    assert {
        k: detail[k]
        for k in (
            "name",
            "email",
            "billing_address",
            "accounting_number",
            "price_list",
            "billing_day",
            "payment_method",
            "credit_limit",
            "invoicing_options",
            "separate_invoices",
            "ordering_enabled",
        )
    } == {
        "name": "Attica Retail Group S.A.",
        "email": "ap@atticaretail.gr",
        "billing_address": "Ermou 58, Athens",
        "accounting_number": "EL12345",
        "price_list": "Premium Resellers EUR",
        "billing_day": 28,
        "payment_method": "credit-card",
        "credit_limit": "1234.50",
        "invoicing_options": "quarterly",
        "separate_invoices": True,
        "ordering_enabled": False,
    }
    assert [c["email"] for c in detail["contacts"]] == [
        "it@atticaretail.gr",
        "maria@atticaretail.gr",
    ]
    # the same again changes nothing
    again = world.cli("account", "set", "DIR-ATTICA-RETAIL", "--billing-day", "28", "--no-ordering")
    assert "nothing changed" in again.stderr
    # the flags switch back; an empty text clears an optional field
    cleared = world.cli.json(
        "account",
        "set",
        "DIR-ATTICA-RETAIL",
        "--ordering",
        "--no-separate-invoices",
        "--email",
        "",
        "--credit-limit",
        "",
        "--price-list",
        "",
        "--invoicing-options",
        "",
    )
    assert (
        cleared["ordering_enabled"],
        cleared["separate_invoices"],
        cleared["email"],
        cleared["credit_limit"],
        cleared["price_list"],
        cleared["invoicing_options"],
    ) == (True, False, None, None, None, None)


def test_credit_limits_are_exact(world):
    world.cli("account", "set", "BETA-CUST", "--credit-limit", "0.10")
    assert show(world, "BETA-CUST")["credit_limit"] == "0.10"
    world.cli("account", "set", "BETA-CUST", "--credit-limit", "99999999999999.99")
    assert show(world, "BETA-CUST")["credit_limit"] == "99999999999999.99"


def test_contacts_are_added_renamed_and_removed_by_email(world):
    world.cli(
        "account",
        "set",
        "BETA-CUST",
        "--add-contact",
        "Anna Karra <anna@beta.example>",
        "--add-contact",
        "  Bob  <bob@beta.example> ",
    )
    assert [(c["name"], c["email"]) for c in show(world, "BETA-CUST")["contacts"]] == [
        ("Christos Georgiades", "it@betalogistics.com.cy"),
        ("Anna Karra", "anna@beta.example"),
        ("Bob", "bob@beta.example"),
    ]
    renamed = world.cli.json(
        "account",
        "set",
        "BETA-CUST",
        "--add-contact",
        "Anna Karra-Lee <ANNA@beta.example>",
        "--remove-contact",
        "bob@beta.example",
    )
    assert renamed["changed"] == ["contacts"]
    assert [(c["name"], c["email"]) for c in renamed["contacts"]] == [
        ("Christos Georgiades", "it@betalogistics.com.cy"),
        ("Anna Karra-Lee", "anna@beta.example"),
    ]
    same = world.cli.json(
        "account", "set", "BETA-CUST", "--add-contact", "Anna Karra-Lee <anna@beta.example>"
    )
    assert same["changed"] == []


def test_set_inside_a_tenant_takes_the_tenants_price_lists_only(world):
    world.at(world.acme, "account", "create", "CUST", "--name", "Customer")
    done = world.at_json(
        world.acme,
        "account",
        "set",
        "CUST",
        "--price-list",
        RETAIL,
        "--billing-day",
        "15",
        "--add-contact",
        "Jo <jo@cust.example>",
    )
    assert (done["price_list"], done["billing_day"], done["contacts"][0]["email"]) == (
        RETAIL,
        15,
        "jo@cust.example",
    )
    result = world.at(world.acme, "account", "set", "CUST", "--price-list", PL, expect=1)
    assert f"price list '{PL}' not found" in result.stderr
    assert show(world, "CUST", world.acme)["price_list"] == RETAIL


SET_ERRORS = [
    (["BETA-CUST", "--billing-day", "0"], 2, "--billing-day: 0 is not a billing day from 1 to 28"),
    (["BETA-CUST", "--billing-day", "29"], 2, "--billing-day: 29"),
    (
        ["BETA-CUST", "--billing-day", "x"],
        2,
        "--billing-day: must be a billing day from 1 to 28, not the text 'x'",
    ),
    (["BETA-CUST", "--payment-method", "cash"], 2, "--payment-method: 'cash'"),
    (["BETA-CUST", "--credit-limit", "-1"], 2, "--credit-limit: '-1' is negative"),
    (["BETA-CUST", "--credit-limit", "lots"], 2, "--credit-limit: 'lots' is not a number"),
    (
        ["BETA-CUST", "--credit-limit", "1" + "0" * 20],
        2,
        "--credit-limit: '100000000000000000000' is too large",
    ),
    (["BETA-CUST", "--credit-limit", "1e20"], 2, "--credit-limit: '1e20' is not a number"),
    (["BETA-CUST", "--credit-limit", "1_5"], 2, "--credit-limit: '1_5' is not a number"),
    (["BETA-CUST", "--name", ""], 2, "--name: is empty"),
    (["BETA-CUST", "--email", "x@"], 2, "--email: 'x@'"),
    (["BETA-CUST", "--add-contact", "no email"], 2, "--add-contact: 'no email' is not written"),
    (["BETA-CUST", "--add-contact", "<a@b.example>"], 2, "--add-contact"),
    (["BETA-CUST", "--add-contact", "Ann <not-an-email>"], 2, "'not-an-email' is not an e-mail"),
    (["BETA-CUST", "--remove-contact", "nobody"], 2, "--remove-contact: 'nobody'"),
    (["UKSERVE", "--price-list", PL], 2, f"'{PL}' is in EUR, but account UKSERVE is billed in GBP"),
    (["BETA-CUST"], 2, "nothing to change"),
    (["BETA-CUST", "--price-list", "Nope"], 1, "price list 'Nope' not found"),
    (["NOPE", "--name", "x"], 1, "account 'NOPE' not found"),
    (
        ["BETA-CUST", "--name", "Renamed", "--remove-contact", "nobody@beta.example"],
        1,
        "has no contact nobody@beta.example",
    ),
]


@pytest.mark.parametrize(
    ("args", "code", "words"),
    SET_ERRORS,
    ids=[f"{c}-{i}" for i, (_, c, _w) in enumerate(SET_ERRORS)],
)
def test_set_validation_errors(world, args, code, words):
    before = {c: show(world, c) for c in ("BETA-CUST", "UKSERVE")}
    result = world.cli("account", "set", *args, expect=code)
    assert words in result.stderr
    assert {c: show(world, c) for c in ("BETA-CUST", "UKSERVE")} == before


def one_line(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


KEPT_FIELD_CHANGES = [  # (account set arguments, the kept fields they change)
    (["--name", "Renamed"], "name"),
    (["--email", "x@y.example"], "email"),
    (["--billing-address", "Elsewhere"], "billing_address"),
    (["--accounting-number", "EL1"], "accounting_number"),
    (["--add-contact", "New <new@olive.example>"], "contacts"),
    (["--remove-contact", "g.vlachos@olivetrade.gr"], "contacts"),
    (
        ["--name", "Renamed", "--email", "x@y.example", "--add-contact", "N <n@o.example>"],
        "name, email and contacts",
    ),
]


def test_a_managed_accounts_kept_fields_are_changed_in_the_tenant_not_the_parent(world):
    """Once `upgrade customers` made LC-OLIVE-TRADE a back-ordering record of LITECLOUD,
    the parent may no longer change the fields the tenant keeps (name, e-mail, billing
    address, accounting number, contacts): each is refused naming the command to run in the
    tenant, and that command works there. The parent keeps its pricing options.

    Today's behaviour, precisely. That a change made in the tenant then reaches the parent
    (SPEC section 7, "kept in step") is back-ordering's, which is not built yet: its tests
    add that; this one asserts nothing about the parent after the tenant's change."""
    world.cli.json("upgrade", "customers", "LITECLOUD")
    before = show(world, "LC-OLIVE-TRADE")
    in_tenant = f"tenantctl --org {world.lite} account set LC-OLIVE-TRADE ..."
    for args, fields in KEPT_FIELD_CHANGES:
        verb = "are" if fields == "contacts" or " and " in fields else "is"
        result = world.cli("account", "set", "LC-OLIVE-TRADE", *args, expect=1)
        assert result.stdout == ""
        assert one_line(result.stderr) == (
            "Error: account LC-OLIVE-TRADE is managed by tenant reseller LITECLOUD (a "
            f"back-ordering record): its {fields} {verb} changed in the tenant's BSS "
            f"({in_tenant}); here only its pricing options and ordering"
        ), args
    assert show(world, "LC-OLIVE-TRADE") == before
    # Its pricing options stay the parent's; a kept field set to the value it has is no
    # change, so not refused.
    same = world.cli.json(
        "account",
        "set",
        "LC-OLIVE-TRADE",
        "--name",
        before["name"],
        "--billing-day",
        "12",
        "--credit-limit",
        "7000",
    )
    assert (same["billing_day"], same["credit_limit"], same["changed"]) == (
        12,
        "7000",
        ["billing_day", "credit_limit"],
    )
    assert show(world, "LC-OLIVE-TRADE") == {**before, "billing_day": 12, "credit_limit": "7000"}

    # In the tenant, the reseller changes the same fields with the command named above.
    copy = show(world, "LC-OLIVE-TRADE", world.lite)
    changed = world.at_json(
        world.lite,
        "account",
        "set",
        "LC-OLIVE-TRADE",
        "--name",
        "Renamed",
        "--email",
        "x@y.example",
        "--billing-address",
        "Elsewhere",
        "--accounting-number",
        "EL1",
        "--add-contact",
        "New <new@olive.example>",
        "--remove-contact",
        "g.vlachos@olivetrade.gr",
    )
    assert changed["changed"] == [
        "name",
        "email",
        "billing_address",
        "accounting_number",
        "contacts",
    ]
    after = show(world, "LC-OLIVE-TRADE", world.lite)
    assert {k: after[k] for k in ("name", "email", "billing_address", "accounting_number")} == {
        "name": "Renamed",
        "email": "x@y.example",
        "billing_address": "Elsewhere",
        "accounting_number": "EL1",
    }
    emails = {c["email"] for c in after["contacts"]}
    assert emails == (
        {c["email"] for c in copy["contacts"]} - {"g.vlachos@olivetrade.gr"} | {"new@olive.example"}
    )
