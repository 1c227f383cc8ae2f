"""An organisation's own products and price lists (SPEC section 9, "The reseller's own
catalogue"): what `product create` and `pricelist create` make.

A product made here has no source (`source_product_id` NULL): it is the org's own, so the
product policy leaves every change of it to the org, back-ordering never mirrors its sales
and a tenant update never touches it. Everything goes through ORM entities, so inside a
tenant context it is org-scoped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy import select
from sqlmodel import Session

from tenantctl import config
from tenantctl.domain import fields
from tenantctl.domain.catalogue import PriceListSummary, ProductDetail, product_detail
from tenantctl.domain.orgs import get_product
from tenantctl.errors import BadInput, Conflict, NotFound
from tenantctl.store.models import Organisation, PriceList, Product, ProductUnit


@dataclass(frozen=True)
class NewProduct:
    """What `product create` asks for, as written on the command line."""

    sku: str
    name: str
    platform: str
    units: tuple[str, ...] = field(default_factory=tuple)  # UNIT or UNIT=COST
    product_type: str | None = None
    add_on_of: str | None = None


def _unit(value: str) -> tuple[str, Decimal | None]:
    """`UNIT` or `UNIT=COST` (the purchase price of one unit) -> (unit, cost or None)."""
    if not isinstance(value, str):
        raise ValueError(f"must be text, not {fields.describe(value)}")
    units = config.units()
    if "=" not in value:
        return fields.choice(value, units), None
    return fields.key_value(
        value, "UNIT=COST", "monthly=12.50", lambda u: fields.choice(u, units), fields.amount
    )


def create_product(session: Session, org: Organisation, new: NewProduct) -> ProductDetail:
    """Create a product of ORG's own, sold in the units asked (each with an optional cost).

    Every option is checked first and every problem reported at once; a SKU ORG already
    has is a conflict. Its sell prices are set on a price list afterwards (`pricelist
    set-price` or `pricelist import`).
    """
    problems: list[str] = []
    sku_length = fields.length(Product, "sku")
    sku = fields.collect(problems, "SKU", fields.sku, new.sku, sku_length)
    name = fields.collect(problems, "--name", fields.text, new.name, fields.length(Product, "name"))
    platform = fields.collect(
        problems, "--platform", fields.choice, new.platform, config.platforms()
    )
    product_type = "service"
    if new.product_type is not None:
        product_type = fields.collect(
            problems,
            "--type",
            fields.text,
            new.product_type,
            fields.length(Product, "product_type"),
            default=product_type,
        )
    add_on_of = None
    if new.add_on_of is not None:
        add_on_of = fields.collect(problems, "--add-on-of", fields.sku, new.add_on_of, sku_length)
    units: dict[str, Decimal | None] = {}
    if not new.units:
        problems.append("--unit: give at least one unit it is sold in (e.g. --unit monthly)")
    for written in new.units:
        try:
            unit, cost = _unit(written)
        except ValueError as exc:
            problems.append(f"--unit: {exc}")
            continue
        if unit in units:
            problems.append(f"--unit: {unit} is given twice")
        units[unit] = cost
    if sku is not None and add_on_of == sku:
        problems.append("--add-on-of: a product cannot be an add-on of itself")
    if problems:
        raise BadInput("bad product options; nothing was created", problems)
    parent = None
    if add_on_of is not None:
        try:
            parent = get_product(session, org, add_on_of)
        except NotFound as exc:
            raise NotFound(f"--add-on-of: {exc}") from None
    if session.execute(
        select(Product.id).where(Product.org_id == org.id, Product.sku == sku)
    ).first():
        raise Conflict(
            f"product {sku} already exists in {org.name} (change it with "
            f"tenantctl product set {sku})"
        )
    product = Product(
        org_id=org.id,
        sku=sku,
        name=name,
        platform=platform,
        product_type=product_type,
        add_on_of_id=parent.id if parent is not None else None,
    )
    session.add(product)
    session.flush()
    session.add_all(
        [
            ProductUnit(org_id=org.id, product_id=product.id, unit=unit, cost_price=cost)
            for unit, cost in units.items()
        ]
    )
    session.flush()
    return product_detail(session, org, sku)


def create_price_list(
    session: Session, org: Organisation, name: str, currency: str
) -> PriceListSummary:
    """Create an empty price list of ORG in CURRENCY (any ISO 4217 currency); its items come
    with `pricelist set-price` or `pricelist import`."""
    problems: list[str] = []
    name = fields.collect(
        problems, "NAME", fields.text, name, fields.length(PriceList, "name"), default=name
    )
    code = fields.collect(problems, "--currency", fields.currency, currency)
    if problems:
        raise BadInput("bad price list options; nothing was created", problems)
    if session.execute(
        select(PriceList.id).where(PriceList.org_id == org.id, PriceList.name == name)
    ).first():
        raise Conflict(
            f"price list {name!r} already exists in {org.name} (fill it with "
            "tenantctl pricelist import or pricelist set-price)"
        )
    price_list = PriceList(org_id=org.id, name=name, currency=code)
    session.add(price_list)
    session.flush()
    return PriceListSummary(price_list.name, price_list.currency, None, 0, price_list.created_at)
