"""A big lite reseller for the upgrade's crash and concurrency tests.

`add_lite_customers` gives a reseller of an already loaded data set (by default the
fixture's LITECLOUD) many more customers in the root org: each with a contact and a
Microsoft sync record, a number of subscriptions (some with add-ons, one in ten cancelled)
and an asset (one in three expired). Everything is written with Core `insert()` of many
rows at once, so a few thousand subscriptions take well under a second on either backend.

The products, units and prices come from the root's own price list (the one the reseller
buys from), so every subscription passes the upgrade's pre-checks.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import func, insert, select

from tenantctl.store.engine import write_session
from tenantctl.store.models import (
    Account,
    Asset,
    Contact,
    Organisation,
    PriceList,
    PriceListItem,
    Product,
    Subscription,
    SubscriptionAddon,
    SyncRecord,
    utcnow,
)

ROWS_PER_INSERT = 1000


@dataclass(frozen=True)
class LiteSet:
    """What was added: the counts the upgrade must end with (for these rows alone)."""

    customers: int
    subscriptions: int
    active_subscriptions: int
    add_ons_of_active: int
    assets: int
    active_assets: int


def _insert(session, model, rows: list[dict]) -> None:
    for start in range(0, len(rows), ROWS_PER_INSERT):
        session.execute(insert(model), rows[start : start + ROWS_PER_INSERT])


def add_lite_customers(
    engine,
    reseller: str = "LITECLOUD",
    *,
    customers: int = 300,
    subscriptions: int = 10,
    price_list: str = "Resellers EUR",
    prefix: str = "BULK",
) -> LiteSet:
    """Give RESELLER (an account of the root org) CUSTOMERS more customers billed to it, each
    with SUBSCRIPTIONS subscriptions of products of PRICE_LIST, and one asset."""
    now = utcnow()
    with write_session(engine) as session:
        root = (
            session.execute(select(Organisation).where(Organisation.kind == "root")).scalars().one()
        )
        reseller_id = session.execute(
            select(Account.id).where(Account.org_id == root.id, Account.code == reseller)
        ).scalar_one()
        list_id = session.execute(
            select(PriceList.id).where(PriceList.org_id == root.id, PriceList.name == price_list)
        ).scalar_one()
        items = session.execute(
            select(
                Product.id,
                Product.add_on_of_id,
                Product.product_type,
                PriceListItem.unit,
                PriceListItem.price,
            )
            .join(PriceListItem, PriceListItem.product_id == Product.id)
            .where(PriceListItem.price_list_id == list_id, PriceListItem.to_revision.is_(None))
            .order_by(Product.sku, PriceListItem.unit)
        ).all()
        listed = {i.id for i in items}
        add_ons: dict[int, list[int]] = {}
        for i in items:
            if i.add_on_of_id in listed and i.id not in add_ons.get(i.add_on_of_id, []):
                add_ons.setdefault(i.add_on_of_id, []).append(i.id)
        sellable = [
            i
            for i in items
            if i.add_on_of_id is None
            and i.product_type not in ("software-subscription", "azure-reservation")
        ]
        reservations = [i for i in items if i.product_type == "azure-reservation"]

        _insert(
            session,
            Account,
            [
                {
                    "org_id": root.id,
                    "code": f"{prefix}-C{c:04d}",
                    "name": f"Bulk customer {c}",
                    "kind": "customer",
                    "bill_to_id": reseller_id,
                    "ordering_enabled": True,
                    "currency": root.currency,
                    "country": root.country,
                    "email": f"c{c}@bulk.example",
                    "price_list_id": list_id,
                    "billing_day": 1 + c % 28,
                    "payment_method": "invoice",
                    "separate_invoices": c % 2 == 0,
                    "created_at": now,
                }
                for c in range(customers)
            ],
        )
        account_ids = dict(
            session.execute(
                select(Account.code, Account.id).where(
                    Account.org_id == root.id, Account.code.like(f"{prefix}-C%")
                )
            ).all()
        )
        _insert(
            session,
            Contact,
            [
                {
                    "account_id": account_ids[f"{prefix}-C{c:04d}"],
                    "name": f"Owner {c}",
                    "email": f"owner{c}@bulk.example",
                    "phone": f"+30 210 {c:07d}",
                    "role": "owner",
                }
                for c in range(customers)
            ],
        )
        _insert(
            session,
            SyncRecord,
            [
                {
                    "account_id": account_ids[f"{prefix}-C{c:04d}"],
                    "platform": "microsoft",
                    "status": "synced",
                    "external_id": f"{prefix}-MS-{c}",
                }
                for c in range(customers)
            ],
        )

        subs, active = [], 0
        for c in range(customers):
            for s in range(subscriptions):
                item = sellable[(c * subscriptions + s) % len(sellable)]
                status = "cancelled" if s % 10 == 9 else "active"
                active += status == "active"
                subs.append(
                    {
                        "org_id": root.id,
                        "code": f"{prefix}-S{c:04d}-{s:02d}",
                        "account_id": account_ids[f"{prefix}-C{c:04d}"],
                        "product_id": item.id,
                        "unit": item.unit,
                        "quantity": 1 + (c + s) % 50,
                        "unit_price": item.price,
                        "currency": root.currency,
                        "status": status,
                        "start_date": date(2024, 1, 1) + timedelta(days=(c + s) % 365),
                        "auto_renew": True,
                        "paid": s % 7 != 3,
                        "billing_day": 1,
                        "characteristics": {"seq": s},
                        "created_at": now,
                    }
                )
        _insert(session, Subscription, subs)
        sub_rows = session.execute(
            select(
                Subscription.id, Subscription.product_id, Subscription.quantity, Subscription.status
            ).where(Subscription.org_id == root.id, Subscription.code.like(f"{prefix}-S%"))
        ).all()
        addon_rows = [
            {"subscription_id": r.id, "product_id": p, "quantity": r.quantity}
            for r in sub_rows
            for p in add_ons.get(r.product_id, [])
        ]
        _insert(session, SubscriptionAddon, addon_rows)
        active_ids = {r.id for r in sub_rows if r.status == "active"}

        assets = [
            {
                "org_id": root.id,
                "code": f"{prefix}-A{c:04d}",
                "account_id": account_ids[f"{prefix}-C{c:04d}"],
                "product_id": reservations[c % len(reservations)].id,
                "kind": "azure-reservation",
                "quantity": 1 + c % 3,
                "purchase_date": date(2024, 6, 1),
                "status": "expired" if c % 3 == 2 else "active",
                "characteristics": {"region": "westeurope"},
                "created_at": now,
            }
            for c in range(customers)
        ]
        _insert(session, Asset, assets)
        added = session.execute(
            select(func.count())
            .select_from(Subscription)
            .where(Subscription.org_id == root.id, Subscription.code.like(f"{prefix}-S%"))
        ).scalar_one()
    return LiteSet(
        customers=customers,
        subscriptions=added,
        active_subscriptions=active,
        add_ons_of_active=sum(1 for a in addon_rows if a["subscription_id"] in active_ids),
        assets=len(assets),
        active_assets=sum(a["status"] == "active" for a in assets),
    )
