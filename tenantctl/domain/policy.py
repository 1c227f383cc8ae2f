"""The reseller's product policy: what a tenant may change on inherited products.

The rules are configuration (`config/policy.yaml`); this module is the one place that
enforces them, for every change a tenant user makes to a product of its catalogue.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, func, select
from sqlmodel import Session

from tenantctl import config
from tenantctl.domain import fields
from tenantctl.domain.catalogue import ProductDetail, product_detail
from tenantctl.domain.orgs import get_product
from tenantctl.errors import BadInput, Refused
from tenantctl.store.models import (
    Organisation,
    Product,
    ProductUnit,
    Subscription,
    SubscriptionAddon,
)
from tenantctl.words import plural

EDITABLE = ("name", "description", "category", "visible")


@dataclass(frozen=True)
class Rule:
    field: str
    allowed: bool
    reason: str


def rules() -> dict[str, Rule]:
    """The policy for inherited products, by field or action."""
    raw = config.policy()["inherited_products"]
    return {name: Rule(name, bool(spec["allowed"]), spec["reason"]) for name, spec in raw.items()}


def policy_refusal(sku: str, field: str) -> str | None:
    """Why the policy refuses changing FIELD of the inherited product SKU (None: allowed)."""
    rule = rules().get(field)
    if rule is not None and rule.allowed:
        return None
    reason = rule.reason if rule else "the policy has no rule allowing it"
    action = {"delete": "deleting it", "sell_price": "setting its sell price"}.get(
        field, f"changing its {field}"
    )
    return (
        f"product {sku}: {action} is refused by the product policy "
        f"(rule '{field}' in config/policy.yaml: {reason})"
    )


def check_change(product: Product, field: str) -> None:
    """Refuse a change to an inherited product that the policy forbids, naming the rule."""
    if product.source_product_id is None:
        return  # the org's own product: every change is its own business
    refusal = policy_refusal(product.sku, field)
    if refusal is not None:
        raise Refused(refusal)


@dataclass(frozen=True)
class ProductChange:
    """What `product set` asks to change (None: leave as it is)."""

    name: str | None = None
    description: str | None = None
    category: str | None = None
    visible: bool | None = None
    sku: str | None = None
    platform: str | None = None
    add_on_of: str | None = None
    add_unit: str | None = None
    remove_unit: str | None = None
    purchase_price: str | None = None  # UNIT=PRICE


def _read_change(change: ProductChange) -> dict:
    """The fields CHANGE asks for, each read by its field rule (BadInput naming the option)."""
    sku_length = fields.length(Product, "sku")
    readers = {
        "name": lambda v: fields.text(v, fields.length(Product, "name")),
        "description": lambda v: fields.text(v, note=True),
        "category": lambda v: fields.text(v, fields.length(Product, "category")),
        "sku": lambda v: fields.sku(v, sku_length),
        "add_on_of": lambda v: fields.sku(v, sku_length),
        "purchase_price": lambda v: fields.key_value(
            v, "UNIT=PRICE", "monthly=12.50", fields.text, fields.amount
        ),
    }
    asked = {}
    for name, value in change.__dict__.items():
        if value is None:
            continue
        option = "--new-sku" if name == "sku" else "--" + name.replace("_", "-")
        reader = readers.get(name)
        asked[name] = fields.option(option, reader, value) if reader else value
    return asked


def set_product(
    session: Session, org: Organisation, sku: str, change: ProductChange
) -> ProductDetail:
    """Change a product of ORG; every field is checked against the policy first."""
    product = get_product(session, org, sku)
    asked = _read_change(change)
    if not asked:
        raise BadInput("product set: name at least one thing to change")
    field_of = {"add_unit": "units", "remove_unit": "units"}
    for name in asked:
        check_change(product, field_of.get(name, name))
    for name in EDITABLE:
        if name in asked:
            setattr(product, name, asked[name])
    if "sku" in asked:
        product.sku = asked["sku"]
    if "platform" in asked:
        if asked["platform"] not in config.platforms():
            raise BadInput(f"--platform: {asked['platform']!r} is not a platform")
        product.platform = asked["platform"]
    if "add_on_of" in asked:
        product.add_on_of_id = get_product(session, org, asked["add_on_of"]).id
    if "add_unit" in asked:
        session.add(ProductUnit(org_id=org.id, product_id=product.id, unit=asked["add_unit"]))
    if "remove_unit" in asked:
        unit = _unit(session, product, asked["remove_unit"])
        unit.status = "discontinued"
    if "purchase_price" in asked:
        unit_name, price = asked["purchase_price"]
        _unit(session, product, unit_name).cost_price = price
    session.flush()
    return product_detail(session, org, product.sku)


def delete_product(session: Session, org: Organisation, sku: str) -> None:
    """Delete one of the org's own products (never an inherited one, nor one in use)."""
    product = get_product(session, org, sku)
    check_change(product, "delete")
    in_use = session.execute(
        select(func.count(SubscriptionAddon.id)).where(SubscriptionAddon.product_id == product.id)
    ).scalar_one()
    in_use += session.execute(
        select(func.count(Subscription.id)).where(Subscription.product_id == product.id)
    ).scalar_one()
    if in_use:
        raise Refused(
            f"product {sku} is in use by {plural(in_use, 'subscription')}: discontinue it instead"
        )
    session.execute(
        delete(ProductUnit)
        .where(ProductUnit.product_id == product.id)
        .execution_options(synchronize_session=False)
    )
    session.delete(product)


def _unit(session: Session, product: Product, unit: str) -> ProductUnit:
    row = (
        session.execute(
            select(ProductUnit).where(
                ProductUnit.product_id == product.id, ProductUnit.unit == unit
            )
        )
        .scalars()
        .first()
    )
    if row is None:
        raise BadInput(f"product {product.sku} is not sold per {unit!r}")
    return row
