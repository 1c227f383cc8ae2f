"""`tenantctl upgrade customers / subscriptions / status` (SPEC section 5): a lite reseller's
customers, then their active subscriptions and assets, copied into its tenant; end to end
through the CLI on the distributor's data set (`fixtures/distributor.yaml`, LITECLOUD).

What the tenant must hold is computed here from the root's own rows (the accounts billed to
LITECLOUD, their subscriptions, add-ons and assets, the "Resellers EUR" prices at the
tenant's revision) and compared with what the store holds afterwards. The pre-check
failures are made by changing rows of the root or the tenant directly, as an operator or a
reseller would in the BSS.
"""

from __future__ import annotations

import re
import signal
import threading
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import delete, func, insert, select, update

from tenantctl import jobs
from tenantctl.domain import transfer
from tenantctl.domain.tenants.catalogue_copy import copy_catalogue_batch, ensure_retail_price_list
from tenantctl.store.engine import read_session, write_session
from tenantctl.store.models import (
    Account,
    Asset,
    Contact,
    Organisation,
    PriceList,
    PriceListItem,
    PriceListRevision,
    Product,
    ProductUnit,
    Subscription,
    SubscriptionAddon,
    SyncRecord,
    TenantReseller,
)
from tests.jobs_worker_main import FAST, wait_until
from tests.upgrade_world import (
    COPIED,
    DATASET,
    LITE,
    PL,
    Lite,
    add_ons_of,
    by_source,
    copies,
    create_tenant,
    lite_tenant,
    root_customers,
    root_rows,
    status,
    tenant_state,
)

# Nothing here takes a minute; this only turns a hang into a failure.
HANG_SECONDS = 120


class Hang(BaseException):
    """A test ran far past anything it needs: the code under test loops or waits forever."""


@pytest.fixture(autouse=True)
def hang_guard():
    def expire(signum, frame):
        raise Hang(f"still running after {HANG_SECONDS} s: the code under test hangs")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(HANG_SECONDS)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


# --- the tenant and the root's rows ----------------------------------------------------------


@pytest.fixture
def lite(cli, engine) -> Lite:
    """The data set loaded and LITECLOUD's tenant created (phase setup)."""
    cli("load", DATASET)
    create_tenant(cli)
    return lite_tenant(engine)


@pytest.fixture
def customers_copied(cli, lite) -> Lite:
    """... and `upgrade customers` done (phase customers-copied)."""
    cli.json("upgrade", "customers", LITE)
    return lite


def count(engine, model, *where) -> int:
    with read_session(engine) as session:
        return session.execute(select(func.count()).select_from(model).where(*where)).scalar_one()


def tenant_counts(engine, org_id: int) -> dict[str, int]:
    """How many rows of each kind the tenant holds."""
    with read_session(engine) as session:

        def n(query) -> int:
            return session.execute(query).scalar_one()

        accounts = select(Account.id).where(Account.org_id == org_id)
        subs = select(Subscription.id).where(Subscription.org_id == org_id)
        return {
            "accounts": n(
                select(func.count()).select_from(Account).where(Account.org_id == org_id)
            ),
            "contacts": n(
                select(func.count()).select_from(Contact).where(Contact.account_id.in_(accounts))
            ),
            "sync": n(
                select(func.count())
                .select_from(SyncRecord)
                .where(SyncRecord.account_id.in_(accounts))
            ),
            "subscriptions": n(
                select(func.count()).select_from(Subscription).where(Subscription.org_id == org_id)
            ),
            "add_ons": n(
                select(func.count())
                .select_from(SubscriptionAddon)
                .where(SubscriptionAddon.subscription_id.in_(subs))
            ),
            "assets": n(select(func.count()).select_from(Asset).where(Asset.org_id == org_id)),
        }


def cost_prices(engine, lite: Lite) -> dict[tuple[int, str], Decimal]:
    """The root price list's prices at the tenant's revision: (root product id, unit) -> price."""
    rev = lite.revision
    with read_session(engine) as session:
        return {
            (r.product_id, r.unit): r.price
            for r in session.execute(
                select(PriceListItem).where(
                    PriceListItem.price_list_id == lite.root_price_list_id,
                    PriceListItem.from_revision <= rev,
                    PriceListItem.to_revision.is_(None) | (PriceListItem.to_revision > rev),
                )
            ).scalars()
        }


def tenant_products(engine, lite: Lite) -> dict[int, Product]:
    """The tenant's products by id."""
    with read_session(engine) as session:
        return {
            p.id: p
            for p in session.execute(select(Product).where(Product.org_id == lite.org_id)).scalars()
        }


def contacts_of(engine, account_ids) -> dict[int, list[tuple]]:
    with read_session(engine) as session:
        out: dict[int, list[tuple]] = {a: [] for a in account_ids}
        for c in session.execute(
            select(Contact).where(Contact.account_id.in_(account_ids)).order_by(Contact.id)
        ).scalars():
            out[c.account_id].append((c.name, c.email, c.phone, c.role))
        return out


def sync_of(engine, account_ids) -> dict[int, set[tuple]]:
    with read_session(engine) as session:
        out: dict[int, set[tuple]] = {a: set() for a in account_ids}
        for s in session.execute(
            select(SyncRecord).where(SyncRecord.account_id.in_(account_ids))
        ).scalars():
            out[s.account_id].add((s.platform, s.status, s.external_id))
        return out


def processes_of(engine, kind: str) -> list[jobs.ProcessInfo]:
    return [p for p in jobs.list_processes(engine, None, limit=1000) if p.kind == kind]


# Account fields a copied customer takes over from its root record as they are.
KEPT = (
    "code",
    "name",
    "ordering_enabled",
    "currency",
    "country",
    "accounting_number",
    "email",
    "billing_address",
    "billing_day",
    "payment_method",
    "credit_limit",
    "invoicing_options",
    "separate_invoices",
)


# --- changing rows as an operator or the reseller would ----------------------------------------


def tenant_price_list(
    session, lite: Lite, name: str, prices: dict[tuple[int, str], Decimal], currency: str = "EUR"
) -> int:
    """A price list of the tenant with PRICES {(tenant product id, unit): price}."""
    price_list = PriceList(org_id=lite.org_id, name=name, currency=currency)
    session.add(price_list)
    session.flush()
    session.add(
        PriceListRevision(
            price_list_id=price_list.id,
            number=1,
            item_count=len(prices),
            source="made by the reseller",
        )
    )
    if prices:
        session.execute(
            insert(PriceListItem),
            [
                {
                    "price_list_id": price_list.id,
                    "product_id": product,
                    "unit": unit,
                    "price": price,
                    "from_revision": 1,
                }
                for (product, unit), price in prices.items()
            ],
        )
    return price_list.id


def retail_items(session, lite: Lite) -> dict[tuple[int, str], Decimal]:
    """The tenant's "Retail EUR" open items: (tenant product id, unit) -> price."""
    retail = retail_id(session, lite)
    return {
        (i.product_id, i.unit): i.price
        for i in session.execute(
            select(PriceListItem).where(
                PriceListItem.price_list_id == retail, PriceListItem.to_revision.is_(None)
            )
        ).scalars()
    }


def retail_id(session, lite: Lite) -> int:
    return session.execute(
        select(PriceList.id).where(PriceList.org_id == lite.org_id, PriceList.name == "Retail EUR")
    ).scalar_one()


def root_sub(session, lite: Lite, code: str) -> Subscription:
    return (
        session.execute(
            select(Subscription).where(
                Subscription.org_id == lite.root_id, Subscription.code == code
            )
        )
        .scalars()
        .one()
    )


def root_asset(session, lite: Lite, code: str) -> Asset:
    return (
        session.execute(select(Asset).where(Asset.org_id == lite.root_id, Asset.code == code))
        .scalars()
        .one()
    )


def product(session, org_id: int, sku: str) -> Product:
    return (
        session.execute(select(Product).where(Product.org_id == org_id, Product.sku == sku))
        .scalars()
        .one()
    )


def tenant_account(session, lite: Lite, code: str) -> Account:
    return (
        session.execute(select(Account).where(Account.org_id == lite.org_id, Account.code == code))
        .scalars()
        .one()
    )


# --- the whole upgrade -----------------------------------------------------------------------

REPRICED = "LC-AEGEAN-TRAVEL"  # its pricing options are changed in the tenant before step 2
REPRICED_DAY = 17


def partner_price(cost: Decimal) -> Decimal:
    """The prices of the reseller's own "Partner EUR" list: cost plus 25 %, to the cent."""
    return (cost * Decimal("1.25")).quantize(Decimal("0.01"))


def test_the_whole_upgrade_of_a_lite_reseller(cli, engine, lite, monkeypatch):
    # Small batches, so that both copies go through several committed batches.
    monkeypatch.setenv("TENANTCTL_COPY_BATCH", "5")
    customers = root_customers(engine, lite)
    active_subs = root_rows(engine, lite, Subscription, COPIED)
    active_assets = root_rows(engine, lite, Asset, COPIED)
    all_subs = root_rows(engine, lite, Subscription)
    all_assets = root_rows(engine, lite, Asset)
    # The fixture has a dozen customers and something of every status; the test relies on it.
    assert len(customers) == 12
    assert {s.status for s in all_subs.values()} == {"active", "inactive", "suspended", "cancelled"}
    assert {a.status for a in all_assets.values()} == {"active", "expired", "cancelled"}
    assert len(active_subs) < len(all_subs) and len(active_assets) < len(all_assets)

    assert status(cli) == {
        "tenant": LITE,
        "phase": "setup",
        "backorder_state": "off",
        "customers_copied": 0,
        "customers_left": len(customers),
        "subscriptions_copied": 0,
        "subscriptions_left": len(active_subs),
        "assets_copied": 0,
        "assets_left": len(active_assets),
    }

    # --- step 1: customers
    result = cli.json("upgrade", "customers", LITE)
    assert result["phase"] == "customers-copied"
    assert (result["customers_copied"], result["customers_left"]) == (len(customers), 0)
    assert tenant_state(engine, lite) == ("customers-copied", "off")
    assert jobs.get_process(engine, result["process_id"]).status == "succeeded"

    account_copies = by_source(copies(engine, Account, lite.org_id), "source_account_id")
    assert set(account_copies) == set(customers)
    with read_session(engine) as session:
        retail = retail_id(session, lite)
    for source, copy in account_copies.items():
        root = customers[source]
        assert {f: getattr(copy, f) for f in KEPT} == {f: getattr(root, f) for f in KEPT}
        assert (copy.org_id, copy.kind, copy.bill_to_id, copy.managed_by_org_id) == (
            lite.org_id,
            "customer",
            None,
            None,
        )
        # Until the reseller sets its own pricing options, a customer buys at retail.
        assert copy.price_list_id == retail
    # Contacts and sync records, each exactly once.
    root_contacts = contacts_of(engine, list(customers))
    copy_contacts = contacts_of(engine, [c.id for c in account_copies.values()])
    root_sync = sync_of(engine, list(customers))
    copy_sync = sync_of(engine, [c.id for c in account_copies.values()])
    for source, copy in account_copies.items():
        assert sorted(copy_contacts[copy.id]) == sorted(root_contacts[source])
        assert copy_sync[copy.id] == root_sync[source]
    assert sum(map(len, copy_contacts.values())) == sum(map(len, root_contacts.values()))
    # In the root they are now back-ordering records managed by the tenant; nobody else is.
    with read_session(engine) as session:
        managed = dict(
            session.execute(
                select(Account.id, Account.managed_by_org_id).where(Account.org_id == lite.root_id)
            ).all()
        )
    assert {a for a, org in managed.items() if org is not None} == set(customers)
    assert {managed[a] for a in customers} == {lite.org_id}
    # Nothing of step 2 yet.
    counts = tenant_counts(engine, lite.org_id)
    assert (counts["subscriptions"], counts["assets"]) == (0, 0)

    # --- the reseller sets one customer's pricing options in its own org
    products = tenant_products(engine, lite)
    with write_session(engine) as session:
        partner = tenant_price_list(
            session,
            lite,
            "Partner EUR",
            {key: partner_price(price) for key, price in retail_items(session, lite).items()},
        )
        session.execute(
            update(Account)
            .where(
                Account.id
                == account_copies[next(a for a, r in customers.items() if r.code == REPRICED)].id
            )
            .values(price_list_id=partner, billing_day=REPRICED_DAY)
        )

    # --- step 2: subscriptions and assets
    result = cli.json("upgrade", "subscriptions", LITE)
    assert jobs.get_process(engine, result["process_id"]).status == "succeeded"
    assert tenant_state(engine, lite) == ("live", "on")

    cost = cost_prices(engine, lite)
    sub_copies = by_source(copies(engine, Subscription, lite.org_id), "source_subscription_id")
    # Every active subscription once, none of another status, and nothing else.
    assert set(sub_copies) == set(active_subs)
    assert tenant_counts(engine, lite.org_id)["subscriptions"] == len(active_subs)
    copy_of_account = {source: copy.id for source, copy in account_copies.items()}
    repriced = 0
    for source, copy in sub_copies.items():
        root = active_subs[source]
        customer = customers[root.account_id]
        copied_product = products[copy.product_id]
        assert copy.org_id == lite.org_id
        assert copy.account_id == copy_of_account[root.account_id]
        assert copied_product.source_product_id == root.product_id
        assert (
            copy.code,
            copy.unit,
            copy.quantity,
            copy.currency,
            copy.status,
            copy.start_date,
            copy.auto_renew,
            copy.paid,
            copy.characteristics,
        ) == (
            root.code,
            root.unit,
            root.quantity,
            root.currency,
            root.status,
            root.start_date,
            root.auto_renew,
            root.paid,
            root.characteristics,
        )
        # Priced from the customer's price list in the tenant, billed on its billing day:
        # retail at cost (= the distributor's price at the tenant's revision) by default.
        if customer.code == REPRICED:
            repriced += 1
            assert copy.unit_price == partner_price(cost[(root.product_id, root.unit)])
            assert copy.billing_day == REPRICED_DAY
        else:
            assert copy.unit_price == cost[(root.product_id, root.unit)]
            assert copy.billing_day == customer.billing_day
    assert repriced == 2  # SUB-LC-0006 and SUB-LC-0007

    # Add-ons: the same products (their tenant copies) and quantities.
    root_add_ons = add_ons_of(engine, list(active_subs))
    copy_add_ons = add_ons_of(engine, [c.id for c in sub_copies.values()])
    for source, copy in sub_copies.items():
        assert {
            (products[p].source_product_id, q) for p, q in copy_add_ons[copy.id]
        } == root_add_ons[source]
        assert all(products[p].org_id == lite.org_id for p, _ in copy_add_ons[copy.id])
    add_on_total = sum(map(len, root_add_ons.values()))
    assert add_on_total >= 10
    assert tenant_counts(engine, lite.org_id)["add_ons"] == add_on_total

    # Active assets once, none of another status.
    asset_copies = by_source(copies(engine, Asset, lite.org_id), "source_asset_id")
    assert set(asset_copies) == set(active_assets)
    assert tenant_counts(engine, lite.org_id)["assets"] == len(active_assets)
    for source, copy in asset_copies.items():
        root = active_assets[source]
        assert copy.account_id == copy_of_account[root.account_id]
        assert products[copy.product_id].source_product_id == root.product_id
        assert (
            copy.code,
            copy.kind,
            copy.quantity,
            copy.purchase_date,
            copy.status,
            copy.characteristics,
        ) == (
            root.code,
            root.kind,
            root.quantity,
            root.purchase_date,
            root.status,
            root.characteristics,
        )

    # The root keeps its own rows untouched (they are the mirrors now).
    assert root_rows(engine, lite, Subscription).keys() == all_subs.keys()

    assert status(cli) == {
        "tenant": LITE,
        "phase": "live",
        "backorder_state": "on",
        "customers_copied": len(customers),
        "customers_left": 0,
        "subscriptions_copied": len(active_subs),
        "subscriptions_left": 0,
        "assets_copied": len(active_assets),
        "assets_left": 0,
    }


def test_retail_prices_of_the_tenant_are_the_distributors_prices(engine, lite):
    """What "priced at retail" means above: the tenant's retail list at cost."""
    cost = cost_prices(engine, lite)
    products = tenant_products(engine, lite)
    with read_session(engine) as session:
        retail = retail_items(session, lite)
    assert {
        (products[p].source_product_id, unit): price for (p, unit), price in retail.items()
    } == cost


def test_status_shows_the_counts_left_while_the_upgrade_is_half_done(cli, engine, customers_copied):
    lite = customers_copied
    active_subs = root_rows(engine, lite, Subscription, COPIED)
    active_assets = root_rows(engine, lite, Asset, COPIED)
    # A customer joins LITECLOUD in the root after step 1, with a subscription.
    add_root_customer(engine, lite, "LC-LATE-JOINER")
    result = status(cli)
    assert result == {
        "tenant": LITE,
        "phase": "customers-copied",
        "backorder_state": "off",
        "customers_copied": 12,
        "customers_left": 1,
        "subscriptions_copied": 0,
        "subscriptions_left": len(active_subs) + 1,
        "assets_copied": 0,
        "assets_left": len(active_assets),
    }


def test_status_in_human_form(cli, engine, customers_copied, snapshot):
    cli("upgrade", "subscriptions", LITE)
    result = cli("upgrade", "status", LITE, env={"COLUMNS": "120"})
    text = "\n".join(line.rstrip() for line in result.stdout.splitlines()) + "\n"
    snapshot.assert_match(text, "upgrade_status_live.txt")


def add_root_customer(engine, lite: Lite, code: str, sku: str = "MS-M365-BB") -> int:
    """A new customer of LITECLOUD in the root with one active subscription; its id."""
    with write_session(engine) as session:
        account = Account(
            org_id=lite.root_id,
            code=code,
            name=f"{code} S.A.",
            bill_to_id=lite.reseller_id,
            currency="EUR",
            country="GR",
            billing_day=9,
        )
        session.add(account)
        session.flush()
        session.add(
            Contact(account_id=account.id, name="Late Joiner", email="l@late.example", role="owner")
        )
        session.add(
            SyncRecord(account_id=account.id, platform="microsoft", external_id=f"{code}-MS")
        )
        session.add(
            Subscription(
                org_id=lite.root_id,
                code=f"SUB-{code}",
                account_id=account.id,
                product_id=product(session, lite.root_id, sku).id,
                unit="monthly",
                quantity=3,
                unit_price=Decimal("5.60"),
                currency="EUR",
                start_date=date(2025, 6, 1),
            )
        )
        return account.id


# --- the pre-checks --------------------------------------------------------------------------
# Each case changes rows that no other case touches, so that "all" is every case at once and
# its offenders are exactly the union. A case returns the offenders it makes:
# (kind, code, account, a fragment of the problem).


def break_currency(session, lite):
    for code in ("SUB-LC-0013", "SUB-LC-0025"):
        root_sub(session, lite, code).currency = "USD"
    return [
        ("subscription", "SUB-LC-0013", "LC-CRETE-HOTELS", "in USD, not the tenant's EUR"),
        ("subscription", "SUB-LC-0025", "LC-HERMES-COURIER", "in USD, not the tenant's EUR"),
    ]


def break_product(session, lite):
    # A product the distributor sells but not through the reseller's price list ...
    root_sub(session, lite, "SUB-LC-0023").product_id = product(
        session, lite.root_id, "OTH-SUPPORT-PREM"
    ).id
    # ... one discontinued in the tenant ...
    product(session, lite.org_id, "MS-VISIO-P2").status = "discontinued"
    # ... and an asset of a product that is in no price list at all.
    new = Product(
        org_id=lite.root_id,
        sku="MS-AZURE-RI-NEW",
        name="A new reservation",
        platform="microsoft",
        product_type="azure-reservation",
    )
    session.add(new)
    session.flush()
    session.add(ProductUnit(org_id=lite.root_id, product_id=new.id, unit="annual"))
    root_asset(session, lite, "AST-LC-0001").product_id = new.id
    return [
        ("subscription", "SUB-LC-0023", "LC-DELTA-PHARMA", "OTH-SUPPORT-PREM"),
        ("subscription", "SUB-LC-0018", "LC-IONIAN-ARCH", "MS-VISIO-P2"),
        ("asset", "AST-LC-0001", "LC-PIRAEUS-SHIP", "MS-AZURE-RI-NEW"),
    ]


def break_unit(session, lite):
    # The distributor sells e-mail archiving per year too, but not to resellers ...
    archive = product(session, lite.root_id, "ACR-EMAIL-ARCHIVE")
    session.add(ProductUnit(org_id=lite.root_id, product_id=archive.id, unit="annual"))
    root_sub(session, lite, "SUB-LC-0021").unit = "annual"
    # ... and the tenant no longer sells Business Premium per year.
    bp = product(session, lite.org_id, "MS-M365-BP")
    session.execute(
        update(ProductUnit)
        .where(ProductUnit.product_id == bp.id, ProductUnit.unit == "annual")
        .values(status="discontinued")
    )
    return [
        ("subscription", "SUB-LC-0021", "LC-KRONOS-ACCT", "per annual"),
        ("subscription", "SUB-LC-0003", "LC-OLIVE-TRADE", "per annual"),
    ]


def break_add_on(session, lite):
    product(session, lite.org_id, "MS-TEAMS-PHONE").status = "discontinued"
    session.add(
        SubscriptionAddon(
            subscription_id=root_sub(session, lite, "SUB-LC-0009").id,
            product_id=product(session, lite.root_id, "OTH-SUPPORT-PREM").id,
            quantity=1,
        )
    )
    return [
        ("subscription", "SUB-LC-0006", "LC-AEGEAN-TRAVEL", "add-on MS-TEAMS-PHONE"),
        ("subscription", "SUB-LC-0019", "LC-IONIAN-ARCH", "add-on MS-TEAMS-PHONE"),
        ("subscription", "SUB-LC-0009", "LC-PIRAEUS-SHIP", "add-on OTH-SUPPORT-PREM"),
    ]


def break_sync(session, lite):
    for code, platform in (
        ("LC-PIRAEUS-SHIP", "oss"),
        ("LC-ATHENS-DENTAL", "acronis"),
        ("LC-HERMES-COURIER", "microsoft"),
    ):
        session.execute(
            delete(SyncRecord).where(
                SyncRecord.account_id == tenant_account(session, lite, code).id,
                SyncRecord.platform == platform,
            )
        )
    return [
        ("customer", "LC-PIRAEUS-SHIP", "LC-PIRAEUS-SHIP", "oss"),
        ("customer", "LC-ATHENS-DENTAL", "LC-ATHENS-DENTAL", "acronis"),
        ("customer", "LC-HERMES-COURIER", "LC-HERMES-COURIER", "microsoft"),
    ]


def break_price(session, lite):
    # A price list of the reseller's that lists Panda but not Business Premium ...
    epp = product(session, lite.org_id, "PANDA-EPP")
    partial = tenant_price_list(
        session, lite, "Partial EUR", {(epp.id, "monthly"): Decimal("2.10")}
    )
    tenant_account(session, lite, "LC-PATRAS-MOTORS").price_list_id = partial
    # ... a customer with no price list at all ...
    tenant_account(session, lite, "LC-ZEUS-FITNESS").price_list_id = None
    # ... and an item taken off the retail list in its revision 2.
    retail = retail_id(session, lite)
    session.add(PriceListRevision(price_list_id=retail, number=2, source="SSL off the list"))
    session.execute(
        update(PriceListItem)
        .where(
            PriceListItem.price_list_id == retail,
            PriceListItem.product_id == product(session, lite.org_id, "OSS-SSL-DV").id,
        )
        .values(to_revision=2)
    )
    return [
        ("subscription", "SUB-LC-0017", "LC-PATRAS-MOTORS", "Partial EUR"),
        ("subscription", "SUB-LC-0027", "LC-ZEUS-FITNESS", "(none)"),
        ("subscription", "SUB-LC-0015", "LC-CRETE-HOTELS", "Retail EUR"),
    ]


BREAKS = {
    "currency": break_currency,
    "product": break_product,
    "unit": break_unit,
    "add-on": break_add_on,
    "sync": break_sync,
    "price": break_price,
}


def break_all(session, lite):
    return [o for b in BREAKS.values() for o in b(session, lite)]


def offender_lines(stderr: str) -> list[str]:
    """The offender lines of a refused `upgrade subscriptions`, whitespace made single."""
    text = re.sub(r"\s+", " ", stderr).strip()
    return re.findall(
        r"(?:subscription|asset|customer) \S+ \(\S+\): .*?; fix: .*?(?= "
        r"(?:subscription|asset|customer) \S+ \(\S+\): |$)",
        text,
    )


@pytest.mark.parametrize("breaker", [*BREAKS.values(), break_all], ids=[*BREAKS, "all"])
def test_a_failed_precheck_lists_every_offender_and_copies_nothing(
    cli, engine, customers_copied, breaker
):
    lite = customers_copied
    with write_session(engine) as session:
        expected = breaker(session, lite)
    before = tenant_counts(engine, lite.org_id)

    # The domain function: every offender, no other.
    with read_session(engine) as session:
        offenders = transfer.subscription_prechecks(session, session.get(TenantReseller, lite.id))
    found = {(o.kind, o.code, o.account): o for o in offenders}
    assert len(found) == len(offenders), f"an offender is listed twice: {offenders}"
    assert sorted(found) == sorted(e[:3] for e in expected)
    for kind, code, account, fragment in expected:
        offender = found[(kind, code, account)]
        assert fragment in offender.problem, offender
        assert offender.fix

    # The command: exit 3, each offender on a line of its own, and nothing copied or queued.
    result = cli("upgrade", "subscriptions", LITE, expect=3)
    lines = offender_lines(result.stderr)
    assert len(lines) == len(expected), result.stderr
    for kind, code, account, fragment in expected:
        [line] = [x for x in lines if x.startswith(f"{kind} {code} ({account}): ")]
        assert fragment in line
    assert "nothing was copied" in result.stderr
    assert tenant_counts(engine, lite.org_id) == before
    assert (before["subscriptions"], before["add_ons"], before["assets"]) == (0, 0, 0)
    assert tenant_state(engine, lite) == ("customers-copied", "off")
    assert processes_of(engine, transfer.SUBSCRIPTIONS_KIND) == []
    assert status(cli)["subscriptions_copied"] == 0


def test_the_process_checks_again_before_it_copies(cli, engine, customers_copied):
    """Queued with --detach, the copy re-checks when a worker runs it: what broke meanwhile
    fails the process (exit 3) before anything is copied; fixed, it runs to the end."""
    lite = customers_copied
    queued = cli.json("upgrade", "subscriptions", LITE, "--detach")
    assert queued["status"] == "queued"
    with write_session(engine) as session:
        root_sub(session, lite, "SUB-LC-0013").currency = "USD"
    cli("worker", "--until-empty")
    info = jobs.get_process(engine, queued["process_id"])
    assert (info.status, info.exit_code) == ("failed", 3)
    assert "SUB-LC-0013" in info.error
    counts = tenant_counts(engine, lite.org_id)
    assert (counts["subscriptions"], counts["add_ons"], counts["assets"]) == (0, 0, 0)
    assert tenant_state(engine, lite) == ("customers-copied", "off")

    with write_session(engine) as session:
        root_sub(session, lite, "SUB-LC-0013").currency = "EUR"
    cli.json("upgrade", "subscriptions", LITE)
    assert tenant_state(engine, lite) == ("live", "on")
    assert tenant_counts(engine, lite.org_id)["subscriptions"] == len(
        root_rows(engine, lite, Subscription, COPIED)
    )


def test_in_the_foreground_the_process_does_not_check_again_what_the_request_checked(
    cli, engine, customers_copied, monkeypatch
):
    """Run at once, the process does not re-run the pre-checks the request ran in the
    transaction that queued it (queued with --detach, it does: see the test above)."""
    checks = []
    real = transfer.subscription_prechecks
    monkeypatch.setattr(
        transfer, "subscription_prechecks", lambda *a, **k: checks.append(1) or real(*a, **k)
    )
    result = cli.json("upgrade", "subscriptions", LITE)
    info = jobs.get_process(engine, result["process_id"])
    assert info.status == "succeeded"
    # The request's check, then the re-check after each copy: none before the copy.
    assert len(checks) == 3
    check = info.tasks[0]
    assert (check.name, check.status, check.done, check.total) == (
        "check the subscriptions",
        "done",
        1,
        1,
    )


# --- re-runs ---------------------------------------------------------------------------------


def test_rerunning_upgrade_customers_copies_nothing_twice(cli, engine, customers_copied):
    lite = customers_copied
    before = tenant_counts(engine, lite.org_id)
    assert before["accounts"] == 12
    result = cli.json("upgrade", "customers", LITE)
    rerun = jobs.get_process(engine, result["process_id"])
    assert rerun.status == "succeeded"
    assert tenant_counts(engine, lite.org_id) == before
    assert tenant_state(engine, lite) == ("customers-copied", "off")
    # It says it did nothing new: no 12/12 bar, no "customers copied: 12".
    assert [(t.done, t.total) for t in rerun.tasks if t.name == "copy the customers"] == [(0, 0)]
    messages = [e.message for e in jobs.logs(engine, rerun.id)]
    assert any(m.startswith("customers: 0 new, 12 already copied;") for m in messages)

    # A customer that joined since is copied, and only it.
    late = add_root_customer(engine, lite, "LC-LATE-JOINER")
    cli.json("upgrade", "customers", LITE)
    after = tenant_counts(engine, lite.org_id)
    assert after == {
        **before,
        "accounts": before["accounts"] + 1,
        "contacts": before["contacts"] + 1,
        "sync": before["sync"] + 1,
    }
    assert late in by_source(copies(engine, Account, lite.org_id), "source_account_id")


def test_rerunning_either_step_after_going_live_copies_nothing_twice(cli, engine, customers_copied):
    lite = customers_copied
    cli.json("upgrade", "subscriptions", LITE)
    before = tenant_counts(engine, lite.org_id)
    live_status = status(cli)
    for step in ("customers", "subscriptions", "customers", "subscriptions"):
        result = cli.json("upgrade", step, LITE)
        assert jobs.get_process(engine, result["process_id"]).status == "succeeded"
        assert tenant_counts(engine, lite.org_id) == before
        assert tenant_state(engine, lite) == ("live", "on")
    assert status(cli) == live_status

    # Later additions are copied exactly once by the next runs.
    add_root_customer(engine, lite, "LC-LATE-JOINER")
    cli.json("upgrade", "customers", LITE)
    cli.json("upgrade", "subscriptions", LITE)
    cli.json("upgrade", "subscriptions", LITE)
    after = tenant_counts(engine, lite.org_id)
    assert (after["accounts"], after["subscriptions"]) == (
        before["accounts"] + 1,
        before["subscriptions"] + 1,
    )
    assert tenant_state(engine, lite) == ("live", "on")


# --- refusals --------------------------------------------------------------------------------


def test_subscriptions_before_customers_is_refused(cli, engine, lite):
    result = cli("upgrade", "subscriptions", LITE, expect=1)
    assert "upgrade customers" in result.stderr
    assert tenant_counts(engine, lite.org_id)["subscriptions"] == 0
    assert processes_of(engine, transfer.SUBSCRIPTIONS_KIND) == []
    assert tenant_state(engine, lite) == ("setup", "off")


@pytest.mark.parametrize("step", ["customers", "subscriptions", "status"])
def test_an_unknown_tenant_is_not_found(cli, lite, step):
    result = cli("upgrade", step, "NOBODY", expect=1)
    assert "NOBODY" in result.stderr
    # A reseller that is no tenant is unknown as a tenant too.
    cli("upgrade", step, "ACME", expect=1)


@pytest.mark.parametrize("step", ["customers", "subscriptions", "status"])
def test_a_tenant_cannot_upgrade_itself_from_inside(cli, engine, lite, step):
    # Inside its tenant, LITECLOUD names no tenant of that org: nothing of the parent moves.
    env = {"TENANTCTL_USER": "admin", "TENANTCTL_PASSWORD": "long-enough-pw"}
    result = cli("--org", lite.client_id, "upgrade", step, LITE, env=env, expect=1)
    assert f"no tenant reseller {LITE!r}" in result.stderr
    assert tenant_counts(engine, lite.org_id)["accounts"] == 0
    assert tenant_state(engine, lite) == ("setup", "off")


def test_refused_until_the_tenant_is_created(cli, engine):
    cli("load", DATASET)
    create_tenant(cli, "--detach")
    for step in ("customers", "subscriptions"):
        result = cli("upgrade", step, LITE, expect=1)
        assert "process list" in result.stderr
    assert processes_of(engine, transfer.CUSTOMERS_KIND) == []


def test_a_second_request_while_one_is_queued_is_busy(cli, engine, customers_copied):
    lite = customers_copied
    first = cli.json("upgrade", "customers", LITE, "--detach")
    for step in ("customers", "subscriptions"):
        result = cli("upgrade", step, LITE, expect=4)
        assert f"process {first['process_id']}" in result.stderr
    assert len(processes_of(engine, transfer.CUSTOMERS_KIND)) == 2  # the fixture's and this
    assert processes_of(engine, transfer.SUBSCRIPTIONS_KIND) == []
    cli("worker", "--until-empty")
    cli.json("upgrade", "subscriptions", LITE)
    assert tenant_state(engine, lite) == ("live", "on")


def test_customer_codes_already_used_in_the_tenant_are_refused(cli, engine, lite):
    with write_session(engine) as session:
        for code in ("LC-ZEUS-FITNESS", "LC-ATHENS-DENTAL"):
            session.add(
                Account(
                    org_id=lite.org_id,
                    code=code,
                    name="The reseller's own",
                    currency="EUR",
                    country="GR",
                )
            )
    result = cli("upgrade", "customers", LITE, expect=3)
    assert "LC-ATHENS-DENTAL, LC-ZEUS-FITNESS" in result.stderr
    assert tenant_counts(engine, lite.org_id)["accounts"] == 2
    assert processes_of(engine, transfer.CUSTOMERS_KIND) == []


# --- product bugs (strict xfail: each turns into a failure the day it is fixed) ---------------


def test_subscription_codes_already_used_in_the_tenant_are_a_precheck(
    cli, engine, customers_copied, monkeypatch
):
    monkeypatch.setenv("TENANTCTL_RETRY_BACKOFF_SECONDS", "0")
    lite = customers_copied
    with write_session(engine) as session:
        own = Account(
            org_id=lite.org_id,
            code="OWN-1",
            name="The reseller's own customer",
            currency="EUR",
            country="GR",
        )
        session.add(own)
        session.flush()
        session.add(
            Subscription(
                org_id=lite.org_id,
                code="SUB-LC-0001",
                account_id=own.id,
                product_id=product(session, lite.org_id, "MS-M365-BS").id,
                unit="monthly",
                quantity=1,
                unit_price=Decimal("11.70"),
                currency="EUR",
                start_date=date(2025, 1, 1),
            )
        )
    result = cli("upgrade", "subscriptions", LITE, expect=None)
    assert result.exit_code == 3, result.stderr
    assert offender_lines(result.stderr)[0].startswith("subscription SUB-LC-0001 ")


def test_a_customer_on_a_price_list_in_another_currency(cli, engine, customers_copied):
    """A customer whose price list in the tenant is in USD while its subscriptions are in
    EUR: each of them is an offender (the amount would mix currencies), nothing is copied;
    back on a EUR list, the same run copies them at that list's prices."""
    lite = customers_copied
    with write_session(engine) as session:
        usd = tenant_price_list(
            session,
            lite,
            "Retail USD",
            {key: price * Decimal("1.10") for key, price in retail_items(session, lite).items()},
            currency="USD",
        )
        tenant_account(session, lite, "LC-OLIVE-TRADE").price_list_id = usd
    before = tenant_counts(engine, lite.org_id)

    result = cli("upgrade", "subscriptions", LITE, expect=3)
    problem = "the customer's price list Retail USD is in USD, the subscription in EUR"
    fix = "give the customer a price list in EUR in the tenant"
    assert offender_lines(result.stderr) == [
        f"subscription {code} (LC-OLIVE-TRADE): {problem}; fix: {fix}"
        for code in ("SUB-LC-0003", "SUB-LC-0004", "SUB-LC-0005")
    ]
    assert tenant_counts(engine, lite.org_id) == before
    assert tenant_state(engine, lite) == ("customers-copied", "off")
    assert processes_of(engine, transfer.SUBSCRIPTIONS_KIND) == []

    with write_session(engine) as session:
        tenant_account(session, lite, "LC-OLIVE-TRADE").price_list_id = retail_id(session, lite)
    cli.json("upgrade", "subscriptions", LITE)
    assert tenant_state(engine, lite) == ("live", "on")
    with read_session(engine) as session:
        olive = tenant_account(session, lite, "LC-OLIVE-TRADE")
        copied = session.execute(
            select(Subscription.code, Subscription.currency).where(
                Subscription.account_id == olive.id
            )
        ).all()
    assert sorted(copied) == [
        ("SUB-LC-0003", "EUR"),
        ("SUB-LC-0004", "EUR"),
        ("SUB-LC-0005", "EUR"),
    ]


def test_a_row_that_cannot_be_copied_after_the_precheck_fails_the_process(
    cli, engine, customers_copied
):
    lite = customers_copied
    queued = cli.json("upgrade", "subscriptions", LITE, "--detach")
    pid = queued["process_id"]

    def take_price_away() -> None:
        # The reseller edits the customer's price list while the copy runs.
        with write_session(engine) as session:
            retail = retail_id(session, lite)
            session.execute(
                delete(PriceListItem).where(
                    PriceListItem.price_list_id == retail,
                    PriceListItem.product_id == product(session, lite.org_id, "MS-VISIO-P2").id,
                )
            )

    def on_progress(name: str, done: int, total: int | None) -> None:
        # Called after the pre-check task committed, before the copy task starts.
        if name == "check the subscriptions" and done == 1:
            take_price_away()

    stop = threading.Event()
    failure: list[BaseException] = []

    def run() -> None:
        try:
            jobs.run_process(
                engine, pid, "test-worker", on_progress=on_progress, settings=FAST, stop=stop
            )
        except jobs.WorkerStopping:
            pass
        except BaseException as exc:  # reported by the test's thread
            failure.append(exc)

    def same_batch_logged_three_times() -> bool:
        messages = [
            e.message
            for e in jobs.logs(engine, pid)
            if re.fullmatch(r"copied \d+ of \d+ subscriptions", e.message)
        ]
        return any(messages.count(m) >= 3 for m in messages)

    worker = threading.Thread(target=run)
    worker.start()
    try:
        wait_until(
            lambda: not worker.is_alive() or same_batch_logged_three_times(),
            "the process to end or to loop",
        )
    finally:
        stop.set()
        worker.join()
    assert not failure, failure
    info = jobs.get_process(engine, pid)
    # The row that could not be copied is reported, not copied forever.
    assert (info.status, info.exit_code) == ("failed", 3), info
    assert "SUB-LC-0018" in info.error


@pytest.mark.parametrize("limit", [1, 2, 5])
def test_batches_pass_over_what_cannot_be_copied_and_take_it_once_it_can(
    engine, customers_copied, limit
):
    """The copy walks the subscriptions in ranges of ids after the highest one copied: a
    range with nothing it can copy is passed over (the copy does not stop there), and a
    row passed over is copied by a later batch once it can be, below the highest copied
    one; every row once, with its add-ons."""
    lite = customers_copied
    active = sorted(root_rows(engine, lite, Subscription, COPIED).values(), key=lambda s: s.id)
    # The product of a subscription a third of the way in, taken off the retail list.
    unpriced_product = active[len(active) // 3].product_id
    unpriced = {s.id for s in active if s.product_id == unpriced_product}
    assert 0 < len(unpriced) < len(active) and active[-1].id not in unpriced

    def listed(now: bool) -> None:
        with write_session(engine) as session:
            retail = retail_id(session, lite)
            if not now:
                session.add(PriceListRevision(price_list_id=retail, number=2, source="off"))
            session.execute(
                update(PriceListItem)
                .where(
                    PriceListItem.price_list_id == retail,
                    PriceListItem.product_id
                    == select(Product.id)
                    .where(Product.org_id == lite.org_id)
                    .where(Product.source_product_id == unpriced_product)
                    .scalar_subquery(),
                )
                .values(to_revision=None if now else 2)
            )

    def copy_all() -> list[int]:
        counts = []
        while True:
            with write_session(engine) as session:
                tenant = session.get(TenantReseller, lite.id)
                counts.append(transfer.copy_subscription_batch(session, tenant, limit))
            if not counts[-1]:
                return counts

    listed(False)
    counts = copy_all()
    assert all(0 < n <= limit for n in counts[:-1])
    copied = by_source(copies(engine, Subscription, lite.org_id), "source_subscription_id")
    assert set(copied) == {s.id for s in active} - unpriced

    listed(True)
    counts = copy_all()
    assert sum(counts) == len(unpriced) and all(0 < n <= limit for n in counts[:-1])
    copied = by_source(copies(engine, Subscription, lite.org_id), "source_subscription_id")
    assert set(copied) == {s.id for s in active}
    products = tenant_products(engine, lite)
    copied_add_ons = add_ons_of(engine, [c.id for c in copied.values()])
    source_add_ons = add_ons_of(engine, list(copied))
    for source, copy in copied.items():
        assert {
            (products[p].source_product_id, q) for p, q in copied_add_ons[copy.id]
        } == source_add_ons[source]


def test_following_the_fix_of_a_missing_sync_record_clears_it(cli, engine, customers_copied):
    lite = customers_copied
    with write_session(engine) as session:
        break_sync(session, lite)
    result = cli("upgrade", "subscriptions", LITE, expect=3)
    assert "run `tenantctl upgrade customers`" in result.stderr
    cli.json("upgrade", "customers", LITE)
    cli.json("upgrade", "subscriptions", LITE)


def test_the_catalogue_copy_counts_what_it_copies(cli, engine):
    """`tenant create` (which the upgrade starts from) copies its catalogue in batches until
    a batch copies nothing; that needs each batch to say how many products it copied."""
    cli("load", DATASET)
    with write_session(engine) as session:
        root = (
            session.execute(select(Organisation).where(Organisation.kind == "root")).scalars().one()
        )
        price_list = (
            session.execute(
                select(PriceList).where(PriceList.org_id == root.id, PriceList.name == PL)
            )
            .scalars()
            .one()
        )
        listed = session.execute(
            select(func.count(func.distinct(PriceListItem.product_id))).where(
                PriceListItem.price_list_id == price_list.id
            )
        ).scalar_one()
        org = Organisation(
            name="Probe", kind="tenant", parent_id=root.id, currency="EUR", country="GR"
        )
        session.add(org)
        session.flush()
        retail = ensure_retail_price_list(session, org.id)
        first, _ = copy_catalogue_batch(session, org.id, price_list.id, 1, retail, 1000)
        second, _ = copy_catalogue_batch(session, org.id, price_list.id, 1, retail, 1000)
    assert (first, second) == (listed, 0)
