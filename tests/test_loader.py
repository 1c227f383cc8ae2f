"""`tenantctl load`: round trip, idempotence, updates, and every kind of bad input.

Bad input must exit 2, name the file, the line and the field, and leave the store exactly
as it was: the tests compare a dump of every table before and after.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import pytest
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from tenantctl.domain.catalogue import listed_items
from tenantctl.domain.dataset import YamlInt, load_dataset, load_yaml, schemas
from tenantctl.errors import BadInput
from tenantctl.store.engine import read_session, write_session
from tenantctl.store.models import (
    Account,
    Asset,
    Contact,
    Organisation,
    PriceList,
    PriceListRevision,
    Product,
    ProductUnit,
    Subscription,
    SubscriptionAddon,
    SyncRecord,
)
from tests.loader_world import (
    BASE,
    LoadedStore,
    counts,
    dump_store,
    write,
)

RESELLERS_ITEMS = """\
    items:
      - {sku: M365-E3, unit: monthly, price: 20.60}
      - {sku: M365-E3, unit: annual, price: 226.60}
      - {sku: TEAMS-PHONE, unit: monthly, price: 7.48}
      - {sku: ACR-BACKUP, unit: monthly, price: 4.15}
      - {sku: ACR-STORAGE, unit: monthly, price: 0.1}
"""


def line_of(text: str, fragment: str) -> int:
    """The 1-based line where FRAGMENT first appears in TEXT."""
    index = text.index(fragment)
    return text[:index].count("\n") + 1


# --- round trip, idempotence, updates --------------------------------------------------


def test_round_trip_reads_back_every_field(cli, engine, tmp_path):
    path = write(tmp_path, "base.yaml", BASE)
    result = cli.json("load", path)
    assert counts(result) == {
        "organisation": (1, 0, 0),
        "products": (4, 0, 0),
        "price lists": (2, 0, 0),
        "accounts": (2, 0, 0),
        "subscriptions": (2, 0, 0),
        "assets": (1, 0, 0),
    }
    assert result["revisions"] == {"Resellers EUR": 1}
    assert result["changed"] is True and result["dry_run"] is False

    with read_session(engine) as s:
        org = s.execute(select(Organisation)).scalars().one()
        assert (
            org.name,
            org.kind,
            org.currency,
            org.country,
            org.language,
            org.timezone,
            org.date_format,
        ) == ("Testway Distribution", "root", "EUR", "GR", "en", "Europe/Athens", "DD/MM/YYYY")

        products = {p.sku: p for p in s.execute(select(Product)).scalars()}
        e3, phone = products["M365-E3"], products["TEAMS-PHONE"]
        assert (
            e3.name,
            e3.platform,
            e3.product_type,
            e3.category,
            e3.description,
            e3.add_on_of_id,
            e3.org_id,
        ) == (
            "Microsoft 365 E3",
            "microsoft",
            "license",
            "Productivity",
            "Office apps and services",
            None,
            org.id,
        )
        assert phone.add_on_of_id == e3.id and phone.product_type == "service"
        assert products["ACR-STORAGE"].add_on_of_id == products["ACR-BACKUP"].id
        units = {(u.product_id, u.unit) for u in s.execute(select(ProductUnit)).scalars()}
        assert units == {
            (e3.id, "monthly"),
            (e3.id, "annual"),
            (phone.id, "monthly"),
            (products["ACR-BACKUP"].id, "monthly"),
            (products["ACR-STORAGE"].id, "monthly"),
        }

        lists = {pl.name: pl for pl in s.execute(select(PriceList)).scalars()}
        assert {n: pl.currency for n, pl in lists.items()} == {
            "Resellers EUR": "EUR",
            "Empty EUR": "EUR",
        }
        items = listed_items(s, lists["Resellers EUR"].id)
        assert {k: v.price for k, v in items.items()} == {
            ("M365-E3", "monthly"): Decimal("20.60"),
            ("M365-E3", "annual"): Decimal("226.60"),
            ("TEAMS-PHONE", "monthly"): Decimal("7.48"),
            ("ACR-BACKUP", "monthly"): Decimal("4.15"),
            ("ACR-STORAGE", "monthly"): Decimal("0.1"),
        }
        # exact, never through float: the text is what the file said
        assert str(items[("ACR-STORAGE", "monthly")].price) == "0.1"
        assert str(items[("M365-E3", "monthly")].price) == "20.60"
        revisions = s.execute(select(PriceListRevision)).scalars().all()
        assert [(r.price_list_id, r.number, r.item_count) for r in revisions] == [
            (lists["Resellers EUR"].id, 1, 5)
        ]
        assert listed_items(s, lists["Empty EUR"].id) == {}

        accounts = {a.code: a for a in s.execute(select(Account)).scalars()}
        r, c = accounts["RESELLER"], accounts["CUST"]
        assert (
            r.name,
            r.kind,
            r.bill_to_id,
            r.ordering_enabled,
            r.currency,
            r.country,
            r.accounting_number,
            r.email,
            r.billing_address,
            r.price_list_id,
            r.billing_day,
            r.payment_method,
            r.credit_limit,
            r.invoicing_options,
            r.separate_invoices,
        ) == (
            "Reseller One",
            "reseller",
            None,
            True,
            "EUR",
            "GR",
            "EL123",
            "billing@reseller.example",
            "Street 1\nAthens",
            lists["Resellers EUR"].id,
            5,
            "direct-debit",
            Decimal("1000.50"),
            "monthly",
            True,
        )
        assert str(r.credit_limit) == "1000.50"
        # a customer: defaults, and currency from the organisation
        assert (
            c.kind,
            c.bill_to_id,
            c.ordering_enabled,
            c.currency,
            c.country,
            c.accounting_number,
            c.email,
            c.price_list_id,
            c.billing_day,
            c.payment_method,
            c.credit_limit,
            c.separate_invoices,
        ) == ("customer", r.id, False, "EUR", "CY", None, None, None, 12, "invoice", None, False)
        contacts = s.execute(select(Contact).order_by(Contact.id)).scalars().all()
        assert [(x.account_id, x.name, x.email, x.phone, x.role) for x in contacts] == [
            (r.id, "Eleni", "eleni@reseller.example", "+30 210 1", "owner"),
            (r.id, "Nikos", None, None, None),
        ]
        syncs = s.execute(select(SyncRecord).order_by(SyncRecord.platform)).scalars().all()
        assert [(x.account_id, x.platform, x.status, x.external_id) for x in syncs] == [
            (r.id, "acronis", "pending", None),
            (r.id, "oss", "synced", "OSS-1"),
        ]

        subs = {x.code: x for x in s.execute(select(Subscription)).scalars()}
        s1, s2 = subs["S1"], subs["S2"]
        assert (
            s1.account_id,
            s1.product_id,
            s1.unit,
            s1.quantity,
            s1.unit_price,
            s1.currency,
            s1.status,
            s1.start_date,
            s1.auto_renew,
            s1.paid,
            s1.billing_day,
            s1.characteristics,
            s1.org_id,
        ) == (
            c.id,
            e3.id,
            "monthly",
            10,
            Decimal("20.60"),
            "EUR",
            "active",
            date(2024, 1, 15),
            True,
            True,
            12,
            {"tenant": "cust.onmicrosoft.com", "seats": [1, 2], "ratio": "0.25"},
            org.id,
        )
        assert (
            s2.unit_price,
            str(s2.unit_price),
            s2.status,
            s2.auto_renew,
            s2.paid,
            s2.start_date,
            s2.characteristics,
        ) == (Decimal("0.1"), "0.1", "cancelled", False, False, date(2023, 12, 31), {})
        addons = s.execute(select(SubscriptionAddon)).scalars().all()
        assert [(a.subscription_id, a.product_id, a.quantity) for a in addons] == [
            (s1.id, phone.id, 3)
        ]

        asset = s.execute(select(Asset)).scalars().one()
        assert (
            asset.code,
            asset.account_id,
            asset.product_id,
            asset.kind,
            asset.quantity,
            asset.purchase_date,
            asset.status,
            asset.characteristics,
        ) == (
            "A1",
            c.id,
            e3.id,
            "software-subscription",
            1,
            date(2024, 2, 29),
            "active",
            {"term": "P1Y"},
        )


def test_second_load_changes_nothing(cli, engine, tmp_path):
    path = write(tmp_path, "base.yaml", BASE)
    cli("load", path)
    before = dump_store(engine)
    result = cli.json("load", path)
    assert counts(result) == {
        "organisation": (0, 0, 1),
        "products": (0, 0, 4),
        "price lists": (0, 0, 2),
        "accounts": (0, 0, 2),
        "subscriptions": (0, 0, 2),
        "assets": (0, 0, 1),
    }
    assert result["changed"] is False and result["revisions"] == {}
    # not a new revision, not a rewritten row: every table is row-for-row the same
    assert dump_store(engine) == before
    assert "Nothing changed" in cli("load", path).stderr


def test_dry_run_reports_and_writes_nothing(cli, engine, tmp_path):
    path = write(tmp_path, "base.yaml", BASE)
    empty = dump_store(engine)
    result = cli.json("load", path, "--dry-run")
    assert result["dry_run"] is True
    assert counts(result)["subscriptions"] == (2, 0, 0)
    assert result["revisions"] == {"Resellers EUR": 1}
    assert dump_store(engine) == empty
    cli("load", path)
    changed = write(tmp_path, "changed.yaml", BASE.replace("price: 4.15}", "price: 4.25}"))
    loaded = dump_store(engine)
    result = cli.json("load", changed, "--dry-run")
    assert counts(result)["price lists"] == (0, 1, 1)
    assert result["revisions"] == {"Resellers EUR": 2}
    assert dump_store(engine) == loaded


UPDATED = (
    BASE.replace("name: Teams Phone", "name: Teams Phone Standard")
    .replace(
        "units: [monthly]\n    add_on_of: M365-E3",
        "units: [monthly, annual]\n    add_on_of: M365-E3",
    )
    .replace(
        "{sku: ACR-BACKUP, unit: monthly, price: 4.15}",
        "{sku: ACR-BACKUP, unit: monthly, price: 4.36}",
    )
    .replace("      - {sku: ACR-STORAGE, unit: monthly, price: 0.1}\n", "")
    .replace("name: Customer One", "name: Customer One Ltd")
    .replace("pricing: {billing_day: 12}", "pricing: {billing_day: 20}")
    .replace("      - {name: Nikos}\n", "")
    .replace("{platform: acronis, status: pending}", "{platform: acronis}")
    .replace("quantity: 10", "quantity: 12")
    .replace("{sku: TEAMS-PHONE, quantity: 3}", "{sku: TEAMS-PHONE, quantity: 5}")
    .replace(
        "kind: software-subscription\n    quantity: 1\n",
        "kind: software-subscription\n    quantity: 1\n    status: expired\n",
    )
    + """\
  - code: A2
    account: RESELLER
    sku: ACR-BACKUP
    kind: software-subscription
    quantity: 3
    purchase_date: 2024-05-01
"""
)


def test_changed_file_updates_what_changed(cli, engine, tmp_path):
    cli("load", write(tmp_path, "base.yaml", BASE))
    result = cli.json("load", write(tmp_path, "updated.yaml", UPDATED))
    # TEAMS-PHONE renamed and sold annual too; CUST renamed and billed on the 20th, which
    # its subscriptions follow (S1 also changed quantity and add-on; S2 only billing day)
    assert counts(result) == {
        "organisation": (0, 0, 1),
        "products": (0, 1, 3),
        "price lists": (0, 1, 1),
        "accounts": (0, 2, 0),
        "subscriptions": (0, 2, 0),
        "assets": (1, 1, 0),
    }
    assert result["revisions"] == {"Resellers EUR": 2}
    with read_session(engine) as s:
        phone = s.execute(select(Product).where(Product.sku == "TEAMS-PHONE")).scalar_one()
        assert phone.name == "Teams Phone Standard"
        assert set(
            s.execute(select(ProductUnit.unit).where(ProductUnit.product_id == phone.id)).scalars()
        ) == {"monthly", "annual"}
        pl = s.execute(select(PriceList).where(PriceList.name == "Resellers EUR")).scalar_one()
        now, first = listed_items(s, pl.id), listed_items(s, pl.id, 1)
        assert now[("ACR-BACKUP", "monthly")].price == Decimal("4.36")
        assert ("ACR-STORAGE", "monthly") not in now  # discontinued, not deleted:
        assert first[("ACR-STORAGE", "monthly")].price == Decimal("0.1")
        assert first[("ACR-BACKUP", "monthly")].price == Decimal("4.15")
        cust = s.execute(select(Account).where(Account.code == "CUST")).scalar_one()
        assert (cust.name, cust.billing_day) == ("Customer One Ltd", 20)
        reseller = s.execute(select(Account).where(Account.code == "RESELLER")).scalar_one()
        assert s.execute(
            select(Contact.name).where(Contact.account_id == reseller.id)
        ).scalars().all() == ["Eleni"]
        assert dict(
            s.execute(
                select(SyncRecord.platform, SyncRecord.status).where(
                    SyncRecord.account_id == reseller.id
                )
            ).all()
        ) == {"oss": "synced", "acronis": "synced"}
        subs = {x.code: x for x in s.execute(select(Subscription)).scalars()}
        assert (subs["S1"].quantity, subs["S1"].billing_day) == (12, 20)
        assert subs["S2"].billing_day == 20
        assert s.execute(select(SubscriptionAddon.quantity)).scalars().all() == [5]
        assets = {x.code: x for x in s.execute(select(Asset)).scalars()}
        assert assets["A1"].status == "expired" and assets["A2"].quantity == 3
    # and the changed file is now what the store holds
    assert counts(cli.json("load", tmp_path / "updated.yaml"))["accounts"] == (0, 0, 2)


def test_a_second_file_adds_to_the_first(cli, engine, tmp_path):
    cli("load", write(tmp_path, "base.yaml", BASE))
    second = """\
organisation:
  name: Testway Distribution
accounts:
  - code: CUST2
    name: Customer Two
    bill_to: RESELLER
    pricing: {price_list: Resellers EUR}
subscriptions:
  - code: S3
    account: CUST2
    sku: ACR-BACKUP
    unit: monthly
    quantity: 4
    price: 4.15
    start_date: 2024-06-01
    add_ons: [{sku: ACR-STORAGE, quantity: 250}]
  - code: S4
    account: CUST
    sku: TEAMS-PHONE
    unit: monthly
    quantity: 1
    price: 7.48
    start_date: 2024-06-01
"""
    result = cli.json("load", write(tmp_path, "second.yaml", second))
    # the organisation keeps what the second file leaves out (time zone, date format)
    assert counts(result) == {
        "organisation": (0, 0, 1),
        "products": (0, 0, 0),
        "price lists": (0, 0, 0),
        "accounts": (1, 0, 0),
        "subscriptions": (2, 0, 0),
        "assets": (0, 0, 0),
    }
    with read_session(engine) as s:
        org = s.execute(select(Organisation)).scalar_one()
        assert (org.timezone, org.date_format) == ("Europe/Athens", "DD/MM/YYYY")
        cust2 = s.execute(select(Account).where(Account.code == "CUST2")).scalar_one()
        assert (cust2.currency, cust2.country) == ("EUR", "GR")
        s3 = s.execute(select(Subscription).where(Subscription.code == "S3")).scalar_one()
        assert (s3.account_id, s3.currency, s3.billing_day) == (cust2.id, "EUR", 1)
    # the first file's rows are untouched by the second, and the first still matches
    assert counts(cli.json("load", tmp_path / "base.yaml"))["accounts"] == (0, 0, 2)


# --- bad input ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Bad:
    """A change to BASE that makes it bad, and the problem it must report."""

    id: str
    old: str
    new: str
    field: str
    message: str
    at: str | None = None  # text on the reported line (default: NEW)
    also: tuple[tuple[str, str], ...] = ()  # more (old, new) edits

    def text(self) -> str:
        text = BASE
        for old, new in ((self.old, self.new), *self.also):
            assert old in text, old
            text = text.replace(old, new, 1)
        return text

    def line(self, text: str) -> int:
        return line_of(text, self.at or self.new)


S1_HEAD = "  - code: S1\n    account: CUST\n    sku: M365-E3\n"
S2_SKU = "    sku: ACR-BACKUP\n    unit: monthly\n    quantity: 2\n"
A1_HEAD = "  - code: A1\n    account: CUST\n    sku: M365-E3\n"

BAD_INPUTS = [
    # the YAML itself
    Bad(
        "malformed-yaml",
        "    name: Teams Phone\n",
        "    name: Teams: Phone\n",
        "syntax",
        "not valid YAML",
    ),
    Bad(
        "unclosed-flow",
        "    units: [monthly, annual]\n",
        "    units: [monthly, annual\n",
        "syntax",
        "not valid YAML",
        at="    category: Productivity\n",
    ),
    Bad(
        "duplicate-key",
        "    quantity: 10\n",
        "    quantity: 10\n    quantity: 11\n",
        "subscriptions[0].quantity",
        "is given twice",
        at="    quantity: 11\n",
    ),
    # shape and typos
    Bad(
        "unknown-top-level-key",
        "products:\n",
        "prodcts:\n",
        "prodcts",
        "unknown key 'prodcts' (did you mean 'products'?)",
    ),
    Bad(
        "unknown-entity-key",
        "      billing_day: 5\n",
        "      biling_day: 5\n",
        "accounts[0].pricing.biling_day",
        "did you mean 'billing_day'?",
    ),
    Bad(
        "unknown-nested-key",
        "{name: Nikos}",
        "{name: Nikos, mobile: '1'}",
        "accounts[0].contacts[1].mobile",
        "unknown key 'mobile'",
    ),
    Bad(
        "missing-required",
        "    name: Customer One\n",
        "",
        "accounts[1].name",
        "is required",
        at="  - code: CUST\n",
    ),
    Bad(
        "empty-required",
        "    start_date: 2024-01-15\n",
        "    start_date:\n",
        "subscriptions[0].start_date",
        "is empty",
    ),
    Bad(
        "missing-units",
        "    units: [monthly]\n    add_on_of: ACR-BACKUP\n",
        "    add_on_of: ACR-BACKUP\n",
        "products[3].units",
        "is required",
        at="  - sku: ACR-STORAGE\n",
    ),
    Bad(
        "no-units",
        "    units: [monthly]\n    add_on_of: ACR-BACKUP\n",
        "    units: []\n    add_on_of: ACR-BACKUP\n",
        "products[3].units",
        "at least one billing unit",
    ),
    Bad(
        "entity-not-a-mapping",
        "  - code: A1\n",
        "  - A1\n  - code: A1\n",
        "assets[0]",
        "must be a mapping",
        at="  - A1\n",
    ),
    Bad(
        "section-not-a-list",
        "assets:\n  - code: A1\n",
        "assets: A1\nx:\n  - code: A1\n",
        "assets",
        "must be a list",
        at="assets: A1\n",
    ),
    Bad(
        "nested-not-a-mapping",
        "pricing: {billing_day: 12}",
        "pricing: [12]",
        "accounts[1].pricing",
        "must be a mapping",
    ),
    # wrong types
    Bad(
        "quantity-text",
        "    quantity: 10\n",
        "    quantity: ten\n",
        "subscriptions[0].quantity",
        "must be a quantity from 1 to 1000000000, not the text",
    ),
    Bad(
        "quantity-fraction",
        "    quantity: 10\n",
        "    quantity: 2.5\n",
        "subscriptions[0].quantity",
        "not the number 2.5",
    ),
    Bad(
        "quantity-octal",
        "    quantity: 10\n",
        "    quantity: 010\n",
        "subscriptions[0].quantity",
        "YAML reads it as 8",
    ),
    Bad(
        "bool-text",
        "    ordering_enabled: false\n",
        "    ordering_enabled: maybe\n",
        "accounts[1].ordering_enabled",
        "must be true or false",
    ),
    Bad(
        "name-a-number",
        "    name: Customer One\n",
        "    name: 42\n",
        "accounts[1].name",
        "must be text, not the number 42 (put it in quotes)",
    ),
    Bad(
        "name-a-list",
        "    name: Customer One\n",
        "    name: [a, b]\n",
        "accounts[1].name",
        "must be text, not a list",
    ),
    Bad(
        "characteristics-a-list",
        "characteristics: {term: P1Y}",
        "characteristics: [P1Y]",
        "assets[0].characteristics",
        "must be a mapping",
    ),
    Bad(
        "text-too-long",
        "  - code: CUST\n",
        "  - code: " + "C" * 65 + "\n",
        "accounts[1].code",
        "is not a code: 1-64 letters",
    ),
    # hostile values (issue 11): bounds, control characters, digits a person did not mean
    Bad(
        "code-with-space-and-slash",
        "  - code: CUST\n",
        "  - code: AC ME/1\n",
        "accounts[1].code",
        "'AC ME/1' is not a code: 1-64 letters",
    ),
    Bad(
        "quantity-beyond-int4",
        "    quantity: 10\n",
        "    quantity: 3000000000\n",
        "subscriptions[0].quantity",
        "3000000000 is not a quantity from 1 to 1000000000",
    ),
    Bad(
        "quantity-beyond-int64",
        "    quantity: 10\n",
        "    quantity: 99999999999999999999\n",
        "subscriptions[0].quantity",
        "is not a quantity from 1 to 1000000000",
    ),
    Bad(
        "quantity-underscore",
        "    quantity: 10\n",
        "    quantity: 1_0\n",
        "subscriptions[0].quantity",
        "written in decimal, not 1_0 (YAML reads it as 10)",
    ),
    Bad(
        "nul-in-name",
        "    name: Customer One\n",
        '    name: "Customer\\0One"\n',
        "accounts[1].name",
        "holds the control character '\\x00'",
    ),
    Bad(
        "escape-in-name",
        "    name: Customer One\n",
        '    name: "\\e[31mRed"\n',
        "accounts[1].name",
        "holds the control character '\\x1b'",
    ),
    Bad(
        "nul-in-characteristics",
        "ratio: 0.25}",
        'ratio: "a\\0b"}',
        "subscriptions[0].characteristics",
        "control character '\\x00'",
    ),
    Bad(
        "price-underscore",
        "    price: 20.60\n",
        "    price: 1_5\n",
        "subscriptions[0].price",
        "'1_5' is not a number written with the digits 0-9",
    ),
    Bad(
        "price-underscore-point",
        "    price: 20.60\n",
        "    price: 1_000.50\n",
        "subscriptions[0].price",
        "'1_000.50' is not a number",
    ),
    Bad(
        "price-exponent",
        "    price: 20.60\n",
        "    price: 1.5e+3\n",
        "subscriptions[0].price",
        "'1.5e+3' is not a number",
    ),
    Bad(
        "price-full-width",
        "    price: 20.60\n",
        "    price: \uff11\uff12\n",
        "subscriptions[0].price",
        "is not a number written with the digits 0-9",
    ),
    Bad(
        "price-arabic-indic",
        "    price: 20.60\n",
        "    price: \u0663\n",
        "subscriptions[0].price",
        "is not a number written with the digits 0-9",
    ),
    # references
    Bad(
        "unknown-price-list",
        "      price_list: Resellers EUR\n",
        "      price_list: Retail USD\n",
        "accounts[0].pricing.price_list",
        "no price list 'Retail USD' in the file or the store",
    ),
    Bad(
        "price-list-other-currency",
        "    accounting_number: EL123\n",
        "    accounting_number: EL123\n    currency: USD\n",
        "accounts[0].pricing.price_list",
        "is in EUR but the account is billed in USD",
        at="      price_list: Resellers EUR\n",
    ),
    Bad(
        "unknown-bill-to",
        "    bill_to: RESELLER\n",
        "    bill_to: NOBODY\n",
        "accounts[1].bill_to",
        "no account 'NOBODY' in the file or the store",
    ),
    Bad(
        "bill-to-a-customer",
        "    kind: reseller\n",
        "    kind: customer\n",
        "accounts[1].bill_to",
        "RESELLER is a customer, not a reseller",
        at="    bill_to: RESELLER\n",
    ),
    Bad(
        "bill-to-itself",
        "    bill_to: RESELLER\n",
        "    bill_to: CUST\n",
        "accounts[1].bill_to",
        "cannot be billed to itself",
    ),
    Bad(
        "subscription-unknown-account",
        S1_HEAD,
        "  - code: S1\n    account: GHOST\n    sku: M365-E3\n",
        "subscriptions[0].account",
        "no account 'GHOST'",
        at="    account: GHOST\n",
    ),
    Bad(
        "subscription-unknown-sku",
        S2_SKU,
        S2_SKU.replace("ACR-BACKUP", "NOPE"),
        "subscriptions[1].sku",
        "no product 'NOPE'",
        at="    sku: NOPE\n",
    ),
    Bad(
        "subscription-unit-not-sold",
        S2_SKU,
        S2_SKU.replace("monthly", "annual"),
        "subscriptions[1].unit",
        "ACR-BACKUP is not sold annual (it is sold monthly)",
        at="    unit: annual\n",
    ),
    Bad(
        "subscription-bad-unit",
        S2_SKU,
        S2_SKU.replace("monthly", "weekly"),
        "subscriptions[1].unit",
        "'weekly' is not one of",
        at="    unit: weekly\n",
    ),
    Bad(
        "add-on-unknown-sku",
        "{sku: TEAMS-PHONE, quantity: 3}",
        "{sku: GHOST, quantity: 3}",
        "subscriptions[0].add_ons[0].sku",
        "no product 'GHOST'",
    ),
    Bad(
        "add-on-of-another-product",
        "{sku: TEAMS-PHONE, quantity: 3}",
        "{sku: ACR-STORAGE, quantity: 3}",
        "subscriptions[0].add_ons[0].sku",
        "ACR-STORAGE is not an add-on of M365-E3",
    ),
    Bad(
        "add-on-zero",
        "{sku: TEAMS-PHONE, quantity: 3}",
        "{sku: TEAMS-PHONE, quantity: 0}",
        "subscriptions[0].add_ons[0].quantity",
        "0 is not a quantity from 1 to 1000000000",
    ),
    Bad(
        "asset-unknown-account",
        A1_HEAD,
        A1_HEAD.replace("CUST", "GHOST"),
        "assets[0].account",
        "no account 'GHOST'",
        at="    account: GHOST\n",
    ),
    Bad(
        "asset-unknown-sku",
        A1_HEAD,
        A1_HEAD.replace("M365-E3", "GHOST"),
        "assets[0].sku",
        "no product 'GHOST'",
        at="    sku: GHOST\n",
    ),
    Bad(
        "asset-bad-kind",
        "    kind: software-subscription\n",
        "    kind: vm\n",
        "assets[0].kind",
        "'vm' is not one of software-subscription, azure-reservation",
    ),
    Bad(
        "unknown-add-on-of",
        "    add_on_of: M365-E3\n",
        "    add_on_of: NOPE\n",
        "products[1].add_on_of",
        "no product 'NOPE'",
    ),
    Bad(
        "add-on-loop",
        "    units: [monthly, annual]\n",
        "    units: [monthly, annual]\n    add_on_of: TEAMS-PHONE\n",
        "products[0].add_on_of",
        "M365-E3 would be an add-on of itself",
        at="    add_on_of: TEAMS-PHONE\n",
    ),
    Bad(
        "price-list-unknown-sku",
        "{sku: ACR-BACKUP, unit: monthly, price: 4.15}",
        "{sku: GHOST, unit: monthly, price: 4.15}",
        "price_lists[0].items[3].sku",
        "no product 'GHOST'",
    ),
    Bad(
        "price-list-unit-not-sold",
        "{sku: TEAMS-PHONE, unit: monthly, price: 7.48}",
        "{sku: TEAMS-PHONE, unit: annual, price: 7.48}",
        "price_lists[0].items[2].unit",
        "TEAMS-PHONE is not sold annual",
    ),
    # duplicates
    Bad(
        "duplicate-account",
        "  - code: CUST\n",
        "  - code: RESELLER\n",
        "accounts[1].code",
        "account 'RESELLER' is given twice (first on line 42)",
        at="  - code: RESELLER\n    name: Customer One",
    ),
    Bad(
        "duplicate-subscription",
        "  - code: S2\n",
        "  - code: S1\n",
        "subscriptions[1].code",
        "subscription 'S1' is given twice",
        at="  - code: S1\n    account: CUST\n    sku: ACR",
    ),
    Bad(
        "duplicate-asset",
        "    characteristics: {term: P1Y}\n",
        "    characteristics: {term: P1Y}\n" + A1_HEAD + "    kind: azure-reservation\n"
        "    quantity: 1\n    purchase_date: 2024-03-01\n",
        "assets[1].code",
        "asset 'A1' is given twice",
        at=A1_HEAD + "    kind: azure",
    ),
    Bad(
        "duplicate-sku",
        "  - sku: ACR-STORAGE\n",
        "  - sku: ACR-BACKUP\n",
        "products[3].sku",
        "product 'ACR-BACKUP' is given twice",
        at="  - sku: ACR-BACKUP\n    name: Acronis St",
    ),
    Bad(
        "duplicate-price-list",
        "  - name: Empty EUR\n",
        "  - name: Resellers EUR\n",
        "price_lists[1].name",
        "price list 'Resellers EUR' is given twice",
        at="  - name: Resellers EUR\n    currency: EUR\n    items: []",
    ),
    Bad(
        "duplicate-price-list-item",
        "{sku: M365-E3, unit: annual, price: 226.60}",
        "{sku: M365-E3, unit: monthly, price: 226.60}",
        "price_lists[0].items[1].sku",
        "M365-E3 / monthly is listed twice in this price list",
    ),
    Bad(
        "duplicate-unit",
        "    units: [monthly, annual]\n",
        "    units: [monthly, monthly]\n",
        "products[0].units[1]",
        "'monthly' is listed twice",
    ),
    Bad(
        "duplicate-sync-platform",
        "{platform: acronis, status: pending}",
        "{platform: oss, status: pending}",
        "accounts[0].sync[1].platform",
        "platform 'oss' is given twice",
    ),
    # amounts
    Bad(
        "negative-price",
        "price: 7.48}",
        "price: -7.48}",
        "price_lists[0].items[2].price",
        "'-7.48' is negative",
    ),
    Bad(
        "non-numeric-price",
        "price: 4.15}",
        "price: cheap}",
        "price_lists[0].items[3].price",
        "'cheap' is not a number",
    ),
    Bad(
        "negative-subscription-price",
        "    price: 20.60\n",
        "    price: -1\n",
        "subscriptions[0].price",
        "'-1' is negative",
    ),
    Bad(
        "infinite-price",
        "    price: 20.60\n",
        "    price: .inf\n",
        "subscriptions[0].price",
        "is not a number",
    ),
    Bad(
        "negative-credit-limit",
        "credit_limit: 1000.50",
        "credit_limit: -1",
        "accounts[0].pricing.credit_limit",
        "'-1' is negative",
    ),
    Bad(
        "non-numeric-credit-limit",
        "credit_limit: 1000.50",
        "credit_limit: lots",
        "accounts[0].pricing.credit_limit",
        "'lots' is not a number",
    ),
    # codes, dates, configuration
    Bad(
        "bad-currency",
        "    currency: EUR\n    items: []\n",
        "    currency: EUX\n    items: []\n",
        "price_lists[1].currency",
        "'EUX' is not an ISO 4217 currency code",
    ),
    Bad(
        "bad-country",
        "    country: CY\n",
        "    country: XX\n",
        "accounts[1].country",
        "'XX' is not an ISO 3166 country code",
    ),
    Bad(
        "country-read-as-boolean",
        "    country: CY\n",
        "    country: NO\n",
        "accounts[1].country",
        "not the boolean false (put it in quotes)",
    ),
    Bad(
        "impossible-date",
        "    start_date: 2024-01-15\n",
        "    start_date: 2024-02-30\n",
        "subscriptions[0].start_date",
        "'2024-02-30' is not a day of the calendar (day is out of range",
    ),
    Bad(
        "date-format",
        "    purchase_date: 2024-02-29\n",
        "    purchase_date: 29/02/2024\n",
        "assets[0].purchase_date",
        "'29/02/2024' is not a date in the form YYYY-MM-DD",
    ),
    Bad(
        "bad-platform",
        "    platform: microsoft\n    type: license\n",
        "    platform: azure\n    type: license\n",
        "products[0].platform",
        "'azure' is not one of microsoft, acronis, oss, panda, other",
        at="    platform: azure\n",
    ),
    Bad(
        "bad-unit",
        "    units: [monthly, annual]\n",
        "    units: [monthly, yearly]\n",
        "products[0].units[1]",
        "'yearly' is not one of monthly, annual",
    ),
    Bad(
        "billing-day-31",
        "pricing: {billing_day: 12}",
        "pricing: {billing_day: 31}",
        "accounts[1].pricing.billing_day",
        "31 is not a billing day from 1 to 28",
    ),
    Bad(
        "billing-day-0",
        "      billing_day: 5\n",
        "      billing_day: 0\n",
        "accounts[0].pricing.billing_day",
        "0 is not a billing day from 1 to 28",
    ),
    Bad(
        "bad-payment-method",
        "      payment_method: direct-debit\n",
        "      payment_method: cheque\n",
        "accounts[0].pricing.payment_method",
        "'cheque' is not one of invoice, bank-transfer, direct-debit, credit-card",
    ),
    Bad(
        "quantity-zero",
        "    quantity: 2\n",
        "    quantity: 0\n",
        "subscriptions[1].quantity",
        "0 is not a quantity from 1 to 1000000000",
    ),
    Bad(
        "asset-quantity-negative",
        "    kind: software-subscription\n    quantity: 1\n",
        "    kind: software-subscription\n    quantity: -1\n",
        "assets[0].quantity",
        "-1 is not a quantity from 1 to 1000000000",
        at="    quantity: -1\n",
    ),
    Bad(
        "bad-timezone",
        "  timezone: Europe/Athens\n",
        "  timezone: Mars/Olympus\n",
        "organisation.timezone",
        "'Mars/Olympus' is not a time zone",
    ),
    Bad(
        "bad-email",
        "    email: billing@reseller.example\n",
        "    email: billing\n",
        "accounts[0].email",
        "'billing' is not an e-mail address",
    ),
    Bad(
        "subscription-currency",
        "    price: 20.60\n",
        "    price: 20.60\n    currency: USD\n",
        "subscriptions[0].currency",
        "CUST is billed in EUR, not USD",
        at="    currency: USD\n",
    ),
    # against what the store holds (BASE is loaded first)
    Bad(
        "other-root-org",
        "  name: Testway Distribution\n",
        "  name: Otherway Ltd\n",
        "organisation.name",
        "the store's root organisation is 'Testway Distribution'",
    ),
    Bad(
        "price-list-currency-change",
        "  - name: Resellers EUR\n    currency: EUR\n",
        "  - name: Resellers EUR\n    currency: USD\n",
        "price_lists[0].currency",
        "is in EUR in the store; a price list's currency cannot change",
        at="    currency: USD\n",
    ),
    Bad(
        "platform-change",
        "    platform: acronis\n    units: [monthly]\n  - sku: ACR-STORAGE",
        "    platform: panda\n    units: [monthly]\n  - sku: ACR-STORAGE",
        "products[2].platform",
        "ACR-BACKUP is a acronis product in the store",
        at="    platform: panda\n",
    ),
    Bad(
        "account-currency-change",
        "    country: CY\n",
        "    country: CY\n    currency: USD\n",
        "accounts[1].currency",
        "CUST has 2 subscriptions in EUR",
        at="    currency: USD\n",
    ),
    Bad(
        "subscription-account-change",
        S1_HEAD,
        S1_HEAD.replace("CUST", "RESELLER"),
        "subscriptions[0].account",
        "S1 is for CUST in the store; its account cannot change",
        at="    account: RESELLER\n",
    ),
    # the store's CUST bills to RESELLER; this file leaves CUST out and demotes RESELLER
    Bad(
        "reseller-demoted-under-its-customers",
        "    kind: reseller\n",
        "    kind: customer\n",
        "accounts[0].kind",
        "account CUST in the store is billed to it, so it must stay",
        also=(
            (
                "  - code: CUST\n    name: Customer One\n    bill_to: RESELLER\n",
                "  - code: CUST2\n    name: Customer One\n",
            ),
        ),
    ),
    Bad(
        "price-list-emptied",
        RESELLERS_ITEMS,
        "    items: []\n",
        "price_lists[0].items",
        "has 5 items in the store; a data set cannot empty it",
    ),
]


@pytest.fixture(scope="module")
def loaded_store(_template, tmp_path_factory):
    store = LoadedStore(_template, tmp_path_factory.mktemp("loader"))
    yield store
    store.close()


@pytest.mark.parametrize("case", BAD_INPUTS, ids=[c.id for c in BAD_INPUTS])
def test_bad_input_is_refused_naming_file_line_and_field(loaded_store, case):
    text = case.text()
    stderr = loaded_store.assert_refused(f"{case.id}.yaml", text)
    path = loaded_store.directory / f"{case.id}.yaml"
    expected = f"{path}:{case.line(text)}: {case.field}: "
    problems = [line.strip() for line in stderr.splitlines()]
    assert any(p.startswith(expected) and case.message in p for p in problems), (
        f"expected a problem {expected}...{case.message}...\n{stderr}"
    )


def test_a_problem_on_line_100_keeps_its_line_number(loaded_store):
    text = BASE.replace("pricing: {billing_day: 12}", "pricing: {billing_day: 31}")
    padding = 100 - line_of(text, "billing_day: 31")
    stderr = loaded_store.assert_refused("line-100.yaml", "#\n" * padding + text)
    assert "line-100.yaml:100: accounts[1].pricing.billing_day: 31 is not" in stderr


def test_not_a_mapping_and_empty_file_are_refused(loaded_store):
    stderr = loaded_store.assert_refused("list.yaml", "- just\n- a list\n")
    assert re.search(r"list\.yaml:1: document: must be a mapping", stderr)
    stderr = loaded_store.assert_refused("empty.yaml", "# nothing here\n")
    assert re.search(r"empty\.yaml:1: document: must be a mapping .*, not empty", stderr)
    stderr = loaded_store.assert_refused("two.yaml", BASE + "---\n" + BASE)
    assert re.search(r"two\.yaml:\d+: syntax: not valid YAML: .*single document", stderr)


def test_missing_organisation_is_refused(loaded_store):
    text = BASE[BASE.index("products:") :]
    stderr = loaded_store.assert_refused("no-org.yaml", text)
    assert "no-org.yaml:1: organisation: is required" in stderr


def test_a_missing_file_is_bad_input(cli, tmp_path):
    result = cli("load", tmp_path / "nope.yaml", expect=2)
    assert f"{tmp_path / 'nope.yaml'}: cannot read the file" in result.stderr


def test_every_problem_is_listed_at_once(loaded_store):
    text = (
        BASE.replace("pricing: {billing_day: 12}", "pricing: {billing_day: 31}")
        .replace("    quantity: 2\n", "    quantity: 0\n")
        .replace("    bill_to: RESELLER\n", "    bill_to: NOBODY\n")
    )
    stderr = loaded_store.assert_refused("three.yaml", text)
    assert "3 problems; nothing was loaded" in stderr
    lines = [int(m) for m in re.findall(r"three\.yaml:(\d+): ", stderr)[0:]]
    assert lines == sorted(lines) and len(lines) == 3


def test_creating_the_root_needs_currency_and_country(cli, engine, tmp_path):
    text = BASE.replace("  currency: EUR\n  country: GR\n", "", 1)
    path = write(tmp_path, "no-currency.yaml", text)
    before = dump_store(engine)
    result = cli("load", path, expect=2)
    # a missing key is reported on the first line of its mapping
    assert f"{path}:2: organisation.currency: is required to create the root" in result.stderr
    assert f"{path}:2: organisation.country: is required" in result.stderr
    assert dump_store(engine) == before


def test_accounts_managed_by_a_tenant_are_not_changed_by_a_data_set(cli, engine, tmp_path):
    cli("load", write(tmp_path, "base.yaml", BASE))
    with engine.begin() as conn:
        org_id = conn.execute(select(Organisation.id)).scalar_one()
        conn.execute(
            Account.__table__.update()
            .where(Account.code == "CUST")
            .values(managed_by_org_id=org_id)
        )
    # the same file is fine (nothing changes) ...
    assert counts(cli.json("load", tmp_path / "base.yaml"))["accounts"] == (0, 0, 2)
    before = dump_store(engine)
    # ... a change to the account or to its subscriptions is refused
    text = BASE.replace("name: Customer One", "name: Renamed").replace(
        "quantity: 10", "quantity: 11"
    )
    path = write(tmp_path, "managed.yaml", text)
    result = cli("load", path, expect=2)
    assert (
        f"{path}:{line_of(text, '  - code: CUST')}: accounts[1].code: account CUST is "
        "managed by its tenant reseller" in result.stderr
    )
    assert (
        f"{path}:{line_of(text, '    account: CUST')}: subscriptions[0].account: "
        "account CUST is managed by its tenant reseller" in result.stderr
    )
    assert dump_store(engine) == before


# --- random bad documents ----------------------------------------------------------------


class _Dumper(yaml.SafeDumper):
    """Dumps Decimals as the plain numbers they were written as (never via float)."""


_Dumper.add_representer(
    Decimal, lambda dumper, value: dumper.represent_scalar("tag:yaml.org,2002:float", str(value))
)


def _plain(value):
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, YamlInt):
        return int(value)
    return value


def _fuzz_base() -> dict:
    doc = _plain(load_yaml(BASE, "base"))
    # a multi-line scalar would swallow an inserted broken line as text
    doc["accounts"][0]["billing_address"] = "Street 1, Athens"
    return doc


def _valid_changes(doc: dict) -> None:
    """Edits that are fine on their own: a load that wrote anything would leave them behind."""
    doc["accounts"][1]["name"] = "Customer One Renamed"
    doc["price_lists"][0]["items"][0]["price"] = Decimal("21.00")
    doc["subscriptions"].append(
        {
            "code": "S9",
            "account": "RESELLER",
            "sku": "ACR-BACKUP",
            "unit": "monthly",
            "quantity": 1,
            "price": Decimal("4.15"),
            "start_date": "2024-06-01",
            "add_ons": [{"sku": "ACR-STORAGE", "quantity": 100}],
        }
    )
    doc["assets"].append(
        {
            "code": "A9",
            "account": "RESELLER",
            "sku": "ACR-BACKUP",
            "kind": "software-subscription",
            "quantity": 2,
            "purchase_date": "2024-06-01",
        }
    )


REQUIRED = {
    "products": ["sku", "name", "platform", "units"],
    "price_lists": ["name", "currency"],
    "accounts": ["code", "name"],
    "subscriptions": ["code", "account", "sku", "unit", "quantity", "price", "start_date"],
    "assets": ["code", "account", "sku", "kind", "quantity", "purchase_date"],
}
FIELDS = {
    section: list(schema) for section, schema in schemas().items() if section != "organisation"
}
COLLECTIONS = {"units", "items", "pricing", "contacts", "sync", "add_ons", "characteristics"}
PRICING = [
    "price_list",
    "billing_day",
    "payment_method",
    "credit_limit",
    "invoicing_options",
    "separate_invoices",
]
CODES = {
    "products": "sku",
    "price_lists": "name",
    "accounts": "code",
    "subscriptions": "code",
    "assets": "code",
}
BAD_DATES = ["2024-02-30", "2023-13-01", "yesterday", "01/02/2024", "2024-1-5", 20240101]


def _references(doc: dict) -> list[tuple[dict, str]]:
    """Every (mapping, key) of DOC that names another row."""
    refs = [(a, "bill_to") for a in doc["accounts"]]
    refs += [(a.setdefault("pricing", {}), "price_list") for a in doc["accounts"]]
    refs += [(p, "add_on_of") for p in doc["products"]]
    refs += [(i, "sku") for pl in doc["price_lists"] for i in pl["items"]]
    for sale in (*doc["subscriptions"], *doc["assets"]):
        refs += [(sale, "account"), (sale, "sku")]
        refs += [(a, "sku") for a in sale.get("add_ons", [])]
    return refs


def _mutate(data, doc: dict) -> str:
    """Make DOC bad in one random way; returns what was done (for the failure report)."""
    kind = data.draw(
        st.sampled_from(
            [
                "drop-required",
                "bad-type",
                "negative-amount",
                "bad-date",
                "unknown-reference",
                "duplicate-code",
            ]
        )
    )
    if kind == "drop-required":
        section = data.draw(st.sampled_from([*REQUIRED, "organisation"]))
        if section == "organisation":
            del doc["organisation"]["name"]
            return "drop-required: organisation.name"
        entry = data.draw(st.sampled_from(doc[section]))
        key = data.draw(st.sampled_from(REQUIRED[section]))
        del entry[key]
        return f"drop-required: {section}.{key}"
    if kind == "bad-type":
        section = data.draw(st.sampled_from(sorted(FIELDS)))
        entry = data.draw(st.sampled_from(doc[section]))
        key = data.draw(st.sampled_from(FIELDS[section]))
        if key == "pricing" and data.draw(st.booleans()):
            inner = data.draw(st.sampled_from(PRICING))
            entry.setdefault("pricing", {})[inner] = ["oops"]
            return f"bad-type: {section}.pricing.{inner} = a list"
        entry[key] = (
            "oops" if key in COLLECTIONS else data.draw(st.sampled_from([["oops"], {"oops": 1}]))
        )
        return f"bad-type: {section}.{key} = {entry[key]!r}"
    if kind == "negative-amount":
        amount = data.draw(st.decimals(max_value=Decimal("-0.01"), min_value=-(10**6), places=2))
        where = data.draw(st.sampled_from(["item", "subscription", "credit_limit"]))
        if where == "item":
            data.draw(st.sampled_from(doc["price_lists"][0]["items"]))["price"] = amount
        elif where == "subscription":
            data.draw(st.sampled_from(doc["subscriptions"]))["price"] = amount
        else:
            data.draw(st.sampled_from(doc["accounts"])).setdefault("pricing", {})[
                "credit_limit"
            ] = amount
        return f"negative-amount: {where} {amount}"
    if kind == "bad-date":
        entry = data.draw(st.sampled_from([*doc["subscriptions"], *doc["assets"]]))
        key = "start_date" if "start_date" in entry else "purchase_date"
        entry[key] = data.draw(st.sampled_from(BAD_DATES))
        return f"bad-date: {key} = {entry[key]!r}"
    if kind == "unknown-reference":
        mapping, key = data.draw(st.sampled_from(_references(doc)))
        mapping[key] = "NOPE-" + data.draw(st.text(alphabet="ABCXYZ019", min_size=1, max_size=6))
        return f"unknown-reference: {key} -> {mapping[key]}"
    section = data.draw(st.sampled_from(sorted(CODES)))
    key = CODES[section]
    first, second = data.draw(
        st.lists(st.sampled_from(range(len(doc[section]))), min_size=2, max_size=2, unique=True)
    )
    doc[section][second][key] = doc[section][first][key]
    return f"duplicate-code: {section}[{second}].{key} = [{first}]"


def _break_syntax(data, text: str) -> str:
    lines = text.splitlines(keepends=True)
    at = data.draw(st.integers(min_value=0, max_value=len(lines)))
    # a flow sequence that never closes breaks the YAML wherever it is put
    lines.insert(at, "broken: [unclosed\n")
    return "".join(lines)


_fuzz_counter = iter(range(10**9))


@settings(
    max_examples=50,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_random_bad_documents_are_refused_and_change_nothing(loaded_store, data):
    doc = copy.deepcopy(_fuzz_base())
    _valid_changes(doc)
    if data.draw(st.integers(min_value=0, max_value=6)) == 0:
        text = _break_syntax(data, yaml.dump(doc, Dumper=_Dumper, sort_keys=False))
        what = "broken-syntax"
    else:
        what = _mutate(data, doc)
        text = yaml.dump(doc, Dumper=_Dumper, sort_keys=False)
    event(what.split(":")[0])
    name = f"fuzz-{next(_fuzz_counter)}.yaml"
    loaded_store.assert_refused(name, text)
    # the problems as the domain words them (the terminal's rendering is tested on its own,
    # see test_a_problem_on_line_100_keeps_its_line_number)
    path = loaded_store.directory / name
    with pytest.raises(BadInput) as caught, write_session(loaded_store.engine) as session:
        load_dataset(session, path)
    assert caught.value.problems, what
    for problem in caught.value.problems:
        assert re.match(re.escape(str(path)) + r":\d+: \S+: \S", problem), f"{what}: {problem}"
    assert dump_store(loaded_store.engine) == loaded_store.before


def test_the_fuzz_base_with_its_valid_changes_loads(cli, engine, tmp_path):
    """The random documents differ from a loadable one only by their one mutation."""
    doc = _fuzz_base()
    _valid_changes(doc)
    cli("load", write(tmp_path, "base.yaml", BASE))
    result = cli.json(
        "load", write(tmp_path, "fuzz.yaml", yaml.dump(doc, Dumper=_Dumper, sort_keys=False))
    )
    assert counts(result)["subscriptions"] == (1, 0, 2)
    assert counts(result)["assets"] == (1, 0, 1)
    assert counts(result)["accounts"] == (0, 2, 0)


def test_load_refuses_to_run_inside_a_tenant(cli, engine, tmp_path):
    path = write(tmp_path, "base.yaml", BASE)
    before = dump_store(engine)
    # refused before any login: the data set belongs to the root organisation
    result = cli(
        "--org",
        "any-client-id",
        "load",
        path,
        expect=1,
        env={"TENANTCTL_USER": "admin", "TENANTCTL_PASSWORD": "wrong"},
    )
    assert "`tenantctl load` is a distributor command" in result.stderr
    assert dump_store(engine) == before


# --- hostile documents (issue 11 items 3 and 11) -------------------------------------------


def _alias_bomb(levels: int) -> str:
    """Characteristics of a few hundred bytes whose aliases expand to 10**LEVELS values."""
    lines = ["      l0: &l0 [x, x, x, x, x, x, x, x, x, x]"]
    for level in range(1, levels):
        refs = ", ".join([f"*l{level - 1}"] * 10)
        lines.append(f"      l{level}: &l{level} [{refs}]")
    return "characteristics:\n" + "\n".join(lines) + "\n    ignored: "


def test_an_alias_bomb_is_refused_naming_the_line(loaded_store):
    text = BASE.replace(
        "characteristics: {tenant: cust.onmicrosoft.com, seats: [1, 2], ratio: 0.25}",
        _alias_bomb(7).replace("\n    ignored: ", ""),
    )
    assert len(text) - len(BASE) < 700
    stderr = loaded_store.assert_refused("alias-bomb.yaml", text)
    line = line_of(text, "      l4: &l4")  # l3 holds 11,111 values: its tenth use is too many
    assert (
        f"alias-bomb.yaml:{line}: syntax: not valid YAML: the alias *l3 makes the "
        "document too large" in stderr
    )


def test_characteristics_are_bounded_even_without_aliases(loaded_store):
    many = ", ".join(f"k{i}: {i}" for i in range(1100))
    text = BASE.replace(
        "characteristics: {tenant: cust.onmicrosoft.com, seats: [1, 2], ratio: 0.25}",
        f"characteristics: {{{many}}}",
    )
    stderr = loaded_store.assert_refused("big-characteristics.yaml", text)
    assert "subscriptions[0].characteristics: is too large: at most 1000 values" in stderr


def test_a_yaml_file_that_is_not_utf8_names_the_line(loaded_store):
    text = BASE.replace("    name: Customer One\n", "    name: Customer \udcff\n")
    path = loaded_store.directory / "latin1.yaml"
    path.write_bytes(text.encode("utf-8", "surrogateescape"))
    result = loaded_store.cli("load", path, expect=None)
    assert result.exit_code == 2
    line = line_of(text, "    name: Customer \udcff\n")
    assert result.stderr.strip() == (
        f"Error: {path}:{line}: encoding: byte 0xff is not valid UTF-8 (save the file as UTF-8)"
    )
