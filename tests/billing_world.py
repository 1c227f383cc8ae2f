"""Helpers of the billing tests (test_billing.py) that the crash tests share: a root with
resellers, customers and subscriptions made row by row."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from tenantctl.store.engine import write_session
from tenantctl.store.models import (
    Account,
    OrderLine,
    Organisation,
    PriceList,
    PriceListItem,
    PriceListRevision,
    Product,
    SalesOrder,
    Subscription,
    SubscriptionAddon,
    TenantReseller,
)

D = Decimal


@dataclass
class World:
    root: int
    price_list: int
    products: dict[str, int]
    resellers: dict[str, int] = field(default_factory=dict)
    tenants: dict[str, int] = field(default_factory=dict)
    counter: int = 0


PRICES = {
    ("M365", "monthly"): "10.00",
    ("ADDON", "monthly"): "2.00",
    ("M365", "annual"): "120.00",
    ("DISK", "one-time"): "50.00",
    ("SETUP", "one-time"): "25.00",
}


def build_world(engine, timezone: str = "UTC") -> World:
    with write_session(engine) as s:
        root = Organisation(
            name="Distributor", kind="root", currency="EUR", country="GR", timezone=timezone
        )
        s.add(root)
        s.flush()
        pl = PriceList(org_id=root.id, name="Resellers", currency="EUR")
        s.add(pl)
        s.flush()
        s.add(PriceListRevision(price_list_id=pl.id, number=1, effective_date=date(2020, 1, 1)))
        products = {}
        for sku, platform in (
            ("M365", "microsoft"),
            ("ADDON", "microsoft"),
            ("DISK", "other"),
            ("SETUP", "other"),
        ):
            p = Product(org_id=root.id, sku=sku, name=f"{sku} product", platform=platform)
            s.add(p)
            s.flush()
            products[sku] = p.id
        for (sku, unit), price in PRICES.items():
            s.add(
                PriceListItem(
                    price_list_id=pl.id,
                    product_id=products[sku],
                    unit=unit,
                    price=D(price),
                    from_revision=1,
                )
            )
        return World(root.id, pl.id, products)


def add_reseller(
    engine,
    world: World,
    code: str,
    *,
    billing_day: int = 1,
    separate: bool = False,
    price_list: int | None = None,
) -> None:
    with write_session(engine) as s:
        acc = Account(
            org_id=world.root,
            code=code,
            name=f"{code} S.A.",
            kind="reseller",
            currency="EUR",
            country="GR",
            billing_day=billing_day,
            price_list_id=price_list or world.price_list,
        )
        org = Organisation(
            name=f"{code} tenant",
            kind="tenant",
            parent_id=world.root,
            currency="EUR",
            country="GR",
            client_id=f"client-{code}",
        )
        s.add_all([acc, org])
        s.flush()
        s.add(
            TenantReseller(
                account_id=acc.id,
                parent_org_id=world.root,
                org_id=org.id,
                price_list_id=world.price_list,
                edition="basic",
                separate_invoices=separate,
                phase="live",
                backorder_state="on",
                status="active",
            )
        )
        world.resellers[code], world.tenants[code] = acc.id, org.id


def add_customer(engine, world: World, reseller: str, code: str, separate: bool = False) -> int:
    with write_session(engine) as s:
        acc = Account(
            org_id=world.root,
            code=code,
            name=f"{code} Ltd",
            currency="EUR",
            country="GR",
            bill_to_id=world.resellers[reseller],
            managed_by_org_id=world.tenants[reseller],
            separate_invoices=separate,
        )
        s.add(acc)
        s.flush()
        return acc.id


def add_subscription(
    engine,
    world: World,
    customer: int,
    sku: str,
    unit: str,
    quantity: int,
    start: date,
    *,
    add_ons: dict[str, int] | None = None,
    paid: bool = True,
    with_order: bool = True,
) -> int:
    """A mirror; WITH_ORDER: made by delivery (a `new` order), else as a lite upgrade
    leaves it (no order at all)."""
    with write_session(engine) as s:
        world.counter += 1
        sub = Subscription(
            org_id=world.root,
            code=f"SUB-{world.counter:04d}",
            account_id=customer,
            product_id=world.products[sku],
            unit=unit,
            quantity=quantity,
            unit_price=D(0),
            currency="EUR",
            start_date=start,
            paid=paid,
        )
        s.add(sub)
        s.flush()
        for add_on, q in (add_ons or {}).items():
            s.add(
                SubscriptionAddon(
                    subscription_id=sub.id, product_id=world.products[add_on], quantity=q
                )
            )
        sub_id = sub.id
    if with_order and paid:
        record_sale(engine, world, sub_id, "new", start, {sku: quantity, **(add_ons or {})})
    return sub_id


def record_sale(
    engine, world: World, sub_id: int, order_type: str, day: date, after: dict[str, int]
) -> None:
    """An executed sale of the mirror, as delivery records it: the quantity after it."""
    with write_session(engine) as s:
        sub = s.get(Subscription, sub_id)
        world.counter += 1
        order = SalesOrder(
            org_id=world.root,
            number=f"ORD-{world.counter:05d}",
            account_id=sub.account_id,
            order_date=day,
            order_type=order_type,
            subscription_id=sub_id,
        )
        s.add(order)
        s.flush()
        for sku, q in after.items():
            s.add(
                OrderLine(
                    order_id=order.id,
                    product_id=world.products[sku],
                    unit=sub.unit,
                    quantity=q,
                    unit_price=D(0),
                    currency="EUR",
                    quantity_after=q,
                )
            )
        if order_type == "cancel":
            sub.status = "cancelled"
        if order_type == "trial-to-paid":
            sub.paid = True
