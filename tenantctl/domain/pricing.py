"""Prices in every org: what an account pays on a day (from its pricing options: the
revision of its price list in effect that day) and the org's own sell prices (one item of
a price list changed as a new revision).

Everything here goes through ORM entities, so inside a tenant context it is org-scoped.
"""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import func, or_, select
from sqlmodel import Session

from tenantctl.domain import fields
from tenantctl.domain.catalogue import latest_revision, revision_in_effect
from tenantctl.domain.orgs import get_price_list, get_product
from tenantctl.domain.policy import check_change
from tenantctl.errors import NotFound, Refused
from tenantctl.store import models as m


@dataclass(frozen=True)
class Price:
    """A unit price and where it comes from."""

    amount: Decimal
    currency: str
    price_list: str


def account_price_list(session: Session, account: m.Account) -> m.PriceList:
    """The price list of ACCOUNT's pricing options; refused (with the fix) when it has none."""
    price_list = (
        session.get(m.PriceList, account.price_list_id)
        if account.price_list_id is not None
        else None
    )
    if price_list is None:
        raise Refused(
            f"account {account.code} has no price list, so nothing can be priced "
            f"for it (fix: tenantctl account set {account.code} --price-list NAME)"
        )
    return price_list


def today(org: m.Organisation) -> date:
    """Today in ORG's time zone (the day a change made now takes effect)."""
    try:
        zone = zoneinfo.ZoneInfo(org.timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        zone = zoneinfo.ZoneInfo("UTC")
    return datetime.now(zone).date()


def listed_price(
    session: Session, price_list: m.PriceList, product: m.Product, unit: str, as_of: date
) -> Decimal | None:
    """The price of PRODUCT in UNIT in the revision of PRICE_LIST in effect on AS_OF (the
    latest one, unless a later one is scheduled); None when it is not listed then."""
    revision = revision_in_effect(session, price_list.id, as_of)
    if revision is None:
        return None
    return session.execute(
        select(m.PriceListItem.price).where(
            m.PriceListItem.price_list_id == price_list.id,
            m.PriceListItem.product_id == product.id,
            m.PriceListItem.unit == unit,
            m.PriceListItem.from_revision <= revision,
            or_(m.PriceListItem.to_revision.is_(None), m.PriceListItem.to_revision > revision),
        )
    ).scalar()


def account_price(
    session: Session, account: m.Account, product: m.Product, unit: str, as_of: date
) -> Price:
    """What ACCOUNT pays for one UNIT of PRODUCT on AS_OF: the price in its price list's
    revision in effect that day (the latest revision, unless one is scheduled later)."""
    price_list = account_price_list(session, account)
    amount = listed_price(session, price_list, product, unit, as_of)
    if amount is None:
        raise Refused(
            f"{product.sku} is not sold {unit} in price list {price_list.name!r} "
            f"on {as_of} (the price list of account {account.code}); fix: tenantctl "
            f"pricelist set-price {_quoted(price_list.name)} {product.sku} --unit "
            f"{unit} PRICE"
        )
    return Price(amount, price_list.currency, price_list.name)


def _quoted(name: str) -> str:
    return f'"{name}"' if " " in name else name


@dataclass(frozen=True)
class PriceChange:
    """The outcome of `pricelist set-price` (revision None: the price was already that)."""

    price_list: str
    currency: str
    sku: str
    unit: str
    old_price: Decimal | None
    price: Decimal
    previous_revision: int | None
    revision: int | None


def set_price(
    session: Session, org: m.Organisation, name: str, sku: str, unit: str, price: str
) -> PriceChange:
    """Set ORG's own price of SKU in UNIT on price list NAME, as a new revision of the list.

    Only that item changes (added when it was not listed); every older revision stays
    readable. A discontinued product or unit gets no new price, and no price is set while
    a later revision is scheduled (the new revision would bring it forward).
    """
    amount = fields.option("PRICE", fields.amount, price)
    price_list = get_price_list(session, org, name, for_update=True)
    scheduled = session.execute(
        select(func.max(m.PriceListRevision.effective_date)).where(
            m.PriceListRevision.price_list_id == price_list.id
        )
    ).scalar()
    if scheduled is not None and scheduled > today(org):
        # A new revision is written on top of the latest one: now it would bring the
        # scheduled changes forward.
        raise Refused(
            f"price list {name!r} has a revision scheduled for {scheduled}: set "
            "prices on it once that revision is in effect"
        )
    product = get_product(session, org, sku)
    check_change(product, "sell_price")
    if product.status != "active":
        raise Refused(
            f"product {sku} is {product.status}: it is no longer sold, so it gets no new price"
        )
    units = unit_statuses(session, product)
    if unit not in units:
        raise NotFound(
            f"product {sku} is not sold {unit} (its units: {', '.join(sorted(units)) or 'none'})"
        )
    if units[unit] != "active":
        raise Refused(
            f"{sku} {unit} is {units[unit]}: it is no longer sold, so it gets no new price"
        )
    item = (
        session.execute(
            select(m.PriceListItem).where(
                m.PriceListItem.price_list_id == price_list.id,
                m.PriceListItem.product_id == product.id,
                m.PriceListItem.unit == unit,
                m.PriceListItem.to_revision.is_(None),
            )
        )
        .scalars()
        .first()
    )
    previous = latest_revision(session, price_list.id)
    old = item.price if item is not None else None
    if old is not None and old == amount:
        return PriceChange(name, price_list.currency, sku, unit, old, amount, previous, None)
    number = (previous or 0) + 1
    listed = session.execute(
        select(func.count(m.PriceListItem.id)).where(
            m.PriceListItem.price_list_id == price_list.id, m.PriceListItem.to_revision.is_(None)
        )
    ).scalar_one()
    session.add(
        m.PriceListRevision(
            price_list_id=price_list.id,
            number=number,
            source=f"set-price {sku} {unit}",
            item_count=listed + (item is None),
        )
    )
    if item is not None:
        item.to_revision = number
    session.add(
        m.PriceListItem(
            price_list_id=price_list.id,
            product_id=product.id,
            unit=unit,
            price=amount,
            from_revision=number,
        )
    )
    session.flush()
    return PriceChange(name, price_list.currency, sku, unit, old, amount, previous, number)


def unit_statuses(session: Session, product: m.Product) -> dict[str, str]:
    """Each unit PRODUCT has (sold or not any more) -> its status."""
    return dict(
        session.execute(
            select(m.ProductUnit.unit, m.ProductUnit.status).where(
                m.ProductUnit.product_id == product.id
            )
        ).all()
    )
