"""The bundled data set (fixtures/distributor.yaml) and the next price list (CSV) are what
the demo and many tests stand on: they load cleanly, and hold what their comments promise."""

from __future__ import annotations

from collections import Counter

import pytest
from sqlalchemy import func, select

from tenantctl import config
from tenantctl.domain.catalogue import import_price_list, listed_items, read_price_csv
from tenantctl.domain.checklist import run_checklist
from tenantctl.domain.orgs import root_org
from tenantctl.store.engine import read_session, write_session
from tenantctl.store.models import (
    Account,
    Asset,
    Contact,
    PriceList,
    PriceListRevision,
    Product,
    ProductUnit,
    Subscription,
    SubscriptionAddon,
    SyncRecord,
)
from tests.conftest import FIXTURES
from tests.loader_world import LoadedStore, counts, dump_store

DATA_SET = FIXTURES / "distributor.yaml"
NEXT_PRICE_LIST = FIXTURES / "resellers-eur-v2.csv"
LITE_CUSTOMERS = 12


@pytest.fixture(scope="module")
def distributor(_template, tmp_path_factory):
    """One store with the data set loaded, for the tests that only read it."""
    store = LoadedStore(_template, tmp_path_factory.mktemp("fixtures"), DATA_SET)
    yield store.engine
    assert dump_store(store.engine) == store.before, "a reading test changed the store"
    store.close()


def _accounts(session) -> dict[str, Account]:
    return {a.code: a for a in session.execute(select(Account)).scalars()}


def _price_list(session, name: str) -> PriceList:
    return session.execute(select(PriceList).where(PriceList.name == name)).scalar_one()


def test_the_data_set_loads_cleanly_and_a_reload_changes_nothing(cli, engine):
    result = cli.json("load", DATA_SET)
    assert counts(result) == {
        "organisation": (1, 0, 0),
        "products": (33, 0, 0),
        "price lists": (3, 0, 0),
        "accounts": (20, 0, 0),
        "subscriptions": (33, 0, 0),
        "assets": (5, 0, 0),
    }
    assert result["organisation"] == "Cloudway Distribution S.A."
    loaded = dump_store(engine)
    again = cli.json("load", DATA_SET)
    assert not again["changed"]
    assert all(c["created"] == c["updated"] == 0 for c in again["counts"])
    assert dump_store(engine) == loaded


def test_the_catalogue_spans_every_platform_with_units_and_add_ons(distributor):
    with read_session(distributor) as s:
        org = root_org(s)
        assert (org.currency, org.country) == ("EUR", "GR")
        products = s.execute(select(Product)).scalars().all()
        assert 25 <= len(products) <= 40
        units: dict[int, set[str]] = {}
        for product_id, unit in s.execute(select(ProductUnit.product_id, ProductUnit.unit)):
            units.setdefault(product_id, set()).add(unit)
        for platform in config.platforms():
            mine = [p for p in products if p.platform == platform]
            assert any("monthly" in units[p.id] for p in mine), platform
            assert any("annual" in units[p.id] for p in mine), platform
        by_id = {p.id: p for p in products}
        add_ons = {(p.sku, by_id[p.add_on_of_id].sku) for p in products if p.add_on_of_id}
        assert {
            ("MS-TEAMS-PHONE", "MS-M365-E3"),
            ("ACR-STORAGE-GB", "ACR-CPC-STD"),
            ("OSS-IPV4-EXTRA", "OSS-VPS-2C4G"),
            ("PANDA-PATCH", "PANDA-AD360"),
        } <= add_ons
        kinds = {p.product_type for p in products}
        assert {"software-subscription", "azure-reservation"} <= kinds


def test_the_price_lists_are_exact_and_draft_eur_is_empty(distributor):
    with read_session(distributor) as s:
        resellers = listed_items(s, _price_list(s, "Resellers EUR").id)
        premium = listed_items(s, _price_list(s, "Premium Resellers EUR").id)
        draft = _price_list(s, "Draft EUR")
        product_count = s.execute(select(func.count()).select_from(Product)).scalar()
        assert {pl.currency for pl in s.execute(select(PriceList)).scalars()} == {"EUR"}
        # most of the catalogue, with cents, and 0.1 kept exactly
        assert len({sku for sku, _ in resellers}) >= 0.8 * product_count
        assert str(resellers[("ACR-STORAGE-GB", "monthly")].price) == "0.1"
        assert str(resellers[("MS-M365-BP", "monthly")].price) == "20.60"
        # premium: a subset at other prices (and one product only premium partners get)
        assert 5 <= len(premium) < len(resellers)
        shared = premium.keys() & resellers.keys()
        assert shared and all(premium[k].price != resellers[k].price for k in shared)
        assert {sku for sku, _ in premium} - {sku for sku, _ in resellers} == {"OTH-SUPPORT-PREM"}
        # the checklist's "empty price list": no items and no revision at all
        assert listed_items(s, draft.id) == {}
        assert (
            s.execute(
                select(PriceListRevision).where(PriceListRevision.price_list_id == draft.id)
            ).first()
            is None
        )


def test_each_checklist_account_passes_or_fails_as_described(distributor):
    expected = {  # account -> the checks that fail against "Resellers EUR"
        "ACME": set(),
        "LITECLOUD": set(),
        "NORDIC": {"reseller account"},
        "BETA-CUST": {"reseller account", "provisioning sync"},
        "GAMMA": {"provisioning sync"},
        "UKSERVE": {"price list"},
    }
    with read_session(distributor) as s:
        org = root_org(s)
        for code, failing in expected.items():
            result = run_checklist(s, org, code, "Resellers EUR")
            assert {c.name for c in result.checks if not c.passed} == failing, code
        reasons = {
            c.name: c.reason for c in run_checklist(s, org, "NORDIC", "Resellers EUR").checks
        }
        assert "not enabled for ordering" in reasons["reseller account"]
        reasons = {
            c.name: c.reason for c in run_checklist(s, org, "UKSERVE", "Resellers EUR").checks
        }
        assert "billed in GBP" in reasons["price list"]
        draft = run_checklist(s, org, "ACME", "Draft EUR")
        assert [c.name for c in draft.checks if not c.passed] == ["price list"]
        assert "empty" in draft.checks[1].reason
        accounts = _accounts(s)
        acme = accounts["ACME"]
        assert (acme.kind, acme.ordering_enabled, acme.currency) == ("reseller", True, "EUR")
        synced = dict(
            s.execute(
                select(SyncRecord.platform, SyncRecord.status).where(
                    SyncRecord.account_id == acme.id
                )
            ).all()
        )
        assert synced["oss"] == synced["acronis"] == "synced"
        gamma_sync = dict(
            s.execute(
                select(SyncRecord.platform, SyncRecord.status).where(
                    SyncRecord.account_id == accounts["GAMMA"].id
                )
            ).all()
        )
        assert gamma_sync.get("oss") is None and gamma_sync.get("acronis") != "synced"


def test_litecloud_is_a_lite_reseller_with_customers_subscriptions_and_assets(distributor):
    with read_session(distributor) as s:
        accounts = _accounts(s)
        lite = accounts["LITECLOUD"]
        assert (lite.kind, lite.ordering_enabled, lite.bill_to_id) == ("reseller", True, None)
        customers = {a.id: a for a in accounts.values() if a.bill_to_id == lite.id}
        assert len(customers) == LITE_CUSTOMERS
        assert all(a.kind == "customer" and a.currency == "EUR" for a in customers.values())
        with_contacts = set(s.execute(select(Contact.account_id)).scalars())
        assert set(customers) <= with_contacts
        with_sync = set(s.execute(select(SyncRecord.account_id)).scalars())
        assert 0 < len(set(customers) & with_sync) < LITE_CUSTOMERS
        assert len({a.billing_day for a in customers.values()}) > 1
        assert any(a.separate_invoices for a in customers.values())

        items = listed_items(s, _price_list(s, "Resellers EUR").id)
        skus = dict(s.execute(select(Product.id, Product.sku)).all())
        subs = [x for x in s.execute(select(Subscription)).scalars() if x.account_id in customers]
        assert len(subs) >= 20
        for sub in subs:  # LiteCloud's cost: the reseller price list, exactly
            assert sub.unit_price == items[(skus[sub.product_id], sub.unit)].price, sub.code
            assert (sub.currency, sub.billing_day) == ("EUR", customers[sub.account_id].billing_day)
        assert {True, False} == {x.paid for x in subs}
        assert {"monthly", "annual"} <= {x.unit for x in subs}
        assert Counter(x.status for x in subs)["cancelled"] >= 2
        with_add_ons = set(s.execute(select(SubscriptionAddon.subscription_id)).scalars())
        assert len({x.id for x in subs} & with_add_ons) >= 3

        assets = [a for a in s.execute(select(Asset)).scalars() if a.account_id in customers]
        assert {"software-subscription", "azure-reservation"} <= {a.kind for a in assets}
        # and the distributor's own direct customers
        direct = [a for a in accounts.values() if a.kind == "customer" and a.bill_to_id is None]
        assert len(direct) >= 2
        direct_ids = {a.id for a in direct}
        assert any(x.account_id in direct_ids for x in s.execute(select(Subscription)).scalars())


def test_the_next_price_list_imports_as_revision_2(cli, engine):
    cli("load", DATA_SET)
    with read_session(engine) as s:
        before = {p.sku: p.add_on_of_id for p in s.execute(select(Product)).scalars()}
    rows = read_price_csv(NEXT_PRICE_LIST)
    with write_session(engine) as s:
        result = import_price_list(
            s, root_org(s), "Resellers EUR", rows, source=str(NEXT_PRICE_LIST)
        )
    assert (result.previous_revision, result.revision) == (1, 2)
    assert result.products_created == 2 and result.products_renamed == 0
    added = {(c.sku, c.unit) for c in result.diff.added}
    assert ("ACR-EMAIL-ARCHIVE", "annual") in added  # a new unit of a known product
    assert {"MS-COPILOT-M365", "PANDA-WG-EDR"} <= {sku for sku, _ in added}
    assert len(result.diff.changed) >= 3
    assert 1 <= len(result.diff.discontinued) <= 2
    with read_session(engine) as s:
        after = {p.sku: p.add_on_of_id for p in s.execute(select(Product)).scalars()}
    assert {sku: after[sku] for sku in before} == before  # add-on structure agrees
    # reloading the data set would roll the import back: refused, nothing written; with
    # --replace-price-lists it keeps what the import added to the catalogue, and makes
    # "Resellers EUR" what the data set says again (a third revision, equal to the first)
    assert "loading it would revise back 'Resellers EUR'" in cli("load", DATA_SET, expect=1).stderr
    reload = cli.json("load", DATA_SET, "--replace-price-lists")
    assert counts(reload)["products"] == (0, 0, 33)
    assert counts(reload)["price lists"] == (0, 1, 2)
    assert reload["revisions"] == {"Resellers EUR": 3}
    with read_session(engine) as s:
        pl = _price_list(s, "Resellers EUR")
        first, third = listed_items(s, pl.id, 1), listed_items(s, pl.id, 3)
        assert {k: v.price for k, v in third.items()} == {k: v.price for k, v in first.items()}
